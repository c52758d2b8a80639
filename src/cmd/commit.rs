//! `infini commit`: record the staged changes as a new commit on the current branch.

use super::progress::Bar;
use super::session::Session;
use super::{output, Context};
use infini::engine::db::{build_roots, load_index};
use infini::engine::namespace::NamespaceIndex;
use infini::engine::workspace::StagedFile;

/// Commit the staged changes and print the new commit's id on stdout.
///
/// If another writer moved the branch meanwhile, the changes are merged by key onto the new head; when both sides
/// changed the same key differently the commit stops with exit code 11, names the keys, and keeps them staged.
#[derive(clap::Args)]
pub struct Args {
    /// Commit message.
    #[arg(short = 'm', long = "message", required = true)]
    message: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        let branch = s.branch_for_write()?.to_string();
        if s.staged.changes.is_empty() {
            if ctx.global.json {
                output::json(&serde_json::json!({ "committed": false }))?;
            }
            output::info(ctx, "nothing to commit (nothing staged)");
            return Ok(());
        }
        let repo = s.repo.clone();
        let base = match s.staged.base {
            Some(p) => Some(repo.read_commit(&p)?),
            None => None,
        };
        let bar = Bar::spinner(ctx, "commit", &format!("{} staged changes", s.staged.changes.len()));
        let idx = NamespaceIndex::default();
        load_index(&repo, &idx, base.as_ref())?;
        idx.ns.import_staged(s.staged_changes())?;
        let c = repo.commit(&branch, &self.message, &mut |parent| build_roots(&repo, &idx, parent))?;
        drop(bar);
        s.staged = StagedFile::default();
        s.workspace()?.save_staged(repo.store().keys(), &s.staged)?;
        if ctx.global.json {
            output::json(&serde_json::json!({
                "id": output::id(&c.ptr),
                "parents": c.commit.parents.iter().map(output::id).collect::<Vec<_>>(),
                "message": c.commit.message,
                "time": c.commit.time,
                "branch": branch,
            }))?;
        } else {
            println!("{}", output::id(&c.ptr));
        }
        Ok(())
    }
}
