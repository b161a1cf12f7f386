//! Each player's feed: the last 500 things friends did to them. Entries live in the
//! store (keyed by player and sequence number), not in memory, so a million players do
//! not hold half a billion entries in RAM.

use super::components::SocialLog;
use super::resources::{Dirty, StoreHandle};
use super::state::{fail, now, player_entity, touch_player};
use bevy_ecs::world::World;
use canopy_shared::model::{FeedEntry, FeedKind};
use canopy_shared::reply::FeedResult;
use canopy_shared::{ErrorBody, ErrorCode, PlayerId};

/// Entries kept per player.
pub const FEED_KEPT: u64 = 500;
/// Entries a page holds by default and at most.
const PAGE_DEFAULT: u32 = 50;
const PAGE_MAX: u32 = 200;

/// Appends an entry to `player`'s feed, dropping the one that falls out of the window.
pub fn append(
    world: &mut World,
    player: PlayerId,
    kind: FeedKind,
    actor: Option<PlayerId>,
    target: PlayerId,
    grams: u64,
) {
    let Ok(entity) = player_entity(world, player) else {
        return;
    };
    let entry = FeedEntry {
        time: now(world),
        kind,
        actor,
        target: Some(target),
        grams,
    };
    let mut log = world
        .get_mut::<SocialLog>(entity)
        .expect("player has SocialLog");
    let seq = log.feed_next;
    log.feed_next += 1;
    let mut dirty = world.resource_mut::<Dirty>();
    dirty.feed.push((player, seq, entry));
    if seq >= FEED_KEPT {
        dirty.feed_trimmed.push((player, seq - FEED_KEPT));
    }
    touch_player(world, entity);
}

/// `feed`: newest first, `limit` (1–200, default 50) entries before the cursor.
pub fn feed(
    world: &World,
    player: PlayerId,
    limit: Option<u32>,
    before: Option<u64>,
) -> Result<FeedResult, ErrorBody> {
    let limit = limit.unwrap_or(PAGE_DEFAULT);
    if limit == 0 || limit > PAGE_MAX {
        return fail(
            ErrorCode::BadRequest,
            format!("`limit` must be 1–{PAGE_MAX}"),
        );
    }
    let entity = player_entity(world, player)?;
    let next = world
        .get::<SocialLog>(entity)
        .expect("player has SocialLog")
        .feed_next;
    let floor = next.saturating_sub(FEED_KEPT);
    let before = before.unwrap_or(next).min(next);
    let mut page: Vec<(u64, FeedEntry)> = world
        .resource::<Dirty>()
        .feed
        .iter()
        .filter(|(owner, seq, _)| *owner == player && *seq < before)
        .map(|(_, seq, entry)| (*seq, entry.clone()))
        .collect();
    let stored = world
        .resource::<StoreHandle>()
        .0
        .feed(player, before, limit as usize)
        .map_err(|err| ErrorBody::new(ErrorCode::Internal, err.to_string()))?;
    page.extend(stored);
    page.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
    page.dedup_by_key(|(seq, _)| *seq);
    page.retain(|(seq, _)| *seq >= floor);
    page.truncate(limit as usize);
    let cursor = match page.last() {
        Some(&(oldest, _)) if page.len() == limit as usize && oldest > floor => Some(oldest),
        _ => None,
    };
    Ok(FeedResult {
        entries: page.into_iter().map(|(_, entry)| entry).collect(),
        next: cursor,
    })
}
