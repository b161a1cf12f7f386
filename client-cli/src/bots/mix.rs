//! The action mix: `collect=40,steal=30,water=10,read=20` — relative weights of what a
//! bot does next; `revive`, `shop` and `gift` (the props loop, weight 0 unless asked
//! for) join it by name.

use rand::RngExt;
use std::fmt;

/// What a bot does next. One action sends one request, except a steal that has to look
/// at a friend's balls first (`friend_balls`, then `steal`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `collect` of a known ripe ball, or `collect_all`.
    Collect,
    /// `steal` from a friend's ball, after `friend_balls` when no candidate is known.
    Steal,
    /// `water` a friend with 10 g.
    Water,
    /// One of `me`, `friends`, `leaderboard`, `feed`.
    Read,
    /// `revive` a friend's expired ball, after `friend_balls` when none is known.
    Revive,
    /// `buy` from the shop with vitality, after `shop` when the catalog is not known.
    Shop,
    /// `gift_prop` a prop it holds to a friend.
    Gift,
}

impl Action {
    /// Every action, in the order the mix lists them.
    pub const ALL: [Action; 7] = [
        Action::Collect,
        Action::Steal,
        Action::Water,
        Action::Read,
        Action::Revive,
        Action::Shop,
        Action::Gift,
    ];

    /// The action's name in `--mix`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Collect => "collect",
            Self::Steal => "steal",
            Self::Water => "water",
            Self::Read => "read",
            Self::Revive => "revive",
            Self::Shop => "shop",
            Self::Gift => "gift",
        }
    }

    /// Whether a mix written out names this action at `weight`: the four first ones
    /// always, the props actions only when asked for.
    pub fn shown_at(self, weight: u32) -> bool {
        matches!(self, Self::Collect | Self::Steal | Self::Water | Self::Read) || weight > 0
    }
}

/// Relative weights of the actions; a weight of 0 leaves the action out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    /// Weights in [`Action::ALL`] order.
    weights: [u32; 7],
}

impl Default for Mix {
    /// `collect=40,steal=30,water=10,read=20`.
    fn default() -> Self {
        Self {
            weights: [40, 30, 10, 20, 0, 0, 0],
        }
    }
}

impl Mix {
    /// The weight of one action.
    pub fn weight(&self, action: Action) -> u32 {
        self.weights[action as usize]
    }

    /// Draws an action with probability proportional to its weight.
    pub fn pick(&self, rng: &mut impl rand::Rng) -> Action {
        let total: u32 = self.weights.iter().sum();
        let mut ticket = rng.random_range(0..total);
        for action in Action::ALL {
            let weight = self.weight(action);
            if ticket < weight {
                return action;
            }
            ticket -= weight;
        }
        unreachable!("the ticket is below the sum of the weights")
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Action::ALL
            .iter()
            .filter(|action| action.shown_at(self.weight(**action)))
            .map(|action| format!("{}={}", action.name(), self.weight(*action)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses `collect=40,steal=30,water=10,read=20`. Actions left out weigh 0; at least one
/// weight must be above 0. Weights are relative: they need not add up to 100.
pub fn parse_mix(text: &str) -> Result<Mix, String> {
    let mut weights: [Option<u32>; 7] = [None; 7];
    for part in text
        .split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
    {
        let (name, weight) = part.split_once('=').ok_or_else(|| {
            format!("`{part}` is not NAME=WEIGHT (e.g. collect=40,steal=30,water=10,read=20)")
        })?;
        let name = name.trim();
        let action = Action::ALL
            .into_iter()
            .find(|action| action.name() == name)
            .ok_or_else(|| {
                format!(
                    "`{name}` is not an action: use collect, steal, water, read, revive, shop \
                     or gift"
                )
            })?;
        let weight: u32 = weight
            .trim()
            .parse()
            .map_err(|_| format!("the weight of {name} must be a whole number, not `{weight}`"))?;
        if weight > 1_000_000 {
            return Err(format!(
                "the weight of {name} is too large (at most 1000000)"
            ));
        }
        let slot = &mut weights[action as usize];
        if slot.is_some() {
            return Err(format!("{name} is given twice"));
        }
        *slot = Some(weight);
    }
    let weights = weights.map(|weight| weight.unwrap_or(0));
    if weights.iter().all(|weight| *weight == 0) {
        return Err("the mix needs at least one action with a weight above 0".into());
    }
    Ok(Mix { weights })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;

    #[test]
    fn the_documented_mix_parses() -> Result<(), String> {
        let mix = parse_mix("collect=40,steal=30,water=10,read=20")?;
        assert_eq!(mix, Mix::default());
        assert_eq!(mix.weight(Action::Steal), 30);
        assert_eq!(mix.to_string(), "collect=40,steal=30,water=10,read=20");
        Ok(())
    }

    #[test]
    fn order_spaces_and_missing_actions_are_fine() -> Result<(), String> {
        let mix = parse_mix(" read = 1 , steal=3 ")?;
        assert_eq!(mix.weight(Action::Read), 1);
        assert_eq!(mix.weight(Action::Steal), 3);
        assert_eq!(mix.weight(Action::Collect), 0);
        assert_eq!(mix.to_string(), "collect=0,steal=3,water=0,read=1");
        Ok(())
    }

    #[test]
    fn the_props_actions_join_by_name_and_show_only_when_asked_for() -> Result<(), String> {
        let mix = parse_mix("collect=10,revive=2,gift=1")?;
        assert_eq!(mix.weight(Action::Revive), 2);
        assert_eq!(mix.weight(Action::Shop), 0);
        assert_eq!(
            mix.to_string(),
            "collect=10,steal=0,water=0,read=0,revive=2,gift=1"
        );
        Ok(())
    }

    #[test]
    fn bad_mixes_are_refused_with_a_reason() {
        for (bad, says) in [
            ("", "at least one"),
            ("collect=0,steal=0", "at least one"),
            ("collect", "NAME=WEIGHT"),
            ("plant=10", "not an action"),
            ("collect=-1", "whole number"),
            ("collect=4.5", "whole number"),
            ("collect=1,collect=2", "twice"),
            ("collect=99999999", "too large"),
        ] {
            match parse_mix(bad) {
                Ok(mix) => panic!("{bad:?} parsed as {mix}"),
                Err(message) => assert!(message.contains(says), "{bad:?}: {message}"),
            }
        }
    }

    #[test]
    fn picks_follow_the_weights() -> Result<(), String> {
        let mix = parse_mix("collect=1,steal=3,water=0")?;
        let mut rng = SmallRng::seed_from_u64(7);
        let mut counts = [0u32; 7];
        for _ in 0..4_000 {
            counts[mix.pick(&mut rng) as usize] += 1;
        }
        assert_eq!(
            counts[Action::Water as usize],
            0,
            "weight 0 is never picked"
        );
        assert_eq!(counts[Action::Read as usize], 0);
        let steal_share = f64::from(counts[Action::Steal as usize]) / 4_000.0;
        assert!((0.70..0.80).contains(&steal_share), "{counts:?}");
        Ok(())
    }
}
