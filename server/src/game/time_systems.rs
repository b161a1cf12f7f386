//! Systems driven by game time: balls ripen and expire off the time-ordered
//! [`Timeline`], so a tick costs what falls due in it, never a scan of every ball. Each
//! tick ripens at most `ripen.max_per_tick` and expires at most
//! `ripen.max_expired_per_tick`; the rest follow next tick, which spreads the 07:00 wave.

use super::resources::{Directory, Dirty, Ledger, Outbox, Timeline};
use super::state::{self, config, notify, now, record_flow};
use crate::store::{Account, Ball, Flow};
use bevy_ecs::world::World;
use canopy_shared::event::{GoneReason, RipeBall};
use canopy_shared::{BallId, Event, Millis, PlayerId};
use std::collections::BTreeSet;

/// Takes up to `limit` entries due at `now` off a queue, in queue order. The due entries
/// are cut off in one piece rather than popped one by one.
fn pop_due(queue: &mut BTreeSet<(Millis, BallId)>, now: Millis, limit: usize) -> Vec<BallId> {
    let mut last = None;
    let due: Vec<BallId> = queue
        .iter()
        .take_while(|&&(at, _)| at <= now)
        .take(limit)
        .map(|&key| {
            last = Some(key);
            key.1
        })
        .collect();
    if let Some(last) = last {
        let mut rest = queue.split_off(&last);
        rest.pop_first();
        *queue = rest;
    }
    due
}

/// Announces balls that ripened: one `ball_ripe` event per owner per tick, listing the
/// owner's balls in ripening order. Sessions watching the owner (from their friends
/// list or in their forest) hear of it at the end of the batch.
pub fn ripen_due_balls(world: &mut World) {
    let (now, limit) = (now(world), config(world).ripen.max_per_tick);
    let due = pop_due(&mut world.resource_mut::<Timeline>().ripening, now, limit);
    if due.is_empty() {
        return;
    }
    let directory = world.resource::<Directory>();
    let mut ripe: Vec<(PlayerId, bool, RipeBall)> = due
        .into_iter()
        .filter_map(|id| directory.balls.get(&id))
        .filter_map(|&entity| world.get::<Ball>(entity))
        .map(|ball| {
            let ripe = RipeBall {
                ball_id: ball.id,
                amount: ball.left,
            };
            (ball.owner, ball.stealable, ripe)
        })
        .collect();
    // Stable, so each owner's balls stay in ripening order.
    ripe.sort_by_key(|&(owner, _, _)| owner);
    let mut events = Vec::new();
    let mut dirty = world.resource_mut::<Dirty>();
    for owners_balls in ripe.chunk_by(|a, b| a.0 == b.0) {
        let owner = owners_balls[0].0;
        dirty.forests_changed.insert(owner);
        if owners_balls.iter().any(|&(_, stealable, _)| stealable) {
            dirty.stealable_changed.insert(owner);
        }
        let balls = owners_balls
            .iter()
            .map(|(_, _, ball)| ball.clone())
            .collect();
        events.push((owner.into(), Event::BallRipe { balls }));
    }
    world.resource_mut::<Outbox>().events.extend(events);
}

/// Ends balls whose lifetime is over; their grams go to `expired` in the ledger, and
/// the ball becomes revivable by the owner's friends for a while.
pub fn expire_due_balls(world: &mut World) {
    let (now, limit) = (now(world), config(world).ripen.max_expired_per_tick);
    let due = pop_due(&mut world.resource_mut::<Timeline>().expiring, now, limit);
    world.resource_mut::<Outbox>().events.reserve(due.len());
    world.resource_mut::<Ledger>().pending.reserve(due.len());
    for id in due {
        let Some(&entity) = world.resource::<Directory>().balls.get(&id) else {
            continue;
        };
        let ball = world
            .get::<Ball>(entity)
            .expect("every indexed ball entity has a Ball")
            .clone();
        record_flow(
            world,
            Flow::Expired,
            ball.left,
            Account::Ball(ball.id),
            Account::Expired,
        );
        state::end_ball(world, &ball);
        super::revive::remember_expired(world, &ball);
        notify(
            world,
            ball.owner,
            Event::BallGone {
                ball_id: ball.id,
                reason: GoneReason::Expired,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pop_due_takes_what_is_due_in_order_up_to_the_limit() {
        let mut queue: BTreeSet<(Millis, BallId)> = [(5, 3), (5, 1), (7, 2), (9, 4), (9, 5)]
            .into_iter()
            .map(|(at, id)| (at, BallId(id)))
            .collect();
        assert!(pop_due(&mut queue, 4, 10).is_empty(), "nothing due yet");
        assert_eq!(queue.len(), 5);
        assert_eq!(
            pop_due(&mut queue, 9, 3),
            vec![BallId(1), BallId(3), BallId(2)]
        );
        assert!(
            pop_due(&mut queue, 8, 3).is_empty(),
            "the rest is not due at 8"
        );
        assert_eq!(pop_due(&mut queue, 9, 3), vec![BallId(4), BallId(5)]);
        assert!(queue.is_empty());
    }
}
