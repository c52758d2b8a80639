//! Integrity checking: every pack's table, every commit, every index node, and (optionally) every data chunk.

use super::{CommitInfo, Repository};
use crate::engine::fields::{Index, Tracer};
use crate::engine::id::{CommitId, ObjectId};
use crate::engine::object::{object_name, parse_object_name, ChunkPointer};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// A damaged or missing object and what depends on it: reported once, however many values need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The object's storage name.
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
    /// Keys (of keyed fields, lossily decoded) whose values need a chunk of it, sorted.
    pub keys: Vec<String>,
    /// Commits that hold such a value: the one that introduced it and every later one still holding it, sorted.
    pub commits: Vec<CommitId>,
}

/// What the walk collects about damaged objects before the report is written.
#[derive(Default)]
struct DamageLog {
    /// Every object the repository lists.
    listed: HashSet<ObjectId>,
    /// Objects found damaged (or referenced but absent) -> problem.
    objects: BTreeMap<ObjectId, String>,
    /// Object -> keys of values needing it.
    keys: BTreeMap<ObjectId, BTreeSet<String>>,
    /// Object -> commits that introduced a value needing it.
    introduced: BTreeMap<ObjectId, BTreeSet<CommitId>>,
}

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
    /// Problems found, each once, each naming what is affected: one per damaged object (with how many keys and
    /// commits depend on it), then any other problem.
    pub errors: Vec<String>,
    /// Damaged or missing objects with the keys and commits that depend on them.
    pub damaged: Vec<Damage>,
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
        let mut log = DamageLog::default();
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
            log.listed.insert(id);
            if !crate::engine::format::is_size_class(o.size) {
                log.objects.insert(id, format!("size {} is not a size class (truncated?)", o.size));
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
                Err(e @ Error::Integrity { .. }) => {
                    log.objects.entry(id).or_insert_with(|| integrity_detail(&e));
                }
                Err(e) => return Err(e),
            }
            progress.inc(if read_data { o.size } else { 1 });
        }
        // Chunks of repacked packs are checked where they moved (their new packs' tables vouch for them there).
        let forwards = match super::gc::read_gc_state(self.backend(), store.keys()).and_then(|(state, _)| {
            crate::engine::object::forward::Forwards::load_all(self.backend(), store.keys(), &state.forwarded)
        }) {
            Ok(f) => f,
            Err(e @ Error::Integrity { .. }) => {
                rep.errors.push(integrity_detail(&e));
                Default::default()
            }
            Err(e) => return Err(e),
        };
        let mut seen_commits = HashSet::new();
        // Tags are roots like branches.
        let branches = match self.roots() {
            Ok(b) => b,
            Err(e @ Error::Integrity { .. }) => {
                rep.errors.push(integrity_detail(&e));
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        // Forgotten commits keep only their headers: their fields are not checked, and a kept commit is checked
        // against its nearest kept ancestor (as gc traces it).
        let forgotten = match self.forgotten() {
            Ok(f) => f,
            Err(e @ Error::Integrity { .. }) => {
                rep.errors.push(integrity_detail(&e));
                Default::default()
            }
            Err(e) => return Err(e),
        };
        let heads: HashSet<_> = branches.iter().map(|b| b.head.id).collect();
        let kept = |id: &crate::engine::id::ChunkId| heads.contains(id) || !forgotten.contains_chunk(id);
        let mut queue: Vec<_> = branches.iter().map(|b| b.head).collect();
        let mut checked: Vec<CommitInfo> = Vec::new();
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
            queue.extend(c.commit.parents.iter().copied());
            if !kept(&p.id) {
                checked.push(c);
                continue;
            }
            let parent = self.kept_base(&c, &kept).ok().flatten();
            let checked_ok = self.check_commit(index, &c, parent.as_ref(), &present, &forwards, &mut log, &mut rep);
            if let Err(e) = checked_ok {
                match e {
                    e @ Error::Integrity { .. } => {
                        rep.errors.push(format!("commit {}: {}", c.id(), integrity_detail(&e)))
                    }
                    e => return Err(e),
                }
            }
            checked.push(c);
        }
        // A value introduced by one commit is held by its descendants too: every checked commit that has a commit
        // introducing damage among its ancestors depends on the damaged object (conservatively: even if it later
        // replaced the value).
        let holders = descendants(&checked, &log.introduced);
        let mut object_errors = Vec::new();
        for (id, problem) in log.objects {
            let keys: Vec<String> = log.keys.remove(&id).unwrap_or_default().into_iter().collect();
            let commits: Vec<CommitId> = holders.get(&id).cloned().unwrap_or_default().into_iter().collect();
            let name = object_name(&id);
            let problem = problem.strip_prefix(&format!("pack {name}: ")).unwrap_or(&problem).to_string();
            object_errors.push(format!(
                "object {name}: {problem} (needed by {} key(s) in {} commit(s))",
                keys.len(),
                commits.len()
            ));
            rep.damaged.push(Damage { object: name, problem, keys, commits });
        }
        object_errors.append(&mut rep.errors);
        rep.errors = object_errors;
        Ok(rep)
    }

    #[allow(clippy::too_many_arguments)]
    fn check_commit(
        &self,
        index: &dyn Index,
        c: &CommitInfo,
        parent: Option<&CommitInfo>,
        present: &HashSet<ChunkPointer>,
        forwards: &crate::engine::object::forward::Forwards,
        log: &mut DamageLog,
        rep: &mut CheckReport,
    ) -> Result<()> {
        let mut missing = Vec::new();
        // A chunk in a damaged or missing object is recorded against the object (reported once, with every key
        // that needs it); a chunk that its intact pack does not hold is a problem of its own.
        let mut invalid = Vec::new();
        rep.values += self.trace_commit_checked(index, c, parent, &mut invalid, &mut |p, key| {
            if present.contains(p) {
                return Ok(());
            }
            let p = &forwards.resolve(p, &mut |_| {})?;
            if present.contains(p) {
                return Ok(());
            }
            if !log.listed.contains(&p.object) {
                log.objects.entry(p.object).or_insert_with(|| "missing (referenced but not stored)".into());
            }
            if log.objects.contains_key(&p.object) {
                if let Some(k) = key {
                    log.keys.entry(p.object).or_default().insert(String::from_utf8_lossy(k).into_owned());
                }
                log.introduced.entry(p.object).or_default().insert(c.id());
            } else {
                missing.push(format!("chunk {} is missing from object {}", p.id, object_name(&p.object)));
            }
            Ok(())
        })?;
        rep.errors.extend(missing.into_iter().map(|m| format!("commit {}: {m}", c.id())));
        rep.errors.extend(invalid.into_iter().map(|m| format!("commit {}: {m}", c.id())));
        Ok(())
    }

    /// Report every chunk the fields of commit `c` reach to `visit`, through the fields of `index` (skipping what
    /// each field also reaches from the first parent `parent`). Returns how many values were traced.
    pub(crate) fn trace_commit(
        &self,
        index: &dyn Index,
        c: &CommitInfo,
        parent: Option<&CommitInfo>,
        visit: &mut crate::engine::fields::Visit<'_>,
    ) -> Result<u64> {
        self.trace_commit_checked(index, c, parent, &mut Vec::new(), visit)
    }

    /// [`Repository::trace_commit`], adding to `invalid` what the values traced report their schema does not allow
    /// ([`Tracer::invalid`]).
    pub(crate) fn trace_commit_checked(
        &self,
        index: &dyn Index,
        c: &CommitInfo,
        parent: Option<&CommitInfo>,
        invalid: &mut Vec<String>,
        visit: &mut crate::engine::fields::Visit<'_>,
    ) -> Result<u64> {
        let fields = index.fields();
        let mut tracer = Tracer::new(self.store(), visit);
        if c.is_delta() {
            // A write-only key's commit as stored: its delta chunks and the values in them (what its parent reaches
            // is traced from the parent). Never the folded tree, which is not stored.
            for (name, chunks) in &c.commit.delta {
                let Some((_, field)) = fields.iter().find(|(n, _)| *n == name.as_str()) else {
                    return Err(Error::Invalid(format!(
                        "commit {} changes a field {name:?} that the index does not declare, so what it reaches is \
                         unknown",
                        c.id()
                    )));
                };
                for p in chunks {
                    tracer.chunk(p)?;
                    for (k, v) in self.read_delta(p)? {
                        let Some(stored) = v else { continue };
                        let traced = field.trace_stored(&k, &stored, &mut tracer);
                        invalid.append(&mut tracer.take_problems());
                        traced?;
                    }
                }
            }
            return Ok(tracer.values());
        }
        // A parent that is a write-only key's commit has a state that is not stored as a tree: what this commit
        // reaches is traced whole rather than against it.
        let parent = parent.filter(|p| !p.is_delta());
        for (name, root) in &c.commit.index {
            let Some((_, field)) = fields.iter().find(|(n, _)| *n == name.as_str()) else {
                return Err(Error::Invalid(format!(
                    "commit {} has a field {name:?} that the index does not declare, so what it reaches is unknown",
                    c.id()
                )));
            };
            let proot = parent.and_then(|p| p.commit.index.get(name)).map(|b| b.as_slice());
            let traced = field.trace(root, proot, &mut tracer);
            invalid.append(&mut tracer.take_problems());
            traced?;
        }
        Ok(tracer.values())
    }
}

/// For each damaged object, the checked commits that are, or descend from, a commit that introduced a value needing
/// it.
fn descendants(
    checked: &[CommitInfo],
    introduced: &BTreeMap<ObjectId, BTreeSet<CommitId>>,
) -> BTreeMap<ObjectId, BTreeSet<CommitId>> {
    let parents: BTreeMap<CommitId, Vec<CommitId>> =
        checked.iter().map(|c| (c.id(), c.commit.parents.iter().map(|p| CommitId(p.id.0)).collect())).collect();
    let mut out = BTreeMap::new();
    for (object, roots) in introduced {
        let mut memo: BTreeMap<CommitId, bool> = BTreeMap::new();
        let mut holders = BTreeSet::new();
        for c in parents.keys() {
            if reaches(*c, roots, &parents, &mut memo) {
                holders.insert(*c);
            }
        }
        out.insert(*object, holders);
    }
    out
}

/// Whether commit `c` is one of `roots` or has one among its ancestors (iteratively, memoized).
fn reaches(
    c: CommitId,
    roots: &BTreeSet<CommitId>,
    parents: &BTreeMap<CommitId, Vec<CommitId>>,
    memo: &mut BTreeMap<CommitId, bool>,
) -> bool {
    let mut stack = vec![(c, false)];
    while let Some((n, expanded)) = stack.pop() {
        if memo.contains_key(&n) {
            continue;
        }
        if roots.contains(&n) {
            memo.insert(n, true);
            continue;
        }
        let ps = parents.get(&n).map(Vec::as_slice).unwrap_or(&[]);
        if expanded {
            let hit = ps.iter().any(|p| memo.get(p).copied().unwrap_or(false));
            memo.insert(n, hit);
        } else {
            stack.push((n, true));
            stack.extend(ps.iter().filter(|p| !memo.contains_key(p)).map(|p| (*p, false)));
        }
    }
    memo.get(&c).copied().unwrap_or(false)
}
