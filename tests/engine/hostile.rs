//! Bounded behaviour against a hostile store or an unlucky schedule: no loop without end, no silent loss.

use infini::engine::backend::memory::MemoryBackend;
use infini::engine::crypto::KdfParams;
use infini::engine::object::StoreOptions;
use infini::engine::repo::{IndexRoots, Repository, MAX_COMMIT_ATTEMPTS};
use infini::engine::Error;
use std::sync::Arc;

#[test]
fn commit_gives_up_on_a_branch_that_never_stops_moving() {
    let mem = Arc::new(MemoryBackend::new());
    let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
    let repo = Repository::create(mem.clone(), b"pw", kdf, StoreOptions::default()).unwrap();
    let other = Repository::open(mem, b"pw", StoreOptions::default()).unwrap();
    repo.commit("main", "base", &mut |_| Ok(IndexRoots::new())).unwrap();
    let mut calls = 0u32;
    // Another writer moves the branch between every read of the head and every swap.
    let r = repo.commit("main", "mine", &mut |_| {
        calls += 1;
        other.commit("main", "theirs", &mut |_| Ok(IndexRoots::new())).unwrap();
        Ok(IndexRoots::new())
    });
    assert!(matches!(r, Err(Error::Conflict { .. })), "{r:?}");
    assert_eq!(calls, MAX_COMMIT_ATTEMPTS);
}
