//! `register`, `login`, `refresh`, `logout` and `logout_all`: creating players and
//! binding sessions to them through session tokens (see `tokens`).

use super::components::{PlayerBundle, Profile};
use super::resources::{Counters, Directory, SessionId, Sessions};
use super::state::{config, fail, now, touch_player};
use super::tokens::{self, token_hash};
use crate::cluster::Partition;
use crate::store::{PlayerRecord, TokenHash};
use bevy_ecs::world::World;
use canopy_shared::reply::{Empty, LoginResult, LogoutAllResult, RefreshResult, RegisterResult};
use canopy_shared::{ErrorBody, ErrorCode, PlayerId};

/// The longest name, in characters.
const MAX_NAME_CHARS: usize = 32;

/// Checks a display name: 1–32 characters of letters (CJK included), digits, `_`, `-`.
pub fn validate_name(name: &str) -> Result<(), ErrorBody> {
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return fail(ErrorCode::BadRequest, "a name has 1 to 32 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return fail(
            ErrorCode::BadRequest,
            "a name may hold only letters, digits, `_` and `-`",
        );
    }
    Ok(())
}

/// Logs the session in as `player` with the token `token`.
pub fn bind_session(world: &mut World, session: SessionId, player: PlayerId, token: TokenHash) {
    world
        .resource_mut::<Sessions>()
        .bind(session, player, token);
}

/// Creates a player and logs the session in as them with a new session token.
pub fn register(
    world: &mut World,
    session: SessionId,
    name: &str,
) -> Result<RegisterResult, ErrorBody> {
    if !config(world).accounts.open_register {
        return fail(
            ErrorCode::Forbidden,
            "registration is closed on this server: log in through the host app (host_login)",
        );
    }
    validate_name(name)?;
    let id = create_player(world, name);
    let (token, hash, expires_at) = tokens::issue(world, id);
    bind_session(world, session, id, hash);
    Ok(RegisterResult {
        player_id: id,
        token,
        expires_at,
    })
}

/// Spawns a new player with nothing yet; returns its id, the next one this shard owns
/// (alone: the next id).
pub fn create_player(world: &mut World, name: &str) -> PlayerId {
    let partition = Partition::from_config(&config(world).cluster);
    let mut counters = world.resource_mut::<Counters>();
    let id = PlayerId(partition.next_player_id(counters.next_player));
    counters.next_player = id.0;
    let record = PlayerRecord::new(id, name.to_owned(), now(world));
    let entity = world.spawn(PlayerBundle::from_record(record)).id();
    world.resource_mut::<Directory>().players.insert(id, entity);
    touch_player(world, entity);
    id
}

/// Logs the session in with a live session token.
pub fn login(world: &mut World, session: SessionId, token: &str) -> Result<LoginResult, ErrorBody> {
    let hash = token_hash(token);
    let stored = tokens::check(world, &hash)?;
    let player = stored.player;
    bind_session(world, session, player, hash);
    Ok(LoginResult {
        player_id: player,
        name: name_of(world, player),
        expires_at: stored.expires_at,
    })
}

/// A player's name.
pub fn name_of(world: &World, player: PlayerId) -> String {
    let entity = world.resource::<Directory>().players[&player];
    world
        .get::<Profile>(entity)
        .expect("player has Profile")
        .name
        .to_string()
}

/// A new token for the session's player; the one it logged in with is revoked (its
/// other sessions are closed) and the session goes on with the new one.
pub fn refresh(
    world: &mut World,
    session: SessionId,
    player: PlayerId,
) -> Result<RefreshResult, ErrorBody> {
    let Some(old) = world.resource::<Sessions>().token(session) else {
        return fail(ErrorCode::Unauthenticated, "log in or register first");
    };
    tokens::revoke(world, old, Some(session));
    let (token, hash, expires_at) = tokens::issue(world, player);
    bind_session(world, session, player, hash);
    Ok(RefreshResult { token, expires_at })
}

/// Revokes the token the session logged in with; the session stays open, logged out.
pub fn logout(world: &mut World, session: SessionId) -> Result<Empty, ErrorBody> {
    let Some(hash) = world.resource::<Sessions>().token(session) else {
        return fail(ErrorCode::Unauthenticated, "log in or register first");
    };
    tokens::revoke(world, hash, Some(session));
    Ok(Empty {})
}

/// Revokes every token of the player: their other sessions close, this one stays open,
/// logged out.
pub fn logout_all(world: &mut World, session: SessionId, player: PlayerId) -> LogoutAllResult {
    let revoked = tokens::revoke_all(world, player, Some(session));
    world.resource_mut::<Sessions>().log_out(session);
    LogoutAllResult { revoked }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_allow_letters_digits_cjk_and_dashes() {
        assert!(validate_name("ant_forest-01").is_ok());
        assert!(validate_name("梭梭树").is_ok());
        assert!(validate_name("").is_err());
        assert!(validate_name(&"a".repeat(33)).is_err());
        assert!(
            validate_name(&"树".repeat(32)).is_ok(),
            "32 characters, not bytes"
        );
        assert!(validate_name("a b").is_err());
        assert!(validate_name("a<script>").is_err());
    }
}
