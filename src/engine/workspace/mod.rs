//! Workspaces: a directory's `.infini/`, like git's `.git/`.
//!
//! ```text
//! .infini/
//!   config.json   repository location, options, HEAD (a branch, or a detached commit)
//!   key           the unlocked master key until `infini lock`
//!   staged        staged changes, sealed with the repository key
//!   staging/      index-tree nodes of a large set of staged changes, sealed (see [`spill`])
//!   seen-refs     the last state of each branch's ref this workspace saw, sealed with the repository key
//!   header        the repository's public header (`config`), kept so that commands need not read it again
//!   lock          advisory lock held while a command changes the workspace
//!   cache/        dedup index and warm cache
//!   repo/         the repository itself, for the embedded default
//! ```
//!
//! `.infini/` is created mode 0700 and every file in it 0600, whatever the umask; every file is read only if it is
//! a regular file (not through a symbolic link) of bounded size.

pub mod spill;

use crate::engine::crypto::Keys;
use crate::engine::crypto::{Kind, MasterKey};
use crate::engine::namespace::Namespace;
use crate::engine::object::ChunkPointer;
use crate::engine::repo::{Repository, SeenMap, SeenRef, SeenRefs};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Associated data place of a staged file that names spilled changes.
const STAGED_SPILLED: &[u8] = b"staged/2";

/// Name of the workspace directory.
pub const DIR: &str = ".infini";

/// Where HEAD points.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Head {
    /// On a branch: commits move it.
    Branch(String),
    /// At a commit, read-only.
    Detached(ChunkPointer),
}

/// `.infini/config.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WorkspaceConfig {
    /// Repository location: a directory path (relative to the workspace root or absolute) or `s3://bucket/prefix`.
    pub repo: String,
    /// S3 endpoint, if not AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// S3 region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// HEAD.
    pub head: Head,
    /// Hot cache budget in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_cache: Option<u64>,
    /// Warm cache budget in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_size: Option<u64>,
    /// Warm cache directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_dir: Option<PathBuf>,
    /// zstd level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zstd_level: Option<i32>,
    /// Create the S3 bucket if missing (at init).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_bucket: bool,
    /// S3 storage class for data objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
}

/// Staged changes as stored in `.infini/staged`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct StagedFile {
    /// The commit the changes were made against (their merge base at commit time).
    pub base: Option<ChunkPointer>,
    /// Encoded key -> encoded value (`None`: removed).
    pub changes: Vec<(serde_bytes::ByteBuf, Option<serde_bytes::ByteBuf>)>,
    /// Encoded keys whose staged change collides with a change committed since (found when the changes were
    /// rebased onto a newer head of the branch) and that are not resolved yet. Each is also in `changes`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<serde_bytes::ByteBuf>,
    /// How many gc runs had deleted packs when these changes began to be staged
    /// ([`Repository::sync_dedup_index`](crate::Repository::sync_dedup_index)); `None` when unknown. While the
    /// repository's count is unchanged, no pack the changes point into can have been deleted, and a commit need not
    /// list the repository to check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gc_deletions: Option<u64>,
    /// More staged changes, spilled into a tree in `staging/` (`changes` take precedence over it). A staged file
    /// naming one is sealed under another place (`staged/2`), so that a program that does not know of spilled
    /// changes refuses the file instead of committing only part of what is staged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spilled: Option<ChunkPointer>,
    /// Format of the staged file: 2 with spilled changes, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    /// Packs a write-only key wrote for these changes: its commit claims them all, since it cannot trace what its
    /// values reach (see docs/design.md, *Write-only keys*). Empty for a full key.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packs: Vec<crate::engine::id::ObjectId>,
    /// A merge in progress (`infini merge` stopped on conflicts): the staged changes are its result so far, and
    /// the commit that settles them is a merge commit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<MergeInProgress>,
}

/// A merge waiting for its conflicts to be resolved (see [`StagedFile::merge`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MergeInProgress {
    /// The commit being merged: the merge commit's second parent.
    pub commit: ChunkPointer,
    /// What was merged, as the user named it (a branch, a tag, a revision).
    pub name: String,
    /// The merge commit's message.
    pub message: String,
}

/// How a workspace's key file holding a write-only key begins (a full key's is the 32-byte key and the repository
/// id).
const WRITER_KEY_MAGIC: &[u8] = b"INFINI-WRITER-KEY-1\n";

/// A write-only key as a workspace keeps it.
#[derive(Serialize, Deserialize)]
struct WriterKeyFile {
    /// The key set (wiped on drop).
    set: crate::engine::crypto::WriterKeySet,
    /// The key's name.
    name: String,
    /// The repository id.
    #[serde(with = "serde_bytes")]
    repo: Vec<u8>,
}

/// The newest staged-file format this build reads.
pub const STAGED_VERSION: u32 = 2;

impl StagedFile {
    /// Whether nothing is staged (neither in the file nor spilled).
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty() && self.spilled.is_none()
    }
}

/// Staged changes beyond this many are spilled out of memory into the workspace's `staging/` (see
/// [`Workspace::attach_staging`]); `INFINI_SPILL_AT` sets another count (at least 1).
pub fn spill_at() -> usize {
    std::env::var("INFINI_SPILL_AT").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(10_000)
}

/// An opened workspace.
#[derive(Clone)]
pub struct Workspace {
    root: PathBuf,
    /// Its configuration.
    pub config: WorkspaceConfig,
}

/// Largest `config.json` read.
const MAX_CONFIG: u64 = 1 << 20;
/// Largest `key` and `header` read (each holds tens of bytes).
const MAX_SMALL: u64 = 64 << 10;
/// Largest `staged` file read: changes beyond [`spill_at`] are spilled into `staging/`, so the file holds at most
/// that many keys and small values.
const MAX_STAGED: u64 = 1 << 30;
/// Largest `seen-refs` read (a sequence number and a head per branch: about 150 bytes each).
const MAX_SEEN: u64 = 256 << 20;

/// Read one of the workspace's files: a regular file, not through a symbolic link, at most `limit` bytes (see
/// [`crate::engine::local_file`]).
fn read_local(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    crate::engine::local_file::read_bounded(path, limit)
}

fn io_err(ctx: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::io(ctx, e)
}

/// Write a file atomically (temp + rename), with `mode` permissions from the start (whatever the umask).
fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let r = (|| {
        let mut f = fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
        // The mode given to open is narrowed by the umask, never widened; this sets it exactly.
        f.set_permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r.map_err(io_err(format!("writing {}", path.display())))
}

impl Workspace {
    /// Find the workspace containing `start` by walking up.
    pub fn find(start: &Path) -> Result<Self> {
        let start = fs::canonicalize(start).map_err(io_err(format!("{}", start.display())))?;
        for dir in start.ancestors() {
            if dir.join(DIR).join("config.json").is_file() {
                return Self::open(dir);
            }
        }
        Err(Error::NoRepository {
            what: format!("not in an infini workspace (no {DIR}/ here or in any parent of {})", start.display()),
        })
    }

    /// Open the workspace rooted at `root`.
    pub fn open(root: &Path) -> Result<Self> {
        let path = root.join(DIR).join("config.json");
        let raw = read_local(&path, MAX_CONFIG).map_err(io_err(format!("reading {}", path.display())))?;
        let config = serde_json::from_slice(&raw)
            .map_err(|e| Error::Invalid(format!("{} is malformed: {e}", path.display())))?;
        Ok(Self { root: root.to_path_buf(), config })
    }

    /// Create a workspace at `root`; fails if one exists.
    pub fn create(root: &Path, config: WorkspaceConfig) -> Result<Self> {
        let dir = root.join(DIR);
        if dir.join("config.json").exists() {
            return Err(Error::AlreadyExists { what: format!("a workspace in {}", root.display()) });
        }
        // Private whatever the umask: the key, the staged changes and what was seen of the refs live here.
        {
            use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
            let private = |p: &Path| {
                fs::DirBuilder::new().recursive(true).mode(0o700).create(p)?;
                fs::set_permissions(p, fs::Permissions::from_mode(0o700))
            };
            private(&dir)
                .and_then(|()| private(&dir.join("cache")))
                .map_err(io_err(format!("creating {}", dir.display())))?;
        }
        let ws = Self { root: root.to_path_buf(), config };
        ws.save_config()?;
        Ok(ws)
    }

    /// The directory holding `.infini/`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The `.infini/` directory.
    pub fn dir(&self) -> PathBuf {
        self.root.join(DIR)
    }

    /// Where caches live.
    pub fn cache_dir(&self) -> PathBuf {
        self.config.cache_dir.clone().unwrap_or_else(|| self.dir().join("cache"))
    }

    /// The repository location, with relative directory paths resolved against the workspace root.
    pub fn repo_location(&self) -> String {
        if self.config.repo.starts_with("s3://") || Path::new(&self.config.repo).is_absolute() {
            self.config.repo.clone()
        } else {
            self.root.join(&self.config.repo).display().to_string()
        }
    }

    /// Persist the configuration.
    pub fn save_config(&self) -> Result<()> {
        let json = serde_json::to_vec_pretty(&self.config).expect("config serializes");
        write_atomic(&self.dir().join("config.json"), &json, 0o600)
    }

    /// Hold the workspace's advisory lock until the returned file is dropped. Released by the OS if the process
    /// dies, so it can never go stale.
    pub fn lock(&self) -> Result<fs::File> {
        let path = self.dir().join("lock");
        use std::os::unix::fs::OpenOptionsExt;
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        f.lock().map_err(io_err(format!("locking {}", path.display())))?;
        Ok(f)
    }

    fn key_path(&self) -> PathBuf {
        self.dir().join("key")
    }

    /// The unlocked master key for repository `repo_id`, if this workspace holds one.
    pub fn read_key(&self, repo_id: &[u8]) -> Result<Option<MasterKey>> {
        let raw = match read_local(&self.key_path(), MAX_SMALL) {
            Ok(r) => zeroize::Zeroizing::new(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading the unlocked key", e)),
        };
        if raw.len() != 32 + repo_id.len() || &raw[32..] != repo_id {
            return Ok(None);
        }
        Ok(MasterKey::from_slice(&raw[..32]))
    }

    /// The write-only key set and its name for repository `repo`, if this workspace holds a write-only key.
    pub fn read_writer_key(&self, repo_id: &[u8]) -> Result<Option<(crate::engine::crypto::WriterKeySet, String)>> {
        let raw = match read_local(&self.key_path(), MAX_SMALL) {
            Ok(r) => zeroize::Zeroizing::new(r),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::io("reading the unlocked key", e)),
        };
        let Some(body) = raw.strip_prefix(WRITER_KEY_MAGIC) else { return Ok(None) };
        let Ok(file) = ciborium::from_reader::<WriterKeyFile, _>(body) else { return Ok(None) };
        if file.repo.as_slice() != repo_id {
            return Ok(None);
        }
        Ok(Some((file.set, file.name)))
    }

    /// The name of the write-only key this workspace holds, if it holds one (read locally, before anything is
    /// asked of the repository).
    pub fn writer_key_name(&self) -> Option<String> {
        let raw = zeroize::Zeroizing::new(read_local(&self.key_path(), MAX_SMALL).ok()?);
        let body = raw.strip_prefix(WRITER_KEY_MAGIC)?;
        ciborium::from_reader::<WriterKeyFile, _>(body).ok().map(|f| f.name.clone())
    }

    /// Remember a write-only key's key set and name (file mode 0600).
    pub fn write_writer_key(
        &self,
        set: &crate::engine::crypto::WriterKeySet,
        name: &str,
        repo_id: &[u8],
    ) -> Result<()> {
        let set = crate::engine::crypto::WriterKeySet::decode(&set.encode())
            .ok_or_else(|| Error::integrity("a write-only key set does not encode"))?;
        let file = WriterKeyFile { set, name: name.to_string(), repo: repo_id.to_vec() };
        let mut raw = zeroize::Zeroizing::new(Vec::with_capacity(512));
        raw.extend_from_slice(WRITER_KEY_MAGIC);
        ciborium::into_writer(&file, &mut *raw).expect("CBOR encoding into memory cannot fail");
        write_atomic(&self.key_path(), &raw, 0o600)
    }

    /// Remember the master key (file mode 0600).
    pub fn write_key(&self, key: &MasterKey, repo_id: &[u8]) -> Result<()> {
        // Sized up front: a growing Vec would leave a copy of the key in the memory it gave up.
        let mut raw = zeroize::Zeroizing::new(Vec::with_capacity(32 + repo_id.len()));
        raw.extend_from_slice(key.expose());
        raw.extend_from_slice(repo_id);
        write_atomic(&self.key_path(), &raw, 0o600)
    }

    /// Forget the master key. Returns whether one was there.
    pub fn remove_key(&self) -> Result<bool> {
        match fs::remove_file(self.key_path()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Error::io("removing the unlocked key", e)),
        }
    }

    /// The repository header remembered by [`Workspace::write_header`], if any (a damaged copy is ignored).
    pub fn read_header(&self) -> Option<crate::engine::repo::Config> {
        let raw = read_local(&self.dir().join("header"), MAX_SMALL).ok()?;
        ciborium::from_reader(raw.as_slice()).ok()
    }

    /// Remember the repository header (public, like the repository's own `config`).
    pub fn write_header(&self, config: &crate::engine::repo::Config) -> Result<()> {
        let mut raw = Vec::new();
        ciborium::into_writer(config, &mut raw).expect("CBOR encoding into memory cannot fail");
        write_atomic(&self.dir().join("header"), &raw, 0o600)
    }

    /// Whether the workspace holds an unlocked key.
    pub fn is_unlocked(&self) -> bool {
        self.key_path().exists()
    }

    /// Load staged changes (sealed with `repo`'s key).
    pub fn load_staged(&self, repo: &Repository) -> Result<StagedFile> {
        let keys = repo.store().keys();
        let path = self.dir().join("staged");
        let sealed = match read_local(&path, MAX_STAGED) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StagedFile::default()),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let plain = keys
            .open(Kind::Workspace, b"staged", &sealed)
            .or_else(|_| keys.open(Kind::Workspace, STAGED_SPILLED, &sealed))
            .map_err(|_| Error::integrity(format!("{} does not authenticate", path.display())))?;
        let staged: StagedFile =
            ciborium::from_reader(plain.as_slice()).map_err(|e| Error::corrupt(path.display().to_string(), e))?;
        match staged.version {
            Some(v) if v > STAGED_VERSION => Err(Error::Invalid(format!(
                "{} holds staged changes of workspace format {v}; this build reads formats 1 to {STAGED_VERSION} \
                 (use a newer infini)",
                path.display()
            ))),
            _ => Ok(staged),
        }
    }

    /// Save staged changes (sealed with `repo`'s key); an empty set removes the file and the spilled changes.
    /// Nodes of spilled changes must be durable already ([`spill::SpillStore::sync`]).
    pub fn save_staged(&self, repo: &Repository, staged: &StagedFile) -> Result<()> {
        let keys = repo.store().keys();
        let path = self.dir().join("staged");
        if staged.is_empty() {
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(format!("removing {}", path.display()), e)),
            }
            return self.staging_store(repo).clear();
        }
        let mut plain = Vec::new();
        if staged.spilled.is_some() {
            let v2 = StagedFile { version: Some(STAGED_VERSION), ..staged.clone() };
            ciborium::into_writer(&v2, &mut plain).expect("CBOR encoding into memory cannot fail");
            return write_atomic(&path, &keys.seal(Kind::Workspace, STAGED_SPILLED, &plain), 0o600);
        }
        let v1 = StagedFile { version: None, ..staged.clone() };
        ciborium::into_writer(&v1, &mut plain).expect("CBOR encoding into memory cannot fail");
        write_atomic(&path, &keys.seal(Kind::Workspace, b"staged", &plain), 0o600)
    }

    /// The store of this workspace's spilled staged changes (`.infini/staging/`).
    pub fn staging_store(&self, repo: &Repository) -> spill::SpillStore {
        spill::SpillStore::new(&self.dir().join("staging"), repo.store().keys().clone())
    }

    /// Give `ns` this workspace's staged changes: the spilled ones of `staged` (and where to spill more, so that
    /// [`VersionedMap::spill`](crate::fields::VersionedMap::spill) moves changes out of memory), then those kept in
    /// the staged file.
    pub fn attach_staging(&self, repo: &Repository, ns: &Namespace, staged: &StagedFile) -> Result<()> {
        ns.attach_spill(std::sync::Arc::new(self.staging_store(repo)), staged.spilled);
        ns.import_staged(staged.changes.iter().map(|(k, v)| (k.to_vec(), v.as_ref().map(|v| v.to_vec()))).collect())
    }

    /// Make the spilled changes written so far durable (before a staged file naming them is saved).
    pub fn sync_staging(&self, repo: &Repository) -> Result<()> {
        self.staging_store(repo).sync()
    }

    fn seen_path(&self) -> PathBuf {
        self.dir().join("seen-refs")
    }

    /// The last state of each branch's ref this workspace saw, kept in `.infini/seen-refs`, ready for
    /// [`Repository::watch_refs`]: every newer state the repository sees is saved there as it is seen.
    pub fn seen_refs(&self, repo: &Repository) -> Result<std::sync::Arc<SeenRefs>> {
        let keys = repo.store().keys().clone();
        let map = self.load_seen(&keys)?;
        let ws = self.clone();
        // One writer of the file at a time within this process (other processes merge what they find).
        let writing = std::sync::Mutex::new(());
        let save: crate::engine::repo::SaveSeen = Box::new(move |branch, state, forced| {
            let _w = writing.lock().expect("seen refs writer");
            ws.save_seen(&keys, branch, state, forced)
        });
        Ok(std::sync::Arc::new(SeenRefs::new(map, Some(save))))
    }

    /// The last state of each branch's ref this workspace saw (empty if none was kept yet).
    pub(crate) fn load_seen(&self, keys: &Keys) -> Result<SeenMap> {
        let path = self.seen_path();
        let sealed = match read_local(&path, MAX_SEEN) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(SeenMap::new()),
            Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
        };
        let plain = keys
            .open(Kind::Workspace, b"seen-refs", &sealed)
            .map_err(|_| Error::integrity(format!("{} does not authenticate", path.display())))?;
        ciborium::from_reader(plain.as_slice()).map_err(|e| Error::corrupt(path.display().to_string(), e))
    }

    /// Record `state` as the last seen state of `branch` (`None`: forget it) in `.infini/seen-refs`, merged with
    /// what other commands recorded meanwhile: unless `forced`, a state never replaces a newer one.
    pub(crate) fn save_seen(&self, keys: &Keys, branch: &str, state: Option<&SeenRef>, forced: bool) -> Result<()> {
        let mut map = self.load_seen(keys)?;
        match state {
            Some(s) if forced || map.get(branch).is_none_or(|old| old.seq < s.seq) => {
                map.insert(branch.to_string(), s.clone());
            }
            None if forced => {
                map.remove(branch);
            }
            _ => return Ok(()),
        }
        let mut plain = Vec::new();
        ciborium::into_writer(&map, &mut plain).expect("CBOR encoding into memory cannot fail");
        write_atomic(&self.seen_path(), &keys.seal(Kind::Workspace, b"seen-refs", &plain), 0o600)
    }
}
