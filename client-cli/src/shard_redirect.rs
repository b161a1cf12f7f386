//! Following a cluster's `WRONG_SHARD` redirect on login (docs/PROTOCOL.md, "Cluster
//! mode"): a shard that does not hold the player answers with the game socket of the
//! one that does; the client connects there and sends the same `login`. The CLI's
//! connection and each bot's wire both log in through [`log_in`].

use crate::connection::ReplyOutcome;
use canopy_shared::{ErrorBody, ErrorCode, Request};

/// A game socket a login can be sent on and moved to another shard.
pub trait GameLink: Sized {
    /// Why a connect or a call failed.
    type Error;

    /// Sends `request` and waits for its reply.
    fn call_once(
        &mut self,
        request: &Request,
    ) -> impl Future<Output = Result<ReplyOutcome, Self::Error>>;

    /// Replaces this connection with one to `url` (closing the old one).
    fn move_to(&mut self, url: &str) -> impl Future<Output = Result<(), Self::Error>>;
}

/// The shard a refusal sends the client to: the `redirect` of a `WRONG_SHARD`.
pub fn redirect_of(error: &ErrorBody) -> Option<&str> {
    match error {
        ErrorBody {
            code: ErrorCode::WrongShard,
            redirect: Some(url),
            ..
        } => Some(url),
        _ => None,
    }
}

/// What a login came to, and where.
pub struct LoggedIn {
    /// The login's reply (a second `WRONG_SHARD` stays an error: the shards' maps
    /// disagree, and following them round would not end).
    pub outcome: ReplyOutcome,
    /// The game socket the link was moved to, when the first shard redirected it.
    pub moved_to: Option<String>,
}

/// Logs `link` in with `token`, following one `WRONG_SHARD` redirect.
pub async fn log_in<L: GameLink>(link: &mut L, token: &str) -> Result<LoggedIn, L::Error> {
    let request = Request::Login {
        token: token.to_owned(),
    };
    let outcome = link.call_once(&request).await?;
    let Some(url) = outcome.as_ref().err().and_then(redirect_of) else {
        return Ok(LoggedIn {
            outcome,
            moved_to: None,
        });
    };
    let url = url.to_owned();
    link.move_to(&url).await?;
    Ok(LoggedIn {
        outcome: link.call_once(&request).await?,
        moved_to: Some(url),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    /// Shards by URL, each answering a login from a script.
    struct Scripted {
        at: String,
        answers: fn(&str) -> ReplyOutcome,
        visited: Vec<String>,
    }

    impl GameLink for Scripted {
        type Error = String;

        async fn call_once(&mut self, _request: &Request) -> Result<ReplyOutcome, String> {
            self.visited.push(self.at.clone());
            Ok((self.answers)(&self.at))
        }

        async fn move_to(&mut self, url: &str) -> Result<(), String> {
            self.at = url.to_owned();
            Ok(())
        }
    }

    fn logged_in() -> ReplyOutcome {
        let mut fields = Map::new();
        fields.insert("player_id".into(), json!(2));
        Ok(fields)
    }

    fn run(answers: fn(&str) -> ReplyOutcome) -> (LoggedIn, Vec<String>) {
        let mut link = Scripted {
            at: "ws://a/ws".into(),
            answers,
            visited: Vec::new(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        let logged = runtime
            .block_on(log_in(&mut link, "2.secret"))
            .expect("no transport error");
        (logged, link.visited)
    }

    #[test]
    fn a_redirect_is_followed_and_the_login_repeated_at_the_home_shard() {
        let (logged, visited) = run(|at| match at {
            "ws://b/ws" => logged_in(),
            _ => Err(ErrorBody::redirect("on shard 1", "ws://b/ws")),
        });
        assert_eq!(visited, ["ws://a/ws", "ws://b/ws"]);
        assert_eq!(logged.moved_to.as_deref(), Some("ws://b/ws"));
        assert!(logged.outcome.is_ok());
    }

    #[test]
    fn a_login_at_home_stays_and_other_refusals_are_not_followed() {
        let (logged, visited) = run(|_| logged_in());
        assert_eq!((visited.len(), logged.moved_to), (1, None));
        let (logged, visited) = run(|_| {
            Err(ErrorBody::new(
                ErrorCode::WrongShard,
                "shard 1 has not joined",
            ))
        });
        assert_eq!((visited.len(), logged.moved_to), (1, None));
        assert!(logged.outcome.is_err());
    }

    #[test]
    fn a_second_redirect_is_an_error_not_a_loop() {
        let (logged, visited) = run(|at| {
            let next = if at == "ws://a/ws" {
                "ws://b/ws"
            } else {
                "ws://a/ws"
            };
            Err(ErrorBody::redirect("elsewhere", next))
        });
        assert_eq!(visited, ["ws://a/ws", "ws://b/ws"]);
        let error = logged.outcome.expect_err("still refused");
        assert_eq!(error.code, ErrorCode::WrongShard);
    }
}
