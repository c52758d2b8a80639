//! Output helpers: stdout carries only data; messages and progress go to stderr.

use super::progress::Bar;
use super::Context;
use infini::ChunkPointer;
use std::io::Write;

/// Print an error as JSON on stderr, with what to do next if known.
pub fn json_error(msg: &str, code: u8, hint: Option<&str>) {
    json_error_with(msg, code, hint, false)
}

/// [`json_error`], with `"write_only": true` in the error when the key is write-only (exit code 17).
pub fn json_error_with(msg: &str, code: u8, hint: Option<&str>, write_only: bool) {
    let mut v = serde_json::json!({ "error": { "message": msg.trim_end(), "code": code } });
    if let Some(h) = hint {
        v["error"]["hint"] = serde_json::json!(h);
    }
    if write_only {
        v["error"]["write_only"] = serde_json::json!(true);
    }
    stderr_line(v.to_string());
}

/// Write one line on stderr. Unlike `eprintln!`, which panics when stderr is closed (`2>&-`) or cannot be written,
/// a failure is ignored: a message nobody can read must not turn an error's exit code into a crash.
pub fn stderr_line(s: impl AsRef<str>) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(s.as_ref().as_bytes()).and_then(|()| e.write_all(b"\n"));
}

/// Print a JSON value on stdout.
pub fn json(v: &serde_json::Value) -> anyhow::Result<()> {
    let mut text = serde_json::to_vec(v)?;
    text.push(b'\n');
    stdout_bytes(&text)
}

/// Print one line of data on stdout. Unlike `println!`, a closed stdout is an error the caller can return (and
/// [`super::main`] treats as a quiet success), never a panic.
pub fn line(s: impl AsRef<str>) -> anyhow::Result<()> {
    let mut text = s.as_ref().as_bytes().to_vec();
    text.push(b'\n');
    stdout_bytes(&text)
}

fn stdout_bytes(b: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(b)?;
    out.flush()?;
    Ok(())
}

/// Write one JSON value into a stream of output (e.g. an element of a streamed array).
pub fn json_to(out: &mut impl Write, v: &serde_json::Value) -> anyhow::Result<()> {
    out.write_all(&serde_json::to_vec(v)?)?;
    Ok(())
}

/// An informational message on stderr, unless quiet.
pub fn info(ctx: &Context, msg: impl AsRef<str>) {
    if !ctx.global.quiet {
        super::progress::eprintln_above(msg.as_ref());
    }
}

/// A warning on stderr (even when quiet: it is about the repository's health).
pub fn warn(_ctx: &Context, msg: impl AsRef<str>) {
    stderr_line(format!("infini: warning: {}", msg.as_ref()));
}
/// Full commit id.
pub fn id(ptr: &ChunkPointer) -> String {
    ptr.commit_id().to_hex()
}

/// Git-style short id.
pub fn short(ptr: &ChunkPointer) -> String {
    ptr.commit_id().to_hex()[..10].to_string()
}

/// RFC 3339 time in UTC of `secs` seconds since the epoch (negative before 1970); years beyond 0000-9999 get a
/// sign and as many digits as they need, so any stored time prints.
pub fn time(secs: impl Into<i128>) -> String {
    infini::namespace::format_time(secs.into())
}

/// Human-readable byte count.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A writer that advances a progress bar by the bytes written through it.
pub struct ProgressWriter<'a, W> {
    inner: W,
    bar: &'a Bar,
}

impl<'a, W: Write> ProgressWriter<'a, W> {
    /// Wrap `inner`, counting on `bar`.
    pub fn new(inner: W, bar: &'a Bar) -> Self {
        Self { inner, bar }
    }

    /// The inner writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

impl<W: Write> Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
