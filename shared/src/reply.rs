//! Replies: `{"id", "ok": true, ...result}` or `{"id", "ok": false, "error": {...}}`,
//! and the result object of each op.

use crate::error::ErrorBody;
use crate::ids::{BallId, Millis, PlayerId, TeamId};
use crate::model::{
    AreaView, BallView, BoardEntry, Certificate, FeedEntry, FriendView, PendingRequestView,
    PlayerView, PropsView, RevivableBall, ShopItemView, SpeciesView, Suggestion, TeamView,
};
use serde::{Deserialize, Serialize};

/// A successful reply: the result's fields sit beside `id` and `ok`.
#[derive(Debug, Serialize)]
pub struct OkReply<'a, T: Serialize> {
    /// The request's id.
    pub id: u64,
    /// Always `true`.
    pub ok: bool,
    /// The op's result.
    #[serde(flatten)]
    pub result: &'a T,
}

/// A failed reply. `id` is `null` when the frame had no usable id.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrReply {
    /// The request's id, if it could be read.
    pub id: Option<u64>,
    /// Always `false`.
    pub ok: bool,
    /// What went wrong.
    pub error: ErrorBody,
}

/// The JSON text of a successful reply.
pub fn encode_ok<T: Serialize>(id: u64, result: &T) -> String {
    serde_json::to_string(&OkReply {
        id,
        ok: true,
        result,
    })
    .expect("protocol results serialize to JSON: they hold only strings, numbers and maps")
}

/// The JSON text of a successful reply from a result already encoded as a JSON object:
/// the result's fields are spliced in after `id` and `ok`, without re-serializing them.
pub fn encode_ok_fields(id: u64, result_object: &str) -> String {
    let fields = result_object
        .trim()
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .expect("a result is encoded as a JSON object")
        .trim();
    if fields.is_empty() {
        format!(r#"{{"id":{id},"ok":true}}"#)
    } else {
        format!(r#"{{"id":{id},"ok":true,{fields}}}"#)
    }
}

/// The JSON text of a failed reply.
pub fn encode_err(id: Option<u64>, error: ErrorBody) -> String {
    serde_json::to_string(&ErrReply {
        id,
        ok: false,
        error,
    })
    .expect("an error reply serializes to JSON")
}

/// An op whose result has no fields (`{"id": 1, "ok": true}`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// `hello`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloResult {
    /// Server name and version.
    pub server: String,
    /// Protocol version.
    pub version: u32,
    /// Ticks per second.
    pub tick_rate_hz: u32,
    /// The game clock.
    pub time: Millis,
}

/// `register`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterResult {
    /// The new player's id.
    pub player_id: PlayerId,
    /// The login token; the server keeps only its hash, so it is shown once.
    pub token: String,
    /// When the token stops working (game time, ms); `refresh` before then.
    pub expires_at: Millis,
}

/// `login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginResult {
    /// The player.
    pub player_id: PlayerId,
    /// Their name.
    pub name: String,
    /// When the token used stops working (game time, ms).
    pub expires_at: Millis,
}

/// `host_login`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostLoginResult {
    /// The player bound to the JWT's issuer and subject.
    pub player_id: PlayerId,
    /// Their name.
    pub name: String,
    /// Whether this login created the player (the subject's first).
    pub created: bool,
    /// A session token for later `login`s, shown once.
    pub token: String,
    /// When the token stops working (game time, ms).
    pub expires_at: Millis,
}

/// `refresh`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshResult {
    /// The new session token, shown once; the old one no longer works.
    pub token: String,
    /// When the new token stops working (game time, ms).
    pub expires_at: Millis,
}

/// `logout_all`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutAllResult {
    /// How many tokens were revoked.
    pub revoked: u32,
}

/// `ping`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PingResult {
    /// The game clock.
    pub time: Millis,
}

/// `me`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeResult {
    /// The profile.
    pub player: PlayerView,
    /// The caller's unpicked balls, ripening order.
    pub balls: Vec<BallView>,
}

/// `record_action` and the partner channel `POST /admin/actions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordActionResult {
    /// Grams credited into a ball (0 when capped or ignored).
    pub grams: u64,
    /// The ball that holds them, or `null`.
    pub ball: Option<BallView>,
}

/// `collect`, `steal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GramsEnergyResult {
    /// Grams gained.
    pub grams: u64,
    /// The caller's balance after.
    pub energy: u64,
}

/// `collect_all`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectAllResult {
    /// Grams gained.
    pub grams: u64,
    /// The balance after.
    pub energy: u64,
    /// How many balls were picked.
    pub balls: u32,
}

/// `help_collect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpCollectResult {
    /// Grams credited to the friend.
    pub grams: u64,
}

/// `water`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaterResult {
    /// The caller's balance after.
    pub energy: u64,
    /// The water ball the friend receives.
    pub ball_id: BallId,
}

/// `plant`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlantResult {
    /// The new certificate.
    pub certificate: Certificate,
    /// The balance after.
    pub energy: u64,
}

/// `use_prop` and `POST /admin/props`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropsResult {
    /// The player's props after the change.
    pub props: PropsView,
}

/// `shop`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShopResult {
    /// The caller's vitality points.
    pub vitality: u64,
    /// Props the caller may still give friends today.
    pub gifts_left: u32,
    /// The catalog, by item id.
    pub items: Vec<ShopItemView>,
}

/// `buy`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuyResult {
    /// The item bought.
    pub item: String,
    /// Vitality points left.
    pub vitality: u64,
    /// The caller's props after the purchase.
    pub props: PropsView,
}

/// `species`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpeciesResult {
    /// The catalog, cheapest first.
    pub species: Vec<SpeciesView>,
    /// The protected areas of the catalog, cheapest per square metre first.
    #[serde(default)]
    pub areas: Vec<AreaView>,
}

/// `friends`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendsResult {
    /// Friends.
    pub friends: Vec<FriendView>,
    /// Requests waiting for the caller's answer.
    pub incoming: Vec<PendingRequestView>,
    /// Requests the caller sent.
    pub outgoing: Vec<PendingRequestView>,
    /// Cluster mode: the players of this list (friends or requesters) whose shard did
    /// not answer in time, so their rows are missing (friends) or nameless (requests);
    /// absent when every player was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<PlayerId>,
}

/// `friend_balls`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BallsResult {
    /// The friend's balls.
    pub balls: Vec<BallView>,
    /// The friend's expired balls the caller may revive, oldest first.
    #[serde(default)]
    pub revivable: Vec<RevivableBall>,
}

/// `revive`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviveResult {
    /// The friend's new ball.
    pub ball_id: BallId,
    /// Grams revived into it.
    pub grams: u64,
    /// The caller's vitality points after the reward.
    pub vitality: u64,
}

/// `suggestions`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuggestionsResult {
    /// Best first.
    pub suggestions: Vec<Suggestion>,
}

/// `leaderboard`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderboardResult {
    /// Ranked rows.
    pub entries: Vec<BoardEntry>,
    /// Cluster mode: friends whose shard did not answer in time, left out of the
    /// ranking; absent when every friend was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<PlayerId>,
}

/// `feed`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedResult {
    /// Newest first.
    pub entries: Vec<FeedEntry>,
    /// Pass as `before` for the next page; `null` at the end.
    pub next: Option<u64>,
}

/// `team_create`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamCreateResult {
    /// The new team.
    pub team_id: TeamId,
}

/// `team_water`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamWaterResult {
    /// The team after the watering.
    pub team: TeamView,
    /// The caller's balance after.
    pub energy: u64,
}

/// `teams`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamsResult {
    /// The caller's teams.
    pub teams: Vec<TeamView>,
    /// Cluster mode: the caller's teams whose shard did not answer in time, so their
    /// rows are missing; absent when every team was read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable: Vec<TeamId>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn spliced_replies_equal_serialized_ones() {
        let result = GramsEnergyResult {
            grams: 12,
            energy: 30,
        };
        let fields = serde_json::to_string(&result).expect("serialize");
        let spliced: Value = serde_json::from_str(&encode_ok_fields(7, &fields)).expect("JSON");
        let direct: Value = serde_json::from_str(&encode_ok(7, &result)).expect("JSON");
        assert_eq!(spliced, direct);
        assert_eq!(
            spliced,
            json!({"id": 7, "ok": true, "grams": 12, "energy": 30})
        );
        let empty: Value = serde_json::from_str(&encode_ok_fields(8, "{}")).expect("JSON");
        assert_eq!(empty, json!({"id": 8, "ok": true}));
    }
}

/// The answer of `tasks`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TasksResult {
    /// The tasks open to the caller now, by id.
    pub tasks: Vec<crate::task::PlayerTask>,
}

/// The answer of `task_accept`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskAcceptResult {
    /// The task, now accepted.
    pub task: crate::task::PlayerTask,
}
