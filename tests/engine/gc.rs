//! Garbage collection: unreachable packs are condemned, then deleted after the grace period; everything
//! reachable survives; condemned packs are not deduplicated against.

use infini::backends::{Backend, MemoryBackend};
use infini::fields::{Serialized, Trace, Tracer, VersionedMap};
use infini::namespace::{store_value, NamespaceIndex};
use infini::Blob;
use infini::Infinitree;
use infini::KdfParams;
use infini::StoreOptions;
use infini::{GcOptions, Repository};
use std::io::Write;
use std::sync::Arc;

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 9) as u8)).collect()
}

/// Bytes that do not compress.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn unreachable_packs_are_condemned_then_deleted() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut main = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    let keep = bytes(3, 2_000_000);
    let e = store_value(&repo, &mut keep.as_slice(), &mut |_| {}).unwrap();
    main.index().ns.insert("keep".into(), e);
    main.commit("keep").unwrap();
    let mut exp = main.fork("exp").unwrap();
    let drop_me = bytes(7, 3_000_000);
    let e = store_value(&repo, &mut drop_me.as_slice(), &mut |_| {}).unwrap();
    exp.index().ns.insert("drop".into(), e);
    exp.commit("drop").unwrap();
    let before = mem.list("objects/").unwrap().len();

    // Everything is reachable: nothing to do.
    let plan = repo
        .gc(&NamespaceIndex::default(), &GcOptions { grace_secs: 0, dry_run: false, ..GcOptions::default() })
        .unwrap();
    assert!(plan.condemn.is_empty() && plan.delete.is_empty(), "{plan:?}");

    repo.delete_branch("exp").unwrap();
    let dry = repo
        .gc(&NamespaceIndex::default(), &GcOptions { grace_secs: 0, dry_run: true, ..GcOptions::default() })
        .unwrap();
    assert!(!dry.condemn.is_empty());
    assert_eq!(mem.list("objects/").unwrap().len(), before, "a dry run changed nothing");
    let first = repo
        .gc(&NamespaceIndex::default(), &GcOptions { grace_secs: 0, dry_run: false, ..GcOptions::default() })
        .unwrap();
    assert_eq!(first.condemn, dry.condemn);
    assert!(first.delete.is_empty(), "nothing is deleted before it was condemned");
    assert_eq!(mem.list("objects/").unwrap().len(), before);
    // Condemned packs are not deduplicated against.
    repo.sync_dedup_index().unwrap();
    let mut condemned = repo.condemned_packs().unwrap();
    condemned.sort();
    let mut planned = first.condemn.clone();
    planned.sort();
    assert_eq!(condemned, planned);

    // With a long grace period the condemned packs stay.
    let waiting = repo
        .gc(&NamespaceIndex::default(), &GcOptions { grace_secs: 3600, dry_run: false, ..GcOptions::default() })
        .unwrap();
    assert!(waiting.delete.is_empty());
    let second = repo
        .gc(&NamespaceIndex::default(), &GcOptions { grace_secs: 0, dry_run: false, ..GcOptions::default() })
        .unwrap();
    assert_eq!(second.delete.len(), first.condemn.len());
    assert_eq!(mem.list("objects/").unwrap().len(), before - second.delete.len());

    // What main reaches is intact.
    let fresh = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    let e = fresh.index().ns.get(&"keep".to_string()).unwrap().unwrap();
    let mut out = Vec::new();
    repo.copy_range(&e.blob, 0, u64::MAX, &mut out).unwrap();
    assert_eq!(out, keep);
    assert!(repo.check(&NamespaceIndex::default(), true).unwrap().errors.is_empty());
    assert_eq!(repo.branches().unwrap().len(), 1, "the gc ref is not a branch");
}

/// A value of an embedder's own field that holds a blob.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Photo {
    caption: String,
    pixels: Blob,
}

impl Trace for Photo {
    fn trace(&self, t: &mut Tracer<'_>) -> infini::Result<()> {
        self.pixels.trace(t)
    }
}

infini::index! {
    /// An embedder's schema: blobs inside a map's values and inside a serialized value.
    struct Album {
        photos: VersionedMap<String, Photo>,
        cover: Serialized<Option<Blob>>,
    }
}

fn blob(repo: &Repository, data: &[u8]) -> Blob {
    let mut w = repo.blob_writer();
    w.write_all(data).unwrap();
    w.finish().unwrap()
}

fn read(repo: &Repository, b: &Blob) -> Vec<u8> {
    let mut out = Vec::new();
    repo.copy_range(b, 0, u64::MAX, &mut out).unwrap();
    out
}

#[test]
fn gc_traces_blobs_in_any_field() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut main = Infinitree::<Album>::open(repo.clone(), "main").unwrap();
    let (a, b) = (bytes(3, 1_500_000), bytes(5, 1_200_000));
    main.index().photos.insert("a".into(), Photo { caption: "kept".into(), pixels: blob(&repo, &a) });
    main.index().cover.set(Some(blob(&repo, &b)));
    main.commit("album").unwrap();
    let mut exp = main.fork("exp").unwrap();
    exp.index()
        .photos
        .insert("c".into(), Photo { caption: "dropped".into(), pixels: blob(&repo, &bytes(7, 2_000_000)) });
    exp.index().cover.set(Some(blob(&repo, &bytes(11, 1_700_000))));
    exp.commit("experiment").unwrap();
    let before = mem.list("objects/").unwrap().len();

    // Everything is reachable through the embedder's fields: nothing is condemned.
    let plan =
        repo.gc(&Album::default(), &GcOptions { grace_secs: 0, dry_run: false, ..GcOptions::default() }).unwrap();
    assert!(plan.condemn.is_empty() && plan.delete.is_empty(), "{plan:?}");
    // An index that does not declare the fields cannot trace them: gc refuses rather than delete their blobs.
    assert!(repo
        .gc(&NamespaceIndex::default(), &GcOptions { grace_secs: 0, dry_run: true, ..GcOptions::default() })
        .is_err());

    repo.delete_branch("exp").unwrap();
    let first =
        repo.gc(&Album::default(), &GcOptions { grace_secs: 0, dry_run: false, ..GcOptions::default() }).unwrap();
    assert!(!first.condemn.is_empty());
    let second =
        repo.gc(&Album::default(), &GcOptions { grace_secs: 0, dry_run: false, ..GcOptions::default() }).unwrap();
    assert_eq!(second.delete.len(), first.condemn.len());
    assert!(mem.list("objects/").unwrap().len() < before, "unreachable blobs were freed");

    let fresh = Infinitree::<Album>::open(repo.clone(), "main").unwrap();
    let p = fresh.index().photos.get(&"a".to_string()).unwrap().unwrap();
    assert_eq!(read(&repo, &p.pixels), a, "a blob inside a map value survives");
    assert_eq!(read(&repo, &fresh.index().cover.get().unwrap()), b, "a blob inside a serialized value survives");
    let rep = repo.check(&Album::default(), true).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    assert!(rep.values >= 2);
}

#[test]
fn mostly_garbage_packs_are_repacked_and_read_through_forwards_until_no_commit_needs_them() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let gc = |grace_secs| {
        repo.gc(&NamespaceIndex::default(), &GcOptions { grace_secs, min_age_secs: 0, ..GcOptions::default() }).unwrap()
    };
    let mut main = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    main.index().ns.insert("base".into(), store_value(&repo, &mut &b"base"[..], &mut |_| {}).unwrap());
    main.commit("base").unwrap();
    // One pack holds a value `keep` will hold (small) and one only `exp` holds (large).
    let mut exp = main.fork("exp").unwrap();
    // Incompressible, so that the pack is larger than a pack of the small value alone: repacking frees space.
    let (small, large) = (noise(3, 300_000), noise(5, 900_000));
    let a = store_value(&repo, &mut small.as_slice(), &mut |_| {}).unwrap();
    let b = store_value(&repo, &mut large.as_slice(), &mut |_| {}).unwrap();
    exp.index().ns.insert("a".into(), a.clone());
    exp.index().ns.insert("b".into(), b);
    exp.commit("a and b").unwrap();
    let mut keep = main.fork("keep").unwrap();
    keep.index().ns.insert("a".into(), a);
    let kept = keep.commit("a").unwrap();
    repo.delete_branch("exp").unwrap();

    let first = gc(0);
    assert_eq!(first.repack.len(), 1, "{first:?}");
    assert_eq!(first.moved_chunks, 1, "only the live chunk moves: {first:?}");
    assert_eq!(mem.list("forward/").unwrap().len(), 1);
    let second = gc(0);
    assert!(second.delete.contains(&first.repack[0]), "the repacked pack is deleted: {second:?}");
    assert!(second.repack.is_empty());
    assert!(mem.list("objects/").unwrap().iter().all(|o| o.name != first.repack[0]));

    // The commit still names the deleted pack; readers (a fresh repository handle too) follow the forward.
    for r in [repo.clone(), Arc::new(Repository::open(mem.clone(), b"pw", StoreOptions::default()).unwrap())] {
        let at = Infinitree::<NamespaceIndex>::open(r.clone(), "main").unwrap().at(kept.id()).unwrap();
        let e = at.ns.get(&"a".to_string()).unwrap().unwrap();
        assert_eq!(read(&r, &e.blob), small);
        let rep = r.check(&NamespaceIndex::default(), true).unwrap();
        assert!(rep.errors.is_empty(), "{:?}", rep.errors);
    }

    // Once no branch reaches the old pointer, the forward is dropped a grace period later, and its table deleted a
    // grace period after that (never by the run that finds it unnamed).
    repo.delete_branch("keep").unwrap();
    let third = gc(0);
    assert_eq!(third.forwards_dropped, 0, "first marked unused: {third:?}");
    let fourth = gc(0);
    assert_eq!(fourth.forwards_dropped, 1, "{fourth:?}");
    assert_eq!(fourth.forward_tables_deleted, 0, "{fourth:?}");
    assert_eq!(mem.list("forward/").unwrap().len(), 1);
    let fifth = gc(0);
    assert_eq!(fifth.forward_tables_deleted, 1, "{fifth:?}");
    assert!(mem.list("forward/").unwrap().is_empty());
    assert!(repo.check(&NamespaceIndex::default(), true).unwrap().errors.is_empty());
}
