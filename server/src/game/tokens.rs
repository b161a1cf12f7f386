//! Session tokens: issued at `register` (and host login), rotated by `refresh`, revoked
//! by `logout`, `logout_all` or an operator, and ended by their expiry. Each is held only
//! as its SHA-256. A session remembers the token it logged in with, so revoking or
//! expiring a token closes the sessions that use it.
//!
//! A revoked or expired token is kept for [`KEEP_ENDED_MS`] after its expiry, so a login
//! with it is told why it fails; then it is forgotten.

use super::resources::{Dirty, Outbox, SessionId, Sessions};
use super::rules::DAY_MS;
use super::state::{config, now};
use crate::cluster::Partition;
use crate::store::{SessionToken, TokenHash};
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::{ErrorBody, ErrorCode, Millis, PlayerId};
use rustc_hash::FxHashMap;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;

/// How long an ended token is kept after its expiry so a login with it hears why.
pub const KEEP_ENDED_MS: Millis = 7 * DAY_MS;

/// Why the server closes a session whose token ended (the close frame's reason).
pub const REVOKED_REASON: &str = "token revoked";
/// See [`REVOKED_REASON`].
pub const EXPIRED_REASON: &str = "token expired";

/// SHA-256 of a token: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh token: 256 random bits from the OS-seeded generator, as hex.
fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Every session token kept, indexed by player and by the time it next needs attention
/// (its expiry while live, the end of its keeping once ended).
#[derive(Resource, Default)]
pub struct Tokens {
    by_hash: FxHashMap<TokenHash, SessionToken>,
    by_player: FxHashMap<PlayerId, Vec<TokenHash>>,
    due: BTreeSet<(Millis, TokenHash)>,
}

impl Tokens {
    /// Adds (or replaces) a token as the store holds it, at game time `now`.
    pub fn insert(&mut self, hash: TokenHash, token: SessionToken, now: Millis) {
        if let Some(old) = self.by_hash.insert(hash, token) {
            self.due.remove(&(old.expires_at, hash));
            self.due.remove(&(old.expires_at + KEEP_ENDED_MS, hash));
        } else {
            self.by_player.entry(token.player).or_default().push(hash);
        }
        self.due.insert((Self::due_at(&token, now), hash));
    }

    /// Places every token on the queue again once the clock is known (at load, tokens
    /// are added before it is).
    pub fn requeue(&mut self, now: Millis) {
        self.due = self
            .by_hash
            .iter()
            .map(|(&hash, token)| (Self::due_at(token, now), hash))
            .collect();
    }

    /// When a token next needs attention: live, at its expiry; ended, when it is forgotten.
    fn due_at(token: &SessionToken, now: Millis) -> Millis {
        if token.revoked || token.expires_at <= now {
            token.expires_at + KEEP_ENDED_MS
        } else {
            token.expires_at
        }
    }

    /// The token with this hash, if kept.
    pub fn get(&self, hash: &TokenHash) -> Option<&SessionToken> {
        self.by_hash.get(hash)
    }

    /// The live and ended tokens of a player.
    pub fn of(&self, player: PlayerId) -> &[TokenHash] {
        self.by_player.get(&player).map_or(&[], Vec::as_slice)
    }

    fn forget(&mut self, hash: &TokenHash) {
        if let Some(token) = self.by_hash.remove(hash)
            && let Some(hashes) = self.by_player.get_mut(&token.player)
        {
            hashes.retain(|kept| kept != hash);
            if hashes.is_empty() {
                self.by_player.remove(&token.player);
            }
        }
    }

    /// Takes the tokens due at `now` off the queue.
    fn pop_due(&mut self, now: Millis) -> Vec<TokenHash> {
        let mut due = Vec::new();
        while let Some(&(at, hash)) = self.due.first()
            && at <= now
        {
            self.due.pop_first();
            due.push(hash);
        }
        due
    }
}

/// Why a token cannot log in, if it cannot.
pub fn check(world: &World, hash: &TokenHash) -> Result<SessionToken, ErrorBody> {
    let Some(&token) = world.resource::<Tokens>().get(hash) else {
        return Err(ErrorBody::new(ErrorCode::Unauthenticated, "unknown token"));
    };
    if token.revoked {
        return Err(ErrorBody::new(
            ErrorCode::Unauthenticated,
            "this token was revoked (logout, logout_all or an operator); log in again",
        ));
    }
    if token.expires_at <= now(world) {
        return Err(ErrorBody::new(
            ErrorCode::Unauthenticated,
            format!(
                "this token expired at {} (game time, ms); log in again",
                token.expires_at
            ),
        ));
    }
    Ok(token)
}

/// Records a token change in the index and in the tick's batch.
fn store(world: &mut World, hash: TokenHash, token: SessionToken) {
    let now = now(world);
    world.resource_mut::<Tokens>().insert(hash, token, now);
    world
        .resource_mut::<Dirty>()
        .tokens
        .push((hash, Some(token)));
}

/// Issues a new token for `player`, valid for `accounts.token_ttl_days`; returns the
/// token (shown once), its hash and its expiry. In cluster mode the token names the
/// player's id, so any shard can route its login ([`Partition::token`]).
pub fn issue(world: &mut World, player: PlayerId) -> (String, TokenHash, Millis) {
    let token = Partition::from_config(&config(world).cluster).token(player, &new_token());
    let hash = token_hash(&token);
    let expires_at = now(world) + config(world).accounts.token_ttl_days * DAY_MS;
    store(
        world,
        hash,
        SessionToken {
            player,
            expires_at,
            revoked: false,
        },
    );
    (token, hash, expires_at)
}

/// Keeps a token its holder already has (from a store written before tokens expired)
/// with an expiry from now.
pub fn adopt(world: &mut World, player: PlayerId, hash: TokenHash) {
    let expires_at = now(world) + config(world).accounts.token_ttl_days * DAY_MS;
    let token = SessionToken {
        player,
        expires_at,
        revoked: false,
    };
    store(world, hash, token);
}

/// Revokes a live token and closes every session using it except `keep`, which is
/// only logged out. Returns whether the token was live.
pub fn revoke(world: &mut World, hash: TokenHash, keep: Option<SessionId>) -> bool {
    let Some(&token) = world.resource::<Tokens>().get(&hash) else {
        return false;
    };
    if token.revoked || token.expires_at <= now(world) {
        return false;
    }
    store(
        world,
        hash,
        SessionToken {
            revoked: true,
            ..token
        },
    );
    end_sessions(world, token.player, hash, keep, REVOKED_REASON);
    true
}

/// Revokes every live token of `player`; returns how many there were.
pub fn revoke_all(world: &mut World, player: PlayerId, keep: Option<SessionId>) -> u32 {
    let hashes = world.resource::<Tokens>().of(player).to_vec();
    let revoked = hashes
        .into_iter()
        .filter(|&hash| revoke(world, hash, keep))
        .count();
    u32::try_from(revoked).unwrap_or(u32::MAX)
}

/// Logs out the sessions of `player` that logged in with `hash`: `keep` stays open,
/// the others are closed with `reason`.
fn end_sessions(
    world: &mut World,
    player: PlayerId,
    hash: TokenHash,
    keep: Option<SessionId>,
    reason: &'static str,
) {
    let mut sessions = world.resource_mut::<Sessions>();
    let using: Vec<SessionId> = sessions
        .of(player)
        .iter()
        .copied()
        .filter(|&session| sessions.token(session) == Some(hash))
        .collect();
    for &session in &using {
        sessions.log_out(session);
    }
    let closing = using.into_iter().filter(|&session| Some(session) != keep);
    let mut outbox = world.resource_mut::<Outbox>();
    outbox
        .closes
        .extend(closing.map(|session| (session, reason)));
}

/// Ends the tokens whose time came: at its expiry a token's sessions are closed; a
/// week after, the token is forgotten.
pub fn expire_tokens(world: &mut World) {
    let now = now(world);
    let due = world.resource_mut::<Tokens>().pop_due(now);
    for hash in due {
        let Some(&token) = world.resource::<Tokens>().get(&hash) else {
            continue;
        };
        if token.expires_at + KEEP_ENDED_MS <= now {
            world.resource_mut::<Tokens>().forget(&hash);
            world.resource_mut::<Dirty>().tokens.push((hash, None));
        } else {
            world.resource_mut::<Tokens>().insert(hash, token, now);
            end_sessions(world, token.player, hash, None, EXPIRED_REASON);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 64, "256 bits as hex");
        assert_ne!(a, b);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn a_token_is_due_at_its_expiry_then_a_week_later() {
        let mut tokens = Tokens::default();
        let live = SessionToken {
            player: PlayerId(1),
            expires_at: 1_000,
            revoked: false,
        };
        tokens.insert([1; 32], live, 0);
        assert!(tokens.pop_due(999).is_empty());
        assert_eq!(tokens.pop_due(1_000), vec![[1; 32]]);
        tokens.insert([1; 32], live, 1_000);
        assert!(tokens.pop_due(1_000 + KEEP_ENDED_MS - 1).is_empty());
        assert_eq!(tokens.pop_due(1_000 + KEEP_ENDED_MS), vec![[1; 32]]);
        tokens.forget(&[1; 32]);
        assert!(tokens.of(PlayerId(1)).is_empty());
    }

    #[test]
    fn revoking_moves_a_token_to_the_end_of_its_keeping() {
        let mut tokens = Tokens::default();
        let live = SessionToken {
            player: PlayerId(1),
            expires_at: 1_000,
            revoked: false,
        };
        tokens.insert([1; 32], live, 0);
        let revoked = SessionToken {
            revoked: true,
            ..live
        };
        tokens.insert([1; 32], revoked, 10);
        assert!(tokens.pop_due(1_000).is_empty(), "no second end at expiry");
        assert_eq!(tokens.pop_due(1_000 + KEEP_ENDED_MS), vec![[1; 32]]);
        assert_eq!(tokens.of(PlayerId(1)), &[[1; 32]], "kept until forgotten");
    }
}
