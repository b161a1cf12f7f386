//! Campaigns, the post-action rules engine: after a green action is credited, every
//! active campaign for its kind whose conditions match pays a bonus ball (source
//! `campaign:<id>`) from its budget, in the same batch as the action.
//!
//! Matching costs the campaigns indexed under the action's kind, never a scan of all
//! campaigns: [`Campaigns::by_kind`] holds only campaigns that can still pay, and a
//! campaign leaves it when it ends, closes or spends its budget.
//!
//! In cluster mode a campaign's budget is the cluster's (`cluster::campaigns`): a shard
//! holds as its `budget_grams` only what it was allotted, pays bonuses from that, and
//! stays active at nothing held until the cluster's ledger is dry.

use super::state::{NewBall, config, fail, notify, now, record_flow, spawn_ball};
use super::tasks::{in_audience, validate_audience};
use super::views;
use crate::cluster::Partition;
use crate::config::Config;
use crate::store::{Account, CampaignRecord, Flow};
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::campaign::{Bonus, CampaignList, CampaignStatus, CampaignView, NewCampaign};
use canopy_shared::{CampaignId, ErrorBody, ErrorCode, Event, Millis, PlayerId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The longest campaign name.
const MAX_NAME_CHARS: usize = 80;
/// The largest multiplier.
const MAX_MULTIPLY: u32 = 10;
/// The largest flat bonus.
const MAX_ADD_GRAMS: u64 = 1_000_000;

/// Every campaign, and the ones that can still pay by action kind.
#[derive(Resource, Default)]
pub struct Campaigns {
    /// Every campaign by id.
    pub by_id: BTreeMap<CampaignId, CampaignRecord>,
    /// Campaigns that are active and not past their window, by action kind.
    by_kind: HashMap<String, Vec<CampaignId>>,
    next_id: u64,
    dirty: BTreeSet<CampaignId>,
}

impl Campaigns {
    /// Adds a campaign read from the store.
    pub fn load(&mut self, campaign: CampaignRecord) {
        self.next_id = self.next_id.max(campaign.id.0);
        self.insert(campaign);
    }

    /// Adds a new campaign with the next id of this shard's series; `config_key` names
    /// its config table. Returns it as defined, whole budget included; in cluster mode
    /// the shard itself holds none of the budget until it is allotted some.
    fn define(
        &mut self,
        definition: NewCampaign,
        config_key: Option<String>,
        partition: Partition,
    ) -> CampaignView {
        self.next_id = partition.next_player_id(self.next_id);
        let id = CampaignId(self.next_id);
        let mut record = CampaignRecord {
            id,
            remaining_grams: definition.budget_grams,
            definition,
            disbursed_grams: 0,
            bonuses: 0,
            status: CampaignStatus::Active,
            config_key,
        };
        let defined = view(&record);
        if partition.shards > 1 {
            record.definition.budget_grams = 0;
            record.remaining_grams = 0;
        }
        self.insert(record);
        self.dirty.insert(id);
        defined
    }

    fn insert(&mut self, campaign: CampaignRecord) {
        if campaign.status == CampaignStatus::Active {
            self.by_kind
                .entry(campaign.definition.kind.clone())
                .or_default()
                .push(campaign.id);
        }
        self.by_id.insert(campaign.id, campaign);
    }

    /// Takes a campaign out of the matching index.
    fn unindex(&mut self, id: CampaignId) {
        let Some(kind) = self.by_id.get(&id).map(|c| c.definition.kind.clone()) else {
            return;
        };
        if let Some(ids) = self.by_kind.get_mut(&kind) {
            ids.retain(|&other| other != id);
            if ids.is_empty() {
                self.by_kind.remove(&kind);
            }
        }
    }
}

/// A campaign as ops see it.
pub fn view(campaign: &CampaignRecord) -> CampaignView {
    CampaignView {
        campaign_id: campaign.id,
        definition: campaign.definition.clone(),
        disbursed_grams: campaign.disbursed_grams,
        remaining_grams: campaign.remaining_grams,
        bonuses: campaign.bonuses,
        status: campaign.status,
        config_key: campaign.config_key.clone(),
    }
}

/// Checks a definition against the rules every campaign follows, wherever it is
/// defined: `Err((field, reason))` names the offending field. `known_kind` says whether
/// an action kind exists. (Whether the window is still ahead is the caller's check.)
pub fn check_definition(
    new: &NewCampaign,
    known_kind: impl Fn(&str) -> bool,
) -> Result<(), (&'static str, String)> {
    let name = new.name.trim().chars().count();
    if name == 0 || name > MAX_NAME_CHARS {
        return Err(("name", "1 to 80 characters".into()));
    }
    if !known_kind(&new.kind) {
        return Err(("kind", format!("`{}` is not an action kind", new.kind)));
    }
    match new.bonus {
        Bonus::Multiply(times) if !(2..=MAX_MULTIPLY).contains(&times) => {
            return Err(("bonus", "`multiply` is 2 to 10".into()));
        }
        Bonus::Add(grams) if !(1..=MAX_ADD_GRAMS).contains(&grams) => {
            return Err(("bonus", "`add` is 1 to 1000000 grams".into()));
        }
        _ => {}
    }
    if new.budget_grams == 0 {
        return Err(("budget_grams", "at least 1".into()));
    }
    if new.ends_at <= new.starts_at {
        return Err(("ends_at", "must be after `starts_at`".into()));
    }
    validate_audience(&new.audience).map_err(|error| ("audience", error.message))
}

/// Defines a campaign through the admin API.
pub fn create(world: &mut World, new: &NewCampaign) -> Result<CampaignView, ErrorBody> {
    let config = config(world);
    if let Err((field, reason)) = check_definition(new, |kind| config.action(kind).is_some()) {
        return fail(ErrorCode::BadRequest, format!("`{field}`: {reason}"));
    }
    if new.ends_at <= now(world) {
        return fail(ErrorCode::BadRequest, "`ends_at` must be in the future");
    }
    let partition = Partition::from_config(&config.cluster);
    let mut campaigns = world.resource_mut::<Campaigns>();
    Ok(campaigns.define(new.clone(), None, partition))
}

/// Brings the campaigns of the config file in line with the config in force, at load
/// and at every reload. A `[campaigns.<key>]` table is one campaign for the life of the
/// store: the first time a key is seen it gets the next id; later its definition
/// follows the file while what it has paid stays (store state). A budget lowered below
/// what was paid stops at what was paid (the campaign is then exhausted); a budget
/// raised reopens an exhausted campaign; a table removed from the file closes its
/// campaign, and putting it back opens it again.
///
/// In cluster mode only shard 0's file defines campaigns, once: a new table is defined
/// (holding no budget) for `cluster::campaigns` to publish, a removed one closes its
/// campaign for good, and later edits of a table are not followed (the published
/// definition is the campaign on every shard). Other shards' files define nothing.
pub fn apply_config(world: &mut World) {
    let config = config(world);
    let partition = Partition::from_config(&config.cluster);
    if partition.shards > 1 && partition.shard != 0 {
        return;
    }
    let mut campaigns = world.resource_mut::<Campaigns>();
    let mut configured: BTreeMap<&str, NewCampaign> = config
        .campaigns
        .iter()
        .map(|(key, campaign)| (key.as_str(), campaign.definition()))
        .collect();
    let existing: Vec<(CampaignId, String)> = campaigns
        .by_id
        .values()
        .filter_map(|c| Some((c.id, c.config_key.clone()?)))
        .collect();
    for (id, key) in existing {
        let record = campaigns.by_id.get(&id).cloned().expect("listed above");
        let next = match configured.remove(key.as_str()) {
            Some(_) if partition.shards > 1 => continue,
            Some(definition) => follow_definition(record, definition),
            // In cluster mode an exhausted one closes too: the closing is published
            // to shards where it may still pay.
            None if record.status == CampaignStatus::Active
                || (partition.shards > 1 && record.status == CampaignStatus::Exhausted) =>
            {
                CampaignRecord {
                    status: CampaignStatus::Closed,
                    ..record
                }
            }
            None => continue,
        };
        if next != *campaigns.by_id.get(&id).expect("listed above") {
            campaigns.unindex(id);
            campaigns.dirty.insert(id);
            campaigns.insert(next);
        }
    }
    for (key, definition) in configured {
        campaigns.define(definition, Some(key.to_owned()), partition);
    }
}

/// A campaign as the cluster publishes it, with the smallest allotment of its budget.
#[derive(Debug, Serialize, Deserialize)]
pub struct Publication {
    /// The definition, whole budget included.
    pub campaign: CampaignView,
    /// See [`bonus_unit`].
    pub unit: u64,
}

/// The smallest allotment of a campaign's budget in cluster mode: one bonus of a flat
/// bonus, or of a multiplier on a kind that credits fixed grams; one gram of a
/// multiplier on steps, whose bonuses vary.
pub fn bonus_unit(config: &Config, definition: &NewCampaign) -> u64 {
    match definition.bonus {
        Bonus::Add(grams) => grams,
        Bonus::Multiply(times) => config
            .action(&definition.kind)
            .and_then(|rule| rule.grams)
            .map_or(1, |grams| grams * u64::from(times - 1))
            .max(1),
    }
}

/// Cluster mode, shard 0: every campaign of the config file as the cluster should
/// publish it, whole budget included (as the file in force defines it; a removed table's
/// campaign as it was defined, closed).
pub fn configured(world: &World) -> Vec<Publication> {
    let config = config(world);
    world
        .resource::<Campaigns>()
        .by_id
        .values()
        .filter_map(|campaign| {
            let key = campaign.config_key.as_ref()?;
            let mut published = view(campaign);
            published.disbursed_grams = 0;
            published.bonuses = 0;
            match config.campaigns.get(key) {
                Some(table) if campaign.status != CampaignStatus::Closed => {
                    published.definition = table.definition();
                    published.status = CampaignStatus::Active;
                }
                _ => published.status = CampaignStatus::Closed,
            }
            published.remaining_grams = published.definition.budget_grams;
            let unit = bonus_unit(&config, &published.definition);
            Some(Publication {
                campaign: published,
                unit,
            })
        })
        .collect()
}

/// A configured campaign after its table changed (or stayed): the new definition, the
/// grams it paid kept.
fn follow_definition(record: CampaignRecord, mut definition: NewCampaign) -> CampaignRecord {
    if definition.budget_grams < record.disbursed_grams {
        tracing::warn!(
            campaign = %record.id,
            budget = definition.budget_grams,
            paid = record.disbursed_grams,
            "a configured campaign's budget is below what it paid; it stops at what it paid"
        );
        definition.budget_grams = record.disbursed_grams;
    }
    let remaining_grams = definition.budget_grams - record.disbursed_grams;
    CampaignRecord {
        remaining_grams,
        status: if remaining_grams == 0 {
            CampaignStatus::Exhausted
        } else {
            CampaignStatus::Active
        },
        definition,
        ..record
    }
}

/// Closes a campaign of the admin API for good; one of the config file closes when its
/// table is removed.
pub fn close(world: &mut World, id: CampaignId) -> Result<CampaignView, ErrorBody> {
    let mut campaigns = world.resource_mut::<Campaigns>();
    let Some(campaign) = campaigns.by_id.get_mut(&id) else {
        return fail(ErrorCode::NotFound, format!("no campaign {id}"));
    };
    if let Some(key) = &campaign.config_key {
        return fail(
            ErrorCode::Conflict,
            format!(
                "campaign {id} is defined by [campaigns.{key}] in the config file: remove \
                 the table there and reload"
            ),
        );
    }
    if campaign.status == CampaignStatus::Active {
        campaign.status = CampaignStatus::Closed;
    }
    let answer = view(campaign);
    campaigns.unindex(id);
    campaigns.dirty.insert(id);
    Ok(answer)
}

/// Cluster mode: adopts a campaign as the cluster's bucket defines it. A new one starts
/// with nothing allotted here; a known one follows the definition's closing (closed
/// and exhausted stay final). Returns the campaign as this shard holds it.
pub fn adopt(world: &mut World, definition: &CampaignView) -> CampaignView {
    let mut campaigns = world.resource_mut::<Campaigns>();
    let id = definition.campaign_id;
    campaigns.next_id = campaigns.next_id.max(id.0);
    match campaigns.by_id.get(&id).map(|campaign| campaign.status) {
        None => {
            let mut held = definition.definition.clone();
            held.budget_grams = 0;
            campaigns.insert(CampaignRecord {
                id,
                definition: held,
                disbursed_grams: 0,
                remaining_grams: 0,
                bonuses: 0,
                status: definition.status,
                config_key: definition.config_key.clone(),
            });
            campaigns.dirty.insert(id);
        }
        Some(CampaignStatus::Active) if definition.status == CampaignStatus::Closed => {
            campaigns.unindex(id);
            if let Some(campaign) = campaigns.by_id.get_mut(&id) {
                campaign.status = CampaignStatus::Closed;
            }
            campaigns.dirty.insert(id);
        }
        Some(_) => {}
    }
    view(&campaigns.by_id[&id])
}

/// Cluster mode: this shard has now been allotted `total` of the campaign's budget in
/// all (the ledger's `allotted[shard]`); what it has not recorded yet is added to its
/// budget and what it holds. With `dry` the ledger has no more to give: once nothing is
/// held here the campaign is exhausted on this shard. Returns what is held here.
pub fn allot(world: &mut World, id: CampaignId, total: u64, dry: bool) -> Result<u64, ErrorBody> {
    let mut campaigns = world.resource_mut::<Campaigns>();
    let Some(campaign) = campaigns.by_id.get_mut(&id) else {
        return fail(ErrorCode::NotFound, format!("no campaign {id}"));
    };
    // A closed campaign holds no more: what the ledger allotted meanwhile goes back to
    // it (`give_back`).
    if total > campaign.definition.budget_grams && campaign.status != CampaignStatus::Closed {
        campaign.remaining_grams += total - campaign.definition.budget_grams;
        campaign.definition.budget_grams = total;
    }
    let held = campaign.remaining_grams;
    let spent = dry && held == 0 && campaign.status == CampaignStatus::Active;
    if spent {
        campaign.status = CampaignStatus::Exhausted;
        campaigns.unindex(id);
    }
    campaigns.dirty.insert(id);
    Ok(held)
}

/// Cluster mode: a closed campaign gives back what this shard holds of its budget: its
/// budget here becomes what it paid, with nothing left. Returns that total (what the
/// allotment ledger should count as allotted to this shard), or `None` while the
/// campaign is not closed.
pub fn give_back(world: &mut World, id: CampaignId) -> Result<Option<u64>, ErrorBody> {
    let mut campaigns = world.resource_mut::<Campaigns>();
    let Some(campaign) = campaigns.by_id.get_mut(&id) else {
        return fail(ErrorCode::NotFound, format!("no campaign {id}"));
    };
    if campaign.status != CampaignStatus::Closed {
        return Ok(None);
    }
    let kept = campaign.disbursed_grams;
    if campaign.remaining_grams > 0 {
        campaign.definition.budget_grams = kept;
        campaign.remaining_grams = 0;
        campaigns.dirty.insert(id);
    }
    Ok(Some(kept))
}

/// Every campaign.
pub fn list(world: &World) -> CampaignList {
    CampaignList {
        campaigns: world
            .resource::<Campaigns>()
            .by_id
            .values()
            .map(view)
            .collect(),
    }
}

/// An action just credited, as campaigns match it.
pub struct Credited<'a> {
    /// Who earned it.
    pub player: PlayerId,
    /// Their entity.
    pub entity: Entity,
    /// The action kind.
    pub kind: &'a str,
    /// Grams the action credited.
    pub grams: u64,
    /// When the action's ball ripens: bonus balls ripen with it.
    pub ripe_at: Millis,
    /// Whether it is the player's first credited action of the kind today.
    pub first_today: bool,
}

/// Pays every matching campaign's bonus for a credited action. Campaigns past their
/// window leave the index as they are met.
pub fn reward_matching(world: &mut World, credited: &Credited<'_>) {
    let now = now(world);
    let candidates = world
        .resource::<Campaigns>()
        .by_kind
        .get(credited.kind)
        .cloned()
        .unwrap_or_default();
    for id in candidates {
        let Some(campaign) = world.resource::<Campaigns>().by_id.get(&id).cloned() else {
            continue;
        };
        let definition = &campaign.definition;
        if now >= definition.ends_at {
            world.resource_mut::<Campaigns>().unindex(id);
            continue;
        }
        let matches = now >= definition.starts_at
            && (!definition.first_of_day || credited.first_today)
            && in_audience(world, &definition.audience, credited.player).unwrap_or(false);
        if matches {
            pay(world, &campaign, credited);
        }
    }
}

/// Pays one bonus, never more than the budget left (in cluster mode: held by this
/// shard); the campaign leaves the index once its budget is spent.
fn pay(world: &mut World, campaign: &CampaignRecord, credited: &Credited<'_>) {
    let shared = Partition::from_config(&config(world).cluster).shards > 1;
    let bonus = match campaign.definition.bonus {
        Bonus::Multiply(times) => credited.grams * u64::from(times - 1),
        Bonus::Add(grams) => grams,
    }
    .min(campaign.remaining_grams);
    if bonus == 0 {
        return;
    }
    let ball = spawn_ball(
        world,
        NewBall {
            owner_entity: credited.entity,
            owner: credited.player,
            source: format!("campaign:{}", campaign.id).into(),
            grams: bonus,
            ripe_at: credited.ripe_at,
            stealable: true,
        },
    );
    record_flow(
        world,
        Flow::Created,
        bonus,
        Account::CampaignBudget(campaign.id),
        Account::Ball(ball.id),
    );
    let mut campaigns = world.resource_mut::<Campaigns>();
    let record = campaigns
        .by_id
        .get_mut(&campaign.id)
        .expect("a matched campaign exists");
    record.disbursed_grams += bonus;
    record.remaining_grams -= bonus;
    record.bonuses += 1;
    // In cluster mode the cluster's ledger may hold more: only an allotment that finds
    // it dry exhausts the campaign here (`allot`).
    let spent = record.remaining_grams == 0 && !shared;
    if spent {
        record.status = CampaignStatus::Exhausted;
        campaigns.unindex(campaign.id);
    }
    campaigns.dirty.insert(campaign.id);
    let view = views::ball_view(&ball, now(world), &config(world));
    notify(world, credited.player, Event::BallNew { ball: view });
}

/// Drains the batch's campaign writes into the store batch.
pub fn gather(world: &mut World, batch: &mut crate::store::TickBatch) {
    let mut campaigns = world.resource_mut::<Campaigns>();
    let dirty = std::mem::take(&mut campaigns.dirty);
    batch.campaigns = dirty
        .iter()
        .filter_map(|id| campaigns.by_id.get(id).cloned())
        .collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::game::{ClockMode, Game};
    use crate::store::MemoryStore;
    use canopy_shared::task::Audience;
    use std::sync::Arc;

    const START: Millis = 1_795_536_000_000;

    fn campaign(kind: &str) -> NewCampaign {
        NewCampaign {
            name: format!("{kind} bonus"),
            kind: kind.to_owned(),
            bonus: Bonus::Add(5),
            first_of_day: false,
            audience: Audience::All,
            starts_at: START,
            ends_at: START + 1_000,
            budget_grams: 100,
        }
    }

    #[test]
    fn only_active_campaigns_of_the_kind_are_matched() {
        let config = Arc::new(Config::default_embedded());
        let store = Arc::new(MemoryStore::new());
        let mut game = Game::load(config, store, ClockMode::Manual, Some(START), None)
            .expect("an empty world loads");
        let world = game.world_mut();
        for kind in ["bus", "e_invoice", "bus", "utility_bill"] {
            create(world, &campaign(kind)).expect("a valid campaign");
        }
        let metro = create(world, &campaign("metro")).expect("a valid campaign");
        let closed = create(world, &campaign("metro")).expect("a valid campaign");
        close(world, closed.campaign_id).expect("it exists");
        let index = &world.resource::<Campaigns>().by_kind;
        assert_eq!(index.get("metro"), Some(&vec![metro.campaign_id]));
        assert_eq!(index.get("bus").map(Vec::len), Some(2));
        assert_eq!(
            world.resource::<Campaigns>().by_id.len(),
            6,
            "closed campaigns stay listed"
        );
    }
}
