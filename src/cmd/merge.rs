//! `infini merge`: merge another branch (or any revision) into the current branch.

use super::progress::Bar;
use super::session::Session;
use super::{output, Context};
use infini::namespace::{claim_staged_in, NamespaceIndex};
use infini::workspace::{MergeInProgress, StagedFile};
use infini::Error;

/// Merge branch (or tag, or revision) REV into the current branch.
///
/// The changes REV made since the two histories' nearest common commit are merged by key onto the current head,
/// with the rules of `update`: a key only REV changed takes REV's value, one both changed the same way is kept, and
/// one both changed differently is a conflict. Without conflicts the result is committed at once as a merge commit
/// with two parents (the current head first, REV second), message `Merge branch 'REV'` unless -m, and its id is
/// printed. With conflicts nothing is committed: the merge is staged, each conflicted key with REV's value, listed by
/// `infini status`; keep REV's value with `infini put KEY` (all: `update --ours`), the current branch's with `infini
/// reset KEY` (all: `update --theirs`), then `infini commit` records the merge commit. The command exits 11 while
/// conflicts remain.
///
/// When REV already holds the current head, the branch moves to REV (a fast-forward, no new commit) unless --no-ff;
/// when the current head already holds REV, there is nothing to do ("Already up to date", exit 0). Refused while
/// changes are staged: commit or reset them first. `log` lists first parents, so a merge commit is one entry;
/// `log REV` shows the merged history, and `show`/`diff` of a merge commit compare it with its first parent.
#[derive(clap::Args)]
pub struct Args {
    /// The branch, tag or revision to merge.
    #[arg(value_name = "REV", add = super::complete::rev())]
    rev: String,
    /// The merge commit's message (default: `Merge branch 'REV'`).
    #[arg(short = 'm', long = "message")]
    message: Option<String>,
    /// Make a merge commit even when the branch could simply move to REV (a fast-forward).
    #[arg(long)]
    no_ff: bool,
}

/// `merge` with changes staged (exit code 11): the merge would mix them into its result.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot merge while changes are staged: commit them first (`infini commit -m MSG`) or unstage them (`infini reset`)"
)]
pub struct StagedChanges;

/// What `merge` did.
enum Outcome {
    UpToDate,
    FastForward,
    Merged(Box<infini::CommitInfo>),
    Conflicts(Vec<String>),
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mut s = Session::write(ctx)?;
        let branch = s.branch_for_write()?.to_string();
        if !s.staged.is_empty() || s.staged.merge.is_some() || !s.staged.conflicts.is_empty() {
            anyhow::bail!(StagedChanges);
        }
        let repo = s.repo.clone();
        let theirs = repo.resolve(&self.rev, s.tip_ptr().as_ref())?;
        let what = if repo.branch(&self.rev)?.is_some() {
            "branch"
        } else if infini::Repository::check_tag_name(&self.rev).is_ok() && repo.tag(&self.rev)?.is_some() {
            "tag"
        } else {
            "commit"
        };
        let message = self.message.clone().unwrap_or_else(|| format!("Merge {what} '{}'", self.rev));
        let outcome = match s.tip.clone() {
            Some(ours) if repo.is_ancestor(&theirs, &ours.ptr)? => Outcome::UpToDate,
            Some(ours) if self.no_ff || !repo.is_ancestor(&ours.ptr, &theirs)? => {
                let theirs_c = repo.read_commit(&theirs)?;
                let base = match repo.merge_base(&ours.ptr, &theirs)? {
                    Some(b) => Some(repo.read_commit(&b)?),
                    None => None,
                };
                let merge = MergeInProgress { commit: theirs, name: self.rev.clone(), message: message.clone() };
                let bar = Bar::spinner(ctx, "merge", &self.rev);
                let r = s.stage_merge(&theirs_c, base.as_ref(), merge)?;
                if r.conflicts.is_empty() {
                    let c = commit_merge(&mut s, &branch, &message, None)?;
                    drop(bar);
                    Outcome::Merged(Box::new(c))
                } else {
                    drop(bar);
                    Outcome::Conflicts(r.conflicts)
                }
            }
            current => {
                // A fast-forward: the branch moves to REV (or starts there, when it has no commit yet).
                let expected = repo.branch(&branch)?;
                if expected.as_ref().map(|b| b.head) != current.as_ref().map(|c| c.ptr) {
                    anyhow::bail!(Error::Conflict { what: format!("branch {branch} moved meanwhile; merge again") });
                }
                if repo.fast_forward_branch(&branch, expected.as_ref(), &theirs, &NamespaceIndex::default())?.is_none()
                {
                    anyhow::bail!(Error::Conflict { what: format!("branch {branch} moved meanwhile; merge again") });
                }
                s.tip = Some(repo.read_commit(&theirs)?);
                Outcome::FastForward
            }
        };
        report(ctx, &s, &branch, &self.rev, &theirs, outcome)
    }
}

/// Commit the staged merge (its result) as a merge commit on `branch`; `date` overrides the commit's time. Clears
/// the staged changes and the merge in progress.
pub fn commit_merge(
    s: &mut Session,
    branch: &str,
    message: &str,
    date: Option<u64>,
) -> anyhow::Result<infini::CommitInfo> {
    let merge = s.staged.merge.clone().ok_or_else(|| anyhow::anyhow!("no merge in progress"))?;
    let repo = s.repo.clone();
    let base = match s.staged.base {
        Some(p) => Some(repo.read_commit(&p)?),
        None => None,
    };
    let idx = NamespaceIndex::default();
    repo.load_index(&idx, base.as_ref())?;
    s.attach_staged(&idx.ns)?;
    claim_staged_in(&repo, &idx.ns, s.staged.gc_deletions)?;
    let opts = infini::CommitOptions { time: date, merged: Some(merge.commit), ..infini::CommitOptions::default() };
    let c = repo.commit_index_on_with(branch, message, &idx, base.as_ref(), &opts)?;
    s.staged = StagedFile::default();
    s.workspace()?.save_staged(&repo, &s.staged)?;
    s.tip = Some(c.clone());
    Ok(c)
}

fn report(
    ctx: &Context,
    s: &Session,
    branch: &str,
    rev: &str,
    theirs: &infini::ChunkPointer,
    outcome: Outcome,
) -> anyhow::Result<()> {
    let head = s.tip.as_ref().map(|c| output::id(&c.ptr));
    let (result, conflicts, parents) = match &outcome {
        Outcome::UpToDate => ("up-to-date", Vec::new(), Vec::new()),
        Outcome::FastForward => ("fast-forward", Vec::new(), Vec::new()),
        Outcome::Merged(c) => ("merge", Vec::new(), c.parent_ids().iter().map(|p| p.to_hex()).collect()),
        Outcome::Conflicts(k) => ("conflicts", k.clone(), Vec::new()),
    };
    if ctx.global.json {
        output::json(&serde_json::json!({
            "result": result,
            "branch": branch,
            "merged": output::id(theirs),
            "head": head,
            "parents": parents,
            "conflicts": conflicts,
        }))?;
    } else {
        match &outcome {
            Outcome::UpToDate => output::info(ctx, "Already up to date"),
            Outcome::FastForward => output::info(
                ctx,
                format!("Fast-forward: branch {branch} moved to {} ({rev}); no merge commit", output::short(theirs)),
            ),
            Outcome::Merged(c) => {
                output::info(
                    ctx,
                    format!(
                        "Merged {rev} into {branch}: merge commit {} with parents {}",
                        output::short(&c.ptr),
                        c.parent_ids().iter().map(|p| p.to_hex()[..10].to_string()).collect::<Vec<_>>().join(" ")
                    ),
                );
                output::line(c.id().to_hex())?;
            }
            Outcome::Conflicts(keys) => {
                output::info(ctx, format!("{} conflict(s): {}", keys.len(), keys.join(", ")));
                output::info(
                    ctx,
                    format!(
                        "the merge is staged, each conflicted key with {rev}'s value: `infini put KEY` keeps it, \
                         `infini reset KEY` keeps {branch}'s; `infini commit` then records the merge commit"
                    ),
                );
            }
        }
    }
    match outcome {
        Outcome::Conflicts(keys) => Err(super::update::Unresolved { keys }.into()),
        _ => Ok(()),
    }
}
