//! `infini branch`: list, delete or accept branches.

use super::session::Session;
use super::{output, Context};
use infini::workspace::Head;
use std::io::Write;

/// List branches (the current one marked with `*`), delete one with -d, or accept a branch whose ref went back or
/// vanished with --accept-rollback.
///
/// Every workspace remembers the last state of each branch's ref it saw (a sequence number and head, sealed in
/// `.infini/seen-refs`). A ref that went back (an older ref restored or replayed), vanished (deleted other than by
/// `branch -d`), or whose head does not descend from the one seen, stops every command that reads it with exit code
/// 13 naming the branch, and nothing is changed (`commit` keeps the staged changes, `gc` refuses to run).
/// `--accept-rollback NAME` accepts the branch as the repository holds it now (or that it is gone); commits only the
/// newer state held are then no longer on it. A workspace that never saw the newer state cannot tell.
#[derive(clap::Args)]
pub struct Args {
    /// Delete branch NAME.
    #[arg(short = 'd', long = "delete", value_name = "NAME", conflicts_with = "accept_rollback", add = super::complete::branch())]
    delete: Option<String>,
    /// Accept branch NAME as the repository holds it now, after its ref went back, vanished or was replaced.
    #[arg(long, value_name = "NAME")]
    accept_rollback: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if let Some(name) = &self.accept_rollback {
            return accept(ctx, name);
        }
        let s = Session::read(ctx)?;
        let current = match &s.head {
            Head::Branch(b) => Some(b.as_str()),
            Head::Detached(_) => None,
        };
        if let Some(name) = &self.delete {
            if current == Some(name.as_str()) && s.ws.is_some() {
                return Err(super::usage(format!("cannot delete branch {name}: it is checked out here")));
            }
            s.repo.delete_branch(name)?;
            if ctx.global.json {
                output::json(&serde_json::json!({ "deleted": name }))?;
            } else {
                output::info(ctx, format!("Deleted branch {name}"));
            }
            return Ok(());
        }
        let branches = s.repo.branches()?;
        if ctx.global.json {
            let v: Vec<_> = branches
                .iter()
                .map(|b| {
                    serde_json::json!({ "name": b.name, "head": output::id(&b.head), "current": current == Some(b.name.as_str()) })
                })
                .collect();
            return output::json(&serde_json::Value::Array(v));
        }
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        for b in &branches {
            let mark = if current == Some(b.name.as_str()) { "*" } else { " " };
            writeln!(out, "{mark} {} {}", b.name, output::short(&b.head))?;
        }
        out.flush()?;
        Ok(())
    }
}

fn accept(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let (_s, (before, now)) = Session::write_accepting(ctx, name)?;
    if ctx.global.json {
        return output::json(&serde_json::json!({
            "accepted": name,
            "head": now.as_ref().map(|b| output::id(&b.head)),
            "seq": now.as_ref().map(|b| b.seq),
            "seen_head": before.as_ref().map(|b| output::id(&b.head)),
            "seen_seq": before.as_ref().map(|b| b.seq),
        }));
    }
    let was = match &before {
        Some(b) if b.deleted => format!("this workspace last saw it deleted (sequence {})", b.seq),
        Some(b) => format!("this workspace last saw it at {} (sequence {})", output::short(&b.head), b.seq),
        None => "this workspace had not seen it".to_string(),
    };
    match &now {
        Some(b) => output::info(
            ctx,
            format!("Accepted branch {name} at {} (sequence {}); {was}", output::short(&b.head), b.seq),
        ),
        None => output::info(ctx, format!("Accepted that branch {name} does not exist; {was}")),
    }
    Ok(())
}
