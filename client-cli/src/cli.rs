//! The command grammar: clap definitions shared by one-shot commands and `canopy play`.

use crate::bots::{DEFAULT_BOT_MAX_RATE, Mix, parse_mix};
use crate::time_text::parse_duration_ms;
use canopy_shared::admin::PartnerAction;
use canopy_shared::model::{BoardPeriod, PropKind};
use canopy_shared::{BallId, PlayerId, TaskId, TeamId};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// The game socket used when neither a flag, the environment nor the profile names one.
pub const DEFAULT_SERVER: &str = "ws://127.0.0.1:7878/ws";
/// The ops HTTP used when neither a flag nor the environment names one.
pub const DEFAULT_OPS: &str = "http://127.0.0.1:7879";

/// `canopy`: play Canopy from a terminal and drive a server's ops HTTP.
#[derive(Debug, Parser)]
#[command(
    name = "canopy",
    version,
    about = "Play Canopy from a terminal and drive a server's ops HTTP.",
    after_help = "Exit status: 0 on success, 1 for usage or connection problems, \
                  2 when the server answered with an error."
)]
pub struct Cli {
    /// Flags every command accepts.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: TopCommand,
}

/// Flags shared by every command.
#[derive(Clone, Debug, Args)]
pub struct GlobalArgs {
    /// Game socket URL [default: the profile's server, else ws://127.0.0.1:7878/ws]
    #[arg(long, global = true, env = "CANOPY_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Player token to log in with, instead of the saved profile's
    #[arg(
        long,
        global = true,
        env = "CANOPY_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Saved profile to use: one player's id, token and server
    #[arg(
        long,
        global = true,
        env = "CANOPY_PROFILE",
        default_value = "default",
        value_name = "NAME"
    )]
    pub profile: String,
    /// Print the raw result object as one line of JSON instead of human text
    #[arg(long, global = true)]
    pub json: bool,
    /// Ops HTTP base URL for `admin` commands
    #[arg(long, global = true, env = "CANOPY_OPS", default_value = DEFAULT_OPS, value_name = "URL")]
    pub ops: String,
    /// A PEM file of certificates to trust for wss:// and https:// besides the
    /// platform's roots (a private CA, or a server's self-signed certificate)
    #[arg(long, global = true, env = "CANOPY_CA_CERT", value_name = "PEM")]
    pub ca_cert: Option<std::path::PathBuf>,
    /// Admin token for `admin` calls
    #[arg(
        long,
        global = true,
        env = "CANOPY_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub admin_token: Option<String>,
    /// The game day's UTC offset in minutes, for showing times and naming walk refs
    #[arg(
        long,
        global = true,
        env = "CANOPY_UTC_OFFSET",
        default_value_t = 480,
        allow_negative_numbers = true,
        value_name = "MINUTES"
    )]
    pub utc_offset: i32,
}

/// The top-level commands.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum TopCommand {
    /// Game commands, one request each.
    #[command(flatten)]
    Game(GameCommand),
    /// Operator commands over the ops HTTP.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// An interactive prompt that prints live events; reads a script when stdin is
    /// not a terminal
    Play,
    /// Load-test a server with bots that also check the rules: sets up players and
    /// friendships, runs the mix, reports ops/s, latency, errors and violations
    /// (`bots idle`: open and hold idle connections instead)
    Bots(BotsArgs),
    /// Call the partner API as a partner, signing each request with its key (see
    /// docs/PARTNERS.md)
    Partner(PartnerArgs),
    /// Mint a JWT as a host app would, from a development key, to try `host-login`
    DevJwt(DevJwtArgs),
}

/// `canopy partner`: who the partner is, and the call.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct PartnerArgs {
    /// The partner's id, as `canopy admin partner add` printed it
    #[arg(long, env = "CANOPY_PARTNER_ID", value_name = "ID")]
    pub partner_id: u64,
    /// The partner's API key (shown once by `admin partner add` or `rotate-key`)
    #[arg(
        long,
        env = "CANOPY_PARTNER_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub partner_key: String,
    /// The call
    #[command(subcommand)]
    pub command: PartnerCommand,
}

/// A green action reported for a player, by ops or by a partner.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct ActionArgs {
    /// The player's id
    #[arg(value_parser = parse_player_id)]
    pub player: PlayerId,
    /// Action kind, e.g. metro, offline_payment, utility_bill
    pub kind: String,
    /// Steps for walk; 1 for other kinds
    #[arg(long)]
    pub quantity: Option<u64>,
    /// The idempotency key: a retry with the same ref is answered the same
    #[arg(long = "ref", value_name = "REF", required = true)]
    pub reference: String,
}

impl ActionArgs {
    /// The body of the call.
    pub fn to_action(&self) -> PartnerAction {
        PartnerAction {
            player_id: self.player,
            kind: self.kind.clone(),
            quantity: self.quantity,
            reference: self.reference.clone(),
        }
    }
}

/// Calls of the partner API.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum PartnerCommand {
    /// Report a green action for a player (`POST /partner/v1/actions`)
    Action(ActionArgs),
    /// Print the signature headers of a request, to send it with another tool (curl)
    Sign {
        /// The HTTP method
        #[arg(long, default_value = "POST")]
        method: String,
        /// The path, e.g. /partner/v1/actions
        path: String,
        /// The exact body that will be sent
        #[arg(default_value = "")]
        body: String,
    },
}

/// `canopy dev-jwt`: the claims and the key of a test JWT.
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct DevJwtArgs {
    /// The signing key: an Ed25519 or RSA private key in PEM, or a file holding the
    /// HS256 secret
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// EdDSA, RS256 or HS256
    #[arg(long = "alg", value_parser = parse_algorithm, default_value = "EdDSA")]
    pub algorithm: jsonwebtoken::Algorithm,
    /// The `iss` claim (the server's accounts.host.issuer)
    #[arg(long = "iss")]
    pub issuer: String,
    /// The `aud` claim (the server's accounts.host.audience)
    #[arg(long = "aud")]
    pub audience: String,
    /// The `sub` claim: the user at the host
    #[arg(long = "sub")]
    pub subject: String,
    /// The player's name at their first login [default: the subject]
    #[arg(long)]
    pub name: Option<String>,
    /// The claim that carries the name (the server's accounts.host.name_claim)
    #[arg(long, default_value = "name")]
    pub name_claim: String,
    /// The header's `kid`
    #[arg(long)]
    pub kid: Option<String>,
    /// How long it is valid: 10m, 1h
    #[arg(long = "ttl", value_parser = parse_duration_ms, default_value = "10m", value_name = "DURATION")]
    pub ttl_ms: u64,
}

/// One of the algorithms `host_login` accepts.
fn parse_algorithm(text: &str) -> Result<jsonwebtoken::Algorithm, String> {
    match text {
        "EdDSA" => Ok(jsonwebtoken::Algorithm::EdDSA),
        "RS256" => Ok(jsonwebtoken::Algorithm::RS256),
        "HS256" => Ok(jsonwebtoken::Algorithm::HS256),
        _ => Err("one of EdDSA, RS256, HS256".to_owned()),
    }
}

/// `canopy bots`: the world to set up and the load to run.
#[derive(Clone, Debug, PartialEq, Args)]
#[command(
    after_help = "Setup registers the players over the game socket, befriends them \
                  in a random graph, credits partner actions through the ops HTTP and, on a \
                  manual clock, moves it 31 h so the balls are ripe. The admin token \
                  defaults to the server's built-in one. Exit status: 0 for a clean run, 2 \
                  when bots saw violations, unexpected error codes or unanswered requests.",
    args_conflicts_with_subcommands = true
)]
pub struct BotsArgs {
    /// Another kind of load instead of the game mix
    #[command(subcommand)]
    pub mode: Option<BotsMode>,
    /// Players to register, one bot (and one connection) each
    #[arg(long, default_value_t = 100, value_name = "N")]
    pub players: usize,
    /// Friends each player gets (a random graph of this degree)
    #[arg(long, default_value_t = 10, value_name = "K")]
    pub friends_per_player: usize,
    /// How long the bots run after setup: 60s, 5m, 30m, 1h
    #[arg(
        long = "duration",
        value_parser = parse_duration_ms,
        default_value = "60s",
        value_name = "DURATION"
    )]
    pub duration_ms: u64,
    /// Relative weights of the actions
    #[arg(
        long,
        value_parser = parse_mix,
        default_value = "collect=40,steal=30,water=10,read=20",
        value_name = "MIX"
    )]
    pub mix: Mix,
    /// Total requests per second over all bots (open loop); without it each bot sends
    /// its next request as soon as the last reply is in (closed loop)
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,
    /// Also write the report as JSON to this file
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// Seed of the friend graph and the bots' choices [default: random, printed in the
    /// report]
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Each bot's own cap in requests per second, under the server's per-connection
    /// limit (0: none)
    #[arg(long, default_value_t = DEFAULT_BOT_MAX_RATE, value_name = "REQ_PER_S")]
    pub bot_max_rate: f64,
    /// No progress bar and no setup lines on stderr
    #[arg(long)]
    pub quiet: bool,
    /// Play through faults (a shard killed or paused, NATS without a quorum): a bot
    /// whose connection ends logs in again when its shard serves, a request a fault left
    /// unanswered is kept in doubt instead of counted as an error, and after the run
    /// every bot's acknowledged changes are checked once no transfer is in flight
    #[arg(long, conflicts_with = "rain")]
    pub reconnect: bool,
    /// Play a world written by `canopy-server generate --players N` instead of setting
    /// one up: the bots log in as --players of its players (a seeded sample; player I
    /// with the token gen-I), learn their friends and balls through the protocol, and
    /// play in the steady-state style (writes that can succeed)
    #[arg(long, value_name = "N", conflicts_with = "friends_per_player")]
    pub generated_world: Option<u64>,
    /// The ops HTTP of another shard of a cluster (repeat for each shard but `--ops`'s):
    /// the bots register on every shard and credit and ripen through each one's ops
    #[arg(long, value_name = "URL")]
    pub shard_ops: Vec<String>,
    /// Cheater accounts of each kind --cheat names, played next to the honest --players
    /// on a server run with --clock manual; the report scores the risk engine's rules
    /// on them (docs/RISK.md)
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        conflicts_with = "generated_world"
    )]
    pub cheaters: usize,
    /// Kinds of cheater: sniper, steps, funnel, ring, partner-replay or all (comma
    /// separated, or the flag repeated)
    #[arg(long, value_enum, value_delimiter = ',', value_name = "KIND")]
    pub cheat: Vec<crate::bots::Cheat>,
    /// Bots of --players that play the energy rain instead of the mix (rounds, taps with
    /// human timing, chances given to friends), each judged against the round's
    /// schedule; needs a server whose clock runs (not --clock manual)
    #[arg(
        long,
        default_value_t = 0,
        value_name = "N",
        conflicts_with = "cheaters"
    )]
    pub rain: usize,
}

/// Other kinds of load `canopy bots` runs instead of the game mix.
#[derive(Clone, Debug, PartialEq, Subcommand)]
pub enum BotsMode {
    /// Open connections and hold them idle, to measure what an idle connection costs
    /// the server
    Idle(IdleArgs),
}

/// `canopy bots idle`: how many connections, how they log in, how long they stay.
#[derive(Clone, Debug, PartialEq, Args)]
#[command(
    after_help = "Every connection keeps reading its socket, so the server's pings get \
                  their pongs, and sends nothing after its login. The open-files soft limit \
                  is raised to the hard limit; a run needing more is refused. Exit status: \
                  0 when every connection opened and stayed open, 2 otherwise."
)]
pub struct IdleArgs {
    /// Connections to open and hold
    #[arg(long, default_value_t = 1_000, value_name = "N")]
    pub connections: usize,
    /// How long to hold them once all are open: 60s, 5m (0s: close at once)
    #[arg(
        long = "hold",
        value_parser = parse_hold_ms,
        default_value = "60s",
        value_name = "DURATION"
    )]
    pub hold_ms: u64,
    /// Connections being opened (and logged in) at once
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub concurrency: usize,
    /// Log each connection in as a new player (`register`), so it idles logged in
    #[arg(long, conflicts_with = "tokens")]
    pub login: bool,
    /// With --login, write the new players' tokens to this file, one a line
    #[arg(long, value_name = "FILE", requires = "login")]
    pub save_tokens: Option<PathBuf>,
    /// Log each connection in with a token from this file (one a line, reused in turn
    /// when there are fewer lines than connections)
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// Connect from 127.0.0.1 through 127.0.0.N (a loopback server only) [default: one
    /// address for every ~12,000 connections: nine tenths of half the ephemeral port
    /// range, the even ports Linux hands `connect()` first]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=254))]
    pub source_addrs: Option<u8>,
    /// Also write the report as JSON to this file
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// No progress on stderr
    #[arg(long)]
    pub quiet: bool,
}

/// One game op over the WebSocket. The same grammar serves `canopy CMD` and the lines
/// of `canopy play`.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum GameCommand {
    /// Server name, protocol version, tick rate and game clock
    Hello,
    /// The game clock
    Ping,
    /// Create a player and save its token in the profile
    Register {
        /// 1–32 letters, digits, `_`, `-` or CJK characters
        name: String,
        /// Replace a profile that already holds a player
        #[arg(long)]
        force: bool,
    },
    /// Log in with a token (default: --token or the profile's) and save it in the profile
    Login {
        /// The token `register` gave
        token: Option<String>,
    },
    /// Log in as a user of the host app with a JWT it issued (`dev-jwt` mints test ones);
    /// the player's session token is saved in the profile
    HostLogin {
        /// The JWT
        jwt: String,
    },
    /// A new session token (the old one stops working); saved in the profile
    Refresh,
    /// Revoke the token this connection logged in with
    Logout,
    /// Revoke every token of your player; their other connections are closed
    LogoutAll,
    /// Your energy, tree, props, certificates and balls
    Me,
    /// Report today's cumulative step count
    Walk {
        /// Steps so far today
        steps: u64,
        /// Idempotency key [default: walk-<game date>-<steps>]
        #[arg(long = "ref", value_name = "REF")]
        reference: Option<String>,
    },
    /// Report a green action you may self-report
    RecordAction {
        /// Action kind, e.g. walk
        kind: String,
        /// Steps for walk; 1 for other kinds
        #[arg(long)]
        quantity: Option<u64>,
        /// Idempotency key [default: a fresh one for other kinds, the walk ref for walk]
        #[arg(long = "ref", value_name = "REF")]
        reference: Option<String>,
    },
    /// Pick one of your ripe balls
    Collect {
        /// The ball's id
        #[arg(value_parser = parse_ball_id)]
        ball: BallId,
    },
    /// Pick all your ripe balls
    CollectAll,
    /// Take a share of a friend's ripe ball
    Steal {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        friend: PlayerId,
        /// The ball's id
        #[arg(value_parser = parse_ball_id)]
        ball: BallId,
    },
    /// Pick a friend's ripe ball for them
    HelpCollect {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        friend: PlayerId,
        /// The ball's id
        #[arg(value_parser = parse_ball_id)]
        ball: BallId,
    },
    /// Give a friend some of your energy (10, 18, 33 or 66 g by default)
    Water {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        friend: PlayerId,
        /// Grams to give
        grams: u64,
    },
    /// Spend energy on a real tree and get a certificate
    Plant {
        /// Species id, see `species`
        species: String,
    },
    /// Spend energy on square metres of a protected area (保护地), see `species`
    ProtectArea {
        /// The area's id, see `species`
        area: String,
        /// Square metres to protect
        square_metres: u64,
    },
    /// Use a prop from your inventory
    UseProp {
        /// Which prop
        prop: PropArg,
    },
    /// The species catalog
    Species,
    /// Your vitality and the props shop: prices, limits, what you may still buy today
    Shop,
    /// Buy a shop item with vitality
    Buy {
        /// The item's id, see `shop`
        item: String,
    },
    /// Give a friend one prop from your inventory
    GiftProp {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        friend: PlayerId,
        /// Which prop
        prop: PropArg,
    },
    /// Play one round of the energy rain: type a lane number and Enter to catch its
    /// lowest ball, or --auto
    Rain {
        /// Play by itself, with human reaction times and some misses
        #[arg(long)]
        auto: bool,
    },
    /// Your energy rain today: rounds left, chances to give, the round in flight
    RainStatus,
    /// Give a friend one more energy rain round today (unlocks one more for you)
    RainGift {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        friend: PlayerId,
    },
    /// Revive a friend's expired ball (see `friend-balls`): they get its energy back,
    /// you earn vitality
    Revive {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        friend: PlayerId,
        /// The expired ball's id
        #[arg(value_parser = parse_ball_id)]
        ball: BallId,
    },
    /// Ask a player to be friends
    FriendRequest {
        /// Their player id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// Accept a player's friend request
    FriendAccept {
        /// The requester's player id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// Decline a player's friend request
    FriendDecline {
        /// The requester's player id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// End a friendship
    Unfriend {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// Block a player: ends any friendship and stops their requests
    Block {
        /// Their player id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// Lift a block
    Unblock {
        /// Their player id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// Your friends, what you could steal from each, and pending requests
    Friends,
    /// A friend's balls, with what you could steal
    FriendBalls {
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        friend: PlayerId,
    },
    /// Friends of friends, by mutual friends
    Suggestions {
        /// At most this many (≤ 50)
        #[arg(long)]
        limit: Option<u32>,
    },
    /// The board over you and your friends
    Leaderboard {
        /// All energy ever collected, or this week's
        #[arg(default_value = "total")]
        period: PeriodArg,
        /// At most this many rows (≤ 200)
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Your feed, newest first
    Feed {
        /// At most this many entries (≤ 200)
        #[arg(long)]
        limit: Option<u32>,
        /// The `next` cursor of an earlier page
        #[arg(long)]
        before: Option<u64>,
    },
    /// Start a co-planting team
    TeamCreate {
        /// The team's name
        name: String,
        /// The species the team plants
        species: String,
    },
    /// Invite a friend into a team
    TeamInvite {
        /// The team's id
        #[arg(value_parser = parse_team_id)]
        team: TeamId,
        /// The friend's player id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// Join a team you were invited to
    TeamJoin {
        /// The team's id
        #[arg(value_parser = parse_team_id)]
        team: TeamId,
    },
    /// Leave a team
    TeamLeave {
        /// The team's id
        #[arg(value_parser = parse_team_id)]
        team: TeamId,
    },
    /// Give energy to a team's tree (at least 10 g)
    TeamWater {
        /// The team's id
        #[arg(value_parser = parse_team_id)]
        team: TeamId,
        /// Grams to give
        grams: u64,
    },
    /// Your teams
    Teams,
    /// The tasks open to you now: reward, window, your progress
    Tasks,
    /// Accept a task, so its publisher's confirmation rewards you
    TaskAccept {
        /// The task's id
        #[arg(value_parser = parse_task_id)]
        task: TaskId,
    },
}

/// One line typed at `canopy play`: the one-shot grammar plus a few prompt commands.
#[derive(Clone, Debug, PartialEq, Eq, Parser)]
#[command(
    multicall = true,
    name = "play",
    about = "Commands, one per line: the same as `canopy COMMAND`, plus wait and quit.",
    override_usage = "COMMAND [ARGS]...",
    subcommand_value_name = "COMMAND",
    after_help = "Ids may be written 5 or #5. Lines starting with # are comments."
)]
pub enum PlayLine {
    /// Game commands.
    #[command(flatten)]
    Game(GameCommand),
    /// Operator commands over the ops HTTP
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Wait, printing events as they arrive (default 1s)
    Wait {
        /// How long: 500ms, 2s, 1m
        #[arg(value_parser = parse_duration_ms, default_value = "1s", value_name = "DURATION")]
        duration_ms: u64,
    },
    /// Leave the prompt
    #[command(alias = "exit")]
    Quit,
}

/// Operator commands over the ops HTTP.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum AdminCommand {
    /// Move a manual game clock forward: 1d, 3h, 90m, 45s, 5000ms, 1h30m
    Advance {
        /// How far
        #[arg(value_parser = parse_duration_ms, value_name = "DURATION")]
        by_ms: u64,
    },
    /// Give a player props
    GrantProp {
        /// The player's id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
        /// Which prop
        prop: PropArg,
        /// How many (1–1000)
        #[arg(default_value_t = 1)]
        count: u32,
    },
    /// Report a green action for a player: the partner channel (metro, payments, bills)
    Action(ActionArgs),
    /// Revoke every session token of a player and close their connections
    RevokeTokens {
        /// The player's id
        #[arg(value_parser = parse_player_id)]
        player: PlayerId,
    },
    /// Check that energy is conserved: every gram created is held somewhere
    Audit {
        /// Over every shard of a cluster, with the grams in flight between them
        #[arg(long)]
        cluster: bool,
    },
    /// Who did what on the ops port: the newest ops calls, newest first
    AuditLog {
        /// How many calls
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Reload the server's config file
    Reload,
    /// Set the game loop's tick rate (1–120 Hz)
    TickRate {
        /// Ticks per second
        hz: u32,
    },
    /// Write a consistent backup of the running server's store to a new file, while
    /// it serves (the server writes it: give a path on the server's machine)
    Backup {
        /// The backup file to write; it must not exist yet
        #[arg(long, value_name = "PATH")]
        to: PathBuf,
    },
    /// Check the server's health
    Health,
    /// Print the server's metrics (Prometheus text)
    Metrics {
        /// Only lines containing this text
        filter: Option<String>,
    },
    /// Manage partners of the partner API
    #[command(subcommand)]
    Partner(PartnerAdminCommand),
    /// The risk review queue: flags and their evidence, release and confirm, the graph
    /// analysis (a `reviewer` or `admin` token)
    #[command(subcommand)]
    Risk(RiskCommand),
}

/// Reviewer commands over the risk review queue.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum RiskCommand {
    /// List flags, oldest first (default: the open ones)
    List {
        /// Which flags
        #[arg(long, default_value = "open", value_parser = ["open", "released", "confirmed", "all"])]
        status: String,
        /// Only this player's flags
        #[arg(long, value_parser = parse_player_id)]
        player: Option<PlayerId>,
        /// Every shard's flags, not only those of the shard asked (cluster mode)
        #[arg(long)]
        cluster: bool,
    },
    /// One flag with its evidence (of any shard, in cluster mode)
    Show {
        /// The flag's id
        id: u64,
    },
    /// Release a flag (of any shard, in cluster mode): its held energy goes to the
    /// player's balance
    Release {
        /// The flag's id
        id: u64,
    },
    /// Confirm a flag (of any shard, in cluster mode): its held energy is forfeited
    Confirm {
        /// The flag's id
        id: u64,
    },
    /// The latest graph analysis (rings, dense blocks, new-account stars)
    Graph {
        /// Start an analysis now instead
        #[arg(long)]
        run: bool,
    },
}

/// Ops commands over partners.
#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum PartnerAdminCommand {
    /// Register a partner; prints its API key, which is shown only this once
    Add {
        /// Its display name
        name: String,
        /// The action kinds it may report, comma-separated (metro,offline_payment)
        #[arg(long, value_delimiter = ',', value_name = "KINDS")]
        kinds: Vec<String>,
        /// Requests it may make per minute
        #[arg(long, default_value_t = 600, value_name = "N")]
        rate: u32,
        /// It may also publish and complete tasks of its own
        #[arg(long)]
        tasks: bool,
    },
    /// List the partners (never their keys)
    List,
    /// Give a partner a new API key; the old one is refused from now on
    RotateKey {
        /// The partner's id
        partner: u64,
    },
    /// Refuse every call of a partner until it is activated again
    Suspend {
        /// The partner's id
        partner: u64,
    },
    /// Serve a suspended partner again
    Activate {
        /// The partner's id
        partner: u64,
    },
    /// A partner's calls as the audit log holds them, newest first
    Audit {
        /// The partner's id
        partner: u64,
        /// How many entries
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

/// A prop, by its wire name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PropArg {
    /// Friends cannot steal from you for 24 h
    #[value(name = "protection_cover")]
    ProtectionCover,
    /// Hit each friend's ball twice for 24 h
    #[value(name = "double_click")]
    DoubleClick,
    /// All your unripe balls ripen now
    #[value(name = "time_accelerator")]
    TimeAccelerator,
    /// Your steals show as "someone" for 24 h
    #[value(name = "stealth")]
    Stealth,
}

impl From<PropArg> for PropKind {
    fn from(prop: PropArg) -> Self {
        match prop {
            PropArg::ProtectionCover => PropKind::ProtectionCover,
            PropArg::DoubleClick => PropKind::DoubleClick,
            PropArg::TimeAccelerator => PropKind::TimeAccelerator,
            PropArg::Stealth => PropKind::Stealth,
        }
    }
}

/// A leaderboard period.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PeriodArg {
    /// All energy ever collected
    Total,
    /// Energy collected since Monday 00:00 game-local time
    Week,
}

impl From<PeriodArg> for BoardPeriod {
    fn from(period: PeriodArg) -> Self {
        match period {
            PeriodArg::Total => BoardPeriod::Total,
            PeriodArg::Week => BoardPeriod::Week,
        }
    }
}

/// A hold time: a duration, or zero (`0s`) to close the connections once all are open.
fn parse_hold_ms(text: &str) -> Result<u64, String> {
    match text.trim() {
        "0" | "0s" | "0ms" => Ok(0),
        _ => parse_duration_ms(text),
    }
}

/// A task id: `5` or `#5`.
fn parse_task_id(text: &str) -> Result<TaskId, String> {
    parse_id(text, "task").map(TaskId)
}

/// Reads an id as printed by the CLI: `5` or `#5`.
fn parse_id(text: &str, what: &str) -> Result<u64, String> {
    let digits = text.trim().trim_start_matches('#');
    digits
        .parse()
        .map_err(|_| format!("`{text}` is not a {what} id (a whole number such as 5 or #5)"))
}

/// Parses a player id (`2` or `#2`).
pub fn parse_player_id(text: &str) -> Result<PlayerId, String> {
    parse_id(text, "player").map(PlayerId)
}

/// Parses a ball id (`5` or `#5`).
pub fn parse_ball_id(text: &str) -> Result<BallId, String> {
    parse_id(text, "ball").map(BallId)
}

/// Parses a team id (`3` or `#3`).
pub fn parse_team_id(text: &str) -> Result<TeamId, String> {
    parse_id(text, "team").map(TeamId)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("canopy").chain(args.iter().copied()))
    }

    #[test]
    fn the_grammar_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn game_commands_parse() -> Result<(), clap::Error> {
        let cli = parse(&["walk", "5000", "--ref", "r1", "--json"])?;
        assert!(cli.global.json);
        assert_eq!(
            cli.command,
            TopCommand::Game(GameCommand::Walk {
                steps: 5000,
                reference: Some("r1".into())
            })
        );
        let cli = parse(&["steal", "#2", "5"])?;
        assert_eq!(
            cli.command,
            TopCommand::Game(GameCommand::Steal {
                friend: PlayerId(2),
                ball: BallId(5)
            })
        );
        let cli = parse(&["leaderboard"])?;
        assert_eq!(
            cli.command,
            TopCommand::Game(GameCommand::Leaderboard {
                period: PeriodArg::Total,
                limit: None
            })
        );
        let cli = parse(&["use-prop", "protection_cover"])?;
        assert_eq!(
            cli.command,
            TopCommand::Game(GameCommand::UseProp {
                prop: PropArg::ProtectionCover
            })
        );
        Ok(())
    }

    #[test]
    fn admin_commands_parse() -> Result<(), clap::Error> {
        let cli = parse(&["admin", "advance", "1h30m", "--admin-token", "t"])?;
        assert_eq!(cli.global.admin_token.as_deref(), Some("t"));
        assert_eq!(
            cli.command,
            TopCommand::Admin(AdminCommand::Advance { by_ms: 5_400_000 })
        );
        let cli = parse(&["admin", "grant-prop", "3", "stealth"])?;
        assert_eq!(
            cli.command,
            TopCommand::Admin(AdminCommand::GrantProp {
                player: PlayerId(3),
                prop: PropArg::Stealth,
                count: 1
            })
        );
        assert!(
            parse(&["admin", "action", "3", "metro"]).is_err(),
            "--ref is required"
        );
        Ok(())
    }

    #[test]
    fn bad_arguments_are_refused() {
        for args in [
            &["walk", "many"][..],
            &["collect", "ball5"],
            &["use-prop", "jetpack"],
            &["leaderboard", "month"],
            &["admin", "advance", "5000"],
            &["frobnicate"],
        ] {
            assert!(parse(args).is_err(), "{args:?} should be refused");
        }
    }

    #[test]
    fn play_lines_use_the_same_grammar() -> Result<(), clap::Error> {
        PlayLine::command().debug_assert();
        let line = |words: &[&str]| PlayLine::try_parse_from(words.iter().copied());
        assert_eq!(
            line(&["collect", "#7"])?,
            PlayLine::Game(GameCommand::Collect { ball: BallId(7) })
        );
        assert_eq!(
            line(&["admin", "advance", "31h"])?,
            PlayLine::Admin(AdminCommand::Advance {
                by_ms: 31 * 3_600_000
            })
        );
        assert_eq!(line(&["wait"])?, PlayLine::Wait { duration_ms: 1_000 });
        assert_eq!(line(&["exit"])?, PlayLine::Quit);
        let help = line(&["help"]).expect_err("help is not a command to run");
        assert_eq!(help.kind(), clap::error::ErrorKind::DisplayHelp);
        let text = help.render().to_string();
        for command in [
            "walk",
            "steal",
            "friend-request",
            "team-water",
            "admin",
            "wait",
            "quit",
        ] {
            assert!(text.contains(command), "help lacks {command}:\n{text}");
        }
        Ok(())
    }

    #[test]
    fn prop_names_match_the_wire() {
        for prop in PropArg::value_variants() {
            let name = prop
                .to_possible_value()
                .map(|value| value.get_name().to_owned())
                .unwrap_or_default();
            assert_eq!(name, PropKind::from(*prop).as_str());
        }
    }
}
