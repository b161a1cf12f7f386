//! What a bot sends next: an action from the mix becomes a request, chosen from what
//! the bot knows (a ripe ball to collect, a friend's ball with something to take, a
//! friend it has not watered three times today).

use crate::bots::knowledge::{GameClock, Knowledge, OwnBall, SeenBall};
use crate::bots::mix::Action;
use crate::bots::props;
use canopy_shared::model::{BoardPeriod, PropKind};
use canopy_shared::{BallId, PlayerId, Request};
use rand::RngExt;
use rand::seq::IndexedRandom;

/// Grams a bot gives in one watering (the smallest default amount).
pub const WATER_GRAMS: u64 = 10;
/// One probe in this many collects (re-collect an ended ball) and steals (hit a ball
/// again): they must be refused, so they test the refusals.
const PROBE_ONE_IN: u32 = 20;

/// One request a bot decided to send, with what it knew when it decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Planned {
    /// `collect` of one of its balls; `known` is `None` for a probe of a ball it saw end.
    Collect {
        /// The ball.
        ball: BallId,
        /// The ball as last seen.
        known: Option<OwnBall>,
    },
    /// `collect_all`.
    CollectAll,
    /// `steal`; `seen` is `None` for a probe of a ball it already stole from.
    Steal {
        /// The ball's owner.
        friend: PlayerId,
        /// The ball.
        ball: BallId,
        /// The ball as `friend_balls` showed it.
        seen: Option<SeenBall>,
    },
    /// `friend_balls`, to find something to steal.
    FriendBalls {
        /// The friend.
        friend: PlayerId,
    },
    /// `water`.
    Water {
        /// The friend.
        friend: PlayerId,
        /// Grams given.
        grams: u64,
    },
    /// `me`.
    Me,
    /// `friends`.
    Friends,
    /// `leaderboard` (total, default limit).
    Leaderboard,
    /// `feed` (20 entries).
    Feed,
    /// `shop`, to learn the catalog, the prices and today's limits.
    Shop,
    /// `buy` one shop item.
    Buy {
        /// The item's id.
        item: &'static str,
        /// The prop it gives.
        prop: PropKind,
        /// How many of it.
        count: u32,
        /// Its price in vitality, as the shop listed it.
        price: u64,
    },
    /// `gift_prop`.
    GiftProp {
        /// The friend.
        friend: PlayerId,
        /// The prop given.
        prop: PropKind,
    },
    /// `revive` of a friend's expired ball.
    Revive {
        /// The ball's owner.
        friend: PlayerId,
        /// The expired ball.
        ball: BallId,
        /// Its grams, as `friend_balls` listed it.
        grams: u64,
    },
}

impl Planned {
    /// The protocol request.
    pub fn request(&self) -> Request {
        match *self {
            Self::Collect { ball, .. } => Request::Collect { ball_id: ball },
            Self::CollectAll => Request::CollectAll {},
            Self::Steal { friend, ball, .. } => Request::Steal {
                friend_id: friend,
                ball_id: ball,
            },
            Self::FriendBalls { friend } => Request::FriendBalls { friend_id: friend },
            Self::Water { friend, grams } => Request::Water {
                friend_id: friend,
                grams,
            },
            Self::Me => Request::Me {},
            Self::Friends => Request::Friends {},
            Self::Leaderboard => Request::Leaderboard {
                period: BoardPeriod::Total,
                limit: None,
            },
            Self::Feed => Request::Feed {
                limit: Some(20),
                before: None,
            },
            Self::Shop => Request::Shop {},
            Self::Buy { item, .. } => Request::Buy {
                item: item.to_owned(),
            },
            Self::GiftProp { friend, prop } => Request::GiftProp {
                friend_id: friend,
                prop,
            },
            Self::Revive { friend, ball, .. } => Request::Revive {
                friend_id: friend,
                ball_id: ball,
            },
        }
    }

    /// The op's wire name (the report's key).
    pub fn op_name(&self) -> &'static str {
        match self {
            Self::Collect { .. } => "collect",
            Self::CollectAll => "collect_all",
            Self::Steal { .. } => "steal",
            Self::FriendBalls { .. } => "friend_balls",
            Self::Water { .. } => "water",
            Self::Me => "me",
            Self::Friends => "friends",
            Self::Leaderboard => "leaderboard",
            Self::Feed => "feed",
            Self::Shop => "shop",
            Self::Buy { .. } => "buy",
            Self::GiftProp { .. } => "gift_prop",
            Self::Revive { .. } => "revive",
        }
    }
}

/// Every op of the default mix, in the report's order (always listed); the props ops
/// follow when the mix asks for them.
pub const OPS: [&str; 9] = [
    "collect",
    "collect_all",
    "steal",
    "friend_balls",
    "water",
    "me",
    "friends",
    "leaderboard",
    "feed",
];

/// How a bot turns an action into a request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Style {
    /// The action as drawn: half the collects are `collect_all`, and a water or steal
    /// goes out even when the daily limit or the balance must refuse it.
    #[default]
    Mixed,
    /// Steady state: writes that can succeed, so a long run keeps moving energy. A
    /// collect takes one known ripe ball (`collect_all` only when it knows none, so one
    /// call does not empty a large forest); a water with every friend watered out or a
    /// balance below the gift, and a steal past the daily cap, become a collect. Probes
    /// stay.
    Steady,
}

/// The request for an action drawn from the mix.
pub fn plan(
    action: Action,
    style: Style,
    know: &Knowledge,
    clock: &GameClock,
    rng: &mut impl rand::Rng,
) -> Planned {
    match action {
        Action::Collect => plan_collect(style, know, clock, rng),
        Action::Steal
            if style == Style::Steady
                && know.day.is_some()
                && know.stolen_today >= crate::bots::checks::STEAL_DAILY_CAP_GRAMS =>
        {
            plan_collect(style, know, clock, rng)
        }
        Action::Steal => plan_steal(know, rng),
        Action::Water => match plan_water(know, style, rng) {
            Some(planned) => planned,
            None => plan_collect(style, know, clock, rng),
        },
        Action::Read => *[
            Planned::Me,
            Planned::Friends,
            Planned::Leaderboard,
            Planned::Feed,
        ]
        .choose(rng)
        .unwrap_or(&Planned::Me),
        Action::Revive => props::plan_revive(&know.props, &know.friends, rng),
        Action::Shop => props::plan_shop(&know.props, rng),
        Action::Gift => props::plan_gift(&know.props, &know.friends, rng),
    }
}

fn plan_collect(
    style: Style,
    know: &Knowledge,
    clock: &GameClock,
    rng: &mut impl rand::Rng,
) -> Planned {
    if rng.random_ratio(1, PROBE_ONE_IN)
        && let Some(ball) = know.ended.pick(rng.random::<u32>() as usize)
    {
        return Planned::Collect { ball, known: None };
    }
    let ripe: Vec<_> = know.ripe_balls(clock).collect();
    match ripe.choose(rng) {
        Some((ball, known)) if style == Style::Steady || rng.random_bool(0.5) => Planned::Collect {
            ball: *ball,
            known: Some(*known),
        },
        _ => Planned::CollectAll,
    }
}

fn plan_steal(know: &Knowledge, rng: &mut impl rand::Rng) -> Planned {
    if rng.random_ratio(1, PROBE_ONE_IN)
        && let Some((friend, ball)) = know.hit.pick(rng.random::<u32>() as usize)
    {
        return Planned::Steal {
            friend,
            ball,
            seen: None,
        };
    }
    if !know.candidates.is_empty() {
        let seen = know.candidates[rng.random_range(0..know.candidates.len())];
        return Planned::Steal {
            friend: seen.friend,
            ball: seen.ball_id,
            seen: Some(seen),
        };
    }
    // Look at a friend who has something to take, as far as the events said.
    let promising: Vec<PlayerId> = know
        .friends
        .iter()
        .copied()
        .filter(|friend| know.friend_stealable.get(friend).is_some_and(|g| *g > 0))
        .collect();
    let friend = promising
        .choose(rng)
        .or_else(|| know.friends.choose(rng))
        .copied();
    match friend {
        Some(friend) => Planned::FriendBalls { friend },
        None => Planned::Me,
    }
}

/// A water; `None` in steady style when it could only be refused.
fn plan_water(know: &Knowledge, style: Style, rng: &mut impl rand::Rng) -> Option<Planned> {
    let limit = crate::bots::checks::WATER_PER_FRIEND_PER_DAY;
    let open: Vec<PlayerId> = know
        .friends
        .iter()
        .copied()
        .filter(|friend| know.watered_today.get(friend).copied().unwrap_or(0) < limit)
        .collect();
    if style == Style::Steady
        && (open.is_empty() || know.energy.is_some_and(|energy| energy < WATER_GRAMS))
    {
        return None;
    }
    Some(
        match open.choose(rng).or_else(|| know.friends.choose(rng)) {
            Some(friend) => Planned::Water {
                friend: *friend,
                grams: WATER_GRAMS,
            },
            None => Planned::Me,
        },
    )
}

/// The request that finishes a steal action: after `friend_balls`, a steal of a ball of
/// that friend with something to take if the reply showed one, else of any ball it
/// showed (a refusal the rules call for: `NOTHING_LEFT`, `ALREADY_STOLEN`, `NOT_RIPE`).
/// After `shop`, a purchase it can afford; after a look that showed only an expired
/// ball, its revival.
pub fn follow_up(planned: &Planned, know: &Knowledge, rng: &mut impl rand::Rng) -> Option<Planned> {
    let friend = match planned {
        Planned::FriendBalls { friend } => friend,
        Planned::Shop => return props::after_shop(&know.props, rng),
        _ => return None,
    };
    let candidate = know
        .candidates
        .iter()
        .rev()
        .find(|seen| seen.friend == *friend);
    if candidate.is_none()
        && let Some(revival) = props::revive_after_look(&know.props, *friend)
    {
        return Some(revival);
    }
    let seen = candidate.or_else(|| {
        let shown: Vec<_> = know
            .last_look
            .iter()
            .filter(|seen| seen.friend == *friend)
            .collect();
        shown.choose(rng).copied()
    })?;
    Some(Planned::Steal {
        friend: seen.friend,
        ball: seen.ball_id,
        seen: Some(*seen),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    fn clock() -> GameClock {
        GameClock::manual(1_795_536_000_000, 480)
    }

    #[test]
    fn steals_look_first_then_take_what_they_saw() {
        let mut rng = SmallRng::seed_from_u64(3);
        let mut know = Knowledge::new(PlayerId(1), vec![PlayerId(2)]);
        let planned = (0..50)
            .map(|_| plan(Action::Steal, Style::Mixed, &know, &clock(), &mut rng))
            .find(|planned| !matches!(planned, Planned::Steal { seen: None, .. }));
        assert_eq!(
            planned,
            Some(Planned::FriendBalls {
                friend: PlayerId(2)
            })
        );
        let seen = SeenBall {
            friend: PlayerId(2),
            ball_id: BallId(9),
            full: 100,
            stealable: 30,
        };
        let look = Planned::FriendBalls {
            friend: PlayerId(2),
        };
        assert_eq!(follow_up(&look, &know, &mut rng), None, "nothing shown");
        let emptied = SeenBall {
            ball_id: BallId(8),
            stealable: 0,
            ..seen
        };
        know.last_look = vec![emptied];
        assert_eq!(
            follow_up(&look, &know, &mut rng),
            Some(Planned::Steal {
                friend: PlayerId(2),
                ball: BallId(8),
                seen: Some(emptied)
            }),
            "a ball with nothing to take: the refusal is tested"
        );
        know.candidates.push_back(seen);
        assert_eq!(
            follow_up(&look, &know, &mut rng),
            Some(Planned::Steal {
                friend: PlayerId(2),
                ball: BallId(9),
                seen: Some(seen)
            }),
            "a ball with something to take comes first"
        );
        assert_eq!(follow_up(&Planned::Me, &know, &mut rng), None);
    }

    #[test]
    fn water_prefers_friends_not_yet_watered_three_times() {
        let mut rng = SmallRng::seed_from_u64(4);
        let mut know = Knowledge::new(PlayerId(1), vec![PlayerId(2), PlayerId(3)]);
        know.watered_today.insert(PlayerId(2), 3);
        for _ in 0..20 {
            assert_eq!(
                plan(Action::Water, Style::Mixed, &know, &clock(), &mut rng),
                Planned::Water {
                    friend: PlayerId(3),
                    grams: WATER_GRAMS
                }
            );
        }
    }

    #[test]
    fn the_steady_style_sends_writes_that_can_succeed() {
        let mut rng = SmallRng::seed_from_u64(6);
        let mut know = Knowledge::new(PlayerId(1), vec![PlayerId(2)]);
        know.roll_day(&clock());
        know.energy = Some(0);
        let ball = OwnBall {
            amount: 50,
            ripe_at: clock().now() - 1,
        };
        know.balls.insert(BallId(4), ball);
        let collect = Planned::Collect {
            ball: BallId(4),
            known: Some(ball),
        };
        for _ in 0..20 {
            // A known ripe ball is collected one at a time, never with collect_all.
            let planned = plan(Action::Collect, Style::Steady, &know, &clock(), &mut rng);
            assert_eq!(planned, collect);
            // A water the balance cannot pay becomes a collect.
            let planned = plan(Action::Water, Style::Steady, &know, &clock(), &mut rng);
            assert_eq!(planned, collect);
        }
        know.energy = Some(100);
        know.watered_today.insert(PlayerId(2), 3);
        let planned = plan(Action::Water, Style::Steady, &know, &clock(), &mut rng);
        assert_eq!(planned, collect, "every friend is watered out");
        know.watered_today.clear();
        let planned = plan(Action::Water, Style::Steady, &know, &clock(), &mut rng);
        assert_eq!(
            planned,
            Planned::Water {
                friend: PlayerId(2),
                grams: WATER_GRAMS
            }
        );
        know.stolen_today = crate::bots::checks::STEAL_DAILY_CAP_GRAMS;
        let planned = plan(Action::Steal, Style::Steady, &know, &clock(), &mut rng);
        assert_eq!(planned, collect, "past the daily cap");
        let mixed: Vec<Planned> = (0..50)
            .map(|_| plan(Action::Collect, Style::Mixed, &know, &clock(), &mut rng))
            .collect();
        assert!(
            mixed.contains(&Planned::CollectAll),
            "the mixed style sends collect_all half the time"
        );
    }

    #[test]
    fn a_bot_without_friends_reads_instead() {
        let mut rng = SmallRng::seed_from_u64(5);
        let know = Knowledge::new(PlayerId(1), Vec::new());
        assert_eq!(
            plan(Action::Water, Style::Mixed, &know, &clock(), &mut rng),
            Planned::Me
        );
        assert_eq!(
            plan(Action::Steal, Style::Mixed, &know, &clock(), &mut rng),
            Planned::Me
        );
    }

    #[test]
    fn every_planned_op_is_a_reported_op() {
        for planned in [
            Planned::CollectAll,
            Planned::FriendBalls {
                friend: PlayerId(2),
            },
            Planned::Me,
            Planned::Friends,
            Planned::Leaderboard,
            Planned::Feed,
        ] {
            assert!(OPS.contains(&planned.op_name()));
            assert_eq!(planned.request().op_name(), planned.op_name());
        }
    }
}
