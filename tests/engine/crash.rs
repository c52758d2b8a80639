//! Crash safety: a writer that dies after any number of storage writes leaves the last commit intact and
//! readable, and running the interrupted work again succeeds.

use infini::backends::{BResult, Backend, BackendError, MemoryBackend, ObjectInfo, RefVersion};
use infini::namespace::{store_value, NamespaceIndex};
use infini::Infinitree;
use infini::Repository;
use infini::StoreOptions;
use infini::{KdfParams, MasterKey};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Passes everything through until `budget` mutating calls were made, then fails them all, like a process that
/// died at that instant (nothing after the crash point reaches storage).
struct CrashAfter {
    inner: Arc<MemoryBackend>,
    budget: AtomicUsize,
}

impl CrashAfter {
    fn spend(&self, name: &str) -> BResult<()> {
        let ok = self.budget.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(1)).is_ok();
        if ok {
            Ok(())
        } else {
            Err(BackendError::Permanent {
                backend: "crash".into(),
                op: "write",
                name: name.into(),
                message: "crashed".into(),
            })
        }
    }
}

impl Backend for CrashAfter {
    fn describe(&self) -> String {
        "crash".into()
    }
    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        self.inner.read(name)
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        self.inner.read_range(name, offset, len)
    }
    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        self.inner.read_tail(name, len)
    }
    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        self.spend(name)?;
        self.inner.write(name, data)
    }
    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, name: &str) -> BResult<()> {
        self.spend(name)?;
        self.inner.delete(name)
    }
    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        self.inner.read_ref(name)
    }
    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        self.spend(name)?;
        self.inner.swap_ref(name, expected, data)
    }
    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.spend(name)?;
        self.inner.delete_ref(name)
    }
    fn list_refs(&self) -> BResult<Vec<String>> {
        self.inner.list_refs()
    }
}

fn value(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

#[test]
fn a_crash_at_any_write_leaves_the_last_commit_intact() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let master = *repo.master_key().unwrap().expose();
    let mut t = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    let e = store_value(&repo, &mut value(0, 3_000_000).as_slice(), &mut |_| {}).unwrap();
    t.index().ns.insert("base".into(), e);
    let base = t.commit("base").unwrap();

    let mut crash_point = 0;
    loop {
        // A writer that dies after `crash_point` writes tries to add two values and commit.
        let crashing = Arc::new(CrashAfter { inner: mem.clone(), budget: AtomicUsize::new(crash_point) });
        let r = (|| -> infini::Result<()> {
            let repo =
                Arc::new(Repository::with_key(crashing, MasterKey::from_bytes(master), StoreOptions::default())?);
            let mut t = Infinitree::<NamespaceIndex>::open(repo.clone(), "main")?;
            for i in 1..3 {
                let e = store_value(&repo, &mut value(i, 2_500_000).as_slice(), &mut |_| {})?;
                t.index().ns.insert(format!("new/{i}"), e);
            }
            repo.flush()?;
            t.commit("more")?;
            Ok(())
        })();
        // Whatever happened, a fresh reader sees a valid head: the old commit or the new one, complete.
        let fresh = Arc::new(
            Repository::with_key(mem.clone(), MasterKey::from_bytes(master), StoreOptions::default()).unwrap(),
        );
        let t = Infinitree::<NamespaceIndex>::open(fresh.clone(), "main").unwrap();
        let head = t.head().unwrap();
        let mut out = Vec::new();
        let b = t.index().ns.get(&"base".to_string()).unwrap().unwrap();
        fresh.copy_range(&b.blob, 0, u64::MAX, &mut out).unwrap();
        assert_eq!(out, value(0, 3_000_000));
        if r.is_ok() {
            assert_ne!(head.ptr, base.ptr);
            for i in 1..3 {
                let e = t.index().ns.get(&format!("new/{i}")).unwrap().unwrap();
                let mut out = Vec::new();
                fresh.copy_range(&e.blob, 0, u64::MAX, &mut out).unwrap();
                assert_eq!(out, value(i, 2_500_000));
            }
            assert!(fresh.check(&NamespaceIndex::default(), true).unwrap().errors.is_empty());
            break;
        }
        assert_eq!(head.ptr, base.ptr, "a failed commit moved the branch (crash after {crash_point} writes)");
        assert!(
            fresh.check(&NamespaceIndex::default(), true).unwrap().errors.is_empty(),
            "crash after {crash_point} writes damaged the repository"
        );
        crash_point += 1;
        assert!(crash_point < 50, "the commit never completed");
    }
    assert!(crash_point >= 2, "the test should have crashed at several points");
}
