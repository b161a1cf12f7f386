//! Who may make which ops call: named ops tokens with roles, held only as SHA-256 hashes
//! and compared in constant time, and the refusal to serve the built-in default token
//! anywhere but loopback.
//!
//! `server.admin_token` (or `CANOPY_ADMIN_TOKEN`) stays an `admin` token, so configs and
//! scripts written before roles existed keep working; `[[ops.tokens]]` adds named ones.

use crate::config::{Config, ConfigError};
use axum::http::HeaderMap;
use canopy_shared::ErrorCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::fmt;
use std::net::SocketAddr;
use thiserror::Error;

/// The admin token of the embedded config: public knowledge, so fit for loopback only.
pub const DEFAULT_ADMIN_TOKEN: &str = "canopy-admin";

/// The name the legacy `server.admin_token` goes by (in messages and logs).
const ADMIN_TOKEN_NAME: &str = "server.admin_token";

/// What an ops token may do. Each role includes the ones below it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Read-only views: the audit (health and metrics need no token at all).
    Viewer,
    /// A viewer who also works the risk review queue (when it exists).
    Reviewer,
    /// Everything, including every call that changes the game or the server.
    Admin,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Viewer => "viewer",
            Self::Reviewer => "reviewer",
            Self::Admin => "admin",
        })
    }
}

/// The token an ops call was made with, once recognized.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The token's name (`ops.tokens[].name`, or `server.admin_token`), for logs.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// Why an ops call was refused.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum Refusal {
    /// No bearer token, or one no configured token hashes to: 401.
    #[error("ops calls need `Authorization: Bearer <ops token>` with a token the server knows")]
    Unknown,
    /// A known token whose role is too low for the call: 403.
    #[error("this call needs the `{needed}` role; the token `{name}` has `{held}`")]
    Forbidden {
        /// The role the call needs.
        needed: Role,
        /// The token's name.
        name: String,
        /// The role it has.
        held: Role,
    },
}

impl Refusal {
    /// The protocol code to answer with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unknown => ErrorCode::Unauthenticated,
            Self::Forbidden { .. } => ErrorCode::Forbidden,
        }
    }
}

/// The bearer token of a request, if it carries one.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
}

/// The SHA-256 of a token as lowercase hex: what `ops.tokens[].sha256` holds, so the
/// config file never holds the secret itself.
pub fn sha256_hex(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Parses 64 hex digits (either case) into a SHA-256 digest.
pub fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (byte, pair) in digest.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(digest)
}

/// Equality that takes the same time wherever the digests differ.
fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Every token of the config as (name, role, digest): the legacy admin token first
/// (unless it is empty, which turns it off), then `ops.tokens`.
fn known_tokens(config: &Config) -> impl Iterator<Item = (&str, Role, [u8; 32])> {
    let admin = &config.server.admin_token;
    let legacy = (!admin.is_empty()).then(|| {
        let digest: [u8; 32] = Sha256::digest(admin.as_bytes()).into();
        (ADMIN_TOKEN_NAME, Role::Admin, digest)
    });
    // Validation refused any hash that does not parse, so none is skipped here.
    let named = config.ops.tokens.iter().filter_map(|token| {
        parse_sha256_hex(&token.sha256).map(|digest| (token.name.as_str(), token.role, digest))
    });
    legacy.into_iter().chain(named)
}

/// Which configured token `given` is. Every token is compared, matched or not, so the
/// time taken says nothing about which one (if any) matched.
pub fn identify(config: &Config, given: Option<&str>) -> Result<Caller, Refusal> {
    let given: [u8; 32] = Sha256::digest(given.ok_or(Refusal::Unknown)?.as_bytes()).into();
    let mut found = None;
    for (name, role, digest) in known_tokens(config) {
        if same_digest(&digest, &given) && found.is_none() {
            found = Some(Caller {
                name: name.to_owned(),
                role,
            });
        }
    }
    found.ok_or(Refusal::Unknown)
}

/// The caller, if `given` is a known token holding at least the `needed` role.
pub fn authorize(config: &Config, given: Option<&str>, needed: Role) -> Result<Caller, Refusal> {
    let caller = identify(config, given)?;
    if caller.role < needed {
        return Err(Refusal::Forbidden {
            needed,
            name: caller.name,
            held: caller.role,
        });
    }
    Ok(caller)
}

/// Whether only this machine can reach `addr`: 127.0.0.0/8 and ::1 (also as an
/// IPv4-mapped address). `0.0.0.0`, `::` and every other address are public.
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().to_canonical().is_loopback()
}

/// Refuses a config that would serve the built-in default token on a non-loopback
/// address (at start, and at reload with the addresses the server listens on), with a
/// message that says how to set a token of one's own.
pub fn refuse_default_token_beyond_loopback(
    config: &Config,
    listening: &[SocketAddr],
) -> Result<(), ConfigError> {
    let Some(public) = listening.iter().find(|addr| !is_loopback(addr)) else {
        return Ok(());
    };
    let default: [u8; 32] = Sha256::digest(DEFAULT_ADMIN_TOKEN.as_bytes()).into();
    let field = if config.server.admin_token == DEFAULT_ADMIN_TOKEN {
        Some(ADMIN_TOKEN_NAME.to_owned())
    } else {
        config
            .ops
            .tokens
            .iter()
            .enumerate()
            .find_map(|(index, token)| {
                parse_sha256_hex(&token.sha256)
                    .filter(|digest| same_digest(digest, &default))
                    .map(|_| format!("ops.tokens[{index}].sha256"))
            })
    };
    match field {
        None => Ok(()),
        Some(field) => Err(ConfigError::Invalid {
            field,
            reason: format!(
                "is the built-in default token `{DEFAULT_ADMIN_TOKEN}`, which anyone can \
                 use, and the server listens on the non-loopback address {public}. Set your \
                 own admin token: CANOPY_ADMIN_TOKEN=\"$(openssl rand -hex 32)\" in the \
                 environment, or `admin_token` under [server] in your --config file (or \
                 set it to \"\" and use named [[ops.tokens]]); see docs/SECURITY.md. \
                 Or listen on 127.0.0.1 only"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OpsToken;

    fn config_with(tokens: &[(&str, Role, &str)]) -> Config {
        let mut config = Config::default_embedded();
        config.ops.tokens = tokens
            .iter()
            .map(|(name, role, secret)| OpsToken {
                name: (*name).to_owned(),
                role: *role,
                sha256: sha256_hex(secret),
            })
            .collect();
        config
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("a test address parses")
    }

    #[test]
    fn the_embedded_config_holds_the_default_token() {
        assert_eq!(
            Config::default_embedded().server.admin_token,
            DEFAULT_ADMIN_TOKEN
        );
    }

    #[test]
    fn hashes_round_trip_through_hex() {
        let hex = sha256_hex("a-long-secret");
        assert_eq!(hex.len(), 64);
        let digest = parse_sha256_hex(&hex).expect("its own hex parses");
        assert_eq!(digest, <[u8; 32]>::from(Sha256::digest(b"a-long-secret")));
        assert_eq!(parse_sha256_hex(&hex.to_uppercase()), Some(digest));
        for bad in [
            "",
            "abc",
            &hex[..62],
            &format!("{}zz", &hex[..62]),
            &format!("+f{}", &hex[2..]),
        ] {
            assert_eq!(parse_sha256_hex(bad), None, "{bad}");
        }
    }

    #[test]
    fn each_role_reaches_its_calls_and_no_higher() {
        let config = config_with(&[
            ("grafana", Role::Viewer, "viewer-secret"),
            ("risk-desk", Role::Reviewer, "reviewer-secret"),
            ("oncall", Role::Admin, "admin-secret"),
        ]);
        for (secret, held) in [
            ("viewer-secret", Role::Viewer),
            ("reviewer-secret", Role::Reviewer),
            ("admin-secret", Role::Admin),
            (DEFAULT_ADMIN_TOKEN, Role::Admin),
        ] {
            for needed in [Role::Viewer, Role::Reviewer, Role::Admin] {
                let answer = authorize(&config, Some(secret), needed);
                if held >= needed {
                    assert_eq!(answer.map(|caller| caller.role), Ok(held));
                } else {
                    let refusal = answer.expect_err("a lower role is refused");
                    assert_eq!(refusal.code(), ErrorCode::Forbidden);
                    assert!(refusal.to_string().contains(&format!("`{needed}` role")));
                }
            }
        }
        let caller = identify(&config, Some("reviewer-secret")).expect("known");
        assert_eq!(caller.name, "risk-desk");
    }

    #[test]
    fn missing_and_unknown_tokens_are_unauthenticated() {
        let config = config_with(&[("grafana", Role::Viewer, "viewer-secret")]);
        for given in [None, Some(""), Some("viewer-secre"), Some("nope")] {
            let refusal = authorize(&config, given, Role::Viewer).expect_err("unknown");
            assert_eq!(refusal, Refusal::Unknown);
            assert_eq!(refusal.code(), ErrorCode::Unauthenticated);
        }
    }

    #[test]
    fn an_empty_admin_token_is_no_token() {
        let mut config = config_with(&[("oncall", Role::Admin, "admin-secret")]);
        config.server.admin_token = String::new();
        assert_eq!(
            identify(&config, Some("")),
            Err(Refusal::Unknown),
            "the empty bearer does not match the turned-off token"
        );
        assert_eq!(
            identify(&config, Some(DEFAULT_ADMIN_TOKEN)),
            Err(Refusal::Unknown)
        );
        assert!(identify(&config, Some("admin-secret")).is_ok());
    }

    #[test]
    fn only_127_8_and_ipv6_one_are_loopback() {
        for loopback in [
            "127.0.0.1:7879",
            "127.1.2.3:0",
            "[::1]:7879",
            "[::ffff:127.0.0.1]:1",
        ] {
            assert!(is_loopback(&addr(loopback)), "{loopback}");
        }
        for public in [
            "0.0.0.0:7879",
            "[::]:7879",
            "10.0.0.5:1",
            "192.168.1.2:1",
            "[2001:db8::1]:1",
            "[::ffff:10.0.0.1]:1",
        ] {
            assert!(!is_loopback(&addr(public)), "{public}");
        }
    }

    #[test]
    fn the_default_token_is_refused_beyond_loopback_only() {
        let config = Config::default_embedded();
        let loopback = [addr("127.0.0.1:7878"), addr("[::1]:7879")];
        assert!(refuse_default_token_beyond_loopback(&config, &loopback).is_ok());
        for public in ["0.0.0.0:7878", "[::]:7879", "192.168.1.2:7879"] {
            let listening = [addr("127.0.0.1:7878"), addr(public)];
            let err = refuse_default_token_beyond_loopback(&config, &listening)
                .expect_err("the default token on a public address is refused");
            let message = err.to_string();
            assert!(message.contains("server.admin_token"), "{message}");
            assert!(message.contains("CANOPY_ADMIN_TOKEN"), "{message}");
            assert!(message.contains(public), "{message}");
        }
        let mut own = config.clone();
        own.server.admin_token = "a-long-secret".into();
        let public = [addr("0.0.0.0:7878"), addr("0.0.0.0:7879")];
        assert!(refuse_default_token_beyond_loopback(&own, &public).is_ok());
        let mut smuggled = config_with(&[("old", Role::Viewer, DEFAULT_ADMIN_TOKEN)]);
        smuggled.server.admin_token = String::new();
        let err = refuse_default_token_beyond_loopback(&smuggled, &public)
            .expect_err("the default token is refused under any name");
        assert!(err.to_string().contains("ops.tokens[0].sha256"), "{err}");
    }
}
