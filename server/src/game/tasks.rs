//! The task center: tasks published by partners or ops, accepted by players, and
//! rewarded from a budget that is never overspent.
//!
//! A reward is one change on the game thread: the ball, its ledger entry (from the
//! task's budget account), the task's `disbursed`/`remaining` and the player's
//! completion count all land in the same batch and so in the same commit. The game
//! thread applies commands one at a time, so no two completions can both see the last
//! reward's worth of budget; a crash loses the whole batch or none of it.

use super::components::{Certificates, Profile, Props};
use super::resources::Teams;
use super::state::{
    NewBall, config, fail, notify, now, player_entity, record_flow, spawn_ball, touch_player,
};
use super::views;
use crate::cluster::Partition;
use crate::store::{Account, Flow, TaskBook, TaskProgress, TaskRecord};
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::model::BallView;
use canopy_shared::reply::{TaskAcceptResult, TasksResult};
use canopy_shared::task::{
    Audience, NewTask, PlayerTask, PropReward, TaskList, TaskReward, TaskStatus, TaskView,
};
use canopy_shared::{ErrorBody, ErrorCode, Event, Millis, PartnerId, PlayerId, TaskId};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// The longest title.
const MAX_TITLE_CHARS: usize = 80;
/// The longest description.
const MAX_DESCRIPTION_CHARS: usize = 500;
/// The largest reward.
const MAX_REWARD_GRAMS: u64 = 1_000_000;
/// The most props one completion may give.
const MAX_REWARD_PROPS: u32 = 100;
/// The highest per-player limit.
const MAX_PER_PLAYER: u32 = 1_000;
/// The longest list of players in an audience.
const MAX_LISTED_PLAYERS: usize = 10_000;
/// A day on the game clock.
const DAY_MS: u64 = 86_400_000;
/// The message of [`allotment_needed`], by which the ops side recognises it.
const ALLOTMENT_NEEDED: &str = "this shard's allotment of the task's budget is spent";

/// Who publishes (and may change and confirm) a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Publisher {
    /// Ops, through the admin API.
    Ops,
    /// A partner, through the partner API.
    Partner(PartnerId),
}

impl Publisher {
    fn owns(self, task: &TaskRecord) -> bool {
        match self {
            Self::Ops => true,
            Self::Partner(partner) => task.partner == Some(partner),
        }
    }
}

/// Every task and every player's standing with the tasks they accepted.
#[derive(Resource, Default)]
pub struct TaskCenter {
    /// Every task by id.
    pub by_id: BTreeMap<TaskId, TaskRecord>,
    /// The next id to hand out (tasks are never deleted: one past the highest).
    next_id: u64,
    /// Each player's standing, by player: what `h<player>` holds.
    books: HashMap<PlayerId, TaskBook>,
    /// Tasks changed this batch.
    dirty_tasks: BTreeSet<TaskId>,
    /// Players whose standing changed this batch.
    dirty_books: BTreeSet<PlayerId>,
}

impl TaskCenter {
    /// Adds a task read from the store.
    pub fn load_task(&mut self, task: TaskRecord) {
        self.next_id = self.next_id.max(task.id.0);
        self.by_id.insert(task.id, task);
    }

    /// Adds a player's standing read from the store.
    pub fn load_book(&mut self, player: PlayerId, book: TaskBook) {
        self.books.insert(player, book);
    }

    fn progress(&self, player: PlayerId, task: TaskId) -> Option<&TaskProgress> {
        self.books.get(&player)?.get(&task)
    }
}

/// A task as its publisher sees it: the budget under the names of its unit.
pub fn view(task: &TaskRecord) -> TaskView {
    let (grams, props) = match task.reward_prop {
        None => ((task.budget, task.disbursed, task.remaining), (0, 0, 0)),
        Some(_) => ((0, 0, 0), (task.budget, task.disbursed, task.remaining)),
    };
    TaskView {
        task_id: task.id,
        partner_id: task.partner,
        title: task.title.clone(),
        description: task.description.clone(),
        reward_grams: task.reward_grams,
        reward_prop: task.reward_prop,
        audience: task.audience.clone(),
        starts_at: task.starts_at,
        ends_at: task.ends_at,
        per_player_limit: task.per_player_limit,
        budget_grams: grams.0,
        disbursed_grams: grams.1,
        remaining_grams: grams.2,
        budget_props: props.0,
        disbursed_props: props.1,
        remaining_props: props.2,
        completions: task.completions,
        status: task.status,
    }
}

fn validate(new: &NewTask, now: Millis) -> Result<(), ErrorBody> {
    let title = new.title.trim().chars().count();
    if title == 0 || title > MAX_TITLE_CHARS {
        return fail(ErrorCode::BadRequest, "`title` has 1 to 80 characters");
    }
    if new.description.chars().count() > MAX_DESCRIPTION_CHARS {
        return fail(
            ErrorCode::BadRequest,
            "`description` has at most 500 characters",
        );
    }
    validate_reward(new)?;
    if !(1..=MAX_PER_PLAYER).contains(&new.per_player_limit) {
        return fail(ErrorCode::BadRequest, "`per_player_limit` is 1 to 1000");
    }
    if new.ends_at <= new.starts_at || new.ends_at <= now {
        return fail(
            ErrorCode::BadRequest,
            "`ends_at` must be after `starts_at` and in the future",
        );
    }
    validate_audience(&new.audience)
}

/// A task rewards either grams from a budget in grams or props from a budget in
/// props, and its budget covers at least one reward.
fn validate_reward(new: &NewTask) -> Result<(), ErrorBody> {
    match new.reward_prop {
        None => {
            if !(1..=MAX_REWARD_GRAMS).contains(&new.reward_grams) {
                return fail(ErrorCode::BadRequest, "`reward_grams` is 1 to 1000000");
            }
            if new.budget_props != 0 {
                return fail(
                    ErrorCode::BadRequest,
                    "`budget_props` goes with `reward_prop`; a grams reward takes `budget_grams`",
                );
            }
            if new.budget_grams < new.reward_grams {
                return fail(
                    ErrorCode::BadRequest,
                    "`budget_grams` must cover at least one reward",
                );
            }
        }
        Some(reward) => {
            if new.reward_grams != 0 || new.budget_grams != 0 {
                return fail(
                    ErrorCode::BadRequest,
                    "a task rewards grams (`reward_grams`, `budget_grams`) or props \
                     (`reward_prop`, `budget_props`), not both",
                );
            }
            if !(1..=MAX_REWARD_PROPS).contains(&reward.count) {
                return fail(ErrorCode::BadRequest, "`reward_prop.count` is 1 to 100");
            }
            if new.budget_props < u64::from(reward.count) {
                return fail(
                    ErrorCode::BadRequest,
                    "`budget_props` must cover at least one reward",
                );
            }
        }
    }
    Ok(())
}

/// Refuses an audience that can hold nobody or too many listed players.
pub fn validate_audience(audience: &Audience) -> Result<(), ErrorBody> {
    match audience {
        Audience::NewPlayers { within_days } if *within_days == 0 => fail(
            ErrorCode::BadRequest,
            "`within_days` of a new-players audience is at least 1",
        ),
        Audience::Players(ids) if ids.is_empty() || ids.len() > MAX_LISTED_PLAYERS => fail(
            ErrorCode::BadRequest,
            "an audience of listed players names 1 to 10000 players",
        ),
        _ => Ok(()),
    }
}

/// Publishes a task.
pub fn create(
    world: &mut World,
    publisher: Publisher,
    new: &NewTask,
) -> Result<TaskView, ErrorBody> {
    validate(new, now(world))?;
    let budget = match new.reward_prop {
        None => new.budget_grams,
        Some(_) => new.budget_props,
    };
    let partition = Partition::from_config(&config(world).cluster);
    let mut center = world.resource_mut::<TaskCenter>();
    center.next_id = partition.next_player_id(center.next_id);
    let mut task = TaskRecord {
        id: TaskId(center.next_id),
        partner: match publisher {
            Publisher::Ops => None,
            Publisher::Partner(partner) => Some(partner),
        },
        title: new.title.trim().to_owned(),
        description: new.description.clone(),
        reward_grams: new.reward_grams,
        audience: new.audience.clone(),
        starts_at: new.starts_at,
        ends_at: new.ends_at,
        per_player_limit: new.per_player_limit,
        budget,
        disbursed: 0,
        remaining: budget,
        completions: 0,
        status: TaskStatus::Open,
        reward_prop: new.reward_prop,
    };
    let answer = view(&task);
    if partition.shards > 1 {
        // The budget is the cluster's (`cluster::budgets`): this shard holds only what
        // it takes from it, allotment by allotment.
        task.budget = 0;
        task.remaining = 0;
    }
    center.dirty_tasks.insert(task.id);
    center.by_id.insert(task.id, task);
    Ok(answer)
}

/// The task.
fn task(world: &World, id: TaskId) -> Result<TaskRecord, ErrorBody> {
    match world.resource::<TaskCenter>().by_id.get(&id) {
        Some(task) => Ok(task.clone()),
        None => fail(ErrorCode::NotFound, format!("no task {id}")),
    }
}

/// The task, if `publisher` may act on it.
fn owned(world: &World, publisher: Publisher, id: TaskId) -> Result<TaskRecord, ErrorBody> {
    let task = task(world, id)?;
    if !publisher.owns(&task) {
        return fail(ErrorCode::Forbidden, format!("task {id} is not yours"));
    }
    Ok(task)
}

/// Pauses, reopens or closes a task. Closed and exhausted are final.
pub fn set_status(
    world: &mut World,
    publisher: Publisher,
    id: TaskId,
    status: TaskStatus,
) -> Result<TaskView, ErrorBody> {
    let task = owned(world, publisher, id)?;
    if status == TaskStatus::Exhausted {
        return fail(
            ErrorCode::BadRequest,
            "a task becomes exhausted by itself; set `open`, `paused` or `closed`",
        );
    }
    if matches!(task.status, TaskStatus::Closed | TaskStatus::Exhausted) && status != task.status {
        return fail(ErrorCode::Conflict, format!("task {id} is over"));
    }
    let mut center = world.resource_mut::<TaskCenter>();
    let task = center.by_id.get_mut(&id).expect("checked above");
    task.status = status;
    let answer = view(task);
    center.dirty_tasks.insert(id);
    Ok(answer)
}

/// Every task.
pub fn list(world: &World) -> TaskList {
    TaskList {
        tasks: world
            .resource::<TaskCenter>()
            .by_id
            .values()
            .map(view)
            .collect(),
    }
}

/// Whether `player` is in the task's audience now.
fn eligible(world: &World, task: &TaskRecord, player: PlayerId) -> Result<bool, ErrorBody> {
    in_audience(world, &task.audience, player)
}

/// Whether `player` is in `audience` now (tasks and campaigns share audiences).
pub fn in_audience(
    world: &World,
    audience: &Audience,
    player: PlayerId,
) -> Result<bool, ErrorBody> {
    let entity = player_entity(world, player)?;
    Ok(match audience {
        Audience::All => true,
        Audience::NewPlayers { within_days } => {
            let profile = world.get::<Profile>(entity).expect("player has Profile");
            now(world).saturating_sub(profile.created_at) <= u64::from(*within_days) * DAY_MS
        }
        Audience::Certified | Audience::Uncertified => {
            let certified = !world
                .get::<Certificates>(entity)
                .expect("player has Certificates")
                .0
                .is_empty();
            certified == (*audience == Audience::Certified)
        }
        Audience::InTeam => world.resource::<Teams>().of(player).next().is_some(),
        Audience::Players(ids) => ids.contains(&player),
    })
}

/// Why a task takes no completions or acceptances now, if it does not.
fn closed_reason(task: &TaskRecord, now: Millis) -> Option<ErrorBody> {
    let id = task.id;
    match task.status {
        TaskStatus::Exhausted => {
            return Some(ErrorBody::new(
                ErrorCode::BudgetExhausted,
                format!("task {id} has spent its budget"),
            ));
        }
        TaskStatus::Paused | TaskStatus::Closed => {
            return Some(ErrorBody::new(
                ErrorCode::TaskClosed,
                format!("task {id} is {:?}", task.status).to_lowercase(),
            ));
        }
        TaskStatus::Open => {}
    }
    (now < task.starts_at || now >= task.ends_at).then(|| {
        ErrorBody::new(
            ErrorCode::OutsideWindow,
            format!(
                "task {id} runs from {} to {} (game clock, ms)",
                task.starts_at, task.ends_at
            ),
        )
    })
}

fn player_view(world: &World, task: &TaskRecord, player: PlayerId) -> PlayerTask {
    let progress = world.resource::<TaskCenter>().progress(player, task.id);
    PlayerTask {
        task_id: task.id,
        title: task.title.clone(),
        description: task.description.clone(),
        reward_grams: task.reward_grams,
        reward_prop: task.reward_prop,
        ends_at: task.ends_at,
        per_player_limit: task.per_player_limit,
        accepted: progress.is_some(),
        completions: progress.map_or(0, |progress| progress.completions),
        budget_left: task.remaining >= task.reward_units()
            || (task.status == TaskStatus::Open
                && Partition::from_config(&config(world).cluster).shards > 1),
    }
}

/// `tasks`: the tasks open to the player now (open, in their window, with the player
/// in their audience), accepted or not.
pub fn player_tasks(world: &World, player: PlayerId) -> Result<TasksResult, ErrorBody> {
    let now = now(world);
    let mut tasks = Vec::new();
    for task in world.resource::<TaskCenter>().by_id.values() {
        if closed_reason(task, now).is_none() && eligible(world, task, player)? {
            tasks.push(player_view(world, task, player));
        }
    }
    Ok(TasksResult { tasks })
}

/// `task_accept`: the player takes the task on; accepting again changes nothing.
pub fn accept(
    world: &mut World,
    player: PlayerId,
    id: TaskId,
) -> Result<TaskAcceptResult, ErrorBody> {
    let task = owned(world, Publisher::Ops, id)?;
    if let Some(reason) = closed_reason(&task, now(world)) {
        return Err(reason);
    }
    if !eligible(world, &task, player)? {
        return fail(
            ErrorCode::NotEligible,
            format!("task {id} is not open to you"),
        );
    }
    let accepted_at = now(world);
    let mut center = world.resource_mut::<TaskCenter>();
    let book = center.books.entry(player).or_default();
    if let std::collections::btree_map::Entry::Vacant(entry) = book.entry(id) {
        entry.insert(TaskProgress {
            accepted_at,
            completions: 0,
        });
        center.dirty_books.insert(player);
    }
    Ok(TaskAcceptResult {
        task: player_view(world, &task, player),
    })
}

/// The publisher confirms that `player` completed the task: the reward, from the
/// budget, as a ball on the player's tree. Refused when the player did not accept
/// it, is past the per-player limit, is outside the audience, outside the window,
/// or when the budget cannot cover the reward (the task then closes itself).
pub fn complete(
    world: &mut World,
    publisher: Publisher,
    id: TaskId,
    player: PlayerId,
) -> Result<TaskReward, ErrorBody> {
    let task = owned(world, publisher, id)?;
    let owner_entity = player_entity(world, player)?;
    if let Some(reason) = closed_reason(&task, now(world)) {
        return Err(reason);
    }
    if !eligible(world, &task, player)? {
        return fail(
            ErrorCode::NotEligible,
            format!("player {player} is outside task {id}'s audience"),
        );
    }
    let Some(progress) = world.resource::<TaskCenter>().progress(player, id).cloned() else {
        return fail(
            ErrorCode::NotAccepted,
            format!("player {player} has not accepted task {id}"),
        );
    };
    if progress.completions >= task.per_player_limit {
        return fail(
            ErrorCode::LimitReached,
            format!(
                "player {player} completed task {id} {} times, its limit",
                progress.completions
            ),
        );
    }
    let cost = task.reward_units();
    // In cluster mode the budget is the cluster's: this shard's part running out asks
    // for more (`allot` exhausts the task once the cluster has none left).
    let shared = Partition::from_config(&config(world).cluster).shards > 1;
    if task.remaining < cost {
        if shared {
            return Err(allotment_needed(id));
        }
        exhaust(world, id);
        return fail(
            ErrorCode::BudgetExhausted,
            format!(
                "task {id} has {} {} left, less than its reward",
                task.remaining,
                unit_name(&task)
            ),
        );
    }
    let (ball, prop) = match task.reward_prop {
        None => (Some(reward_ball(world, &task, owner_entity, player)), None),
        Some(reward) => {
            reward_props(world, &task, owner_entity, player, reward);
            (None, Some(reward))
        }
    };
    let mut center = world.resource_mut::<TaskCenter>();
    let record = center.by_id.get_mut(&id).expect("checked above");
    record.disbursed += cost;
    record.remaining -= cost;
    record.completions += 1;
    if record.remaining < cost && !shared {
        record.status = TaskStatus::Exhausted;
    }
    let remaining = record.remaining;
    center.dirty_tasks.insert(id);
    if let Some(progress) = center
        .books
        .get_mut(&player)
        .and_then(|book| book.get_mut(&id))
    {
        progress.completions += 1;
    }
    center.dirty_books.insert(player);
    notify(
        world,
        player,
        Event::TaskCompleted {
            task_id: id,
            grams: task.reward_grams,
            ball_id: ball.as_ref().map(|ball| ball.ball_id),
            prop,
        },
    );
    Ok(TaskReward {
        task_id: id,
        player_id: player,
        grams: task.reward_grams,
        ball,
        remaining_grams: if prop.is_none() { remaining } else { 0 },
        prop,
        remaining_props: prop.map(|_| remaining),
    })
}

/// What the task's budget counts, for messages.
fn unit_name(task: &TaskRecord) -> &'static str {
    if task.reward_prop.is_some() {
        "props"
    } else {
        "g"
    }
}

/// A grams reward: a ripe, unstealable ball created from the task's budget.
fn reward_ball(
    world: &mut World,
    task: &TaskRecord,
    owner_entity: Entity,
    owner: PlayerId,
) -> BallView {
    let ball = spawn_ball(
        world,
        NewBall {
            owner_entity,
            owner,
            source: "task".into(),
            grams: task.reward_grams,
            ripe_at: now(world),
            stealable: false,
        },
    );
    record_flow(
        world,
        Flow::Created,
        task.reward_grams,
        Account::TaskBudget(task.id),
        Account::Ball(ball.id),
    );
    let view = views::ball_view(&ball, now(world), &config(world));
    notify(world, owner, Event::BallNew { ball: view.clone() });
    view
}

/// A prop reward: the props join the player's inventory (written with the player's
/// record in the same batch), and the ledger records them leaving the task's budget.
fn reward_props(
    world: &mut World,
    task: &TaskRecord,
    owner_entity: Entity,
    owner: PlayerId,
    reward: PropReward,
) {
    let mut props = world
        .get_mut::<Props>(owner_entity)
        .expect("player has Props");
    let held = props.0.inventory.entry(reward.prop).or_insert(0);
    *held = held.saturating_add(reward.count);
    touch_player(world, owner_entity);
    record_flow(
        world,
        Flow::PropsRewarded,
        u64::from(reward.count),
        Account::TaskBudget(task.id),
        Account::Inventory(owner),
    );
}

/// Cluster mode: the refusal that asks the ops side for more of the task's budget
/// before the call is answered. Internal: the ops side takes an allotment
/// (`cluster::budgets`) and sends the call again, and nothing of the call was applied,
/// stored or audited.
pub fn allotment_needed(task: TaskId) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::BudgetExhausted,
        format!("{ALLOTMENT_NEEDED} (task {task})"),
    )
}

/// Whether a refusal is [`allotment_needed`].
pub fn is_allotment_needed(error: &ErrorBody) -> bool {
    error.code == ErrorCode::BudgetExhausted && error.message.starts_with(ALLOTMENT_NEEDED)
}

/// Cluster mode: adopts a task another shard (or this one) published, as its
/// definition stands in the cluster's bucket. A new task starts with nothing allotted
/// here; a known one follows its definition's status, except that closed and exhausted
/// stay final. Returns the task as this shard holds it.
pub fn adopt(world: &mut World, definition: &TaskView) -> TaskView {
    let mut center = world.resource_mut::<TaskCenter>();
    let id = definition.task_id;
    center.next_id = center.next_id.max(id.0);
    let task = center.by_id.entry(id).or_insert_with(|| TaskRecord {
        id,
        partner: definition.partner_id,
        title: definition.title.clone(),
        description: definition.description.clone(),
        reward_grams: definition.reward_grams,
        audience: definition.audience.clone(),
        starts_at: definition.starts_at,
        ends_at: definition.ends_at,
        per_player_limit: definition.per_player_limit,
        budget: 0,
        disbursed: 0,
        remaining: 0,
        completions: 0,
        status: TaskStatus::Open,
        reward_prop: definition.reward_prop,
    });
    if !matches!(task.status, TaskStatus::Closed | TaskStatus::Exhausted) {
        task.status = definition.status;
    }
    let held = view(task);
    center.dirty_tasks.insert(id);
    held
}

/// Cluster mode: this shard has now been allotted `total` of the task's budget in all
/// (the allotment ledger's `allotted[shard]`), so what it has not recorded yet is added
/// to its budget and what it has left. With `dry`, the ledger has nothing more to allot:
/// once what is left here cannot cover a reward, the task is exhausted on this shard.
/// Returns what is left here.
pub fn allot(world: &mut World, id: TaskId, total: u64, dry: bool) -> Result<u64, ErrorBody> {
    let mut center = world.resource_mut::<TaskCenter>();
    let Some(task) = center.by_id.get_mut(&id) else {
        return fail(ErrorCode::NotFound, format!("no task {id}"));
    };
    // A closed task holds no more: what the ledger allotted meanwhile goes back to it
    // (`give_back`).
    if total > task.budget && task.status != TaskStatus::Closed {
        task.remaining += total - task.budget;
        task.budget = total;
    }
    if dry && task.remaining < task.reward_units() && task.status == TaskStatus::Open {
        task.status = TaskStatus::Exhausted;
    }
    let remaining = task.remaining;
    center.dirty_tasks.insert(id);
    Ok(remaining)
}

/// Cluster mode: a closed task gives back what this shard holds of its budget: its
/// budget here becomes what it disbursed, with nothing left. Returns that total (what
/// the allotment ledger should count as allotted to this shard), or `None` while the
/// task is not closed.
pub fn give_back(world: &mut World, id: TaskId) -> Result<Option<u64>, ErrorBody> {
    let mut center = world.resource_mut::<TaskCenter>();
    let Some(task) = center.by_id.get_mut(&id) else {
        return fail(ErrorCode::NotFound, format!("no task {id}"));
    };
    if task.status != TaskStatus::Closed {
        return Ok(None);
    }
    let kept = task.disbursed;
    if task.remaining > 0 {
        task.budget = kept;
        task.remaining = 0;
        center.dirty_tasks.insert(id);
    }
    Ok(Some(kept))
}

fn exhaust(world: &mut World, id: TaskId) {
    let mut center = world.resource_mut::<TaskCenter>();
    if let Some(task) = center.by_id.get_mut(&id)
        && task.status != TaskStatus::Exhausted
    {
        task.status = TaskStatus::Exhausted;
        center.dirty_tasks.insert(id);
    }
}

/// Drains the batch's task writes into the store batch.
pub fn gather(world: &mut World, batch: &mut crate::store::TickBatch) {
    let mut center = world.resource_mut::<TaskCenter>();
    let dirty_tasks = std::mem::take(&mut center.dirty_tasks);
    let dirty_books = std::mem::take(&mut center.dirty_books);
    batch.tasks = dirty_tasks
        .iter()
        .filter_map(|id| center.by_id.get(id).cloned())
        .collect();
    batch.task_books = dirty_books
        .into_iter()
        .map(|player| {
            (
                player,
                center.books.get(&player).cloned().unwrap_or_default(),
            )
        })
        .collect();
}
