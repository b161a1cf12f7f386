//! Power-cut durability for sled's files.
//!
//! sled 0.34's `flush` ends with `sync_file_range` on its log, which neither flushes the
//! drive's volatile write cache nor persists a grown file's size, and it writes values too
//! big for its log (over about a quarter of a segment) as files under `blobs/` that it
//! never syncs at all. [`DurableFiles::sync`] runs after every flush and before any reply:
//! `fdatasync` on the log, and `fsync` on each new blob file and on its directory.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

/// sled's log, which holds every page and every small value.
const LOG_FILE: &str = "db";
/// Where sled puts values too big for its log, one file each.
const BLOB_DIR: &str = "blobs";

/// The open handles a durable sync needs, kept open for the store's life so a commit
/// never pays an `open`.
#[derive(Debug)]
pub struct DurableFiles {
    log: File,
    blob_dir: PathBuf,
    /// Blob files already synced: only new ones cost an `fsync`.
    pub(crate) synced_blobs: HashSet<OsString>,
    /// Syncs done, so tests can see that a commit synced before it returned.
    #[cfg(test)]
    pub(crate) syncs: u64,
}

impl DurableFiles {
    /// Opens the log of the sled store in `dir` and syncs the directory entries sled
    /// created at open (`db`, `conf`, `blobs/`), so a new store survives a power cut.
    pub fn open(dir: &Path) -> io::Result<Self> {
        let log = File::open(dir.join(LOG_FILE))?;
        let mut files = Self {
            log,
            blob_dir: dir.join(BLOB_DIR),
            synced_blobs: HashSet::new(),
            #[cfg(test)]
            syncs: 0,
        };
        files.sync_blobs()?;
        sync_dir(dir)?;
        Ok(files)
    }

    /// Makes everything sled has flushed so far durable against power loss.
    pub fn sync(&mut self) -> io::Result<()> {
        self.log.sync_data()?;
        self.sync_blobs()?;
        #[cfg(test)]
        {
            self.syncs += 1;
        }
        Ok(())
    }

    /// Syncs blob files written since the last call, then their directory, and forgets
    /// the ones sled has removed.
    fn sync_blobs(&mut self) -> io::Result<()> {
        let entries = match std::fs::read_dir(&self.blob_dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        let mut present = HashSet::with_capacity(self.synced_blobs.len());
        let mut synced_new = false;
        for entry in entries {
            let name = entry?.file_name();
            if !self.synced_blobs.contains(&name) {
                File::open(self.blob_dir.join(&name))?.sync_all()?;
                synced_new = true;
            }
            present.insert(name);
        }
        self.synced_blobs = present;
        if synced_new {
            sync_dir(&self.blob_dir)?;
        }
        Ok(())
    }
}

/// Persists a directory's entries (new and renamed files in it).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_blobs_are_synced_once_and_removed_ones_forgotten() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(LOG_FILE), b"log")?;
        std::fs::create_dir(dir.path().join(BLOB_DIR))?;
        let mut files = DurableFiles::open(dir.path())?;
        assert!(files.synced_blobs.is_empty());

        std::fs::write(dir.path().join(BLOB_DIR).join("17"), b"big value")?;
        files.sync()?;
        assert!(files.synced_blobs.contains(&OsString::from("17")));

        std::fs::remove_file(dir.path().join(BLOB_DIR).join("17"))?;
        files.sync()?;
        assert!(files.synced_blobs.is_empty());
        Ok(())
    }

    #[test]
    fn a_store_without_a_blob_directory_syncs() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        std::fs::write(dir.path().join(LOG_FILE), b"log")?;
        DurableFiles::open(dir.path())?.sync()
    }
}
