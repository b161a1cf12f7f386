//! `partner-replay`: a partner's signed report captured and sent again. The exact
//! request replayed is refused at the partner gate (its nonce was served: 401); signed
//! afresh under new refs and sent as a burst it passes the gate and reaches the game,
//! where the kind's daily cap and `partner_velocity` stop it.

use crate::admin::OpsClient;
use crate::error::CliError;
use crate::partner::signed_headers;
use canopy_shared::admin::PartnerAction;
use canopy_shared::partner::{NewPartner, PartnerKey};
use canopy_shared::reply::RecordActionResult;
use canopy_shared::{ErrorCode, PlayerId};
use std::sync::Arc;

/// The kind the partner reports (daily cap 5 by default).
const KIND: &str = "metro";
/// Copies sent in the burst after the captured report.
const BURST: usize = 8;
const PATH: &str = "/partner/v1/actions";

/// What the replays met.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replays {
    /// Exact replays refused by the partner gate.
    pub refused_at_gate: u64,
    /// Burst copies credited (up to the cap).
    pub credited: u64,
    /// Burst copies refused with `RISK_DENIED`.
    pub denied: u64,
    /// Anything else (the first failure is in the notes).
    pub other: u64,
}

/// Registers the partner whose reports are replayed; answers its id and API key.
pub async fn register_partner(ops: Arc<OpsClient>, seed: u64) -> Result<(u64, String), CliError> {
    let partner = NewPartner {
        name: format!("Replayed Metro {seed}"),
        kinds: vec![KIND.to_owned()],
        may_publish_tasks: false,
        rate_per_minute: 60_000,
    };
    let (key, _): (PartnerKey, _) =
        blocking(move || ops.post("/admin/partners", Some(&partner))).await?;
    Ok((key.partner.partner_id.0, key.api_key))
}

/// For each player: the partner's report, its exact replay, then a burst of copies
/// under new refs.
pub async fn replay(
    ops: Arc<OpsClient>,
    partner: (u64, String),
    players: Vec<PlayerId>,
    seed: u64,
) -> Result<(Replays, Vec<String>), CliError> {
    blocking(move || {
        let (id, key) = partner;
        let mut replays = Replays::default();
        let mut failures = Vec::new();
        for player in players {
            let first = Signed::new(id, &key, player, format!("ride-{seed}-{player}-0"))?;
            first.post(&ops)?;
            match first.post(&ops) {
                Err(CliError::Server(refused)) if refused.code == ErrorCode::Unauthenticated => {
                    replays.refused_at_gate += 1;
                }
                other => failures.push(format!("an exact replay was answered {other:?}")),
            }
            for copy in 1..=BURST {
                let again = Signed::new(id, &key, player, format!("ride-{seed}-{player}-{copy}"))?;
                match again.post(&ops) {
                    Ok(_) => replays.credited += 1,
                    Err(CliError::Server(refused)) if refused.code == ErrorCode::RiskDenied => {
                        replays.denied += 1;
                    }
                    Err(err) => {
                        replays.other += 1;
                        failures.push(format!("a burst copy failed: {err}"));
                    }
                }
            }
        }
        failures.truncate(1);
        Ok((replays, failures))
    })
    .await
}

/// A partner report signed once: sending it twice is a replay.
struct Signed {
    headers: Vec<(&'static str, String)>,
    body: String,
}

impl Signed {
    /// The partner's report of a metro ride of `player` under `reference`, signed now.
    fn new(id: u64, key: &str, player: PlayerId, reference: String) -> Result<Self, CliError> {
        let body = serde_json::to_string(&PartnerAction {
            player_id: player,
            kind: KIND.to_owned(),
            quantity: None,
            reference,
        })
        .map_err(|err| CliError::Local(format!("cannot encode a report: {err}")))?;
        Ok(Self {
            headers: signed_headers(id, key, "POST", PATH, &body),
            body,
        })
    }

    fn post(&self, ops: &OpsClient) -> Result<(RecordActionResult, serde_json::Value), CliError> {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect();
        ops.post_signed(PATH, &headers, &self.body)
    }
}

/// Runs a blocking ops call off the async threads.
pub async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, CliError> + Send + 'static,
) -> Result<T, CliError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|err| CliError::Local(format!("an ops call failed: {err}")))?
}
