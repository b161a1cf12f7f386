//! `host_login` over real sockets: a host app's JWT creates its user's player at the
//! first login and finds it again after, binds existing players, and every failed
//! check (tampered, expired, not yet valid, wrong issuer or audience) is
//! `UNAUTHENTICATED` saying which. With open registration off, only host users play.

mod support;

use anyhow::{Context, Result};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use support::{Client, Server, bin_dir, player};

/// A development Ed25519 key pair (not a secret: it signs test JWTs only).
const ED25519_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKdY7Wu4lJT89rcH+hWY6Bc+h2VCMUITzabmAtGQ8aA9
-----END PRIVATE KEY-----
";
const ED25519_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAui1TePFW2qXCsecuFhnYmATCsaT8gbCeY/0+s+0lDgY=
-----END PUBLIC KEY-----
";
const HS256_SECRET: &str = "a-shared-secret-of-at-least-32-bytes-0123456789";
const ISSUER: &str = "https://pay.example";
const AUDIENCE: &str = "canopy";

/// A server whose `[accounts.host]` trusts both keys, with `open_register` as given.
fn start(dir: &Path, open_register: bool) -> Result<Server> {
    let public = dir.join("host-ed25519.pub.pem");
    let secret = dir.join("host-hs256.secret");
    std::fs::write(&public, ED25519_PUBLIC)?;
    std::fs::write(&secret, HS256_SECRET)?;
    let keys = format!(
        r#"[{{algorithm = "EdDSA", file = "{}"}}, {{algorithm = "HS256", file = "{}"}}]"#,
        public.display(),
        secret.display()
    );
    let host = format!(
        r#"{{issuer = "{ISSUER}", audience = "{AUDIENCE}", name_claim = "nickname", keys = {keys}}}"#
    );
    Server::start_with_env(
        &dir.join("data"),
        &[],
        &[
            ("CANOPY_ACCOUNTS__HOST", &host),
            (
                "CANOPY_ACCOUNTS__OPEN_REGISTER",
                if open_register { "true" } else { "false" },
            ),
        ],
    )
}

/// Seconds since the Unix epoch.
fn now() -> Result<u64> {
    Ok(std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs())
}

/// An HS256 JWT with `claims` over sensible defaults.
fn hs256(claims: &Value) -> Result<String> {
    let now = now()?;
    let mut all = json!({
        "iss": ISSUER, "aud": AUDIENCE, "sub": "user-1", "nickname": "Mei Lin",
        "iat": now, "nbf": now, "exp": now + 600,
    });
    for (name, value) in claims.as_object().context("claims object")? {
        match value {
            Value::Null => all.as_object_mut().context("object")?.remove(name),
            value => all
                .as_object_mut()
                .context("object")?
                .insert(name.clone(), value.clone()),
        };
    }
    Ok(encode(
        &Header::new(Algorithm::HS256),
        &all,
        &EncodingKey::from_secret(HS256_SECRET.as_bytes()),
    )?)
}

/// A JWT minted by `canopy dev-jwt` with the Ed25519 development key.
fn dev_jwt(dir: &Path, subject: &str, name: &str) -> Result<String> {
    let key = dir.join("host-ed25519.pem");
    std::fs::write(&key, ED25519_PRIVATE)?;
    let output = Command::new(bin_dir().join("canopy"))
        .args(["dev-jwt", "--key"])
        .arg(&key)
        .args([
            "--iss", ISSUER, "--aud", AUDIENCE, "--sub", subject, "--name", name,
        ])
        .args(["--name-claim", "nickname"])
        .output()?;
    anyhow::ensure!(output.status.success(), "dev-jwt failed: {output:?}");
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// The `UNAUTHENTICATED` message of a refused `host_login`.
async fn refusal(client: &mut Client, jwt: &str) -> Result<String> {
    let answer = client.call("host_login", json!({ "jwt": jwt })).await?;
    assert_eq!(answer["error"]["code"], "UNAUTHENTICATED", "{answer}");
    Ok(answer["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test]
async fn a_host_user_gets_one_player_for_good() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), false)?;
    let jwt = dev_jwt(dir.path(), "user-42", "小明 Li")?;
    let mut phone = server.client().await?;
    let first = phone.ok("host_login", json!({ "jwt": jwt })).await?;
    assert_eq!(
        (&first["created"], &first["name"]),
        (&json!(true), &json!("小明_Li"))
    );
    let player_id = first["player_id"].clone();
    phone.ok("me", json!({})).await?;

    let mut tablet = server.client().await?;
    let again = tablet
        .ok(
            "host_login",
            json!({ "jwt": hs256(&json!({"sub": "user-42"}))? }),
        )
        .await?;
    assert_eq!(
        (&again["created"], &again["player_id"]),
        (&json!(false), &player_id)
    );
    let token = again["token"].as_str().context("token")?;
    support::login(&server, token).await?;

    let mut stranger = server.client().await?;
    let refused = stranger
        .call("register", json!({ "name": "farmer" }))
        .await?;
    assert_eq!(
        refused["error"]["code"], "FORBIDDEN",
        "open registration is off"
    );

    let data_dir = server.data_dir.clone();
    server.stop()?;
    let server = start(dir.path(), false)?;
    assert_eq!(server.data_dir, data_dir);
    let mut later = server.client().await?;
    let after = later.ok("host_login", json!({ "jwt": jwt })).await?;
    assert_eq!(after["player_id"], player_id, "the binding is in the store");
    Ok(())
}

#[tokio::test]
async fn every_failed_check_is_unauthenticated_and_says_which() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), true)?;
    let mut client = server.client().await?;
    let now = now()?;

    let good = hs256(&json!({}))?;
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    parts[1] = hs256(&json!({"sub": "someone-else"}))?
        .split('.')
        .nth(1)
        .context("claims")?
        .to_owned();
    let tampered = parts.join(".");
    for (jwt, says) in [
        (tampered, "bad signature"),
        (hs256(&json!({"exp": now - 3600}))?, "expired"),
        (hs256(&json!({"nbf": now + 3600}))?, "not valid yet"),
        (
            hs256(&json!({"iss": "https://evil.example"}))?,
            "wrong issuer",
        ),
        (hs256(&json!({"aud": "someone-else"}))?, "wrong audience"),
        (hs256(&json!({"sub": null}))?, "`sub`"),
        ("not-a-jwt".to_owned(), "malformed"),
    ] {
        let message = refusal(&mut client, &jwt).await?;
        assert!(message.contains(says), "{says}: {message}");
    }
    let skewed = hs256(&json!({"exp": now - 5}))?;
    client.ok("host_login", json!({ "jwt": skewed })).await?;
    Ok(())
}

#[tokio::test]
async fn a_logged_in_player_links_a_host_user_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), true)?;
    let (mut ant, ant_id, _) = player(&server, "ant").await?;
    let linked = ant
        .ok(
            "host_login",
            json!({ "jwt": hs256(&json!({"sub": "ant-at-host"}))? }),
        )
        .await?;
    assert_eq!(
        (&linked["player_id"], &linked["created"]),
        (&json!(ant_id), &json!(false))
    );

    let (mut bee, _, _) = player(&server, "bee").await?;
    let message = refusal(&mut bee, &hs256(&json!({"sub": "ant-at-host"}))?).await?;
    assert!(
        message.contains(&format!("bound to player {ant_id}")),
        "{message}"
    );
    let message = refusal(&mut ant, &hs256(&json!({"sub": "second-user"}))?).await?;
    assert!(
        message.contains("already bound to another host user"),
        "{message}"
    );
    Ok(())
}
