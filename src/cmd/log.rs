//! `infini log`: commit history.

use super::session::Session;
use super::{output, Context};
use infini::CommitInfo;
use std::io::Write;

/// Show commits reachable from REV (default: HEAD), newest first.
#[derive(clap::Args)]
pub struct Args {
    /// Where to start.
    #[arg(add = super::complete::rev())]
    rev: Option<String>,
    /// At most N commits.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    n: Option<usize>,
    /// One line per commit: short id, time, message.
    #[arg(long)]
    oneline: bool,
    /// Only commits made at or after WHEN: a date (`2026-12-01`), a time (`2026-12-01 10:00:00`, UTC), or an age
    /// (`3d`, `12h`, `2weeks`; `3 days ago` too).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    since: Option<u64>,
    /// Only commits made at or before WHEN (as --since).
    #[arg(long, value_name = "WHEN", value_parser = parse_when)]
    until: Option<u64>,
    /// Only commits that changed these keys or directories (after `--`): `infini log -- etc/app.conf`.
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<String>,
}

/// A point in time for --since/--until, in seconds since the epoch (UTC).
fn parse_when(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let date_only = t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') && t.as_bytes().get(7) == Some(&b'-');
    let stamp = if date_only { format!("{t} 00:00:00") } else { t.to_string() };
    if let Ok(at) = humantime::parse_rfc3339_weak(&stamp) {
        return at
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .map_err(|_| format!("{s:?} is before 1970"));
    }
    let age = t.strip_suffix("ago").unwrap_or(t).trim();
    match humantime::parse_duration(age) {
        Ok(d) => {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |n| n.as_secs());
            Ok(now.saturating_sub(d.as_secs()))
        }
        Err(_) => Err(format!(
            "{s:?} is neither a date (2026-12-01), a time (2026-12-01 10:00:00, UTC) nor an age (3d, 12h, 2weeks)"
        )),
    }
}

/// A commit as JSON (`id`, `parents`, `message`, `time`, `host`, and `writer` for a write-only key's commit).
pub fn commit_json(c: &CommitInfo) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": output::id(&c.ptr),
        "parents": c.parent_ids().iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
        "message": c.message(),
        "time": c.time(),
        "host": c.host(),
    });
    if let Some(w) = c.writer() {
        v["writer"] = serde_json::json!(w);
    }
    v
}

/// A commit in the long text format.
pub fn write_commit(out: &mut dyn Write, c: &CommitInfo) -> std::io::Result<()> {
    writeln!(out, "commit {}", output::id(&c.ptr))?;
    if c.parent_ids().len() > 1 {
        let ps: Vec<String> = c.parent_ids().iter().map(|p| p.to_hex()[..10].to_string()).collect();
        writeln!(out, "Merge:  {}", ps.join(" "))?;
    }
    writeln!(out, "Date:   {}", output::time(c.time()))?;
    writeln!(out, "Host:   {}", c.host())?;
    if let Some(w) = c.writer() {
        writeln!(out, "Writer: {w} (write-only key)")?;
    }
    writeln!(out)?;
    for line in c.message().lines() {
        writeln!(out, "    {line}")?;
    }
    writeln!(out)
}

/// Whether commit `c` changed any of `paths` against its first parent (against nothing, for a first commit).
fn touches(s: &Session, c: &CommitInfo, paths: &[String]) -> anyhow::Result<bool> {
    let parent = s.repo.first_parent(c)?;
    let rows = super::diff::between(s, parent.as_ref(), Some(c))?;
    Ok(rows.iter().any(|r| super::diff::in_paths(&r.key, paths)))
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let start = match &self.rev {
            Some(r) => Some(s.repo.resolve(r, s.tip_ptr().as_ref())?),
            None => s.tip_ptr(),
        };
        let filtered = self.since.is_some() || self.until.is_some() || !self.paths.is_empty();
        let limit = if filtered { usize::MAX } else { self.n.unwrap_or(usize::MAX) };
        let mut commits = match start {
            Some(p) => s.repo.log(&p, limit)?,
            None => {
                output::info(ctx, "no commits yet");
                Vec::new()
            }
        };
        if filtered {
            let mut kept = Vec::new();
            for c in commits {
                if kept.len() >= self.n.unwrap_or(usize::MAX) {
                    break;
                }
                if self.since.is_some_and(|t| c.time() < t) || self.until.is_some_and(|t| c.time() > t) {
                    continue;
                }
                if !self.paths.is_empty() && !touches(&s, &c, &self.paths)? {
                    continue;
                }
                kept.push(c);
            }
            commits = kept;
        }
        if ctx.global.json {
            return output::json(&serde_json::Value::Array(commits.iter().map(commit_json).collect()));
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for c in &commits {
            if self.oneline {
                let first = c.message().lines().next().unwrap_or("");
                writeln!(out, "{} {} {first}", output::short(&c.ptr), output::time(c.time()))?;
            } else {
                write_commit(&mut out, c)?;
            }
        }
        out.flush()?;
        Ok(())
    }
}
