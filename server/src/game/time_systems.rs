//! Systems driven by game time: balls ripen and expire off the time-ordered
//! [`Timeline`], so a tick costs what falls due in it, never a scan of every ball. Each
//! tick handles at most `ripen.max_per_tick` of each; the rest follow next tick, which
//! spreads the 07:00 wave.

use super::resources::{Directory, Dirty, Timeline};
use super::state::{self, config, notify, now, record_flow};
use crate::store::{Account, Ball, Flow};
use bevy_ecs::world::World;
use canopy_shared::event::{GoneReason, RipeBall};
use canopy_shared::{BallId, Event, Millis, PlayerId};
use std::collections::{BTreeMap, BTreeSet};

/// Pops up to `limit` entries due at `now` from a queue.
fn pop_due(queue: &mut BTreeSet<(Millis, BallId)>, now: Millis, limit: usize) -> Vec<BallId> {
    let mut due = Vec::new();
    while due.len() < limit {
        match queue.first() {
            Some(&(at, id)) if at <= now => {
                queue.pop_first();
                due.push(id);
            }
            _ => break,
        }
    }
    due
}

fn ball(world: &World, id: BallId) -> Option<Ball> {
    let entity = *world.resource::<Directory>().balls.get(&id)?;
    world.get::<Ball>(entity).cloned()
}

/// Announces balls that ripened: one `ball_ripe` event per owner per tick.
pub fn ripen_due_balls(world: &mut World) {
    let (now, limit) = (now(world), config(world).ripen.max_per_tick);
    let due = pop_due(&mut world.resource_mut::<Timeline>().ripening, now, limit);
    let mut by_owner: BTreeMap<PlayerId, Vec<RipeBall>> = BTreeMap::new();
    for ball in due.into_iter().filter_map(|id| ball(world, id)) {
        by_owner.entry(ball.owner).or_default().push(RipeBall {
            ball_id: ball.id,
            amount: ball.left,
        });
    }
    for (owner, balls) in by_owner {
        world
            .resource_mut::<Dirty>()
            .stealable_changed
            .insert(owner);
        notify(world, owner, Event::BallRipe { balls });
    }
}

/// Ends balls whose lifetime is over; their grams go to `expired` in the ledger.
pub fn expire_due_balls(world: &mut World) {
    let (now, limit) = (now(world), config(world).ripen.max_per_tick);
    let due = pop_due(&mut world.resource_mut::<Timeline>().expiring, now, limit);
    let due: Vec<Ball> = due.into_iter().filter_map(|id| ball(world, id)).collect();
    for ball in due {
        record_flow(
            world,
            Flow::Expired,
            ball.left,
            Account::Ball(ball.id),
            Account::Expired,
        );
        state::end_ball(world, &ball);
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
