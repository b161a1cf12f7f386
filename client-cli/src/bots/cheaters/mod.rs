//! Cheater personas for `canopy bots --cheaters N --cheat KIND`: accounts that play the
//! way the public cheating tools do, next to the honest bots, while a director moves the
//! server's manual clock through a scripted day and a half (`play`). After the honest
//! bots' run, `verdict` reads the risk engine's flags and scores every rule: the
//! cheaters it caught, the honest players it flagged, and how soon. docs/RISK.md has
//! the scenario and its measured table.

mod clock;
mod covers;
mod farms;
mod replay;
mod sniper;
mod verdict;
mod walks;

pub use verdict::{RiskReport, judge};

use crate::admin::OpsClient;
use crate::bots::progress::Progress;
use crate::bots::setup::{DAY_MS, Seat, SetupOptions, grant_actions};
use crate::bots::shards::Shards;
use crate::error::CliError;
use canopy_shared::{Millis, PlayerId, Request};
use clock::Director;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Fresh accounts in each funnel's farm: more givers than `water_funnel.max_givers` (8)
/// and at least the star's `min_star_givers` (10).
pub const FARM_SIZE: usize = 12;
/// Accounts in one ring at most; a ring has at least [`MIN_RING`].
const RING_SIZE: usize = 5;
/// The smallest ring the graph reports (`risk.graph.min_ring_size`).
const MIN_RING: usize = 3;
/// How old the accounts set up before the cheating are: older than
/// `water_funnel.new_account_days` (7), as honest players' accounts mostly are.
pub const ACCOUNT_AGE_MS: u64 = 8 * DAY_MS;
const HOUR_MS: u64 = 3_600_000;
/// How long after the 07:00 ripening the honest players' covers end.
const COVER_AFTER_RIPENING_MS: u64 = 2_000;

/// A kind of cheater (`--cheat`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, clap::ValueEnum)]
pub enum Cheat {
    /// Steals fired the instant a friend's ball ripens (XQuickEnergy, Sesame)
    Sniper,
    /// 21,000-24,500 steps pushed by a cron job after midnight, several accounts at once
    Steps,
    /// A farm of fresh accounts watering one main account
    Funnel,
    /// Fresh accounts watering each other in a cycle
    Ring,
    /// A partner's signed report replayed, then sent again as a burst under new refs
    PartnerReplay,
    /// Every kind above
    All,
}

impl Cheat {
    /// Every kind, in the order the scenario plays them.
    pub const KINDS: [Cheat; 5] = [
        Self::Steps,
        Self::PartnerReplay,
        Self::Funnel,
        Self::Ring,
        Self::Sniper,
    ];

    /// The kinds asked for, `all` expanded, each once.
    pub fn expand(asked: &[Cheat]) -> BTreeSet<Cheat> {
        asked
            .iter()
            .flat_map(|&cheat| {
                if cheat == Self::All {
                    Self::KINDS.to_vec()
                } else {
                    vec![cheat]
                }
            })
            .collect()
    }

    /// The name `--cheat` takes.
    pub fn name(self) -> &'static str {
        match self {
            Self::Sniper => "sniper",
            Self::Steps => "steps",
            Self::Funnel => "funnel",
            Self::Ring => "ring",
            Self::PartnerReplay => "partner-replay",
            Self::All => "all",
        }
    }

    /// Whether its accounts are set up with the honest players (old accounts) rather
    /// than registered fresh for the cheat.
    fn plays_old_accounts(self) -> bool {
        !matches!(self, Self::Ring)
    }
}

/// The cheaters asked for: `per_kind` accounts of each kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cast {
    kinds: BTreeSet<Cheat>,
    per_kind: usize,
}

impl Cast {
    /// `per_kind` cheaters of each of `kinds` (`all` expanded).
    pub fn new(kinds: &[Cheat], per_kind: usize) -> Self {
        Self {
            kinds: Cheat::expand(kinds),
            per_kind,
        }
    }

    /// Accounts setup registers with the honest players for the cheaters (funnels'
    /// farms and rings are registered fresh later).
    pub fn old_accounts(&self) -> usize {
        self.kinds
            .iter()
            .filter(|cheat| cheat.plays_old_accounts())
            .count()
            * self.per_kind
    }
}

/// Who cheated how, and when they began.
#[derive(Clone, Debug, Default)]
pub struct Roles {
    /// The accounts of each kind (a funnel's main account; its farm is in `farms`).
    pub accounts: BTreeMap<Cheat, Vec<PlayerId>>,
    /// The fresh accounts of the funnels' farms.
    pub farms: Vec<PlayerId>,
    /// When each kind first cheated (game time).
    pub started: BTreeMap<Cheat, Millis>,
    /// What the cheaters met on the way.
    pub notes: Vec<String>,
}

/// What the scenario needs from the run.
pub struct Stage<'a> {
    /// How setup reached the server (for registering fresh accounts).
    pub setup: &'a SetupOptions,
    /// The ops HTTP, with an admin token.
    pub ops: Arc<OpsClient>,
    /// The server as setup found it (one shard: the scenario does not run on a
    /// cluster).
    pub shards: Arc<Shards>,
    /// Progress lines.
    pub progress: &'a Progress,
}

/// Plays the cheaters next to the honest players, from `now` on the manual clock:
///
/// - day 1, 00:05: the honest players and old accounts open the app and collect; the
///   partners report the day's actions for everyone (balls ripening at 07:00 next
///   day); the step changers' cron job runs; the replayed partner's reports arrive; the
///   farms and rings are registered and befriended;
/// - day 1, 07:00:02: one honest player in four raises a protection cover (it ends at
///   day 2, 07:00:02);
/// - day 2, from 06:55 every two minutes: the snipers poll and sweep their friends'
///   balls; at 06:59 they camp on the 07:00 ripening and the covers' ends while the
///   clock runs at real speed until 07:00:05;
/// - 07:05: the farms and rings collect and water; a graph analysis runs;
/// - 09:30 and 12:30: the honest players' phones sync their steps.
///
/// Returns who cheated how and the game time at the end.
pub async fn play(
    stage: &Stage<'_>,
    cast: &Cast,
    honest: &mut [Seat],
    mut old: Vec<Seat>,
    now: Millis,
    seed: u64,
) -> Result<(Roles, Millis), CliError> {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xC4EA_7E25);
    let mut director = Director::new(stage.ops.clone(), now, stage.setup.utc_offset);
    let mut roles = Roles::default();
    let mut seats: BTreeMap<Cheat, Vec<Seat>> = BTreeMap::new();
    for cheat in Cheat::KINDS {
        if cast.kinds.contains(&cheat) && cheat.plays_old_accounts() {
            let rest = old.split_off(cast.per_kind.min(old.len()));
            let mine = std::mem::replace(&mut old, rest);
            roles
                .accounts
                .insert(cheat, mine.iter().map(|seat| seat.player).collect());
            seats.insert(cheat, mine);
        }
    }
    let mut take = |cheat: Cheat| seats.remove(&cheat).unwrap_or_default();
    let (mut steppers, replayed, mains, mut snipers) = (
        take(Cheat::Steps),
        take(Cheat::PartnerReplay),
        take(Cheat::Funnel),
        take(Cheat::Sniper),
    );

    director.jump_to(director.next_local(5 * 60_000)).await?;
    stage.progress.say(&format!(
        "risk: {} 00:05, everyone collects and the partners report the day",
        director.date()
    ));
    let date = director.date();
    // People open the app and collect what is ripe.
    for seats in [&mut *honest, &mut steppers, &mut snipers] {
        send_all(seats, Request::CollectAll {}).await;
    }
    let everyone: Vec<PlayerId> = honest
        .iter()
        .map(|seat| seat.player)
        .chain(roles.accounts.values().flatten().copied())
        .collect();
    let mut notes = Vec::new();
    grant_actions(
        &everyone,
        &format!("risk-{date}"),
        &stage.shards,
        stage.progress,
        &mut notes,
    )
    .await;

    if !steppers.is_empty() {
        roles.started.insert(Cheat::Steps, director.now());
        let counts = walks::counts(&vec![0; steppers.len()], &walks::CRON_STEPS, &mut rng);
        let sent = walks::report(&mut steppers, &counts, &walks::reference(&date, "cron")).await;
        stage.progress.say(&format!(
            "risk: the cron job pushed steps for {sent} accounts"
        ));
    }
    if !replayed.is_empty() {
        roles.started.insert(Cheat::PartnerReplay, director.now());
        let partner = replay::register_partner(stage.ops.clone(), seed).await?;
        let players = replayed.iter().map(|seat| seat.player).collect();
        let (replays, failures) = replay::replay(stage.ops.clone(), partner, players, seed).await?;
        roles.notes.push(format!(
            "partner-replay: {} exact replays refused at the partner gate, {} burst copies \
             credited (up to the daily cap), {} denied, {} otherwise",
            replays.refused_at_gate, replays.credited, replays.denied, replays.other
        ));
        roles.notes.extend(failures);
    }

    let mut funnels = Vec::new();
    for (index, main) in mains.into_iter().enumerate() {
        let mut farm = vec![main];
        farm.extend(farms::register(stage, &format!("farm-{seed}-{index}"), FARM_SIZE).await?);
        farms::befriend_funnel(&mut farm, stage.progress, &mut notes).await;
        roles.farms.extend(farm[1..].iter().map(|seat| seat.player));
        funnels.push(farm);
    }
    let mut rings = Vec::new();
    if cast.kinds.contains(&Cheat::Ring) {
        let members = cast.per_kind.max(MIN_RING);
        for (index, size) in ring_sizes(members).into_iter().enumerate() {
            let mut ring = farms::register(stage, &format!("ring-{seed}-{index}"), size).await?;
            farms::befriend_ring(&mut ring, stage.progress, &mut notes).await;
            roles
                .accounts
                .entry(Cheat::Ring)
                .or_default()
                .extend(ring.iter().map(|seat| seat.player));
            rings.push(ring);
        }
    }
    let fresh: Vec<PlayerId> = funnels
        .iter()
        .flat_map(|farm| farm[1..].iter())
        .chain(rings.iter().flatten())
        .map(|seat| seat.player)
        .collect();
    grant_actions(
        &fresh,
        &format!("risk-{date}"),
        &stage.shards,
        stage.progress,
        &mut notes,
    )
    .await;

    // A ping keeps each honest seat from being closed as idle
    // (`server.idle_timeout_secs` of wall time) while it waits for its run.
    send_all(honest, Request::Ping {}).await;
    // The day's balls ripen at 07:00 the morning after: it is 00:05 now.
    let ripening = director.next_local(7 * HOUR_MS) + DAY_MS;
    if !snipers.is_empty() {
        // Covers raised now (they last `props.protection_cover_hours`, 24 by default)
        // end just after tomorrow's ripening, inside the snipers' camp.
        director
            .jump_to(ripening - DAY_MS + COVER_AFTER_RIPENING_MS)
            .await?;
        let raised = covers::raise(&stage.ops, honest, &mut notes).await;
        // The snipers' connections have been silent since 00:05 (wall time too).
        send_all(&mut snipers, Request::Ping {}).await;
        stage.progress.say(&format!(
            "risk: {raised} honest players raise a protection cover"
        ));
        snipe(stage, &mut director, &mut snipers, ripening, &mut roles).await?;
    }

    // A ping keeps each honest seat from being closed as idle
    // (`server.idle_timeout_secs` of wall time) while it waits for its run.
    send_all(honest, Request::Ping {}).await;
    director.jump_to(ripening + 5 * 60_000).await?;
    let mut givers: Vec<(&mut Seat, PlayerId)> = Vec::new();
    for farm in funnels.iter_mut() {
        let (main, farm) = farm.split_at_mut(1);
        givers.extend(farm.iter_mut().map(|seat| (seat, main[0].player)));
    }
    if !givers.is_empty() {
        roles.started.insert(Cheat::Funnel, director.now());
    }
    for ring in rings.iter_mut() {
        let next: Vec<PlayerId> = ring
            .iter()
            .cycle()
            .skip(1)
            .take(ring.len())
            .map(|seat| seat.player)
            .collect();
        givers.extend(ring.iter_mut().zip(next));
        roles.started.insert(Cheat::Ring, director.now());
    }
    if !givers.is_empty() {
        let watered = farms::water(givers).await;
        stage
            .progress
            .say(&format!("risk: farms and rings watered {watered} times"));
        verdict::run_graph(&stage.ops).await?;
    }

    let mut steps = vec![0; honest.len()];
    for (hour, sync, range) in [
        (9.5, "morning", walks::MORNING_STEPS),
        (12.5, "lunch", walks::LUNCH_STEPS),
    ] {
        director
            .jump_to(director.next_local((hour * HOUR_MS as f64) as u64))
            .await?;
        steps = walks::counts(&steps, &range, &mut rng);
        walks::report(honest, &steps, &walks::reference(&date, sync)).await;
    }
    roles.notes.extend(notes);
    Ok((roles, director.now()))
}

/// The snipers' morning: they poll every [`sniper::POLL_MS`] from 06:55, sweeping
/// what is ripe; the 06:59 poll finds the balls ripening at 07:00 and the covers
/// ending just after, which they camp on while the clock runs at real speed until
/// 07:00:05; the 07:01 and 07:03 polls sweep what is left.
async fn snipe(
    stage: &Stage<'_>,
    director: &mut Director,
    snipers: &mut [Seat],
    ripening: Millis,
    roles: &mut Roles,
) -> Result<(), CliError> {
    let mut hauls = vec![sniper::Haul::default(); snipers.len()];
    let polls = [-5i64, -3, -1, 1, 3].map(|minutes| ripening as i64 + minutes * 60_000);
    let camp_start = ripening - 1_000;
    let camp_end = ripening + 5_000;
    for at in polls {
        director.jump_to(at as Millis).await?;
        let now = director.now();
        let targets: Vec<Vec<sniper::Target>> = futures_util::future::try_join_all(
            snipers
                .iter_mut()
                .zip(hauls.iter_mut())
                .map(|(seat, haul)| sniper::poll(seat, now, haul)),
        )
        .await?;
        if hauls.iter().any(|haul| haul.swept > 0) {
            roles.started.entry(Cheat::Sniper).or_insert(now);
        }
        if now >= camp_start || now + sniper::POLL_MS < camp_start {
            continue;
        }
        let balls: usize = targets.iter().map(Vec::len).sum();
        stage.progress.say(&format!(
            "risk: {} snipers camp on {balls} balls ripening (or uncovered) at 07:00",
            snipers.len()
        ));
        director.jump_to(camp_start).await?;
        roles.started.entry(Cheat::Sniper).or_insert(camp_start);
        let camps = futures_util::future::join_all(
            snipers.iter_mut().zip(hauls.iter_mut()).zip(&targets).map(
                |((seat, haul), targets)| {
                    sniper::camp(seat, targets, director.watch(), camp_end, haul)
                },
            ),
        );
        let (clock, _) = futures_util::future::join(director.run_real_time(camp_end), camps).await;
        clock?;
    }
    let sum = |count: fn(&sniper::Haul) -> u64| hauls.iter().map(count).sum::<u64>();
    roles.notes.push(format!(
        "sniper: {} steals on polls (balls found ripe), {} within 5 s of a ripening or a \
         cover's end, {} fired too early (NOT_RIPE or PROTECTED); {} of {} snipers stopped \
         by the daily steal cap",
        sum(|haul| haul.swept),
        sum(|haul| haul.sniped),
        sum(|haul| haul.early),
        hauls.iter().filter(|haul| haul.capped).count(),
        hauls.len()
    ));
    Ok(())
}

/// Every seat sends `request` at once. What each answer says does not matter: a
/// `collect_all` with nothing ripe collects nothing, and a seat that cannot answer
/// shows in the run, which reports it.
async fn send_all(seats: &mut [Seat], request: Request) {
    use futures_util::StreamExt;
    let request = &request;
    futures_util::stream::iter(seats.iter_mut())
        .for_each_concurrent(None, |seat| async move {
            let _ = seat.call(request).await;
        })
        .await;
}

/// Ring sizes for `members` accounts: rings of [`RING_SIZE`], the rest spread so that
/// no ring is smaller than [`MIN_RING`].
fn ring_sizes(members: usize) -> Vec<usize> {
    let rings = members.div_ceil(RING_SIZE).max(1);
    let rings = if members / rings < MIN_RING {
        (members / MIN_RING).max(1)
    } else {
        rings
    };
    (0..rings)
        .map(|ring| members / rings + usize::from(ring < members % rings))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_every_kind_once() {
        let kinds = Cheat::expand(&[Cheat::Sniper, Cheat::All, Cheat::Steps]);
        assert_eq!(kinds.len(), 5);
        assert!(!kinds.contains(&Cheat::All));
        let cast = Cast::new(&[Cheat::All], 3);
        assert_eq!(cast.old_accounts(), 12, "rings are fresh accounts");
    }

    #[test]
    fn rings_have_three_to_five_members() {
        for members in 3..40 {
            let sizes = ring_sizes(members);
            assert_eq!(sizes.iter().sum::<usize>(), members, "{members}");
            assert!(
                sizes
                    .iter()
                    .all(|size| (MIN_RING..=RING_SIZE).contains(size)),
                "{members}: {sizes:?}"
            );
        }
    }
}
