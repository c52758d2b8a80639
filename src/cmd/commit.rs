//! `infini commit`: record the staged changes as a new commit on the current branch.

use super::progress::Bar;
use super::session::Session;
use super::{output, Context};
use infini::namespace::{claim_staged_in, NamespaceIndex};
use infini::workspace::StagedFile;

/// `commit` with nothing staged (exit code 1, like git).
#[derive(Debug, thiserror::Error)]
#[error("nothing to commit (nothing staged; use --allow-empty to commit anyway)")]
pub struct NothingToCommit;

/// Commit the staged changes and print the new commit's id on stdout.
///
/// If another writer moved the branch meanwhile, the changes are merged by key onto the new head; when both sides
/// changed the same key differently the commit stops with exit code 11, names the keys, and keeps them staged:
/// run `infini update` (or `commit --rebase`) to base them on the new head, then resolve each conflict.
/// With nothing staged it exits 1 ("nothing to commit") unless --allow-empty.
///
/// After `infini merge` stopped on conflicts, the commit that settles them is the merge commit (two parents; -m
/// defaults to the merge's message).
#[derive(clap::Args)]
pub struct Args {
    /// Commit message (required, except to conclude a merge).
    #[arg(short = 'm', long = "message")]
    message: Option<String>,
    /// Record a commit even when nothing is staged.
    #[arg(long)]
    allow_empty: bool,
    /// First take the branch's current head as the base of the staged changes (`infini update`); stops on
    /// conflicts unless --ours or --theirs settles them.
    #[arg(long)]
    rebase: bool,
    /// Record TIME as the commit's time instead of now: RFC 3339 (`2026-03-29T01:00:00Z`) or `@SECONDS` since the
    /// epoch. For importing snapshots taken earlier; retention policies (`infini forget`) go by commit time.
    #[arg(long, value_name = "TIME")]
    date: Option<String>,
    #[command(flatten)]
    side: super::update::SideArgs,
}

/// A commit without -m (outside a merge).
const MESSAGE_REQUIRED: &str = "a commit message is required: -m MESSAGE";

/// Seconds since the epoch of `--date`: `@SECONDS` or an RFC 3339 time.
fn parse_date(s: &str) -> anyhow::Result<u64> {
    if let Some(n) = s.strip_prefix('@') {
        return n
            .parse::<u64>()
            .map_err(|_| super::usage(format!("invalid --date {s:?}: @ must be followed by seconds")));
    }
    let t = humantime::parse_rfc3339_weak(s).map_err(|e| {
        super::usage(format!("invalid --date {s:?}: {e} (use RFC 3339, e.g. 2026-03-29T01:00:00Z, or @SECONDS)"))
    })?;
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .map_err(|_| super::usage(format!("invalid --date {s:?}: before 1970")))
}

impl Args {
    /// A write-only key's commit: its staged changes, sealed to the reader, on whatever head the branch has (see
    /// docs/design.md, *Write-only keys*). Nothing is read; there is nothing to merge or rebase.
    fn run_write_only(self, ctx: &Context, mut s: Session, branch: &str) -> anyhow::Result<()> {
        if self.rebase || self.side.ours || self.side.theirs {
            return Err(super::usage(
                "a write-only key's commit never merges: --rebase, --ours and --theirs do not apply",
            ));
        }
        if self.date.is_some() {
            return Err(super::usage("a write-only key's commit is dated when it is made: --date does not apply"));
        }
        if s.staged.is_empty() && !self.allow_empty {
            anyhow::bail!(NothingToCommit);
        }
        let repo = s.repo.clone();
        let bar = Bar::spinner(ctx, "commit", "staged changes");
        let idx = NamespaceIndex::default();
        repo.load_index(&idx, None)?;
        s.attach_staged(&idx.ns)?;
        let message = self.message.as_deref().ok_or_else(|| super::usage(MESSAGE_REQUIRED))?;
        let c = repo.commit_delta(branch, message, None, &idx, &s.staged.packs, self.allow_empty)?;
        drop(bar);
        s.staged = StagedFile::default();
        s.workspace()?.save_staged(&repo, &s.staged)?;
        print_commit(ctx, &c, branch, true)
    }

    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let date = self.date.as_deref().map(parse_date).transpose()?;
        let mut s = Session::for_commit(ctx)?;
        let branch = s.branch_for_write()?.to_string();
        if s.repo.is_write_only() {
            return self.run_write_only(ctx, s, &branch);
        }
        if (self.side.ours || self.side.theirs) && !self.rebase {
            return Err(super::usage("--ours and --theirs go with --rebase (or use `infini update --ours|--theirs`)"));
        }
        if self.rebase {
            let r = s.update(self.side.side())?;
            if !r.conflicts.is_empty() {
                super::update::report(ctx, &s, &r)?;
            }
        }
        let unresolved = s.conflicts();
        if !unresolved.is_empty() {
            anyhow::bail!(super::update::Unresolved { keys: unresolved });
        }
        if let Some(merge) = s.staged.merge.clone() {
            // The merge's result, resolved: a merge commit, even when it holds nothing new (all theirs was ours).
            let message = self.message.clone().unwrap_or(merge.message);
            let c = super::merge::commit_merge(&mut s, &branch, &message, date)?;
            return print_commit(ctx, &c, &branch, false);
        }
        let message = self.message.as_deref().ok_or_else(|| super::usage(MESSAGE_REQUIRED))?;
        if s.staged.is_empty() && !self.allow_empty {
            anyhow::bail!(NothingToCommit);
        }
        let repo = s.repo.clone();
        // Changes staged on a commit a rewrite replaced apply to its replacement (which may be all that is left).
        let base = match s.staged.base {
            Some(p) => Some(repo.read_commit(&repo.follow_rewrites(&p)?)?),
            None => None,
        };
        let what = match s.staged.spilled {
            Some(_) => "staged changes".to_string(),
            None => format!("{} staged changes", s.staged.changes.len()),
        };
        let bar = Bar::spinner(ctx, "commit", &what);
        let idx = NamespaceIndex::default();
        repo.load_index(&idx, base.as_ref())?;
        s.attach_staged(&idx.ns)?;
        // Everything staged must still be there, and stay: a pack gc condemned is pardoned, one it removed stops
        // the commit before anything is published.
        claim_staged_in(&repo, &idx.ns, s.staged.gc_deletions)?;
        let opts = infini::CommitOptions { time: date, ..infini::CommitOptions::default() };
        let c = repo.commit_index_on_with(&branch, message, &idx, base.as_ref(), &opts)?;
        drop(bar);
        s.staged = StagedFile::default();
        s.workspace()?.save_staged(&repo, &s.staged)?;
        print_commit(ctx, &c, &branch, false)
    }
}

/// Say what was committed: its id, or with `--json` its id, parents, message, time and branch (and, for a
/// write-only key's commit, the writer).
fn print_commit(ctx: &Context, c: &infini::CommitInfo, branch: &str, with_writer: bool) -> anyhow::Result<()> {
    if !ctx.global.json {
        return output::line(c.id().to_hex());
    }
    let mut v = serde_json::json!({
        "id": c.id().to_hex(),
        "parents": c.parent_ids().iter().map(|p| p.to_hex()).collect::<Vec<_>>(),
        "message": c.message(),
        "time": c.time(),
        "branch": branch,
    });
    if with_writer {
        v["writer"] = serde_json::json!(c.writer());
    }
    output::json(&v)
}
