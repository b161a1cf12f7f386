//! The game socket: accepts WebSocket connections at `/ws` and runs one task per
//! session. Connections are capped; the handshake has a deadline.

mod host_jwt;
pub mod open_files;
pub(crate) mod rate_limit;
pub(crate) mod registrations;
mod session;
mod unread;

pub use rate_limit::{TokenBucket, Verdict};

use crate::cluster::{Router, SharedRegistrations};
use crate::config::Config;
use crate::game_loop::GameHandle;
use crate::metrics::Metrics;
use crate::tls::Tls;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

/// What every session task shares.
#[derive(Clone)]
pub struct NetContext {
    /// The way to the game thread.
    pub game: GameHandle,
    /// The config in force (sessions read limits from it when they start).
    pub config: watch::Receiver<Arc<Config>>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// TLS for new connections (none when the server speaks plain `ws://`).
    pub tls: Arc<Tls>,
    /// The `register` allowance of each source address.
    registrations: Arc<registrations::RegistrationLimits>,
    /// Cluster mode: the allowances every shard shares.
    shared_registrations: Option<Arc<SharedRegistrations>>,
    /// Cluster mode: where logins of other shards' players go.
    pub router: Option<Router>,
    next_session: Arc<AtomicU64>,
}

impl NetContext {
    /// Context for the sessions of one server.
    pub fn new(
        game: GameHandle,
        config: watch::Receiver<Arc<Config>>,
        metrics: Arc<Metrics>,
        tls: Arc<Tls>,
    ) -> Self {
        Self {
            game,
            config,
            metrics,
            tls,
            registrations: Arc::default(),
            shared_registrations: None,
            router: None,
            next_session: Arc::new(AtomicU64::new(0)),
        }
    }

    /// This context in a cluster: logins routed by the shard map, registrations counted
    /// against allowances every shard shares.
    pub fn in_cluster(self, router: Router, registrations: Arc<SharedRegistrations>) -> Self {
        Self {
            router: Some(router),
            shared_registrations: Some(registrations),
            ..self
        }
    }

    fn next_session_id(&self) -> crate::game::SessionId {
        crate::game::SessionId(self.next_session.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// Accepts connections until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    context: NetContext,
    mut shutdown: watch::Receiver<bool>,
) {
    let max_connections = context.config.borrow().server.max_connections;
    let permits = Arc::new(Semaphore::new(max_connections));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.wait_for(|&stop| stop) => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // Most often out of file descriptors: the connection stays in the
                // backlog, so accepting again at once would spin on the error.
                tracing::warn!(%err, "accept failed; pausing accepts");
                tokio::time::sleep(ACCEPT_PAUSE).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "connection refused: max_connections reached");
            continue;
        };
        // Frames are small and each is flushed whole: without this, Nagle's algorithm
        // holds a reply until the client's delayed ACK (40 ms on Linux).
        if let Err(err) = stream.set_nodelay(true) {
            tracing::debug!(%peer, %err, "TCP_NODELAY could not be set");
        }
        let context = context.clone();
        tokio::spawn(async move {
            session::run(stream, peer, context).await;
            drop(permit);
        });
    }
    // Sessions close once the game thread drops their outboxes; give them time to
    // send `server_shutdown` and their close frames.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, permits.acquire_many(all)).await;
}

/// How long the accept loop waits after a failed accept.
const ACCEPT_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// How long a stopping server waits for sessions to say goodbye.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
