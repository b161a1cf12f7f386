//! A store that cannot be read is refused with a clear error naming the path, never
//! replaced by a silent empty world.

mod support;

use anyhow::Result;
use std::process::{Command, Stdio};

/// Starts a server on `data_dir` and returns what it printed once it exits; one that
/// starts instead of refusing is killed after [`support::PATIENCE`] (and the test fails on
/// its exit status) rather than hanging the test.
fn start_output(data_dir: &std::path::Path) -> Result<std::process::Output> {
    let mut child = Command::new(support::bin_dir().join("canopy-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--ops-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let started = std::time::Instant::now();
    while child.try_wait()?.is_none() && started.elapsed() < support::PATIENCE {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    Ok(child.wait_with_output()?)
}

#[test]
fn a_directory_that_is_not_a_canopy_store_is_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    std::fs::write(dir.path().join("db"), b"somebody else's data")?;
    let output = start_output(dir.path())?;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("not a Canopy store"), "{stderr}");
    assert_eq!(
        std::fs::read(dir.path().join("db"))?,
        b"somebody else's data",
        "left untouched"
    );
    Ok(())
}

#[tokio::test]
async fn a_damaged_store_is_refused_not_emptied() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let server = support::Server::start_manual(dir.path())?;
    support::player(&server, "alice").await?;
    assert!(server.stop()?.success());
    std::fs::write(dir.path().join("db"), vec![0xA5; 4096])?;
    let output = start_output(dir.path())?;
    assert!(
        !output.status.success(),
        "a damaged store must not start as an empty world"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("damaged"), "{stderr}");
    Ok(())
}
