//! The process's open-files limit: each connection is a file descriptor, and a common
//! default soft limit (1,024) would stop accepting long before `server.max_connections`.

/// Descriptors kept for the store, the ops port and the rest of the process.
const SPARE_FILES: u64 = 256;

/// Raises the soft open-files limit as far as the hard limit allows towards
/// `max_connections` plus spare, and warns when that is still short.
#[cfg(unix)]
pub fn allow_connections(max_connections: usize) {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let wanted = max_connections as u64 + SPARE_FILES;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else {
        return;
    };
    let target = wanted.min(hard);
    let limit = if target > soft && setrlimit(Resource::RLIMIT_NOFILE, target, hard).is_ok() {
        target
    } else {
        soft
    };
    if limit < wanted {
        tracing::warn!(
            open_files = limit,
            max_connections,
            "the open-files limit allows fewer connections than server.max_connections; \
             raise the hard limit (ulimit -Hn) to serve them all"
        );
    }
}

/// Elsewhere the limit is whatever the platform gives.
#[cfg(not(unix))]
pub fn allow_connections(_max_connections: usize) {}
