//! `canopy dev-jwt`: mints a JWT as a host app would, from a development key, for
//! trying `host_login` against a server configured with the matching public key (or the
//! same HS256 secret). Not for production: a real host signs its own tokens.

use crate::cli::DevJwtArgs;
use crate::error::CliError;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

/// The signed JWT for `args`, valid from now for `args.ttl_ms`.
pub fn mint(args: &DevJwtArgs) -> Result<String, CliError> {
    let bytes = std::fs::read(&args.key).map_err(|err| {
        CliError::Local(format!("cannot read the key {}: {err}", args.key.display()))
    })?;
    let unusable = |err: jsonwebtoken::errors::Error| {
        CliError::Usage(format!(
            "{} is not a {:?} signing key: {err}",
            args.key.display(),
            args.algorithm
        ))
    };
    let key = match args.algorithm {
        Algorithm::EdDSA => EncodingKey::from_ed_pem(&bytes).map_err(unusable)?,
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&bytes).map_err(unusable)?,
        Algorithm::HS256 => EncodingKey::from_secret(bytes.trim_ascii()),
        other => {
            return Err(CliError::Usage(format!(
                "{other:?} is not one of EdDSA, RS256, HS256"
            )));
        }
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|err| CliError::Local(format!("the system clock is before 1970: {err}")))?
        .as_secs();
    let mut claims = json!({
        "iss": args.issuer,
        "aud": args.audience,
        "sub": args.subject,
        "iat": now,
        "nbf": now,
        "exp": now + args.ttl_ms / 1000,
    });
    claims[args.name_claim.as_str()] = json!(args.name.as_deref().unwrap_or(&args.subject));
    let mut header = Header::new(args.algorithm);
    header.kid.clone_from(&args.kid);
    encode(&header, &claims, &key).map_err(|err| CliError::Local(format!("signing failed: {err}")))
}
