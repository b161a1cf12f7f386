//! `canopy bots idle`: open many WebSocket connections and hold them idle, to measure
//! what an idle connection costs the server. Each connection keeps reading its socket,
//! so the server's pings get their pongs (tungstenite answers them on read), and sends
//! nothing after its optional login. Past what one loopback address's ephemeral ports
//! allow, connections come from 127.0.0.1, 127.0.0.2, ... in turn.

use crate::app::Settings;
use crate::bots::deliver;
use crate::bots::knowledge::typed;
use crate::bots::progress::Progress;
use crate::bots::wire::{Socket, Wire};
use crate::cli::{GlobalArgs, IdleArgs};
use crate::error::CliError;
use canopy_shared::Request;
use canopy_shared::reply::RegisterResult;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

/// Open files kept for the runtime, stdio, the report and the tokens file.
const SPARE_FILES: u64 = 64;
/// How long one connection may take to connect and finish its handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a connection's goodbye may take.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Connections one source address carries when the port range cannot be read.
const DEFAULT_PORTS_PER_SOURCE: usize = 12_000;
/// Where Linux keeps the ephemeral port range.
const PORT_RANGE_FILE: &str = "/proc/sys/net/ipv4/ip_local_port_range";
/// Each client socket's read buffer: the server sends only pings and small replies
/// (tungstenite's default is 128 KiB, which 20,000 connections would turn into 2.5 GiB).
const READ_BUFFER_BYTES: usize = 4096;
/// The largest frame a connection accepts (a reply to `register` or `login`).
const MAX_FRAME_BYTES: usize = 64 * 1024;
/// How often the hold says how many connections are open.
const STATUS_EVERY: Duration = Duration::from_secs(10);

/// How the connections log in.
#[derive(Clone, Debug)]
enum Login {
    /// They stay anonymous.
    None,
    /// Each registers a new player.
    Register,
    /// Each logs in with a token, reused in turn.
    Tokens(Vec<String>),
}

impl Login {
    fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Register => "register",
            Self::Tokens(_) => "tokens",
        }
    }
}

/// What every connection task needs to open its connection.
struct Plan {
    /// The game socket URL (for the handshake's request).
    url: String,
    /// Where it resolves.
    target: SocketAddr,
    /// Source addresses used in turn; empty: the kernel chooses.
    sources: Vec<IpAddr>,
    /// How each connection logs in.
    login: Login,
    /// The client's WebSocket limits and buffers.
    ws_config: WebSocketConfig,
}

/// What one connection's open phase ended with: the token of a new player, or why it
/// failed.
type Opened = Result<Option<String>, String>;

/// Counts the connection tasks keep while they hold.
#[derive(Default)]
struct HoldTally {
    /// Pings read (each answered with a pong on the next read).
    pings: AtomicU64,
    /// Connections that ended before the hold did.
    dropped: AtomicU64,
    /// Why they ended.
    drops: Mutex<BTreeMap<String, u64>>,
}

impl HoldTally {
    fn dropped(&self, reason: String) {
        self.dropped.fetch_add(1, Ordering::Relaxed);
        let mut drops = self
            .drops
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *drops.entry(reason).or_default() += 1;
    }
}

/// The run as asked for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdleConfigReport {
    /// Connections asked for.
    pub connections: usize,
    /// How long to hold them, in seconds.
    pub hold_s: f64,
    /// Connections opened at once.
    pub concurrency: usize,
    /// `none`, `register` or `tokens`.
    pub login: String,
    /// The source addresses used in turn (empty: the kernel's choice).
    pub source_addresses: Vec<String>,
    /// The game socket.
    pub server: String,
    /// The open-files limit in force after raising it.
    pub open_files_limit: u64,
}

/// What `canopy bots idle` saw. The shape is documented in docs/LOAD-TESTING.md:
/// fields may be added, never renamed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdleReport {
    /// The run as asked for.
    pub config: IdleConfigReport,
    /// How long opening (and logging in) all connections took.
    pub open_s: f64,
    /// Connections opened (and logged in, with a login).
    pub opened: usize,
    /// Connections that could not be opened or logged in.
    pub failed: usize,
    /// Those failures by reason.
    pub failures: BTreeMap<String, u64>,
    /// Connections logged in as a player.
    pub logged_in: usize,
    /// How long the connections were held, in seconds.
    pub hold_s: f64,
    /// Pings read from the server over all connections after their login.
    pub pings: u64,
    /// Connections that ended before the hold did.
    pub dropped: u64,
    /// Those by reason.
    pub drops: BTreeMap<String, u64>,
    /// Connections still open when the hold ended.
    pub open_at_end: u64,
}

impl IdleReport {
    /// Every connection opened and stayed open.
    pub fn is_clean(&self) -> bool {
        self.opened == self.config.connections && self.dropped == 0
    }

    /// The report as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("the idle report serializes to JSON")
    }

    /// The report for people.
    pub fn to_text(&self) -> String {
        let config = &self.config;
        let mut text = format!(
            "canopy bots idle: {} connections to {}, login {}, from {}, hold {} s\n",
            config.connections,
            config.server,
            config.login,
            match config.source_addresses.len() {
                0 => "the kernel's choice of address".to_owned(),
                1 => config.source_addresses[0].clone(),
                n => format!("{n} source addresses"),
            },
            config.hold_s
        );
        let _ = writeln!(
            text,
            "open: {} opened, {} failed in {:.1} s ({:.0}/s){}",
            self.opened,
            self.failed,
            self.open_s,
            self.opened as f64 / self.open_s.max(0.001),
            if config.login == "none" {
                String::new()
            } else {
                format!(", {} logged in", self.logged_in)
            }
        );
        for (reason, count) in &self.failures {
            let _ = writeln!(text, "  failed: {reason}: {count}");
        }
        let _ = writeln!(
            text,
            "hold: {:.1} s, {} pings answered, {} dropped, {} open at the end",
            self.hold_s, self.pings, self.dropped, self.open_at_end
        );
        for (reason, count) in &self.drops {
            let _ = writeln!(text, "  dropped: {reason}: {count}");
        }
        text.pop();
        text
    }
}

/// Runs `canopy bots idle`; returns the exit status: 0 when every connection opened and
/// stayed open, 2 otherwise.
pub fn run(args: &IdleArgs, global: &GlobalArgs) -> Result<u8, CliError> {
    if args.connections == 0 {
        return Err(CliError::Usage("--connections must be at least 1".into()));
    }
    if args.concurrency == 0 {
        return Err(CliError::Usage("--concurrency must be at least 1".into()));
    }
    let settings = Settings::resolve(global)?;
    let target = resolve(&settings.server_url)?;
    let sources = source_addresses(args, target)?;
    let login = match (&args.tokens, args.login) {
        (Some(path), _) => Login::Tokens(read_tokens(path)?),
        (None, true) => Login::Register,
        (None, false) => Login::None,
    };
    let open_files_limit = raise_open_files_limit();
    let needed = args.connections as u64 + SPARE_FILES;
    if needed > open_files_limit {
        return Err(CliError::Usage(format!(
            "{} connections need about {needed} open files, over this process's limit of \
             {open_files_limit} (the hard limit): raise it (`ulimit -Hn`, LimitNOFILE=) or \
             split the connections over several `canopy bots idle` processes",
            args.connections
        )));
    }
    let config = IdleConfigReport {
        connections: args.connections,
        hold_s: args.hold_ms as f64 / 1_000.0,
        concurrency: args.concurrency,
        login: login.name().to_owned(),
        source_addresses: sources.iter().map(IpAddr::to_string).collect(),
        server: settings.server_url.clone(),
        open_files_limit,
    };
    let plan = Arc::new(Plan {
        url: settings.server_url.clone(),
        target,
        sources,
        login,
        ws_config: WebSocketConfig::default()
            .read_buffer_size(READ_BUFFER_BYTES)
            .write_buffer_size(0)
            .max_message_size(Some(MAX_FRAME_BYTES))
            .max_frame_size(Some(MAX_FRAME_BYTES)),
    });
    let progress = Progress::new(args.quiet);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|err| CliError::Local(format!("cannot start the async runtime: {err}")))?;
    let hold = Duration::from_millis(args.hold_ms);
    let (report, tokens) = runtime.block_on(open_and_hold(
        config,
        plan,
        args.concurrency,
        hold,
        &progress,
    ));
    runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some(path) = &args.save_tokens {
        let mut text = tokens.join("\n");
        text.push('\n');
        std::fs::write(path, text).map_err(|err| {
            CliError::Local(format!(
                "cannot write the tokens to {}: {err}",
                path.display()
            ))
        })?;
    }
    deliver(
        args.report.as_deref(),
        &report.to_json(),
        || report.to_text(),
        global.json,
        report.is_clean(),
    )
}

/// Opens every connection (at most `concurrency` at once), holds them for `hold`, then
/// closes them; returns the report and the new players' tokens in connection order.
async fn open_and_hold(
    config: IdleConfigReport,
    plan: Arc<Plan>,
    concurrency: usize,
    hold: Duration,
    progress: &Progress,
) -> (IdleReport, Vec<String>) {
    let connections = config.connections;
    let gate = Arc::new(Semaphore::new(concurrency));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (opened_tx, mut opened_rx) = mpsc::unbounded_channel();
    let tally = Arc::new(HoldTally::default());
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            let connection = Connection {
                index,
                plan: plan.clone(),
                gate: gate.clone(),
                opened: opened_tx.clone(),
                stop: stop_rx.clone(),
                tally: tally.clone(),
            };
            tokio::spawn(connection.run())
        })
        .collect();
    drop(opened_tx);

    let bar = progress.phase("open", connections as u64);
    let mut tokens = vec![None; connections];
    let mut failures: BTreeMap<String, u64> = BTreeMap::new();
    let mut opened = 0;
    while let Some((index, outcome)) = opened_rx.recv().await {
        bar.inc(1);
        match outcome {
            Ok(token) => {
                opened += 1;
                tokens[index] = token;
            }
            Err(reason) => *failures.entry(reason).or_default() += 1,
        }
    }
    let open_s = started.elapsed().as_secs_f64();
    let failed = connections - opened;
    progress.done(
        &bar,
        &format!("open: {opened} opened, {failed} failed in {open_s:.1} s"),
    );
    let logged_in = match plan.login {
        Login::None => 0,
        Login::Register | Login::Tokens(_) => opened,
    };

    progress.say(&format!(
        "hold: {opened} connections open; holding them for {} s",
        hold.as_secs()
    ));
    let hold_started = Instant::now();
    let hold_ends = tokio::time::Instant::now() + hold;
    let mut status =
        tokio::time::interval_at(tokio::time::Instant::now() + STATUS_EVERY, STATUS_EVERY);
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(hold_ends) => break,
            _ = status.tick() => progress.say(&format!(
                "hold: {} s, {} open, {} pings answered",
                hold_started.elapsed().as_secs(),
                opened as u64 - tally.dropped.load(Ordering::Relaxed),
                tally.pings.load(Ordering::Relaxed)
            )),
        }
    }
    let hold_s = hold_started.elapsed().as_secs_f64();
    let dropped = tally.dropped.load(Ordering::Relaxed);
    let pings = tally.pings.load(Ordering::Relaxed);
    let drops = tally
        .drops
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();

    // Say goodbye on every connection; one that cannot in time is dropped.
    let _ = stop_tx.send(true);
    let closing = futures_util::future::join_all(tasks);
    let _ = tokio::time::timeout(CLOSE_TIMEOUT + Duration::from_secs(3), closing).await;

    let report = IdleReport {
        config,
        open_s,
        opened,
        failed,
        failures,
        logged_in,
        hold_s,
        pings,
        dropped,
        drops,
        open_at_end: opened as u64 - dropped,
    };
    (report, tokens.into_iter().flatten().collect())
}

/// One connection's task: open it, report how that went, then hold it.
struct Connection {
    index: usize,
    plan: Arc<Plan>,
    /// Bounds the connections being opened at once.
    gate: Arc<Semaphore>,
    /// Where the open phase's outcome goes.
    opened: mpsc::UnboundedSender<(usize, Opened)>,
    /// Turns true when the hold is over.
    stop: watch::Receiver<bool>,
    tally: Arc<HoldTally>,
}

impl Connection {
    async fn run(self) {
        let Self {
            index,
            plan,
            gate,
            opened,
            stop,
            tally,
        } = self;
        let Ok(permit) = gate.acquire().await else {
            return;
        };
        let outcome = open(index, &plan).await;
        drop(permit);
        match outcome {
            Ok((socket, token)) => {
                let _ = opened.send((index, Ok(token)));
                drop(opened);
                hold(socket, stop, &tally).await;
            }
            Err(reason) => {
                let _ = opened.send((index, Err(reason)));
            }
        }
    }
}

/// Connects, finishes the handshake and logs in as the plan says.
async fn open(index: usize, plan: &Plan) -> Result<(Socket, Option<String>), String> {
    let socket = tokio::time::timeout(CONNECT_TIMEOUT, connect(index, plan))
        .await
        .map_err(|_| {
            format!(
                "connect: no handshake within {} s",
                CONNECT_TIMEOUT.as_secs()
            )
        })??;
    let mut wire = Wire::from_socket(socket, &plan.url, Arc::default());
    let token = match &plan.login {
        Login::None => None,
        Login::Register => {
            let name = format!("idle-{index}");
            let fields = wire
                .call(&Request::Register { name }, |_| {})
                .await
                .map_err(|err| format!("register: {err}"))?
                .map_err(|err| format!("register: {}", err.code))?;
            let registered: RegisterResult =
                typed(&fields).ok_or_else(|| "register: the reply has no token".to_owned())?;
            Some(registered.token)
        }
        Login::Tokens(tokens) => {
            let token = tokens[index % tokens.len()].clone();
            wire.call(&Request::Login { token }, |_| {})
                .await
                .map_err(|err| format!("login: {err}"))?
                .map_err(|err| format!("login: {}", err.code))?;
            None
        }
    };
    Ok((wire.into_socket(), token))
}

async fn connect(index: usize, plan: &Plan) -> Result<Socket, String> {
    let connected = if plan.sources.is_empty() {
        TcpStream::connect(plan.target).await
    } else {
        let source = plan.sources[index % plan.sources.len()];
        let socket = match plan.target {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|err| format!("socket: {}", io_reason(&err)))?;
        socket
            .bind(SocketAddr::new(source, 0))
            .map_err(|err| format!("bind {source}: {}", io_reason(&err)))?;
        socket.connect(plan.target).await
    };
    let stream = connected.map_err(|err| format!("connect: {}", io_reason(&err)))?;
    let _ = stream.set_nodelay(true);
    let (socket, _response) = tokio_tungstenite::client_async_with_config(
        plan.url.as_str(),
        MaybeTlsStream::Plain(stream),
        Some(plan.ws_config),
    )
    .await
    .map_err(|err| format!("handshake: {}", ws_reason(&err)))?;
    Ok(socket)
}

/// Reads the socket until the hold is over (answering pings), then closes it.
async fn hold(mut socket: Socket, mut stop: watch::Receiver<bool>, tally: &HoldTally) {
    loop {
        tokio::select! {
            _ = stop.wait_for(|&stop| stop) => break,
            frame = socket.next() => match frame {
                Some(Ok(Message::Ping(_))) => {
                    tally.pings.fetch_add(1, Ordering::Relaxed);
                }
                Some(Ok(Message::Close(frame))) => return tally.dropped(close_reason(frame)),
                // Events and late replies: an idle connection ignores them.
                Some(Ok(_)) => {}
                Some(Err(err)) => return tally.dropped(ws_reason(&err)),
                None => return tally.dropped("the connection ended".to_owned()),
            }
        }
    }
    // Wait for the server to answer and close the TCP connection first, so the
    // TIME_WAIT stays on its side and the next run finds this side's ports free.
    let goodbye = async {
        if socket.close(None).await.is_ok() {
            while let Some(Ok(_)) = socket.next().await {}
        }
    };
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, goodbye).await;
}

fn close_reason(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(frame) if frame.reason.is_empty() => {
            format!("closed by the server ({})", u16::from(frame.code))
        }
        Some(frame) => format!(
            "closed by the server ({}: {})",
            u16::from(frame.code),
            frame.reason
        ),
        None => "closed by the server".to_owned(),
    }
}

/// A short, low-cardinality reason for an I/O failure.
fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind;
    match err.kind() {
        ErrorKind::ConnectionRefused => "connection refused".to_owned(),
        ErrorKind::ConnectionReset => "connection reset".to_owned(),
        ErrorKind::AddrNotAvailable => {
            "no free local port (EADDRNOTAVAIL): add source addresses".to_owned()
        }
        ErrorKind::AddrInUse => "local address in use".to_owned(),
        ErrorKind::TimedOut => "timed out".to_owned(),
        ErrorKind::UnexpectedEof => "connection closed".to_owned(),
        _ => err.to_string(),
    }
}

fn ws_reason(err: &WsError) -> String {
    match err {
        WsError::Io(err) => io_reason(err),
        WsError::Http(response) => format!("refused with HTTP {}", response.status()),
        WsError::ConnectionClosed | WsError::AlreadyClosed => "connection closed".to_owned(),
        other => other.to_string(),
    }
}

/// The address a `ws://host:port/path` URL connects to (IPv4 first).
fn resolve(url: &str) -> Result<SocketAddr, CliError> {
    let authority = url
        .strip_prefix("ws://")
        .and_then(|rest| rest.split('/').next())
        .ok_or_else(|| CliError::Usage(format!("`{url}` is not a ws:// URL")))?;
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
    {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let addrs: Vec<SocketAddr> = with_port
        .to_socket_addrs()
        .map_err(|err| CliError::Connection(format!("cannot resolve {authority}: {err}")))?
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| CliError::Connection(format!("{authority} resolves to no address")))
}

/// The source addresses to connect from: 127.0.0.1..127.0.0.N when asked, or when the
/// connections outgrow one address's ephemeral ports on a loopback server; none (the
/// kernel's choice) otherwise.
fn source_addresses(args: &IdleArgs, target: SocketAddr) -> Result<Vec<IpAddr>, CliError> {
    let loopback_v4 = matches!(target.ip(), IpAddr::V4(ip) if ip.is_loopback());
    let count = match args.source_addrs {
        Some(count) if !loopback_v4 => {
            return Err(CliError::Usage(format!(
                "--source-addrs {count} needs a server on 127.0.0.0/8; {target} is not"
            )));
        }
        Some(count) => usize::from(count),
        None if !loopback_v4 => return Ok(Vec::new()),
        None => args.connections.div_ceil(ports_per_source()),
    };
    if args.source_addrs.is_none() && count <= 1 {
        return Ok(Vec::new());
    }
    let count = u8::try_from(count).map_err(|_| {
        CliError::Usage(format!(
            "{} connections need {count} loopback source addresses, over 254",
            args.connections
        ))
    })?;
    Ok((1..=count)
        .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
        .collect())
}

/// Connections one source address carries to one server port while connecting stays
/// fast: Linux gives `connect()` the even ports of the ephemeral range first and scans
/// all of them before it tries an odd one, so past half the range every new connection
/// pays for a scan (measured: 19,936 connections from one address took 5–27 s to open,
/// from two 4–6 s). Nine tenths of that half, leaving room for sockets in TIME_WAIT.
fn ports_per_source() -> usize {
    std::fs::read_to_string(PORT_RANGE_FILE)
        .ok()
        .and_then(|text| parse_port_range(&text))
        .map_or(DEFAULT_PORTS_PER_SOURCE, |ports| ports / 2 * 9 / 10)
}

fn parse_port_range(text: &str) -> Option<usize> {
    let mut bounds = text.split_whitespace().map(str::parse::<usize>);
    let (low, high) = (bounds.next()?.ok()?, bounds.next()?.ok()?);
    (high >= low).then(|| high - low + 1)
}

fn read_tokens(path: &Path) -> Result<Vec<String>, CliError> {
    let text = std::fs::read_to_string(path).map_err(|err| {
        CliError::Local(format!("cannot read tokens from {}: {err}", path.display()))
    })?;
    let tokens: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect();
    if tokens.is_empty() {
        return Err(CliError::Usage(format!(
            "{} holds no token",
            path.display()
        )));
    }
    Ok(tokens)
}

/// Raises the soft open-files limit to the hard one; returns the limit in force.
#[cfg(unix)]
fn raise_open_files_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return u64::MAX;
    };
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return hard;
    }
    soft
}

/// Elsewhere the limit is whatever it is.
#[cfg(not(unix))]
fn raise_open_files_limit() -> u64 {
    u64::MAX
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{BotsMode, Cli, TopCommand};
    use clap::Parser;

    fn idle(args: &[&str]) -> Result<IdleArgs, String> {
        let cli = Cli::try_parse_from(
            ["canopy", "bots", "idle"]
                .iter()
                .chain(args.iter())
                .copied(),
        )
        .map_err(|err| err.to_string())?;
        match cli.command {
            TopCommand::Bots(bots) => match bots.mode {
                Some(BotsMode::Idle(args)) => Ok(args),
                None => Err("parsed as the game mix".into()),
            },
            other => Err(format!("parsed as {other:?}")),
        }
    }

    fn loopback() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], 7878))
    }

    #[test]
    fn the_documented_command_lines_parse() -> Result<(), String> {
        let args = idle(&["--connections", "20000", "--hold", "60s"])?;
        assert_eq!(args.connections, 20_000);
        assert_eq!(args.hold_ms, 60_000);
        assert!(!args.login);
        let args = idle(&["--login", "--save-tokens", "/tmp/t", "--hold", "0s"])?;
        assert!(args.login);
        assert_eq!(args.hold_ms, 0);
        let args = idle(&["--tokens", "/tmp/t", "--source-addrs", "3"])?;
        assert_eq!(args.source_addrs, Some(3));
        assert!(idle(&["--login", "--tokens", "/tmp/t"]).is_err());
        assert!(idle(&["--save-tokens", "/tmp/t"]).is_err(), "needs --login");
        assert!(idle(&["--source-addrs", "0"]).is_err());
        assert!(idle(&["--source-addrs", "255"]).is_err());
        Ok(())
    }

    #[test]
    fn the_game_mix_still_parses_without_the_subcommand() -> Result<(), clap::Error> {
        let cli = Cli::try_parse_from(["canopy", "bots", "--players", "5"])?;
        let TopCommand::Bots(bots) = cli.command else {
            panic!("bots parses as bots");
        };
        assert_eq!((bots.players, bots.mode), (5, None));
        assert!(
            Cli::try_parse_from(["canopy", "bots", "--players", "5", "idle"]).is_err(),
            "the mix's flags do not mix with `idle`"
        );
        Ok(())
    }

    #[test]
    fn source_addresses_spread_past_one_port_range() -> Result<(), String> {
        let per_source = ports_per_source();
        let few = idle(&["--connections", &per_source.to_string()])?;
        let none = source_addresses(&few, loopback()).map_err(|err| err.to_string())?;
        assert!(none.is_empty(), "one address suffices: {none:?}");
        let many = idle(&["--connections", &(per_source * 2 + 1).to_string()])?;
        let sources = source_addresses(&many, loopback()).map_err(|err| err.to_string())?;
        assert_eq!(
            sources,
            ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
                .map(|ip| ip.parse::<IpAddr>().expect("a literal address"))
        );
        let asked = idle(&["--source-addrs", "2"])?;
        assert_eq!(
            source_addresses(&asked, loopback())
                .map_err(|err| err.to_string())?
                .len(),
            2
        );
        let remote = SocketAddr::from(([192, 0, 2, 1], 7878));
        assert!(source_addresses(&asked, remote).is_err());
        assert!(
            source_addresses(&many, remote)
                .map_err(|err| err.to_string())?
                .is_empty()
        );
        Ok(())
    }

    #[test]
    fn port_ranges_parse() {
        assert_eq!(parse_port_range("32768\t60999\n"), Some(28_232));
        assert_eq!(parse_port_range("1024 1024"), Some(1));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("nonsense"), None);
    }

    #[test]
    fn urls_resolve_to_their_address() -> Result<(), CliError> {
        assert_eq!(resolve("ws://127.0.0.1:7878/ws")?, loopback());
        assert_eq!(resolve("ws://127.0.0.1/ws")?.port(), 80);
        assert!(resolve("http://127.0.0.1:7878/ws").is_err());
        Ok(())
    }

    #[test]
    fn a_run_is_clean_only_when_every_connection_held() {
        let report = IdleReport {
            config: IdleConfigReport {
                connections: 3,
                hold_s: 1.0,
                concurrency: 2,
                login: "none".into(),
                source_addresses: Vec::new(),
                server: "ws://127.0.0.1:7878/ws".into(),
                open_files_limit: 1024,
            },
            open_s: 0.5,
            opened: 3,
            failed: 0,
            failures: BTreeMap::new(),
            logged_in: 0,
            hold_s: 1.0,
            pings: 3,
            dropped: 0,
            drops: BTreeMap::new(),
            open_at_end: 3,
        };
        assert!(report.is_clean());
        assert!(report.to_text().contains("3 opened, 0 failed"));
        let dropped = IdleReport {
            dropped: 1,
            open_at_end: 2,
            drops: BTreeMap::from([("closed by the server (1001: idle timeout)".into(), 1)]),
            ..report.clone()
        };
        assert!(!dropped.is_clean());
        let short = IdleReport {
            opened: 2,
            failed: 1,
            ..report
        };
        assert!(!short.is_clean());
        let json: serde_json::Value =
            serde_json::from_str(&short.to_json()).expect("the report is JSON");
        assert_eq!(json["failed"], 1);
    }
}
