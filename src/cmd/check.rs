//! `infini check`: verify the repository's integrity.

use super::progress::Bar;
use super::session::Session;
use super::{output, Context};
use infini::engine::namespace::NamespaceIndex;
use infini::engine::repo::CheckOptions;
use infini::engine::Error;

/// Check every pack table, commit and index node; with --read-data also read and verify every data chunk.
/// Exits 13 if anything is damaged.
#[derive(clap::Args)]
pub struct Args {
    /// Also read and authenticate all data.
    #[arg(long)]
    read_data: bool,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let bar = Bar::phases(ctx, "check");
        let rep = s.repo.check_with(
            &NamespaceIndex::default(),
            &CheckOptions { read_data: self.read_data, progress: bar.sink() },
        )?;
        drop(bar);
        if ctx.global.json {
            output::json(&serde_json::json!({
                "packs": rep.packs, "commits": rep.commits, "values": rep.values,
                "chunks": rep.chunks, "bytes_read": rep.bytes_read, "errors": rep.errors,
            }))?;
        } else {
            for e in &rep.errors {
                eprintln!("error: {e}");
            }
            output::info(
                ctx,
                format!(
                    "checked {} packs, {} commits, {} values{}: {} problem(s)",
                    rep.packs,
                    rep.commits,
                    rep.values,
                    if self.read_data {
                        format!(", {} chunks ({})", rep.chunks, output::bytes(rep.bytes_read))
                    } else {
                        String::new()
                    },
                    rep.errors.len()
                ),
            );
        }
        if !rep.errors.is_empty() {
            anyhow::bail!(Error::integrity(format!("{} problem(s) found", rep.errors.len())));
        }
        Ok(())
    }
}
