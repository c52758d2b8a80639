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
    /// Also show how each changed value's lines changed (as `diff -p`).
    #[arg(short = 'p', long)]
    patch: bool,
    /// Keys or directories to limit the changes shown to (after `--`).
    #[arg(last = true, value_name = "PATH")]
    paths: Vec<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let (c, _) = s.at(self.rev.as_deref().unwrap_or("HEAD"))?;
        let parent = s.repo.first_parent(&c)?;
        let (rows, _) = diff::visible(
            diff::between(&s, parent.as_ref(), Some(&c))?
                .into_iter()
                .filter(|r| diff::in_paths(&r.key, &self.paths))
                .collect(),
        );
        if ctx.global.json {
            let mut v = log::commit_json(&c);
            let mut changes = Vec::new();
            for r in &rows {
                let mut ch = serde_json::json!({ "key": r.key, "change": r.word() });
                if self.patch {
                    ch["patch"] = serde_json::json!(diff::patch_of(&s, r, 3)?);
                }
                changes.push(ch);
            }
            v["changes"] = serde_json::Value::Array(changes);
            return output::json(&v);
        }
        {
            let mut out = std::io::stdout().lock();
            log::write_commit(&mut out, &c)?;
            out.flush()?;
        }
        if self.patch {
            return diff::print_patches(&s, &rows, 3);
        }
        diff::print(ctx, &rows)
    }
}
