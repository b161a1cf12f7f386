//! Cluster mode: the views over friends and teams of other shards (`friends`,
//! `friend_balls`, `leaderboard`, `teams`). A read changes nothing, so it needs no outbox: the asking shard
//! checks its side (the friendship, which each shard stores for its own players), parks
//! the client's reply and hands the cluster part one query per shard that owns some of
//! the players, carrying all their ids ([`Dispatch::Ask`]). Each owner's shard answers
//! from its own World, as a command of its game loop ([`answer`]), by the same code as
//! on one node. The answers come back as deliveries ([`answered`]); the client hears
//! once every shard answered. A shard that did not answer in
//! `cluster.remote_timeout_ms` makes `friend_balls` `SHARD_TIMEOUT`; the lists
//! (`friends`, `leaderboard`, `teams`) are answered with the players or teams that
//! could be read and name the others in `unavailable`. Nothing here waits: a tick never
//! blocks on another shard.

use super::friends;
use super::remote::{self, Dispatch, Parked, RemoteOps};
use super::remote_teams;
use super::remote_watch::{self, Push};
use super::resources::{SessionId, Sessions};
use super::risk;
use super::state::{fail, now, player_entity};
use super::stealable::hits_allowed;
use super::transfers::require_friends;
use crate::cluster::Partition;
use crate::social::Social;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::model::{BoardEntry, BoardPeriod, FriendView, TeamView};
use canopy_shared::reply::{BallsResult, FriendsResult, LeaderboardResult, TeamsResult};
use canopy_shared::{ErrorBody, ErrorCode, PlayerId, Request, TeamId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// A read of some of another shard's players, as the asking shard sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ViewQuery {
    /// The `friends` rows of `players` as `viewer` sees them (a pending requester's
    /// row gives the name).
    Friends {
        /// The asking player.
        viewer: PlayerId,
        /// Hits the viewer may make on one ball (two under a double-click card).
        hits_allowed: u8,
        /// Players of the answering shard.
        players: Vec<PlayerId>,
    },
    /// `owner`'s balls as `viewer` sees them: `friend_balls`.
    Balls {
        /// The asking player.
        viewer: PlayerId,
        /// Hits the viewer may make on one ball.
        hits_allowed: u8,
        /// A player of the answering shard.
        owner: PlayerId,
    },
    /// The `teams` rows of `teams` (of the answering shard) that `viewer` belongs to.
    Teams {
        /// The asking player.
        viewer: PlayerId,
        /// Teams of the answering shard.
        teams: Vec<TeamId>,
    },
    /// The board rows of `players` for `period`, the best `limit` of them: the
    /// answering shard's part of a `leaderboard`.
    Board {
        /// The board's period.
        period: BoardPeriod,
        /// The rows the asking player's board holds at most.
        limit: u32,
        /// Players of the answering shard.
        players: Vec<PlayerId>,
    },
}

/// The owner's shard's answer to a [`ViewQuery`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ViewAnswer {
    /// The rows of the players it holds.
    Friends(Vec<FriendView>),
    /// The owner's balls.
    Balls(BallsResult),
    /// The teams' rows.
    Teams(Vec<TeamView>),
    /// The best rows of the players it holds, unranked.
    Board(Vec<BoardEntry>),
}

/// What a parked view gathers until every shard asked has answered.
enum Gathering {
    /// This shard's part of `friends`, and which of the other shards' players are
    /// friends (the others are pending requests, which take only the name).
    Friends {
        result: FriendsResult,
        remote_friends: HashSet<PlayerId>,
    },
    /// `leaderboard`: every part's rows, unranked until the last answer.
    Board {
        board: LeaderboardResult,
        limit: usize,
    },
    /// `viewer`'s `friend_balls` of `owner` (one shard answers it whole).
    Balls {
        viewer: PlayerId,
        owner: PlayerId,
        result: Option<BallsResult>,
    },
    /// `teams`: this shard's teams, then the other shards' rows.
    Teams(TeamsResult),
}

/// A client's view waiting for other shards.
struct Waiting {
    reply: Parked,
    /// The asks not answered yet, by number, with what each asked for.
    asks: HashMap<u64, ViewQuery>,
    gathering: Gathering,
}

/// The views this shard waits for, numbered in memory (a read asked before a restart
/// has no client left to answer): clients' views, each asking one or more shards, and
/// the reads behind pushes to sessions watching players of other shards
/// (`remote_watch`).
#[derive(Resource, Default)]
pub struct RemoteViews {
    next: u64,
    waiting: HashMap<u64, Waiting>,
    /// The client view each ask belongs to.
    asks: HashMap<u64, u64>,
    pushes: HashMap<u64, Push>,
}

impl RemoteViews {
    fn number(&mut self) -> u64 {
        self.next += 1;
        self.next
    }
}

/// Asks `to_shard` for `view`, to push what it answers to watching sessions.
pub fn ask_for_push(world: &mut World, to_shard: u64, view: ViewQuery, push: Push) {
    let mut views = world.resource_mut::<RemoteViews>();
    let query = views.number();
    views.pushes.insert(query, push);
    world.resource_mut::<RemoteOps>().dispatch(Dispatch::Ask {
        query,
        to_shard,
        view,
    });
}

/// Begins a view that involves players of other shards: `None` when it involves none
/// (it runs as on one node), `Some(Ok)` when it waits for their shards (answered then),
/// `Some(Err)` when this shard refuses it at once.
pub fn begin(
    world: &mut World,
    session: SessionId,
    request_id: u64,
    request: &Request,
) -> Option<Result<(), ErrorBody>> {
    let partition = remote::partition(world);
    if partition.shards == 1 {
        return None;
    }
    let viewer = world.resource::<Sessions>().player(session)?;
    let hits_allowed = hits_allowed(world, viewer, now(world));
    let (gathering, queries) = match *request {
        Request::Friends {} => {
            let result = match friends::list(world, viewer) {
                Ok(result) => result,
                Err(refusal) => return Some(Err(refusal)),
            };
            let remote_friends: HashSet<PlayerId> = world
                .resource::<Social>()
                .graph
                .friends(viewer)
                .filter(|&friend| !partition.owns(friend))
                .collect();
            let requesters = result.incoming.iter().chain(&result.outgoing);
            let players = remote_friends
                .iter()
                .copied()
                .chain(requesters.map(|pending| pending.player_id));
            let queries: Vec<_> = by_shard(partition, players)
                .map(|(shard, players)| {
                    let view = ViewQuery::Friends {
                        viewer,
                        hits_allowed,
                        players,
                    };
                    (shard, view)
                })
                .collect();
            if queries.is_empty() {
                return None;
            }
            let gathering = Gathering::Friends {
                result,
                remote_friends,
            };
            (gathering, queries)
        }
        Request::Leaderboard { period, limit } => {
            let limit = match friends::board_limit(limit).and_then(|limit| {
                player_entity(world, viewer)?;
                Ok(limit)
            }) {
                Ok(limit) => limit,
                Err(refusal) => return Some(Err(refusal)),
            };
            let (local, remote): (Vec<PlayerId>, Vec<PlayerId>) = std::iter::once(viewer)
                .chain(world.resource::<Social>().graph.friends(viewer))
                .partition(|&player| partition.owns(player));
            let queries: Vec<_> = by_shard(partition, remote)
                .map(|(shard, players)| {
                    let view = ViewQuery::Board {
                        period,
                        limit: limit as u32,
                        players,
                    };
                    (shard, view)
                })
                .collect();
            if queries.is_empty() {
                return None;
            }
            let board = LeaderboardResult {
                entries: friends::board_rows(world, &local, period, limit),
                unavailable: Vec::new(),
            };
            (Gathering::Board { board, limit }, queries)
        }
        Request::FriendBalls { friend_id } => {
            if partition.owns(friend_id) {
                return None;
            }
            if let Err(refusal) = require_friends(world, viewer, friend_id) {
                return Some(Err(refusal));
            }
            let view = ViewQuery::Balls {
                viewer,
                hits_allowed,
                owner: friend_id,
            };
            let gathering = Gathering::Balls {
                viewer,
                owner: friend_id,
                result: None,
            };
            (gathering, vec![(partition.owner(friend_id), view)])
        }
        Request::Teams {} => {
            let (result, queries) = remote_teams::begin_list(world, viewer)?;
            (Gathering::Teams(result), queries)
        }
        _ => return None,
    };
    let mut views = world.resource_mut::<RemoteViews>();
    let client_view = views.number();
    let mut asks = HashMap::new();
    let mut dispatches = Vec::new();
    for (to_shard, view) in queries {
        let query = views.number();
        views.asks.insert(query, client_view);
        asks.insert(query, view.clone());
        dispatches.push(Dispatch::Ask {
            query,
            to_shard,
            view,
        });
    }
    views.waiting.insert(
        client_view,
        Waiting {
            reply: Parked {
                session,
                request_id,
                op: request.op_name(),
            },
            asks,
            gathering,
        },
    );
    let mut remote = world.resource_mut::<RemoteOps>();
    for dispatch in dispatches {
        remote.dispatch(dispatch);
    }
    Some(Ok(()))
}

/// Players of other shards grouped by the shard that owns them, each group sorted and
/// without repeats: one query per shard.
fn by_shard(
    partition: Partition,
    players: impl IntoIterator<Item = PlayerId>,
) -> impl Iterator<Item = (u64, Vec<PlayerId>)> {
    let mut groups: BTreeMap<u64, Vec<PlayerId>> = BTreeMap::new();
    for player in players {
        if !partition.owns(player) {
            groups
                .entry(partition.owner(player))
                .or_default()
                .push(player);
        }
    }
    groups.into_iter().map(|(shard, mut players)| {
        players.sort();
        players.dedup();
        (shard, players)
    })
}

/// On the owner's shard: reads the players a view asks for, by the one-node code.
pub fn answer(world: &World, query: &ViewQuery) -> Result<ViewAnswer, ErrorBody> {
    match *query {
        ViewQuery::Friends {
            viewer,
            hits_allowed,
            ref players,
        } => Ok(ViewAnswer::Friends(
            players
                .iter()
                .filter_map(|&player| friends::friend_row(world, viewer, hits_allowed, player))
                .collect(),
        )),
        ViewQuery::Balls {
            viewer,
            hits_allowed,
            owner,
        } => {
            require_friends(world, viewer, owner)?;
            friends::balls_seen_by(world, viewer, hits_allowed, owner).map(ViewAnswer::Balls)
        }
        ViewQuery::Teams { viewer, ref teams } => Ok(ViewAnswer::Teams(remote_teams::answer_list(
            world, viewer, teams,
        ))),
        ViewQuery::Board {
            period,
            limit,
            ref players,
        } => Ok(ViewAnswer::Board(friends::board_rows(
            world,
            players,
            period,
            limit as usize,
        ))),
    }
}

/// On the asking shard: adds one shard's answer to the view waiting for it, and answers
/// the client when it was the last (or at once when `friend_balls` is refused or timed
/// out; a list marks the players or teams of a shard that did not answer as
/// unavailable).
pub fn answered(world: &mut World, query: u64, answer: Result<ViewAnswer, ErrorBody>) {
    let mut views = world.resource_mut::<RemoteViews>();
    if let Some(push) = views.pushes.remove(&query) {
        // A push that cannot be read is not sent: the watching client still sees the
        // friend's state when it next asks.
        if let Ok(answer) = answer {
            remote_watch::push(world, push, answer);
        }
        return;
    }
    // Unknown when the client was answered already (a refusal, or a duplicate).
    let Some(client_view) = views.asks.remove(&query) else {
        return;
    };
    let Some(waiting) = views.waiting.get_mut(&client_view) else {
        return;
    };
    let asked = waiting.asks.remove(&query);
    let refusal = match (answer, asked) {
        (Ok(answer), _) => {
            waiting.gather(answer);
            None
        }
        (Err(refusal), Some(asked)) => waiting.gathering.miss(asked, refusal),
        (Err(refusal), None) => Some(refusal),
    };
    if refusal.is_none() && !waiting.asks.is_empty() {
        return;
    }
    let Some(waiting) = views.waiting.remove(&client_view) else {
        return;
    };
    for ask in waiting.asks.keys() {
        views.asks.remove(ask);
    }
    if let Gathering::Balls {
        viewer,
        owner,
        result: Some(ref shown),
    } = waiting.gathering
    {
        risk::remote_balls_shown(world, viewer, owner, &shown.balls);
    }
    let reply = match refusal {
        Some(refusal) => Err(refusal),
        None => waiting.gathering.finish(),
    };
    waiting.reply.answer(world, reply);
}

impl Waiting {
    fn gather(&mut self, answer: ViewAnswer) {
        match (&mut self.gathering, answer) {
            (
                Gathering::Friends {
                    result,
                    remote_friends,
                },
                ViewAnswer::Friends(rows),
            ) => {
                for row in rows {
                    for pending in result.incoming.iter_mut().chain(&mut result.outgoing) {
                        if pending.player_id == row.player_id {
                            pending.name.clone_from(&row.name);
                        }
                    }
                    if remote_friends.contains(&row.player_id) {
                        result.friends.push(row);
                    }
                }
                result.friends.sort_by_key(|row| row.player_id);
            }
            (Gathering::Board { board, .. }, ViewAnswer::Board(rows)) => {
                board.entries.extend(rows);
            }
            (Gathering::Balls { result, .. }, ViewAnswer::Balls(answer)) => *result = Some(answer),
            (Gathering::Teams(result), ViewAnswer::Teams(rows)) => {
                remote_teams::gather_list(result, rows);
            }
            (_, answer) => tracing::error!(?answer, "an answer for another view; ignored"),
        }
    }
}

/// Names `missed` in a list's `unavailable`, kept sorted.
fn mark_unavailable<Id: Ord>(unavailable: &mut Vec<Id>, missed: Vec<Id>) {
    unavailable.extend(missed);
    unavailable.sort();
}

impl Gathering {
    /// A shard could not be read for what `asked` reads: a list goes on without those
    /// players or teams (named in `unavailable`); `friend_balls` is refused with the
    /// shard's refusal.
    fn miss(&mut self, asked: ViewQuery, refusal: ErrorBody) -> Option<ErrorBody> {
        match (self, asked) {
            (Self::Friends { result, .. }, ViewQuery::Friends { players, .. }) => {
                mark_unavailable(&mut result.unavailable, players);
            }
            (Self::Board { board, .. }, ViewQuery::Board { players, .. }) => {
                mark_unavailable(&mut board.unavailable, players);
            }
            (Self::Teams(result), ViewQuery::Teams { teams, .. }) => {
                mark_unavailable(&mut result.unavailable, teams);
            }
            _ => return Some(refusal),
        }
        tracing::debug!(%refusal.message, "a list goes on without a shard that did not answer");
        None
    }

    /// The client's result, every shard having answered or been given up on.
    fn finish(self) -> Result<String, ErrorBody> {
        let encoded = match self {
            Self::Friends { result, .. } => serde_json::to_string(&result),
            Self::Board { mut board, limit } => {
                board.entries = friends::rank_board(board.entries, limit);
                serde_json::to_string(&board)
            }
            Self::Balls {
                result: Some(balls),
                ..
            } => serde_json::to_string(&balls),
            Self::Teams(teams) => serde_json::to_string(&teams),
            Self::Balls { result: None, .. } => {
                return fail(ErrorCode::Internal, "the friend's shard sent no balls");
            }
        };
        Ok(encoded.expect("protocol results serialize to JSON"))
    }
}
