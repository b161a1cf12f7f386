//! Progress on stderr: a bar per setup phase and one for the run with live ops/s and
//! errors. Bars show only on a terminal and without `--quiet`; otherwise each phase
//! prints one line when it ends (nothing at all with `--quiet`).

use crate::bots::stats::Recorder;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Where progress goes.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Draw bars (stderr is a terminal and not `--quiet`).
    bars: bool,
    /// Say nothing.
    quiet: bool,
}

impl Progress {
    /// Bars on a terminal, lines elsewhere, nothing when `quiet`.
    pub fn new(quiet: bool) -> Self {
        Self {
            bars: !quiet && std::io::stderr().is_terminal(),
            quiet,
        }
    }

    /// A bar for a setup phase of `len` steps (hidden off a terminal).
    pub fn phase(&self, what: &str, len: u64) -> ProgressBar {
        if !self.bars {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix(what.to_owned());
        bar
    }

    /// Ends a phase: clears its bar and says what it did.
    pub fn done(&self, bar: &ProgressBar, line: &str) {
        bar.finish_and_clear();
        self.say(line);
    }

    /// One line on stderr, unless quiet.
    pub fn say(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    /// Starts the run's bar, updated from the recorder's live counts four times a second until the returned
    /// guard is dropped.
    pub fn run(&self, duration: Duration, recorder: Arc<Recorder>) -> RunBar {
        if !self.bars {
            return RunBar {
                bar: None,
                ticker: None,
            };
        }
        let bar = ProgressBar::new(duration.as_secs().max(1));
        if let Ok(style) =
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} s  {msg}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix("run");
        let ticker = tokio::spawn(tick_run_bar(bar.clone(), recorder));
        RunBar {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }
}

/// The run's bar; dropping it stops the updates and clears it.
pub struct RunBar {
    bar: Option<ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for RunBar {
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

async fn tick_run_bar(bar: ProgressBar, recorder: Arc<Recorder>) {
    let live = &recorder.live;
    let started = Instant::now();
    let mut window = (Instant::now(), 0u64);
    let mut rate = 0.0;
    let mut interval = tokio::time::interval(Duration::from_millis(250));
    loop {
        interval.tick().await;
        let ops = live.ops.load(Ordering::Relaxed);
        let elapsed = window.0.elapsed();
        if elapsed >= Duration::from_secs(1) {
            rate = (ops - window.1) as f64 / elapsed.as_secs_f64();
            window = (Instant::now(), ops);
        }
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(format!(
            "{ops} ops  {rate:.0} ops/s  {} errors  {} violations",
            live.errors.load(Ordering::Relaxed),
            live.violations.load(Ordering::Relaxed)
        ));
    }
}
