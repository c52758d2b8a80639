//! Opening what a command works on: the workspace (if any), the repository, HEAD and staged changes.

use super::{password, Context};
use anyhow::Context as _;
use infini::backends::{
    Backend, BackendError, DirBackend, Faulty, Op, Retry, RetryNotify, RetryPolicy, S3Backend, S3Config,
};
use infini::fields::Change as MapChange;
use infini::namespace::{Namespace, NamespaceIndex};
use infini::workspace::{spill_at, Head, StagedFile, Workspace, WorkspaceConfig, DIR};
use infini::WarmNotice;
use infini::{Branch, CacheStats, ChunkPointer, CommitInfo, Error, Repository, Restored, SeenRef, StoreOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// The default branch of a new repository.
pub const DEFAULT_BRANCH: &str = "main";

/// An opened repository with the workspace's view of it.
pub struct Session {
    /// The workspace, unless the repository was named with `--repo`.
    pub ws: Option<Workspace>,
    /// The repository.
    pub repo: Arc<Repository>,
    /// What HEAD is.
    pub head: Head,
    /// The commit HEAD resolves to now (branch tip or detached commit), if any.
    pub tip: Option<CommitInfo>,
    /// Staged changes.
    pub staged: StagedFile,
    /// Held while the command may change the workspace.
    _lock: Option<std::fs::File>,
}

/// Working directory for the command (`-C`).
pub fn cwd(ctx: &Context) -> anyhow::Result<PathBuf> {
    let here = std::env::current_dir().context("reading the current directory")?;
    Ok(match &ctx.global.dir {
        Some(d) => here.join(d),
        None => here,
    })
}

/// Where a repository named by the user lives: a repository directory, or a workspace holding one.
pub fn local_repo_path(p: &Path) -> PathBuf {
    if p.join("config").is_file() {
        p.to_path_buf()
    } else if p.join(DIR).join("repo").join("config").is_file() {
        p.join(DIR).join("repo")
    } else {
        p.to_path_buf()
    }
}

/// The usage error of a command that writes (to the repository or a workspace), run with `-R`/`INFINI_REPO`:
/// a repository named that way is opened read-only, with no workspace to remember what it saw of the refs (which
/// is what makes a rollback detectable, see `branch --help`).
pub fn read_only_repo(what: &str) -> anyhow::Error {
    super::usage(format!(
        "{what} writes, and -R/--repo (or INFINI_REPO) opens a repository read-only; run it in a workspace \
         instead (`infini clone URL DIR`, then run it in DIR without -R or INFINI_REPO)"
    ))
}

/// Refuse a command that writes when the repository was named with `-R`/`INFINI_REPO` (see [`read_only_repo`]).
pub fn refuse_repo(ctx: &Context, what: &str) -> anyhow::Result<()> {
    match ctx.global.repo {
        Some(_) => Err(read_only_repo(what)),
        None => Ok(()),
    }
}

/// Default warm cache budget for remote repositories.
pub const DEFAULT_CACHE_SIZE: u64 = 1 << 30;

/// Store options for a workspace (or defaults), with command-line overrides.
pub fn store_options(ctx: &Context, ws: Option<&Workspace>, remote: bool) -> StoreOptions {
    // Two packs in flight to a remote backend keep a put under 128 MiB (three: 134 MiB, and no faster against a
    // local S3 server); INFINI_UPLOADS raises it for links with more latency.
    let mut o = StoreOptions { uploaders: if remote { 2 } else { 1 }, ..StoreOptions::default() };
    if let Some(n) = std::env::var("INFINI_UPLOADS").ok().and_then(|v| v.parse::<usize>().ok()) {
        o.uploaders = n.max(1);
    }
    let g = &ctx.global;
    if let Some(m) = g.mem_cache.or(ws.and_then(|w| w.config.mem_cache)) {
        o.mem_cache = m as usize;
    }
    let size = g.cache_size.or(ws.and_then(|w| w.config.cache_size));
    let dir = g.cache_dir.clone().or_else(|| ws.map(|w| w.cache_dir()));
    if let (Some(dir), Some(budget)) = (dir, size.or(remote.then_some(DEFAULT_CACHE_SIZE))) {
        if budget > 0 {
            o.warm = Some((dir.join("warm"), budget));
        }
    }
    // Warnings about the caches (a damaged warm-tier entry, dedup index files that cannot be written).
    o.warm_notice = Some(WarmNotice(Arc::new(|m| super::output::stderr_line(format!("infini: warning: {m}")))));
    if let Some(ws) = ws {
        if let Some(z) = ws.config.zstd_level {
            o.zstd_level = z;
        }
        o.index_path = Some(ws.cache_dir().join("chunk-index"));
    }
    if let Some(z) = std::env::var("INFINI_ZSTD_LEVEL").ok().and_then(|v| v.parse().ok()) {
        o.zstd_level = z;
    }
    if let Some(n) = std::env::var("INFINI_INDEX_MERGE_AT").ok().and_then(|v| v.parse::<usize>().ok()) {
        o.index_merge_at = n;
    }
    if let Some(t) = std::env::var("INFINI_THREADS").ok().and_then(|v| v.parse::<usize>().ok()) {
        o.threads = t.max(1);
    }
    o
}

/// Retry policy for remote backends: the default, or `INFINI_RETRIES` attempts (scripts that prefer to fail fast);
/// `INFINI_TIMEOUT` seconds of silence fail an attempt, and retries stop after the second attempt once an operation
/// has taken that plus 10 s (30 s by default). On a terminal each retry is announced on stderr, so a command
/// waiting on a slow or silent server says what it waits for.
pub fn retry_policy(ctx: &Context) -> RetryPolicy {
    let mut p = RetryPolicy::default();
    if let Some(n) = std::env::var("INFINI_RETRIES").ok().and_then(|v| v.parse::<u32>().ok()) {
        p.max_attempts = n.max(1);
    }
    if let Some(t) = response_timeout() {
        p.deadline = t + Duration::from_secs(10);
    }
    if super::progress::enabled(ctx) {
        p.notify = Some(RetryNotify(Arc::new(|e: &BackendError, next: u32, max: u32, _delay: Duration| {
            super::progress::eprintln_above(&format!("infini: {e}; retrying (attempt {next} of {max})"));
        })));
    }
    p
}

/// `INFINI_TIMEOUT`: seconds an S3 server may take to start answering a request.
fn response_timeout() -> Option<Duration> {
    std::env::var("INFINI_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| *s > 0.0 && s.is_finite())
        .map(Duration::from_secs_f64)
}

/// Open the backend at `location` (a directory or `s3://...`). With `create`, a missing directory is made and
/// (when the workspace asks for it) a missing bucket is created.
pub fn open_backend(
    ctx: &Context,
    location: &str,
    ws: Option<&Workspace>,
    create: bool,
) -> anyhow::Result<Arc<dyn Backend>> {
    if location.starts_with("s3://") {
        let mut cfg = S3Config::parse(location).map_err(|why| {
            super::usage(format!("invalid S3 location {location:?}: {why} (use s3://BUCKET[/PREFIX])"))
        })?;
        let wc = ws.map(|w| &w.config);
        cfg.endpoint = ctx.global.endpoint.clone().or_else(|| wc.and_then(|c| c.endpoint.clone()));
        cfg.region = ctx.global.region.clone().or_else(|| wc.and_then(|c| c.region.clone()));
        cfg.create_bucket = create && wc.is_some_and(|c| c.create_bucket);
        cfg.storage_class = wc.and_then(|c| c.storage_class.clone());
        cfg.response_timeout = response_timeout();
        let policy = retry_policy(ctx);
        // Checking that the bucket exists costs a request; a missing bucket shows up as a clear error at the first
        // read anyway, so only a new workspace (which may have to create the bucket) checks first.
        let backend =
            if create { policy.run(|| S3Backend::open(cfg.clone()))? } else { S3Backend::connect(cfg.clone(), None)? };
        return Ok(slowed(Arc::new(Retry::with_policy(backend, policy))));
    }
    let path = local_repo_path(Path::new(location));
    if !create && !path.join("config").is_file() {
        anyhow::bail!(Error::NoRepository { what: format!("no infini repository at {}", path.display()) });
    }
    Ok(slowed(Arc::new(DirBackend::new(&path)?)))
}

/// `INFINI_BACKEND_LATENCY_MS` adds that many milliseconds to every object read and write: a slow backend on demand,
/// for watching (and testing) progress output with small inputs.
fn slowed(backend: Arc<dyn Backend>) -> Arc<dyn Backend> {
    match std::env::var("INFINI_BACKEND_LATENCY_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        Some(ms) if ms > 0 => {
            let f = Faulty::new(backend);
            f.only(&[Op::Read, Op::ReadRange, Op::ReadTail, Op::Write]).latency(std::time::Duration::from_millis(ms));
            Arc::new(f)
        }
        _ => backend,
    }
}

impl Session {
    /// Open for reading: the workspace if there is one, or the repository named by `--repo`.
    pub fn read(ctx: &Context) -> anyhow::Result<Self> {
        Self::open(ctx, false, None, &mut None)
    }

    /// Open for changing the workspace: requires a workspace, holds its lock.
    pub fn write(ctx: &Context) -> anyhow::Result<Self> {
        Self::open(ctx, true, None, &mut None)
    }

    /// [`Session::write`] for the commands a write-only key may run (`put`, `commit`): with one, nothing is read
    /// from the repository (HEAD's commit is not resolved: `tip` is `None`). Every other command refuses a
    /// write-only key before any request (see [`write_only_refusal`]).
    pub fn write_only_ok(ctx: &Context) -> anyhow::Result<Self> {
        Self::open_as(ctx, true, None, &mut None, true, false)
    }

    /// [`Session::write_only_ok`] for `commit`: changes staged on an earlier commit also have the forget record
    /// read (whether a rewrite replaced that commit, see [`Repository::follow_rewrites`]) beside the refs.
    pub fn for_commit(ctx: &Context) -> anyhow::Result<Self> {
        Self::open_as(ctx, true, None, &mut None, true, true)
    }

    /// Open for changing the workspace after accepting branch `name` as the repository holds it now, whatever
    /// the workspace saw of it before (see [`Repository::accept_ref`]). Returns what was accepted: the state seen
    /// before and the branch now (`None`: gone or deleted).
    pub fn write_accepting(ctx: &Context, name: &str) -> anyhow::Result<(Self, Accepted)> {
        let mut fixed = None;
        let s = Self::open(ctx, true, Some(Fix::Accept(name)), &mut fixed)?;
        match fixed {
            Some(Fixed::Accepted(a)) => Ok((s, a)),
            _ => unreachable!("accepted while opening"),
        }
    }

    /// Open for changing the workspace after putting back the last head this workspace saw of branch `name`, whose
    /// ref was rolled back (see [`Repository::restore_ref`]).
    pub fn write_restoring(ctx: &Context, name: &str) -> anyhow::Result<(Self, Restored)> {
        let mut fixed = None;
        let s = Self::open(ctx, true, Some(Fix::Restore(name)), &mut fixed)?;
        match fixed {
            Some(Fixed::Restored(r)) => Ok((s, r)),
            _ => unreachable!("restored while opening"),
        }
    }

    fn open(ctx: &Context, write: bool, fix: Option<Fix<'_>>, fixed: &mut Option<Fixed>) -> anyhow::Result<Self> {
        Self::open_as(ctx, write, fix, fixed, false, false)
    }

    fn open_as(
        ctx: &Context,
        write: bool,
        fix: Option<Fix<'_>>,
        fixed: &mut Option<Fixed>,
        writer_ok: bool,
        committing: bool,
    ) -> anyhow::Result<Self> {
        if let Some(url) = ctx.global.repo.clone() {
            if write {
                return Err(read_only_repo("this command"));
            }
            let location = if url.starts_with("s3://") { url } else { cwd(ctx)?.join(url).display().to_string() };
            let backend = open_backend(ctx, &location, None, false)?;
            let pw = password::get(ctx)?;
            let key = password::unlock(ctx, &*backend, &pw)?.key;
            let repo =
                Arc::new(Repository::with_key(backend, key, store_options(ctx, None, location.starts_with("s3://")))?);
            let branch = ctx.global.branch.clone().unwrap_or_else(|| DEFAULT_BRANCH.to_string());
            let head = Head::Branch(branch);
            let tip = resolve_head(&repo, &head)?;
            return Ok(Self { ws: None, repo, head, tip, staged: StagedFile::default(), _lock: None });
        }
        let ws = Workspace::find(&cwd(ctx)?)?;
        // A write-only key is known from the workspace's own key file: refused before anything is asked of the
        // repository.
        if let (Some(name), false) = (ws.writer_key_name(), writer_ok) {
            return Err(write_only_refusal(&name));
        }
        let lock = if write { Some(ws.lock()?) } else { None };
        let location = ws.repo_location();
        let backend = open_backend(ctx, &location, Some(&ws), false)?;
        let mut repo = open_repo(ctx, &ws, backend, location.starts_with("s3://"))?;
        if let (Some(name), false) = (repo.writer_name(), writer_ok) {
            return Err(write_only_refusal(name));
        }
        watch_refs(&ws, &mut repo)?;
        let repo = Arc::new(repo);
        match fix {
            Some(Fix::Accept(name)) => *fixed = Some(Fixed::Accepted(repo.accept_ref(name)?)),
            Some(Fix::Restore(name)) => {
                Repository::check_branch_name(name)?;
                *fixed = Some(Fixed::Restored(repo.restore_ref(name, &NamespaceIndex::default())?));
            }
            None => {}
        }
        let head = ws.config.head.clone();
        let staged = ws.load_staged(&repo)?;
        let tip = if repo.is_write_only() {
            None
        } else if writer_ok {
            // `put` and `commit` read the gc ref next, and a commit of changes staged on an earlier commit the forget
            // record: read them beside the branch's ref (one round trip for all).
            let rewrites = committing && staged.base.is_some() && !staged.is_empty();
            std::thread::scope(|sc| {
                let gc = sc.spawn(|| repo.read_gc_ahead());
                let record = rewrites.then(|| sc.spawn(|| repo.read_rewrites_ahead()));
                let tip = resolve_head(&repo, &head);
                let _ = gc.join();
                let _ = record.map(|r| r.join());
                tip
            })?
        } else {
            resolve_head(&repo, &head)?
        };
        Ok(Self { ws: Some(ws), repo, head, tip, staged, _lock: lock })
    }

    /// The workspace (commands that need one are opened with [`Session::write`]).
    pub fn workspace(&self) -> anyhow::Result<&Workspace> {
        self.ws.as_ref().ok_or_else(|| {
            Error::NoRepository { what: "this command needs a workspace (init or clone one)".into() }.into()
        })
    }

    /// The branch HEAD is on, or an error if detached (read-only).
    pub fn branch_for_write(&self) -> anyhow::Result<&str> {
        match &self.head {
            Head::Branch(b) => Ok(b),
            Head::Detached(p) => Err(super::usage(format!(
                "HEAD is detached at {} (read-only); use `infini fork NAME` to start a branch there, or `infini checkout BRANCH`",
                super::output::short(p)
            ))),
        }
    }

    /// Pointer of the tip commit.
    pub fn tip_ptr(&self) -> Option<ChunkPointer> {
        self.tip.as_ref().map(|c| c.ptr)
    }

    /// The namespace as the workspace sees it: HEAD's commit plus staged changes.
    pub fn view(&self) -> anyhow::Result<Namespace> {
        let idx = NamespaceIndex::default();
        self.repo.load_index(&idx, self.tip.as_ref())?;
        self.attach_staged(&idx.ns)?;
        Ok(idx.ns)
    }

    /// Give `ns` (just loaded) the workspace's staged changes: the spilled ones (and where to spill more), then
    /// those kept in the staged file.
    pub fn attach_staged(&self, ns: &Namespace) -> anyhow::Result<()> {
        match &self.ws {
            Some(ws) => ws.attach_staging(&self.repo, ns, &self.staged)?,
            None => ns.import_staged(self.staged_changes())?,
        }
        Ok(())
    }

    /// The namespace at a revision (no staged changes), with the commit.
    pub fn at(&self, rev: &str) -> anyhow::Result<(CommitInfo, Namespace)> {
        let ptr = self.repo.resolve(rev, self.tip_ptr().as_ref())?;
        let c = self.repo.read_commit_to_view(&ptr)?;
        let idx = NamespaceIndex::default();
        self.repo.load_index(&idx, Some(&c))?;
        Ok((c, idx.ns))
    }

    /// The view at `--at REV` if given, else the workspace view.
    pub fn view_at(&self, rev: Option<&str>) -> anyhow::Result<Namespace> {
        match rev {
            Some(r) => Ok(self.at(r)?.1),
            None => self.view(),
        }
    }

    /// Staged changes as `(key, value)` encodings.
    pub fn staged_changes(&self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.staged.changes.iter().map(|(k, v)| (k.to_vec(), v.as_ref().map(|v| v.to_vec()))).collect()
    }

    /// Persist the view's staged changes. Data they reference must already be flushed.
    ///
    /// A conflicted key stays conflicted only while its staged change is the one the conflict was found with:
    /// staging anything else for it (`put`, `rm`, ...) resolves it with that value, unstaging it (`reset KEY`) takes
    /// the branch's value. [`Session::resolve`] resolves keys explicitly (a `put` of the same bytes again).
    pub fn save_staged(&mut self, ns: &Namespace) -> anyhow::Result<()> {
        let mut conflicts = Vec::new();
        if !self.staged.conflicts.is_empty() {
            // The changes staged before this command, to compare each conflicted key's change with.
            let before = NamespaceIndex::default();
            self.attach_staged(&before.ns)?;
            for k in &self.staged.conflicts {
                let key = String::from_utf8_lossy(k).into_owned();
                let now = ns.staged_change(&key)?;
                if now.is_some() && now == before.ns.staged_change(&key)? {
                    conflicts.push(k.clone());
                }
            }
        }
        let base = if self.staged.is_empty() { self.tip_ptr() } else { self.staged.base };
        self.persist(ns, base, conflicts)
    }

    /// Write `ns`'s staged changes as the workspace's, based on `base`, with `conflicts`: the values they point to
    /// are flushed, changes beyond [`spill_at`] (or all of them, once some were spilled) are spilled out of memory
    /// and made durable, then the staged file is replaced.
    fn persist(
        &mut self,
        ns: &Namespace,
        base: Option<ChunkPointer>,
        conflicts: Vec<serde_bytes::ByteBuf>,
    ) -> anyhow::Result<()> {
        self.repo.flush()?;
        if ns.can_spill() && (ns.staged_in_memory() >= spill_at() || ns.spilled_root().is_some()) {
            ns.spill()?;
        }
        let ws = self.workspace()?;
        let spilled = ns.spilled_root();
        if spilled.is_some() {
            ws.sync_staging(&self.repo)?;
        }
        let changes: Vec<_> = ns
            .export_staged()
            .into_iter()
            .map(|(k, v)| (serde_bytes::ByteBuf::from(k), v.map(serde_bytes::ByteBuf::from)))
            .collect();
        // A write-only key's commit claims the packs it wrote (it cannot trace its values): every one so far.
        let mut packs = self.staged.packs.clone();
        if self.repo.is_write_only() {
            packs.extend(self.repo.written_packs());
            packs.sort();
            packs.dedup();
        }
        let staged = StagedFile {
            base,
            changes,
            conflicts,
            gc_deletions: self.staged.gc_deletions,
            spilled,
            version: None,
            packs,
            merge: self.staged.merge.clone(),
        };
        ws.save_staged(&self.repo, &staged)?;
        self.staged = staged;
        Ok(())
    }

    /// Mark `keys` as resolved with the value staged for them now (call before [`Session::save_staged`]).
    pub fn resolve<'a>(&mut self, keys: impl IntoIterator<Item = &'a str>) {
        for k in keys {
            self.staged.conflicts.retain(|c| c.as_slice() != k.as_bytes());
        }
    }

    /// Conflicted keys that are not resolved yet.
    pub fn conflicts(&self) -> Vec<String> {
        self.staged.conflicts.iter().map(|k| String::from_utf8_lossy(k).into_owned()).collect()
    }

    /// Take the branch's current head as the base of the staged changes, keeping them (like `git rebase` of
    /// uncommitted work). Keys both sides changed differently are recorded as conflicts, with this side's value
    /// staged; `ours` resolves them all with the staged value, `theirs` by unstaging them. Returns the conflicts
    /// still to resolve and the number of changes that the new head already held (dropped).
    pub fn update(&mut self, side: Option<Side>) -> anyhow::Result<Rebased> {
        let idx = NamespaceIndex::default();
        let base = match self.staged.base {
            Some(p) if !self.staged.is_empty() => Some(self.repo.read_commit(&self.repo.follow_rewrites(&p)?)?),
            _ => self.tip.clone(),
        };
        self.repo.load_index(&idx, base.as_ref())?;
        self.attach_staged(&idx.ns)?;
        let before = idx.ns.staged_len()?;
        let head = NamespaceIndex::default();
        self.repo.load_index(&head, self.tip.as_ref())?;
        let found = idx.ns.rebase_onto(&head.ns)?;
        let dropped = before - idx.ns.staged_len()?;
        let mut conflicts: Vec<String> = self.conflicts();
        for k in found {
            if !conflicts.contains(&k) {
                conflicts.push(k);
            }
        }
        let mut still_staged = Vec::with_capacity(conflicts.len());
        for k in conflicts {
            if idx.ns.staged_change(&k)?.is_none() {
                continue;
            }
            // A directory entry both sides changed (its mtime moves whenever a file in it comes or goes) is no
            // conflict: this side's mode and mtime are kept; the keys under it carry any real conflict.
            if both_dir_entries(&idx.ns, &head.ns, &k)? {
                continue;
            }
            still_staged.push(k);
        }
        let mut conflicts = still_staged;
        conflicts.sort();
        match side {
            Some(Side::Ours) => conflicts.clear(),
            Some(Side::Theirs) => {
                for k in conflicts.drain(..) {
                    idx.ns.unstage(&k)?;
                }
            }
            None => {}
        }
        let keys = conflicts.iter().map(|k| serde_bytes::ByteBuf::from(k.as_bytes().to_vec())).collect();
        self.persist(&idx.ns, self.tip_ptr(), keys)?;
        Ok(Rebased { conflicts, dropped, staged: idx.ns.staged_len()? })
    }
}

impl Session {
    /// Stage the merge of `theirs` into the current head: the changes from the merge base `base` (their nearest
    /// common ancestor; `None`: no common history) to `theirs`, merged by key onto the head with the three-way rule of
    /// [`Session::update`] (a key both sides changed differently is a conflict, staged with `theirs`' value; a
    /// change the head already holds is dropped). Nothing may be staged before. Records the merge in progress
    /// (`merge`) so that the commit that settles it has `theirs` as its second parent.
    pub fn stage_merge(
        &mut self,
        theirs: &CommitInfo,
        base: Option<&CommitInfo>,
        merge: infini::workspace::MergeInProgress,
    ) -> anyhow::Result<Rebased> {
        let idx = NamespaceIndex::default();
        self.repo.load_index(&idx, base)?;
        let other = NamespaceIndex::default();
        self.repo.load_index(&other, Some(theirs))?;
        for change in idx.ns.diff(&other.ns)? {
            match change? {
                MapChange::Added { key, value } | MapChange::Changed { key, new: value, .. } => {
                    idx.ns.insert(key, value)
                }
                MapChange::Removed { key, .. } => idx.ns.remove(&key),
            }
        }
        let head = NamespaceIndex::default();
        self.repo.load_index(&head, self.tip.as_ref())?;
        let mut conflicts = Vec::new();
        for k in idx.ns.rebase_onto(&head.ns)? {
            // Both sides' directory entry: no conflict (as in `update`); the merged side's mode and mtime stay staged.
            if !both_dir_entries(&idx.ns, &head.ns, &k)? {
                conflicts.push(k);
            }
        }
        conflicts.sort();
        let keys = conflicts.iter().map(|k| serde_bytes::ByteBuf::from(k.as_bytes().to_vec())).collect();
        self.staged.merge = Some(merge);
        self.persist(&idx.ns, self.tip_ptr(), keys)?;
        Ok(Rebased { conflicts, dropped: 0, staged: idx.ns.staged_len()? })
    }
}

/// Whether `key` is a directory entry both in what `staged` stages and in `head`.
fn both_dir_entries(
    staged: &infini::namespace::Namespace,
    head: &infini::namespace::Namespace,
    key: &String,
) -> anyhow::Result<bool> {
    let ours = matches!(staged.staged_change(key)?, Some(Some(e)) if e.is_dir());
    Ok(ours && head.get(key)?.is_some_and(|e| e.is_dir()))
}

/// Which side wins every conflict of an update.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The staged change.
    Ours,
    /// The branch's committed value.
    Theirs,
}

/// What [`Session::update`] did.
pub struct Rebased {
    /// Keys still conflicted.
    pub conflicts: Vec<String>,
    /// Staged changes the new head already held.
    pub dropped: usize,
    /// Staged changes now.
    pub staged: usize,
}

/// The bytes of the regular file at `path` if it holds at most `limit`: never through a symbolic link, never
/// waiting on a FIFO, never reading a device.
fn read_regular(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a regular file"));
    }
    let mut b = Vec::new();
    f.take(limit + 1).read_to_end(&mut b)?;
    if b.len() as u64 > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "too large"));
    }
    Ok(b)
}

/// Cache counters of this workspace, accumulated over commands in `.infini/cache/stats.json`.
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct TierStats {
    /// Hot tier hits and misses.
    pub hot_hits: u64,
    /// Hot tier misses.
    pub hot_misses: u64,
    /// Warm tier hits.
    pub warm_hits: u64,
    /// Warm tier misses.
    pub warm_misses: u64,
    /// Bytes served by the warm tier.
    pub warm_bytes: u64,
    /// Chunk reads that went to the backend.
    pub cold_reads: u64,
    /// Bytes fetched from the backend for chunks.
    pub cold_bytes: u64,
}

impl TierStats {
    fn path(ws: &Workspace) -> PathBuf {
        ws.cache_dir().join("stats.json")
    }

    /// What the workspace has accumulated.
    pub fn load(ws: &Workspace) -> Self {
        read_regular(&Self::path(ws), 1 << 20).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    /// This process's counters.
    pub fn of(repo: &Repository) -> Self {
        let c: CacheStats = repo.cache_stats();
        TierStats {
            hot_hits: c.hot_hits,
            hot_misses: c.hot_misses,
            warm_hits: c.warm_hits,
            warm_misses: c.warm_misses,
            warm_bytes: c.warm_bytes,
            cold_reads: c.cold_reads,
            cold_bytes: c.cold_bytes,
        }
    }

    /// Sum of two sets of counters.
    pub fn add(&self, o: &Self) -> Self {
        TierStats {
            hot_hits: self.hot_hits + o.hot_hits,
            hot_misses: self.hot_misses + o.hot_misses,
            warm_hits: self.warm_hits + o.warm_hits,
            warm_misses: self.warm_misses + o.warm_misses,
            warm_bytes: self.warm_bytes + o.warm_bytes,
            cold_reads: self.cold_reads + o.cold_reads,
            cold_bytes: self.cold_bytes + o.cold_bytes,
        }
    }

    fn is_zero(&self) -> bool {
        self.hot_hits + self.hot_misses + self.warm_hits + self.warm_misses + self.cold_reads == 0
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Best effort: counters are informational.
        if let Some(ws) = &self.ws {
            let now = TierStats::of(&self.repo);
            if !now.is_zero() {
                let total = TierStats::load(ws).add(&now);
                if let Ok(json) = serde_json::to_vec(&total) {
                    let _ = std::fs::write(TierStats::path(ws), json);
                }
            }
        }
    }
}

/// The error every command but `put` and `commit` gives a write-only key (exit code 17), before any request is
/// made or anything decrypted.
pub fn write_only_refusal(name: &str) -> anyhow::Error {
    anyhow::Error::new(Error::WriteOnly { what: format!("this command (the workspace holds write-only key {name:?})") })
}

/// Create a workspace at `root` for the repository at `location`, run `open` to create or open the repository,
/// and leave the workspace unlocked. If anything fails the workspace is removed again.
pub fn attach_workspace(
    root: &Path,
    config: WorkspaceConfig,
    open: impl FnOnce(&Workspace) -> anyhow::Result<Repository>,
) -> anyhow::Result<Repository> {
    if root.join(DIR).join("config.json").exists() {
        anyhow::bail!(Error::AlreadyExists { what: format!("a workspace in {}", root.display()) });
    }
    let ws = Workspace::create(root, config)?;
    let repo = match open(&ws) {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_dir_all(ws.dir());
            return Err(e);
        }
    };
    match (repo.writer_keys(), repo.writer_name()) {
        (Some(set), Some(name)) => ws.write_writer_key(&set, name, &repo.config().id)?,
        _ => ws.write_key(repo.master_key()?, &repo.config().id)?,
    }
    ws.write_header(repo.config())?;
    Ok(repo)
}

/// Create the directory `root` (and its missing parents) for a new workspace, run `f` with its canonical path, and
/// if `f` fails remove again whatever directories this created (they are empty then: a failed `attach_workspace`
/// removes its `.infini/`), so a failed `init` or `clone` leaves nothing behind.
pub fn in_new_dir<T>(root: &Path, f: impl FnOnce(&Path) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let mut created = Vec::new();
    let mut p = root.to_path_buf();
    while !p.exists() {
        created.push(p.clone());
        if !p.pop() {
            break;
        }
    }
    std::fs::create_dir_all(root).with_context(|| format!("cannot create {}", root.display()))?;
    let r = std::fs::canonicalize(root).map_err(anyhow::Error::from).and_then(|c| f(&c));
    if r.is_err() {
        for d in &created {
            if std::fs::remove_dir(d).is_err() {
                break;
            }
        }
    }
    r
}

/// What [`Session::write_accepting`] accepted: the state of the branch's ref seen before, and the branch now.
pub type Accepted = (Option<SeenRef>, Option<Branch>);

/// A branch a write session puts right while opening, before HEAD is resolved (which would refuse it).
enum Fix<'a> {
    /// Accept the branch as stored.
    Accept(&'a str),
    /// Put back the last head seen.
    Restore(&'a str),
}

/// What a [`Fix`] did.
enum Fixed {
    Accepted(Accepted),
    Restored(Restored),
}

/// Check every ref `repo` reads against the last state of it this workspace saw (`.infini/seen-refs`), and keep the
/// newer states it sees there: a ref that went back, vanished or was replaced is then an integrity error.
pub fn watch_refs(ws: &Workspace, repo: &mut Repository) -> anyhow::Result<()> {
    let seen = ws.seen_refs(repo)?;
    repo.watch_refs(seen);
    Ok(())
}

/// Open the workspace's repository with its unlocked key, else with a password.
pub fn open_repo(ctx: &Context, ws: &Workspace, backend: Arc<dyn Backend>, remote: bool) -> anyhow::Result<Repository> {
    let opts = store_options(ctx, Some(ws), remote);
    // With the key unlocked and the header remembered, opening a remote repository makes no request at all (a
    // local one's header costs no round trip: it is read, so a format change is always seen).
    if let Some(header) = ws.read_header().filter(|_| remote) {
        if let Some(key) = ws.read_key(&header.id)? {
            return Ok(Repository::with_header(backend, key, header, opts)?);
        }
        if let Some((set, name)) = ws.read_writer_key(&header.id)? {
            return Ok(Repository::with_writer_header(backend, &set, name, header, opts)?);
        }
    }
    let probe = Repository::header(&*backend)?;
    if let Some(key) = ws.read_key(&probe.id)? {
        let _ = ws.write_header(&probe);
        return Ok(Repository::with_header(backend, key, probe, opts)?);
    }
    if let Some((set, name)) = ws.read_writer_key(&probe.id)? {
        let _ = ws.write_header(&probe);
        return Ok(Repository::with_writer_header(backend, &set, name, probe, opts)?);
    }
    let pw = password::get(ctx)?;
    let unlocked = password::unlock_any(ctx, &*backend, &pw)?;
    password::open_unlocked(backend, unlocked, opts)
}

/// The commit HEAD points at now, if any.
pub fn resolve_head(repo: &Repository, head: &Head) -> anyhow::Result<Option<CommitInfo>> {
    Ok(match head {
        Head::Branch(b) => match repo.branch(b)? {
            Some(br) => Some(repo.read_commit_to_view(&br.head)?),
            None => None,
        },
        // A detached HEAD at a commit a rewrite replaced shows its replacement (the original may be gone).
        Head::Detached(p) => Some(repo.read_commit_to_view(&repo.follow_rewrites(p)?)?),
    })
}
