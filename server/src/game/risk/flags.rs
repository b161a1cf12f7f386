//! The review queue: flags raised by the rules, the energy they hold, and a reviewer's
//! release or confirm. Held grams sit in the ledger account `Held(flag)`; a release
//! moves them to the player's balance, a confirm to `Forfeited`.

use super::super::state::{config, credit_balance, fail, notify, now, player_entity, record_flow};
use super::checks::Trip;
use crate::cluster::Partition;
use crate::store::{Account, Flow};
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::risk::{Decision, FlagList, FlagQuery, FlagStatus, HoldView, RiskFlag};
use canopy_shared::{ErrorBody, ErrorCode, Event, FlagId, PlayerId};
use std::collections::{BTreeMap, BTreeSet};

/// Every flag, the open one of each (player, rule), and the flags changed since the
/// last batch. Flags are few (one open per player and rule), so all stay in memory.
#[derive(Resource, Default)]
pub struct RiskFlags {
    by_id: BTreeMap<FlagId, RiskFlag>,
    open: BTreeMap<(PlayerId, String), FlagId>,
    next: u64,
    dirty: BTreeSet<FlagId>,
    /// Rules tripped since the last batch, for metrics.
    trips: Vec<(&'static str, Decision)>,
    /// Running totals of held and forfeited grams, for metrics (the audit recounts).
    held: u64,
    forfeited: u64,
}

impl RiskFlags {
    /// Adds a flag read from the store at start.
    pub fn insert_loaded(&mut self, flag: RiskFlag) {
        self.next = self.next.max(flag.id.0);
        match flag.status {
            FlagStatus::Open => {
                self.held += flag.held;
                self.open
                    .insert((flag.player_id, flag.rule.clone()), flag.id);
            }
            FlagStatus::Confirmed => self.forfeited += flag.held,
            FlagStatus::Released => {}
        }
        self.by_id.insert(flag.id, flag);
    }

    /// The flags changed since the last call, for the tick's batch.
    pub fn take_dirty(&mut self) -> Vec<RiskFlag> {
        std::mem::take(&mut self.dirty)
            .into_iter()
            .filter_map(|id| self.by_id.get(&id).cloned())
            .collect()
    }

    /// The rules tripped since the last call, for metrics.
    pub fn take_trips(&mut self) -> Vec<(&'static str, Decision)> {
        std::mem::take(&mut self.trips)
    }

    /// Grams held under open flags and forfeited under confirmed ones (running).
    pub fn totals(&self) -> (u64, u64) {
        (self.held, self.forfeited)
    }

    /// A flag by id.
    pub fn get(&self, id: FlagId) -> Option<&RiskFlag> {
        self.by_id.get(&id)
    }

    /// Every flag, oldest first.
    pub fn all(&self) -> impl Iterator<Item = &RiskFlag> {
        self.by_id.values()
    }

    /// The open flags of one player.
    pub fn open_of(&self, player: PlayerId) -> impl Iterator<Item = &RiskFlag> {
        let from = (player, String::new());
        self.open
            .range(from..)
            .take_while(move |((owner, _), _)| *owner == player)
            .filter_map(|(_, id)| self.by_id.get(id))
    }

    /// Grams held from a player under open flags.
    pub fn held_by(&self, player: PlayerId) -> u64 {
        self.open_of(player).map(|flag| flag.held).sum()
    }

    /// Grams held under open flags, and forfeited under confirmed ones, over everyone.
    pub fn held_and_forfeited(&self) -> (u64, u64) {
        self.by_id
            .values()
            .fold((0, 0), |(held, forfeited), flag| match flag.status {
                FlagStatus::Open => (held + flag.held, forfeited),
                FlagStatus::Confirmed => (held, forfeited + flag.held),
                FlagStatus::Released => (held, forfeited),
            })
    }

    /// Raises a flag for `trip`, or adds to the player's open flag of the same rule.
    fn raise(
        &mut self,
        player: PlayerId,
        trip: Trip,
        now: canopy_shared::Millis,
        partition: Partition,
    ) -> FlagId {
        self.trips.push((trip.rule, trip.decision));
        let key = (player, trip.rule.to_owned());
        let id = match self.open.get(&key) {
            Some(&id) => {
                let flag = self.by_id.get_mut(&id).expect("open flags are indexed");
                flag.hits += 1;
                flag.decision = flag.decision.max(trip.decision);
                flag.reason = trip.reason;
                flag.evidence = trip.evidence;
                flag.updated_at = now;
                id
            }
            None => {
                // Flags are numbered like players: each shard gives out only the ids it
                // owns, so an id names its shard across the cluster.
                self.next = partition.next_player_id(self.next);
                let id = FlagId(self.next);
                self.open.insert(key, id);
                self.by_id.insert(
                    id,
                    RiskFlag {
                        id,
                        player_id: player,
                        rule: trip.rule.to_owned(),
                        decision: trip.decision,
                        status: FlagStatus::Open,
                        reason: trip.reason,
                        evidence: trip.evidence,
                        held: 0,
                        hits: 1,
                        created_at: now,
                        updated_at: now,
                    },
                );
                id
            }
        };
        self.dirty.insert(id);
        id
    }
}

/// What the rules decided about one action: the strictest decision among the trips,
/// and the flag to hold energy under when it is `hold`.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// The strictest decision (`allow` when nothing tripped).
    pub decision: Decision,
    /// The flag of the strictest trip, for a hold.
    pub flag: Option<FlagId>,
    /// Its reason, for a refusal or a hold.
    pub reason: String,
}

impl Verdict {
    /// Nothing tripped.
    pub fn allow() -> Self {
        Self {
            decision: Decision::Allow,
            flag: None,
            reason: String::new(),
        }
    }

    /// Refuses the action with `RISK_DENIED` when the verdict is `deny`.
    pub fn refuse_if_denied(&self) -> Result<(), ErrorBody> {
        if self.decision == Decision::Deny {
            return fail(
                ErrorCode::RiskDenied,
                format!(
                    "refused as abnormal activity: {}. If this is a mistake, contact support",
                    self.reason
                ),
            );
        }
        Ok(())
    }

    /// The flag to hold under, when the verdict is `hold`.
    pub fn hold(&self) -> Option<FlagId> {
        (self.decision == Decision::Hold)
            .then_some(self.flag)
            .flatten()
    }
}

/// Raises a flag for every trip that is not `allow` and returns the strictest verdict.
pub fn decide(world: &mut World, player: PlayerId, trips: Vec<Trip>) -> Verdict {
    let now = now(world);
    let partition = Partition::from_config(&config(world).cluster);
    let mut verdict = Verdict::allow();
    let mut flags = world.resource_mut::<RiskFlags>();
    for trip in trips {
        if trip.decision == Decision::Allow {
            continue;
        }
        let (decision, reason) = (trip.decision, trip.reason.clone());
        let id = flags.raise(player, trip, now, partition);
        if decision > verdict.decision {
            verdict = Verdict {
                decision,
                flag: Some(id),
                reason,
            };
        }
    }
    verdict
}

/// Moves `grams` from `from` into the flag's hold and tells the player.
pub fn hold(
    world: &mut World,
    flag_id: FlagId,
    grams: u64,
    flow: Flow,
    from: Account,
) -> Result<(), ErrorBody> {
    if grams == 0 {
        return Ok(());
    }
    record_flow(world, flow, grams, from, Account::Held(flag_id));
    let mut flags = world.resource_mut::<RiskFlags>();
    let Some(flag) = flags.by_id.get_mut(&flag_id) else {
        return fail(ErrorCode::Internal, format!("flag {flag_id} vanished"));
    };
    flag.held += grams;
    let (player, reason) = (flag.player_id, flag.reason.clone());
    flags.dirty.insert(flag_id);
    flags.held += grams;
    let held = flags.held_by(player);
    notify(
        world,
        player,
        Event::RiskHold {
            flag_id,
            grams,
            held,
            reason,
        },
    );
    Ok(())
}

/// What `me` shows of a player's holds.
pub fn holds_of(world: &World, player: PlayerId) -> (u64, Vec<HoldView>) {
    let flags = world.resource::<RiskFlags>();
    let holds: Vec<HoldView> = flags
        .open_of(player)
        .filter(|flag| flag.held > 0)
        .map(|flag| HoldView {
            flag_id: flag.id,
            grams: flag.held,
            reason: flag.reason.clone(),
        })
        .collect();
    (holds.iter().map(|hold| hold.grams).sum(), holds)
}

/// `GET /admin/risk/flags`: the flags matching the query, oldest first.
pub fn list(world: &World, query: &FlagQuery) -> FlagList {
    FlagList {
        flags: world
            .resource::<RiskFlags>()
            .all()
            .filter(|flag| query.status.is_none_or(|status| flag.status == status))
            .filter(|flag| {
                query
                    .player_id
                    .is_none_or(|player| flag.player_id == player)
            })
            .cloned()
            .collect(),
    }
}

/// `release` or `confirm` a flag: its held grams go to the player's balance or are
/// forfeited. Idempotent: a flag already reviewed the same way is answered as it is;
/// one reviewed the other way is a `CONFLICT`.
pub fn review(world: &mut World, id: FlagId, to: FlagStatus) -> Result<RiskFlag, ErrorBody> {
    let Some(flag) = world.resource::<RiskFlags>().get(id).cloned() else {
        return fail(ErrorCode::NotFound, format!("no risk flag {id}"));
    };
    if flag.status == to {
        return Ok(flag);
    }
    if flag.status != FlagStatus::Open {
        return fail(
            ErrorCode::Conflict,
            format!("flag {id} was already {}", flag.status.as_str()),
        );
    }
    if flag.held > 0 {
        match to {
            FlagStatus::Released => {
                let entity = player_entity(world, flag.player_id)?;
                record_flow(
                    world,
                    Flow::Released,
                    flag.held,
                    Account::Held(id),
                    Account::Balance(flag.player_id),
                );
                credit_balance(world, entity, flag.held, true);
            }
            FlagStatus::Confirmed => record_flow(
                world,
                Flow::Forfeited,
                flag.held,
                Account::Held(id),
                Account::Forfeited,
            ),
            FlagStatus::Open => {}
        }
    }
    let now = now(world);
    let mut flags = world.resource_mut::<RiskFlags>();
    flags.open.remove(&(flag.player_id, flag.rule.clone()));
    flags.dirty.insert(id);
    flags.held -= flag.held;
    if to == FlagStatus::Confirmed {
        flags.forfeited += flag.held;
    }
    let stored = flags.by_id.get_mut(&id).expect("the flag was read above");
    stored.status = to;
    stored.updated_at = now;
    Ok(stored.clone())
}
