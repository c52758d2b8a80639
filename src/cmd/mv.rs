//! `infini mv`: rename a key (no data is copied).

use super::session::Session;
use super::{output, Context};
use infini::engine::namespace::check_key;
use infini::engine::Error;

/// Rename SRC to DST, replacing DST if it exists. Only the index changes.
#[derive(clap::Args)]
pub struct Args {
    /// Existing key.
    src: String,
    /// New key.
    dst: String,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        s.branch_for_write()?;
        check_key(&self.dst)?;
        let ns = s.view()?;
        let e = ns.get(&self.src)?.ok_or_else(|| Error::not_found(format!("key {}", self.src)))?;
        if self.src != self.dst {
            ns.insert(self.dst.clone(), e);
            ns.remove(&self.src);
        }
        s.save_staged(&ns)?;
        if ctx.global.json {
            output::json(&serde_json::json!({ "from": self.src, "to": self.dst }))?;
        }
        Ok(())
    }
}
