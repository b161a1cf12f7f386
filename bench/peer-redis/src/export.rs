//! Reads the world a Canopy server serves into a world file: each player logs in and
//! asks `me` (balance, balls) and `friends`. The Redis peer is seeded from this file,
//! so both servers start from the same world, whatever Canopy's store layout is.

use crate::canopy::login;
use crate::events::EventCounts;
use crate::world::{BallRecord, PlayerRecord, World};
use anyhow::Context;
use canopy_shared::Request;
use canopy_shared::frame::{ServerFrame, decode_server_frame};
use canopy_shared::reply::{FriendsResult, HelloResult, MeResult};
use futures_util::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// Players read at the same time.
const READING_AT_ONCE: usize = 200;

/// Reads players 1..=players from the server at `url` (game socket) and `ops_url`.
pub async fn export(url: &str, ops_url: &str, players: u64) -> anyhow::Result<World> {
    let events = Arc::new(EventCounts::default());
    let first = login(url, 1, events.clone()).await?;
    let hello: HelloResult = call(&first, Request::Hello { version: 1 }).await?;
    drop(first);
    let players: Vec<PlayerRecord> = futures_util::stream::iter(1..=players)
        .map(|player| read_player(url, player, events.clone()))
        .buffered(READING_AT_ONCE)
        .try_collect()
        .await?;
    let next_ball = players
        .iter()
        .flat_map(|p| p.balls.iter().map(|b| b.id))
        .max()
        .unwrap_or(0);
    #[derive(serde::Deserialize)]
    struct Created {
        created: u64,
    }
    let audit = crate::http::get(ops_url, "/admin/audit").await?;
    let created: Created = serde_json::from_str(&audit).context("reading the audit")?;
    Ok(World {
        game_time: hello.time,
        next_ball,
        created: created.created,
        players,
    })
}

async fn read_player(
    url: &str,
    player: u64,
    events: Arc<EventCounts>,
) -> anyhow::Result<PlayerRecord> {
    let session = login(url, player, events).await?;
    let me: MeResult = call(&session, Request::Me {}).await?;
    let friends: FriendsResult = call(&session, Request::Friends {}).await?;
    Ok(PlayerRecord {
        id: player,
        name: me.player.name,
        energy: me.player.energy,
        total_collected: me.player.total_collected,
        friends: friends.friends.iter().map(|f| f.player_id.0).collect(),
        balls: me
            .balls
            .into_iter()
            .map(|b| BallRecord {
                id: b.ball_id.0,
                source: b.source,
                left: b.amount,
                stolen: b.stolen,
                created_at: b.created_at,
                ripe_at: b.ripe_at,
                expires_at: b.expires_at,
            })
            .collect(),
    })
}

async fn call<T: DeserializeOwned>(
    session: &crate::canopy_conn::Conn,
    request: Request,
) -> anyhow::Result<T> {
    let text = session
        .call(&request)
        .await
        .map_err(|why| anyhow::anyhow!("{}: {why}", request.op_name()))?;
    match decode_server_frame(&text)? {
        ServerFrame::Reply(reply) => reply
            .into_result()
            .map_err(|err| anyhow::anyhow!("{}: {err}", request.op_name())),
        ServerFrame::Event(_) => anyhow::bail!("an event where a reply was expected"),
    }
}
