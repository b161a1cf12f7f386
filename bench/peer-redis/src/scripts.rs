//! The Lua scripts of the Redis peer (in `lua/`): each op is one script, loaded once
//! with SCRIPT LOAD and run by EVALSHA, so each op is atomic and costs one round trip.

use redis::aio::MultiplexedConnection;

/// Helpers and constants every script starts with.
const COMMON: &str = include_str!("../lua/common.lua");

/// The SHA1 of each loaded script.
#[derive(Clone, Debug)]
pub struct Scripts {
    /// `collect(player, ball)`.
    pub collect: String,
    /// `steal(thief, owner, ball)`.
    pub steal: String,
    /// `water(giver, friend, grams)`.
    pub water: String,
    /// `me(player)`.
    pub me: String,
    /// `friends(player)`.
    pub friends: String,
    /// `friend_balls(player, friend)`.
    pub friend_balls: String,
    /// `audit(players)`: the conservation check after a run.
    pub audit: String,
}

impl Scripts {
    /// Loads every script into the server's script cache.
    pub async fn load(con: &mut MultiplexedConnection) -> redis::RedisResult<Self> {
        Ok(Self {
            collect: load(con, include_str!("../lua/collect.lua")).await?,
            steal: load(con, include_str!("../lua/steal.lua")).await?,
            water: load(con, include_str!("../lua/water.lua")).await?,
            me: load(con, include_str!("../lua/me.lua")).await?,
            friends: load(con, include_str!("../lua/friends.lua")).await?,
            friend_balls: load(con, include_str!("../lua/friend_balls.lua")).await?,
            audit: load(con, include_str!("../lua/audit.lua")).await?,
        })
    }
}

async fn load(con: &mut MultiplexedConnection, body: &str) -> redis::RedisResult<String> {
    redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(format!("{COMMON}\n{body}"))
        .query_async(con)
        .await
}
