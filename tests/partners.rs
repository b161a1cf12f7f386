//! The partner API over real sockets: signed calls and every refusal (tampered body,
//! wrong key, stale timestamp, replay, scope, suspension, rate), idempotency by `ref`
//! across a restart, key rotation, a partner key on admin endpoints, the audit log, and
//! keys sealed at rest under the partner secret (a wrong secret refuses the start).

mod support;

use anyhow::{Context, Result};
use canopy_shared::partner;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use support::{ADMIN_TOKEN, HttpAnswer, Server, http, http_raw, player};

const ACTIONS: &str = "/partner/v1/actions";

fn unix_now() -> Result<u64> {
    Ok(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())
}

/// A partner as the tests drive it: its id and key.
struct Partner {
    id: u64,
    key: String,
}

impl Partner {
    /// Registers a partner through the admin API.
    fn register(server: &Server, kinds: &[&str], rate_per_minute: u32) -> Result<Self> {
        Self::register_with(server, kinds, rate_per_minute, false)
    }

    /// Registers a partner that may (or may not) publish tasks.
    fn register_with(
        server: &Server,
        kinds: &[&str],
        rate_per_minute: u32,
        may_publish_tasks: bool,
    ) -> Result<Self> {
        let (status, body) = server.admin(
            "/admin/partners",
            json!({"name": "Metro Co", "kinds": kinds, "rate_per_minute": rate_per_minute,
                   "may_publish_tasks": may_publish_tasks}),
        )?;
        anyhow::ensure!(status == 200, "partner add: {status} {body}");
        Ok(Self {
            id: body["partner"]["partner_id"]
                .as_u64()
                .context("partner_id")?,
            key: body["api_key"].as_str().context("api_key")?.to_owned(),
        })
    }

    /// The three signature headers for `body` sent to `path` at `timestamp`, signed
    /// with `key`.
    fn headers(&self, key: &str, path: &str, timestamp: u64, body: &str) -> Vec<(String, String)> {
        support::partner_headers(self.id, key, path, timestamp, body)
    }

    /// POSTs `body` to `path` with the given headers.
    fn send(
        server: &Server,
        path: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> Result<HttpAnswer> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        http_raw(&server.ops_addr, "POST", path, &headers, body)
    }

    /// A call signed now with this partner's key.
    fn call(&self, server: &Server, path: &str, body: &Value) -> Result<HttpAnswer> {
        self.call_with_key(server, &self.key, path, body)
    }

    fn call_with_key(
        &self,
        server: &Server,
        key: &str,
        path: &str,
        body: &Value,
    ) -> Result<HttpAnswer> {
        support::partner_post(&server.ops_addr, self.id, key, path, body)
    }
}

fn code(answer: &HttpAnswer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn signed_actions_are_credited_once_and_every_forgery_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (_client, player_id, _) = player(&server, "rider").await?;
    let metro = Partner::register(&server, &["metro"], 600)?;
    assert!(metro.key.starts_with(partner::API_KEY_PREFIX));

    let ride = json!({"player_id": player_id, "kind": "metro", "ref": "ride-1"});
    let first = metro.call(&server, ACTIONS, &ride)?;
    assert_eq!(first.status, 200, "{}", first.body);
    assert!(
        first.body["grams"].as_u64().is_some_and(|grams| grams > 0),
        "{}",
        first.body
    );
    let ball = first.body["ball"]["ball_id"].clone();

    let retry = metro.call(&server, ACTIONS, &ride)?;
    assert_eq!(retry.status, 200, "a retry signed afresh is answered");
    assert_eq!(
        retry.body, first.body,
        "with the first answer, not a second credit"
    );

    let reused = json!({"player_id": player_id, "kind": "metro", "ref": "ride-1", "quantity": 1});
    let conflict = metro.call(&server, ACTIONS, &reused)?;
    assert_eq!(
        (conflict.status, code(&conflict)),
        (409, "CONFLICT"),
        "{}",
        conflict.body
    );

    let body = json!({"player_id": player_id, "kind": "metro", "ref": "ride-2"}).to_string();
    let headers = metro.headers(&metro.key, ACTIONS, unix_now()?, &body);
    assert_eq!(
        Partner::send(&server, ACTIONS, &headers, &body)?.status,
        200
    );
    let replayed = Partner::send(&server, ACTIONS, &headers, &body)?;
    assert_eq!(
        (replayed.status, code(&replayed)),
        (401, "UNAUTHENTICATED"),
        "replay"
    );

    let tampered_body = body.replace("ride-2", "ride-3");
    let headers = metro.headers(&metro.key, ACTIONS, unix_now()?, &body);
    let tampered = Partner::send(&server, ACTIONS, &headers, &tampered_body)?;
    assert_eq!(tampered.status, 401, "tampered body: {}", tampered.body);

    let ride4 = json!({"player_id": player_id, "kind": "metro", "ref": "ride-4"});
    let forged = metro.call_with_key(&server, "cpk_not-the-key", ACTIONS, &ride4)?;
    assert_eq!(forged.status, 401, "wrong key");

    let body = ride4.to_string();
    for stale in [unix_now()? - 301, unix_now()? + 400] {
        let headers = metro.headers(&metro.key, ACTIONS, stale, &body);
        let refused = Partner::send(&server, ACTIONS, &headers, &body)?;
        assert_eq!(refused.status, 401, "stale timestamp: {}", refused.body);
        assert!(
            refused.body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("300 s"))
        );
    }
    let unsigned = http_raw(&server.ops_addr, "POST", ACTIONS, &[], &body)?;
    assert_eq!(unsigned.status, 401, "unsigned");

    let payment = json!({"player_id": player_id, "kind": "offline_payment", "ref": "pay-1"});
    let out_of_scope = metro.call(&server, ACTIONS, &payment)?;
    assert_eq!(
        (out_of_scope.status, code(&out_of_scope)),
        (403, "FORBIDDEN")
    );

    for path in ["/admin/actions", "/admin/partners", "/admin/clock/advance"] {
        let bearer = http(
            &server.ops_addr,
            "POST",
            path,
            Some(&metro.key),
            Some(ride4.clone()),
        )?;
        assert_eq!(bearer.0, 401, "the partner key is no ops token on {path}");
        let signed = metro.call(&server, path, &ride4)?;
        assert_eq!(signed.status, 401, "a signed call is no ops call on {path}");
    }

    let (status, audit) = http(
        &server.ops_addr,
        "GET",
        &format!("/admin/partners/{}/audit", metro.id),
        Some(ADMIN_TOKEN),
        None,
    )?;
    assert_eq!(status, 200, "{audit}");
    let entries = audit["entries"].as_array().context("entries")?;
    let summary: Vec<(&str, &str)> = entries
        .iter()
        .map(|entry| {
            (
                entry["ref"].as_str().unwrap_or(""),
                entry["result"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![("pay-1", "FORBIDDEN"), ("ride-2", "ok"), ("ride-1", "ok")],
        "the calls that reached the game, newest first; retries replay without new entries"
    );
    assert_eq!(entries[2]["call"], "POST /partner/v1/actions");
    assert_eq!(entries[2]["player_id"], player_id);
    assert_eq!(entries[2]["grams"], first.body["grams"]);
    server.audit()?;

    server.kill()?;
    let server = Server::start_manual(dir.path())?;
    let after_restart = metro.call(&server, ACTIONS, &ride)?;
    assert_eq!(after_restart.status, 200, "the key survives a restart");
    assert_eq!(
        after_restart.body["ball"]["ball_id"], ball,
        "and so does the receipt"
    );
    server.audit().map(drop)
}

#[tokio::test]
async fn rotation_suspension_and_the_rate_limit() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (_client, player_id, _) = player(&server, "payer").await?;
    let mut shop = Partner::register(&server, &["offline_payment"], 3)?;
    let pay = |n: u32| json!({"player_id": player_id, "kind": "offline_payment", "ref": format!("pay-{n}")});

    let old_key = shop.key.clone();
    let (status, rotated) = server.admin(
        &format!("/admin/partners/{}/rotate-key", shop.id),
        json!({}),
    )?;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["partner"]["key_version"], 2);
    shop.key = rotated["api_key"].as_str().context("api_key")?.to_owned();
    assert_ne!(shop.key, old_key);
    let refused = shop.call_with_key(&server, &old_key, ACTIONS, &pay(1))?;
    assert_eq!(refused.status, 401, "the old key is refused after rotation");
    assert_eq!(
        shop.call(&server, ACTIONS, &pay(1))?.status,
        200,
        "the new key works"
    );

    let (status, _) = server.admin(&format!("/admin/partners/{}/suspend", shop.id), json!({}))?;
    assert_eq!(status, 200);
    let suspended = shop.call(&server, ACTIONS, &pay(2))?;
    assert_eq!((suspended.status, code(&suspended)), (403, "FORBIDDEN"));
    let (status, listed) = http(
        &server.ops_addr,
        "GET",
        "/admin/partners",
        Some(ADMIN_TOKEN),
        None,
    )?;
    assert_eq!(status, 200);
    assert_eq!(listed["partners"][0]["status"], "suspended");
    assert!(
        listed.to_string().find(&shop.key).is_none(),
        "keys are never listed"
    );

    let (status, _) = server.admin(&format!("/admin/partners/{}/activate", shop.id), json!({}))?;
    assert_eq!(status, 200);
    assert_eq!(shop.call(&server, ACTIONS, &pay(2))?.status, 200);
    assert_eq!(shop.call(&server, ACTIONS, &pay(3))?.status, 200);
    let over = shop.call(&server, ACTIONS, &pay(4))?;
    assert_eq!(
        (over.status, code(&over)),
        (429, "RATE_LIMITED"),
        "{}",
        over.body
    );
    let retry_after: u64 = over.header("retry-after").context("Retry-After")?.parse()?;
    assert!((1..=21).contains(&retry_after), "3 a minute: {retry_after}");

    let missing = server.admin("/admin/partners/99/suspend", json!({}))?;
    assert_eq!(missing.0, 404);
    let invalid = server.admin(
        "/admin/partners",
        json!({"name": "x", "kinds": ["teleport"], "rate_per_minute": 10}),
    )?;
    assert_eq!(invalid.0, 400, "{}", invalid.1);
    Ok(())
}

#[tokio::test]
async fn keys_are_sealed_under_a_secret_beside_the_store_and_a_wrong_one_is_refused() -> Result<()>
{
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (_client, player_id, _) = player(&server, "rider").await?;
    let metro = Partner::register(&server, &["metro"], 600)?;
    let secret_file = dir.path().join("partner-secret");
    let meta = std::fs::metadata(&secret_file).context("the secret made at first start")?;
    assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (32, 0o600));
    server.stop()?;

    let secret = std::fs::read(&secret_file)?;
    let other: Vec<u8> = secret.iter().map(|byte| byte ^ 0x5a).collect();
    std::fs::write(&secret_file, &other)?;
    let refused = Server::start_manual(dir.path())
        .err()
        .context("a start with another secret must be refused")?;
    assert!(
        refused
            .to_string()
            .contains("does not open partner 1's sealed key"),
        "{refused:#}"
    );

    std::fs::write(&secret_file, &secret)?;
    let server = Server::start_manual(dir.path())?;
    let ride = json!({"player_id": player_id, "kind": "metro", "ref": "ride-1"});
    let answer = metro.call(&server, ACTIONS, &ride)?;
    assert_eq!(
        answer.status, 200,
        "its own secret opens it: {}",
        answer.body
    );
    server.audit().map(drop)
}

/// A task published by `partner`, open from the manual clock's start for two days.
fn publish(
    server: &Server,
    partner: &Partner,
    audience: Value,
    reward: u64,
    per_player_limit: u32,
    budget: u64,
) -> Result<u64> {
    let task = json!({
        "title": "Ride the metro", "description": "Take one ride", "reward_grams": reward,
        "audience": audience, "starts_at": support::START,
        "ends_at": support::START + 48 * support::HOUR,
        "per_player_limit": per_player_limit, "budget_grams": budget, "ref": "publish-1",
    });
    let answer = partner.call(server, "/partner/v1/tasks", &task)?;
    anyhow::ensure!(
        answer.status == 200,
        "publish: {} {}",
        answer.status,
        answer.body
    );
    answer.body["task_id"].as_u64().context("task_id")
}

fn complete(
    server: &Server,
    partner: &Partner,
    task: u64,
    player: u64,
    reference: &str,
) -> Result<HttpAnswer> {
    let path = format!("/partner/v1/tasks/{task}/complete");
    partner.call(
        server,
        &path,
        &json!({"player_id": player, "ref": reference}),
    )
}

#[tokio::test]
async fn tasks_reward_accepted_completions_within_their_rules() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut alice, alice_id, _) = player(&server, "alice").await?;
    let (mut bob, bob_id, _) = player(&server, "bob").await?;
    let (mut carol, carol_id, _) = player(&server, "carol").await?;
    let shop = Partner::register_with(&server, &[], 600, true)?;
    let other = Partner::register_with(&server, &[], 600, true)?;
    let plain = Partner::register(&server, &["metro"], 600)?;
    let audience = json!({"players": [alice_id, bob_id]});
    let task = publish(&server, &shop, audience, 30, 2, 1_000)?;

    let listed = alice.ok("tasks", json!({})).await?;
    assert_eq!(listed["tasks"][0]["task_id"], task, "{listed}");
    assert_eq!(listed["tasks"][0]["accepted"], false);
    let none = carol.ok("tasks", json!({})).await?;
    assert_eq!(none["tasks"], json!([]), "carol is outside the audience");
    assert_eq!(
        carol
            .error_code("task_accept", json!({"task_id": task}))
            .await?,
        "NOT_ELIGIBLE"
    );
    let accepted = alice.ok("task_accept", json!({"task_id": task})).await?;
    assert_eq!(accepted["task"]["accepted"], true);

    let refused = complete(&server, &shop, task, bob_id, "bob-1")?;
    assert_eq!(
        (refused.status, code(&refused)),
        (422, "NOT_ACCEPTED"),
        "{}",
        refused.body
    );
    let refused = complete(&server, &shop, task, carol_id, "carol-1")?;
    assert_eq!(code(&refused), "NOT_ELIGIBLE");
    let refused = complete(&server, &other, task, alice_id, "other-1")?;
    assert_eq!(
        (refused.status, code(&refused)),
        (403, "FORBIDDEN"),
        "not its task"
    );
    let refused = complete(&server, &plain, task, alice_id, "plain-1")?;
    assert_eq!(code(&refused), "FORBIDDEN", "a partner without task rights");

    let first = complete(&server, &shop, task, alice_id, "alice-1")?;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["grams"], 30);
    assert_eq!(first.body["remaining_grams"], 970);
    assert_eq!(first.body["ball"]["source"], "task");
    let event = alice
        .wait_event(|event| matches!(event, canopy_shared::Event::TaskCompleted { .. }))
        .await?;
    let canopy_shared::Event::TaskCompleted { grams, ball_id, .. } = event else {
        unreachable!("waited for a task_completed event");
    };
    assert_eq!(
        (grams, ball_id.map(|id| Value::from(id.0))),
        (30, Some(first.body["ball"]["ball_id"].clone()))
    );
    let retried = complete(&server, &shop, task, alice_id, "alice-1")?;
    assert_eq!(
        retried.body, first.body,
        "a retried ref is answered, not paid twice"
    );
    assert_eq!(
        complete(&server, &shop, task, alice_id, "alice-2")?.status,
        200
    );
    let over = complete(&server, &shop, task, alice_id, "alice-3")?;
    assert_eq!(code(&over), "LIMIT_REACHED", "{}", over.body);

    bob.ok("task_accept", json!({"task_id": task})).await?;
    let pause = json!({"status": "paused", "ref": "pause-1"});
    let paused = shop.call(&server, &format!("/partner/v1/tasks/{task}/status"), &pause)?;
    assert_eq!(paused.body["status"], "paused", "{}", paused.body);
    assert_eq!(
        code(&complete(&server, &shop, task, bob_id, "bob-2")?),
        "TASK_CLOSED"
    );
    let reopen = json!({"status": "open", "ref": "open-1"});
    let reopened = shop.call(
        &server,
        &format!("/partner/v1/tasks/{task}/status"),
        &reopen,
    )?;
    assert_eq!(reopened.body["status"], "open");
    server.advance(48 * support::HOUR)?;
    let late = complete(&server, &shop, task, bob_id, "bob-3")?;
    assert_eq!(code(&late), "OUTSIDE_WINDOW", "{}", late.body);

    let audit = server.audit()?;
    assert_eq!(audit["task_budgets"], 1_000);
    assert_eq!(audit["task_disbursed"], 60);
    assert_eq!(audit["task_remaining"], 940);
    let (_, tasks) = http(
        &server.ops_addr,
        "GET",
        "/admin/tasks",
        Some(ADMIN_TOKEN),
        None,
    )?;
    assert_eq!(tasks["tasks"][0]["completions"], 2, "{tasks}");
    Ok(())
}

/// Players that accepted the task, each on its own connection.
async fn accepting_players(server: &Server, task: u64, count: usize) -> Result<Vec<u64>> {
    let mut ids = Vec::with_capacity(count);
    for n in 0..count {
        let (mut client, id, _) = player(server, &format!("p{n}")).await?;
        client.ok("task_accept", json!({"task_id": task})).await?;
        ids.push(id);
    }
    Ok(ids)
}

/// Sends every completion at once from `threads` threads, counting answers in
/// `answered` as they come; the answers by ref (an error where the server was gone).
fn complete_all(
    server: &Server,
    partner: &Partner,
    task: u64,
    completions: &[(u64, String)],
    threads: usize,
    answered: &AtomicUsize,
) -> Vec<(String, Result<HttpAnswer>)> {
    let chunk = completions.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = completions
            .chunks(chunk)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(player, reference)| {
                            let answer = complete(server, partner, task, *player, reference);
                            answered.fetch_add(1, Ordering::SeqCst);
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
    })
}

#[tokio::test]
async fn a_thousand_concurrent_completions_never_overspend_the_budget() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let shop = Partner::register_with(&server, &[], 60_000, true)?;
    let task = publish(&server, &shop, json!("all"), 10, 1_000, 1_000)?;
    let players = accepting_players(&server, task, 10).await?;
    let completions: Vec<(u64, String)> = (0..1_000)
        .map(|n| (players[n % players.len()], format!("done-{n}")))
        .collect();

    let answers = complete_all(
        &server,
        &shop,
        task,
        &completions,
        100,
        &AtomicUsize::new(0),
    );
    let mut rewarded = 0;
    let mut exhausted = 0;
    for (reference, answer) in &answers {
        let answer = answer
            .as_ref()
            .map_err(|err| anyhow::anyhow!("{reference}: {err}"))?;
        match (answer.status, code(answer)) {
            (200, _) => rewarded += 1,
            (422, "BUDGET_EXHAUSTED") => exhausted += 1,
            other => anyhow::bail!("{reference}: unexpected answer {other:?} {}", answer.body),
        }
    }
    assert_eq!(
        (rewarded, exhausted),
        (100, 900),
        "exactly the budget's worth"
    );

    let audit = server.audit()?;
    assert_eq!(
        (&audit["task_disbursed"], &audit["task_remaining"]),
        (&json!(1_000), &json!(0)),
        "{audit}"
    );
    let (_, tasks) = http(
        &server.ops_addr,
        "GET",
        "/admin/tasks",
        Some(ADMIN_TOKEN),
        None,
    )?;
    assert_eq!(tasks["tasks"][0]["status"], "exhausted");
    assert_eq!(tasks["tasks"][0]["completions"], 100);
    Ok(())
}

/// Kills the server with SIGKILL once `answered` reaches `after` (or the sends end).
fn kill_after(
    server: &Server,
    answered: &AtomicUsize,
    after: usize,
    sending: &dyn Fn() -> bool,
) -> Result<bool> {
    let started = Instant::now();
    while sending() && answered.load(Ordering::SeqCst) < after {
        anyhow::ensure!(
            started.elapsed() < support::PATIENCE,
            "no progress to kill at"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    if !sending() {
        return Ok(false);
    }
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &server.pid().to_string()])
        .status()?;
    anyhow::ensure!(killed.success(), "kill -KILL failed");
    Ok(true)
}

#[tokio::test]
async fn completions_through_sigkills_are_rewarded_once_and_never_lost() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut server = Server::start_manual(dir.path())?;
    let shop = Partner::register_with(&server, &[], 60_000, true)?;
    let task = publish(&server, &shop, json!("all"), 10, 1_000, 2_000)?;
    let players = accepting_players(&server, task, 5).await?;
    let completions: Vec<(u64, String)> = (0..600)
        .map(|n| (players[n % players.len()], format!("done-{n}")))
        .collect();
    let mut settled: HashMap<String, HttpAnswer> = HashMap::new();
    let mut kills = 0;
    for round in 0..10 {
        let pending: Vec<(u64, String)> = completions
            .iter()
            .filter(|(_, reference)| !settled.contains_key(reference))
            .cloned()
            .collect();
        if pending.is_empty() {
            break;
        }
        let answered = AtomicUsize::new(0);
        let done = std::sync::atomic::AtomicBool::new(false);
        let (answers, killed) = std::thread::scope(|scope| -> Result<_> {
            let sender = scope.spawn(|| {
                let answers = complete_all(&server, &shop, task, &pending, 20, &answered);
                done.store(true, Ordering::SeqCst);
                answers
            });
            let sending = || !done.load(Ordering::SeqCst);
            let killed = round < 2 && kill_after(&server, &answered, 100, &sending)?;
            let answers = sender
                .join()
                .map_err(|_| anyhow::anyhow!("a sender panicked"))?;
            Ok((answers, killed))
        })?;
        for (reference, answer) in answers {
            let Ok(answer) = answer else { continue };
            match (answer.status, code(&answer)) {
                (200, _) | (422, "BUDGET_EXHAUSTED") => {
                    settled.insert(reference, answer);
                }
                other => anyhow::bail!("{reference}: unexpected {other:?} {}", answer.body),
            }
        }
        if killed {
            kills += 1;
            server = Server::start_manual(dir.path())?;
        }
    }
    assert_eq!(
        kills, 2,
        "the server was killed twice in the middle of the completions"
    );
    assert_eq!(
        settled.len(),
        completions.len(),
        "every completion got an answer"
    );

    let rewarded: Vec<(&String, &HttpAnswer)> = settled
        .iter()
        .filter(|(_, answer)| answer.status == 200)
        .collect();
    assert_eq!(
        rewarded.len(),
        200,
        "exactly the budget's worth, none twice"
    );
    let mut balls: Vec<&Value> = rewarded
        .iter()
        .map(|(_, answer)| &answer.body["ball"]["ball_id"])
        .collect();
    balls.sort_by_key(|ball| ball.as_u64());
    balls.dedup();
    assert_eq!(balls.len(), 200, "one ball per reward");
    for (reference, first) in rewarded.iter().take(50) {
        let player = completions
            .iter()
            .find(|(_, r)| r == *reference)
            .map(|(player, _)| *player)
            .context("the ref's player")?;
        let again = complete(&server, &shop, task, player, reference)?;
        assert_eq!(
            again.body, first.body,
            "{reference}: acknowledged before a kill, kept after"
        );
    }
    let audit = server.audit()?;
    assert_eq!(
        (&audit["task_disbursed"], &audit["task_remaining"]),
        (&json!(2_000), &json!(0))
    );
    Ok(())
}

#[tokio::test]
async fn campaigns_pay_their_bonuses_over_a_simulated_week() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let (mut client, player_id, _) = player(&server, "commuter").await?;
    let transit = Partner::register(&server, &["metro", "e_invoice"], 600)?;
    let day = 24 * support::HOUR;
    let start = support::START;
    let campaigns = [
        json!({"name": "Metro x2 for newcomers", "kind": "metro", "bonus": {"multiply": 2},
               "audience": {"new_players": {"within_days": 30}}, "starts_at": start + day,
               "ends_at": start + 5 * day, "budget_grams": 10_000}),
        json!({"name": "+20 g for the first e-invoice", "kind": "e_invoice", "bonus": {"add": 20},
               "first_of_day": true, "audience": "all", "starts_at": start,
               "ends_at": start + 7 * day, "budget_grams": 60}),
        json!({"name": "Metro x3 for someone else", "kind": "metro", "bonus": {"multiply": 3},
               "audience": {"players": [player_id + 1]}, "starts_at": start,
               "ends_at": start + 7 * day, "budget_grams": 10_000}),
    ];
    for campaign in &campaigns {
        let (status, body) = server.admin("/admin/campaigns", campaign.clone())?;
        assert_eq!(status, 200, "{body}");
    }
    let refused = server.admin(
        "/admin/campaigns",
        json!({"name": "x", "kind": "teleport", "bonus": {"add": 1}, "audience": "all",
               "starts_at": start, "ends_at": start + day, "budget_grams": 1}),
    )?;
    assert_eq!(refused.0, 400, "an unknown kind is refused");

    for day_number in 0..7 {
        for (kind, reference) in [
            ("metro", format!("metro-{day_number}")),
            ("e_invoice", format!("invoice-{day_number}-a")),
            ("e_invoice", format!("invoice-{day_number}-b")),
        ] {
            let action = json!({"player_id": player_id, "kind": kind, "ref": reference});
            let answer = transit.call(&server, ACTIONS, &action)?;
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
        server.advance(day)?;
    }

    let listed = listed_campaigns(&server)?;
    let paid: Vec<(u64, u64, &str)> = listed
        .iter()
        .map(|c| {
            (
                c["disbursed_grams"].as_u64().unwrap_or(u64::MAX),
                c["bonuses"].as_u64().unwrap_or(u64::MAX),
                c["status"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        paid,
        vec![
            (4 * 52, 4, "active"),
            (60, 3, "exhausted"),
            (0, 0, "active")
        ],
        "metro doubled on days 1-4 only; the first invoice of days 0-2 until the budget \
         ran out; nothing for a player outside the audience"
    );
    let audit = server.audit()?;
    assert_eq!(audit["campaign_disbursed"], 268, "{audit}");
    assert_eq!(audit["campaign_remaining"], 10_000 - 208 + 10_000);

    let me = client.ok("me", json!({})).await?;
    let sources: Vec<&str> = me["balls"]
        .as_array()
        .context("balls")?
        .iter()
        .filter_map(|ball| ball["source"].as_str())
        .filter(|source| source.starts_with("campaign:"))
        .collect();
    assert!(
        sources
            .iter()
            .all(|s| *s == "campaign:1" || *s == "campaign:2"),
        "bonus balls name their campaign: {sources:?}"
    );
    Ok(())
}

/// A `[campaigns.invoice_bonus]` table paying `add` grams per e-invoice from `budget`.
fn invoice_campaign(budget: u64) -> String {
    format!(
        "\n[campaigns.invoice_bonus]\nname = \"+20 g an e-invoice\"\nkind = \"e_invoice\"\n\
         bonus = {{ add = 20 }}\nstarts_at = {}\nends_at = {}\nbudget_grams = {budget}\n",
        support::START,
        support::START + 7 * 24 * support::HOUR
    )
}

/// Every campaign, as `GET /admin/campaigns` lists them.
fn listed_campaigns(server: &Server) -> Result<Vec<Value>> {
    let (status, listed) = http(
        &server.ops_addr,
        "GET",
        "/admin/campaigns",
        Some(ADMIN_TOKEN),
        None,
    )?;
    anyhow::ensure!(status == 200, "{listed}");
    Ok(listed["campaigns"].as_array().context("campaigns")?.clone())
}

/// The configured campaign as `GET /admin/campaigns` lists it: (id, disbursed, status).
fn configured_campaign(server: &Server) -> Result<(u64, u64, String)> {
    let listed = listed_campaigns(server)?;
    anyhow::ensure!(listed.len() == 1, "one campaign: {listed:?}");
    let campaign = &listed[0];
    anyhow::ensure!(campaign["config_key"] == "invoice_bonus", "{campaign}");
    Ok((
        campaign["campaign_id"].as_u64().context("campaign_id")?,
        campaign["disbursed_grams"].as_u64().context("disbursed")?,
        campaign["status"].as_str().context("status")?.to_owned(),
    ))
}

#[tokio::test]
async fn configured_campaigns_follow_the_file_and_keep_what_they_paid() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("canopy.toml");
    let default =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/canopy.toml"))?;
    let rewrite = |table: &str| std::fs::write(&config, format!("{default}{table}"));
    rewrite(&invoice_campaign(50))?;
    let config_arg = config.to_string_lossy().into_owned();
    let start = support::START.to_string();
    let args = [
        "--clock",
        "manual",
        "--clock-start",
        &start,
        "--config",
        &config_arg,
    ];
    let server = Server::start(&dir.path().join("data"), &args)?;
    let (_client, player_id, _) = player(&server, "filer").await?;
    let billing = Partner::register(&server, &["e_invoice"], 600)?;
    let invoice = |server: &Server, n: u32| -> Result<()> {
        let action = json!({"player_id": player_id, "kind": "e_invoice", "ref": format!("i-{n}")});
        let answer = billing.call(server, ACTIONS, &action)?;
        anyhow::ensure!(answer.status == 200, "{}", answer.body);
        Ok(())
    };

    invoice(&server, 1)?;
    assert_eq!(configured_campaign(&server)?, (1, 20, "active".into()));
    let close = server.admin("/admin/campaigns/1/close", json!({}))?;
    assert_eq!(close.0, 409, "the file owns it: {}", close.1);

    rewrite(&invoice_campaign(50).replace("add = 20", "add = 0"))?;
    let (status, refused) = server.admin("/admin/reload", json!({}))?;
    assert_eq!(status, 400);
    let message = refused["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("campaigns.invoice_bonus.bonus"),
        "{refused}"
    );

    rewrite(&invoice_campaign(30))?;
    assert_eq!(server.admin("/admin/reload", json!({}))?.0, 200);
    invoice(&server, 2)?;
    assert_eq!(
        configured_campaign(&server)?,
        (1, 30, "exhausted".into()),
        "the lowered budget left 10 g: the bonus is cut to it"
    );

    let server = {
        server.stop()?;
        Server::start(&dir.path().join("data"), &args)?
    };
    assert_eq!(
        configured_campaign(&server)?,
        (1, 30, "exhausted".into()),
        "what it paid is store state: a restart keeps it"
    );
    rewrite(&invoice_campaign(100))?;
    assert_eq!(server.admin("/admin/reload", json!({}))?.0, 200);
    invoice(&server, 3)?;
    assert_eq!(configured_campaign(&server)?, (1, 50, "active".into()));

    rewrite("")?;
    assert_eq!(server.admin("/admin/reload", json!({}))?.0, 200);
    invoice(&server, 4)?;
    assert_eq!(
        configured_campaign(&server)?,
        (1, 50, "closed".into()),
        "a table removed from the file closes its campaign"
    );
    let audit = server.audit()?;
    assert_eq!(audit["campaign_budgets"], 100, "{audit}");
    assert_eq!(audit["campaign_disbursed"], 50, "{audit}");
    assert_eq!(audit["campaign_remaining"], 50, "{audit}");
    Ok(())
}

#[tokio::test]
async fn a_prop_reward_lands_in_the_inventory_within_its_budget_of_props() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_manual(dir.path())?;
    let shop = Partner::register_with(&server, &[], 600, true)?;
    let mut task = json!({
        "title": "Recycle a bottle", "reward_prop": {"prop": "protection_cover", "count": 2},
        "audience": "all", "starts_at": support::START,
        "ends_at": support::START + 48 * support::HOUR, "per_player_limit": 1,
        "budget_props": 5, "ref": "bottles",
    });
    task["reward_grams"] = json!(10);
    let mixed = shop.call(&server, "/partner/v1/tasks", &task)?;
    assert_eq!(code(&mixed), "BAD_REQUEST", "grams and props at once");
    task["reward_grams"] = json!(0);
    task["ref"] = json!("bottles-2");
    let published = shop.call(&server, "/partner/v1/tasks", &task)?;
    assert_eq!(published.status, 200, "{}", published.body);
    assert_eq!(
        (
            &published.body["budget_props"],
            &published.body["budget_grams"]
        ),
        (&json!(5), &json!(0))
    );
    let task_id = published.body["task_id"].as_u64().context("task_id")?;

    let mut players = Vec::new();
    for name in ["ann", "ben", "cid"] {
        let (mut client, id, token) = player(&server, name).await?;
        let listed = client.ok("tasks", json!({})).await?;
        assert_eq!(listed["tasks"][0]["reward_prop"]["count"], 2, "{listed}");
        client
            .ok("task_accept", json!({"task_id": task_id}))
            .await?;
        players.push((client, id, token));
    }
    for (n, (client, id, _)) in players.iter_mut().take(2).enumerate() {
        let reward = complete(&server, &shop, task_id, *id, &format!("done-{id}"))?;
        assert_eq!(reward.status, 200, "{}", reward.body);
        assert_eq!(
            reward.body["prop"],
            json!({"prop": "protection_cover", "count": 2})
        );
        assert_eq!(reward.body["remaining_props"], 5 - 2 * (n as u64 + 1));
        assert!(
            reward.body.get("ball").is_none(),
            "no ball: {}",
            reward.body
        );
        let event = client
            .wait_event(|event| matches!(event, canopy_shared::Event::TaskCompleted { .. }))
            .await?;
        let canopy_shared::Event::TaskCompleted { ball_id, prop, .. } = event else {
            unreachable!("waited for a task_completed event");
        };
        assert_eq!((ball_id, prop.map(|p| p.count)), (None, Some(2)));
        let me = client.ok("me", json!({})).await?;
        assert_eq!(
            me["player"]["props"]["inventory"]["protection_cover"], 2,
            "{me}"
        );
    }
    let cid = &players[2].1;
    let refused = complete(&server, &shop, task_id, *cid, "done-cid")?;
    assert_eq!(
        (refused.status, code(&refused)),
        (422, "BUDGET_EXHAUSTED"),
        "1 prop left cannot cover a reward of 2: {}",
        refused.body
    );
    let twice = complete(&server, &shop, task_id, players[0].1, "done-again")?;
    assert_eq!(code(&twice), "BUDGET_EXHAUSTED", "the task closed itself");
    let audit_path = format!("/admin/partners/{}/audit", shop.id);
    let (_, log) = http(
        &server.ops_addr,
        "GET",
        &audit_path,
        Some(ADMIN_TOKEN),
        None,
    )?;
    let rewarded: Vec<(&Value, &Value)> = log["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .filter(|entry| entry["result"] == "ok" && entry["call"] != "POST /partner/v1/tasks")
        .map(|entry| (&entry["grams"], &entry["prop"]))
        .collect();
    let given = json!({"prop": "protection_cover", "count": 2});
    assert_eq!(
        rewarded,
        [(&json!(0), &given), (&json!(0), &given)],
        "the audit log names the props each completion gave: {log}"
    );

    let audit = server.audit()?;
    assert_eq!(
        (
            &audit["task_prop_budgets"],
            &audit["task_props_disbursed"],
            &audit["task_props_remaining"]
        ),
        (&json!(5), &json!(4), &json!(1)),
        "{audit}"
    );
    assert_eq!(audit["task_budgets"], 0, "no grams budget: {audit}");

    let server = {
        server.stop()?;
        Server::start_manual(dir.path())?
    };
    let mut ann = support::login(&server, &players[0].2).await?;
    let me = ann.ok("me", json!({})).await?;
    assert_eq!(
        me["player"]["props"]["inventory"]["protection_cover"], 2,
        "the reward is durable: {me}"
    );
    server.audit()?;
    Ok(())
}
