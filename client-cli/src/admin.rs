//! Operator commands over the ops HTTP: the manual clock, props, the partner channel,
//! reload, tick rate, backups, health and metrics.

use crate::cli::AdminCommand;
use crate::commands::OutputMode;
use crate::error::CliError;
use crate::names::Names;
use crate::render::{self, View};
use crate::time_text::format_duration;
use crate::trust::Trust;
use canopy_shared::admin::{
    AdminError, AuditLog, AuditReport, BackupReport, BackupRequest, ClockAdvance, ClockTime,
    ClusterAuditReport, GrantProps, RevokeTokens, TickRate,
};
use canopy_shared::model::PropKind;
use canopy_shared::reply::{LogoutAllResult, PropsResult, RecordActionResult};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::time::Duration;

/// How long one ops call may take.
const OPS_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a backup may take: the server copies the whole store.
const BACKUP_TIMEOUT: Duration = Duration::from_secs(3600);

/// A client of one server's ops HTTP.
pub struct OpsClient {
    /// `http://host:port`, without a trailing slash.
    base: String,
    /// The admin bearer token, when one was given.
    admin_token: Option<String>,
    agent: ureq::Agent,
}

/// An answer: the status and the body text.
struct Answer {
    status: u16,
    body: String,
}

impl OpsClient {
    /// A client for `base` (`http://127.0.0.1:7879`; a missing scheme means `http://`;
    /// `https://` trusts `trust`'s roots).
    pub fn new(base: &str, admin_token: Option<String>, trust: &Trust) -> Result<Self, CliError> {
        let base = normalize_ops_url(base)?;
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(OPS_TIMEOUT));
        if base.starts_with("https://") {
            config = config.tls_config(trust.ureq_config()?);
        }
        let agent: ureq::Agent = config.build().into();
        Ok(Self {
            base,
            admin_token,
            agent,
        })
    }

    fn unreachable(&self, err: &ureq::Error) -> CliError {
        CliError::Connection(format!("cannot reach the ops HTTP at {}: {err}", self.base))
    }

    fn get(&self, path: &str) -> Result<Answer, CliError> {
        self.get_with(path, &[])
    }

    fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Result<Answer, CliError> {
        let mut request = self.agent.get(format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.call().map_err(|err| self.unreachable(&err))?;
        self.answer(response)
    }

    fn answer(&self, mut response: ureq::http::Response<ureq::Body>) -> Result<Answer, CliError> {
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .map_err(|err| self.unreachable(&err))?;
        Ok(Answer { status, body })
    }

    fn bearer(&self) -> Result<String, CliError> {
        let token = self.admin_token.as_deref().ok_or_else(|| {
            CliError::Usage(
                "admin calls need the admin token: --admin-token or CANOPY_ADMIN_TOKEN".into(),
            )
        })?;
        Ok(format!("Bearer {token}"))
    }

    /// GETs an open call (no token) and types its JSON answer.
    pub(crate) fn get_open<T: DeserializeOwned>(&self, path: &str) -> Result<(T, Value), CliError> {
        let answer = self.get(path)?;
        typed(path, &answer)
    }

    /// The ops URL this client calls, `http://host:port`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// GETs an admin call and types its JSON answer.
    pub(crate) fn get_admin<T: DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<(T, Value), CliError> {
        let bearer = self.bearer()?;
        let answer = self.get_with(path, &[("Authorization", &bearer)])?;
        typed(path, &answer)
    }

    /// POSTs an admin call and types its JSON answer; error answers become
    /// [`CliError::Server`].
    pub(crate) fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(T, Value), CliError> {
        self.post_within(path, body, OPS_TIMEOUT)
    }

    /// [`OpsClient::post`] with its own deadline, for calls that take long (backups).
    fn post_within<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Option<&impl Serialize>,
        timeout: Duration,
    ) -> Result<(T, Value), CliError> {
        let bearer = self.bearer()?;
        let text = match body {
            Some(body) => serde_json::to_string(body)
                .map_err(|err| CliError::Local(format!("cannot encode the request: {err}")))?,
            None => "{}".to_owned(),
        };
        let answer = self.post_text(path, &[("Authorization", &bearer)], &text, timeout)?;
        typed(path, &answer)
    }

    /// POSTs a body as it is, with the given headers (a partner's signature), and
    /// types the JSON answer.
    pub(crate) fn post_signed<T: DeserializeOwned>(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Result<(T, Value), CliError> {
        let answer = self.post_text(path, headers, body, OPS_TIMEOUT)?;
        typed(path, &answer)
    }

    fn post_text(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
        timeout: Duration,
    ) -> Result<Answer, CliError> {
        let mut request = self
            .agent
            .post(format!("{}{path}", self.base))
            .config()
            .timeout_global(Some(timeout))
            .build();
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .content_type("application/json")
            .send(body)
            .map_err(|err| self.unreachable(&err))?;
        self.answer(response)
    }
}

/// Types a JSON answer; error answers become [`CliError::Server`] (or
/// [`CliError::Http`] without an error object).
fn typed<T: DeserializeOwned>(path: &str, answer: &Answer) -> Result<(T, Value), CliError> {
    let value: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    if !(200..300).contains(&answer.status) {
        return Err(match serde_json::from_value::<AdminError>(value) {
            Ok(AdminError { error }) => CliError::Server(error),
            Err(_) => CliError::Http {
                status: answer.status,
                body: answer.body.clone(),
            },
        });
    }
    let typed = serde_json::from_value(value.clone()).map_err(|err| {
        CliError::Connection(format!(
            "the ops answer to {path} does not have the expected shape: {err} ({})",
            answer.body
        ))
    })?;
    Ok((typed, value))
}

/// `http://host:port` (or `https://`) from what the user typed: adds `http://` when no
/// scheme is given and drops a trailing slash.
pub fn normalize_ops_url(text: &str) -> Result<String, CliError> {
    let text = text.trim().trim_end_matches('/');
    if text.is_empty() {
        return Err(CliError::Usage("the ops URL is empty".into()));
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        Ok(text.to_owned())
    } else if text.contains("://") {
        Err(CliError::Usage(format!(
            "`{text}` is not an http:// or https:// URL"
        )))
    } else {
        Ok(format!("http://{text}"))
    }
}

/// Runs one admin command and returns what to print.
pub fn execute(
    client: &OpsClient,
    command: &AdminCommand,
    output: OutputMode,
    utc_offset: i32,
) -> Result<String, CliError> {
    let names = Names::default();
    let view = View {
        names: &names,
        me: None,
        now: None,
        utc_offset,
    };
    let json = output == OutputMode::Json;
    match command {
        AdminCommand::Advance { by_ms } => {
            let (clock, raw): (ClockTime, _) =
                client.post("/admin/clock/advance", Some(&ClockAdvance { ms: *by_ms }))?;
            Ok(if json {
                raw.to_string()
            } else {
                format!(
                    "Game clock moved {} forward: now {} ({}).",
                    format_duration(*by_ms),
                    view.date(clock.time),
                    clock.time
                )
            })
        }
        AdminCommand::GrantProp {
            player,
            prop,
            count,
        } => {
            let prop = PropKind::from(*prop);
            let grant = GrantProps {
                player_id: *player,
                prop,
                count: *count,
            };
            let (props, raw): (PropsResult, _) = client.post("/admin/props", Some(&grant))?;
            Ok(if json {
                raw.to_string()
            } else {
                format!(
                    "Granted {count} {} to player #{player}. Their props: {}.",
                    prop.as_str(),
                    view.props(&props.props)
                )
            })
        }
        AdminCommand::Action(args) => {
            let (result, raw): (RecordActionResult, _) =
                client.post("/admin/actions", Some(&args.to_action()))?;
            Ok(if json {
                raw.to_string()
            } else {
                format!(
                    "Player #{}, {}: {}",
                    args.player,
                    args.kind,
                    render::record_action(&result, &view)
                )
            })
        }
        AdminCommand::RevokeTokens { player } => {
            let revoke = RevokeTokens { player_id: *player };
            let (ended, raw): (LogoutAllResult, _) =
                client.post("/admin/revoke-tokens", Some(&revoke))?;
            Ok(if json {
                raw.to_string()
            } else {
                format!(
                    "Revoked {} of player #{player}; their connections are closed.",
                    render::plural(ended.revoked as usize, "token", "tokens")
                )
            })
        }
        AdminCommand::Audit { cluster } => audit(client, *cluster, json),
        AdminCommand::AuditLog { limit } => {
            let (log, raw): (AuditLog, _) =
                client.get_admin(&format!("/admin/audit-log?limit={limit}"))?;
            Ok(if json {
                raw.to_string()
            } else if log.calls.is_empty() {
                "No ops calls recorded.".to_owned()
            } else {
                log.calls
                    .iter()
                    .map(|call| {
                        format!(
                            "{}  {}  {} {} {}  -> {}",
                            view.date(call.at),
                            call.token.as_deref().unwrap_or("(no known token)"),
                            call.method,
                            call.path,
                            call.body,
                            call.status
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
        }
        AdminCommand::Reload => {
            let (_, raw): (Value, _) = client.post("/admin/reload", None::<&()>)?;
            Ok(if json {
                raw.to_string()
            } else {
                "Config reloaded.".to_owned()
            })
        }
        AdminCommand::TickRate { hz } => {
            let (_, raw): (Value, _) =
                client.post("/admin/tick-rate", Some(&TickRate { hz: *hz }))?;
            Ok(if json {
                raw.to_string()
            } else {
                format!("Tick rate set to {hz} Hz.")
            })
        }
        AdminCommand::Backup { to } => {
            // The server writes the file: a relative path means this shell's directory.
            let to = std::path::absolute(to).map_err(|err| {
                CliError::Local(format!("cannot resolve {}: {err}", to.display()))
            })?;
            let to = to
                .to_str()
                .ok_or_else(|| CliError::Usage(format!("{} is not valid UTF-8", to.display())))?;
            let request = BackupRequest { to: to.to_owned() };
            let (report, raw): (BackupReport, _) =
                client.post_within("/admin/backup", Some(&request), BACKUP_TIMEOUT)?;
            Ok(if json {
                raw.to_string()
            } else {
                format!(
                    "Backup written to {}: {} bytes, {} records ({} commits replayed), \
                     sha256 {}.",
                    report.path,
                    report.bytes,
                    report.records,
                    report.commits_replayed,
                    report.sha256
                )
            })
        }
        AdminCommand::Health => {
            let answer = client.get("/healthz")?;
            let body = answer.body.trim().to_owned();
            if answer.status != 200 {
                return Err(CliError::Http {
                    status: answer.status,
                    body,
                });
            }
            Ok(if json {
                serde_json::json!({"status": answer.status, "body": body}).to_string()
            } else {
                body
            })
        }
        AdminCommand::Partner(command) => crate::partner::execute_admin(client, command, output),
        AdminCommand::Risk(command) => crate::risk_admin::execute(client, command, json, &view),
        AdminCommand::Metrics { filter } => {
            let answer = client.get("/metrics")?;
            if answer.status != 200 {
                return Err(CliError::Http {
                    status: answer.status,
                    body: answer.body,
                });
            }
            Ok(match filter {
                Some(filter) => answer
                    .body
                    .lines()
                    .filter(|line| line.contains(filter.as_str()))
                    .collect::<Vec<_>>()
                    .join("\n"),
                None => answer.body.trim_end().to_owned(),
            })
        }
    }
}

/// `canopy admin audit [--cluster]`: the conservation audit, of one server or of every
/// shard with the grams and props in flight between them.
fn audit(client: &OpsClient, cluster: bool, json: bool) -> Result<String, CliError> {
    if cluster {
        let (report, raw): (ClusterAuditReport, _) =
            client.get_admin("/admin/audit?cluster=true")?;
        return Ok(if json {
            raw.to_string()
        } else {
            let tasks = &report.task_grams;
            let budgets = if tasks.budget > 0 {
                format!(
                    "; task budgets {} g = unallotted {} g + on the shards {} g + stranded {} g",
                    tasks.budget, tasks.unallotted, tasks.on_shards, tasks.stranded
                )
            } else {
                String::new()
            };
            audit_text(
                report.balanced,
                &format!(
                    "{} shards: created {} g = held {} g + in flight {} g ({} messages, \
                     {} props in flight); consistent cut after {} read(s){budgets}",
                    report.shards.len(),
                    report.created,
                    report.accounted,
                    report.in_flight,
                    report.transfers_in_flight,
                    report.props_in_flight,
                    report.rounds
                ),
                &report.problems,
            )
        });
    }
    let (report, raw): (AuditReport, _) = client.get_admin("/admin/audit")?;
    Ok(if json {
        raw.to_string()
    } else {
        audit_text(
            report.balanced,
            &format!(
                "created {} g: balances {} g, balls {} g, team trees {} g, planted {} g, \
                 expired {} g, held {} g, forfeited {} g; sent to other shards {} g, \
                 arrived {} g",
                report.created,
                report.balances,
                report.in_balls,
                report.in_team_trees,
                report.planted,
                report.expired,
                report.held,
                report.forfeited,
                report.sent_to_shards,
                report.arrived_from_shards
            ),
            &report.problems,
        )
    })
}

fn audit_text(balanced: bool, summary: &str, problems: &[String]) -> String {
    let verdict = if balanced { "Balanced" } else { "NOT balanced" };
    std::iter::once(format!("{verdict}: {summary}"))
        .chain(problems.iter().map(|problem| format!("  - {problem}")))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ops_urls_are_normalized() -> Result<(), CliError> {
        assert_eq!(
            normalize_ops_url("127.0.0.1:7879")?,
            "http://127.0.0.1:7879"
        );
        assert_eq!(
            normalize_ops_url("http://127.0.0.1:7879/")?,
            "http://127.0.0.1:7879"
        );
        assert_eq!(
            normalize_ops_url("https://ops.example.test/")?,
            "https://ops.example.test"
        );
        assert!(normalize_ops_url("ws://127.0.0.1:7878").is_err());
        assert!(normalize_ops_url(" ").is_err());
        Ok(())
    }

    #[test]
    fn admin_calls_without_a_token_are_refused_locally() -> Result<(), CliError> {
        let client = OpsClient::new("127.0.0.1:1", None, &Trust::default())?;
        let outcome = execute(&client, &AdminCommand::Reload, OutputMode::Human, 480);
        assert!(matches!(outcome, Err(CliError::Usage(_))), "{outcome:?}");
        Ok(())
    }
}
