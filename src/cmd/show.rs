//! `infini show`: one commit and what it changed.

use super::session::Session;
use super::{diff, log, output, Context};
use std::io::Write;

/// Show commit REV (default: HEAD) and the keys it changed relative to its first parent.
#[derive(clap::Args)]
pub struct Args {
    /// The commit.
    #[arg(add = super::complete::rev())]
    rev: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let (c, _) = s.at(self.rev.as_deref().unwrap_or("HEAD"))?;
        let parent = s.repo.first_parent(&c)?;
        let rows = diff::between(&s, parent.as_ref(), Some(&c))?;
        if ctx.global.json {
            let mut v = log::commit_json(&c);
            v["changes"] = rows.iter().map(|r| serde_json::json!({ "key": r.key, "change": r.word() })).collect();
            return output::json(&v);
        }
        {
            let mut out = std::io::stdout().lock();
            log::write_commit(&mut out, &c)?;
            out.flush()?;
        }
        diff::print(ctx, &rows)
    }
}
