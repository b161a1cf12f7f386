//! Frame envelopes: reading a request frame on the server, reading any server frame on
//! a client.

use crate::error::{ErrorBody, ErrorCode};
use crate::event::Event;
use crate::request::Request;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Why a request frame could not be read; `id` is what the reply must echo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// The request id when it could be read, else `None` (sent as `null`).
    pub id: Option<u64>,
    /// A `BAD_REQUEST` body saying what is wrong.
    pub error: ErrorBody,
}

/// Reads one request frame: `{"id": <u64>, "op": "<name>", ...fields}`.
///
/// Malformed JSON, a non-object or a missing/non-integer `id` yield `id: None`; an
/// unknown op, missing fields or wrong types yield the frame's id. Every failure is
/// `BAD_REQUEST`.
pub fn decode_request(text: &str) -> Result<(u64, Request), DecodeError> {
    let bad = |id, message: String| DecodeError {
        id,
        error: ErrorBody::new(ErrorCode::BadRequest, message),
    };
    let value: Value =
        serde_json::from_str(text).map_err(|err| bad(None, format!("malformed JSON: {err}")))?;
    let Value::Object(fields) = value else {
        return Err(bad(None, "a request must be a JSON object".into()));
    };
    let id = match fields.get("id") {
        Some(Value::Number(n)) => n.as_u64(),
        _ => None,
    }
    .ok_or_else(|| {
        bad(
            None,
            "a request needs an `id` that is a non-negative integer".into(),
        )
    })?;
    match fields.get("op") {
        Some(Value::String(_)) => {}
        Some(_) => return Err(bad(Some(id), "`op` must be a string".into())),
        None => return Err(bad(Some(id), "a request needs an `op`".into())),
    }
    let request = Request::deserialize(Value::Object(fields))
        .map_err(|err| bad(Some(id), format!("invalid request: {err}")))?;
    Ok((id, request))
}

/// The JSON text of a request frame, as a client sends it.
pub fn encode_request(id: u64, request: &Request) -> String {
    #[derive(Serialize)]
    struct Envelope<'a> {
        id: u64,
        #[serde(flatten)]
        request: &'a Request,
    }
    serde_json::to_string(&Envelope { id, request }).expect("a request serializes to JSON")
}

/// A reply as a client reads it, before its result is typed.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplyFrame {
    /// The echoed request id (`None` for frames the server could not read).
    pub id: Option<u64>,
    /// The result fields, or the error.
    pub outcome: Result<Map<String, Value>, ErrorBody>,
}

impl ReplyFrame {
    /// Types the result as `T`, or returns the error the server sent.
    pub fn into_result<T: DeserializeOwned>(self) -> Result<T, ErrorBody> {
        let fields = self.outcome?;
        serde_json::from_value(Value::Object(fields)).map_err(|err| {
            ErrorBody::new(
                ErrorCode::Internal,
                format!("the reply does not have the expected shape: {err}"),
            )
        })
    }
}

/// Any frame a server sends.
#[derive(Clone, Debug, PartialEq)]
pub enum ServerFrame {
    /// The reply to a request.
    Reply(ReplyFrame),
    /// A pushed event.
    Event(Event),
}

/// Reads a frame from the server: an event when it has `event`, else a reply.
pub fn decode_server_frame(text: &str) -> Result<ServerFrame, serde_json::Error> {
    let mut fields: Map<String, Value> = serde_json::from_str(text)?;
    if fields.contains_key("event") {
        return Event::deserialize(Value::Object(fields)).map(ServerFrame::Event);
    }
    let id = fields.remove("id").and_then(|id| id.as_u64());
    let ok = fields
        .remove("ok")
        .and_then(|ok| ok.as_bool())
        .unwrap_or(false);
    let outcome = if ok {
        Ok(fields)
    } else {
        let error = fields.remove("error").unwrap_or(Value::Null);
        Err(ErrorBody::deserialize(error)?)
    };
    Ok(ServerFrame::Reply(ReplyFrame { id, outcome }))
}
