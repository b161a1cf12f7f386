//! The rain persona (`--rain N`): bots that play the energy rain (docs/RAIN.md) instead
//! of the mix, the way `canopy rain --auto` does — human reaction times, one ball in
//! five let fall — and judge what the server does with it: every tap against the
//! round's own schedule (`canopy_shared::rain::schedule`, the server's simulation too),
//! every settled round against its accepted taps, and the day's rounds against the
//! allowance (one, plus one for each chance given or received). A rain bot plays
//! nothing else, so its balance and vitality move only with its rounds.

use crate::bots::checks::{Check, ErrorClass, Judgement, Violation};
use crate::bots::knowledge::{GameClock, typed};
use crate::bots::setup::Seat;
use crate::bots::stats::{EventCounts, Recorder};
use crate::bots::wire::{Pushed, Wire, WireError};
use crate::connection::ReplyOutcome;
use crate::rain::{ServerClock, plan_taps};
use canopy_shared::rain::{RainGiftResult, RainRoundView, RainStartResult, RainTapResult};
use canopy_shared::reply::{MeResult, PingResult};
use canopy_shared::{ErrorCode, Event, Millis, Request};
use rand::RngExt;
use rand::rngs::SmallRng;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Caught grams worth one vitality point (`rain.grams_per_vitality`).
pub const GRAMS_PER_VITALITY: u64 = 10;
/// Chances one player may give a day (`rain.gifts_per_day`).
pub const GIFTS_PER_DAY: u32 = 5;
/// How long a settled round may take to be announced after its end before the bot
/// reports it: the server settles on its tick at the end, so this is only patience.
const SETTLE_PATIENCE: Duration = Duration::from_secs(30);
/// Room left after a round's end for its settlement before the run's deadline.
const SETTLE_ROOM: Duration = Duration::from_secs(2);
/// Friends asked for one chance before the bot gives up giving one.
const GIFT_TRIES: usize = 3;

/// One rain bot.
pub struct RainBot {
    /// Its player and connection.
    pub seat: Seat,
    /// The game clock, for the game day.
    pub clock: GameClock,
    /// When it stops starting rounds.
    pub deadline: Instant,
    /// Where its numbers go.
    pub recorder: Arc<Recorder>,
    /// Its taps' timing and misses, its choice of friends.
    pub rng: SmallRng,
}

/// The balance and vitality the bot last saw.
#[derive(Clone, Copy, Debug)]
struct Wallet {
    energy: u64,
    vitality: u64,
}

/// The game day's rounds, as far as the bot knows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allowance {
    /// The game day counted, `None` when the clock is too near midnight to be sure.
    day: Option<i64>,
    started: u32,
    given: u32,
    received: u32,
}

impl Allowance {
    /// Rounds the rules allow today from what the bot knows.
    pub fn allowed(&self) -> u32 {
        1 + self.given + self.received
    }

    /// Chances still to give: one per round started, within the daily limit.
    pub fn may_give(&self) -> bool {
        self.given < self.started && self.given < GIFTS_PER_DAY
    }

    /// Starts counting a new day when the clock says it is one.
    fn roll(&mut self, clock: &GameClock) -> Option<Violation> {
        let today = clock.sure_day();
        if today == self.day && today.is_some() {
            return None;
        }
        let verdict = self.verdict();
        *self = Self {
            day: today,
            ..Self::default()
        };
        verdict
    }

    /// The day's count against the rules, once every chance received has been heard.
    fn verdict(&self) -> Option<Violation> {
        (self.day.is_some() && self.started > self.allowed()).then(|| Violation {
            check: Check::RainRoundsWrong,
            description: format!(
                "{} rounds started in one day; one, plus {} chances given and {} received, \
                 allow {}",
                self.started,
                self.given,
                self.received,
                self.allowed()
            ),
        })
    }
}

/// What `rain_start` answered.
enum Start {
    Round(RainRoundView),
    NoneLeft,
    Refused,
}

/// The verdict on one tap, and what it caught.
#[derive(Debug, PartialEq, Eq)]
pub struct TapVerdict {
    /// The reply judged.
    pub judgement: Judgement,
    /// Grams caught, 0 for a miss.
    pub grams: u64,
}

/// Judges one tap's reply against the round's schedule: `at` is the server time the
/// tap claimed, `now` the server time when the reply came.
pub fn judge_tap(
    round: &RainRoundView,
    ball: u32,
    at: Millis,
    now: Millis,
    outcome: &ReplyOutcome,
) -> TapVerdict {
    let Some(schedule) = round.balls.iter().find(|seen| seen.ball == ball) else {
        return TapVerdict {
            judgement: Judgement::default(),
            grams: 0,
        };
    };
    let on_screen = schedule.on_screen(at.saturating_sub(round.starts_at));
    let wrong = |description: String| Violation {
        check: Check::RainTapWrong,
        description,
    };
    let (error, violations, grams) = match outcome {
        Ok(fields) => match typed::<RainTapResult>(fields) {
            Some(tapped) if tapped.grams == schedule.grams => (None, Vec::new(), tapped.grams),
            Some(tapped) => (
                None,
                vec![wrong(format!(
                    "ball {ball} was caught for {} g; the round's schedule gives it {} g",
                    tapped.grams, schedule.grams
                ))],
                0,
            ),
            None => (
                None,
                vec![Violation {
                    check: Check::BadShape,
                    description: "the ok reply to rain_tap lacks `grams`".into(),
                }],
                0,
            ),
        },
        Err(error) => {
            let code = error.code;
            let class = match code {
                // The tap reached the server further from its `at` than the tolerance:
                // a late bot on a loaded machine, not a fault.
                ErrorCode::BadTiming => ErrorClass::Expected,
                ErrorCode::OffScreen if !on_screen => ErrorClass::Expected,
                ErrorCode::OutsideWindow if now + round.tolerance_ms >= round.ends_at => {
                    ErrorClass::Expected
                }
                _ => ErrorClass::Unexpected,
            };
            let violations = match code {
                ErrorCode::OffScreen if on_screen => vec![wrong(format!(
                    "ball {ball} refused as off screen at {} ms into the round; the schedule \
                     has it falling from {} ms for {} ms",
                    at.saturating_sub(round.starts_at),
                    schedule.appear_ms,
                    schedule.fall_ms
                ))],
                ErrorCode::Gone => vec![wrong(format!(
                    "ball {ball} refused as caught already on its first tap"
                ))],
                _ => Vec::new(),
            };
            (Some((code, class)), violations, 0)
        }
    };
    TapVerdict {
        judgement: Judgement { error, violations },
        grams,
    }
}

/// Judges a settled round (`rain_ended`) against the taps the server accepted and the
/// wallet before it.
fn judge_settlement(caught: u32, grams: u64, before: Wallet, ended: &Event) -> Vec<Violation> {
    let Event::RainEnded {
        caught: ended_caught,
        grams: ended_grams,
        energy,
        vitality,
        ..
    } = *ended
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut check = |ok: bool, description: String| {
        if !ok {
            found.push(Violation {
                check: Check::RainCreditMismatch,
                description,
            });
        }
    };
    check(
        (ended_caught, ended_grams) == (caught, grams),
        format!(
            "the round settled {ended_caught} balls and {ended_grams} g; the server had \
             accepted {caught} taps worth {grams} g"
        ),
    );
    check(
        energy == before.energy + ended_grams,
        format!(
            "the round left a balance of {energy} g; {} g before and {ended_grams} g caught \
             make {} g",
            before.energy,
            before.energy + ended_grams
        ),
    );
    check(
        vitality == ended_grams / GRAMS_PER_VITALITY,
        format!(
            "the round earned {vitality} vitality for {ended_grams} g; one point per \
             {GRAMS_PER_VITALITY} g makes {}",
            ended_grams / GRAMS_PER_VITALITY
        ),
    );
    found
}

impl RainBot {
    /// Plays rounds until the deadline leaves no room for one; returns the connection
    /// to close, or `None` when it ended early.
    pub async fn run(mut self) -> Option<Wire> {
        let mut events = EventCounts::default();
        let outcome = Player {
            bot: &mut self,
            events: &mut events,
            heard: Vec::new(),
            allowance: Allowance::default(),
            clock: None,
            round_span_ms: None,
        }
        .play()
        .await;
        self.recorder.events(&events);
        match outcome {
            Err(WireError::Closed(_)) => {
                self.recorder.disconnected();
                None
            }
            _ => Some(self.seat.wire),
        }
    }
}

/// A rain bot at play: what it heard and counted.
struct Player<'a> {
    bot: &'a mut RainBot,
    events: &'a mut EventCounts,
    /// Events read and not yet looked at.
    heard: Vec<Event>,
    allowance: Allowance,
    clock: Option<ServerClock>,
    /// A round's length from `rain_start` to its end, once the bot has seen one.
    round_span_ms: Option<Millis>,
}

impl Player<'_> {
    async fn play(&mut self) -> Result<(), WireError> {
        let mut wallet = self.wallet().await?;
        loop {
            self.roll_day();
            if !self.time_for_a_round() {
                break;
            }
            match self.start().await? {
                Start::Round(round) => {
                    if let Some(after) = self.play_round(&round, wallet).await? {
                        wallet = after;
                    }
                    self.give_a_chance().await?;
                }
                Start::NoneLeft => {
                    if !self.give_a_chance().await? {
                        break;
                    }
                }
                Start::Refused => break,
            }
        }
        self.listen_until(self.bot.deadline).await?;
        self.roll_day();
        if let Some(violation) = self.allowance.verdict() {
            self.bot
                .recorder
                .violation("rain_start", self.bot.seat.player, violation);
        }
        Ok(())
    }

    /// Sends one request, paced like every bot's, and records its latency and verdict.
    async fn call(
        &mut self,
        request: &Request,
        judge: impl FnOnce(&ReplyOutcome, &mut Self) -> Judgement,
    ) -> Result<ReplyOutcome, WireError> {
        let op = request.op_name();
        let player = self.bot.seat.player;
        self.bot.seat.limiter.take().await;
        let sent = Instant::now();
        let events = &mut *self.events;
        let heard = &mut self.heard;
        let outcome = self
            .bot
            .seat
            .wire
            .call(request, |pushed| hear(events, heard, pushed))
            .await;
        let latency = sent.elapsed();
        self.count_chances();
        match outcome {
            Ok(outcome) => {
                let judgement = judge(&outcome, self);
                self.bot.recorder.reply(op, player, latency, judgement);
                Ok(outcome)
            }
            Err(err) => {
                self.bot
                    .recorder
                    .transport_error(op, player, &err.to_string());
                Err(err)
            }
        }
    }

    /// The server's clock, synced once with a `ping`.
    async fn clock(&mut self) -> Result<&ServerClock, WireError> {
        if self.clock.is_none() {
            let sent = Instant::now();
            let outcome = self
                .call(&Request::Ping {}, |_, _| Judgement::default())
                .await?;
            let time = outcome
                .ok()
                .and_then(|fields| typed::<PingResult>(&fields))
                .map(|ping| ping.time)
                .ok_or_else(|| WireError::Closed("ping answered without the time".into()))?;
            self.clock = Some(ServerClock::from_ping(time, sent));
        }
        self.clock
            .as_ref()
            .ok_or_else(|| WireError::Closed("no clock".into()))
    }

    /// Whether a whole round, and its settlement, still fits before the deadline (the
    /// first round is always played: its length is known once it started).
    fn time_for_a_round(&self) -> bool {
        self.round_span_ms.is_none_or(|span| {
            Instant::now() + Duration::from_millis(span) + SETTLE_ROOM < self.bot.deadline
        })
    }

    async fn wallet(&mut self) -> Result<Wallet, WireError> {
        let outcome = self
            .call(&Request::Me {}, |_, _| Judgement::default())
            .await?;
        outcome
            .ok()
            .and_then(|fields| typed::<MeResult>(&fields))
            .map(|me| Wallet {
                energy: me.player.energy,
                vitality: me.player.vitality,
            })
            .ok_or_else(|| WireError::Closed("me answered without the player".into()))
    }

    fn roll_day(&mut self) {
        if let Some(violation) = self.allowance.roll(&self.bot.clock) {
            self.bot
                .recorder
                .violation("rain_start", self.bot.seat.player, violation);
        }
    }

    async fn start(&mut self) -> Result<Start, WireError> {
        let outcome = self
            .call(&Request::RainStart {}, |outcome, player| {
                let allowed = player.allowance.allowed();
                let started = player.allowance.started;
                match outcome {
                    Ok(_) => Judgement::default(),
                    Err(error) if error.code == ErrorCode::LimitReached => Judgement {
                        error: Some((error.code, ErrorClass::Expected)),
                        violations: (player.allowance.day.is_some() && started < allowed)
                            .then(|| Violation {
                                check: Check::RainRoundsWrong,
                                description: format!(
                                    "rain_start refused with {started} of {allowed} rounds \
                                     started today"
                                ),
                            })
                            .into_iter()
                            .collect(),
                    },
                    Err(error) => Judgement {
                        error: Some((error.code, ErrorClass::Unexpected)),
                        violations: Vec::new(),
                    },
                }
            })
            .await?;
        Ok(match outcome {
            Ok(fields) => match typed::<RainStartResult>(&fields) {
                Some(started) => {
                    self.allowance.started += 1;
                    Start::Round(started.round)
                }
                None => Start::Refused,
            },
            Err(error) if error.code == ErrorCode::LimitReached => Start::NoneLeft,
            Err(_) => Start::Refused,
        })
    }

    /// Taps the round through, waits for its settlement and judges it; answers the
    /// wallet after it when it was settled before the deadline.
    async fn play_round(
        &mut self,
        round: &RainRoundView,
        before: Wallet,
    ) -> Result<Option<Wallet>, WireError> {
        let started = self.clock().await?.now();
        self.round_span_ms = Some(round.ends_at.saturating_sub(started));
        let (mut accepted, mut grams) = (0u32, 0u64);
        for planned in plan_taps(round, &mut self.bot.rng) {
            let when = self.clock().await?.instant_of(planned.at);
            self.listen_until(when).await?;
            let at = self.clock().await?.now();
            let tap = Request::RainTap {
                round_id: round.round_id,
                ball: planned.ball,
                at,
            };
            let mut caught = 0;
            let _reply = self
                .call(&tap, |outcome, player| {
                    let now = player.clock.as_ref().map_or(at, ServerClock::now);
                    let verdict = judge_tap(round, planned.ball, at, now, outcome);
                    caught = verdict.grams;
                    verdict.judgement
                })
                .await?;
            if caught > 0 {
                accepted += 1;
                grams += caught;
            }
        }
        let Some(ended) = self.settlement(round).await? else {
            return Ok(None);
        };
        let player = self.bot.seat.player;
        for violation in judge_settlement(accepted, grams, before, &ended) {
            self.bot.recorder.violation("rain_tap", player, violation);
        }
        self.bot
            .recorder
            .rain_round(round.balls.len() as u64, u64::from(accepted), grams);
        let after = self.wallet().await?;
        if let Event::RainEnded { vitality, .. } = ended
            && after.vitality != before.vitality + vitality
        {
            self.bot.recorder.violation(
                "me",
                player,
                Violation {
                    check: Check::RainCreditMismatch,
                    description: format!(
                        "vitality {} after a round that earned {vitality}; it was {} before",
                        after.vitality, before.vitality
                    ),
                },
            );
        }
        Ok(Some(after))
    }

    /// Waits for the round's `rain_ended`, up to [`SETTLE_PATIENCE`] after its end or
    /// the run's deadline; `None` when it did not come.
    async fn settlement(&mut self, round: &RainRoundView) -> Result<Option<Event>, WireError> {
        let end = self.clock().await?.instant_of(round.ends_at);
        let patience = (end + SETTLE_PATIENCE).min(self.bot.deadline);
        loop {
            if let Some(index) = self.heard.iter().position(
                |event| matches!(event, Event::RainEnded { round_id, .. } if *round_id == round.round_id),
            ) {
                return Ok(Some(self.heard.remove(index)));
            }
            if Instant::now() >= patience {
                if Instant::now() < self.bot.deadline {
                    self.bot.recorder.violation(
                        "rain_tap",
                        self.bot.seat.player,
                        Violation {
                            check: Check::RainCreditMismatch,
                            description: format!(
                                "round {} not settled {} s after its end",
                                round.round_id,
                                SETTLE_PATIENCE.as_secs()
                            ),
                        },
                    );
                }
                return Ok(None);
            }
            self.listen_until(Instant::now() + Duration::from_millis(200))
                .await?;
        }
    }

    /// Gives a chance to a friend for a round played; answers whether one was given.
    async fn give_a_chance(&mut self) -> Result<bool, WireError> {
        let friends = self.bot.seat.know.friends.clone();
        if friends.is_empty() || !self.allowance.may_give() {
            return Ok(false);
        }
        let first = self.bot.rng.random_range(0..friends.len());
        for friend in friends.iter().cycle().skip(first).take(GIFT_TRIES) {
            let gift = Request::RainGift { friend_id: *friend };
            let outcome = self
                .call(&gift, |outcome, player| {
                    judge_gift(outcome, &player.allowance)
                })
                .await?;
            match outcome {
                Ok(fields) if typed::<RainGiftResult>(&fields).is_some() => {
                    self.allowance.given += 1;
                    return Ok(true);
                }
                Err(error) if error.code == ErrorCode::LimitReached => continue,
                _ => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Reads pushed events until `until`.
    async fn listen_until(&mut self, until: Instant) -> Result<(), WireError> {
        let sleep = tokio::time::sleep_until(until);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => break,
                pushed = self.bot.seat.wire.next_pushed() => {
                    hear(self.events, &mut self.heard, pushed?);
                }
            }
        }
        self.count_chances();
        Ok(())
    }

    /// Counts the chances friends gave, as `rain_chance` told.
    fn count_chances(&mut self) {
        let before = self.heard.len();
        self.heard
            .retain(|event| !matches!(event, Event::RainChance { .. }));
        self.allowance.received += (before - self.heard.len()) as u32;
    }
}

/// Counts a pushed frame and keeps the rain's events for the bot to look at.
fn hear(events: &mut EventCounts, heard: &mut Vec<Event>, pushed: Pushed) {
    events.count(&pushed);
    if let Pushed::Event(event @ (Event::RainEnded { .. } | Event::RainChance { .. })) = pushed {
        heard.push(event);
    }
}

/// Judges a `rain_gift` reply: `LIMIT_REACHED` is the friend's one chance a day (or the
/// giver's limit), `NOT_ELIGIBLE` contradicts a round the bot played and gave nothing
/// for.
fn judge_gift(outcome: &ReplyOutcome, allowance: &Allowance) -> Judgement {
    let Err(error) = outcome else {
        return Judgement::default();
    };
    let (class, violations) = match error.code {
        ErrorCode::LimitReached => (ErrorClass::Expected, Vec::new()),
        ErrorCode::NotEligible if allowance.may_give() => (
            ErrorClass::Unexpected,
            vec![Violation {
                check: Check::RainRoundsWrong,
                description: format!(
                    "rain_gift refused as not eligible after {} rounds started and {} chances \
                     given today",
                    allowance.started, allowance.given
                ),
            }],
        ),
        _ => (ErrorClass::Unexpected, Vec::new()),
    };
    Judgement {
        error: Some((error.code, class)),
        violations,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_shared::ErrorBody;
    use canopy_shared::rain::{RainBall, RainParams};
    use serde_json::json;

    const STARTS_AT: Millis = 10_000;

    fn round() -> RainRoundView {
        let params = RainParams {
            duration_ms: 4_000,
            lanes: 5,
            balls: 1,
            total_grams: 4,
            fall_ms_min: 1_500,
            fall_ms_max: 2_500,
        };
        RainRoundView {
            round_id: 3,
            seed: 1,
            params,
            starts_at: STARTS_AT,
            ends_at: STARTS_AT + 4_000,
            tolerance_ms: 1_000,
            balls: vec![RainBall {
                ball: 0,
                lane: 2,
                appear_ms: 500,
                fall_ms: 2_000,
                grams: 4,
            }],
            caught: Vec::new(),
        }
    }

    fn refused(code: ErrorCode) -> ReplyOutcome {
        Err(ErrorBody {
            code,
            message: String::new(),
            redirect: None,
        })
    }

    fn caught(grams: u64) -> ReplyOutcome {
        match json!({"round_id": 3, "ball": 0, "grams": grams, "caught_grams": grams}) {
            serde_json::Value::Object(fields) => Ok(fields),
            _ => unreachable!("an object literal"),
        }
    }

    fn checks(verdict: &TapVerdict) -> Vec<Check> {
        verdict
            .judgement
            .violations
            .iter()
            .map(|v| v.check)
            .collect()
    }

    #[test]
    fn a_tap_is_judged_against_the_rounds_schedule() {
        let round = round();
        let falling = STARTS_AT + 1_000;
        let landed = STARTS_AT + 2_501;
        let verdict = judge_tap(&round, 0, falling, falling, &caught(4));
        assert_eq!((verdict.grams, checks(&verdict)), (4, vec![]));
        let verdict = judge_tap(&round, 0, falling, falling, &caught(5));
        assert_eq!(
            (verdict.grams, checks(&verdict)),
            (0, vec![Check::RainTapWrong])
        );

        let off = refused(ErrorCode::OffScreen);
        let verdict = judge_tap(&round, 0, falling, falling, &off);
        assert_eq!(
            checks(&verdict),
            vec![Check::RainTapWrong],
            "it was falling"
        );
        let verdict = judge_tap(&round, 0, landed, landed, &off);
        assert_eq!(checks(&verdict), vec![]);
        assert_eq!(
            verdict.judgement.error,
            Some((ErrorCode::OffScreen, ErrorClass::Expected)),
            "a late bot's tap after the ball landed"
        );

        let late = judge_tap(&round, 0, falling, falling, &refused(ErrorCode::BadTiming));
        assert_eq!(
            late.judgement.error,
            Some((ErrorCode::BadTiming, ErrorClass::Expected))
        );
        let gone = judge_tap(&round, 0, falling, falling, &refused(ErrorCode::Gone));
        assert_eq!(checks(&gone), vec![Check::RainTapWrong], "a first tap");

        let ended = refused(ErrorCode::OutsideWindow);
        let early = judge_tap(&round, 0, falling, falling, &ended);
        assert_eq!(
            early.judgement.error.map(|(_, class)| class),
            Some(ErrorClass::Unexpected)
        );
        let near_end = round.ends_at - round.tolerance_ms;
        let at_end = judge_tap(&round, 0, falling, near_end, &ended);
        assert_eq!(
            at_end.judgement.error.map(|(_, class)| class),
            Some(ErrorClass::Expected)
        );
    }

    fn ended(caught: u32, grams: u64, energy: u64, vitality: u64) -> Event {
        Event::RainEnded {
            round_id: 3,
            caught,
            grams,
            energy,
            vitality,
        }
    }

    #[test]
    fn a_settled_round_credits_exactly_what_was_caught() {
        let before = Wallet {
            energy: 100,
            vitality: 7,
        };
        let names = |found: Vec<Violation>| found.iter().map(|v| v.check).collect::<Vec<_>>();
        assert_eq!(
            names(judge_settlement(4, 25, before, &ended(4, 25, 125, 2))),
            vec![]
        );
        for wrong in [
            ended(3, 25, 125, 2),
            ended(4, 26, 126, 2),
            ended(4, 25, 124, 2),
            ended(4, 25, 125, 3),
        ] {
            assert_eq!(
                names(judge_settlement(4, 25, before, &wrong)),
                vec![Check::RainCreditMismatch],
                "{wrong:?}"
            );
        }
    }

    #[test]
    fn the_days_rounds_are_one_plus_the_chances_given_and_received() {
        let mut allowance = Allowance {
            day: Some(20_000),
            started: 1,
            ..Allowance::default()
        };
        assert_eq!(allowance.allowed(), 1);
        assert!(allowance.may_give());
        assert_eq!(allowance.verdict(), None);
        allowance.started = 2;
        assert_eq!(
            allowance.verdict().map(|v| v.check),
            Some(Check::RainRoundsWrong),
            "a second round with no chance"
        );
        allowance.received = 1;
        assert_eq!(allowance.verdict(), None);
        allowance.given = 2;
        assert!(!allowance.may_give(), "one chance per round started");
        allowance.day = None;
        allowance.started = 9;
        assert_eq!(
            allowance.verdict(),
            None,
            "a day the bot is unsure of is not judged"
        );
        allowance.given = GIFTS_PER_DAY;
        assert!(!allowance.may_give());
    }

    #[test]
    fn a_chance_refused_as_not_eligible_after_a_round_is_a_violation() {
        let owed = Allowance {
            day: Some(1),
            started: 1,
            ..Allowance::default()
        };
        let not_eligible = refused(ErrorCode::NotEligible);
        assert_eq!(
            judge_gift(&not_eligible, &owed).violations[0].check,
            Check::RainRoundsWrong
        );
        let paid = Allowance { given: 1, ..owed };
        assert!(judge_gift(&not_eligible, &paid).violations.is_empty());
        let taken = judge_gift(&refused(ErrorCode::LimitReached), &owed);
        assert_eq!(
            taken.error,
            Some((ErrorCode::LimitReached, ErrorClass::Expected))
        );
        assert!(taken.violations.is_empty());
    }
}
