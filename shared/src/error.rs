//! Error codes: the code is the contract, the message is for humans.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every error code of the protocol. Each game error maps to exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// A malformed, missing or out-of-range field; also unknown ops and binary frames.
    BadRequest,
    /// `hello` named a protocol version the server does not speak.
    UnsupportedVersion,
    /// The op needs a logged-in connection.
    Unauthenticated,
    /// The caller may not do this (e.g. a player reporting a partner-only action).
    Forbidden,
    /// No such thing ever existed, or the id is malformed.
    NotFound,
    /// The ball belongs to someone else.
    NotYours,
    /// The op needs a friendship that does not exist.
    NotFriends,
    /// One side blocked the other.
    Blocked,
    /// The ball has not ripened yet.
    NotRipe,
    /// It existed but is no longer there to take: collected, emptied or expired.
    Gone,
    /// The owner's protection cover stopped the steal.
    Protected,
    /// This thief already hit this ball as often as allowed.
    AlreadyStolen,
    /// The ball is down to its owner's kept share.
    NothingLeft,
    /// The balance is too low.
    InsufficientEnergy,
    /// A cap or limit was reached.
    LimitReached,
    /// The request conflicts with existing state (already friends, clock not manual, ...).
    Conflict,
    /// The connection sent more than its rate limit allows.
    RateLimited,
    /// The server is saturated or cannot make changes durable right now.
    Overloaded,
    /// The server is stopping.
    ShuttingDown,
    /// A fault on the server's side.
    Internal,
    /// The risk engine refused the action (see docs/RISK.md); the message says why.
    RiskDenied,
    /// The task's remaining budget cannot cover the reward; the task has closed.
    BudgetExhausted,
    /// The player has not accepted the task.
    NotAccepted,
    /// The player is outside the task's audience.
    NotEligible,
    /// The task's window has not begun or is over.
    OutsideWindow,
    /// The task is paused or closed.
    TaskClosed,
    /// Cluster mode: the player lives on another shard; `redirect` names its game socket.
    WrongShard,
    /// The vitality balance is too low for the purchase.
    InsufficientVitality,
    /// Another friend already revived this expired ball.
    AlreadyRevived,
    /// A rain tap's `at` is further from the server's clock than the tolerance.
    BadTiming,
    /// The rain ball tapped was not on screen at `at` by the server's simulation.
    OffScreen,
    /// Cluster mode: the other player's shard did not decide in time; the op stays
    /// queued and takes effect if and when that shard decides it.
    ShardTimeout,
}

impl ErrorCode {
    /// The code exactly as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "BAD_REQUEST",
            Self::UnsupportedVersion => "UNSUPPORTED_VERSION",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::NotYours => "NOT_YOURS",
            Self::NotFriends => "NOT_FRIENDS",
            Self::Blocked => "BLOCKED",
            Self::NotRipe => "NOT_RIPE",
            Self::Gone => "GONE",
            Self::Protected => "PROTECTED",
            Self::AlreadyStolen => "ALREADY_STOLEN",
            Self::NothingLeft => "NOTHING_LEFT",
            Self::InsufficientEnergy => "INSUFFICIENT_ENERGY",
            Self::LimitReached => "LIMIT_REACHED",
            Self::Conflict => "CONFLICT",
            Self::RateLimited => "RATE_LIMITED",
            Self::Overloaded => "OVERLOADED",
            Self::ShuttingDown => "SHUTTING_DOWN",
            Self::Internal => "INTERNAL",
            Self::RiskDenied => "RISK_DENIED",
            Self::BudgetExhausted => "BUDGET_EXHAUSTED",
            Self::NotAccepted => "NOT_ACCEPTED",
            Self::NotEligible => "NOT_ELIGIBLE",
            Self::OutsideWindow => "OUTSIDE_WINDOW",
            Self::TaskClosed => "TASK_CLOSED",
            Self::WrongShard => "WRONG_SHARD",
            Self::InsufficientVitality => "INSUFFICIENT_VITALITY",
            Self::AlreadyRevived => "ALREADY_REVIVED",
            Self::BadTiming => "BAD_TIMING",
            Self::OffScreen => "OFF_SCREEN",
            Self::ShardTimeout => "SHARD_TIMEOUT",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The `error` object of a failed reply or admin answer.
///
/// In JSON (the wire) it is `code`, `message` and, only when set, `redirect`. In binary
/// formats (postcard: the store's receipts) it stays exactly `code` and `message`, as
/// stores written before `redirect` existed hold it: postcard cannot skip a field, and a
/// redirect is a routing answer that is never stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorBody {
    /// The machine-readable code.
    pub code: ErrorCode,
    /// A human explanation; it may change between versions.
    pub message: String,
    /// With `WRONG_SHARD`: the game socket URL of the shard to connect to instead.
    pub redirect: Option<String>,
}

/// [`ErrorBody`] on the wire (JSON).
#[derive(Serialize, Deserialize)]
struct WireErrorBody<'a> {
    code: ErrorCode,
    #[serde(borrow)]
    message: std::borrow::Cow<'a, str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    redirect: Option<std::borrow::Cow<'a, str>>,
}

/// [`ErrorBody`] in binary formats (the store), unchanged since before `redirect`.
#[derive(Serialize, Deserialize)]
struct StoredErrorBody<'a> {
    code: ErrorCode,
    #[serde(borrow)]
    message: std::borrow::Cow<'a, str>,
}

impl Serialize for ErrorBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let message = std::borrow::Cow::Borrowed(self.message.as_str());
        if serializer.is_human_readable() {
            WireErrorBody {
                code: self.code,
                message,
                redirect: self.redirect.as_deref().map(std::borrow::Cow::Borrowed),
            }
            .serialize(serializer)
        } else {
            StoredErrorBody {
                code: self.code,
                message,
            }
            .serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let wire = WireErrorBody::deserialize(deserializer)?;
            Ok(Self {
                code: wire.code,
                message: wire.message.into_owned(),
                redirect: wire.redirect.map(std::borrow::Cow::into_owned),
            })
        } else {
            let stored = StoredErrorBody::deserialize(deserializer)?;
            Ok(Self::new(stored.code, stored.message.into_owned()))
        }
    }
}

impl ErrorBody {
    /// An error with the given code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            redirect: None,
        }
    }

    /// A `WRONG_SHARD` error that sends the client to `url`.
    pub fn redirect(message: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            redirect: Some(url.into()),
            ..Self::new(ErrorCode::WrongShard, message)
        }
    }
}

impl fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ErrorBody {}
