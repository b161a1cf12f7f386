//! Failures in words: what each protocol error code means, with the server's message.

use crate::error::CliError;
use canopy_shared::ErrorCode;

/// What an error code means, for people.
pub fn explain(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => "the request was malformed or a value is out of range",
        ErrorCode::UnsupportedVersion => "the server does not speak this protocol version",
        ErrorCode::Unauthenticated => {
            "the token is missing or was refused (players: `canopy register NAME` or \
             `canopy login TOKEN`; admin calls: --admin-token or CANOPY_ADMIN_TOKEN)"
        }
        ErrorCode::Forbidden => {
            "you may not do that (partner-only actions go through `admin action`; an admin \
             call needs an ops token with the role the server names)"
        }
        ErrorCode::NotFound => {
            "no such thing exists (ball, player, species, request, invitation or prop in your \
             inventory)"
        }
        ErrorCode::NotYours => "that ball belongs to someone else",
        ErrorCode::NotFriends => "you are not friends with that player",
        ErrorCode::Blocked => "one of you blocked the other",
        ErrorCode::NotRipe => "the ball has not ripened yet",
        ErrorCode::Gone => "the ball was already collected, emptied or expired",
        ErrorCode::Protected => "the owner's protection cover stopped you",
        ErrorCode::AlreadyStolen => "you already took from this ball as often as allowed",
        ErrorCode::NothingLeft => "the ball is down to the share its owner keeps",
        ErrorCode::InsufficientEnergy => "your energy balance is too low",
        ErrorCode::LimitReached => "a cap or limit was reached",
        ErrorCode::Conflict => "that conflicts with the current state",
        ErrorCode::RateLimited => "too many requests: slow down",
        ErrorCode::Overloaded => "the server is saturated: try again shortly",
        ErrorCode::ShuttingDown => "the server is stopping",
        ErrorCode::Internal => "the server failed (or does not implement this op yet)",
        ErrorCode::RiskDenied => "the server's risk checks refused this as abnormal activity",
        ErrorCode::BudgetExhausted => "the task's budget is spent; the task has closed",
        ErrorCode::NotAccepted => "the player has not accepted that task (`task-accept ID`)",
        ErrorCode::NotEligible => {
            "the task is not open to that player, or (energy rain) you have no round played \
             to give a chance for"
        }
        ErrorCode::OutsideWindow => "the task or the energy rain round has not started or is over",
        ErrorCode::TaskClosed => "the task is paused or closed",
        ErrorCode::WrongShard => {
            "this player lives on another shard of the cluster: connect there (--server)"
        }
        ErrorCode::InsufficientVitality => "your vitality is too low for that item (see `shop`)",
        ErrorCode::AlreadyRevived => "another friend already revived that ball",
        ErrorCode::BadTiming => {
            "the tap's time is further from the server's clock than the round's tolerance \
             (a slow network or a wrong clock)"
        }
        ErrorCode::OffScreen => "that rain ball was not on screen at the time of the tap",
        ErrorCode::ShardTimeout => {
            "the other player's shard has not answered yet; the op stays queued there"
        }
    }
}

/// The message printed on stderr for a failed command.
pub fn error_text(err: &CliError) -> String {
    match err {
        CliError::Server(body) => format!(
            "error: {} — {}\n  server says: {}",
            body.code,
            explain(body.code),
            body.message
        ),
        CliError::Usage(message) => format!("usage error: {message}"),
        CliError::Connection(message) => format!("connection error: {message}"),
        CliError::Local(message) => format!("error: {message}"),
        CliError::Http { .. } => format!("error: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_shared::ErrorBody;

    #[test]
    fn server_errors_name_their_code() {
        let text = error_text(&CliError::Server(ErrorBody::new(
            ErrorCode::NotFound,
            "no ball 999",
        )));
        assert!(
            text.starts_with("error: NOT_FOUND — no such thing"),
            "{text}"
        );
        assert!(text.contains("no ball 999"), "{text}");
    }
}
