//! `infini lock` / `infini unlock`: forget or remember the workspace's key.

use super::session::{cwd, open_backend, refuse_repo};
use super::{output, password, Context};
use infini::workspace::Workspace;
use infini::Repository;

/// Remove the workspace's unlocked key: later commands need the password.
#[derive(clap::Args)]
pub struct LockArgs {}

/// Unlock the workspace with the password, so commands no longer ask for it (key kept in .infini/key, mode 0600).
#[derive(clap::Args)]
pub struct UnlockArgs {}

impl LockArgs {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        refuse_repo(ctx, "`infini lock`")?;
        let ws = Workspace::find(&cwd(ctx)?)?;
        let was = ws.remove_key()?;
        if ctx.global.json {
            output::json(&serde_json::json!({ "locked": true, "was_unlocked": was }))?;
        } else {
            output::info(ctx, if was { "workspace locked" } else { "workspace was already locked" });
        }
        Ok(())
    }
}

impl UnlockArgs {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        refuse_repo(ctx, "`infini unlock`")?;
        let ws = Workspace::find(&cwd(ctx)?)?;
        let backend = open_backend(ctx, &ws.repo_location(), Some(&ws), false)?;
        let pw = password::get(ctx)?;
        let unlocked = password::unlock_any(ctx, &*backend, &pw)?;
        let header = Repository::header(&*backend)?;
        match unlocked.key {
            infini::SlotKey::Master(key) => ws.write_key(&key, &header.id)?,
            infini::SlotKey::Writer(set) => {
                ws.write_writer_key(&set, unlocked.writer.as_deref().unwrap_or(&unlocked.slot), &header.id)?
            }
        }
        ws.write_header(&header)?;
        if ctx.global.json {
            output::json(&serde_json::json!({ "unlocked": true }))?;
        } else {
            output::info(ctx, "workspace unlocked");
        }
        Ok(())
    }
}
