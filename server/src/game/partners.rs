//! The partner registry and the partner calls that reach the game: registering,
//! rotating keys, suspending, and applying a signed call exactly once per `ref`, with
//! an audit entry in the same commit as its effect.
//!
//! Signatures, the replay window and rate limits are checked on the ops side before a
//! call gets here (see `ops/partner_api.rs`); the game checks again what can change
//! under a call in flight (status, key version) and what it alone knows (scopes, the
//! rules of the action), so a suspension or rotation takes effect at a batch boundary.

use super::energy::{self, ActionReport};
use super::state::{config, fail, now};
use super::tasks::{self, Publisher};
use crate::config::Reporter;
use crate::partner_secret::{PartnerSecret, WrongSecret};
use crate::store::{PartnerReceipt, PartnerRecord, StoreError};
use bevy_ecs::resource::Resource;
use bevy_ecs::world::World;
use canopy_shared::admin::PartnerAction;
use canopy_shared::partner::{
    NewPartner, PartnerAuditEntry, PartnerList, PartnerStatus, PartnerView,
};
use canopy_shared::task::{CompleteTask, NewTask, PropReward, TaskStatusChange};
use canopy_shared::{ErrorBody, ErrorCode, PartnerId, PlayerId, TaskId};
use std::collections::{BTreeMap, HashMap};

/// The longest partner name.
const MAX_NAME_CHARS: usize = 64;
/// The longest partner `ref`.
const MAX_REF_CHARS: usize = 64;
/// The highest per-partner rate.
const MAX_RATE_PER_MINUTE: u32 = 60_000;

/// Every partner, and what changed in this batch.
#[derive(Resource, Default)]
pub struct Partners {
    /// Every partner by id.
    pub by_id: BTreeMap<PartnerId, PartnerRecord>,
    /// The next id to hand out (partners are never deleted, so one past the highest).
    next_id: u64,
    /// Partners changed this batch, to write.
    pub dirty: Vec<PartnerId>,
    /// First answers to refs this batch; also consulted before the store so a ref
    /// repeated within one batch replays too.
    pub receipts: HashMap<(PartnerId, String), PartnerReceipt>,
    /// Audit entries of this batch.
    pub audit: Vec<PartnerAuditEntry>,
    /// Bumped on every change to a partner, so the ops side knows to refresh its copy.
    pub revision: u64,
    /// What seals the keys at rest; set at start by [`open_keys`].
    secret: Option<PartnerSecret>,
}

impl Partners {
    /// Adds a partner read from the store.
    pub fn load(&mut self, record: PartnerRecord) {
        self.next_id = self.next_id.max(record.id.0);
        self.by_id.insert(record.id, record);
    }

    fn changed(&mut self, id: PartnerId) {
        if !self.dirty.contains(&id) {
            self.dirty.push(id);
        }
        self.revision += 1;
    }

    /// What the ops side needs to authenticate and rate-limit calls: every partner
    /// whose key the secret opens (after [`open_keys`], all of them).
    pub fn credentials(&self) -> PartnerCredentials {
        let Some(secret) = &self.secret else {
            return PartnerCredentials::default();
        };
        PartnerCredentials(
            self.by_id
                .values()
                .filter_map(|record| Some((record.id, Credential::of(record, secret)?)))
                .collect(),
        )
    }

    /// The secret, or the refusal of a change that needs it.
    fn secret(&self) -> Result<PartnerSecret, ErrorBody> {
        self.secret.clone().ok_or_else(|| {
            ErrorBody::new(
                ErrorCode::Internal,
                "partner keys cannot be sealed: no partner secret was loaded",
            )
        })
    }
}

/// Opens every partner's key with `secret` at start, and keeps it for the keys to
/// come. A key stored before keys were sealed is sealed now, written with the next
/// commit; a sealed one that `secret` does not open refuses the start: the store was
/// sealed under another secret, and every call of that partner would fail.
pub fn open_keys(world: &mut World, secret: PartnerSecret) -> Result<usize, WrongSecret> {
    let mut partners = world.resource_mut::<Partners>();
    let mut sealed = Vec::new();
    for record in partners.by_id.values_mut() {
        if secret.seal_if_plain(record)? {
            sealed.push(record.id);
        }
    }
    for &id in &sealed {
        partners.changed(id);
    }
    partners.secret = Some(secret);
    Ok(sealed.len())
}

/// One partner's credential as the ops side checks it (in memory only: the store holds
/// the key sealed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    /// SHA-256 of the current key: the HMAC key.
    pub key_digest: [u8; 32],
    /// Which key that is, so the game can refuse a call signed with a rotated one.
    pub key_version: u32,
    /// Active or suspended.
    pub status: PartnerStatus,
    /// Requests per minute.
    pub rate_per_minute: u32,
}

impl Credential {
    fn of(record: &PartnerRecord, secret: &PartnerSecret) -> Option<Self> {
        Some(Self {
            key_digest: secret.open(record)?,
            key_version: record.key_version,
            status: record.status,
            rate_per_minute: record.rate_per_minute,
        })
    }
}

/// Every partner's credential, published by the game thread after each change.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PartnerCredentials(pub BTreeMap<PartnerId, Credential>);

/// A partner call authenticated by the ops side, for the game to apply (in cluster
/// mode, on the shard of the player it names: `cluster::partners` carries it there).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct PartnerCall {
    /// Who signed it.
    pub partner: PartnerId,
    /// The key version its signature was checked against.
    pub key_version: u32,
    /// `METHOD /path`, for the audit log.
    pub call: String,
    /// SHA-256 of the body, to tell a retry from a reused ref.
    pub body_sha256: [u8; 32],
    /// What it asks.
    pub request: PartnerRequest,
}

/// What a partner call asks.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub enum PartnerRequest {
    /// Report a green action for a player.
    Action(PartnerAction),
    /// Publish a task.
    CreateTask(NewTask),
    /// Pause, reopen or close one of its tasks.
    SetTaskStatus(TaskId, TaskStatusChange),
    /// Confirm that a player completed one of its tasks.
    CompleteTask(TaskId, CompleteTask),
}

impl PartnerRequest {
    fn reference(&self) -> &str {
        match self {
            Self::Action(action) => &action.reference,
            Self::CreateTask(new) => &new.reference,
            Self::SetTaskStatus(_, change) => &change.reference,
            Self::CompleteTask(_, completion) => &completion.reference,
        }
    }

    /// The player the call is about, if any: in cluster mode it is applied on that
    /// player's shard.
    pub fn player(&self) -> Option<PlayerId> {
        match self {
            Self::Action(action) => Some(action.player_id),
            Self::CompleteTask(_, completion) => Some(completion.player_id),
            Self::CreateTask(_) | Self::SetTaskStatus(..) => None,
        }
    }
}

/// A partner as ops see it.
pub fn view(record: &PartnerRecord) -> PartnerView {
    PartnerView {
        partner_id: record.id,
        name: record.name.clone(),
        kinds: record.kinds.clone(),
        may_publish_tasks: record.may_publish_tasks,
        rate_per_minute: record.rate_per_minute,
        status: record.status,
        key_version: record.key_version,
        created_at: record.created_at,
    }
}

/// Registers a partner whose key hashes to `key_digest` (the key was made, and is
/// shown, by the ops side; it never reaches the game), stored sealed.
pub fn add(
    world: &mut World,
    new: &NewPartner,
    key_digest: [u8; 32],
) -> Result<PartnerView, ErrorBody> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return fail(ErrorCode::BadRequest, "`name` has 1 to 64 characters");
    }
    if !(1..=MAX_RATE_PER_MINUTE).contains(&new.rate_per_minute) {
        return fail(ErrorCode::BadRequest, "`rate_per_minute` is 1 to 60000");
    }
    let config = config(world);
    if let Some(unknown) = new.kinds.iter().find(|kind| config.action(kind).is_none()) {
        return fail(
            ErrorCode::BadRequest,
            format!("unknown action kind `{unknown}` in `kinds`"),
        );
    }
    let mut kinds = new.kinds.clone();
    kinds.sort();
    kinds.dedup();
    let created_at = now(world);
    let partition = crate::cluster::Partition::from_config(&config.cluster);
    let mut partners = world.resource_mut::<Partners>();
    let secret = partners.secret()?;
    partners.next_id = partition.next_player_id(partners.next_id);
    let mut record = PartnerRecord {
        id: PartnerId(partners.next_id),
        name: name.to_owned(),
        kinds,
        may_publish_tasks: new.may_publish_tasks,
        rate_per_minute: new.rate_per_minute,
        status: PartnerStatus::Active,
        sealed_key: [0; 32],
        key_version: 1,
        created_at,
        audit_next: 1,
        key_check: None,
    };
    secret.seal(&mut record, key_digest);
    let answer = view(&record);
    partners.changed(record.id);
    partners.by_id.insert(record.id, record);
    Ok(answer)
}

/// Cluster mode: adopts a partner as the cluster's registry holds it (registered,
/// rotated, suspended or reactivated on any shard). This shard keeps its own count of
/// audit entries: the partner's calls about this shard's players are audited here. A
/// key this shard's secret does not open is refused (every shard shares the secret,
/// and the start checked it); one written before keys were sealed is sealed here.
pub fn adopt(world: &mut World, mut shared: PartnerRecord) -> Result<PartnerView, ErrorBody> {
    let mut partners = world.resource_mut::<Partners>();
    partners
        .secret()?
        .seal_if_plain(&mut shared)
        .map_err(|wrong| ErrorBody::new(ErrorCode::Internal, wrong.to_string()))?;
    partners.next_id = partners.next_id.max(shared.id.0);
    let audit_next = partners
        .by_id
        .get(&shared.id)
        .map_or(1, |record| record.audit_next);
    let record = PartnerRecord {
        audit_next,
        ..shared
    };
    let answer = view(&record);
    if partners.by_id.get(&record.id) != Some(&record) {
        let id = record.id;
        partners.by_id.insert(id, record);
        partners.changed(id);
    }
    Ok(answer)
}

/// A partner's record as it stands here (the cluster's registry copies it).
pub fn record(world: &World, partner: PartnerId) -> Result<PartnerRecord, ErrorBody> {
    match world.resource::<Partners>().by_id.get(&partner) {
        Some(record) => Ok(record.clone()),
        None => fail(ErrorCode::NotFound, format!("no partner {partner}")),
    }
}

/// Every partner.
pub fn list(world: &World) -> PartnerList {
    PartnerList {
        partners: world
            .resource::<Partners>()
            .by_id
            .values()
            .map(view)
            .collect(),
    }
}

/// Replaces a partner's key: from this batch on, calls signed with the old one are
/// refused. The new key is sealed with the new version's pad.
pub fn rotate_key(
    world: &mut World,
    partner: PartnerId,
    key_digest: [u8; 32],
) -> Result<PartnerView, ErrorBody> {
    let secret = world.resource::<Partners>().secret()?;
    update(world, partner, |record| {
        record.key_version += 1;
        secret.seal(record, key_digest);
    })
}

/// Suspends or reactivates a partner.
pub fn set_status(
    world: &mut World,
    partner: PartnerId,
    status: PartnerStatus,
) -> Result<PartnerView, ErrorBody> {
    update(world, partner, |record| record.status = status)
}

fn update(
    world: &mut World,
    partner: PartnerId,
    change: impl FnOnce(&mut PartnerRecord),
) -> Result<PartnerView, ErrorBody> {
    let mut partners = world.resource_mut::<Partners>();
    let Some(record) = partners.by_id.get_mut(&partner) else {
        return fail(ErrorCode::NotFound, format!("no partner {partner}"));
    };
    change(record);
    let answer = view(record);
    partners.changed(partner);
    Ok(answer)
}

/// Applies a partner call once per `(partner, ref)`: a retry with the same body gets
/// the first answer again, a reused ref with another body `CONFLICT`. Every call that
/// gets this far is audited in the same commit as its effect.
pub fn apply_call(world: &mut World, call: &PartnerCall) -> Result<String, ErrorBody> {
    let record = authorized(world, call)?;
    let reference = call.request.reference();
    let chars = reference.chars().count();
    if chars == 0 || chars > MAX_REF_CHARS {
        return fail(ErrorCode::BadRequest, "`ref` has 1 to 64 characters");
    }
    if let Some(first) = receipt(world, call.partner, reference)? {
        if first.body_sha256 != call.body_sha256 {
            return fail(
                ErrorCode::Conflict,
                format!("`ref` {reference} was used before with another body"),
            );
        }
        return first.answer;
    }
    let outcome = match &call.request {
        PartnerRequest::Action(action) => report_action(world, &record, action),
        PartnerRequest::CreateTask(new) => task_publisher(&record)
            .and_then(|publisher| tasks::create(world, publisher, new))
            .map(|view| (json(&view), Given::Nothing)),
        PartnerRequest::SetTaskStatus(task, change) => task_publisher(&record)
            .and_then(|publisher| tasks::set_status(world, publisher, *task, change.status))
            .map(|view| (json(&view), Given::Nothing)),
        PartnerRequest::CompleteTask(task, completion) => task_publisher(&record)
            .and_then(|publisher| tasks::complete(world, publisher, *task, completion.player_id))
            .map(|reward| {
                let given = match reward.prop {
                    Some(prop) => Given::Props(prop),
                    None => Given::Grams(reward.grams),
                };
                (json(&reward), given)
            }),
    };
    if let Err(error) = &outcome
        && tasks::is_allotment_needed(error)
    {
        return Err(error.clone());
    }
    let given = outcome.as_ref().map_or(Given::Nothing, |(_, given)| *given);
    let answer = outcome.map(|(text, _)| text);
    audit(world, call, &answer, given);
    world.resource_mut::<Partners>().receipts.insert(
        (call.partner, reference.to_owned()),
        PartnerReceipt {
            body_sha256: call.body_sha256,
            answer: answer.clone(),
        },
    );
    answer
}

/// The partner, if it is still active with the key the call was signed with.
fn authorized(world: &World, call: &PartnerCall) -> Result<PartnerRecord, ErrorBody> {
    let partners = world.resource::<Partners>();
    let Some(record) = partners.by_id.get(&call.partner) else {
        return fail(ErrorCode::Unauthenticated, "unknown partner");
    };
    if record.key_version != call.key_version {
        return fail(
            ErrorCode::Unauthenticated,
            "the key this call was signed with has been rotated",
        );
    }
    if record.status == PartnerStatus::Suspended {
        return fail(ErrorCode::Forbidden, "this partner is suspended");
    }
    Ok(record.clone())
}

/// What a call gave the player, for its audit entry.
#[derive(Clone, Copy)]
enum Given {
    Nothing,
    Grams(u64),
    Props(PropReward),
}

fn report_action(
    world: &mut World,
    record: &PartnerRecord,
    action: &PartnerAction,
) -> Result<(String, Given), ErrorBody> {
    if !record.kinds.contains(&action.kind) {
        return fail(
            ErrorCode::Forbidden,
            format!(
                "partner {} may not report `{}` (its kinds: {})",
                record.id,
                action.kind,
                record.kinds.join(", ")
            ),
        );
    }
    let report = ActionReport {
        player: action.player_id,
        kind: &action.kind,
        quantity: action.quantity,
        reference: None,
        reporter: Reporter::Partner,
    };
    let result = energy::record_action(world, &report)?;
    Ok((json(&result), Given::Grams(result.grams)))
}

/// The partner as a task publisher, if it may publish tasks.
fn task_publisher(record: &PartnerRecord) -> Result<Publisher, ErrorBody> {
    if !record.may_publish_tasks {
        return fail(
            ErrorCode::Forbidden,
            format!("partner {} may not publish tasks", record.id),
        );
    }
    Ok(Publisher::Partner(record.id))
}

/// A result as the JSON text of an answer.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("protocol results serialize to JSON")
}

/// The first answer of a ref, from this batch or the store.
fn receipt(
    world: &World,
    partner: PartnerId,
    reference: &str,
) -> Result<Option<PartnerReceipt>, ErrorBody> {
    let partners = world.resource::<Partners>();
    if let Some(first) = partners.receipts.get(&(partner, reference.to_owned())) {
        return Ok(Some(first.clone()));
    }
    world
        .resource::<super::resources::StoreHandle>()
        .0
        .partner_receipt(partner, reference)
        .map_err(|err: StoreError| ErrorBody::new(ErrorCode::Internal, err.to_string()))
}

fn audit(world: &mut World, call: &PartnerCall, answer: &Result<String, ErrorBody>, given: Given) {
    let time = now(world);
    let mut partners = world.resource_mut::<Partners>();
    let Some(record) = partners.by_id.get_mut(&call.partner) else {
        return;
    };
    let seq = record.audit_next;
    record.audit_next += 1;
    let entry = PartnerAuditEntry {
        seq,
        partner_id: call.partner,
        time,
        call: call.call.clone(),
        reference: call.request.reference().to_owned(),
        player_id: call.request.player(),
        result: answer
            .as_ref()
            .map_or_else(|error| error.code.as_str(), |_| "ok")
            .to_owned(),
        grams: match given {
            Given::Grams(grams) => grams,
            Given::Nothing | Given::Props(_) => 0,
        },
        prop: match given {
            Given::Props(prop) => Some(prop),
            Given::Nothing | Given::Grams(_) => None,
        },
    };
    partners.audit.push(entry);
    if !partners.dirty.contains(&call.partner) {
        partners.dirty.push(call.partner);
    }
}

/// Drains the batch's partner writes into the store batch.
pub fn gather(world: &mut World, batch: &mut crate::store::TickBatch) {
    let mut partners = world.resource_mut::<Partners>();
    let dirty = std::mem::take(&mut partners.dirty);
    batch.partners = dirty
        .iter()
        .filter_map(|id| partners.by_id.get(id).cloned())
        .collect();
    batch.partner_receipts = partners
        .receipts
        .drain()
        .map(|((partner, reference), receipt)| (partner, reference, receipt))
        .collect();
    batch.partner_audit = std::mem::take(&mut partners.audit);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::game::{ClockMode, Game};
    use crate::store::{MemoryStore, Store};
    use canopy_shared::partner::{Signing, key_digest, signature, verify};
    use std::sync::Arc;

    const KEY: &str = "cpk_metro";

    fn game_on(store: Arc<MemoryStore>, secret: PartnerSecret) -> Game {
        let config = Arc::new(crate::config::Config::default_embedded());
        let mut game = Game::load(
            config,
            store,
            ClockMode::Manual,
            Some(1_795_536_000_000),
            None,
        )
        .expect("a memory store loads");
        game.open_partner_keys(secret)
            .expect("an empty store opens");
        game
    }

    /// Registers a partner that reports metro rides, with [`KEY`].
    fn register(game: &mut Game) -> PartnerId {
        let new = NewPartner {
            name: "Metro Co".to_owned(),
            kinds: vec!["metro".to_owned()],
            may_publish_tasks: false,
            rate_per_minute: 60,
        };
        let partner = add(game.world_mut(), &new, key_digest(KEY)).expect("registered");
        game.tick();
        partner.partner_id
    }

    fn stored(store: &MemoryStore) -> PartnerRecord {
        let partners = store.load().expect("loads").partners;
        assert_eq!(partners.len(), 1, "one partner");
        partners[0].clone()
    }

    /// Whether `hmac_key` verifies a request signed with the partner's real key.
    fn verifies(hmac_key: &[u8; 32]) -> bool {
        let signing = Signing {
            method: "POST",
            path: "/partner/v1/actions",
            timestamp: 1_795_536_042,
            nonce: "nonce-0001",
        };
        let body = br#"{"player_id":7,"kind":"metro","ref":"ride-1"}"#;
        let signed = signature(&key_digest(KEY), &signing, body);
        verify(hmac_key, &signing, body, &signed)
    }

    #[test]
    fn the_store_alone_does_not_verify_a_signature_and_a_rotation_seals_anew() {
        let store = Arc::new(MemoryStore::new());
        let mut game = game_on(store.clone(), PartnerSecret::random());
        let partner = register(&mut game);
        let first = stored(&store);
        let (_, credentials) = game.partner_credentials();
        assert!(
            verifies(&credentials.0[&partner].key_digest),
            "the server verifies"
        );
        assert!(!verifies(&first.sealed_key), "the stored value does not");

        rotate_key(game.world_mut(), partner, key_digest(KEY)).expect("rotated");
        game.tick();
        let rotated = stored(&store);
        assert_eq!(rotated.key_version, 2);
        assert_ne!(
            rotated.sealed_key, first.sealed_key,
            "the same digest under a new version has a new pad"
        );
        let (_, credentials) = game.partner_credentials();
        assert!(verifies(&credentials.0[&partner].key_digest));
        assert!(!verifies(&rotated.sealed_key));
    }

    #[test]
    fn a_store_sealed_under_another_secret_is_refused() {
        let store = Arc::new(MemoryStore::new());
        let mut game = game_on(store.clone(), PartnerSecret::random());
        register(&mut game);
        drop(game);
        let config = Arc::new(crate::config::Config::default_embedded());
        let mut restarted =
            Game::load(config, store, ClockMode::Manual, None, None).expect("the store loads");
        let refused = restarted.open_partner_keys(PartnerSecret::random());
        assert!(
            matches!(
                refused,
                Err(crate::game::PartnerKeysRefused::WrongSecret(_))
            ),
            "{refused:?}"
        );
        assert!(restarted.partner_credentials().1.0.is_empty());
    }
}
