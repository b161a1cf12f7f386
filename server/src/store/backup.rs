//! Backups of the sled store: the file format, writing one durably, and restoring one
//! into a new store after checking it whole.
//!
//! A backup file is:
//! - a header: the magic `CNPYBKUP`, the backup format (u32 LE, [`FORMAT`]) and the store
//!   format its keys are laid out in (u32 LE, see `sled_store.rs`);
//! - records, applied in order: `P` tree key value (set) or `D` tree key (remove), each
//!   field a u32 LE length and its bytes. First every key of the store as scanned, then
//!   the writes of the commits that landed during the scan (see `tap.rs`);
//! - a trailer: `CNPYEND\n`, the record count (u64 LE), and the SHA-256 of every byte
//!   before it.
//!
//! A restore reads the whole file and checks it before it writes anything.

use super::StoreError;
use super::sled_store::{STORE_FORMAT, SledStore};
use canopy_shared::admin::BackupReport;
use sha2::{Digest, Sha256};
use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The first bytes of every backup file.
const MAGIC: &[u8; 8] = b"CNPYBKUP";
/// The backup format this version writes and reads.
const FORMAT: u32 = 1;
/// Magic, format, store format.
const HEADER_LEN: u64 = 16;
/// The start of the trailer.
const END: &[u8; 8] = b"CNPYEND\n";
/// End tag, record count, checksum.
const TRAILER_LEN: u64 = 8 + 8 + 32;
/// sled's page cache while restoring: the writes are sequential and read nothing back.
const RESTORE_CACHE_MB: u64 = 64;
/// Tags of the two record kinds.
const SET: u8 = b'P';
const REMOVE: u8 = b'D';

/// Why a backup or a restore did not happen. Each message says what to do.
#[derive(Debug, Error)]
pub enum BackupError {
    /// The file does not start like a Canopy backup.
    #[error("{0} is not a Canopy backup (it does not start with the backup header)")]
    NotABackup(PathBuf),
    /// The file ends before its trailer: an interrupted copy.
    #[error(
        "{0} is truncated: it ends before the backup's trailer. The copy is incomplete; use another backup"
    )]
    Truncated(PathBuf),
    /// The content does not match the checksum in the trailer.
    #[error(
        "{path} is damaged: its SHA-256 is {actual} but its trailer says {expected}. Use another backup"
    )]
    ChecksumMismatch {
        /// The backup.
        path: PathBuf,
        /// The checksum in the trailer.
        expected: String,
        /// The checksum of the content.
        actual: String,
    },
    /// The checksum matches but the records do not parse: written by something else.
    #[error("{path} is damaged: {reason}. Use another backup")]
    Malformed {
        /// The backup.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another backup format.
    #[error(
        "{path} is backup format {found}; this canopy-server reads backup format {FORMAT}. Restore it with the version that wrote it"
    )]
    OtherFormat {
        /// The backup.
        path: PathBuf,
        /// The format in its header.
        found: u32,
    },
    /// A backup of a store whose keys are laid out differently.
    #[error(
        "{path} holds a store of format {found}; this canopy-server runs store format {STORE_FORMAT}. Restore it with the version that wrote it"
    )]
    OtherStoreFormat {
        /// The backup.
        path: PathBuf,
        /// The store format in its header.
        found: u32,
    },
    /// The restore target already holds files.
    #[error("{0} is not empty: restore into a new or empty directory, never over a store")]
    TargetNotEmpty(PathBuf),
    /// The backup target exists: a backup never overwrites a file.
    #[error("{0} already exists: a backup never overwrites a file; choose a new path")]
    TargetExists(PathBuf),
    /// A backup is already running.
    #[error("a backup is already running; wait for it to finish")]
    Busy,
    /// This store cannot be copied (only the sled store can).
    #[error("this server's store does not support backups (only the sled store does)")]
    Unsupported,
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        source: io::Error,
    },
    /// The store failed while being read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Maps an I/O error to [`BackupError::Io`], saying what was being done; `what` runs
/// only on an error (writes call this once per field).
fn io_error(what: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> BackupError {
    move |source| BackupError::Io {
        what: what(),
        source,
    }
}

/// One record of a backup.
pub(super) struct Record<'a> {
    /// The sled tree's name.
    pub tree: &'a [u8],
    /// The key.
    pub key: &'a [u8],
    /// The whole value, or `None` for a removal.
    pub value: Option<&'a [u8]>,
}

/// Writes a consistent copy of `store` to `to`: `to.tmp` first, fsynced, renamed, the
/// directory fsynced. A failure removes `to.tmp` and leaves nothing behind.
pub(super) fn write_backup(store: &SledStore, to: &Path) -> Result<BackupReport, BackupError> {
    let mut writer = BackupWriter::create(to)?;
    let commits_replayed = store.copy_records(&mut |record| writer.record(&record))?;
    writer.finish(commits_replayed)
}

/// A backup file being written; removes its temporary file unless finished.
struct BackupWriter {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<File>,
    hasher: Sha256,
    bytes: u64,
    records: u64,
    finished: bool,
}

impl BackupWriter {
    /// Creates `path.tmp` and writes the header; refuses an existing `path`.
    fn create(path: &Path) -> Result<Self, BackupError> {
        if path.exists() {
            return Err(BackupError::TargetExists(path.to_owned()));
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(io_error(|| {
                format!(
                    "cannot create {} (if it is left from an interrupted backup, remove it)",
                    tmp.display()
                )
            }))?;
        let mut writer = Self {
            path: path.to_owned(),
            tmp,
            out: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            bytes: 0,
            records: 0,
            finished: false,
        };
        writer.put(MAGIC)?;
        writer.put(&FORMAT.to_le_bytes())?;
        writer.put(&STORE_FORMAT.to_le_bytes())?;
        Ok(writer)
    }

    /// Writes bytes that the checksum covers.
    fn put(&mut self, bytes: &[u8]) -> Result<(), BackupError> {
        self.hasher.update(bytes);
        self.bytes += bytes.len() as u64;
        self.out
            .write_all(bytes)
            .map_err(io_error(|| format!("writing {}", self.tmp.display())))
    }

    fn put_field(&mut self, field: &[u8]) -> Result<(), BackupError> {
        let len = u32::try_from(field.len()).map_err(|_| BackupError::Malformed {
            path: self.path.clone(),
            reason: "a key or value is longer than 4 GiB".into(),
        })?;
        self.put(&len.to_le_bytes())?;
        self.put(field)
    }

    fn record(&mut self, record: &Record<'_>) -> Result<(), BackupError> {
        self.put(&[if record.value.is_some() { SET } else { REMOVE }])?;
        self.put_field(record.tree)?;
        self.put_field(record.key)?;
        if let Some(value) = record.value {
            self.put_field(value)?;
        }
        self.records += 1;
        Ok(())
    }

    /// Writes the trailer, makes the file durable and moves it into place.
    fn finish(mut self, commits_replayed: u64) -> Result<BackupReport, BackupError> {
        self.put(END)?;
        self.put(&self.records.to_le_bytes())?;
        let sha256 = std::mem::take(&mut self.hasher).finalize();
        self.bytes += sha256.len() as u64;
        self.out
            .write_all(&sha256)
            .and_then(|()| self.out.flush())
            .and_then(|()| self.out.get_ref().sync_all())
            .map_err(io_error(|| format!("writing {}", self.tmp.display())))?;
        std::fs::rename(&self.tmp, &self.path).map_err(io_error(|| {
            format!("renaming {} to {}", self.tmp.display(), self.path.display())
        }))?;
        self.finished = true;
        sync_parent(&self.path)?;
        Ok(BackupReport {
            path: self.path.display().to_string(),
            bytes: self.bytes,
            records: self.records,
            sha256: hex(&sha256),
            commits_replayed,
        })
    }
}

impl Drop for BackupWriter {
    fn drop(&mut self) {
        if !self.finished {
            // Best effort: the backup already failed with its own error.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Fsyncs the directory holding `path`, so a rename or a new file in it survives a
/// power cut.
fn sync_parent(path: &Path) -> Result<(), BackupError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    sync_dir(parent)
}

fn sync_dir(dir: &Path) -> Result<(), BackupError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(|| {
            format!("syncing the directory {}", dir.display())
        }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What a checked backup holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBackup {
    /// Records in it.
    pub records: u64,
    /// Its size.
    pub bytes: u64,
    /// Its checksum, in hex.
    pub sha256: String,
}

/// Reads and checks the whole backup at `path` (header, every record, count and
/// checksum) without writing anything.
pub fn verify(path: &Path) -> Result<VerifiedBackup, BackupError> {
    read_records(path, &mut |_| Ok(()))
}

/// Restores the backup at `from` into `data_dir`, a new or empty directory, as a store
/// `SledStore::open` accepts. The backup is checked whole before anything is written.
pub fn restore(from: &Path, data_dir: &Path) -> Result<VerifiedBackup, BackupError> {
    verify(from)?;
    let has_files = std::fs::read_dir(data_dir).is_ok_and(|mut entries| entries.next().is_some());
    if has_files || (data_dir.exists() && !data_dir.is_dir()) {
        return Err(BackupError::TargetNotEmpty(data_dir.to_owned()));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(io_error(|| format!("creating {}", data_dir.display())))?;
    let verified = {
        let store = SledStore::open(data_dir, RESTORE_CACHE_MB)?;
        // Read again (the first pass kept nothing in memory); the checksum is checked
        // again, and the store is only marked once it matched.
        let verified = read_records(from, &mut |record| Ok(store.restore_record(&record)?))?;
        store.finish_restore()?;
        verified
    };
    sync_tree(data_dir)?;
    sync_parent(data_dir)?;
    Ok(verified)
}

/// Fsyncs every file and directory under `dir`, and `dir` itself.
fn sync_tree(dir: &Path) -> Result<(), BackupError> {
    let entries =
        std::fs::read_dir(dir).map_err(io_error(|| format!("listing {}", dir.display())))?;
    for entry in entries {
        let path = entry
            .map_err(io_error(|| format!("listing {}", dir.display())))?
            .path();
        if path.is_dir() {
            sync_tree(&path)?;
        } else {
            File::open(&path)
                .and_then(|file| file.sync_all())
                .map_err(io_error(|| format!("syncing {}", path.display())))?;
        }
    }
    sync_dir(dir)
}

/// Hands every record of the backup at `path` to `each`, then checks the count and
/// the checksum. A damaged file is reported as damaged (checksum) before any record
/// that failed to parse is.
fn read_records(
    path: &Path,
    each: &mut dyn FnMut(Record<'_>) -> Result<(), BackupError>,
) -> Result<VerifiedBackup, BackupError> {
    let file = File::open(path).map_err(io_error(|| format!("opening {}", path.display())))?;
    let bytes = file
        .metadata()
        .map_err(io_error(|| format!("reading {}", path.display())))?
        .len();
    let mut input = Hashing {
        inner: BufReader::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        path,
    };
    let mut header = [0u8; HEADER_LEN as usize];
    let got = input.read_up_to(&mut header)?;
    if got < MAGIC.len() {
        return Err(if got > 0 && MAGIC.starts_with(&header[..got]) {
            BackupError::Truncated(path.to_owned())
        } else {
            BackupError::NotABackup(path.to_owned())
        });
    }
    if &header[..8] != MAGIC {
        return Err(BackupError::NotABackup(path.to_owned()));
    }
    if got < header.len() {
        return Err(BackupError::Truncated(path.to_owned()));
    }
    let format = u32_at(&header, 8);
    if format != FORMAT {
        return Err(BackupError::OtherFormat {
            path: path.to_owned(),
            found: format,
        });
    }
    let store_format = u32_at(&header, 12);
    if store_format != STORE_FORMAT {
        return Err(BackupError::OtherStoreFormat {
            path: path.to_owned(),
            found: store_format,
        });
    }
    if bytes < HEADER_LEN + TRAILER_LEN || !ends_with_trailer(path, bytes)? {
        return Err(BackupError::Truncated(path.to_owned()));
    }
    let mut remaining = bytes - HEADER_LEN - TRAILER_LEN;
    let mut records = 0u64;
    let mut parsed = Ok(());
    while remaining > 0 && parsed.is_ok() {
        parsed = input.record(&mut remaining).and_then(|record| {
            records += 1;
            each(record.as_record())
        });
    }
    if parsed.is_ok() {
        let mut end = [0u8; 16];
        input.read_exact(&mut end)?;
        let count = u64::from_le_bytes(end[8..].try_into().expect("8 bytes"));
        if &end[..8] != END || count != records {
            parsed = Err(BackupError::Malformed {
                path: path.to_owned(),
                reason: format!("its trailer counts {count} records but it holds {records}"),
            });
        }
    } else {
        // Hash the rest so a damaged length is reported as damage, not as a parse error.
        let mut rest = (&mut input.inner).take(remaining + 16);
        io::copy(&mut rest, &mut HashSink(&mut input.hasher))
            .map_err(io_error(|| format!("reading {}", path.display())))?;
    }
    let actual = input.hasher.clone().finalize();
    let mut expected = [0u8; 32];
    input
        .inner
        .read_exact(&mut expected)
        .map_err(io_error(|| format!("reading {}", path.display())))?;
    if actual.as_slice() != expected {
        return Err(BackupError::ChecksumMismatch {
            path: path.to_owned(),
            expected: hex(&expected),
            actual: hex(&actual),
        });
    }
    parsed?;
    Ok(VerifiedBackup {
        records,
        bytes,
        sha256: hex(&expected),
    })
}

/// Whether the trailer's end tag sits where a whole file has it: a copy cut short
/// has record bytes there instead.
fn ends_with_trailer(path: &Path, bytes: u64) -> Result<bool, BackupError> {
    let mut file = File::open(path).map_err(io_error(|| format!("opening {}", path.display())))?;
    let mut end = [0u8; 8];
    file.seek(SeekFrom::Start(bytes - TRAILER_LEN))
        .and_then(|_| file.read_exact(&mut end))
        .map_err(io_error(|| format!("reading {}", path.display())))?;
    Ok(&end == END)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// A record read from a file, owning its bytes.
struct OwnedRecord {
    tree: Vec<u8>,
    key: Vec<u8>,
    value: Option<Vec<u8>>,
}

impl OwnedRecord {
    fn as_record(&self) -> Record<'_> {
        Record {
            tree: &self.tree,
            key: &self.key,
            value: self.value.as_deref(),
        }
    }
}

/// A reader that hashes what it reads.
struct Hashing<'a> {
    inner: BufReader<File>,
    hasher: Sha256,
    path: &'a Path,
}

impl Hashing<'_> {
    /// Reads as much of `buf` as the file holds; returns how much.
    fn read_up_to(&mut self, buf: &mut [u8]) -> Result<usize, BackupError> {
        let mut got = 0;
        while got < buf.len() {
            let n = self
                .inner
                .read(&mut buf[got..])
                .map_err(io_error(|| format!("reading {}", self.path.display())))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        self.hasher.update(&buf[..got]);
        Ok(got)
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), BackupError> {
        if self.read_up_to(buf)? < buf.len() {
            return Err(BackupError::Truncated(self.path.to_owned()));
        }
        Ok(())
    }

    /// Reads one record from the `remaining` bytes before the trailer.
    fn record(&mut self, remaining: &mut u64) -> Result<OwnedRecord, BackupError> {
        let mut tag = [0u8; 1];
        self.take(remaining, &mut tag)?;
        let tree = self.field(remaining)?;
        let key = self.field(remaining)?;
        let value = match tag[0] {
            SET => Some(self.field(remaining)?),
            REMOVE => None,
            other => return Err(self.malformed(format!("unknown record tag {other}"))),
        };
        Ok(OwnedRecord { tree, key, value })
    }

    fn field(&mut self, remaining: &mut u64) -> Result<Vec<u8>, BackupError> {
        let mut len = [0u8; 4];
        self.take(remaining, &mut len)?;
        let len = u64::from(u32::from_le_bytes(len));
        if len > *remaining {
            return Err(self.malformed("a record runs into the trailer".into()));
        }
        let mut field = vec![0u8; usize::try_from(len).expect("a u32 fits in usize")];
        self.take(remaining, &mut field)?;
        Ok(field)
    }

    fn take(&mut self, remaining: &mut u64, buf: &mut [u8]) -> Result<(), BackupError> {
        let len = buf.len() as u64;
        if len > *remaining {
            return Err(self.malformed("a record runs into the trailer".into()));
        }
        self.read_exact(buf)?;
        *remaining -= len;
        Ok(())
    }

    fn malformed(&self, reason: String) -> BackupError {
        BackupError::Malformed {
            path: self.path.to_owned(),
            reason,
        }
    }
}

/// Feeds copied bytes to a hasher.
struct HashSink<'a>(&'a mut Sha256);

impl Write for HashSink<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Meta, PlayerRecord, Store, TickBatch};
    use canopy_shared::PlayerId;

    /// Commit `n` adds player `n` and sets the game time to `n`.
    fn commit_player(store: &SledStore, n: u64) {
        let batch = TickBatch {
            players: vec![PlayerRecord::new(PlayerId(n), format!("p{n}"), n)],
            meta: Meta {
                game_time: n,
                next_player_id: n + 1,
                ..Meta::default()
            },
            ..TickBatch::default()
        };
        store.commit(&batch).expect("commit");
    }

    /// A store of 20 players and a backup of it, in one temporary directory.
    fn backed_up() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(&dir.path().join("live"), 8).expect("open");
        (1..=20).for_each(|n| commit_player(&store, n));
        let path = dir.path().join("world.backup");
        let report = store.backup(&path).expect("backup");
        assert_eq!(report.commits_replayed, 0);
        (dir, path)
    }

    fn refusal(path: &Path, dir: &Path) -> String {
        let target = dir.join("restored");
        let err = restore(path, &target).expect_err("refused");
        assert!(!target.exists(), "a refused restore writes nothing: {err}");
        err.to_string()
    }

    #[test]
    fn a_restored_backup_is_the_store_it_copied() {
        let (dir, path) = backed_up();
        let target = dir.path().join("restored");
        let verified = restore(&path, &target).expect("restore");
        assert_eq!(verified.records, 21, "20 players and the meta record");
        let restored = SledStore::open(&target, 8).expect("a restored store opens");
        let snapshot = restored.load().expect("load");
        assert_eq!(snapshot.meta.map(|meta| meta.game_time), Some(20));
        assert_eq!(snapshot.players.len(), 20);
    }

    #[test]
    fn a_backup_beside_commits_is_the_state_after_one_of_them() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(&dir.path().join("live"), 8).expect("open");
        (1..=500).for_each(|n| commit_player(&store, n));
        let path = dir.path().join("world.backup");
        let report = std::thread::scope(|scope| {
            let writer = scope.spawn(|| (501..=1500).for_each(|n| commit_player(&store, n)));
            let report = store.backup(&path).expect("backup");
            writer.join().expect("the writer ran");
            report
        });
        let target = dir.path().join("restored");
        restore(&path, &target).expect("restore");
        let snapshot = SledStore::open(&target, 8)
            .expect("open")
            .load()
            .expect("load");
        let last = snapshot.meta.expect("meta").game_time;
        let mut ids: Vec<u64> = snapshot.players.iter().map(|player| player.id.0).collect();
        ids.sort_unstable();
        assert!(last >= 500, "every commit before the backup is in it");
        assert_eq!(
            ids,
            (1..=last).collect::<Vec<_>>(),
            "exactly the players of the commits up to the meta's ({} replayed)",
            report.commits_replayed
        );
    }

    #[test]
    fn commits_during_the_scan_are_replayed_over_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(&dir.path().join("live"), 8).expect("open");
        (1..=20).for_each(|n| commit_player(&store, n));
        let path = dir.path().join("world.backup");
        let mut writer = BackupWriter::create(&path).expect("create");
        let mut scanned = 0;
        let replayed = store
            .copy_records(&mut |record| {
                scanned += 1;
                if scanned == 3 {
                    // Mid-scan: a key already scanned, a key not scanned yet, a new key.
                    let mut changed = PlayerRecord::new(PlayerId(1), "p1".into(), 1);
                    changed.energy = 77;
                    let mut last = PlayerRecord::new(PlayerId(20), "p20".into(), 1);
                    last.energy = 88;
                    let batch = TickBatch {
                        players: vec![changed, last],
                        meta: Meta {
                            game_time: 99,
                            ..Meta::default()
                        },
                        ..TickBatch::default()
                    };
                    store.commit(&batch).expect("commit");
                    commit_player(&store, 21);
                }
                writer.record(&record)
            })
            .expect("copy");
        assert_eq!(replayed, 2);
        writer.finish(replayed).expect("finish");
        let target = dir.path().join("restored");
        restore(&path, &target).expect("restore");
        let restored = SledStore::open(&target, 8)
            .expect("open")
            .load()
            .expect("load");
        let live = store.load().expect("load");
        assert_eq!(restored.meta, live.meta);
        assert_eq!(restored.meta.map(|meta| meta.game_time), Some(21));
        assert_eq!(restored.players, live.players);
        let energy = |id: u64| {
            restored
                .players
                .iter()
                .find(|p| p.id.0 == id)
                .map(|p| p.energy)
        };
        assert_eq!(
            (energy(1), energy(20), energy(21)),
            (Some(77), Some(88), Some(0))
        );
    }

    #[test]
    fn a_truncated_backup_is_refused() {
        let (dir, path) = backed_up();
        let whole = std::fs::read(&path).expect("read");
        for cut in [4, 12, 40, whole.len() / 2, whole.len() - 1] {
            std::fs::write(&path, &whole[..cut]).expect("write");
            let message = refusal(&path, dir.path());
            assert!(message.contains("is truncated"), "cut at {cut}: {message}");
        }
    }

    #[test]
    fn a_flipped_byte_is_refused() {
        let (dir, path) = backed_up();
        let whole = std::fs::read(&path).expect("read");
        for at in [20, whole.len() / 2, whole.len() - 40, whole.len() - 1] {
            let mut damaged = whole.clone();
            damaged[at] ^= 0x01;
            std::fs::write(&path, &damaged).expect("write");
            let message = refusal(&path, dir.path());
            assert!(message.contains("is damaged"), "byte {at}: {message}");
        }
    }

    #[test]
    fn a_foreign_file_or_format_is_refused() {
        let (dir, path) = backed_up();
        let whole = std::fs::read(&path).expect("read");
        let foreign = dir.path().join("notes.txt");
        std::fs::write(
            &foreign,
            "just some text, long enough to have a header and more",
        )
        .expect("write");
        assert!(refusal(&foreign, dir.path()).contains("is not a Canopy backup"));
        std::fs::write(&foreign, "").expect("write");
        assert!(refusal(&foreign, dir.path()).contains("is not a Canopy backup"));
        let mut newer = whole.clone();
        newer[8] = 2;
        std::fs::write(&path, &newer).expect("write");
        assert!(refusal(&path, dir.path()).contains("is backup format 2"));
        let mut other_store = whole;
        other_store[12] = 3;
        std::fs::write(&path, &other_store).expect("write");
        assert!(refusal(&path, dir.path()).contains("holds a store of format 3"));
    }

    #[test]
    fn a_non_empty_target_is_refused() {
        let (dir, path) = backed_up();
        let target = dir.path().join("restored");
        std::fs::create_dir(&target).expect("mkdir");
        std::fs::write(target.join("keep.txt"), "mine").expect("write");
        let message = restore(&path, &target).expect_err("refused").to_string();
        assert!(message.contains("is not empty"), "{message}");
        let kept: Vec<_> = std::fs::read_dir(&target).expect("list").collect();
        assert_eq!(kept.len(), 1, "the target is left as it was");
    }

    #[test]
    fn a_failed_backup_leaves_nothing_behind() {
        let (dir, path) = backed_up();
        let store = SledStore::open(&dir.path().join("live"), 8).expect("open");
        let message = store.backup(&path).expect_err("exists").to_string();
        assert!(message.contains("already exists"), "{message}");
        let nowhere = dir.path().join("missing-dir").join("world.backup");
        let message = store.backup(&nowhere).expect_err("unwritable").to_string();
        assert!(message.contains("cannot create"), "{message}");
        let files: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        assert_eq!(
            files.len(),
            2,
            "only the store and the first backup: {files:?}"
        );
        commit_player(&store, 21);
    }
}
