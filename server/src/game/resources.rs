//! World resources: the indexes that make a tick cost what happens in it, the tick's
//! inputs and outputs, and the handles the systems need.

use crate::config::Config;
use crate::store::{
    Account, Flow, HostBinding, LedgerEntry, LedgerTotals, RainTotals, RevivalTotals, SessionToken,
    SocialWrite, Store, Team, TokenHash, VitalityTotals,
};
use bevy_ecs::entity::Entity;
use bevy_ecs::resource::Resource;
use canopy_shared::admin::{GrantProps, PartnerAction};
use canopy_shared::model::FeedEntry;
use canopy_shared::reply::RecordActionResult;
use canopy_shared::{BallId, ErrorBody, Event, Millis, PlayerId, Request, TeamId};
use rand::rngs::StdRng;
use rustc_hash::FxHashMap;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// The config in force; replaced whole on hot reload.
#[derive(Resource, Clone)]
pub struct Settings(pub Arc<Config>);

/// The store, for idempotency receipts that are not kept in memory.
#[derive(Resource, Clone)]
pub struct StoreHandle(pub Arc<dyn Store>);

/// The seedable random source of the rules (steal shares), so tests are deterministic.
#[derive(Resource)]
pub struct GameRng(pub StdRng);

/// Id → entity lookups. The keys are ids the server hands out, never chosen by a
/// client, so a fast non-keyed hasher is safe.
#[derive(Resource, Default)]
pub struct Directory {
    /// Player entities by id.
    pub players: FxHashMap<PlayerId, Entity>,
    /// Live ball entities by id.
    pub balls: FxHashMap<BallId, Entity>,
}

/// Time-ordered queues: which balls ripen or expire next. A tick pops what is due
/// instead of scanning every ball.
#[derive(Resource, Default)]
pub struct Timeline {
    /// Balls waiting to ripen, by ripening time.
    pub ripening: BTreeSet<(Millis, BallId)>,
    /// Live balls by expiry time.
    pub expiring: BTreeSet<(Millis, BallId)>,
}

impl Timeline {
    /// Drops the balls that ripened at or before `now` from the ripening queue: at start,
    /// balls that ripened while the server was down are not announced again.
    pub fn forget_ripe(&mut self, now: Millis) {
        self.ripening = self.ripening.split_off(&(now.saturating_add(1), BallId(0)));
    }
}

/// Id counters; ids are never reused, so an id below `next_ball` that is not live is a
/// ball that existed and ended (`GONE`), and any other is `NOT_FOUND`.
#[derive(Resource, Clone, Default)]
pub struct Counters {
    /// Next player id.
    pub next_player: u64,
    /// Next ball id.
    pub next_ball: u64,
    /// Next ledger entry id.
    pub next_ledger: u64,
    /// Next certificate id.
    pub next_certificate: u64,
    /// Next team id.
    pub next_team: u64,
}

impl Counters {
    /// Takes the next id from a counter.
    pub fn take(counter: &mut u64) -> u64 {
        *counter += 1;
        *counter
    }
}

/// The ledger: running totals and the entries written this tick.
#[derive(Resource, Default)]
pub struct Ledger {
    /// Totals since the world began.
    pub totals: LedgerTotals,
    /// Vitality totals since the world began.
    pub vitality: VitalityTotals,
    /// Revival totals since the world began.
    pub revival: RevivalTotals,
    /// Energy rain totals since the world began, and the next round id.
    pub rain: RainTotals,
    /// Entries of the current tick, drained into the store batch.
    pub pending: Vec<LedgerEntry>,
}

impl Ledger {
    /// Records one movement of energy and updates the totals.
    pub fn record(
        &mut self,
        id: u64,
        time: Millis,
        flow: Flow,
        grams: u64,
        from: Account,
        to: Account,
    ) {
        let totals = &mut self.totals;
        match flow {
            Flow::Created => totals.created += grams,
            Flow::Collected => totals.collected += grams,
            Flow::Stolen => totals.stolen += grams,
            Flow::Helped => totals.helped += grams,
            Flow::Watered => totals.watered += grams,
            Flow::Expired => totals.expired += grams,
            Flow::Planted => {
                totals.planted += grams;
                if matches!(from, Account::Team(_)) {
                    totals.in_team_trees -= grams;
                }
            }
            // A watering on its way to a team tree of another shard is in a transfer
            // until it arrives there.
            Flow::TeamWatered => {
                if matches!(to, Account::Team(_)) {
                    totals.in_team_trees += grams;
                }
            }
            // Held and forfeited grams are counted from the flags (see `audit`).
            Flow::Held | Flow::Released | Flow::Forfeited => {}
            Flow::VitalityEarned | Flow::ReviveRewarded => self.vitality.earned += grams,
            Flow::VitalitySpent => self.vitality.spent += grams,
            Flow::Revived => self.revival.revived += grams,
            Flow::Rained => self.rain.grams += grams,
            // Props, not grams: the task budgets' audit counts them.
            Flow::PropsRewarded => {}
            // Counted from the ledger's transfer accounts (see `audit`).
            Flow::Arrived | Flow::PropsGifted => {}
        }
        self.pending.push(LedgerEntry {
            id,
            time,
            flow,
            grams,
            from,
            to,
        });
    }
}

/// What changed this tick and must be written.
#[derive(Resource, Default)]
pub struct Dirty {
    /// Player entities whose record changed.
    pub players: HashSet<Entity>,
    /// Balls created, changed or removed, with their owners.
    pub balls: HashMap<BallId, PlayerId>,
    /// First results of `record_action` refs this tick; also consulted before the store
    /// so a ref repeated within one tick replays too.
    pub receipts: HashMap<(PlayerId, String), RecordActionResult>,
    /// Friendships, requests and blocks that changed.
    pub social: Vec<SocialWrite>,
    /// Teams that changed.
    pub teams: HashSet<TeamId>,
    /// New feed entries: (player, sequence number, entry).
    pub feed: Vec<(PlayerId, u64, FeedEntry)>,
    /// Feed entries past the kept window.
    pub feed_trimmed: Vec<(PlayerId, u64)>,
    /// Session tokens issued, revoked or forgotten, in order.
    pub tokens: Vec<(TokenHash, Option<SessionToken>)>,
    /// Host subjects bound to players.
    pub host_bindings: Vec<(TokenHash, HostBinding)>,
    /// Players whose stealable grams may have changed, for `friend_stealable` and
    /// `forest_changed`.
    pub stealable_changed: HashSet<PlayerId>,
    /// Players whose balls were created, changed, ripened or ended, for
    /// `forest_changed`.
    pub forests_changed: HashSet<PlayerId>,
    /// Player entities whose vitality record changed.
    pub vitality: HashSet<Entity>,
    /// Player entities whose revival record changed.
    pub revivals: HashSet<Entity>,
    /// Player entities that bought a protected area.
    pub areas: HashSet<Entity>,
    /// Player entities whose energy rain record changed.
    pub rain: HashSet<Entity>,
}

/// Co-planting teams.
#[derive(Resource, Default)]
pub struct Teams {
    /// Every team by id.
    pub by_id: BTreeMap<TeamId, Team>,
    /// The teams each player belongs to: an index over the teams' member lists, kept
    /// only through the methods below.
    by_member: HashMap<PlayerId, BTreeSet<TeamId>>,
}

impl Teams {
    /// Records that `player` is now a member of `team`.
    pub fn add_member(&mut self, team: TeamId, player: PlayerId) {
        self.by_member.entry(player).or_default().insert(team);
    }

    /// Records that `player` left `team`.
    pub fn remove_member(&mut self, team: TeamId, player: PlayerId) {
        if let Some(teams) = self.by_member.get_mut(&player) {
            teams.remove(&team);
            if teams.is_empty() {
                self.by_member.remove(&player);
            }
        }
    }

    /// The teams a player belongs to.
    pub fn of(&self, player: PlayerId) -> impl Iterator<Item = TeamId> + '_ {
        self.by_member.get(&player).into_iter().flatten().copied()
    }

    /// Every player with their teams, for audits.
    pub fn memberships(&self) -> impl Iterator<Item = (PlayerId, &BTreeSet<TeamId>)> {
        self.by_member
            .iter()
            .map(|(&player, teams)| (player, teams))
    }
}

/// A WebSocket session, numbered by the network layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// Who sent a command and gets its reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A WebSocket session.
    Session(SessionId),
    /// An ops HTTP admin call, numbered by the caller.
    Admin(u64),
}

/// Ops that only the ops HTTP surface can send.
#[derive(Clone, Debug)]
pub enum AdminOp {
    /// The partner channel for green actions.
    PartnerAction(PartnerAction),
    /// Grant props to a player.
    GrantProps(GrantProps),
    /// Move a manual clock.
    AdvanceClock(u64),
    /// Check the conservation identities over the whole world.
    Audit,
    /// Revoke every session token of a player and close their sessions.
    RevokeTokens(PlayerId),
    /// Register a partner whose API key hashes to the digest.
    PartnerAdd(Box<canopy_shared::partner::NewPartner>, [u8; 32]),
    /// List the partners.
    PartnerList,
    /// Give a partner a new key (by its digest); the old one stops working.
    PartnerRotateKey(canopy_shared::PartnerId, [u8; 32]),
    /// Suspend or reactivate a partner.
    PartnerSetStatus(
        canopy_shared::PartnerId,
        canopy_shared::partner::PartnerStatus,
    ),
    /// A signed partner call, authenticated by the ops side.
    PartnerCall(Box<super::partners::PartnerCall>),
    /// List risk flags.
    RiskFlags(canopy_shared::risk::FlagQuery),
    /// Release or confirm a risk flag.
    RiskReview(canopy_shared::FlagId, canopy_shared::risk::FlagStatus),
    /// Raise the flags of a graph analysis's findings.
    RiskGraphFindings(Vec<canopy_shared::risk::GraphFinding>),
    /// Publish a task as ops.
    TaskCreate(Box<canopy_shared::task::NewTask>),
    /// Pause, reopen or close any task.
    TaskSetStatus(canopy_shared::TaskId, canopy_shared::task::TaskStatus),
    /// Confirm a player completed an ops task.
    TaskComplete(canopy_shared::TaskId, PlayerId),
    /// List every task.
    TaskList,
    /// Define a campaign.
    CampaignCreate(Box<canopy_shared::campaign::NewCampaign>),
    /// Close a campaign.
    CampaignClose(canopy_shared::CampaignId),
    /// List every campaign.
    CampaignList,
    /// Cluster mode: adopt a task as the cluster's bucket defines it.
    TaskAdopt(Box<canopy_shared::task::TaskView>),
    /// Cluster mode: this shard's allotment of a task's budget is now this total (and
    /// with `dry`, the ledger has no more to give).
    TaskAllot {
        /// The task.
        task: canopy_shared::TaskId,
        /// What the allotment ledger counts as allotted to this shard.
        total: u64,
        /// Whether the ledger's unallotted budget cannot cover one more reward.
        dry: bool,
    },
    /// Cluster mode: adopt a campaign as the cluster's bucket defines it.
    CampaignAdopt(Box<canopy_shared::campaign::CampaignView>),
    /// Cluster mode: this shard's allotment of a campaign's budget is now this total
    /// (and with `dry`, the ledger has no more to give).
    CampaignAllot {
        /// The campaign.
        campaign: canopy_shared::CampaignId,
        /// What the allotment ledger counts as allotted to this shard.
        total: u64,
        /// Whether the ledger's unallotted budget cannot cover one more bonus unit.
        dry: bool,
    },
    /// Cluster mode: a closed task gives back what this shard holds of its budget.
    TaskGiveBack(canopy_shared::TaskId),
    /// Cluster mode: a closed campaign gives back what this shard holds of its budget.
    CampaignGiveBack(canopy_shared::CampaignId),
    /// Cluster mode, shard 0: the config file's campaigns as the cluster publishes them.
    CampaignConfigured,
    /// Cluster mode: adopt a partner as the cluster's registry holds it.
    PartnerAdopt(Box<crate::store::PartnerRecord>),
    /// A partner's whole record, key digest included, for the cluster's registry.
    PartnerRecord(canopy_shared::PartnerId),
}

/// A host app user, as a verified `host_login` JWT names them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostIdentity {
    /// The JWT's `iss`.
    pub issuer: String,
    /// The JWT's `sub`: the user at the host.
    pub subject: String,
    /// The configured name claim (or the subject): the player's name at creation.
    pub name: String,
}

/// What a command asks for.
#[derive(Clone, Debug)]
pub enum Op {
    /// A protocol request from a player's connection.
    Client(Request),
    /// A `host_login` whose JWT the network side verified.
    HostLogin(HostIdentity),
    /// An admin call.
    Admin(AdminOp),
    /// Cluster mode: a message, confirmation or timeout from the cluster part.
    Remote(Box<super::remote::Delivery>),
    /// Cluster mode: another shard reads some of this shard's players.
    View(Box<super::remote_views::ViewQuery>),
}

/// One command for the game thread.
#[derive(Clone, Debug)]
pub struct Command {
    /// Who gets the reply.
    pub origin: Origin,
    /// The request id to echo.
    pub request_id: u64,
    /// The op.
    pub op: Op,
}

/// Commands waiting for the next tick.
#[derive(Resource, Default)]
pub struct Inbox(pub Vec<Command>);

/// A reply, ready to send once the tick is durable.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// The full JSON frame for a session.
    Session {
        /// The session.
        session: SessionId,
        /// The frame text.
        text: String,
    },
    /// The result object (JSON text) or error of an admin call.
    Admin {
        /// The caller's number.
        key: u64,
        /// The outcome.
        result: Result<String, ErrorBody>,
    },
}

/// Who an event goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Recipient {
    /// Every open session of a player: their own events.
    Player(PlayerId),
    /// One session: pushes about other players that it watches.
    Session(SessionId),
}

impl From<PlayerId> for Recipient {
    fn from(player: PlayerId) -> Self {
        Self::Player(player)
    }
}

/// Replies and events of the tick, held until the batch is flushed.
#[derive(Resource, Default)]
pub struct Outbox {
    /// Replies in the order their commands were applied.
    pub replies: Vec<Reply>,
    /// Events for players (each of their sessions) or for one watching session.
    pub events: Vec<(Recipient, Event)>,
    /// Each command's op and result (`ok` or an error code), for metrics.
    pub results: Vec<(&'static str, &'static str)>,
    /// Sessions to close once the batch is durable, with the close frame's reason.
    pub closes: Vec<(SessionId, &'static str)>,
}

/// Connected sessions and who each is logged in as: the one place that knows, used for
/// authentication and for routing events to a player's sessions and to watchers.
#[derive(Resource, Default)]
pub struct Sessions {
    /// Every connected session; `None` before login.
    players: HashMap<SessionId, Option<PlayerId>>,
    /// The token each logged-in session used, so ending a token ends its sessions.
    logins: HashMap<SessionId, TokenHash>,
    /// The sessions each logged-in player has open.
    by_player: HashMap<PlayerId, Vec<SessionId>>,
    /// What logged-in sessions watch; a watch ends with its session or login.
    watches: Watches,
}

/// Who watches what, indexed both ways so a push costs its watchers, never a scan of
/// the sessions: each session's watches, the sessions watching each player's friends
/// list (by that player) and the sessions watching each forest (by its owner).
#[derive(Default)]
struct Watches {
    /// The forest each session watches (at most one).
    forest_of: HashMap<SessionId, PlayerId>,
    /// Owner → the sessions watching their forest.
    forest: HashMap<PlayerId, Vec<SessionId>>,
    /// Player → their sessions watching their friends list.
    friends: HashMap<PlayerId, Vec<SessionId>>,
}

/// Adds `session` under `key` in a one-to-many index.
fn index_add(index: &mut HashMap<PlayerId, Vec<SessionId>>, key: PlayerId, session: SessionId) {
    let sessions = index.entry(key).or_default();
    if !sessions.contains(&session) {
        sessions.push(session);
    }
}

/// Removes `session` from under `key`, dropping the key once nobody is left.
fn index_remove(index: &mut HashMap<PlayerId, Vec<SessionId>>, key: PlayerId, session: SessionId) {
    if let Some(sessions) = index.get_mut(&key) {
        sessions.retain(|&s| s != session);
        if sessions.is_empty() {
            index.remove(&key);
        }
    }
}

impl Sessions {
    /// A session connected (not logged in yet).
    pub fn connect(&mut self, session: SessionId) {
        self.players.insert(session, None);
    }

    /// A session logged in as `player` with the token `token` (possibly after being
    /// someone else). A session that closed before its login was applied stays closed:
    /// binding it would leave the player online forever.
    pub fn bind(&mut self, session: SessionId, player: PlayerId, token: TokenHash) {
        if !self.players.contains_key(&session) {
            return;
        }
        self.unbind(session);
        self.players.insert(session, Some(player));
        self.logins.insert(session, token);
        self.by_player.entry(player).or_default().push(session);
    }

    /// A session logged out: it stays connected, as before its login.
    pub fn log_out(&mut self, session: SessionId) {
        if self.players.contains_key(&session) {
            self.unbind(session);
            self.players.insert(session, None);
        }
    }

    /// The token a session logged in with.
    pub fn token(&self, session: SessionId) -> Option<TokenHash> {
        self.logins.get(&session).copied()
    }

    /// A session closed.
    pub fn disconnect(&mut self, session: SessionId) {
        self.unbind(session);
        self.players.remove(&session);
    }

    fn unbind(&mut self, session: SessionId) {
        self.logins.remove(&session);
        if let Some(&Some(player)) = self.players.get(&session) {
            self.unwatch_friends(session);
            self.unwatch_forest(session, None);
            index_remove(&mut self.by_player, player, session);
        }
    }

    /// The session watches its player's friends list. Ignored before login.
    pub fn watch_friends(&mut self, session: SessionId) {
        if let Some(player) = self.player(session) {
            index_add(&mut self.watches.friends, player, session);
        }
    }

    /// The session stops watching its friends list.
    pub fn unwatch_friends(&mut self, session: SessionId) {
        if let Some(player) = self.player(session) {
            index_remove(&mut self.watches.friends, player, session);
        }
    }

    /// The session watches `owner`'s forest instead of any forest it watched before.
    /// Ignored before login.
    pub fn watch_forest(&mut self, session: SessionId, owner: PlayerId) {
        if self.player(session).is_none() {
            return;
        }
        self.unwatch_forest(session, None);
        self.watches.forest_of.insert(session, owner);
        index_add(&mut self.watches.forest, owner, session);
    }

    /// The session stops watching a forest: any, or only `owner`'s when given.
    pub fn unwatch_forest(&mut self, session: SessionId, owner: Option<PlayerId>) {
        let watched = self.watches.forest_of.get(&session).copied();
        if let Some(watched) = watched
            && owner.is_none_or(|owner| owner == watched)
        {
            self.watches.forest_of.remove(&session);
            index_remove(&mut self.watches.forest, watched, session);
        }
    }

    /// The sessions of `player` that watch their friends list.
    pub fn friends_watchers(&self, player: PlayerId) -> &[SessionId] {
        self.watches.friends.get(&player).map_or(&[], Vec::as_slice)
    }

    /// How many players have a session watching their friends list.
    pub fn friends_watching_count(&self) -> usize {
        self.watches.friends.len()
    }

    /// Every player with a session watching their friends list, in no particular order.
    pub fn friends_watching_players(&self) -> impl Iterator<Item = PlayerId> + '_ {
        self.watches.friends.keys().copied()
    }

    /// Whether a session of `player` watches their friends list.
    pub fn watches_friends(&self, player: PlayerId) -> bool {
        self.watches.friends.contains_key(&player)
    }

    /// The sessions watching `owner`'s forest.
    pub fn forest_watchers(&self, owner: PlayerId) -> &[SessionId] {
        self.watches.forest.get(&owner).map_or(&[], Vec::as_slice)
    }

    /// How many forests are watched.
    pub fn watched_forest_count(&self) -> usize {
        self.watches.forest.len()
    }

    /// Every watched forest's owner, in no particular order.
    pub fn watched_forests(&self) -> impl Iterator<Item = PlayerId> + '_ {
        self.watches.forest.keys().copied()
    }

    /// Who a session is logged in as.
    pub fn player(&self, session: SessionId) -> Option<PlayerId> {
        self.players.get(&session).copied().flatten()
    }

    /// A player's open sessions (empty when offline).
    pub fn of(&self, player: PlayerId) -> &[SessionId] {
        self.by_player.get(&player).map_or(&[], Vec::as_slice)
    }

    /// Whether a player has a session open.
    pub fn is_online(&self, player: PlayerId) -> bool {
        self.by_player.contains_key(&player)
    }
}

/// Whether the game may still acknowledge changes.
#[derive(Resource, Default)]
pub struct Health {
    /// Set when a commit failed: from then on nothing is acknowledged until a restart
    /// reloads the last durable state.
    pub store_failure: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_login_applied_after_its_session_closed_leaves_nobody_online() {
        let mut sessions = Sessions::default();
        sessions.connect(SessionId(1));
        sessions.disconnect(SessionId(1));
        sessions.bind(SessionId(1), PlayerId(7), [1; 32]);
        assert!(!sessions.is_online(PlayerId(7)));
        assert_eq!(sessions.player(SessionId(1)), None);
    }

    #[test]
    fn a_player_stays_online_until_the_last_session_closes() {
        let mut sessions = Sessions::default();
        for id in [1, 2] {
            sessions.connect(SessionId(id));
            sessions.bind(SessionId(id), PlayerId(7), [1; 32]);
        }
        sessions.disconnect(SessionId(1));
        assert_eq!(sessions.of(PlayerId(7)), &[SessionId(2)]);
        sessions.disconnect(SessionId(2));
        assert!(!sessions.is_online(PlayerId(7)));
    }

    #[test]
    fn watches_belong_to_the_session_and_end_with_it_or_its_login() {
        let mut sessions = Sessions::default();
        sessions.connect(SessionId(1));
        sessions.watch_friends(SessionId(1));
        assert_eq!(sessions.friends_watching_count(), 0, "not before login");
        for id in [1, 2] {
            sessions.connect(SessionId(id));
            sessions.bind(SessionId(id), PlayerId(7), [1; 32]);
            sessions.watch_friends(SessionId(id));
        }
        sessions.watch_forest(SessionId(1), PlayerId(8));
        sessions.watch_forest(SessionId(1), PlayerId(9));
        assert!(sessions.forest_watchers(PlayerId(8)).is_empty(), "replaced");
        assert_eq!(sessions.forest_watchers(PlayerId(9)), &[SessionId(1)]);
        sessions.unwatch_forest(SessionId(1), Some(PlayerId(8)));
        assert_eq!(
            sessions.forest_watchers(PlayerId(9)),
            &[SessionId(1)],
            "not 8's"
        );
        assert_eq!(sessions.friends_watchers(PlayerId(7)).len(), 2);

        sessions.bind(SessionId(1), PlayerId(5), [2; 32]);
        assert_eq!(sessions.friends_watchers(PlayerId(7)), &[SessionId(2)]);
        assert_eq!(sessions.watched_forest_count(), 0, "a new login ends them");
        sessions.disconnect(SessionId(2));
        assert_eq!(sessions.friends_watching_count(), 0);
    }
}
