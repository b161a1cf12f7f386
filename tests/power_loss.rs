//! Acknowledged means durable through a power cut: the real server, watched by `strace`,
//! makes its store's log durable with `fdatasync`/`fsync` after a command arrives and
//! before that command's reply leaves. sled's own flush (`sync_file_range`) does not count.

mod support;

use anyhow::{Context, Result, bail};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{Server, player};

/// Writes acknowledged one by one, each of which must be preceded by its own sync.
const ACKED_WRITES: u64 = 20;
/// Request ids of the checked writes start here, so their replies are easy to find.
const FIRST_ID: u64 = 770_001;

/// `strace` attached to every thread of a running process, writing to a file.
struct Trace {
    strace: Child,
}

impl Trace {
    /// Attaches to `pid` and returns once every thread is traced.
    fn attach(pid: u32, out: &Path) -> Result<Self> {
        let mut strace = Command::new("strace")
            .args(["-f", "-yy", "-s", "512", "-e", "signal=none", "-e"])
            .arg(
                "trace=fdatasync,fsync,sync_file_range,read,recvfrom,recvmsg,readv,\
                 write,sendto,sendmsg,writev",
            )
            .arg("-o")
            .arg(out)
            .arg("-p")
            .arg(pid.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting strace")?;
        let stderr = strace.stderr.take().context("strace stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let attached = lines.next().context("strace exited before attaching")??;
        if !attached.contains("attached") {
            bail!("strace could not attach: {attached}");
        }
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Ok(Self { strace })
    }

    /// Detaches (SIGTERM makes strace detach and finish its file).
    fn detach(mut self) -> Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.strace.id().to_string()])
            .status()?;
        self.strace.wait()?;
        Ok(())
    }
}

/// One finished system call from the trace, with the lines where it began and ended.
#[derive(Debug)]
struct Call {
    name: String,
    fd: Option<u32>,
    /// The fd's annotation from `-yy`: a path, or a socket's addresses.
    fd_text: String,
    args: String,
    result: i64,
    began: usize,
    ended: usize,
}

/// Parses `strace -f -yy` output, joining `<unfinished ...>` and `<... resumed>` halves.
fn parse_trace(text: &str) -> Vec<Call> {
    let mut pending: HashMap<&str, (usize, String)> = HashMap::new();
    let mut calls = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let Some((pid, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            pending.insert(pid, (line_no, head.to_owned()));
            continue;
        }
        let (began, whole) = match rest.strip_prefix("<... ") {
            Some(resumed) => {
                let Some((began, head)) = pending.remove(pid) else {
                    continue;
                };
                let tail = resumed.split_once("resumed>").map_or("", |(_, tail)| tail);
                (began, format!("{head}{tail}"))
            }
            None => (line_no, rest.to_owned()),
        };
        if let Some(call) = parse_call(&whole, began, line_no) {
            calls.push(call);
        }
    }
    calls
}

fn parse_call(whole: &str, began: usize, ended: usize) -> Option<Call> {
    let (name, rest) = whole.split_once('(')?;
    // A resumed call's result is padded: `<... fdatasync resumed>)          = 0`.
    let (args, result) = rest.rsplit_once(" = ")?;
    let args = args.trim_end().strip_suffix(')')?;
    let result = result.split_whitespace().next()?.parse().ok()?;
    let fd = args
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|digits| digits.parse().ok());
    let fd_text = args
        .split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map_or(String::new(), |(text, _)| text.to_owned());
    Some(Call {
        name: name.to_owned(),
        fd,
        fd_text,
        args: args.to_owned(),
        result,
        began,
        ended,
    })
}

/// Whether `strace` can be run here; in CI it must be (`.ci/run` installs it).
fn strace_available() -> Result<bool> {
    let found = Command::new("strace")
        .arg("-V")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found && std::env::var_os("CI").is_some() {
        bail!("strace is missing: .ci/run installs it with apt-get");
    }
    if !found {
        eprintln!("skipped: install strace (apt-get install strace) to run this proof");
    }
    Ok(found)
}

#[tokio::test]
async fn every_reply_follows_a_durable_sync_of_the_store() -> Result<()> {
    if !strace_available()? {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let trace_file = dir.path().join("trace.txt");
    let data_dir = dir.path().join("data");
    // Keepalive pings stay out of the window between a request and its reply.
    let server = Server::start_with_env(
        &data_dir,
        &["--clock", "manual"],
        &[
            ("CANOPY_SERVER__PING_INTERVAL_SECS", "3600"),
            ("CANOPY_SERVER__IDLE_TIMEOUT_SECS", "7200"),
        ],
    )?;
    let (mut alice, _, _) = player(&server, "alice").await?;
    let trace = Trace::attach(server.pid(), &trace_file)?;

    for n in 0..ACKED_WRITES {
        let id = FIRST_ID + n;
        let request = json!({
            "id": id, "op": "record_action", "kind": "walk",
            "quantity": 1_000 * (n + 1), "ref": format!("power-cut-{n}"),
        });
        alice.send_text(&request.to_string()).await?;
        let reply = alice.reply_to(Some(id)).await?;
        assert_eq!(reply["ok"], true, "{reply}");
    }
    // strace writes its file as calls finish: wait until the last reply is in it.
    let last_reply = format!("\\\"id\\\":{}", FIRST_ID + ACKED_WRITES - 1);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !std::fs::read_to_string(&trace_file)?.contains(&last_reply) {
        assert!(
            Instant::now() < deadline,
            "the trace never showed the last reply"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    trace.detach()?;

    let calls = parse_trace(&std::fs::read_to_string(&trace_file)?);
    let log_file = data_dir.join("db");
    let log_file = log_file.to_string_lossy();
    let syncs: Vec<&Call> = calls
        .iter()
        .filter(|call| matches!(call.name.as_str(), "fdatasync" | "fsync"))
        .filter(|call| call.fd_text == log_file && call.result == 0)
        .collect();
    for n in 0..ACKED_WRITES {
        let marker = format!("\\\"id\\\":{}", FIRST_ID + n);
        let reply = calls
            .iter()
            .find(|call| is_write(call) && call.args.contains(&marker))
            .with_context(|| format!("no reply write for request {} in the trace", FIRST_ID + n))?;
        let request = calls
            .iter()
            .rev()
            .filter(|call| is_read(call) && call.fd == reply.fd && call.result > 0)
            .find(|call| call.ended < reply.began)
            .with_context(|| format!("no read of request {} in the trace", FIRST_ID + n))?;
        let synced = syncs
            .iter()
            .any(|sync| request.ended < sync.ended && sync.ended < reply.began);
        assert!(
            synced,
            "request {} was answered without an fdatasync/fsync of {log_file} in between \
             (read ended on trace line {}, reply began on line {})",
            FIRST_ID + n,
            request.ended + 1,
            reply.began + 1,
        );
    }
    Ok(())
}

fn is_read(call: &Call) -> bool {
    matches!(
        call.name.as_str(),
        "read" | "recvfrom" | "recvmsg" | "readv"
    )
}

fn is_write(call: &Call) -> bool {
    matches!(
        call.name.as_str(),
        "write" | "sendto" | "sendmsg" | "writev"
    )
}
