//! A hand-stepped simulation harness: a [`Game`] on a [`MemoryStore`] with a manual clock,
//! driven through the same `Command` → `tick` → `TickOutcome` path the network layer uses.
//! No sockets, no threads, no sleeps: time moves only through `AdminOp::AdvanceClock`.
//!
//! Every tick is checked for the protocol's "exactly one reply per request, to the session
//! that asked" rule; [`audit`] checks the energy identities of GAME.md "Fair play".

#![allow(dead_code)] // each test binary uses its own part of the harness

use canopy_server::config::Config;
use canopy_server::game::components::{
    ActionLog, Certificates, OwnedBalls, Profile, Rain, Revivals, SocialLog, Vitality, Wallet,
};
use canopy_server::game::resources::{Directory, Teams};
use canopy_server::game::risk::RiskFlags;
use canopy_server::game::rules;
use canopy_server::game::{
    AdminOp, ClockMode, Command, Game, Op, Origin, Recipient, Reply, SessionId, TickOutcome,
};
use canopy_server::store::{
    Account, AreaCertificate, Ball, Flow, LedgerTotals, MemoryStore, Store, VitalityTotals,
};
use canopy_shared::admin::{ClockTime, GrantProps, PartnerAction};
use canopy_shared::frame::{ReplyFrame, ServerFrame, decode_server_frame};
use canopy_shared::model::BoardPeriod;
use canopy_shared::model::{PropKind, WatchTarget};
use canopy_shared::reply::{
    BallsResult, CollectAllResult, Empty, FeedResult, FriendsResult, GramsEnergyResult,
    HelpCollectResult, LeaderboardResult, LoginResult, MeResult, PlantResult, PropsResult,
    RecordActionResult, RegisterResult, SuggestionsResult, TeamCreateResult, TeamWaterResult,
    TeamsResult, WaterResult,
};
use canopy_shared::risk::FlagStatus;
use canopy_shared::{BallId, ErrorBody, ErrorCode, Event, Millis, PlayerId, Request, TeamId};
use serde::de::DeserializeOwned;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Arc;

pub const MINUTE: u64 = 60_000;
pub const HOUR: u64 = 60 * MINUTE;
pub const DAY: u64 = 24 * HOUR;

/// 2026-11-25 00:00 game-local (UTC+8), i.e. 2026-11-24 16:00 UTC. A Wednesday; the
/// month ends six game days later.
pub const START: Millis = 1_795_536_000_000;

/// The instant `days` game-local days after [`START`]'s day, at `hour:minute` local.
pub fn local(days: u64, hour: u64, minute: u64) -> Millis {
    START + days * DAY + hour * HOUR + minute * MINUTE
}

/// `config` with every risk rule off, as `CANOPY_RISK__ENABLED=false` gives it.
pub fn without_risk(mut config: Config) -> Config {
    config.risk.enabled = false;
    config
}

/// A registered, logged-in player.
#[derive(Clone, Debug)]
pub struct Player {
    pub id: PlayerId,
    pub session: SessionId,
    pub token: String,
}

/// What one tick answered, by request id.
#[derive(Debug, Default)]
pub struct Tick {
    pub replies: HashMap<u64, ReplyFrame>,
    pub events: Vec<(Recipient, Event)>,
    pub store_error: Option<String>,
    /// Sessions the tick closed, with the close frame's reason.
    pub closes: Vec<(SessionId, &'static str)>,
}

impl Tick {
    /// The typed result of request `id`.
    pub fn result<T: DeserializeOwned>(&self, id: u64) -> Result<T, ErrorBody> {
        self.replies
            .get(&id)
            .unwrap_or_else(|| panic!("request {id} got no reply this tick"))
            .clone()
            .into_result()
    }

    /// The error code of request `id`, which must have failed.
    pub fn code(&self, id: u64) -> ErrorCode {
        self.result::<serde_json::Value>(id)
            .expect_err("the request was expected to fail")
            .code
    }

    /// Events sent to `player` (to each of their sessions) this tick.
    pub fn events_for(&self, player: PlayerId) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|(to, _)| *to == Recipient::Player(player))
            .map(|(_, event)| event)
            .collect()
    }

    /// Events sent to one watching session this tick (not the player's own events).
    pub fn events_to(&self, session: SessionId) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|(to, _)| *to == Recipient::Session(session))
            .map(|(_, event)| event)
            .collect()
    }
}

/// The error code of a result that must be an error.
pub fn code_of<T: Debug>(result: Result<T, ErrorBody>) -> ErrorCode {
    match result {
        Ok(value) => panic!("expected an error, got {value:?}"),
        Err(error) => error.code,
    }
}

/// A Game, its store and the bookkeeping to talk to it.
pub struct Sim {
    pub game: Game,
    pub store: MemoryStore,
    pub config: Arc<Config>,
    next_request: u64,
    next_session: u64,
    next_ref: u64,
    /// Who sent each request of the current tick.
    pending: BTreeMap<u64, Origin>,
}

impl Sim {
    /// A fresh world with the default config and the risk engine off (`risk.enabled`),
    /// so the game's own rules are tested alone, starting at [`START`].
    pub fn new() -> Self {
        Self::with_config(without_risk(Config::default_embedded()))
    }

    /// A fresh world with `config`, starting at [`START`].
    pub fn with_config(config: Config) -> Self {
        Self::open(MemoryStore::new(), Arc::new(config), START)
    }

    /// A Game loaded from `store` with the clock asked to start at `start`.
    pub fn open(store: MemoryStore, config: Arc<Config>, start: Millis) -> Self {
        let game = Game::load(
            config.clone(),
            Arc::new(store.clone()),
            ClockMode::Manual,
            Some(start),
            Some(7),
        )
        .expect("a memory store always loads");
        Self {
            game,
            store,
            config,
            next_request: 0,
            next_session: 0,
            next_ref: 0,
            pending: BTreeMap::new(),
        }
    }

    /// A new Game over the same store, as after a restart. Ids for requests, sessions
    /// and refs keep counting so they stay unique across both.
    pub fn reload(&self, start: Millis) -> Self {
        let mut restarted = Self::open(self.store.clone(), self.config.clone(), start);
        restarted.next_request = self.next_request + 1_000;
        restarted.next_session = self.next_session + 1_000;
        restarted.next_ref = self.next_ref + 1_000;
        restarted
    }

    pub fn now(&self) -> Millis {
        self.game.now()
    }

    /// Opens a (not yet logged in) session.
    pub fn connect(&mut self) -> SessionId {
        self.next_session += 1;
        let session = SessionId(self.next_session);
        self.game.connect(session);
        session
    }

    /// A ref no earlier report used.
    pub fn fresh_ref(&mut self) -> String {
        self.next_ref += 1;
        format!("ref-{}", self.next_ref)
    }

    fn queue(&mut self, origin: Origin, id: u64, op: Op) {
        self.pending.insert(id, origin);
        self.game.submit(Command {
            origin,
            request_id: id,
            op,
        });
    }

    /// Queues a client request for the next tick; returns its request id.
    pub fn submit(&mut self, session: SessionId, request: Request) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        self.queue(Origin::Session(session), id, Op::Client(request));
        id
    }

    /// Queues an admin call for the next tick; returns its key (= request id).
    pub fn submit_admin(&mut self, op: AdminOp) -> u64 {
        self.next_request += 1;
        let id = self.next_request;
        self.queue(Origin::Admin(id), id, Op::Admin(op));
        id
    }

    /// Runs one tick and checks that every queued request got exactly one reply, sent to
    /// the session (or admin caller) that asked, echoing its id.
    pub fn tick(&mut self) -> Tick {
        let outcome = self.game.tick();
        self.settle(outcome)
    }

    /// Applies the queued requests as a batch between ticks (`Game::apply_waiting`, as
    /// the server does when commands arrive) and checks the replies as [`Self::tick`].
    pub fn batch(&mut self) -> Tick {
        let outcome = self.game.apply_waiting();
        self.settle(outcome)
    }

    /// Checks that every queued request got exactly one reply, sent to the caller that
    /// asked, echoing its id, and returns what the tick or batch answered.
    fn settle(&mut self, outcome: TickOutcome) -> Tick {
        let mut tick = Tick {
            events: outcome.events,
            store_error: outcome.store_error,
            closes: outcome.closes,
            ..Tick::default()
        };
        for reply in outcome.replies {
            let (origin, frame) = match reply {
                Reply::Session { session, text } => {
                    let frame = match decode_server_frame(&text) {
                        Ok(ServerFrame::Reply(frame)) => frame,
                        other => panic!("a reply must decode as a reply frame: {other:?}"),
                    };
                    (Origin::Session(session), frame)
                }
                Reply::Admin { key, result } => {
                    let outcome = result.map(|json| {
                        serde_json::from_str(&json).expect("admin results are JSON objects")
                    });
                    let frame = ReplyFrame {
                        id: Some(key),
                        outcome,
                    };
                    (Origin::Admin(key), frame)
                }
            };
            let id = frame.id.expect("replies to commands echo their request id");
            let asked = self
                .pending
                .remove(&id)
                .unwrap_or_else(|| panic!("reply to unknown or already answered request {id}"));
            assert_eq!(asked, origin, "reply {id} went to the wrong caller");
            tick.replies.insert(id, frame);
        }
        assert!(
            self.pending.is_empty(),
            "requests without a reply: {:?}",
            self.pending.keys().collect::<Vec<_>>()
        );
        tick
    }

    /// One request in its own tick, typed.
    pub fn call<T: DeserializeOwned>(
        &mut self,
        session: SessionId,
        request: Request,
    ) -> Result<T, ErrorBody> {
        let id = self.submit(session, request);
        self.tick().result(id)
    }

    /// One admin call in its own tick, typed.
    pub fn admin<T: DeserializeOwned>(&mut self, op: AdminOp) -> Result<T, ErrorBody> {
        let id = self.submit_admin(op);
        self.tick().result(id)
    }

    /// Registers `name` on a new session.
    pub fn register(&mut self, name: &str) -> Player {
        let session = self.connect();
        let registered: RegisterResult = self
            .call(
                session,
                Request::Register {
                    name: name.to_owned(),
                },
            )
            .expect("register succeeds");
        Player {
            id: registered.player_id,
            session,
            token: registered.token,
        }
    }

    /// Logs `player` in on a new session (after a restart, say); returns them with it.
    pub fn login(&mut self, player: &Player) -> Player {
        let session = self.connect();
        let login: LoginResult = self
            .call(
                session,
                Request::Login {
                    token: player.token.clone(),
                },
            )
            .expect("the player's token logs in");
        assert_eq!(login.player_id, player.id);
        Player {
            session,
            ..player.clone()
        }
    }

    /// Moves the manual clock by `ms` in a tick of its own; returns that tick (it runs
    /// the ripening and expiry systems at the new time).
    pub fn advance(&mut self, ms: u64) -> Tick {
        let id = self.submit_admin(AdminOp::AdvanceClock(ms));
        let tick = self.tick();
        let moved: ClockTime = tick.result(id).expect("the manual clock moves");
        assert_eq!(moved.time, self.now());
        tick
    }

    /// Moves the manual clock to `at` (which must not be in the past).
    pub fn advance_to(&mut self, at: Millis) -> Tick {
        let now = self.now();
        assert!(at >= now, "the test asked the clock to go back");
        self.advance(at - now)
    }

    pub fn walk(
        &mut self,
        player: &Player,
        steps: u64,
        reference: &str,
    ) -> Result<RecordActionResult, ErrorBody> {
        let request = walk_request(steps, reference);
        self.call(player.session, request)
    }

    pub fn partner(
        &mut self,
        player: PlayerId,
        kind: &str,
        reference: &str,
    ) -> Result<RecordActionResult, ErrorBody> {
        self.admin(partner_op(player, kind, reference))
    }

    /// `times` partner reports of `kind`, each with a fresh ref, all in one tick.
    pub fn partner_many(&mut self, player: PlayerId, kind: &str, times: u32) -> Vec<u64> {
        let ids: Vec<u64> = (0..times)
            .map(|_| {
                let reference = self.fresh_ref();
                self.submit_admin(partner_op(player, kind, &reference))
            })
            .collect();
        let tick = self.tick();
        ids.iter()
            .map(|&id| {
                tick.result::<RecordActionResult>(id)
                    .expect("partner report accepted")
                    .grams
            })
            .collect()
    }

    pub fn me(&mut self, player: &Player) -> MeResult {
        self.call(player.session, Request::Me {})
            .expect("me works when logged in")
    }

    pub fn collect(
        &mut self,
        player: &Player,
        ball_id: BallId,
    ) -> Result<GramsEnergyResult, ErrorBody> {
        self.call(player.session, Request::Collect { ball_id })
    }

    pub fn collect_all(&mut self, player: &Player) -> CollectAllResult {
        self.call(player.session, Request::CollectAll {})
            .expect("collect_all always succeeds")
    }

    pub fn plant(&mut self, player: &Player, species: &str) -> Result<PlantResult, ErrorBody> {
        self.call(
            player.session,
            Request::Plant {
                species: species.to_owned(),
            },
        )
    }

    pub fn grant(&mut self, player: PlayerId, prop: PropKind, count: u32) -> PropsResult {
        self.admin(AdminOp::GrantProps(GrantProps {
            player_id: player,
            prop,
            count,
        }))
        .expect("granting props works")
    }

    pub fn use_prop(&mut self, player: &Player, prop: PropKind) -> Result<PropsResult, ErrorBody> {
        self.call(player.session, Request::UseProp { prop })
    }

    /// The live ball `id` as the World holds it.
    pub fn ball(&self, id: BallId) -> Option<Ball> {
        let world = self.game.world();
        let entity = *world.resource::<Directory>().balls.get(&id)?;
        world.get::<Ball>(entity).cloned()
    }

    /// The player's action log (caps) as the World holds it.
    pub fn action_log(&self, player: PlayerId) -> ActionLog {
        let world = self.game.world();
        let entity = world.resource::<Directory>().players[&player];
        world
            .get::<ActionLog>(entity)
            .expect("players have an ActionLog")
            .clone()
    }

    /// How many ledger entries the store holds.
    pub fn ledger_len(&self) -> usize {
        self.store.ledger().expect("memory ledger").len()
    }

    /// Panics unless the energy identities hold and the store mirrors the World.
    pub fn assert_conserved(&self) {
        if let Err(problem) = audit(&self.game, &self.store) {
            panic!("energy audit failed: {problem}");
        }
    }
}

/// The social ops: friends, transfers between friends, boards, feed and teams. Each is
/// one request in its own tick, typed.
impl Sim {
    /// A fresh world with the default config and `CANOPY_*` overrides, at [`START`].
    pub fn with_env(overrides: &[(&str, &str)]) -> Self {
        Self::with_config(config_with(overrides))
    }

    /// Closes the player's session: they are offline until [`Sim::login`] again.
    pub fn disconnect(&mut self, player: &Player) {
        self.game.disconnect(player.session);
    }

    pub fn friend_request(&mut self, from: &Player, to: PlayerId) -> Result<Empty, ErrorBody> {
        self.call(from.session, Request::FriendRequest { player_id: to })
    }

    pub fn friend_accept(&mut self, me: &Player, from: PlayerId) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::FriendAccept { player_id: from })
    }

    pub fn friend_decline(&mut self, me: &Player, from: PlayerId) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::FriendDecline { player_id: from })
    }

    pub fn unfriend(&mut self, me: &Player, other: PlayerId) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::Unfriend { player_id: other })
    }

    pub fn block(&mut self, me: &Player, other: PlayerId) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::Block { player_id: other })
    }

    pub fn unblock(&mut self, me: &Player, other: PlayerId) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::Unblock { player_id: other })
    }

    /// `a` asks `b` and `b` accepts, in one tick; both must succeed.
    pub fn befriend(&mut self, a: &Player, b: &Player) -> Tick {
        let asked = self.submit(a.session, Request::FriendRequest { player_id: b.id });
        let accepted = self.submit(b.session, Request::FriendAccept { player_id: a.id });
        let tick = self.tick();
        tick.result::<Empty>(asked)
            .unwrap_or_else(|e| panic!("{} asks {}: {e}", a.id, b.id));
        tick.result::<Empty>(accepted)
            .unwrap_or_else(|e| panic!("{} accepts {}: {e}", b.id, a.id));
        tick
    }

    /// `watch` from `me`'s session: the friends list, or `forest`'s forest.
    pub fn watch(&mut self, me: &Player, forest: Option<PlayerId>) -> Result<Empty, ErrorBody> {
        let what = match forest {
            Some(_) => WatchTarget::Forest,
            None => WatchTarget::Friends,
        };
        self.call(
            me.session,
            Request::Watch {
                what,
                friend_id: forest,
            },
        )
    }

    /// `unwatch` from `me`'s session.
    pub fn unwatch(
        &mut self,
        me: &Player,
        what: WatchTarget,
        friend_id: Option<PlayerId>,
    ) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::Unwatch { what, friend_id })
    }

    pub fn friends(&mut self, me: &Player) -> FriendsResult {
        self.call(me.session, Request::Friends {})
            .expect("friends always works when logged in")
    }

    pub fn friend_balls(
        &mut self,
        me: &Player,
        friend: PlayerId,
    ) -> Result<BallsResult, ErrorBody> {
        self.call(me.session, Request::FriendBalls { friend_id: friend })
    }

    pub fn suggestions(
        &mut self,
        me: &Player,
        limit: Option<u32>,
    ) -> Result<SuggestionsResult, ErrorBody> {
        self.call(me.session, Request::Suggestions { limit })
    }

    pub fn leaderboard(
        &mut self,
        me: &Player,
        period: BoardPeriod,
        limit: Option<u32>,
    ) -> Result<LeaderboardResult, ErrorBody> {
        self.call(me.session, Request::Leaderboard { period, limit })
    }

    pub fn feed(
        &mut self,
        me: &Player,
        limit: Option<u32>,
        before: Option<u64>,
    ) -> Result<FeedResult, ErrorBody> {
        self.call(me.session, Request::Feed { limit, before })
    }

    pub fn steal(
        &mut self,
        thief: &Player,
        owner: PlayerId,
        ball_id: BallId,
    ) -> Result<GramsEnergyResult, ErrorBody> {
        self.call(
            thief.session,
            Request::Steal {
                friend_id: owner,
                ball_id,
            },
        )
    }

    pub fn help_collect(
        &mut self,
        helper: &Player,
        owner: PlayerId,
        ball_id: BallId,
    ) -> Result<HelpCollectResult, ErrorBody> {
        self.call(
            helper.session,
            Request::HelpCollect {
                friend_id: owner,
                ball_id,
            },
        )
    }

    pub fn water(
        &mut self,
        giver: &Player,
        friend: PlayerId,
        grams: u64,
    ) -> Result<WaterResult, ErrorBody> {
        self.call(
            giver.session,
            Request::Water {
                friend_id: friend,
                grams,
            },
        )
    }

    pub fn team_create(
        &mut self,
        me: &Player,
        name: &str,
        species: &str,
    ) -> Result<TeamCreateResult, ErrorBody> {
        self.call(
            me.session,
            Request::TeamCreate {
                name: name.to_owned(),
                species: species.to_owned(),
            },
        )
    }

    pub fn team_invite(
        &mut self,
        me: &Player,
        team_id: TeamId,
        player_id: PlayerId,
    ) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::TeamInvite { team_id, player_id })
    }

    pub fn team_join(&mut self, me: &Player, team_id: TeamId) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::TeamJoin { team_id })
    }

    pub fn team_leave(&mut self, me: &Player, team_id: TeamId) -> Result<Empty, ErrorBody> {
        self.call(me.session, Request::TeamLeave { team_id })
    }

    pub fn team_water(
        &mut self,
        me: &Player,
        team_id: TeamId,
        grams: u64,
    ) -> Result<TeamWaterResult, ErrorBody> {
        self.call(me.session, Request::TeamWater { team_id, grams })
    }

    pub fn teams(&mut self, me: &Player) -> TeamsResult {
        self.call(me.session, Request::Teams {})
            .expect("teams always works when logged in")
    }

    /// The balance as the World holds it.
    pub fn energy(&self, player: PlayerId) -> u64 {
        let world = self.game.world();
        let entity = world.resource::<Directory>().players[&player];
        world
            .get::<Wallet>(entity)
            .expect("players have a Wallet")
            .energy
    }

    /// Gives `player` at least `grams` of energy the honest way: partner-reported
    /// utility bills (262 g, 10 a month), ripened with a time accelerator and collected.
    /// Uses this month's bill cap, so call it at most once a month per player.
    pub fn fund(&mut self, player: &Player, grams: u64) -> u64 {
        let bills = u32::try_from(grams.div_ceil(262)).expect("a few bills");
        assert!(
            bills <= 10,
            "at most 10 bills a month: {grams} g is too much"
        );
        self.partner_many(player.id, "utility_bill", bills);
        self.grant(player.id, PropKind::TimeAccelerator, 1);
        self.use_prop(player, PropKind::TimeAccelerator)
            .expect("just granted");
        self.collect_all(player).energy
    }
}

/// The default config with the risk engine off and `CANOPY_*` overrides (e.g.
/// `("CANOPY_FRIENDS__MAX", "2")`; `("CANOPY_RISK__ENABLED", "true")` turns it back on).
pub fn config_with(overrides: &[(&str, &str)]) -> Config {
    Config::load(
        None,
        [("CANOPY_RISK__ENABLED", "false")]
            .iter()
            .chain(overrides)
            .map(|&(key, value)| (key.to_owned(), value.to_owned())),
    )
    .expect("the overridden config is valid")
}

pub fn walk_request(steps: u64, reference: &str) -> Request {
    Request::RecordAction {
        kind: "walk".to_owned(),
        quantity: Some(steps),
        reference: reference.to_owned(),
    }
}

pub fn partner_op(player: PlayerId, kind: &str, reference: &str) -> AdminOp {
    AdminOp::PartnerAction(PartnerAction {
        player_id: player,
        kind: kind.to_owned(),
        quantity: None,
        reference: reference.to_owned(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AccountKind {
    Mint,
    Ball,
    Balance,
    Team,
    Planted,
    Expired,
    Held,
    Forfeited,
    TaskBudget,
    CampaignBudget,
    VitalityMint,
    Vitality,
    Shop,
    Rain,
    Inventory,
    Transfer,
}

/// A hashable name for a ledger account.
type AccountKey = (AccountKind, u64);

fn key(account: Account) -> AccountKey {
    match account {
        Account::Mint => (AccountKind::Mint, 0),
        Account::Ball(id) => (AccountKind::Ball, id.0),
        Account::Balance(id) => (AccountKind::Balance, id.0),
        Account::Team(id) => (AccountKind::Team, id.0),
        Account::Planted(id) => (AccountKind::Planted, id.0),
        Account::Expired => (AccountKind::Expired, 0),
        Account::Held(id) => (AccountKind::Held, id.0),
        Account::Forfeited => (AccountKind::Forfeited, 0),
        Account::TaskBudget(id) => (AccountKind::TaskBudget, id.0),
        Account::CampaignBudget(id) => (AccountKind::CampaignBudget, id.0),
        Account::VitalityMint => (AccountKind::VitalityMint, 0),
        Account::Vitality(id) => (AccountKind::Vitality, id.0),
        Account::Shop => (AccountKind::Shop, 0),
        Account::Rain => (AccountKind::Rain, 0),
        Account::Inventory(id) => (AccountKind::Inventory, id.0),
        Account::Transfer(id) => (AccountKind::Transfer, id.seq),
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

/// Checks, after an acknowledged tick, the three identities of GAME.md "Fair play" from
/// the World and the store's ledger, plus that the store holds what the World holds:
///
/// 1. per ball: what flowed in = full; full = left + stolen while it lives (owners pick a
///    ball whole); what flowed out = full − left; an ended ball holds nothing;
/// 2. per player: balance = ledger credits − debits of `Balance(player)`, never below
///    zero, and `total_collected` = collected + stolen + helped grams received;
/// 3. in total: created = balances + left in live balls + in team trees + planted +
///    expired, and the running totals equal the ledger's sums.
pub fn audit(game: &Game, store: &MemoryStore) -> Result<(), String> {
    let world = game.world();
    let directory = world.resource::<Directory>();
    let ledger = store.ledger().map_err(|err| err.to_string())?;

    // Ledger entries have unique, increasing ids.
    for pair in ledger.windows(2) {
        ensure!(
            pair[0].id < pair[1].id,
            "ledger ids out of order: {} then {}",
            pair[0].id,
            pair[1].id
        );
    }

    // Net grams per account, and the totals recomputed from the entries.
    let mut inflow: HashMap<AccountKey, i128> = HashMap::new();
    let mut outflow: HashMap<AccountKey, i128> = HashMap::new();
    let mut collected_by: HashMap<PlayerId, u64> = HashMap::new();
    let mut sums = LedgerTotals::default();
    let mut vitality_sums = VitalityTotals::default();
    let mut collecting_points: HashMap<PlayerId, u64> = HashMap::new();
    let mut revived: u64 = 0;
    let mut expired_balls: HashMap<BallId, u64> = HashMap::new();
    let mut rained: u64 = 0;
    let mut rain_points: HashMap<PlayerId, u64> = HashMap::new();
    let rain_grams_per_point = game.config().rain.grams_per_vitality;
    let mut plantings = Vec::new();
    let mut team_plantings = Vec::new();
    for entry in &ledger {
        *inflow.entry(key(entry.to)).or_default() += i128::from(entry.grams);
        *outflow.entry(key(entry.from)).or_default() += i128::from(entry.grams);
        match entry.flow {
            Flow::Created => sums.created += entry.grams,
            Flow::Collected => sums.collected += entry.grams,
            Flow::Stolen => sums.stolen += entry.grams,
            Flow::Helped => sums.helped += entry.grams,
            Flow::Watered => sums.watered += entry.grams,
            Flow::Expired => sums.expired += entry.grams,
            Flow::Planted => sums.planted += entry.grams,
            Flow::VitalityEarned => vitality_sums.earned += entry.grams,
            Flow::ReviveRewarded => vitality_sums.earned += entry.grams,
            Flow::Revived => revived += entry.grams,
            Flow::VitalitySpent => vitality_sums.spent += entry.grams,
            Flow::Rained => rained += entry.grams,
            Flow::TeamWatered
            | Flow::Held
            | Flow::Released
            | Flow::Forfeited
            | Flow::PropsRewarded
            | Flow::Arrived
            | Flow::PropsGifted => {}
        }
        if let (Flow::Rained, Account::Balance(player)) = (entry.flow, entry.to) {
            *rain_points.entry(player).or_default() += entry.grams / rain_grams_per_point;
        }
        if matches!(
            entry.flow,
            Flow::Collected | Flow::Stolen | Flow::Helped | Flow::Released
        ) && let Account::Balance(player) = entry.to
        {
            *collected_by.entry(player).or_default() += entry.grams;
        }
        if let (Flow::VitalityEarned, Account::Vitality(player)) = (entry.flow, entry.to) {
            *collecting_points.entry(player).or_default() += entry.grams;
        }
        if let (Flow::Expired, Account::Ball(ball)) = (entry.flow, entry.from) {
            expired_balls.insert(ball, entry.grams);
        }
        if let (Flow::Planted, Account::Balance(player), Account::Planted(certificate)) =
            (entry.flow, entry.from, entry.to)
        {
            plantings.push((player, certificate, entry.grams));
        }
        if let (Flow::Planted, Account::Team(team), Account::Planted(certificate)) =
            (entry.flow, entry.from, entry.to)
        {
            team_plantings.push((team, certificate, entry.grams));
        }
        ensure!(
            match entry.flow {
                Flow::Created => matches!(
                    (entry.from, entry.to),
                    (Account::Mint, Account::Ball(_) | Account::Held(_))
                ),
                Flow::Held =>
                    matches!((entry.from, entry.to), (Account::Ball(_), Account::Held(_))),
                Flow::Released => matches!(
                    (entry.from, entry.to),
                    (Account::Held(_), Account::Balance(_))
                ),
                Flow::Forfeited => matches!(
                    (entry.from, entry.to),
                    (Account::Held(_), Account::Forfeited)
                ),
                Flow::Collected | Flow::Stolen | Flow::Helped => matches!(
                    (entry.from, entry.to),
                    (Account::Ball(_), Account::Balance(_))
                ),
                Flow::Watered => matches!(
                    (entry.from, entry.to),
                    (Account::Balance(_), Account::Ball(_))
                ),
                Flow::TeamWatered => matches!(
                    (entry.from, entry.to),
                    (Account::Balance(_), Account::Team(_))
                ),
                Flow::Expired =>
                    matches!((entry.from, entry.to), (Account::Ball(_), Account::Expired)),
                Flow::Planted => matches!(
                    (entry.from, entry.to),
                    (Account::Balance(_) | Account::Team(_), Account::Planted(_))
                ),
                Flow::VitalityEarned | Flow::ReviveRewarded => matches!(
                    (entry.from, entry.to),
                    (Account::VitalityMint, Account::Vitality(_))
                ),
                Flow::Revived =>
                    matches!((entry.from, entry.to), (Account::Expired, Account::Ball(_))),
                Flow::VitalitySpent => matches!(
                    (entry.from, entry.to),
                    (Account::Vitality(_), Account::Shop)
                ),
                Flow::Rained =>
                    matches!((entry.from, entry.to), (Account::Rain, Account::Balance(_))),
                Flow::PropsRewarded => matches!(
                    (entry.from, entry.to),
                    (Account::TaskBudget(_), Account::Inventory(_))
                ),
                // One server alone never receives grams or props from another shard.
                Flow::Arrived | Flow::PropsGifted => false,
            },
            "ledger entry moves between the wrong accounts for its flow: {entry:?}"
        );
        ensure!(
            !matches!(entry.from, Account::Mint) || entry.flow == Flow::Created,
            "only `created` entries may draw on the mint: {entry:?}"
        );
    }
    let net = |account: Account| {
        let account = key(account);
        inflow.get(&account).copied().unwrap_or(0) - outflow.get(&account).copied().unwrap_or(0)
    };
    let totals = game.totals();
    let team_grams = |flows: &HashMap<AccountKey, i128>| -> i128 {
        flows
            .iter()
            .filter(|(account, _)| account.0 == AccountKind::Team)
            .map(|(_, grams)| grams)
            .sum()
    };
    let team_net = team_grams(&inflow) - team_grams(&outflow);
    sums.in_team_trees = u64::try_from(team_net).map_err(|_| "a team tree went negative")?;
    ensure!(
        sums == totals,
        "running totals {totals:?} differ from the ledger's sums {sums:?}"
    );
    ensure!(
        net(Account::Mint) == -i128::from(totals.created),
        "the mint issued something other than `created`"
    );
    let rain = game.rain_totals();
    ensure!(
        rain.grams == rained && net(Account::Rain) == -i128::from(rained),
        "the rain credited {} g by its totals, {rained} g by the ledger",
        rain.grams
    );

    // 1. Per ball.
    let mut left_in_balls: u64 = 0;
    for (&id, &entity) in &directory.balls {
        let ball = world
            .get::<Ball>(entity)
            .ok_or("indexed ball without Ball")?;
        ensure!(ball.id == id, "ball {id} indexed under the wrong id");
        ensure!(
            ball.full == ball.left + ball.stolen,
            "live ball {id}: full {} != left {} + stolen {}",
            ball.full,
            ball.left,
            ball.stolen
        );
        let account = Account::Ball(id);
        ensure!(
            inflow.get(&key(account)).copied().unwrap_or(0) == i128::from(ball.full),
            "ball {id}: ledger put {:?} g in, the ball holds full = {}",
            inflow.get(&key(account)),
            ball.full
        );
        ensure!(
            net(account) == i128::from(ball.left),
            "ball {id}: ledger leaves {} g, the ball has {} left",
            net(account),
            ball.left
        );
        // Thieves never take the owner's kept share, nor anything from a water ball.
        let thieves_share = ball.full as f64 * (1.0 - game.config().steal.owner_keeps);
        let within_share = ball.stolen as f64 <= thieves_share + 1e-9;
        ensure!(
            within_share,
            "live ball {id}: {} g stolen of {} g, past the owner's kept share",
            ball.stolen,
            ball.full
        );
        ensure!(
            ball.stealable || (ball.stolen == 0 && ball.thieves.is_empty()),
            "unstealable ball {id} was stolen from: {ball:?}"
        );
        ensure!(
            ball.thieves
                .iter()
                .all(|&(thief, hits)| thief != ball.owner && (1..=2).contains(&hits)),
            "ball {id}: a thief hit it more than twice, or the owner stole: {:?}",
            ball.thieves
        );
        ensure!(
            ball.stolen >= ball.thieves.len() as u64,
            "ball {id}: every hit takes at least 1 g, yet {} thieves took {} g",
            ball.thieves.len(),
            ball.stolen
        );
        let owner = directory
            .players
            .get(&ball.owner)
            .ok_or_else(|| format!("ball {id} has no owner"))?;
        let owned = world
            .get::<OwnedBalls>(*owner)
            .ok_or("owner without OwnedBalls")?;
        ensure!(
            owned.0.contains(&id),
            "ball {id} missing from its owner's list"
        );
        left_in_balls += ball.left;
    }
    for &(kind, id) in inflow.keys() {
        let id = BallId(id);
        if kind == AccountKind::Ball && !directory.balls.contains_key(&id) {
            let held = net(Account::Ball(id));
            ensure!(
                held == 0,
                "ended ball {id} still holds {held} g in the ledger"
            );
        }
    }

    // 2. Per player.
    let mut balances: u64 = 0;
    for (&id, &entity) in &directory.players {
        let wallet = world.get::<Wallet>(entity).ok_or("player without Wallet")?;
        let from_ledger = net(Account::Balance(id));
        ensure!(
            from_ledger >= 0,
            "player {id} would be overdrawn: ledger says {from_ledger}"
        );
        ensure!(
            from_ledger == i128::from(wallet.energy),
            "player {id}: balance {} but ledger credits − debits = {from_ledger}",
            wallet.energy
        );
        let collected = collected_by.get(&id).copied().unwrap_or(0);
        ensure!(
            wallet.total_collected == collected,
            "player {id}: total_collected {} but the ledger shows {collected} g picked",
            wallet.total_collected
        );
        balances += wallet.energy;
    }
    for &(kind, id) in inflow.keys().chain(outflow.keys()) {
        ensure!(
            kind != AccountKind::Balance || directory.players.contains_key(&PlayerId(id)),
            "ledger names unknown player {id}"
        );
    }
    for (player, certificate, grams) in plantings {
        let entity = directory.players[&player];
        let held = &world
            .get::<Certificates>(entity)
            .ok_or("player without Certificates")?
            .0;
        ensure!(
            held.iter()
                .any(|c| c.id == certificate && c.grams == grams && c.team.is_none()),
            "player {player} paid {grams} g for certificate {certificate} they do not hold"
        );
    }

    // Team trees: the ledger holds exactly each team's progress; a planted team tree
    // certified its members.
    let teams = world.resource::<Teams>();
    for (&id, team) in &teams.by_id {
        ensure!(
            net(Account::Team(id)) == i128::from(team.progress),
            "team {id}: progress {} but the ledger leaves {} g in its tree",
            team.progress,
            net(Account::Team(id))
        );
    }
    for &(kind, id) in inflow.keys() {
        ensure!(
            kind != AccountKind::Team || teams.by_id.contains_key(&canopy_shared::TeamId(id)),
            "ledger names unknown team {id}"
        );
    }
    for (team, certificate, grams) in team_plantings {
        let held = directory.players.values().any(|&entity| {
            world.get::<Certificates>(entity).is_some_and(|c| {
                c.0.iter()
                    .any(|c| c.id == certificate && c.grams == grams && c.team.is_some())
            })
        });
        ensure!(
            held,
            "team {team} planted {grams} g as certificate {certificate}, which no member holds"
        );
    }

    // Risk holds: an open flag holds exactly what the ledger put under it; a reviewed
    // one holds nothing; forfeited grams are what confirmed flags held.
    let flags = world.resource::<RiskFlags>();
    let mut held: u64 = 0;
    let mut forfeited: u64 = 0;
    for flag in flags.all() {
        let in_ledger = net(Account::Held(flag.id));
        match flag.status {
            FlagStatus::Open => {
                ensure!(
                    in_ledger == i128::from(flag.held),
                    "open flag {}: holds {} g, the ledger {in_ledger} g",
                    flag.id,
                    flag.held
                );
                held += flag.held;
            }
            status => {
                ensure!(
                    in_ledger == 0,
                    "{status:?} flag {} still holds {in_ledger} g in the ledger",
                    flag.id
                );
                if status == FlagStatus::Confirmed {
                    forfeited += flag.held;
                }
            }
        }
    }
    ensure!(
        net(Account::Forfeited) == i128::from(forfeited),
        "forfeited {} g in the ledger, {forfeited} g under confirmed flags",
        net(Account::Forfeited)
    );

    // 3. In total; revived grams went from expired back into balls.
    ensure!(
        game.revival_totals().revived == revived,
        "revived {} g but the ledger's revivals sum to {revived} g",
        game.revival_totals().revived
    );
    ensure!(
        net(Account::Expired) == i128::from(totals.expired) - i128::from(revived),
        "the ledger leaves {} g expired, not expired {} − revived {revived}",
        net(Account::Expired),
        totals.expired
    );
    let lost = totals.expired - revived;
    let accounted =
        balances + left_in_balls + totals.in_team_trees + totals.planted + lost + held + forfeited;
    ensure!(
        totals.created + rained == accounted,
        "created {} + rained {rained} != balances {balances} + left in balls {left_in_balls} \
         + team trees {} + planted {} + (expired − revived) {lost} + held {held} \
         + forfeited {forfeited} = {accounted}",
        totals.created,
        totals.in_team_trees,
        totals.planted,
    );
    audit_revivals(game, &expired_balls, lost)?;

    // 4. Vitality, a currency of its own.
    let grams_per_point = game.config().shop.grams_per_vitality;
    let mut held_points = 0;
    for (&id, &entity) in &directory.players {
        let record = &world
            .get::<Vitality>(entity)
            .ok_or("player without Vitality")?
            .0;
        let wallet = world.get::<Wallet>(entity).ok_or("player without Wallet")?;
        ensure!(
            net(Account::Vitality(id)) == i128::from(record.points),
            "player {id}: {} vitality but the ledger leaves {}",
            record.points,
            net(Account::Vitality(id))
        );
        let for_playing = collecting_points.get(&id).copied().unwrap_or(0);
        let for_rain = rain_points.get(&id).copied().unwrap_or(0);
        ensure!(
            for_playing == wallet.total_collected / grams_per_point + for_rain
                && record.carry_grams == wallet.total_collected % grams_per_point,
            "player {id}: earned {for_playing} vitality (carrying {} g) for {} g collected \
             and {for_rain} points of rain",
            record.carry_grams,
            wallet.total_collected
        );
        held_points += record.points;
    }
    let vitality = game.vitality_totals();
    ensure!(
        vitality == vitality_sums,
        "vitality totals {vitality:?} differ from the ledger's sums {vitality_sums:?}"
    );
    ensure!(
        vitality.earned == held_points + vitality.spent,
        "vitality earned {} != held {held_points} + spent {}",
        vitality.earned,
        vitality.spent
    );

    // The store holds exactly what the World holds (it was acknowledged).
    let snapshot = store.load().map_err(|err| err.to_string())?;
    let meta = snapshot.meta.ok_or("nothing committed yet")?;
    ensure!(meta.totals == totals, "stored totals lag the World");
    ensure!(
        meta.game_time == game.now(),
        "stored game time lags the World"
    );
    ensure!(
        snapshot.balls.len() == directory.balls.len(),
        "store has {} balls, the World {}",
        snapshot.balls.len(),
        directory.balls.len()
    );
    for stored in &snapshot.balls {
        let entity = directory
            .balls
            .get(&stored.id)
            .ok_or_else(|| format!("stored ball {} is not live", stored.id))?;
        ensure!(
            world.get::<Ball>(*entity) == Some(stored),
            "stored ball {} differs from the World's",
            stored.id
        );
    }
    for record in &snapshot.players {
        let entity = directory.players[&record.id];
        let wallet = world.get::<Wallet>(entity).ok_or("player without Wallet")?;
        ensure!(
            record.energy == wallet.energy,
            "stored balance of {} lags the World",
            record.id
        );
    }
    ensure!(
        snapshot.players.len() == directory.players.len(),
        "store and World disagree on the number of players"
    );
    for record in &snapshot.vitality {
        let entity = directory.players[&record.player];
        ensure!(
            world.get::<Vitality>(entity).map(|v| &v.0) == Some(record),
            "stored vitality of {} lags the World",
            record.player
        );
    }
    ensure!(
        snapshot.vitality_totals.unwrap_or_default() == vitality,
        "stored vitality totals lag the World"
    );
    for record in &snapshot.revivals {
        let entity = directory.players[&record.player];
        ensure!(
            world.get::<Revivals>(entity).map(|r| &r.0) == Some(record),
            "stored revival record of {} lags the World",
            record.player
        );
    }
    for record in &snapshot.rain {
        let entity = directory.players[&record.player];
        ensure!(
            world.get::<Rain>(entity).map(|r| &r.0) == Some(record),
            "stored energy rain of {} lags the World",
            record.player
        );
    }
    ensure!(
        snapshot.revival_totals.unwrap_or_default() == game.revival_totals(),
        "stored revival totals lag the World"
    );
    for &entity in directory.players.values() {
        let certificates = &world
            .get::<Certificates>(entity)
            .ok_or("player without Certificates")?
            .0;
        let player = world
            .get::<Profile>(entity)
            .ok_or("player without Profile")?
            .id;
        let areas: Vec<AreaCertificate> = certificates
            .iter()
            .filter_map(AreaCertificate::of)
            .collect();
        let stored = snapshot
            .areas
            .iter()
            .find(|record| record.player == player)
            .map_or(&[][..], |record| &record.certificates[..]);
        ensure!(
            stored == &areas[..],
            "stored area certificates of {player} lag the World"
        );
        ensure!(
            certificates.windows(2).all(|pair| pair[0].id < pair[1].id),
            "player {player}'s certificates are not in the order they were issued"
        );
    }
    ensure!(
        snapshot.rain_totals.unwrap_or_default() == rain,
        "stored energy rain totals lag the World"
    );
    Ok(())
}

/// Revival's rules, from the World against the ledger: every remembered expired ball
/// expired in the ledger with exactly its grams; the grams still revivable are part of
/// what is lost to expiry; nobody revived more than `revive.per_day` today.
fn audit_revivals(
    game: &Game,
    expired_balls: &HashMap<BallId, u64>,
    lost: u64,
) -> Result<(), String> {
    let world = game.world();
    let revive = &game.config().revive;
    let window = revive.window_hours * rules::HOUR_MS;
    let today = rules::game_day(game.now(), game.config().day.utc_offset_minutes);
    let mut revivable = 0;
    for &entity in world.resource::<Directory>().players.values() {
        let record = &world
            .get::<Revivals>(entity)
            .ok_or("player without Revivals")?
            .0;
        for expired in &record.expired {
            ensure!(
                expired_balls.get(&expired.ball_id) == Some(&expired.grams),
                "player {}: remembers ball {} expiring with {} g, the ledger does not",
                record.player,
                expired.ball_id,
                expired.grams
            );
            if expired.revived_by.is_none() && game.now() < expired.expired_at + window {
                revivable += expired.grams;
            }
        }
        ensure!(
            record.day != today || record.revived_today <= revive.per_day,
            "player {} revived {} balls today, past {}",
            record.player,
            record.revived_today,
            revive.per_day
        );
    }
    ensure!(
        revivable <= lost,
        "{revivable} g revivable but only {lost} g lost to expiry"
    );
    Ok(())
}

/// Checks that no cap of the social ops was ever passed, from the ledger (independently
/// of the counters the game keeps) and from the World:
///
/// - a thief's stolen grams per game day ≤ `steal.daily_cap_grams`;
/// - a member's grams into one team tree per game day ≤ `teams.member_daily_grams`;
/// - the World's own daily counters within their caps;
/// - teams within `teams.max_members` members, players within `teams.max_per_player`
///   teams, and the member index in step with the teams.
pub fn audit_limits(game: &Game, store: &MemoryStore) -> Result<(), String> {
    let world = game.world();
    let config = game.config();
    let offset = config.day.utc_offset_minutes;
    let ledger = store.ledger().map_err(|err| err.to_string())?;
    let mut stolen: HashMap<(PlayerId, i64), u64> = HashMap::new();
    let mut team_grams: HashMap<(PlayerId, u64, i64), u64> = HashMap::new();
    for entry in &ledger {
        let day = rules::game_day(entry.time, offset);
        match (entry.flow, entry.from, entry.to) {
            (Flow::Stolen, _, Account::Balance(thief)) => {
                *stolen.entry((thief, day)).or_default() += entry.grams;
            }
            (Flow::TeamWatered, Account::Balance(member), Account::Team(team)) => {
                *team_grams.entry((member, team.0, day)).or_default() += entry.grams;
            }
            _ => {}
        }
    }
    for ((thief, day), grams) in stolen {
        ensure!(
            grams <= config.steal.daily_cap_grams,
            "player {thief} stole {grams} g on day {day}, past the daily cap"
        );
    }
    for ((member, team, day), grams) in team_grams {
        ensure!(
            grams <= config.teams.member_daily_grams,
            "player {member} gave team {team} {grams} g on day {day}, past the daily limit"
        );
    }
    let directory = world.resource::<Directory>();
    for (&id, &entity) in &directory.players {
        let limits = &world
            .get::<SocialLog>(entity)
            .ok_or("player without SocialLog")?
            .limits;
        ensure!(
            limits.stolen <= config.steal.daily_cap_grams,
            "player {id} counts {} g stolen today",
            limits.stolen
        );
        ensure!(
            limits
                .waterings
                .values()
                .all(|&n| n <= config.water.per_friend_per_day),
            "player {id} watered a friend too often: {:?}",
            limits.waterings
        );
        ensure!(
            limits
                .team_grams
                .values()
                .all(|&g| g <= config.teams.member_daily_grams),
            "player {id} gave a team too much today: {:?}",
            limits.team_grams
        );
    }
    let teams = world.resource::<Teams>();
    for (id, team) in &teams.by_id {
        ensure!(
            team.members.len() <= config.teams.max_members,
            "team {id} has {} members",
            team.members.len()
        );
        let unique: HashSet<_> = team.members.iter().collect();
        ensure!(
            unique.len() == team.members.len(),
            "team {id} lists a member twice"
        );
        ensure!(
            team.invited.iter().all(|p| !team.members.contains(p)),
            "team {id} invites a member"
        );
        for member in &team.members {
            ensure!(
                teams.of(*member).any(|team| team == *id),
                "member {member} of team {id} is missing from the member index"
            );
        }
    }
    for (player, mine) in teams.memberships() {
        ensure!(
            mine.len() <= config.teams.max_per_player,
            "player {player} is in {} teams",
            mine.len()
        );
        for id in mine {
            ensure!(
                teams
                    .by_id
                    .get(id)
                    .is_some_and(|team| team.members.contains(&player)),
                "the member index puts {player} in team {id}, which does not list them"
            );
        }
    }
    Ok(())
}
