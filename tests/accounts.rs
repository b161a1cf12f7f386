//! Player accounts over real sockets: a live session whose token is revoked or expires
//! is closed with code 1008 and says why, and the token is refused afterwards.

mod support;

use anyhow::Result;
use serde_json::json;
use support::{HOUR, Server, player};

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
