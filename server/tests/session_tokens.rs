//! Session tokens on a manual clock: they expire, `refresh` rotates them, `logout`,
//! `logout_all` and operators revoke them, sessions using an ended token are closed,
//! and tokens of stores written before all this keep working with an expiry.

mod support;

use canopy_server::game::tokens::{EXPIRED_REASON, KEEP_ENDED_MS, REVOKED_REASON, token_hash};
use canopy_server::game::{AdminOp, SessionId};
use canopy_server::store::{MemoryStore, PlayerRecord, Store, TickBatch};
use canopy_shared::reply::{Empty, LoginResult, LogoutAllResult, MeResult, RefreshResult};
use canopy_shared::{ErrorBody, ErrorCode, PlayerId, Request};
use std::sync::Arc;
use support::{DAY, START, Sim, code_of};

/// The default `accounts.token_ttl_days`, in ms.
const TTL: u64 = 30 * DAY;

/// Logs a new session in with `token`; returns the session and the answer.
fn login(sim: &mut Sim, token: &str) -> (SessionId, Result<LoginResult, ErrorBody>) {
    let session = sim.connect();
    let answer = sim.call(
        session,
        Request::Login {
            token: token.to_owned(),
        },
    );
    (session, answer)
}

/// The message of an `UNAUTHENTICATED` refusal.
fn message_of<T: std::fmt::Debug>(answer: Result<T, ErrorBody>) -> String {
    let error = answer.expect_err("refused");
    assert_eq!(error.code, ErrorCode::Unauthenticated, "{error}");
    error.message
}

#[test]
fn a_token_works_until_its_expiry_then_its_sessions_close() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let (phone, answer) = login(&mut sim, &ant.token);
    assert_eq!(
        answer.expect("a fresh token logs in").expires_at,
        START + TTL
    );

    let tick = sim.advance(TTL - 1);
    assert!(tick.closes.is_empty(), "not before its expiry");
    let tick = sim.advance(1);
    let mut closed = tick.closes.clone();
    closed.sort();
    assert_eq!(
        closed,
        vec![(ant.session, EXPIRED_REASON), (phone, EXPIRED_REASON)]
    );
    let message = message_of(login(&mut sim, &ant.token).1);
    assert!(message.contains("expired"), "{message}");

    sim.advance(KEEP_ENDED_MS);
    let message = message_of(login(&mut sim, &ant.token).1);
    assert_eq!(
        message, "unknown token",
        "forgotten a week after its expiry"
    );
    assert!(
        sim.store.load().expect("load").tokens.is_empty(),
        "and gone from the store"
    );
}

#[test]
fn refresh_rotates_the_token_and_keeps_the_session() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let (tablet, _) = login(&mut sim, &ant.token);
    sim.advance(DAY);
    let id = sim.submit(ant.session, Request::Refresh {});
    let tick = sim.tick();
    let fresh: RefreshResult = tick.result(id).expect("a logged-in session refreshes");
    assert_eq!(fresh.expires_at, START + DAY + TTL);
    assert_ne!(fresh.token, ant.token);
    assert_eq!(
        tick.closes,
        vec![(tablet, REVOKED_REASON)],
        "the other session on the old token closes"
    );
    let me: MeResult = sim
        .call(ant.session, Request::Me {})
        .expect("the refreshing session goes on");
    assert_eq!(me.player.id, ant.id);
    assert!(message_of(login(&mut sim, &ant.token).1).contains("revoked"));
    let (_, again) = login(&mut sim, &fresh.token);
    assert_eq!(again.expect("the new token logs in").player_id, ant.id);
}

#[test]
fn logout_revokes_the_token_in_use_and_closes_its_other_sessions() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let (phone, _) = login(&mut sim, &ant.token);
    let id = sim.submit(ant.session, Request::Logout {});
    let tick = sim.tick();
    let _: Empty = tick.result(id).expect("logout");
    assert_eq!(tick.closes, vec![(phone, REVOKED_REASON)]);
    assert_eq!(
        code_of(sim.call::<MeResult>(ant.session, Request::Me {})),
        ErrorCode::Unauthenticated,
        "the session that logged out stays open, logged out"
    );
    assert_eq!(
        code_of(sim.call::<Empty>(ant.session, Request::Logout {})),
        ErrorCode::Unauthenticated
    );
    assert!(message_of(login(&mut sim, &ant.token).1).contains("revoked"));
}

#[test]
fn logout_all_and_an_operator_end_every_token_of_the_player() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let bee = sim.register("bee");
    let (phone, _) = login(&mut sim, &ant.token);
    let second = sim
        .call::<RefreshResult>(phone, Request::Refresh {})
        .expect("refresh");
    let (tablet, _) = login(&mut sim, &second.token);
    let id = sim.submit(tablet, Request::LogoutAll {});
    let tick = sim.tick();
    let ended: LogoutAllResult = tick.result(id).expect("logout_all");
    assert_eq!(
        ended.revoked, 1,
        "register's token was already revoked by refresh"
    );
    assert_eq!(tick.closes, vec![(phone, REVOKED_REASON)]);

    let (bee_phone, _) = login(&mut sim, &bee.token);
    let id = sim.submit_admin(AdminOp::RevokeTokens(bee.id));
    let tick = sim.tick();
    let revoked: LogoutAllResult = tick.result(id).expect("ops revoke");
    assert_eq!(revoked.revoked, 1);
    let mut closed = tick.closes.clone();
    closed.sort();
    assert_eq!(
        closed,
        vec![(bee.session, REVOKED_REASON), (bee_phone, REVOKED_REASON)],
        "an operator closes every session, none is kept"
    );
    assert_eq!(
        code_of(sim.admin::<LogoutAllResult>(AdminOp::RevokeTokens(PlayerId(999)))),
        ErrorCode::NotFound
    );
}

#[test]
fn tokens_and_revocations_survive_a_restart_and_only_hashes_are_stored() {
    let mut sim = Sim::new();
    let ant = sim.register("ant");
    let bee = sim.register("bee");
    sim.call::<Empty>(bee.session, Request::Logout {})
        .expect("logout");
    let stored = format!("{:?}", sim.store.load().expect("load"));
    assert!(!stored.contains(&ant.token) && !stored.contains(&bee.token));

    let mut restarted = sim.reload(sim.now());
    let (_, answer) = login(&mut restarted, &ant.token);
    assert_eq!(answer.expect("still valid").expires_at, START + TTL);
    assert!(message_of(login(&mut restarted, &bee.token).1).contains("revoked"));
    let tick = restarted.advance(TTL);
    assert_eq!(tick.closes.len(), 1, "the expiry queue is rebuilt at load");
}

#[test]
fn a_token_of_an_older_store_keeps_working_with_an_expiry_from_the_upgrade() {
    let store = MemoryStore::new();
    let mut record = PlayerRecord::new(PlayerId(1), "old_timer".into(), START - 400 * DAY);
    record.legacy_token_hash = token_hash("an-old-token");
    let mut batch = TickBatch {
        players: vec![record],
        ..TickBatch::default()
    };
    batch.meta.next_player_id = 1;
    batch.meta.game_time = START - DAY;
    store.commit(&batch).expect("an old store");

    let config = Arc::new(canopy_server::config::Config::default_embedded());
    let mut sim = Sim::open(store.clone(), config, START);
    let (_, answer) = login(&mut sim, "an-old-token");
    let login = answer.expect("the old token logs in");
    assert_eq!(
        (login.player_id, login.expires_at),
        (PlayerId(1), START + TTL)
    );
    let loaded = store.load().expect("load");
    assert_eq!(
        loaded.players[0].legacy_token_hash, [0; 32],
        "the hash moved out of the record, at once"
    );
    assert_eq!(loaded.tokens.len(), 1);
    assert_eq!(loaded.tokens[0].0, token_hash("an-old-token"));
}
