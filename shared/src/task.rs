//! The task center's contract: a task as partners and ops publish it, as players see
//! it, and the bodies of its calls. A task rewards grams of energy, or props, from a
//! budget that is never overspent.

use crate::ids::{Millis, PartnerId, PlayerId, TaskId};
use crate::model::{BallView, PropKind};
use serde::{Deserialize, Serialize};

/// Who a task is open to. JSON: `"all"`, `{"new_players": {"within_days": 30}}`,
/// `"certified"`, `"uncertified"`, `"in_team"`, `{"players": [1, 2]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// Every player.
    All,
    /// Players who registered at most this many days ago.
    NewPlayers {
        /// Days since registering.
        within_days: u32,
    },
    /// Players who planted at least one tree.
    Certified,
    /// Players who have not planted a tree yet.
    Uncertified,
    /// Players who belong to a co-planting team.
    InTeam,
    /// These players only.
    Players(Vec<PlayerId>),
}

/// A reward of props instead of grams. JSON: `{"prop": "protection_cover", "count": 1}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropReward {
    /// Which prop.
    pub prop: PropKind,
    /// How many per completion (1–100).
    pub count: u32,
}

/// Where a task is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Completions are rewarded (within its window).
    Open,
    /// Completions are refused until it is opened again.
    Paused,
    /// Closed for good by its publisher.
    Closed,
    /// Closed by itself: its remaining budget cannot cover a reward.
    Exhausted,
}

/// `POST /admin/tasks` or `POST /partner/v1/tasks`: publish a task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    /// 1–80 characters.
    pub title: String,
    /// Up to 500 characters.
    #[serde(default)]
    pub description: String,
    /// Grams of energy each completion earns (1–1,000,000); 0 or absent with
    /// `reward_prop`.
    #[serde(default)]
    pub reward_grams: u64,
    /// Props each completion gives instead of grams (absent: a grams reward).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_prop: Option<PropReward>,
    /// Who may accept it.
    pub audience: Audience,
    /// When completions start to count (game clock).
    pub starts_at: Millis,
    /// When they stop (exclusive).
    pub ends_at: Millis,
    /// Completions rewarded per player (1–1000).
    pub per_player_limit: u32,
    /// Total grams the task may ever disburse (a grams reward); 0 or absent with
    /// `reward_prop`.
    #[serde(default)]
    pub budget_grams: u64,
    /// Total props the task may ever give (a prop reward: its budget counts props, so
    /// it covers `budget_props / count` completions); 0 or absent with `reward_grams`.
    #[serde(default)]
    pub budget_props: u64,
    /// The partner's idempotency key (partner calls only; ignored from ops).
    #[serde(rename = "ref", default)]
    pub reference: String,
}

/// A task as its publisher and ops see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskView {
    /// Its id.
    pub task_id: TaskId,
    /// The partner that published it; `null` for ops.
    pub partner_id: Option<PartnerId>,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Grams per completion (0 for a prop reward).
    pub reward_grams: u64,
    /// Props per completion; `null` for a grams reward.
    #[serde(default)]
    pub reward_prop: Option<PropReward>,
    /// Who may accept it.
    pub audience: Audience,
    /// Window start.
    pub starts_at: Millis,
    /// Window end (exclusive).
    pub ends_at: Millis,
    /// Completions rewarded per player.
    pub per_player_limit: u32,
    /// Total budget in grams (0 for a prop reward).
    pub budget_grams: u64,
    /// Grams disbursed so far.
    pub disbursed_grams: u64,
    /// Grams left: always `budget_grams - disbursed_grams`.
    pub remaining_grams: u64,
    /// Total budget in props (0 for a grams reward).
    #[serde(default)]
    pub budget_props: u64,
    /// Props given so far.
    #[serde(default)]
    pub disbursed_props: u64,
    /// Props left: always `budget_props - disbursed_props`.
    #[serde(default)]
    pub remaining_props: u64,
    /// Completions rewarded so far.
    pub completions: u64,
    /// Open, paused, closed or exhausted.
    pub status: TaskStatus,
}

/// The answer of `GET /admin/tasks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskList {
    /// Every task, by id.
    pub tasks: Vec<TaskView>,
}

/// `POST /admin/tasks/{id}/status` or `/partner/v1/tasks/{id}/status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatusChange {
    /// `open`, `paused` or `closed` (`exhausted` is the task's own doing).
    pub status: TaskStatus,
    /// The partner's idempotency key (partner calls only).
    #[serde(rename = "ref", default)]
    pub reference: String,
}

/// `POST /partner/v1/tasks/{id}/complete` (or `/admin/tasks/{id}/complete` for an ops
/// task): the publisher confirms a player did the task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompleteTask {
    /// Who completed it.
    pub player_id: PlayerId,
    /// The partner's idempotency key (required from partners; ops may leave it out).
    #[serde(rename = "ref", default)]
    pub reference: String,
}

/// The answer of a completion: the reward, as a ball on the player's tree or as props
/// in their inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskReward {
    /// The task.
    pub task_id: TaskId,
    /// The player rewarded.
    pub player_id: PlayerId,
    /// Grams rewarded (0 for a prop reward).
    pub grams: u64,
    /// The reward ball (source `task`); absent for a prop reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ball: Option<BallView>,
    /// The task's budget left after this reward, in grams (0 for a prop reward).
    pub remaining_grams: u64,
    /// The props rewarded; absent for a grams reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prop: Option<PropReward>,
    /// The task's budget left after a prop reward, in props; absent for grams.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remaining_props: Option<u64>,
}

/// A task as a player sees it in `tasks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlayerTask {
    /// Its id.
    pub task_id: TaskId,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Grams per completion (0 for a prop reward).
    pub reward_grams: u64,
    /// Props per completion; absent for a grams reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_prop: Option<PropReward>,
    /// Window end (exclusive).
    pub ends_at: Millis,
    /// Completions rewarded per player.
    pub per_player_limit: u32,
    /// Whether the player accepted it.
    pub accepted: bool,
    /// The player's completions rewarded so far.
    pub completions: u32,
    /// Whether the budget still covers at least one reward.
    pub budget_left: bool,
}
