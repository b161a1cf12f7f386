//! Wiring one server: open the store, load the game, start the game thread, the game
//! socket and the ops HTTP, and stop them in order.

use crate::cluster::{self, Cluster, Partition};
use crate::config::Config;
use crate::game::resources::Counters;
use crate::game::{ClockMode, Game};
use crate::game_loop::GameLoop;
use crate::metrics::Metrics;
use crate::net::{self, NetContext};
use crate::ops::{self, OpsState};
use crate::partner_secret::{PARTNER_SECRET_FILE, PartnerSecret};
use crate::risk_graph::{self, FlowSource, GraphHandle};
use crate::store::{SledStore, Store};
use crate::tls::{OpsListener, Tls};
use anyhow::Context;
use canopy_shared::Millis;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Everything a server needs besides its listeners.
pub struct ServerOptions {
    /// The validated config.
    pub config: Config,
    /// Where the config came from, for reloads (`None`: embedded).
    pub config_path: Option<PathBuf>,
    /// The sled data directory.
    pub data_dir: PathBuf,
    /// Wall or manual clock.
    pub clock: ClockMode,
    /// Where a manual clock starts (default: the last persisted time, else now).
    pub clock_start: Option<Millis>,
}

/// Runs a server on the sled store in `options.data_dir` until `shutdown` completes.
/// Refuses to start, before touching the data dir, if the built-in default admin token
/// would be served on a non-loopback address.
pub async fn run(
    options: ServerOptions,
    game_listener: TcpListener,
    ops_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    ops::auth::refuse_default_token_beyond_loopback(
        &options.config,
        &listening(&game_listener, &ops_listener)?,
    )?;
    crate::net::open_files::allow_connections(options.config.server.max_connections);
    let store = SledStore::open(&options.data_dir, options.config.store.cache_capacity_mb)
        .with_context(|| format!("opening the store at {}", options.data_dir.display()))?;
    let secret = partner_secret(&options)?;
    serve(
        options,
        Arc::new(store),
        secret,
        game_listener,
        ops_listener,
        shutdown,
    )
    .await
}

/// The partner secret: `store.partner_secret_file`, or `partner-secret` in the data
/// dir, created at first start.
fn partner_secret(options: &ServerOptions) -> anyhow::Result<PartnerSecret> {
    let path = options
        .config
        .store
        .partner_secret_file
        .clone()
        .unwrap_or_else(|| options.data_dir.join(PARTNER_SECRET_FILE));
    let (secret, created) = PartnerSecret::load_or_create(&path)?;
    if created {
        tracing::info!(
            path = %path.display(),
            "created the partner secret; back it up apart from the store's backups"
        );
    }
    Ok(secret)
}

/// The game and ops addresses as bound (a host name is resolved by then).
fn listening(
    game_listener: &TcpListener,
    ops_listener: &TcpListener,
) -> anyhow::Result<[SocketAddr; 2]> {
    let game_addr = game_listener
        .local_addr()
        .context("reading the game address")?;
    let ops_addr = ops_listener
        .local_addr()
        .context("reading the ops address")?;
    Ok([game_addr, ops_addr])
}

/// Runs a server on any store, its partner keys sealed under `secret`, until `shutdown`
/// completes, then stops cleanly: stop accepting, finish and flush the current tick,
/// tell every client, close. Refuses, as [`run`] does, the default admin token on a
/// non-loopback address, and a secret that does not open the partner keys.
pub async fn serve(
    options: ServerOptions,
    store: Arc<dyn Store>,
    secret: PartnerSecret,
    game_listener: TcpListener,
    ops_listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let listening = listening(&game_listener, &ops_listener)?;
    let [game_addr, ops_addr] = listening;
    ops::auth::refuse_default_token_beyond_loopback(&options.config, &listening)?;
    let tls = Arc::new(Tls::from_config(&options.config).map_err(anyhow::Error::msg)?);
    let config = Arc::new(options.config);
    let mut game = Game::load(
        config.clone(),
        store.clone(),
        options.clock,
        options.clock_start,
        None,
    )
    .with_context(|| format!("loading the world from {}", options.data_dir.display()))?;
    game.open_partner_keys(secret.clone()).with_context(|| {
        format!(
            "opening the partner keys of {}: start with the partner secret this store was \
             sealed with (store.partner_secret_file; a restored or copied store needs the \
             partner-secret file that was beside it)",
            options.data_dir.display()
        )
    })?;
    let mut cluster = join_cluster(&config, &game, &secret).await?;
    let metrics = Arc::new(Metrics::new());
    let flows = game.flow_sink();
    let unconfirmed = game.unconfirmed_messages();
    let (mut game_loop, handle) = GameLoop::new(game, metrics.clone());
    if let Some(cluster) = &mut cluster {
        let (dispatch_tx, dispatches) = tokio::sync::mpsc::unbounded_channel();
        game_loop.relay_to(dispatch_tx);
        cluster.serve(handle.clone(), store.clone(), unconfirmed, dispatches);
    }
    let game_thread = std::thread::Builder::new()
        .name("game".into())
        .spawn(move || game_loop.run())
        .context("starting the game thread")?;

    let (config_tx, config_rx) = watch::channel(config);
    let (stop_tx, stop_rx) = watch::channel(false);
    let risk_graph = GraphHandle::default();
    let flow_source = match &mut cluster {
        Some(cluster) => {
            cluster.serve_risk(handle.clone(), flows, risk_graph.clone());
            FlowSource::Cluster(cluster.risk())
        }
        None => FlowSource::Local(flows),
    };
    let graph_task = tokio::spawn(risk_graph::run(
        risk_graph.clone(),
        flow_source,
        config_rx.clone(),
        handle.clone(),
        metrics.clone(),
        stop_rx.clone(),
    ));
    let ops_state = OpsState {
        game: handle.clone(),
        metrics: metrics.clone(),
        config: Arc::new(config_tx),
        config_path: options.config_path,
        store,
        listening: listening.to_vec(),
        partner_gate: Arc::default(),
        risk_graph,
        tls: tls.clone(),
        cluster: cluster.as_ref().map(|cluster| cluster.router.clone()),
        cluster_audit: cluster.as_ref().map(Cluster::auditor),
        cluster_services: cluster.as_ref().and_then(Cluster::services),
        cluster_risk: cluster.as_ref().map(Cluster::risk),
    };
    let handshake_deadline = Duration::from_secs(config_rx.borrow().server.handshake_timeout_secs);
    let mut context = NetContext::new(handle.clone(), config_rx, metrics, tls.clone());
    if let Some(cluster) = &cluster {
        context = context.in_cluster(cluster.router.clone(), cluster.registrations.clone());
    }
    let net_task = tokio::spawn(net::serve(game_listener, context, stop_rx.clone()));
    let mut ops_stop = stop_rx.clone();
    let ops_task = tokio::spawn(
        axum::serve(
            OpsListener::new(ops_listener, tls, handshake_deadline)?,
            ops::router(ops_state.clone()),
        )
        .with_graceful_shutdown(async move {
            let _ = ops_stop.wait_for(|&stop| stop).await;
        })
        .into_future(),
    );
    let reload_task = tokio::spawn(reload_on_sighup(ops_state));
    tracing::info!(%game_addr, %ops_addr, "canopy-server running");

    shutdown.await;
    tracing::info!("stopping: no new connections, flushing the last tick");
    stop_tx.send_replace(true);
    handle.stop();
    tokio::task::spawn_blocking(move || game_thread.join())
        .await
        .context("joining the game thread")?
        .map_err(|_| anyhow::anyhow!("the game thread panicked"))?;
    reload_task.abort();
    let _ = graph_task.await;
    // Awaited so its handle on the store is dropped before `serve` returns.
    let _ = reload_task.await;
    net_task.await.context("the game socket task failed")?;
    ops_task.await.context("the ops task failed")??;
    Ok(())
}

/// In cluster mode: checks that the store is this shard's, then joins the shard map
/// (refused if `secret` is not the cluster's partner secret).
async fn join_cluster(
    config: &Config,
    game: &Game,
    secret: &PartnerSecret,
) -> anyhow::Result<Option<Cluster>> {
    if !config.cluster.enabled {
        return Ok(None);
    }
    let last_player = game.world().resource::<Counters>().next_player;
    Partition::from_config(&config.cluster).check_store(last_player)?;
    let cluster = cluster::join(&config.cluster, secret)
        .await
        .context("joining the cluster")?;
    Ok(Some(cluster))
}

/// Reloads the config on SIGHUP; a bad file is logged and the old config stays. The
/// handler is installed when this is called, not when the task first runs, so a SIGHUP
/// sent as soon as the server says it is running reloads instead of killing it.
fn reload_on_sighup(state: OpsState) -> impl Future<Output = ()> {
    #[cfg(unix)]
    let hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup());
    async move {
        #[cfg(unix)]
        {
            let Ok(mut hangups) = hangups else {
                return;
            };
            while hangups.recv().await.is_some() {
                if let Err(err) = ops::reload_config(&state) {
                    tracing::error!(%err, "config reload refused; the old config stays");
                }
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await;
    }
}
