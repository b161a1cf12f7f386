//! Cluster mode end to end: `bench/cluster/run.sh` starts a real 3-node NATS JetStream
//! cluster and canopy-server shards on loopback; players register on any shard with ids
//! that shard owns, logins on the wrong shard are redirected (and the CLI follows), the
//! shard map refuses a shard that partitions differently (and the cluster one with a
//! partner secret of its own), the cluster keeps serving
//! after one NATS node and one shard are SIGKILLed, registration limits, host users and
//! revoked tokens hold across shards, players of different shards befriend, steal,
//! water and help each other with the same rules and codes as on one node, plant a
//! team tree together (each certified on their own shard), give props,
//! revive expired energy and give rain chances to each other, and a steal, a prop gift,
//! a revival and a rain chance sent while the other shard is SIGKILLed are each applied
//! exactly once after the restart, with the cluster-wide audit balanced.

mod support;

use anyhow::{Context, Result, bail};
use canopy_shared::Event;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{ADMIN_TOKEN, Client, HOUR, PATIENCE, bin_dir};

/// This process's bucket of cluster ports: the first of eight that no other process on
/// the machine holds, locked until this process exits, so two test runs at once (two
/// checkouts, or CI beside a developer) never start clusters on each other's ports.
fn port_bucket() -> Result<u16> {
    static HELD: Mutex<Option<(u16, File)>> = Mutex::new(None);
    let mut held = HELD.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((bucket, _)) = held.as_ref() {
        return Ok(*bucket);
    }
    for bucket in 0..8 {
        let path = std::env::temp_dir().join(format!("canopy-cluster-ports-{bucket}.lock"));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        if file.try_lock().is_ok() {
            *held = Some((bucket, file));
            return Ok(bucket);
        }
    }
    bail!("eight other processes hold every bucket of cluster test ports")
}

/// A local cluster started by `bench/cluster/run.sh`, stopped with SIGTERM on drop.
struct LocalCluster {
    script: Child,
    dir: PathBuf,
    base: u16,
    /// Processes restarted by the test (reaped once the script has stopped them).
    restarted: Vec<Child>,
    _temp: tempfile::TempDir,
}

impl LocalCluster {
    /// Starts `shards` shards; `slot` keeps concurrently running tests on distinct ports.
    fn start(shards: u16, slot: u16) -> Result<Self> {
        Self::start_with_env(shards, slot, &[])
    }

    /// Like [`Self::start`], with `env` in every shard's environment.
    fn start_with_env(shards: u16, slot: u16, env: &[(&str, &str)]) -> Result<Self> {
        let temp = tempfile::tempdir()?;
        let dir = temp.path().join("cluster");
        // Twelve slots of 120 ports for each of eight process buckets, all below the
        // ephemeral range (32768), where other tests bind port 0. Each test has a slot
        // of its own: tests of one binary run side by side.
        assert!(slot < 12, "slot {slot}: there are twelve");
        let base = 21_000 + port_bucket()? * 1_440 + slot * 120;
        let script = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/cluster/run.sh"))
            .args(["--dir", path_str(&dir)?, "--shards", &shards.to_string()])
            .args(["--base-port", &base.to_string()])
            .arg("--server")
            .arg(bin_dir().join("canopy-server"))
            .env("CANOPY_SHARD_ARGS", "--clock manual")
            // These tests check rules, not timeouts: on a loaded 2-core machine a shard
            // may answer later than the 5 s default, which must not turn a rule's code
            // into SHARD_TIMEOUT. A test of timeouts sets its own.
            .env("CANOPY_CLUSTER__REMOTE_TIMEOUT_MS", "60000")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting bench/cluster/run.sh")?;
        let mut cluster = Self {
            script,
            dir,
            base,
            restarted: Vec::new(),
            _temp: temp,
        };
        cluster.wait_until("the cluster is ready", |cluster| {
            Ok(cluster.dir.join("ready").exists())
        })?;
        Ok(cluster)
    }

    fn game_url(&self, shard: u16) -> String {
        format!("ws://127.0.0.1:{}/ws", self.base + 100 + 2 * shard)
    }

    fn ops_addr(&self, shard: u16) -> String {
        format!("127.0.0.1:{}", self.base + 101 + 2 * shard)
    }

    /// Shard `shard`'s `GET /admin/audit`.
    fn audit(&self, shard: u16) -> Result<Value> {
        let admin = Some(support::ADMIN_TOKEN);
        let (status, audit) =
            support::http(&self.ops_addr(shard), "GET", "/admin/audit", admin, None)?;
        anyhow::ensure!(
            status == 200,
            "shard {shard}'s audit answered {status}: {audit}"
        );
        Ok(audit)
    }

    /// An admin call on shard `shard`'s ops port; refuses anything but 200.
    fn admin(&self, shard: u16, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, answer) =
            support::http(&self.ops_addr(shard), method, path, Some(ADMIN_TOKEN), body)?;
        anyhow::ensure!(
            status == 200,
            "{method} {path} on shard {shard}: {status} {answer}"
        );
        Ok(answer)
    }

    /// Runs one more server on `data_dir` as shard `shard` of `shards`, advertising the
    /// game URL that shard has here, until it exits: (whether it succeeded, its stderr).
    /// For shards the cluster must refuse.
    fn stray_shard(&self, shard: u16, shards: u16, data_dir: &Path) -> Result<(bool, String)> {
        let stray = Command::new(bin_dir().join("canopy-server"))
            .args(["--listen", "127.0.0.1:0", "--ops-listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(data_dir)
            .env("CANOPY_CLUSTER__ENABLED", "true")
            .env("CANOPY_CLUSTER__SHARD", shard.to_string())
            .env("CANOPY_CLUSTER__SHARDS", shards.to_string())
            .env("CANOPY_CLUSTER__ADVERTISE_URL", self.game_url(shard))
            .env(
                "CANOPY_CLUSTER__NATS_URLS",
                format!("[\"nats://127.0.0.1:{}\"]", self.base),
            )
            .output()?;
        let stderr = String::from_utf8_lossy(&stray.stderr).into_owned();
        Ok((stray.status.success(), stderr))
    }

    /// Moves shard `shard`'s manual clock forward.
    fn advance(&self, shard: u16, ms: u64) -> Result<()> {
        self.admin(
            shard,
            "POST",
            "/admin/clock/advance",
            Some(json!({ "ms": ms })),
        )
        .map(drop)
    }

    /// Gives `player` of shard `shard` a metro ball of 52 g; returns its id.
    fn metro(&self, shard: u16, player: u64, reference: &str) -> Result<u64> {
        self.metro_ball(shard, player, reference)?["ball_id"]
            .as_u64()
            .context("a ball")
    }

    /// Like [`Self::metro`], returning the whole ball (its times).
    fn metro_ball(&self, shard: u16, player: u64, reference: &str) -> Result<Value> {
        let body = json!({"player_id": player, "kind": "metro", "quantity": 1, "ref": reference});
        let answer = self.admin(shard, "POST", "/admin/actions", Some(body))?;
        Ok(answer["ball"].clone())
    }

    /// The cluster-wide audit asked at shard `shard` once no gram is in flight and
    /// `done` holds; every one read meanwhile must balance.
    fn settled_audit(&self, shard: u16, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let mut last = Value::Null;
        let started = Instant::now();
        while started.elapsed() < PATIENCE {
            last = self.admin(shard, "GET", "/admin/audit?cluster=true", None)?;
            anyhow::ensure!(last["balanced"] == json!(true), "not balanced: {last}");
            if last["transfers_in_flight"] == json!(0) && done(&last) {
                return Ok(last);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "not settled after {PATIENCE:?}: {last}; logs: {}",
            self.logs()
        )
    }

    fn pid(&self, name: &str) -> Result<String> {
        let pid = std::fs::read_to_string(self.dir.join(format!("{name}.pid")))?;
        Ok(pid.trim().to_owned())
    }

    /// SIGKILLs one process of the cluster (`nats-2`, `shard-1`) and waits until it is gone.
    fn kill(&mut self, name: &str) -> Result<()> {
        let pid = self.pid(name)?;
        signal("-KILL", &pid)?;
        self.wait_until(&format!("{name} is gone"), |_| {
            Ok(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie(&pid))
        })
    }

    /// Sends `signal` (`-STOP`, `-CONT`) to one process of the cluster.
    fn signal(&self, name: &str, signal_name: &str) -> Result<()> {
        signal(signal_name, &self.pid(name)?)
    }

    /// Starts a process again exactly as the script first did.
    fn restart(&mut self, name: &str) -> Result<()> {
        let child = Command::new("bash")
            .arg(self.dir.join(format!("{name}.cmd")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("restarting {name}"))?;
        self.restarted.push(child);
        Ok(())
    }

    /// Waits until shard `shard`'s ops HTTP answers /healthz.
    fn wait_healthy(&mut self, shard: u16) -> Result<()> {
        let addr = self.ops_addr(shard);
        self.wait_until(&format!("shard {shard} serves"), |_| {
            Ok(support::http(&addr, "GET", "/healthz", None, None).is_ok_and(|(s, _)| s == 200))
        })
    }

    fn wait_until(&mut self, what: &str, done: impl Fn(&Self) -> Result<bool>) -> Result<()> {
        let started = Instant::now();
        while !done(self)? {
            if let Some(status) = self.script.try_wait()? {
                bail!(
                    "run.sh exited ({status}) before {what}; logs: {}",
                    self.logs()
                );
            }
            if started.elapsed() > PATIENCE * 2 {
                bail!("{what} took over {:?}; logs: {}", PATIENCE * 2, self.logs());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    fn logs(&self) -> String {
        let mut logs = String::new();
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "log") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(15).collect();
                logs += &format!("\n== {}\n", path.display());
                for line in tail.into_iter().rev() {
                    logs += line;
                    logs += "\n";
                }
            }
        }
        logs
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let _ = signal("-TERM", &self.script.id().to_string());
        let _ = self.script.wait();
        for child in &mut self.restarted {
            let _ = child.wait();
        }
    }
}

fn signal(signal: &str, pid: &str) -> Result<()> {
    let status = Command::new("kill").args([signal, pid]).status()?;
    anyhow::ensure!(status.success(), "kill {signal} {pid} failed");
    Ok(())
}

fn is_zombie(pid: &str) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z'))
    })
}

fn path_str(path: &Path) -> Result<&str> {
    path.to_str().context("a UTF-8 temporary path")
}

/// Registers `name` on the shard at `url`: (player id, token).
async fn register(url: &str, name: &str) -> Result<(u64, String)> {
    let mut client = Client::connect(url).await?;
    let reply = client.ok("register", json!({ "name": name })).await?;
    let id = reply["player_id"].as_u64().context("player_id")?;
    let token = reply["token"].as_str().context("token")?.to_owned();
    Ok((id, token))
}

/// Registers `name` on the shard at `url` and keeps the session: (client, player id).
async fn player(url: &str, name: &str) -> Result<(Client, u64)> {
    let mut client = Client::connect(url).await?;
    let reply = client.ok("register", json!({ "name": name })).await?;
    Ok((client, reply["player_id"].as_u64().context("player_id")?))
}

/// Makes two players of different shards friends, each told on their own shard.
async fn befriend(a: &mut Client, a_id: u64, b: &mut Client, b_id: u64) -> Result<()> {
    ok_or_late(a, "friend_request", json!({"player_id": b_id})).await?;
    b.wait_event(|e| matches!(e, Event::FriendRequest { from, .. } if from.0 == a_id))
        .await?;
    ok_or_late(b, "friend_accept", json!({"player_id": a_id})).await?;
    a.wait_event(|e| matches!(e, Event::FriendAdded { player_id } if player_id.0 == b_id))
        .await?;
    Ok(())
}

/// Sends a cross-shard op that must succeed; `SHARD_TIMEOUT` is accepted too, since a
/// loaded machine may answer later than the cluster's timeout and the op still applies
/// (PROTOCOL.md): the caller then waits for the event that says it did.
async fn ok_or_late(client: &mut Client, op: &str, fields: Value) -> Result<()> {
    let reply = client.call(op, fields).await?;
    if reply["ok"] != json!(true) && reply["error"]["code"] != json!("SHARD_TIMEOUT") {
        bail!("{op} failed: {reply}");
    }
    Ok(())
}

async fn login(url: &str, token: &str) -> Result<Value> {
    Client::connect(url)
        .await?
        .call("login", json!({ "token": token }))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_live_on_their_shard_and_logins_elsewhere_are_redirected() -> Result<()> {
    let cluster = LocalCluster::start(2, 0)?;
    let (shard0, shard1) = (cluster.game_url(0), cluster.game_url(1));

    let (ann, ann_token) = register(&shard0, "ann").await?;
    let (bob, bob_token) = register(&shard1, "bob").await?;
    let (cat, _) = register(&shard0, "cat").await?;
    assert_eq!(
        (ann, bob, cat),
        (1, 2, 3),
        "shard 0 gives odd ids, shard 1 even"
    );
    assert!(ann_token.starts_with("1.") && bob_token.starts_with("2."));

    let misrouted = login(&shard0, &bob_token).await?;
    assert_eq!(misrouted["ok"], json!(false), "{misrouted}");
    assert_eq!(misrouted["error"]["code"], json!("WRONG_SHARD"));
    assert_eq!(misrouted["error"]["redirect"], json!(shard1));
    let home = login(&shard1, &bob_token).await?;
    assert_eq!(home["player_id"], json!(bob), "{home}");
    let unknown = login(&shard1, "2.not-a-real-secret").await?;
    assert_eq!(unknown["error"]["code"], json!("UNAUTHENTICATED"));

    // The CLI pointed at the wrong shard follows the redirect.
    let home_dir = tempfile::tempdir()?;
    let me = Command::new(bin_dir().join("canopy"))
        .args(["--server", &shard0, "--token", &bob_token, "--json", "me"])
        .env("XDG_CONFIG_HOME", home_dir.path())
        .env("HOME", home_dir.path())
        .env_remove("CANOPY_PROFILE")
        .output()?;
    let stdout = String::from_utf8_lossy(&me.stdout);
    assert!(me.status.success(), "canopy me: {me:?}");
    let me: Value = serde_json::from_str(stdout.trim())
        .with_context(|| format!("canopy me printed {stdout}"))?;
    assert_eq!(me["player"]["id"], json!(bob), "{me}");

    // A shard that counts the shards differently is refused by the shard map.
    let stray_dir = tempfile::tempdir()?;
    let (joined, stderr) = cluster.stray_shard(2, 3, stray_dir.path())?;
    assert!(!joined, "a 3-shard server joined a 2-shard map");
    assert!(stderr.contains("cluster.shards is 3"), "{stderr}");

    // A shard given a partner secret other than the cluster's is refused at start.
    let (joined, stderr) = cluster.stray_shard(1, 2, &stray_dir.path().join("own-secret"))?;
    assert!(!joined, "a shard with its own partner secret joined");
    assert!(
        stderr.contains("partner secret is not the cluster's"),
        "{stderr}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_sigkilled_while_a_nats_node_is_down_restarts_and_rejoins() -> Result<()> {
    let mut cluster = LocalCluster::start(2, 1)?;
    let (shard0, shard1) = (cluster.game_url(0), cluster.game_url(1));
    let (bob, bob_token) = register(&shard1, "bob").await?;

    cluster.kill("nats-2")?;
    cluster.kill("shard-1")?;
    cluster.restart("shard-1")?;
    cluster.wait_healthy(1)?;

    let home = login(&shard1, &bob_token).await?;
    assert_eq!(
        home["player_id"],
        json!(bob),
        "an acknowledged register survives: {home}"
    );
    let (dan, _) = register(&shard1, "dan").await?;
    assert_eq!(dan, 4, "shard 1 goes on with its next even id");
    let misrouted = login(&shard0, &bob_token).await?;
    assert_eq!(misrouted["error"]["redirect"], json!(shard1), "{misrouted}");
    Ok(())
}

/// An HS256 JWT from the test host app for `subject`, valid for ten minutes.
fn host_jwt(subject: &str) -> Result<String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let claims = json!({
        "iss": HOST_ISSUER, "aud": "canopy", "sub": subject,
        "iat": now, "nbf": now, "exp": now + 600,
    });
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(HOST_SECRET.as_bytes()),
    )?)
}

const HOST_ISSUER: &str = "https://pay.example";
const HOST_SECRET: &str = "a-shared-secret-of-at-least-32-bytes-0123456789";

/// Sends `op` to the shard at `url`, following a `WRONG_SHARD` redirect once: (the URL
/// that answered, the answer).
async fn call_home(url: &str, op: &str, fields: Value) -> Result<(String, Value)> {
    let first = Client::connect(url).await?.call(op, fields.clone()).await?;
    let Some(home) = first["error"]["redirect"].as_str() else {
        return Ok((url.to_owned(), first));
    };
    let again = Client::connect(home).await?.call(op, fields).await?;
    Ok((home.to_owned(), again))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_host_users_revocations_and_risk_rules_hold_across_shards() -> Result<()> {
    let secret_dir = tempfile::tempdir()?;
    let secret = secret_dir.path().join("host-hs256.secret");
    std::fs::write(&secret, HOST_SECRET)?;
    let host = format!(
        r#"{{issuer = "{HOST_ISSUER}", audience = "canopy", keys = [{{algorithm = "HS256", file = "{}"}}]}}"#,
        path_str(&secret)?
    );
    let cluster = LocalCluster::start_with_env(
        3,
        2,
        &[
            ("CANOPY_ACCOUNTS__REGISTER_LIMITS", "true"),
            ("CANOPY_ACCOUNTS__REGISTER_BURST", "3"),
            ("CANOPY_ACCOUNTS__REGISTER_PER_HOUR", "1"),
            ("CANOPY_ACCOUNTS__HOST", &host),
        ],
    )?;
    let shards: Vec<String> = (0..3).map(|shard| cluster.game_url(shard)).collect();

    // One allowance for the source, wherever it registers: each shard's own table has
    // seen a single registration when the fourth is refused.
    let mut tokens = Vec::new();
    for (n, url) in shards.iter().enumerate() {
        tokens.push(register(url, &format!("farm-{n}")).await?);
    }
    let fourth = Client::connect(&shards[0])
        .await?
        .call("register", json!({ "name": "farm-3" }))
        .await?;
    assert_eq!(fourth["error"]["code"], json!("RATE_LIMITED"), "{fourth}");

    // A host user is one player, whichever shard the app reaches first.
    let jwt = host_jwt("user-1")?;
    let mut homes = Vec::new();
    for url in &shards {
        let (home, answer) = call_home(url, "host_login", json!({ "jwt": jwt })).await?;
        assert_eq!(answer["ok"], json!(true), "{answer}");
        homes.push((home, answer["player_id"].as_u64().context("player_id")?));
    }
    assert!(
        homes.windows(2).all(|pair| pair[0] == pair[1]),
        "one home and one player: {homes:?}"
    );
    let (home, player) = &homes[0];
    let owner = usize::try_from((player - 1) % 3)?;
    assert_eq!(
        home, &shards[owner],
        "the player lives where it was created"
    );

    // A token revoked at home is refused when it is presented anywhere.
    let (victim, victim_token) = &tokens[1];
    let mut session = Client::connect(&shards[1]).await?;
    session
        .ok("login", json!({ "token": victim_token }))
        .await?;
    session.ok("logout_all", json!({})).await?;
    for url in &shards {
        let (_, answer) = call_home(url, "login", json!({ "token": victim_token })).await?;
        assert_eq!(
            answer["error"]["code"],
            json!("UNAUTHENTICATED"),
            "player {victim}'s revoked token at {url}: {answer}"
        );
    }

    // The risk engine judges a player on its own shard, with that shard's counters: a
    // partner replaying rides past the daily cap is denied there, and the flag waits in
    // that shard's review queue (docs/RISK.md, "Cluster mode").
    let (rider, _) = &tokens[2];
    let ops = cluster.ops_addr(2);
    let ride = |n: u32| json!({"player_id": rider, "kind": "metro", "ref": format!("ride-{n}")});
    for n in 0..5 {
        let (status, answer) = admin(&ops, "POST", "/admin/actions", Some(ride(n)))?;
        assert_eq!(status, 200, "{answer}");
    }
    let (status, answer) = admin(&ops, "POST", "/admin/actions", Some(ride(5)))?;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["code"], json!("RISK_DENIED"), "{answer}");
    let flags = format!("/admin/risk/flags?player_id={rider}");
    let (_, home) = admin(&ops, "GET", &flags, None)?;
    let rules: Vec<&Value> = home["flags"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|flag| &flag["rule"])
        .collect();
    assert_eq!(rules, [&json!("partner_velocity")], "{home}");
    let (_, elsewhere) = admin(&cluster.ops_addr(0), "GET", &flags, None)?;
    assert_eq!(elsewhere["flags"], json!([]), "{elsewhere}");
    Ok(())
}

/// An ops call with the default admin token (the shards listen on loopback only).
fn admin(addr: &str, method: &str, path: &str, body: Option<Value>) -> Result<(u16, Value)> {
    support::http(addr, method, path, Some(support::ADMIN_TOKEN), body)
}

/// Registers `name` on `shard` with 52 g of collected energy to water with.
async fn funded(cluster: &LocalCluster, shard: u16, name: &str) -> Result<(Client, u64, u64)> {
    let (client, id) = player(&cluster.game_url(shard), name).await?;
    let ball = cluster.metro(shard, id, name)?;
    Ok((client, id, ball))
}

/// Two distinct elements of a slice, both mutable.
fn pair_mut<T>(items: &mut [T], i: usize, j: usize) -> (&mut T, &mut T) {
    let (low, high) = items.split_at_mut(i.max(j));
    if i < j {
        (&mut low[i], &mut high[0])
    } else {
        (&mut high[0], &mut low[j])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_risk_engine_holds_funnels_finds_rings_and_reviews_across_shards() -> Result<()> {
    let cluster = LocalCluster::start_with_env(
        3,
        6,
        &[
            ("CANOPY_ACCOUNTS__REGISTER_LIMITS", "false"),
            ("CANOPY_RISK__WATER_FUNNEL__MAX_GIVERS", "2"),
        ],
    )?;
    // A main account on shard 0 fed by a farm of new accounts on shards 1 and 2, and a
    // watering ring of new accounts, one on each shard.
    let (mut main, main_id) = player(&cluster.game_url(0), "main").await?;
    let mut farm = Vec::new();
    for (n, shard) in [1, 2, 1].into_iter().enumerate() {
        farm.push(funded(&cluster, shard, &format!("farm-{n}")).await?);
    }
    let mut ring = Vec::new();
    for shard in 0..3 {
        ring.push(funded(&cluster, shard, &format!("ring-{shard}")).await?);
    }
    for shard in 0..3 {
        cluster.advance(shard, 31 * HOUR)?;
    }
    for (client, _, ball) in farm.iter_mut().chain(ring.iter_mut()) {
        client.ok("collect", json!({ "ball_id": ball })).await?;
    }
    for (client, id, _) in &mut farm {
        befriend(client, *id, &mut main, main_id).await?;
        client
            .ok("water", json!({"friend_id": main_id, "grams": 10}))
            .await?;
    }
    for k in 0..3 {
        let (giver, next) = pair_mut(&mut ring, k, (k + 1) % 3);
        befriend(&mut giver.0, giver.1, &mut next.0, next.1).await?;
        giver
            .0
            .ok("water", json!({"friend_id": next.1, "grams": 10}))
            .await?;
    }

    // The third farm account's watering is held on the main account's shard, as on
    // one node.
    main.wait_event(|e| matches!(e, Event::RiskHold { grams: 10, .. }))
        .await?;
    assert_eq!(main.ok("me", json!({})).await?["player"]["held"], 10);

    // A graph analysis started on shard 1 gathers every shard's flows, finds the ring
    // spanning the three, and every shard keeps its report.
    let mut ring_ids: Vec<u64> = ring.iter().map(|(_, id, _)| *id).collect();
    ring_ids.sort_unstable();
    let (status, _) = admin(&cluster.ops_addr(1), "POST", "/admin/risk/graph/run", None)?;
    assert_eq!(status, 202);
    let started = Instant::now();
    let report = loop {
        let report = cluster.admin(2, "GET", "/admin/risk/graph", None)?;
        if report["rings"]
            .as_array()
            .is_some_and(|rings| !rings.is_empty())
        {
            break report;
        }
        anyhow::ensure!(started.elapsed() < PATIENCE, "no ring found: {report}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(report["rings"][0]["players"], json!(ring_ids), "{report}");

    // One review queue: shard 2 lists every shard's flags; each lives on its player's
    // shard, whose number its id carries.
    let started = Instant::now();
    let flags = loop {
        let list = cluster.admin(2, "GET", "/admin/risk/flags?cluster=true", None)?;
        let flags = list["flags"].as_array().cloned().unwrap_or_default();
        if flags.len() == 4 {
            break flags;
        }
        anyhow::ensure!(started.elapsed() < PATIENCE, "not 4 flags: {list}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut flagged: Vec<(String, u64)> = Vec::new();
    for flag in &flags {
        let (id, player) = (flag["id"].as_u64(), flag["player_id"].as_u64());
        let (id, player) = (id.context("id")?, player.context("player")?);
        assert_eq!((id - 1) % 3, (player - 1) % 3, "{flag}");
        flagged.push((flag["rule"].as_str().unwrap_or_default().to_owned(), player));
    }
    flagged.sort();
    let mut expected: Vec<(String, u64)> =
        ring_ids.iter().map(|&id| ("ring".to_owned(), id)).collect();
    expected.push(("water_funnel".to_owned(), main_id));
    assert_eq!(flagged, expected);

    // The funnel's flag is on shard 0; shard 1 releases it, forwarding to shard 0.
    let funnel = flags
        .iter()
        .find(|flag| flag["rule"] == "water_funnel")
        .context("the funnel's flag")?;
    let path = format!("/admin/risk/flags/{}/release", funnel["id"]);
    let released = cluster.admin(1, "POST", &path, None)?;
    assert_eq!(
        (&released["status"], &released["held"]),
        (&json!("released"), &json!(10))
    );
    let (status, again) = admin(
        &cluster.ops_addr(2),
        "POST",
        &path.replace("release", "confirm"),
        None,
    )?;
    assert_eq!(
        (status, &again["error"]["code"]),
        (409, &json!("CONFLICT")),
        "{again}"
    );
    let (status, missing) = admin(
        &cluster.ops_addr(1),
        "POST",
        "/admin/risk/flags/3001/release",
        None,
    )?;
    assert_eq!(
        (status, &missing["error"]["code"]),
        (404, &json!("NOT_FOUND")),
        "{missing}"
    );
    let me = main.ok("me", json!({})).await?;
    assert_eq!(
        (&me["player"]["held"], &me["player"]["energy"]),
        (&json!(0), &json!(10))
    );

    let audit = cluster.settled_audit(1, |_| true)?;
    assert_eq!(audit["in_flight"], json!(0), "{audit}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn players_of_two_shards_befriend_steal_water_and_help_by_the_same_rules() -> Result<()> {
    let catalog_dir = tempfile::tempdir()?;
    let catalog = catalog_dir.path().join("catalog.toml");
    std::fs::write(&catalog, SHRUB_CATALOG)?;
    let env = [("CANOPY_SPECIES__CATALOG", path_str(&catalog)?)];
    let cluster = LocalCluster::start_with_env(2, 7, &env)?;
    let (shard0, shard1) = (cluster.game_url(0), cluster.game_url(1));
    let (mut ann, ann_id) = player(&shard0, "ann").await?;
    let (mut bob, bob_id) = player(&shard1, "bob").await?;

    assert_eq!(
        ann.error_code("friend_request", json!({"player_id": 40}))
            .await?,
        "NOT_FOUND",
        "shard 1 has no player 40, and says so"
    );
    let ball = cluster.metro(1, bob_id, "m1")?;
    assert_eq!(
        ann.error_code("steal", json!({"friend_id": bob_id, "ball_id": ball}))
            .await?,
        "NOT_FRIENDS"
    );
    assert_eq!(
        ann.error_code("friend_balls", json!({"friend_id": bob_id}))
            .await?,
        "NOT_FRIENDS"
    );
    ann.ok("friend_request", json!({"player_id": bob_id}))
        .await?;
    bob.wait_event(|e| matches!(e, Event::FriendRequest { from, .. } if from.0 == ann_id))
        .await?;
    let asking = ann.ok("friends", json!({})).await?;
    assert_eq!(asking["outgoing"][0]["name"], "bob", "{asking}");
    let asked = bob.ok("friends", json!({})).await?;
    assert_eq!(asked["incoming"][0]["name"], "ann", "{asked}");
    bob.ok("friend_accept", json!({"player_id": ann_id}))
        .await?;
    ann.wait_event(|e| matches!(e, Event::FriendAdded { player_id } if player_id.0 == bob_id))
        .await?;
    assert_eq!(
        bob.error_code("friend_request", json!({"player_id": ann_id}))
            .await?,
        "CONFLICT",
        "already friends, on either shard"
    );
    assert_eq!(
        ann.error_code("steal", json!({"friend_id": bob_id, "ball_id": ball}))
            .await?,
        "NOT_RIPE",
        "bob's shard decides by its own clock"
    );
    ann.ok("watch", json!({"what": "forest", "friend_id": bob_id}))
        .await?;
    cluster.advance(1, 31 * HOUR)?;
    ann.wait_event(|e| matches!(e, Event::FriendStealable { friend_id, grams } if friend_id.0 == bob_id && *grams > 0))
        .await?;
    ann.wait_event(|e| matches!(e, Event::ForestChanged { owner_id, stealable_grams, .. } if owner_id.0 == bob_id && *stealable_grams > 0))
        .await?;
    let (row, balls) = remote_views(&mut ann, bob_id).await?;
    assert_eq!(row["name"], "bob", "{row}");
    assert_eq!(balls[0]["ball_id"], json!(ball), "{balls}");
    assert_eq!(balls[0]["amount"], json!(52), "{balls}");
    let offered = balls[0]["stealable"].as_u64().unwrap_or_default();
    assert!(offered > 0, "ripe on bob's clock: {balls}");
    assert_eq!(row["stealable_grams"], json!(offered), "{row}");
    let grams = support::steal_heard(&mut ann, ann_id, &mut bob, bob_id, ball).await?;
    assert_eq!(
        ann.error_code("steal", json!({"friend_id": bob_id, "ball_id": ball}))
            .await?,
        "ALREADY_STOLEN"
    );
    let (row, balls) = remote_views(&mut ann, bob_id).await?;
    assert_eq!(balls[0]["amount"], json!(52 - grams), "{balls}");
    assert_eq!(balls[0]["stolen"], json!(grams), "{balls}");
    assert_eq!(
        balls[0]["stealable"],
        json!(0),
        "one hit per thief: {balls}"
    );
    assert_eq!(row["stealable_grams"], json!(0), "{row}");

    let own = cluster.metro(0, ann_id, "m2")?;
    cluster.advance(0, 31 * HOUR)?;
    ann.ok("collect", json!({"ball_id": own})).await?;
    let watered = ann
        .ok("water", json!({"friend_id": bob_id, "grams": 10}))
        .await?;
    assert_eq!(watered["energy"], grams + 52 - 10);
    let water_ball = watered["ball_id"].as_u64().unwrap_or_default();
    bob.wait_event(|e| matches!(e, Event::Watered { grams: 10, .. }))
        .await?;
    assert_eq!(
        ann.error_code("steal", json!({"friend_id": bob_id, "ball_id": water_ball}))
            .await?,
        "NOTHING_LEFT",
        "water balls cannot be stolen"
    );
    let helped = ann
        .ok(
            "help_collect",
            json!({"friend_id": bob_id, "ball_id": water_ball}),
        )
        .await?;
    assert_eq!(helped["grams"], 10);
    assert_eq!(
        bob.ok("me", json!({})).await?["player"]["energy"],
        10,
        "help goes to the owner"
    );
    let board = ann.ok("leaderboard", json!({"period": "total"})).await?;
    assert_eq!(
        columns(&board["entries"], &["rank", "player_id", "grams"]),
        [
            [json!(1), json!(ann_id), json!(grams + 52)],
            [json!(2), json!(bob_id), json!(10)]
        ],
        "bob ranked from his shard, as on one node: {board}"
    );
    assert_eq!(board["entries"][1]["name"], "bob", "{board}");
    assert!(board.get("unavailable").is_none(), "{board}");
    let feed = bob.ok("feed", json!({})).await?;
    assert_eq!(
        columns(&feed["entries"], &["kind", "actor", "target", "grams"]),
        [
            [json!("helped"), json!(ann_id), json!(bob_id), json!(10)],
            [json!("watered"), json!(ann_id), json!(bob_id), json!(10)],
            [json!("stolen"), json!(ann_id), json!(bob_id), json!(grams)],
        ],
        "one entry each on bob's shard: {feed}"
    );
    assert_eq!(
        ann.ok("feed", json!({})).await?["entries"],
        json!([]),
        "the actor's feed records nothing, as on one node"
    );
    cluster.admin(
        1,
        "POST",
        "/admin/props",
        Some(json!({"player_id": bob_id, "prop": "protection_cover", "count": 1})),
    )?;
    bob.ok("use_prop", json!({"prop": "protection_cover"}))
        .await?;
    let covered = bob.ok("me", json!({})).await?["player"]["protected_until"].clone();
    assert!(covered.is_u64(), "{covered}");
    let (row, _) = remote_views(&mut ann, bob_id).await?;
    assert_eq!(
        row["protected_until"], covered,
        "bob's cover, as his shard sees it"
    );

    let audit = cluster.settled_audit(0, |_| true)?;
    assert_eq!(audit["created"], json!(104), "{audit}");
    assert_eq!(audit["in_flight"], json!(0), "{audit}");
    assert_eq!(audit["shards"][0]["arrived_from_shards"], json!(grams));
    assert_eq!(audit["shards"][0]["sent_to_shards"], json!(10));

    plant_a_team_tree_across_shards((&mut ann, ann_id), (&mut bob, bob_id)).await?;
    let audit = cluster.settled_audit(1, |_| true)?;
    assert_eq!(audit["in_flight"], json!(0), "{audit}");
    assert_eq!(audit["shards"][0]["planted"], json!(30), "{audit}");
    assert_eq!(
        audit["shards"][1]["planted"],
        json!(0),
        "planted once: {audit}"
    );

    ann.ok("unfriend", json!({"player_id": bob_id})).await?;
    bob.wait_event(|e| matches!(e, Event::FriendRemoved { player_id } if player_id.0 == ann_id))
        .await?;
    assert_eq!(
        bob.error_code("water", json!({"friend_id": ann_id, "grams": 10}))
            .await?,
        "NOT_FRIENDS",
        "the unfriending reached both shards"
    );
    assert_eq!(
        ann.error_code("friend_balls", json!({"friend_id": bob_id}))
            .await?,
        "NOT_FRIENDS"
    );
    assert_eq!(ann.ok("friends", json!({})).await?["friends"], json!([]));
    Ok(())
}

/// A catalog whose one species takes 30 g, so that a team tree is planted in seconds.
const SHRUB_CATALOG: &str = r#"
[[species]]
id = "shrub"
name = "Shrub"
name_zh = "灌木"
grams = 30
region = "Alxa"
"#;

/// Ann of shard 0 founds a team, invites bob of shard 1, who joins and lists it from
/// his shard; ann waters 20 g, bob's 10 g complete the tree on ann's shard, and each
/// hears of their certificate on their own shard.
async fn plant_a_team_tree_across_shards(
    (ann, ann_id): (&mut Client, u64),
    (bob, bob_id): (&mut Client, u64),
) -> Result<()> {
    let created = ann
        .ok("team_create", json!({"name": "grove", "species": "shrub"}))
        .await?;
    let team = created["team_id"].clone();
    ann.ok("team_invite", json!({"team_id": team, "player_id": bob_id}))
        .await?;
    ok_or_late(bob, "team_join", json!({"team_id": team})).await?;
    let listed = answer_until(bob, "teams", |teams| {
        teams["teams"][0]["members"] == json!([ann_id, bob_id])
    })
    .await?;
    assert_eq!(listed["teams"][0]["team_id"], team, "{listed}");
    let poured = ann
        .ok("team_water", json!({"team_id": team, "grams": 20}))
        .await?;
    assert_eq!(poured["team"]["progress"], 20, "{poured}");
    ok_or_late(bob, "team_water", json!({"team_id": team, "grams": 10})).await?;
    for member in [ann, bob] {
        member
            .wait_event(|e| {
                matches!(e, Event::Certificate { certificate } if certificate.team.as_deref() == Some("grove"))
            })
            .await?;
        let me = member.ok("me", json!({})).await?;
        assert_eq!(
            me["player"]["certificates"].as_array().map(Vec::len),
            Some(1),
            "certified once: {me}"
        );
    }
    Ok(())
}

/// The fields `keys` of each object of `list`, in order: what a test compares of a
/// board or a feed.
fn columns(list: &Value, keys: &[&str]) -> Vec<Vec<Value>> {
    let rows = list.as_array().map(Vec::as_slice).unwrap_or_default();
    rows.iter()
        .map(|row| keys.iter().map(|key| row[*key].clone()).collect())
        .collect()
}

/// A friend of another shard as `viewer` sees them: their `friends` row (the only
/// one) and their `friend_balls`.
async fn remote_views(viewer: &mut Client, friend: u64) -> Result<(Value, Value)> {
    let listed = viewer.ok("friends", json!({})).await?;
    let rows = listed["friends"].as_array().context("friends")?;
    anyhow::ensure!(
        rows.len() == 1 && rows[0]["player_id"] == json!(friend),
        "{listed}"
    );
    let balls = viewer
        .ok("friend_balls", json!({ "friend_id": friend }))
        .await?;
    Ok((rows[0].clone(), balls["balls"].clone()))
}

/// Logs in again with `token` at `url` and keeps the session.
async fn session(url: &str, token: &str) -> Result<Client> {
    let mut client = Client::connect(url).await?;
    client.ok("login", json!({ "token": token })).await?;
    Ok(client)
}

/// Asks `op` of `client` until `done` holds of the answer (an outcome from another
/// shard may still be on its way).
async fn answer_until(
    client: &mut Client,
    op: &str,
    done: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let started = Instant::now();
    loop {
        let answer = client.ok(op, json!({})).await?;
        if done(&answer) {
            return Ok(answer);
        }
        if started.elapsed() > PATIENCE {
            bail!("`{op}` still answers {answer} after {PATIENCE:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One player's prop gift, revival of an expired ball and rain chance to friends of
/// another shard, each with a refusal, then a steal and one of each sent while the
/// other shard is down: every one is applied exactly once after the restarts, and the
/// cluster audit balances with the grams and props in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steals_and_gifts_whose_other_shard_was_killed_apply_once_after_its_restart() -> Result<()>
{
    let mut cluster =
        LocalCluster::start_with_env(2, 8, &[("CANOPY_CLUSTER__REMOTE_TIMEOUT_MS", "3000")])?;
    let (shard0, shard1) = (cluster.game_url(0), cluster.game_url(1));
    let (ann_id, ann_token) = register(&shard0, "ann").await?;
    let (bob_id, bob_token) = register(&shard1, "bob").await?;
    let (cat_id, cat_token) = register(&shard1, "cat").await?;
    let mut ann = session(&shard0, &ann_token).await?;
    let mut bob = session(&shard1, &bob_token).await?;
    let mut cat = session(&shard1, &cat_token).await?;
    befriend(&mut ann, ann_id, &mut bob, bob_id).await?;
    befriend(&mut ann, ann_id, &mut cat, cat_id).await?;

    // Two of bob's balls expire an hour before the third (reported later) is stolen.
    let expiring = [
        cluster.metro_ball(1, bob_id, "e1")?,
        cluster.metro_ball(1, bob_id, "e2")?,
    ];
    let at = |field: &str| expiring[0][field].as_u64().unwrap_or_default();
    cluster.advance(1, at("ripe_at") - at("created_at"))?;
    let ball = cluster.metro(1, bob_id, "m1")?;
    cluster.advance(1, at("expires_at") + HOUR / 60 - at("ripe_at"))?;
    let revivable = |seen: &Value| -> Vec<Value> {
        let listed = seen["revivable"].as_array().cloned().unwrap_or_default();
        listed.iter().map(|ball| ball["ball_id"].clone()).collect()
    };
    let seen = ann.ok("friend_balls", json!({"friend_id": bob_id})).await?;
    let expired = revivable(&seen);
    assert_eq!(
        expired,
        expiring.map(|ball| ball["ball_id"].clone()),
        "ann sees bob's expired balls, from his shard: {seen}"
    );

    let stealth = json!({"friend_id": bob_id, "prop": "stealth"});
    assert_eq!(
        ann.error_code("gift_prop", stealth.clone()).await?,
        "NOT_FOUND",
        "no prop to give yet"
    );
    let grant = json!({"player_id": ann_id, "prop": "stealth", "count": 4});
    cluster.admin(0, "POST", "/admin/props", Some(grant))?;
    ann.ok("gift_prop", stealth.clone()).await?;
    bob.wait_event(|e| matches!(e, Event::PropGift { from, .. } if from.0 == ann_id))
        .await?;
    let revived = ann
        .ok(
            "revive",
            json!({"friend_id": bob_id, "ball_id": expired[0]}),
        )
        .await?;
    assert_eq!(
        (&revived["grams"], &revived["vitality"]),
        (&json!(52), &json!(5))
    );
    bob.wait_event(|e| matches!(e, Event::EnergyRevived { by, .. } if by.0 == ann_id))
        .await?;
    let seen = ann.ok("friend_balls", json!({"friend_id": bob_id})).await?;
    assert_eq!(
        revivable(&seen),
        [expired[1].clone()],
        "revived once: {seen}"
    );
    assert_eq!(
        ann.error_code(
            "revive",
            json!({"friend_id": bob_id, "ball_id": expired[0]})
        )
        .await?,
        "ALREADY_REVIVED",
        "bob's shard decides"
    );
    ann.ok("rain_start", json!({})).await?;
    let given = ann.ok("rain_gift", json!({"friend_id": bob_id})).await?;
    assert_eq!(
        given["rounds_left"], 1,
        "the receiver accepted: one more round"
    );
    bob.wait_event(|e| matches!(e, Event::RainChance { from } if from.0 == ann_id))
        .await?;
    cluster.advance(0, 20_000)?;
    ann.ok("rain_start", json!({})).await?;
    assert_eq!(
        ann.error_code("rain_gift", json!({"friend_id": bob_id}))
            .await?,
        "LIMIT_REACHED",
        "bob's shard: one chance received a day"
    );
    drop((bob, cat));

    cluster.kill("shard-1")?;
    assert_eq!(
        ann.error_code("friend_balls", json!({ "friend_id": bob_id }))
            .await?,
        "SHARD_TIMEOUT",
        "bob's shard is down"
    );
    let mut down = [bob_id, cat_id];
    down.sort();
    let listed = ann.ok("friends", json!({})).await?;
    assert_eq!(
        (&listed["friends"], &listed["unavailable"]),
        (&json!([]), &json!(down)),
        "the list goes on without the friends of the shard that is down: {listed}"
    );
    let board = ann.ok("leaderboard", json!({"period": "week"})).await?;
    assert_eq!(
        (&board["entries"][0]["player_id"], &board["unavailable"]),
        (&json!(ann_id), &json!(down)),
        "{board}"
    );
    assert_eq!(
        board["entries"].as_array().map(Vec::len),
        Some(1),
        "{board}"
    );
    for (op, fields) in [
        ("steal", json!({"friend_id": bob_id, "ball_id": ball})),
        ("gift_prop", stealth.clone()),
        (
            "revive",
            json!({"friend_id": bob_id, "ball_id": expired[1]}),
        ),
        ("rain_gift", json!({"friend_id": cat_id})),
    ] {
        assert_eq!(
            ann.error_code(op, fields).await?,
            "SHARD_TIMEOUT",
            "`{op}`: the other shard is down, the op stays queued"
        );
    }
    cluster.kill("shard-0")?;
    cluster.restart("shard-0")?;
    cluster.wait_healthy(0)?;
    cluster.restart("shard-1")?;
    cluster.wait_healthy(1)?;

    let audit = cluster.settled_audit(0, |audit| {
        let stolen = audit["shards"][0]["arrived_from_shards"]
            .as_u64()
            .unwrap_or(0);
        stolen != 0
            && audit["shards"][1]["revived"] == json!(104)
            && audit["shards"][0]["vitality_earned"] == json!(10 + stolen / 10)
    })?;
    let stolen = audit["shards"][0]["arrived_from_shards"]
        .as_u64()
        .unwrap_or_default();
    assert!((5..=15).contains(&stolen), "stolen once: {audit}");
    assert_eq!(
        audit["shards"][1]["sent_to_shards"],
        json!(stolen),
        "{audit}"
    );
    assert_eq!(
        audit["shards"][1]["in_balls"],
        json!(52 - stolen + 104),
        "the stolen ball's rest and two revived balls: {audit}"
    );
    assert_eq!(audit["shards"][0]["balances"], json!(stolen), "{audit}");
    assert_eq!(audit["props_in_flight"], json!(0), "{audit}");
    assert_eq!(
        (
            &audit["shards"][0]["props_sent_to_shards"],
            &audit["shards"][1]["props_arrived_from_shards"]
        ),
        (&json!(2), &json!(2)),
        "two props given, each arrived once: {audit}"
    );

    let mut ann = session(&shard0, &ann_token).await?;
    let mut bob = session(&shard1, &bob_token).await?;
    let mut cat = session(&shard1, &cat_token).await?;
    assert_eq!(
        cat.ok("rain", json!({})).await?["gift_received"],
        json!(true)
    );
    answer_until(&mut ann, "rain", |rain| rain["rounds_left"] == json!(1)).await?;
    ann.ok("gift_prop", stealth.clone()).await?;
    assert_eq!(
        ann.error_code("gift_prop", stealth).await?,
        "LIMIT_REACHED",
        "the gift sent while bob's shard was down counts once of three a day"
    );
    let bob_props =
        bob.ok("me", json!({})).await?["player"]["props"]["inventory"]["stealth"].clone();
    assert_eq!(bob_props, json!(3), "three gifts, each credited once");
    cluster.settled_audit(1, |_| true)?;
    Ok(())
}

/// CPU time (user + system) a process has used so far, in clock ticks.
fn cpu_ticks(pid: &str) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .context("a stat line")?
        .split_whitespace()
        .collect();
    let field =
        |index: usize| -> Result<u64> { Ok(fields.get(index).context("a stat field")?.parse()?) };
    Ok(field(11)? + field(12)?)
}

/// The CPU ticks the processes `names` of the cluster have used so far.
fn cluster_cpu_ticks(cluster: &LocalCluster, names: &[&str]) -> Result<u64> {
    names
        .iter()
        .map(|name| cpu_ticks(&cluster.pid(name)?))
        .sum()
}

/// The cluster's processes whose CPU a steal costs: its two shards and its NATS nodes.
const SHARDS: [&str; 2] = ["shard-0", "shard-1"];
const NATS_NODES: [&str; 3] = ["nats-1", "nats-2", "nats-3"];

/// Steals of one thief on shard 0 from `owners` (each with 5 ripe balls): the latency of
/// each reply, and the CPU ticks both shards and the NATS nodes used meanwhile.
async fn timed_steals(
    cluster: &LocalCluster,
    thief: &mut Client,
    owners: &[(u16, u64, Vec<u64>)],
) -> Result<(Vec<Duration>, u64, u64)> {
    let shards_before = cluster_cpu_ticks(cluster, &SHARDS)?;
    let nats_before = cluster_cpu_ticks(cluster, &NATS_NODES)?;
    let mut latencies = Vec::new();
    for (_, owner, balls) in owners {
        for ball in balls {
            let started = Instant::now();
            thief
                .ok("steal", json!({"friend_id": owner, "ball_id": ball}))
                .await?;
            latencies.push(started.elapsed());
        }
    }
    let shards = cluster_cpu_ticks(cluster, &SHARDS)? - shards_before;
    let nats = cluster_cpu_ticks(cluster, &NATS_NODES)? - nats_before;
    latencies.sort();
    Ok((latencies, shards, nats))
}

/// A measurement, not a check: `cargo test --release --test cluster -- --ignored
/// --nocapture steal_latency_and_cpu` prints the p50/p99 latency and the CPU per steal
/// (of the shards and of the NATS nodes) of same-shard and cross-shard steals on this
/// machine (docs/PERFORMANCE.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement for docs/PERFORMANCE.md, not a test"]
async fn steal_latency_and_cpu() -> Result<()> {
    // 45 steals a group of at most 15 g stay under the thief's 1500 g daily cap.
    const OWNERS: usize = 9;
    // A load: no per-address registration limit (docs/LOAD-TESTING.md).
    let cluster = LocalCluster::start_with_env(
        2,
        9,
        &[
            ("CANOPY_ACCOUNTS__REGISTER_LIMITS", "false"),
            ("CANOPY_SERVER__RATE_LIMIT_BURST", "1000"),
        ],
    )?;
    let (mut thief, thief_id) = player(&cluster.game_url(0), "thief").await?;
    let mut owners = Vec::new();
    for index in 0..2 * OWNERS {
        let shard = if index < OWNERS { 0 } else { 1 };
        let (mut owner, owner_id) = player(&cluster.game_url(shard), "owner").await?;
        befriend(&mut thief, thief_id, &mut owner, owner_id).await?;
        let balls = (0..5)
            .map(|n| cluster.metro(shard, owner_id, &format!("m{n}")))
            .collect::<Result<Vec<u64>>>()?;
        owners.push((shard, owner_id, balls));
    }
    cluster.advance(0, 31 * HOUR)?;
    cluster.advance(1, 31 * HOUR)?;
    let clock_ticks = Command::new("getconf").arg("CLK_TCK").output()?;
    let ticks_per_second: f64 = String::from_utf8(clock_ticks.stdout)?.trim().parse()?;
    for (name, shard) in [("same-shard", 0), ("cross-shard", 1)] {
        let group: Vec<_> = owners
            .iter()
            .filter(|(owner_shard, _, _)| *owner_shard == shard)
            .cloned()
            .collect();
        let (latencies, shard_ticks, nats_ticks) =
            timed_steals(&cluster, &mut thief, &group).await?;
        let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
        let per_steal =
            |ticks: u64| ticks as f64 * 1000.0 / ticks_per_second / latencies.len() as f64;
        println!(
            "{name}: {} steals, p50 {:?}, p99 {:?}, CPU per steal: both shards {:.2} ms, \
             the 3 NATS nodes {:.2} ms",
            latencies.len(),
            at(0.5),
            at(0.99),
            per_steal(shard_ticks),
            per_steal(nats_ticks)
        );
    }
    Ok(())
}

/// The short cross-shard storm: `canopy bots` against 3 shards, bot `i` on shard
/// `i % 3` with friendships mostly across shards, stealing, watering and helping through
/// the views of friends of other shards; every bot's rule checks hold and the cluster's
/// audit balances. The long version is in docs/SCALE-OUT.md.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bots_storm_across_shards_with_their_rule_checks_and_the_audit_clean() -> Result<()> {
    // A load test: no per-address registration limit (docs/LOAD-TESTING.md).
    let cluster =
        LocalCluster::start_with_env(3, 3, &[("CANOPY_ACCOUNTS__REGISTER_LIMITS", "false")])?;
    let (status, view) = support::http(&cluster.ops_addr(1), "GET", "/cluster", None, None)?;
    assert_eq!(status, 200, "{view}");
    assert_eq!(
        (view["shard"].as_u64(), view["shards"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(view["urls"]["2"], json!(cluster.game_url(2)), "{view}");

    let scratch = tempfile::tempdir()?;
    let report_path = scratch.path().join("report.json");
    let ops = |shard: u16| format!("http://{}", cluster.ops_addr(shard));
    let run = Command::new(bin_dir().join("canopy"))
        .args(["bots", "--players", "12", "--friends-per-player", "4"])
        .args(["--duration", "3s", "--seed", "3", "--quiet"])
        .args(["--server", &cluster.game_url(1), "--ops", &ops(1)])
        .args(["--shard-ops", &ops(0), "--shard-ops", &ops(2)])
        .args(["--admin-token", support::ADMIN_TOKEN])
        .arg("--report")
        .arg(&report_path)
        .env("XDG_CONFIG_HOME", scratch.path())
        .env_remove("CANOPY_SERVER")
        .env_remove("CANOPY_PROFILE")
        .output()?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path)?)
        .with_context(|| format!("no report: {run:?}"))?;
    assert!(run.status.success(), "canopy bots: {run:?}\n{report}");
    let placement = &report["setup"]["cluster"];
    assert_eq!(placement["shards"], json!(3), "{report}");
    assert_eq!(
        placement["bots_per_shard"],
        json!({"0": 4, "1": 4, "2": 4}),
        "bot i registers on shard i % 3: {report}"
    );
    assert_eq!(
        placement["redirected_logins"],
        json!(8),
        "the bots of shards 0 and 2 logged in at shard 1 and were sent home"
    );
    assert_eq!(placement["away_from_home"], json!(0), "{report}");
    let friendships = report["setup"]["friendships"].as_u64().unwrap_or_default();
    let across = placement["cross_shard_friendships"]
        .as_u64()
        .unwrap_or_default();
    assert!(
        across * 2 > friendships,
        "most friendships span shards: {report}"
    );
    assert_eq!(report["violation_count"], json!(0), "{report}");
    assert_eq!(report["unexpected_errors"], json!({}), "{report}");
    assert!(
        report["per_op"]["friend_balls"]["count"].as_u64() > Some(0),
        "{report}"
    );
    let audit = cluster.settled_audit(0, |_| true)?;
    let arrived: u64 = (0..3)
        .filter_map(|shard| audit["shards"][shard]["arrived_from_shards"].as_u64())
        .sum();
    assert!(
        arrived > 0,
        "grams were stolen or watered across shards: {audit}"
    );
    Ok(())
}

/// `canopy bots` running in the background against a local cluster; SIGKILLed if the
/// test ends before it does.
struct Storm {
    child: Child,
    /// Its stderr lines, read as they come.
    lines: std::sync::mpsc::Receiver<String>,
    /// The lines read so far, for failure messages.
    said: Vec<String>,
}

impl Storm {
    /// Starts `canopy bots` with `args`; returns once its setup is done and the bots play.
    fn start(args: &[&str], home: &Path) -> Result<Self> {
        let mut child = Command::new(bin_dir().join("canopy"))
            .arg("bots")
            .args(args)
            .env("XDG_CONFIG_HOME", home)
            .env_remove("CANOPY_SERVER")
            .env_remove("CANOPY_PROFILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting canopy bots")?;
        let stderr = child.stderr.take().context("the bots' stderr")?;
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut storm = Self {
            child,
            lines,
            said: Vec::new(),
        };
        storm.wait_for_line("run:")?;
        Ok(storm)
    }

    fn wait_for_line(&mut self, start: &str) -> Result<()> {
        let started = Instant::now();
        while started.elapsed() < PATIENCE * 2 {
            match self.lines.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    let found = line.starts_with(start);
                    self.said.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        bail!("canopy bots never said `{start}`: {:?}", self.said)
    }

    /// Ends the run with Ctrl-C (SIGINT) and waits for the bots' check after it.
    fn stop(mut self) -> Result<std::process::ExitStatus> {
        signal("-INT", &self.child.id().to_string())?;
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            // The check after the run waits up to 180 s for transfers and shards.
            if started.elapsed() > Duration::from_secs(600) {
                bail!("canopy bots did not end: {:?}", self.said);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Storm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Open WebSocket sessions on shard `shard` (its `canopy_sessions` gauge).
fn sessions(cluster: &LocalCluster, shard: u16) -> Result<u64> {
    let (_, metrics) = support::http(&cluster.ops_addr(shard), "GET", "/metrics", None, None)?;
    let text = metrics.as_str().unwrap_or_default();
    Ok(text
        .lines()
        .find_map(|line| line.strip_prefix("canopy_sessions "))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or(0))
}

/// `SHARD_TIMEOUT` answers the shards `of` gave so far (`canopy_commands_total`).
fn shard_timeouts(cluster: &LocalCluster, of: &[u16]) -> Result<u64> {
    let mut total = 0;
    for shard in of {
        let (_, metrics) = support::http(&cluster.ops_addr(*shard), "GET", "/metrics", None, None)?;
        total += metrics
            .as_str()
            .unwrap_or_default()
            .lines()
            .filter(|line| {
                line.starts_with("canopy_commands_total") && line.contains("SHARD_TIMEOUT")
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
            .sum::<u64>();
    }
    Ok(total)
}

/// Keeps a fault on past `at_least` and until the shards `of` answered a cross-shard
/// op of the storm `SHARD_TIMEOUT` (more than `before`).
fn hold_until_timeouts(
    cluster: &mut LocalCluster,
    of: &[u16],
    before: u64,
    at_least: Duration,
) -> Result<()> {
    std::thread::sleep(at_least);
    // A shard slow to answer its metrics under load is asked again.
    cluster.wait_until("a cross-shard op answered SHARD_TIMEOUT", |cluster| {
        Ok(shard_timeouts(cluster, of).is_ok_and(|now| now > before))
    })
}

/// Restarts a NATS node and waits until it takes clients again.
fn restart_nats(cluster: &mut LocalCluster, node: u16) -> Result<()> {
    cluster.restart(&format!("nats-{node}"))?;
    let addr = format!("127.0.0.1:{}", cluster.base + node - 1);
    cluster.wait_until(&format!("nats-{node} takes clients"), |_| {
        Ok(std::net::TcpStream::connect(&addr).is_ok())
    })
}

/// The faults of issue 15 during one cross-shard storm, in turn: one NATS node
/// SIGKILLed and restarted (quorum holds), two (no quorum: cross-shard ops answer
/// `SHARD_TIMEOUT` and stay queued), a shard SIGSTOPped past the remote timeout and
/// resumed, a shard SIGKILLed and restarted (its bots log in again). Afterwards the bots
/// check that every acknowledged change of every bot is there and none twice (a late
/// outcome of an op in doubt counted exactly), every transfer arrived, and the cluster
/// audit balances. The long version is `bench/cluster/faults.sh` (docs/SCALE-OUT.md).
#[test]
fn bots_storm_through_nats_and_shard_faults_losing_nothing_acknowledged() -> Result<()> {
    const REMOTE_TIMEOUT_MS: u64 = 2_000;
    let timeout = REMOTE_TIMEOUT_MS.to_string();
    let mut cluster = LocalCluster::start_with_env(
        3,
        11,
        &[
            ("CANOPY_ACCOUNTS__REGISTER_LIMITS", "false"),
            ("CANOPY_CLUSTER__REMOTE_TIMEOUT_MS", &timeout),
        ],
    )?;
    let past_timeout = Duration::from_millis(2 * REMOTE_TIMEOUT_MS);
    let scratch = tempfile::tempdir()?;
    let report_path = scratch.path().join("report.json");
    let ops = |shard: u16| format!("http://{}", cluster.ops_addr(shard));
    let (server, ops0, ops1, ops2) = (cluster.game_url(0), ops(0), ops(1), ops(2));
    let report_arg = report_path.to_str().context("a UTF-8 path")?;
    let storm = Storm::start(
        &[
            "--players",
            "12",
            "--friends-per-player",
            "4",
            "--duration",
            "10m",
            "--seed",
            "11",
            "--reconnect",
            "--server",
            &server,
            "--ops",
            &ops0,
            "--shard-ops",
            &ops1,
            "--shard-ops",
            &ops2,
            "--admin-token",
            ADMIN_TOKEN,
            "--report",
            report_arg,
        ],
        scratch.path(),
    )?;

    cluster.kill("nats-2")?;
    std::thread::sleep(past_timeout);
    restart_nats(&mut cluster, 2)?;

    // No quorum: same-shard play goes on, cross-shard ops answer SHARD_TIMEOUT.
    let before = shard_timeouts(&cluster, &[0, 1, 2])?;
    cluster.kill("nats-2")?;
    cluster.kill("nats-3")?;
    hold_until_timeouts(&mut cluster, &[0, 1, 2], before, past_timeout)?;
    restart_nats(&mut cluster, 2)?;
    restart_nats(&mut cluster, 3)?;

    // Ops of the other shards on players of the paused one time out.
    let before = shard_timeouts(&cluster, &[0, 2])?;
    cluster.signal("shard-1", "-STOP")?;
    let paused = hold_until_timeouts(&mut cluster, &[0, 2], before, past_timeout);
    cluster.signal("shard-1", "-CONT")?;
    paused?;

    cluster.kill("shard-2")?;
    cluster.restart("shard-2")?;
    cluster.wait_healthy(2)?;
    // Bot i lives on shard i % 3: the four of shard 2 log in there again.
    cluster.wait_until("the bots of shard 2 are back", |cluster| {
        Ok(sessions(cluster, 2).is_ok_and(|open| open >= 4))
    })?;

    let status = storm.stop()?;
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&report_path)?)
        .with_context(|| format!("no report ({status}); logs: {}", cluster.logs()))?;
    assert!(status.success(), "canopy bots: {status}\n{report}");
    assert_eq!(report["violation_count"], json!(0), "{report}");
    assert_eq!(report["unexpected_errors"], json!({}), "{report}");
    assert_eq!(report["transport_errors"], json!(0), "{report}");
    assert!(
        report["faults"]["reconnects"].as_u64() >= Some(4),
        "the bots of the killed shard logged in again: {report}"
    );
    assert!(
        report["faults"]["shard_timeouts"].as_u64() >= Some(2),
        "the bots saw SHARD_TIMEOUT without a quorum and with a shard paused: {report}"
    );
    let settled = &report["settled"];
    assert_eq!(settled["drained"], json!(true), "{report}");
    assert_eq!(settled["audit_balanced"], json!(true), "{report}");
    assert_eq!(
        (
            settled["balances_checked"].as_u64(),
            settled["unchecked"].as_u64()
        ),
        (Some(12), Some(0)),
        "every bot's acknowledged changes were checked: {report}"
    );
    let audit = cluster.settled_audit(0, |_| true)?;
    assert_eq!(audit["in_flight"], json!(0), "{audit}");
    Ok(())
}

/// A walk of `steps` for the player logged in on `client`: the grams of its ball.
async fn walk(client: &mut Client, steps: u64, reference: &str) -> Result<u64> {
    let reply = client
        .ok(
            "record_action",
            json!({ "kind": "walk", "quantity": steps, "ref": reference }),
        )
        .await?;
    reply["grams"].as_u64().context("grams")
}

/// The grams in the balls of the player whose token this is, read on a fresh session.
async fn grams_in_balls(url: &str, token: &str) -> Result<u64> {
    let mut client = Client::connect(url).await?;
    client.ok("login", json!({ "token": token })).await?;
    let me = client.ok("me", json!({})).await?;
    let balls = me["balls"].as_array().context("balls")?;
    Ok(balls
        .iter()
        .filter_map(|ball| ball["amount"].as_u64())
        .sum())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_nats_quorum_shards_serve_their_players_and_recover_after() -> Result<()> {
    let mut cluster = LocalCluster::start(2, 4)?;
    let (shard0, shard1) = (cluster.game_url(0), cluster.game_url(1));
    let (ann, ann_token) = register(&shard0, "ann").await?;
    let (bob, bob_token) = register(&shard0, "bob").await?;
    let (_, dan_token) = register(&shard1, "dan").await?;

    cluster.kill("nats-2")?;
    cluster.kill("nats-3")?;
    // No quorum: same-shard play goes on, and every reply is an acknowledged change.
    let mut ann_session = Client::connect(&shard0).await?;
    ann_session
        .ok("login", json!({ "token": ann_token }))
        .await?;
    let mut bob_session = Client::connect(&shard0).await?;
    bob_session
        .ok("login", json!({ "token": bob_token }))
        .await?;
    ann_session
        .ok("friend_request", json!({ "player_id": bob }))
        .await?;
    bob_session
        .ok("friend_accept", json!({ "player_id": ann }))
        .await?;
    assert_eq!(walk(&mut ann_session, 8_000, "quorum-lost").await?, 160);
    let misrouted = login(&shard0, &dan_token).await?;
    assert_eq!(
        misrouted["error"]["redirect"],
        json!(shard1),
        "routing uses the last map seen: {misrouted}"
    );

    // The nodes come back; a shard SIGKILLed now can only serve again by rejoining.
    cluster.restart("nats-2")?;
    cluster.restart("nats-3")?;
    cluster.kill("shard-0")?;
    cluster.restart("shard-0")?;
    cluster.wait_healthy(0)?;
    let mut ann_again = Client::connect(&shard0).await?;
    ann_again.ok("login", json!({ "token": ann_token })).await?;
    let friends = ann_again.ok("friends", json!({})).await?;
    assert_eq!(
        friends["friends"][0]["player_id"],
        json!(bob),
        "the friendship made without a quorum survives: {friends}"
    );
    assert_eq!(grams_in_balls(&shard0, &ann_token).await?, 160);
    let audit = cluster.audit(0)?;
    assert_eq!(audit["balanced"], json!(true), "{audit}");
    Ok(())
}

/// How long the shard stays stopped: a few seconds in CI; the long version in
/// docs/SCALE-OUT.md sets `CANOPY_TEST_PAUSE_SECS=150`, past the 60 s idle timeout of
/// sessions and the NATS client's ping timeouts.
fn pause_length() -> Duration {
    let secs = std::env::var("CANOPY_TEST_PAUSE_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(3);
    Duration::from_secs(secs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_paused_and_resumed_serves_again_with_nothing_lost() -> Result<()> {
    let cluster = LocalCluster::start(2, 5)?;
    let (shard0, shard1) = (cluster.game_url(0), cluster.game_url(1));
    let (_, ann_token) = register(&shard1, "ann").await?;
    let mut session = Client::connect(&shard1).await?;
    session.ok("login", json!({ "token": ann_token })).await?;
    assert_eq!(walk(&mut session, 5_000, "before-pause").await?, 100);

    cluster.signal("shard-1", "-STOP")?;
    // Sent while the shard is stopped: answered, and only then acknowledged, once it runs.
    let action = json!({
        "id": 100, "op": "record_action", "kind": "walk", "quantity": 8_000,
        "ref": "during-pause",
    });
    session.send_text(&action.to_string()).await?;
    let misrouted = login(&shard0, &ann_token).await?;
    assert_eq!(misrouted["error"]["redirect"], json!(shard1), "{misrouted}");
    tokio::time::sleep(pause_length()).await;
    cluster.signal("shard-1", "-CONT")?;

    let during = session.reply_to(Some(100)).await;
    let audit = cluster.audit(1)?;
    let created = audit["created"].as_u64().context("created")?;
    match during {
        // The session outlived the pause: its change is acknowledged and kept.
        Ok(reply) => {
            assert_eq!(reply["ok"], json!(true), "{reply}");
            let grams = reply["grams"].as_u64().context("grams")?;
            assert!(grams > 0, "{reply}");
            assert_eq!(created, 100 + grams, "{reply} {audit}");
        }
        // Only a pause past the 60 s idle timeout may close the session; what it
        // acknowledged before must be there.
        Err(closed) => {
            assert!(pause_length() >= Duration::from_secs(60), "{closed:#}");
            assert!(created >= 100, "the acknowledged walk survives: {audit}");
        }
    }
    let in_balls = grams_in_balls(&shard1, &ann_token).await?;
    assert!(
        in_balls >= 100,
        "a new session is served and sees the walk's ball"
    );
    assert_eq!(audit["balanced"], json!(true), "{audit}");
    Ok(())
}

/// A partner registered through one shard's admin API: its id and key.
fn cluster_partner(cluster: &LocalCluster, shard: u16) -> Result<(u64, String)> {
    let answer = cluster.admin(
        shard,
        "POST",
        "/admin/partners",
        Some(
            json!({"name": "Metro Co", "kinds": ["metro"], "may_publish_tasks": true,
                    "rate_per_minute": 60000}),
        ),
    )?;
    let id = answer["partner"]["partner_id"]
        .as_u64()
        .context("partner_id")?;
    Ok((
        id,
        answer["api_key"].as_str().context("api_key")?.to_owned(),
    ))
}

/// Waits until `call` answers `status`.
fn wait_for_status(
    what: &str,
    status: u16,
    call: impl Fn() -> Result<support::HttpAnswer>,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let answer = call()?;
        if answer.status == status {
            return Ok(());
        }
        if started.elapsed() > PATIENCE {
            bail!("{what}: still {} {}", answer.status, answer.body);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_budgets_and_partners_hold_across_shards() -> Result<()> {
    // The budget covers REWARDS rewards; each shard's player alone tries more than that.
    const REWARDS: u64 = 10;
    const TRIES_PER_PLAYER: u64 = 12;
    // Every shard reads one config file defining a campaign (`campaigns_hold_across_shards`).
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let config_dir = tempfile::tempdir()?;
    let config = config_dir.path().join("canopy.toml");
    let defaults =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/canopy.toml"))?;
    let ends_at = now + 30 * 24 * HOUR;
    std::fs::write(
        &config,
        format!(
            "{defaults}\n[campaigns.metro_rides]\nname = \"+20 g a ride\"\nkind = \"metro\"\n\
             bonus = {{ add = 20 }}\nstarts_at = 0\nends_at = {ends_at}\nbudget_grams = 100\n"
        ),
    )?;
    let shard_args = format!("--clock manual --config {}", path_str(&config)?);
    let cluster = LocalCluster::start_with_env(
        3,
        10,
        &[
            ("CANOPY_ACCOUNTS__REGISTER_LIMITS", "false"),
            ("CANOPY_SHARD_ARGS", &shard_args),
        ],
    )?;
    let (partner, key) = cluster_partner(&cluster, 0)?;
    let post = |shard: u16, key: &str, path: &str, body: &Value| {
        support::partner_post(&cluster.ops_addr(shard), partner, key, path, body)
    };

    // Registered on shard 0, the partner publishes a task at shard 1 once shard 1 knows
    // it, and every shard's player can take the task on.
    let task = json!({"title": "Ride", "description": "", "reward_grams": 30,
        "audience": "all", "starts_at": 0, "ends_at": now + 30 * 24 * HOUR,
        "per_player_limit": 100, "budget_grams": 30 * REWARDS, "ref": "publish-1"});
    wait_for_status("shard 1 knows the partner", 200, || {
        post(1, &key, "/partner/v1/tasks", &task)
    })?;
    let published = post(1, &key, "/partner/v1/tasks", &task)?;
    let task_id = published.body["task_id"].as_u64().context("task_id")?;
    let (mut players, mut clients) = (Vec::new(), Vec::new());
    for shard in 0..3 {
        let (mut client, id) = player(&cluster.game_url(shard), &format!("p{shard}")).await?;
        let started = Instant::now();
        while client
            .call("task_accept", json!({"task_id": task_id}))
            .await?["ok"]
            != json!(true)
        {
            anyhow::ensure!(
                started.elapsed() < PATIENCE,
                "shard {shard} never adopted the task"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        players.push(id);
        clients.push(client);
    }

    // Completions for all three players at once, each sent to a shard in turn (so most
    // are forwarded to the player's shard): exactly REWARDS are rewarded.
    let completions: Vec<(u16, u64, String)> = (0..TRIES_PER_PLAYER)
        .flat_map(|n| {
            players.iter().enumerate().map(move |(home, &player)| {
                (
                    (home as u64 + n) as u16 % 3,
                    player,
                    format!("done-{player}-{n}"),
                )
            })
        })
        .collect();
    let path = format!("/partner/v1/tasks/{task_id}/complete");
    let answers: Vec<(String, Result<support::HttpAnswer>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = completions
            .chunks(6)
            .map(|chunk| {
                let (post, path, key) = (&post, &path, &key);
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(shard, player, reference)| {
                            // A partner retries a call that timed out with its `ref`.
                            let body = json!({"player_id": player, "ref": reference});
                            let timed_out = |answer: &Result<support::HttpAnswer>| {
                                answer.as_ref().is_ok_and(|answer| {
                                    answer.body["error"]["code"] == json!("SHARD_TIMEOUT")
                                })
                            };
                            let mut answer = post(*shard, key, path, &body);
                            for _ in 0..5 {
                                if !timed_out(&answer) {
                                    break;
                                }
                                answer = post(*shard, key, path, &body);
                            }
                            (reference.clone(), answer)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().unwrap_or_default())
            .collect()
    });
    let mut outcomes = std::collections::BTreeMap::new();
    let mut first_answers = Vec::new();
    for (reference, answer) in answers {
        let answer = answer?;
        first_answers.push((reference, answer.status, answer.body.clone()));
        let outcome = match answer.status {
            200 => "rewarded".to_owned(),
            _ => answer.body["error"]["code"]
                .as_str()
                .unwrap_or("?")
                .to_owned(),
        };
        *outcomes.entry(outcome).or_insert(0u64) += 1;
    }
    let tries = TRIES_PER_PLAYER * 3;
    assert_eq!(
        outcomes,
        [
            ("BUDGET_EXHAUSTED".to_owned(), tries - REWARDS),
            ("rewarded".to_owned(), REWARDS)
        ]
        .into_iter()
        .collect(),
    );
    // A `ref` is once cluster-wide: replayed at every shard, whichever first took it,
    // it gets its first answer (kept by the player's shard, where every call about the
    // player is applied), rewarded or refused, and changes nothing.
    for (reference, status, body) in first_answers.iter().step_by(5) {
        let player = completions
            .iter()
            .find(|(.., other)| other == reference)
            .map(|(_, player, _)| *player)
            .context("the ref's player")?;
        for shard in 0..3 {
            let again = post(
                shard,
                &key,
                &path,
                &json!({"player_id": player, "ref": reference}),
            )?;
            assert_eq!(
                (again.status, &again.body),
                (*status, body),
                "{reference} replayed at shard {shard}"
            );
        }
    }
    let audit = cluster.settled_audit(2, |_| true)?;
    let split = &audit["task_grams"];
    assert_eq!(split["budget"], json!(30 * REWARDS), "{audit}");
    assert_eq!(split["unallotted"], json!(0), "{audit}");
    assert_eq!(split["on_shards"], json!(30 * REWARDS), "{audit}");
    assert_eq!(split["stranded"], json!(0), "{audit}");
    let disbursed: u64 = (0..3)
        .map(|shard| {
            cluster.audit(shard)?["task_disbursed"]
                .as_u64()
                .context("disbursed")
        })
        .sum::<Result<u64>>()?;
    assert_eq!(disbursed, 30 * REWARDS, "{audit}");

    // Ops confirm a completion at shard 0 for the player of shard 1: forwarded there,
    // rewarded from shard 1's allotment; again at shard 2, past the limit.
    let ops_task = cluster.admin(
        0,
        "POST",
        "/admin/tasks",
        Some(
            json!({"title": "Ops ride", "description": "", "reward_grams": 10,
            "audience": "all", "starts_at": 0, "ends_at": now + 30 * 24 * HOUR,
            "per_player_limit": 1, "budget_grams": 100}),
        ),
    )?;
    let ops_task = ops_task["task_id"].as_u64().context("task_id")?;
    let started = Instant::now();
    while clients[1]
        .call("task_accept", json!({"task_id": ops_task}))
        .await?["ok"]
        != json!(true)
    {
        anyhow::ensure!(started.elapsed() < PATIENCE, "shard 1 never adopted it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let confirm = |shard: u16| {
        let path = format!("/admin/tasks/{ops_task}/complete");
        let body = json!({"player_id": players[1]});
        admin(&cluster.ops_addr(shard), "POST", &path, Some(body))
    };
    let (status, done) = confirm(0)?;
    assert_eq!((status, &done["grams"]), (200, &json!(10)), "{done}");
    assert!(done["ball"]["ball_id"].is_u64(), "{done}");
    let (status, again) = confirm(2)?;
    assert_eq!(
        (status, &again["error"]["code"]),
        (422, &json!("LIMIT_REACHED")),
        "{again}"
    );

    // A key rotated at shard 2 is refused at shard 0 (a call outside the partner's scope
    // shows which key shard 0 takes without crediting anything), the new one served.
    let rotated = cluster.admin(
        2,
        "POST",
        &format!("/admin/partners/{partner}/rotate-key"),
        None,
    )?;
    let new_key = rotated["api_key"].as_str().context("api_key")?.to_owned();
    let probe = json!({"player_id": players[0], "kind": "bus", "ref": "probe"});
    wait_for_status("shard 0 refuses the old key", 401, || {
        post(0, &key, "/partner/v1/actions", &probe)
    })?;
    let answer = post(0, &new_key, "/partner/v1/actions", &probe)?;
    assert_eq!(
        answer.status, 403,
        "the new key, out of scope: {}",
        answer.body
    );
    // Suspended at shard 1, refused at shard 0.
    cluster.admin(
        1,
        "POST",
        &format!("/admin/partners/{partner}/suspend"),
        None,
    )?;
    let ride = json!({"player_id": players[0], "kind": "metro", "ref": "ride-1"});
    wait_for_status("shard 0 refuses the suspended partner", 403, || {
        post(0, &new_key, "/partner/v1/actions", &ride)
    })?;
    campaigns_hold_across_shards(&cluster, ends_at).await
}

/// Every shard's campaigns, by id.
fn campaigns_on(cluster: &LocalCluster, shard: u16) -> Result<BTreeMap<u64, Value>> {
    let list = cluster.admin(shard, "GET", "/admin/campaigns", None)?;
    let campaigns = list["campaigns"].as_array().context("campaigns")?;
    campaigns
        .iter()
        .map(|campaign| {
            Ok((
                campaign["campaign_id"].as_u64().context("id")?,
                campaign.clone(),
            ))
        })
        .collect()
}

/// Waits until every shard lists `campaign` and `holds` it.
fn wait_for_campaign(
    cluster: &LocalCluster,
    campaign: u64,
    holds: impl Fn(&Value) -> bool,
) -> Result<()> {
    let started = Instant::now();
    loop {
        let mut held = Vec::new();
        for shard in 0..3 {
            held.push(campaigns_on(cluster, shard)?.remove(&campaign));
        }
        if held
            .iter()
            .all(|campaign| campaign.as_ref().is_some_and(&holds))
        {
            return Ok(());
        }
        if started.elapsed() > PATIENCE {
            bail!("campaign {campaign} as the shards hold it: {held:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Part of `task_budgets_and_partners_hold_across_shards`, on its cluster: the config
/// file's campaign (+20 g a metro ride, 100 g) is published once and held with one id by
/// every shard; one defined at shard 2 (×2 a ride, 130 g) is adopted by all. Bursts of
/// rides on every shard at once never pay more than a budget; rides go on, each at a
/// shard holding some budget, until both are spent exactly, in as many bonuses as on
/// one server (5 of 20 g; 52 + 52 + 26 g), and the cluster audit balances with nothing
/// stranded. A campaign closed at shard 0 is closed on every shard, and what the shards
/// held of it goes back to its ledger.
async fn campaigns_hold_across_shards(cluster: &LocalCluster, ends_at: u64) -> Result<()> {
    let started = Instant::now();
    let configured = loop {
        let found = campaigns_on(cluster, 0)?
            .into_values()
            .find(|campaign| campaign["config_key"] == json!("metro_rides"));
        if let Some(campaign) = found {
            break campaign["campaign_id"].as_u64().context("id")?;
        }
        anyhow::ensure!(started.elapsed() < PATIENCE, "shard 0 never defined it");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    wait_for_campaign(cluster, configured, |held| {
        held["config_key"] == json!("metro_rides") && held["status"] == json!("active")
    })?;
    let campaign = |name: &str, bonus: Value, budget: u64| {
        json!({"name": name, "kind": "metro", "bonus": bonus, "audience": "all",
               "starts_at": 0, "ends_at": ends_at, "budget_grams": budget})
    };
    let defined = cluster.admin(
        2,
        "POST",
        "/admin/campaigns",
        Some(campaign("Metro x2", json!({"multiply": 2}), 130)),
    )?;
    assert_eq!(defined["budget_grams"], json!(130), "{defined}");
    let doubled = defined["campaign_id"].as_u64().context("id")?;
    wait_for_campaign(cluster, doubled, |held| held["status"] == json!("active"))?;

    // Riders on every shard (a metro ride counts five times a day per player).
    let mut riders: Vec<(u16, u64, u32)> = Vec::new();
    for shard in 0..3u16 {
        for n in 0..4 {
            let (_, id) = player(&cluster.game_url(shard), &format!("rider{shard}-{n}")).await?;
            riders.push((shard, id, 0));
        }
    }
    let ride = |shard: u16, rider: u64, n: u32| {
        let body = json!({"player_id": rider, "kind": "metro", "ref": format!("ride-{rider}-{n}")});
        let answer = cluster.admin(shard, "POST", "/admin/actions", Some(body))?;
        anyhow::ensure!(answer["grams"] == json!(52), "a ride is credited: {answer}");
        Ok(())
    };
    let paid = |campaign: u64| -> Result<(u64, u64)> {
        let mut totals = (0, 0);
        for shard in 0..3 {
            let held = &campaigns_on(cluster, shard)?[&campaign];
            totals.0 += held["disbursed_grams"].as_u64().context("disbursed")?;
            totals.1 += held["bonuses"].as_u64().context("bonuses")?;
        }
        Ok(totals)
    };
    std::thread::scope(|scope| {
        let bursts: Vec<_> = (0..3u16)
            .map(|shard| {
                let (riders, ride) = (&riders, &ride);
                scope.spawn(move || {
                    for &(home, rider, _) in riders.iter().filter(|(home, ..)| *home == shard) {
                        ride(home, rider, 0)?;
                        ride(home, rider, 1)?;
                    }
                    anyhow::Ok(())
                })
            })
            .collect();
        bursts
            .into_iter()
            .try_for_each(|burst| burst.join().unwrap_or_else(|_| bail!("a burst panicked")))
    })?;
    for rider in &mut riders {
        rider.2 = 2;
    }
    for (campaign, budget) in [(configured, 100), (doubled, 130)] {
        let (disbursed, _) = paid(campaign)?;
        assert!(
            disbursed <= budget,
            "campaign {campaign} paid {disbursed} g of {budget} g"
        );
    }

    // More rides, each at a shard that holds some of a budget not yet spent.
    let started = Instant::now();
    while paid(configured)?.0 < 100 || paid(doubled)?.0 < 130 {
        anyhow::ensure!(started.elapsed() < PATIENCE, "budgets left unspent");
        let holding = |shard: u16| -> Result<bool> {
            let held = campaigns_on(cluster, shard)?;
            Ok([configured, doubled]
                .iter()
                .any(|campaign| held[campaign]["remaining_grams"] != json!(0)))
        };
        let mut rode = false;
        for rider in &mut riders {
            if rider.2 < 5 && holding(rider.0)? {
                ride(rider.0, rider.1, rider.2)?;
                rider.2 += 1;
                rode = true;
                break;
            }
        }
        if !rode {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(paid(configured)?, (100, 5), "five bonuses of 20 g");
    assert_eq!(paid(doubled)?, (130, 3), "52 + 52 + the 26 g left");

    // Closed at shard 0, closed everywhere.
    let closing = cluster.admin(
        1,
        "POST",
        "/admin/campaigns",
        Some(campaign("Closing", json!({"add": 5}), 10)),
    )?;
    let closing = closing["campaign_id"].as_u64().context("id")?;
    wait_for_campaign(cluster, closing, |held| held["status"] == json!("active"))?;
    cluster.admin(
        0,
        "POST",
        &format!("/admin/campaigns/{closing}/close"),
        None,
    )?;
    wait_for_campaign(cluster, closing, |held| held["status"] == json!("closed"))?;

    // What the shards held of it goes back to its ledger: the rest of every budget is
    // exactly what is unallotted.
    let audit = cluster.settled_audit(1, |audit| {
        let split = &audit["campaign_grams"];
        split["stranded"] == json!(0) && split["unallotted"] == json!(10)
    })?;
    let split = &audit["campaign_grams"];
    assert_eq!(split["budget"], json!(100 + 130 + 10), "{audit}");
    assert_eq!(split["allotted"], json!(100 + 130), "{audit}");
    assert_eq!(split["on_shards"], json!(100 + 130), "{audit}");
    Ok(())
}
