//! Repositories: the public header (`header.rs`), key slots (`keys.rs`), commits (`commits.rs`) and branch refs
//! (`refs.rs`), checked against the last state a reader saw (`seen.rs`); padded metadata (`meta.rs`).
//!
//! A [`Repository`] is opened with a password (trying every key slot) or with an already unlocked master key.
//! Commits are chunks; a branch is a ref object, named by a keyed hash of the branch name and sealed, replaced only
//! by compare-and-swap. [`Repository::commit`] is the compare-and-swap loop: it builds a commit on the current
//! head and swaps the ref; when it loses a race it asks the caller to rebuild on the new head (three-way merge).

mod check;
mod commits;
mod copy;
pub(crate) mod forget;
pub(crate) mod gc;
mod header;
mod keys;
pub(crate) mod meta;
mod recent;
mod refs;
mod rescue;
mod revision;
mod rewrite;
mod seen;
mod values;

pub use check::{CheckOptions, CheckReport, Damage};
#[cfg(test)]
pub(crate) use commits::Commit;
pub use commits::{CommitInfo, IndexRoots};
pub use copy::{copies, Importer, COPIED_FORGOTTEN};
pub use forget::{
    BranchRetention, CommitRetention, ForgetOptions, ForgetOutcome, ForgetRun, ForgetScope, Forgotten, EVERY_BRANCH,
};
pub use gc::{GcOptions, GcPlan, DEFAULT_REPACK_THRESHOLD};
pub use header::Config;
pub use keys::{KeySlots, RawKey, Unlocked, UnlockedAny, RAW_KEY_KDF};
pub use refs::{Branch, RefChanged, Tag};
pub use rescue::{Abandoned, Restored};
pub use rewrite::{BranchRewrite, Replaced, RewriteOptions, RewriteOutcome, RewriteRun, Rewritten, RewrittenCommit};
pub use seen::{SaveSeen, SeenMap, SeenRef, SeenRefs};

pub use values::{CacheStats, KindStats, RepositoryStats, WriteStats};

use crate::engine::backend::Backend;
use crate::engine::crypto::{encode_header, KdfParams, KeySlot, Keys, MasterKey, SlotKey, WriterKeySet};
use crate::engine::format::FORMAT_VERSION;
use crate::engine::object::{Store, StoreOptions};
use crate::engine::{Error, Result};
use header::read_config;
use std::sync::Arc;

/// An open repository.
pub struct Repository {
    backend: Arc<dyn Backend>,
    store: Arc<Store>,
    config: Config,
    /// The last seen state of each branch's ref, when refs are checked against it ([`Repository::watch_refs`]).
    seen: Option<Arc<seen::SeenRefs>>,
    /// A write-only key's name (`None`: a full key).
    writer: Option<String>,
    /// The folded index roots of writer commits already folded (see [`Repository::state`]).
    folds: std::sync::Mutex<std::collections::HashMap<crate::engine::id::ChunkId, IndexRoots>>,
    /// The gc ref as this process last read or wrote it (its state and version, `None`: there was none): a commit's
    /// early check, claim and release, and the dedup index's sync start from it (see [`recent`]).
    gc_known: recent::Recent<(gc::GcState, Option<crate::engine::backend::RefVersion>)>,
    /// Each branch's or tag's ref as this process last read or wrote it (`None`: there was none), and when: a
    /// commit's first attempt builds on it rather than reading the ref again (see [`refs::Known`]).
    refs_known: refs::Known,
    /// The commits rewritten, as [`Repository::read_rewrites_ahead`] read them.
    rewrites_ahead: recent::Recent<Rewritten>,
}

impl Repository {
    /// Create a repository in an empty backend, protected by `password`. Returns it opened.
    pub fn create(backend: Arc<dyn Backend>, password: &[u8], kdf: KdfParams, opts: StoreOptions) -> Result<Self> {
        match backend.read("config") {
            Ok(_) => return Err(Error::AlreadyExists { what: format!("a repository at {}", backend.describe()) }),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        let keys = Keys::new(MasterKey::generate());
        let config = Config::new(&keys);
        let name = format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>()));
        let slot = KeySlot::create(&keys, password, kdf, &config.id, &name)?;
        backend.write(&name, &slot.encode()?)?;
        backend.write("config", &encode_header(&config)?)?;
        let master = MasterKey::from_slice(keys.master().expect("a new full key").expose()).expect("32-byte key");
        Self::with_key(backend, master, opts)
    }

    /// Open with a password, trying every key slot.
    pub fn open(backend: Arc<dyn Backend>, password: &[u8], opts: StoreOptions) -> Result<Self> {
        let master = Self::unlock(&*backend, password)?;
        Self::with_key(backend, master, opts)
    }

    /// Open with an unlocked master key.
    pub fn with_key(backend: Arc<dyn Backend>, master: MasterKey, opts: StoreOptions) -> Result<Self> {
        let config = read_config(&*backend)?;
        Self::with_header(backend, master, config, opts)
    }

    /// Open with an unlocked master key and the repository's header as read before (by [`Repository::header`]),
    /// without reading it again: opening then makes no request to the backend. A header that belongs to another
    /// repository shows up as an integrity error at the first authenticated read.
    pub fn with_header(
        backend: Arc<dyn Backend>,
        master: MasterKey,
        config: Config,
        opts: StoreOptions,
    ) -> Result<Self> {
        check_version(&*backend, &config)?;
        Self::assemble(backend, Keys::new(master), config, opts, None)
    }

    fn assemble(
        backend: Arc<dyn Backend>,
        keys: Keys,
        config: Config,
        opts: StoreOptions,
        writer: Option<String>,
    ) -> Result<Self> {
        let keys = Arc::new(keys);
        config.verify(&keys)?;
        let store = Arc::new(Store::new(backend.clone(), keys, opts));
        Ok(Self {
            backend,
            store,
            config,
            seen: None,
            writer,
            folds: Default::default(),
            gc_known: Default::default(),
            refs_known: Default::default(),
            rewrites_ahead: Default::default(),
        })
    }

    /// Open with a write-only key's password (see docs/design.md, *Write-only keys*): the repository can stage
    /// and commit (through [`Infinitree`](crate::engine::db::Infinitree) or the library's fields), but every read
    /// of stored content — values, keys, commits, history — fails with [`Error::WriteOnly`] before any request.
    /// A password that opens a full key is refused too ([`Error::Invalid`]): open it with [`Repository::open`].
    ///
    /// ```
    /// use infini::{fields::VersionedMap, Error, Infinitree, KdfParams, Location, Repository, StoreOptions};
    /// # fn main() -> infini::Result<()> {
    /// # let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
    /// let repo = Repository::create_at(&Location::Memory, b"the reader's password")?;
    /// repo.add_writer_key(b"the CI machine's password", kdf, "ci-runner")?;
    ///
    /// // On the CI machine: stage and commit, read nothing.
    /// let ci = Repository::open_write_only(repo.backend().clone(), b"the CI machine's password", StoreOptions::default())?;
    /// let mut w = Infinitree::<VersionedMap<String, String>>::open(ci, "main")?;
    /// w.index().insert("builds/42".into(), "passed".into());
    /// w.commit("build 42")?;
    /// assert!(matches!(w.index().get(&"builds/42".to_string()), Err(Error::WriteOnly { .. })));
    ///
    /// // With the full key: the writer's commit reads as any other.
    /// let r = Infinitree::<VersionedMap<String, String>>::open(repo, "main")?;
    /// assert_eq!(r.index().get(&"builds/42".to_string())?, Some("passed".into()));
    /// assert_eq!(r.head().and_then(|c| c.writer()), Some("ci-runner"));
    /// # Ok(()) }
    /// ```
    pub fn open_write_only(backend: Arc<dyn Backend>, password: &[u8], opts: StoreOptions) -> Result<Self> {
        let u = Self::unlock_any_with(&*backend, password, &mut |_, _| {})?;
        match u.key {
            SlotKey::Writer(set) => Self::with_writer_keys(backend, &set, u.writer.unwrap_or(u.slot), opts),
            SlotKey::Master(_) => Err(Error::Invalid("this password opens a full key, not a write-only one".into())),
        }
    }

    /// Open with a password, whichever kind of key it opens: a full key or a write-only one
    /// ([`Repository::is_write_only`] tells which).
    pub fn open_any(backend: Arc<dyn Backend>, password: &[u8], opts: StoreOptions) -> Result<Self> {
        let u = Self::unlock_any_with(&*backend, password, &mut |_, _| {})?;
        match u.key {
            SlotKey::Writer(set) => Self::with_writer_keys(backend, &set, u.writer.unwrap_or(u.slot), opts),
            SlotKey::Master(master) => Self::with_key(backend, master, opts),
        }
    }

    /// Open with a write-only key's key set (as a writer's workspace keeps it) and its name.
    pub fn with_writer_keys(
        backend: Arc<dyn Backend>,
        set: &WriterKeySet,
        name: String,
        opts: StoreOptions,
    ) -> Result<Self> {
        let config = read_config(&*backend)?;
        check_version(&*backend, &config)?;
        Self::assemble(backend, Keys::writer(set), config, opts, Some(name))
    }

    /// Every pack this process has written to the repository so far (a write-only key's commit claims them; a
    /// program that stages in one process and commits in another passes them on, as the command line does).
    pub fn written_packs(&self) -> Vec<crate::engine::id::ObjectId> {
        self.store.written_packs()
    }

    /// [`Repository::with_writer_keys`] with the repository's header as read before: no request is made.
    pub fn with_writer_header(
        backend: Arc<dyn Backend>,
        set: &WriterKeySet,
        name: String,
        config: Config,
        opts: StoreOptions,
    ) -> Result<Self> {
        check_version(&*backend, &config)?;
        Self::assemble(backend, Keys::writer(set), config, opts, Some(name))
    }

    /// Whether the repository was opened with a write-only key.
    pub fn is_write_only(&self) -> bool {
        self.writer.is_some()
    }

    /// The write-only key's name, when opened with one.
    pub fn writer_name(&self) -> Option<&str> {
        self.writer.as_deref()
    }

    /// [`Error::WriteOnly`] naming `what` and the key, when opened with a write-only key.
    pub(crate) fn refuse_write_only(&self, what: &str) -> Result<()> {
        match &self.writer {
            Some(name) => Err(Error::WriteOnly { what: format!("{what} (write-only key {name})") }),
            None => Ok(()),
        }
    }

    /// The key set of a write-only key, to keep (as a writer's workspace does); `None` for a full key.
    pub fn writer_keys(&self) -> Option<WriterKeySet> {
        self.writer.as_ref()?;
        Some(self.store.keys().writer_set())
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// The chunk store.
    pub(crate) fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The unlocked master key (to remember it, as a workspace does until it is locked). [`Error::WriteOnly`] for a
    /// repository opened with a write-only key, which has none.
    pub fn master_key(&self) -> Result<&MasterKey> {
        self.refuse_write_only("the master key")?;
        self.store.keys().master().ok_or_else(|| Error::WriteOnly { what: "the master key".into() })
    }

    /// The public header.
    pub fn config(&self) -> &Config {
        &self.config
    }
}

/// A repository of another format version is refused, naming both versions.
fn check_version(backend: &dyn Backend, config: &Config) -> Result<()> {
    if config.version != FORMAT_VERSION {
        return Err(Error::NoRepository {
            what: format!(
                "{} has repository format version {}; this infini reads only version {FORMAT_VERSION}",
                backend.describe(),
                config.version
            ),
        });
    }
    Ok(())
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

    /// One repository in memory, opened twice (as by two processes).
    pub(super) fn two_processes() -> (Repository, Repository) {
        let (b, one) = repo();
        (one, Repository::open(b, b"pw", StoreOptions::default()).unwrap())
    }

    /// A repository as a program of an earlier version wrote it: the same objects, with `version` in its header.
    fn version(version: u32) -> Arc<MemoryBackend> {
        let b = Arc::new(MemoryBackend::new());
        let keys = Keys::new(MasterKey::generate());
        let mut config = Config::new(&keys);
        config.version = version;
        let mut v = Vec::new();
        ciborium::into_writer(&(config.version, serde_bytes::Bytes::new(&config.id), config.created), &mut v).unwrap();
        config.mac = keys.header_mac(&v).to_vec();
        let name = "keys/00000000000000000000000000000000";
        b.write(name, &KeySlot::create(&keys, b"pw", kdf(), &config.id, name).unwrap().encode().unwrap()).unwrap();
        b.write("config", &encode_header(&config).unwrap()).unwrap();
        b
    }

    /// Each earlier version, refused with both versions named: version 10 knew no index nodes stored as
    /// differences (it would fail to decode what gc moved), version 9's forwarding tables are another encoding,
    /// version 8 knew no tags (its gc would collect a tagged commit's data).
    #[test]
    fn a_repository_of_versions_7_to_10_is_refused_naming_both_versions() {
        for v in 7..=10 {
            let e = Repository::open(version(v), b"pw", StoreOptions::default()).err().unwrap();
            assert!(matches!(e, Error::NoRepository { .. }), "{e}");
            let e = e.to_string();
            assert!(e.contains(&format!("version {v};")) && e.contains("version 11"), "{e}");
        }
    }

    #[test]
    fn a_version_6_repository_is_refused_naming_both_versions() {
        let b = Arc::new(MemoryBackend::new());
        let keys = Keys::new(MasterKey::generate());
        let mut config = Config::new(&keys);
        config.version = 6;
        b.write("config", &encode_header(&config).unwrap()).unwrap();
        let e = Repository::with_key(b, MasterKey::generate(), StoreOptions::default()).err().unwrap().to_string();
        assert!(e.contains("version 6") && e.contains("version 11"), "{e}");
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
        let last = Repository::key_slots(&*b).unwrap().slots[0].0.clone();
        assert!(r.remove_key(&last).is_err());
        assert!(matches!(
            Repository::create(b, b"x", kdf(), StoreOptions::default()),
            Err(Error::AlreadyExists { .. })
        ));
        let empty = Arc::new(MemoryBackend::new());
        assert!(matches!(Repository::open(empty, b"pw", StoreOptions::default()), Err(Error::NoRepository { .. })));
    }

    #[test]
    fn commits_branches_and_merge_base() {
        let (_, r) = repo();
        // No fields: creating a branch claims what its head reaches, traced through an index that must declare
        // every field of its commits.
        let mut build = |_: Option<&CommitInfo>| Ok(IndexRoots::new());
        let c1 = r.commit("main", "one", &mut build).unwrap();
        let c2 = r.commit("main", "two", &mut build).unwrap();
        assert_eq!(c2.commit.parents, vec![c1.ptr]);
        r.create_branch("exp", &c1.ptr, &crate::engine::namespace::NamespaceIndex::default()).unwrap();
        assert!(matches!(
            r.create_branch("exp", &c1.ptr, &crate::engine::namespace::NamespaceIndex::default()),
            Err(Error::AlreadyExists { .. })
        ));
        let c3 = r.commit("exp", "three", &mut build).unwrap();
        assert_eq!(r.merge_base(&c2.ptr, &c3.ptr).unwrap(), Some(c1.ptr));
        assert_eq!(r.merge_base(&c2.ptr, &c1.ptr).unwrap(), Some(c1.ptr));
        let names: Vec<String> = r.branches().unwrap().into_iter().map(|b| b.name).collect();
        assert_eq!(names, vec!["exp", "main"]);
        let log: Vec<String> = r.log(&c3.ptr, 10).unwrap().into_iter().map(|c| c.commit.message).collect();
        assert_eq!(log, vec!["three", "one"]);
        r.delete_branch("exp").unwrap();
        assert!(r.branch("exp").unwrap().is_none());
        let names: Vec<String> = r.branches().unwrap().into_iter().map(|b| b.name).collect();
        assert_eq!(names, vec!["main"], "a deleted branch's marker is not listed");
        assert!(matches!(r.delete_branch("exp"), Err(Error::NotFound { .. })));
        let c4 = r.commit("exp", "again", &mut build).unwrap();
        assert!(c4.commit.parents.is_empty(), "created again from nothing");
        assert_eq!(r.branch("exp").unwrap().unwrap().seq, 4);
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

    #[test]
    fn watched_refs_catch_rollback_replacement_and_vanishing() {
        let (b, r) = repo();
        let mut w = Repository::open(b.clone(), b"pw", StoreOptions::default()).unwrap();
        let seen = Arc::new(SeenRefs::new(SeenMap::new(), None));
        w.watch_refs(seen.clone());
        let mut empty = |_: Option<&CommitInfo>| Ok(IndexRoots::new());
        let c1 = r.commit("main", "one", &mut empty).unwrap();
        assert_eq!(w.branch("main").unwrap().unwrap().head, c1.ptr);
        let rn = r.store().keys().ref_name("main");
        let old = b.read_ref(&rn).unwrap().unwrap().0;
        r.commit("main", "two", &mut empty).unwrap();
        let c3 = r.commit("main", "three", &mut empty).unwrap();
        // Forward by two changes: accepted silently, recorded.
        assert_eq!(w.branch("main").unwrap().unwrap().head, c3.ptr);
        assert_eq!(seen.get("main").unwrap().seq, 3);
        let rollback = |w: &Repository| {
            let e = w.branch("main").unwrap_err();
            assert!(matches!(e, Error::Integrity { .. }), "{e:?}");
            e.detail()
        };
        // An old ref replayed.
        let v = b.read_ref(&rn).unwrap().unwrap().1;
        b.swap_ref(&rn, Some(&v), &old).unwrap();
        assert!(rollback(&w).contains("went back"));
        assert!(w.branches().is_err());
        assert!(w.commit("main", "mine", &mut empty).is_err(), "no commit on a rolled-back branch");
        // Another history written on the old state: the same sequence number with another head, then further.
        let x = Repository::open(b.clone(), b"pw", StoreOptions::default()).unwrap();
        x.commit("main", "x2", &mut empty).unwrap();
        x.commit("main", "x3", &mut empty).unwrap();
        assert!(rollback(&w).contains("replaced"));
        x.commit("main", "x4", &mut empty).unwrap();
        assert!(rollback(&w).contains("does not descend"));
        // Gone.
        b.delete_ref(&rn).unwrap();
        assert!(rollback(&w).contains("gone"));
        let e = w.branches().unwrap_err();
        assert!(e.detail().contains("branch main"), "{e:?}");
        // Accepted: the branch is as the repository holds it.
        let (before, now) = w.accept_ref("main").unwrap();
        assert_eq!(before.unwrap().head, c3.ptr);
        assert!(now.is_none());
        assert!(w.branch("main").unwrap().is_none());
        assert!(w.branches().unwrap().is_empty());
        // Changes made on `three` commit on it and create the branch again: never a new root.
        let again = w.commit_on("main", "on three", Some(&c3), None, &mut empty).unwrap();
        assert_eq!(again.commit.parents, vec![c3.ptr]);
        assert_eq!(w.branch("main").unwrap().unwrap().head, again.ptr);
        // A deletion through delete_branch is not a vanished ref.
        let c = r.commit("side", "s", &mut empty).unwrap();
        assert_eq!(w.branch("side").unwrap().unwrap().head, c.ptr);
        r.delete_branch("side").unwrap();
        assert!(w.branch("side").unwrap().is_none());
        assert!(seen.get("side").unwrap().deleted);
        r.create_branch("side", &c1.ptr, &crate::engine::namespace::NamespaceIndex::default()).unwrap();
        assert_eq!(w.branch("side").unwrap().unwrap().head, c1.ptr, "created again: need not descend");
    }
}
