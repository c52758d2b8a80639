//! `infini status`: where HEAD is and what is staged.

use super::session::Session;
use super::{diff, output, Context};
use infini::engine::workspace::Head;

/// Show the current branch (or detached commit) and the staged changes.
#[derive(clap::Args)]
pub struct Args {}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let idx = infini::engine::namespace::NamespaceIndex::default();
        infini::engine::db::load_index(&s.repo, &idx, s.tip.as_ref())?;
        let rows = diff::to_workspace(&s, s.tip.as_ref(), &idx.ns)?;
        if ctx.global.json {
            let (branch, detached) = match &s.head {
                Head::Branch(b) => (Some(b.clone()), None),
                Head::Detached(p) => (None, Some(output::id(p))),
            };
            let staged: Vec<_> = rows
                .iter()
                .map(|r| serde_json::json!({ "key": r.key, "change": r.word(), "size": r.new.as_ref().map(|e| e.size()) }))
                .collect();
            return output::json(&serde_json::json!({
                "branch": branch,
                "detached": detached,
                "head": s.tip.as_ref().map(|c| output::id(&c.ptr)),
                "staged": staged,
            }));
        }
        match &s.head {
            Head::Branch(b) => output::info(ctx, format!("On branch {b}")),
            Head::Detached(p) => output::info(ctx, format!("HEAD detached at {} (read-only)", output::short(p))),
        }
        if rows.is_empty() {
            output::info(ctx, "nothing staged");
        }
        diff::print(ctx, &rows)
    }
}
