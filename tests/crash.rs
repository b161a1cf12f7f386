//! Crash test: concurrent bots play while the server is SIGKILLed (and now and then
//! stopped with SIGTERM) at random moments and restarted on the same data. Every change
//! whose `ok` reply a bot received must still be there, refs must still deduplicate,
//! and the ledger must balance.

mod support;

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use support::{Client, HOUR, Server, assert_walk_replays, http, login};

/// Server kills per run (CI); the long run in docs/RELIABILITY.md uses more.
const KILLS: usize = 10;
const BOTS: usize = 6;
/// Acknowledged actions each round waits for before its stop, so the whole run proves
/// something (more than 50 acks) however slowly a loaded machine plays.
const ACKS_PER_ROUND: usize = 5;

/// Something a bot was told is durable.
#[derive(Clone, Debug)]
enum Ack {
    /// `record_action` of this day's `steps` with this ref answered this result.
    Action {
        bot: usize,
        steps: u64,
        reference: String,
        result: Value,
    },
    /// This ball was collected (or emptied) and must never come back.
    Ended { ball: u64 },
}

struct Bot {
    token: String,
    id: u64,
}

fn kills() -> usize {
    std::env::var("CANOPY_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(KILLS)
}

/// How long a bot waits between two moves: under the server's per-connection rate limit
/// (20 a second, a move being one or two requests), which would otherwise answer
/// RATE_LIMITED and, after 50 strikes, close the bot, however fast the server answers.
const MOVE_PAUSE: Duration = Duration::from_millis(100);

/// One bot's closed loop on game day `day` until its connection drops (the kill) or
/// `rounds` run out; counts its acknowledged actions in `acked` as they come.
#[allow(clippy::too_many_arguments)]
async fn play(
    server_addr: String,
    bot: usize,
    token: String,
    id: u64,
    day: usize,
    friends: Vec<u64>,
    seed: u64,
    acked: Arc<AtomicUsize>,
) -> Vec<Ack> {
    let mut acks = Vec::new();
    let Ok(mut client) = Client::connect(&format!("ws://{server_addr}/ws")).await else {
        return acks;
    };
    if client.ok("login", json!({ "token": token })).await.is_err() {
        return acks;
    }
    // Steps count from 0 each game day (each round is a new day), so a fast machine
    // never walks past the 100,000 plausible steps a day and gets every report refused.
    let mut steps = 0;
    let mut rng = seed;
    for round in 0u64.. {
        if round > 0 {
            tokio::time::sleep(MOVE_PAUSE).await;
        }
        rng = rng
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pick = (rng >> 33) % 10;
        let outcome = match pick {
            0..=4 => {
                steps += 500;
                let reference = format!("d{day}-s{steps}");
                let reply = client
                    .call(
                        "record_action",
                        json!({"kind": "walk", "quantity": steps, "ref": reference}),
                    )
                    .await;
                reply.map(|r| {
                    if r["ok"] == json!(true) {
                        acked.fetch_add(1, Ordering::SeqCst);
                        acks.push(Ack::Action {
                            bot,
                            steps,
                            reference,
                            result: r,
                        });
                    }
                })
            }
            5..=6 => client.call("me", json!({})).await.map(|r| {
                if let Some(ball) = r["balls"].as_array().and_then(|b| b.first()) {
                    let _ = ball;
                }
            }),
            7 => {
                let me = client.call("me", json!({})).await;
                match me {
                    Ok(me) => {
                        let ripe: Vec<u64> = me["balls"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter(|b| {
                                b["ripe_at"].as_u64() <= me["time"].as_u64().or(Some(u64::MAX))
                            })
                            .filter_map(|b| b["ball_id"].as_u64())
                            .collect();
                        let mut result = Ok(());
                        for ball in ripe.into_iter().take(1) {
                            match client.call("collect", json!({"ball_id": ball})).await {
                                Ok(r) if r["ok"] == json!(true) => acks.push(Ack::Ended { ball }),
                                Ok(_) => {}
                                Err(err) => result = Err(err),
                            }
                        }
                        result
                    }
                    Err(err) => Err(err),
                }
            }
            8 => {
                let friend = friends[(rng as usize / 7) % friends.len()];
                client
                    .call("water", json!({"friend_id": friend, "grams": 10}))
                    .await
                    .map(|_| ())
            }
            _ => {
                let friend = friends[(rng as usize / 11) % friends.len()];
                match client
                    .call("friend_balls", json!({"friend_id": friend}))
                    .await
                {
                    Ok(balls) => {
                        let target = balls["balls"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .find(|b| b["stealable"].as_u64() > Some(0))
                            .and_then(|b| b["ball_id"].as_u64());
                        match target {
                            Some(ball) => client
                                .call("steal", json!({"friend_id": friend, "ball_id": ball}))
                                .await
                                .map(|_| ()),
                            None => Ok(()),
                        }
                    }
                    Err(err) => Err(err),
                }
            }
        };
        if outcome.is_err() || round > 10_000 {
            break;
        }
        let _ = id;
    }
    acks
}

fn ledger_totals(server: &Server) -> Result<BTreeMap<String, u64>> {
    let (_, body) = http(&server.ops_addr, "GET", "/metrics", None, None)?;
    let text = body.as_str().context("metrics text")?.to_owned();
    Ok(text
        .lines()
        .filter_map(|line| line.strip_prefix("canopy_ledger_grams{flow=\""))
        .filter_map(|rest| {
            let (flow, value) = rest.split_once("\"} ")?;
            Some((flow.to_owned(), value.trim().parse().ok()?))
        })
        .collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_random_sigkills() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut server = Server::start_manual(dir.path())?;
    let mut bots = Vec::new();
    for n in 0..BOTS {
        let (_client, id, token) = support::player(&server, &format!("bot{n}")).await?;
        bots.push(Bot { token, id });
    }
    let ids: Vec<u64> = bots.iter().map(|b| b.id).collect();
    for (n, bot) in bots.iter().enumerate() {
        let mut me = login(&server, &bot.token).await?;
        for other in &ids[n + 1..] {
            me.ok("friend_request", json!({"player_id": other})).await?;
        }
    }
    for (n, bot) in bots.iter().enumerate() {
        let mut me = login(&server, &bot.token).await?;
        for other in &ids[..n] {
            me.ok("friend_accept", json!({"player_id": other})).await?;
        }
    }

    let mut acks: Vec<Ack> = Vec::new();
    let mut seed = 0x5eed_u64;
    // Every third stop is a graceful SIGTERM under load; the rest are SIGKILLs.
    let stops = kills() + kills() / 2;
    for kill in 0..stops {
        // Ripen yesterday's balls so collects and steals have work.
        server.advance(24 * HOUR)?;
        let acked = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for (n, bot) in bots.iter().enumerate() {
            let friends: Vec<u64> = ids.iter().copied().filter(|&f| f != bot.id).collect();
            seed = seed
                .wrapping_mul(31)
                .wrapping_add(kill as u64 * 7 + n as u64);
            tasks.push(tokio::spawn(play(
                server.game_addr.clone(),
                n,
                bot.token.clone(),
                bot.id,
                kill,
                friends,
                seed,
                acked.clone(),
            )));
        }
        // A random moment, but not before the bots got a few acks in this round.
        let pause = 300 + (seed % 700);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        let deadline = Instant::now() + support::PATIENCE;
        while acked.load(Ordering::SeqCst) < ACKS_PER_ROUND {
            assert!(
                Instant::now() < deadline,
                "round {kill}: the bots got only {} acks in {:?}",
                acked.load(Ordering::SeqCst),
                support::PATIENCE
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let restart_from = server.restart_args();
        if kill % 3 == 2 {
            let status = server.stop()?;
            assert!(
                status.success(),
                "a SIGTERM under load exits cleanly: {status}"
            );
        } else {
            server.kill()?;
        }
        for task in tasks {
            acks.extend(task.await?);
        }
        server = Server::start(
            dir.path(),
            &restart_from.iter().map(String::as_str).collect::<Vec<_>>(),
        )?;
    }

    let actions = acks
        .iter()
        .filter(|a| matches!(a, Ack::Action { .. }))
        .count();
    let ended: HashSet<u64> = acks
        .iter()
        .filter_map(|a| match a {
            Ack::Ended { ball } => Some(*ball),
            _ => None,
        })
        .collect();
    assert!(
        actions > 50,
        "the bots got {actions} acknowledged actions: too few to prove much"
    );

    // Every acknowledged action replays its first result: the receipt and its ball are durable.
    // A connection replays at most REPLAYS_PER_CONNECTION, within the rate limit's burst
    // however fast the server answers, then the bot logs in again.
    const REPLAYS_PER_CONNECTION: usize = 30;
    let mut clients: HashMap<usize, (Client, usize)> = HashMap::new();
    for ack in &acks {
        if let Ack::Action {
            bot,
            steps,
            reference,
            result,
        } = ack
        {
            if clients
                .get(bot)
                .is_none_or(|(_, replays)| *replays >= REPLAYS_PER_CONNECTION)
            {
                clients.insert(*bot, (login(&server, &bots[*bot].token).await?, 0));
            }
            let (client, replays) = clients.get_mut(bot).context("a replay connection")?;
            *replays += 1;
            let context = format!("ref {reference} of bot {bot}");
            assert_walk_replays(client, *steps, reference, result, &context).await?;
        }
    }

    // Collected balls never come back; no ball is held twice; the ledger balances.
    let mut seen = HashSet::new();
    let (mut balances, mut in_balls) = (0u64, 0u64);
    for bot in &bots {
        let mut client = login(&server, &bot.token).await?;
        let me = client.ok("me", json!({})).await?;
        balances += me["player"]["energy"].as_u64().context("energy")?;
        for ball in me["balls"].as_array().context("balls")? {
            let id = ball["ball_id"].as_u64().context("ball id")?;
            if ended.contains(&id) {
                bail!("ball {id} was collected (acknowledged) but is back after a crash");
            }
            assert!(seen.insert(id), "ball {id} listed twice");
            in_balls += ball["amount"].as_u64().context("amount")?;
        }
    }
    let totals = ledger_totals(&server)?;
    let total = |flow: &str| totals.get(flow).copied().unwrap_or(0);
    assert_eq!(
        total("created"),
        balances + in_balls + total("in_team_trees") + total("planted") + total("expired"),
        "created = balances + balls + team trees + planted + expired ({totals:?})"
    );
    let (status, audit) = http(
        &server.ops_addr,
        "GET",
        "/admin/audit",
        Some(support::ADMIN_TOKEN),
        None,
    )?;
    assert_eq!(status, 200, "{audit}");
    assert_eq!(
        audit["balanced"],
        json!(true),
        "per ball, per player and in total: {audit}"
    );
    eprintln!(
        "crash test: {} SIGKILLs and {} SIGTERMs survived, {actions} acknowledged actions and {} acknowledged collects checked",
        stops - stops / 3,
        stops / 3,
        ended.len()
    );
    Ok(())
}

/// A rain round in flight when the server is SIGKILLed keeps every tap it acknowledged;
/// when its end passed while the server was down, the first tick after the restart
/// settles it, and a second crash and restart never credit it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rain_round_whose_end_passed_while_down_settles_exactly_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut client, _id, token) = support::player(&server, "mei").await?;
    let round = client.ok("rain_start", json!({})).await?["round"].clone();
    let starts_at = round["starts_at"].as_u64().context("starts_at")?;
    let ends_at = round["ends_at"].as_u64().context("ends_at")?;
    let mut now = client.ok("ping", json!({})).await?["time"]
        .as_u64()
        .context("time")?;
    let mut balls: Vec<(u64, u64, u64)> = round["balls"]
        .as_array()
        .context("balls")?
        .iter()
        .filter_map(|ball| {
            let mid = ball["appear_ms"].as_u64()? + ball["fall_ms"].as_u64()? / 2;
            Some((
                starts_at + mid,
                ball["ball"].as_u64()?,
                ball["grams"].as_u64()?,
            ))
        })
        .collect();
    balls.sort_unstable();
    let mut caught = 0;
    for &(at, ball, grams) in balls.iter().step_by(4) {
        now = server.advance(at - now)?;
        let tap = json!({"round_id": round["round_id"], "ball": ball, "at": at});
        assert_eq!(client.ok("rain_tap", tap).await?["grams"], json!(grams));
        caught += grams;
    }
    assert!(now < ends_at, "the round is still in flight at the kill");
    server.kill()?;

    let after_the_end = ends_at + 60_000;
    let args = [
        "--clock",
        "manual",
        "--clock-start",
        &after_the_end.to_string(),
    ];
    for restart in 0..2 {
        let server = Server::start(dir.path(), &args)?;
        let mut client = login(&server, &token).await?;
        let me = client.ok("me", json!({})).await?;
        assert_eq!(
            me["player"]["energy"],
            json!(caught),
            "restart {restart}: the acknowledged taps are credited once"
        );
        assert_eq!(client.ok("rain", json!({})).await?["round"], Value::Null);
        let (status, audit) = http(
            &server.ops_addr,
            "GET",
            "/admin/audit",
            Some(support::ADMIN_TOKEN),
            None,
        )?;
        assert_eq!(status, 200, "{audit}");
        assert_eq!(audit["balanced"], json!(true), "{audit}");
        assert_eq!(
            (&audit["rained"], &audit["rain_rounds"]),
            (&json!(caught), &json!(1))
        );
        server.kill()?;
    }
    Ok(())
}
