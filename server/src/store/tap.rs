//! The backup tap: while a backup scans the live store, every commit also records its
//! exact key writes here, so the backup can replay them over its scan.
//!
//! sled 0.34 has no point-in-time snapshot, and a scan that runs beside commits sees
//! each key at some moment of its own. Every commit writes whole values, so replaying
//! the writes recorded from before the scan started until after it ended, in order,
//! turns the scan into the exact state as of the last recorded commit: a key no commit
//! touched meanwhile did not change, and a key one did ends with its last write.

use super::backup::BackupError;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// One key written by a commit: `Some` sets it to the whole value, `None` removes it.
pub(super) struct TapWrite {
    /// The key, in the default tree (the only tree commits write).
    pub key: Vec<u8>,
    /// The new value, or `None` for a removal.
    pub value: Option<Vec<u8>>,
}

/// The writes of one commit, in the order the commit made them.
pub(super) type TappedCommit = Vec<TapWrite>;

/// `None` when no backup runs (commits record nothing); `Some` while one scans.
#[derive(Default)]
pub(super) struct BackupTap {
    commits: Mutex<Option<Vec<TappedCommit>>>,
}

impl BackupTap {
    /// Locks the tap for one commit. The commit applies its batch while holding it, so
    /// a backup cannot start or end between a batch landing and its writes being
    /// recorded. Only the game thread commits, so this waits only while a backup starts
    /// or ends, which takes a lock swap and no I/O.
    pub fn hold(&self) -> TapHold<'_> {
        let commits = lock(&self.commits);
        let pending = commits.as_ref().map(|_| Vec::new());
        TapHold { commits, pending }
    }

    /// Starts recording commits for a backup; refuses a second backup at once.
    pub fn start(&self) -> Result<Tapping<'_>, BackupError> {
        let mut commits = lock(&self.commits);
        if commits.is_some() {
            return Err(BackupError::Busy);
        }
        *commits = Some(Vec::new());
        Ok(Tapping { tap: self })
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the tap leaves nothing half-written: the Vec is whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A commit's hold on the tap; see [`BackupTap::hold`].
pub(super) struct TapHold<'a> {
    commits: MutexGuard<'a, Option<Vec<TappedCommit>>>,
    /// This commit's writes, collected only while a backup runs.
    pending: Option<TappedCommit>,
}

impl TapHold<'_> {
    /// Records one write of the commit (nothing when no backup runs).
    pub fn record(&mut self, key: &[u8], value: Option<&[u8]>) {
        if let Some(pending) = &mut self.pending {
            pending.push(TapWrite {
                key: key.to_vec(),
                value: value.map(<[u8]>::to_vec),
            });
        }
    }

    /// The batch is applied: hands its writes to the running backup and releases the
    /// tap. A commit that fails drops its hold instead, recording nothing.
    pub fn applied(mut self) {
        if let (Some(commits), Some(pending)) = (self.commits.as_mut(), self.pending.take()) {
            commits.push(pending);
        }
    }
}

/// A running backup's recording; dropping it (on a failed backup too) stops it.
pub(super) struct Tapping<'a> {
    tap: &'a BackupTap,
}

impl Tapping<'_> {
    /// Stops recording and returns the commits applied since [`BackupTap::start`],
    /// oldest first.
    pub fn finish(self) -> Vec<TappedCommit> {
        lock(&self.tap.commits).take().unwrap_or_default()
    }
}

impl Drop for Tapping<'_> {
    fn drop(&mut self) {
        lock(&self.tap.commits).take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_commits_applied_while_a_backup_runs_are_recorded() {
        let tap = BackupTap::default();
        let mut before = tap.hold();
        before.record(b"a", Some(b"1"));
        before.applied();
        let tapping = tap.start().expect("no backup runs yet");
        assert!(matches!(tap.start(), Err(BackupError::Busy)));
        let mut applied = tap.hold();
        applied.record(b"a", Some(b"2"));
        applied.record(b"b", None);
        applied.applied();
        let mut failed = tap.hold();
        failed.record(b"c", Some(b"3"));
        drop(failed);
        let commits = tapping.finish();
        assert_eq!(commits.len(), 1);
        let keys: Vec<_> = commits[0].iter().map(|write| write.key.clone()).collect();
        assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
        assert_eq!(commits[0][1].value, None);
        assert!(tap.start().is_ok(), "a finished backup frees the tap");
    }
}
