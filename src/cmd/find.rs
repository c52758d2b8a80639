//! `infini find`: search keys across the commits of a branch (or all branches).

use super::session::Session;
use super::{output, usage, Context};
use globset::{GlobBuilder, GlobMatcher};
use infini::namespace::NamespaceIndex;
use infini::CommitInfo;
use std::collections::HashSet;
use std::io::Write;

/// Find keys matching PATTERN in every commit reachable from HEAD (or `--at REV`, or every branch with `--all`),
/// newest commit first: which versions hold a file, and where a deleted one last was.
///
/// A pattern is a glob: `*` and `?` within one path segment, `**` across segments, `[abc]` classes. A pattern with
/// no `/` matches the last segment of a key (`*.conf` finds `etc/app.conf`); one with a `/` matches the whole key
/// (`web/**/*.html`). Several patterns find keys matching any of them.
#[derive(clap::Args)]
pub struct Args {
    /// Glob patterns (quote them, so the shell leaves them alone).
    #[arg(required = true, value_name = "PATTERN")]
    patterns: Vec<String>,
    /// Search the commits reachable from REV instead of HEAD.
    #[arg(long, value_name = "REV", conflicts_with = "all", add = super::complete::rev())]
    at: Option<String>,
    /// Search the commits of every branch.
    #[arg(long)]
    all: bool,
    /// At most N commits (newest first) of each branch searched.
    #[arg(short = 'n', long = "max-count", value_name = "N")]
    n: Option<usize>,
    /// Match case-insensitively.
    #[arg(short = 'i', long)]
    ignore_case: bool,
}

struct Pattern {
    glob: GlobMatcher,
    /// Matches the last segment of a key only.
    last_segment: bool,
}

impl Pattern {
    fn matches(&self, key: &str) -> bool {
        if self.last_segment {
            self.glob.is_match(key.rsplit('/').next().unwrap_or(key))
        } else {
            self.glob.is_match(key)
        }
    }
}

impl Args {
    fn compile(&self) -> anyhow::Result<Vec<Pattern>> {
        self.patterns
            .iter()
            .map(|p| {
                let glob = GlobBuilder::new(p)
                    .literal_separator(true)
                    .case_insensitive(self.ignore_case)
                    .build()
                    .map_err(|e| usage(format!("pattern {p:?}: {e}")))?;
                Ok(Pattern { glob: glob.compile_matcher(), last_segment: !p.contains('/') })
            })
            .collect()
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let patterns = self.compile()?;
        let s = Session::read(ctx)?;
        let starts = if self.all {
            s.repo.branches()?.into_iter().map(|b| b.head).collect()
        } else {
            let start = match &self.at {
                Some(r) => Some(s.repo.resolve(r, s.tip_ptr().as_ref())?),
                None => s.tip_ptr(),
            };
            start.into_iter().collect::<Vec<_>>()
        };
        // Each commit once, even where branches share history; newest first within each branch.
        let mut seen = HashSet::new();
        let mut commits: Vec<CommitInfo> = Vec::new();
        for start in starts {
            for c in s.repo.log(&start, self.n.unwrap_or(usize::MAX))? {
                if seen.insert(c.ptr) {
                    commits.push(c);
                }
            }
        }
        let json = ctx.global.json;
        let mut rows = Vec::new();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let (mut found, mut in_commits) = (0u64, 0u64);
        for c in &commits {
            let idx = NamespaceIndex::default();
            s.repo.load_index(&idx, Some(c))?;
            let mut header = false;
            for item in idx.ns.prefix(b"") {
                let (key, entry) = item?;
                // Directory entries (`web/`) are not values to find.
                if entry.is_dir() || !patterns.iter().any(|p| p.matches(&key)) {
                    continue;
                }
                found += 1;
                let mtime = entry.mtime_parts().map(|(secs, _)| secs);
                if json {
                    rows.push(serde_json::json!({
                        "commit": output::id(&c.ptr),
                        "time": c.time(),
                        "key": key,
                        "size": entry.size(),
                        "mtime": mtime,
                    }));
                    continue;
                }
                if !header {
                    let first = c.message().lines().next().unwrap_or("");
                    writeln!(out, "{} {} {first}", output::short(&c.ptr), output::time(c.time()))?;
                    header = true;
                    in_commits += 1;
                }
                let t = mtime.map_or_else(|| "-".to_string(), output::time);
                writeln!(out, "    {:>12}  {:<20}  {key}", entry.size(), t)?;
            }
        }
        out.flush()?;
        drop(out);
        if json {
            return output::json(&serde_json::Value::Array(rows));
        }
        output::info(ctx, format!("{found} match(es) in {in_commits} of {} commit(s) searched", commits.len()));
        Ok(())
    }
}
