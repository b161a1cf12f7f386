//! The run: one tokio task per bot, each with its own connection, sending the mix at
//! its pace until the deadline (or Ctrl-C) and judging every reply. With `reconnect` a
//! bot whose connection ends (its shard killed or restarted) logs in again and plays on.

use crate::bots::checks::judge;
use crate::bots::knowledge::GameClock;
use crate::bots::mix::Mix;
use crate::bots::pace::Schedule;
use crate::bots::plan::{Planned, Style, follow_up, plan};
use crate::bots::progress::Progress;
use crate::bots::rain::RainBot;
use crate::bots::settle::{self, Settled};
use crate::bots::setup::Seat;
use crate::bots::shards::Shards;
use crate::bots::stats::{EventCounts, Recorder, Tally};
use crate::bots::wire::{Pushed, Wire, WireError};
use crate::bots::writes::{intent, judge_write};
use crate::shard_redirect;
use canopy_shared::Request;
use canopy_shared::model::WatchTarget;
use futures_util::StreamExt;
use futures_util::stream;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Bots whose connection ends log in again (a run through faults), and after the
    /// run every bot's acknowledged changes are checked ([`settle`]).
    pub reconnect: bool,
}

/// What a run counted.
pub struct Ran {
    /// How long it took, until the last reply was in.
    pub elapsed: Duration,
    /// Everything counted.
    pub tally: Tally,
    /// With `reconnect`: the check of every bot's acknowledged changes after it.
    pub settled: Option<Settled>,
}

/// How long a bot waits before it tries its shard again.
const REJOIN_RETRY: Duration = Duration::from_millis(250);

/// Runs every bot until the deadline, or until Ctrl-C in a run without rain bots (they
/// play whole rounds until the deadline).
pub async fn run(
    seats: Vec<Seat>,
    clock: &GameClock,
    options: RunOptions,
    shards: &Shards,
    progress: &Progress,
) -> Ran {
    let recorder = Arc::new(Recorder::default());
    let bar = progress.run(options.duration, recorder.clone());
    let bots = seats.len();
    let start = Instant::now();
    let deadline = start + options.duration;
    let stop = Arc::new(AtomicBool::new(false));
    if options.rain == 0 {
        let stop = stop.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                stop.store(true, Ordering::Relaxed);
            }
        });
    }
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
            tasks.spawn(async move { Finished::Rain(bot.run().await.map(Box::new)) });
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
            stop: stop.clone(),
            reconnect: options.reconnect,
            recorder: recorder.clone(),
            rng,
            events: EventCounts::default(),
        };
        tasks.spawn(async move { Finished::Bot(Box::new(bot.run().await)) });
    }
    let mut wires = Vec::with_capacity(bots);
    let mut players = Vec::with_capacity(bots);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(Finished::Bot(finished)) => players.push(*finished),
            Ok(Finished::Rain(Some(wire))) => wires.push(*wire),
            Ok(Finished::Rain(None)) | Err(_) => {}
        }
    }
    let elapsed = start.elapsed();
    drop(bar);
    let settled = if options.reconnect {
        progress.say("settle: every transfer arrived, then every bot's balance");
        Some(settle::check(&mut players, clock, shards, &recorder).await)
    } else {
        None
    };
    wires.extend(
        players
            .into_iter()
            .filter(|(_, connected)| *connected)
            .map(|(seat, _)| seat.wire),
    );
    stream::iter(wires)
        .for_each_concurrent(None, |wire| wire.close())
        .await;
    Ran {
        elapsed,
        tally: recorder.take(),
        settled,
    }
}

/// A bot's end: a mix bot's seat and whether its connection still works, or a rain
/// bot's connection to close (`None` when it ended early).
enum Finished {
    Bot(Box<(Seat, bool)>),
    Rain(Option<Box<Wire>>),
}

/// Connects to the seat's shard again and logs in, retrying until it works or
/// `give_up` says to stop (the shard may be restarting, or paused).
pub(super) async fn log_in_again(
    seat: &mut Seat,
    give_up: impl Fn() -> bool,
) -> Result<(), WireError> {
    loop {
        if give_up() {
            return Err(WireError::Closed(
                "the bot's shard did not serve again in time".to_owned(),
            ));
        }
        seat.limiter.take().await;
        if let Ok(mut wire) = seat.wire.reopen().await {
            let logged = shard_redirect::log_in(&mut wire, &seat.token).await;
            if matches!(logged, Ok(shard_redirect::LoggedIn { outcome: Ok(_), .. })) {
                seat.wire = wire;
                return Ok(());
            }
        }
        tokio::time::sleep(REJOIN_RETRY).await;
    }
}

/// One bot in the run.
struct Bot {
    seat: Seat,
    clock: GameClock,
    mix: Mix,
    style: Style,
    schedule: Schedule,
    deadline: Instant,
    /// Set by Ctrl-C: the run ends now.
    stop: Arc<AtomicBool>,
    /// Log in again when the connection ends.
    reconnect: bool,
    recorder: Arc<Recorder>,
    rng: SmallRng,
    events: EventCounts,
}

impl Bot {
    /// Sends requests until the deadline; returns the seat and whether its connection
    /// still works.
    async fn run(mut self) -> (Seat, bool) {
        let mut outcome = match self.watch_friends_list().await {
            Ok(()) => self.send_until_deadline().await,
            Err(err) => Err(err),
        };
        while outcome.is_err() && self.reconnect && !self.is_over() {
            outcome = match self.rejoin().await {
                Ok(()) => self.send_until_deadline().await,
                Err(err) => Err(err),
            };
        }
        self.recorder.events(&self.events);
        if outcome.is_err() {
            self.recorder.disconnected();
        }
        (self.seat, outcome.is_ok())
    }

    /// Whether the run is over: the deadline passed, or Ctrl-C.
    fn is_over(&self) -> bool {
        Instant::now() >= self.deadline || self.stop.load(Ordering::Relaxed)
    }

    /// The connection ended (its shard was killed or restarted): logs in again, then
    /// watches the friends list again and reads `me`, since the request in flight may
    /// or may not have been applied.
    async fn rejoin(&mut self) -> Result<(), WireError> {
        let (deadline, stop) = (self.deadline, self.stop.clone());
        log_in_again(&mut self.seat, || {
            Instant::now() >= deadline || stop.load(Ordering::Relaxed)
        })
        .await?;
        self.recorder.reconnected();
        self.seat.know.watched_forest = None;
        self.watch_friends_list().await?;
        self.seat.limiter.take().await;
        self.send(&Planned::Me, None).await.map(drop)
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
            if self.is_over() {
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
                if self.reconnect {
                    self.recorder.unanswered();
                } else {
                    self.recorder.transport_error(op, *player, &err.to_string());
                }
                self.recorder.write(op, intent(planned));
                know.in_doubt(planned, false);
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
