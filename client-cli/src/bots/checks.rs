//! The bots' correctness checks: each reply is compared with what the bot knew before
//! it, and anything the rules (GAME.md) or the protocol (PROTOCOL.md) rule out is a
//! violation. A check fires only where the bot can be sure: its balance moves only with
//! its own collects, steals and waterings (and friends' help-collects, which the bots
//! never do), and it sees replies and events in the order the server sent them.
//!
//! The numbers are GAME.md's defaults; against a server configured otherwise the share
//! and limit checks would fire wrongly.

use crate::bots::knowledge::{GameClock, Knowledge, typed};
use crate::bots::plan::Planned;
use crate::bots::props;
use crate::connection::ReplyOutcome;
use canopy_shared::reply::{
    BallsResult, CollectAllResult, FeedResult, FriendsResult, GramsEnergyResult, LeaderboardResult,
    MeResult, ShopResult, WaterResult,
};
use canopy_shared::{ErrorCode, PlayerId};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A steal takes at most this share of the ball's full amount (`steal.max_share`).
pub const STEAL_MAX_SHARE: f64 = 0.30;
/// The owner always keeps this share of the full amount (`steal.owner_keeps`).
pub const OWNER_KEEPS: f64 = 0.30;
/// Grams one thief may steal per game day (`steal.daily_cap_grams`).
pub const STEAL_DAILY_CAP_GRAMS: u64 = 1_500;
/// Waterings of one friend per game day (`water.per_friend_per_day`).
pub const WATER_PER_FRIEND_PER_DAY: u32 = 3;

/// Codes that may answer any request besides an op's own list. `INTERNAL` is left out
/// on purpose: the server may send it, but for a load test it is a fault to report.
const ANY_OP: [ErrorCode; 3] = [
    ErrorCode::RateLimited,
    ErrorCode::Overloaded,
    ErrorCode::ShuttingDown,
];

/// Refusals the rules call for in normal play: a bot hits them without anything being
/// wrong (a ball not ripe yet, already emptied, a daily limit reached).
const RULE_REFUSALS: [ErrorCode; 10] = [
    ErrorCode::NotRipe,
    ErrorCode::Gone,
    ErrorCode::Protected,
    ErrorCode::AlreadyStolen,
    ErrorCode::NothingLeft,
    ErrorCode::InsufficientEnergy,
    ErrorCode::LimitReached,
    ErrorCode::InsufficientVitality,
    ErrorCode::AlreadyRevived,
    ErrorCode::OutsideWindow,
];

/// The error codes each op may answer, from docs/PROTOCOL.md (with `GONE` for a steal of
/// an ended ball, one of its "choices where the contract is open").
pub fn listed_codes(op: &str) -> &'static [ErrorCode] {
    use ErrorCode::*;
    match op {
        "collect" => &[NotFound, NotYours, NotRipe, Gone],
        "steal" => &[
            NotFriends,
            NotFound,
            NotRipe,
            Protected,
            AlreadyStolen,
            NothingLeft,
            LimitReached,
            Gone,
        ],
        "friend_balls" => &[NotFriends],
        "water" => &[NotFriends, InsufficientEnergy, LimitReached, BadRequest],
        "buy" => &[NotFound, LimitReached, InsufficientVitality],
        "gift_prop" => &[NotFriends, NotFound, LimitReached, BadRequest],
        "revive" => &[
            NotFriends,
            NotFound,
            OutsideWindow,
            Gone,
            AlreadyRevived,
            LimitReached,
            BadRequest,
        ],
        _ => &[],
    }
}

/// Ops that may involve a player of another shard: in cluster mode they may answer
/// `SHARD_TIMEOUT` when that shard did not decide in time (docs/PROTOCOL.md).
/// (`friends` and `leaderboard` answer without the silent shard's players instead.)
const CROSS_SHARD_OPS: [&str; 5] = ["steal", "water", "friend_balls", "gift_prop", "revive"];

/// How an error reply is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// A refusal the rules call for in normal play.
    Expected,
    /// `SHARD_TIMEOUT`: another shard did not decide in time (down, paused, or NATS
    /// without a quorum). Expected while a fault lasts; the op may still take effect.
    Fault,
    /// Anything else: a code the op may send but bots should not see (`OVERLOADED`,
    /// `NOT_FRIENDS`, ...) or one it may not send at all (a violation too).
    Unexpected,
}

/// Whether `op` may answer `code` at all.
pub fn code_allowed(op: &str, code: ErrorCode) -> bool {
    listed_codes(op).contains(&code)
        || ANY_OP.contains(&code)
        || (code == ErrorCode::ShardTimeout && CROSS_SHARD_OPS.contains(&op))
}

/// How an error reply to `op` is counted.
pub fn classify(op: &str, code: ErrorCode) -> ErrorClass {
    if listed_codes(op).contains(&code) && RULE_REFUSALS.contains(&code) {
        ErrorClass::Expected
    } else if code == ErrorCode::ShardTimeout && code_allowed(op, code) {
        ErrorClass::Fault
    } else {
        ErrorClass::Unexpected
    }
}

/// Which rule a violation broke.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Check {
    /// An error code the op may not answer, or `INTERNAL`.
    UnexpectedCode,
    /// A code the bot's knowledge rules out (`NOT_FRIENDS` for a friend, ...).
    CodeContradictsKnowledge,
    /// A steal took more than 30 % of the ball's full amount.
    StealOverShare,
    /// A steal took more than the `stealable` seen just before.
    StealOverStealable,
    /// An `ok` steal on a ball this bot already stole from.
    StealTwice,
    /// Steals today add up past the daily cap.
    StealOverDailyCap,
    /// An `ok` water past 3 per friend per day.
    WaterOverDailyLimit,
    /// A collect or steal that took 0 g.
    EmptyTake,
    /// A collect that took more than the ball held.
    CollectOverBall,
    /// A ball this bot saw end was collected again, or listed again.
    CollectEnded,
    /// A balance that is not the last known one plus or minus what the op moved.
    EnergyMismatch,
    /// A ball stolen past the owner's kept share (30 %).
    KeptShareBroken,
    /// A `stealable` larger than what is left to steal, or above 0 where it must be 0.
    StealableWrong,
    /// A read that contradicts itself or what the bot knows.
    ViewInconsistent,
    /// An `ok` reply without the fields the protocol promises.
    BadShape,
    /// Props or vitality that do not add up: a purchase that did not add its props or
    /// cost more than the bot had, a gift that did not take the prop, a revival of
    /// other grams than listed or without its vitality.
    PropsMismatch,
    /// A purchase, gift or revival accepted past its daily limit.
    PropsOverDailyLimit,
    /// An energy rain tap judged against the round's own schedule wrongly: refused
    /// while its ball was on screen, or caught for other grams than the ball's.
    RainTapWrong,
    /// A settled rain round that credited other grams, balance or vitality than its
    /// accepted taps earned.
    RainCreditMismatch,
    /// A rain round started past the day's allowance, or refused within it.
    RainRoundsWrong,
}

impl Check {
    /// The check's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::UnexpectedCode => "unexpected_code",
            Self::CodeContradictsKnowledge => "code_contradicts_knowledge",
            Self::StealOverShare => "steal_over_share",
            Self::StealOverStealable => "steal_over_stealable",
            Self::StealTwice => "steal_twice",
            Self::StealOverDailyCap => "steal_over_daily_cap",
            Self::WaterOverDailyLimit => "water_over_daily_limit",
            Self::EmptyTake => "empty_take",
            Self::CollectOverBall => "collect_over_ball",
            Self::CollectEnded => "collect_ended",
            Self::EnergyMismatch => "energy_mismatch",
            Self::KeptShareBroken => "kept_share_broken",
            Self::StealableWrong => "stealable_wrong",
            Self::ViewInconsistent => "view_inconsistent",
            Self::BadShape => "bad_shape",
            Self::PropsMismatch => "props_mismatch",
            Self::PropsOverDailyLimit => "props_over_daily_limit",
            Self::RainTapWrong => "rain_tap_wrong",
            Self::RainCreditMismatch => "rain_credit_mismatch",
            Self::RainRoundsWrong => "rain_rounds_wrong",
        }
    }
}

/// One broken rule, with what was seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which rule.
    pub check: Check,
    /// What happened, for people.
    pub description: String,
}

/// The verdict on one reply.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Judgement {
    /// For an error reply: its code and how it counts.
    pub error: Option<(ErrorCode, ErrorClass)>,
    /// What the reply broke.
    pub violations: Vec<Violation>,
}

/// Grams thieves may take from a ball of `full` grams in all (the server's formula).
pub fn thieves_share(full: u64) -> u64 {
    (full as f64 * (1.0 - OWNER_KEEPS)).floor() as u64
}

/// Grams one hit may take from a ball of `full` grams: the largest share, at least 1 g.
pub fn max_hit(full: u64) -> u64 {
    ((full as f64 * STEAL_MAX_SHARE).floor() as u64).max(1)
}

/// Judges the reply to `planned`, given what the bot knew before it.
pub fn judge(
    know: &Knowledge,
    clock: &GameClock,
    planned: &Planned,
    outcome: &ReplyOutcome,
) -> Judgement {
    let mut found = Found::default();
    let error = match outcome {
        Ok(fields) => {
            judge_ok(know, clock, planned, fields, &mut found);
            None
        }
        Err(error) => {
            judge_error(know, clock, planned, error.code, &mut found);
            Some((error.code, classify(planned.op_name(), error.code)))
        }
    };
    Judgement {
        error,
        violations: found.0,
    }
}

/// Violations found so far.
#[derive(Default)]
struct Found(Vec<Violation>);

impl Found {
    fn add(&mut self, check: Check, description: String) {
        self.0.push(Violation { check, description });
    }

    /// Types a result, or records that it has the wrong shape.
    fn typed<T: DeserializeOwned>(&mut self, op: &str, fields: &Map<String, Value>) -> Option<T> {
        let result = typed(fields);
        if result.is_none() {
            self.add(
                Check::BadShape,
                format!(
                    "the ok reply to {op} lacks fields the protocol promises: {}",
                    Value::Object(fields.clone())
                ),
            );
        }
        result
    }

    /// Compares a reply's balance with the last known balance moved by `delta` grams,
    /// plus at most what the bot's ops in doubt may still have credited since.
    fn energy(&mut self, know: &Knowledge, op: &str, delta: i128, reported: u64) {
        let Some(before) = know.energy else {
            return;
        };
        let expected = i128::from(before) + delta;
        let late = i128::from(know.doubt.credit);
        let reported = i128::from(reported);
        if reported < expected || reported > expected + late {
            let doubt = if late > 0 {
                format!(", plus up to {late} g from its ops in doubt")
            } else {
                String::new()
            };
            self.add(
                Check::EnergyMismatch,
                format!(
                    "{op} reported a balance of {reported} g; the bot had {before} g and the op \
                     moved {delta:+} g, so {expected} g was due{doubt}"
                ),
            );
        }
    }
}

fn judge_ok(
    know: &Knowledge,
    clock: &GameClock,
    planned: &Planned,
    fields: &Map<String, Value>,
    found: &mut Found,
) {
    let op = planned.op_name();
    let today = clock.sure_day().filter(|day| know.day == Some(*day));
    match *planned {
        Planned::Collect { ball, known } => {
            let Some(result) = found.typed::<GramsEnergyResult>(op, fields) else {
                return;
            };
            match known {
                None => found.add(
                    Check::CollectEnded,
                    format!(
                        "collect of ball #{ball} gave {} g, but this bot had seen that ball end",
                        result.grams
                    ),
                ),
                Some(known) if result.grams > known.amount => found.add(
                    Check::CollectOverBall,
                    format!(
                        "collect of ball #{ball} gave {} g; the ball showed {} g",
                        result.grams, known.amount
                    ),
                ),
                Some(_) => {}
            }
            if result.grams == 0 {
                found.add(
                    Check::EmptyTake,
                    format!("collect of ball #{ball} answered ok with 0 g"),
                );
            }
            found.energy(know, op, i128::from(result.grams), result.energy);
        }
        Planned::CollectAll => {
            let Some(result) = found.typed::<CollectAllResult>(op, fields) else {
                return;
            };
            if result.balls > 0 && result.grams == 0 {
                found.add(
                    Check::EmptyTake,
                    format!("collect_all picked {} balls but 0 g", result.balls),
                );
            }
            found.energy(know, op, i128::from(result.grams), result.energy);
        }
        Planned::Steal { friend, ball, seen } => {
            let Some(result) = found.typed::<GramsEnergyResult>(op, fields) else {
                return;
            };
            let grams = result.grams;
            if seen.is_none() || know.hit.contains(&(friend, ball)) {
                found.add(
                    Check::StealTwice,
                    format!(
                        "steal from ball #{ball} of #{friend} took {grams} g, but this bot had \
                         already stolen from it (no double-click card)"
                    ),
                );
            }
            if let Some(seen) = seen {
                if grams > max_hit(seen.full) {
                    found.add(
                        Check::StealOverShare,
                        format!(
                            "steal from ball #{ball} of #{friend} took {grams} g, over 30 % of \
                             its {} g ({} g at most)",
                            seen.full,
                            max_hit(seen.full)
                        ),
                    );
                }
                if grams > seen.stealable {
                    found.add(
                        Check::StealOverStealable,
                        format!(
                            "steal from ball #{ball} of #{friend} took {grams} g; friend_balls \
                             had shown {} g stealable",
                            seen.stealable
                        ),
                    );
                }
            }
            if grams == 0 {
                found.add(
                    Check::EmptyTake,
                    format!("steal from ball #{ball} of #{friend} answered ok with 0 g"),
                );
            }
            if today.is_some() && know.stolen_today + grams > STEAL_DAILY_CAP_GRAMS {
                found.add(
                    Check::StealOverDailyCap,
                    format!(
                        "steal of {grams} g after {} g today passes the daily cap of {} g",
                        know.stolen_today, STEAL_DAILY_CAP_GRAMS
                    ),
                );
            }
            found.energy(know, op, i128::from(grams), result.energy);
        }
        Planned::Water { friend, grams } => {
            let Some(result) = found.typed::<WaterResult>(op, fields) else {
                return;
            };
            let given = know.watered_today.get(&friend).copied().unwrap_or(0);
            if today.is_some() && given >= WATER_PER_FRIEND_PER_DAY && !know.uncertain {
                found.add(
                    Check::WaterOverDailyLimit,
                    format!(
                        "water of #{friend} answered ok after {given} waterings today (at most \
                         {WATER_PER_FRIEND_PER_DAY})"
                    ),
                );
            }
            found.energy(know, op, -i128::from(grams), result.energy);
        }
        Planned::FriendBalls { friend } => {
            if let Some(result) = found.typed::<BallsResult>(op, fields) {
                judge_friend_balls(know, clock, friend, &result, found);
            }
        }
        Planned::Me => {
            if let Some(result) = found.typed::<MeResult>(op, fields) {
                judge_me(know, &result, found);
            }
        }
        Planned::Friends => {
            let Some(result) = found.typed::<FriendsResult>(op, fields) else {
                return;
            };
            // Cluster mode: a friend whose shard did not answer is named in `unavailable`
            // instead of listed; that is an answer, not a lost friend.
            let mut listed: Vec<PlayerId> = result
                .friends
                .iter()
                .map(|f| f.player_id)
                .chain(
                    result
                        .unavailable
                        .iter()
                        .copied()
                        .filter(|player| know.is_friend(*player)),
                )
                .collect();
            listed.sort_unstable();
            if !know.uncertain && listed != know.friends {
                found.add(
                    Check::ViewInconsistent,
                    format!(
                        "friends lists {} players (with those marked unavailable), not the {} this bot befriended",
                        listed.len(),
                        know.friends.len()
                    ),
                );
            }
        }
        Planned::Leaderboard => {
            let Some(result) = found.typed::<LeaderboardResult>(op, fields) else {
                return;
            };
            for pair in result.entries.windows(2) {
                if pair[1].grams > pair[0].grams || pair[1].rank < pair[0].rank {
                    found.add(
                        Check::ViewInconsistent,
                        format!(
                            "leaderboard is out of order: rank {} with {} g before rank {} with {} g",
                            pair[0].rank, pair[0].grams, pair[1].rank, pair[1].grams
                        ),
                    );
                    break;
                }
            }
            if let Some(stranger) = result
                .entries
                .iter()
                .find(|e| e.player_id != know.me && !know.is_friend(e.player_id))
            {
                found.add(
                    Check::ViewInconsistent,
                    format!(
                        "leaderboard lists #{}, who is neither the caller nor a friend",
                        stranger.player_id
                    ),
                );
            }
        }
        Planned::Shop => {
            found.typed::<ShopResult>(op, fields);
        }
        Planned::Buy { .. } | Planned::GiftProp { .. } | Planned::Revive { .. } => {
            if !know.uncertain {
                found
                    .0
                    .extend(props::judge_ok(&know.props, planned, fields));
            }
        }
        Planned::Feed => {
            let Some(result) = found.typed::<FeedResult>(op, fields) else {
                return;
            };
            if result
                .entries
                .windows(2)
                .any(|pair| pair[1].time > pair[0].time)
            {
                found.add(
                    Check::ViewInconsistent,
                    "feed entries are not newest first".to_owned(),
                );
            }
        }
    }
}

fn judge_friend_balls(
    know: &Knowledge,
    clock: &GameClock,
    friend: PlayerId,
    result: &BallsResult,
    found: &mut Found,
) {
    for ball in &result.balls {
        let id = ball.ball_id;
        if ball.owner != friend {
            found.add(
                Check::ViewInconsistent,
                format!(
                    "friend_balls of #{friend} lists ball #{id} owned by #{}",
                    ball.owner
                ),
            );
        }
        let full = ball.amount + ball.stolen;
        if ball.stolen > thieves_share(full) {
            found.add(
                Check::KeptShareBroken,
                format!(
                    "ball #{id} of #{friend} has {} g stolen of {full} g: over 70 %",
                    ball.stolen
                ),
            );
        }
        let left_to_steal = thieves_share(full)
            .saturating_sub(ball.stolen)
            .min(ball.amount);
        if ball.stealable > left_to_steal {
            found.add(
                Check::StealableWrong,
                format!(
                    "ball #{id} of #{friend} shows {} g stealable; only {left_to_steal} g is \
                     left above the owner's share",
                    ball.stealable
                ),
            );
        }
        if ball.stealable > 0 {
            let why = if ball.source == "water" {
                Some("a water ball")
            } else if clock.surely_ahead(ball.ripe_at) {
                Some("an unripe ball")
            } else if know.hit.contains(&(friend, id)) {
                Some("a ball this bot already stole from")
            } else {
                None
            };
            if let Some(why) = why {
                found.add(
                    Check::StealableWrong,
                    format!(
                        "ball #{id} of #{friend} shows {} g stealable, but it is {why}",
                        ball.stealable
                    ),
                );
            }
        }
    }
}

fn judge_me(know: &Knowledge, result: &MeResult, found: &mut Found) {
    if result.player.id != know.me {
        found.add(
            Check::ViewInconsistent,
            format!("me answered for #{}, not #{}", result.player.id, know.me),
        );
    }
    found.energy(know, "me", 0, result.player.energy);
    for ball in &result.balls {
        let id = ball.ball_id;
        if ball.owner != know.me {
            found.add(
                Check::ViewInconsistent,
                format!("me lists ball #{id} owned by #{}", ball.owner),
            );
        }
        let full = ball.amount + ball.stolen;
        if ball.stolen > thieves_share(full) {
            found.add(
                Check::KeptShareBroken,
                format!(
                    "own ball #{id} has {} g stolen of {full} g: over 70 %",
                    ball.stolen
                ),
            );
        }
        if know.ended.contains(&id) {
            found.add(
                Check::CollectEnded,
                format!("me still lists ball #{id}, which this bot saw end"),
            );
        }
    }
}

fn judge_error(
    know: &Knowledge,
    clock: &GameClock,
    planned: &Planned,
    code: ErrorCode,
    found: &mut Found,
) {
    let op = planned.op_name();
    if !code_allowed(op, code) {
        found.add(
            Check::UnexpectedCode,
            format!("{op} answered {code}, which is not one of its errors in PROTOCOL.md"),
        );
        return;
    }
    if know.uncertain {
        return;
    }
    let today = clock.sure_day().filter(|day| know.day == Some(*day));
    let mut contradiction = |why: String| {
        found.add(
            Check::CodeContradictsKnowledge,
            format!("{op} answered {code}, but {why}"),
        );
    };
    match (*planned, code) {
        (
            Planned::Steal { friend, .. }
            | Planned::Water { friend, .. }
            | Planned::FriendBalls { friend }
            | Planned::GiftProp { friend, .. }
            | Planned::Revive { friend, .. },
            ErrorCode::NotFriends,
        ) => contradiction(format!("#{friend} befriended this bot in setup")),
        (Planned::Collect { ball, known }, ErrorCode::NotFound | ErrorCode::NotYours) => {
            contradiction(match known {
                Some(_) => format!("ball #{ball} is this bot's own"),
                None => format!("ball #{ball} was this bot's and ended: that is GONE"),
            })
        }
        (Planned::Collect { ball, known: None }, ErrorCode::NotRipe) => {
            contradiction(format!("ball #{ball} had ended: that is GONE"))
        }
        (
            Planned::Collect {
                ball,
                known: Some(known),
            },
            ErrorCode::NotRipe,
        ) if known.ripe_at <= clock.surely_past() => {
            contradiction(format!("ball #{ball} ripened at {}", known.ripe_at))
        }
        (Planned::Steal { friend, ball, .. }, ErrorCode::NotFound) => contradiction(format!(
            "ball #{ball} of #{friend} was seen: a ball that ended is GONE"
        )),
        (Planned::Steal { ball, seen, .. }, ErrorCode::NotRipe)
            if seen.is_none_or(|seen| seen.stealable > 0) =>
        {
            contradiction(format!("ball #{ball} was seen ripe"))
        }
        (
            Planned::Steal {
                friend,
                ball,
                seen: Some(_),
            },
            ErrorCode::AlreadyStolen,
        ) if know.hit.is_complete()
            && !know.hit.contains(&(friend, ball))
            && !know.doubt.may_have_hit(friend, ball) =>
        {
            contradiction(format!("this bot never stole from ball #{ball}"))
        }
        (Planned::Steal { .. }, ErrorCode::LimitReached)
            if today.is_some()
                && !know
                    .doubt
                    .may_fill_cap(know.stolen_today, STEAL_DAILY_CAP_GRAMS) =>
        {
            contradiction(format!(
                "this bot stole only {} g today, and at most {} g more in doubt (cap \
                 {STEAL_DAILY_CAP_GRAMS} g)",
                know.stolen_today, know.doubt.steal_grams
            ))
        }
        (Planned::Water { grams, .. }, ErrorCode::InsufficientEnergy)
            if know.energy.is_some_and(|energy| energy >= grams) =>
        {
            contradiction(format!(
                "the bot's balance is {} g",
                know.energy.unwrap_or_default()
            ))
        }
        (Planned::Water { grams, .. }, ErrorCode::LimitReached)
            if know
                .energy
                .is_some_and(|energy| energy + know.doubt.credit < grams) =>
        {
            contradiction(format!(
                "the balance of {} g is short, and INSUFFICIENT_ENERGY comes first",
                know.energy.unwrap_or_default()
            ))
        }
        (Planned::Water { friend, .. }, ErrorCode::LimitReached)
            if today.is_some()
                && know.watered_today.get(&friend).copied().unwrap_or(0)
                    + know.doubt.waterings_of(friend)
                    < WATER_PER_FRIEND_PER_DAY =>
        {
            contradiction(format!(
                "this bot watered #{friend} only {} times today, {} more in doubt",
                know.watered_today.get(&friend).copied().unwrap_or(0),
                know.doubt.waterings_of(friend)
            ))
        }
        (Planned::Buy { .. } | Planned::GiftProp { .. } | Planned::Revive { .. }, _)
            if today.is_some() =>
        {
            if let Some(why) = props::contradiction(&know.props, planned, code) {
                contradiction(why);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bots::knowledge::{OwnBall, SeenBall};
    use canopy_shared::{BallId, ErrorBody};
    use serde_json::json;

    const NOW: u64 = 1_795_647_600_000; // 2026-11-26 07:00 at UTC+8
    const ME: PlayerId = PlayerId(1);
    const FRIEND: PlayerId = PlayerId(2);

    fn clock() -> GameClock {
        GameClock::manual(NOW, 480)
    }

    fn bot() -> Knowledge {
        let mut know = Knowledge::new(ME, vec![FRIEND, PlayerId(3)]);
        know.roll_day(&clock());
        know.energy = Some(100);
        know
    }

    fn ok(value: serde_json::Value) -> ReplyOutcome {
        match value {
            Value::Object(fields) => Ok(fields),
            other => panic!("a reply is an object, not {other}"),
        }
    }

    fn err(code: ErrorCode) -> ReplyOutcome {
        Err(ErrorBody::new(code, "crafted"))
    }

    // Owned, so tests can write the reply inline.
    #[allow(clippy::needless_pass_by_value)]
    fn checks(know: &Knowledge, planned: Planned, outcome: ReplyOutcome) -> Vec<Check> {
        judge(know, &clock(), &planned, &outcome)
            .violations
            .iter()
            .map(|violation| violation.check)
            .collect()
    }

    fn seen(full: u64, stealable: u64) -> SeenBall {
        SeenBall {
            friend: FRIEND,
            ball_id: BallId(50),
            full,
            stealable,
        }
    }

    fn steal(seen: SeenBall) -> Planned {
        Planned::Steal {
            friend: FRIEND,
            ball: seen.ball_id,
            seen: Some(seen),
        }
    }

    #[test]
    fn a_fair_steal_passes() {
        let outcome = ok(json!({"grams": 30, "energy": 130}));
        assert_eq!(checks(&bot(), steal(seen(100, 70)), outcome), vec![]);
    }

    #[test]
    fn a_steal_over_30_percent_of_the_ball_is_a_violation() {
        let outcome = ok(json!({"grams": 31, "energy": 131}));
        assert_eq!(
            checks(&bot(), steal(seen(100, 70)), outcome),
            vec![Check::StealOverShare]
        );
        // Tiny balls: a hit takes at least 1 g.
        let outcome = ok(json!({"grams": 1, "energy": 101}));
        assert_eq!(checks(&bot(), steal(seen(3, 2)), outcome), vec![]);
    }

    #[test]
    fn a_steal_over_the_stealable_seen_is_a_violation() {
        let outcome = ok(json!({"grams": 25, "energy": 125}));
        assert_eq!(
            checks(&bot(), steal(seen(100, 20)), outcome),
            vec![Check::StealOverStealable]
        );
    }

    #[test]
    fn an_ok_second_steal_of_the_same_ball_is_a_violation() {
        let mut know = bot();
        know.hit.insert((FRIEND, BallId(50)));
        let probe = Planned::Steal {
            friend: FRIEND,
            ball: BallId(50),
            seen: None,
        };
        let outcome = ok(json!({"grams": 10, "energy": 110}));
        assert_eq!(checks(&know, probe, outcome), vec![Check::StealTwice]);
        assert_eq!(checks(&know, probe, err(ErrorCode::AlreadyStolen)), vec![]);
        assert_eq!(checks(&know, probe, err(ErrorCode::Gone)), vec![]);
        assert_eq!(
            checks(&know, probe, err(ErrorCode::NotFound)),
            vec![Check::CodeContradictsKnowledge],
            "a ball that ended is GONE"
        );
    }

    #[test]
    fn already_stolen_on_a_ball_never_hit_is_a_violation() {
        assert_eq!(
            checks(&bot(), steal(seen(100, 70)), err(ErrorCode::AlreadyStolen)),
            vec![Check::CodeContradictsKnowledge]
        );
    }

    #[test]
    fn the_daily_steal_cap_holds_both_ways() {
        let mut know = bot();
        know.stolen_today = 1_490;
        let outcome = ok(json!({"grams": 20, "energy": 120}));
        assert_eq!(
            checks(&know, steal(seen(100, 70)), outcome),
            vec![Check::StealOverDailyCap]
        );
        assert_eq!(
            checks(&know, steal(seen(100, 70)), err(ErrorCode::LimitReached)),
            vec![Check::CodeContradictsKnowledge],
            "10 g of allowance were left"
        );
        know.stolen_today = 1_500;
        assert_eq!(
            checks(&know, steal(seen(100, 70)), err(ErrorCode::LimitReached)),
            vec![]
        );
    }

    #[test]
    fn the_balance_must_move_by_what_the_op_moved() {
        let outcome = ok(json!({"grams": 30, "energy": 140}));
        assert_eq!(
            checks(&bot(), steal(seen(100, 70)), outcome),
            vec![Check::EnergyMismatch]
        );
        let water = Planned::Water {
            friend: FRIEND,
            grams: 10,
        };
        let outcome = ok(json!({"energy": 90, "ball_id": 77}));
        assert_eq!(checks(&bot(), water, outcome), vec![]);
        let outcome = ok(json!({"energy": 100, "ball_id": 77}));
        assert_eq!(checks(&bot(), water, outcome), vec![Check::EnergyMismatch]);
        let outcome = ok(json!({"player": player_view(100), "balls": []}));
        assert_eq!(checks(&bot(), Planned::Me, outcome), vec![]);
        let outcome = ok(json!({"player": player_view(99), "balls": []}));
        assert_eq!(
            checks(&bot(), Planned::Me, outcome),
            vec![Check::EnergyMismatch]
        );
        let mut unsure = bot();
        unsure.energy = None;
        let outcome = ok(json!({"player": player_view(99), "balls": []}));
        assert_eq!(
            checks(&unsure, Planned::Me, outcome),
            vec![],
            "no check without a known balance"
        );
    }

    fn player_view(energy: u64) -> serde_json::Value {
        json!({
            "id": ME.0, "name": "bot-0", "energy": energy, "total_collected": energy,
            "tree": "seed", "certificates": [], "protected_until": null,
            "props": {"inventory": {"protection_cover": 0, "double_click": 0,
                                    "time_accelerator": 0, "stealth": 0}, "active": []}
        })
    }

    #[test]
    fn waterings_past_three_a_day_are_violations() {
        let mut know = bot();
        let water = Planned::Water {
            friend: FRIEND,
            grams: 10,
        };
        know.watered_today.insert(FRIEND, 3);
        let outcome = ok(json!({"energy": 90, "ball_id": 77}));
        assert_eq!(
            checks(&know, water, outcome),
            vec![Check::WaterOverDailyLimit]
        );
        assert_eq!(checks(&know, water, err(ErrorCode::LimitReached)), vec![]);
        know.watered_today.insert(FRIEND, 2);
        assert_eq!(
            checks(&know, water, err(ErrorCode::LimitReached)),
            vec![Check::CodeContradictsKnowledge]
        );
        assert_eq!(
            checks(&know, water, err(ErrorCode::InsufficientEnergy)),
            vec![Check::CodeContradictsKnowledge],
            "the bot has 100 g"
        );
        know.energy = Some(5);
        assert_eq!(
            checks(&know, water, err(ErrorCode::InsufficientEnergy)),
            vec![]
        );
    }

    #[test]
    fn collects_take_something_and_never_more_than_the_ball() {
        let ball = Planned::Collect {
            ball: BallId(9),
            known: Some(OwnBall {
                amount: 80,
                ripe_at: NOW - 1,
            }),
        };
        assert_eq!(
            checks(&bot(), ball, ok(json!({"grams": 80, "energy": 180}))),
            vec![]
        );
        assert_eq!(
            checks(&bot(), ball, ok(json!({"grams": 0, "energy": 100}))),
            vec![Check::EmptyTake]
        );
        assert_eq!(
            checks(&bot(), ball, ok(json!({"grams": 81, "energy": 181}))),
            vec![Check::CollectOverBall]
        );
        assert_eq!(checks(&bot(), ball, err(ErrorCode::Gone)), vec![]);
        assert_eq!(
            checks(&bot(), ball, err(ErrorCode::NotRipe)),
            vec![Check::CodeContradictsKnowledge],
            "it ripened before now"
        );
        assert_eq!(
            checks(&bot(), ball, err(ErrorCode::NotYours)),
            vec![Check::CodeContradictsKnowledge]
        );
        let ended = Planned::Collect {
            ball: BallId(9),
            known: None,
        };
        assert_eq!(
            checks(&bot(), ended, ok(json!({"grams": 5, "energy": 105}))),
            vec![Check::CollectEnded]
        );
        let all = Planned::CollectAll;
        assert_eq!(
            checks(
                &bot(),
                all,
                ok(json!({"grams": 0, "energy": 100, "balls": 0}))
            ),
            vec![]
        );
        assert_eq!(
            checks(
                &bot(),
                all,
                ok(json!({"grams": 0, "energy": 100, "balls": 2}))
            ),
            vec![Check::EmptyTake]
        );
    }

    #[test]
    fn error_codes_outside_the_ops_list_are_violations() {
        let all = Planned::CollectAll;
        assert_eq!(
            checks(&bot(), all, err(ErrorCode::Internal)),
            vec![Check::UnexpectedCode]
        );
        assert_eq!(
            checks(&bot(), all, err(ErrorCode::BadRequest)),
            vec![Check::UnexpectedCode]
        );
        assert_eq!(
            checks(&bot(), all, err(ErrorCode::Overloaded)),
            vec![],
            "any op may be OVERLOADED"
        );
        assert_eq!(
            checks(&bot(), steal(seen(100, 70)), err(ErrorCode::NotFriends)),
            vec![Check::CodeContradictsKnowledge]
        );
        assert_eq!(
            classify("steal", ErrorCode::NothingLeft),
            ErrorClass::Expected
        );
        assert_eq!(classify("steal", ErrorCode::Gone), ErrorClass::Expected);
        assert_eq!(
            classify("collect_all", ErrorCode::Gone),
            ErrorClass::Unexpected
        );
        assert_eq!(
            classify("water", ErrorCode::BadRequest),
            ErrorClass::Unexpected
        );
        assert_eq!(
            classify("me", ErrorCode::Overloaded),
            ErrorClass::Unexpected
        );
        assert_eq!(
            classify("steal", ErrorCode::Internal),
            ErrorClass::Unexpected
        );
    }

    fn ball_view(id: u64, owner: PlayerId, amount: u64, stolen: u64, stealable: u64) -> Value {
        json!({
            "ball_id": id, "owner": owner.0, "source": "bus", "amount": amount,
            "created_at": NOW - 100_000_000, "ripe_at": NOW - 1, "expires_at": NOW + 1,
            "stolen": stolen, "stealable": stealable
        })
    }

    #[test]
    fn friend_balls_must_respect_the_kept_share() {
        let look = Planned::FriendBalls { friend: FRIEND };
        let fair = ok(json!({"balls": [ball_view(5, FRIEND, 60, 40, 30)]}));
        assert_eq!(checks(&bot(), look, fair), vec![]);
        let over = ok(json!({"balls": [ball_view(5, FRIEND, 20, 80, 0)]}));
        assert_eq!(checks(&bot(), look, over), vec![Check::KeptShareBroken]);
        let too_much = ok(json!({"balls": [ball_view(5, FRIEND, 60, 40, 31)]}));
        assert_eq!(checks(&bot(), look, too_much), vec![Check::StealableWrong]);
        let mut know = bot();
        know.hit.insert((FRIEND, BallId(5)));
        let again = ok(json!({"balls": [ball_view(5, FRIEND, 60, 40, 10)]}));
        assert_eq!(checks(&know, look, again), vec![Check::StealableWrong]);
        let someone_else = ok(json!({"balls": [ball_view(5, PlayerId(9), 60, 0, 0)]}));
        assert_eq!(
            checks(&bot(), look, someone_else),
            vec![Check::ViewInconsistent]
        );
        let shapeless = ok(json!({"bowls": []}));
        assert_eq!(checks(&bot(), look, shapeless), vec![Check::BadShape]);
    }

    #[test]
    fn reads_must_agree_with_themselves_and_the_bot() {
        let board = |entries: Value| ok(json!({ "entries": entries }));
        let sorted = board(json!([
            {"rank": 1, "player_id": 2, "name": "b", "grams": 50},
            {"rank": 2, "player_id": 1, "name": "a", "grams": 40}
        ]));
        assert_eq!(checks(&bot(), Planned::Leaderboard, sorted), vec![]);
        let unsorted = board(json!([
            {"rank": 1, "player_id": 2, "name": "b", "grams": 40},
            {"rank": 2, "player_id": 1, "name": "a", "grams": 50}
        ]));
        assert_eq!(
            checks(&bot(), Planned::Leaderboard, unsorted),
            vec![Check::ViewInconsistent]
        );
        let stranger = board(json!([{"rank": 1, "player_id": 99, "name": "x", "grams": 1}]));
        assert_eq!(
            checks(&bot(), Planned::Leaderboard, stranger),
            vec![Check::ViewInconsistent]
        );
        let friends = |ids: &[u64]| {
            let list: Vec<Value> = ids
                .iter()
                .map(|id| {
                    json!({"player_id": id, "name": "f", "energy": 0, "total_collected": 0,
                           "stealable_grams": 0, "protected_until": null})
                })
                .collect();
            ok(json!({"friends": list, "incoming": [], "outgoing": []}))
        };
        assert_eq!(checks(&bot(), Planned::Friends, friends(&[3, 2])), vec![]);
        assert_eq!(
            checks(&bot(), Planned::Friends, friends(&[2])),
            vec![Check::ViewInconsistent]
        );
        let mut partial = friends(&[2]);
        if let Ok(fields) = &mut partial {
            fields.insert("unavailable".into(), json!([3, 9]));
        }
        assert_eq!(
            checks(&bot(), Planned::Friends, partial),
            vec![],
            "a friend whose shard did not answer is marked, not lost"
        );
        let feed = ok(json!({"entries": [
            {"time": 5, "kind": "stolen", "actor": 2, "target": 1, "grams": 3},
            {"time": 9, "kind": "watered", "actor": 2, "target": 1, "grams": 10}
        ], "next": null}));
        assert_eq!(
            checks(&bot(), Planned::Feed, feed),
            vec![Check::ViewInconsistent]
        );
    }

    #[test]
    fn me_must_not_list_a_ball_the_bot_saw_end() {
        let mut know = bot();
        know.ended.insert(BallId(5));
        let outcome =
            ok(json!({"player": player_view(100), "balls": [ball_view(5, ME, 60, 0, 0)]}));
        assert_eq!(
            checks(&know, Planned::Me, outcome),
            vec![Check::CollectEnded]
        );
    }

    #[test]
    fn an_uncertain_bot_does_not_accuse() {
        let mut know = bot();
        know.uncertain = true;
        let water = Planned::Water {
            friend: FRIEND,
            grams: 10,
        };
        assert_eq!(checks(&know, water, err(ErrorCode::LimitReached)), vec![]);
        assert_eq!(
            checks(&know, water, err(ErrorCode::Internal)),
            vec![Check::UnexpectedCode],
            "INTERNAL is reported whatever the bot knows"
        );
    }

    #[test]
    fn shard_timeout_is_a_fault_of_cross_shard_ops_only() {
        let water = Planned::Water {
            friend: FRIEND,
            grams: 10,
        };
        let judged = judge(&bot(), &clock(), &water, &err(ErrorCode::ShardTimeout));
        assert_eq!(
            judged.error,
            Some((ErrorCode::ShardTimeout, ErrorClass::Fault))
        );
        assert!(judged.violations.is_empty());
        let balls = Planned::FriendBalls { friend: FRIEND };
        let judged = judge(&bot(), &clock(), &balls, &err(ErrorCode::ShardTimeout));
        assert!(
            judged.violations.is_empty(),
            "a view of a friend of another shard"
        );
        assert_eq!(
            checks(&bot(), Planned::Friends, err(ErrorCode::ShardTimeout)),
            vec![Check::UnexpectedCode],
            "a list answers without a silent shard's players"
        );
        assert_eq!(
            checks(&bot(), Planned::CollectAll, err(ErrorCode::ShardTimeout)),
            vec![Check::UnexpectedCode],
            "a collect never waits for another shard"
        );
    }

    #[test]
    fn a_balance_may_exceed_the_acknowledged_by_what_ops_in_doubt_may_credit_and_no_more() {
        let mut know = bot();
        let steal = steal(seen(100, 40));
        know.apply_reply(&steal, &err(ErrorCode::ShardTimeout), &clock());
        assert_eq!(know.energy, Some(100), "nothing credited yet");
        assert_eq!(know.doubt.credit, 30, "at most the largest hit of the ball");
        let me = |energy| ok(json!({"player": player_view(energy), "balls": []}));
        assert_eq!(checks(&know, Planned::Me, me(100)), vec![]);
        assert_eq!(checks(&know, Planned::Me, me(130)), vec![], "credited late");
        assert_eq!(
            checks(&know, Planned::Me, me(131)),
            vec![Check::EnergyMismatch],
            "more than the steal could take"
        );
        assert_eq!(
            checks(&know, Planned::Me, me(99)),
            vec![Check::EnergyMismatch],
            "an acknowledged gram lost"
        );
        know.apply_reply(&Planned::Me, &me(120), &clock());
        assert_eq!(know.doubt.credit, 10, "20 g of it arrived");
        assert_eq!(checks(&know, Planned::Me, me(130)), vec![]);
        assert_eq!(
            checks(&know, Planned::Me, me(131)),
            vec![Check::EnergyMismatch],
            "all in all, still no more than the steal could take"
        );
    }

    #[test]
    fn refusals_an_op_in_doubt_may_explain_are_not_contradictions() {
        let mut know = bot();
        let seen = seen(100, 40);
        know.apply_reply(&steal(seen), &err(ErrorCode::ShardTimeout), &clock());
        assert_eq!(
            checks(&know, steal(seen), err(ErrorCode::AlreadyStolen)),
            vec![],
            "the steal in doubt may have used the one hit"
        );
        let other = SeenBall {
            ball_id: BallId(51),
            ..seen
        };
        assert_eq!(
            checks(&know, steal(other), err(ErrorCode::AlreadyStolen)),
            vec![Check::CodeContradictsKnowledge],
            "another ball was never hit"
        );
        know.stolen_today = STEAL_DAILY_CAP_GRAMS - 20;
        assert_eq!(
            checks(&know, steal(other), err(ErrorCode::LimitReached)),
            vec![],
            "the 30 g in doubt may fill the cap"
        );
        know.stolen_today = STEAL_DAILY_CAP_GRAMS - 40;
        assert_eq!(
            checks(&know, steal(other), err(ErrorCode::LimitReached)),
            vec![Check::CodeContradictsKnowledge]
        );

        let water = Planned::Water {
            friend: FRIEND,
            grams: 10,
        };
        know.watered_today.insert(FRIEND, 2);
        assert_eq!(
            checks(&know, water, err(ErrorCode::LimitReached)),
            vec![Check::CodeContradictsKnowledge]
        );
        let before = know.energy;
        know.apply_reply(&water, &err(ErrorCode::ShardTimeout), &clock());
        assert_eq!(
            know.energy,
            before.map(|energy| energy - 10),
            "a queued watering has left the balance"
        );
        assert_eq!(
            checks(&know, water, err(ErrorCode::LimitReached)),
            vec![],
            "the watering in doubt may count as the third"
        );
        let watered = ok(json!({"energy": 80, "ball_id": 9}));
        assert_eq!(
            checks(&know, water, watered),
            vec![],
            "or it may have been refused and not count"
        );
    }

    #[test]
    fn a_request_left_unanswered_forgets_the_balance_until_read_again() {
        let mut know = bot();
        know.in_doubt(&steal(seen(100, 40)), false);
        assert_eq!(know.energy, None);
        assert!(!know.uncertain, "the other checks stay strict");
        assert_eq!(know.doubt.credit, 30);
        assert_eq!(
            checks(&know, steal(seen(100, 40)), err(ErrorCode::LimitReached)),
            vec![],
            "the cut steal may hold the day's allowance reserved"
        );
        know.in_doubt(
            &Planned::GiftProp {
                friend: FRIEND,
                prop: canopy_shared::model::PropKind::Stealth,
            },
            false,
        );
        assert!(
            know.uncertain,
            "a props op in doubt leaves the props unknown"
        );
    }
}
