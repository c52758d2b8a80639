//! Rescuing a rolled-back branch: put back the last head a reader saw ([`Repository::restore_ref`]), and say what
//! accepting the rollback instead abandons ([`Repository::abandoned`]).
//!
//! A reader that watches refs (a workspace, see [`super::seen`]) refuses a branch whose ref went back, vanished or
//! was replaced. It then holds the only record of the newer head. Restoring moves the ref *forward* to a new
//! sequence number whose head is that last seen head, by compare-and-swap, after checking that the head's commits
//! and every chunk they reach are still stored (gc run by someone who did not see the newer head may have deleted
//! them). Only a pure rollback is restored: a branch whose current head is not an ancestor of the seen head moved
//! on since (commits made on the rolled-back state), and restoring would abandon those, so it is refused.

use super::Repository;
use super::{Branch, SeenRef};
use crate::engine::fields::Index;
use crate::engine::id::ObjectId;
use crate::engine::object::{forward::Forwards, object_name, parse_object_name, ChunkPointer};
use crate::engine::{Error, Result};
use std::collections::HashSet;

/// Commits [`Repository::abandoned`] walks at most.
const MAX_WALK: u64 = 1_000_000;

/// What [`Repository::restore_ref`] did.
#[derive(Clone, Debug)]
pub struct Restored {
    /// The branch now: its head is the restored one, at a new sequence number.
    pub branch: Branch,
    /// The ref as it was before (`None`: absent), the rolled-back state.
    pub was: Option<SeenRef>,
    /// Commits of the restored head's history that the rolled-back ref did not hold, checked and back on the branch.
    pub commits: u64,
}

/// Commits an accepted rollback leaves on no branch (see [`Repository::abandoned`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abandoned {
    /// How many commits.
    pub commits: u64,
    /// Whether the count is exact: `false` when the walk met a commit it could not read (already collected) or hit
    /// its bound, so there may be more.
    pub exact: bool,
}

impl Repository {
    /// Put back branch `name`'s last head this reader saw, after its ref went back, vanished or was replaced by an
    /// older state (see the module documentation). Needs the last seen states ([`Repository::watch_refs`]).
    ///
    /// Refuses, changing nothing: with [`Error::Invalid`] when there is nothing to restore (the branch was never
    /// seen, was last seen deleted, or its ref is not refused); with [`Error::Conflict`] when the branch moved on
    /// since the rollback or changed meanwhile; with [`Error::NotFound`] or an integrity error naming what is
    /// missing or damaged when the seen head's commits or the chunks they reach are no longer stored. The fields
    /// of every commit are traced through `index`.
    pub fn restore_ref(&self, name: &str, index: &dyn Index) -> Result<Restored> {
        let nothing = |why: String| Error::Invalid(format!("nothing to restore of branch {name}: {why}"));
        let Some(judged) = self.judge_ref(name)? else {
            return Err(nothing("this workspace never saw it".into()));
        };
        let seen = judged.seen;
        if seen.deleted {
            return Err(nothing(format!("this workspace last saw it deleted (sequence {})", seen.seq)));
        }
        if judged.refused.is_none() {
            return Err(nothing(format!(
                "its ref is not rolled back (this workspace last saw sequence {}, commit {})",
                seen.seq,
                short(&seen.head)
            )));
        }
        let was = judged.now.as_ref().map(|s| s.state());
        let base = was.as_ref().filter(|w| !w.deleted).map(|w| w.head);
        // The restored head must descend from the current one: otherwise commits made since would be lost.
        if let Some(b) = &base {
            let on_history = self.descends_from(&seen.head, b, seen.seq).map_err(|e| cannot(name, e))?;
            if !on_history {
                return Err(Error::Conflict {
                    what: format!(
                        "cannot restore branch {name}: it moved on since it was rolled back (now at commit {}, not \
                         an ancestor of commit {}, the last one this workspace saw); restoring would abandon those \
                         commits. Nothing was changed",
                        short(b),
                        short(&seen.head)
                    ),
                });
            }
        }
        let commits = self.verify_history(&seen.head, base.as_ref(), index).map_err(|e| cannot(name, e))?;
        let seq = seen
            .seq
            .max(was.as_ref().map_or(0, |w| w.seq))
            .checked_add(1)
            .ok_or_else(|| Error::integrity("ref sequence number exhausted"))?;
        // The seen head may be reachable from no root now (the rollback abandoned it), so gc may be deleting what
        // it reaches: claimed before the ref is written, as for any new root at an existing commit.
        self.with_root_claimed(&seen.head, index, || {
            match self.write_restored(name, judged.now.as_ref(), &seen.head, seq)? {
                Some(branch) => Ok(Restored { branch, was, commits }),
                None => Err(Error::Conflict {
                    what: format!("branch {name} changed while being restored; nothing was changed, try again"),
                }),
            }
        })
    }

    /// Check that every commit from `head` back to `base` (exclusive; `None`: to the first commit) is stored and
    /// that every chunk their fields reach is in a stored pack (directly or through a forwarding table). Returns how
    /// many commits were checked.
    fn verify_history(&self, head: &ChunkPointer, base: Option<&ChunkPointer>, index: &dyn Index) -> Result<u64> {
        let listed: HashSet<ObjectId> =
            self.backend().list("objects/")?.iter().filter_map(|o| parse_object_name(&o.name)).collect();
        let (state, _) = super::gc::read_gc_state(self.backend(), self.store().keys())?;
        let forwards = Forwards::load_all(self.backend(), self.store().keys(), &state.forwarded)?;
        let present = |p: &ChunkPointer| -> Result<()> {
            let at = forwards.resolve(p, &mut |_| {})?;
            if listed.contains(&at.object) {
                Ok(())
            } else {
                Err(Error::not_found(format!("object {} (chunk {}) is gone", object_name(&at.object), at.id)))
            }
        };
        let mut n = 0;
        let mut at = Some(*head);
        while let Some(p) = at {
            if base.is_some_and(|b| b.id == p.id) {
                break;
            }
            present(&p).map_err(|e| in_commit(&p, e))?;
            let c = self.read_commit(&p).map_err(|e| in_commit(&p, e))?;
            let parent = match c.commit.parents.first() {
                Some(pp) => Some(self.read_commit(pp).map_err(|e| in_commit(pp, e))?),
                None => None,
            };
            self.trace_commit(index, &c, parent.as_ref(), &mut |q, _| present(q)).map_err(|e| in_commit(&p, e))?;
            n += 1;
            at = c.commit.parents.first().copied();
        }
        Ok(n)
    }

    /// How many commits going from `from` (a head given up) to `to` (the head kept; `None`: no branch) leaves on no
    /// branch: `from` and its first-parent ancestors down to the first one that `to` has among its own. Those are
    /// what garbage collection will collect (unless another branch holds them).
    pub fn abandoned(&self, from: &ChunkPointer, to: Option<&ChunkPointer>) -> Result<Abandoned> {
        let mut kept = HashSet::new();
        let mut exact = true;
        let mut at = to.copied();
        while let Some(p) = at {
            if kept.len() as u64 >= MAX_WALK {
                exact = false;
                break;
            }
            kept.insert(p.id);
            at = match self.read_commit(&p) {
                Ok(c) => c.commit.parents.first().copied(),
                Err(_) => None,
            };
        }
        let mut commits = 0;
        let mut at = Some(*from);
        while let Some(p) = at {
            if kept.contains(&p.id) {
                return Ok(Abandoned { commits, exact });
            }
            if commits >= MAX_WALK {
                return Ok(Abandoned { commits, exact: false });
            }
            commits += 1;
            at = match self.read_commit(&p) {
                Ok(c) => c.commit.parents.first().copied(),
                Err(_) => return Ok(Abandoned { commits, exact: false }),
            };
        }
        Ok(Abandoned { commits, exact })
    }
}

fn short(p: &ChunkPointer) -> String {
    p.id.to_hex()[..10].to_string()
}

/// `e`, found checking commit `p`'s history, said of that commit.
fn in_commit(p: &ChunkPointer, e: Error) -> Error {
    let at = format!("commit {}", short(p));
    match e {
        Error::NotFound { what } => Error::NotFound { what: format!("{at}: {what}") },
        Error::Integrity { what, source } => Error::Integrity { what: format!("{at}: {what}"), source },
        Error::Backend(b) if b.is_not_found() => Error::NotFound { what: format!("{at}: {b}") },
        e => e,
    }
}

/// `e`, the reason branch `name` cannot be restored, said so.
fn cannot(name: &str, e: Error) -> Error {
    let why = format!("cannot restore branch {name} to the last head this workspace saw (nothing was changed)");
    match e {
        Error::NotFound { what } => Error::NotFound { what: format!("{why}: {what}") },
        Error::Integrity { what, source } => Error::Integrity { what: format!("{why}: {what}"), source },
        Error::Backend(b) if b.is_not_found() => Error::NotFound { what: format!("{why}: {b}") },
        e => e,
    }
}
