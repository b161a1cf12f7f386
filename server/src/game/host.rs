//! `host_login`: players of the host app. A host user (issuer and subject of a verified
//! JWT) is bound to one player for good: created at their first login with the name the
//! host gives, or an existing player linking their account from a logged-in session.

use super::account::{self, bind_session};
use super::resources::{Dirty, HostIdentity, SessionId, Sessions};
use super::state::fail;
use super::tokens;
use crate::store::{HostBinding, TokenHash};
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::reply::HostLoginResult;
use canopy_shared::{ErrorBody, ErrorCode, PlayerId};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};

/// Every host user bound to a player, both ways.
#[derive(Resource, Default)]
pub struct HostSubjects {
    players: FxHashMap<TokenHash, PlayerId>,
    subjects: FxHashMap<PlayerId, TokenHash>,
}

impl HostSubjects {
    /// Binds the user with key `key` to `player`.
    pub fn bind(&mut self, key: TokenHash, player: PlayerId) {
        self.players.insert(key, player);
        self.subjects.insert(player, key);
    }
}

/// The key a host user is kept under: SHA-256 of `issuer \n subject`.
fn subject_key(identity: &HostIdentity) -> TokenHash {
    let mut hasher = Sha256::new();
    hasher.update(identity.issuer.as_bytes());
    hasher.update(b"\n");
    hasher.update(identity.subject.as_bytes());
    hasher.finalize().into()
}

/// A valid player name from the host's: characters a name may not hold become `_`, it
/// is cut at 32 characters, and an empty one becomes `player`.
fn player_name(host_name: &str) -> String {
    let name: String = host_name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if name.is_empty() {
        "player".to_owned()
    } else {
        name
    }
}

/// Logs the session in as the host user's player, creating it at their first login. A
/// session already logged in links its player to the host user instead, unless either
/// is bound elsewhere.
pub fn host_login(
    world: &mut World,
    session: SessionId,
    identity: &HostIdentity,
) -> Result<HostLoginResult, ErrorBody> {
    let key = subject_key(identity);
    let bound = world.resource::<HostSubjects>().players.get(&key).copied();
    let current = world.resource::<Sessions>().player(session);
    let (player, created) = match (bound, current) {
        (Some(bound), Some(current)) if bound != current => {
            return fail(
                ErrorCode::Unauthenticated,
                format!(
                    "this host user is bound to player {bound}, not to player {current} who is \
                     logged in here; log out first to play as them"
                ),
            );
        }
        (Some(bound), _) => (bound, false),
        (None, Some(current)) => {
            if world
                .resource::<HostSubjects>()
                .subjects
                .contains_key(&current)
            {
                return fail(
                    ErrorCode::Unauthenticated,
                    format!("player {current} is already bound to another host user"),
                );
            }
            bind_subject(world, key, identity, current);
            (current, false)
        }
        (None, None) => {
            let player = account::create_player(world, &player_name(&identity.name));
            bind_subject(world, key, identity, player);
            (player, true)
        }
    };
    let (token, hash, expires_at) = tokens::issue(world, player);
    bind_session(world, session, player, hash);
    Ok(HostLoginResult {
        player_id: player,
        name: account::name_of(world, player),
        created,
        token,
        expires_at,
    })
}

fn bind_subject(world: &mut World, key: TokenHash, identity: &HostIdentity, player: PlayerId) {
    world.resource_mut::<HostSubjects>().bind(key, player);
    world.resource_mut::<Dirty>().host_bindings.push((
        key,
        HostBinding {
            player,
            issuer: identity.issuer.clone(),
            subject: identity.subject.clone(),
        },
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_become_valid_player_names() {
        assert_eq!(player_name("Li Wei"), "Li_Wei");
        assert_eq!(player_name("小明"), "小明");
        assert_eq!(player_name(""), "player");
        assert_eq!(player_name(&"x".repeat(40)).len(), 32);
        assert!(account::validate_name(&player_name("a<b>@c.d")).is_ok());
    }
}
