//! The server's partner secret: 32 random bytes kept out of the store that seal each
//! partner key's digest at rest (docs/SECURITY.md, "Partner keys at rest").
//!
//! A partner signs with `SHA-256(api_key)` as its HMAC key, so whatever lets the server
//! verify a signature also signs. The store therefore holds the digest XOR a pad,
//! `HMAC-SHA256(secret, "partner-key" ‖ partner_id ‖ key_version)`: one pad per partner
//! and key version (a rotation bumps the version, so no pad is reused), and the store, a
//! backup or the cluster's bucket alone no longer signs. Beside it each record keeps a
//! check, `HMAC-SHA256(secret, "partner-key-check" ‖ partner_id ‖ key_version ‖
//! digest)` cut to 16 bytes, so a secret that does not open the records is told apart
//! from one that does, and refused at start.

use crate::store::PartnerRecord;
use anyhow::Context;
use canopy_shared::PartnerId;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use thiserror::Error;

/// The secret file's name in the data dir, unless `store.partner_secret_file` says
/// another path.
pub const PARTNER_SECRET_FILE: &str = "partner-secret";
/// The secret's length in bytes, and the only length its file may have.
const SECRET_LEN: usize = 32;
/// The length of a record's seal check and of the secret's fingerprint.
pub const CHECK_LEN: usize = 16;

/// The partner secret. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct PartnerSecret([u8; SECRET_LEN]);

impl std::fmt::Debug for PartnerSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PartnerSecret(..)")
    }
}

/// A secret that does not open a partner's sealed key: the record was sealed under
/// another secret (or altered).
#[derive(Clone, Copy, Debug, Error, PartialEq, Eq)]
#[error("the partner secret does not open partner {0}'s sealed key")]
pub struct WrongSecret(pub PartnerId);

impl PartnerSecret {
    /// A fresh secret from the OS-seeded generator.
    pub fn random() -> Self {
        Self(rand::random())
    }

    /// Reads the secret file at `path`, or creates it (mode 0600) when there is none;
    /// says whether it was created. A file of another length is refused: it is not a
    /// secret this server made, and guessing what it means would seal under the wrong
    /// bytes.
    pub fn load_or_create(path: &Path) -> anyhow::Result<(Self, bool)> {
        match std::fs::read(path) {
            Ok(bytes) => Ok((Self::from_file(path, &bytes)?, false)),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Self::create(path),
            Err(err) => {
                Err(err).with_context(|| format!("reading the partner secret {}", path.display()))
            }
        }
    }

    fn from_file(path: &Path, bytes: &[u8]) -> anyhow::Result<Self> {
        let secret = <[u8; SECRET_LEN]>::try_from(bytes).map_err(|_| {
            anyhow::anyhow!(
                "the partner secret {} has {} bytes; it must be exactly {SECRET_LEN} random \
                 bytes (make one with `head -c {SECRET_LEN} /dev/urandom`)",
                path.display(),
                bytes.len()
            )
        })?;
        let mode = std::fs::metadata(path).map_or(0, |meta| meta.permissions().mode());
        if mode & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", mode & 0o777),
                "the partner secret is readable by other users; chmod 600 it"
            );
        }
        Ok(Self(secret))
    }

    /// Writes a new secret to `path` without ever showing a partial file: it is written
    /// and synced under a temporary name, then linked to `path`, which fails if another
    /// process (a shard starting beside this one) linked its own first; that one is
    /// then read instead.
    fn create(path: &Path) -> anyhow::Result<(Self, bool)> {
        let secret = Self::random();
        let temporary = path.with_extension(format!("{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&temporary)?;
            file.write_all(&secret.0)?;
            file.sync_all()?;
            std::fs::hard_link(&temporary, path)
        })();
        let _ = std::fs::remove_file(&temporary);
        match written {
            Ok(()) => Ok((secret, true)),
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("reading the partner secret {}", path.display()))?;
                Ok((Self::from_file(path, &bytes)?, false))
            }
            Err(err) => {
                Err(err).with_context(|| format!("creating the partner secret {}", path.display()))
            }
        }
    }

    fn mac(&self, label: &[u8], partner: PartnerId, key_version: u32) -> Hmac<Sha256> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(label);
        mac.update(&partner.0.to_be_bytes());
        mac.update(&key_version.to_be_bytes());
        mac
    }

    fn pad(&self, partner: PartnerId, key_version: u32) -> [u8; 32] {
        self.mac(b"partner-key", partner, key_version)
            .finalize()
            .into_bytes()
            .into()
    }

    fn check(&self, partner: PartnerId, key_version: u32, digest: &[u8; 32]) -> Hmac<Sha256> {
        let mut mac = self.mac(b"partner-key-check", partner, key_version);
        mac.update(digest);
        mac
    }

    /// Stores `digest` in `record`, sealed for the record's id and key version (set them
    /// first: a rotation bumps the version, then seals).
    pub fn seal(&self, record: &mut PartnerRecord, digest: [u8; 32]) {
        let pad = self.pad(record.id, record.key_version);
        record.sealed_key = std::array::from_fn(|i| digest[i] ^ pad[i]);
        let check = self
            .check(record.id, record.key_version, &digest)
            .finalize()
            .into_bytes();
        record.key_check = Some(std::array::from_fn(|i| check[i]));
    }

    /// The key digest `record` holds, if this secret sealed it; `None` for a record
    /// sealed under another secret, altered, or not sealed at all.
    pub fn open(&self, record: &PartnerRecord) -> Option<[u8; 32]> {
        let check = record.key_check?;
        let pad = self.pad(record.id, record.key_version);
        let digest: [u8; 32] = std::array::from_fn(|i| record.sealed_key[i] ^ pad[i]);
        self.check(record.id, record.key_version, &digest)
            .verify_truncated_left(&check)
            .is_ok()
            .then_some(digest)
    }

    /// Makes sure `record` is sealed under this secret: a record written before keys
    /// were sealed (its `sealed_key` is the plain digest) is sealed now and `true`
    /// returned; a sealed one must open.
    pub fn seal_if_plain(&self, record: &mut PartnerRecord) -> Result<bool, WrongSecret> {
        if record.key_check.is_none() {
            let digest = record.sealed_key;
            self.seal(record, digest);
            return Ok(true);
        }
        match self.open(record) {
            Some(_) => Ok(false),
            None => Err(WrongSecret(record.id)),
        }
    }

    /// A fingerprint of the secret, as hex: what the cluster's bucket keeps so a shard
    /// with another secret is refused even before any partner exists. Reveals nothing
    /// of the secret.
    pub fn fingerprint(&self) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC takes a key of any length");
        mac.update(b"partner-secret-fingerprint");
        canopy_shared::partner::to_hex(&mac.finalize().into_bytes()[..CHECK_LEN])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use canopy_shared::partner::{PartnerStatus, key_digest};

    fn record(id: u64, digest: [u8; 32]) -> PartnerRecord {
        PartnerRecord {
            id: PartnerId(id),
            name: "Metro Co".to_owned(),
            kinds: vec!["metro".to_owned()],
            may_publish_tasks: false,
            rate_per_minute: 60,
            status: PartnerStatus::Active,
            sealed_key: digest,
            key_version: 1,
            created_at: 0,
            audit_next: 1,
            key_check: None,
        }
    }

    #[test]
    fn a_sealed_key_opens_only_with_its_secret_and_is_not_the_digest() {
        let (secret, other) = (PartnerSecret::random(), PartnerSecret::random());
        let digest = key_digest("cpk_one");
        let mut sealed = record(1, [0; 32]);
        secret.seal(&mut sealed, digest);
        assert_ne!(
            sealed.sealed_key, digest,
            "the store does not hold the digest"
        );
        assert_eq!(secret.open(&sealed), Some(digest));
        assert_eq!(other.open(&sealed), None, "another secret is told apart");
        assert_eq!(
            other.seal_if_plain(&mut sealed),
            Err(WrongSecret(PartnerId(1)))
        );
        let mut altered = sealed.clone();
        altered.sealed_key[0] ^= 1;
        assert_eq!(secret.open(&altered), None, "an altered seal does not open");
    }

    #[test]
    fn every_partner_and_key_version_gets_its_own_pad() {
        let secret = PartnerSecret::random();
        let digest = key_digest("cpk_same");
        let mut first = record(1, [0; 32]);
        secret.seal(&mut first, digest);
        let mut rotated = first.clone();
        rotated.key_version += 1;
        secret.seal(&mut rotated, digest);
        let mut neighbour = record(2, [0; 32]);
        secret.seal(&mut neighbour, digest);
        assert_ne!(
            first.sealed_key, rotated.sealed_key,
            "a rotation seals anew"
        );
        assert_ne!(
            first.sealed_key, neighbour.sealed_key,
            "partners never share a pad"
        );
        assert_eq!(secret.open(&rotated), Some(digest));
    }

    #[test]
    fn a_plain_record_is_sealed_once_and_keeps_its_key() {
        let secret = PartnerSecret::random();
        let digest = key_digest("cpk_old");
        let mut old = record(3, digest);
        assert_eq!(secret.open(&old), None, "an unsealed record does not open");
        assert_eq!(secret.seal_if_plain(&mut old), Ok(true));
        assert_eq!(secret.open(&old), Some(digest));
        assert_eq!(secret.seal_if_plain(&mut old), Ok(false), "already sealed");
    }

    #[test]
    fn the_file_is_created_private_once_and_read_back() {
        let dir = tempfile::tempdir().expect("a temporary dir");
        let path = dir.path().join("partner-secret");
        let (made, created) = PartnerSecret::load_or_create(&path).expect("created");
        assert!(created);
        let meta = std::fs::metadata(&path).expect("the file");
        assert_eq!((meta.len(), meta.permissions().mode() & 0o777), (32, 0o600));
        let (read, created) = PartnerSecret::load_or_create(&path).expect("read");
        assert!(!created);
        assert_eq!(read.fingerprint(), made.fingerprint());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("list").count(),
            1,
            "no leftovers"
        );
        std::fs::write(&path, b"too short").expect("overwrite");
        let refused = PartnerSecret::load_or_create(&path).expect_err("9 bytes");
        assert!(refused.to_string().contains("exactly 32"), "{refused}");
    }
}
