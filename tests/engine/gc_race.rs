//! A commit racing two gc runs, one backend operation at a time: a scheduler lets exactly one of the three threads
//! run its next backend operation, chosen by a seeded generator, so every interleaving it picks is reproducible
//! from its seed (not from timing). Whatever the interleaving, a commit that returns `Ok` never publishes a pointer
//! to a chunk that is gone: every branch reads back in full afterwards.
//!
//! `INFINI_SCHED_TRIALS` sets the number of seeded interleavings (default 100; `make stress` runs more).

use infini::backends::{Backend, BackendError, MemoryBackend, ObjectInfo, RefVersion};
use infini::namespace::{claim_staged_in, store_value, NamespaceIndex};
use infini::KdfParams;
use infini::StoreOptions;
use infini::{GcOptions, Repository};
use std::cell::Cell;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type BResult<T> = std::result::Result<T, BackendError>;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Running,
    Waiting,
    Done,
}

struct Shared {
    states: Vec<State>,
    granted: Option<usize>,
    /// The operations run, in order: (thread, operation), for the report of a failing seed.
    trace: Vec<(usize, String)>,
}

/// Lets one registered thread at a time perform its next backend operation.
struct Scheduler {
    shared: Mutex<Shared>,
    cv: Condvar,
}

thread_local! {
    static ME: Cell<Option<usize>> = const { Cell::new(None) };
}

impl Scheduler {
    fn new(threads: usize) -> Arc<Self> {
        Arc::new(Self {
            shared: Mutex::new(Shared { states: vec![State::Running; threads], granted: None, trace: Vec::new() }),
            cv: Condvar::new(),
        })
    }

    /// Called before every backend operation: a registered thread waits for its turn (others pass).
    fn step(&self, op: &str) {
        let Some(me) = ME.with(Cell::get) else { return };
        let mut s = self.shared.lock().unwrap();
        s.states[me] = State::Waiting;
        self.cv.notify_all();
        while s.granted != Some(me) {
            s = self.cv.wait(s).unwrap();
        }
        s.granted = None;
        s.states[me] = State::Running;
        s.trace.push((me, op.to_string()));
    }

    fn done(&self, me: usize) {
        let mut s = self.shared.lock().unwrap();
        s.states[me] = State::Done;
        self.cv.notify_all();
    }

    /// Drive the threads to the end, choosing the next one with `next(the waiting threads)`.
    fn drive(&self, mut next: impl FnMut(&[usize]) -> usize) {
        let mut s = self.shared.lock().unwrap();
        loop {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            while s.granted.is_some() || s.states.contains(&State::Running) {
                let (g, t) = self.cv.wait_timeout(s, Duration::from_secs(1)).unwrap();
                s = g;
                assert!(!t.timed_out() || std::time::Instant::now() < deadline, "a thread never reached its next step");
            }
            let waiting: Vec<usize> = (0..s.states.len()).filter(|&i| s.states[i] == State::Waiting).collect();
            if waiting.is_empty() {
                return;
            }
            s.granted = Some(next(&waiting));
            self.cv.notify_all();
        }
    }
}

/// A backend that asks the scheduler before every operation.
struct Paused {
    inner: Arc<dyn Backend>,
    sched: Arc<Scheduler>,
}

impl Backend for Paused {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        self.sched.step(&format!("read {name}"));
        self.inner.read(name)
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        self.sched.step(&format!("read_range {name}"));
        self.inner.read_range(name, offset, len)
    }
    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        self.sched.step(&format!("read_tail {name}"));
        self.inner.read_tail(name, len)
    }
    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        self.sched.step(&format!("write {name}"));
        self.inner.write(name, data)
    }
    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        self.sched.step(&format!("list {prefix}"));
        self.inner.list(prefix)
    }
    fn delete(&self, name: &str) -> BResult<()> {
        self.sched.step(&format!("delete {name}"));
        self.inner.delete(name)
    }
    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        self.sched.step(&format!("read_ref {}", &name[..8.min(name.len())]));
        self.inner.read_ref(name)
    }
    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        self.sched.step(&format!("swap_ref {}", &name[..8.min(name.len())]));
        self.inner.swap_ref(name, expected, data)
    }
    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.sched.step("delete_ref");
        self.inner.delete_ref(name)
    }
    fn list_refs(&self) -> BResult<Vec<String>> {
        self.sched.step("list_refs");
        self.inner.list_refs()
    }
    fn sync(&self) -> BResult<()> {
        self.sched.step("sync");
        self.inner.sync()
    }
}

/// xorshift64*: a small seeded generator, so that a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

fn value(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 7) as u8) ^ seed).collect()
}

const KDF: KdfParams = KdfParams { log_n: 10, r: 8, p: 1 };

fn gc_now() -> GcOptions {
    GcOptions { grace_secs: 0, min_age_secs: 0, ..GcOptions::default() }
}

/// Every branch reads back in full: every value of every branch's head, every byte.
fn every_branch_reads(backend: Arc<dyn Backend>) -> Result<(), String> {
    let repo = Repository::open(backend, b"pw", StoreOptions::default()).map_err(|e| e.to_string())?;
    for b in repo.branches().map_err(|e| e.to_string())? {
        let head = repo.read_commit(&b.head).map_err(|e| e.to_string())?;
        let idx = NamespaceIndex::default();
        repo.load_index(&idx, Some(&head)).map_err(|e| e.to_string())?;
        for kv in idx.ns.iter() {
            let (k, e) = kv.map_err(|e| e.to_string())?;
            let mut out = Vec::new();
            repo.copy_range(&e.blob, 0, u64::MAX, &mut out).map_err(|e| format!("{k}: {e}"))?;
        }
    }
    Ok(())
}

/// One trial: a value staged (its pack condemned by a first gc run), then a commit of it and two gc threads (each
/// running gc twice) with no grace and no minimum age, interleaved as the seed says. Returns what went wrong, if
/// anything.
/// Two gc runs one after the other (the first condemns, the second deletes) on each of `gcs`, as threads 1, 2, ...,
/// beside thread 0 (already in `handles`), in the interleaving `seed` picks; then wait for every thread. Thread 0's
/// share of the steps varies with the seed (one in 2, 4 or 12), so that gc runs also get to go through whole while
/// thread 0 is between two steps.
fn race_gcs(
    sched: &Arc<Scheduler>,
    gcs: Vec<Arc<Repository>>,
    seed: u64,
    mut handles: Vec<std::thread::JoinHandle<()>>,
) -> Result<(), String> {
    for (i, g) in gcs.into_iter().enumerate() {
        let sched = sched.clone();
        handles.push(std::thread::spawn(move || {
            ME.with(|m| m.set(Some(i + 1)));
            for _ in 0..2 {
                let _ = g.gc(&NamespaceIndex::default(), &gc_now());
            }
            sched.done(i + 1);
        }));
    }
    let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let odds = [2, 4, 12][(seed % 3) as usize];
    sched.drive(|waiting| {
        let others: Vec<usize> = waiting.iter().copied().filter(|&t| t != 0).collect();
        if others.is_empty() || (waiting.contains(&0) && rng.below(odds) == 0) {
            waiting[0]
        } else {
            others[rng.below(others.len())]
        }
    });
    for h in handles {
        h.join().map_err(|_| format!("seed {seed}: a thread panicked"))?;
    }
    Ok(())
}

fn trial(seed: u64, write_only: bool) -> Result<(), String> {
    let mem: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let sched = Scheduler::new(3);
    let paused: Arc<dyn Backend> = Arc::new(Paused { inner: mem.clone(), sched: sched.clone() });
    let setup = Repository::create(mem.clone(), b"pw", KDF, StoreOptions::default()).unwrap();
    {
        let idx = NamespaceIndex::default();
        let e = store_value(&setup, &mut value(1, 1000).as_slice(), &mut |_| {}).unwrap();
        idx.ns.insert("base".into(), e);
        setup.commit_index("main", "base", &idx).unwrap();
    }
    // The committing workspace stages a value: its own pack.
    if write_only {
        setup.add_writer_key(b"w", KDF, "w").unwrap();
    }
    let w1 = Arc::new(match write_only {
        true => Repository::open_write_only(paused.clone(), b"w", StoreOptions::default()).unwrap(),
        false => Repository::open(paused.clone(), b"pw", StoreOptions::default()).unwrap(),
    });
    let deletions = w1.sync_dedup_index().unwrap();
    let base = match write_only {
        true => None,
        false => Some(w1.read_commit(&w1.branch("main").unwrap().unwrap().head).unwrap()),
    };
    let idx = Arc::new(NamespaceIndex::default());
    w1.load_index(&*idx, base.as_ref()).unwrap();
    let big = value(7, 300_000);
    let e = store_value(&w1, &mut big.as_slice(), &mut |_| {}).unwrap();
    w1.flush().unwrap();
    idx.ns.insert("big".into(), e);
    // A gc run condemns the staged pack: unreachable, and old enough for a minimum age of zero.
    let plan = setup.gc(&NamespaceIndex::default(), &gc_now()).unwrap();
    if plan.condemn.is_empty() {
        return Err(format!("seed {seed}: the staged pack was not condemned: {plan:?}"));
    }

    let gcs: Vec<Arc<Repository>> =
        (0..2).map(|_| Arc::new(Repository::open(paused.clone(), b"pw", StoreOptions::default()).unwrap())).collect();
    let committed = Arc::new(Mutex::new(None));
    let mut handles: Vec<std::thread::JoinHandle<()>> = Vec::new();
    {
        let (sched, w1, idx, committed) = (sched.clone(), w1.clone(), idx.clone(), committed.clone());
        handles.push(std::thread::spawn(move || {
            ME.with(|m| m.set(Some(0)));
            let r = claim_staged_in(&w1, &idx.ns, Some(deletions)).and_then(|()| match write_only {
                true => w1.commit_delta("main", "big", None, &*idx, &[], false),
                false => w1.commit_index_on("main", "big", &*idx, base.as_ref()),
            });
            *committed.lock().unwrap() = Some(r.map(|c| c.id().to_hex()).map_err(|e| e.to_string()));
            sched.done(0);
        }));
    }
    race_gcs(&sched, gcs, seed, handles)?;
    let outcome = committed.lock().unwrap().take().unwrap();
    let trace = || {
        let s = sched.shared.lock().unwrap();
        s.trace.iter().map(|(t, op)| format!("  {t}: {op}")).collect::<Vec<_>>().join("\n")
    };
    if let Err(e) = every_branch_reads(mem.clone()) {
        return Err(format!("seed {seed}: commit returned {outcome:?}, then a read failed: {e}\n{}", trace()));
    }
    if let Ok(id) = &outcome {
        let repo = Repository::open(mem, b"pw", StoreOptions::default()).unwrap();
        let head = repo.branch("main").unwrap().unwrap().head;
        if head.commit_id().to_hex() != *id {
            return Err(format!("seed {seed}: commit returned {id} but main is at {}", head.commit_id().to_hex()));
        }
    }
    Ok(())
}

fn trials() -> u64 {
    std::env::var("INFINI_SCHED_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(100)
}

#[test]
fn no_interleaving_of_a_commit_and_two_gc_runs_publishes_a_dangling_pointer() {
    let mut failures = Vec::new();
    for seed in 0..trials() {
        if let Err(e) = trial(seed, false) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} interleavings lost data; the first:\n{}",
        failures.len(),
        trials(),
        failures[0]
    );
}

/// The same interleavings with the commit made by a write-only key: it cannot trace what its commit reaches beyond
/// the head, so it claims every pack it wrote or points to, and the protocol's argument holds as for any commit.
#[test]
fn no_interleaving_of_a_commit_and_two_gc_runs_publishes_a_dangling_pointer_with_a_write_only_key() {
    let mut failures = Vec::new();
    for seed in 0..trials() {
        if let Err(e) = trial(seed, true) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} interleavings lost data; the first:\n{}",
        failures.len(),
        trials(),
        failures[0]
    );
}

/// One trial of a tag created on a commit no branch holds (its branch deleted, its pack condemned by a first gc run)
/// while two gc threads each run gc twice with no grace and no minimum age, interleaved as the seed says: a tag
/// creation that returns `Ok` must leave every value of the tagged commit readable.
fn tag_trial(seed: u64) -> Result<(), String> {
    let mem: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let sched = Scheduler::new(3);
    let paused: Arc<dyn Backend> = Arc::new(Paused { inner: mem.clone(), sched: sched.clone() });
    let setup = Repository::create(mem.clone(), b"pw", KDF, StoreOptions::default()).unwrap();
    let store = |name: &str, v: Vec<u8>| {
        let idx = NamespaceIndex::default();
        let e = store_value(&setup, &mut v.as_slice(), &mut |_| {}).unwrap();
        idx.ns.insert(name.into(), e);
        idx
    };
    setup.commit_index("main", "base", &store("base", value(1, 1000))).unwrap();
    let side = setup.commit_index("side", "side", &store("big", value(9, 300_000))).unwrap();
    setup.delete_branch("side").unwrap();
    let plan = setup.gc(&NamespaceIndex::default(), &gc_now()).unwrap();
    if plan.condemn.is_empty() {
        return Err(format!("seed {seed}: the deleted branch's pack was not condemned: {plan:?}"));
    }
    let tagger = Arc::new(Repository::open(paused.clone(), b"pw", StoreOptions::default()).unwrap());
    let gcs: Vec<Arc<Repository>> =
        (0..2).map(|_| Arc::new(Repository::open(paused.clone(), b"pw", StoreOptions::default()).unwrap())).collect();
    let tagged = Arc::new(Mutex::new(None));
    let mut handles: Vec<std::thread::JoinHandle<()>> = Vec::new();
    {
        let (sched, tagger, tagged, at) = (sched.clone(), tagger.clone(), tagged.clone(), side.ptr);
        handles.push(std::thread::spawn(move || {
            ME.with(|m| m.set(Some(0)));
            let r = tagger.create_tag("keep", &at, &NamespaceIndex::default());
            *tagged.lock().unwrap() = Some(r.map(|_| ()).map_err(|e| e.to_string()));
            sched.done(0);
        }));
    }
    race_gcs(&sched, gcs, seed, handles)?;
    let outcome = tagged.lock().unwrap().take().unwrap();
    let trace = || {
        let s = sched.shared.lock().unwrap();
        s.trace.iter().map(|(t, op)| format!("  {t}: {op}")).collect::<Vec<_>>().join("\n")
    };
    if outcome.is_ok() {
        let repo = Repository::open(mem, b"pw", StoreOptions::default()).unwrap();
        let read = || -> Result<(), String> {
            let tag = repo.tag("keep").map_err(|e| e.to_string())?.ok_or("the tag is gone")?;
            let c = repo.read_commit(&tag.commit).map_err(|e| e.to_string())?;
            let idx = NamespaceIndex::default();
            repo.load_index(&idx, Some(&c)).map_err(|e| e.to_string())?;
            let e = idx.ns.get(&"big".to_string()).map_err(|e| e.to_string())?.ok_or("big is gone")?;
            let mut out = Vec::new();
            repo.copy_range(&e.blob, 0, u64::MAX, &mut out).map_err(|e| e.to_string())?;
            if out != value(9, 300_000) {
                return Err("big reads back wrong".into());
            }
            Ok(())
        };
        if let Err(e) = read() {
            return Err(format!("seed {seed}: the tag was created, then a read failed: {e}\n{}", trace()));
        }
    }
    Ok(())
}

#[test]
fn no_interleaving_of_a_tag_creation_and_two_gc_runs_leaves_a_tag_without_its_data() {
    let mut failures = Vec::new();
    for seed in 0..trials() {
        if let Err(e) = tag_trial(seed) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} interleavings lost data; the first:\n{}",
        failures.len(),
        trials(),
        failures[0]
    );
}

/// Every commit reachable from a live root (every branch and tag, through every parent) reads back in full: its
/// index loads and every value of it reads, every byte.
fn every_root_reads(backend: Arc<dyn Backend>) -> Result<(), String> {
    let repo = Repository::open(backend, b"pw", StoreOptions::default()).map_err(|e| e.to_string())?;
    let mut heads: Vec<_> = repo.branches().map_err(|e| e.to_string())?.into_iter().map(|b| b.head).collect();
    heads.extend(repo.tags().map_err(|e| e.to_string())?.into_iter().map(|t| t.commit));
    for head in heads {
        for c in repo.log(&head, usize::MAX).map_err(|e| e.to_string())? {
            let idx = NamespaceIndex::default();
            repo.load_index(&idx, Some(&c)).map_err(|e| e.to_string())?;
            for kv in idx.ns.iter() {
                let (k, e) = kv.map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                repo.copy_range(&e.blob, 0, u64::MAX, &mut out).map_err(|e| format!("{k}: {e}"))?;
            }
        }
    }
    Ok(())
}

/// What a trial of a new root at an existing commit starts from: `main` at `base`, and a deleted branch `side`
/// whose history is `side1` (on `base`, adding `big`) then `side2` (removing `big`, adding `small`), its packs
/// condemned by a first gc run.
struct Deleted {
    base: infini::CommitInfo,
    side1: infini::CommitInfo,
    side2: infini::CommitInfo,
}

/// One trial of `op` (making a new root reach a commit of the deleted branch) while two gc threads each run gc
/// twice with no grace and no minimum age, interleaved as the seed says: if `op` returns `Ok`, every commit
/// reachable from a live root must read back in full.
fn new_root_trial(
    seed: u64,
    op: impl FnOnce(&Repository, &Deleted) -> infini::Result<()> + Send + 'static,
) -> Result<bool, String> {
    let mem: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let sched = Scheduler::new(3);
    let paused: Arc<dyn Backend> = Arc::new(Paused { inner: mem.clone(), sched: sched.clone() });
    let setup = Repository::create(mem.clone(), b"pw", KDF, StoreOptions::default()).unwrap();
    let on = |commit: Option<&infini::CommitInfo>| {
        let idx = NamespaceIndex::default();
        setup.load_index(&idx, commit).unwrap();
        idx
    };
    let idx = on(None);
    idx.ns.insert("base".into(), store_value(&setup, &mut value(1, 1000).as_slice(), &mut |_| {}).unwrap());
    let base = setup.commit_index("main", "base", &idx).unwrap();
    let idx = on(Some(&base));
    idx.ns.insert("big".into(), store_value(&setup, &mut value(9, 300_000).as_slice(), &mut |_| {}).unwrap());
    let side1 = setup.commit_index_on("side", "side1", &idx, Some(&base)).unwrap();
    let idx = on(Some(&side1));
    idx.ns.remove(&"big".to_string());
    idx.ns.insert("small".into(), store_value(&setup, &mut value(5, 2000).as_slice(), &mut |_| {}).unwrap());
    let side2 = setup.commit_index_on("side", "side2", &idx, Some(&side1)).unwrap();
    setup.delete_branch("side").unwrap();
    let plan = setup.gc(&NamespaceIndex::default(), &gc_now()).unwrap();
    if plan.condemn.is_empty() {
        return Err(format!("seed {seed}: the deleted branch's packs were not condemned: {plan:?}"));
    }
    let deleted = Deleted { base, side1, side2 };
    let maker = Repository::open(paused.clone(), b"pw", StoreOptions::default()).unwrap();
    race(seed, mem, paused, sched, maker, move |r| op(r, &deleted))
}

/// Run `op` on `maker` (a repository on `paused`) in thread 0 against two gc threads, each running gc twice with no
/// grace and no minimum age, interleaved as the seed says: if `op` returns `Ok`, every commit reachable from a live
/// root must read back in full. Returns whether `op` succeeded.
fn race(
    seed: u64,
    mem: Arc<dyn Backend>,
    paused: Arc<dyn Backend>,
    sched: Arc<Scheduler>,
    maker: Repository,
    op: impl FnOnce(&Repository) -> infini::Result<()> + Send + 'static,
) -> Result<bool, String> {
    let maker = Arc::new(maker);
    let gcs: Vec<Arc<Repository>> =
        (0..2).map(|_| Arc::new(Repository::open(paused.clone(), b"pw", StoreOptions::default()).unwrap())).collect();
    let made = Arc::new(Mutex::new(None));
    let mut handles: Vec<std::thread::JoinHandle<()>> = Vec::new();
    {
        let (sched, maker, made) = (sched.clone(), maker.clone(), made.clone());
        handles.push(std::thread::spawn(move || {
            ME.with(|m| m.set(Some(0)));
            let r = op(&maker);
            *made.lock().unwrap() = Some(r.map_err(|e| e.to_string()));
            sched.done(0);
        }));
    }
    race_gcs(&sched, gcs, seed, handles)?;
    let outcome = made.lock().unwrap().take().unwrap();
    if outcome.is_ok() {
        if let Err(e) = every_root_reads(mem) {
            let s = sched.shared.lock().unwrap();
            let trace = s.trace.iter().map(|(t, op)| format!("  {t}: {op}")).collect::<Vec<_>>().join("\n");
            return Err(format!("seed {seed}: the new root was made, then a read failed: {e}\n{trace}"));
        }
    }
    Ok(outcome.is_ok())
}

fn no_failed_trial(op: impl Fn(&Repository, &Deleted) -> infini::Result<()> + Send + Clone + 'static) {
    let (mut failures, mut made) = (Vec::new(), 0);
    for seed in 0..trials() {
        match new_root_trial(seed, op.clone()) {
            Ok(ok) => made += u64::from(ok),
            Err(e) => failures.push(e),
        }
    }
    // Not a vacuous pass: some interleavings let the new root be made (and so must keep its data).
    assert!(made > 0, "no interleaving made the new root");
    assert!(
        failures.is_empty(),
        "{} of {} interleavings lost data; the first:\n{}",
        failures.len(),
        trials(),
        failures[0]
    );
}

/// `main` fast-forwarded to the deleted branch's last commit (whose history holds `big`), as `merge` does.
#[test]
fn no_interleaving_of_a_fast_forward_and_two_gc_runs_leaves_a_branch_without_its_data() {
    no_failed_trial(|repo, d| {
        let main = repo.branch("main")?;
        repo.fast_forward_branch("main", main.as_ref(), &d.side2.ptr, &NamespaceIndex::default())?
            .ok_or(infini::Error::Conflict { what: "main".into() })?;
        Ok(())
    });
}

/// A merge commit on `main` whose second parent is the deleted branch's last commit: the merged history (`side1`,
/// with `big`) is reachable through it.
#[test]
fn no_interleaving_of_a_merge_commit_and_two_gc_runs_leaves_its_merged_history_without_its_data() {
    no_failed_trial(|repo, d| {
        let idx = NamespaceIndex::default();
        repo.load_index(&idx, Some(&d.base))?;
        let theirs = NamespaceIndex::default();
        repo.load_index(&theirs, Some(&d.side2))?;
        let small = theirs.ns.get(&"small".to_string())?.ok_or(infini::Error::Invalid("small".into()))?;
        idx.ns.insert("small".into(), small);
        claim_staged_in(repo, &idx.ns, None)?;
        let opts = infini::CommitOptions { merged: Some(d.side2.ptr), ..infini::CommitOptions::default() };
        repo.commit_index_on_with("main", "merge", &idx, Some(&d.base), &opts)?;
        Ok(())
    });
}

/// A branch created at the deleted branch's first commit, by id (`fork NAME ID`).
#[test]
fn no_interleaving_of_a_branch_creation_and_two_gc_runs_leaves_a_branch_without_its_data() {
    no_failed_trial(|repo, d| repo.create_branch("again", &d.side1.ptr, &NamespaceIndex::default()).map(|_| ()));
}

/// A branch's ref rolled back (by storage) to a state before its last commit, whose pack a gc run then condemned
/// (gc trusts the ref as it finds it), put back with `restore_ref` (`branch --restore`) by a reader that saw the
/// newer state, while gc runs delete: the restored head must keep its data.
#[test]
fn no_interleaving_of_a_branch_restore_and_two_gc_runs_leaves_a_branch_without_its_data() {
    let (mut failures, mut made) = (Vec::new(), 0);
    for seed in 0..trials() {
        match restore_trial(seed) {
            Ok(ok) => made += u64::from(ok),
            Err(e) => failures.push(e),
        }
    }
    assert!(made > 0, "no interleaving restored the branch");
    assert!(
        failures.is_empty(),
        "{} of {} interleavings lost data; the first:\n{}",
        failures.len(),
        trials(),
        failures[0]
    );
}

fn restore_trial(seed: u64) -> Result<bool, String> {
    let mem: Arc<dyn Backend> = Arc::new(MemoryBackend::new());
    let sched = Scheduler::new(3);
    let paused: Arc<dyn Backend> = Arc::new(Paused { inner: mem.clone(), sched: sched.clone() });
    let setup = Repository::create(mem.clone(), b"pw", KDF, StoreOptions::default()).unwrap();
    let idx = NamespaceIndex::default();
    idx.ns.insert("base".into(), store_value(&setup, &mut value(1, 1000).as_slice(), &mut |_| {}).unwrap());
    let base = setup.commit_index("main", "base", &idx).unwrap();
    setup.gc(&NamespaceIndex::default(), &gc_now()).unwrap();
    // main's ref: the one a second gc run leaves as it was (the gc ref changes on every run).
    let refs = || -> Vec<(String, Vec<u8>, RefVersion)> {
        mem.list_refs()
            .unwrap()
            .into_iter()
            .map(|n| {
                let (d, v) = mem.read_ref(&n).unwrap().unwrap();
                (n, d, v)
            })
            .collect()
    };
    let before = refs();
    setup.gc(&NamespaceIndex::default(), &gc_now()).unwrap();
    let after = refs();
    let unchanged: Vec<_> = before.iter().filter(|(n, d, _)| after.iter().any(|(m, e, _)| m == n && e == d)).collect();
    if unchanged.len() != 1 {
        return Err(format!("seed {seed}: expected main's ref alone unchanged by gc, found {}", unchanged.len()));
    }
    let (main_ref, old, _) = unchanged[0].clone();
    let idx = NamespaceIndex::default();
    setup.load_index(&idx, Some(&base)).unwrap();
    idx.ns.insert("big".into(), store_value(&setup, &mut value(9, 300_000).as_slice(), &mut |_| {}).unwrap());
    setup.commit_index("main", "two", &idx).unwrap();
    let mut reader = Repository::open(paused.clone(), b"pw", StoreOptions::default()).unwrap();
    reader.watch_refs(Arc::new(infini::SeenRefs::new(infini::SeenMap::new(), None)));
    reader.branch("main").unwrap();
    // The rollback, then a gc run that condemns what only the newer head reached.
    let (_, now) = mem.read_ref(&main_ref).unwrap().unwrap();
    mem.swap_ref(&main_ref, Some(&now), &old).unwrap();
    let plan = setup.gc(&NamespaceIndex::default(), &gc_now()).unwrap();
    if plan.condemn.is_empty() {
        return Err(format!("seed {seed}: the rolled-back head's pack was not condemned: {plan:?}"));
    }
    race(seed, mem, paused, sched, reader, |r| r.restore_ref("main", &NamespaceIndex::default()).map(|_| ()))
}
