//! The checks every partner call passes before it reaches the game: a known partner,
//! a valid HMAC-SHA256 signature, a timestamp within the replay window, a nonce not
//! seen before, an active partner, and its rate limit. Each refusal names its
//! reason and maps to one HTTP status (401, 403 or 429 with `Retry-After`).

use crate::game::partners::{Credential, PartnerCredentials};
use crate::net::rate_limit::{TokenBucket, Verdict};
use axum::http::HeaderMap;
use canopy_shared::partner::{
    self, NONCE_HEADER, PARTNER_HEADER, PartnerStatus, REPLAY_WINDOW_SECS, SIGNATURE_HEADER,
    Signing, TIMESTAMP_HEADER,
};
use canopy_shared::{ErrorCode, PartnerId};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use thiserror::Error;

/// What a partner call claims about itself, read from its headers.
#[derive(Debug, PartialEq, Eq)]
pub struct Signed<'a> {
    /// The partner it says it comes from.
    pub partner: PartnerId,
    /// When it says it was signed, in Unix seconds.
    pub timestamp: u64,
    /// Its nonce.
    pub nonce: &'a str,
    /// Its signature, in hex.
    pub signature: &'a str,
}

/// Why a partner call was refused before reaching the game.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GateRefusal {
    /// A signature header is missing or malformed: 401.
    #[error(
        "partner calls need the headers {PARTNER_HEADER}, {TIMESTAMP_HEADER}, {NONCE_HEADER} \
         (8-64 letters, digits, - or _) and {SIGNATURE_HEADER}; see docs/PARTNERS.md"
    )]
    Unsigned,
    /// No such partner, or the signature does not match its key: 401.
    #[error("the signature does not match the partner's key")]
    BadSignature,
    /// The timestamp is more than the replay window away from the server's clock: 401.
    #[error(
        "the timestamp is {off_by} s away from the server's clock; at most \
         {REPLAY_WINDOW_SECS} s are accepted"
    )]
    Stale {
        /// How far off it is, in seconds.
        off_by: u64,
    },
    /// A request with this nonce was served before: 401.
    #[error("a request with this nonce was already received; sign a retry afresh")]
    Replayed,
    /// The partner is suspended: 403.
    #[error("this partner is suspended")]
    Suspended,
    /// Over the partner's rate limit: 429 with `Retry-After`.
    #[error("over this partner's rate limit of {per_minute} requests a minute")]
    RateLimited {
        /// The limit.
        per_minute: u32,
        /// When a request would be allowed again.
        retry_after: Duration,
    },
}

impl GateRefusal {
    /// The protocol code to answer with.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unsigned | Self::BadSignature | Self::Stale { .. } | Self::Replayed => {
                ErrorCode::Unauthenticated
            }
            Self::Suspended => ErrorCode::Forbidden,
            Self::RateLimited { .. } => ErrorCode::RateLimited,
        }
    }
}

/// Reads the signature headers.
pub fn signed(headers: &HeaderMap) -> Result<Signed<'_>, GateRefusal> {
    let header = |name| headers.get(name).and_then(|value| value.to_str().ok());
    let partner = header(PARTNER_HEADER).and_then(|text| text.trim().parse().ok());
    let timestamp = header(TIMESTAMP_HEADER).and_then(|text| text.trim().parse().ok());
    let nonce = header(NONCE_HEADER)
        .map(str::trim)
        .filter(|nonce| partner::is_valid_nonce(nonce));
    match (partner, timestamp, nonce, header(SIGNATURE_HEADER)) {
        (Some(partner), Some(timestamp), Some(nonce), Some(signature)) => Ok(Signed {
            partner: PartnerId(partner),
            timestamp,
            nonce,
            signature: signature.trim(),
        }),
        _ => Err(GateRefusal::Unsigned),
    }
}

/// A request as it was signed.
pub struct Request<'a> {
    /// The HTTP method.
    pub method: &'a str,
    /// The path with its query.
    pub path: &'a str,
    /// The raw body.
    pub body: &'a [u8],
}

/// Per-partner state of the checks: rate buckets and the nonces seen within the
/// replay window. In memory: after a restart a replay within the window is still
/// answered by the `ref` receipt, never applied twice.
#[derive(Default)]
pub struct PartnerGate {
    partners: Mutex<HashMap<PartnerId, Tracked>>,
}

struct Tracked {
    bucket: TokenBucket,
    per_minute: u32,
    /// Nonces served, with their timestamps.
    seen: HashMap<String, u64>,
}

impl PartnerGate {
    /// Checks a call signed as `signed` at server time `now_secs` (Unix seconds) and
    /// `now` (for the rate), against the partners' credentials. On success the nonce
    /// is remembered, and the partner's credential is returned.
    pub fn admit(
        &self,
        credentials: &PartnerCredentials,
        signed: &Signed<'_>,
        request: &Request<'_>,
        now_secs: u64,
        now: Instant,
    ) -> Result<Credential, GateRefusal> {
        let credential = credentials
            .0
            .get(&signed.partner)
            .ok_or(GateRefusal::BadSignature)?;
        let signing = Signing {
            method: request.method,
            path: request.path,
            timestamp: signed.timestamp,
            nonce: signed.nonce,
        };
        let genuine = partner::verify(
            &credential.key_digest,
            &signing,
            request.body,
            signed.signature,
        );
        if !genuine {
            return Err(GateRefusal::BadSignature);
        }
        let off_by = now_secs.abs_diff(signed.timestamp);
        if off_by > REPLAY_WINDOW_SECS {
            return Err(GateRefusal::Stale { off_by });
        }
        let mut partners = self
            .partners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tracked = partners
            .entry(signed.partner)
            .or_insert_with(|| Tracked::new(credential.rate_per_minute, now));
        tracked.forget_stale(now_secs);
        if tracked.seen.contains_key(signed.nonce) {
            return Err(GateRefusal::Replayed);
        }
        if credential.status == PartnerStatus::Suspended {
            return Err(GateRefusal::Suspended);
        }
        if tracked.per_minute != credential.rate_per_minute {
            *tracked = Tracked::new(credential.rate_per_minute, now);
        }
        if tracked.bucket.check(now, u32::MAX) != Verdict::Allow {
            return Err(GateRefusal::RateLimited {
                per_minute: credential.rate_per_minute,
                retry_after: tracked.bucket.time_to_next_token(),
            });
        }
        tracked
            .seen
            .insert(signed.nonce.to_owned(), signed.timestamp);
        Ok(credential.clone())
    }
}

impl Tracked {
    /// A full bucket: up to a minute's worth at once, refilled continuously.
    fn new(per_minute: u32, now: Instant) -> Self {
        let rate = f64::from(per_minute);
        Self {
            bucket: TokenBucket::new(rate / 60.0, rate, now),
            per_minute,
            seen: HashMap::new(),
        }
    }

    /// Drops nonces whose timestamps fell out of the window: they would be
    /// refused as stale anyway.
    fn forget_stale(&mut self, now_secs: u64) {
        self.seen
            .retain(|_, &mut timestamp| now_secs.abs_diff(timestamp) <= REPLAY_WINDOW_SECS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    const KEY: &str = "cpk_test-key";
    const NOW: u64 = 1_795_536_000;
    const PATH: &str = "/partner/v1/actions";

    fn credentials(status: PartnerStatus, per_minute: u32) -> PartnerCredentials {
        PartnerCredentials(BTreeMap::from([(
            PartnerId(1),
            Credential {
                key_digest: partner::key_digest(KEY),
                key_version: 1,
                status,
                rate_per_minute: per_minute,
            },
        )]))
    }

    /// The nonce of every test request: each test signs one request per timestamp.
    fn nonce(timestamp: u64) -> String {
        format!("nonce-{timestamp}")
    }

    fn signature(key: &str, timestamp: u64, body: &[u8]) -> String {
        let nonce = nonce(timestamp);
        let signing = Signing {
            method: "POST",
            path: PATH,
            timestamp,
            nonce: &nonce,
        };
        partner::signature(&partner::key_digest(key), &signing, body)
    }

    fn admit(
        gate: &PartnerGate,
        credentials: &PartnerCredentials,
        signature: &str,
        timestamp: u64,
        body: &[u8],
        now: Instant,
    ) -> Result<Credential, GateRefusal> {
        let nonce = nonce(timestamp);
        let signed = Signed {
            partner: PartnerId(1),
            timestamp,
            nonce: &nonce,
            signature,
        };
        let request = Request {
            method: "POST",
            path: PATH,
            body,
        };
        gate.admit(credentials, &signed, &request, NOW, now)
    }

    #[test]
    fn a_good_signature_passes_once_and_its_replay_is_refused() {
        let (gate, now) = (PartnerGate::default(), Instant::now());
        let creds = credentials(PartnerStatus::Active, 60);
        let good = signature(KEY, NOW - 10, b"{}");
        assert!(admit(&gate, &creds, &good, NOW - 10, b"{}", now).is_ok());
        assert_eq!(
            admit(&gate, &creds, &good, NOW - 10, b"{}", now),
            Err(GateRefusal::Replayed)
        );
        let fresh = signature(KEY, NOW - 9, b"{}");
        assert!(admit(&gate, &creds, &fresh, NOW - 9, b"{}", now).is_ok());
    }

    #[test]
    fn tampering_a_wrong_key_and_stale_timestamps_are_unauthenticated() {
        let (gate, now) = (PartnerGate::default(), Instant::now());
        let creds = credentials(PartnerStatus::Active, 60);
        let good = signature(KEY, NOW, b"{\"a\":1}");
        let refused = admit(&gate, &creds, &good, NOW, b"{\"a\":2}", now);
        assert_eq!(refused, Err(GateRefusal::BadSignature), "tampered body");
        let wrong = signature("cpk_other", NOW, b"{}");
        let refused = admit(&gate, &creds, &wrong, NOW, b"{}", now);
        assert_eq!(refused, Err(GateRefusal::BadSignature), "wrong key");
        for off in [301, 3_600] {
            for timestamp in [NOW - off, NOW + off] {
                let stale = signature(KEY, timestamp, b"{}");
                let refused = admit(&gate, &creds, &stale, timestamp, b"{}", now);
                assert_eq!(refused, Err(GateRefusal::Stale { off_by: off }));
                assert_eq!(
                    refused.map_err(|r| r.code()),
                    Err(ErrorCode::Unauthenticated)
                );
            }
        }
        let edge = signature(KEY, NOW - 300, b"{}");
        assert!(admit(&gate, &creds, &edge, NOW - 300, b"{}", now).is_ok());
    }

    #[test]
    fn a_suspended_partner_is_forbidden_even_with_a_good_signature() {
        let (gate, now) = (PartnerGate::default(), Instant::now());
        let creds = credentials(PartnerStatus::Suspended, 60);
        let good = signature(KEY, NOW, b"{}");
        let refused = admit(&gate, &creds, &good, NOW, b"{}", now);
        assert_eq!(refused, Err(GateRefusal::Suspended));
        assert_eq!(refused.map_err(|r| r.code()), Err(ErrorCode::Forbidden));
    }

    #[test]
    fn over_the_rate_is_refused_with_when_to_retry() {
        let (gate, now) = (PartnerGate::default(), Instant::now());
        let creds = credentials(PartnerStatus::Active, 3);
        for second in 0..3 {
            let good = signature(KEY, NOW - second, b"{}");
            assert!(admit(&gate, &creds, &good, NOW - second, b"{}", now).is_ok());
        }
        let over = signature(KEY, NOW - 3, b"{}");
        match admit(&gate, &creds, &over, NOW - 3, b"{}", now) {
            Err(GateRefusal::RateLimited {
                per_minute: 3,
                retry_after,
            }) => assert!(
                retry_after > Duration::from_secs(19) && retry_after <= Duration::from_secs(20),
                "3 a minute: one every 20 s ({retry_after:?})"
            ),
            other => panic!("expected a rate refusal, got {other:?}"),
        }
        let later = now + Duration::from_secs(20);
        assert!(admit(&gate, &creds, &over, NOW - 3, b"{}", later).is_ok());
    }

    #[test]
    fn headers_must_all_be_there_and_well_formed() {
        let value = |text: &str| text.parse().expect("a header value");
        let mut headers = HeaderMap::new();
        assert_eq!(signed(&headers), Err(GateRefusal::Unsigned));
        headers.insert(PARTNER_HEADER, value("7"));
        headers.insert(TIMESTAMP_HEADER, value("soon"));
        headers.insert(NONCE_HEADER, value("abcdefgh"));
        headers.insert(SIGNATURE_HEADER, value("ab"));
        assert_eq!(signed(&headers), Err(GateRefusal::Unsigned));
        headers.insert(TIMESTAMP_HEADER, value("1795536000"));
        assert_eq!(
            signed(&headers),
            Ok(Signed {
                partner: PartnerId(7),
                timestamp: 1_795_536_000,
                nonce: "abcdefgh",
                signature: "ab"
            })
        );
        headers.insert(NONCE_HEADER, value("short"));
        assert_eq!(
            signed(&headers),
            Err(GateRefusal::Unsigned),
            "a short nonce"
        );
    }
}
