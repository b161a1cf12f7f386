//! The partner API's contract: how a partner signs a request, the headers that carry
//! the signature, and the bodies of `/partner/v1/*` and `/admin/partners*`. The server
//! and `canopy partner` both sign with [`signature`], so they agree by construction.
//!
//! A request is signed with HMAC-SHA256 keyed by the SHA-256 of the partner's API key
//! (the digest the server stores; the key itself is never stored) over
//! [`canonical_request`]: the method, the path, the timestamp and the SHA-256 of the body.

use crate::ids::{Millis, PartnerId, PlayerId};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The header naming the partner (its decimal id).
pub const PARTNER_HEADER: &str = "x-canopy-partner";
/// The header carrying the request time, in whole seconds since the Unix epoch.
pub const TIMESTAMP_HEADER: &str = "x-canopy-timestamp";
/// The header carrying a fresh random string per request (8–64 letters, digits, `-`
/// or `_`), so that no two requests are signed alike.
pub const NONCE_HEADER: &str = "x-canopy-nonce";
/// The header carrying the signature, as 64 lowercase hex digits.
pub const SIGNATURE_HEADER: &str = "x-canopy-signature";
/// How far a request's timestamp may be from the server's clock, either way, in seconds.
pub const REPLAY_WINDOW_SECS: u64 = 300;
/// What every API key starts with, so a leaked one is recognisable in a scan.
pub const API_KEY_PREFIX: &str = "cpk_";

/// The SHA-256 of an API key: what the server stores, and the HMAC key of signatures.
pub fn key_digest(api_key: &str) -> [u8; 32] {
    Sha256::digest(api_key.trim().as_bytes()).into()
}

/// What identifies one signed request: where it goes, when and with which nonce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signing<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path, with its query if any.
    pub path: &'a str,
    /// Unix seconds.
    pub timestamp: u64,
    /// The request's nonce.
    pub nonce: &'a str,
}

/// Whether a nonce has the allowed shape: 8–64 ASCII letters, digits, `-` or `_`.
pub fn is_valid_nonce(nonce: &str) -> bool {
    (8..=64).contains(&nonce.len())
        && nonce
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
}

/// The text that is signed: method, path (with its query, if any), timestamp, nonce
/// and the body's SHA-256 in hex, each on its own line.
pub fn canonical_request(signing: &Signing<'_>, body: &[u8]) -> String {
    format!(
        "{}\n{}\n{}\n{}\n{}",
        signing.method.to_ascii_uppercase(),
        signing.path,
        signing.timestamp,
        signing.nonce,
        to_hex(&Sha256::digest(body))
    )
}

/// The signature of a request, as 64 lowercase hex digits.
pub fn signature(key: &[u8; 32], signing: &Signing<'_>, body: &[u8]) -> String {
    to_hex(&mac(key, signing, body).finalize().into_bytes())
}

/// Whether `given` (hex) is the signature of the request, compared in constant time.
pub fn verify(key: &[u8; 32], signing: &Signing<'_>, body: &[u8], given: &str) -> bool {
    from_hex(given).is_some_and(|given| mac(key, signing, body).verify_slice(&given).is_ok())
}

fn mac(key: &[u8; 32], signing: &Signing<'_>, body: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(canonical_request(signing, body).as_bytes());
    mac
}

/// Bytes as lowercase hex.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Hex digits (either case, even count) as bytes.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || !text.is_ascii() {
        return None;
    }
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

/// Whether a partner may use the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerStatus {
    /// Its signed requests are served.
    Active,
    /// Every request is refused with 403 until ops reactivate it.
    Suspended,
}

/// `POST /admin/partners`: register a partner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPartner {
    /// Display name, 1–64 characters.
    pub name: String,
    /// The action kinds it may report (each a partner-reported kind of the config).
    pub kinds: Vec<String>,
    /// Whether it may publish and complete tasks of its own.
    #[serde(default)]
    pub may_publish_tasks: bool,
    /// Requests it may make per minute (1–60000).
    pub rate_per_minute: u32,
}

/// A partner as ops see it; never its key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerView {
    /// Its id, sent in [`PARTNER_HEADER`].
    pub partner_id: PartnerId,
    /// Display name.
    pub name: String,
    /// The action kinds it may report.
    pub kinds: Vec<String>,
    /// Whether it may publish and complete tasks of its own.
    pub may_publish_tasks: bool,
    /// Requests per minute.
    pub rate_per_minute: u32,
    /// Active or suspended.
    pub status: PartnerStatus,
    /// How many keys it has had: 1 at creation, +1 per rotation.
    pub key_version: u32,
    /// When it was registered (game clock).
    pub created_at: Millis,
}

/// The answer of `POST /admin/partners` and of a key rotation: the only time the API
/// key is ever shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerKey {
    /// The partner.
    pub partner: PartnerView,
    /// The API key; the server keeps only its SHA-256.
    pub api_key: String,
}

/// The answer of `GET /admin/partners`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerList {
    /// Every partner, by id.
    pub partners: Vec<PartnerView>,
}

/// One partner request in the audit log: who, what, when, with what result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerAuditEntry {
    /// The partner's sequence number of the entry, from 1.
    pub seq: u64,
    /// The partner.
    pub partner_id: PartnerId,
    /// When it was decided (game clock).
    pub time: Millis,
    /// The call, as `METHOD /path`.
    pub call: String,
    /// The request's `ref`.
    #[serde(rename = "ref")]
    pub reference: String,
    /// The player it was about (`null` for calls about no player, such as publishing a
    /// task).
    pub player_id: Option<PlayerId>,
    /// `ok` or the error code.
    pub result: String,
    /// Grams credited (0 when refused or when nothing was due, and for a prop reward).
    pub grams: u64,
    /// The props given by a task completion with a prop reward (an addition; `null`
    /// for every other call).
    #[serde(default)]
    pub prop: Option<crate::task::PropReward>,
}

/// The answer of `GET /admin/partners/{id}/audit`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerAudit {
    /// Entries, newest first.
    pub entries: Vec<PartnerAuditEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGNING: Signing<'static> = Signing {
        method: "POST",
        path: "/partner/v1/actions",
        timestamp: 1_795_536_000,
        nonce: "7f3c9a1e5b2d4c68",
    };

    #[test]
    fn the_worked_example_of_partners_md_signs_as_documented() {
        let key =
            key_digest("cpk_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
        let body = br#"{"player_id":7,"kind":"metro","ref":"ride-1"}"#;
        let lower = Signing {
            method: "post",
            ..SIGNING
        };
        assert_eq!(
            canonical_request(&lower, body),
            "POST\n/partner/v1/actions\n1795536000\n7f3c9a1e5b2d4c68\n\
             64fb47f2ecbcc6bb9df947b628e2d6a1173a4e7449b16d98eb44ab73c1fb42e4"
        );
        let signed = signature(&key, &SIGNING, body);
        assert_eq!(
            signed,
            "1affe979a10dba92d7e2d2a22aef8313b4475f4eee788b8ed096bc9e88c9c84e"
        );
        assert!(verify(&key, &SIGNING, body, &signed));
        assert!(verify(&key, &SIGNING, body, &signed.to_uppercase()));
    }

    #[test]
    fn any_change_to_what_is_signed_breaks_the_signature() {
        let key = key_digest("cpk_secret");
        let body = br#"{"player_id":7}"#;
        let signed = signature(&key, &SIGNING, body);
        assert!(verify(&key, &SIGNING, body, &signed));
        assert!(!verify(&key_digest("cpk_secreT"), &SIGNING, body, &signed));
        for changed in [
            Signing {
                method: "PUT",
                ..SIGNING
            },
            Signing {
                path: "/partner/v1/tasks",
                ..SIGNING
            },
            Signing {
                timestamp: SIGNING.timestamp + 1,
                ..SIGNING
            },
            Signing {
                nonce: "7f3c9a1e5b2d4c69",
                ..SIGNING
            },
        ] {
            assert!(!verify(&key, &changed, body, &signed), "{changed:?}");
        }
        assert!(!verify(&key, &SIGNING, br#"{"player_id":8}"#, &signed));
        for garbage in ["", "zz", &signed[..62], "not hex at all"] {
            assert!(!verify(&key, &SIGNING, body, garbage));
        }
    }

    #[test]
    fn nonces_are_8_to_64_plain_characters() {
        assert!(is_valid_nonce("abcd-EF_9"));
        assert!(is_valid_nonce(&"a".repeat(64)));
        for bad in ["short", "", "has space", "new\nline", &"a".repeat(65)] {
            assert!(!is_valid_nonce(bad), "{bad:?}");
        }
    }

    #[test]
    fn hex_round_trips_and_refuses_odd_or_foreign_text() {
        assert_eq!(to_hex(&[0, 15, 255]), "000fff");
        assert_eq!(from_hex("000fFF"), Some(vec![0, 15, 255]));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("gg"), None);
        assert_eq!(from_hex("é1"), None);
    }
}
