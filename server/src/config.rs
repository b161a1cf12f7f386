//! The TOML config and the species catalog: parse, apply `CANOPY_*` overrides, validate.
//!
//! The embedded `assets/canopy.toml` is the default and documents every field. A config
//! that fails validation is refused with the offending field named, so a hot reload can
//! keep the old config.

pub mod campaigns;
pub mod risk;

pub use campaigns::CampaignConfig;
pub use risk::RiskConfig;

use crate::ops::auth::{Role, parse_sha256_hex};
use canopy_shared::model::PropKind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The embedded default config.
pub const DEFAULT_CONFIG: &str = include_str!("../../assets/canopy.toml");
/// The embedded default species catalog.
pub const DEFAULT_SPECIES: &str = include_str!("../../assets/species.toml");

/// Why a config was refused.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML does not parse or does not fit the schema (the message names the key).
    #[error("{origin}: {message}")]
    Parse {
        /// Which file or variable.
        origin: String,
        /// The parser's message.
        message: String,
    },
    /// A value is out of its allowed range.
    #[error("invalid `{field}`: {reason}")]
    Invalid {
        /// The dotted path of the field.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The whole server config; see `assets/canopy.toml` for each field's meaning.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub day: DayConfig,
    pub ripen: RipenConfig,
    pub tree: TreeConfig,
    pub steal: StealConfig,
    pub water: WaterConfig,
    pub friends: FriendsConfig,
    pub teams: TeamsConfig,
    pub species: SpeciesSource,
    pub props: PropsConfig,
    /// Absent from config files written before the shop existed: those get the
    /// embedded default's `[shop]`.
    #[serde(default)]
    pub shop: ShopConfig,
    /// Absent from config files written before revival existed: those get the
    /// embedded default's `[revive]`.
    #[serde(default)]
    pub revive: ReviveConfig,
    /// Absent from config files written before the energy rain existed: those get the
    /// embedded default's `[rain]`.
    #[serde(default)]
    pub rain: RainConfig,
    pub actions: BTreeMap<String, ActionRule>,
    pub risk: RiskConfig,
    /// Absent from config files written before named ops tokens existed: those keep
    /// working with only `server.admin_token`.
    #[serde(default)]
    pub ops: OpsConfig,
    /// Absent from config files written before session tokens expired: those get the
    /// defaults.
    #[serde(default)]
    pub accounts: AccountsConfig,
    /// Absent from config files written before cluster mode: those run one server alone.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// Campaigns defined in the file, by key (default: none). Hot.
    #[serde(default)]
    pub campaigns: BTreeMap<String, CampaignConfig>,
    /// Built-in TLS on both listeners; absent (the default), plain `ws://` and `http://`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// The species catalog, loaded from `species.catalog`; cheapest first.
    #[serde(skip)]
    pub catalog: Vec<Species>,
    /// The protected areas of the same catalog file; cheapest per square metre first.
    #[serde(skip)]
    pub areas: Vec<Area>,
}

/// `[server]`: network, tick and limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ServerConfig {
    pub tick_rate_hz: u32,
    pub admin_token: String,
    /// A file whose first line is the admin token, read at start and at every reload
    /// (so a token the environment points at rotates without a restart); it replaces
    /// `admin_token` when set. `CANOPY_ADMIN_TOKEN_FILE` sets it.
    #[serde(default)]
    pub admin_token_file: Option<PathBuf>,
    pub max_frame_bytes: usize,
    pub command_queue_capacity: usize,
    pub max_commands_per_tick: usize,
    pub outbox_capacity: usize,
    /// Absent from config files written before it existed: those keep working with
    /// the default.
    #[serde(default = "default_max_unread_bytes")]
    pub max_unread_bytes: u64,
    pub max_connections: usize,
    pub rate_limit_per_second: f64,
    pub rate_limit_burst: f64,
    pub rate_limit_strikes_before_close: u32,
    pub ping_interval_secs: u64,
    pub idle_timeout_secs: u64,
    pub handshake_timeout_secs: u64,
}

/// `server.max_unread_bytes` for config files written before it existed.
fn default_max_unread_bytes() -> u64 {
    1024 * 1024
}

/// `[store]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StoreConfig {
    pub cache_capacity_mb: u64,
    /// The partner secret file (docs/SECURITY.md, "Partner keys at rest"); default
    /// `partner-secret` in the data dir, created at first start. In cluster mode every
    /// shard must be given the same file.
    #[serde(default)]
    pub partner_secret_file: Option<PathBuf>,
}

/// `[day]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct DayConfig {
    pub utc_offset_minutes: i64,
}

/// `[ripen]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct RipenConfig {
    pub hour: u32,
    pub ball_ttl_hours: u64,
    pub max_per_tick: usize,
    /// Absent from config files written before it existed: those keep working with
    /// the default.
    #[serde(default = "default_max_expired_per_tick")]
    pub max_expired_per_tick: usize,
}

/// `ripen.max_expired_per_tick` when a config file does not set it (as in
/// assets/canopy.toml).
fn default_max_expired_per_tick() -> usize {
    20_000
}

/// `[tree]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TreeConfig {
    pub seed_below: u64,
    pub sprout_below: u64,
}

/// `[steal]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct StealConfig {
    pub min_share: f64,
    pub max_share: f64,
    pub owner_keeps: f64,
    pub daily_cap_grams: u64,
}

/// `[water]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct WaterConfig {
    pub amounts: Vec<u64>,
    pub per_friend_per_day: u32,
}

/// `[friends]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct FriendsConfig {
    pub max: usize,
    pub request_ttl_days: u64,
}

/// `[teams]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct TeamsConfig {
    pub min_members: usize,
    pub max_members: usize,
    pub min_water_grams: u64,
    pub member_daily_grams: u64,
    pub max_per_player: usize,
}

/// `[species]`: where the catalog comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpeciesSource {
    /// A catalog file; empty for the embedded default.
    pub catalog: String,
}

/// `[props]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct PropsConfig {
    pub protection_cover_hours: u64,
    pub double_click_hours: u64,
    pub stealth_hours: u64,
}

/// `[shop]`: vitality and the props shop. Hot.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopConfig {
    /// Collected grams worth one vitality point.
    pub grams_per_vitality: u64,
    /// Props a player may give friends per game day.
    pub gifts_per_day: u32,
    /// The catalog, by item id.
    pub items: BTreeMap<String, ShopItem>,
}

impl Default for ShopConfig {
    /// The embedded default's `[shop]`.
    fn default() -> Self {
        embedded_section("shop")
    }
}

/// A section of the embedded default config, for config files written before it
/// existed.
fn embedded_section<T: serde::de::DeserializeOwned>(name: &str) -> T {
    let mut table: toml::Table =
        toml::from_str(DEFAULT_CONFIG).expect("the embedded default config parses");
    table
        .remove(name)
        .and_then(|section| T::deserialize(section).ok())
        .unwrap_or_else(|| panic!("the embedded default config has a valid [{name}]"))
}

/// `[revive]`: friends reviving expired energy. Hot.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviveConfig {
    /// Hours after a ball expires during which a friend may revive it.
    pub window_hours: u64,
    /// Balls a player may revive per game day.
    pub per_day: u32,
    /// Vitality points a revival earns the reviver.
    pub vitality: u64,
}

impl Default for ReviveConfig {
    /// The embedded default's `[revive]`.
    fn default() -> Self {
        embedded_section("revive")
    }
}

/// `[rain]`: the energy rain (能量雨). Hot: a reload shapes the next round; a round in
/// flight keeps the parameters it started with.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RainConfig {
    /// How long a round lasts.
    pub duration_ms: u64,
    /// The time between `rain_start` and the round's start, for the client's countdown.
    pub lead_ms: u64,
    /// Columns the balls fall in.
    pub lanes: u8,
    /// Balls per round.
    pub balls: u32,
    /// Grams of a perfect round.
    pub total_grams: u64,
    /// The fastest fall of a ball, top to bottom.
    pub fall_ms_min: u64,
    /// The slowest fall.
    pub fall_ms_max: u64,
    /// How far a tap's `at` may be from the server's clock, either way.
    pub tap_tolerance_ms: u64,
    /// Chances a player may give friends per game day.
    pub gifts_per_day: u32,
    /// Caught grams worth one vitality point.
    pub grams_per_vitality: u64,
}

impl RainConfig {
    /// The parameters a round started now gets.
    pub fn params(&self) -> canopy_shared::rain::RainParams {
        canopy_shared::rain::RainParams {
            duration_ms: self.duration_ms,
            lanes: self.lanes,
            balls: self.balls,
            total_grams: self.total_grams,
            fall_ms_min: self.fall_ms_min,
            fall_ms_max: self.fall_ms_max,
        }
    }
}

impl Default for RainConfig {
    /// The embedded default's `[rain]`.
    fn default() -> Self {
        let mut table: toml::Table =
            toml::from_str(DEFAULT_CONFIG).expect("the embedded default config parses");
        table
            .remove("rain")
            .and_then(|rain| RainConfig::deserialize(rain).ok())
            .expect("the embedded default config has a valid [rain]")
    }
}

/// `[shop.items.<id>]`: one item of the shop.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShopItem {
    /// The prop it gives.
    pub prop: PropKind,
    /// How many of the prop one purchase gives.
    #[serde(default = "one")]
    pub count: u32,
    /// Its price in vitality points.
    pub price: u64,
    /// Purchases allowed per player per game day (absent: no daily limit).
    pub per_day: Option<u32>,
    /// Purchases allowed per player per calendar month (absent: no monthly limit).
    pub per_month: Option<u32>,
}

fn one() -> u32 {
    1
}

/// `[ops]`: access to the ops HTTP surface beyond `server.admin_token`, and the audit
/// log of ops calls. Hot.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsConfig {
    /// Named tokens with roles (default: none).
    #[serde(default)]
    pub tokens: Vec<OpsToken>,
    /// A TOML file of more `[[tokens]]` entries (the same fields), read at start and at
    /// every reload, so tokens kept outside the config rotate without a restart.
    #[serde(default)]
    pub tokens_file: Option<PathBuf>,
    /// Ops calls the audit log keeps, newest; older ones are dropped.
    #[serde(default = "default_audit_log_keep")]
    pub audit_log_keep: usize,
}

impl Default for OpsConfig {
    fn default() -> Self {
        Self {
            tokens: Vec::new(),
            tokens_file: None,
            audit_log_keep: default_audit_log_keep(),
        }
    }
}

/// `ops.audit_log_keep` when a config does not set it.
fn default_audit_log_keep() -> usize {
    10_000
}

/// The most shards a cluster may have.
const MAX_SHARDS: u64 = 1024;

/// `[cluster]`: cluster mode (docs/SCALE-OUT.md); off by default. Restart only.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ClusterConfig {
    pub enabled: bool,
    pub shard: u64,
    pub shards: u64,
    pub nats_urls: Vec<String>,
    pub advertise_url: String,
    pub map_bucket: String,
    pub map_replicas: usize,
    /// How long an op on another shard's player waits for that shard's decision before
    /// the client hears `SHARD_TIMEOUT` (and a steal's cap reservation is released).
    #[serde(default = "default_remote_timeout_ms")]
    pub remote_timeout_ms: u64,
}

/// `cluster.remote_timeout_ms` when a config does not set it.
fn default_remote_timeout_ms() -> u64 {
    5_000
}

impl Default for ClusterConfig {
    /// One server alone, as before cluster mode existed.
    fn default() -> Self {
        Self {
            enabled: false,
            shard: 0,
            shards: 1,
            nats_urls: vec!["nats://127.0.0.1:4222".to_owned()],
            advertise_url: "ws://127.0.0.1:7878/ws".to_owned(),
            map_bucket: "canopy-shards".to_owned(),
            map_replicas: 3,
            remote_timeout_ms: default_remote_timeout_ms(),
        }
    }
}

/// `[[ops.tokens]]`: one named ops token, stored as a hash so the file holds no secret.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpsToken {
    /// Who holds it (unique; shown in logs and refusals).
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The token's SHA-256 as 64 hex digits (`canopy-server hash-token` prints it).
    pub sha256: String,
}

/// `[accounts]`: player sessions and registration. Hot. Every field has a default, so
/// config files written before it existed keep working.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccountsConfig {
    /// How long a session token works after it is issued, in days (1–3650).
    pub token_ttl_days: u64,
    /// Whether `register` is limited per source address (off for load tests).
    pub register_limits: bool,
    /// Registrations a source may make at once.
    pub register_burst: u32,
    /// Registrations a source regains per hour after its burst.
    pub register_per_hour: f64,
    /// Registrations a source may make in a rolling day.
    pub register_daily_cap: u32,
    /// Whether anyone may `register`; off, only the host app's users play (`host_login`).
    pub open_register: bool,
    /// Login with the host app's JWTs; absent, `host_login` is refused.
    pub host: Option<HostLoginConfig>,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        Self {
            token_ttl_days: 30,
            register_limits: true,
            register_burst: 10,
            register_per_hour: 30.0,
            register_daily_cap: 100,
            open_register: true,
            host: None,
        }
    }
}

/// `[tls]`: the certificate both listeners present. Hot for the files' contents.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The certificate chain in PEM, the server's certificate first.
    pub cert_file: PathBuf,
    /// The private key in PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: PathBuf,
}

/// `[accounts.host]`: the host app whose JWTs log its users in.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostLoginConfig {
    /// The `iss` every JWT must carry.
    pub issuer: String,
    /// The `aud` every JWT must carry (this server's name at the host).
    pub audience: String,
    /// The claim whose value names a player at their first login.
    #[serde(default = "default_name_claim")]
    pub name_claim: String,
    /// Clock skew allowed on `exp` and `nbf`, in seconds (0–300).
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u64,
    /// The host's verifying keys (several while it rotates them).
    pub keys: Vec<HostKeyConfig>,
    /// The keys, read from their files when the config is loaded.
    #[serde(skip)]
    pub loaded: Vec<HostKey>,
}

/// `name_claim` when a config does not set it.
fn default_name_claim() -> String {
    "name".to_owned()
}

/// `leeway_secs` when a config does not set it.
fn default_leeway_secs() -> u64 {
    30
}

/// `[[accounts.host.keys]]`: one verifying key of the host.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostKeyConfig {
    /// The JWT header's `kid` this key answers to; absent, it is tried for any.
    #[serde(default)]
    pub id: Option<String>,
    /// `EdDSA` or `RS256` (a public key in PEM), or `HS256` (a shared secret).
    pub algorithm: HostAlgorithm,
    /// The PEM public key file, or the file holding the HS256 secret.
    pub file: PathBuf,
}

/// The signature algorithms a host may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum HostAlgorithm {
    /// Ed25519 signatures.
    EdDSA,
    /// RSA PKCS#1 v1.5 with SHA-256.
    RS256,
    /// HMAC-SHA256 with a secret shared with the host.
    HS256,
}

/// A verifying key ready for use.
#[derive(Clone, Debug)]
pub struct HostKey {
    /// The `kid` it answers to, if any.
    pub id: Option<String>,
    /// Its algorithm.
    pub algorithm: jsonwebtoken::Algorithm,
    /// The key.
    pub key: jsonwebtoken::DecodingKey,
}

impl HostKeyConfig {
    /// Reads the key file; `field` names it in errors.
    fn load(&self, field: &str) -> Result<HostKey, ConfigError> {
        let bytes = std::fs::read(&self.file).map_err(|source| ConfigError::Read {
            path: self.file.clone(),
            source,
        })?;
        let invalid = |reason: String| ConfigError::Invalid {
            field: field.to_owned(),
            reason,
        };
        let (algorithm, key) = match self.algorithm {
            HostAlgorithm::EdDSA => (
                jsonwebtoken::Algorithm::EdDSA,
                jsonwebtoken::DecodingKey::from_ed_pem(&bytes)
                    .map_err(|err| invalid(format!("not an Ed25519 public key in PEM: {err}")))?,
            ),
            HostAlgorithm::RS256 => (
                jsonwebtoken::Algorithm::RS256,
                jsonwebtoken::DecodingKey::from_rsa_pem(&bytes)
                    .map_err(|err| invalid(format!("not an RSA public key in PEM: {err}")))?,
            ),
            HostAlgorithm::HS256 => {
                let secret = bytes.trim_ascii();
                if secret.len() < 32 {
                    return Err(invalid(
                        "an HS256 secret needs at least 32 bytes (openssl rand -hex 32)".into(),
                    ));
                }
                (
                    jsonwebtoken::Algorithm::HS256,
                    jsonwebtoken::DecodingKey::from_secret(secret),
                )
            }
        };
        Ok(HostKey {
            id: self.id.clone(),
            algorithm,
            key,
        })
    }
}

/// Who may report a green action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reporter {
    /// The player's own device, through `record_action`.
    Player,
    /// A trusted partner, through `POST /admin/actions`.
    Partner,
}

/// `[actions.<kind>]`: how one green action kind credits energy.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct ActionRule {
    pub reporter: Reporter,
    pub grams: Option<u64>,
    pub daily_cap: Option<u32>,
    pub monthly_cap: Option<u32>,
    pub steps_per_gram: Option<u64>,
    pub daily_cap_grams: Option<u64>,
    pub max_steps_per_day: Option<u64>,
    pub ripen_after_minutes: Option<u64>,
}

impl ActionRule {
    /// Whether this kind counts cumulative steps (`walk`) rather than single actions.
    pub fn counts_steps(&self) -> bool {
        self.steps_per_gram.is_some()
    }
}

/// One species of the catalog.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Species {
    pub id: String,
    pub name: String,
    pub name_zh: String,
    pub grams: u64,
    pub region: String,
    #[serde(default)]
    pub verified: bool,
}

/// One protected area (保护地) of the catalog, protected with energy by the square
/// metre.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(missing_docs)]
pub struct Area {
    pub id: String,
    pub name: String,
    pub name_zh: String,
    pub region: String,
    /// Grams of energy per square metre.
    pub grams_per_m2: u64,
    /// Square metres one purchase may protect at most.
    pub max_square_metres: u64,
    #[serde(default)]
    pub verified: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalog {
    species: Vec<Species>,
    /// Absent from catalog files written before protected areas existed.
    #[serde(default)]
    areas: Vec<Area>,
}

impl Config {
    /// Loads the config from `path` (or the embedded default), applies `CANOPY_*`
    /// overrides from `env`, loads the species catalog and validates everything.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let (origin, text) = match path {
            Some(path) => (path.display().to_string(), read(path)?),
            None => ("embedded canopy.toml".to_owned(), DEFAULT_CONFIG.to_owned()),
        };
        let mut table: toml::Table = toml::from_str(&text).map_err(|err| ConfigError::Parse {
            origin: origin.clone(),
            message: err.to_string(),
        })?;
        if !table.contains_key("risk") {
            table.insert("risk".to_owned(), embedded_risk_table());
        }
        apply_env_overrides(&mut table, env)?;
        let mut config: Config = Config::deserialize(table).map_err(|err| ConfigError::Parse {
            origin,
            message: err.to_string(),
        })?;
        let catalog_text = if config.species.catalog.is_empty() {
            DEFAULT_SPECIES.to_owned()
        } else {
            read(Path::new(&config.species.catalog))?
        };
        let catalog: Catalog = toml::from_str(&catalog_text).map_err(|err| ConfigError::Parse {
            origin: "species catalog".to_owned(),
            message: err.to_string(),
        })?;
        config.catalog = catalog.species;
        config.catalog.sort_by_key(|species| species.grams);
        config.areas = catalog.areas;
        config.areas.sort_by_key(|area| area.grams_per_m2);
        config.read_token_files()?;
        if let Some(host) = &mut config.accounts.host {
            host.loaded = host
                .keys
                .iter()
                .enumerate()
                .map(|(index, key)| key.load(&format!("accounts.host.keys[{index}].file")))
                .collect::<Result<_, _>>()?;
        }
        config.validate()?;
        Ok(config)
    }

    /// The embedded default config with no overrides.
    pub fn default_embedded() -> Self {
        Self::load(None, std::iter::empty()).expect("the embedded default config is valid")
    }

    /// This config with the fields that only take effect at start copied from the
    /// running one, so a hot reload never half-applies them.
    pub fn keeping_restart_fields(mut self, running: &Config) -> Self {
        if self.day.utc_offset_minutes != running.day.utc_offset_minutes {
            tracing::warn!(
                "day.utc_offset_minutes changes only at restart; keeping the running value"
            );
        }
        self.day = running.day.clone();
        self.store = running.store.clone();
        self.cluster = running.cluster.clone();
        let server = &running.server;
        self.server.max_frame_bytes = server.max_frame_bytes;
        self.server.command_queue_capacity = server.command_queue_capacity;
        self.server.max_connections = server.max_connections;
        self.server.outbox_capacity = server.outbox_capacity;
        self
    }

    /// Reads `server.admin_token_file` into `server.admin_token` and appends the entries
    /// of `ops.tokens_file` to `ops.tokens`; validation then checks them like any other.
    fn read_token_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.server.admin_token_file {
            let text = read(path)?;
            self.server.admin_token = text.lines().next().unwrap_or_default().trim().to_owned();
        }
        if let Some(path) = &self.ops.tokens_file {
            /// The shape of an `ops.tokens_file`.
            #[derive(Deserialize)]
            #[serde(deny_unknown_fields)]
            struct TokensFile {
                #[serde(default)]
                tokens: Vec<OpsToken>,
            }
            let file: TokensFile =
                toml::from_str(&read(path)?).map_err(|err| ConfigError::Parse {
                    origin: path.display().to_string(),
                    message: err.to_string(),
                })?;
            self.ops.tokens.extend(file.tokens);
        }
        Ok(())
    }

    fn validate_cluster(&self) -> Result<(), ConfigError> {
        let cluster = &self.cluster;
        check(
            "cluster.shards",
            (1..=MAX_SHARDS).contains(&cluster.shards),
            "must be 1–1024",
        )?;
        check(
            "cluster.shard",
            cluster.shard < cluster.shards,
            "must be below cluster.shards (shards count from 0)",
        )?;
        if !cluster.enabled {
            return Ok(());
        }
        check(
            "cluster.nats_urls",
            !cluster.nats_urls.is_empty() && cluster.nats_urls.iter().all(|url| !url.is_empty()),
            "must list at least one NATS server",
        )?;
        check(
            "cluster.advertise_url",
            cluster.advertise_url.starts_with("ws://")
                || cluster.advertise_url.starts_with("wss://"),
            "must be the ws:// or wss:// URL clients reach this shard's game socket at",
        )?;
        check(
            "cluster.map_bucket",
            !cluster.map_bucket.is_empty()
                && cluster
                    .map_bucket
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "must be a JetStream bucket name: letters, digits, `-`, `_`",
        )?;
        check(
            "cluster.map_replicas",
            (1..=5).contains(&cluster.map_replicas),
            "must be 1–5 (3 on a 3-node NATS cluster)",
        )?;
        check(
            "cluster.remote_timeout_ms",
            (100..=600_000).contains(&cluster.remote_timeout_ms),
            "must be 100–600000 (a tenth of a second to ten minutes)",
        )
    }

    /// The rule for an action kind.
    pub fn action(&self, kind: &str) -> Option<&ActionRule> {
        self.actions.get(kind)
    }

    /// A protected area by catalog id.
    pub fn area(&self, id: &str) -> Option<&Area> {
        self.areas.iter().find(|area| area.id == id)
    }

    /// A species by catalog id.
    pub fn species(&self, id: &str) -> Option<&Species> {
        self.catalog.iter().find(|species| species.id == id)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_cluster()?;
        let s = &self.server;
        check(
            "server.tick_rate_hz",
            (1..=120).contains(&s.tick_rate_hz),
            "must be 1–120",
        )?;
        check(
            "server.admin_token",
            s.admin_token.is_empty() || s.admin_token.len() >= 8,
            "needs at least 8 characters (or \"\" to turn it off and use ops.tokens)",
        )?;
        for (index, token) in self.ops.tokens.iter().enumerate() {
            let field = |name: &str| format!("ops.tokens[{index}].{name}");
            check(
                &field("name"),
                !token.name.is_empty() && token.name.len() <= 64,
                "needs 1 to 64 characters",
            )?;
            check(
                &field("name"),
                !self.ops.tokens[..index]
                    .iter()
                    .any(|other| other.name == token.name),
                "is the name of an earlier token; names must be unique",
            )?;
            check(
                &field("sha256"),
                parse_sha256_hex(&token.sha256).is_some(),
                "must be the token's SHA-256 as 64 hex digits (`canopy-server hash-token` prints it)",
            )?;
        }
        check(
            "ops.audit_log_keep",
            (1..=1_000_000).contains(&self.ops.audit_log_keep),
            "must be 1–1000000",
        )?;
        check(
            "accounts.token_ttl_days",
            (1..=3650).contains(&self.accounts.token_ttl_days),
            "must be 1–3650",
        )?;
        let accounts = &self.accounts;
        check(
            "accounts.register_burst",
            accounts.register_burst >= 1 && accounts.register_daily_cap >= 1,
            "register_burst and register_daily_cap must be at least 1 (set \
             register_limits = false to lift the limits)",
        )?;
        if let Some(host) = &accounts.host {
            check(
                "accounts.host.keys",
                !host.keys.is_empty(),
                "needs at least one key",
            )?;
            check(
                "accounts.host.issuer",
                !host.issuer.is_empty() && !host.audience.is_empty(),
                "issuer and audience must be set",
            )?;
            check(
                "accounts.host.leeway_secs",
                host.leeway_secs <= 300,
                "must be 0–300",
            )?;
        }
        check(
            "accounts.register_per_hour",
            accounts.register_per_hour > 0.0 && accounts.register_per_hour.is_finite(),
            "must be positive",
        )?;
        check(
            "server.max_frame_bytes",
            s.max_frame_bytes >= 256,
            "must be at least 256",
        )?;
        check(
            "server.max_unread_bytes",
            s.max_unread_bytes >= 16 * 1024,
            "must be at least 16384",
        )?;
        for (field, value) in [
            ("server.command_queue_capacity", s.command_queue_capacity),
            ("server.max_commands_per_tick", s.max_commands_per_tick),
            ("server.outbox_capacity", s.outbox_capacity),
            ("server.max_connections", s.max_connections),
            ("ripen.max_per_tick", self.ripen.max_per_tick),
            (
                "ripen.max_expired_per_tick",
                self.ripen.max_expired_per_tick,
            ),
            ("friends.max", self.friends.max),
        ] {
            check(field, value > 0, "must be positive")?;
        }
        check(
            "server.rate_limit_per_second",
            s.rate_limit_per_second > 0.0 && s.rate_limit_burst >= 1.0,
            "rate and burst must be positive (burst at least 1)",
        )?;
        check(
            "server.ping_interval_secs",
            s.ping_interval_secs > 0,
            "must be positive",
        )?;
        check(
            "server.idle_timeout_secs",
            s.idle_timeout_secs > s.ping_interval_secs,
            "must be longer than ping_interval_secs",
        )?;
        check(
            "day.utc_offset_minutes",
            (-14 * 60..=14 * 60).contains(&self.day.utc_offset_minutes),
            "must be within ±14 hours",
        )?;
        check("ripen.hour", self.ripen.hour < 24, "must be 0–23")?;
        check(
            "ripen.ball_ttl_hours",
            self.ripen.ball_ttl_hours > 0,
            "must be positive",
        )?;
        check(
            "tree.sprout_below",
            self.tree.seed_below < self.tree.sprout_below,
            "must be above tree.seed_below",
        )?;
        let st = &self.steal;
        let share = |x: f64| (0.0..=1.0).contains(&x);
        check(
            "steal.min_share",
            share(st.min_share) && st.min_share <= st.max_share,
            "must be within 0–1 and not above steal.max_share",
        )?;
        check("steal.max_share", share(st.max_share), "must be within 0–1")?;
        check(
            "steal.owner_keeps",
            share(st.owner_keeps),
            "must be within 0–1",
        )?;
        check(
            "water.amounts",
            !self.water.amounts.is_empty() && self.water.amounts.iter().all(|&g| g > 0),
            "must list at least one positive amount",
        )?;
        check(
            "teams.max_members",
            2 <= self.teams.min_members && self.teams.min_members <= self.teams.max_members,
            "need 2 <= teams.min_members <= teams.max_members",
        )?;
        check(
            "actions",
            !self.actions.is_empty(),
            "must define at least one kind",
        )?;
        for (kind, rule) in &self.actions {
            let field = |name: &str| format!("actions.{kind}.{name}");
            if rule.counts_steps() {
                check(
                    &field("steps_per_gram"),
                    rule.steps_per_gram > Some(0),
                    "must be positive",
                )?;
                check(
                    &field("grams"),
                    rule.grams.is_none() && rule.daily_cap.is_none() && rule.monthly_cap.is_none(),
                    "a step kind takes daily_cap_grams, not grams/daily_cap/monthly_cap",
                )?;
            } else {
                check(
                    &field("grams"),
                    rule.grams > Some(0),
                    "must be set and positive",
                )?;
                check(
                    &field("daily_cap_grams"),
                    rule.daily_cap_grams.is_none() && rule.max_steps_per_day.is_none(),
                    "only step kinds (with steps_per_gram) take daily_cap_grams/max_steps_per_day",
                )?;
            }
        }
        self.risk.validate()?;
        check(
            "species",
            !self.catalog.is_empty(),
            "the catalog lists no species",
        )?;
        for species in &self.catalog {
            check(
                &format!("species.{}.grams", species.id),
                species.grams > 0,
                "must be positive",
            )?;
        }
        for area in &self.areas {
            check(
                &format!("areas.{}", area.id),
                area.grams_per_m2 > 0 && area.max_square_metres > 0,
                "grams_per_m2 and max_square_metres must be positive",
            )?;
            check(
                &format!("areas.{}.id", area.id),
                self.species(&area.id).is_none()
                    && self.areas.iter().filter(|a| a.id == area.id).count() == 1,
                "must differ from every species and every other area",
            )?;
        }
        check(
            "revive.window_hours",
            self.revive.window_hours > 0,
            "must be positive",
        )?;
        self.validate_shop()?;
        self.validate_rain()?;
        campaigns::validate(&self.campaigns, |kind| self.action(kind).is_some())
    }

    fn validate_rain(&self) -> Result<(), ConfigError> {
        if let Some(problem) = self.rain.params().problem() {
            return Err(ConfigError::Invalid {
                field: "rain".into(),
                reason: problem.into(),
            });
        }
        check(
            "rain.grams_per_vitality",
            self.rain.grams_per_vitality > 0,
            "must be positive",
        )?;
        check(
            "rain.balls",
            self.rain.balls <= 1_000,
            "at most 1000 balls a round",
        )
    }

    fn validate_shop(&self) -> Result<(), ConfigError> {
        check(
            "shop.grams_per_vitality",
            self.shop.grams_per_vitality > 0,
            "must be positive",
        )?;
        for (id, item) in &self.shop.items {
            let field = |name: &str| format!("shop.items.{id}.{name}");
            check(
                &format!("shop.items.{id}"),
                crate::game::account::validate_name(id).is_ok(),
                "an item id has 1 to 32 letters, digits, `_` or `-`",
            )?;
            check(&field("price"), item.price > 0, "must be positive")?;
            check(&field("count"), item.count > 0, "must be positive")?;
            check(
                &field("per_day"),
                item.per_day != Some(0),
                "must be positive (leave it out for no daily limit)",
            )?;
            check(
                &field("per_month"),
                item.per_month != Some(0),
                "must be positive (leave it out for no monthly limit)",
            )?;
        }
        Ok(())
    }
}

/// The embedded default `[risk]` section, for config files written before it existed.
fn embedded_risk_table() -> toml::Value {
    toml::from_str::<toml::Table>(DEFAULT_CONFIG)
        .ok()
        .and_then(|mut table| table.remove("risk"))
        .expect("the embedded config has a [risk] section")
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

fn check(field: &str, ok: bool, reason: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field: field.to_owned(),
            reason: reason.to_owned(),
        })
    }
}

/// Sets `CANOPY_<SECTION>__<KEY>=value` (TOML value syntax, or a bare string) into the
/// table, `CANOPY_ADMIN_TOKEN` into `server.admin_token` and `CANOPY_ADMIN_TOKEN_FILE`
/// into `server.admin_token_file`. Variables without `__` are
/// flags of the binary, not config.
fn apply_env_overrides(
    table: &mut toml::Table,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<(), ConfigError> {
    for (name, raw) in env {
        let Some(rest) = name.strip_prefix("CANOPY_") else {
            continue;
        };
        let path: Vec<String> = if rest == "ADMIN_TOKEN" {
            vec!["server".into(), "admin_token".into()]
        } else if rest == "ADMIN_TOKEN_FILE" {
            vec!["server".into(), "admin_token_file".into()]
        } else if rest.contains("__") {
            rest.split("__").map(str::to_lowercase).collect()
        } else {
            continue;
        };
        let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
            .ok()
            .and_then(|mut parsed| parsed.remove("v"))
            .unwrap_or(toml::Value::String(raw));
        let (leaf, sections) = path
            .split_last()
            .expect("an override path has at least one part");
        let mut node = &mut *table;
        for section in sections {
            node = node
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()))
                .as_table_mut()
                .ok_or_else(|| ConfigError::Parse {
                    origin: name.clone(),
                    message: format!("`{section}` is not a section"),
                })?;
        }
        node.insert(leaf.clone(), value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn token_files_are_read_at_every_load_and_checked_like_the_config() {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let admin = dir.path().join("admin.token");
        let tokens = dir.path().join("tokens.toml");
        std::fs::write(&admin, "first-secret\n").expect("written");
        let hash = "ab".repeat(32);
        std::fs::write(
            &tokens,
            format!("[[tokens]]\nname = \"grafana\"\nrole = \"viewer\"\nsha256 = \"{hash}\"\n"),
        )
        .expect("written");
        let vars = env(&[
            ("CANOPY_ADMIN_TOKEN", "ignored-when-a-file-is-named"),
            ("CANOPY_ADMIN_TOKEN_FILE", admin.to_str().expect("UTF-8")),
            ("CANOPY_OPS__TOKENS_FILE", tokens.to_str().expect("UTF-8")),
        ]);
        let first = Config::load(None, vars.clone()).expect("loads");
        assert_eq!(first.server.admin_token, "first-secret");
        assert_eq!(first.ops.tokens.len(), 1);
        assert_eq!(first.ops.tokens[0].name, "grafana");

        std::fs::write(&admin, "second-secret\n").expect("written");
        let reloaded = Config::load(None, vars.clone()).expect("loads");
        assert_eq!(
            reloaded.server.admin_token, "second-secret",
            "reread, not cached"
        );

        std::fs::write(&admin, "short\n").expect("written");
        let err = Config::load(None, vars.clone()).expect_err("too short");
        assert!(err.to_string().contains("server.admin_token"), "{err}");
        std::fs::remove_file(&tokens).expect("removed");
        std::fs::write(&admin, "second-secret\n").expect("written");
        let err = Config::load(None, vars).expect_err("a named file must exist");
        assert!(err.to_string().contains("tokens.toml"), "{err}");
    }

    #[test]
    fn a_config_file_without_the_expiry_cap_gets_the_embedded_default() {
        let older: String = DEFAULT_CONFIG
            .lines()
            .filter(|line| !line.starts_with("max_expired_per_tick"))
            .map(|line| format!("{line}\n"))
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("canopy.toml");
        std::fs::write(&path, older).expect("write config");
        let config = Config::load(Some(&path), std::iter::empty()).expect("older file loads");
        assert_eq!(
            config.ripen.max_expired_per_tick,
            Config::default_embedded().ripen.max_expired_per_tick
        );
    }

    #[test]
    fn embedded_default_holds_the_game_md_numbers() {
        let config = Config::default_embedded();
        assert_eq!(config.server.tick_rate_hz, 20);
        assert_eq!(config.day.utc_offset_minutes, 480);
        assert_eq!(config.ripen.hour, 7);
        assert_eq!(config.ripen.ball_ttl_hours, 72);
        assert_eq!(config.steal.daily_cap_grams, 1500);
        assert_eq!(config.water.amounts, vec![10, 18, 33, 66]);
        let walk = config.action("walk").expect("walk is a default kind");
        assert_eq!(walk.steps_per_gram, Some(50));
        assert_eq!(walk.daily_cap_grams, Some(296));
        assert_eq!(config.action("metro").and_then(|r| r.grams), Some(52));
        assert_eq!(
            config.action("utility_bill").and_then(|r| r.monthly_cap),
            Some(10)
        );
        assert_eq!(config.species("saxaul").map(|s| s.grams), Some(17_900));
        assert_eq!(
            config.catalog[0].id, "caragana",
            "catalog is sorted cheapest first"
        );
    }

    #[test]
    fn env_overrides_set_nested_values_and_the_admin_token() {
        let config = Config::load(
            None,
            env(&[
                ("CANOPY_STEAL__DAILY_CAP_GRAMS", "2000"),
                ("CANOPY_ADMIN_TOKEN", "a-long-secret"),
                ("CANOPY_LISTEN", "0.0.0.0:1"),
                ("HOME", "/root"),
            ]),
        )
        .expect("overrides are valid");
        assert_eq!(config.steal.daily_cap_grams, 2000);
        assert_eq!(config.server.admin_token, "a-long-secret");
    }

    #[test]
    fn named_ops_tokens_load_from_the_file_and_the_environment() {
        let hash = crate::ops::auth::sha256_hex("viewer-secret");
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("canopy.toml");
        let text = format!(
            "{DEFAULT_CONFIG}\n[[ops.tokens]]\nname = \"grafana\"\nrole = \"viewer\"\nsha256 = \"{hash}\"\n"
        );
        std::fs::write(&path, text).expect("write config");
        let config = Config::load(Some(&path), std::iter::empty()).expect("tokens load");
        assert_eq!(config.ops.tokens.len(), 1);
        assert_eq!(config.ops.tokens[0].role, Role::Viewer);
        let inline = format!(r#"[{{name = "desk", role = "reviewer", sha256 = "{hash}"}}]"#);
        let config = Config::load(None, env(&[("CANOPY_OPS__TOKENS", &inline)]))
            .expect("tokens from the environment load");
        assert_eq!(config.ops.tokens[0].name, "desk");
        assert!(Config::default_embedded().ops.tokens.is_empty());
        let off = Config::load(None, env(&[("CANOPY_ADMIN_TOKEN", "")]))
            .expect("an empty admin token turns it off");
        assert_eq!(off.server.admin_token, "");
    }

    #[test]
    fn bad_ops_tokens_are_refused_with_their_field() {
        let hash = crate::ops::auth::sha256_hex("viewer-secret");
        let token = |name: &str, role: &str, sha256: &str| {
            format!(r#"{{name = "{name}", role = "{role}", sha256 = "{sha256}"}}"#)
        };
        for (tokens, field) in [
            (vec![token("a", "root", &hash)], "ops.tokens.role"),
            (
                vec![token("a", "viewer", "not-hex")],
                "ops.tokens[0].sha256",
            ),
            (
                vec![token("a", "viewer", &hash[..60])],
                "ops.tokens[0].sha256",
            ),
            (vec![token("", "viewer", &hash)], "ops.tokens[0].name"),
            (
                vec![token("a", "viewer", &hash), token("a", "admin", &hash)],
                "ops.tokens[1].name",
            ),
        ] {
            let list = format!("[{}]", tokens.join(", "));
            let err = Config::load(None, env(&[("CANOPY_OPS__TOKENS", &list)]))
                .expect_err("a bad token is refused");
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        let err = Config::load(None, env(&[("CANOPY_ADMIN_TOKEN", "short")]))
            .expect_err("a short admin token is refused");
        assert!(err.to_string().contains("server.admin_token"), "{err}");
    }

    #[test]
    fn bad_risk_rules_are_refused_with_their_field() {
        for (key, value, field) in [
            (
                "CANOPY_RISK__STEAL_COVERAGE__WINDOW_SECS",
                "-600",
                "risk.steal_coverage.window_secs",
            ),
            (
                "CANOPY_RISK__WATER_FUNNEL__WINDOW_SECS",
                "0",
                "risk.water_funnel.window_secs",
            ),
            (
                "CANOPY_RISK__STEPS_RATE__DECISION",
                "\"block\"",
                "risk.steps_rate.decision",
            ),
            (
                "CANOPY_RISK__STEAL_REACTION__LAST_STEALS",
                "-1",
                "risk.steal_reaction.last_steals",
            ),
            (
                "CANOPY_RISK__STEAL_COVERAGE__MAX_SHARE",
                "1.5",
                "risk.steal_coverage.max_share",
            ),
        ] {
            let err = Config::load(None, env(&[(key, value)])).expect_err("refused");
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("canopy.toml");
        let text = format!("{DEFAULT_CONFIG}\n[risk.steps_sprint]\nenabled = true\n");
        std::fs::write(&path, text).expect("write config");
        let err = Config::load(Some(&path), std::iter::empty()).expect_err("unknown rule id");
        assert!(err.to_string().contains("steps_sprint"), "{err}");
    }

    #[test]
    fn a_config_file_without_risk_gets_the_embedded_rules_and_the_switch_works() {
        let older: String = DEFAULT_CONFIG
            .split("\n[risk]")
            .next()
            .expect("the text before [risk]")
            .to_owned();
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("canopy.toml");
        std::fs::write(&path, older).expect("write config");
        let config = Config::load(Some(&path), std::iter::empty()).expect("older file loads");
        assert!(config.risk.enabled);
        assert_eq!(config.risk.steps_early.max_steps, 18_000);
        let off = Config::load(Some(&path), env(&[("CANOPY_RISK__ENABLED", "false")]))
            .expect("the switch loads");
        assert!(!off.risk.enabled);
    }

    #[test]
    fn cluster_mode_is_off_by_default_and_set_from_the_environment() {
        let alone = Config::default_embedded().cluster;
        assert!(!alone.enabled);
        assert_eq!((alone.shard, alone.shards), (0, 1));
        let shard = Config::load(
            None,
            env(&[
                ("CANOPY_CLUSTER__ENABLED", "true"),
                ("CANOPY_CLUSTER__SHARD", "2"),
                ("CANOPY_CLUSTER__SHARDS", "3"),
                (
                    "CANOPY_CLUSTER__NATS_URLS",
                    r#"["nats://127.0.0.1:4222","nats://127.0.0.1:4223"]"#,
                ),
            ]),
        )
        .expect("a valid shard config")
        .cluster;
        assert!(shard.enabled);
        assert_eq!((shard.shard, shard.shards), (2, 3));
        assert_eq!(shard.nats_urls.len(), 2);
    }

    #[test]
    fn bad_cluster_settings_are_refused_with_their_field() {
        for (overrides, field) in [
            (
                vec![
                    ("CANOPY_CLUSTER__SHARD", "3"),
                    ("CANOPY_CLUSTER__SHARDS", "3"),
                ],
                "cluster.shard",
            ),
            (vec![("CANOPY_CLUSTER__SHARDS", "0")], "cluster.shards"),
            (
                vec![
                    ("CANOPY_CLUSTER__ENABLED", "true"),
                    ("CANOPY_CLUSTER__NATS_URLS", "[]"),
                ],
                "cluster.nats_urls",
            ),
            (
                vec![
                    ("CANOPY_CLUSTER__ENABLED", "true"),
                    ("CANOPY_CLUSTER__ADVERTISE_URL", "127.0.0.1:7878"),
                ],
                "cluster.advertise_url",
            ),
        ] {
            match Config::load(None, env(&overrides)) {
                Err(ConfigError::Invalid { field: named, .. }) => assert_eq!(named, field),
                other => panic!("{overrides:?} should be refused for {field}: {other:?}"),
            }
        }
    }

    #[test]
    fn invalid_values_name_the_field() {
        let err = Config::load(None, env(&[("CANOPY_STEAL__MIN_SHARE", "0.9")]))
            .expect_err("min above max is refused");
        assert!(err.to_string().contains("steal.min_share"), "{err}");
        let err = Config::load(None, env(&[("CANOPY_SERVER__TICK_RATE_HZ", "0")]))
            .expect_err("a zero tick rate is refused");
        assert!(err.to_string().contains("server.tick_rate_hz"), "{err}");
    }

    #[test]
    fn unknown_and_mistyped_keys_are_refused_with_their_name() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.toml");
        let text = DEFAULT_CONFIG.replace("daily_cap_grams = 1500", "daily_cap_gram = 1500");
        std::fs::write(&path, text).expect("write config");
        let err = Config::load(Some(&path), std::iter::empty()).expect_err("typo is refused");
        assert!(err.to_string().contains("daily_cap_gram"), "{err}");
        let text = DEFAULT_CONFIG.replace("hour = 7", "hour = \"seven\"");
        std::fs::write(&path, text).expect("write config");
        let err = Config::load(Some(&path), std::iter::empty()).expect_err("type is refused");
        assert!(err.to_string().contains("hour"), "{err}");
    }
}
