//! A minimal HTTP/1.1 GET for Canopy's ops port (loopback, plain HTTP): enough for
//! `/admin/audit` and `/metrics` without an HTTP client crate.

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Canopy's default admin token (`server.admin_token`).
pub const ADMIN_TOKEN: &str = "canopy-admin";

/// GETs `path` from `base` (`http://host:port`) with the admin token and returns the
/// body of a 200 answer.
pub async fn get(base: &str, path: &str) -> anyhow::Result<String> {
    let host = base
        .strip_prefix("http://")
        .with_context(|| format!("{base}: only http:// is supported"))?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(host)
        .await
        .with_context(|| format!("connecting to {host}"))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    let answer = String::from_utf8(answer).context("the answer is not UTF-8")?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .context("the answer has no header end")?;
    let status = head.lines().next().unwrap_or_default();
    anyhow::ensure!(status.contains(" 200 "), "GET {path}: {status}");
    anyhow::ensure!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "GET {path}: chunked answers are not supported"
    );
    Ok(body.to_owned())
}
