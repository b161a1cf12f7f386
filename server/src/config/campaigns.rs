//! `[campaigns.<key>]`: campaigns defined in the config file, beside those defined
//! through the admin API. Hot: a reload adds, changes and closes them (the game keeps
//! what each has spent, which is store state; see docs/PARTNERS.md).

use super::{ConfigError, check};
use crate::game::campaigns::check_definition;
use canopy_shared::Millis;
use canopy_shared::campaign::{Bonus, NewCampaign};
use canopy_shared::task::Audience;
use serde::Deserialize;
use std::collections::BTreeMap;

/// One `[campaigns.<key>]` table: the fields of `POST /admin/campaigns`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignConfig {
    /// 1–80 characters.
    pub name: String,
    /// The action kind it applies to (a kind of `[actions.*]`).
    pub kind: String,
    /// `{ multiply = N }` or `{ add = G }`.
    pub bonus: Bonus,
    /// Only the player's first credited action of the kind each game day.
    #[serde(default)]
    pub first_of_day: bool,
    /// Which players, as a task's audience (default: all).
    #[serde(default = "everybody")]
    pub audience: Audience,
    /// Window start, game clock (ms since the Unix epoch).
    pub starts_at: Millis,
    /// Window end, exclusive.
    pub ends_at: Millis,
    /// Total grams it may ever pay.
    pub budget_grams: u64,
}

fn everybody() -> Audience {
    Audience::All
}

impl CampaignConfig {
    /// The campaign as the game defines it.
    pub fn definition(&self) -> NewCampaign {
        NewCampaign {
            name: self.name.clone(),
            kind: self.kind.clone(),
            bonus: self.bonus,
            first_of_day: self.first_of_day,
            audience: self.audience.clone(),
            starts_at: self.starts_at,
            ends_at: self.ends_at,
            budget_grams: self.budget_grams,
        }
    }
}

/// Checks every configured campaign with the admin API's rules, naming the field
/// (`campaigns.<key>.<field>`) on error. `known_kind` says whether an action kind exists.
pub fn validate(
    campaigns: &BTreeMap<String, CampaignConfig>,
    known_kind: impl Fn(&str) -> bool,
) -> Result<(), ConfigError> {
    for (key, campaign) in campaigns {
        check(
            &format!("campaigns.{key}"),
            crate::game::account::validate_name(key).is_ok(),
            "a campaign key has 1 to 32 letters, digits, `_` or `-`",
        )?;
        if let Err((field, reason)) = check_definition(&campaign.definition(), &known_kind) {
            return Err(ConfigError::Invalid {
                field: format!("campaigns.{key}.{field}"),
                reason,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::{Config, ConfigError, DEFAULT_CONFIG};

    fn load(table: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("canopy.toml");
        std::fs::write(&path, format!("{DEFAULT_CONFIG}\n{table}")).expect("write config");
        Config::load(Some(&path), std::iter::empty())
    }

    const GOOD: &str = r#"[campaigns.metro_x2]
name = "Metro x2"
kind = "metro"
bonus = { multiply = 2 }
audience = { new_players = { within_days = 30 } }
starts_at = 1796083200000
ends_at = 1796688000000
budget_grams = 50000000
"#;

    #[test]
    fn a_campaign_table_loads_as_the_admin_api_would_define_it() {
        let config = load(GOOD).expect("a valid campaign loads");
        let campaign = &config.campaigns["metro_x2"];
        assert_eq!(campaign.definition().kind, "metro");
        assert_eq!(campaign.definition().budget_grams, 50_000_000);
        assert!(Config::default_embedded().campaigns.is_empty());
    }

    #[test]
    fn a_bad_campaign_is_refused_with_its_field() {
        for (from, to, field) in [
            (
                "kind = \"metro\"",
                "kind = \"teleport\"",
                "campaigns.metro_x2.kind",
            ),
            ("multiply = 2", "multiply = 11", "campaigns.metro_x2.bonus"),
            (
                "budget_grams = 50000000",
                "budget_grams = 0",
                "campaigns.metro_x2.budget_grams",
            ),
            (
                "ends_at = 1796688000000",
                "ends_at = 1",
                "campaigns.metro_x2.ends_at",
            ),
            (
                "within_days = 30",
                "within_days = 0",
                "campaigns.metro_x2.audience",
            ),
            (
                "[campaigns.metro_x2]",
                "[campaigns.\"metro x2\"]",
                "campaigns.metro x2",
            ),
        ] {
            match load(&GOOD.replace(from, to)) {
                Err(ConfigError::Invalid { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{to}: expected `{field}` refused, got {other:?}"),
            }
        }
        let unknown = load(&format!("{GOOD}colour = \"green\"\n"));
        assert!(
            matches!(&unknown, Err(ConfigError::Parse { message, .. }) if message.contains("colour")),
            "{unknown:?}"
        );
    }
}
