//! Campaign budgets across shards. A campaign is the cluster's: published in the budget
//! bucket (`campaign.<id>`) and adopted by every shard, its budget split by the same
//! allotment ledger as a task's (`cluster::budgets`). Unlike a task completion, a bonus
//! is paid inside the action that earns it, which may come from a player's own socket:
//! there is no call to hold while the ledger is asked. So each shard keeps its holding
//! topped up ahead of need instead: a round every [`ROUND`] looks at what the shard holds
//! of each active campaign and takes the next chunk once half of the last one is spent
//! (or, after a restart, once nothing is held).
//! A bonus larger than what the shard holds is cut to it, as the last bonus of a
//! campaign is on one server; the shard exhausts the campaign only once it holds
//! nothing and the ledger is dry. Shard 0 also publishes the config file's campaigns.
//! See docs/PARTNERS.md, "Campaigns" under "Cluster mode".

use super::budgets::{Budgeted, Budgets};
use crate::game::AdminOp;
use crate::game::campaigns::Publication;
use crate::game_loop::GameHandle;
use canopy_shared::CampaignId;
use canopy_shared::campaign::{CampaignList, CampaignStatus, CampaignView};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// How often a shard looks at what it holds of each campaign.
const ROUND: Duration = Duration::from_millis(200);

/// Keeps this shard's holdings of every active campaign topped up from the ledgers (and,
/// on shard 0, publishes the config file's campaigns), for as long as the shard runs.
pub async fn keep_topped_up(budgets: Arc<Budgets>, game: GameHandle, publishes_config: bool) {
    let mut holdings = Holdings {
        publishes_config,
        ..Holdings::default()
    };
    loop {
        if let Err(err) = holdings.round(&budgets, &game).await {
            tracing::warn!("campaign budgets: {err:#}");
        }
        tokio::time::sleep(ROUND).await;
    }
}

/// What one shard remembers of its campaigns between rounds.
#[derive(Default)]
struct Holdings {
    /// Whether this shard publishes the config file's campaigns (shard 0).
    publishes_config: bool,
    /// The last chunk taken of each campaign: the next is taken once half is spent.
    last_chunk: HashMap<CampaignId, u64>,
    /// Campaigns whose ledger had nothing more to give.
    dry: HashSet<CampaignId>,
    /// Configured campaigns published by this process, with the status published.
    published: HashMap<CampaignId, CampaignStatus>,
    /// Campaigns whose last refill failed (logged once until one succeeds).
    failing: HashSet<CampaignId>,
}

impl Holdings {
    async fn round(&mut self, budgets: &Budgets, game: &GameHandle) -> anyhow::Result<()> {
        let held: CampaignList = ask(game, AdminOp::CampaignList).await?;
        if self.publishes_config {
            self.publish_configured(budgets, game, &held).await?;
        }
        for campaign in held.campaigns {
            if campaign.status == CampaignStatus::Active {
                self.top_up(budgets, &campaign).await?;
            }
        }
        Ok(())
    }

    /// Publishes every configured campaign whose definition or closing this process has
    /// not published yet (create-if-absent, so a restart publishes again harmlessly).
    async fn publish_configured(
        &mut self,
        budgets: &Budgets,
        game: &GameHandle,
        held: &CampaignList,
    ) -> anyhow::Result<()> {
        let unpublished = held.campaigns.iter().any(|campaign| {
            campaign.config_key.is_some()
                && self.published.get(&campaign.campaign_id) != Some(&closed_or_not(campaign))
        });
        if !unpublished {
            return Ok(());
        }
        let configured: Vec<Publication> = ask(game, AdminOp::CampaignConfigured).await?;
        for Publication { campaign, unit } in configured {
            let id = campaign.campaign_id;
            budgets
                .publish_campaign(&campaign, unit)
                .await
                .map_err(|error| refused(&error))?;
            if campaign.status == CampaignStatus::Closed {
                budgets
                    .publish_campaign_status(id, CampaignStatus::Closed)
                    .await
                    .map_err(|error| refused(&error))?;
            }
            self.published.insert(id, campaign.status);
        }
        Ok(())
    }

    /// Takes the next chunk of the campaign for this shard once half of the last one (or
    /// all it holds) is spent; exhausts it here once nothing is held and the ledger is dry.
    async fn top_up(&mut self, budgets: &Budgets, campaign: &CampaignView) -> anyhow::Result<()> {
        let id = campaign.campaign_id;
        let (allotted, held) = (campaign.definition.budget_grams, campaign.remaining_grams);
        let budgeted = Budgeted::Campaign(id);
        if self.dry.contains(&id) {
            if held == 0 {
                budgets.record_allotment(budgeted, allotted, true).await?;
            }
            return Ok(());
        }
        let last_chunk = self.last_chunk.get(&id).copied().unwrap_or(0);
        if held > 0 && held >= last_chunk / 2 {
            return Ok(());
        }
        let (total, dry) = match budgets.refill(budgeted).await {
            Ok(refilled) => refilled,
            Err(err) => {
                if self.failing.insert(id) {
                    tracing::warn!("campaign {id}: no allotment taken: {err:#}");
                }
                return Ok(());
            }
        };
        self.failing.remove(&id);
        if total > allotted {
            self.last_chunk.insert(id, total - allotted);
        }
        if dry {
            self.dry.insert(id);
        }
        budgets.record_allotment(budgeted, total, dry).await?;
        Ok(())
    }
}

/// The status a configured campaign is published with: closed, or active.
fn closed_or_not(campaign: &CampaignView) -> CampaignStatus {
    match campaign.status {
        CampaignStatus::Closed => CampaignStatus::Closed,
        _ => CampaignStatus::Active,
    }
}

fn refused(error: &canopy_shared::ErrorBody) -> anyhow::Error {
    anyhow::anyhow!("{error}")
}

async fn ask<T: serde::de::DeserializeOwned>(game: &GameHandle, op: AdminOp) -> anyhow::Result<T> {
    let answer = game.ask(op).await.map_err(|error| refused(&error))?;
    Ok(serde_json::from_str(&answer)?)
}
