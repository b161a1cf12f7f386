//! `funnel` and `ring`: accounts registered for the purpose, with no history. A funnel
//! is a farm of fresh accounts that befriend one main account and, as soon as their
//! first energy is collected, water it all they may; a ring is a few fresh accounts
//! befriended in a cycle, each watering the next.

use super::Stage;
use crate::bots::graph::Edge;
use crate::bots::progress::Progress;
use crate::bots::setup::{Seat, befriend, register_named};
use crate::error::CliError;
use canopy_shared::{PlayerId, Request};
use futures_util::StreamExt;
use futures_util::stream;

/// The largest watering (`water.amounts`), given as often as a day allows
/// (`water.per_friend_per_day`): a farm moves all it can.
const WATER_GRAMS: u64 = 66;
/// Waterings of one friend a day.
const WATERINGS: usize = 3;

/// Registers `count` fresh accounts named `<prefix>-<i>`, a few at a time.
pub async fn register(
    stage: &Stage<'_>,
    prefix: &str,
    count: usize,
) -> Result<Vec<Seat>, CliError> {
    let opened: Vec<Result<Seat, String>> = stream::iter(0..count)
        .map(|index| {
            register_named(
                stage.setup,
                &stage.shards,
                index,
                format!("{prefix}-{index}"),
            )
        })
        .buffered(16)
        .collect()
        .await;
    opened
        .into_iter()
        .collect::<Result<Vec<Seat>, String>>()
        .map_err(|why| {
            CliError::Connection(format!("the scenario could not register `{prefix}`: {why}"))
        })
}

/// Befriends every farm account (`seats[1..]`) with the main account (`seats[0]`).
pub async fn befriend_funnel(seats: &mut [Seat], progress: &Progress, notes: &mut Vec<String>) {
    let edges: Vec<Edge> = (1..seats.len()).map(|from| Edge { from, to: 0 }).collect();
    befriend(seats, &edges, progress, notes).await;
}

/// Befriends each account of a ring with the next, the last with the first.
pub async fn befriend_ring(seats: &mut [Seat], progress: &Progress, notes: &mut Vec<String>) {
    let size = seats.len();
    let edges: Vec<Edge> = (0..size)
        .map(|from| Edge {
            from,
            to: (from + 1) % size,
        })
        .collect();
    befriend(seats, &edges, progress, notes).await;
}

/// Every giver collects its ripe energy, then waters its receiver all it may, all at
/// once. Returns the waterings that went through.
pub async fn water(givers: Vec<(&mut Seat, PlayerId)>) -> usize {
    let given: Vec<usize> = stream::iter(givers)
        .map(|(seat, receiver)| async move {
            // Whatever the collect finds, the waterings below say what went through.
            let _ = seat.call(&Request::CollectAll {}).await;
            let mut given = 0;
            for _ in 0..WATERINGS {
                let water = Request::Water {
                    friend_id: receiver,
                    grams: WATER_GRAMS,
                };
                if matches!(seat.call(&water).await, Ok(Ok(_))) {
                    given += 1;
                }
            }
            given
        })
        .buffer_unordered(usize::MAX)
        .collect()
        .await;
    given.into_iter().sum()
}
