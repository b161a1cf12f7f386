#![allow(missing_docs)] // criterion_group! generates undocumented functions
//! Persistence of one tick's batch: 2,000 mixed records (500 each of players, balls,
//! ledger entries and `record_action` receipts, plus the meta record), taken from a
//! real tick that applied 500 walk reports (read back from the store it committed to).
//!
//! Measured, reported as records per second: postcard-encoding the records (the same
//! `postcard::to_stdvec` the sled store applies to each value; keys left out), a
//! `MemoryStore` commit (cloning into maps, no encoding), and a `SledStore` commit with
//! its flush in a temp dir, once rewriting the same keys every time and once writing new
//! ones as ticks do (balls, ledger entries and receipts are new, players are rewritten);
//! and the commit of a one-command tick, where the durable sync (`fdatasync`) dominates.
//!
//! Run: `cargo bench -p canopy-server --bench persist`

use canopy_server::config::Config;
use canopy_server::game::{ClockMode, Command, Game, Op, Origin, SessionId};
use canopy_server::store::{MemoryStore, SledStore, Store, TickBatch};
use canopy_server::worldgen::{self, WorldShape};
use canopy_shared::{BallId, PlayerId, Request};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

const NOW: u64 = 1_795_536_000_000;
/// Walk reports in the captured tick; each writes a player, a ball, a ledger entry and a
/// receipt.
const REPORTS: u64 = 500;
/// The idempotency key of every report in the captured tick.
const REFERENCE: &str = "persist-1";

/// The batch of a tick in which `REPORTS` logged-in players each reported 5,000 steps,
/// read back from the `MemoryStore` the tick committed to (the generated world has no
/// balls and no ledger, so everything of those kinds is the tick's).
fn walk_batch() -> TickBatch {
    let store = MemoryStore::new();
    let shape = WorldShape {
        players: REPORTS,
        balls_per_player: 0,
        grams_per_ball: 50,
        now: NOW,
        friendships: Vec::new(),
        wave_at: None,
    };
    worldgen::generate(&store, &shape).expect("generate world");
    let config = Arc::new(Config::default_embedded());
    let mut game = Game::load(
        config,
        Arc::new(store.clone()),
        ClockMode::Manual,
        Some(NOW),
        Some(7),
    )
    .expect("load world");
    worldgen::log_in(&mut game, 1..=REPORTS);
    for id in 1..=REPORTS {
        game.submit(Command {
            origin: Origin::Session(SessionId(id)),
            request_id: 1,
            op: Op::Client(Request::RecordAction {
                kind: "walk".into(),
                quantity: Some(5_000),
                reference: REFERENCE.into(),
            }),
        });
    }
    let outcome = game.tick();
    assert!(
        outcome.results.iter().all(|&(_, code)| code == "ok"),
        "every walk report is credited"
    );
    let snapshot = store.load().expect("load");
    let receipts = (1..=REPORTS)
        .map(|id| {
            let player = PlayerId(id);
            let result = store
                .receipt(player, REFERENCE)
                .expect("read receipt")
                .expect("every report left a receipt");
            (player, REFERENCE.to_owned(), result)
        })
        .collect();
    let batch = TickBatch {
        players: snapshot.players,
        balls: snapshot.balls,
        ledger: store.ledger().expect("read ledger"),
        receipts,
        meta: snapshot.meta.expect("the world has a meta record"),
        ..TickBatch::default()
    };
    assert_eq!(
        batch.len() as u64,
        outcome.batch_records as u64,
        "the rebuilt batch is the one the tick committed"
    );
    let per_kind = REPORTS as usize;
    assert_eq!(
        (
            batch.players.len(),
            batch.balls.len(),
            batch.ledger.len(),
            batch.receipts.len()
        ),
        (per_kind, per_kind, per_kind, per_kind),
        "the batch holds exactly the mixed records this bench is about"
    );
    batch
}

/// The batch as tick number `round` would write it: new ball ids, ledger ids and
/// receipt refs, the same players.
fn renumbered(batch: &TickBatch, round: u64) -> TickBatch {
    let shift = round * 1_000_000;
    let mut next = batch.clone();
    for ball in &mut next.balls {
        ball.id = BallId(ball.id.0 + shift);
    }
    for entry in &mut next.ledger {
        entry.id += shift;
    }
    for (_, reference, _) in &mut next.receipts {
        *reference = format!("persist-{round}");
    }
    next
}

/// Postcard-encodes every record of the batch, as the sled store does before writing.
fn encode_records(batch: &TickBatch) -> usize {
    let encode = |bytes: Result<Vec<u8>, postcard::Error>| {
        bytes.expect("records serialize with postcard").len()
    };
    let mut total = 0;
    for player in &batch.players {
        total += encode(postcard::to_stdvec(player));
    }
    for ball in &batch.balls {
        total += encode(postcard::to_stdvec(ball));
    }
    for entry in &batch.ledger {
        total += encode(postcard::to_stdvec(entry));
    }
    for (_, _, result) in &batch.receipts {
        total += encode(postcard::to_stdvec(result));
    }
    total + encode(postcard::to_stdvec(&batch.meta))
}

fn bench_persist(c: &mut Criterion) {
    let batch = walk_batch();
    eprintln!(
        "batch: {} records, {} bytes of postcard values",
        batch.len(),
        encode_records(&batch)
    );
    let mut group = c.benchmark_group("persist_2000_records");
    group
        .throughput(Throughput::Elements(batch.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("postcard_encode", |b| {
        b.iter(|| encode_records(black_box(&batch)))
    });
    // A fresh store each time: a shared one would keep every ledger entry ever committed.
    group.bench_function("memory_commit", |b| {
        b.iter_batched(
            MemoryStore::new,
            |memory| {
                memory.commit(black_box(&batch)).expect("commit");
                memory
            },
            BatchSize::SmallInput,
        )
    });
    let dir = tempfile::tempdir().expect("temp dir");
    let sled = SledStore::open(dir.path(), 64).expect("open store");
    group.bench_function("sled_commit_with_flush_same_keys", |b| {
        b.iter(|| sled.commit(black_box(&batch)).expect("commit"))
    });
    let mut round = 0;
    group.bench_function("sled_commit_with_flush_new_keys", |b| {
        b.iter_batched(
            || {
                round += 1;
                renumbered(&batch, round)
            },
            |next| {
                sled.commit(&next).expect("commit");
                next
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();

    // One command's tick (a player, a ball, a ledger entry, a receipt, the meta record):
    // at light load the durable sync is most of a commit.
    let one = TickBatch {
        players: batch.players[..1].to_vec(),
        balls: batch.balls[..1].to_vec(),
        ledger: batch.ledger[..1].to_vec(),
        receipts: batch.receipts[..1].to_vec(),
        meta: batch.meta.clone(),
        ..TickBatch::default()
    };
    let mut group = c.benchmark_group("persist_one_command");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    group.bench_function("sled_commit_with_durable_sync", |b| {
        b.iter(|| sled.commit(black_box(&one)).expect("commit"))
    });
    group.finish();
}

criterion_group!(benches, bench_persist);
criterion_main!(benches);
