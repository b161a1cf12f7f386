//! `register` and `login`: creating players and binding sessions to them.

use super::components::{PlayerBundle, Profile};
use super::resources::{Counters, Directory, SessionId, Sessions};
use super::state::{fail, now, touch_player};
use crate::store::PlayerRecord;
use bevy_ecs::world::World;
use canopy_shared::reply::{LoginResult, RegisterResult};
use canopy_shared::{ErrorBody, ErrorCode, PlayerId};
use sha2::{Digest, Sha256};

/// The longest name, in characters.
const MAX_NAME_CHARS: usize = 32;

/// SHA-256 of a token: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh login token: 256 random bits from the OS-seeded generator, as hex.
fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

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

fn bind_session(world: &mut World, session: SessionId, player: PlayerId) {
    world.resource_mut::<Sessions>().bind(session, player);
}

/// Creates a player and logs the session in as them.
pub fn register(
    world: &mut World,
    session: SessionId,
    name: &str,
) -> Result<RegisterResult, ErrorBody> {
    validate_name(name)?;
    let token = new_token();
    let hash = token_hash(&token);
    let id = PlayerId(Counters::take(
        &mut world.resource_mut::<Counters>().next_player,
    ));
    let record = PlayerRecord::new(id, name.to_owned(), hash, now(world));
    let entity = world.spawn(PlayerBundle::from_record(record)).id();
    let mut directory = world.resource_mut::<Directory>();
    directory.players.insert(id, entity);
    directory.tokens.insert(hash, id);
    touch_player(world, entity);
    bind_session(world, session, id);
    Ok(RegisterResult {
        player_id: id,
        token,
    })
}

/// Logs the session in with a token.
pub fn login(world: &mut World, session: SessionId, token: &str) -> Result<LoginResult, ErrorBody> {
    let directory = world.resource::<Directory>();
    let Some(&player) = directory.tokens.get(&token_hash(token)) else {
        return fail(ErrorCode::Unauthenticated, "unknown token");
    };
    let entity = directory.players[&player];
    let name = world
        .get::<Profile>(entity)
        .expect("player has Profile")
        .name
        .to_string();
    bind_session(world, session, player);
    Ok(LoginResult {
        player_id: player,
        name,
    })
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

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64, "256 bits as hex");
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
