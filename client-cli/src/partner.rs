//! `canopy partner` and `canopy admin partner`: the partner API from a terminal, with
//! every request signed as docs/PARTNERS.md describes, and the ops commands that
//! manage partners.

use crate::admin::OpsClient;
use crate::cli::{PartnerAdminCommand, PartnerArgs, PartnerCommand};
use crate::commands::OutputMode;
use crate::error::CliError;
use canopy_shared::partner::{
    self, NONCE_HEADER, PARTNER_HEADER, PartnerAudit, PartnerKey, PartnerList, PartnerView,
    SIGNATURE_HEADER, Signing, TIMESTAMP_HEADER,
};
use canopy_shared::reply::RecordActionResult;
use serde_json::Value;
use std::time::{SystemTime, UNIX_EPOCH};

/// The signature headers of a request signed now with a fresh nonce.
pub fn signed_headers(
    partner_id: u64,
    api_key: &str,
    method: &str,
    path: &str,
    body: &str,
) -> Vec<(&'static str, String)> {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let nonce = partner::to_hex(&rand::random::<[u8; 16]>());
    let signing = Signing {
        method,
        path,
        timestamp,
        nonce: &nonce,
    };
    let signature = partner::signature(&partner::key_digest(api_key), &signing, body.as_bytes());
    vec![
        (PARTNER_HEADER, partner_id.to_string()),
        (TIMESTAMP_HEADER, timestamp.to_string()),
        (NONCE_HEADER, nonce),
        (SIGNATURE_HEADER, signature),
    ]
}

/// Runs one `canopy partner` call and returns what to print.
pub fn execute(
    client: &OpsClient,
    args: &PartnerArgs,
    output: OutputMode,
) -> Result<String, CliError> {
    match &args.command {
        PartnerCommand::Sign { method, path, body } => {
            let headers = signed_headers(args.partner_id, &args.partner_key, method, path, body);
            Ok(headers
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .collect::<Vec<_>>()
                .join("\n"))
        }
        PartnerCommand::Action(action) => {
            let (result, raw): (RecordActionResult, _) =
                signed_post(client, args, "/partner/v1/actions", &action.to_action())?;
            Ok(match output {
                OutputMode::Json => raw.to_string(),
                OutputMode::Human => format!(
                    "Player #{}, {}: {} g credited{}.",
                    action.player,
                    action.kind,
                    result.grams,
                    result
                        .ball
                        .map(|ball| format!(" (ball #{})", ball.ball_id))
                        .unwrap_or_default()
                ),
            })
        }
    }
}

/// POSTs `body` to `path`, signed as the partner.
fn signed_post<T: serde::de::DeserializeOwned>(
    client: &OpsClient,
    args: &PartnerArgs,
    path: &str,
    body: &impl serde::Serialize,
) -> Result<(T, Value), CliError> {
    let text = serde_json::to_string(body)
        .map_err(|err| CliError::Local(format!("cannot encode the request: {err}")))?;
    let headers = signed_headers(args.partner_id, &args.partner_key, "POST", path, &text);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (*name, value.as_str()))
        .collect();
    client.post_signed(path, &headers, &text)
}

/// One partner in a line of human text.
fn describe(partner: &PartnerView) -> String {
    format!(
        "#{} {} [{:?}] kinds: {}; tasks: {}; {} requests/min; key v{}",
        partner.partner_id,
        partner.name,
        partner.status,
        if partner.kinds.is_empty() {
            "none".to_owned()
        } else {
            partner.kinds.join(", ")
        },
        if partner.may_publish_tasks {
            "yes"
        } else {
            "no"
        },
        partner.rate_per_minute,
        partner.key_version
    )
}

/// Runs one `canopy admin partner` command and returns what to print.
pub fn execute_admin(
    client: &OpsClient,
    command: &PartnerAdminCommand,
    output: OutputMode,
) -> Result<String, CliError> {
    let json = output == OutputMode::Json;
    let with_key = |(created, raw): (PartnerKey, Value)| {
        if json {
            raw.to_string()
        } else {
            format!(
                "{}\nAPI key (shown only now; keep it secret): {}",
                describe(&created.partner),
                created.api_key
            )
        }
    };
    let one = |(partner, raw): (PartnerView, Value)| {
        if json {
            raw.to_string()
        } else {
            describe(&partner)
        }
    };
    match command {
        PartnerAdminCommand::Add {
            name,
            kinds,
            rate,
            tasks,
        } => {
            let new = partner::NewPartner {
                name: name.clone(),
                kinds: kinds.clone(),
                may_publish_tasks: *tasks,
                rate_per_minute: *rate,
            };
            client.post("/admin/partners", Some(&new)).map(with_key)
        }
        PartnerAdminCommand::List => {
            let (list, raw): (PartnerList, _) = client.get_admin("/admin/partners")?;
            Ok(if json {
                raw.to_string()
            } else if list.partners.is_empty() {
                "No partners.".to_owned()
            } else {
                list.partners
                    .iter()
                    .map(describe)
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        PartnerAdminCommand::RotateKey { partner } => client
            .post(
                &format!("/admin/partners/{partner}/rotate-key"),
                None::<&()>,
            )
            .map(with_key),
        PartnerAdminCommand::Suspend { partner } => client
            .post(&format!("/admin/partners/{partner}/suspend"), None::<&()>)
            .map(one),
        PartnerAdminCommand::Activate { partner } => client
            .post(&format!("/admin/partners/{partner}/activate"), None::<&()>)
            .map(one),
        PartnerAdminCommand::Audit { partner, limit } => {
            let (audit, raw): (PartnerAudit, _) =
                client.get_admin(&format!("/admin/partners/{partner}/audit?limit={limit}"))?;
            Ok(if json {
                raw.to_string()
            } else if audit.entries.is_empty() {
                format!("No calls from partner #{partner} yet.")
            } else {
                audit
                    .entries
                    .iter()
                    .map(|entry| {
                        format!(
                            "{:>5} {} {} ref={} player=#{} -> {} ({} g)",
                            entry.seq,
                            entry.time,
                            entry.call,
                            entry.reference,
                            entry
                                .player_id
                                .map_or_else(|| "-".to_owned(), |player| player.to_string()),
                            entry.result,
                            entry.grams
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_headers_verify_with_the_same_key_only() {
        let body = r#"{"player_id":1,"kind":"metro","ref":"r"}"#;
        let headers = signed_headers(3, "cpk_abc", "POST", "/partner/v1/actions", body);
        let value = |name: &str| {
            headers
                .iter()
                .find(|(header, _)| *header == name)
                .map(|(_, value)| value.clone())
                .unwrap_or_default()
        };
        assert_eq!(value(PARTNER_HEADER), "3");
        let (timestamp, nonce) = (value(TIMESTAMP_HEADER), value(NONCE_HEADER));
        assert!(partner::is_valid_nonce(&nonce), "{nonce}");
        let signing = Signing {
            method: "POST",
            path: "/partner/v1/actions",
            timestamp: timestamp.parse().unwrap_or_default(),
            nonce: &nonce,
        };
        let signature = value(SIGNATURE_HEADER);
        let key = partner::key_digest("cpk_abc");
        assert!(partner::verify(&key, &signing, body.as_bytes(), &signature));
        let other = partner::key_digest("cpk_abd");
        assert!(!partner::verify(
            &other,
            &signing,
            body.as_bytes(),
            &signature
        ));
    }
}
