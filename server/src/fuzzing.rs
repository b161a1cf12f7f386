//! Drives arbitrary frames through the frame decoder and the game's op dispatch, the way
//! a session does, checking the protocol's promises on every reply. The cargo-fuzz
//! target and the corpus replay test both use it.

use crate::config::Config;
use crate::game::{ClockMode, Command, Game, Op, Origin, Reply, SessionId};
use crate::store::MemoryStore;
use canopy_shared::frame::{ServerFrame, decode_request, decode_server_frame};
use canopy_shared::reply::encode_err;
use canopy_shared::{ErrorCode, Request};
use std::sync::Arc;

/// 2026-11-25 00:00 game-local: where the harness's manual clock starts.
const START: u64 = 1_795_536_000_000;
const SESSION: SessionId = SessionId(1);

/// A game with one logged-in session that frames are fed through.
pub struct FrameHarness {
    game: Game,
}

impl Default for FrameHarness {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameHarness {
    /// A fresh in-memory game with player "fuzz" logged in on the session.
    pub fn new() -> Self {
        let store = Arc::new(MemoryStore::new());
        let config = Arc::new(Config::default_embedded());
        let mut game = Game::load(config, store, ClockMode::Manual, Some(START), Some(1))
            .expect("an empty in-memory store loads");
        game.connect(SESSION);
        game.submit(Command {
            origin: Origin::Session(SESSION),
            request_id: 0,
            op: Op::Client(Request::Register {
                name: "fuzz".into(),
            }),
        });
        game.tick();
        Self { game }
    }

    /// Feeds one frame's bytes and returns the reply frames, as a session would send.
    /// Bytes that are not UTF-8 stand for a binary frame.
    pub fn feed(&mut self, bytes: &[u8]) -> Vec<String> {
        let Ok(text) = std::str::from_utf8(bytes) else {
            let error = canopy_shared::ErrorBody::new(ErrorCode::BadRequest, "binary frame");
            return vec![encode_err(None, error)];
        };
        let (id, request) = match decode_request(text) {
            Ok(decoded) => decoded,
            Err(err) => return vec![encode_err(err.id, err.error)],
        };
        self.game.submit(Command {
            origin: Origin::Session(SESSION),
            request_id: id,
            op: Op::Client(request),
        });
        self.game
            .tick()
            .replies
            .into_iter()
            .filter_map(|reply| match reply {
                Reply::Session { text, .. } => Some(text),
                Reply::Admin { .. } => None,
            })
            .collect()
    }

    /// Feeds a frame and checks the promises: exactly one reply, a well-formed frame,
    /// and never `INTERNAL` (bad input is the client's fault, not the server's).
    /// Returns a description of the first broken promise.
    pub fn check(&mut self, bytes: &[u8]) -> Result<(), String> {
        let replies = self.feed(bytes);
        let [reply] = replies.as_slice() else {
            return Err(format!("{} replies to one frame", replies.len()));
        };
        match decode_server_frame(reply) {
            Ok(ServerFrame::Reply(frame)) => match frame.outcome {
                Err(error) if error.code == ErrorCode::Internal => {
                    Err(format!("INTERNAL: {reply}"))
                }
                _ => Ok(()),
            },
            Ok(ServerFrame::Event(_)) => Err(format!("an event where a reply was due: {reply}")),
            Err(err) => Err(format!("unreadable reply {reply}: {err}")),
        }
    }
}
