//! Sizes are stored or refused at the call, never accepted and lost: values of any size in every field kind and
//! strategy read back (large ones become blobs of their own); commit messages, field roots and keys over their
//! documented limits are refused with `Error::TooLarge` before anything is committed, and the branch stays usable.

use infini::backends::MemoryBackend;
use infini::fields::{LinkedList, List, Map, Serialized, Sparse, VersionedMap};
use infini::limits::{INDEX_VALUE_MAX, KEY_MAX, MESSAGE_MAX, ROOT_MAX};
use infini::{Error, Field, Index, Infinitree, KdfParams, Repository, Store, StoreOptions, Tracer};
use proptest::prelude::*;
use serde_bytes::ByteBuf;
use std::sync::{Arc, RwLock};

const MIB: usize = 1 << 20;

fn new_repo() -> (Arc<MemoryBackend>, Arc<Repository>) {
    let b = Arc::new(MemoryBackend::new());
    let r = Repository::create(b.clone(), b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap();
    (b, Arc::new(r))
}

/// The same repository opened again from storage: nothing is read from the writer's caches.
fn reopen(b: &Arc<MemoryBackend>) -> Arc<Repository> {
    Arc::new(Repository::open(b.clone(), b"pw", StoreOptions::default()).unwrap())
}

/// `n` bytes that do not compress to nothing (a pattern zstd cannot fold into a few bytes) but cost little to make.
fn value(n: usize, seed: u8) -> ByteBuf {
    let mut x = 0x9e37_79b9u32 ^ u32::from(seed);
    ByteBuf::from(
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect::<Vec<u8>>(),
    )
}

/// Every field kind and strategy.
#[derive(Clone, Copy, Debug)]
enum Kind {
    VersionedLocal,
    VersionedSparse,
    MapLocal,
    MapSparse,
    LinkedList,
    List,
    Serialized,
}

const KINDS: [Kind; 7] = [
    Kind::VersionedLocal,
    Kind::VersionedSparse,
    Kind::MapLocal,
    Kind::MapSparse,
    Kind::LinkedList,
    Kind::List,
    Kind::Serialized,
];

/// Store `v` in a field of `kind`, commit, and read it back from a fresh handle on the repository.
fn round_trip(kind: Kind, v: &ByteBuf) -> ByteBuf {
    let (b, repo) = new_repo();
    let k = "big".to_string();
    macro_rules! run {
        ($ty:ty, $put:expr, $get:expr) => {{
            let mut t = Infinitree::<$ty>::open(repo, "main").unwrap();
            #[allow(clippy::redundant_closure_call)]
            ($put)(t.index());
            t.commit("big value").unwrap_or_else(|e| panic!("{kind:?}, {} bytes: commit failed: {e}", v.len()));
            let t = Infinitree::<$ty>::open(reopen(&b), "main").unwrap();
            #[allow(clippy::redundant_closure_call)]
            ($get)(t.index())
        }};
    }
    match kind {
        Kind::VersionedLocal => run!(
            VersionedMap<String, ByteBuf>,
            |m: &VersionedMap<String, ByteBuf>| m.insert(k.clone(), v.clone()),
            |m: &VersionedMap<String, ByteBuf>| m.get(&k).unwrap().unwrap()
        ),
        Kind::VersionedSparse => run!(
            VersionedMap<String, ByteBuf, Sparse>,
            |m: &VersionedMap<String, ByteBuf, Sparse>| m.insert(k.clone(), v.clone()),
            |m: &VersionedMap<String, ByteBuf, Sparse>| {
                let mut all: Vec<_> = m.iter().collect::<Result<_, _>>().unwrap();
                assert_eq!(all.len(), 1);
                assert_eq!(m.get(&k).unwrap().as_ref(), Some(&all[0].1));
                all.remove(0).1
            }
        ),
        Kind::MapLocal => run!(
            Map<String, ByteBuf>,
            |m: &Map<String, ByteBuf>| {
                m.insert(k.clone(), v.clone());
            },
            |m: &Map<String, ByteBuf>| m.get(&k).unwrap()
        ),
        Kind::MapSparse => run!(
            Map<String, ByteBuf, Sparse>,
            |m: &Map<String, ByteBuf, Sparse>| {
                m.insert(k.clone(), v.clone());
            },
            |m: &Map<String, ByteBuf, Sparse>| m.get(&k).unwrap()
        ),
        Kind::LinkedList => run!(
            LinkedList<ByteBuf>,
            |l: &LinkedList<ByteBuf>| l.extend([ByteBuf::from(b"before".to_vec()), v.clone()]),
            |l: &LinkedList<ByteBuf>| {
                let items: Vec<ByteBuf> = l.iter().collect::<Result<_, _>>().unwrap();
                let rev: Vec<ByteBuf> = l.iter_rev().collect::<Result<_, _>>().unwrap();
                assert_eq!(items.len(), 2);
                assert_eq!(rev[0], items[1]);
                items[1].clone()
            }
        ),
        Kind::List => run!(List<ByteBuf>, |l: &List<ByteBuf>| l.push(v.clone()), |l: &List<ByteBuf>| l.get(0).unwrap()),
        Kind::Serialized => {
            run!(Serialized<ByteBuf>, |s: &Serialized<ByteBuf>| s.set(v.clone()), |s: &Serialized<ByteBuf>| s.get())
        }
    }
}

fn check(kind: Kind, n: usize) {
    let v = value(n, n as u8);
    let got = round_trip(kind, &v);
    assert!(got.len() == v.len() && got == v, "{kind:?}: a value of {n} bytes read back as {} other bytes", got.len());
}

#[test]
fn a_17_mib_value_in_a_versioned_map_reads_back() {
    check(Kind::VersionedLocal, 17 * MIB);
}

#[test]
fn a_17_mib_linked_list_item_reads_back() {
    check(Kind::LinkedList, 17 * MIB);
}

#[test]
fn a_sparse_value_over_4_mib_reads_back_instead_of_being_refused() {
    check(Kind::VersionedSparse, 4 * MIB + 1);
    check(Kind::MapSparse, 5 * MIB);
}

#[test]
fn a_64_mib_value_reads_back_from_every_field_kind() {
    for kind in KINDS {
        check(kind, 64 * MIB + 1);
    }
}

/// The sizes where the way a value is stored changes: around the average and largest data chunk, the largest
/// sparse value stored as a chunk, the largest value kept in an index chunk, and the largest chunk.
const BOUNDARIES: [usize; 6] = [0, MIB, 4 * MIB, INDEX_VALUE_MAX, 16 * MIB - 1024, 16 * MIB];

proptest! {
    #![proptest_config(ProptestConfig { cases: 20, failure_persistence: None, ..ProptestConfig::default() })]
    #[test]
    fn values_across_every_size_boundary_read_back_from_every_field_kind(
        kind in 0..KINDS.len(),
        at in 0..BOUNDARIES.len(),
        delta in -16i64..=16,
    ) {
        let n = (BOUNDARIES[at] as i64 + delta).max(0) as usize;
        check(KINDS[kind], n);
    }
}

#[test]
fn every_kind_stores_every_boundary_once() {
    // The proptest samples; this visits each (kind, boundary) pair just above the boundary, where a stored form
    // changes, so none is left to chance.
    for kind in KINDS {
        for at in [4 * MIB + 1, INDEX_VALUE_MAX + 1, 16 * MIB + 1] {
            check(kind, at);
        }
    }
}

#[test]
fn a_commit_message_of_16_mib_is_refused_and_the_branch_stays_usable() {
    let (b, repo) = new_repo();
    let mut t = Infinitree::<VersionedMap<String, u64>>::open(repo, "main").unwrap();
    t.index().insert("k".into(), 1);
    t.commit("first").unwrap();
    t.index().insert("k".into(), 2);
    match t.commit(&"m".repeat(16_777_216)) {
        Err(Error::TooLarge { size, limit, .. }) => {
            assert_eq!(size, 16_777_216);
            assert_eq!(limit, MESSAGE_MAX as u64);
        }
        other => panic!("a 16 MiB message must be refused, got {:?}", other.map(|c| c.id())),
    }
    // The largest message is fine, the change is still staged, and the branch opens, lists and commits.
    t.commit(&"m".repeat(MESSAGE_MAX)).unwrap();
    let t = Infinitree::<VersionedMap<String, u64>>::open(reopen(&b), "main").unwrap();
    assert_eq!(t.index().get(&"k".to_string()).unwrap(), Some(2));
    assert_eq!(t.commits().count(), 2);
}

/// A field whose root is whatever bytes it was given.
#[derive(Default)]
struct RawRoot(RwLock<Vec<u8>>);

impl Field for RawRoot {
    fn load(&self, _: &Arc<Store>, root: Option<&[u8]>) -> infini::Result<()> {
        *self.0.write().unwrap() = root.map(<[u8]>::to_vec).unwrap_or_default();
        Ok(())
    }
    fn commit(&self, _: &Arc<Store>, _: Option<&[u8]>) -> infini::Result<Vec<u8>> {
        Ok(self.0.read().unwrap().clone())
    }
    fn is_dirty(&self) -> bool {
        true
    }
    fn trace(&self, _: &[u8], _: Option<&[u8]>, _: &mut Tracer<'_>) -> infini::Result<()> {
        Ok(())
    }
}

impl Index for RawRoot {
    fn fields(&self) -> Vec<(&'static str, &dyn Field)> {
        vec![("raw", self)]
    }
}

#[test]
fn a_custom_field_root_over_the_limit_is_refused_at_commit_and_one_at_the_limit_reads_back() {
    let (b, repo) = new_repo();
    let mut t = Infinitree::<RawRoot>::open(repo, "main").unwrap();
    *t.index().0.write().unwrap() = vec![7; ROOT_MAX];
    t.commit("at the limit").unwrap();
    *t.index().0.write().unwrap() = vec![8; 17 * MIB];
    match t.commit("over") {
        Err(Error::TooLarge { what, limit, .. }) => {
            assert!(what.contains("raw"), "names the field: {what}");
            assert_eq!(limit, ROOT_MAX as u64);
        }
        other => panic!("a 17 MiB root must be refused, got {:?}", other.map(|c| c.id())),
    }
    let t = Infinitree::<RawRoot>::open(reopen(&b), "main").unwrap();
    assert_eq!(*t.index().0.read().unwrap(), vec![7; ROOT_MAX]);
    assert_eq!(t.commits().count(), 1);
}

#[test]
fn a_key_over_the_limit_is_refused_at_commit() {
    let (_, repo) = new_repo();
    let mut t = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main").unwrap();
    t.index().insert("k".repeat(KEY_MAX + 1), 1);
    assert!(matches!(t.commit("long key"), Err(Error::TooLarge { .. })));
    t.index().reset();
    t.index().insert("k".repeat(KEY_MAX), 1);
    t.commit("longest key").unwrap();
    let mut m = Infinitree::<Map<String, u64>>::open(repo, "other").unwrap();
    m.index().insert("k".repeat(KEY_MAX + 1), 1);
    assert!(matches!(m.commit("long key"), Err(Error::TooLarge { .. })));
}
