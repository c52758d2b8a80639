//! [`Infinitree`]: an [`Index`] bound to a branch of a repository — the library's entry point.
//!
//! ```
//! use infini::{fields::VersionedMap, Infinitree, Location, Repository};
//! # fn main() -> infini::Result<()> {
//! let repo = Repository::create_at(&Location::Memory, b"secret")?;
//! let mut tree = Infinitree::<VersionedMap<String, usize>>::open(repo, "main")?;
//! tree.index().insert("sample_size".into(), 1234);
//! let first = tree.commit("first measurement! yay!")?;
//! let old = tree.at(first.id())?;
//! assert_eq!(old.get(&"sample_size".to_string())?, Some(1234));
//! // Nothing staged: nothing to commit.
//! assert!(matches!(tree.commit("again"), Err(infini::Error::NothingToCommit)));
//! # Ok(()) }
//! ```

use crate::engine::chunk::{Blob, BlobReader, BlobWriter, WriteOptions};
use crate::engine::fields::Index;
use crate::engine::id::CommitId;
use crate::engine::object::ChunkPointer;
use crate::engine::repo::{CommitInfo, IndexRoots, Repository};
use crate::engine::{Error, Result};
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

/// Load every field of `index` from a commit's roots.
pub fn load_index(repo: &Repository, index: &dyn Index, commit: Option<&CommitInfo>) -> Result<()> {
    let state = commit.map(|c| repo.state(c)).transpose()?;
    for (name, field) in index.fields() {
        let root = state.as_ref().and_then(|s| s.get(name)).map(|b| b.as_slice());
        field.load(repo.store(), root)?;
    }
    Ok(())
}

/// Build the roots of a new commit on `parent`: every field commits its staged changes, merging when the parent
/// moved past the field's base.
pub fn build_roots(repo: &Repository, index: &dyn Index, parent: Option<&CommitInfo>) -> Result<IndexRoots> {
    let mut roots = IndexRoots::new();
    let state = parent.map(|c| repo.state(c)).transpose()?;
    for (name, field) in index.fields() {
        let p = state.as_ref().and_then(|s| s.get(name)).map(|b| b.as_slice());
        let root = field.commit(repo.store(), p).map_err(|e| match e {
            // Fields do not know the name they are stored under: the conflict names it here.
            Error::MergeConflict { field, keys } if field.is_empty() => {
                Error::MergeConflict { field: name.to_string(), keys }
            }
            e => e,
        })?;
        roots.insert(name.to_string(), serde_bytes::ByteBuf::from(root));
    }
    // Fields a newer writer added that this index does not know are carried over.
    if let Some(p) = &state {
        for (k, v) in p.iter() {
            roots.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    Ok(roots)
}

impl Repository {
    /// Load every field of `index` as it was at `commit` (`None`: empty, as before a branch's first commit),
    /// discarding what the fields had staged. Only the nodes later reads touch are fetched.
    pub fn load_index(&self, index: &dyn Index, commit: Option<&CommitInfo>) -> Result<()> {
        load_index(self, index, commit)
    }

    /// Commit what `index`'s fields have staged onto `branch` (created by its first commit). When other writers
    /// moved the branch since the fields were loaded, the changes are merged by key onto the new head;
    /// overlapping changes fail with [`Error::MergeConflict`] and nothing is committed. This is
    /// [`Infinitree::commit`] for an index that is not bound to a branch.
    pub fn commit_index(&self, branch: &str, message: &str, index: &dyn Index) -> Result<CommitInfo> {
        self.commit_on(branch, message, None, Some(index), &mut |parent| build_roots(self, index, parent))
    }

    /// [`Repository::commit_index`] for changes made on `base`, the commit `index` was loaded from (`None`: on
    /// nothing, before the branch's first commit). A branch that had history never starts over from nothing: when
    /// it no longer exists (deleted, or its ref gone), the commit builds on `base` and creates the branch again.
    pub fn commit_index_on(
        &self,
        branch: &str,
        message: &str,
        index: &dyn Index,
        base: Option<&CommitInfo>,
    ) -> Result<CommitInfo> {
        self.commit_on(branch, message, base, Some(index), &mut |parent| build_roots(self, index, parent))
    }

    /// [`Repository::commit_index_on`] with options: the program's own metadata, a commit time
    /// ([`CommitOptions::time`]). `allow_empty` is the caller's to enforce: this records whatever `index` holds.
    pub fn commit_index_on_with(
        &self,
        branch: &str,
        message: &str,
        index: &dyn Index,
        base: Option<&CommitInfo>,
        opts: &CommitOptions,
    ) -> Result<CommitInfo> {
        self.commit_on_with(
            branch,
            message,
            opts.metadata.as_deref(),
            opts.time,
            opts.merged.as_ref(),
            base,
            Some(index),
            &mut |parent| build_roots(self, index, parent),
        )
    }
}

/// Options of [`Infinitree::commit_with`].
#[derive(Clone, Debug, Default)]
pub struct CommitOptions {
    /// Record a commit even when no field has anything staged (otherwise [`Error::NothingToCommit`]).
    pub allow_empty: bool,
    /// The program's own metadata, sealed into the commit (the seed's `CustomData`): the CBOR of a serde value,
    /// set by [`CommitOptions::metadata`] and read back by [`CommitInfo::metadata`].
    pub metadata: Option<Vec<u8>>,
    /// The commit's time (seconds since the epoch) instead of the clock's: for importing snapshots taken earlier,
    /// and for retention policies (see [`Repository::forget`]) tested on histories of chosen times.
    pub time: Option<u64>,
    /// Make a merge commit: this commit becomes its second parent (the first is the branch's head). The staged
    /// changes are the merge's result; they merge with concurrent commits on the branch as any commit's do.
    pub merged: Option<ChunkPointer>,
}

impl CommitOptions {
    /// Record `value` (any serde value) as the commit's metadata.
    ///
    /// ```
    /// use infini::{fields::Serialized, CommitOptions, Infinitree, Location, Repository};
    /// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    /// struct Run { operator: String, samples: u32 }
    /// # fn main() -> infini::Result<()> {
    /// let repo = Repository::create_at(&Location::Memory, b"secret")?;
    /// let mut tree = Infinitree::<Serialized<u32>>::open(repo, "main")?;
    /// tree.index().set(7);
    /// let run = Run { operator: "ada".into(), samples: 7 };
    /// let c = tree.commit_with("run 7", &CommitOptions::default().metadata(&run)?)?;
    /// assert_eq!(c.metadata::<Run>()?, Some(run));
    /// # Ok(()) }
    /// ```
    pub fn metadata<T: serde::Serialize>(mut self, value: &T) -> Result<Self> {
        let mut out = Vec::new();
        ciborium::into_writer(value, &mut out)
            .map_err(|e| Error::Invalid(format!("commit metadata does not serialize: {e}")))?;
        self.metadata = Some(out);
        Ok(self)
    }

    /// Record `secs` (seconds since the epoch) as the commit's time instead of the clock's.
    pub fn time(mut self, secs: u64) -> Self {
        self.time = Some(secs);
        self
    }

    /// Allow a commit with nothing staged.
    pub fn allow_empty(mut self) -> Self {
        self.allow_empty = true;
        self
    }
}

/// An index on a branch.
pub struct Infinitree<I> {
    repo: Arc<Repository>,
    branch: String,
    index: I,
    head: Option<CommitInfo>,
}

impl<I: Index + Default> Infinitree<I> {
    /// Open `branch` (created by the first commit if it does not exist) and load its head. Takes the repository
    /// as it is opened (a [`Repository`]) or shared (an `Arc<Repository>`).
    pub fn open(repo: impl Into<Arc<Repository>>, branch: &str) -> Result<Self> {
        let repo = repo.into();
        Repository::check_branch_name(branch)?;
        if repo.is_write_only() {
            // A write-only key loads nothing: it stages on top of whatever the branch holds when it commits.
            let index = I::default();
            load_index(&repo, &index, None)?;
            return Ok(Self { repo, branch: branch.to_string(), index, head: None });
        }
        let head = match repo.branch(branch)? {
            Some(b) => Some(repo.read_commit_to_view(&b.head)?),
            None => None,
        };
        let index = I::default();
        load_index(&repo, &index, head.as_ref())?;
        Ok(Self { repo, branch: branch.to_string(), index, head })
    }

    /// The seed's entry point: the branch `main` of the repository on `backend`, unlocked with `key`. With a
    /// password ([`Key::from_credentials`](crate::engine::credentials::Key::from_credentials)) the repository is
    /// created (default key derivation) if the backend holds none; a master key
    /// ([`Key::from_master_key`](crate::engine::credentials::Key::from_master_key)) opens one that exists.
    ///
    /// ```
    /// use infini::{backends::MemoryBackend, fields::VersionedMap, Infinitree, Key};
    /// # fn main() -> infini::Result<()> {
    /// let backend = std::sync::Arc::new(MemoryBackend::new());
    /// let mut tree = Infinitree::<VersionedMap<String, usize>>::empty(backend.clone(), Key::from_password("pw")?)?;
    /// tree.index().insert("sample_size".into(), 1234);
    /// tree.commit("first measurement! yay!")?;
    /// let tree = Infinitree::<VersionedMap<String, usize>>::empty(backend, Key::from_password("pw")?)?;
    /// assert_eq!(tree.index().get(&"sample_size".into())?, Some(1234));
    /// # Ok(()) }
    /// ```
    pub fn empty(backend: impl crate::engine::backend::Backend, key: crate::engine::credentials::Key) -> Result<Self> {
        use crate::engine::credentials::Secret;
        use crate::engine::object::StoreOptions;
        let backend: Arc<dyn crate::engine::backend::Backend> = Arc::new(backend);
        let exists = match backend.read("config") {
            Ok(_) => true,
            Err(e) if e.is_not_found() => false,
            Err(e) => return Err(e.into()),
        };
        let repo = match (key.0, exists) {
            (Secret::Password(p), true) => Repository::open(backend, &p, StoreOptions::default())?,
            (Secret::Password(p), false) => {
                Repository::create(backend, &p, crate::engine::crypto::KdfParams::default(), StoreOptions::default())?
            }
            (Secret::Master(m), true) => Repository::with_key(backend, m, StoreOptions::default())?,
            (Secret::Master(_), false) => {
                return Err(Error::NoRepository {
                    what: format!(
                        "{} (a master key opens a repository; create one with a password)",
                        backend.describe()
                    ),
                })
            }
        };
        Self::open(Arc::new(repo), "main")
    }

    /// The index: read and stage changes through its fields.
    pub fn index(&self) -> &I {
        &self.index
    }

    /// The commit the index was loaded from or last committed.
    pub fn head(&self) -> Option<&CommitInfo> {
        self.head.as_ref()
    }

    /// Commit staged changes. Concurrent commits to the branch are merged by key; overlapping changes (in any
    /// kind of field) fail with [`Error::MergeConflict`], naming the field and its keys, and stay staged. A value
    /// or message over its limit fails with [`Error::TooLarge`] before anything is written. With nothing staged in
    /// any field nothing is written and the result is [`Error::NothingToCommit`] (see [`Infinitree::commit_with`]
    /// for an empty commit).
    ///
    /// ```
    /// use infini::{fields::VersionedMap, Error, Infinitree, Location, Repository};
    /// # fn main() -> infini::Result<()> {
    /// let repo = std::sync::Arc::new(Repository::create_at(&Location::Memory, b"pw")?);
    /// let mut a = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main")?;
    /// let mut b = Infinitree::<VersionedMap<String, u64>>::open(repo, "main")?;
    /// a.index().insert("k".into(), 1);
    /// b.index().insert("k".into(), 2);
    /// a.commit("a")?;
    /// match b.commit("b") {
    ///     Err(Error::MergeConflict { field, keys }) => assert_eq!((field.as_str(), keys), ("root", vec!["k".to_string()])),
    ///     other => panic!("{other:?}"),
    /// }
    /// // Still staged: take the branch's new head and decide.
    /// assert_eq!(b.index().get(&"k".to_string())?, Some(2));
    /// # Ok(()) }
    /// ```
    pub fn commit(&mut self, message: &str) -> Result<CommitInfo> {
        self.commit_with(message, &CommitOptions::default())
    }

    /// [`Infinitree::commit`] with options: an empty commit, the program's own metadata.
    pub fn commit_with(&mut self, message: &str, opts: &CommitOptions) -> Result<CommitInfo> {
        // A message over its limit is refused whatever is staged (the commit would refuse it too).
        if message.len() > crate::engine::limits::MESSAGE_MAX {
            return Err(Error::too_large("the commit message", message.len(), crate::engine::limits::MESSAGE_MAX));
        }
        if !opts.allow_empty && !self.is_dirty() {
            return Err(Error::NothingToCommit);
        }
        let repo = self.repo.clone();
        let index = &self.index;
        let fields: &dyn crate::engine::fields::Index = index;
        if repo.is_write_only() {
            let c =
                repo.commit_delta(&self.branch, message, opts.metadata.as_deref(), fields, &[], opts.allow_empty)?;
            // What was staged is committed, and gone from memory: the key cannot read it back.
            load_index(&self.repo, &self.index, None)?;
            self.head = Some(c.clone());
            return Ok(c);
        }
        let c = repo.commit_on_with(
            &self.branch,
            message,
            opts.metadata.as_deref(),
            opts.time,
            opts.merged.as_ref(),
            self.head.as_ref(),
            Some(fields),
            &mut |p| build_roots(&repo, index, p),
        )?;
        load_index(&self.repo, &self.index, Some(&c))?;
        self.head = Some(c.clone());
        Ok(c)
    }

    /// Whether any field has staged changes.
    pub fn is_dirty(&self) -> bool {
        self.index.fields().iter().any(|(_, f)| f.is_dirty())
    }

    /// See commits other writers made to the branch since this tree was opened or last committed: load the
    /// branch's head as it is now. Returns whether it moved. Refused with [`Error::Invalid`] while changes are
    /// staged (loading would discard them; a commit merges them onto the newest head instead). A branch that no
    /// longer exists leaves the tree as it is.
    pub fn refresh(&mut self) -> Result<bool> {
        if self.is_dirty() {
            return Err(Error::Invalid(format!(
                "branch {}: changes are staged; commit them before refreshing (a commit merges onto the newest head)",
                self.branch
            )));
        }
        let Some(b) = self.repo.branch(&self.branch)? else { return Ok(false) };
        if self.head.as_ref().map(|h| h.ptr) == Some(b.head) {
            return Ok(false);
        }
        let c = self.repo.read_commit_to_view(&b.head)?;
        load_index(&self.repo, &self.index, Some(&c))?;
        self.head = Some(c);
        Ok(true)
    }

    /// Load field `name` of the index as it was at commit `id`, leaving the other fields as they are (the seed's
    /// "mix and match data from various versions"). What that field had staged is discarded; a field the commit
    /// did not have loads empty. A later commit treats the field like any other: with nothing staged the branch's
    /// version is kept, and changes staged on the older version are merged onto the branch by key.
    pub fn load_field_at(&self, name: &str, id: CommitId) -> Result<()> {
        let fields = self.index.fields();
        let Some((_, field)) = fields.iter().find(|(n, _)| *n == name) else {
            let known: Vec<&str> = fields.iter().map(|(n, _)| *n).collect();
            return Err(Error::NotFound { what: format!("field {name:?} (the index has {})", known.join(", ")) });
        };
        let head: Option<ChunkPointer> = self.head.as_ref().map(|c| c.ptr);
        let ptr = self.repo.resolve(&id.to_hex(), head.as_ref())?;
        let c = self.repo.read_commit(&ptr)?;
        field.load(self.repo.store(), self.repo.state(&c)?.get(name).map(|b| b.as_slice()))
    }

    /// A read-only copy of the index as it was at commit `id`. Only the nodes a read touches are loaded.
    pub fn at(&self, id: CommitId) -> Result<I> {
        self.at_rev(&id.to_hex())
    }

    /// A read-only copy of the index at a revision expression: a branch name, `HEAD`, a unique commit-id prefix,
    /// or any of these followed by `~N`.
    pub fn at_rev(&self, rev: &str) -> Result<I> {
        let head: Option<ChunkPointer> = self.head.as_ref().map(|c| c.ptr);
        let ptr = self.repo.resolve(rev, head.as_ref())?;
        let c = self.repo.read_commit_to_view(&ptr)?;
        let index = I::default();
        load_index(&self.repo, &index, Some(&c))?;
        Ok(index)
    }

    /// The commits of this branch, newest first (first parents first), read lazily one at a time.
    pub fn commits(&self) -> Commits<'_> {
        Commits { repo: &self.repo, queue: self.head.iter().map(|c| c.ptr).collect(), seen: HashSet::new() }
    }

    /// The repository this index is bound to.
    pub fn repository(&self) -> &Arc<Repository> {
        &self.repo
    }

    /// The branch this index commits to.
    pub fn branch(&self) -> &str {
        &self.branch
    }

    /// A streaming writer for a large value (the seed's `BufferedSink`): write any number of bytes, then
    /// [`BlobWriter::finish`] returns the [`Blob`] to keep in any field. Memory stays bounded whatever the size.
    pub fn blob_writer(&self) -> BlobWriter {
        BlobWriter::new(self.repo.store().clone(), WriteOptions::default())
    }

    /// A reader of a stored blob with `io::Read + io::Seek`; a seek and read fetch only the chunks covering the
    /// range read.
    pub fn blob_reader(&self, blob: Blob) -> BlobReader {
        BlobReader::new(self.repo.store().clone(), blob)
    }

    /// Create branch `name` at this head and open it.
    pub fn fork(&self, name: &str) -> Result<Self> {
        let head = self.head.as_ref().ok_or_else(|| Error::Invalid("nothing committed to fork from".into()))?;
        self.repo.create_branch(name, &head.ptr, &self.index)?;
        Self::open(self.repo.clone(), name)
    }
}

/// Iterator over a branch's commits, newest first: see [`Infinitree::commits`].
pub struct Commits<'a> {
    repo: &'a Repository,
    queue: VecDeque<ChunkPointer>,
    seen: HashSet<CommitId>,
}

impl Iterator for Commits<'_> {
    type Item = Result<CommitInfo>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let ptr = self.queue.pop_front()?;
            if !self.seen.insert(CommitId(ptr.id.0)) {
                continue;
            }
            return Some(self.repo.read_commit(&ptr).inspect(|c| self.queue.extend(c.commit.parents.iter().copied())));
        }
    }
}
