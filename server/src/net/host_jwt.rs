//! `host_login`'s check of the host app's JWT: the signature against the configured
//! keys (chosen by the header's `alg` and `kid`), then `iss`, `aud`, `exp` and `nbf`
//! with the configured clock skew, and a `sub`. It runs on the network side, so the game
//! thread never spends time on signatures and only ever sees a verified identity.

use crate::config::HostLoginConfig;
use crate::game::HostIdentity;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Validation, decode, decode_header};
use serde_json::{Map, Value};

/// The host user a JWT names, or the message of the `UNAUTHENTICATED` answer saying
/// which check failed.
pub fn verify(config: &HostLoginConfig, jwt: &str) -> Result<HostIdentity, String> {
    let header = decode_header(jwt).map_err(|err| format!("the JWT is malformed: {err}"))?;
    let mut candidates = config.loaded.iter().filter(|key| {
        key.algorithm == header.alg
            && (key.id.is_none() || header.kid.is_none() || key.id == header.kid)
    });
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = config.leeway_secs;
    validation.validate_nbf = true;
    let Some(first) = candidates.next() else {
        return Err(format!(
            "no configured key verifies {:?} JWTs{}",
            header.alg,
            header
                .kid
                .map(|kid| format!(" with kid `{kid}`"))
                .unwrap_or_default()
        ));
    };
    let mut verified = decode::<Map<String, Value>>(jwt, &first.key, &validation);
    for key in candidates {
        match &verified {
            Err(err) if *err.kind() == ErrorKind::InvalidSignature => {
                verified = decode(jwt, &key.key, &validation);
            }
            _ => break,
        }
    }
    let claims = verified.map_err(|err| refusal(err.kind(), config))?.claims;
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let subject = text("sub")
        .filter(|sub| !sub.is_empty())
        .ok_or("the JWT's `sub` must be a non-empty string")?;
    Ok(HostIdentity {
        issuer: config.issuer.clone(),
        name: text(&config.name_claim).unwrap_or_else(|| subject.clone()),
        subject,
    })
}

/// Which check failed, in words.
fn refusal(kind: &ErrorKind, config: &HostLoginConfig) -> String {
    match kind {
        ErrorKind::InvalidSignature => "bad signature: no configured key signed this JWT".into(),
        ErrorKind::ExpiredSignature => format!(
            "the JWT expired (its exp is past, beyond the allowed clock skew of {} s)",
            config.leeway_secs
        ),
        ErrorKind::ImmatureSignature => format!(
            "the JWT is not valid yet (its nbf is ahead, beyond the allowed clock skew of {} s)",
            config.leeway_secs
        ),
        ErrorKind::InvalidIssuer => {
            format!("wrong issuer: this server accepts `{}`", config.issuer)
        }
        ErrorKind::InvalidAudience => {
            format!("wrong audience: this server is `{}`", config.audience)
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("the JWT has no `{claim}` claim"),
        other => format!("the JWT is malformed: {other:?}"),
    }
}
