//! Repositories: the public header, key slots, commits and branch refs.
//!
//! A [`Repository`] is opened with a password (trying every key slot) or with an already unlocked master key.
//! Commits are chunks; a branch is a ref object, named by a keyed hash of the branch name and sealed, replaced only
//! by compare-and-swap. [`Repository::commit`] is the compare-and-swap loop: it builds a commit on the current
//! head and swaps the ref; when it loses a race it asks the caller to rebuild on the new head (three-way merge).

mod check;
mod gc;
mod revision;

pub use check::{CheckOptions, CheckReport, Damage};
pub use gc::{GcOptions, GcPlan};

pub use revision::Revision;

use crate::engine::backend::{Backend, BackendError, RefVersion};
use crate::engine::crypto::{hostname, now_secs, KdfParams, KeySlot, Keys, Kind, MasterKey};
use crate::engine::format::{CONFIG_MAGIC, FORMAT_VERSION, META_CLASS, SEAL_OVERHEAD};
use crate::engine::id::CommitId;
use crate::engine::object::{ChunkPointer, Store, StoreOptions};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;

/// The public repository header, stored unencrypted as `config`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Format version.
    pub version: u32,
    /// Random repository id.
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    /// Creation time, seconds since the epoch.
    pub created: u64,
}

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
}

/// A commit with where it is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// Pointer to the commit chunk (its chunk id is the commit id).
    pub ptr: ChunkPointer,
    /// The commit.
    pub commit: Commit,
}

impl CommitInfo {
    /// The commit's id.
    pub fn id(&self) -> CommitId {
        CommitId(self.ptr.id.0)
    }
}

/// Contents of a branch ref.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RefValue {
    branch: String,
    head: ChunkPointer,
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
}

/// An open repository.
pub struct Repository {
    backend: Arc<dyn Backend>,
    store: Arc<Store>,
    config: Config,
}

/// Store small metadata padded to [`META_CLASS`]: `len:u32 || bytes || zeros`.
fn pad_meta(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() + 4 > META_CLASS {
        return Err(Error::Invalid("metadata too large".into()));
    }
    let mut v = Vec::with_capacity(META_CLASS);
    v.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    v.extend_from_slice(bytes);
    v.resize(META_CLASS, 0);
    Ok(v)
}

fn unpad_meta(v: &[u8]) -> Option<&[u8]> {
    let n = u32::from_le_bytes(v.get(..4)?.try_into().ok()?) as usize;
    v.get(4..4 + n)
}

fn cbor<T: Serialize>(t: &T) -> Vec<u8> {
    let mut v = Vec::new();
    ciborium::into_writer(t, &mut v).expect("CBOR encoding into memory cannot fail");
    v
}

fn read_config(backend: &dyn Backend) -> Result<Config> {
    let raw = backend.read("config").map_err(|e| match e {
        BackendError::NotFound { .. } => {
            Error::NoRepository { what: format!("no infini repository at {}", backend.describe()) }
        }
        e => e.into(),
    })?;
    let body = unpad_meta(&raw).ok_or_else(|| Error::integrity("repository header is truncated"))?;
    let body = body
        .strip_prefix(CONFIG_MAGIC.as_slice())
        .ok_or_else(|| Error::NoRepository { what: format!("{} is not an infini repository", backend.describe()) })?;
    let c: Config = ciborium::from_reader(body).map_err(|e| Error::integrity(format!("repository header: {e}")))?;
    if c.version != FORMAT_VERSION {
        return Err(Error::NoRepository {
            what: format!(
                "{} has repository format version {}; this infini reads only version {FORMAT_VERSION}",
                backend.describe(),
                c.version
            ),
        });
    }
    Ok(c)
}

/// List the key slots of a repository (readable without a key).
pub fn key_slots(backend: &dyn Backend) -> Result<Vec<(String, KeySlot)>> {
    let mut out = Vec::new();
    for o in backend.list("keys/")? {
        let raw = backend.read(&o.name)?;
        let slot = unpad_meta(&raw)
            .and_then(|b| ciborium::from_reader::<KeySlot, _>(b).ok())
            .ok_or_else(|| Error::integrity(format!("key slot {} does not decode", o.name)))?;
        out.push((o.name, slot));
    }
    Ok(out)
}

impl Repository {
    /// Create a repository in an empty backend, protected by `password`. Returns it opened.
    pub fn create(backend: Arc<dyn Backend>, password: &[u8], kdf: KdfParams, opts: StoreOptions) -> Result<Self> {
        match backend.read("config") {
            Ok(_) => {
                return Err(Error::Conflict { what: format!("a repository already exists at {}", backend.describe()) })
            }
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        let master = MasterKey::generate();
        let slot = KeySlot::create(&master, password, kdf)?;
        backend.write(
            &format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>())),
            &pad_meta(&cbor(&slot))?,
        )?;
        let config = Config {
            version: FORMAT_VERSION,
            id: crate::engine::crypto::random_bytes::<32>().to_vec(),
            created: now_secs(),
        };
        let mut header = CONFIG_MAGIC.to_vec();
        header.extend_from_slice(&cbor(&config));
        backend.write("config", &pad_meta(&header)?)?;
        Self::with_key(backend, master, opts)
    }

    /// Read a repository's public header without opening it.
    pub fn header(backend: &dyn Backend) -> Result<Config> {
        read_config(backend)
    }

    /// Open with a password, trying every key slot.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8], opts: StoreOptions) -> Result<Self> {
        let master = Self::unlock(&*backend, password)?;
        Self::with_key(backend, master, opts)
    }

    /// Recover the master key with a password.
    pub fn unlock(backend: &dyn Backend, password: &[u8]) -> Result<MasterKey> {
        Self::unlock_slot(backend, password).map(|(_, k)| k)
    }

    /// Recover the master key with a password, and say which key slot opened.
    pub fn unlock_slot(backend: &dyn Backend, password: &[u8]) -> Result<(String, MasterKey)> {
        read_config(backend)?;
        let slots = key_slots(backend)?;
        if slots.is_empty() {
            return Err(Error::WrongPassword);
        }
        for (name, slot) in slots {
            match slot.open(password) {
                Ok(k) => return Ok((name, k)),
                Err(Error::WrongPassword) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::WrongPassword)
    }

    /// Open with an unlocked master key.
    pub fn with_key(backend: Arc<dyn Backend>, master: MasterKey, opts: StoreOptions) -> Result<Self> {
        let config = read_config(&*backend)?;
        let keys = Arc::new(Keys::new(master));
        let store = Arc::new(Store::new(backend.clone(), keys, opts));
        Ok(Self { backend, store, config })
    }

    /// Add a key slot for another password.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<String> {
        let slot = KeySlot::create(self.store.keys().master(), password, kdf)?;
        let name = format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>()));
        self.backend.write(&name, &pad_meta(&cbor(&slot))?)?;
        Ok(name)
    }

    /// Remove a key slot; refuses to remove the last one.
    pub fn remove_key(&self, name: &str) -> Result<()> {
        let slots = key_slots(&*self.backend)?;
        if !slots.iter().any(|(n, _)| n == name) {
            return Err(Error::not_found(format!("key {name}")));
        }
        if slots.len() == 1 {
            return Err(Error::Invalid("refusing to remove the last key".into()));
        }
        self.backend.delete(name)?;
        Ok(())
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The chunk store.
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The public header.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Store a commit (durable at the next flush). Returns its pointer.
    pub fn write_commit(&self, commit: &Commit) -> Result<ChunkPointer> {
        self.store.put_chunk(Kind::Commit, &cbor(commit))
    }

    /// Load a commit.
    pub fn read_commit(&self, ptr: &ChunkPointer) -> Result<CommitInfo> {
        let bytes = self.store.get_chunk(Kind::Commit, ptr)?;
        let commit =
            ciborium::from_reader(bytes.as_slice()).map_err(|e| Error::integrity(format!("commit {}: {e}", ptr.id)))?;
        Ok(CommitInfo { ptr: *ptr, commit })
    }

    fn seal_ref(&self, name: &str, value: &RefValue) -> Result<Vec<u8>> {
        let body = cbor(value);
        if body.len() + 4 > META_CLASS - SEAL_OVERHEAD {
            return Err(Error::Invalid("branch name too long".into()));
        }
        let mut plain = Vec::with_capacity(META_CLASS - SEAL_OVERHEAD);
        plain.extend_from_slice(&(body.len() as u32).to_le_bytes());
        plain.extend_from_slice(&body);
        plain.resize(META_CLASS - SEAL_OVERHEAD, 0);
        Ok(self.store.keys().seal(Kind::Ref, name.as_bytes(), &plain))
    }

    fn open_ref(&self, name: &str, sealed: &[u8]) -> Result<RefValue> {
        let plain = self
            .store
            .keys()
            .open(Kind::Ref, name.as_bytes(), sealed)
            .map_err(|_| Error::integrity(format!("ref {name} does not authenticate")))?;
        let v: RefValue = unpad_meta(&plain)
            .and_then(|b| ciborium::from_reader(b).ok())
            .ok_or_else(|| Error::integrity(format!("ref {name} does not decode")))?;
        if self.store.keys().ref_name(&v.branch) != name {
            return Err(Error::integrity(format!("ref {name} holds another branch's head")));
        }
        Ok(v)
    }

    /// Validate a branch name: non-empty, no whitespace or control characters, not a revision expression.
    pub fn check_branch_name(name: &str) -> Result<()> {
        let bad = name.is_empty()
            || name.len() > 255
            || name == "HEAD"
            || name.starts_with('-')
            || name.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:".contains(c));
        if bad {
            return Err(Error::Invalid(format!("invalid branch name {name:?}")));
        }
        Ok(())
    }

    /// A branch's head and ref version, or `None`.
    pub fn branch(&self, name: &str) -> Result<Option<Branch>> {
        let rn = self.store.keys().ref_name(name);
        match self.backend.read_ref(&rn)? {
            None => Ok(None),
            Some((data, version)) => {
                let v = self.open_ref(&rn, &data)?;
                Ok(Some(Branch { name: v.branch, head: v.head, version }))
            }
        }
    }

    /// All branches, sorted by name.
    pub fn branches(&self) -> Result<Vec<Branch>> {
        let mut out = Vec::new();
        let gc_ref = self.store.keys().ref_name(gc::GC_REF);
        for rn in self.backend.list_refs()? {
            if rn == gc_ref {
                continue;
            }
            if let Some((data, version)) = self.backend.read_ref(&rn)? {
                let v = self.open_ref(&rn, &data)?;
                out.push(Branch { name: v.branch, head: v.head, version });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Create a branch at `head`; [`Error::Conflict`] if it exists.
    pub fn create_branch(&self, name: &str, head: &ChunkPointer) -> Result<Branch> {
        Self::check_branch_name(name)?;
        self.store.flush()?;
        let rn = self.store.keys().ref_name(name);
        let sealed = self.seal_ref(&rn, &RefValue { branch: name.into(), head: *head })?;
        match self.backend.swap_ref(&rn, None, &sealed) {
            Ok(version) => Ok(Branch { name: name.into(), head: *head, version }),
            Err(BackendError::PreconditionFailed { .. }) => {
                Err(Error::Conflict { what: format!("branch {name} already exists") })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Move a branch from `expected` to `head` with compare-and-swap. `Ok(None)` when another writer won.
    pub fn swap_branch(
        &self,
        name: &str,
        expected: Option<&RefVersion>,
        head: &ChunkPointer,
    ) -> Result<Option<RefVersion>> {
        // Write ordering: everything the new head points at must be durable before the ref moves.
        self.store.flush()?;
        let rn = self.store.keys().ref_name(name);
        let sealed = self.seal_ref(&rn, &RefValue { branch: name.into(), head: *head })?;
        match self.backend.swap_ref(&rn, expected, &sealed) {
            Ok(v) => Ok(Some(v)),
            Err(BackendError::PreconditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a branch.
    pub fn delete_branch(&self, name: &str) -> Result<()> {
        if self.branch(name)?.is_none() {
            return Err(Error::not_found(format!("branch {name}")));
        }
        self.backend.delete_ref(&self.store.keys().ref_name(name))?;
        Ok(())
    }

    /// Commit onto `branch` with a compare-and-swap loop.
    ///
    /// `build(parent)` returns the new index roots on top of `parent` (the branch head now, `None` for a new
    /// branch); it is called again with the new head whenever another writer moved the branch meanwhile, and may
    /// fail with [`Error::Conflict`] when its changes cannot be merged. Returns the new commit.
    pub fn commit(
        &self,
        branch: &str,
        message: &str,
        build: &mut dyn FnMut(Option<&CommitInfo>) -> Result<IndexRoots>,
    ) -> Result<CommitInfo> {
        Self::check_branch_name(branch)?;
        let mut attempt = 0u32;
        loop {
            let current = self.branch(branch)?;
            let parent = match &current {
                Some(b) => Some(self.read_commit(&b.head)?),
                None => None,
            };
            let index = build(parent.as_ref())?;
            let commit = Commit {
                parents: parent.iter().map(|p| p.ptr).collect(),
                index,
                message: message.to_string(),
                time: now_secs(),
                host: hostname(),
            };
            let ptr = self.write_commit(&commit)?;
            if self.swap_branch(branch, current.as_ref().map(|b| &b.version), &ptr)?.is_some() {
                return Ok(CommitInfo { ptr, commit });
            }
            attempt += 1;
            // Back off a little with jitter so racing writers spread out.
            let ms = rand::random::<u64>() % (5 * u64::from(attempt.min(20)) + 1);
            std::thread::sleep(std::time::Duration::from_millis(ms));
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
    use crate::engine::backend::memory::MemoryBackend;

    fn kdf() -> KdfParams {
        KdfParams { log_n: 10, r: 8, p: 1 }
    }

    fn repo() -> (Arc<MemoryBackend>, Repository) {
        let b = Arc::new(MemoryBackend::new());
        let r = Repository::create(b.clone(), b"pw", kdf(), StoreOptions::default()).unwrap();
        (b, r)
    }

    #[test]
    fn create_open_and_passwords() {
        let (b, r) = repo();
        assert!(matches!(Repository::open(b.clone(), b"nope", StoreOptions::default()), Err(Error::WrongPassword)));
        let r2 = Repository::open(b.clone(), b"pw", StoreOptions::default()).unwrap();
        assert_eq!(r2.config().id, r.config().id);
        let slot = r.add_key(b"second", kdf()).unwrap();
        Repository::open(b.clone(), b"second", StoreOptions::default()).unwrap();
        r.remove_key(&slot).unwrap();
        assert!(matches!(Repository::open(b.clone(), b"second", StoreOptions::default()), Err(Error::WrongPassword)));
        let last = key_slots(&*b).unwrap()[0].0.clone();
        assert!(r.remove_key(&last).is_err());
        assert!(matches!(Repository::create(b, b"x", kdf(), StoreOptions::default()), Err(Error::Conflict { .. })));
        let empty = Arc::new(MemoryBackend::new());
        assert!(matches!(Repository::open(empty, b"pw", StoreOptions::default()), Err(Error::NoRepository { .. })));
    }

    #[test]
    fn commits_branches_and_merge_base() {
        let (_, r) = repo();
        let mut n = 0;
        let mut build = |_: Option<&CommitInfo>| {
            n += 1;
            Ok(IndexRoots::from([("n".to_string(), serde_bytes::ByteBuf::from(vec![n]))]))
        };
        let c1 = r.commit("main", "one", &mut build).unwrap();
        let c2 = r.commit("main", "two", &mut build).unwrap();
        assert_eq!(c2.commit.parents, vec![c1.ptr]);
        r.create_branch("exp", &c1.ptr).unwrap();
        assert!(matches!(r.create_branch("exp", &c1.ptr), Err(Error::Conflict { .. })));
        let c3 = r.commit("exp", "three", &mut build).unwrap();
        assert_eq!(r.merge_base(&c2.ptr, &c3.ptr).unwrap(), Some(c1.ptr));
        assert_eq!(r.merge_base(&c2.ptr, &c1.ptr).unwrap(), Some(c1.ptr));
        let names: Vec<String> = r.branches().unwrap().into_iter().map(|b| b.name).collect();
        assert_eq!(names, vec!["exp", "main"]);
        let log: Vec<String> = r.log(&c3.ptr, 10).unwrap().into_iter().map(|c| c.commit.message).collect();
        assert_eq!(log, vec!["three", "one"]);
        r.delete_branch("exp").unwrap();
        assert!(r.branch("exp").unwrap().is_none());
        assert!(matches!(r.delete_branch("exp"), Err(Error::NotFound { .. })));
    }

    #[test]
    fn lost_race_rebuilds_on_new_head() {
        let (b, r) = repo();
        let other = Repository::open(b, b"pw", StoreOptions::default()).unwrap();
        let base = r.commit("main", "base", &mut |_| Ok(IndexRoots::new())).unwrap();
        let mut calls = Vec::new();
        let c = r
            .commit("main", "mine", &mut |parent| {
                calls.push(parent.map(|p| p.ptr));
                if calls.len() == 1 {
                    // Another writer commits between our read of the head and our swap.
                    other.commit("main", "theirs", &mut |_| Ok(IndexRoots::new())).unwrap();
                }
                Ok(IndexRoots::new())
            })
            .unwrap();
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0], Some(base.ptr));
        assert_ne!(calls[1], Some(base.ptr));
        assert_eq!(c.commit.parents, vec![calls[1].unwrap()]);
    }
}
