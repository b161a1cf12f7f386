//! The run: one tokio task per bot, each with its own connection, sending the mix at
//! its pace until the deadline and judging every reply.

use crate::bots::checks::judge;
use crate::bots::knowledge::GameClock;
use crate::bots::mix::Mix;
use crate::bots::pace::Schedule;
use crate::bots::plan::{Planned, Style, follow_up, plan};
use crate::bots::progress::Progress;
use crate::bots::rain::RainBot;
use crate::bots::setup::Seat;
use crate::bots::stats::{EventCounts, Recorder, Tally};
use crate::bots::wire::{Pushed, Wire, WireError};
use crate::bots::writes::{intent, judge_write};
use canopy_shared::Request;
use canopy_shared::model::WatchTarget;
use futures_util::StreamExt;
use futures_util::stream;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How the run goes.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// How long bots send requests.
    pub duration: Duration,
    /// What they do.
    pub mix: Mix,
    /// Total requests per second (open loop), or `None` for closed loop.
    pub rate: Option<f64>,
    /// Seeds each bot's choices.
    pub seed: u64,
    /// How bots turn actions into requests.
    pub style: Style,
    /// The last this many seats play the energy rain instead of the mix.
    pub rain: usize,
}

/// Runs every bot until the deadline; returns how long it took (until the last reply
/// was in) and what was counted.
pub async fn run(
    seats: Vec<Seat>,
    clock: &GameClock,
    options: RunOptions,
    progress: &Progress,
) -> (Duration, Tally) {
    let recorder = Arc::new(Recorder::default());
    let bar = progress.run(options.duration, recorder.clone());
    let bots = seats.len();
    let start = Instant::now();
    let deadline = start + options.duration;
    let mut tasks = JoinSet::new();
    for (index, seat) in seats.into_iter().enumerate() {
        let mut rng = SmallRng::seed_from_u64(
            options
                .seed
                .wrapping_add((index as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        );
        if index >= bots - options.rain.min(bots) {
            let bot = RainBot {
                seat,
                clock: clock.clone(),
                deadline,
                recorder: recorder.clone(),
                rng,
            };
            tasks.spawn(bot.run());
            continue;
        }
        let schedule = match options.rate {
            Some(rate) => Schedule::open(rate, bots, start, rng.random()),
            None => Schedule::Closed,
        };
        let bot = Bot {
            seat,
            clock: clock.clone(),
            mix: options.mix,
            style: options.style,
            schedule,
            deadline,
            recorder: recorder.clone(),
            rng,
            events: EventCounts::default(),
        };
        tasks.spawn(bot.run());
    }
    let mut wires = Vec::with_capacity(bots);
    while let Some(done) = tasks.join_next().await {
        if let Ok(Some(wire)) = done {
            wires.push(wire);
        }
    }
    let elapsed = start.elapsed();
    drop(bar);
    stream::iter(wires)
        .for_each_concurrent(None, |wire| wire.close())
        .await;
    (elapsed, recorder.take())
}

/// One bot in the run.
struct Bot {
    seat: Seat,
    clock: GameClock,
    mix: Mix,
    style: Style,
    schedule: Schedule,
    deadline: Instant,
    recorder: Arc<Recorder>,
    rng: SmallRng,
    events: EventCounts,
}

impl Bot {
    /// Sends requests until the deadline; returns the connection to close, or `None`
    /// when it ended early.
    async fn run(mut self) -> Option<Wire> {
        let outcome = match self.watch_friends_list().await {
            Ok(()) => self.send_until_deadline().await,
            Err(err) => Err(err),
        };
        self.recorder.events(&self.events);
        match outcome {
            Ok(()) => Some(self.seat.wire),
            Err(_) => {
                self.recorder.disconnected();
                None
            }
        }
    }

    /// Watches the friends list, as a phone showing it does, so `friend_stealable`
    /// tells the bot which friends have something to take. Not an op of the mix.
    async fn watch_friends_list(&mut self) -> Result<(), WireError> {
        let watch = Request::Watch {
            what: WatchTarget::Friends,
            friend_id: None,
        };
        self.seat.limiter.take().await;
        let Seat { wire, know, .. } = &mut self.seat;
        let events = &mut self.events;
        match wire
            .call(&watch, |pushed| {
                events.count(&pushed);
                know.apply_event(&pushed);
            })
            .await
        {
            Err(WireError::Closed(why)) => Err(WireError::Closed(why)),
            _ => Ok(()),
        }
    }

    async fn send_until_deadline(&mut self) -> Result<(), WireError> {
        let mut next: Option<Planned> = None;
        loop {
            let due = self.schedule.next_due();
            if let Some(due) = due {
                if due >= self.deadline {
                    return Ok(());
                }
                self.read_events_until(due).await?;
            }
            loop {
                let now = Instant::now();
                match self.seat.limiter.try_take(now) {
                    Ok(()) => break,
                    Err(wait) => self.read_events_until(now + wait).await?,
                }
            }
            if Instant::now() >= self.deadline {
                return Ok(());
            }
            self.seat.know.roll_day(&self.clock);
            let planned = match next.take() {
                Some(planned) => planned,
                None => {
                    let action = self.mix.pick(&mut self.rng);
                    plan(
                        action,
                        self.style,
                        &self.seat.know,
                        &self.clock,
                        &mut self.rng,
                    )
                }
            };
            next = self.send(&planned, due).await?;
        }
    }

    /// Sends one request, judges and records the reply; returns the request that
    /// finishes the action, if any.
    async fn send(
        &mut self,
        planned: &Planned,
        due: Option<Instant>,
    ) -> Result<Option<Planned>, WireError> {
        let sent = Instant::now();
        // Open loop counts from when the request was due: a late bot's wait is latency.
        let since = due.map_or(sent, |due| due.min(sent));
        let Seat {
            wire,
            know,
            player,
            limiter,
            ..
        } = &mut self.seat;
        let events = &mut self.events;
        let outcome = wire
            .call(&planned.request(), |pushed| {
                events.count(&pushed);
                know.apply_event(&pushed);
            })
            .await;
        let latency = since.elapsed();
        let op = planned.op_name();
        match outcome {
            Ok(outcome) => {
                let judgement = judge(know, &self.clock, planned, &outcome);
                self.recorder.reply(op, *player, latency, judgement);
                self.recorder.write(op, judge_write(planned, &outcome));
                know.apply_reply(planned, &outcome, &self.clock);
                if outcome.is_ok()
                    && let Some(watch) = know.watch_after(planned)
                {
                    // Not an op of the mix, so not recorded; paced like one.
                    limiter.take().await;
                    let watched = wire
                        .call(&watch, |pushed| {
                            events.count(&pushed);
                            know.apply_event(&pushed);
                        })
                        .await;
                    if let Err(WireError::Closed(why)) = watched {
                        return Err(WireError::Closed(why));
                    }
                }
                Ok(if outcome.is_ok() {
                    follow_up(planned, know, &mut self.rng)
                } else {
                    None
                })
            }
            Err(err) => {
                self.recorder.transport_error(op, *player, &err.to_string());
                self.recorder.write(op, intent(planned));
                // It may or may not have happened: stop trusting what we know.
                know.uncertain = true;
                know.energy = None;
                match err {
                    WireError::Timeout => Ok(None),
                    WireError::Closed(_) => Err(err),
                }
            }
        }
    }

    /// Reads pushed events until `until`.
    async fn read_events_until(&mut self, until: Instant) -> Result<(), WireError> {
        let sleep = tokio::time::sleep_until(until);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return Ok(()),
                pushed = self.seat.wire.next_pushed() => {
                    let pushed: Pushed = pushed?;
                    self.events.count(&pushed);
                    self.seat.know.apply_event(&pushed);
                }
            }
        }
    }
}
