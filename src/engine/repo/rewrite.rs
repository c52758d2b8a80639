//! Rewriting a branch's history (design.md, *Rewriting history*): every commit of its first-parent chain whose
//! state an edit changes (keys removed, for `infini rewrite --remove`) is recreated with the edited state, and every
//! commit after it with its new parent; the branch's ref moves to the new head with one compare-and-swap (one
//! sequence number on, `prev` the old head, so readers that saw the old head accept it), and the forget record
//! lists the replaced commits, so that reading one fails naming the run. The replaced commits are reachable from no
//! branch any more: gc frees what only they held, under its usual rules.

use super::forget::{backoff, decode_record, Record, FORGET_REF};
use super::meta::unpad_meta;
use super::{CommitInfo, ForgetScope, IndexRoots, Repository};
use crate::engine::crypto::{hostname, now_secs, Kind};
use crate::engine::id::{ChunkId, CommitId};
use crate::engine::object::ChunkPointer;
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::retention::utc;
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;

/// Attempts [`Repository::rewrite`] makes for a branch that keeps moving.
const ATTEMPTS: u32 = 20;

/// One run of [`Repository::rewrite`], as the forget record keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RewriteRun {
    /// Runs are numbered from 1 (apart from forget runs).
    pub number: u64,
    /// When it ran (the host's clock, seconds since the epoch).
    pub time: u64,
    /// Where it ran.
    pub host: String,
    /// The branches it rewrote.
    pub branches: Vec<String>,
    /// What it did, as the caller described it (e.g. `remove secret.txt`).
    pub what: String,
    /// How many commits it replaced.
    pub rewritten: u64,
}

impl fmt::Display for RewriteRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rewrite run {} ({} on {}, branch {}: {})",
            self.number,
            utc(self.time),
            self.host,
            self.branches.join(", "),
            self.what
        )
    }
}

/// What replaced a rewritten commit (kept in the forget record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Replaced {
    /// The number of the run that rewrote it.
    pub run: u64,
    /// The commit that took its place.
    pub by: ChunkPointer,
}

/// The edit [`Repository::rewrite`] applies to each commit's state: the new roots and how many keys (or other
/// items) it removed, or `None` when it changes nothing.
pub type Edit<'a> = dyn FnMut(&IndexRoots) -> Result<Option<(IndexRoots, u64)>> + 'a;

/// Tunables of [`Repository::rewrite`].
#[derive(Default)]
pub struct RewriteOptions<'a> {
    /// Rewrite only the commits after this one on the branch's first-parent chain (git's `REV..`: it and its
    /// ancestors stay as they are, whatever they hold); `None`: the whole chain. Must be on the chain of every
    /// branch rewritten.
    pub after: Option<ChunkPointer>,
    /// Only decide: write nothing.
    pub dry_run: bool,
    /// What the run does, recorded with it (e.g. `remove secret.txt`).
    pub what: String,
    /// The fields of the index, to trace what the new commits reach for the claim that protects them from a
    /// concurrent gc; `None`: every pack the run wrote is claimed whole.
    pub fields: Option<&'a dyn crate::engine::fields::Index>,
    /// Where progress goes: phase `rewrite` (commits walked).
    pub progress: ProgressSink,
}

/// One commit [`Repository::rewrite`] replaced (or, in a dry run, would replace).
#[derive(Clone, Debug)]
pub struct RewrittenCommit {
    /// The commit replaced.
    pub old: CommitId,
    /// The commit that replaces it (`None` in a dry run).
    pub new: Option<CommitId>,
    /// Its time (kept by the new commit).
    pub time: u64,
    /// Its message (kept by the new commit).
    pub message: String,
    /// How many items the edit removed from its state (0: recreated only because its parent was).
    pub removed: u64,
}

/// A branch as [`Repository::rewrite`] rewrote it.
#[derive(Clone, Debug)]
pub struct BranchRewrite {
    /// The branch.
    pub branch: String,
    /// Its head before.
    pub old_head: CommitId,
    /// Its head after (`None` in a dry run, or when nothing changed).
    pub new_head: Option<CommitId>,
    /// Commits on its first-parent chain that were walked.
    pub walked: usize,
    /// The commits replaced, newest first.
    pub commits: Vec<RewrittenCommit>,
}

/// What a [`Repository::rewrite`] run did (or would do).
#[derive(Clone, Debug, Default)]
pub struct RewriteOutcome {
    /// The run recorded (`None` in a dry run, or when nothing changed).
    pub run: Option<RewriteRun>,
    /// Each branch rewritten (or looked at).
    pub branches: Vec<BranchRewrite>,
    /// Commits replaced (or that would be), over every branch.
    pub rewritten: usize,
}

/// The commits rewritten so far (see [`Repository::rewritten`]).
#[derive(Clone, Debug, Default)]
pub struct Rewritten {
    commits: HashMap<ChunkId, Replaced>,
    runs: Vec<RewriteRun>,
}

impl Rewritten {
    /// What replaced commit `id`, and the run that did, if it was rewritten.
    pub fn replaced(&self, id: &CommitId) -> Option<(&Replaced, Option<&RewriteRun>)> {
        let r = self.commits.get(&ChunkId(id.0))?;
        Some((r, self.runs.iter().find(|run| run.number == r.run)))
    }

    /// The commit a rewritten commit `id` finally became (following later rewrites of its replacement), if it
    /// was rewritten.
    pub fn current(&self, id: &CommitId) -> Option<ChunkPointer> {
        let mut at = self.commits.get(&ChunkId(id.0))?.by;
        for _ in 0..self.commits.len() {
            match self.commits.get(&at.id) {
                Some(r) => at = r.by,
                None => break,
            }
        }
        Some(at)
    }

    /// The rewritten commits whose id (hex) starts with `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<CommitId> {
        self.commits.keys().filter(|c| c.to_hex().starts_with(prefix)).map(|c| CommitId(c.0)).collect()
    }

    /// Every run, oldest first.
    pub fn runs(&self) -> &[RewriteRun] {
        &self.runs
    }

    /// How many commits were rewritten.
    pub fn len(&self) -> usize {
        self.commits.len()
    }

    /// Whether no commit was rewritten.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }
}

/// The commits a run has replaced so far.
#[derive(Default)]
struct Memo {
    /// Old commit -> its replacement, and how many items the edit removed from it.
    done: HashMap<ChunkId, (CommitInfo, u64)>,
    /// Old commits whose replacement a branch's ref already holds.
    published: std::collections::HashSet<ChunkId>,
}

/// A branch's chain rewritten in memory (or written, unless a dry run).
struct Planned {
    head: Option<ChunkPointer>,
    commits: Vec<RewrittenCommit>,
    /// New commits (old id -> new commit), for the claim and the record.
    written: Vec<(CommitId, CommitInfo)>,
    /// Replaced commits whose state the edit changed, with their replacements: what the old one reaches beyond the
    /// new one is what the edit removed.
    edited: Vec<(ChunkPointer, ChunkPointer)>,
    /// The packs holding what the edit removed (see [`Repository::removed_packs`]).
    purge: std::collections::HashSet<crate::engine::id::ObjectId>,
    walked: usize,
}

impl Repository {
    /// The commits rewritten so far, and the runs that rewrote them.
    pub fn rewritten(&self) -> Result<Rewritten> {
        let (rec, _) = self.read_record()?;
        Ok(rewritten_of(rec))
    }

    /// The commit that took `commit`'s place after every rewrite that replaced it (see [`Repository::rewrite`]), or
    /// `commit` itself when none did: what changes staged on `commit` (a workspace's base) now apply to. The
    /// replacement holds the same state less what the rewrite removed.
    ///
    /// It uses the record as read moments before (see [`Repository::read_rewrites_ahead`]), if it was.
    pub fn follow_rewrites(&self, commit: &ChunkPointer) -> Result<ChunkPointer> {
        let rewritten = match self.rewrites_ahead.take_recent() {
            Some(r) => r,
            None => self.rewritten()?,
        };
        Ok(rewritten.current(&commit.commit_id()).unwrap_or(*commit))
    }

    /// Read the forget record now, so that this command's next [`Repository::follow_rewrites`] (within 10 s) uses it
    /// instead of reading it then: a command that reads its branch's ref first reads both at once (one round trip
    /// on S3). A failure is left for that read to report.
    pub fn read_rewrites_ahead(&self) {
        if let Ok(r) = self.rewritten() {
            self.rewrites_ahead.note(r);
        }
    }

    /// Rewrite the first-parent history of the branches of `scope` through `edit`: each commit whose state `edit`
    /// changes is recreated with the edited state, and every commit after it with its new first parent — same
    /// message, time, host and metadata; second parents are re-pointed when this run replaced them, and otherwise
    /// kept. Commits below the first one changed keep their ids. The branch's ref moves to the new head with one
    /// compare-and-swap, one sequence number on, its `prev` the old head (a workspace that saw the old head accepts
    /// it; a replayed older ref is still a rollback). A commit racing the rewrite makes the swap fail: the run reads
    /// the branch again and rewrites the new head (the commits already recreated are reused), so nothing is lost.
    ///
    /// The replaced commits are recorded in the forget record (reading one fails with [`Error::NotFound`] naming
    /// the run) and reachable from no branch: `gc` frees what only they held, once condemned for its grace period.
    /// A forgotten commit is recreated with its state unchanged (its data may be gone) and stays forgotten. A
    /// write-only key's commit that `edit` would change is refused ([`Error::Invalid`]): its changes are stored as
    /// they were made. With `dry_run` nothing is written. See design.md, *Rewriting history*.
    pub fn rewrite(
        &self,
        scope: &ForgetScope,
        opts: &RewriteOptions<'_>,
        edit: &mut Edit<'_>,
    ) -> Result<RewriteOutcome> {
        let names: Vec<String> = match scope {
            ForgetScope::Branch(b) => {
                if self.branch(b)?.is_none() {
                    return Err(Error::not_found(format!("branch {b}")));
                }
                vec![b.clone()]
            }
            ForgetScope::All => self.branches()?.into_iter().map(|b| b.name).collect(),
        };
        opts.progress.phase("rewrite", Unit::Items, None);
        // Old commit -> its replacement and what the edit removed, over every branch and attempt of this run.
        let mut memo = Memo::default();
        let mut out = RewriteOutcome::default();
        let mut mapping: Vec<(CommitId, ChunkPointer)> = Vec::new();
        let mut purge = std::collections::HashSet::new();
        for name in &names {
            let (branch, plan) = self.rewrite_branch(name, opts, edit, &mut memo)?;
            out.rewritten += plan.commits.len();
            memo.published.extend(plan.written.iter().map(|(old, _)| ChunkId(old.0)));
            mapping.extend(plan.written.iter().map(|(old, new)| (*old, new.ptr)));
            purge.extend(plan.purge.iter().copied());
            out.branches.push(BranchRewrite {
                branch: name.clone(),
                old_head: CommitId(branch.id.0),
                new_head: if opts.dry_run {
                    None
                } else {
                    plan.head.filter(|h| h.id != branch.id).map(|h| h.commit_id())
                },
                walked: plan.walked,
                commits: plan.commits,
            });
        }
        if opts.dry_run || mapping.is_empty() {
            return Ok(out);
        }
        out.run = Some(self.record_rewrite(opts, &out, &mapping, &purge)?);
        Ok(out)
    }

    /// The packs that hold what the edit removed — every chunk a replaced commit reaches and its replacement does
    /// not, where it lives now (through the forwards of repacked packs) — for gc to repack whatever their garbage
    /// share, so that the removed data does not outlive the commits in a pack kept for its other chunks. Needs the
    /// index's fields to trace (none: no pack is named, and gc's threshold alone decides).
    fn removed_packs(
        &self,
        opts: &RewriteOptions<'_>,
        edited: &[(ChunkPointer, ChunkPointer)],
    ) -> Result<std::collections::HashSet<crate::engine::id::ObjectId>> {
        let Some(fields) = opts.fields else { return Ok(Default::default()) };
        let (state, _) = self.read_condemned()?;
        let (packs, _) = self.resolve_claimed(
            &|each| {
                for (old, new) in edited {
                    let (old, new) = (self.read_commit(old)?, self.read_commit(new)?);
                    self.trace_commit(fields, &old, Some(&new), &mut |p, _| each(p))?;
                }
                Ok(())
            },
            &state,
        )?;
        Ok(packs)
    }

    /// Rewrite one branch: plan on its head, write, claim, swap; again on the new head when the swap loses. Returns
    /// the head it rewrote from and the plan that was published.
    fn rewrite_branch(
        &self,
        name: &str,
        opts: &RewriteOptions<'_>,
        edit: &mut Edit<'_>,
        memo: &mut Memo,
    ) -> Result<(ChunkPointer, Planned)> {
        let claim = super::gc::ClaimToken::new();
        let r = (|| {
            for attempt in 0..ATTEMPTS {
                let stored = match self.read_stored(name)? {
                    Some(s) if s.live_head().is_some() => s,
                    _ => return Err(Error::not_found(format!("branch {name}"))),
                };
                let head = stored.live_head().expect("a live ref has a head");
                let (rec, _) = self.read_record()?;
                let mut plan = self.plan_branch(name, &head, opts, edit, memo, &rec)?;
                let new_head = match plan.head {
                    Some(h) if h.id != head.id && !opts.dry_run => h,
                    _ => return Ok((head, plan)),
                };
                // Durable, then claimed (so a concurrent gc deletes nothing the new commits reach), then forgotten
                // where their originals were, then published.
                self.store.flush()?;
                let packs = self.store.written_packs();
                let written = &plan.written;
                self.claim_packs(claim, Some(new_head), &|each| {
                    for o in &packs {
                        each(&ChunkPointer { object: *o, offset: 0, len: 0, id: ChunkId([0; 32]) })?;
                    }
                    for (_, c) in written {
                        each(&c.ptr)?;
                        if let Some(fields) = opts.fields {
                            if !c.is_delta() && !rec.forgotten.contains_key(&CommitId(c.ptr.id.0)) {
                                let parent = self.first_parent(c)?;
                                self.trace_commit(fields, c, parent.as_ref(), &mut |p, _| each(p))?;
                            }
                        }
                    }
                    Ok(())
                })?;
                self.forget_replacements(&plan)?;
                // Traced while the replaced commits are still the branch's (no gc frees them before the swap).
                plan.purge = self.removed_packs(opts, &plan.edited)?;
                if self.move_ref(name, Some(&stored), &new_head)?.is_some() {
                    return Ok((head, plan));
                }
                backoff(attempt);
            }
            Err(Error::Conflict {
                what: format!("branch {name} kept changing while being rewritten; run rewrite again"),
            })
        })();
        let _ = self.release_claim(claim);
        r
    }

    /// The rewritten chain of branch `name` at `head` (commits written unless a dry run).
    fn plan_branch(
        &self,
        name: &str,
        head: &ChunkPointer,
        opts: &RewriteOptions<'_>,
        edit: &mut Edit<'_>,
        memo: &mut Memo,
        rec: &Record,
    ) -> Result<Planned> {
        // The first-parent chain, newest first, down to the commit after `after` (or the first commit).
        let mut chain: Vec<CommitInfo> = Vec::new();
        let mut at = Some(*head);
        let mut found = opts.after.is_none();
        while let Some(p) = at {
            if opts.after.is_some_and(|a| a.id == p.id) {
                found = true;
                break;
            }
            let c = self.read_commit(&p)?;
            opts.progress.inc(1);
            at = c.commit.parents.first().copied();
            chain.push(c);
        }
        if !found {
            let s = opts.after.map(|s| super::refs::short(&s)).unwrap_or_default();
            return Err(Error::Invalid(format!("commit {s} is not on branch {name}'s first-parent history")));
        }
        let walked = chain.len();
        let mut plan = Planned {
            head: Some(*head),
            commits: Vec::new(),
            written: Vec::new(),
            edited: Vec::new(),
            purge: Default::default(),
            walked,
        };
        // The parent the oldest commit of the range keeps.
        let mut parent: Option<ChunkPointer> = chain.last().and_then(|c| c.commit.parents.first().copied());
        let mut changed = false;
        for c in chain.iter().rev() {
            let id = c.id();
            if let Some((done, removed)) = memo.done.get(&c.ptr.id) {
                // Replaced already: by an earlier attempt (then it is this plan's), or for another branch sharing
                // this history (then that branch's run recorded it).
                if !memo.published.contains(&c.ptr.id) {
                    if *removed > 0 {
                        plan.edited.push((c.ptr, done.ptr));
                    }
                    plan.written.push((id, done.clone()));
                    plan.commits.push(RewrittenCommit {
                        old: id,
                        new: Some(done.id()),
                        time: c.time(),
                        message: c.message().to_string(),
                        removed: *removed,
                    });
                }
                parent = Some(done.ptr);
                changed = true;
                continue;
            }
            let forgotten = rec.forgotten.contains_key(&id);
            let edited = if forgotten {
                None
            } else {
                let state = self.state(c)?;
                edit(&state)?
            };
            let rest: Vec<ChunkPointer> =
                c.commit.parents.iter().skip(1).map(|p| memo.done.get(&p.id).map_or(*p, |d| d.0.ptr)).collect();
            let rest_changed = rest.iter().zip(c.commit.parents.iter().skip(1)).any(|(a, b)| a.id != b.id);
            if edited.is_none() && !changed && !rest_changed {
                parent = Some(c.ptr);
                continue;
            }
            let removed = edited.as_ref().map_or(0, |(_, n)| *n);
            if c.is_delta() && edited.is_some() {
                return Err(Error::Invalid(format!(
                    "commit {} of branch {name} was made by a write-only key and holds what is to be removed; a \
                     write-only key's changes cannot be rewritten",
                    &id.to_hex()[..10]
                )));
            }
            let mut commit = c.commit.clone();
            commit.parents = parent.into_iter().chain(rest).collect();
            if let Some((roots, _)) = edited {
                commit.index = roots;
            }
            let new_id = if opts.dry_run {
                // A stand-in: nothing is written, later commits only need to know that their parent changed.
                parent = Some(c.ptr);
                None
            } else {
                let ptr = self.write_commit(&commit)?;
                memo.done.insert(c.ptr.id, (CommitInfo { ptr, commit: commit.clone() }, removed));
                plan.written.push((id, CommitInfo { ptr, commit: commit.clone() }));
                if removed > 0 {
                    plan.edited.push((c.ptr, ptr));
                }
                parent = Some(ptr);
                Some(ptr.commit_id())
            };
            changed = true;
            plan.commits.push(RewrittenCommit {
                old: id,
                new: new_id,
                time: c.time(),
                message: c.message().to_string(),
                removed,
            });
        }
        plan.commits.reverse();
        if !opts.dry_run {
            plan.head = parent;
        }
        Ok(plan)
    }

    /// Record as forgotten, under the run that forgot the original, every replacement of a forgotten commit —
    /// before the ref moves, so that no gc run traces a replacement whose data is gone.
    fn forget_replacements(&self, plan: &Planned) -> Result<()> {
        for attempt in 0..ATTEMPTS {
            let (mut rec, version) = self.read_record()?;
            let mut added = false;
            for (old, new) in &plan.written {
                if let Some(run) = rec.forgotten.get(old).copied() {
                    added |= rec.forgotten.insert(new.id(), run).is_none();
                }
            }
            if !added || self.write_record(&mut rec, version.as_ref())? {
                return Ok(());
            }
            backoff(attempt);
        }
        Err(Error::Conflict { what: "the forget record kept changing concurrently; run rewrite again".into() })
    }

    /// Record the run and the commits it replaced in the forget record.
    fn record_rewrite(
        &self,
        opts: &RewriteOptions<'_>,
        out: &RewriteOutcome,
        mapping: &[(CommitId, ChunkPointer)],
        purge: &std::collections::HashSet<crate::engine::id::ObjectId>,
    ) -> Result<RewriteRun> {
        for attempt in 0..ATTEMPTS {
            let (mut rec, version) = self.read_record()?;
            let number = rec.rewrites.last().map_or(1, |r| r.number + 1);
            let run = RewriteRun {
                number,
                time: now_secs(),
                host: hostname(),
                branches: out.branches.iter().filter(|b| b.new_head.is_some()).map(|b| b.branch.clone()).collect(),
                what: opts.what.clone(),
                rewritten: mapping.len() as u64,
            };
            for (old, by) in mapping {
                // The first replacement stays listed (a later run may replace the same commit on another branch).
                rec.rewritten.entry(*old).or_insert(Replaced { run: number, by: *by });
            }
            for p in purge {
                rec.purge.insert(*p, number);
            }
            rec.rewrites.push(run.clone());
            if self.write_record(&mut rec, version.as_ref())? {
                return Ok(run);
            }
            backoff(attempt);
        }
        Err(Error::Conflict {
            what: "the forget record kept changing concurrently: the branches were rewritten, the run is not recorded"
                .into(),
        })
    }

    /// The forget record as stored, not checked against what this reader saw: for [`Repository::check_seen`],
    /// which holds the lock the checked read takes. Only its list of rewritten commits is used there, to accept a
    /// ref that moved forward; an older record lists fewer, so it can only refuse more.
    pub(super) fn rewritten_unchecked(&self) -> Result<Rewritten> {
        let name = self.store.keys().ref_name(FORGET_REF);
        let Some((sealed, _)) = self.backend.read_ref(&name)? else { return Ok(Rewritten::default()) };
        let plain = self
            .store
            .keys()
            .open(Kind::Ref, name.as_bytes(), &sealed)
            .map_err(|_| Error::integrity("the forget record does not authenticate"))?;
        let body = unpad_meta(&plain).ok_or_else(|| Error::integrity("the forget record is truncated"))?;
        Ok(rewritten_of(decode_record(body)?))
    }

    /// Fail with [`Error::NotFound`] naming the run that rewrote a commit whose id starts with `prefix`, if one did.
    pub(crate) fn refuse_rewritten(&self, prefix: &str) -> Result<()> {
        let r = self.rewritten()?;
        let found = r.matching(prefix);
        let [id] = found.as_slice() else { return Ok(()) };
        let Some((replaced, run)) = r.replaced(id) else { return Ok(()) };
        let now = r.current(id).unwrap_or(replaced.by);
        let by = match run {
            Some(run) => format!("by {run}"),
            None => "by a rewrite".to_string(),
        };
        Err(Error::not_found(format!(
            "commit {}: it was rewritten {by} and is no longer kept; commit {} took its place",
            &id.to_hex()[..10],
            super::refs::short(&now)
        )))
    }
}

fn rewritten_of(rec: Record) -> Rewritten {
    Rewritten { commits: rec.rewritten.into_iter().map(|(c, r)| (ChunkId(c.0), r)).collect(), runs: rec.rewrites }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::crypto::KdfParams;
    use crate::engine::object::StoreOptions;
    use std::sync::Arc;

    fn roots(pairs: &[(&str, &[u8])]) -> IndexRoots {
        pairs.iter().map(|(k, v)| (k.to_string(), serde_bytes::ByteBuf::from(v.to_vec()))).collect()
    }

    /// The edit: drop the field named `secret`.
    fn without_secret(r: &IndexRoots) -> Result<Option<(IndexRoots, u64)>> {
        if !r.contains_key("secret") {
            return Ok(None);
        }
        let mut r = r.clone();
        r.remove("secret");
        Ok(Some((r, 1)))
    }

    /// A commit that lands while a rewrite works is not lost: the rewrite's ref swap fails, and it rewrites the new
    /// head too.
    #[test]
    fn a_commit_racing_a_rewrite_is_rewritten_with_the_branch_not_lost() {
        let (repo, other) = crate::engine::repo::tests::two_processes();
        repo.commit("main", "one", &mut |_| Ok(roots(&[("keep", b"k1"), ("secret", b"s")]))).unwrap();
        repo.commit("main", "two", &mut |_| Ok(roots(&[("keep", b"k2"), ("secret", b"s")]))).unwrap();
        let mut raced = false;
        let out = repo
            .rewrite(&ForgetScope::Branch("main".into()), &RewriteOptions::default(), &mut |r| {
                if !raced {
                    raced = true;
                    other
                        .commit("main", "racer", &mut |p| {
                            let mut r = p.expect("a parent").commit.index.clone();
                            r.insert("racer".into(), serde_bytes::ByteBuf::from(b"r".to_vec()));
                            Ok(r)
                        })
                        .unwrap();
                }
                without_secret(r)
            })
            .unwrap();
        assert_eq!(out.rewritten, 3, "{out:?}");
        let head = repo.branch("main").unwrap().unwrap();
        let log = repo.log(&head.head, 10).unwrap();
        let messages: Vec<&str> = log.iter().map(|c| c.message()).collect();
        assert_eq!(messages, ["racer", "two", "one"], "the racing commit is kept, on the rewritten history");
        assert!(log.iter().all(|c| !c.commit.index.contains_key("secret")), "{log:?}");
        assert_eq!(log[0].commit.index.get("racer").map(|b| b.as_slice()), Some(&b"r"[..]));
        assert_eq!(log[1].commit.index.get("keep").map(|b| b.as_slice()), Some(&b"k2"[..]));
        let recorded = repo.rewritten().unwrap();
        assert_eq!(recorded.len(), 3);
        assert_eq!(recorded.runs().len(), 1);
        // The racer reads the rewritten head.
        assert_eq!(other.branch("main").unwrap().unwrap().head, head.head);
    }

    /// A dry run writes nothing: no commit, no ref change, no record.
    #[test]
    fn a_dry_run_rewrite_changes_nothing() {
        let mem = Arc::new(MemoryBackend::new());
        let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
        let repo = Repository::create(mem, b"pw", kdf, StoreOptions::default()).unwrap();
        repo.commit("main", "one", &mut |_| Ok(roots(&[("secret", b"s")]))).unwrap();
        repo.commit("main", "two", &mut |_| Ok(roots(&[("keep", b"k")]))).unwrap();
        let before = repo.branch("main").unwrap().unwrap();
        let opts = RewriteOptions { dry_run: true, ..RewriteOptions::default() };
        let out = repo.rewrite(&ForgetScope::Branch("main".into()), &opts, &mut without_secret).unwrap();
        let removed: Vec<u64> = out.branches[0].commits.iter().map(|c| c.removed).collect();
        assert_eq!(removed, [0, 1]);
        let after = repo.branch("main").unwrap().unwrap();
        assert_eq!((after.seq, after.head), (before.seq, before.head));
        assert!(repo.rewritten().unwrap().is_empty());
    }
}
