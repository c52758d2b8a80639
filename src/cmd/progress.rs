//! Progress bars on stderr: drawn only when stderr is a terminal and neither `-q` nor `--json` is given; cleared
//! when done and, for commands that ran long enough for a person to watch, replaced by one summary line. An
//! interrupted command (Ctrl-C) clears its bar before it dies, so the shell's prompt starts on a clean line.
//!
//! [`Bar`] also implements the engine's [`Progress`] trait, so engine operations (`check`, `gc`) draw through it.

use super::Context;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use infini::progress::{Progress, ProgressSink, Unit};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// Redraws per second.
const HZ: u8 = 4;
/// Commands that finish sooner leave no summary line: their bar was barely visible.
const SUMMARY_AFTER: Duration = Duration::from_secs(1);
/// Width of the bar glyphs.
const BAR_WIDTH: usize = 16;

/// Whether bars are drawn at all for this command.
pub fn enabled(ctx: &Context) -> bool {
    !ctx.global.quiet && !ctx.global.json && std::io::stderr().is_terminal()
}

/// The bars currently drawn, cleared by the Ctrl-C handler.
fn active() -> &'static Mutex<Vec<(u64, ProgressBar)>> {
    static ACTIVE: OnceLock<Mutex<Vec<(u64, ProgressBar)>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

/// On SIGINT clear every drawn bar, then die of the signal as the default action would.
fn install_interrupt_handler() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        use signal_hook::consts::SIGINT;
        let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT]) else { return };
        std::thread::spawn(move || {
            if let Some(sig) = signals.forever().next() {
                let bars = std::mem::take(&mut *active().lock().unwrap_or_else(|e| e.into_inner()));
                for (_, b) in bars {
                    b.finish_and_clear();
                }
                // The terminal echoed `^C` where the cursor was: at the end of the bar's line, now cleared, or
                // at the start of a line of its own. Either way, clearing the current line leaves it clean.
                let _ = std::io::Write::write_all(&mut std::io::stderr(), b"\r\x1b[2K");
                // Back to the default disposition: the shell sees death by SIGINT.
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                std::process::exit(130);
            }
        });
    });
}

/// stderr as indicatif draws on it, except that a bar's line is not padded with spaces to the terminal's width:
/// the cursor stays right after the text, so that a `^C` the terminal echoes lands on the bar's own line (which
/// the interrupt handler then clears) instead of wrapping onto the next one.
#[derive(Debug)]
struct Stderr(console::Term);

impl indicatif::TermLike for Stderr {
    fn width(&self) -> u16 {
        self.0.size().1
    }
    fn height(&self) -> u16 {
        self.0.size().0
    }
    fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_up(n)
    }
    fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_down(n)
    }
    fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_right(n)
    }
    fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
        self.0.move_cursor_left(n)
    }
    fn write_line(&self, s: &str) -> std::io::Result<()> {
        self.0.write_line(s)
    }
    fn write_str(&self, s: &str) -> std::io::Result<()> {
        // The padding after the last line is written on its own.
        if !s.is_empty() && s.bytes().all(|b| b == b' ') {
            return Ok(());
        }
        self.0.write_str(s)
    }
    fn clear_line(&self) -> std::io::Result<()> {
        self.0.clear_line()
    }
    fn flush(&self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Print `msg` on stderr above the bar being drawn, if any (the bar is cleared, the line printed, the bar redrawn
/// below it), so that a message never lands in the middle of a bar's line.
pub fn eprintln_above(msg: &str) {
    let active = active().lock().unwrap_or_else(|e| e.into_inner());
    match active.last() {
        Some((_, pb)) => pb.suspend(|| super::output::stderr_line(msg)),
        None => super::output::stderr_line(msg),
    }
}

/// `n` with thousands separators: 43,267.
pub fn count(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds with one decimal: `4.8 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// `path` shortened to at most `max` characters by replacing its middle with `…`, keeping the file name.
pub fn shorten(path: &str, max: usize) -> String {
    let n = path.chars().count();
    if n <= max {
        return path.to_string();
    }
    if max < 2 {
        return "…".chars().take(max).collect();
    }
    let tail = (max - 1) * 2 / 3;
    let head = max - 1 - tail;
    let h: String = path.chars().take(head).collect();
    let t: String = path.chars().skip(n - tail).collect();
    format!("{h}…{t}")
}

/// Columns of the terminal on stderr (80 when unknown).
fn columns() -> usize {
    let (_, cols) = console::Term::stderr().size();
    if cols == 0 {
        80
    } else {
        cols as usize
    }
}

/// Files done and known, for phases that count the bytes of many files; read when drawing, so that finishing a
/// file costs one atomic increment.
#[derive(Default)]
struct Files {
    done: AtomicU64,
    total: AtomicU64,
    shown: AtomicBool,
}

fn style(template: &str, files: &Arc<Files>) -> ProgressStyle {
    let files = files.clone();
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{}/s", count(s.per_sec().round() as u64));
        })
        .with_key("files", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
            if files.shown.load(Ordering::Relaxed) {
                let (d, t) = (files.done.load(Ordering::Relaxed), files.total.load(Ordering::Relaxed));
                let _ = write!(w, "{}/{} files ", count(d), count(t));
            }
        })
        .progress_chars("█▉▊▋▌▍▎▏ ")
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

fn bytes_style(total: bool, files: &Arc<Files>) -> ProgressStyle {
    let bar = format!(
        "{{prefix}} {{files}}{{bar:{BAR_WIDTH}}} {{bytes}}/{{total_bytes}} {{bytes_per_sec}} eta {{eta}} {{wide_msg}}"
    );
    style(if total { &bar } else { "{spinner} {prefix} {files}{bytes} {bytes_per_sec} {wide_msg}" }, files)
}

fn items_style(total: bool, files: &Arc<Files>) -> ProgressStyle {
    let bar = format!("{{prefix}} {{bar:{BAR_WIDTH}}} {{human_pos}}/{{human_len}} {{rate}} eta {{eta}} {{wide_msg}}");
    style(if total { &bar } else { "{spinner} {prefix} {human_pos} {wide_msg}" }, files)
}

/// The current file shown changes at most this often (building its shortened path costs more than the rest).
const MESSAGE_EVERY: Duration = Duration::from_millis(100);

/// A progress bar or spinner on stderr, or nothing (see the [module documentation](self)). Dropping it clears it.
pub struct Bar {
    pb: Option<ProgressBar>,
    /// Key in the list of drawn bars.
    id: u64,
    start: Instant,
    label: String,
    files: Arc<Files>,
    /// Terminal columns when the bar was made.
    columns: usize,
    /// When the message last changed, in milliseconds since `start`.
    message_at: AtomicU64,
}

impl Bar {
    fn make(ctx: &Context, label: &str, len: Option<u64>, style: impl FnOnce(&Arc<Files>) -> ProgressStyle) -> Self {
        let files = Arc::new(Files::default());
        let pb = enabled(ctx).then(|| {
            install_interrupt_handler();
            let target = ProgressDrawTarget::term_like_with_hz(Box::new(Stderr(console::Term::buffered_stderr())), HZ);
            let pb = ProgressBar::with_draw_target(len, target);
            pb.set_style(style(&files));
            pb.set_prefix(label.to_string());
            // Keeps rate, ETA and spinners moving while the work stalls (a slow backend).
            pb.enable_steady_tick(Duration::from_millis(1000 / HZ as u64));
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let id = NEXT.fetch_add(1, Ordering::Relaxed);
            active().lock().unwrap_or_else(|e| e.into_inner()).push((id, pb.clone()));
            (id, pb)
        });
        let (id, pb) = match pb {
            Some((id, pb)) => (id, Some(pb)),
            None => (0, None),
        };
        Bar {
            id,
            pb,
            start: Instant::now(),
            label: label.to_string(),
            files,
            columns: columns(),
            message_at: AtomicU64::new(0),
        }
    }

    /// Draws nothing.
    pub fn hidden() -> Self {
        Bar {
            pb: None,
            id: 0,
            start: Instant::now(),
            label: String::new(),
            files: Arc::default(),
            columns: 80,
            message_at: AtomicU64::new(0),
        }
    }

    /// Bytes towards `total` (a spinner with the byte count and rate when the total is unknown).
    pub fn bytes(ctx: &Context, label: &str, total: Option<u64>) -> Self {
        Self::make(ctx, label, total, |f| bytes_style(total.is_some(), f))
    }

    /// A spinner saying what is happening.
    pub fn spinner(ctx: &Context, label: &str, what: &str) -> Self {
        let b = Self::make(ctx, label, None, |f| style("{spinner} {prefix} {wide_msg}", f));
        b.message(what);
        b
    }

    /// Phases reported by the engine (see [`Bar::sink`]).
    pub fn phases(ctx: &Context, label: &str) -> Arc<Self> {
        Arc::new(Self::make(ctx, label, None, |f| items_style(false, f)))
    }

    /// A sink for engine options that draws on this bar.
    pub fn sink(self: &Arc<Self>) -> ProgressSink {
        if self.pb.is_some() {
            ProgressSink::new(self.clone())
        } else {
            ProgressSink::none()
        }
    }

    /// Advance by `n`.
    pub fn inc(&self, n: u64) {
        if let Some(pb) = &self.pb {
            pb.inc(n);
        }
    }

    /// Set the position.
    pub fn set_position(&self, n: u64) {
        if let Some(pb) = &self.pb {
            pb.set_position(n);
        }
    }

    /// Show `msg` after the numbers.
    pub fn message(&self, msg: &str) {
        if let Some(pb) = &self.pb {
            pb.set_message(msg.to_string());
        }
    }

    /// The counted work is done but the command still waits (for uploads): a spinner with what was done and
    /// `what`, instead of a full bar whose rate decays and whose ETA says 0 s.
    pub fn waiting(&self, what: &str) {
        if let Some(pb) = &self.pb {
            pb.set_style(style("{spinner} {prefix} {files}{bytes} {wide_msg}", &self.files));
            pb.set_message(what.to_string());
        }
    }

    /// The current file of a tree: shown shortened to fit the terminal.
    fn file(&self, path: &str) {
        if let Some(pb) = &self.pb {
            let now = self.start.elapsed().as_millis() as u64;
            let last = self.message_at.load(Ordering::Relaxed);
            if now.saturating_sub(last) < MESSAGE_EVERY.as_millis() as u64 && last != 0 {
                return;
            }
            self.message_at.store(now.max(1), Ordering::Relaxed);
            // Room left after "label phase 12,345/43,267 files ████ 123.45 MiB/650.00 MiB 45.67 MiB/s eta 12s ",
            // and one column more, so that the line never reaches the terminal's edge.
            let total = self.files.total.load(Ordering::Relaxed);
            let fixed = self.label.len() + 6 + 2 * count(total).len() + BAR_WIDTH + 55;
            let room = self.columns.saturating_sub(fixed);
            pb.set_message(if room >= 8 { shorten(path, room) } else { String::new() });
        }
    }

    /// Time since the bar was made.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Clear the bar; when it was drawn for long enough for a person to see it, print `summary(elapsed)` in its
    /// place (a line such as `put -r: 43,267 files, 650.0 MiB in 4.8 s`).
    pub fn finish(&self, summary: impl FnOnce(Duration) -> String) {
        if let Some(pb) = &self.pb {
            pb.finish_and_clear();
            let took = self.elapsed();
            if took >= SUMMARY_AFTER {
                super::output::stderr_line(summary(took));
            }
        }
    }

    /// A summary for byte transfers: `put: 1.2 GiB in 3.1 s (402.3 MiB/s)`.
    pub fn bytes_summary(&self, bytes: u64) -> impl FnOnce(Duration) -> String + '_ {
        move |took| {
            let rate = bytes as f64 / took.as_secs_f64().max(1e-9);
            format!(
                "{}: {} in {} ({}/s)",
                self.label,
                super::output::bytes(bytes),
                secs(took),
                super::output::bytes(rate as u64)
            )
        }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        if let Some(pb) = self.pb.take() {
            pb.finish_and_clear();
            let mut a = active().lock().unwrap_or_else(|e| e.into_inner());
            a.retain(|(id, _)| *id != self.id);
        }
    }
}

impl Progress for Bar {
    fn phase(&self, name: &str, unit: Unit, total: Option<u64>) {
        if let Some(pb) = &self.pb {
            pb.set_style(match unit {
                Unit::Bytes => bytes_style(total.is_some(), &self.files),
                Unit::Items => items_style(total.is_some(), &self.files),
            });
            pb.set_prefix(format!("{} {name}", self.label));
            pb.set_message("");
            pb.reset();
            match total {
                Some(t) => pb.set_length(t),
                None => pb.unset_length(),
            }
        }
    }

    fn set_total(&self, total: u64) {
        if let Some(pb) = &self.pb {
            pb.set_length(total);
        }
    }

    fn inc(&self, n: u64) {
        Bar::inc(self, n);
    }

    fn message(&self, msg: &str) {
        self.file(msg);
    }

    fn set_items(&self, total: u64) {
        self.files.total.store(total, Ordering::Relaxed);
        self.files.shown.store(true, Ordering::Relaxed);
    }

    fn item_done(&self) {
        self.files.done.fetch_add(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_paths() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1000), "1,000");
        assert_eq!(count(43267), "43,267");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(shorten("a/b.txt", 20), "a/b.txt");
        let s = shorten("photos/2024/summer/holiday/beach/IMG_0001.jpg", 20);
        assert_eq!(s.chars().count(), 20);
        assert!(s.ends_with("IMG_0001.jpg") && s.starts_with("photo") && s.contains('…'), "{s}");
        assert_eq!(shorten("ééééééééé", 5).chars().count(), 5);
    }
}
