//! Copying history in from another repository (design.md, *Copying between repositories*): commits written with
//! the header they had there (message, time, host, metadata, parent structure) and the id they had there, branches
//! moved forward one copied commit at a time.

use super::commits::{lost_swap, Commit};
use super::gc::ClaimToken;
use super::{CommitInfo, IndexRoots, Repository};
use crate::engine::id::CommitId;
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use std::collections::BTreeMap;

/// Policy text of the forget run that lists copies of commits forgotten where they were copied from.
pub const COPIED_FORGOTTEN: &str = "forgotten in the repository it was copied from";

/// Writes copies of another repository's commits into this one (see [`Repository::importer`]). Everything it
/// writes stays claimed against gc until [`Importer::finish`] (or until it is dropped).
pub struct Importer<'a> {
    repo: &'a Repository,
    claim: ClaimToken,
    released: bool,
}

impl Repository {
    /// Start copying commits of another repository into this one. A full key is needed.
    pub fn importer(&self) -> Result<Importer<'_>> {
        self.refuse_write_only("copy commits in")?;
        Ok(Importer { repo: self, claim: ClaimToken::new(), released: false })
    }
}

impl Importer<'_> {
    /// Write the copy of `source` (a commit of another repository): its message, time, host and metadata, with
    /// `parents` (the copies of its parents, in order) and `index` (its state, built here on the copy of its first
    /// parent, `parent`), recording `source`'s id as where it was copied from. What it points into is claimed
    /// (traced through `fields`, beyond `parent`) before this returns; no branch moves (see
    /// [`Importer::advance`]). With `forgotten`, the copy is listed as forgotten here (its `index` should be its
    /// parent's: the original's state no longer exists).
    pub fn commit(
        &self,
        source: &CommitInfo,
        parents: Vec<ChunkPointer>,
        index: IndexRoots,
        parent: Option<&CommitInfo>,
        fields: &dyn crate::engine::fields::Index,
        forgotten: bool,
    ) -> Result<CommitInfo> {
        let s = &source.commit;
        let commit = Commit {
            parents,
            index,
            message: s.message.clone(),
            time: s.time,
            host: s.host.clone(),
            metadata: s.metadata.clone(),
            delta: BTreeMap::new(),
            writer: None,
            copied_from: Some(Box::new(source.id())),
        };
        let ptr = self.repo.write_commit(&commit)?;
        self.repo.store.flush()?;
        let info = CommitInfo { ptr, commit };
        if forgotten {
            // Listed before any branch can reach it: the copy never reads as a state it did not have.
            self.repo.forget_copied(info.id(), COPIED_FORGOTTEN)?;
        }
        self.repo.claim_packs(self.claim, Some(ptr), &|each| {
            each(&ptr)?;
            if forgotten {
                return Ok(());
            }
            self.repo.trace_commit(fields, &info, parent, &mut |p, _| each(p)).map(|_| ())
        })?;
        Ok(info)
    }

    /// Move branch `name` from `from` (`None`: it does not exist) to `to`. Another writer that moved it meanwhile
    /// makes this a [`Error::Conflict`]: nothing is overwritten.
    pub fn advance(&self, name: &str, from: Option<&ChunkPointer>, to: &ChunkPointer) -> Result<()> {
        let mut attempt = 0u32;
        loop {
            let cur = self.repo.branch(name)?;
            if cur.as_ref().map(|b| b.head.id) != from.map(|p| p.id) {
                return Err(Error::Conflict {
                    what: format!("branch {name} of the target changed while it was being copied into"),
                });
            }
            if self.repo.swap_branch(name, cur.as_ref(), to)?.is_some() {
                return Ok(());
            }
            lost_swap(name, &mut attempt)?;
        }
    }

    /// Release the claim on what was written (every branch that reaches it has moved).
    pub fn finish(mut self) -> Result<()> {
        self.released = true;
        self.repo.release_claim(self.claim)
    }
}

impl Drop for Importer<'_> {
    fn drop(&mut self) {
        if !self.released {
            // Best effort: a claim left behind only keeps packs from gc until a gc run finds its commit reachable.
            let _ = self.repo.release_claim(self.claim);
        }
    }
}

/// The copies this repository holds of another's commits: the id each original had there -> the copy, found by
/// walking back from every branch head and every tagged commit.
pub fn copies(repo: &Repository) -> Result<std::collections::HashMap<CommitId, CommitInfo>> {
    let mut out = std::collections::HashMap::new();
    let mut seen = std::collections::HashSet::new();
    let mut stack: Vec<ChunkPointer> = repo.roots()?.into_iter().map(|b| b.head).collect();
    while let Some(p) = stack.pop() {
        if !seen.insert(p.id) {
            continue;
        }
        let c = repo.read_commit(&p)?;
        stack.extend(c.commit.parents.iter().copied());
        if let Some(origin) = c.copied_from() {
            out.entry(origin).or_insert(c);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::meta::cbor;
    use super::*;

    #[test]
    fn only_a_copy_encodes_copied_from_and_it_reads_back() {
        let plain = Commit {
            parents: Vec::new(),
            index: IndexRoots::new(),
            message: "m".into(),
            time: 1,
            host: "h".into(),
            metadata: None,
            delta: BTreeMap::new(),
            writer: None,
            copied_from: None,
        };
        let has = |b: &[u8]| b.windows(11).any(|w| w == b"copied_from");
        assert!(!has(&cbor(&plain)), "a commit that is not a copy encodes as before");
        let copy = Commit { copied_from: Some(Box::new(CommitId([7; 32]))), ..plain.clone() };
        let bytes = cbor(&copy);
        assert!(has(&bytes));
        let back: Commit = ciborium::from_reader(bytes.as_slice()).unwrap();
        assert_eq!(back, copy);
        // A reader of the encoding without the field (as before) reads a copy's encoding too: unknown keys skipped.
        let old: Commit = ciborium::from_reader(cbor(&plain).as_slice()).unwrap();
        assert_eq!(old.copied_from, None);
    }
}
