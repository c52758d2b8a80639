//! Write-only keys through the library: a writer stages and commits but reads nothing back; readers see the full
//! state of its commits; gc and check keep and verify what writer commits reference.

use infini::backends::{Backend, MemoryBackend};
use infini::fields::VersionedMap;
use infini::namespace::{store_value, NamespaceIndex};
use infini::{CommitOptions, Error, GcOptions, Infinitree, KdfParams, Repository, StoreOptions};
use std::sync::Arc;

const KDF: KdfParams = KdfParams { log_n: 10, r: 8, p: 1 };

use crate::gc::noise;

fn setup() -> (Arc<MemoryBackend>, Arc<Repository>) {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(Repository::create(mem.clone(), b"reader", KDF, StoreOptions::default()).unwrap());
    repo.add_writer_key(b"writer", KDF, "ci-runner").unwrap();
    (mem, repo)
}

fn is_write_only<T>(r: infini::Result<T>) -> bool {
    matches!(r, Err(Error::WriteOnly { .. }))
}

#[test]
fn a_writer_commits_values_readers_read_and_reads_nothing_itself() {
    let (mem, reader) = setup();
    let mut base = Infinitree::<VersionedMap<String, Vec<u8>>>::open(reader.clone(), "main").unwrap();
    base.index().insert("old".into(), b"before the writer".to_vec());
    base.commit("reader's first").unwrap();

    let writer = Arc::new(Repository::open_write_only(mem.clone(), b"writer", StoreOptions::default()).unwrap());
    assert!(writer.is_write_only());
    assert_eq!(writer.writer_name(), Some("ci-runner"));
    assert!(matches!(Repository::open(mem.clone(), b"writer", StoreOptions::default()), Err(Error::WriteOnly { .. })));
    let mut w = Infinitree::<VersionedMap<String, Vec<u8>>>::open(writer.clone(), "main").unwrap();
    for i in 0..3u8 {
        w.index().insert(format!("w/{i}"), vec![i; 100 + i as usize]);
    }
    w.index().remove(&"old".to_string());
    // Nothing reads back: committed state, staged state, history.
    assert!(is_write_only(w.index().get(&"old".to_string())));
    assert!(is_write_only(w.index().get(&"w/1".to_string())));
    assert!(is_write_only(w.index().contains_key(&"w/1".to_string())));
    assert!(is_write_only(w.index().len()));
    assert!(w.index().iter().any(|r| matches!(r, Err(Error::WriteOnly { .. }))));
    let c1 = w.commit("writer's first").unwrap();
    assert!(is_write_only(w.at(c1.id())));
    assert!(is_write_only(writer.read_commit(&c1.ptr)));
    assert!(is_write_only(writer.master_key()));
    assert!(is_write_only(writer.add_key(b"x", KDF)));
    assert!(is_write_only(writer.gc(&NamespaceIndex::default(), &GcOptions::default())));
    w.index().insert("w/big".into(), noise(1, 3_000_000));
    w.commit_with("writer's second", &CommitOptions::default()).unwrap();

    // The reader sees both writer commits, folded onto its own.
    let r = Infinitree::<VersionedMap<String, Vec<u8>>>::open(reader.clone(), "main").unwrap();
    assert_eq!(r.index().get(&"old".to_string()).unwrap(), None);
    for i in 0..3u8 {
        assert_eq!(r.index().get(&format!("w/{i}")).unwrap(), Some(vec![i; 100 + i as usize]));
    }
    assert_eq!(r.index().get(&"w/big".to_string()).unwrap(), Some(noise(1, 3_000_000)));
    let head = r.head().unwrap();
    assert_eq!(head.writer(), Some("ci-runner"));
    assert_eq!(head.message(), "writer's second");
    let old = r.at(c1.id()).unwrap();
    assert_eq!(old.get(&"w/big".to_string()).unwrap(), None);
    assert_eq!(old.get(&"w/2".to_string()).unwrap(), Some(vec![2; 102]));
}

#[test]
fn gc_keeps_what_writer_commits_reference_and_check_is_clean() {
    let (mem, reader) = setup();
    let writer = Arc::new(Repository::open_write_only(mem.clone(), b"writer", StoreOptions::default()).unwrap());
    let mut w = Infinitree::<NamespaceIndex>::open(writer.clone(), "main").unwrap();
    let values: Vec<Vec<u8>> = (0..4).map(|i| noise(i + 10, 600_000 * (i as usize + 1))).collect();
    for (i, v) in values.iter().enumerate() {
        let e = store_value(&writer, &mut v.as_slice(), &mut |_| {}).unwrap();
        w.index().ns.insert(format!("f{i}"), e);
        w.commit(&format!("put {i}")).unwrap();
    }
    let before = mem.list("objects/").unwrap().len();
    let opts = GcOptions { grace_secs: 0, min_age_secs: 0, ..GcOptions::default() };
    for _ in 0..3 {
        reader.gc(&NamespaceIndex::default(), &opts).unwrap();
    }
    assert_eq!(mem.list("objects/").unwrap().len(), before, "gc deleted a pack writer commits reference");
    let report = reader.check(&NamespaceIndex::default(), true).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(report.commits, 4);
    let fresh = Arc::new(Repository::open(mem.clone(), b"reader", StoreOptions::default()).unwrap());
    let r = Infinitree::<NamespaceIndex>::open(fresh.clone(), "main").unwrap();
    for (i, v) in values.iter().enumerate() {
        let e = r.index().ns.get(&format!("f{i}")).unwrap().unwrap();
        let mut out = Vec::new();
        fresh.copy_range(&e.blob, 0, u64::MAX, &mut out).unwrap();
        assert_eq!(&out, v);
    }
}

#[test]
fn a_reader_commit_on_writer_commits_stores_the_folded_state() {
    let (mem, reader) = setup();
    let writer = Arc::new(Repository::open_write_only(mem.clone(), b"writer", StoreOptions::default()).unwrap());
    let mut w = Infinitree::<VersionedMap<String, u64>>::open(writer, "main").unwrap();
    for i in 0..5u64 {
        w.index().insert(format!("k{i}"), i);
        w.commit("w").unwrap();
    }
    let mut r = Infinitree::<VersionedMap<String, u64>>::open(reader.clone(), "main").unwrap();
    r.index().insert("r".into(), 99);
    let c = r.commit("reader folds").unwrap();
    assert!(!c.is_delta());
    // gc with no grace deletes nothing the folded commit needs.
    let opts = GcOptions { grace_secs: 0, min_age_secs: 0, ..GcOptions::default() };
    for _ in 0..3 {
        reader.gc(&infini::fields::VersionedMap::<String, u64>::default(), &opts).unwrap();
    }
    let fresh = Arc::new(Repository::open(mem, b"reader", StoreOptions::default()).unwrap());
    let r2 = Infinitree::<VersionedMap<String, u64>>::open(fresh, "main").unwrap();
    assert_eq!(r2.index().len().unwrap(), 6);
    assert_eq!(r2.index().get(&"k3".to_string()).unwrap(), Some(3));
    let report = reader.check(&VersionedMap::<String, u64>::default(), true).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

#[test]
fn a_readers_change_racing_a_writers_conflicts_and_the_later_writer_wins() {
    let (mem, reader) = setup();
    let mut r = Infinitree::<VersionedMap<String, u64>>::open(reader.clone(), "main").unwrap();
    r.index().insert("k".into(), 1);
    r.index().insert("other".into(), 1);
    r.commit("base").unwrap();
    let writer = Arc::new(Repository::open_write_only(mem.clone(), b"writer", StoreOptions::default()).unwrap());
    let mut w = Infinitree::<VersionedMap<String, u64>>::open(writer, "main").unwrap();

    // The reader stages on the base; the writer commits first: the same key is a conflict for the reader (who sees
    // both), a disjoint one merges.
    r.index().insert("k".into(), 2);
    w.index().insert("k".into(), 3);
    w.commit("writer sets k").unwrap();
    match r.commit("reader sets k") {
        Err(Error::MergeConflict { keys, .. }) => assert_eq!(keys, vec!["k".to_string()]),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let mut r2 = Infinitree::<VersionedMap<String, u64>>::open(reader.clone(), "main").unwrap();
    assert_eq!(r2.index().get(&"k".to_string()).unwrap(), Some(3));
    r2.index().insert("other".into(), 5);
    r2.commit("reader, disjoint").unwrap();

    // A writer never conflicts: its change lands on whatever head it finds, and the later commit wins.
    w.index().insert("other".into(), 9);
    w.commit("writer overwrites other").unwrap();
    let r3 = Infinitree::<VersionedMap<String, u64>>::open(reader, "main").unwrap();
    assert_eq!(r3.index().get(&"other".to_string()).unwrap(), Some(9));
    assert_eq!(r3.index().get(&"k".to_string()).unwrap(), Some(3));
}

#[test]
fn forgetting_history_keeps_the_commits_a_kept_writer_commit_builds_on() {
    let (mem, reader) = setup();
    let mut r = Infinitree::<VersionedMap<String, Vec<u8>>>::open(reader.clone(), "main").unwrap();
    r.index().insert("base".into(), noise(5, 400_000));
    r.commit("base").unwrap();
    let writer = Arc::new(Repository::open_write_only(mem.clone(), b"writer", StoreOptions::default()).unwrap());
    let mut w = Infinitree::<VersionedMap<String, Vec<u8>>>::open(writer, "main").unwrap();
    for i in 0..3u64 {
        w.index().insert(format!("w{i}"), noise(10 + i, 300_000));
        w.commit(&format!("writer {i}")).unwrap();
    }
    // Keep only the head: a writer commit, whose state is its parents' with its changes applied.
    let opts = infini::ForgetOptions {
        policy: Some(infini::retention::RetentionPolicy { last: Some(1), ..Default::default() }),
        ..Default::default()
    };
    reader.forget(&infini::ForgetScope::Branch("main".into()), &opts).unwrap();
    let gc = GcOptions { grace_secs: 0, min_age_secs: 0, ..GcOptions::default() };
    for _ in 0..3 {
        reader.gc(&VersionedMap::<String, Vec<u8>>::default(), &gc).unwrap();
    }
    let fresh = Arc::new(Repository::open(mem, b"reader", StoreOptions::default()).unwrap());
    let head = Infinitree::<VersionedMap<String, Vec<u8>>>::open(fresh, "main").unwrap();
    assert_eq!(head.index().get(&"base".to_string()).unwrap(), Some(noise(5, 400_000)));
    for i in 0..3u64 {
        assert_eq!(head.index().get(&format!("w{i}")).unwrap(), Some(noise(10 + i, 300_000)));
    }
    let report = reader.check(&VersionedMap::<String, Vec<u8>>::default(), true).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}
