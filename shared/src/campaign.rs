//! Campaigns, the post-action rules engine: time-boxed bonus rules that ops define.
//! After a green action is credited, each active campaign for its kind whose
//! conditions match adds a bonus ball (source `campaign:<id>`) paid from the
//! campaign's budget, which is never overspent.

use crate::ids::{CampaignId, Millis};
use crate::task::Audience;
use serde::{Deserialize, Serialize};

/// What a campaign adds to a credited action. JSON: `{"multiply": 2}` (the action's
/// grams again, so ×2 in all) or `{"add": 20}` (20 g more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bonus {
    /// The player gets this many times the action's grams in all (2–10).
    Multiply(u32),
    /// The player gets this many grams more (1–1,000,000).
    Add(u64),
}

/// Whether a campaign still pays.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    /// It pays matching actions within its window.
    Active,
    /// Closed by ops.
    Closed,
    /// Its budget is spent.
    Exhausted,
}

/// `POST /admin/campaigns`: define a campaign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCampaign {
    /// 1–80 characters.
    pub name: String,
    /// The action kind it applies to.
    pub kind: String,
    /// What it adds.
    pub bonus: Bonus,
    /// Only the player's first credited action of the kind each game day.
    #[serde(default)]
    pub first_of_day: bool,
    /// Which players (as a task's audience).
    pub audience: Audience,
    /// Window start (game clock).
    pub starts_at: Millis,
    /// Window end, exclusive.
    pub ends_at: Millis,
    /// Total grams it may ever pay.
    pub budget_grams: u64,
}

/// A campaign as ops see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignView {
    /// Its id.
    pub campaign_id: CampaignId,
    /// What was defined.
    #[serde(flatten)]
    pub definition: NewCampaign,
    /// Grams paid so far.
    pub disbursed_grams: u64,
    /// Grams left: always `budget_grams - disbursed_grams`.
    pub remaining_grams: u64,
    /// Bonus balls paid.
    pub bonuses: u64,
    /// Active, closed or exhausted.
    pub status: CampaignStatus,
    /// The key of the `[campaigns.<key>]` table of the config file that defines it;
    /// `null` for a campaign defined through the admin API.
    #[serde(default)]
    pub config_key: Option<String>,
}

/// The answer of `GET /admin/campaigns`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CampaignList {
    /// Every campaign, by id.
    pub campaigns: Vec<CampaignView>,
}
