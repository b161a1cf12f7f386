//! Routing a session to the shard that owns its player: a login for another shard's
//! player is answered `WRONG_SHARD` with that shard's game socket URL (docs/PROTOCOL.md).

use super::{Partition, ShardMap};
use canopy_shared::{ErrorBody, ErrorCode};
use tokio::sync::watch;

/// Decides, from the token alone and the current shard map, where a login belongs.
#[derive(Clone)]
pub struct Router {
    partition: Partition,
    map: watch::Receiver<ShardMap>,
}

impl Router {
    /// A router for this shard, following `map`.
    pub fn new(partition: Partition, map: watch::Receiver<ShardMap>) -> Self {
        Self { partition, map }
    }

    /// This shard's place and the newest shard map it has seen (`GET /cluster`).
    pub fn view(&self) -> (Partition, ShardMap) {
        (self.partition, self.map.borrow().clone())
    }

    /// `None` when this shard should handle the login; otherwise the refusal to send,
    /// naming the owner's game socket when the owner has joined.
    pub fn misrouted_login(&self, token: &str) -> Option<ErrorBody> {
        self.refer(self.partition.token_owner(token)?)
    }

    /// Like [`Self::misrouted_login`] for a `host_login`: a host user's player lives on
    /// the shard its issuer and subject hash to, so the same user reaching any shard
    /// always finds (or is created as) the same player.
    pub fn misrouted_host_login(&self, issuer: &str, subject: &str) -> Option<ErrorBody> {
        self.refer(self.partition.host_owner(issuer, subject))
    }

    /// `None` when `owner` is this shard; otherwise the redirect to it.
    fn refer(&self, owner: u64) -> Option<ErrorBody> {
        if owner == self.partition.shard {
            return None;
        }
        let map = self.map.borrow();
        Some(match map.url(owner) {
            Some(url) => ErrorBody::redirect(
                format!("this player lives on shard {owner}; log in at {url}"),
                url,
            ),
            None => ErrorBody::new(
                ErrorCode::WrongShard,
                format!(
                    "this player lives on shard {owner}, which has not joined the shard map \
                     (epoch {}); retry shortly",
                    map.epoch
                ),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn router(shard: u64, urls: &[(u64, &str)]) -> Router {
        let map = ShardMap {
            epoch: 4,
            shards: 2,
            urls: urls
                .iter()
                .map(|&(shard, url)| (shard, url.to_owned()))
                .collect::<BTreeMap<_, _>>(),
        };
        let (_tx, rx) = watch::channel(map);
        Router::new(Partition { shard, shards: 2 }, rx)
    }

    #[test]
    fn own_and_unprefixed_tokens_stay_here() {
        let router = router(0, &[(0, "ws://a/ws"), (1, "ws://b/ws")]);
        assert_eq!(router.misrouted_login("3.secret"), None);
        assert_eq!(router.misrouted_login("secret"), None);
    }

    #[test]
    fn another_shards_token_is_redirected_to_its_socket() {
        let router = router(0, &[(0, "ws://a/ws"), (1, "ws://b/ws")]);
        let refusal = router.misrouted_login("4.secret").expect("refused");
        assert_eq!(refusal.code, ErrorCode::WrongShard);
        assert_eq!(refusal.redirect.as_deref(), Some("ws://b/ws"));
    }

    #[test]
    fn an_owner_not_yet_joined_is_refused_without_a_redirect() {
        let router = router(0, &[(0, "ws://a/ws")]);
        let refusal = router.misrouted_login("2.secret").expect("refused");
        assert_eq!(refusal.code, ErrorCode::WrongShard);
        assert_eq!(refusal.redirect, None);
    }
}
