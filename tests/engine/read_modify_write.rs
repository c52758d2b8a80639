//! Read-modify-write is safe across writers: a change made by `update_with`, `upsert` or `compare_and_set`
//! conflicts when its key changed on the branch since the base, even to the same value, so concurrent counters
//! lose nothing; plain inserts keep merging as before.

use infini::backends::{Backend, DirBackend};
use infini::fields::{Map, VersionedMap};
use infini::{Error, Index, Infinitree, KdfParams, MasterKey, Repository, StoreOptions};
use std::sync::{Arc, Barrier};

fn memory_repo() -> Arc<Repository> {
    Arc::new(Repository::create_at(&infini::Location::Memory, b"pw").unwrap())
}

#[test]
fn two_update_with_from_one_base_conflict_instead_of_counting_once_versioned_map() {
    let repo = memory_repo();
    let mut t = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    t.index().insert("n".into(), 0);
    t.commit("zero").unwrap();
    let mut a = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    let mut b = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    a.index().update_with(&"n".into(), |n| *n += 1).unwrap();
    b.index().update_with(&"n".into(), |n| *n += 1).unwrap();
    a.commit("a").unwrap();
    match b.commit("b") {
        Err(Error::MergeConflict { keys, .. }) => assert_eq!(keys, ["n"]),
        other => panic!("the second increment must conflict, got {:?}", other.map(|c| c.id())),
    }
    // Plain inserts of the same value still merge silently.
    let mut c = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    let mut d = Infinitree::<VersionedMap<String, u64>>::open(repo, "main").unwrap();
    c.index().insert("same".into(), 5);
    d.index().insert("same".into(), 5);
    c.commit("c").unwrap();
    d.commit("d").unwrap();
}

#[test]
fn two_update_with_from_one_base_conflict_instead_of_counting_once_map() {
    let repo = memory_repo();
    let mut t = Infinitree::<Map<String, u64>>::open(repo.clone(), "main").unwrap();
    t.index().insert("n".into(), 0);
    t.commit("zero").unwrap();
    let mut a = Infinitree::<Map<String, u64>>::open(repo.clone(), "main").unwrap();
    let mut b = Infinitree::<Map<String, u64>>::open(repo.clone(), "main").unwrap();
    a.index().update_with(&"n".into(), |n| *n += 1);
    b.index().upsert("n".into(), || 0, |n| *n += 1);
    a.commit("a").unwrap();
    assert!(matches!(b.commit("b"), Err(Error::MergeConflict { .. })));
    let mut c = Infinitree::<Map<String, u64>>::open(repo.clone(), "main").unwrap();
    let mut d = Infinitree::<Map<String, u64>>::open(repo, "main").unwrap();
    c.index().insert("same".into(), 5);
    d.index().insert("same".into(), 5);
    c.commit("c").unwrap();
    d.commit("d").unwrap();
}

#[test]
fn compare_and_set_checks_now_and_at_commit() {
    let repo = memory_repo();
    let mut t = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    assert!(t.index().compare_and_set(&"lock".into(), None, Some(1)).unwrap());
    assert!(!t.index().compare_and_set(&"lock".into(), None, Some(2)).unwrap(), "the value is 1 now");
    t.commit("taken").unwrap();
    let mut a = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    let mut b = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    assert!(a.index().compare_and_set(&"lock".into(), Some(&1), None).unwrap());
    assert!(b.index().compare_and_set(&"lock".into(), Some(&1), None).unwrap());
    a.commit("a releases").unwrap();
    assert!(matches!(b.commit("b releases"), Err(Error::MergeConflict { .. })), "b's release was of a stale value");
    let mut m = Infinitree::<Map<String, u64>>::open(repo, "map").unwrap();
    assert!(m.index().compare_and_set("k".into(), None, Some(1)));
    assert!(!m.index().compare_and_set("k".into(), Some(&7), Some(2)));
    m.commit("m").unwrap();
    assert_eq!(m.index().get(&"k".into()), Some(1));
}

#[derive(Default, Index)]
struct Counters {
    versioned: VersionedMap<String, u64>,
    map: Map<String, u64>,
}

#[test]
fn four_writers_times_25_increments_count_exactly_100() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Backend> = Arc::new(DirBackend::new(dir.path()).unwrap());
    let repo =
        Repository::create(backend, b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap();
    let master = *repo.master_key().unwrap().expose();
    drop(repo);
    let (writers, increments) = (4, 25);
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|_| {
            let path = dir.path().to_path_buf();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                // Each writer opens the directory and the repository on its own, as a separate process would.
                let backend: Arc<dyn Backend> = Arc::new(DirBackend::new(&path).unwrap());
                let repo = Arc::new(
                    Repository::with_key(backend, MasterKey::from_bytes(master), StoreOptions::default()).unwrap(),
                );
                barrier.wait();
                let mut retries = 0;
                for _ in 0..increments {
                    loop {
                        let mut t = Infinitree::<Counters>::open(repo.clone(), "main").unwrap();
                        t.index().versioned.insert_with("n".into(), || 0).unwrap();
                        t.index().versioned.update_with(&"n".into(), |n| *n += 1).unwrap();
                        t.index().map.upsert("n".into(), || 0, |n| *n += 1);
                        match t.commit("count") {
                            Ok(_) => break,
                            Err(Error::MergeConflict { .. }) => retries += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                retries
            })
        })
        .collect();
    let retries: u32 = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let backend: Arc<dyn Backend> = Arc::new(DirBackend::new(dir.path()).unwrap());
    let repo = Arc::new(Repository::with_key(backend, MasterKey::from_bytes(master), StoreOptions::default()).unwrap());
    let t = Infinitree::<Counters>::open(repo, "main").unwrap();
    assert_eq!(t.index().versioned.get(&"n".to_string()).unwrap(), Some(100), "after {retries} retries");
    assert_eq!(t.index().map.get(&"n".to_string()), Some(100));
}
