//! Garbage collection: unreachable packs are condemned, then deleted after the grace period; everything
//! reachable survives; condemned packs are not deduplicated against.

use infini::backends::{Backend, MemoryBackend};
use infini::fields::{LinkedList, Serialized, Sparse, Trace, Tracer, VersionedMap};
use infini::limits::INDEX_VALUE_MAX;
use infini::namespace::{store_value, NamespaceIndex};
use infini::Blob;
use infini::Infinitree;
use infini::KdfParams;
use infini::{GcOptions, Repository};
use infini::{Store, StoreOptions};
use std::io::Write;
use std::sync::Arc;

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 9) as u8)).collect()
}

/// Bytes that do not compress.
/// Bytes that do not compress, the same for the same seed.
pub(crate) fn noise(seed: u64, len: usize) -> Vec<u8> {
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
    let a_chunks = a.blob.clone();
    exp.index().ns.insert("a".into(), a.clone());
    exp.index().ns.insert("b".into(), b);
    exp.commit("a and b").unwrap();
    let mut keep = main.fork("keep").unwrap();
    keep.index().ns.insert("a".into(), a);
    let kept = keep.commit("a").unwrap();
    repo.delete_branch("exp").unwrap();

    let first = gc(0);
    assert_eq!(first.repack.len(), 1, "{first:?}");
    // The chunk boundaries depend on the repository's own key: count the small value's chunks rather than assume one.
    let live_chunks = match &a_chunks {
        Blob::Chunks(c) => c.len() as u64,
        other => panic!("a 300 kB value is stored in chunks: {other:?}"),
    };
    assert_eq!(first.moved_chunks, live_chunks, "only the live chunks move: {first:?}");
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

/// A value type whose `Trace` forgets its blob: tracing must not depend on it.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Snapshot {
    label: String,
    data: Blob,
}

impl Trace for Snapshot {}

infini::index! {
    /// A library-only schema whose value type holds a blob it does not report.
    struct Snapshots {
        shots: VersionedMap<String, Snapshot>,
    }
}

/// Condemn, then delete, whatever nothing reaches (no grace period, no minimum age).
fn collect(repo: &Repository, index: &dyn infini::Index) {
    for _ in 0..2 {
        repo.gc(index, &GcOptions { grace_secs: 0, min_age_secs: 0, dry_run: false, ..GcOptions::default() }).unwrap();
    }
}

#[test]
fn gc_keeps_a_blob_whose_value_type_does_not_trace_it() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut tree = Infinitree::<Snapshots>::open(repo.clone(), "main").unwrap();
    let data = bytes(13, 1_500_000);
    tree.index().shots.insert("s".into(), Snapshot { label: "one".into(), data: blob(&repo, &data) });
    tree.commit("snapshot").unwrap();
    let rep = repo.check(&Snapshots::default(), true).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);

    collect(&repo, &Snapshots::default());

    let fresh = Repository::open(mem.clone(), b"pw", StoreOptions::default()).unwrap();
    let t = Infinitree::<Snapshots>::open(Arc::new(fresh), "main").unwrap();
    let s = t.index().shots.get(&"s".to_string()).unwrap().unwrap();
    assert_eq!(read(t.repository(), &s.data), data, "gc deleted a blob a value holds");
    let rep = t.repository().check(&Snapshots::default(), true).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
}

/// How a value holding a blob was encoded before blobs were tagged: the blob as a plain enum.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
enum UntaggedBlob {
    Inline(serde_bytes::ByteBuf),
    Chunks(Vec<infini::ChunkRef>),
    Lists(Vec<infini::ListRef>),
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct OldSnapshot {
    label: String,
    data: UntaggedBlob,
}

impl Trace for OldSnapshot {}

infini::index! {
    /// The same schema, as an older program wrote it.
    struct OldSnapshots {
        shots: VersionedMap<String, OldSnapshot>,
    }
}

#[test]
fn values_written_before_blobs_were_tagged_still_read_and_keep_their_blobs() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut old = Infinitree::<OldSnapshots>::open(repo.clone(), "main").unwrap();
    let (a, b) = (bytes(17, 1_200_000), bytes(19, 900_000));
    let untagged = |blob: Blob| match blob {
        Blob::Inline(v) => UntaggedBlob::Inline(v.into()),
        Blob::Chunks(c) => UntaggedBlob::Chunks(c),
        Blob::Lists(l) => UntaggedBlob::Lists(l),
    };
    old.index().shots.insert("a".into(), OldSnapshot { label: "a".into(), data: untagged(blob(&repo, &a)) });
    old.commit("old a").unwrap();
    // A newer program adds a tagged one beside it.
    let mut new = Infinitree::<Snapshots>::open(repo.clone(), "main").unwrap();
    new.index().shots.insert("b".into(), Snapshot { label: "b".into(), data: blob(&repo, &b) });
    new.commit("new b").unwrap();

    collect(&repo, &Snapshots::default());

    let t = Infinitree::<Snapshots>::open(repo.clone(), "main").unwrap();
    let sa = t.index().shots.get(&"a".to_string()).unwrap().unwrap();
    let sb = t.index().shots.get(&"b".to_string()).unwrap().unwrap();
    assert_eq!(read(&repo, &sa.data), a, "an untagged blob decodes and survives gc");
    assert_eq!(read(&repo, &sb.data), b);
    let rep = repo.check(&Snapshots::default(), true).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
}

#[test]
fn check_finds_a_blob_whose_pack_is_gone_whatever_the_value_type_traces() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut tree = Infinitree::<Snapshots>::open(repo.clone(), "main").unwrap();
    repo.flush().unwrap();
    let names = || mem.list("objects/").unwrap().into_iter().map(|o| o.name).collect::<Vec<_>>();
    let before = names();
    let data = blob(&repo, &bytes(23, 1_000_000));
    repo.flush().unwrap();
    let blob_packs: Vec<String> = names().into_iter().filter(|n| !before.contains(n)).collect();
    assert!(!blob_packs.is_empty());
    tree.index().shots.insert("s".into(), Snapshot { label: "one".into(), data });
    tree.commit("snapshot").unwrap();
    assert!(repo.check(&Snapshots::default(), true).unwrap().errors.is_empty());

    for p in &blob_packs {
        mem.delete(p).unwrap();
    }
    let rep = repo.check(&Snapshots::default(), true).unwrap();
    assert!(!rep.errors.is_empty(), "check missed a blob whose pack is gone");
    assert!(rep.damaged.iter().any(|d| blob_packs.contains(&d.object) && d.keys == ["s"]), "{:?}", rep.damaged);
}

/// A value too large for a map leaf or a list segment (stored as a blob of its own, a reference in its place) that
/// itself holds a blob.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Bundle {
    payload: serde_bytes::ByteBuf,
    inner: Blob,
}

infini::index! {
    /// Large values holding blobs, in each kind of field that stores values by reference when they are large.
    struct Bundles {
        local: VersionedMap<String, Bundle>,
        sparse: VersionedMap<String, Bundle, Sparse>,
        items: LinkedList<Bundle>,
        other: Serialized<u64>,
    }
}

#[test]
fn gc_keeps_the_blobs_inside_a_value_stored_as_a_blob() {
    let mem = Arc::new(MemoryBackend::new());
    let repo = Arc::new(
        Repository::create(mem.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap(),
    );
    let mut tree = Infinitree::<Bundles>::open(repo.clone(), "main").unwrap();
    let big = |seed: u8, len: usize| Bundle {
        payload: serde_bytes::ByteBuf::from(bytes(seed, len)),
        inner: blob(&repo, &bytes(seed.wrapping_add(100), 3_000_000)),
    };
    // Over the leaf and segment limit, and over the sparse strategy's chunk limit.
    let (local, sparse, item) =
        (big(17, INDEX_VALUE_MAX + 1000), big(19, Store::CHUNK_MAX + 1000), big(23, INDEX_VALUE_MAX + 1000));
    tree.index().local.insert("l".into(), local.clone());
    tree.index().sparse.insert("s".into(), sparse.clone());
    tree.index().items.push(item.clone());
    tree.commit("large values").unwrap();
    tree.index().other.set(1);
    tree.commit("another").unwrap();

    // No grace period, no minimum age, and every pack with any garbage repacked: the inner blobs share packs with
    // the large values, so only a repack would drop their chunks.
    for _ in 0..2 {
        let opts = GcOptions { grace_secs: 0, min_age_secs: 0, repack_threshold: 1, ..GcOptions::default() };
        repo.gc(&Bundles::default(), &opts).unwrap();
    }

    let fresh = Repository::open(mem.clone(), b"pw", StoreOptions::default()).unwrap();
    let t = Infinitree::<Bundles>::open(Arc::new(fresh), "main").unwrap();
    let repo = t.repository();
    let same = |got: Bundle, want: &Bundle, what: &str| {
        assert!(got.payload == want.payload, "{what}: the large value reads back");
        assert_eq!(read(repo, &got.inner), read(repo, &want.inner), "{what}: the blob inside it survives gc");
    };
    same(t.index().local.get(&"l".to_string()).unwrap().unwrap(), &local, "local");
    same(t.index().sparse.get(&"s".to_string()).unwrap().unwrap(), &sparse, "sparse");
    let items: Vec<Bundle> = t.index().items.iter().collect::<infini::Result<_>>().unwrap();
    assert_eq!(items.len(), 1);
    same(items.into_iter().next().unwrap(), &item, "linked list");
    let rep = repo.check(&Bundles::default(), true).unwrap();
    assert!(rep.errors.is_empty(), "{:?}", rep.errors);
}
