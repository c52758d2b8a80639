//! `infini fork`: create a branch and switch to it.

use super::session::Session;
use super::{output, Context};
use infini::workspace::Head;
use infini::Error;
use infini::Repository;

/// Create branch NAME at REV (default: HEAD) and switch to it. Staged changes come along.
#[derive(clap::Args)]
pub struct Args {
    /// New branch name.
    name: String,
    /// Where it starts.
    #[arg(add = super::complete::rev())]
    rev: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        Repository::check_branch_name(&self.name)?;
        if s.repo.branch(&self.name)?.is_some() {
            anyhow::bail!(Error::AlreadyExists { what: format!("branch {}", self.name) });
        }
        let at = match &self.rev {
            Some(r) => Some(s.repo.resolve(r, s.tip_ptr().as_ref())?),
            None => s.tip_ptr(),
        };
        if let Some(p) = &at {
            s.repo.create_branch(&self.name, p, &infini::namespace::NamespaceIndex::default())?;
        }
        let ws = s.ws.as_mut().expect("write sessions have a workspace");
        ws.config.head = Head::Branch(self.name.clone());
        ws.save_config()?;
        if ctx.global.json {
            output::json(&serde_json::json!({ "branch": self.name, "head": at.as_ref().map(output::id) }))?;
        } else {
            output::info(ctx, format!("Switched to a new branch {}", self.name));
        }
        Ok(())
    }
}
