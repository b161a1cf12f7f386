//! The embedded sled store: one tree, typed key prefixes, one atomic batch and one flush
//! per tick.
//!
//! Keyspace (ids are big-endian so keys sort by id):
//! `m` meta · `p<player>` player · `b<owner>` the owner's live balls · `r<player><ref>`
//! action receipt · `l<first entry>` one commit's ledger entries · `f<player>` the
//! player's friends with higher ids (see `friend_lists`) · `q<from><to>` pending request ·
//! `k<blocker><blocked>` block · `t<team>` team · `e<player><page>` a page of feed entries
//! · `s<sha256>` session token · `o<seq>` one ops call of the audit log · `n<partner>`
//! partner · `x<partner><ref>` partner receipt · `a<partner><seq>` partner audit entry
//! · `g<flag>` risk flag · `j<task>` task · `h<player>` the player's standing with tasks
//! · `u<sha256>` a host subject bound to a player · `c<campaign>` campaign
//! · `v<player>` the player's vitality and shop counters · `V` the vitality totals
//! · `y<player>` the player's revivable expired balls and revivals today · `Y` the revival
//! totals · `z<player>` the player's protected-area certificates
//! · `w<player>` the player's energy rain · `W` the energy rain totals.
//! totals · `z<player>` the player's protected-area certificates.
//! · `O<shard><seq><leg>` a message to another shard not yet confirmed (cluster mode)
//! · `i<shard><seq><leg>` a message from another shard applied here, kept for good.
//!
//! Balls, friendships and feed entries are grouped per player and the ledger per commit: sled's memory
//! and scan time grow with the number of keys, and rewriting a small record costs far
//! less than inserting a new key, so a big world stays small and a tick writes few keys.

use super::backup::{self, BackupError, Record};
use super::durable::{DurableFiles, sync_dir};
use super::friend_lists::FriendList;
use super::outbox::{Leg, MessageKey};
use super::tap::BackupTap;
use super::{
    Ball, CampaignRecord, CampaignRecordV1, LedgerEntry, Loaded, Meta, PartnerAuditEntryV1,
    PartnerReceipt, PartnerRecordV1, SocialWrite, Store, StoreError, TaskRecordV1, TickBatch,
};
use canopy_shared::admin::{BackupReport, OpsCall};
use canopy_shared::model::FeedEntry;
use canopy_shared::partner::PartnerAuditEntry;
use canopy_shared::reply::RecordActionResult;
use canopy_shared::{PartnerId, PlayerId};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How long an open waits for sled's lock on its log. Dropping a store does not release
/// it at once: sled's background threads hold the log until their last write ends, so
/// a store reopened right after it was closed (a restart in one process, every reopen
/// test) can find it still held for a moment. Another process holding it for good
/// still fails, after this wait.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Opens sled in `dir`, waiting up to [`LOCK_WAIT`] while its lock is still held.
fn open_sled(dir: &Path, cache_mb: u64) -> sled::Result<sled::Db> {
    let config = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_mb * 1024 * 1024);
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match config.open() {
            Err(sled::Error::Io(err))
                if err.to_string().starts_with("could not acquire lock")
                    && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            opened => return opened,
        }
    }
}

const META: &[u8] = b"m";
const PLAYER: u8 = b'p';
const BALL: u8 = b'b';
const RECEIPT: u8 = b'r';
const LEDGER: u8 = b'l';
const FRIENDSHIP: u8 = b'f';
const REQUEST: u8 = b'q';
const BLOCK: u8 = b'k';
const TEAM: u8 = b't';
const FEED: u8 = b'e';
const TOKEN: u8 = b's';
const OPS_CALL: u8 = b'o';
const PARTNER: u8 = b'n';
const PARTNER_RECEIPT: u8 = b'x';
const PARTNER_AUDIT: u8 = b'a';
const RISK_FLAG: u8 = b'g';
const TASK: u8 = b'j';
const TASK_BOOK: u8 = b'h';
const HOST_BINDING: u8 = b'u';
const CAMPAIGN: u8 = b'c';
const VITALITY: u8 = b'v';
const VITALITY_TOTALS: &[u8] = b"V";
const REVIVAL: u8 = b'y';
const REVIVAL_TOTALS: &[u8] = b"Y";
const AREAS: u8 = b'z';
const RAIN: u8 = b'w';
const RAIN_TOTALS: &[u8] = b"W";
const OUTBOX: u8 = b'O';
const INBOX: u8 = b'i';

/// The file that marks a directory as a Canopy store once it holds a world. Without it,
/// a directory that has files in it is refused rather than silently reinitialised.
const MARKER: &str = "CANOPY-STORE";

/// The marker's text, naming the layout of the keys. Format 2 groups balls, friendships
/// and feed entries per player and the ledger per commit; a store of another format is
/// refused rather than misread.
const MARKER_TEXT: &str =
    "This directory is a Canopy store (sled), store format 2. Do not edit it by hand.\n";

/// The store format [`MARKER_TEXT`] names, written into backups so a restore refuses a
/// backup whose keys are laid out differently.
pub(super) const STORE_FORMAT: u32 = 2;

/// The sled-backed [`Store`].
pub struct SledStore {
    db: sled::Db,
    dir: PathBuf,
    marked: AtomicBool,
    /// Records commits while a backup scans the store.
    tap: BackupTap,
    /// sled's files, synced after every flush: only the game thread commits, so the
    /// lock is never contended.
    durable: Mutex<DurableFiles>,
    /// Held while an ops call is appended, so concurrent calls get distinct keys.
    ops_log: Mutex<()>,
}

impl SledStore {
    /// Opens (or creates) the store in `dir` with a page cache of `cache_mb` MiB.
    /// Refuses a directory that holds files but is not a Canopy store.
    pub fn open(dir: &Path, cache_mb: u64) -> Result<Self, StoreError> {
        let marker = std::fs::read_to_string(dir.join(MARKER)).ok();
        let marked = marker.is_some();
        if let Some(text) = marker
            && text != MARKER_TEXT
        {
            return Err(StoreError::Backend(format!(
                "{} was written by another version of Canopy (its {MARKER} file says: {}); \
                 this version reads store format 2. Start it on an empty directory, or run the \
                 version that wrote this store",
                dir.display(),
                text.trim()
            )));
        }
        let has_files = std::fs::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some());
        if has_files && !marked {
            return Err(StoreError::Backend(format!(
                "{} holds files but is not a Canopy store (no {MARKER} file). Point --data-dir \
                 at an empty directory or an existing Canopy store",
                dir.display()
            )));
        }
        let db = open_sled(dir, cache_mb).map_err(|err| {
            StoreError::Backend(format!(
                "cannot open the store at {}: {err}. Check the path and its permissions; \
                 if another canopy-server uses it, stop that one first",
                dir.display()
            ))
        })?;
        let durable = DurableFiles::open(dir).map_err(|err| {
            StoreError::Backend(format!(
                "cannot open the store's files at {} for syncing: {err}",
                dir.display()
            ))
        })?;
        Ok(Self {
            db,
            dir: dir.to_owned(),
            marked: AtomicBool::new(marked),
            tap: BackupTap::default(),
            durable: Mutex::new(durable),
            ops_log: Mutex::new(()),
        })
    }

    /// Whether the store holds no world yet.
    pub fn is_empty(&self) -> bool {
        !self.marked.load(Ordering::Relaxed) && self.db.is_empty()
    }

    /// Writes the marker after the first durable commit.
    fn mark(&self) -> Result<(), StoreError> {
        if self.marked.load(Ordering::Relaxed) {
            return Ok(());
        }
        let write_durably = || -> std::io::Result<()> {
            let path = self.dir.join(MARKER);
            std::fs::write(&path, MARKER_TEXT)?;
            std::fs::File::open(&path)?.sync_all()?;
            sync_dir(&self.dir)
        };
        write_durably()
            .map_err(|err| StoreError::Backend(format!("writing the store marker: {err}")))?;
        self.marked.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Makes every flushed write durable against power loss (see [`DurableFiles`]).
    fn sync(&self) -> Result<(), StoreError> {
        self.durable
            .lock()
            .map_err(|_| StoreError::Backend("a commit panicked while syncing".into()))?
            .sync()
            .map_err(|err| StoreError::Backend(format!("syncing the store to disk: {err}")))
    }

    /// Decodes every record under `prefix` and hands it, with its key, to `each`.
    fn scan<T: DeserializeOwned>(
        &self,
        prefix: u8,
        mut each: impl FnMut(&[u8], T) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        for item in self.db.scan_prefix([prefix]) {
            let (key, value) = item.map_err(StoreError::from)?;
            each(&key, decode(&key, &value)?)?;
        }
        Ok(())
    }

    /// Calls `write` with every key the batch sets (`Some(value)`) or removes (`None`).
    /// Friendships change the stored friend list of the lower id, read from the store.
    fn each_write(
        &self,
        batch: &TickBatch,
        mut write: impl FnMut(&[u8], Option<Vec<u8>>),
    ) -> Result<(), StoreError> {
        for player in &batch.players {
            write(&key(PLAYER, player.id.0), Some(encode(player)));
        }
        let mut ball_lists: BTreeMap<[u8; 9], Vec<Ball>> = BTreeMap::new();
        for ball in &batch.balls {
            let list = self.cached(&mut ball_lists, key(BALL, ball.owner.0), decode)?;
            match list.binary_search_by_key(&ball.id, |stored| stored.id) {
                Ok(at) => list[at] = ball.clone(),
                Err(at) => list.insert(at, ball.clone()),
            }
        }
        for (owner, id) in &batch.removed_balls {
            let list = self.cached(&mut ball_lists, key(BALL, owner.0), decode)?;
            list.retain(|stored| stored.id != *id);
        }
        for (key, list) in ball_lists {
            write(&key, (!list.is_empty()).then(|| encode(&list)));
        }
        for (player, reference, result) in &batch.receipts {
            write(&receipt_key(*player, reference), Some(encode(result)));
        }
        if let Some(first) = batch.ledger.first() {
            write(&key(LEDGER, first.id), Some(encode(&batch.ledger)));
        }
        let mut friend_lists: BTreeMap<[u8; 9], FriendList> = BTreeMap::new();
        for social in &batch.social {
            match *social {
                SocialWrite::Friendship(a, b, active) => {
                    let (low, high) = (a.0.min(b.0), a.0.max(b.0));
                    self.cached(&mut friend_lists, key(FRIENDSHIP, low), friend_list)?
                        .set(high, active);
                }
                SocialWrite::Request(from, to, sent) => {
                    write(
                        &pair_key(REQUEST, from.0, to.0),
                        sent.map(|sent| encode(&sent)),
                    );
                }
                SocialWrite::Block(blocker, blocked, active) => {
                    write(
                        &pair_key(BLOCK, blocker.0, blocked.0),
                        active.then(|| encode(&())),
                    );
                }
            }
        }
        for (key, list) in friend_lists {
            write(&key, (!list.is_empty()).then(|| list.encode()));
        }
        for team in &batch.teams {
            write(&key(TEAM, team.id.0), Some(encode(team)));
        }
        for id in &batch.removed_teams {
            write(&key(TEAM, id.0), None);
        }
        let mut feed_pages: BTreeMap<[u8; 17], FeedPage> = BTreeMap::new();
        for (player, seq, entry) in &batch.feed {
            let page = self.cached(&mut feed_pages, feed_page_key(*player, *seq), decode)?;
            page.push((*seq, entry.clone()));
        }
        for (player, seq) in &batch.feed_trimmed {
            let page = self.cached(&mut feed_pages, feed_page_key(*player, *seq), decode)?;
            page.retain(|(kept, _)| kept != seq);
        }
        for (key, page) in feed_pages {
            write(&key, (!page.is_empty()).then(|| encode(&page)));
        }
        for (hash, token) in &batch.tokens {
            write(&digest_key(TOKEN, hash), token.as_ref().map(encode));
        }
        for (key, binding) in &batch.host_bindings {
            write(&digest_key(HOST_BINDING, key), Some(encode(binding)));
        }
        for partner in &batch.partners {
            write(&key(PARTNER, partner.id.0), Some(encode(partner)));
        }
        for (partner, reference, receipt) in &batch.partner_receipts {
            write(
                &keyed_text(PARTNER_RECEIPT, partner.0, reference),
                Some(encode(receipt)),
            );
        }
        for task in &batch.tasks {
            write(&key(TASK, task.id.0), Some(encode(task)));
        }
        for (player, book) in &batch.task_books {
            write(&key(TASK_BOOK, player.0), Some(encode(book)));
        }
        for campaign in &batch.campaigns {
            write(&key(CAMPAIGN, campaign.id.0), Some(encode(campaign)));
        }
        for entry in &batch.partner_audit {
            write(
                &pair_key(PARTNER_AUDIT, entry.partner_id.0, entry.seq),
                Some(encode(entry)),
            );
        }
        for flag in &batch.risk_flags {
            write(&key(RISK_FLAG, flag.id.0), Some(encode(flag)));
        }
        for record in &batch.vitality {
            write(&key(VITALITY, record.player.0), Some(encode(record)));
        }
        if let Some(totals) = &batch.vitality_totals {
            write(VITALITY_TOTALS, Some(encode(totals)));
        }
        for record in &batch.revivals {
            write(&key(REVIVAL, record.player.0), Some(encode(record)));
        }
        if let Some(totals) = &batch.revival_totals {
            write(REVIVAL_TOTALS, Some(encode(totals)));
        }
        for record in &batch.areas {
            write(&key(AREAS, record.player.0), Some(encode(record)));
        }
        for record in &batch.rain {
            write(&key(RAIN, record.player.0), Some(encode(record)));
        }
        if let Some(totals) = &batch.rain_totals {
            write(RAIN_TOTALS, Some(encode(totals)));
        }
        for (message, record) in &batch.outbox {
            write(&message_key(OUTBOX, *message), record.as_ref().map(encode));
        }
        for message in &batch.inbox {
            write(&message_key(INBOX, *message), Some(Vec::new()));
        }
        write(META, Some(encode(&batch.meta)));
        Ok(())
    }

    /// The record under `key` (empty when none is stored), read from the store once
    /// per batch into `cache`.
    fn cached<'a, K: AsRef<[u8]> + Ord + Copy, T: Default>(
        &self,
        cache: &'a mut BTreeMap<K, T>,
        key: K,
        decode: fn(&[u8], &[u8]) -> Result<T, StoreError>,
    ) -> Result<&'a mut T, StoreError> {
        Ok(match cache.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let stored = match self.db.get(key).map_err(StoreError::from)? {
                    Some(bytes) => decode(key.as_ref(), &bytes)?,
                    None => T::default(),
                };
                entry.insert(stored)
            }
        })
    }
}

/// Feed entries of one player, oldest first, whose sequence numbers share a page.
type FeedPage = Vec<(u64, FeedEntry)>;

/// Feed entries stored together: a new entry rewrites a small page instead of adding a
/// key, and the kept window (500) spans a few pages.
const FEED_PAGE: u64 = 50;

/// The key of a record stored under a SHA-256 digest.
fn digest_key(prefix: u8, digest: &[u8; 32]) -> [u8; 33] {
    let mut key = [prefix; 33];
    key[1..].copy_from_slice(digest);
    key
}

/// The digest of a [`digest_key`].
fn digest_of(key: &[u8]) -> Result<[u8; 32], StoreError> {
    key.get(1..)
        .and_then(|digest| digest.try_into().ok())
        .ok_or_else(|| StoreError::Corrupt {
            key: format!("{key:?}"),
            reason: "a digest key holds a SHA-256 after its prefix".into(),
        })
}

fn feed_page_key(player: PlayerId, seq: u64) -> [u8; 17] {
    pair_key(FEED, player.0, seq / FEED_PAGE)
}

fn friend_list(key: &[u8], bytes: &[u8]) -> Result<FriendList, StoreError> {
    FriendList::decode(bytes).map_err(|err| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: err.to_string(),
    })
}

fn id_of(key: &[u8]) -> Result<u64, StoreError> {
    key.get(1..)
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason: "an id key has 9 bytes".into(),
        })
}

fn key(prefix: u8, id: u64) -> [u8; 9] {
    let mut key = [prefix; 9];
    key[1..].copy_from_slice(&id.to_be_bytes());
    key
}

fn pair_key(prefix: u8, a: u64, b: u64) -> [u8; 17] {
    let mut key = [prefix; 17];
    key[1..9].copy_from_slice(&a.to_be_bytes());
    key[9..].copy_from_slice(&b.to_be_bytes());
    key
}

/// The key of one message of a cross-shard operation.
fn message_key(prefix: u8, message: MessageKey) -> [u8; 18] {
    let mut key = [prefix; 18];
    let pair = pair_key(prefix, message.transfer.shard, message.transfer.seq);
    key[1..17].copy_from_slice(&pair[1..]);
    key[17] = match message.leg {
        Leg::Request => 0,
        Leg::Outcome => 1,
    };
    key
}

fn pair_of(key: &[u8]) -> Result<(PlayerId, PlayerId), StoreError> {
    let id = |range: std::ops::Range<usize>| {
        key.get(range)
            .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
            .map(|bytes| PlayerId(u64::from_be_bytes(bytes)))
    };
    match (id(1..9), id(9..17)) {
        (Some(a), Some(b)) if key.len() == 17 => Ok((a, b)),
        _ => Err(StoreError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason: "a pair key has 17 bytes".into(),
        }),
    }
}

fn receipt_key(player: PlayerId, reference: &str) -> Vec<u8> {
    keyed_text(RECEIPT, player.0, reference)
}

/// A key of an id followed by free text (a ref).
fn keyed_text(prefix: u8, id: u64, text: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(9 + text.len());
    key.extend_from_slice(&self::key(prefix, id));
    key.extend_from_slice(text.as_bytes());
    key
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value)
        .expect("records serialize with postcard: no maps with non-string keys fail")
}

fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    postcard::from_bytes(bytes).map_err(|err| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: err.to_string(),
    })
}

/// Decodes a record whose layout grew fields at its end: postcard is not
/// self-describing, so a record written in the older layout `Old` fails to decode as
/// `New` (it ends early) and is read as `Old` instead.
fn decode_evolved<New, Old>(key: &[u8], bytes: &[u8]) -> Result<New, StoreError>
where
    New: DeserializeOwned,
    Old: DeserializeOwned + Into<New>,
{
    decode::<New>(key, bytes).or_else(|_| decode::<Old>(key, bytes).map(Into::into))
}

/// Backup and restore reach the raw keys through these; the file format is in
/// `backup.rs`, the consistency argument in `tap.rs`.
impl SledStore {
    /// Hands every key of every tree to `each`, then the writes of every commit applied
    /// while it scanned, in order; returns how many commits those were. Applied in this
    /// order, the records are the store as of the last of those commits.
    pub(super) fn copy_records(
        &self,
        each: &mut dyn FnMut(Record<'_>) -> Result<(), BackupError>,
    ) -> Result<u64, BackupError> {
        let tapping = self.tap.start()?;
        let default = self.db.name();
        for name in self.db.tree_names() {
            let other;
            let tree: &sled::Tree = if name == default {
                &self.db
            } else {
                other = self.db.open_tree(&name).map_err(StoreError::from)?;
                &other
            };
            for item in tree.iter() {
                let (key, value) = item.map_err(StoreError::from)?;
                each(Record {
                    tree: &name,
                    key: &key,
                    value: Some(&value),
                })?;
            }
        }
        let commits = tapping.finish();
        for write in commits.iter().flatten() {
            each(Record {
                tree: &default,
                key: &write.key,
                value: write.value.as_deref(),
            })?;
        }
        Ok(commits.len() as u64)
    }

    /// Applies one backup record to this (new) store.
    pub(super) fn restore_record(&self, record: &Record<'_>) -> Result<(), StoreError> {
        let tree = if *record.tree == *self.db.name() {
            (*self.db).clone()
        } else {
            self.db.open_tree(record.tree)?
        };
        match record.value {
            Some(value) => tree.insert(record.key, value).map(drop)?,
            None => tree.remove(record.key).map(drop)?,
        }
        Ok(())
    }

    /// Ends a restore: every record flushed, then the marker that makes it a store.
    pub(super) fn finish_restore(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        self.mark()
    }
}

impl From<sled::Error> for StoreError {
    fn from(err: sled::Error) -> Self {
        StoreError::Backend(err.to_string())
    }
}

impl Store for SledStore {
    fn visit(&self, visit: &mut dyn FnMut(Loaded)) -> Result<Option<Meta>, StoreError> {
        let meta = match self.db.get(META).map_err(StoreError::from)? {
            Some(bytes) => Some(decode::<Meta>(META, &bytes)?),
            None => None,
        };
        if meta.is_none() && self.marked.load(Ordering::Relaxed) {
            return Err(StoreError::Corrupt {
                key: "m".into(),
                reason: format!(
                    "{} is marked as a Canopy store but holds no world: the data is damaged. \
                     Restore it from a backup, or move it aside to start an empty world",
                    self.dir.display()
                ),
            });
        }
        self.scan(PLAYER, |_, value| {
            visit(Loaded::Player(value));
            Ok(())
        })?;
        self.scan(VITALITY, |_, value| {
            visit(Loaded::Vitality(value));
            Ok(())
        })?;
        if let Some(bytes) = self.db.get(VITALITY_TOTALS).map_err(StoreError::from)? {
            visit(Loaded::VitalityTotals(decode(VITALITY_TOTALS, &bytes)?));
        }
        self.scan(REVIVAL, |_, value| {
            visit(Loaded::Revival(value));
            Ok(())
        })?;
        if let Some(bytes) = self.db.get(REVIVAL_TOTALS).map_err(StoreError::from)? {
            visit(Loaded::RevivalTotals(decode(REVIVAL_TOTALS, &bytes)?));
        }
        self.scan(AREAS, |_, value| {
            visit(Loaded::Areas(value));
            Ok(())
        })?;
        self.scan(RAIN, |_, value| {
            visit(Loaded::Rain(value));
            Ok(())
        })?;
        if let Some(bytes) = self.db.get(RAIN_TOTALS).map_err(StoreError::from)? {
            visit(Loaded::RainTotals(decode(RAIN_TOTALS, &bytes)?));
        }
        self.scan(BALL, |_, balls: Vec<Ball>| {
            balls.into_iter().for_each(|ball| visit(Loaded::Ball(ball)));
            Ok(())
        })?;
        for item in self.db.scan_prefix([FRIENDSHIP]) {
            let (key, value) = item.map_err(StoreError::from)?;
            let player = id_of(&key)?;
            for &friend in friend_list(&key, &value)?.ids() {
                visit(Loaded::Friendship(PlayerId(player), PlayerId(friend)));
            }
        }
        self.scan(REQUEST, |key, sent| {
            let (from, to) = pair_of(key)?;
            {
                visit(Loaded::Request(from, to, sent));
                Ok(())
            }
        })?;
        self.scan(BLOCK, |key, ()| {
            let (blocker, blocked) = pair_of(key)?;
            {
                visit(Loaded::Block(blocker, blocked));
                Ok(())
            }
        })?;
        self.scan(TEAM, |_, team| {
            visit(Loaded::Team(team));
            Ok(())
        })?;
        self.scan(TOKEN, |key, token| {
            visit(Loaded::Token(digest_of(key)?, token));
            Ok(())
        })?;
        self.scan(HOST_BINDING, |key, binding| {
            visit(Loaded::HostBinding(digest_of(key)?, binding));
            Ok(())
        })?;
        for item in self.db.scan_prefix([PARTNER]) {
            let (key, value) = item.map_err(StoreError::from)?;
            visit(Loaded::Partner(decode_evolved::<_, PartnerRecordV1>(
                &key, &value,
            )?));
        }
        self.scan(RISK_FLAG, |_, flag| {
            visit(Loaded::RiskFlag(flag));
            Ok(())
        })?;
        for item in self.db.scan_prefix([TASK]) {
            let (key, value) = item.map_err(StoreError::from)?;
            visit(Loaded::Task(decode_evolved::<_, TaskRecordV1>(
                &key, &value,
            )?));
        }
        for item in self.db.scan_prefix([CAMPAIGN]) {
            let (key, value) = item.map_err(StoreError::from)?;
            let campaign = decode_evolved::<CampaignRecord, CampaignRecordV1>(&key, &value)?;
            visit(Loaded::Campaign(campaign));
        }
        self.scan(TASK_BOOK, |key, book| {
            visit(Loaded::TaskBook(PlayerId(id_of(key)?), book));
            Ok(())
        })?;
        self.scan(OUTBOX, |_, record| {
            visit(Loaded::Outbox(record));
            Ok(())
        })?;
        Ok(meta)
    }

    fn commit(&self, batch: &TickBatch) -> Result<(), StoreError> {
        let mut writes = sled::Batch::default();
        let mut tap = self.tap.hold();
        self.each_write(batch, |key, value| {
            tap.record(key, value.as_deref());
            match value {
                Some(value) => writes.insert(key, value),
                None => writes.remove(key),
            }
        })?;
        self.db.apply_batch(writes).map_err(StoreError::from)?;
        tap.applied();
        self.db.flush().map_err(StoreError::from)?;
        self.sync()?;
        self.mark()
    }

    fn import(&self, batch: &TickBatch) -> Result<(), StoreError> {
        let mut result = Ok(());
        self.each_write(batch, |key, value| {
            if result.is_ok() {
                result = match value {
                    Some(value) => self.db.insert(key, value).map(drop),
                    None => self.db.remove(key).map(drop),
                };
            }
        })?;
        result.map_err(StoreError::from)
    }

    fn backup(&self, to: &Path) -> Result<BackupReport, BackupError> {
        backup::write_backup(self, to)
    }

    fn applied(&self, message: MessageKey) -> Result<bool, StoreError> {
        self.db
            .contains_key(message_key(INBOX, message))
            .map_err(StoreError::from)
    }

    fn receipt(
        &self,
        player: PlayerId,
        reference: &str,
    ) -> Result<Option<RecordActionResult>, StoreError> {
        let key = receipt_key(player, reference);
        match self.db.get(&key).map_err(StoreError::from)? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn record_ops_call(&self, call: &OpsCall, keep: usize) -> Result<(), StoreError> {
        let _appending = self
            .ops_log
            .lock()
            .map_err(|_| StoreError::Backend("an ops log append panicked".into()))?;
        let last = match self.db.scan_prefix([OPS_CALL]).next_back() {
            Some(item) => id_of(&item.map_err(StoreError::from)?.0)?,
            None => 0,
        };
        let seq = last + 1;
        self.db
            .insert(key(OPS_CALL, seq), encode(call))
            .map_err(StoreError::from)?;
        let oldest_kept = key(OPS_CALL, seq.saturating_sub(keep as u64) + 1);
        for item in self.db.range(key(OPS_CALL, 0)..oldest_kept) {
            self.db
                .remove(item.map_err(StoreError::from)?.0)
                .map_err(StoreError::from)?;
        }
        self.db.flush().map_err(StoreError::from)?;
        self.sync()
    }

    fn ops_calls(&self, limit: usize) -> Result<Vec<OpsCall>, StoreError> {
        self.db
            .scan_prefix([OPS_CALL])
            .rev()
            .take(limit)
            .map(|item| {
                let (key, value) = item.map_err(StoreError::from)?;
                decode(&key, &value)
            })
            .collect()
    }

    fn partner_receipt(
        &self,
        partner: PartnerId,
        reference: &str,
    ) -> Result<Option<PartnerReceipt>, StoreError> {
        let key = keyed_text(PARTNER_RECEIPT, partner.0, reference);
        match self.db.get(&key).map_err(StoreError::from)? {
            Some(bytes) => decode(&key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    fn partner_audit(
        &self,
        partner: PartnerId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<PartnerAuditEntry>, StoreError> {
        let start = pair_key(PARTNER_AUDIT, partner.0, 0);
        let end = pair_key(PARTNER_AUDIT, partner.0, before);
        let mut entries = Vec::with_capacity(limit);
        for item in self.db.range(start..end).rev().take(limit) {
            let (key, value) = item.map_err(StoreError::from)?;
            entries.push(decode_evolved::<_, PartnerAuditEntryV1>(&key, &value)?);
        }
        Ok(entries)
    }

    fn ledger(&self) -> Result<Vec<LedgerEntry>, StoreError> {
        let mut entries = Vec::new();
        self.scan(LEDGER, |_, tick: Vec<LedgerEntry>| {
            entries.extend(tick);
            Ok(())
        })?;
        Ok(entries)
    }

    fn feed(
        &self,
        player: PlayerId,
        before: u64,
        limit: usize,
    ) -> Result<Vec<(u64, FeedEntry)>, StoreError> {
        let start = pair_key(FEED, player.0, 0);
        let end = pair_key(FEED, player.0, before.div_ceil(FEED_PAGE));
        let mut entries = Vec::with_capacity(limit);
        for item in self.db.range(start..end).rev() {
            let (key, value) = item.map_err(StoreError::from)?;
            let page: FeedPage = decode(&key, &value)?;
            let older = page.into_iter().rev().filter(|(seq, _)| *seq < before);
            entries.extend(older.take(limit - entries.len()));
            if entries.len() == limit {
                break;
            }
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Account, Flow, TaskRecord, Team};
    use canopy_shared::BallId;

    #[test]
    fn a_campaign_written_before_config_keys_loads_without_one() {
        use canopy_shared::CampaignId;
        use canopy_shared::campaign::{Bonus, CampaignStatus, NewCampaign};
        let definition = NewCampaign {
            name: "old".into(),
            kind: "metro".into(),
            bonus: Bonus::Add(5),
            first_of_day: false,
            audience: canopy_shared::task::Audience::All,
            starts_at: 1,
            ends_at: 2,
            budget_grams: 100,
        };
        let status = CampaignStatus::Exhausted;
        let old_layout = encode(&(
            CampaignId(3),
            definition.clone(),
            100u64,
            0u64,
            20u64,
            status,
        ));
        let old: CampaignRecord =
            decode_evolved::<_, CampaignRecordV1>(b"c", &old_layout).expect("the old layout loads");
        assert_eq!(
            (old.id, old.disbursed_grams, old.config_key),
            (CampaignId(3), 100, None)
        );
        let new = CampaignRecord {
            config_key: Some("metro_x2".into()),
            ..old
        };
        let read: CampaignRecord = decode_evolved::<_, CampaignRecordV1>(b"c", &encode(&new))
            .expect("the new layout loads");
        assert_eq!(read, new);
    }

    #[test]
    fn a_task_written_before_prop_rewards_loads_as_a_grams_task() {
        use canopy_shared::task::{Audience, TaskStatus};
        use canopy_shared::{PartnerId, TaskId};
        let old_layout = encode(&(
            TaskId(7),
            Some(PartnerId(2)),
            "Ride".to_owned(),
            String::new(),
            30u64,
            Audience::All,
            1u64,
            2u64,
            1u32,
            (90u64, 60u64, 30u64, 2u64),
            TaskStatus::Open,
        ));
        let task: TaskRecord =
            decode_evolved::<_, TaskRecordV1>(b"j", &old_layout).expect("the old layout loads");
        assert_eq!(
            (
                task.id,
                task.reward_units(),
                task.budget,
                task.remaining,
                task.reward_prop
            ),
            (TaskId(7), 30, 90, 30, None)
        );
        let prop_task = TaskRecord {
            reward_prop: Some(canopy_shared::task::PropReward {
                prop: canopy_shared::model::PropKind::Stealth,
                count: 3,
            }),
            ..task
        };
        let read: TaskRecord = decode_evolved::<_, TaskRecordV1>(b"j", &encode(&prop_task))
            .expect("the new layout loads");
        assert_eq!((read.reward_units(), read), (3, prop_task));
    }

    #[test]
    fn a_partner_audit_entry_written_before_prop_rewards_loads_without_a_prop() {
        use canopy_shared::PartnerId;
        use canopy_shared::partner::PartnerAuditEntry;
        let entry = PartnerAuditEntry {
            seq: 3,
            partner_id: PartnerId(2),
            time: 10,
            call: "POST /partner/v1/actions".to_owned(),
            reference: "ride-1".to_owned(),
            player_id: Some(PlayerId(7)),
            result: "ok".to_owned(),
            grams: 52,
            prop: None,
        };
        let old_layout = encode(&(
            3u64,
            PartnerId(2),
            10u64,
            "POST /partner/v1/actions",
            "ride-1",
            Some(PlayerId(7)),
            "ok",
            52u64,
        ));
        let read: PartnerAuditEntry = decode_evolved::<_, PartnerAuditEntryV1>(b"a", &old_layout)
            .expect("the old layout loads");
        assert_eq!(read, entry);
        let with_prop = PartnerAuditEntry {
            grams: 0,
            prop: Some(canopy_shared::task::PropReward {
                prop: canopy_shared::model::PropKind::Stealth,
                count: 3,
            }),
            ..entry
        };
        let read: PartnerAuditEntry =
            decode_evolved::<_, PartnerAuditEntryV1>(b"a", &encode(&with_prop))
                .expect("the new layout loads");
        assert_eq!(read, with_prop);
    }

    #[test]
    fn a_partner_stored_before_keys_were_sealed_is_sealed_at_start() {
        use crate::game::{ClockMode, Game, PartnerKeysRefused};
        use crate::partner_secret::PartnerSecret;
        use canopy_shared::PartnerId;
        use canopy_shared::partner::{PartnerStatus, key_digest};
        use std::sync::Arc;
        let dir = tempfile::tempdir().expect("dir");
        let digest = key_digest("cpk_old");
        let old_layout = encode(&(
            PartnerId(1),
            "Metro Co",
            vec!["metro"],
            false,
            60u32,
            PartnerStatus::Active,
            digest,
            1u32,
            5u64,
            1u64,
        ));
        let store = SledStore::open(dir.path(), 8).expect("open");
        store
            .db
            .insert(key(PARTNER, 1), old_layout)
            .expect("an old-layout record");
        let store: Arc<dyn Store> = Arc::new(store);
        let loaded = store.load().expect("the old layout loads").partners;
        assert_eq!(
            (
                loaded[0].sealed_key,
                loaded[0].key_check,
                loaded[0].key_version
            ),
            (digest, None, 1),
            "read as a plain digest"
        );

        let config = Arc::new(crate::config::Config::default_embedded());
        let load = || Game::load(config.clone(), store.clone(), ClockMode::Manual, None, None);
        let secret = PartnerSecret::random();
        let mut game = load().expect("loads");
        game.open_partner_keys(secret.clone()).expect("seals");
        let (_, credentials) = game.partner_credentials();
        assert_eq!(
            credentials.0[&PartnerId(1)].key_digest,
            digest,
            "the partner signs as before"
        );
        drop(game);
        let sealed = store.load().expect("loads").partners.remove(0);
        assert_ne!(
            sealed.sealed_key, digest,
            "the store no longer holds the digest"
        );
        assert_eq!(secret.open(&sealed), Some(digest));
        assert_eq!(
            (sealed.name.as_str(), sealed.created_at),
            ("Metro Co", 5),
            "the rest of the record is kept"
        );

        let mut again = load().expect("loads");
        again
            .open_partner_keys(secret.clone())
            .expect("the same secret opens");
        assert_eq!(
            store.load().expect("loads").partners[0],
            sealed,
            "sealed once"
        );
        let refused = load()
            .expect("loads")
            .open_partner_keys(PartnerSecret::random());
        assert!(
            matches!(refused, Err(PartnerKeysRefused::WrongSecret(_))),
            "{refused:?}"
        );
    }

    fn ball(id: u64) -> Ball {
        Ball {
            id: BallId(id),
            owner: PlayerId(1),
            source: "walk".into(),
            full: 10,
            left: 10,
            stolen: 0,
            created_at: 1,
            ripe_at: 2,
            expires_at: 3,
            stealable: true,
            thieves: vec![],
        }
    }

    fn syncs(store: &SledStore) -> u64 {
        store.durable.lock().expect("no commit panicked").syncs
    }

    #[test]
    fn a_commit_returns_only_after_a_durable_sync() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path(), 8).expect("open");
        let before = syncs(&store);
        store
            .commit(&TickBatch {
                balls: vec![ball(1)],
                ..TickBatch::default()
            })
            .expect("commit");
        assert_eq!(syncs(&store), before + 1, "one sync per commit");
    }

    #[test]
    fn values_too_big_for_the_log_are_synced_as_blob_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path(), 8).expect("open");
        let ledger = (1..=20_000)
            .map(|id| LedgerEntry {
                id,
                time: 42,
                flow: Flow::Created,
                grams: 10,
                from: Account::Mint,
                to: Account::Ball(BallId(id)),
            })
            .collect();
        store
            .commit(&TickBatch {
                ledger,
                ..TickBatch::default()
            })
            .expect("commit");
        let durable = store.durable.lock().expect("no commit panicked");
        assert!(
            !durable.synced_blobs.is_empty(),
            "a commit of a large ledger record wrote a blob file and synced it"
        );
    }

    #[test]
    fn revival_records_and_totals_are_there_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let record = crate::store::RevivalRecord {
            player: PlayerId(3),
            expired: vec![crate::store::Revivable {
                ball_id: BallId(9),
                grams: 52,
                expired_at: 1_000,
                revived_by: Some(PlayerId(4)),
            }],
            day: 7,
            revived_today: 1,
        };
        let totals = crate::store::RevivalTotals { revived: 52 };
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            store
                .commit(&TickBatch {
                    revivals: vec![record.clone()],
                    revival_totals: Some(totals.clone()),
                    ..TickBatch::default()
                })
                .expect("commit");
        }
        let store = SledStore::open(dir.path(), 8).expect("reopen");
        let snapshot = store.load().expect("load");
        assert_eq!(snapshot.revivals, vec![record]);
        assert_eq!(snapshot.revival_totals, Some(totals));
        assert!(snapshot.vitality.is_empty(), "`y` and `v` keys do not mix");
    }

    #[test]
    fn vitality_records_and_totals_are_there_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let record = crate::store::VitalityRecord {
            player: PlayerId(7),
            points: 42,
            carry_grams: 3,
            bought_today: [("stealth".to_owned(), 1)].into(),
            gifts_today: 2,
            ..crate::store::VitalityRecord::default()
        };
        let totals = crate::store::VitalityTotals {
            earned: 62,
            spent: 20,
        };
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            store
                .commit(&TickBatch {
                    vitality: vec![record.clone()],
                    vitality_totals: Some(totals.clone()),
                    ..TickBatch::default()
                })
                .expect("commit");
        }
        let store = SledStore::open(dir.path(), 8).expect("reopen");
        let snapshot = store.load().expect("load");
        assert_eq!(snapshot.vitality, vec![record]);
        assert_eq!(snapshot.vitality_totals, Some(totals));
    }

    #[test]
    fn outbox_records_and_inbox_marks_survive_reopening_beside_every_other_record() {
        use crate::store::outbox::{Envelope, Message, OutboxRecord, TransferId};
        let dir = tempfile::tempdir().expect("temp dir");
        let key = |seq, leg| MessageKey {
            transfer: TransferId { shard: 1, seq },
            leg,
        };
        let record = OutboxRecord {
            envelope: Envelope {
                key: key(7, Leg::Outcome),
                from_shard: 1,
                to_shard: 0,
                grams: 12,
                message: Message::StealDecided(Ok(crate::store::outbox::Stolen {
                    grams: 12,
                    reaction_ms: 90_000,
                    ripe_left: 2,
                })),
            },
            reservation: None,
        };
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            store
                .commit(&TickBatch {
                    outbox: vec![(key(7, Leg::Outcome), Some(record.clone()))],
                    inbox: vec![key(7, Leg::Request)],
                    ..TickBatch::default()
                })
                .expect("commit");
        }
        let store = SledStore::open(dir.path(), 8).expect("reopen");
        assert_eq!(store.load().expect("load").outbox, vec![record]);
        assert!(store.applied(key(7, Leg::Request)).expect("lookup"));
        assert!(!store.applied(key(7, Leg::Outcome)).expect("lookup"));
        store
            .commit(&TickBatch {
                outbox: vec![(key(7, Leg::Outcome), None)],
                ..TickBatch::default()
            })
            .expect("commit");
        assert!(store.load().expect("load").outbox.is_empty(), "confirmed");
        assert!(
            store.applied(key(7, Leg::Request)).expect("lookup"),
            "kept for good"
        );
    }

    #[test]
    fn rain_records_with_their_taps_and_the_totals_are_there_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let params = crate::config::Config::default_embedded().rain.params();
        let record = crate::store::RainRecord {
            player: PlayerId(7),
            day: 20_000,
            rounds_started: 1,
            round: Some(crate::store::RainRound {
                id: 3,
                seed: 99,
                params,
                starts_at: 1_000,
                ends_at: 16_000,
                taps: vec![crate::store::RainTap {
                    ball: 4,
                    grams: 5,
                    at_ms: 2_100,
                    reaction_ms: 700,
                }],
            }),
            ..crate::store::RainRecord::default()
        };
        let totals = crate::store::RainTotals {
            next_round: 4,
            rounds: 2,
            grams: 170,
        };
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            store
                .commit(&TickBatch {
                    rain: vec![record.clone()],
                    rain_totals: Some(totals.clone()),
                    ..TickBatch::default()
                })
                .expect("commit");
        }
        let store = SledStore::open(dir.path(), 8).expect("reopen");
        let snapshot = store.load().expect("load");
        assert_eq!(snapshot.rain, vec![record]);
        assert_eq!(snapshot.rain_totals, Some(totals));
    }

    #[test]
    fn a_committed_batch_is_there_after_reopening() {
        let dir = tempfile::tempdir().expect("temp dir");
        let meta = Meta {
            game_time: 42,
            next_ball_id: 3,
            ..Meta::default()
        };
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            let mut batch = TickBatch {
                balls: vec![ball(1), ball(2)],
                meta: meta.clone(),
                ..TickBatch::default()
            };
            batch.ledger.push(LedgerEntry {
                id: 1,
                time: 42,
                flow: Flow::Created,
                grams: 10,
                from: Account::Mint,
                to: Account::Ball(BallId(1)),
            });
            batch.receipts.push((
                PlayerId(1),
                "step-1".into(),
                RecordActionResult {
                    grams: 10,
                    ball: None,
                },
            ));
            store.commit(&batch).expect("commit");
            let removal = TickBatch {
                removed_balls: vec![(PlayerId(1), BallId(2))],
                meta: meta.clone(),
                ..TickBatch::default()
            };
            store.commit(&removal).expect("commit");
        }
        let store = SledStore::open(dir.path(), 8).expect("reopen");
        let snapshot = store.load().expect("load");
        assert_eq!(snapshot.meta, Some(meta));
        assert_eq!(snapshot.balls, vec![ball(1)]);
        assert_eq!(store.ledger().expect("ledger").len(), 1);
        let receipt = store.receipt(PlayerId(1), "step-1").expect("receipt");
        assert_eq!(receipt.map(|r| r.grams), Some(10));
        assert_eq!(
            store.receipt(PlayerId(2), "step-1").expect("other player"),
            None
        );
    }

    #[test]
    fn a_removed_team_is_gone_after_reopening() {
        use canopy_shared::TeamId;
        let team = |id| Team {
            id: TeamId(id),
            name: "grove".into(),
            species: "sacsaoul".into(),
            members: vec![PlayerId(2)],
            invited: Vec::new(),
            progress: 0,
        };
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            let written = TickBatch {
                teams: vec![team(1), team(3)],
                ..TickBatch::default()
            };
            store.commit(&written).expect("commit");
            let removal = TickBatch {
                removed_teams: vec![TeamId(3)],
                ..TickBatch::default()
            };
            store.commit(&removal).expect("commit");
        }
        let store = SledStore::open(dir.path(), 8).expect("reopen");
        assert_eq!(store.load().expect("load").teams, vec![team(1)]);
    }

    #[test]
    fn friendships_survive_reopening_and_removals() {
        let dir = tempfile::tempdir().expect("temp dir");
        let friendship = |a, b, active| SocialWrite::Friendship(PlayerId(a), PlayerId(b), active);
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            let first = TickBatch {
                social: vec![
                    friendship(3, 1, true),
                    friendship(1, 2, true),
                    friendship(2, 3, true),
                ],
                ..TickBatch::default()
            };
            store.commit(&first).expect("commit");
            let second = TickBatch {
                social: vec![
                    friendship(1, 3, false),
                    friendship(1, 4, true),
                    friendship(2, 3, false),
                ],
                ..TickBatch::default()
            };
            store.commit(&second).expect("commit");
        }
        let store = SledStore::open(dir.path(), 8).expect("reopen");
        let mut friendships = store.load().expect("load").friendships;
        friendships.sort();
        assert_eq!(
            friendships,
            vec![(PlayerId(1), PlayerId(2)), (PlayerId(1), PlayerId(4))]
        );
    }

    #[test]
    fn the_feed_pages_back_newest_first_without_trimmed_entries() {
        use canopy_shared::model::FeedKind;
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(dir.path(), 8).expect("open");
        let entry = |seq: u64| FeedEntry {
            time: seq,
            kind: FeedKind::Watered,
            actor: Some(PlayerId(2)),
            target: Some(PlayerId(1)),
            grams: seq,
        };
        for first in [0, 60] {
            let batch = TickBatch {
                feed: (first..first + 60)
                    .map(|seq| (PlayerId(1), seq, entry(seq)))
                    .collect(),
                feed_trimmed: if first == 60 {
                    (0..20).map(|seq| (PlayerId(1), seq)).collect()
                } else {
                    Vec::new()
                },
                ..TickBatch::default()
            };
            store.commit(&batch).expect("commit");
        }
        let seqs = |before, limit| -> Vec<u64> {
            let page = store.feed(PlayerId(1), before, limit).expect("feed");
            page.into_iter().map(|(seq, _)| seq).collect()
        };
        assert_eq!(seqs(u64::MAX, 3), vec![119, 118, 117]);
        assert_eq!(seqs(51, 2), vec![50, 49]);
        assert_eq!(seqs(25, 50), (20..25).rev().collect::<Vec<_>>());
        assert!(
            store
                .feed(PlayerId(2), u64::MAX, 10)
                .expect("feed")
                .is_empty()
        );
    }

    #[test]
    fn a_store_of_an_older_format_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().expect("temp dir");
        {
            let store = SledStore::open(dir.path(), 8).expect("open");
            store.commit(&TickBatch::default()).expect("commit");
        }
        let old = "This directory is a Canopy store (sled). Do not edit it by hand.\n";
        std::fs::write(dir.path().join(MARKER), old).expect("write the old marker");
        let refused = SledStore::open(dir.path(), 8).err().expect("refused");
        let message = refused.to_string();
        assert!(message.contains("store format 2"), "{message}");
        assert!(message.contains("empty directory"), "{message}");
    }
}
