//! Player accounts over real sockets: a live session whose token is revoked or expires
//! is closed with code 1008 and says why, and the token is refused afterwards;
//! registrations from one address stop at its cap.

mod support;

use anyhow::Result;
use serde_json::json;
use support::{HOUR, Server, http, player};

const POLICY: u16 = 1008;

#[tokio::test]
async fn an_operator_revoking_a_players_tokens_closes_their_live_sessions() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut phone, id, token) = player(&server, "ant").await?;
    let mut tablet = support::login(&server, &token).await?;
    let (mut bystander, _, _) = player(&server, "bee").await?;

    let (status, body) = server.admin("/admin/revoke-tokens", json!({ "player_id": id }))?;
    assert_eq!((status, body), (200, json!({ "revoked": 1 })));
    for session in [&mut phone, &mut tablet] {
        assert_eq!(
            session.close_frame().await?,
            (POLICY, "token revoked".to_owned())
        );
    }
    let mut again = server.client().await?;
    let refused = again.call("login", json!({ "token": token })).await?;
    assert_eq!(refused["error"]["code"], "UNAUTHENTICATED");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("revoked")),
        "{refused}"
    );
    bystander.ok("me", json!({})).await?;

    let (status, _) = server.admin("/admin/revoke-tokens", json!({ "player_id": 999 }))?;
    assert_eq!(status, 404);
    Ok(())
}

#[tokio::test]
async fn a_session_whose_token_expires_is_closed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut phone, _, token) = player(&server, "ant").await?;
    server.advance(30 * 24 * HOUR)?;
    assert_eq!(
        phone.close_frame().await?,
        (POLICY, "token expired".to_owned())
    );
    let mut again = server.client().await?;
    assert_eq!(
        again.error_code("login", json!({ "token": token })).await?,
        "UNAUTHENTICATED"
    );
    Ok(())
}

#[tokio::test]
async fn registrations_past_the_daily_cap_from_one_address_are_rate_limited() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_with_env(
        dir.path(),
        &[],
        &[
            ("CANOPY_ACCOUNTS__REGISTER_LIMITS", "true"),
            ("CANOPY_ACCOUNTS__REGISTER_DAILY_CAP", "3"),
        ],
    )?;
    let mut farm = server.client().await?;
    for n in 0..3 {
        farm.ok("register", json!({ "name": format!("farm{n}") }))
            .await?;
    }
    let refused = farm.call("register", json!({ "name": "farm3" })).await?;
    assert_eq!(refused["error"]["code"], "RATE_LIMITED", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .is_some_and(|message| message.contains("3 registrations a day")),
        "{refused}"
    );
    let mut another_connection = server.client().await?;
    assert_eq!(
        another_connection
            .error_code("register", json!({ "name": "farm4" }))
            .await?,
        "RATE_LIMITED",
        "the cap is per address, not per connection"
    );
    let (status, metrics) = http(&server.ops_addr, "GET", "/metrics", None, None)?;
    assert_eq!(status, 200);
    let metrics = metrics.as_str().unwrap_or_default().to_owned();
    assert!(
        metrics.contains(r#"canopy_registrations_refused_total{reason="daily_cap"} 2"#),
        "{metrics}"
    );
    Ok(())
}
