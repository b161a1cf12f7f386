//! Which requests are writes, and whether a write did what it was sent to do: the
//! report's share of writes that succeeded, which says whether a run kept doing real
//! work or spent itself on refusals and empty `collect_all`s once its world drained.
//!
//! A **write** is a request sent to move energy: `collect`, `collect_all`, `steal`,
//! `water` (the only writes a bot sends during the run; setup's partner actions, walks
//! and friendships are not part of it). It **succeeded** when the reply is `ok` and it
//! moved something: any `ok` `collect`, `steal` or `water` (the checks make sure an `ok`
//! take is never 0 g), and a `collect_all` that picked at least one ball. A refusal, an
//! `ok` `collect_all` of nothing and a request that got no reply all count as failed.
//!
//! **Probes** are left out of the share: requests the bot sends knowing the rules must
//! refuse them (a collect of a ball it saw end, a second steal from a ball it already
//! hit, a steal of a ball `friend_balls` showed with nothing to take). They test the
//! refusals, not the world, and are counted on their own.

use crate::bots::knowledge::typed;
use crate::bots::plan::Planned;
use crate::connection::ReplyOutcome;
use canopy_shared::reply::CollectAllResult;
use std::collections::BTreeMap;

/// The ops that are writes, in the report's order.
pub const WRITE_OPS: [&str; 4] = ["collect", "collect_all", "steal", "water"];

/// What one request was, as far as the write share goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteOutcome {
    /// A read (or a request that is not a write).
    Read,
    /// A write sent to be refused (not part of the share).
    Probe,
    /// A write, and whether it moved something.
    Write {
        /// The reply was `ok` and it moved energy.
        succeeded: bool,
    },
}

/// Whether `planned` is a write, a probe or a read, before its reply (or without one).
pub fn intent(planned: &Planned) -> WriteOutcome {
    match planned {
        Planned::Collect { known: None, .. } | Planned::Steal { seen: None, .. } => {
            WriteOutcome::Probe
        }
        Planned::Steal {
            seen: Some(seen), ..
        } if seen.stealable == 0 => WriteOutcome::Probe,
        Planned::Collect { .. }
        | Planned::CollectAll
        | Planned::Steal { .. }
        | Planned::Water { .. } => WriteOutcome::Write { succeeded: false },
        _ => WriteOutcome::Read,
    }
}

/// What the reply to `planned` makes of it.
pub fn judge_write(planned: &Planned, outcome: &ReplyOutcome) -> WriteOutcome {
    match intent(planned) {
        WriteOutcome::Write { .. } => WriteOutcome::Write {
            succeeded: match (planned, outcome) {
                (_, Err(_)) => false,
                (Planned::CollectAll, Ok(fields)) => {
                    typed::<CollectAllResult>(fields).is_some_and(|result| result.balls > 0)
                }
                (_, Ok(_)) => true,
            },
        },
        other => other,
    }
}

/// Writes of one op.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteCount {
    /// Writes sent (probes not included).
    pub attempted: u64,
    /// Writes that succeeded.
    pub succeeded: u64,
}

impl WriteCount {
    /// `succeeded / attempted`, or `None` when nothing was attempted.
    pub fn share(&self) -> Option<f64> {
        (self.attempted > 0).then(|| self.succeeded as f64 / self.attempted as f64)
    }
}

/// Every write of a run, by op.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteTally {
    /// By op, every op of [`WRITE_OPS`].
    pub per_op: BTreeMap<&'static str, WriteCount>,
    /// Probes sent.
    pub probes: u64,
}

impl Default for WriteTally {
    fn default() -> Self {
        Self {
            per_op: WRITE_OPS
                .iter()
                .map(|op| (*op, WriteCount::default()))
                .collect(),
            probes: 0,
        }
    }
}

impl WriteTally {
    /// Counts one request of `op`.
    pub fn count(&mut self, op: &'static str, outcome: WriteOutcome) {
        match outcome {
            WriteOutcome::Read => {}
            WriteOutcome::Probe => self.probes += 1,
            WriteOutcome::Write { succeeded } => {
                let count = self.per_op.entry(op).or_default();
                count.attempted += 1;
                count.succeeded += u64::from(succeeded);
            }
        }
    }

    /// All ops together.
    pub fn total(&self) -> WriteCount {
        self.per_op
            .values()
            .fold(WriteCount::default(), |sum, count| WriteCount {
                attempted: sum.attempted + count.attempted,
                succeeded: sum.succeeded + count.succeeded,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bots::knowledge::{OwnBall, SeenBall};
    use canopy_shared::{BallId, ErrorBody, ErrorCode, PlayerId};
    use serde_json::{Value, json};

    fn ok(value: Value) -> ReplyOutcome {
        match value {
            Value::Object(fields) => Ok(fields),
            other => panic!("a reply is an object, not {other}"),
        }
    }

    fn refused(code: ErrorCode) -> ReplyOutcome {
        Err(ErrorBody::new(code, "crafted"))
    }

    fn seen(stealable: u64) -> SeenBall {
        SeenBall {
            friend: PlayerId(2),
            ball_id: BallId(7),
            full: 50,
            stealable,
        }
    }

    const SUCCEEDED: WriteOutcome = WriteOutcome::Write { succeeded: true };
    const FAILED: WriteOutcome = WriteOutcome::Write { succeeded: false };

    #[test]
    fn ok_writes_succeed_and_refusals_fail() {
        let collect = Planned::Collect {
            ball: BallId(1),
            known: Some(OwnBall {
                amount: 50,
                ripe_at: 0,
            }),
        };
        let took = ok(json!({"grams": 50, "energy": 50}));
        assert_eq!(judge_write(&collect, &took), SUCCEEDED);
        assert_eq!(judge_write(&collect, &refused(ErrorCode::Gone)), FAILED);
        let steal = Planned::Steal {
            friend: PlayerId(2),
            ball: BallId(7),
            seen: Some(seen(15)),
        };
        assert_eq!(judge_write(&steal, &took), SUCCEEDED);
        assert_eq!(
            judge_write(&steal, &refused(ErrorCode::NothingLeft)),
            FAILED
        );
        let water = Planned::Water {
            friend: PlayerId(2),
            grams: 10,
        };
        let watered = ok(json!({"energy": 40, "ball_id": 9}));
        assert_eq!(judge_write(&water, &watered), SUCCEEDED);
        assert_eq!(
            judge_write(&water, &refused(ErrorCode::LimitReached)),
            FAILED
        );
    }

    #[test]
    fn a_collect_all_of_nothing_is_a_failed_write() {
        let nothing = ok(json!({"grams": 0, "energy": 10, "balls": 0}));
        assert_eq!(judge_write(&Planned::CollectAll, &nothing), FAILED);
        let some = ok(json!({"grams": 100, "energy": 110, "balls": 2}));
        assert_eq!(judge_write(&Planned::CollectAll, &some), SUCCEEDED);
    }

    #[test]
    fn probes_and_reads_are_not_in_the_share() {
        let ended = Planned::Collect {
            ball: BallId(1),
            known: None,
        };
        let again = Planned::Steal {
            friend: PlayerId(2),
            ball: BallId(7),
            seen: None,
        };
        let empty = Planned::Steal {
            friend: PlayerId(2),
            ball: BallId(7),
            seen: Some(seen(0)),
        };
        for probe in [ended, again, empty] {
            assert_eq!(
                judge_write(&probe, &refused(ErrorCode::AlreadyStolen)),
                WriteOutcome::Probe
            );
        }
        for read in [
            Planned::Me,
            Planned::Friends,
            Planned::Feed,
            Planned::Leaderboard,
            Planned::FriendBalls {
                friend: PlayerId(2),
            },
        ] {
            assert_eq!(judge_write(&read, &ok(json!({}))), WriteOutcome::Read);
        }
    }

    #[test]
    fn the_tally_adds_up_per_op_and_in_total() {
        let mut tally = WriteTally::default();
        for _ in 0..3 {
            tally.count("steal", SUCCEEDED);
        }
        tally.count("steal", FAILED);
        tally.count("collect_all", FAILED);
        tally.count("collect", WriteOutcome::Probe);
        tally.count("me", WriteOutcome::Read);
        assert_eq!(
            tally.per_op["steal"],
            WriteCount {
                attempted: 4,
                succeeded: 3
            }
        );
        assert_eq!(tally.per_op["steal"].share(), Some(0.75));
        assert_eq!(tally.per_op["water"].share(), None, "nothing attempted");
        assert_eq!(
            tally.total(),
            WriteCount {
                attempted: 5,
                succeeded: 3
            }
        );
        assert_eq!(tally.probes, 1);
        assert!(!tally.per_op.contains_key("me"));
    }
}
