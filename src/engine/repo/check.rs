//! Integrity checking: every pack's table, every commit, every index node, and (optionally) every data chunk.

use super::{CommitInfo, Repository};
use crate::engine::fields::{Index, Tracer};
use crate::engine::object::{parse_object_name, ChunkPointer};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::{Error, Result};
use std::collections::HashSet;

/// An integrity error as a report line: what is affected and why, without the "integrity failure" prefix.
fn integrity_detail(e: &Error) -> String {
    let d = e.detail();
    d.strip_prefix("integrity failure: ").map(str::to_string).unwrap_or(d)
}

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
    pub fn check(&self, index: &dyn Index, read_data: bool) -> Result<CheckReport> {
        self.check_with(index, &CheckOptions { read_data, ..CheckOptions::default() })
    }

    /// Check the repository: pack tables (with `read_data`, every byte of every pack), every commit on every
    /// branch, and, tracing every field of every commit through `index`, that every chunk a field reaches is listed
    /// in its pack's table (fields load, and so authenticate, what differs between consecutive commits). Integrity
    /// problems are collected in the report; backend failures, and a field `index` does not declare, abort.
    pub fn check_with(&self, index: &dyn Index, opts: &CheckOptions) -> Result<CheckReport> {
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
                Err(e @ Error::Integrity { .. }) => rep.errors.push(integrity_detail(&e)),
                Err(e) => return Err(e),
            }
            progress.inc(if read_data { o.size } else { 1 });
        }
        let mut seen_commits = HashSet::new();
        let branches = match self.branches() {
            Ok(b) => b,
            Err(e @ Error::Integrity { .. }) => {
                rep.errors.push(integrity_detail(&e));
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
                Err(e @ Error::Integrity { .. }) => {
                    rep.errors.push(format!("commit {}: {}", p.id, integrity_detail(&e)));
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
            if let Err(e) = self.check_commit(index, &c, parent.as_ref(), &present, &mut rep) {
                match e {
                    e @ Error::Integrity { .. } => {
                        rep.errors.push(format!("commit {}: {}", c.id(), integrity_detail(&e)))
                    }
                    e => return Err(e),
                }
            }
        }
        Ok(rep)
    }

    fn check_commit(
        &self,
        index: &dyn Index,
        c: &CommitInfo,
        parent: Option<&CommitInfo>,
        present: &HashSet<ChunkPointer>,
        rep: &mut CheckReport,
    ) -> Result<()> {
        let mut missing = Vec::new();
        rep.values += self.trace_commit(index, c, parent, &mut |p| {
            if !present.contains(p) {
                missing.push(format!("chunk {} is missing from object {}", p.id, p.object));
            }
            Ok(())
        })?;
        rep.errors.extend(missing.into_iter().map(|m| format!("commit {}: {m}", c.id())));
        Ok(())
    }

    /// Report every chunk the fields of commit `c` reach to `visit`, through the fields of `index` (skipping what
    /// each field also reaches from the first parent `parent`). Returns how many values were traced.
    pub(crate) fn trace_commit(
        &self,
        index: &dyn Index,
        c: &CommitInfo,
        parent: Option<&CommitInfo>,
        visit: &mut dyn FnMut(&ChunkPointer) -> Result<()>,
    ) -> Result<u64> {
        let fields = index.fields();
        let mut tracer = Tracer::new(self.store(), visit);
        for (name, root) in &c.commit.index {
            let Some((_, field)) = fields.iter().find(|(n, _)| *n == name.as_str()) else {
                return Err(Error::Invalid(format!(
                    "commit {} has a field {name:?} that the index does not declare, so what it reaches is unknown",
                    c.id()
                )));
            };
            let proot = parent.and_then(|p| p.commit.index.get(name)).map(|b| b.as_slice());
            field.trace(root, proot, &mut tracer)?;
        }
        Ok(tracer.values())
    }
}
