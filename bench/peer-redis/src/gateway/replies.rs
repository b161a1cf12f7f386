//! Canopy's requests as `EVALSHA`s of the peer's scripts, and the scripts' replies as
//! Canopy's JSON replies (the `canopy-shared` types, so the shapes are Canopy's).

use super::Gateway;
use canopy_shared::model::{BallView, FriendView, PlayerView, PropKind, PropsView, TreeStage};
use canopy_shared::reply::{
    BallsResult, FriendsResult, GramsEnergyResult, MeResult, WaterResult, encode_err, encode_ok,
};
use canopy_shared::{BallId, ErrorBody, ErrorCode, PlayerId, Request};
use redis::Value;

/// Runs the script of `request` for `player` and encodes its reply.
pub async fn run(gateway: &Gateway, player: u64, id: u64, request: &Request) -> String {
    let s = &gateway.scripts;
    let mut cmd = redis::cmd("EVALSHA");
    match request {
        Request::Collect { ball_id } => cmd.arg(&s.collect).arg(0).arg(player).arg(ball_id.0),
        Request::Steal { friend_id, ball_id } => cmd
            .arg(&s.steal)
            .arg(0)
            .arg(player)
            .arg(friend_id.0)
            .arg(ball_id.0),
        Request::Water { friend_id, grams } => cmd
            .arg(&s.water)
            .arg(0)
            .arg(player)
            .arg(friend_id.0)
            .arg(*grams),
        Request::Me {} => cmd.arg(&s.me).arg(0).arg(player),
        Request::Friends {} => cmd.arg(&s.friends).arg(0).arg(player),
        Request::FriendBalls { friend_id } => {
            cmd.arg(&s.friend_balls).arg(0).arg(player).arg(friend_id.0)
        }
        other => {
            return encode_err(
                Some(id),
                ErrorBody::new(
                    ErrorCode::BadRequest,
                    format!("`{}` is not served by the Redis peer", other.op_name()),
                ),
            );
        }
    };
    let mut con = gateway.redis.clone();
    let value = match cmd.query_async::<Value>(&mut con).await {
        Ok(value) => value,
        Err(err) => {
            return encode_err(
                Some(id),
                ErrorBody::new(ErrorCode::Internal, err.to_string()),
            );
        }
    };
    match encode(request, player, id, &value) {
        Ok(text) => text,
        Err(error) => encode_err(Some(id), error),
    }
}

/// A script's reply: `{'ok', ...}` as the op's result, `{CODE}` as an error reply.
fn encode(request: &Request, player: u64, id: u64, value: &Value) -> Result<String, ErrorBody> {
    let items = Items::new(value)?;
    if let Some(code) = items.refusal() {
        return Err(ErrorBody::new(code, "refused by the rules"));
    }
    Ok(match request {
        Request::Collect { .. } | Request::Steal { .. } => encode_ok(
            id,
            &GramsEnergyResult {
                grams: items.int(1)?,
                energy: items.int(2)?,
            },
        ),
        Request::Water { .. } => encode_ok(
            id,
            &WaterResult {
                energy: items.int(1)?,
                ball_id: BallId(items.int(2)?),
            },
        ),
        Request::Me {} => {
            let energy = items.int(2)?;
            let cover = items.int(5)?;
            let player_view = PlayerView {
                id: PlayerId(player),
                name: items.text(1)?,
                energy,
                total_collected: items.int(3)?,
                tree: tree(&items.text(4)?)?,
                certificates: Vec::new(),
                // The peer keeps no props: every kind listed with 0, as Canopy lists them.
                props: PropsView {
                    inventory: PropKind::ALL.iter().map(|&kind| (kind, 0)).collect(),
                    active: Vec::new(),
                },
                protected_until: (cover > 0).then_some(cover),
                held: 0,
                holds: Vec::new(),
                // The peer keeps no vitality, trees or areas.
                vitality: 0,
                trees: 0,
                protected_m2: 0,
            };
            let balls = items.balls(player, 6)?;
            encode_ok(
                id,
                &MeResult {
                    player: player_view,
                    balls,
                },
            )
        }
        Request::Friends {} => {
            let n = items.int(1)? as usize;
            let mut friends = Vec::with_capacity(n);
            for at in (0..n).map(|i| 2 + i * 6) {
                let cover = items.int(at + 5)?;
                friends.push(FriendView {
                    player_id: PlayerId(items.int(at)?),
                    name: items.text(at + 1)?,
                    energy: items.int(at + 2)?,
                    total_collected: items.int(at + 3)?,
                    stealable_grams: items.int(at + 4)?,
                    protected_until: (cover > 0).then_some(cover),
                });
            }
            encode_ok(
                id,
                &FriendsResult {
                    friends,
                    incoming: Vec::new(),
                    outgoing: Vec::new(),
                    unavailable: Vec::new(),
                },
            )
        }
        Request::FriendBalls { friend_id } => encode_ok(
            id,
            &BallsResult {
                balls: items.balls(friend_id.0, 1)?,
                revivable: Vec::new(),
            },
        ),
        _ => return Err(ErrorBody::new(ErrorCode::Internal, "no script for this op")),
    })
}

fn tree(stage: &str) -> Result<TreeStage, ErrorBody> {
    Ok(match stage {
        "seed" => TreeStage::Seed,
        "sprout" => TreeStage::Sprout,
        "sapling" => TreeStage::Sapling,
        "tree" => TreeStage::Tree,
        _ => return Err(internal("unknown tree stage")),
    })
}

fn internal(what: &str) -> ErrorBody {
    ErrorBody::new(
        ErrorCode::Internal,
        format!("unexpected script reply: {what}"),
    )
}

/// A script's reply array.
struct Items<'a>(&'a [Value]);

impl<'a> Items<'a> {
    fn new(value: &'a Value) -> Result<Self, ErrorBody> {
        match value {
            Value::Array(items) if !items.is_empty() => Ok(Self(items)),
            _ => Err(internal("not an array")),
        }
    }

    /// The error code of a `{CODE}` reply.
    fn refusal(&self) -> Option<ErrorCode> {
        let Value::BulkString(first) = &self.0[0] else {
            return None;
        };
        if first == b"ok" {
            return None;
        }
        let code = String::from_utf8_lossy(first).into_owned();
        Some(serde_json::from_value(serde_json::Value::String(code)).unwrap_or(ErrorCode::Internal))
    }

    fn int(&self, at: usize) -> Result<u64, ErrorBody> {
        match self.0.get(at) {
            Some(Value::Int(n)) => u64::try_from(*n).map_err(|_| internal("a negative number")),
            _ => Err(internal("a number is missing")),
        }
    }

    fn text(&self, at: usize) -> Result<String, ErrorBody> {
        match self.0.get(at) {
            Some(Value::BulkString(bytes)) => Ok(String::from_utf8_lossy(bytes).into_owned()),
            _ => Err(internal("a string is missing")),
        }
    }

    /// `n` at `count_at`, then n balls of 8 fields: id, amount, stolen, stealable,
    /// created_at, ripe_at, expires_at, source.
    fn balls(&self, owner: u64, count_at: usize) -> Result<Vec<BallView>, ErrorBody> {
        let n = self.int(count_at)? as usize;
        let mut balls = Vec::with_capacity(n);
        for at in (0..n).map(|i| count_at + 1 + i * 8) {
            balls.push(BallView {
                ball_id: BallId(self.int(at)?),
                owner: PlayerId(owner),
                source: self.text(at + 7)?,
                amount: self.int(at + 1)?,
                created_at: self.int(at + 4)?,
                ripe_at: self.int(at + 5)?,
                expires_at: self.int(at + 6)?,
                stolen: self.int(at + 2)?,
                stealable: self.int(at + 3)?,
            });
        }
        Ok(balls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(text: &str) -> Value {
        Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn script_replies_become_canopy_replies() {
        let collect = Request::Collect { ball_id: BallId(9) };
        let ok = Value::Array(vec![bulk("ok"), Value::Int(12), Value::Int(40)]);
        assert_eq!(
            encode(&collect, 1, 5, &ok).expect("ok"),
            r#"{"id":5,"ok":true,"grams":12,"energy":40}"#
        );
        let gone = Value::Array(vec![bulk("GONE")]);
        assert_eq!(
            encode(&collect, 1, 5, &gone).map_err(|e| e.code),
            Err(ErrorCode::Gone)
        );
        let balls = Request::FriendBalls {
            friend_id: PlayerId(3),
        };
        let one_ball = Value::Array(
            [bulk("ok"), Value::Int(1)]
                .into_iter()
                .chain([7, 50, 0, 35, 1, 2, 3].map(Value::Int))
                .chain([bulk("walk")])
                .collect(),
        );
        assert_eq!(
            encode(&balls, 1, 6, &one_ball).expect("ok"),
            r#"{"id":6,"ok":true,"balls":[{"ball_id":7,"owner":3,"source":"walk","amount":50,"created_at":1,"ripe_at":2,"expires_at":3,"stolen":0,"stealable":35}]}"#
        );
    }
}
