//! The conservation audit behind `GET /admin/audit`: the three identities of GAME.md
//! ("Fair play"), checked over the World and the store's whole ledger, with the risk
//! engine's held and forfeited grams in the sum and each flag's hold matched to the
//! ledger, vitality's own identity (docs/GAME-PROPS.md) and the energy rain's grams
//! (docs/RAIN.md). It reads everything, so it is an operator's tool, not something for
//! every tick.

use super::campaigns::Campaigns;
use super::components::{Profile, Revivals, Vitality, Wallet};
use super::remote::RemoteOps;
use super::resources::{Ledger, StoreHandle};
use super::revive;
use super::risk::RiskFlags;
use super::tasks::TaskCenter;
use crate::store::{Account, Ball, Flow, VitalityTotals};
use bevy_ecs::world::World;
use canopy_shared::admin::AuditReport;
use canopy_shared::risk::FlagStatus;
use canopy_shared::{BallId, CampaignId, ErrorBody, ErrorCode, FlagId, PlayerId, TaskId};
use std::collections::HashMap;

/// Net grams per balance and per ball, net points per player's vitality and the
/// vitality flows' sums according to the ledger, and the entries read.
struct LedgerView {
    players: HashMap<PlayerId, i128>,
    balls: HashMap<BallId, i128>,
    holds: HashMap<FlagId, i128>,
    /// Grams each task's budget paid out.
    tasks: HashMap<TaskId, i128>,
    /// Grams each campaign's budget paid out.
    campaigns: HashMap<CampaignId, i128>,
    vitality: HashMap<PlayerId, i128>,
    vitality_sums: VitalityTotals,
    /// Grams each ball held when it expired.
    expired_balls: HashMap<BallId, u64>,
    /// Grams revived, summed over the ledger.
    revived: u64,
    /// Grams the energy rain credited.
    rained: u64,
    /// Grams moved into transfers to other shards, and out of transfers from them.
    sent: u64,
    arrived: u64,
    /// Props moved into gifts to other shards, and out of gifts from them.
    props_sent: u64,
    props_arrived: u64,
    entries: u64,
}

fn ledger_balances(world: &World) -> Result<LedgerView, ErrorBody> {
    let entries = world
        .resource::<StoreHandle>()
        .0
        .ledger()
        .map_err(|err| ErrorBody::new(ErrorCode::Internal, err.to_string()))?;
    let (mut players, mut balls) = (HashMap::new(), HashMap::new());
    let (mut holds, mut tasks, mut campaigns) = (HashMap::new(), HashMap::new(), HashMap::new());
    let mut vitality = HashMap::new();
    let mut vitality_sums = VitalityTotals::default();
    let (mut expired_balls, mut revived) = (HashMap::new(), 0);
    let mut rained = 0;
    let (mut sent, mut arrived) = (0u64, 0u64);
    let (mut props_sent, mut props_arrived) = (0u64, 0u64);
    let pending = &world.resource::<Ledger>().pending;
    for entry in entries.iter().chain(pending) {
        let grams = i128::from(entry.grams);
        for (account, sign) in [(entry.from, -1), (entry.to, 1)] {
            match account {
                Account::Balance(player) => *players.entry(player).or_default() += sign * grams,
                Account::Ball(ball) => *balls.entry(ball).or_default() += sign * grams,
                Account::Held(flag) => *holds.entry(flag).or_default() += sign * grams,
                Account::TaskBudget(task) => *tasks.entry(task).or_default() -= sign * grams,
                Account::CampaignBudget(campaign) => {
                    *campaigns.entry(campaign).or_default() -= sign * grams;
                }
                Account::Vitality(player) => *vitality.entry(player).or_default() += sign * grams,
                _ => {}
            }
        }
        let (to_shards, from_shards) = if entry.flow == Flow::PropsGifted {
            (&mut props_sent, &mut props_arrived)
        } else {
            (&mut sent, &mut arrived)
        };
        if matches!(entry.to, Account::Transfer(_)) {
            *to_shards += entry.grams;
        }
        if matches!(entry.from, Account::Transfer(_)) {
            *from_shards += entry.grams;
        }
        match entry.flow {
            Flow::VitalityEarned | Flow::ReviveRewarded => vitality_sums.earned += entry.grams,
            Flow::VitalitySpent => vitality_sums.spent += entry.grams,
            Flow::Revived => revived += entry.grams,
            Flow::Expired => {
                if let Account::Ball(ball) = entry.from {
                    expired_balls.insert(ball, entry.grams);
                }
            }
            Flow::Rained => rained += entry.grams,
            _ => {}
        }
    }
    Ok(LedgerView {
        players,
        balls,
        holds,
        tasks,
        campaigns,
        vitality,
        vitality_sums,
        expired_balls,
        revived,
        rained,
        sent,
        arrived,
        props_sent,
        props_arrived,
        entries: (entries.len() + pending.len()) as u64,
    })
}

/// Checks every identity and reports the totals and any problem found.
pub fn audit(world: &mut World) -> Result<AuditReport, ErrorBody> {
    let ledger = ledger_balances(world)?;
    let mut problems = Vec::new();
    let (mut balances, mut players) = (0u64, 0u64);
    let mut wallets = world.query::<(&Profile, &Wallet)>();
    for (profile, wallet) in wallets.iter(world) {
        players += 1;
        balances += wallet.energy;
        let expected = ledger.players.get(&profile.id).copied().unwrap_or(0);
        if i128::from(wallet.energy) != expected {
            problems.push(format!(
                "player {}: balance {} g but the ledger says {expected} g",
                profile.id, wallet.energy
            ));
        }
    }
    let (mut in_balls, mut balls) = (0u64, 0u64);
    let mut live = world.query::<&Ball>();
    for ball in live.iter(world) {
        balls += 1;
        in_balls += ball.left;
        if ball.full != ball.left + ball.stolen {
            problems.push(format!(
                "ball {}: full {} g ≠ left {} g + stolen {} g",
                ball.id, ball.full, ball.left, ball.stolen
            ));
        }
        let expected = ledger.balls.get(&ball.id).copied().unwrap_or(0);
        if i128::from(ball.left) != expected {
            problems.push(format!(
                "ball {}: {} g left but the ledger says {expected} g",
                ball.id, ball.left
            ));
        }
    }
    let flags = world.resource::<RiskFlags>();
    for flag in flags.all() {
        let expected = ledger.holds.get(&flag.id).copied().unwrap_or(0);
        let holding = if flag.status == FlagStatus::Open {
            flag.held
        } else {
            0
        };
        if i128::from(holding) != expected {
            problems.push(format!(
                "risk flag {}: holds {holding} g but the ledger says {expected} g",
                flag.id
            ));
        }
    }
    let (held, forfeited) = flags.held_and_forfeited();
    let totals = world.resource::<Ledger>().totals.clone();
    let revival = audit_revival(world, &ledger, &mut problems);
    let rain = world.resource::<Ledger>().rain.clone();
    if rain.grams != ledger.rained {
        problems.push(format!(
            "energy rain credited {} g but the ledger's rain entries say {} g",
            rain.grams, ledger.rained
        ));
    }
    let accounted = balances
        + in_balls
        + totals.in_team_trees
        + totals.planted
        + totals.expired.saturating_sub(revival.revived)
        + held
        + forfeited;
    if totals.created + rain.grams + ledger.arrived != accounted + ledger.sent {
        problems.push(format!(
            "created {} g + rained {} g + arrived from other shards {} g ≠ balances + balls + \
             team trees + planted + (expired − revived) + held + forfeited = {accounted} g + \
             sent to other shards {} g",
            totals.created, rain.grams, ledger.arrived, ledger.sent
        ));
    }
    let (budgets, prop_budgets) = audit_task_budgets(world, &ledger, &mut problems);
    let campaign_budgets = audit_campaign_budgets(world, &ledger, &mut problems);
    let vitality = audit_vitality(world, &ledger, &mut problems);
    problems.truncate(100);
    Ok(AuditReport {
        balanced: problems.is_empty(),
        created: totals.created,
        balances,
        in_balls,
        in_team_trees: totals.in_team_trees,
        planted: totals.planted,
        expired: totals.expired,
        held,
        forfeited,
        players,
        balls,
        ledger_entries: ledger.entries,
        problems,
        task_budgets: budgets.budget,
        task_disbursed: budgets.disbursed,
        task_remaining: budgets.remaining,
        task_prop_budgets: prop_budgets.budget,
        task_props_disbursed: prop_budgets.disbursed,
        task_props_remaining: prop_budgets.remaining,
        campaign_budgets: campaign_budgets.budget,
        campaign_disbursed: campaign_budgets.disbursed,
        campaign_remaining: campaign_budgets.remaining,
        vitality_earned: vitality.earned,
        vitality_spent: vitality.spent,
        vitality_balances: vitality.held,
        revived: revival.revived,
        revivable: revival.revivable,
        rained: rain.grams,
        rain_rounds: rain.rounds,
        sent_to_shards: ledger.sent,
        arrived_from_shards: ledger.arrived,
        props_sent_to_shards: ledger.props_sent,
        props_arrived_from_shards: ledger.props_arrived,
        open_transfers: world.resource::<RemoteOps>().open_transfers(),
    })
}

/// The budget identity of every campaign, as for tasks.
fn audit_campaign_budgets(
    world: &World,
    ledger: &LedgerView,
    problems: &mut Vec<String>,
) -> BudgetTotals {
    let mut totals = BudgetTotals::default();
    for campaign in world.resource::<Campaigns>().by_id.values() {
        let budget = campaign.definition.budget_grams;
        totals.add(budget, campaign.disbursed_grams, campaign.remaining_grams);
        let paid = ledger.campaigns.get(&campaign.id).copied().unwrap_or(0);
        check_budget(
            &format!("campaign {}", campaign.id),
            "g",
            (budget, campaign.disbursed_grams, campaign.remaining_grams),
            paid,
            problems,
        );
    }
    totals
}

/// Budget = disbursed + remaining, and disbursed = what the ledger paid out, all in
/// `unit` (grams, or props for a prop reward).
fn check_budget(
    what: &str,
    unit: &str,
    (budget, disbursed, remaining): (u64, u64, u64),
    paid: i128,
    problems: &mut Vec<String>,
) {
    if budget != disbursed + remaining {
        problems.push(format!(
            "{what}: budget {budget} {unit} ≠ disbursed {disbursed} {unit} + remaining \
             {remaining} {unit}"
        ));
    }
    if i128::from(disbursed) != paid {
        problems.push(format!(
            "{what}: disbursed {disbursed} {unit} but the ledger paid out {paid} {unit}"
        ));
    }
}

/// Budgets summed over every task or every campaign.
#[derive(Default)]
struct BudgetTotals {
    budget: u64,
    disbursed: u64,
    remaining: u64,
}

impl BudgetTotals {
    fn add(&mut self, budget: u64, disbursed: u64, remaining: u64) {
        self.budget += budget;
        self.disbursed += disbursed;
        self.remaining += remaining;
    }
}

/// The budget identity of every task: budget = disbursed + remaining, and what it
/// disbursed is exactly what the ledger paid out of its budget (into reward balls,
/// which the identities above follow into balances, or props into inventories).
/// Returns the totals of grams-reward and of prop-reward tasks.
fn audit_task_budgets(
    world: &World,
    ledger: &LedgerView,
    problems: &mut Vec<String>,
) -> (BudgetTotals, BudgetTotals) {
    let (mut grams, mut props) = (BudgetTotals::default(), BudgetTotals::default());
    for task in world.resource::<TaskCenter>().by_id.values() {
        let parts = (task.budget, task.disbursed, task.remaining);
        let (totals, unit) = match task.reward_prop {
            None => (&mut grams, "g"),
            Some(_) => (&mut props, "props"),
        };
        totals.add(parts.0, parts.1, parts.2);
        let paid = ledger.tasks.get(&task.id).copied().unwrap_or(0);
        check_budget(&format!("task {}", task.id), unit, parts, paid, problems);
    }
    (grams, props)
}

/// Revival's totals as the audit reports them.
struct RevivalAudit {
    revived: u64,
    revivable: u64,
}

/// Revival's identities: the running total of revived grams equals the ledger's
/// `Revived` flows, and never exceeds what expired; every expired ball a player's
/// record remembers expired in the ledger with exactly those grams; and the grams
/// revivable now are part of `expired − revived`.
fn audit_revival(
    world: &mut World,
    ledger: &LedgerView,
    problems: &mut Vec<String>,
) -> RevivalAudit {
    let totals = world.resource::<Ledger>();
    let (revived, expired) = (totals.revival.revived, totals.totals.expired);
    if revived != ledger.revived {
        problems.push(format!(
            "revived {revived} g but the ledger's revivals sum to {} g",
            ledger.revived
        ));
    }
    let mut records = world.query::<&Revivals>();
    for Revivals(record) in records.iter(world) {
        for entry in &record.expired {
            if ledger.expired_balls.get(&entry.ball_id) != Some(&entry.grams) {
                problems.push(format!(
                    "player {}: expired ball {} of {} g is not in the ledger's expiries",
                    record.player, entry.ball_id, entry.grams
                ));
            }
        }
    }
    let revivable = revive::revivable_grams(world);
    if revived + revivable > expired {
        problems.push(format!(
            "revived {revived} g + revivable {revivable} g > expired {expired} g"
        ));
    }
    RevivalAudit { revived, revivable }
}

/// Vitality's totals as the audit reports them.
struct VitalityAudit {
    earned: u64,
    spent: u64,
    held: u64,
}

/// Vitality's identities: each player's points equal their ledger account; the running
/// totals equal the ledger's sums; and earned = held + spent.
fn audit_vitality(
    world: &mut World,
    ledger: &LedgerView,
    problems: &mut Vec<String>,
) -> VitalityAudit {
    let mut held = 0u64;
    let mut records = world.query::<&Vitality>();
    for Vitality(record) in records.iter(world) {
        held += record.points;
        let expected = ledger.vitality.get(&record.player).copied().unwrap_or(0);
        if i128::from(record.points) != expected {
            problems.push(format!(
                "player {}: {} vitality but the ledger says {expected}",
                record.player, record.points
            ));
        }
    }
    let totals = world.resource::<Ledger>().vitality.clone();
    if totals != ledger.vitality_sums {
        problems.push(format!(
            "vitality totals {totals:?} ≠ the ledger's sums {:?}",
            ledger.vitality_sums
        ));
    }
    if totals.earned != held + totals.spent {
        problems.push(format!(
            "vitality earned {} ≠ held {held} + spent {}",
            totals.earned, totals.spent
        ));
    }
    VitalityAudit {
        earned: totals.earned,
        spent: totals.spent,
        held,
    }
}
