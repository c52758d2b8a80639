//! `infini checkout`: move HEAD to a branch, or to any commit (detached, read-only).

use super::session::Session;
use super::{output, Context};
use infini::workspace::Head;
use infini::Error;

/// Switch to branch REV, or to commit REV as a detached, read-only HEAD. Refuses while changes are staged.
#[derive(clap::Args)]
pub struct Args {
    /// A branch, commit id (prefix), or revision like HEAD~2.
    #[arg(add = super::complete::rev())]
    rev: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        if !s.staged.is_empty() {
            anyhow::bail!(Error::Conflict {
                what: format!(
                    "{} staged change(s) would be lost; commit them or `infini reset` first",
                    s.view()?.staged_len()?
                )
            });
        }
        let head = match s.repo.branch(&self.rev)? {
            Some(_) => Head::Branch(self.rev.clone()),
            None => Head::Detached(s.repo.resolve(&self.rev, s.tip_ptr().as_ref())?),
        };
        let ws = s.ws.as_mut().expect("write sessions have a workspace");
        ws.config.head = head.clone();
        ws.save_config()?;
        let (branch, commit) = match &head {
            Head::Branch(b) => (Some(b.clone()), None),
            Head::Detached(p) => (None, Some(output::id(p))),
        };
        if ctx.global.json {
            output::json(&serde_json::json!({ "branch": branch, "detached": commit }))?;
        } else {
            match &head {
                Head::Branch(b) => output::info(ctx, format!("Switched to branch {b}")),
                Head::Detached(p) => {
                    output::info(ctx, format!("HEAD is now at {} (detached, read-only)", output::short(p)))
                }
            }
        }
        Ok(())
    }
}
