//! What a run tells its operator while it works: a progress bar inside a long stage when
//! stderr is a terminal, a plain line every few seconds otherwise (a scheduler's log), and
//! `run.log` in the run folder — one line per event, `time  stage  event`, appended as it
//! happens (each line one `write`, so a killed run leaves every line before the kill).
//!
//! `run.log` holds wall-clock times: it is not a stage output, so neither the manifest's
//! hashes nor `verify` look at it, and the outputs stay byte-identical from run to run.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The open `run.log`, if a run opened one.
static LOG: Mutex<Option<File>> = Mutex::new(None);

/// Time between two plain progress lines when stderr is not a terminal.
const PLAIN_EVERY: Duration = Duration::from_secs(5);

/// Items between two looks at the display.
const CHECK_EVERY: u64 = 1024;

/// Opens (appending) the run log at `path`; later [`event`]s go to it.
pub(crate) fn open_log(path: &Path) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    *LOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// Closes the run log when dropped (the end of a run, whichever way it ends).
pub(crate) struct LogGuard;

impl Drop for LogGuard {
    fn drop(&mut self) {
        *LOG.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// One line of the run log: UTC time, stage (or `run`), event. Nothing when no log is open;
/// a failed write is not the run's failure.
pub fn event(stage: &str, what: &str) {
    let mut log = LOG.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = log.as_mut() {
        let line = format!("{}  {stage:<12} {}\n", utc_now(), what.replace('\n', " | "));
        let _ = f.write_all(line.as_bytes());
    }
}

/// The current time, UTC, as `2026-12-07T20:45:01Z`.
fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::domain::month::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// A line for the operator: on stderr and in the run log.
pub fn say(stage: &str, what: &str) {
    eprintln!("{what}");
    event(stage, what);
}

/// Progress of one long step of a stage (the files of a table, the benefits scored).
pub(crate) struct Progress {
    stage: &'static str,
    what: String,
    unit: &'static str,
    total: u64,
    done: AtomicU64,
    bar: Option<ProgressBar>,
    last_line: Mutex<Instant>,
}

impl Progress {
    /// `total` items of `unit` ("files", "rows", "benefits") for `what`.
    pub fn new(stage: &'static str, what: &str, total: u64, unit: &'static str) -> Progress {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("  {prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(format!("{stage}: {what}"));
            bar.set_message(unit);
            bar
        });
        event(stage, &format!("{what}: 0/{total} {unit}"));
        Progress {
            stage,
            what: what.to_string(),
            unit,
            total,
            done: AtomicU64::new(0),
            bar,
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// `n` more items done (from any thread). Cheap enough to call per row: the display
    /// is looked at only when the count crosses a multiple of [`CHECK_EVERY`].
    pub(crate) fn inc(&self, n: u64) {
        let before = self.done.fetch_add(n, Ordering::Relaxed);
        let done = before + n;
        if n < CHECK_EVERY && before / CHECK_EVERY == done / CHECK_EVERY && done < self.total {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            return;
        }
        let Ok(mut last) = self.last_line.try_lock() else {
            return;
        };
        if last.elapsed() >= PLAIN_EVERY && done < self.total {
            *last = Instant::now();
            say(
                self.stage,
                &format!("  {}: {}", self.stage, self.line(done)),
            );
        }
    }

    fn line(&self, done: u64) -> String {
        format!(
            "{} {done}/{} {} ({:.0} %)",
            self.what,
            self.total,
            self.unit,
            100.0 * done as f64 / self.total.max(1) as f64
        )
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        event(self.stage, &self.line(self.done.load(Ordering::Relaxed)));
    }
}
