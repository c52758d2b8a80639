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

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let start = match &self.rev {
            Some(r) => Some(s.repo.resolve(r, s.tip_ptr().as_ref())?),
            None => s.tip_ptr(),
        };
        let commits = match start {
            Some(p) => s.repo.log(&p, self.n.unwrap_or(usize::MAX))?,
            None => {
                output::info(ctx, "no commits yet");
                Vec::new()
            }
        };
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
