//! `infini check`: verify the repository's integrity.

use super::progress::Bar;
use super::session::Session;
use super::{output, Context};
use infini::namespace::NamespaceIndex;
use infini::CheckOptions;
use infini::Error;

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
            let damaged: Vec<_> = rep
                .damaged
                .iter()
                .map(|d| {
                    serde_json::json!({
                        "object": d.object,
                        "problem": d.problem,
                        "keys": d.keys,
                        "commits": d.commits.iter().map(|c| c.to_hex()).collect::<Vec<_>>(),
                    })
                })
                .collect();
            output::json(&serde_json::json!({
                "packs": rep.packs, "commits": rep.commits, "values": rep.values,
                "chunks": rep.chunks, "bytes_read": rep.bytes_read, "errors": rep.errors,
                "damaged": damaged,
            }))?;
        } else {
            // Each damaged object once, then what depends on it; then any other problem.
            for d in &rep.damaged {
                output::stderr_line(format!("error: object {}: {}", d.object, d.problem));
                output::stderr_line(format!("  needed by {} key(s): {}", d.keys.len(), sample(&d.keys)));
                let commits: Vec<String> = d.commits.iter().map(|c| c.to_hex()[..10].to_string()).collect();
                output::stderr_line(format!("  held by {} commit(s): {}", commits.len(), sample(&commits)));
            }
            for e in rep.errors.iter().skip(rep.damaged.len()) {
                output::stderr_line(format!("error: {e}"));
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

/// The first few items of a list, and how many more there are (`--json` lists them all).
fn sample(items: &[String]) -> String {
    const SHOW: usize = 10;
    let mut s = items.iter().take(SHOW).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > SHOW {
        s.push_str(&format!(", ... and {} more (all with --json)", items.len() - SHOW));
    }
    s
}
