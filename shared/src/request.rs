//! Requests: `{"id": <u64>, "op": "<name>", ...fields}`.

use crate::ids::{BallId, Millis, PlayerId, TaskId, TeamId};
use crate::model::{BoardPeriod, PropKind, WatchTarget};
use serde::{Deserialize, Serialize};

/// Every op a client may send. The `id` travels beside it in the frame envelope
/// (see [`crate::frame`]); fields a variant does not name are ignored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// Announce the protocol version; optional.
    Hello {
        /// Must be 1.
        version: u32,
    },
    /// Create a player and log this connection in.
    Register {
        /// 1–32 characters: letters, digits, `_`, `-`, CJK.
        name: String,
    },
    /// Log this connection in with a token from `register`.
    Login {
        /// The opaque token.
        token: String,
    },
    /// Log this connection in as the host app's user: a JWT the host issued, checked
    /// against the keys in the server's config. The user's player is created at their
    /// first login and bound to them for good.
    HostLogin {
        /// The compact JWT (`header.claims.signature`).
        jwt: String,
    },
    /// Liveness and the game clock.
    Ping {},
    /// A new session token for the logged-in player, with a fresh expiry; the token
    /// the session logged in with is revoked.
    Refresh {},
    /// Revokes the token this session logged in with; the session stays open, logged
    /// out, and other sessions on that token are closed.
    Logout {},
    /// Revokes every token of the logged-in player; their other sessions are closed and
    /// this one stays open, logged out.
    LogoutAll {},
    /// The caller's profile and balls.
    Me {},
    /// Report a green action the player may self-report (`walk`).
    RecordAction {
        /// The action kind.
        kind: String,
        /// Cumulative steps today for `walk`; 1 (the default) otherwise.
        #[serde(default)]
        quantity: Option<u64>,
        /// Idempotency key, at most 64 characters.
        #[serde(rename = "ref")]
        reference: String,
    },
    /// Pick one of the caller's ripe balls.
    Collect {
        /// The ball.
        ball_id: BallId,
    },
    /// Pick every ripe ball of the caller.
    CollectAll {},
    /// Take a share of a friend's ripe ball.
    Steal {
        /// The ball's owner.
        friend_id: PlayerId,
        /// The ball.
        ball_id: BallId,
    },
    /// Pick a friend's ripe ball for them.
    HelpCollect {
        /// The ball's owner.
        friend_id: PlayerId,
        /// The ball.
        ball_id: BallId,
    },
    /// Give a friend some of the caller's energy, as a ripe ball.
    Water {
        /// Who receives it.
        friend_id: PlayerId,
        /// One of the configured amounts (10, 18, 33, 66 by default).
        grams: u64,
    },
    /// Spend energy on a real tree and get a certificate.
    Plant {
        /// The species' catalog id.
        species: String,
    },
    /// Protect square metres of a protected area (保护地) with energy: an `area`
    /// certificate.
    ProtectArea {
        /// The area's catalog id.
        area: String,
        /// Square metres to protect, 1 to the area's maximum.
        square_metres: u64,
    },
    /// Use a prop from the inventory.
    UseProp {
        /// Which prop.
        prop: PropKind,
    },
    /// The species catalog.
    Species {},
    /// Ask a player to be friends.
    FriendRequest {
        /// The addressee.
        player_id: PlayerId,
    },
    /// Accept a pending request from this player.
    FriendAccept {
        /// The requester.
        player_id: PlayerId,
    },
    /// Decline a pending request from this player.
    FriendDecline {
        /// The requester.
        player_id: PlayerId,
    },
    /// End a friendship.
    Unfriend {
        /// The former friend.
        player_id: PlayerId,
    },
    /// Block a player: ends any friendship and stops their requests.
    Block {
        /// The player to block.
        player_id: PlayerId,
    },
    /// Lift a block.
    Unblock {
        /// The player to unblock.
        player_id: PlayerId,
    },
    /// Friends, with what the caller could steal from each, and pending requests.
    Friends {},
    /// A friend's balls, with `stealable` from the caller's side.
    FriendBalls {
        /// The friend.
        friend_id: PlayerId,
    },
    /// Friends of friends ranked by mutual friends.
    Suggestions {
        /// At most 50.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// A board over the caller and their friends.
    Leaderboard {
        /// `total` or `week`.
        period: BoardPeriod,
        /// At most 200.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// The caller's feed, newest first.
    Feed {
        /// At most 200.
        #[serde(default)]
        limit: Option<u32>,
        /// The `next` cursor of an earlier page.
        #[serde(default)]
        before: Option<u64>,
    },
    /// Start a co-planting team.
    TeamCreate {
        /// The team's name.
        name: String,
        /// The species the team plants.
        species: String,
    },
    /// Invite a friend into a team.
    TeamInvite {
        /// The team.
        team_id: TeamId,
        /// The friend.
        player_id: PlayerId,
    },
    /// Join a team the caller was invited to.
    TeamJoin {
        /// The team.
        team_id: TeamId,
    },
    /// Leave a team.
    TeamLeave {
        /// The team.
        team_id: TeamId,
    },
    /// Give energy to the team's tree.
    TeamWater {
        /// The team.
        team_id: TeamId,
        /// At least 10 g.
        grams: u64,
    },
    /// The caller's teams.
    Teams {},
    /// Start receiving pushes about other players: the friends list (`friend_stealable`
    /// for each friend) or one friend's forest (`forest_changed`, and `friend_stealable`
    /// for that friend). Watching another forest replaces the session's forest watch.
    Watch {
        /// `friends` or `forest`.
        what: WatchTarget,
        /// The friend whose forest to watch; required for `forest`.
        #[serde(default)]
        friend_id: Option<PlayerId>,
    },
    /// Stop a watch of this session; `ok` when there was none.
    Unwatch {
        /// `friends` or `forest`.
        what: WatchTarget,
        /// For `forest`: stop only if this friend's forest is the one watched.
        #[serde(default)]
        friend_id: Option<PlayerId>,
    },
    /// The tasks open to the caller now, with their progress.
    Tasks {},
    /// Accept a task, so that its publisher's confirmation of completion rewards it.
    TaskAccept {
        /// The task.
        task_id: TaskId,
    },
    /// The props shop: the caller's vitality, and each item's price, limits and what
    /// the caller may still buy of it.
    Shop {},
    /// Buy one shop item with vitality; its props go to the inventory.
    Buy {
        /// The item's id in the shop.
        item: String,
    },
    /// Give a friend one prop from the caller's inventory.
    GiftProp {
        /// Who receives it.
        friend_id: PlayerId,
        /// Which prop.
        prop: PropKind,
    },
    /// Revive a friend's expired ball: the friend gets its energy back as a new ball.
    Revive {
        /// The ball's owner.
        friend_id: PlayerId,
        /// The expired ball.
        ball_id: BallId,
    },
    /// The caller's energy rain today: rounds left, chances to give, the round in
    /// flight.
    Rain {},
    /// Start a round of the energy rain, if one is left today.
    RainStart {},
    /// Catch one ball of the caller's round in flight.
    RainTap {
        /// The round.
        round_id: u64,
        /// The ball's index in the round.
        ball: u32,
        /// When the player tapped it, on the server's game clock (`starts_at` plus the
        /// time into the round).
        at: Millis,
    },
    /// Give a friend one more round today; unlocks one more for the caller too.
    RainGift {
        /// Who receives the chance.
        friend_id: PlayerId,
    },
}

impl Request {
    /// The op's wire name, for metrics and logs.
    pub fn op_name(&self) -> &'static str {
        match self {
            Self::Hello { .. } => "hello",
            Self::Register { .. } => "register",
            Self::Login { .. } => "login",
            Self::HostLogin { .. } => "host_login",
            Self::Ping {} => "ping",
            Self::Refresh {} => "refresh",
            Self::Logout {} => "logout",
            Self::LogoutAll {} => "logout_all",
            Self::Me {} => "me",
            Self::RecordAction { .. } => "record_action",
            Self::Collect { .. } => "collect",
            Self::CollectAll {} => "collect_all",
            Self::Steal { .. } => "steal",
            Self::HelpCollect { .. } => "help_collect",
            Self::Water { .. } => "water",
            Self::Plant { .. } => "plant",
            Self::ProtectArea { .. } => "protect_area",
            Self::UseProp { .. } => "use_prop",
            Self::Species {} => "species",
            Self::FriendRequest { .. } => "friend_request",
            Self::FriendAccept { .. } => "friend_accept",
            Self::FriendDecline { .. } => "friend_decline",
            Self::Unfriend { .. } => "unfriend",
            Self::Block { .. } => "block",
            Self::Unblock { .. } => "unblock",
            Self::Friends {} => "friends",
            Self::FriendBalls { .. } => "friend_balls",
            Self::Suggestions { .. } => "suggestions",
            Self::Leaderboard { .. } => "leaderboard",
            Self::Feed { .. } => "feed",
            Self::TeamCreate { .. } => "team_create",
            Self::TeamInvite { .. } => "team_invite",
            Self::TeamJoin { .. } => "team_join",
            Self::TeamLeave { .. } => "team_leave",
            Self::TeamWater { .. } => "team_water",
            Self::Teams {} => "teams",
            Self::Watch { .. } => "watch",
            Self::Unwatch { .. } => "unwatch",
            Self::Tasks {} => "tasks",
            Self::TaskAccept { .. } => "task_accept",
            Self::Shop {} => "shop",
            Self::Buy { .. } => "buy",
            Self::GiftProp { .. } => "gift_prop",
            Self::Revive { .. } => "revive",
            Self::Rain {} => "rain",
            Self::RainStart {} => "rain_start",
            Self::RainTap { .. } => "rain_tap",
            Self::RainGift { .. } => "rain_gift",
        }
    }

    /// Ops a connection may send before it logs in.
    pub fn allowed_before_login(&self) -> bool {
        matches!(
            self,
            Self::Hello { .. }
                | Self::Register { .. }
                | Self::Login { .. }
                | Self::HostLogin { .. }
                | Self::Ping {}
        )
    }
}
