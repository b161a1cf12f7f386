//! Components of player entities. A ball entity has one component, [`crate::store::Ball`].
//! Each player component is one slice of the [`PlayerRecord`] the store keeps.

use crate::game::rules::KindUsage;
use crate::store::{
    DailyLimits, PlayerRecord, PropsState, RainRecord, RevivalRecord, TreeCertificate,
    VitalityRecord,
};
use bevy_ecs::bundle::Bundle;
use bevy_ecs::component::Component;
use canopy_shared::model::Certificate;
use canopy_shared::{BallId, Millis, PlayerId};
use compact_str::CompactString;
use std::collections::BTreeMap;

/// Who the player is.
#[derive(Component, Clone, Debug)]
pub struct Profile {
    /// The player's id.
    pub id: PlayerId,
    /// Display name.
    pub name: CompactString,
    /// Registration time.
    pub created_at: Millis,
}

/// The player's energy.
#[derive(Component, Clone, Debug, Default)]
pub struct Wallet {
    /// Balance in grams.
    pub energy: u64,
    /// All energy ever collected.
    pub total_collected: u64,
    /// The week `week_collected` counts for.
    pub week: i64,
    /// Energy collected in `week`.
    pub week_collected: u64,
}

/// Green actions the player reported, for caps and the day's step ball.
#[derive(Component, Clone, Debug, Default)]
pub struct ActionLog {
    /// The game day `usage` counts today for.
    pub day: i64,
    /// The month `usage` counts this month for.
    pub month: i32,
    /// Usage per kind.
    pub usage: BTreeMap<String, KindUsage>,
    /// Today's growing ball of each step kind.
    pub step_balls: BTreeMap<String, BallId>,
    /// Step reports refused as implausible.
    pub implausible_reports: u32,
}

/// Props held and in effect.
#[derive(Component, Clone, Debug, Default)]
pub struct Props(pub PropsState);

/// Certificates earned, oldest first.
#[derive(Component, Clone, Debug, Default)]
pub struct Certificates(pub Vec<Certificate>);

/// The player's social counters: today's steal and watering limits, the feed sequence.
#[derive(Component, Clone, Debug, Default)]
pub struct SocialLog {
    /// Today's counts.
    pub limits: DailyLimits,
    /// The sequence number of the next feed entry.
    pub feed_next: u64,
}

/// The player's vitality and shop counters, stored as a record of their own.
#[derive(Component, Clone, Debug, Default)]
pub struct Vitality(pub VitalityRecord);

/// The player's revivable expired balls and revivals today, stored as a record of
/// their own.
#[derive(Component, Clone, Debug, Default)]
pub struct Revivals(pub RevivalRecord);
/// The player's energy rain: today's rounds and chances and the round in flight,
/// stored as a record of its own.
#[derive(Component, Clone, Debug, Default)]
pub struct Rain(pub RainRecord);

/// The player's live balls, in creation order. Rebuilt from the balls at start.
#[derive(Component, Clone, Debug, Default)]
pub struct OwnedBalls(pub Vec<BallId>);

/// Everything a player entity is spawned with.
#[derive(Bundle)]
pub struct PlayerBundle {
    profile: Profile,
    wallet: Wallet,
    log: ActionLog,
    props: Props,
    certificates: Certificates,
    social: SocialLog,
    vitality: Vitality,
    revivals: Revivals,
    rain: Rain,
    balls: OwnedBalls,
    risk: crate::game::risk::RiskLog,
}

impl PlayerBundle {
    /// A player's components from their stored record.
    pub fn from_record(record: PlayerRecord) -> Self {
        Self {
            profile: Profile {
                id: record.id,
                name: record.name,
                created_at: record.created_at,
            },
            wallet: Wallet {
                energy: record.energy,
                total_collected: record.total_collected,
                week: record.week,
                week_collected: record.week_collected,
            },
            log: ActionLog {
                day: record.usage_day,
                month: record.usage_month,
                usage: record.usage,
                step_balls: record.step_balls,
                implausible_reports: record.implausible_reports,
            },
            props: Props(record.props),
            certificates: Certificates(
                record
                    .certificates
                    .into_iter()
                    .map(Certificate::from)
                    .collect(),
            ),
            social: SocialLog {
                limits: record.limits,
                feed_next: record.feed_next,
            },
            vitality: Vitality(VitalityRecord {
                player: record.id,
                ..VitalityRecord::default()
            }),
            revivals: Revivals(RevivalRecord {
                player: record.id,
                ..RevivalRecord::default()
            }),
            rain: Rain(RainRecord {
                player: record.id,
                ..RainRecord::default()
            }),
            balls: OwnedBalls::default(),
            risk: crate::game::risk::RiskLog::default(),
        }
    }
}

/// Reassembles the stored record from a player's components.
pub fn to_record(
    profile: &Profile,
    wallet: &Wallet,
    log: &ActionLog,
    props: &Props,
    certificates: &Certificates,
    social: &SocialLog,
) -> PlayerRecord {
    PlayerRecord {
        id: profile.id,
        name: profile.name.clone(),
        legacy_token_hash: [0; 32],
        created_at: profile.created_at,
        energy: wallet.energy,
        total_collected: wallet.total_collected,
        week: wallet.week,
        week_collected: wallet.week_collected,
        usage_day: log.day,
        usage_month: log.month,
        usage: log.usage.clone(),
        step_balls: log.step_balls.clone(),
        implausible_reports: log.implausible_reports,
        props: props.0.clone(),
        certificates: certificates
            .0
            .iter()
            .filter_map(TreeCertificate::of)
            .collect(),
        limits: social.limits.clone(),
        feed_next: social.feed_next,
    }
}
