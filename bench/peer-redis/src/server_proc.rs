//! The server process as the kernel sees it: CPU seconds (all threads) and memory, from
//! `/proc/<pid>/stat` and `/proc/<pid>/status`.

use anyhow::Context;

/// Clock ticks per second of `/proc/<pid>/stat` times (`getconf CLK_TCK`, 100 on Linux).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;

/// User + system CPU seconds the process has used so far.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces) start at field 3 (state);
    // utime and stime are fields 14 and 15.
    let after_name = stat
        .rsplit_once(')')
        .with_context(|| format!("/proc/{pid}/stat has no command name"))?
        .1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |n: usize| -> anyhow::Result<f64> {
        Ok(fields
            .get(n - 3)
            .with_context(|| format!("/proc/{pid}/stat is short"))?
            .parse::<f64>()?)
    };
    Ok((ticks(14)? + ticks(15)?) / CLOCK_TICKS_PER_SECOND)
}

/// CPU seconds of each of several processes (the gateway and redis-server).
pub fn cpu_seconds_each(pids: &[u32]) -> anyhow::Result<Vec<f64>> {
    pids.iter().map(|&pid| cpu_seconds(pid)).collect()
}

/// Resident memory of several processes together, now and the sum of their peaks, MiB.
pub fn rss_mib_of(pids: &[u32]) -> anyhow::Result<(f64, f64)> {
    pids.iter().try_fold((0.0, 0.0), |(now, peak), &pid| {
        let (n, p) = rss_mib(pid)?;
        Ok((now + n, peak + p))
    })
}

/// Resident memory now and at its peak, in MiB (`VmRSS`, `VmHWM`).
pub fn rss_mib(pid: u32) -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let kib = |key: &str| -> anyhow::Result<f64> {
        let line = status
            .lines()
            .find(|line| line.starts_with(key))
            .with_context(|| format!("/proc/{pid}/status has no {key}"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .with_context(|| format!("{key} has no value"))?
            .parse::<f64>()?)
    };
    Ok((kib("VmRSS:")? / 1024.0, kib("VmHWM:")? / 1024.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_own_process() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).expect("cpu") >= 0.0);
        let (rss, peak) = rss_mib(pid).expect("rss");
        assert!(rss > 0.0 && peak >= rss);
    }
}
