//! `infini rewrite`: remove keys from a branch's history, every commit of it.

use super::progress::Bar;
use super::session::{refuse_repo, Session};
use super::{output, usage, Context};
use infini::namespace::{dir_prefix, without_keys, NamespaceIndex};
use infini::{ForgetScope, RewriteOptions, RewriteOutcome};

/// Remove keys from every commit of a branch's history (a leaked secret, a file that should never have been
/// stored), so that `infini gc` frees their data.
///
/// Each commit of the branch's first-parent history that holds a key --remove names is recreated without it (same
/// message, time, host and metadata), and every later commit with its new parent; older commits keep their ids. The
/// branch keeps its name and moves to the new head, one change like a commit: other workspaces accept it, and a
/// replayed old ref is still caught as a rollback. A commit made concurrently is not lost: the rewrite starts again
/// on the new head.
///
/// The replaced commits are dropped: reading one (`get --at OLD`, `checkout OLD`) fails (exit 3) naming the run
/// that rewrote it, and `infini gc` deletes what only they held once it has been condemned for the grace period
/// (`gc --grace 0s --min-age 0s` twice: now). A tag or another branch that holds an old commit keeps it, and its
/// data, alive: rewrite that branch too (--all).
#[derive(clap::Args)]
pub struct Args {
    /// Remove KEY, and every key under KEY/ (a prefix ending in / removes only the keys under it).
    #[arg(long, value_name = "KEY", num_args = 1.., required = true, add = super::complete::key())]
    remove: Vec<String>,
    /// Rewrite only the commits after REV on the branch's first-parent history (git's REV..); REV and older commits
    /// are kept as they are, whatever they hold.
    #[arg(long, value_name = "REV", add = super::complete::rev())]
    after: Option<String>,
    /// Rewrite every branch (default: HEAD's branch, or the one --branch names).
    #[arg(long)]
    all: bool,
    /// List the commits that would be rewritten and how many keys each would lose; change nothing.
    #[arg(short = 'n', long)]
    dry_run: bool,
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        for k in &self.remove {
            if dir_prefix(k)?.is_empty() {
                return Err(usage(format!("--remove {k:?} names the whole namespace; name keys or a prefix")));
            }
        }
        if !self.dry_run {
            refuse_repo(ctx, "`infini rewrite`")?;
        }
        let s = if self.dry_run { Session::read(ctx)? } else { Session::write(ctx)? };
        let scope = if self.all {
            if ctx.global.branch.is_some() {
                return Err(usage("--all and --branch exclude each other"));
            }
            if self.after.is_some() {
                return Err(usage("--after names a commit of one branch; it does not go with --all"));
            }
            ForgetScope::All
        } else {
            match &ctx.global.branch {
                Some(b) => ForgetScope::Branch(b.clone()),
                None => ForgetScope::Branch(s.branch_for_write()?.to_string()),
            }
        };
        let after = match &self.after {
            Some(rev) => Some(s.repo.resolve(rev, s.tip_ptr().as_ref())?),
            None => None,
        };
        let bar = Bar::phases(ctx, "rewrite");
        let fields = NamespaceIndex::default();
        let opts = RewriteOptions {
            after,
            dry_run: self.dry_run,
            what: format!("remove {}", self.remove.join(", ")),
            fields: Some(&fields),
            progress: bar.sink(),
        };
        let repo = s.repo.clone();
        let keys = self.remove.clone();
        let outcome = repo.rewrite(&scope, &opts, &mut |roots| without_keys(&repo, roots, &keys))?;
        drop(bar);
        if ctx.global.json {
            return output::json(&outcome_json(&outcome, self.dry_run));
        }
        let verb = if self.dry_run { "would rewrite" } else { "rewrote" };
        for b in &outcome.branches {
            let removed: u64 = b.commits.iter().map(|c| c.removed).sum();
            output::info(
                ctx,
                format!(
                    "branch {}: {} commit(s) walked, {verb} {} ({} key(s) removed in all){}",
                    b.branch,
                    b.walked,
                    b.commits.len(),
                    removed,
                    match &b.new_head {
                        Some(h) => format!(", head now {}", &h.to_hex()[..10]),
                        None => String::new(),
                    }
                ),
            );
            for c in &b.commits {
                let what = if c.removed > 0 { format!("-{} key(s)", c.removed) } else { "new parent".to_string() };
                let new = match &c.new {
                    Some(n) => format!(" -> {}", &n.to_hex()[..10]),
                    None => String::new(),
                };
                output::line(format!(
                    "{}{new} {} {:<12} {}",
                    &c.old.to_hex()[..10],
                    output::time(c.time),
                    what,
                    c.message.lines().next().unwrap_or("")
                ))?;
            }
        }
        match &outcome.run {
            Some(run) => output::info(
                ctx,
                format!(
                    "{run}: {} commit(s) replaced; `infini gc` frees what only they held once it has been condemned \
                     for the grace period",
                    run.rewritten
                ),
            ),
            None if outcome.rewritten == 0 => output::info(ctx, "no commit holds those keys: nothing to rewrite"),
            None => {}
        }
        Ok(())
    }
}

fn outcome_json(o: &RewriteOutcome, dry_run: bool) -> serde_json::Value {
    let branches: Vec<serde_json::Value> = o
        .branches
        .iter()
        .map(|b| {
            serde_json::json!({
                "branch": b.branch,
                "old_head": b.old_head.to_hex(),
                "new_head": b.new_head.map(|h| h.to_hex()),
                "walked": b.walked,
                "commits": b.commits.iter().map(|c| serde_json::json!({
                    "old": c.old.to_hex(),
                    "new": c.new.map(|n| n.to_hex()),
                    "time": c.time,
                    "message": c.message,
                    "removed": c.removed,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({
        "dry_run": dry_run,
        "rewritten": o.rewritten,
        "run": o.run.as_ref().map(|r| serde_json::json!({
            "number": r.number,
            "time": r.time,
            "host": r.host,
            "branches": r.branches,
            "what": r.what,
            "rewritten": r.rewritten,
        })),
        "branches": branches,
    })
}
