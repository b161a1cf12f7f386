//! The end-to-end harness: builds and starts the real `canopy-server` binary on free
//! loopback ports with its own data directory, and talks to it over real sockets.

#![allow(dead_code)]

use anyhow::{Context, Result, anyhow, bail};
use canopy_shared::Event;
use canopy_shared::frame::{ServerFrame, decode_server_frame};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// 2026-11-25 00:00 game-local time (UTC+8): the manual clock's start in tests.
pub const START: u64 = 1_795_536_000_000;
/// One hour in ms.
pub const HOUR: u64 = 3_600_000;
/// The default admin token.
pub const ADMIN_TOKEN: &str = "canopy-admin";
/// How long a test waits for anything the server owes it (a reply, an event, a close,
/// an exit): generous, so a loaded 2-core machine is slow, not failing. A hang still
/// fails, just later.
pub const PATIENCE: Duration = Duration::from_secs(60);

/// Builds the workspace binaries once per test process, in the test's own profile
/// (`cargo test --release` tests release binaries), and returns their directory.
pub fn bin_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut build = Command::new(env!("CARGO"));
        build.args([
            "build",
            "--quiet",
            "-p",
            "canopy-server",
            "-p",
            "canopy-cli",
            "--bins",
        ]);
        if !cfg!(debug_assertions) {
            build.arg("--release");
        }
        let status = build
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("running cargo build for the binaries");
        assert!(status.success(), "building the binaries failed");
        let exe = std::env::current_exe().expect("test executable path");
        exe.parent()
            .and_then(Path::parent)
            .expect("tests run from target/<profile>/deps")
            .to_path_buf()
    })
}

/// A running `canopy-server` child process.
pub struct Server {
    child: Child,
    /// The data directory (kept across restarts).
    pub data_dir: PathBuf,
    /// The game socket address.
    pub game_addr: String,
    /// The ops HTTP address.
    pub ops_addr: String,
    extra_args: Vec<String>,
}

impl Server {
    /// Starts a server with a manual clock at [`START`] on a fresh data directory.
    pub fn start_manual(data_dir: &Path) -> Result<Self> {
        Self::start(
            data_dir,
            &["--clock", "manual", "--clock-start", &START.to_string()],
        )
    }

    /// Starts a server with extra flags on `data_dir`.
    pub fn start(data_dir: &Path, args: &[&str]) -> Result<Self> {
        Self::start_with_env(data_dir, args, &[])
    }

    /// Starts a server with extra flags and `CANOPY_*` config overrides. The risk
    /// engine is off (`CANOPY_RISK__ENABLED=false`) unless `env` turns it on: these
    /// suites test the game, the protocol and durability, and play at manual-clock
    /// instants (a walk at 00:00 sharp) no person could.
    pub fn start_with_env(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self> {
        let mut child = Command::new(bin_dir().join("canopy-server"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--ops-listen",
                "127.0.0.1:0",
                "--data-dir",
            ])
            .arg(data_dir)
            .args(args)
            .env("CANOPY_LOG", "info")
            // Tests register many players from loopback; the one that tests the limits
            // turns them back on.
            .env("CANOPY_ACCOUNTS__REGISTER_LIMITS", "false")
            .env("CANOPY_RISK__ENABLED", "false")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("spawning canopy-server")?;
        let stderr = child.stderr.take().context("server stderr")?;
        // From here on, dropping `server` (any early return) kills the process.
        let mut server = Self {
            child,
            data_dir: data_dir.to_owned(),
            game_addr: String::new(),
            ops_addr: String::new(),
            extra_args: args.iter().map(|s| s.to_string()).collect(),
        };
        // A thread reads the log: it hands over the "running" line (or, if the server
        // exits first, what it said), then keeps draining so the server never blocks on a
        // full pipe. The test waits for readiness, not for a time, with a deadline.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut ready = Some(ready_tx);
            let mut said = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if ready.is_none() {
                    continue;
                }
                if line.contains("canopy-server running") {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Ok(line));
                    }
                } else {
                    said.push(line);
                }
            }
            if let Some(ready) = ready {
                let _ = ready.send(Err(said.join("\n")));
            }
        });
        let line = match ready_rx.recv_timeout(PATIENCE) {
            Ok(Ok(line)) => line,
            Ok(Err(said)) => bail!("the server exited before it was ready:\n{said}"),
            Err(_) => bail!("the server was not ready within {PATIENCE:?}"),
        };
        server.game_addr = field(&line, "game_addr")?;
        server.ops_addr = field(&line, "ops_addr")?;
        Ok(server)
    }

    /// Starts a new server process on the same data directory and flags.
    pub fn restart(&self) -> Result<Self> {
        let args: Vec<&str> = self.extra_args.iter().map(String::as_str).collect();
        Self::start(&self.data_dir, &args)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident memory in KiB, from /proc.
    pub fn rss_kib(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .ok_or_else(|| anyhow!("no VmRSS in /proc status"))
    }

    /// The flags this server was started with (to start another on the same data).
    pub fn restart_args(&self) -> Vec<String> {
        self.extra_args.clone()
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn stop(mut self) -> Result<std::process::ExitStatus> {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        wait_exit(&mut self.child)
    }

    /// Kills the server with SIGKILL: no chance to flush anything.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }

    /// A new WebSocket client.
    pub async fn client(&self) -> Result<Client> {
        Client::connect(&format!("ws://{}/ws", self.game_addr)).await
    }

    /// An admin POST; returns the status and the JSON body.
    pub fn admin(&self, path: &str, body: Value) -> Result<(u16, Value)> {
        http(&self.ops_addr, "POST", path, Some(ADMIN_TOKEN), Some(body))
    }

    /// The conservation audit (`GET /admin/audit`), which must answer and balance.
    pub fn audit(&self) -> Result<Value> {
        let (status, report) = http(
            &self.ops_addr,
            "GET",
            "/admin/audit",
            Some(ADMIN_TOKEN),
            None,
        )?;
        if status != 200 || report["balanced"] != true {
            bail!("the audit is not balanced: {status} {report}");
        }
        Ok(report)
    }

    /// Moves the manual clock forward; returns once balls due by then have ripened (and
    /// expired) and their events are on their way.
    pub fn advance(&self, ms: u64) -> Result<u64> {
        let (status, body) = self.admin("/admin/clock/advance", json!({ "ms": ms }))?;
        if status != 200 {
            bail!("clock advance failed: {status} {body}");
        }
        let time = body["time"].as_u64().context("time in the answer")?;
        self.wait_tick()?;
        Ok(time)
    }

    /// Returns once the game loop has answered a call made now: the advance's tick (time
    /// systems included) ran before its answer, and this read-only audit is answered
    /// after that tick's events went out to the sessions, however slow the machine (a
    /// sleep proves neither).
    pub fn wait_tick(&self) -> Result<()> {
        let (status, body) = http(
            &self.ops_addr,
            "GET",
            "/admin/audit",
            Some(ADMIN_TOKEN),
            None,
        )?;
        if status != 200 {
            bail!("audit failed: {status} {body}");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_exit(child: &mut Child) -> Result<std::process::ExitStatus> {
    let started = std::time::Instant::now();
    while started.elapsed() < PATIENCE {
        if let Some(status) = child.try_wait()? {
            return Ok(status);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the server did not exit within {PATIENCE:?}")
}

fn field(line: &str, name: &str) -> Result<String> {
    let start = line
        .find(&format!("{name}="))
        .ok_or_else(|| anyhow!("no {name} in {line}"))?
        + name.len()
        + 1;
    Ok(line[start..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned())
}

/// A minimal blocking HTTP/1.1 call over a TCP socket.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value)> {
    let auth = bearer.map(|token| format!("Bearer {token}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|auth| ("Authorization", auth))
        .into_iter()
        .collect();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let answer = http_raw(addr, method, path, &headers, &body)?;
    Ok((answer.status, answer.body))
}

/// What [`http_raw`] got back.
pub struct HttpAnswer {
    /// The status code.
    pub status: u16,
    /// The response headers, one `name: value` a line.
    pub headers: String,
    /// The body as JSON (or a JSON string of the text when it is not JSON).
    pub body: Value,
}

impl HttpAnswer {
    /// The value of a response header, if present (the name in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.lines().find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// A blocking HTTP/1.1 call with the given headers and raw body text.
pub fn http_raw(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Result<HttpAnswer> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    let extra: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| anyhow!("no status in {response}"))?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let value = serde_json::from_str(body).unwrap_or(Value::String(body.to_owned()));
    Ok(HttpAnswer {
        status,
        headers: head.to_owned(),
        body: value,
    })
}

/// A WebSocket client that matches replies by id and keeps the events it sees.
pub struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Events received so far, oldest first.
    pub events: Vec<Event>,
}

impl Client {
    /// Connects to a game socket URL.
    pub async fn connect(url: &str) -> Result<Self> {
        let (ws, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self {
            ws,
            next_id: 0,
            events: Vec::new(),
        })
    }

    /// Sends an op with fields and returns the whole reply object.
    pub async fn call(&mut self, op: &str, fields: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut request = fields;
        request["id"] = json!(id);
        request["op"] = json!(op);
        self.send_text(&request.to_string()).await?;
        self.reply_to(Some(id)).await
    }

    /// Sends an op and returns the result, failing on an error reply.
    pub async fn ok(&mut self, op: &str, fields: Value) -> Result<Value> {
        let reply = self.call(op, fields).await?;
        if reply["ok"] != json!(true) {
            bail!("{op} failed: {reply}");
        }
        Ok(reply)
    }

    /// Sends an op that must fail and returns the error code.
    pub async fn error_code(&mut self, op: &str, fields: Value) -> Result<String> {
        let reply = self.call(op, fields).await?;
        if reply["ok"] != json!(false) {
            bail!("{op} should have failed: {reply}");
        }
        Ok(reply["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned())
    }

    /// Sends a raw text frame.
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.ws.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// Sends a raw frame.
    pub async fn send(&mut self, message: Message) -> Result<()> {
        self.ws.send(message).await?;
        Ok(())
    }

    /// The TCP socket under the WebSocket, for a test that must read what the server sent
    /// without the client library answering anything (it answers pings as it reads).
    /// Bytes it had read ahead are lost: call it when the server sent nothing unread.
    pub fn into_socket(self) -> Result<TcpStream> {
        match self.ws.into_inner() {
            MaybeTlsStream::Plain(socket) => Ok(socket),
            _ => bail!("not a plain TCP connection"),
        }
    }

    /// Sends frames back to back, flushed together (one write where they fit), so the
    /// server receives them at once however the test process is scheduled.
    pub async fn send_all(&mut self, messages: Vec<Message>) -> Result<()> {
        for message in messages {
            self.ws.feed(message).await?;
        }
        self.ws.flush().await?;
        Ok(())
    }

    /// Waits for the reply with this id (`None`: the next reply with `id: null`),
    /// keeping events that arrive first.
    pub async fn reply_to(&mut self, id: Option<u64>) -> Result<Value> {
        loop {
            let text = self.next_text().await?;
            let value: Value = serde_json::from_str(&text)?;
            if value.get("event").is_some() {
                self.events.push(serde_json::from_value(value)?);
                continue;
            }
            if value["id"].as_u64() == id {
                return Ok(value);
            }
        }
    }

    /// Waits until an event matching `pred` arrives (or was already seen).
    pub async fn wait_event(&mut self, pred: impl Fn(&Event) -> bool) -> Result<Event> {
        loop {
            if let Some(pos) = self.events.iter().position(&pred) {
                return Ok(self.events.remove(pos));
            }
            let text = self.next_text().await?;
            match decode_server_frame(&text)? {
                ServerFrame::Event(event) => self.events.push(event),
                ServerFrame::Reply(reply) => bail!("unexpected reply {reply:?}"),
            }
        }
    }

    async fn next_text(&mut self) -> Result<String> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .with_context(|| format!("no frame within {PATIENCE:?}"))?
                .ok_or_else(|| anyhow!("the connection closed"))??;
            match frame {
                Message::Text(text) => return Ok(text.to_string()),
                Message::Close(frame) => bail!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// The next reply (`Ok`) or the close code if the server closes first (`Err`).
    pub async fn reply_to_any(&mut self) -> Result<std::result::Result<Value, u16>> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .with_context(|| format!("no frame within {PATIENCE:?}"))?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text)?;
                    if value.get("event").is_none() {
                        return Ok(Ok(value));
                    }
                }
                Some(Ok(Message::Close(Some(frame)))) => return Ok(Err(frame.code.into())),
                Some(Ok(_)) => continue,
                Some(Err(err)) => bail!("read failed: {err}"),
                None => bail!("closed without a close frame"),
            }
        }
    }

    /// Reads until the server closes the connection and returns the close code.
    pub async fn close_code(&mut self) -> Result<u16> {
        Ok(self.close_frame().await?.0)
    }

    /// Reads until the server closes the connection and returns the close code and
    /// reason.
    pub async fn close_frame(&mut self) -> Result<(u16, String)> {
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .with_context(|| format!("no close within {PATIENCE:?}"))?;
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return Ok((frame.code.into(), frame.reason.to_string()));
                }
                Some(Ok(Message::Close(None))) | None => bail!("closed without a code"),
                Some(Ok(_)) => continue,
                Some(Err(err)) => bail!("read failed before a close frame: {err}"),
            }
        }
    }

    /// Reads everything the server sent until it closed the connection: the bytes of
    /// the text frames, and the close code (`None` when it closed without one).
    pub async fn drain_until_close(&mut self) -> Result<(u64, Option<u16>)> {
        let mut text_bytes = 0;
        loop {
            let frame = tokio::time::timeout(PATIENCE, self.ws.next())
                .await
                .with_context(|| format!("no close within {PATIENCE:?}"))?;
            match frame {
                Some(Ok(Message::Text(text))) => text_bytes += text.len() as u64,
                Some(Ok(Message::Close(frame))) => {
                    return Ok((text_bytes, frame.map(|frame| frame.code.into())));
                }
                Some(Ok(_)) => continue,
                None | Some(Err(_)) => return Ok((text_bytes, None)),
            }
        }
    }
}

/// Logs a player in on a new connection.
pub async fn login(server: &Server, token: &str) -> Result<Client> {
    let mut client = server.client().await?;
    client.ok("login", json!({ "token": token })).await?;
    Ok(client)
}

/// Sends an acknowledged walk report again and checks that it answers its first result
/// (same grams, same ball): the receipt and the ball were durable, and the ref still
/// deduplicates.
pub async fn assert_walk_replays(
    client: &mut Client,
    steps: u64,
    reference: &str,
    first: &Value,
    context: &str,
) -> Result<()> {
    let replay = client
        .ok(
            "record_action",
            json!({"kind": "walk", "quantity": steps, "ref": reference}),
        )
        .await?;
    assert_eq!(replay["grams"], first["grams"], "{context}");
    assert_eq!(
        replay["ball"]["ball_id"], first["ball"]["ball_id"],
        "{context}"
    );
    Ok(())
}

/// Registers a player on a new connection and returns the client, id and token.
pub async fn player(server: &Server, name: &str) -> Result<(Client, u64, String)> {
    let mut client = server.client().await?;
    let reply = client.ok("register", json!({ "name": name })).await?;
    let id = reply["player_id"].as_u64().context("player_id")?;
    let token = reply["token"].as_str().context("token")?.to_owned();
    Ok((client, id, token))
}

/// The hex SHA-256 of a token, as `canopy-server hash-token` prints it.
pub fn hash(token: &str) -> Result<String> {
    let mut child = Command::new(bin_dir().join("canopy-server"))
        .arg("hash-token")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    std::io::Write::write_all(&mut child.stdin.take().context("stdin")?, token.as_bytes())?;
    let output = child.wait_with_output()?;
    anyhow::ensure!(output.status.success(), "hash-token failed");
    Ok(String::from_utf8(output.stdout)?.trim().to_owned())
}

/// `[[ops.tokens]]` entries as a TOML inline array (for `CANOPY_OPS__TOKENS`).
pub fn tokens_inline(tokens: &[(&str, &str, &str)]) -> Result<String> {
    let entries: Result<Vec<String>> = tokens
        .iter()
        .map(|(name, role, secret)| {
            Ok(format!(
                r#"{{name = "{name}", role = "{role}", sha256 = "{}"}}"#,
                hash(secret)?
            ))
        })
        .collect();
    Ok(format!("[{}]", entries?.join(", ")))
}

/// The first steal from a fresh 52 g ball: `thief` (player `thief_id`, with no energy
/// before) takes 10–30 % of it and `owner` hears `energy_stolen` naming the thief, the
/// ball and the grams. Returns the grams.
pub async fn steal_heard(
    thief: &mut Client,
    thief_id: u64,
    owner: &mut Client,
    owner_id: u64,
    ball: u64,
) -> Result<u64> {
    let stolen = thief
        .ok("steal", json!({"friend_id": owner_id, "ball_id": ball}))
        .await?;
    let grams = stolen["grams"].as_u64().unwrap_or_default();
    anyhow::ensure!((5..=15).contains(&grams), "10–30 % of 52 g, got {grams}");
    anyhow::ensure!(stolen["energy"] == grams, "the thief's energy: {stolen}");
    let event = owner
        .wait_event(|e| matches!(e, Event::EnergyStolen { .. }))
        .await?;
    let expected = Event::EnergyStolen {
        by: Some(canopy_shared::PlayerId(thief_id)),
        ball_id: canopy_shared::BallId(ball),
        grams,
    };
    anyhow::ensure!(event == expected, "{event:?}, expected {expected:?}");
    Ok(grams)
}

/// A nonce unique within this test process.
pub fn fresh_nonce() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let next = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("nonce-{next:010}")
}

/// The four headers of a partner's `POST` of `body` to `path` at `timestamp` (Unix
/// seconds), signed with `key` as docs/PARTNERS.md says.
pub fn partner_headers(
    partner_id: u64,
    key: &str,
    path: &str,
    timestamp: u64,
    body: &str,
) -> Vec<(String, String)> {
    use canopy_shared::partner::{self, Signing};
    let nonce = fresh_nonce();
    let signing = Signing {
        method: "POST",
        path,
        timestamp,
        nonce: &nonce,
    };
    let signature = partner::signature(&partner::key_digest(key), &signing, body.as_bytes());
    vec![
        (partner::PARTNER_HEADER.to_owned(), partner_id.to_string()),
        (partner::TIMESTAMP_HEADER.to_owned(), timestamp.to_string()),
        (partner::NONCE_HEADER.to_owned(), nonce),
        (partner::SIGNATURE_HEADER.to_owned(), signature),
    ]
}

/// A partner's `POST` of `body` to `path` at the ops port `addr`, signed now with `key`.
pub fn partner_post(
    addr: &str,
    partner_id: u64,
    key: &str,
    path: &str,
    body: &Value,
) -> Result<HttpAnswer> {
    let body = body.to_string();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
    let headers = partner_headers(partner_id, key, path, now.as_secs(), &body);
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    http_raw(addr, "POST", path, &headers, &body)
}
