//! `infini log`: commit history.

use super::session::Session;
use super::{output, Context};
use infini::{CommitInfo, ForgetRun, Forgotten};
use std::io::Write;

/// Show the first-parent history of REV (default: HEAD), newest first: a merge commit is one entry (its `Merge:`
/// line names both parents), the history it merged is not listed (`infini log BRANCH` shows it).
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

/// One line of the log: a commit, or a stretch of consecutive forgotten commits (newest first).
enum Line<'a> {
    Commit(&'a CommitInfo),
    Forgotten { first: &'a CommitInfo, last: &'a CommitInfo, count: usize, run: Option<&'a ForgetRun> },
}

/// The log's lines: consecutive forgotten commits (forgotten by the same run) become one line.
fn stretches<'a>(commits: &'a [CommitInfo], forgotten: &'a Forgotten) -> Vec<Line<'a>> {
    let mut out: Vec<Line<'a>> = Vec::new();
    for c in commits {
        if !forgotten.contains(&c.id()) {
            out.push(Line::Commit(c));
            continue;
        }
        let run = forgotten.run_of(&c.id());
        match out.last_mut() {
            Some(Line::Forgotten { last, count, run: r, .. }) if r.map(|x| x.number) == run.map(|x| x.number) => {
                *last = c;
                *count += 1;
            }
            _ => out.push(Line::Forgotten { first: c, last: c, count: 1, run }),
        }
    }
    out
}

/// Whether commit `c` changed any of `paths` against its first parent (against nothing, for a first commit); when
/// the parent was forgotten, against its nearest first-parent ancestor that was not (whose data is still kept).
fn touches(s: &Session, c: &CommitInfo, paths: &[String], forgotten: &Forgotten) -> anyhow::Result<bool> {
    let mut parent = s.repo.first_parent(c)?;
    while let Some(p) = parent.as_ref().filter(|p| forgotten.contains(&p.id())) {
        parent = s.repo.first_parent(p)?;
    }
    let rows = super::diff::between(s, parent.as_ref(), Some(c))?;
    // A directory whose time alone changed does not count (as `diff` does not list it).
    Ok(rows.iter().any(|r| !r.dir_time_only() && super::diff::in_paths(&r.key, paths)))
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
            Some(p) => s.repo.first_parent_log(&p, limit)?,
            None => {
                output::info(ctx, "no commits yet");
                Vec::new()
            }
        };
        let forgotten = if commits.is_empty() { Forgotten::default() } else { s.repo.forgotten()? };
        if filtered {
            let mut kept = Vec::new();
            for c in commits {
                if kept.len() >= self.n.unwrap_or(usize::MAX) {
                    break;
                }
                if self.since.is_some_and(|t| c.time() < t) || self.until.is_some_and(|t| c.time() > t) {
                    continue;
                }
                // A forgotten commit's keys can no longer be compared: only kept commits match paths.
                if !self.paths.is_empty() && (forgotten.contains(&c.id()) || !touches(&s, &c, &self.paths, &forgotten)?)
                {
                    continue;
                }
                kept.push(c);
            }
            commits = kept;
        }
        let lines = stretches(&commits, &forgotten);
        if ctx.global.json {
            let items = lines
                .iter()
                .map(|l| match l {
                    Line::Commit(c) => commit_json(c),
                    Line::Forgotten { first, last, count, run } => serde_json::json!({
                        "forgotten": count,
                        "first": output::id(&first.ptr),
                        "last": output::id(&last.ptr),
                        "run": run.map(super::forget::run_json),
                    }),
                })
                .collect();
            return output::json(&serde_json::Value::Array(items));
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for l in &lines {
            match l {
                Line::Commit(c) if self.oneline => {
                    let first = c.message().lines().next().unwrap_or("");
                    writeln!(out, "{} {} {first}", output::short(&c.ptr), output::time(c.time()))?;
                }
                Line::Commit(c) => write_commit(&mut out, c)?,
                Line::Forgotten { first, last, count, run } => {
                    let by = match run {
                        Some(r) => format!(" by {r}"),
                        None => String::new(),
                    };
                    let range = if count > &1 {
                        format!("{}..{}", output::short(&first.ptr), output::short(&last.ptr))
                    } else {
                        output::short(&first.ptr)
                    };
                    writeln!(
                        out,
                        "... {count} commit(s) forgotten ({range}, {} to {}){by}",
                        output::time(last.time()),
                        output::time(first.time())
                    )?;
                    if !self.oneline {
                        writeln!(out)?;
                    }
                }
            }
        }
        out.flush()?;
        Ok(())
    }
}
