//! `infini reset`: drop staged changes.

use super::session::Session;
use super::{output, Context};

/// Unstage every change (which also abandons a merge in progress), or only those of the given KEYs.
#[derive(clap::Args)]
pub struct Args {
    /// Keys to unstage (default: all).
    #[arg(add = super::complete::key())]
    keys: Vec<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        let ns = s.view()?;
        let before = ns.staged_len()?;
        if self.keys.is_empty() {
            ns.reset();
            s.staged.merge = None;
        } else {
            for k in &self.keys {
                ns.unstage(k)?;
            }
        }
        let dropped = before - ns.staged_len()?;
        s.save_staged(&ns)?;
        if ctx.global.json {
            output::json(&serde_json::json!({ "unstaged": dropped }))?;
        } else {
            output::info(ctx, format!("unstaged {dropped} change(s)"));
        }
        Ok(())
    }
}
