//! Online backup and restore: a backup taken while bots play holds every change
//! acknowledged before it was asked for; the restored store balances and plays; a
//! backup that cannot be written, or a restore onto a store, changes nothing.

mod support;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{
    ADMIN_TOKEN, Client, HOUR, PATIENCE, Server, assert_walk_replays, bin_dir, http, login,
};
use tokio::task::JoinHandle;

const BOTS: usize = 6;
/// Players of the generated world the bots join.
const WORLD_PLAYERS: u64 = 30_000;
/// Acknowledged changes the storm makes before the backup is asked for, and after it
/// answered: the backup runs in the middle of real writes however slow the machine.
const ACKS_BEFORE: usize = 40;
const ACKS_AFTER: usize = 20;
/// Between two rounds of a bot (at most two requests each): under the rate limit.
const ROUND_PAUSE: Duration = Duration::from_millis(150);

/// Something a bot was told is durable.
#[derive(Clone, Debug)]
enum Ack {
    /// `record_action` with this ref answered this result.
    Action {
        bot: usize,
        reference: String,
        steps: u64,
        result: Value,
    },
    /// This ball was collected and must not be back.
    Collected { bot: usize, ball: u64 },
    /// The bot's balance after a collect or a steal (balances only grow in this mix).
    Energy { bot: usize, energy: u64 },
}

/// One bot's closed loop of walks, collects and steals until `stop`; the manual clock
/// stands at `now` meanwhile.
async fn storm(
    game_addr: String,
    bot: usize,
    token: String,
    friends: Vec<u64>,
    now: u64,
    acks: Arc<Mutex<Vec<Ack>>>,
    stop: Arc<AtomicBool>,
) -> Result<()> {
    let mut client = Client::connect(&format!("ws://{game_addr}/ws")).await?;
    client.ok("login", json!({ "token": token })).await?;
    let push = |ack: Ack| acks.lock().expect("acks lock").push(ack);
    let mut steps = 0;
    for round in 0u64.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match round % 4 {
            0 => {
                let me = client.ok("me", json!({})).await?;
                let ripe = me["balls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|ball| ball["ripe_at"].as_u64().is_some_and(|at| at <= now))
                    .and_then(|ball| ball["ball_id"].as_u64());
                if let Some(ball) = ripe {
                    let reply = client.call("collect", json!({ "ball_id": ball })).await?;
                    if reply["ok"] == json!(true) {
                        let energy = reply["energy"].as_u64().context("energy")?;
                        push(Ack::Collected { bot, ball });
                        push(Ack::Energy { bot, energy });
                    }
                }
            }
            1 => {
                let friend = friends[(round as usize / 4) % friends.len()];
                let balls = client
                    .ok("friend_balls", json!({ "friend_id": friend }))
                    .await?;
                let target = balls["balls"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|ball| ball["stealable"].as_u64() > Some(0))
                    .and_then(|ball| ball["ball_id"].as_u64());
                if let Some(ball) = target {
                    let reply = client
                        .call("steal", json!({ "friend_id": friend, "ball_id": ball }))
                        .await?;
                    if reply["ok"] == json!(true) {
                        let energy = reply["energy"].as_u64().context("energy")?;
                        push(Ack::Energy { bot, energy });
                    }
                }
            }
            _ => {
                steps += 500;
                let reference = format!("s{steps}");
                let reply = client
                    .call(
                        "record_action",
                        json!({"kind": "walk", "quantity": steps, "ref": reference}),
                    )
                    .await?;
                if reply["ok"] == json!(true) {
                    push(Ack::Action {
                        bot,
                        reference,
                        steps,
                        result: reply,
                    });
                }
            }
        }
        tokio::time::sleep(ROUND_PAUSE).await;
    }
    Ok(())
}

fn action_acks(acks: &Mutex<Vec<Ack>>) -> usize {
    let acks = acks.lock().expect("acks lock");
    acks.iter()
        .filter(|ack| matches!(ack, Ack::Action { .. }))
        .count()
}

/// Waits (without a tight deadline: a loaded machine is slow, not failing) until the
/// bots have `count` acknowledged actions.
async fn wait_for_actions(
    acks: &Mutex<Vec<Ack>>,
    count: usize,
    bots: &[JoinHandle<Result<()>>],
) -> Result<()> {
    let deadline = Instant::now() + PATIENCE;
    while action_acks(acks) < count {
        if bots.iter().any(JoinHandle::is_finished) {
            bail!("a bot stopped before the storm ended");
        }
        if Instant::now() > deadline {
            bail!(
                "the bots got only {} of {count} acknowledged actions in {PATIENCE:?}",
                action_acks(acks)
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

/// Runs `canopy-server` with `args` and returns its output.
fn server_task(args: &[&str]) -> Result<Output> {
    Command::new(bin_dir().join("canopy-server"))
        .args(args)
        .output()
        .context("running canopy-server")
}

/// `canopy admin backup --to PATH --json` against the ops HTTP at `ops_addr`; returns
/// the report.
fn cli_backup(ops_addr: &str, to: &Path) -> Result<Value> {
    let output = Command::new(bin_dir().join("canopy"))
        .args(["--ops", ops_addr, "--admin-token", ADMIN_TOKEN])
        .args(["--json", "admin", "backup", "--to"])
        .arg(to)
        .output()
        .context("running canopy admin backup")?;
    if !output.status.success() {
        bail!(
            "canopy admin backup failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

fn restore(from: &Path, data_dir: &Path) -> Result<Value> {
    let output = server_task(&[
        "restore",
        "--from",
        &from.display().to_string(),
        "--data-dir",
        &data_dir.display().to_string(),
    ])?;
    if !output.status.success() {
        bail!(
            "restore failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(serde_json::from_slice(&output.stdout)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_load_holds_every_acknowledged_change_and_plays() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let live = dir.path().join("live");
    // Many players (no balls, so the world starts balanced): the scan takes long enough
    // that the storm's commits usually land during it and are replayed.
    let generated = server_task(&[
        "--data-dir",
        &live.display().to_string(),
        "generate",
        "--players",
        &WORLD_PLAYERS.to_string(),
        "--balls-per-player",
        "0",
        "--time",
        &support::START.to_string(),
    ])?;
    assert!(
        generated.status.success(),
        "{}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let server = Server::start_manual(&live)?;
    let mut bots = Vec::new();
    for n in 0..BOTS {
        let (_client, id, token) = support::player(&server, &format!("bot{n}")).await?;
        bots.push((id, token));
    }
    let ids: Vec<u64> = bots.iter().map(|(id, _)| *id).collect();
    for (n, (_, token)) in bots.iter().enumerate() {
        let mut me = login(&server, token).await?;
        for other in &ids[n + 1..] {
            me.ok("friend_request", json!({ "player_id": other }))
                .await?;
        }
    }
    for (n, (_, token)) in bots.iter().enumerate() {
        let mut me = login(&server, token).await?;
        for other in &ids[..n] {
            me.ok("friend_accept", json!({ "player_id": other }))
                .await?;
        }
    }
    // Balls that ripen at 07:00 the next morning, for the collects and steals of the
    // storm.
    for &id in &ids {
        for n in 0..3 {
            let (status, body) = server.admin(
                "/admin/actions",
                json!({"player_id": id, "kind": "metro", "quantity": 1, "ref": format!("m{n}")}),
            )?;
            assert_eq!(status, 200, "{body}");
        }
    }
    let now = server.advance(31 * HOUR)?;

    let acks = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (n, (_, token)) in bots.iter().enumerate() {
        let friends: Vec<u64> = ids.iter().copied().filter(|&f| f != ids[n]).collect();
        tasks.push(tokio::spawn(storm(
            server.game_addr.clone(),
            n,
            token.clone(),
            friends,
            now,
            acks.clone(),
            stop.clone(),
        )));
    }
    wait_for_actions(&acks, ACKS_BEFORE, &tasks).await?;
    // Every ack in the list now was received before the backup is asked for.
    let before: Vec<Ack> = acks.lock().expect("acks lock").clone();
    let path = dir.path().join("live.backup");
    let report = {
        let (ops_addr, path) = (server.ops_addr.clone(), path.clone());
        tokio::task::spawn_blocking(move || cli_backup(&ops_addr, &path)).await??
    };
    let acks_at_backup = action_acks(&acks);
    wait_for_actions(&acks, acks_at_backup + ACKS_AFTER, &tasks).await?;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        task.await??;
    }
    assert_eq!(
        report["path"],
        json!(path.display().to_string()),
        "{report}"
    );
    assert!(report["records"].as_u64() > Some(0), "{report}");
    assert!(server.stop()?.success());

    let restored_dir = dir.path().join("restored");
    let restored = restore(&path, &restored_dir)?;
    assert_eq!(restored["records"], report["records"], "{restored}");
    assert_eq!(restored["sha256"], report["sha256"], "{restored}");
    let server = Server::start(&restored_dir, &["--clock", "manual"])?;

    // Every acknowledged action replays its first result; collected balls stay gone;
    // balances are at least what the bots were told.
    let mut clients: HashMap<usize, Client> = HashMap::new();
    for (n, (_, token)) in bots.iter().enumerate() {
        clients.insert(n, login(&server, token).await?);
    }
    let mut collected: HashMap<usize, HashSet<u64>> = HashMap::new();
    let mut energy: HashMap<usize, u64> = HashMap::new();
    let mut actions = 0;
    for ack in &before {
        match ack {
            Ack::Action {
                bot,
                reference,
                steps,
                result,
            } => {
                let client = clients.get_mut(bot).context("bot client")?;
                let context = format!("ref {reference} of bot {bot}");
                assert_walk_replays(client, *steps, reference, result, &context).await?;
                actions += 1;
            }
            Ack::Collected { bot, ball } => {
                collected.entry(*bot).or_default().insert(*ball);
            }
            Ack::Energy { bot, energy: seen } => {
                let max = energy.entry(*bot).or_default();
                *max = (*max).max(*seen);
            }
        }
    }
    for (n, client) in &mut clients {
        let me = client.ok("me", json!({})).await?;
        let balance = me["player"]["energy"].as_u64().context("energy")?;
        let told = energy.get(n).copied().unwrap_or(0);
        assert!(
            balance >= told,
            "bot {n} has {balance} g, was told {told} g"
        );
        for ball in me["balls"].as_array().context("balls")? {
            let id = ball["ball_id"].as_u64().context("ball id")?;
            let gone = collected.get(n).is_some_and(|balls| balls.contains(&id));
            assert!(!gone, "ball {id} of bot {n} was collected but is back");
        }
    }
    server.audit()?;

    // The restored server plays: a new action, its ball ripens, and it is collected.
    let (status, body) = server.admin(
        "/admin/actions",
        json!({"player_id": ids[0], "kind": "metro", "quantity": 1, "ref": "after-restore"}),
    )?;
    assert_eq!(status, 200, "{body}");
    assert!(body["grams"].as_u64() > Some(0), "{body}");
    server.advance(24 * HOUR)?;
    let client = clients.get_mut(&0).context("bot 0")?;
    let picked = client.ok("collect_all", json!({})).await?;
    assert!(picked["grams"].as_u64() > Some(0), "{picked}");
    eprintln!(
        "backup test: {actions} acknowledged actions, {} collects and {} balances checked; \
         {} commits replayed",
        collected.values().map(HashSet::len).sum::<usize>(),
        energy.len(),
        report["commits_replayed"]
    );
    Ok(())
}

#[tokio::test]
async fn a_backup_that_cannot_be_written_or_restored_changes_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let live = dir.path().join("live");
    let server = Server::start_manual(&live)?;
    let (mut alice, alice_id, _) = support::player(&server, "alice").await?;
    alice
        .ok(
            "record_action",
            json!({"kind": "walk", "quantity": 5_000, "ref": "w1"}),
        )
        .await?;
    let listing = || -> Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())?
            .map(|entry| Ok(entry?.file_name().to_string_lossy().into_owned()))
            .collect::<Result<_>>()?;
        names.sort();
        Ok(names)
    };

    let nowhere = dir.path().join("no-such-dir").join("x.backup");
    let (status, body) = server.admin(
        "/admin/backup",
        json!({ "to": nowhere.display().to_string() }),
    )?;
    assert_eq!(status, 400, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("cannot create"), "{body}");
    let (status, body) = server.admin("/admin/backup", json!({ "to": "relative.backup" }))?;
    assert_eq!(status, 400, "{body}");
    let (status, _) = http(
        &server.ops_addr,
        "POST",
        "/admin/backup",
        None,
        Some(json!({ "to": dir.path().join("y.backup").display().to_string() })),
    )?;
    assert_eq!(status, 401);
    assert_eq!(listing()?, vec!["live"], "refused backups wrote nothing");

    let path = dir.path().join("live.backup");
    let (status, body) =
        server.admin("/admin/backup", json!({ "to": path.display().to_string() }))?;
    assert_eq!(status, 200, "{body}");
    let (status, body) =
        server.admin("/admin/backup", json!({ "to": path.display().to_string() }))?;
    assert_eq!(status, 409, "a backup never overwrites one: {body}");

    // Neither a restore onto the live store nor an offline backup of it runs.
    let output = server_task(&[
        "restore",
        "--from",
        &path.display().to_string(),
        "--data-dir",
        &live.display().to_string(),
    ])?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("is not empty"), "{stderr}");
    let offline = dir.path().join("offline.backup");
    let output = server_task(&[
        "backup",
        "--data-dir",
        &live.display().to_string(),
        "--to",
        &offline.display().to_string(),
    ])?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("canopy admin backup"), "{stderr}");
    assert_eq!(listing()?, vec!["live", "live.backup"]);

    // The server still plays, and once stopped its store backs up offline too.
    let reply = alice
        .ok(
            "record_action",
            json!({"kind": "walk", "quantity": 6_000, "ref": "w2"}),
        )
        .await?;
    assert_eq!(reply["ok"], json!(true));
    assert!(server.stop()?.success());
    let output = server_task(&[
        "backup",
        "--data-dir",
        &live.display().to_string(),
        "--to",
        &offline.display().to_string(),
    ])?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let restored = dir.path().join("restored");
    restore(&offline, &restored)?;
    let server = Server::start(&restored, &["--clock", "manual"])?;
    let (status, body) = server.admin(
        "/admin/actions",
        json!({"player_id": alice_id, "kind": "metro", "quantity": 1, "ref": "m1"}),
    )?;
    assert_eq!(status, 200, "{body}");
    support::player(&server, "bob").await?;
    Ok(())
}
