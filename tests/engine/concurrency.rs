//! Many writers on one repository: concurrent commits never lose an update; overlapping edits conflict.

use infini::backends::{Backend, DirBackend};
use infini::fields::VersionedMap;
use infini::Error;
use infini::Infinitree;
use infini::Repository;
use infini::StoreOptions;
use infini::{KdfParams, MasterKey};
use std::sync::{Arc, Barrier};

fn open(backend: Arc<dyn Backend>, master: &[u8; 32]) -> Arc<Repository> {
    Arc::new(Repository::with_key(backend, MasterKey::from_bytes(*master), StoreOptions::default()).unwrap())
}

#[test]
fn eight_writers_lose_nothing_on_a_shared_directory() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Backend> = Arc::new(DirBackend::new(dir.path()).unwrap());
    let repo = Repository::create(backend.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default())
        .unwrap();
    let master = *repo.master_key().unwrap().expose();
    let writers = 8;
    let commits = 25;
    let barrier = Arc::new(Barrier::new(writers));
    let handles: Vec<_> = (0..writers)
        .map(|w| {
            // Each writer has its own backend handle and repository, as separate processes would.
            let backend: Arc<dyn Backend> = Arc::new(DirBackend::new(dir.path()).unwrap());
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let repo = open(backend, &master);
                let mut tree = Infinitree::<VersionedMap<String, u64>>::open(repo, "main").unwrap();
                barrier.wait();
                for i in 0..commits {
                    tree.index().insert(format!("w{w}/k{i}"), (w * 1000 + i) as u64);
                    tree.commit(&format!("writer {w} commit {i}")).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().expect("writer panicked");
    }
    let repo = open(backend, &master);
    let tree = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    for w in 0..writers {
        for i in 0..commits {
            assert_eq!(tree.index().get(&format!("w{w}/k{i}")).unwrap(), Some((w * 1000 + i) as u64), "w{w}/k{i} lost");
        }
    }
    let head = tree.head().unwrap().ptr;
    assert_eq!(repo.log(&head, usize::MAX).unwrap().len(), writers * commits);
}

#[test]
fn overlapping_edits_conflict_and_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let backend: Arc<dyn Backend> = Arc::new(DirBackend::new(dir.path()).unwrap());
    let repo = Arc::new(
        Repository::create(backend.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default())
            .unwrap(),
    );
    let master = *repo.master_key().unwrap().expose();
    let mut a = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    a.index().insert("shared".into(), 0);
    a.commit("base").unwrap();
    let mut b = Infinitree::<VersionedMap<String, u64>>::open(open(backend.clone(), &master), "main").unwrap();
    a.index().insert("shared".into(), 1);
    a.index().insert("only-a".into(), 1);
    b.index().insert("shared".into(), 2);
    b.index().insert("only-b".into(), 2);
    a.commit("a").unwrap();
    match b.commit("b") {
        Err(Error::MergeConflict { field, keys }) => {
            assert_eq!((field.as_str(), keys), ("root", vec!["shared".to_string()]))
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    // Retrying is the same conflict: b's base is still the old head.
    assert!(matches!(b.commit("b again"), Err(Error::MergeConflict { .. })));
    // Nothing was lost: b's changes are still staged, a's are committed.
    assert_eq!(b.index().get(&"shared".to_string()).unwrap(), Some(2));
    assert_eq!(b.index().get(&"only-b".to_string()).unwrap(), Some(2));
    let backend_again = backend.clone();
    let fresh = Infinitree::<VersionedMap<String, u64>>::open(open(backend, &master), "main").unwrap();
    assert_eq!(fresh.index().get(&"shared".to_string()).unwrap(), Some(1));
    assert_eq!(fresh.index().get(&"only-a".to_string()).unwrap(), Some(1));
    // The way out: rebase b's staged changes onto the new head. "shared" is reported as conflicted (both sides
    // changed it); b's value stays staged, a's is the committed one; "only-b" applies cleanly.
    let conflicts = b.index().rebase_onto(fresh.index()).unwrap();
    assert_eq!(conflicts, vec!["shared".to_string()]);
    assert_eq!(b.index().get(&"shared".to_string()).unwrap(), Some(2));
    assert_eq!(b.index().committed(&"shared".to_string()).unwrap(), Some(1));
    assert_eq!(b.index().committed(&"only-a".to_string()).unwrap(), Some(1));
    // Taking theirs for "shared" (unstage) and committing keeps a's and b's other changes.
    b.index().unstage(&"shared".to_string()).unwrap();
    b.commit("b rebased").unwrap();
    let after = Infinitree::<VersionedMap<String, u64>>::open(open(backend_again.clone(), &master), "main").unwrap();
    assert_eq!(after.index().get(&"shared".to_string()).unwrap(), Some(1));
    assert_eq!(after.index().get(&"only-a".to_string()).unwrap(), Some(1));
    assert_eq!(after.index().get(&"only-b".to_string()).unwrap(), Some(2));
    // The same change on both sides is not a conflict.
    let mut c = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    let mut d = Infinitree::<VersionedMap<String, u64>>::open(repo, "main").unwrap();
    c.index().insert("same".into(), 7);
    d.index().insert("same".into(), 7);
    c.commit("c").unwrap();
    d.commit("d").unwrap();
}
