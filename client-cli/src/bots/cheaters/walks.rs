//! Step reports. `steps`: a step changer's cron job, which at five past midnight pushes
//! 21,000–24,500 steps for every account it runs, all at once. Honest phones sync the
//! day's steps as people walk: a few thousand by mid-morning, more by lunch.

use crate::bots::setup::Seat;
use canopy_shared::Request;
use futures_util::StreamExt;
use futures_util::stream;
use rand::RngExt;
use rand::rngs::SmallRng;
use std::ops::RangeInclusive;

/// What a step changer sets the count to.
pub const CRON_STEPS: RangeInclusive<u64> = 21_000..=24_500;
/// What an honest phone has counted by mid-morning.
pub const MORNING_STEPS: RangeInclusive<u64> = 1_500..=7_000;
/// What an honest walker adds by lunch.
pub const LUNCH_STEPS: RangeInclusive<u64> = 1_000..=5_000;

/// Every seat reports its step count from `counts` (the day's cumulative steps) under
/// `reference`, all at once. Returns the reports the server answered `ok` (a held walk
/// is answered `ok` too).
pub async fn report(seats: &mut [Seat], counts: &[u64], reference: &str) -> usize {
    let answered: Vec<bool> = stream::iter(seats.iter_mut().zip(counts))
        .map(|(seat, &steps)| {
            let request = Request::RecordAction {
                kind: "walk".to_owned(),
                quantity: Some(steps),
                reference: reference.to_owned(),
            };
            async move { matches!(seat.call(&request).await, Ok(Ok(_))) }
        })
        .buffer_unordered(usize::MAX)
        .collect()
        .await;
    answered.into_iter().filter(|ok| *ok).count()
}

/// One count per seat drawn from `range`, added to `before` (the counts so far).
pub fn counts(before: &[u64], range: &RangeInclusive<u64>, rng: &mut SmallRng) -> Vec<u64> {
    before
        .iter()
        .map(|so_far| so_far + rng.random_range(range.clone()))
        .collect()
}

/// The ref of a walk report: one per date and sync (refs are the player's own).
pub fn reference(date: &str, sync: &str) -> String {
    format!("risk-walk-{date}-{sync}")
}
