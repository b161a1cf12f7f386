//! Writes the world file into an empty Redis, pipelined.

use crate::world::{BallRecord, World};
use redis::aio::MultiplexedConnection;

/// Players whose records go out in one pipeline.
const PLAYERS_PER_PIPELINE: usize = 200;

/// A ball as the scripts store it in its owner's hash (`lua/common.lua`): full, left,
/// stolen, created, ripe, expires, stealable, source, then the thieves (none yet).
fn packed(ball: &BallRecord) -> String {
    format!(
        "{} {} {} {} {} {} {} {} ,",
        ball.left + ball.stolen,
        ball.left,
        ball.stolen,
        ball.created_at,
        ball.ripe_at,
        ball.expires_at,
        u8::from(ball.stealable()),
        ball.source
    )
}

/// Seeds players, friendships, balls, the clock and the ledger totals.
pub async fn seed(con: &mut MultiplexedConnection, world: &World) -> anyhow::Result<()> {
    let size: u64 = redis::cmd("DBSIZE").query_async(con).await?;
    anyhow::ensure!(
        size == 0,
        "Redis already holds {size} keys: seed an empty one"
    );
    redis::pipe()
        .cmd("SET")
        .arg("clock")
        .arg(world.game_time)
        .ignore()
        .cmd("SET")
        .arg("next_ball")
        .arg(world.next_ball)
        .ignore()
        .cmd("HSET")
        .arg("totals")
        .arg("created")
        .arg(world.created)
        .ignore()
        .query_async::<()>(con)
        .await?;
    for players in world.players.chunks(PLAYERS_PER_PIPELINE) {
        let mut pipe = redis::pipe();
        for player in players {
            pipe.cmd("HSET")
                .arg(format!("p:{}", player.id))
                .arg("n")
                .arg(&player.name)
                .arg("e")
                .arg(player.energy)
                .arg("t")
                .arg(player.total_collected)
                .ignore();
            if !player.friends.is_empty() {
                pipe.cmd("SADD")
                    .arg(format!("f:{}", player.id))
                    .arg(&player.friends)
                    .ignore();
            }
            if !player.balls.is_empty() {
                let owner = player.id.to_string();
                let packed: Vec<(u64, String)> =
                    player.balls.iter().map(|b| (b.id, packed(b))).collect();
                let owners: Vec<(u64, &str)> = player
                    .balls
                    .iter()
                    .map(|b| (b.id, owner.as_str()))
                    .collect();
                pipe.cmd("HSET")
                    .arg(format!("pb:{}", player.id))
                    .arg(packed)
                    .ignore()
                    .cmd("HSET")
                    .arg("bo")
                    .arg(owners)
                    .ignore();
            }
        }
        pipe.query_async::<()>(con).await?;
    }
    Ok(())
}
