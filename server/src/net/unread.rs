//! How far a client is behind in reading, in bytes, whatever the kernel buffers hold.
//!
//! A socket write succeeds as soon as the kernel takes the bytes, and loopback or
//! autotuned buffers take several MiB, so a client that never reads can look healthy for
//! a long time. The session therefore counts the bytes it sends and now and then sends a
//! ping whose payload is a fresh random nonce: the client's WebSocket library answers it
//! only once it has read everything sent before it, so the matching pong proves those
//! bytes were read. A session with more than `limit` bytes unproven stops writing.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Bytes sent and bytes proven read by a pong, for one session.
#[derive(Debug)]
pub struct UnreadBytes {
    sent: u64,
    proven_read: u64,
    limit: u64,
    /// The ping in flight: its payload, and the bytes sent before it.
    probe: Option<([u8; 8], u64)>,
    /// Makes the nonces, so a client cannot answer a ping it has not read.
    nonces: StdRng,
}

impl UnreadBytes {
    /// A tracker that allows `limit` unproven bytes.
    pub fn new(limit: u64) -> Self {
        Self {
            sent: 0,
            proven_read: 0,
            limit,
            probe: None,
            nonces: StdRng::from_rng(&mut rand::rng()),
        }
    }

    /// Whether `bytes` more may be written without exceeding the limit. A frame larger
    /// than the whole limit may go once everything before it was read.
    pub fn may_send(&self, bytes: u64) -> bool {
        self.unproven() == 0 || self.unproven() + bytes <= self.limit
    }

    /// Counts bytes written. Returns the payload of a ping to send now when no probe is
    /// in flight and a quarter of the limit is unproven.
    pub fn sent(&mut self, bytes: u64) -> Option<[u8; 8]> {
        self.sent += bytes;
        if self.unproven() < self.limit / 4 {
            return None;
        }
        self.probe()
    }

    /// The payload of a ping to send now, unless one is in flight or everything sent was
    /// read: a frame waiting for the client always has a probe that can release it.
    pub fn probe(&mut self) -> Option<[u8; 8]> {
        if self.probe.is_some() || self.unproven() == 0 {
            return None;
        }
        let payload = self.nonces.next_u64().to_be_bytes();
        self.probe = Some((payload, self.sent));
        Some(payload)
    }

    /// A pong arrived: if it answers the probe in flight, everything sent before that
    /// probe has been read, and this returns `true`. Other pongs (keepalive,
    /// unsolicited, forged) prove nothing.
    pub fn pong(&mut self, payload: &[u8]) -> bool {
        match self.probe {
            Some((expected, sent_before)) if payload == expected => {
                self.proven_read = sent_before;
                self.probe = None;
                true
            }
            _ => false,
        }
    }

    fn unproven(&self) -> u64 {
        self.sent - self.proven_read
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn a_client_that_never_answers_is_held_at_the_limit() {
        let mut unread = UnreadBytes::new(1_000);
        assert_eq!(unread.sent(249), None);
        assert!(unread.sent(1).is_some(), "a probe at a quarter");
        assert_eq!(unread.sent(500), None, "one probe at a time");
        assert!(unread.may_send(250));
        assert!(!unread.may_send(251));
    }

    #[test]
    fn only_the_answer_to_the_probe_proves_bytes_read() {
        let mut unread = UnreadBytes::new(1_000);
        let probe = unread.sent(400).expect("a probe at 400 of 1000");
        unread.sent(500);
        assert!(!unread.pong(b""));
        assert!(!unread.pong(&[0; 8]));
        assert!(!unread.may_send(101), "forged pongs prove nothing");
        assert!(unread.pong(&probe));
        assert!(
            unread.may_send(500),
            "the 400 bytes before the probe were read"
        );
        assert!(!unread.may_send(501), "the 500 after it were not");
        assert!(!unread.pong(&probe), "a probe answers once");
        assert!(!unread.may_send(501));
    }

    #[test]
    fn a_waiting_frame_always_has_a_probe_that_can_release_it() {
        let mut unread = UnreadBytes::new(1_000);
        assert_eq!(unread.probe(), None, "nothing unread, nothing to prove");
        assert_eq!(unread.sent(100), None, "under a quarter");
        assert!(!unread.may_send(901));
        let probe = unread.probe().expect("a probe for the 100 unproven bytes");
        assert_eq!(unread.probe(), None, "one at a time");
        assert!(unread.pong(&probe));
        assert!(
            unread.may_send(5_000),
            "a frame over the limit goes once all was read"
        );
    }
}
