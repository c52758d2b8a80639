//! `infini ls`: list keys.

use super::session::Session;
use super::{output, Context};
use std::io::Write;

/// List keys (starting with PREFIX), in order, from the workspace's view or a revision.
#[derive(clap::Args)]
pub struct Args {
    /// Only keys starting with PREFIX.
    prefix: Option<String>,
    /// Long format: size, modification time and key.
    #[arg(short = 'l', long)]
    long: bool,
    /// List the keys at revision REV.
    #[arg(long, value_name = "REV")]
    at: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let ns = s.view_at(self.at.as_deref())?;
        let prefix = self.prefix.unwrap_or_default();
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let json = ctx.global.json;
        if json {
            out.write_all(b"[")?;
        }
        let mut first = true;
        for item in ns.iter_prefix(s.repo.store(), prefix.as_bytes()) {
            let (key, entry) = item?;
            if json {
                if !first {
                    out.write_all(b",")?;
                }
                let mut v = serde_json::json!({ "key": key, "size": entry.size() });
                if let Some(m) = entry.mtime {
                    v["mtime"] = serde_json::json!(m);
                }
                output::json_to(&mut out, &v)?;
            } else if self.long {
                let t = entry.mtime.map(output::time).unwrap_or_else(|| "-".into());
                writeln!(out, "{:>12}  {:<20}  {key}", entry.size(), t)?;
            } else {
                writeln!(out, "{key}")?;
            }
            first = false;
        }
        if json {
            out.write_all(b"]\n")?;
        }
        out.flush()?;
        Ok(())
    }
}
