//! `infini mv`: rename a key (no data is copied).

use super::session::Session;
use super::{output, Context};
use infini::namespace::check_key;
use infini::Error;

/// Rename SRC to DST, replacing DST if it exists. Only the index changes.
#[derive(clap::Args)]
pub struct Args {
    /// Existing key.
    #[arg(add = super::complete::key())]
    src: String,
    /// New key.
    dst: String,
}

/// Stage `dst` = the entry of `src` (sharing its data), and the removal of `src` unless `keep_src`.
pub fn relink(ctx: &Context, src: &str, dst: &str, keep_src: bool) -> anyhow::Result<()> {
    let mut s = Session::write(ctx)?;
    s.branch_for_write()?;
    check_key(dst)?;
    let ns = s.view()?;
    let e = ns.get(&src.to_string())?.ok_or_else(|| Error::not_found(format!("key {src}")))?;
    if e.is_dir() {
        // A directory entry only means something beside the keys under it, which this does not move.
        return Err(super::usage(format!(
            "{src} is a directory entry (as put -r stores directories); mv and cp work on keys, one at a time"
        )));
    }
    if src != dst {
        ns.insert(dst.to_string(), e);
        if !keep_src {
            ns.remove(&src.to_string());
        }
    }
    s.save_staged(&ns)?;
    if ctx.global.json {
        output::json(&serde_json::json!({ "from": src, "to": dst }))?;
    }
    Ok(())
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        relink(ctx, &self.src, &self.dst, false)
    }
}
