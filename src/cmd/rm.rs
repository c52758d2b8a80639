//! `infini rm`: stage the removal of keys.

use super::session::Session;
use super::{output, Context};
use infini::Error;

/// Stage the removal of KEYs (with -r, of every key under each PREFIX).
#[derive(clap::Args)]
pub struct Args {
    /// Treat each argument as a prefix.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// Keys (or prefixes with -r).
    #[arg(required = true, add = super::complete::key())]
    keys: Vec<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        s.branch_for_write()?;
        let ns = s.view()?;
        let mut removed = Vec::new();
        for k in &self.keys {
            if self.recursive {
                let keys: Vec<String> = ns.prefix(k.as_bytes()).map(|r| r.map(|(k, _)| k)).collect::<Result<_, _>>()?;
                if keys.is_empty() {
                    anyhow::bail!(Error::not_found(format!("no keys under prefix {k:?}")));
                }
                for key in keys {
                    ns.remove(&key);
                    removed.push(key);
                }
            } else {
                if !ns.contains_key(k)? {
                    anyhow::bail!(Error::not_found(format!("key {k}")));
                }
                ns.remove(k);
                removed.push(k.clone());
            }
        }
        s.save_staged(&ns)?;
        if ctx.global.json {
            output::json(&serde_json::json!({ "removed": removed }))?;
        }
        Ok(())
    }
}
