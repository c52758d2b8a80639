//! Branch refs: sealed, named by a keyed hash of the branch name, replaced only by compare-and-swap.
//!
//! A ref's sealed payload holds the branch name, its head, a sequence number (1 when the ref is first written, one
//! more on every change), the head it replaced, the sequence number at which the branch was (re)created, and
//! whether the branch is deleted: a deleted branch keeps its ref as a sealed deletion marker, so that a deletion is
//! told apart from a ref that vanished. See [`super::seen`] for how a workspace checks refs against what it saw.

use super::meta::{cbor, pad_to, unpad_meta};
use super::seen::{SeenRef, SeenRefs};
use super::{forget, gc, Repository};
use crate::engine::backend::{BackendError, RefVersion};
use crate::engine::crypto::Kind;
use crate::engine::fields::Index;
use crate::engine::format::{META_CLASS, SEAL_OVERHEAD};
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Commits [`Repository::descends_from`] walks beyond the number of ref changes before it gives up.
const DESCENT_SLACK: u64 = 10_000;

/// Contents of a branch ref.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RefValue {
    branch: String,
    head: ChunkPointer,
    /// 1 for the ref's first value, one more on every change.
    seq: u64,
    /// The head this value replaced (`None` when it started the branch).
    prev: Option<ChunkPointer>,
    /// The sequence number at which the branch was last created.
    since: u64,
    /// The branch was deleted; `head` is the head it had.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    deleted: bool,
}

impl RefValue {
    fn seen(&self) -> SeenRef {
        SeenRef { seq: self.seq, head: self.head, deleted: self.deleted }
    }
}

/// A branch and its head.
#[derive(Clone, Debug)]
pub struct Branch {
    /// Branch name.
    pub name: String,
    /// Head commit.
    pub head: ChunkPointer,
    /// Version of the ref, for compare-and-swap.
    pub version: RefVersion,
    /// Sequence number of the ref: one more on every change.
    pub seq: u64,
    /// Sequence number at which the branch was last created.
    pub since: u64,
}

impl Branch {
    fn of(v: RefValue, version: RefVersion) -> Self {
        Branch { name: v.branch, head: v.head, version, seq: v.seq, since: v.since }
    }
}

/// A ref as stored: a live branch or a deletion marker.
#[derive(Clone)]
pub(super) struct Stored {
    value: RefValue,
    version: RefVersion,
}

/// Refs as this process last read or wrote them, and when. A commit's first attempt builds on the ref its
/// command read moments before (the session's check of the branch) instead of reading it again: its
/// compare-and-swap fails if the ref moved since, and the next attempt reads it (see [`super::recent`]).
#[derive(Default)]
pub(super) struct Known(std::sync::Mutex<std::collections::HashMap<String, (Option<Stored>, std::time::Instant)>>);

impl Known {
    pub(super) fn note(&self, name: &str, stored: Option<&Stored>) {
        let mut m = self.0.lock().expect("known refs lock");
        m.insert(name.to_string(), (stored.cloned(), std::time::Instant::now()));
    }

    /// The ref `name` as last read or written, if that was within [`super::recent::FRESH`].
    pub(super) fn recent(&self, name: &str) -> Option<Option<Stored>> {
        let m = self.0.lock().expect("known refs lock");
        m.get(name).filter(|(_, at)| super::recent::fresh(*at)).map(|(s, _)| s.clone())
    }
}

impl Stored {
    /// This ref with another head (tests: a ref as some process may have read it).
    #[cfg(test)]
    pub(super) fn with_head(&self, head: ChunkPointer) -> Stored {
        let mut s = self.clone();
        s.value.head = head;
        s
    }

    /// The ref's sequence, head and deletion flag.
    pub(super) fn state(&self) -> SeenRef {
        self.value.seen()
    }

    /// The head, unless the branch is deleted.
    pub(super) fn live_head(&self) -> Option<ChunkPointer> {
        (!self.value.deleted).then_some(self.value.head)
    }
}

/// Attempts [`Repository::delete_branch`] makes against concurrent changes.
const DELETE_ATTEMPTS: u32 = 20;

/// The reserved ref name a tag's ref is stored under: `tag:NAME` (no branch name holds a `:`), so a tag's storage
/// name is `HMAC(K_ref-name, "branch/tag:" || NAME)` and its seen state is kept under `tag:NAME`.
pub(super) const TAG_PREFIX: &str = "tag:";

/// The ref name of tag `name`.
pub(super) fn tag_ref(name: &str) -> String {
    format!("{TAG_PREFIX}{name}")
}

/// What a ref name names, for messages: `branch main` or `tag v1`.
pub(super) fn describe(ref_name: &str) -> String {
    match ref_name.strip_prefix(TAG_PREFIX) {
        Some(tag) => format!("tag {tag}"),
        None => format!("branch {ref_name}"),
    }
}

/// A tag: a fixed name for a commit. Tags never move; a tag is deleted (a sealed deletion marker, as for a
/// branch) and may then be created again. See [`Repository::create_tag`].
#[derive(Clone, Debug)]
pub struct Tag {
    /// Tag name.
    pub name: String,
    /// The commit it names.
    pub commit: ChunkPointer,
    /// Sequence number of the tag's ref.
    pub seq: u64,
}

pub(super) fn short(p: &ChunkPointer) -> String {
    p.id.to_hex()[..10].to_string()
}

/// A branch's (or a tag's) ref is not what the workspace last saw: it went back, vanished, or was replaced (see
/// [`SeenRefs`]). The source of the [`Error::Integrity`] that reports it.
#[derive(Debug, thiserror::Error)]
#[error("{why}")]
pub struct RefChanged {
    /// The branch; for a tag, `tag:NAME` (see [`RefChanged::tag`]).
    pub branch: String,
    /// What changed.
    pub why: String,
}

impl RefChanged {
    /// The tag whose ref changed, if it is a tag's rather than a branch's.
    pub fn tag(&self) -> Option<&str> {
        self.branch.strip_prefix(TAG_PREFIX)
    }
}

impl Repository {
    fn seal_ref(&self, name: &str, value: &RefValue) -> Result<Vec<u8>> {
        // A ref seals to exactly one META_CLASS object.
        let plain = pad_to(&cbor(value), META_CLASS - SEAL_OVERHEAD)
            .ok_or_else(|| Error::Invalid("branch name too long".into()))?;
        Ok(self.store.keys().seal(Kind::Ref, name.as_bytes(), &plain))
    }

    fn open_ref(&self, name: &str, sealed: &[u8]) -> Result<RefValue> {
        let plain = self
            .store
            .keys()
            .open(Kind::Ref, name.as_bytes(), sealed)
            .map_err(|_| Error::integrity(format!("ref {name} does not authenticate")))?;
        let body = unpad_meta(&plain).ok_or_else(|| Error::integrity(format!("ref {name} does not decode")))?;
        let v: RefValue =
            ciborium::from_reader(body).map_err(|e| Error::corrupt(format!("ref {name} does not decode"), e))?;
        if self.store.keys().ref_name(&v.branch) != name {
            return Err(Error::integrity(format!("ref {name} holds another branch's head")));
        }
        if v.seq == 0 || v.since == 0 || v.since > v.seq {
            return Err(Error::integrity(format!("ref of branch {} has an impossible sequence number", v.branch)));
        }
        Ok(v)
    }

    /// Check every ref read from now on against `seen`, the last state of each branch's ref that this reader saw
    /// (a workspace keeps it between commands), and record newer states in it: see [`SeenRefs`].
    pub fn watch_refs(&mut self, seen: std::sync::Arc<SeenRefs>) {
        self.seen = Some(seen);
    }

    /// The last seen ref states this repository checks refs against, if it was given any.
    pub fn seen_refs(&self) -> Option<&std::sync::Arc<SeenRefs>> {
        self.seen.as_ref()
    }

    /// Read a branch's ref as stored (a live branch or a deletion marker), checked against the last seen state.
    pub(super) fn read_stored(&self, branch: &str) -> Result<Option<Stored>> {
        let _reading = self.seen.as_ref().map(|s| s.reading.lock().expect("seen refs lock"));
        let rn = self.store.keys().ref_name(branch);
        let cur = match self.backend.read_ref(&rn)? {
            None => None,
            Some((data, version)) => Some(Stored { value: self.open_ref(&rn, &data)?, version }),
        };
        self.check_seen(branch, cur.as_ref().map(|s| &s.value))?;
        self.refs_known.note(branch, cur.as_ref());
        Ok(cur)
    }

    /// Compare a branch's ref as read with the last state seen (if watched); record it when it moved forward.
    fn check_seen(&self, branch: &str, cur: Option<&RefValue>) -> Result<()> {
        let Some(seen) = &self.seen else { return Ok(()) };
        let Some(last) = seen.get(branch) else {
            // Nothing seen before: trusted on first use.
            return match cur {
                Some(c) => seen.advance(branch, &c.seen()),
                None => Ok(()),
            };
        };
        let refuse =
            |why: String| Err(Error::corrupt(describe(branch), RefChanged { branch: branch.to_string(), why }));
        let saw = format!("this workspace last saw sequence {} (commit {})", last.seq, short(&last.head));
        let Some(c) = cur else {
            if last.deleted {
                return Ok(());
            }
            return refuse(format!("its ref is gone, deleted without a deletion marker; {saw}"));
        };
        if c.seq < last.seq {
            return refuse(format!(
                "its ref went back to sequence {} (commit {}), an older ref restored or replayed; {saw}",
                c.seq,
                short(&c.head)
            ));
        }
        if c.seq == last.seq {
            if c.head != last.head || c.deleted != last.deleted {
                return refuse(format!(
                    "its ref was replaced: sequence {} now holds commit {}; {saw}",
                    c.seq,
                    short(&c.head)
                ));
            }
            return Ok(());
        }
        // Moved forward. A deletion, or a branch created again since, need not descend from what was seen;
        // otherwise the new head must. A tag never moves: it is only created and deleted.
        if !c.deleted && c.since <= last.seq && branch.starts_with(TAG_PREFIX) {
            return refuse(format!(
                "its ref at sequence {} names commit {}, but a tag never moves; {saw}",
                c.seq,
                short(&c.head)
            ));
        }
        if !c.deleted && c.since <= last.seq {
            if last.deleted {
                return refuse(format!("its ref came back without being created again; {saw}, deleted"));
            }
            let start = match c.prev {
                Some(p) => p,
                None => return refuse(format!("its ref at sequence {} starts a new history; {saw}", c.seq)),
            };
            // A write-only key cannot walk commits: it checks the sequence only (see docs/design.md, *Write-only
            // keys*), unless the ref moved by exactly one commit on top of the head it saw.
            let descends = if self.is_write_only() {
                c.seq - 1 > last.seq || start == last.head
            } else {
                let steps = c.seq - 1 - last.seq;
                match self.descends_from(&start, &last.head, steps) {
                    Ok(true) => true,
                    Ok(false) => self.descends_through_rewrite(&c.head, &last.head, steps)?,
                    // The commits between were rewritten and gc freed them (a commit or its pack is missing): the
                    // replacements say where they went. Otherwise the error stands.
                    Err(e) => {
                        if !self.descends_through_rewrite(&c.head, &last.head, steps).unwrap_or(false) {
                            return Err(e);
                        }
                        true
                    }
                }
            };
            if !descends {
                return refuse(format!(
                    "its ref at sequence {} (commit {}) does not descend from the commit seen before; {saw}",
                    c.seq,
                    short(&c.head)
                ));
            }
        }
        seen.advance(branch, &c.seen())
    }

    /// Whether `ancestor` is `head` or one of its first-parent ancestors, looking back `steps` commits (the number
    /// of ref changes between them: one commit each) and up to a bounded number beyond (a ref moved more than one
    /// commit at once).
    pub fn descends_from(&self, head: &ChunkPointer, ancestor: &ChunkPointer, steps: u64) -> Result<bool> {
        let mut p = *head;
        for _ in 0..=steps.saturating_add(DESCENT_SLACK) {
            if p.id == ancestor.id {
                return Ok(true);
            }
            match self.read_commit(&p)?.commit.parents.first() {
                Some(parent) => p = *parent,
                None => return Ok(false),
            }
        }
        Ok(false)
    }

    /// Whether `head` descends from `seen`, or from the commit that replaced `seen` in a rewrite (see design.md,
    /// *Rewriting history*), within `steps` + 1 first-parent steps: a rewrite keeps the chain's length (one
    /// commit replaced for each), so a workspace that last saw a head that a rewrite replaced (or kept) accepts the
    /// rewritten branch without reading the replaced commits, which gc may have freed.
    fn descends_through_rewrite(&self, head: &ChunkPointer, seen: &ChunkPointer, steps: u64) -> Result<bool> {
        let target = self.rewritten_unchecked()?.current(&seen.commit_id()).unwrap_or(*seen);
        self.descends_from(head, &target, steps.saturating_add(1))
    }

    /// Accept branch `name` as the repository holds it now, whatever this reader saw before (a ref that went back,
    /// vanished or was replaced): its current state becomes the last seen one, and what the last gc run traced of
    /// it (so gc runs again, and collects the commits the branch lost). Returns the state seen before and
    /// the current one (`None`: no live branch).
    pub fn accept_ref(&self, name: &str) -> Result<(Option<SeenRef>, Option<Branch>)> {
        let rn = self.store.keys().ref_name(name);
        let cur = match self.backend.read_ref(&rn)? {
            None => None,
            Some((data, version)) => Some(Stored { value: self.open_ref(&rn, &data)?, version }),
        };
        let Some(seen) = &self.seen else {
            self.accept_traced(name, cur.as_ref().map(|s| s.value.seen()))?;
            return Ok((None, cur.filter(|s| !s.value.deleted).map(|s| Branch::of(s.value, s.version))));
        };
        let before = {
            let _reading = seen.reading.lock().expect("seen refs lock");
            let before = seen.get(name);
            seen.accept(name, cur.as_ref().map(|s| s.value.seen()))?;
            before
        };
        // What gc traced of the branch is accepted too: gc refuses for every workspace while a branch is behind it.
        self.accept_traced(name, cur.as_ref().map(|s| s.value.seen()))?;
        Ok((before, cur.filter(|s| !s.value.deleted).map(|s| Branch::of(s.value, s.version))))
    }

    /// Validate a branch name: non-empty, no whitespace or control characters, not a revision expression (no `~`,
    /// `^`, `:` or `@{`).
    pub fn check_branch_name(name: &str) -> Result<()> {
        let bad = name.is_empty()
            || name.len() > 255
            || name == "HEAD"
            || name.starts_with('-')
            || name.contains("@{")
            || name.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:".contains(c));
        if bad {
            return Err(Error::Invalid(format!("invalid branch name {name:?}")));
        }
        Ok(())
    }

    /// A branch's head and ref version, or `None` (also for a deleted branch).
    pub fn branch(&self, name: &str) -> Result<Option<Branch>> {
        Ok(self.read_stored(name)?.filter(|s| !s.value.deleted).map(|s| Branch::of(s.value, s.version)))
    }

    /// All branches, sorted by name. With last seen states (see [`Repository::watch_refs`]), every branch seen
    /// is checked too, so a vanished one is an error here.
    pub fn branches(&self) -> Result<Vec<Branch>> {
        Ok(self.live_refs()?.into_iter().filter(|b| !b.name.starts_with(TAG_PREFIX)).collect())
    }

    /// All tags, sorted by name. With last seen states, every tag seen is checked too (a tag that vanished, went
    /// back or was replaced is an integrity error naming it), like [`Repository::branches`].
    pub fn tags(&self) -> Result<Vec<Tag>> {
        Ok(self
            .live_refs()?
            .into_iter()
            .filter_map(|b| {
                let name = b.name.strip_prefix(TAG_PREFIX)?.to_string();
                Some(Tag { name, commit: b.head, seq: b.seq })
            })
            .collect())
    }

    /// Tag `name`, or `None` (also for a deleted tag).
    pub fn tag(&self, name: &str) -> Result<Option<Tag>> {
        Ok(self.read_stored(&tag_ref(name))?.filter(|s| !s.value.deleted).map(|s| Tag {
            name: name.to_string(),
            commit: s.value.head,
            seq: s.value.seq,
        }))
    }

    /// Every live ref that holds history: the branches and the tags (named `tag:NAME`), sorted by name. What gc
    /// marks from and traces, what `check` checks and what `forget` keeps.
    pub(crate) fn roots(&self) -> Result<Vec<Branch>> {
        self.live_refs()
    }

    /// The live branches and tags (as [`roots`](Self::roots)), each checked against what was seen.
    fn live_refs(&self) -> Result<Vec<Branch>> {
        let mut out = Vec::new();
        let gc_ref = self.store.keys().ref_name(gc::GC_REF);
        let forget_ref = self.store.keys().ref_name(forget::FORGET_REF);
        let mut listed = HashSet::new();
        for rn in self.backend.list_refs()? {
            if rn == gc_ref || rn == forget_ref {
                continue;
            }
            let _reading = self.seen.as_ref().map(|s| s.reading.lock().expect("seen refs lock"));
            if let Some((data, version)) = self.backend.read_ref(&rn)? {
                let v = self.open_ref(&rn, &data)?;
                self.check_seen(&v.branch, Some(&v))?;
                listed.insert(v.branch.clone());
                if !v.deleted {
                    out.push(Branch::of(v, version));
                }
            }
        }
        if let Some(seen) = &self.seen {
            for name in
                seen.names().into_iter().filter(|n| !listed.contains(n) && n != gc::SEEN_GC && n != forget::FORGET_REF)
            {
                if let Some(s) = self.read_stored(&name)?.filter(|s| !s.value.deleted) {
                    out.push(Branch::of(s.value, s.version));
                }
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The last heads of deleted branches (their deletion markers keep them), for finding commits by id until gc
    /// collects them.
    pub(super) fn deleted_heads(&self) -> Result<Vec<ChunkPointer>> {
        let gc_ref = self.store.keys().ref_name(gc::GC_REF);
        let forget_ref = self.store.keys().ref_name(forget::FORGET_REF);
        let mut out = Vec::new();
        for rn in self.backend.list_refs()? {
            if rn == gc_ref || rn == forget_ref {
                continue;
            }
            if let Some((data, _)) = self.backend.read_ref(&rn)? {
                let v = self.open_ref(&rn, &data)?;
                if v.deleted {
                    out.push(v.head);
                }
            }
        }
        Ok(out)
    }

    /// Compare-and-swap a branch's ref from `cur` (`None`: absent) to `value`; `Ok(None)` when another writer won.
    fn write_ref(&self, cur: Option<&Stored>, value: &RefValue) -> Result<Option<RefVersion>> {
        let rn = self.store.keys().ref_name(&value.branch);
        let sealed = self.seal_ref(&rn, value)?;
        match self.backend.swap_ref(&rn, cur.map(|s| &s.version), &sealed) {
            Ok(v) => {
                if let Some(seen) = &self.seen {
                    seen.advance(&value.branch, &value.seen())?;
                }
                self.refs_known.note(&value.branch, Some(&Stored { value: value.clone(), version: v.clone() }));
                Ok(Some(v))
            }
            Err(BackendError::PreconditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The value that (re)creates branch `name` at `head` over `cur` (absent, or a deletion marker).
    fn creation(name: &str, cur: Option<&Stored>, head: &ChunkPointer) -> Result<RefValue> {
        let seq = match cur {
            None => 1,
            Some(s) => s.value.seq.checked_add(1).ok_or_else(|| Error::integrity("ref sequence number exhausted"))?,
        };
        Ok(RefValue { branch: name.into(), head: *head, seq, prev: None, since: seq, deleted: false })
    }

    /// Create a branch at `head`; [`Error::AlreadyExists`] if it exists (or a tag of that name does).
    ///
    /// `head` may be a commit no root reaches any more (a deleted branch's, by id), whose packs a gc run may be
    /// deleting: before the ref is written, everything the new branch makes gc keep (`head`'s history and what its
    /// commits' fields reach, traced through `index`) is claimed in the gc ref, as [`Repository::create_tag`] does,
    /// so the branch never points at data a concurrent gc run deletes (see design.md, *Commits and gc*).
    pub fn create_branch(&self, name: &str, head: &ChunkPointer, index: &dyn Index) -> Result<Branch> {
        Self::check_branch_name(name)?;
        self.store.flush()?;
        let exists = || Error::AlreadyExists { what: format!("branch {name}") };
        let cur = self.read_stored(name)?;
        if cur.as_ref().is_some_and(|s| !s.value.deleted) {
            return Err(exists());
        }
        if let Some(t) = self.tag(name)? {
            return Err(Error::AlreadyExists {
                what: format!("tag {name} (at commit {}): a branch and a tag never share a name", short(&t.commit)),
            });
        }
        let value = Self::creation(name, cur.as_ref(), head)?;
        self.with_root_claimed(head, index, || match self.write_ref(cur.as_ref(), &value)? {
            Some(version) => Ok(Branch::of(value, version)),
            None => Err(exists()),
        })
    }

    /// Move branch `name` from `expected` to `head`, a commit that descends from `expected`'s head (a
    /// fast-forward; `expected` `None`: the branch does not exist and starts at `head`), as
    /// [`Repository::swap_branch`] does, but first claiming in the gc ref everything the branch will make gc keep
    /// (`head`'s history and what its commits' fields reach, traced through `index`), as
    /// [`Repository::create_tag`] does: `head` may be a commit no other root reaches, whose packs a gc run may be
    /// deleting. `Ok(None)` when another writer changed the branch meanwhile.
    pub fn fast_forward_branch(
        &self,
        name: &str,
        expected: Option<&Branch>,
        head: &ChunkPointer,
        index: &dyn Index,
    ) -> Result<Option<RefVersion>> {
        self.with_root_claimed(head, index, || self.swap_branch(name, expected, head))
    }

    /// Move a branch from `expected` (as read by [`Repository::branch`]; `None`: the branch does not exist) to
    /// `head`, which should descend from the head it replaces (readers that saw the old head check that). Returns
    /// the new ref version, or `Ok(None)` when another writer changed the branch meanwhile. Nothing is claimed
    /// against gc: for a `head` that no root may reach (a deleted branch's commit), use
    /// [`Repository::fast_forward_branch`].
    pub fn swap_branch(
        &self,
        name: &str,
        expected: Option<&Branch>,
        head: &ChunkPointer,
    ) -> Result<Option<RefVersion>> {
        match expected {
            Some(b) => {
                let value = RefValue {
                    branch: b.name.clone(),
                    head: b.head,
                    seq: b.seq,
                    prev: None,
                    since: b.since,
                    deleted: false,
                };
                self.move_ref(name, Some(&Stored { value, version: b.version.clone() }), head)
            }
            None => {
                // A new branch, or one created again over its deletion marker.
                let cur = self.read_stored(name)?;
                if cur.as_ref().is_some_and(|s| !s.value.deleted) {
                    return Ok(None);
                }
                self.move_ref(name, cur.as_ref(), head)
            }
        }
    }

    /// Move branch `name` from its ref as read (`cur`: live, a deletion marker, or absent) to `head`: the next
    /// value of a live branch, or the value that creates it (again). `Ok(None)` when another writer won.
    pub(super) fn move_ref(&self, name: &str, cur: Option<&Stored>, head: &ChunkPointer) -> Result<Option<RefVersion>> {
        // Write ordering: everything the new head points at must be durable before the ref moves.
        self.store.flush()?;
        let value = match cur {
            Some(s) if !s.value.deleted => RefValue {
                branch: name.into(),
                head: *head,
                seq: s.value.seq.checked_add(1).ok_or_else(|| Error::integrity("ref sequence number exhausted"))?,
                prev: Some(s.value.head),
                since: s.value.since,
                deleted: false,
            },
            _ => Self::creation(name, cur, head)?,
        };
        self.write_ref(cur, &value)
    }

    /// Delete a branch. Its ref stays as a sealed deletion marker (one more sequence number), so that readers that
    /// saw the branch can tell a deletion from a ref that vanished.
    pub fn delete_branch(&self, name: &str) -> Result<()> {
        self.delete_ref(name).map(|_| ())
    }

    /// Delete the live ref `name` (a branch, or `tag:NAME`) through a deletion marker; returns the head it had.
    fn delete_ref(&self, name: &str) -> Result<ChunkPointer> {
        for _ in 0..DELETE_ATTEMPTS {
            let cur = match self.read_stored(name)? {
                Some(s) if !s.value.deleted => s,
                _ => return Err(Error::not_found(describe(name))),
            };
            let v = &cur.value;
            let seq = v.seq.checked_add(1).ok_or_else(|| Error::integrity("ref sequence number exhausted"))?;
            let marker = RefValue {
                branch: v.branch.clone(),
                head: v.head,
                seq,
                prev: Some(v.head),
                since: v.since,
                deleted: true,
            };
            if self.write_ref(Some(&cur), &marker)?.is_some() {
                return Ok(v.head);
            }
        }
        Err(Error::Conflict { what: format!("{} kept changing while being deleted; try again", describe(name)) })
    }

    /// Accept tag `name` as the repository holds it now, whatever this reader saw before (a tag ref that vanished,
    /// went back or was replaced): see [`Repository::accept_ref`]. Returns the state seen before and the tag now.
    pub fn accept_tag(&self, name: &str) -> Result<(Option<SeenRef>, Option<Tag>)> {
        Self::check_tag_name(name)?;
        let (before, now) = self.accept_ref(&tag_ref(name))?;
        Ok((before, now.map(|b| Tag { name: name.to_string(), commit: b.head, seq: b.seq })))
    }

    /// Validate a tag name: the rules of a branch name (see [`Repository::check_branch_name`]).
    pub fn check_tag_name(name: &str) -> Result<()> {
        Self::check_branch_name(name).map_err(|_| Error::Invalid(format!("invalid tag name {name:?}")))
    }

    /// Create tag `name` naming `commit`. Tags are immutable: a live tag of that name is
    /// [`Error::AlreadyExists`] naming the commit it names (delete it first with [`Repository::delete_tag`]), and
    /// so is a branch of that name (a branch and a tag never share a name). A write-only key cannot create tags.
    ///
    /// A tag is a root like a branch: gc keeps everything its commit reaches (traced through `index`), `forget`
    /// never forgets its commit, and readers that saw it refuse a tag ref that vanished, went back or was
    /// replaced. Before the ref is written, everything the commit reaches (as gc marks it) is claimed in the gc ref
    /// (see design.md, *Commits and gc*), so a gc run that read the refs before the tag existed deletes none of it.
    ///
    /// ```
    /// use infini::{fields::Serialized, Infinitree, Location, Repository};
    /// # fn main() -> infini::Result<()> {
    /// let mut tree = Infinitree::<Serialized<u32>>::open(Repository::create_at(&Location::Memory, b"secret")?, "main")?;
    /// tree.index().set(7);
    /// let c = tree.commit("seven")?;
    /// let repo = tree.repository().clone();
    /// repo.create_tag("v1", &c.ptr, tree.index())?;
    /// assert_eq!(repo.tag("v1")?.map(|t| t.commit), Some(c.ptr));
    /// assert!(repo.create_tag("v1", &c.ptr, tree.index()).is_err());
    /// repo.delete_tag("v1")?;
    /// assert!(repo.tags()?.is_empty());
    /// # Ok(()) }
    /// ```
    pub fn create_tag(&self, name: &str, commit: &ChunkPointer, index: &dyn Index) -> Result<Tag> {
        self.refuse_write_only("create a tag")?;
        Self::check_tag_name(name)?;
        let rn = tag_ref(name);
        let exists = |at: &ChunkPointer| Error::AlreadyExists {
            what: format!("tag {name} (at commit {}): a tag never moves; delete it first with tag -d", short(at)),
        };
        let cur = self.read_stored(&rn)?;
        if let Some(s) = cur.as_ref().filter(|s| !s.value.deleted) {
            return Err(exists(&s.value.head));
        }
        if let Some(b) = self.branch(name)? {
            return Err(Error::AlreadyExists {
                what: format!("branch {name} (at commit {}): a branch and a tag never share a name", short(&b.head)),
            });
        }
        self.read_commit(commit)?;
        // Claimed, then published, then released: the protocol of a commit (design.md, *Commits and gc*).
        self.with_root_claimed(commit, index, || {
            let value = Self::creation(&rn, cur.as_ref(), commit)?;
            match self.write_ref(cur.as_ref(), &value)? {
                Some(_) => Ok(Tag { name: name.to_string(), commit: *commit, seq: value.seq }),
                None => Err(match self.tag(name)? {
                    Some(t) => exists(&t.commit),
                    None => Error::Conflict { what: format!("tag {name} changed while being created; try again") },
                }),
            }
        })
    }

    /// Delete tag `name` (a sealed deletion marker, so readers that saw it tell a deletion from a ref that
    /// vanished); the name may then be created again. Returns the commit it named. Gc no longer keeps what only
    /// the tag reached.
    pub fn delete_tag(&self, name: &str) -> Result<ChunkPointer> {
        self.refuse_write_only("delete a tag")?;
        self.delete_ref(&tag_ref(name))
    }
}

/// The state of a branch's ref that [`Repository::restore_ref`] works from: the last state this reader saw and the
/// ref as stored now, judged (see `rescue.rs`).
pub(super) struct RefJudged {
    /// The last state seen.
    pub(super) seen: SeenRef,
    /// The ref as stored now (`None`: absent).
    pub(super) now: Option<Stored>,
    /// Why the ref is refused against the last state seen (`None`: it is not: it moved forward or stayed).
    pub(super) refused: Option<String>,
}

impl Repository {
    /// Read branch `name`'s ref as stored and judge it against the last state seen, without refusing it.
    /// `Ok(None)` when this reader saw no state of it.
    pub(super) fn judge_ref(&self, name: &str) -> Result<Option<RefJudged>> {
        let Some(seen) = &self.seen else { return Ok(None) };
        let Some(last) = seen.get(name) else { return Ok(None) };
        let rn = self.store.keys().ref_name(name);
        let now = match self.backend.read_ref(&rn)? {
            None => None,
            Some((data, version)) => Some(Stored { value: self.open_ref(&rn, &data)?, version }),
        };
        let refused = match self.check_seen(name, now.as_ref().map(|s| &s.value)) {
            Ok(()) => None,
            Err(Error::Integrity { source: Some(s), .. }) if s.is::<RefChanged>() => Some(s.to_string()),
            Err(e) => return Err(e),
        };
        Ok(Some(RefJudged { seen: last, now, refused }))
    }

    /// Put `head` back as branch `name`'s head over the ref as stored (`cur`), at sequence number `seq` (above
    /// every one seen): compare-and-swap; `Ok(None)` when another writer changed the ref meanwhile.
    ///
    /// The value's `prev` is `head` itself, so that a reader that saw `head` (at any lower sequence) finds the new
    /// value descending from it, and a reader that saw the rolled-back state finds `head` descending from that
    /// (a rollback to an ancestor); `since` stays the branch's (a live ref) or is `seq` (over a deletion marker or
    /// no ref: the branch created again).
    pub(super) fn write_restored(
        &self,
        name: &str,
        cur: Option<&Stored>,
        head: &ChunkPointer,
        seq: u64,
    ) -> Result<Option<Branch>> {
        let since = match cur {
            Some(s) if !s.value.deleted => s.value.since,
            _ => seq,
        };
        let value = RefValue { branch: name.into(), head: *head, seq, prev: Some(*head), since, deleted: false };
        Ok(self.write_ref(cur, &value)?.map(|version| Branch::of(value, version)))
    }
}
