//! Integrity checking: every pack's table, every commit, every index node, and (optionally) every data chunk.

use super::{CommitInfo, Repository};
use crate::engine::fields::decode_root;
use crate::engine::namespace::{Entry, FIELD};
use crate::engine::object::{parse_object_name, ChunkPointer};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::tree::{self, NodeStore};
use crate::engine::{Error, Result};
use std::collections::HashSet;

/// What [`Repository::check`] found.
#[derive(Debug, Default)]
pub struct CheckReport {
    /// Packs whose tables were read.
    pub packs: u64,
    /// Commits checked.
    pub commits: u64,
    /// Values checked.
    pub values: u64,
    /// Chunks listed in pack tables (all authenticated with `read_data`).
    pub chunks: u64,
    /// Bytes read to verify packs (with `read_data`).
    pub bytes_read: u64,
    /// Problems found, each naming what is affected.
    pub errors: Vec<String>,
}

/// Tunables of [`Repository::check_with`].
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Read and authenticate every byte of every pack, not only the tables.
    pub read_data: bool,
    /// Where progress goes: phase `packs` (bytes with `read_data`, else packs), then `commits`.
    pub progress: ProgressSink,
}

impl Repository {
    /// [`Repository::check_with`] with default options but `read_data`.
    pub fn check(&self, read_data: bool) -> Result<CheckReport> {
        self.check_with(&CheckOptions { read_data, ..CheckOptions::default() })
    }

    /// Check the repository: pack tables (with `read_data`, every byte of every pack), every commit on every
    /// branch, every index node that differs between consecutive commits, and that every chunk a value references
    /// is listed in its pack's table. Integrity problems are collected in the report; backend failures abort.
    pub fn check_with(&self, opts: &CheckOptions) -> Result<CheckReport> {
        let read_data = opts.read_data;
        let progress = &opts.progress;
        let mut rep = CheckReport::default();
        let store = self.store();
        // Every chunk the packs' tables vouch for; references must point at one of them exactly.
        let mut present = HashSet::new();
        let objects = self.backend().list("objects/")?;
        if read_data {
            progress.phase("packs", Unit::Bytes, Some(objects.iter().map(|o| o.size).sum()));
        } else {
            progress.phase("packs", Unit::Items, Some(objects.len() as u64));
        }
        for o in objects {
            let Some(id) = parse_object_name(&o.name) else {
                rep.errors.push(format!("{}: unexpected object name", o.name));
                continue;
            };
            if !crate::engine::format::is_size_class(o.size) {
                rep.errors.push(format!("{}: size {} is not a size class (truncated?)", o.name, o.size));
            }
            let table = if read_data {
                let bytes = self.backend().read(&o.name)?;
                rep.bytes_read += bytes.len() as u64;
                crate::engine::object::verify_pack(store.keys(), &id, &bytes)
            } else {
                store.pack_table(&id)
            };
            progress.inc(if read_data { o.size } else { 1 });
            match table {
                Ok(t) => {
                    rep.packs += 1;
                    rep.chunks += t.len() as u64;
                    present.extend(t.iter().map(|e| ChunkPointer {
                        object: id,
                        offset: e.offset,
                        len: e.len,
                        id: e.id,
                    }));
                }
                Err(Error::Integrity { what }) => rep.errors.push(what),
                Err(e) => return Err(e),
            }
        }
        let mut seen_commits = HashSet::new();
        let branches = match self.branches() {
            Ok(b) => b,
            Err(Error::Integrity { what }) => {
                rep.errors.push(what);
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let mut queue: Vec<_> = branches.iter().map(|b| b.head).collect();
        progress.phase("commits", Unit::Items, None);
        while let Some(p) = queue.pop() {
            if !seen_commits.insert(p.id) {
                continue;
            }
            progress.inc(1);
            let c = match self.read_commit(&p) {
                Ok(c) => c,
                Err(Error::Integrity { what }) => {
                    rep.errors.push(format!("commit {}: {what}", p.id));
                    continue;
                }
                Err(e) => return Err(e),
            };
            rep.commits += 1;
            let parent = match c.commit.parents.first() {
                Some(pp) => self.read_commit(pp).ok(),
                None => None,
            };
            queue.extend(c.commit.parents.iter().copied());
            if let Err(e) = self.check_commit(&c, parent.as_ref(), &present, &mut rep) {
                match e {
                    Error::Integrity { what } => rep.errors.push(format!("commit {}: {what}", c.id())),
                    e => return Err(e),
                }
            }
        }
        Ok(rep)
    }

    fn check_commit(
        &self,
        c: &CommitInfo,
        parent: Option<&CommitInfo>,
        present: &HashSet<ChunkPointer>,
        rep: &mut CheckReport,
    ) -> Result<()> {
        let store = self.store();
        let root = decode_root(c.commit.index.get(FIELD).map(|b| b.as_slice()))?;
        let proot = decode_root(parent.and_then(|p| p.commit.index.get(FIELD)).map(|b| b.as_slice()))?;
        // Only what changed against the parent needs checking; the diff loads (and so authenticates) every
        // differing index node.
        for d in tree::diff(&**store as &dyn NodeStore, proot, root) {
            let d = d?;
            let Some(v) = d.new else { continue };
            let entry: Entry =
                ciborium::from_reader(v.as_slice()).map_err(|e| Error::integrity(format!("index entry: {e}")))?;
            rep.values += 1;
            let key = String::from_utf8_lossy(&d.key).into_owned();
            let r = entry.blob.for_each_pointer(store, &mut |_, p| {
                if present.contains(p) {
                    Ok(())
                } else {
                    Err(Error::integrity(format!("chunk {} is missing from object {}", p.id, p.object)))
                }
            });
            if let Err(e) = r {
                match e {
                    Error::Integrity { what } => rep.errors.push(format!("key {key}: {what}")),
                    e => return Err(e),
                }
            }
        }
        Ok(())
    }
}
