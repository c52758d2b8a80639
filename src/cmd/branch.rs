//! `infini branch`: list, delete or accept branches.

use super::session::{refuse_repo, Session};
use super::{output, Context};
use infini::workspace::Head;
use std::io::Write;

/// List branches (the current one marked with `*`), delete one with -d, and put right a branch whose ref went back or
/// vanished: restore the last head seen with --restore, or accept it as it is with --accept-rollback.
///
/// Every workspace remembers the last state of each branch's ref it saw (a sequence number and head, sealed in
/// `.infini/seen-refs`). A ref that went back (an older ref restored or replayed), vanished (deleted other than by
/// `branch -d`), or whose head does not descend from the one seen, stops every command that reads it with exit code
/// 13 naming the branch, and nothing is changed (`commit` keeps the staged changes, `gc` refuses to run).
///
/// `--restore NAME` moves the ref forward again, to a new sequence number whose head is the last one this workspace
/// saw, once it has checked that head's commits and the data they reach are all still stored (exit 3 or 13 naming
/// what is gone otherwise, exit 11 if the branch moved on since the rollback). `--accept-rollback NAME` accepts the
/// branch as the repository holds it now (or that it is gone) and says how many commits that abandons: commits on no
/// other branch are then garbage, and `gc` deletes their data once the grace period has passed. Only a workspace that
/// saw the newer state can tell or restore it: a fresh clone, or `-R`, trusts what it finds.
#[derive(clap::Args)]
pub struct Args {
    /// Delete branch NAME.
    #[arg(short = 'd', long = "delete", value_name = "NAME", conflicts_with_all = ["accept_rollback", "restore"],
          add = super::complete::branch())]
    delete: Option<String>,
    /// Accept branch NAME as the repository holds it now, after its ref went back, vanished or was replaced.
    #[arg(long, value_name = "NAME", conflicts_with = "restore", add = super::complete::branch())]
    accept_rollback: Option<String>,
    /// Put back the last head this workspace saw of branch NAME, after its ref went back or vanished.
    #[arg(long, value_name = "NAME", add = super::complete::branch())]
    restore: Option<String>,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        if self.delete.is_some() {
            refuse_repo(ctx, "`infini branch -d`")?;
        }
        if self.accept_rollback.is_some() || self.restore.is_some() {
            refuse_repo(ctx, "`infini branch --accept-rollback`/`--restore`")?;
        }
        if let Some(name) = &self.accept_rollback {
            return accept(ctx, name);
        }
        if let Some(name) = &self.restore {
            return restore(ctx, name);
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

fn restore(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let (_s, r) = Session::write_restoring(ctx, name)?;
    let was = r.was.as_ref().filter(|w| !w.deleted);
    if ctx.global.json {
        return output::json(&serde_json::json!({
            "restored": name,
            "head": output::id(&r.branch.head),
            "seq": r.branch.seq,
            "rolled_back_head": was.map(|w| output::id(&w.head)),
            "rolled_back_seq": r.was.as_ref().map(|w| w.seq),
            "commits": r.commits,
        }));
    }
    let from = match (&r.was, was) {
        (_, Some(w)) => format!("from {} (sequence {})", output::short(&w.head), w.seq),
        (Some(w), None) => format!("over its deletion marker (sequence {})", w.seq),
        (None, None) => "where its ref had vanished".to_string(),
    };
    output::info(
        ctx,
        format!(
            "Restored branch {name} to {} (sequence {}) {from}: {} commit(s) back on it, their data checked",
            output::short(&r.branch.head),
            r.branch.seq,
            r.commits
        ),
    );
    Ok(())
}

fn accept(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let (s, (before, now)) = Session::write_accepting(ctx, name)?;
    // What the accepted state no longer holds: the seen head and its ancestors down to one the branch still has.
    let abandoned = match before.as_ref().filter(|b| !b.deleted) {
        Some(b) => Some(s.repo.abandoned(&b.head, now.as_ref().map(|n| &n.head))?),
        None => None,
    };
    if ctx.global.json {
        return output::json(&serde_json::json!({
            "accepted": name,
            "head": now.as_ref().map(|b| output::id(&b.head)),
            "seq": now.as_ref().map(|b| b.seq),
            "seen_head": before.as_ref().map(|b| output::id(&b.head)),
            "seen_seq": before.as_ref().map(|b| b.seq),
            "abandoned": abandoned.map(|a| a.commits),
            "abandoned_exact": abandoned.map(|a| a.exact),
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
    if let Some(a) = abandoned.filter(|a| a.commits > 0) {
        output::info(
            ctx,
            format!(
                "this abandons {}{} commit(s) that branch {name} no longer holds: unless another branch holds them, \
                 gc will collect them (their data is deleted once the grace period has passed)",
                if a.exact { "" } else { "at least " },
                a.commits
            ),
        );
    }
    Ok(())
}
