//! Integrity checking: every pack's table, every commit, every index node, and (optionally) every data chunk.

use super::{CommitInfo, Repository};
use crate::engine::fields::decode_root;
use crate::engine::id::{CommitId, ObjectId};
use crate::engine::namespace::{Entry, FIELD};
use crate::engine::object::{object_name, parse_object_name, ChunkPointer};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::tree::{self, NodeStore};
use crate::engine::{Error, Result};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A damaged or missing object and what depends on it: reported once, however many values need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The object's storage name.
    pub object: String,
    /// What is wrong with it.
    pub problem: String,
    /// Keys whose values need a chunk of it, at any checked commit, sorted.
    pub keys: Vec<String>,
    /// Commits holding such a value, sorted.
    pub commits: Vec<CommitId>,
}

/// At most this many (damaged value, commit) lookups are made to find every commit that holds a damaged value;
/// past it, only the commits that introduced one are listed.
const DEPENDENT_LOOKUPS: usize = 1_000_000;

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

/// What the walk collects about damaged objects before the report is written.
#[derive(Default)]
struct DamageLog {
    /// Objects found damaged (or referenced but absent) -> problem.
    objects: BTreeMap<ObjectId, String>,
    /// Object -> (key, encoded entry) of values needing it.
    values: BTreeMap<ObjectId, BTreeSet<(String, Vec<u8>)>>,
    /// Object -> commits found holding such a value.
    commits: BTreeMap<ObjectId, BTreeSet<CommitId>>,
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
        let mut log = DamageLog::default();
        let store = self.store();
        // Every chunk the packs' tables vouch for; references must point at one of them exactly.
        let mut present = HashSet::new();
        let mut listed = HashSet::new();
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
            listed.insert(id);
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
                Err(Error::Integrity { what }) => {
                    log.objects.entry(id).or_insert(what);
                }
                Err(e) => return Err(e),
            }
        }
        let mut seen_commits = HashSet::new();
        let mut checked: Vec<CommitInfo> = Vec::new();
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
            if let Err(e) = self.check_commit(&c, parent.as_ref(), &present, &listed, &mut log, &mut rep) {
                match e {
                    Error::Integrity { what } => rep.errors.push(format!("commit {}: {what}", c.id())),
                    e => return Err(e),
                }
            }
            checked.push(c);
        }
        self.dependent_commits(&checked, &mut log)?;
        let mut object_errors = Vec::new();
        for (id, problem) in log.objects {
            let keys: BTreeSet<String> =
                log.values.get(&id).map(|v| v.iter().map(|(k, _)| k.clone()).collect()).unwrap_or_default();
            let commits: Vec<CommitId> = log.commits.remove(&id).unwrap_or_default().into_iter().collect();
            let name = object_name(&id);
            let problem = problem.strip_prefix(&format!("pack {name}: ")).unwrap_or(&problem).to_string();
            object_errors.push(format!(
                "object {name}: {problem} (needed by {} key(s) in {} commit(s))",
                keys.len(),
                commits.len()
            ));
            rep.damaged.push(Damage { object: name, problem, keys: keys.into_iter().collect(), commits });
        }
        object_errors.append(&mut rep.errors);
        rep.errors = object_errors;
        Ok(rep)
    }

    /// Every checked commit that holds one of the damaged values (not only the commit that introduced it).
    fn dependent_commits(&self, checked: &[CommitInfo], log: &mut DamageLog) -> Result<()> {
        let damaged: HashMap<&(String, Vec<u8>), Vec<ObjectId>> = log
            .values
            .iter()
            .flat_map(|(o, vs)| vs.iter().map(move |v| (v, *o)))
            .fold(HashMap::new(), |mut m, (v, o)| {
                m.entry(v).or_insert_with(Vec::new).push(o);
                m
            });
        if damaged.len().saturating_mul(checked.len()) > DEPENDENT_LOOKUPS {
            return Ok(());
        }
        let store = self.store();
        for c in checked {
            let Ok(root) = decode_root(c.commit.index.get(FIELD).map(|b| b.as_slice())) else { continue };
            for ((key, entry), objects) in &damaged {
                match tree::get(&**store as &dyn NodeStore, root.as_ref(), key.as_bytes()) {
                    Ok(Some(v)) if v == *entry => {
                        for o in objects {
                            log.commits.entry(*o).or_default().insert(c.id());
                        }
                    }
                    Ok(_) | Err(Error::Integrity { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    fn check_commit(
        &self,
        c: &CommitInfo,
        parent: Option<&CommitInfo>,
        present: &HashSet<ChunkPointer>,
        listed: &HashSet<ObjectId>,
        log: &mut DamageLog,
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
            // A chunk in a damaged or missing object is recorded against the object (reported once, with every
            // key that needs it); a chunk its intact pack does not hold is a problem of this value.
            let r = entry.blob.for_each_pointer(store, &mut |_, p| {
                if present.contains(p) {
                    return Ok(());
                }
                if !listed.contains(&p.object) {
                    log.objects.entry(p.object).or_insert_with(|| "missing (referenced but not stored)".into());
                }
                if log.objects.contains_key(&p.object) {
                    log.values.entry(p.object).or_default().insert((key.clone(), v.clone()));
                    log.commits.entry(p.object).or_default().insert(c.id());
                    return Ok(());
                }
                Err(Error::integrity(format!("chunk {} is missing from object {}", p.id, object_name(&p.object))))
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
