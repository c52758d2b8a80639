//! The namespace: the key -> value map the command line works on, one [`VersionedMap`] of [`Entry`]s.

use crate::engine::chunk::Blob;
use crate::engine::fields::VersionedMap;
use crate::engine::repo::Repository;
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// What a namespace entry stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A value (a regular file's content).
    #[default]
    File,
    /// A symbolic link: the value is the link's target, as bytes.
    Symlink,
}

impl EntryKind {
    fn is_file(&self) -> bool {
        *self == EntryKind::File
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A stored value and what is known about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value (for a symbolic link: its target).
    pub blob: Blob,
    /// Modification time of the file it came from, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<u64>,
    /// Nanoseconds past `mtime`'s second.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtime_nsec: u32,
    /// Permission bits (`st_mode & 0o7777`) of the file it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// A file or a symbolic link.
    #[serde(default, skip_serializing_if = "EntryKind::is_file")]
    pub kind: EntryKind,
}

impl crate::engine::fields::Trace for Entry {
    fn trace(&self, tracer: &mut crate::engine::fields::Tracer<'_>) -> Result<()> {
        tracer.blob(&self.blob)
    }
}

impl Entry {
    /// An entry holding `blob` with no file metadata.
    pub fn new(blob: Blob) -> Self {
        Self { blob, mtime: None, mtime_nsec: 0, mode: None, kind: EntryKind::File }
    }

    /// Value length in bytes.
    pub fn size(&self) -> u64 {
        self.blob.size()
    }

    /// Whether two entries hold the same bytes as the same kind (their metadata may differ). Compares content
    /// identities (inline bytes, chunk ids), never reads a value.
    pub fn same_content(&self, other: &Entry) -> bool {
        self.kind == other.kind && self.blob.same_content(&other.blob)
    }

    /// How `new` differs from `self`: `None` when equal.
    pub fn change_to(&self, new: &Entry) -> Option<Change> {
        if self == new {
            None
        } else if self.same_content(new) {
            Some(Change::Metadata)
        } else {
            Some(Change::Modified)
        }
    }
}

/// How a key changed between two versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The key is new.
    Added,
    /// The key is gone.
    Removed,
    /// The bytes (or the kind) changed.
    Modified,
    /// Only metadata (mode, mtime) changed; the bytes are the same.
    Metadata,
}

impl Change {
    /// The change between two optional entries (`None` when equal).
    pub fn between(old: Option<&Entry>, new: Option<&Entry>) -> Option<Change> {
        match (old, new) {
            (None, None) => None,
            (None, Some(_)) => Some(Change::Added),
            (Some(_), None) => Some(Change::Removed),
            (Some(a), Some(b)) => a.change_to(b),
        }
    }

    /// One letter: `A`, `D`, `M`, or `T` (metadata only, as git shows a type change).
    pub fn letter(self) -> &'static str {
        match self {
            Change::Added => "A",
            Change::Removed => "D",
            Change::Modified => "M",
            Change::Metadata => "T",
        }
    }

    /// `added`, `removed`, `modified` or `metadata`.
    pub fn word(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Modified => "modified",
            Change::Metadata => "metadata",
        }
    }
}

/// The namespace field.
pub type Namespace = VersionedMap<String, Entry>;

/// Name of the namespace field in a commit's index.
pub const FIELD: &str = "namespace";

/// An index holding just the namespace.
#[derive(Default)]
pub struct NamespaceIndex {
    /// The namespace.
    pub ns: Namespace,
}

impl crate::engine::fields::Index for NamespaceIndex {
    fn fields(&self) -> Vec<(&'static str, &dyn crate::engine::fields::Field)> {
        vec![(FIELD, &self.ns)]
    }
}

/// Validate a key: 1-4096 bytes of UTF-8, no NUL, no leading `/`, and `/`-separated segments that are neither
/// empty nor `.` or `..` (so every key maps to a safe relative path).
pub fn check_key(key: &str) -> Result<()> {
    let rule = "keys are 1-4096 bytes without NUL, not starting with '/', with no empty, '.' or '..' segments";
    let bad = |why: &str| Err(Error::Invalid(format!("invalid key {key:?}: {why} ({rule})")));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > 4096 {
        return bad("longer than 4096 bytes");
    }
    if key.contains('\0') {
        return bad("contains NUL");
    }
    if key.starts_with('/') {
        return bad("starts with '/'");
    }
    for seg in key.split('/') {
        match seg {
            "" => return bad("has an empty segment"),
            "." | ".." => return bad(&format!("has a '{seg}' segment")),
            _ => {}
        }
    }
    Ok(())
}

/// A key prefix naming a directory: `web`, `web/` and `web//` all become `web/`; empty (or `/`) is the whole
/// namespace. The prefix itself must be a valid key.
pub fn dir_prefix(prefix: &str) -> Result<String> {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() {
        return Ok(String::new());
    }
    check_key(p)?;
    Ok(format!("{p}/"))
}

/// Store everything `input` yields as a value. `progress` is called with the bytes read so far.
pub fn store_value(repo: &Repository, input: &mut dyn Read, progress: &mut dyn FnMut(u64)) -> Result<Entry> {
    Ok(Entry::new(repo.write_blob(input, progress)?))
}

/// Like [`claim_staged`], for every change staged in `ns` (those held in memory and the spilled ones, read as a
/// stream: memory follows the packs pointed into, not the number of pointers).
pub fn claim_staged_in(repo: &Repository, ns: &Namespace, gc_deletions: Option<u64>) -> Result<()> {
    repo.verify_packs(
        &|each| {
            for change in ns.staged_iter() {
                let (_, v) = change?;
                let Some(e) = v else { continue };
                e.blob.for_each_pointer(repo.store(), &mut |_, p| each(p))?;
            }
            Ok(())
        },
        gc_deletions,
    )
}

/// Check, before a commit starts building, that every pack staged changes (`(key, encoded entry or None)`, as
/// exported) point into (for a chunk of a pack gc repacked, the pack it moved to) is still stored, whatever removed
/// it, and not being deleted by gc: otherwise
/// [`Error::StagedDataCollected`](crate::engine::Error::StagedDataCollected) and nothing may be published. The
/// commit itself then claims the packs, so that gc keeps them until its ref swap is done (see
/// [`Repository::commit_index_on`]). `gc_deletions` is no longer needed (every pack is checked) and is ignored.
pub fn claim_staged(
    repo: &Repository,
    changes: &[(Vec<u8>, Option<Vec<u8>>)],
    gc_deletions: Option<u64>,
) -> Result<()> {
    repo.verify_packs(
        &|each| {
            for (_, v) in changes {
                let Some(v) = v else { continue };
                let e: Entry = ciborium::from_reader(v.as_slice())
                    .map_err(|e| crate::engine::Error::integrity(format!("staged entry: {e}")))?;
                e.blob.for_each_pointer(repo.store(), &mut |_, p| each(p))?;
            }
            Ok(())
        },
        gc_deletions,
    )
}
