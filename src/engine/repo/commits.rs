//! Commits: immutable snapshots of an index's field roots, the compare-and-swap commit loop, and history walks.

use super::meta::cbor;
use super::Repository;
use crate::engine::crypto::{hostname, now_secs, Kind};
use crate::engine::id::CommitId;
use crate::engine::limits::{COMMIT_MAX, MESSAGE_MAX, ROOT_MAX};
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};

/// Attempts [`Repository::commit`] makes before giving up on a branch that keeps moving.
pub const MAX_COMMIT_ATTEMPTS: u32 = 200;

/// The roots of an index's fields at one commit: field name -> the field's encoded root.
pub type IndexRoots = BTreeMap<String, serde_bytes::ByteBuf>;

/// A commit: an immutable snapshot of an index.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Commit {
    /// Parent commits (none for the first, two or more never yet: merges are linearised).
    pub parents: Vec<ChunkPointer>,
    /// The index's field roots.
    pub index: IndexRoots,
    /// Commit message.
    pub message: String,
    /// Seconds since the epoch.
    pub time: u64,
    /// Host that made it.
    pub host: String,
    /// Metadata of the program's own (the seed's `CustomData`): the CBOR of any serde value, sealed with the
    /// commit. Absent from the encoding when there is none, so commits without it encode as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_bytes::ByteBuf>,
    /// A write-only key's commit: for each field it changed, the index chunks of its changes (`[[key, stored value
    /// or null], ...]` in key order), applied on top of the first parent's state (see docs/design.md, *Write-only
    /// keys*). Empty (and absent from the encoding) for any other commit; `index` is then empty.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub delta: BTreeMap<String, Vec<ChunkPointer>>,
    /// The name of the write-only key that made the commit (what it says: sealed, not signed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub writer: Option<String>,
    /// A commit copied from another repository (see [`Repository::importer`]): the id the commit has there.
    /// Absent from the encoding for any other commit. (Boxed: most commits have none.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copied_from: Option<Box<CommitId>>,
}

/// A commit with where it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Pointer to the commit chunk (its chunk id is the commit id).
    pub ptr: ChunkPointer,
    /// The commit.
    pub(crate) commit: Commit,
}

impl CommitInfo {
    /// The commit's id.
    pub fn id(&self) -> CommitId {
        CommitId(self.ptr.id.0)
    }

    /// The parents' ids (none for a first commit).
    pub fn parent_ids(&self) -> Vec<CommitId> {
        self.commit.parents.iter().map(ChunkPointer::commit_id).collect()
    }

    /// The parents' pointers, in order (none for a first commit).
    pub fn parent_pointers(&self) -> &[ChunkPointer] {
        &self.commit.parents
    }

    /// The commit message.
    pub fn message(&self) -> &str {
        &self.commit.message
    }

    /// When it was made, in seconds since the Unix epoch.
    pub fn time(&self) -> u64 {
        self.commit.time
    }

    /// The host that made it.
    pub fn host(&self) -> &str {
        &self.commit.host
    }

    /// The program's own metadata stored with the commit (see
    /// [`CommitOptions::metadata`](crate::engine::db::CommitOptions::metadata)), decoded as `T`; `None` when the
    /// commit has none. A type that does not match what was stored is [`Error::Invalid`].
    pub fn metadata<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>> {
        let Some(m) = &self.commit.metadata else { return Ok(None) };
        ciborium::from_reader(m.as_slice()).map(Some).map_err(|e| {
            Error::Invalid(format!("commit {}'s metadata does not decode as the type asked for: {e}", self.id()))
        })
    }

    /// The write-only key that made the commit, if one did (its name, as the key itself recorded it).
    pub fn writer(&self) -> Option<&str> {
        self.commit.writer.as_deref()
    }

    /// Whether the commit is a write-only key's: its state is its parent's with its changes applied.
    pub fn is_delta(&self) -> bool {
        !self.commit.delta.is_empty() || self.commit.writer.is_some()
    }

    /// The id this commit has in the repository it was copied from (see [`Repository::importer`]), if it is a copy.
    pub fn copied_from(&self) -> Option<CommitId> {
        self.commit.copied_from.as_deref().copied()
    }

    /// The raw CBOR of the commit's metadata, if any.
    pub fn metadata_bytes(&self) -> Option<&[u8]> {
        self.commit.metadata.as_deref().map(|b| b.as_slice())
    }
}

/// After a lost compare-and-swap of `branch`'s ref: count the attempt, give up after [`MAX_COMMIT_ATTEMPTS`]
/// (nothing was published), else back off a little with jitter so racing writers spread out.
pub(super) fn lost_swap(branch: &str, attempt: &mut u32) -> Result<()> {
    *attempt += 1;
    if *attempt >= MAX_COMMIT_ATTEMPTS {
        return Err(Error::Conflict {
            what: format!("branch {branch} kept changing: gave up after {attempt} attempts; nothing was lost"),
        });
    }
    let ms = rand::random::<u64>() % (5 * u64::from((*attempt).min(40)) + 1);
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(())
}

impl Repository {
    /// Store a commit (durable at the next flush). Returns its pointer. A commit over [`COMMIT_MAX`], or with a
    /// field root over [`ROOT_MAX`], is refused before anything is written.
    pub(crate) fn write_commit(&self, commit: &Commit) -> Result<ChunkPointer> {
        for (name, root) in &commit.index {
            if root.len() > ROOT_MAX {
                return Err(Error::too_large(format!("the root of field {name}"), root.len(), ROOT_MAX));
            }
        }
        let bytes = cbor(commit);
        if bytes.len() > COMMIT_MAX {
            return Err(Error::too_large(
                "the commit (its field roots, message and metadata)",
                bytes.len(),
                COMMIT_MAX,
            ));
        }
        self.store.put_chunk(Kind::Commit, &bytes)
    }

    /// Load the first parent of `commit` (`None` for a first commit).
    pub fn first_parent(&self, commit: &CommitInfo) -> Result<Option<CommitInfo>> {
        commit.commit.parents.first().map(|p| self.read_commit(p)).transpose()
    }

    /// The index roots of a commit's state: its own, or for a write-only key's commit, its parent's state with its
    /// changes applied (folded; the nodes are built in memory, and stored only if a commit on top stores them).
    pub fn state<'a>(&self, c: &'a CommitInfo) -> Result<std::borrow::Cow<'a, IndexRoots>> {
        if !c.is_delta() {
            return Ok(std::borrow::Cow::Borrowed(&c.commit.index));
        }
        if let Some(r) = self.folds.lock().expect("folds lock").get(&c.ptr.id) {
            return Ok(std::borrow::Cow::Owned(r.clone()));
        }
        // The writer commits down to the nearest commit with a state of its own (or one folded before).
        let mut chain = vec![c.clone()];
        let mut roots = IndexRoots::new();
        while let Some(p) = chain.last().and_then(|l| l.commit.parents.first()).copied() {
            if let Some(r) = self.folds.lock().expect("folds lock").get(&p.id) {
                roots = r.clone();
                break;
            }
            let pc = self.read_commit(&p)?;
            if !pc.is_delta() {
                roots = pc.commit.index;
                break;
            }
            chain.push(pc);
        }
        for w in chain.iter().rev() {
            roots = self.apply_delta(roots, w)?;
            self.folds.lock().expect("folds lock").insert(w.ptr.id, roots.clone());
        }
        Ok(std::borrow::Cow::Owned(roots))
    }

    /// `roots` with the changes of write-only commit `w` applied, field by field.
    fn apply_delta(&self, mut roots: IndexRoots, w: &CommitInfo) -> Result<IndexRoots> {
        let nodes = &*self.store as &dyn crate::engine::tree::NodeStore;
        for (field, chunks) in &w.commit.delta {
            let mut root = crate::engine::fields::decode_root(roots.get(field).map(|b| b.as_slice()))?;
            for p in chunks {
                let changes = self.read_delta(p)?;
                root = crate::engine::tree::apply(nodes, root, changes)
                    .map_err(|e| Error::integrity(format!("commit {}: a change of field {field}: {e}", w.id())))?;
            }
            let mut out = Vec::new();
            ciborium::into_writer(&root, &mut out).expect("CBOR encoding into memory cannot fail");
            roots.insert(field.clone(), serde_bytes::ByteBuf::from(out));
        }
        Ok(roots)
    }

    /// The changes stored in one delta chunk of a write-only key's commit.
    pub(crate) fn read_delta(&self, p: &ChunkPointer) -> Result<crate::engine::fields::Changes> {
        let bytes = self.store.get_chunk(Kind::Index, p)?;
        let changes: Vec<(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)> =
            ciborium::from_reader(bytes.as_slice()).map_err(|e| Error::corrupt(format!("delta chunk {}", p.id), e))?;
        Ok(changes.into_iter().map(|(k, v)| (k.into_vec(), v.map(|v| v.into_vec()))).collect())
    }

    /// A write-only key's commit of what `index`'s fields staged onto `branch` (see docs/design.md, *Write-only
    /// keys*): the changes are stored as sealed delta chunks, and the commit is made on whatever head the branch
    /// has (never read: the key cannot). `claimed` are packs the staged values were written into beforehand (by
    /// earlier processes): they are claimed with everything this store wrote. [`Error::NothingToCommit`] when
    /// nothing is staged and `allow_empty` is false.
    pub fn commit_delta(
        &self,
        branch: &str,
        message: &str,
        metadata: Option<&[u8]>,
        index: &dyn crate::engine::fields::Index,
        claimed: &[crate::engine::id::ObjectId],
        allow_empty: bool,
    ) -> Result<CommitInfo> {
        let Some(writer) = self.writer.clone() else {
            return Err(Error::Invalid("a delta commit is a write-only key's".into()));
        };
        Self::check_branch_name(branch)?;
        if message.len() > MESSAGE_MAX {
            return Err(Error::too_large("the commit message", message.len(), MESSAGE_MAX));
        }
        // The deltas, and every pointer their values hold.
        let mut delta: BTreeMap<String, Vec<ChunkPointer>> = BTreeMap::new();
        let mut pointers: Vec<ChunkPointer> = Vec::new();
        {
            let mut visit = |p: &ChunkPointer, _: Option<&[u8]>| {
                pointers.push(*p);
                Ok(())
            };
            let mut tracer = crate::engine::fields::Tracer::new(&self.store, &mut visit);
            for (name, field) in index.fields() {
                let mut chunks = Vec::new();
                let mut emit = |batch: Vec<(Vec<u8>, Option<Vec<u8>>)>| -> Result<()> {
                    let batch: Vec<(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)> = batch
                        .into_iter()
                        .map(|(k, v)| (serde_bytes::ByteBuf::from(k), v.map(serde_bytes::ByteBuf::from)))
                        .collect();
                    chunks.push(self.store.put_chunk(Kind::Index, &cbor(&batch))?);
                    Ok(())
                };
                if field.write_delta(&self.store, &mut tracer, &mut emit)? {
                    delta.insert(name.to_string(), chunks);
                }
            }
        }
        if delta.is_empty() && !allow_empty {
            return Err(Error::NothingToCommit);
        }
        pointers.extend(delta.values().flatten().copied());
        let claim = super::gc::ClaimToken::new();
        let r = self.delta_attempts(branch, message, metadata, &writer, &delta, &pointers, claimed, claim);
        let _ = self.release_claim(claim);
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn delta_attempts(
        &self,
        branch: &str,
        message: &str,
        metadata: Option<&[u8]>,
        writer: &str,
        delta: &BTreeMap<String, Vec<ChunkPointer>>,
        pointers: &[ChunkPointer],
        claimed: &[crate::engine::id::ObjectId],
        claim: super::gc::ClaimToken,
    ) -> Result<CommitInfo> {
        let mut attempt = 0u32;
        loop {
            let current = self.read_stored(branch)?;
            let head = current.as_ref().and_then(|s| s.live_head());
            let commit = Commit {
                parents: head.into_iter().collect(),
                index: IndexRoots::new(),
                message: message.to_string(),
                time: now_secs(),
                host: hostname(),
                metadata: metadata.map(|m| serde_bytes::ByteBuf::from(m.to_vec())),
                delta: delta.clone(),
                writer: Some(writer.to_string()),
                copied_from: None,
            };
            let ptr = self.write_commit(&commit)?;
            self.store.flush()?;
            // It cannot trace what its commit reaches beyond the head (it cannot read either): it claims every pack
            // its values point into, its delta chunks, and every pack it wrote.
            let mut packs: Vec<crate::engine::id::ObjectId> = self.store.written_packs();
            packs.extend_from_slice(claimed);
            self.claim_packs(claim, Some(ptr), &|each| {
                each(&ptr)?;
                for p in pointers {
                    each(p)?;
                }
                // A whole pack: a pointer of length 0 (see `resolve_claimed`).
                for o in &packs {
                    each(&ChunkPointer { object: *o, offset: 0, len: 0, id: crate::engine::id::ChunkId([0; 32]) })?;
                }
                Ok(())
            })?;
            if self.move_ref(branch, current.as_ref(), &ptr)?.is_some() {
                return Ok(CommitInfo { ptr, commit });
            }
            lost_swap(branch, &mut attempt)?;
        }
    }

    /// Load a commit.
    pub fn read_commit(&self, ptr: &ChunkPointer) -> Result<CommitInfo> {
        Self::decode_commit(ptr, &self.store.get_chunk(Kind::Commit, ptr)?)
    }

    /// Load a commit whose index is read next (a view of it): like [`Repository::read_commit`], but from a remote
    /// backend a cold read brings the bytes before the commit in its pack too, where its index's root and the
    /// nodes written last are, saving the walk that follows a round trip or more.
    pub fn read_commit_to_view(&self, ptr: &ChunkPointer) -> Result<CommitInfo> {
        Self::decode_commit(ptr, &self.store.get_commit_reading_behind(ptr)?)
    }

    fn decode_commit(ptr: &ChunkPointer, bytes: &[u8]) -> Result<CommitInfo> {
        let commit = ciborium::from_reader(bytes).map_err(|e| Error::corrupt(format!("commit {}", ptr.id), e))?;
        Ok(CommitInfo { ptr: *ptr, commit })
    }

    /// Commit onto `branch` with a compare-and-swap loop.
    ///
    /// `build(parent)` returns the new index roots on top of `parent` (the branch head now, `None` for a new
    /// branch); it is called again with the new head whenever another writer moved the branch meanwhile, and may
    /// fail with [`Error::MergeConflict`] when its changes cannot be merged. Returns the new commit.
    pub fn commit(
        &self,
        branch: &str,
        message: &str,
        build: &mut dyn FnMut(Option<&CommitInfo>) -> Result<IndexRoots>,
    ) -> Result<CommitInfo> {
        self.commit_on(branch, message, None, None, build)
    }

    /// [`Repository::commit`] of changes made on `base`: when the branch does not exist (deleted, or its ref
    /// gone), the commit builds on `base` and creates the branch again, so a branch with history never starts over
    /// from nothing.
    ///
    /// Before the ref swap, the commit claims (see [`Repository::claim_packs`]) every pack its new commit points
    /// into beyond its parent — traced through `fields`; without them, only the commit's own pack — so that gc
    /// deletes nothing a commit is about to publish; the claim is removed once the swap is won or the commit
    /// fails.
    pub(crate) fn commit_on(
        &self,
        branch: &str,
        message: &str,
        base: Option<&CommitInfo>,
        fields: Option<&dyn crate::engine::fields::Index>,
        build: &mut dyn FnMut(Option<&CommitInfo>) -> Result<IndexRoots>,
    ) -> Result<CommitInfo> {
        self.commit_on_with(branch, message, None, None, None, base, fields, build)
    }

    /// [`Repository::commit_on`] recording `metadata` (CBOR) in the commit, and `time` instead of the clock's; with
    /// `merged`, a merge commit: `merged` is its second parent (the first is always the branch's head).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn commit_on_with(
        &self,
        branch: &str,
        message: &str,
        metadata: Option<&[u8]>,
        time: Option<u64>,
        merged: Option<&ChunkPointer>,
        base: Option<&CommitInfo>,
        fields: Option<&dyn crate::engine::fields::Index>,
        build: &mut dyn FnMut(Option<&CommitInfo>) -> Result<IndexRoots>,
    ) -> Result<CommitInfo> {
        Self::check_branch_name(branch)?;
        if message.len() > MESSAGE_MAX {
            return Err(Error::too_large("the commit message", message.len(), MESSAGE_MAX));
        }
        // One claim for every attempt, grown by each, removed once the commit is published or has failed. One left
        // behind (the process died, the store kept failing) only keeps packs from gc: a gc run drops it once it
        // finds the commit reachable (or `gc --drop-claims`).
        let claim = super::gc::ClaimToken::new();
        let r = self.commit_attempts(branch, message, metadata, time, merged, base, fields, build, claim);
        let _ = self.release_claim(claim);
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn commit_attempts(
        &self,
        branch: &str,
        message: &str,
        metadata: Option<&[u8]>,
        time: Option<u64>,
        merged: Option<&ChunkPointer>,
        base: Option<&CommitInfo>,
        fields: Option<&dyn crate::engine::fields::Index>,
        build: &mut dyn FnMut(Option<&CommitInfo>) -> Result<IndexRoots>,
        claim: super::gc::ClaimToken,
    ) -> Result<CommitInfo> {
        // A merge commit's second parent may be a commit no root reaches any more (a deleted branch's, by id): the
        // merge makes its whole history reachable, so it claims all of it, as a tag does (design.md, *Commits and
        // gc*). Without fields to trace, only that commit is claimed.
        let merged_live = match (merged, fields) {
            (Some(m), Some(fields)) => self.root_pointers(m, fields)?,
            _ => Default::default(),
        };
        // One attempt on the branch's ref `current`: the new commit, or `None` when the ref moved meanwhile.
        let mut once = |current: Option<&super::refs::Stored>| -> Result<Option<CommitInfo>> {
            let parent = match current.and_then(|s| s.live_head()) {
                Some(head) => Some(self.read_commit(&head)?),
                None => base.cloned(),
            };
            let index = build(parent.as_ref())?;
            let commit = Commit {
                parents: parent.iter().map(|p| p.ptr).chain(merged.copied()).collect(),
                index,
                message: message.to_string(),
                time: time.unwrap_or_else(now_secs),
                host: hostname(),
                metadata: metadata.map(|m| serde_bytes::ByteBuf::from(m.to_vec())),
                delta: BTreeMap::new(),
                writer: None,
                copied_from: None,
            };
            let ptr = self.write_commit(&commit)?;
            // Durable first, then claimed (a claim checks that every pack exists), then published.
            self.store.flush()?;
            let info = CommitInfo { ptr, commit };
            self.claim_packs(claim, Some(info.ptr), &|each| {
                each(&info.ptr)?;
                // A merge commit's second parent, and everything its history reaches.
                if let Some(m) = merged {
                    each(m)?;
                }
                merged_live.iter().try_for_each(&mut *each)?;
                match fields {
                    Some(fields) => self.trace_commit(fields, &info, parent.as_ref(), &mut |p, _| each(p)).map(|_| ()),
                    None => Ok(()),
                }
            })?;
            Ok(self.move_ref(branch, current, &ptr)?.map(|_| info))
        };
        let mut attempt = 0u32;
        // The first attempt builds on the ref as this process read it moments ago, if it did (see `refs::Known`).
        let mut known = self.refs_known.recent(branch);
        loop {
            let from_known = known.is_some();
            // The ref as stored: a deleted branch's marker is replaced by the value that creates it again.
            let current = match known.take() {
                Some(k) => k,
                None => self.read_stored(branch)?,
            };
            match once(current.as_ref()) {
                Ok(Some(info)) => return Ok(info),
                Ok(None) => lost_swap(branch, &mut attempt)?,
                // Judged on the ref as read before: read it, and judge again.
                Err(_) if from_known => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Commits reachable from `start`, newest first by breadth (first parents first), at most `limit`.
    pub fn log(&self, start: &ChunkPointer, limit: usize) -> Result<Vec<CommitInfo>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([*start]);
        while let Some(p) = queue.pop_front() {
            if out.len() >= limit {
                break;
            }
            if !seen.insert(p.id) {
                continue;
            }
            let c = self.read_commit(&p)?;
            queue.extend(c.commit.parents.iter().copied());
            out.push(c);
        }
        Ok(out)
    }

    /// Commits of `start`'s first-parent history, newest first, at most `limit`: a merge commit is listed, the
    /// history it merged (reachable only through its other parents) is not.
    pub fn first_parent_log(&self, start: &ChunkPointer, limit: usize) -> Result<Vec<CommitInfo>> {
        let mut out = Vec::new();
        let mut at = Some(*start);
        while let Some(p) = at.filter(|_| out.len() < limit) {
            let c = self.read_commit(&p)?;
            at = c.commit.parents.first().copied();
            out.push(c);
        }
        Ok(out)
    }

    /// Whether `ancestor` is `of` or reachable from it through any parents.
    pub fn is_ancestor(&self, ancestor: &ChunkPointer, of: &ChunkPointer) -> Result<bool> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([*of]);
        while let Some(p) = queue.pop_front() {
            if p.id == ancestor.id {
                return Ok(true);
            }
            if seen.insert(p.id) {
                queue.extend(self.read_commit(&p)?.commit.parents);
            }
        }
        Ok(false)
    }

    /// The nearest common ancestor of two commits, if any.
    pub fn merge_base(&self, a: &ChunkPointer, b: &ChunkPointer) -> Result<Option<ChunkPointer>> {
        // Breadth-first from both sides at once; the first commit seen from both is the nearest common one.
        let mut seen = [HashSet::new(), HashSet::new()];
        let mut queues = [VecDeque::from([*a]), VecDeque::from([*b])];
        while queues.iter().any(|q| !q.is_empty()) {
            for side in 0..2 {
                if let Some(p) = queues[side].pop_front() {
                    if seen[1 - side].contains(&p.id) {
                        return Ok(Some(p));
                    }
                    if seen[side].insert(p.id) {
                        queues[side].extend(self.read_commit(&p)?.commit.parents);
                    }
                }
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Error;

    /// Bounded behaviour against an unlucky schedule: a branch that never stops moving ends in a conflict after
    /// [`MAX_COMMIT_ATTEMPTS`] rebuilds, never in a loop without end.
    #[test]
    fn commit_gives_up_on_a_branch_that_never_stops_moving() {
        let (repo, other) = crate::engine::repo::tests::two_processes();
        repo.commit("main", "base", &mut |_| Ok(IndexRoots::new())).unwrap();
        let mut calls = 0u32;
        // Another writer moves the branch between every read of the head and every swap.
        let r = repo.commit("main", "mine", &mut |_| {
            calls += 1;
            other.commit("main", "theirs", &mut |_| Ok(IndexRoots::new())).unwrap();
            Ok(IndexRoots::new())
        });
        assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
        assert_eq!(calls, MAX_COMMIT_ATTEMPTS);
    }

    /// A commit's first attempt builds on the branch's ref as this process read it moments before, without reading
    /// it again: when another writer moved the branch since, the swap fails and the next attempt reads the ref and
    /// builds on the other's commit; when the ref as read leads nowhere (its head does not read), the ref is read
    /// again rather than the commit failing.
    #[test]
    fn a_commit_on_a_ref_read_before_rebuilds_on_the_ref_as_it_is() {
        let (repo, other) = crate::engine::repo::tests::two_processes();
        let base = repo.commit("main", "base", &mut |_| Ok(IndexRoots::new())).unwrap();
        assert_eq!(repo.branch("main").unwrap().unwrap().head, base.ptr);
        let theirs = other.commit("main", "theirs", &mut |_| Ok(IndexRoots::new())).unwrap();
        let mut built_on = Vec::new();
        let mine = repo
            .commit("main", "mine", &mut |p| {
                built_on.push(p.map(|c| c.ptr));
                Ok(IndexRoots::new())
            })
            .unwrap();
        assert_eq!(built_on, vec![Some(base.ptr), Some(theirs.ptr)], "first on the ref as read, then as it is");
        assert_eq!(mine.commit.parents, vec![theirs.ptr]);

        let stored = repo.read_stored("main").unwrap().unwrap();
        let mut nowhere = mine.ptr;
        nowhere.object = crate::engine::id::ObjectId([9; 32]);
        repo.refs_known.note("main", Some(&stored.with_head(nowhere)));
        let next = repo.commit("main", "next", &mut |_| Ok(IndexRoots::new())).unwrap();
        assert_eq!(next.commit.parents, vec![mine.ptr]);
    }
}
