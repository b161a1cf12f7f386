//! Optional built-in TLS for the game socket (`wss://`) and the ops port (`https://`),
//! with rustls (ring). The certificate and key come from `[tls]` in the config and are
//! read again at every reload (SIGHUP, `POST /admin/reload`): new connections get the
//! new certificate, connections already open keep theirs and are never dropped.
//! Whether TLS is on at all is decided at start.

use crate::config::{Config, TlsConfig};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::ring;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS side of both listeners: `None` inside when the server speaks plain TCP.
#[derive(Default)]
pub struct Tls {
    acceptor: RwLock<Option<TlsAcceptor>>,
}

/// Reads the certificate chain and key of `[tls]` into an acceptor.
fn acceptor(config: &TlsConfig) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&config.cert_file)
        .and_then(Iterator::collect)
        .map_err(|err| format!("tls.cert_file {}: {err}", config.cert_file.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "tls.cert_file {} holds no PEM certificate",
            config.cert_file.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&config.key_file)
        .map_err(|err| format!("tls.key_file {}: {err}", config.key_file.display()))?;
    let server = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup: {err}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|err| format!("tls: the certificate and key do not make a pair: {err}"))?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

impl Tls {
    /// TLS as `config` asks for it (none without `[tls]`), or why its files are unusable.
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let acceptor = config.tls.as_ref().map(acceptor).transpose()?;
        Ok(Self {
            acceptor: RwLock::new(acceptor),
        })
    }

    /// Reads the certificate and key again for the connections to come. A server
    /// started without TLS stays without (and one started with it keeps it).
    pub fn reload(&self, config: &Config) -> Result<(), String> {
        let mut current = self
            .acceptor
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match (&*current, &config.tls) {
            (Some(_), Some(tls)) => *current = Some(acceptor(tls)?),
            (None, None) => {}
            _ => tracing::warn!("turning TLS on or off takes a restart; keeping the running mode"),
        }
        Ok(())
    }

    fn current(&self) -> Option<TlsAcceptor> {
        self.acceptor
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Performs the TLS handshake on `stream` when TLS is on, within `deadline`.
    pub async fn accept(&self, stream: TcpStream, deadline: Duration) -> io::Result<MaybeTls> {
        let Some(acceptor) = self.current() else {
            return Ok(MaybeTls::Plain(stream));
        };
        match tokio::time::timeout(deadline, acceptor.accept(stream)).await {
            Ok(accepted) => Ok(MaybeTls::Tls(Box::new(accepted?))),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
        }
    }
}

/// A connection, in TLS or not.
pub enum MaybeTls {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl AsyncRead for MaybeTls {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

/// Ops connections whose TLS handshakes run at once; more wait in the kernel's backlog.
const MAX_OPS_HANDSHAKES: usize = 256;

/// The ops port's listener. A task accepts TCP and runs each connection's TLS handshake
/// (when TLS is on) on a task of its own, bounded by the handshake deadline, so a slow
/// or stalled client delays no other ops call; finished connections are handed to the
/// HTTP server in the order their handshakes end. A failed handshake is dropped.
pub struct OpsListener {
    ready: mpsc::Receiver<(MaybeTls, SocketAddr)>,
    local_addr: SocketAddr,
    acceptor: tokio::task::JoinHandle<()>,
}

impl OpsListener {
    /// Starts accepting on `listener`, with handshakes of at most `deadline`.
    pub fn new(listener: TcpListener, tls: Arc<Tls>, deadline: Duration) -> io::Result<Self> {
        let local_addr = listener.local_addr()?;
        let (ready_tx, ready) = mpsc::channel(MAX_OPS_HANDSHAKES);
        let acceptor = tokio::spawn(accept_ops(listener, tls, deadline, ready_tx));
        Ok(Self {
            ready,
            local_addr,
            acceptor,
        })
    }
}

impl Drop for OpsListener {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

/// Accepts ops connections until the listener is dropped, each handshake on its own task.
async fn accept_ops(
    listener: TcpListener,
    tls: Arc<Tls>,
    deadline: Duration,
    ready: mpsc::Sender<(MaybeTls, SocketAddr)>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_OPS_HANDSHAKES));
    loop {
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(err) => {
                tracing::warn!(%err, "ops accept failed; pausing accepts");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let (tls, ready) = (tls.clone(), ready.clone());
        tokio::spawn(async move {
            let _permit = permit;
            match tls.accept(stream, deadline).await {
                // The HTTP server has stopped when nobody receives: drop the connection.
                Ok(stream) => {
                    let _ = ready.send((stream, peer)).await;
                }
                Err(err) => tracing::debug!(%peer, %err, "ops TLS handshake failed"),
            }
        });
    }
}

impl axum::serve::Listener for OpsListener {
    type Io = MaybeTls;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task ended (the runtime is shutting down): accept no more.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
