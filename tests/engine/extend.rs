//! Extension from outside the crate: `examples/custom_field.rs`'s field and strategy, through gc and check.

#[path = "../../examples/custom_field.rs"]
#[allow(dead_code)]
mod custom_field;

use custom_field::{Blobbed, Lab, TimeSeries};
use infini::backends::{Backend, MemoryBackend};
use infini::fields::VersionedMap;
use infini::{GcOptions, Infinitree, KdfParams, Repository, StoreOptions};
use std::sync::Arc;

fn capture(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(seed).wrapping_add(i >> 11) >> 7) as u8).collect()
}

fn collect(repo: &Repository) {
    for _ in 0..2 {
        repo.gc(&Lab::default(), &GcOptions { grace_secs: 0, min_age_secs: 0, ..GcOptions::default() }).unwrap();
    }
}

#[test]
fn gc_keeps_a_custom_field_and_strategy_data_while_reachable_and_frees_it_when_not() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut main = Infinitree::<Lab>::open(repo.clone(), "main").unwrap();
    for t in 0..20_000u64 {
        main.index().temperature.append(t, t as f64 * 0.5);
    }
    let big = capture(2_654_435_761, 6 << 20);
    main.index().captures.insert("big".into(), big.clone());
    main.commit("main data").unwrap();
    let kept = mem.list("objects/").unwrap().len();

    let mut exp = main.fork("exp").unwrap();
    for t in 20_000..50_000u64 {
        exp.index().temperature.append(t, t as f64 * 0.25);
    }
    exp.index().captures.insert("other".into(), capture(40_503, 5 << 20));
    exp.commit("experiment").unwrap();
    let with_exp = mem.list("objects/").unwrap().len();
    assert!(with_exp > kept);

    // Reachable from a branch: nothing is collected, and everything reads back from a fresh handle.
    collect(&repo);
    assert_eq!(mem.list("objects/").unwrap().len(), with_exp, "gc deleted reachable custom data");
    let fresh = Arc::new(Repository::open(mem.clone(), b"pw", StoreOptions::default()).unwrap());
    let e = Infinitree::<Lab>::open(fresh.clone(), "exp").unwrap();
    assert_eq!(e.index().temperature.range(0, u64::MAX).unwrap().len(), 50_000);
    assert_eq!(e.index().captures.get(&"other".to_string()).unwrap().unwrap(), capture(40_503, 5 << 20));
    assert!(fresh.check(&Lab::default(), true).unwrap().errors.is_empty());

    // Unreachable once the branch is gone: its blocks and captures are freed, main's stay.
    repo.delete_branch("exp").unwrap();
    collect(&repo);
    assert_eq!(mem.list("objects/").unwrap().len(), kept, "the experiment's packs were not all freed");
    let fresh = Arc::new(Repository::open(mem.clone(), b"pw", StoreOptions::default()).unwrap());
    let m = Infinitree::<Lab>::open(fresh.clone(), "main").unwrap();
    let points = m.index().temperature.range(100, 200).unwrap();
    assert_eq!(points.len(), 100);
    assert_eq!(points[0], (100, 50.0));
    assert_eq!(m.index().captures.get(&"big".to_string()).unwrap().unwrap(), big);
    let rep = fresh.check(&Lab::default(), true).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
}

#[test]
fn a_custom_strategy_stores_values_larger_than_a_sparse_chunk() {
    let repo = Repository::create(
        Arc::new(MemoryBackend::new()),
        b"pw",
        KdfParams { log_n: 10, r: 8, p: 1 },
        StoreOptions::default(),
    )
    .unwrap();
    let mut t = Infinitree::<VersionedMap<u64, Vec<u8>, Blobbed>>::open(repo, "main").unwrap();
    let v = capture(97, 9 << 20);
    t.index().insert(1, v.clone());
    t.commit("large").unwrap();
    let t = Infinitree::<VersionedMap<u64, Vec<u8>, Blobbed>>::open(t.repository().clone(), "main").unwrap();
    assert_eq!(t.index().get(&1).unwrap().unwrap(), v);
}

#[test]
fn time_series_appends_from_two_writers_both_land() {
    let repo = Arc::new(
        Repository::create(
            Arc::new(MemoryBackend::new()),
            b"pw",
            KdfParams { log_n: 10, r: 8, p: 1 },
            StoreOptions::default(),
        )
        .unwrap(),
    );
    let mut a = Infinitree::<TimeSeries<u32>>::open(repo.clone(), "main").unwrap();
    let mut b = Infinitree::<TimeSeries<u32>>::open(repo.clone(), "main").unwrap();
    a.index().append(1, 10);
    b.index().append(2, 20);
    a.commit("a").unwrap();
    b.commit("b").unwrap();
    assert_eq!(b.index().range(0, 10).unwrap(), [(1, 10), (2, 20)]);
    assert_eq!(b.index().blocks().len(), 2);
}
