//! Player names the client has seen, so output can say "bob (#2)" instead of "#2".
//!
//! The protocol names players by id; names arrive in `login`, `friends`, `suggestions`,
//! `leaderboard` results and `friend_request` events. Anything shaped
//! `{"player_id": N, "name": "..."}` in a result is remembered.

use canopy_shared::PlayerId;
use serde_json::Value;
use std::collections::HashMap;

/// Known names by player id.
#[derive(Clone, Debug, Default)]
pub struct Names {
    by_id: HashMap<PlayerId, String>,
}

impl Names {
    /// Remembers one name.
    pub fn learn(&mut self, id: PlayerId, name: &str) {
        self.by_id.insert(id, name.to_owned());
    }

    /// Remembers every `{"player_id", "name"}` object anywhere inside `value`, and the
    /// `me` result's `player` (`{"id", "name", "energy", ...}`).
    pub fn learn_from(&mut self, value: &Value) {
        match value {
            Value::Object(fields) => {
                if let (Some(id), Some(name)) = (
                    fields.get("player_id").and_then(Value::as_u64),
                    fields.get("name").and_then(Value::as_str),
                ) {
                    self.learn(PlayerId(id), name);
                }
                if let Some(player) = fields.get("player")
                    && let (Some(id), Some(name)) = (
                        player.get("id").and_then(Value::as_u64),
                        player.get("name").and_then(Value::as_str),
                    )
                {
                    self.learn(PlayerId(id), name);
                }
                fields.values().for_each(|inner| self.learn_from(inner));
            }
            Value::Array(items) => items.iter().for_each(|inner| self.learn_from(inner)),
            _ => {}
        }
    }

    /// Whether the player's name is known.
    pub fn known(&self, id: PlayerId) -> bool {
        self.by_id.contains_key(&id)
    }

    /// "bob (#2)" when the name is known, else "player #2".
    pub fn label(&self, id: PlayerId) -> String {
        match self.by_id.get(&id) {
            Some(name) => format!("{name} (#{id})"),
            None => format!("player #{id}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_found_anywhere_in_a_result() {
        let mut names = Names::default();
        names.learn_from(&json!({
            "friends": [{"player_id": 2, "name": "bob", "energy": 5}],
            "incoming": [{"player_id": 3, "name": "cai", "sent_at": 1}],
            "outgoing": []
        }));
        names.learn_from(&json!({"player": {"id": 1, "name": "alice"}, "balls": []}));
        assert_eq!(names.label(PlayerId(1)), "alice (#1)");
        assert_eq!(names.label(PlayerId(2)), "bob (#2)");
        assert_eq!(names.label(PlayerId(3)), "cai (#3)");
        assert_eq!(names.label(PlayerId(4)), "player #4");
    }
}
