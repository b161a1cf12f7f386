//! Identifiers. Commands and events name things by id, never by entity or index, so a
//! player can later live on another shard without the protocol changing.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Milliseconds since the Unix epoch, on the game clock.
pub type Millis = u64;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id_type!(
    /// A player, as the protocol names them (`player_id`, `friend_id`, `owner`).
    PlayerId
);
id_type!(
    /// An energy ball.
    BallId
);
id_type!(
    /// A co-planting team.
    TeamId
);
id_type!(
    /// A planting certificate.
    CertificateId
);
id_type!(
    /// A partner of the partner API (a payment, transit or bill company).
    PartnerId
);
id_type!(
    /// A risk flag of the review queue.
    FlagId
);
id_type!(
    /// A task of the task center.
    TaskId
);
id_type!(
    /// A campaign of the post-action rules engine.
    CampaignId
);
