//! Progress of long transfers on stderr (indicatif): a bar for bytes whose total is known, a
//! spinner for a wait whose progress this process cannot see. Drawn only when stderr is a
//! terminal and `--json` was not given, and only once the work has run for a second
//! ([`DEFAULT_DELAY_MS`]; `POC247_PROGRESS_DELAY_MS` changes it), so that short transfers,
//! pipes and scripts see nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

/// How long work runs before its progress shows, in milliseconds.
pub const DEFAULT_DELAY_MS: u64 = 1000;

/// Whether progress may be drawn at all: not with `--json`, and only on a terminal.
pub fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

fn delay() -> Duration {
    let ms = std::env::var("POC247_PROGRESS_DELAY_MS")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_DELAY_MS);
    Duration::from_millis(ms)
}

/// One bar or spinner, hidden until the work has run for the delay.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    delay: Duration,
    shown: bool,
}

impl Progress {
    fn new(wanted: bool, make: impl FnOnce() -> ProgressBar) -> Self {
        let bar = wanted.then(|| {
            let bar = make();
            bar.set_draw_target(ProgressDrawTarget::hidden());
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            delay: delay(),
            shown: false,
        }
    }

    /// A bar of `total` bytes: `label  [####----]  12.0 MiB/1.0 GiB  80 MiB/s  ETA 12s`.
    pub fn bytes(wanted: bool, total: u64, label: &str) -> Self {
        Progress::new(wanted, || {
            let style = ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("#>-");
            ProgressBar::new(total)
                .with_style(style)
                .with_message(label.to_owned())
        })
    }

    /// A spinner with the time elapsed: `⠋ label (3s)`.
    pub fn spinner(wanted: bool, label: &str) -> Self {
        Progress::new(wanted, || {
            let style = ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner());
            ProgressBar::new_spinner()
                .with_style(style)
                .with_message(label.to_owned())
        })
    }

    /// Shows the bar once the delay has passed.
    fn reveal(&mut self) {
        if let Some(bar) = &self.bar {
            if !self.shown && self.started.elapsed() >= self.delay {
                bar.set_draw_target(ProgressDrawTarget::stderr());
                self.shown = true;
            }
        }
    }

    /// `done` bytes of the total.
    pub fn set(&mut self, done: u64) {
        self.reveal();
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    /// One more step of a spinner.
    pub fn tick(&mut self) {
        self.reveal();
        if let Some(bar) = &self.bar {
            bar.tick();
        }
    }

    /// The work is over: the bar goes away (what was done is printed by the command).
    pub fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Runs `work` under a spinner that turns every 100 ms once shown.
pub async fn while_waiting<T>(
    wanted: bool,
    label: &str,
    work: impl std::future::Future<Output = T>,
) -> T {
    let mut spinner = Progress::spinner(wanted, label);
    if !wanted {
        return work.await;
    }
    tokio::pin!(work);
    let mut every = tokio::time::interval(Duration::from_millis(100));
    let out = loop {
        tokio::select! {
            out = &mut work => break out,
            _ = every.tick() => spinner.tick(),
        }
    };
    spinner.finish();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_drawn_when_progress_is_not_wanted() {
        let mut p = Progress::bytes(false, 100, "x");
        p.set(50);
        assert!(p.bar.is_none());
        p.finish();
        let mut s = Progress::spinner(false, "x");
        s.tick();
        assert!(s.bar.is_none());
    }

    #[test]
    fn a_bar_stays_hidden_during_the_delay() {
        let mut p = Progress::bytes(true, 100, "x");
        p.delay = Duration::from_secs(3600);
        p.set(50);
        assert!(!p.shown);
        p.delay = Duration::ZERO;
        p.set(60);
        assert!(p.shown);
        p.finish();
    }
}
