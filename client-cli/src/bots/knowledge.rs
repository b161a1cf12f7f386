//! What one bot knows about the world: its balance, its balls, its friends' balls it has
//! seen, what it stole and watered today. Built only from replies and events, in the
//! order the server sent them; the checks compare each new reply with it.

use crate::bots::doubt::InDoubt;
use crate::bots::plan::Planned;
use crate::bots::props::PropsKnowledge;
use crate::bots::wire::Pushed;
use crate::connection::ReplyOutcome;
use canopy_shared::model::{BallView, WatchTarget};
use canopy_shared::reply::{
    BallsResult, CollectAllResult, GramsEnergyResult, MeResult, WaterResult,
};
use canopy_shared::{BallId, ErrorCode, Event, Millis, PlayerId, Request};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet, VecDeque};

/// One minute in ms.
const MINUTE: Millis = 60_000;
/// One day in ms.
const DAY: Millis = 24 * 60 * MINUTE;

/// The game clock as the bots see it. A manual clock stands still unless told (only
/// setup moves it); a wall clock runs with real time.
#[derive(Clone, Debug)]
pub struct GameClock {
    kind: ClockKind,
    /// The game day's UTC offset in minutes.
    utc_offset: i32,
}

#[derive(Clone, Debug)]
enum ClockKind {
    Manual {
        now: Millis,
    },
    Wall {
        at: Millis,
        seen: std::time::Instant,
    },
    /// The ops HTTP could not say which: the time read at setup, and no time-based checks.
    Unknown {
        at: Millis,
    },
}

impl GameClock {
    /// A manual clock that reads `now`.
    pub fn manual(now: Millis, utc_offset: i32) -> Self {
        Self {
            kind: ClockKind::Manual { now },
            utc_offset,
        }
    }

    /// A wall clock that read `now` just now.
    pub fn wall(now: Millis, utc_offset: i32) -> Self {
        Self {
            kind: ClockKind::Wall {
                at: now,
                seen: std::time::Instant::now(),
            },
            utc_offset,
        }
    }

    /// A clock of unknown kind that read `now` at setup: nothing counts as surely ripe
    /// or surely ahead, and no day is sure.
    pub fn unknown(now: Millis, utc_offset: i32) -> Self {
        Self {
            kind: ClockKind::Unknown { at: now },
            utc_offset,
        }
    }

    /// `manual`, `wall` or `unknown`, for the report.
    pub fn kind_name(&self) -> &'static str {
        match self.kind {
            ClockKind::Manual { .. } => "manual",
            ClockKind::Wall { .. } => "wall",
            ClockKind::Unknown { .. } => "unknown",
        }
    }

    /// Whether the clock moves only when told.
    pub fn is_manual(&self) -> bool {
        matches!(self.kind, ClockKind::Manual { .. })
    }

    /// The game time now (on a wall clock, an estimate within a few ms).
    pub fn now(&self) -> Millis {
        match &self.kind {
            ClockKind::Manual { now } => *now,
            ClockKind::Wall { at, seen } => at + seen.elapsed().as_millis() as Millis,
            ClockKind::Unknown { at } => *at,
        }
    }

    /// Game time that is surely past on the server: now, less a minute of slack on a
    /// wall clock.
    pub fn surely_past(&self) -> Millis {
        match &self.kind {
            ClockKind::Manual { now } => *now,
            ClockKind::Wall { .. } => self.now().saturating_sub(MINUTE),
            ClockKind::Unknown { .. } => 0,
        }
    }

    /// Whether game time `at` is surely still ahead on the server.
    pub fn surely_ahead(&self, at: Millis) -> bool {
        match &self.kind {
            ClockKind::Manual { now } => at > *now,
            ClockKind::Wall { .. } => at > self.now() + MINUTE,
            ClockKind::Unknown { .. } => false,
        }
    }

    /// The game day (days since the epoch in game-local time), unless a wall clock is
    /// within a minute of midnight, where the server's day may differ from ours.
    pub fn sure_day(&self) -> Option<i64> {
        let local = self.now() as i64 + i64::from(self.utc_offset) * MINUTE as i64;
        let into_day = local.rem_euclid(DAY as i64) as Millis;
        let near_midnight = !(MINUTE..=DAY - MINUTE).contains(&into_day);
        if matches!(self.kind, ClockKind::Unknown { .. }) {
            None
        } else if self.is_manual() || !near_midnight {
            Some(local.div_euclid(DAY as i64))
        } else {
            None
        }
    }
}

/// One of the bot's own balls, as last seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnBall {
    /// Grams left when last seen. After setup a ball only shrinks, so this is an upper
    /// bound of what a collect can take.
    pub amount: u64,
    /// When it ripens.
    pub ripe_at: Millis,
}

/// A friend's ball seen in `friend_balls`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeenBall {
    /// The friend who owns it.
    pub friend: PlayerId,
    /// The ball.
    pub ball_id: BallId,
    /// Its full amount: grams left plus grams stolen (fixed once ripe).
    pub full: u64,
    /// Grams this bot could take, as the server said. It only shrinks (other thieves),
    /// so a steal never takes more.
    pub stealable: u64,
}

/// A set that forgets its oldest entries past a capacity, so knowledge stays bounded in
/// a long soak.
#[derive(Clone, Debug)]
pub struct RecentSet<T> {
    order: VecDeque<T>,
    members: HashSet<T>,
    /// Whether an entry was ever dropped: then "not in the set" proves nothing.
    forgot: bool,
}

impl<T> Default for RecentSet<T> {
    fn default() -> Self {
        Self {
            order: VecDeque::new(),
            members: HashSet::new(),
            forgot: false,
        }
    }
}

impl<T: Copy + Eq + std::hash::Hash> RecentSet<T> {
    /// How many entries it keeps at most.
    pub const CAPACITY: usize = 1_024;

    /// Adds an entry; the oldest goes when full.
    pub fn insert(&mut self, item: T) {
        if self.members.insert(item) {
            self.order.push_back(item);
            if self.order.len() > Self::CAPACITY
                && let Some(oldest) = self.order.pop_front()
            {
                self.members.remove(&oldest);
                self.forgot = true;
            }
        }
    }

    /// Whether the set still holds every entry ever added.
    pub fn is_complete(&self) -> bool {
        !self.forgot
    }

    /// Whether the entry is known.
    pub fn contains(&self, item: &T) -> bool {
        self.members.contains(item)
    }

    /// Some entry, chosen by `index` (wrapping), for probes.
    pub fn pick(&self, index: usize) -> Option<T> {
        (!self.order.is_empty()).then(|| self.order[index % self.order.len()])
    }
}

/// Friends' balls with something to take, seen lately; at most this many.
const CANDIDATES: usize = 64;

/// Everything one bot knows.
#[derive(Clone, Debug)]
pub struct Knowledge {
    /// The bot's player.
    pub me: PlayerId,
    /// Its friends (only setup changes them).
    pub friends: Vec<PlayerId>,
    /// Its balance, when known for sure.
    pub energy: Option<u64>,
    /// Its unpicked balls.
    pub balls: HashMap<BallId, OwnBall>,
    /// Its own balls it saw end (collected by it, or answered `GONE`).
    pub ended: RecentSet<BallId>,
    /// Friends' balls it stole from: (owner, ball).
    pub hit: RecentSet<(PlayerId, BallId)>,
    /// Friends' balls it could steal from when last seen.
    pub candidates: VecDeque<SeenBall>,
    /// Every ball of the friend it looked at last (`friend_balls`), stealable or not.
    pub last_look: Vec<SeenBall>,
    /// What it could steal from each friend, from `friend_stealable` and
    /// `forest_changed` events (it watches its friends list and the forest it looked at
    /// last) and `friend_balls` replies.
    pub friend_stealable: HashMap<PlayerId, u64>,
    /// The friend whose forest its session watches.
    pub watched_forest: Option<PlayerId>,
    /// The game day the daily counts below are for.
    pub day: Option<i64>,
    /// Grams stolen today.
    pub stolen_today: u64,
    /// Waterings of each friend today.
    pub watered_today: HashMap<PlayerId, u32>,
    /// Set when a request went unanswered (it may or may not have happened): the checks
    /// that rely on complete knowledge stop for this bot.
    pub uncertain: bool,
    /// Its vitality, props, the shop and the day's gifts and revivals.
    pub props: PropsKnowledge,
    /// What its ops in doubt (`SHARD_TIMEOUT`, or no reply) may still do.
    pub doubt: InDoubt,
}

impl Knowledge {
    /// A bot that knows only who it is and who its friends are.
    pub fn new(me: PlayerId, mut friends: Vec<PlayerId>) -> Self {
        friends.sort_unstable();
        friends.dedup();
        Self {
            me,
            friends,
            energy: None,
            balls: HashMap::new(),
            ended: RecentSet::default(),
            hit: RecentSet::default(),
            candidates: VecDeque::new(),
            last_look: Vec::new(),
            friend_stealable: HashMap::new(),
            watched_forest: None,
            day: None,
            stolen_today: 0,
            watered_today: HashMap::new(),
            uncertain: false,
            props: PropsKnowledge::default(),
            doubt: InDoubt::default(),
        }
    }

    /// Whether `player` is a friend.
    pub fn is_friend(&self, player: PlayerId) -> bool {
        self.friends.binary_search(&player).is_ok()
    }

    /// Starts a new game day's counts when the day changed.
    pub fn roll_day(&mut self, clock: &GameClock) {
        if let Some(day) = clock.sure_day()
            && self.day != Some(day)
        {
            if self.day.is_some() {
                self.stolen_today = 0;
                self.watered_today.clear();
                self.props.roll_day();
                self.doubt.roll_day();
            }
            self.day = Some(day);
        }
    }

    /// Learns from a pushed event.
    pub fn apply_event(&mut self, pushed: &Pushed) {
        let Pushed::Event(event) = pushed else {
            return;
        };
        match event {
            Event::BallNew { ball } if ball.owner == self.me => self.see_own_ball(ball),
            Event::BallRipe { balls } => {
                for ripe in balls {
                    if let Some(known) = self.balls.get_mut(&ripe.ball_id) {
                        known.amount = known.amount.min(ripe.amount);
                    }
                }
            }
            Event::BallGone { ball_id, .. } => {
                self.balls.remove(ball_id);
                self.ended.insert(*ball_id);
            }
            Event::HelpCollected { ball_id, .. } => {
                // A friend picked it for us: the balance moved without our asking, and
                // the event may come after a reply that already counted it.
                self.balls.remove(ball_id);
                self.ended.insert(*ball_id);
                self.energy = None;
            }
            Event::FriendStealable { friend_id, grams } => {
                self.friend_stealable.insert(*friend_id, *grams);
            }
            Event::ForestChanged {
                owner_id,
                balls,
                revivable,
                ..
            } if self.is_friend(*owner_id) => {
                self.see_friend_balls(*owner_id, balls);
                self.props.see_revivable(*owner_id, revivable);
            }
            _ => {}
        }
    }

    /// Adds or updates one of its balls from a view. Once set up, balls only shrink: the
    /// known amount stays the smallest one seen.
    fn see_own_ball(&mut self, ball: &BallView) {
        if self.ended.contains(&ball.ball_id) {
            return;
        }
        self.balls
            .entry(ball.ball_id)
            .and_modify(|known| known.amount = known.amount.min(ball.amount))
            .or_insert(OwnBall {
                amount: ball.amount,
                ripe_at: ball.ripe_at,
            });
    }

    /// Own balls ripe for sure now.
    pub fn ripe_balls(&self, clock: &GameClock) -> impl Iterator<Item = (BallId, OwnBall)> + '_ {
        let past = clock.surely_past();
        self.balls
            .iter()
            .filter(move |(_, ball)| ball.ripe_at <= past)
            .map(|(id, ball)| (*id, *ball))
    }

    /// Remembers a friend's ball with something to take.
    fn add_candidate(&mut self, seen: SeenBall) {
        self.candidates
            .retain(|known| known.ball_id != seen.ball_id);
        self.candidates.push_back(seen);
        while self.candidates.len() > CANDIDATES {
            self.candidates.pop_front();
        }
    }

    /// Learns from the reply to a request it planned (after the checks judged it).
    pub fn apply_reply(&mut self, planned: &Planned, outcome: &ReplyOutcome, clock: &GameClock) {
        self.props.apply_reply(planned, outcome);
        let fields = match outcome {
            Ok(fields) => fields,
            Err(error) => {
                self.apply_error(planned, error.code);
                return;
            }
        };
        match planned {
            Planned::Collect { ball, .. } => {
                if let Some(result) = typed::<GramsEnergyResult>(fields) {
                    self.learn_energy(i128::from(result.grams), result.energy);
                }
                self.balls.remove(ball);
                self.ended.insert(*ball);
            }
            Planned::CollectAll => {
                if let Some(result) = typed::<CollectAllResult>(fields) {
                    self.learn_energy(i128::from(result.grams), result.energy);
                }
                let picked: Vec<BallId> = self.ripe_balls(clock).map(|(id, _)| id).collect();
                for id in picked {
                    self.balls.remove(&id);
                    self.ended.insert(id);
                }
            }
            Planned::Steal { friend, ball, .. } => {
                if let Some(result) = typed::<GramsEnergyResult>(fields) {
                    self.learn_energy(i128::from(result.grams), result.energy);
                    self.stolen_today += result.grams;
                    if let Some(left) = self.friend_stealable.get_mut(friend) {
                        *left = left.saturating_sub(result.grams);
                    }
                }
                self.hit.insert((*friend, *ball));
                self.candidates.retain(|seen| seen.ball_id != *ball);
            }
            Planned::FriendBalls { friend } => {
                self.last_look.clear();
                if let Some(result) = typed::<BallsResult>(fields) {
                    self.see_friend_balls(*friend, &result.balls);
                    self.props.see_revivable(*friend, &result.revivable);
                }
            }
            Planned::Water { friend, grams } => {
                if let Some(result) = typed::<WaterResult>(fields) {
                    self.learn_energy(-i128::from(*grams), result.energy);
                }
                *self.watered_today.entry(*friend).or_insert(0) += 1;
            }
            Planned::Me => {
                if let Some(result) = typed::<MeResult>(fields) {
                    self.learn_energy(0, result.player.energy);
                    self.props
                        .see_profile(result.player.vitality, &result.player.props);
                    self.balls.clear();
                    for ball in &result.balls {
                        self.see_own_ball(ball);
                    }
                }
            }
            Planned::Friends
            | Planned::Leaderboard
            | Planned::Feed
            | Planned::Shop
            | Planned::Buy { .. }
            | Planned::GiftProp { .. }
            | Planned::Revive { .. } => {}
        }
    }

    /// Learns a friend's balls as the server showed them (a `friend_balls` reply or a
    /// `forest_changed` event): what it could take from them, and, when they are the
    /// friend it looked at last, that look.
    fn see_friend_balls(&mut self, friend: PlayerId, balls: &[BallView]) {
        let looking = self
            .last_look
            .first()
            .is_none_or(|seen| seen.friend == friend);
        if looking {
            self.last_look.clear();
        }
        self.candidates.retain(|seen| seen.friend != friend);
        let mut total = 0;
        for ball in balls {
            total += ball.stealable;
            let seen = SeenBall {
                friend,
                ball_id: ball.ball_id,
                full: ball.amount + ball.stolen,
                stealable: ball.stealable,
            };
            if ball.stealable > 0 && !self.hit.contains(&(friend, ball.ball_id)) {
                self.add_candidate(seen);
            }
            if looking {
                self.last_look.push(seen);
            }
        }
        self.friend_stealable.insert(friend, total);
    }

    /// The `watch` to send after a successful `planned`: a thief watches the forest it
    /// looked at, so what it knows of those balls stays current while it steals there.
    pub fn watch_after(&mut self, planned: &Planned) -> Option<Request> {
        let Planned::FriendBalls { friend } = planned else {
            return None;
        };
        if self.watched_forest == Some(*friend) {
            return None;
        }
        self.watched_forest = Some(*friend);
        Some(Request::Watch {
            what: WatchTarget::Forest,
            friend_id: Some(*friend),
        })
    }

    /// Learns the balance a reply showed after an op that moved `delta` grams itself:
    /// anything above that came from late outcomes of ops in doubt (the checks made sure
    /// it fits within what they may still credit).
    fn learn_energy(&mut self, delta: i128, reported: u64) {
        if let Some(before) = self.energy {
            let surplus = i128::from(reported) - (i128::from(before) + delta);
            self.doubt.credited(u64::try_from(surplus).unwrap_or(0));
        }
        self.energy = Some(reported);
    }

    /// Learns that `planned` is in doubt: answered `SHARD_TIMEOUT` (`queued`: this
    /// shard did its part, such as debiting a watering, and the other shard's decision
    /// is still to come), or unanswered (it may or may not have been applied, so the
    /// balance is unknown until read again). Props ops in doubt leave the bot unsure
    /// of its props and daily counts, as before.
    pub fn in_doubt(&mut self, planned: &Planned, queued: bool) {
        if !queued {
            self.energy = None;
        }
        match *planned {
            Planned::Steal { friend, ball, seen } => {
                self.doubt.steal(friend, ball, seen, queued);
                self.candidates.retain(|known| known.ball_id != ball);
            }
            Planned::Water { friend, grams } => {
                if queued {
                    self.energy = self.energy.and_then(|energy| energy.checked_sub(grams));
                }
                self.doubt.water(friend, grams);
            }
            Planned::Buy { .. } | Planned::GiftProp { .. } | Planned::Revive { .. } => {
                self.uncertain = true;
                self.doubt.other();
            }
            _ => self.doubt.other(),
        }
    }

    fn apply_error(&mut self, planned: &Planned, code: ErrorCode) {
        match (planned, code) {
            (
                Planned::Steal { .. }
                | Planned::Water { .. }
                | Planned::GiftProp { .. }
                | Planned::Revive { .. },
                ErrorCode::ShardTimeout,
            ) => self.in_doubt(planned, true),
            (Planned::Collect { ball, .. }, ErrorCode::Gone) => {
                self.balls.remove(ball);
                self.ended.insert(*ball);
            }
            (Planned::Steal { ball, .. }, _) => {
                // Whatever the refusal, this ball is not worth another try.
                self.candidates.retain(|seen| seen.ball_id != *ball);
            }
            (Planned::FriendBalls { friend }, _) => {
                self.friend_stealable.remove(friend);
            }
            (Planned::Water { friend, .. }, ErrorCode::LimitReached) => {
                let count = self.watered_today.entry(*friend).or_insert(0);
                *count = (*count).max(crate::bots::checks::WATER_PER_FRIEND_PER_DAY);
            }
            _ => {}
        }
    }
}

/// Types result fields; `None` when they do not have the shape (the checks report it).
pub fn typed<T: DeserializeOwned>(fields: &Map<String, Value>) -> Option<T> {
    serde_json::from_value(Value::Object(fields.clone())).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_stands_still_and_always_knows_the_day() {
        // 2026-11-25 00:00:30 at UTC+8: within a minute of midnight.
        let clock = GameClock::manual(1_795_536_030_000, 480);
        assert_eq!(clock.now(), 1_795_536_030_000);
        assert_eq!(clock.surely_past(), clock.now());
        assert!(clock.sure_day().is_some());
    }

    #[test]
    fn a_wall_clock_is_unsure_of_the_day_around_midnight() {
        let midnight = 1_795_536_000_000; // 2026-11-25 00:00 at UTC+8
        assert_eq!(GameClock::wall(midnight + 30_000, 480).sure_day(), None);
        assert_eq!(GameClock::wall(midnight - 30_000, 480).sure_day(), None);
        let noon = GameClock::wall(midnight + 12 * 3_600_000, 480);
        assert_eq!(
            noon.sure_day(),
            Some((midnight as i64 + 480 * 60_000) / DAY as i64)
        );
        assert!(noon.surely_past() < noon.now());
    }

    #[test]
    fn recent_sets_forget_the_oldest() {
        let mut set = RecentSet::default();
        let capacity = RecentSet::<BallId>::CAPACITY as u64;
        for id in 0..(capacity + 10) {
            set.insert(BallId(id));
        }
        assert!(!set.contains(&BallId(0)));
        assert!(set.contains(&BallId(10)));
        assert!(set.contains(&BallId(capacity + 9)));
        assert!(!set.is_complete());
        assert_eq!(set.pick(0), Some(BallId(10)), "the oldest kept");
    }

    #[test]
    fn a_new_day_resets_the_daily_counts() {
        let mut know = Knowledge::new(PlayerId(1), vec![PlayerId(2)]);
        let day_one = GameClock::manual(1_795_536_000_000 + 3_600_000, 480);
        know.roll_day(&day_one);
        know.stolen_today = 700;
        know.watered_today.insert(PlayerId(2), 3);
        know.roll_day(&day_one);
        assert_eq!(know.stolen_today, 700, "same day: nothing resets");
        know.roll_day(&GameClock::manual(day_one.now() + DAY, 480));
        assert_eq!(know.stolen_today, 0);
        assert!(know.watered_today.is_empty());
    }

    #[test]
    fn watched_pushes_keep_what_it_knows_of_friends_current() {
        let (me, friend) = (PlayerId(1), PlayerId(2));
        let mut know = Knowledge::new(me, vec![friend]);
        let look = Planned::FriendBalls { friend };
        assert!(
            matches!(know.watch_after(&look), Some(Request::Watch { friend_id: Some(f), .. }) if f == friend)
        );
        assert_eq!(
            know.watch_after(&look),
            None,
            "already watching that forest"
        );

        let listed = Event::FriendStealable {
            friend_id: friend,
            grams: 36,
        };
        know.apply_event(&Pushed::Event(listed));
        assert_eq!(know.friend_stealable.get(&friend), Some(&36));

        let ball = BallView {
            ball_id: BallId(9),
            owner: friend,
            source: "metro".into(),
            amount: 40,
            created_at: 0,
            ripe_at: 0,
            expires_at: u64::MAX,
            stolen: 12,
            stealable: 24,
        };
        let forest = |balls: Vec<BallView>| {
            Pushed::Event(Event::ForestChanged {
                owner_id: friend,
                stealable_grams: balls.iter().map(|b| b.stealable).sum(),
                balls,
                revivable: Vec::new(),
            })
        };
        know.apply_event(&forest(vec![ball]));
        assert_eq!(know.candidates.len(), 1);
        assert_eq!(know.candidates[0].full, 52);
        assert_eq!(know.friend_stealable.get(&friend), Some(&24));
        know.apply_event(&forest(Vec::new()));
        assert!(
            know.candidates.is_empty(),
            "the ball is gone from the forest"
        );
        assert_eq!(know.friend_stealable.get(&friend), Some(&0));
    }
}
