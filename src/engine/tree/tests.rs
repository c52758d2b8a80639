use super::node::{load, Access, Body, Node, TEST_SIZES};
use super::*;
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::Error;
use proptest::prelude::*;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// An in-memory node store that deduplicates identical nodes and counts what it does.
#[derive(Default)]
struct MemStore {
    nodes: Mutex<HashMap<ChunkPointer, Arc<Vec<u8>>>>,
    puts: AtomicU64,
    put_bytes: AtomicU64,
    gets: AtomicU64,
}

impl MemStore {
    fn counts(&self) -> (u64, u64, u64) {
        (self.puts.load(Ordering::Relaxed), self.put_bytes.load(Ordering::Relaxed), self.gets.load(Ordering::Relaxed))
    }
    fn reset(&self) {
        self.puts.store(0, Ordering::Relaxed);
        self.put_bytes.store(0, Ordering::Relaxed);
        self.gets.store(0, Ordering::Relaxed);
    }
    fn replace(&self, ptr: &ChunkPointer, bytes: Vec<u8>) {
        self.nodes.lock().unwrap().insert(*ptr, Arc::new(bytes));
    }
}

impl NodeStore for MemStore {
    fn put_node(&self, bytes: &[u8]) -> Result<ChunkPointer> {
        self.puts.fetch_add(1, Ordering::Relaxed);
        self.put_bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let id = ChunkId(Sha256::digest(bytes).into());
        let ptr = ChunkPointer { object: ObjectId([7; 32]), offset: 0, len: bytes.len() as u32, id };
        self.nodes.lock().unwrap().entry(ptr).or_insert_with(|| Arc::new(bytes.to_vec()));
        Ok(ptr)
    }
    fn get_node(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.gets.fetch_add(1, Ordering::Relaxed);
        self.nodes.lock().unwrap().get(ptr).cloned().ok_or_else(|| Error::not_found("node"))
    }
}

/// Run `f` with small nodes (so a few hundred entries make a deep tree).
fn small_nodes<T>(f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            TEST_SIZES.with(|c| c.set(None));
        }
    }
    TEST_SIZES.with(|c| c.set(Some((128, 512))));
    let _reset = Reset;
    f()
}

type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn key(i: u64) -> Vec<u8> {
    format!("key/{:08}", i.wrapping_mul(0x9e37_79b9) % 100_000_000).into_bytes()
}

fn value(i: u64, n: usize) -> Vec<u8> {
    let mut v = format!("value-{i}-").into_bytes();
    v.resize(n, b'x');
    v
}

fn build(store: &dyn NodeStore, model: &Model) -> Option<ChunkPointer> {
    apply(store, None, model.iter().map(|(k, v)| (k.clone(), Some(v.clone()))).collect()).unwrap()
}

fn collect(r: Range) -> Vec<(Vec<u8>, Vec<u8>)> {
    r.map(|e| e.unwrap()).collect()
}

fn model_diff(a: &Model, b: &Model) -> Vec<DiffEntry> {
    let mut keys: Vec<&Vec<u8>> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| DiffEntry { key: k.clone(), old: a.get(k).cloned(), new: b.get(k).cloned() })
        .collect()
}

/// Walk the whole tree checking levels, order, ranges and counts; returns (depth, nodes per level).
fn check_tree(store: &dyn NodeStore, root: Option<&ChunkPointer>) -> Vec<usize> {
    let mut per_level = Vec::new();
    fn walk(store: &dyn NodeStore, node: &Node, upper: Option<&[u8]>, per_level: &mut Vec<usize>) {
        per_level[node.level as usize] += 1;
        if let Body::Internal(_) = node.body {
            assert!(node.len() >= 1);
            for i in 0..node.len() {
                let child = super::node::load_child(store, node, i, upper, Access::Point).unwrap();
                walk(store, &child, super::node::child_upper(node, i, upper), per_level);
            }
        }
    }
    if let Some(r) = root {
        let n = load(store, r, Access::Point).unwrap();
        per_level.resize(n.level as usize + 1, 0);
        if n.level > 0 {
            assert!(n.len() >= 2, "a root has at least two children");
        }
        walk(store, &n, None, &mut per_level);
    }
    per_level
}

fn batch_strategy() -> impl Strategy<Value = Vec<(Vec<u8>, Option<Vec<u8>>)>> {
    let k = proptest::collection::vec(0u8..4, 0..7);
    let v = proptest::option::weighted(0.75, proptest::collection::vec(any::<u8>(), 0..48));
    proptest::collection::vec((k, v), 0..160).prop_map(|raw| {
        let m: BTreeMap<Vec<u8>, Option<Vec<u8>>> = raw.into_iter().collect();
        m.into_iter().collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn matches_model(batches in proptest::collection::vec(batch_strategy(), 1..6),
                     bounds in proptest::collection::vec(
                         (proptest::option::of(proptest::collection::vec(0u8..4, 0..4)),
                          proptest::option::of(proptest::collection::vec(0u8..4, 0..4))), 4),
                     prefixes in proptest::collection::vec(proptest::collection::vec(0u8..4, 0..3), 3)) {
        small_nodes(|| {
            let store = MemStore::default();
            let mut model = Model::new();
            let mut versions = vec![(None, model.clone())];
            let mut root = None;
            for batch in batches {
                for (k, v) in &batch {
                    match v {
                        Some(v) => { model.insert(k.clone(), v.clone()); }
                        None => { model.remove(k); }
                    }
                }
                root = apply(&store, root, batch).unwrap();
                check_tree(&store, root.as_ref());
                prop_assert_eq!(verify(&store, root.as_ref()).unwrap(), model.len() as u64);
                prop_assert_eq!(len(&store, root.as_ref()).unwrap(), model.len() as u64);
                prop_assert_eq!(root.is_none(), model.is_empty());
                // History independence: the same entries built in one go give the same root.
                prop_assert_eq!(build(&store, &model), root);
                for (k, v) in &model {
                    prop_assert_eq!(get(&store, root.as_ref(), k).unwrap(), Some(v.clone()));
                }
                prop_assert_eq!(get(&store, root.as_ref(), b"\x09absent").unwrap(), None);
                let all: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                prop_assert_eq!(collect(range(&store, root, None, None)), all);
                for (s, e) in &bounds {
                    let expect: Vec<_> = model
                        .iter()
                        .filter(|(k, _)| s.as_ref().is_none_or(|s| *k >= s) && e.as_ref().is_none_or(|e| *k < e))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    prop_assert_eq!(collect(range(&store, root, s.clone(), e.clone())), expect);
                }
                for p in &prefixes {
                    let expect: Vec<_> =
                        model.iter().filter(|(k, _)| k.starts_with(p)).map(|(k, v)| (k.clone(), v.clone())).collect();
                    prop_assert_eq!(collect(prefix(&store, root, p)), expect);
                }
                versions.push((root, model.clone()));
            }
            for (ra, ma) in &versions {
                for (rb, mb) in &versions {
                    let got: Vec<DiffEntry> = diff(&store, *ra, *rb).map(|e| e.unwrap()).collect();
                    prop_assert_eq!(got, model_diff(ma, mb));
                }
            }
            Ok(())
        })?;
    }
}

#[test]
fn empty_tree() {
    let store = MemStore::default();
    assert_eq!(get(&store, None, b"a").unwrap(), None);
    assert_eq!(len(&store, None).unwrap(), 0);
    assert_eq!(range(&store, None, None, None).count(), 0);
    assert_eq!(diff(&store, None, None).count(), 0);
    assert_eq!(apply(&store, None, vec![]).unwrap(), None);
    assert_eq!(apply(&store, None, vec![(b"a".to_vec(), None)]).unwrap(), None);
    let r = apply(&store, None, vec![(b"a".to_vec(), Some(b"1".to_vec()))]).unwrap();
    assert!(r.is_some());
    assert_eq!(apply(&store, r, vec![(b"a".to_vec(), None)]).unwrap(), None);
    let unsorted = vec![(b"b".to_vec(), None), (b"a".to_vec(), None)];
    assert!(matches!(apply(&store, r, unsorted), Err(Error::Invalid(_))));
    let dup = vec![(b"a".to_vec(), None), (b"a".to_vec(), None)];
    assert!(matches!(apply(&store, r, dup), Err(Error::Invalid(_))));
}

#[test]
fn prefix_edges() {
    assert_eq!(read::prefix_end(b""), None);
    assert_eq!(read::prefix_end(b"\xff\xff"), None);
    assert_eq!(read::prefix_end(b"a\xff"), Some(b"b".to_vec()));
    assert_eq!(read::prefix_end(b"ab"), Some(b"ac".to_vec()));
    let store = MemStore::default();
    let model: Model =
        [&b"\xff"[..], b"\xff\x00", b"\xff\xff", b"\xfe", b""].iter().map(|k| (k.to_vec(), b"v".to_vec())).collect();
    let root = build(&store, &model);
    assert_eq!(collect(prefix(&store, root, b"\xff")).len(), 3);
    assert_eq!(collect(prefix(&store, root, b"\xff\xff")).len(), 1);
    assert_eq!(collect(prefix(&store, root, b"")).len(), 5);
}

/// The same final map through different batch orders (with detours) gives the same root, at real node sizes.
#[test]
fn history_independence() {
    let store = MemStore::default();
    let n = 20_000u64;
    let model: Model = (0..n).map(|i| (key(i), value(i, 40 + (i % 50) as usize))).collect();
    let direct = build(&store, &model);
    assert!(depth(&store, direct.as_ref()).unwrap() >= 2);

    // Ascending batches of varying size, with some keys first written with other values and extra keys.
    let mut root = None;
    let entries: Vec<_> = model.iter().collect();
    for (bi, chunk) in entries.chunks(1_777).enumerate() {
        let mut batch: BTreeMap<Vec<u8>, Option<Vec<u8>>> = chunk
            .iter()
            .map(|(k, v)| ((*k).clone(), Some(if bi % 2 == 0 { b"tmp".to_vec() } else { (*v).clone() })))
            .collect();
        batch.insert(format!("extra/{bi}").into_bytes(), Some(vec![1; 3000]));
        root = apply(&store, root, batch.into_iter().collect()).unwrap();
    }
    // Fix the temporary values and remove the extras, in reverse-ordered batches.
    let fixes: Vec<_> = entries.iter().map(|(k, v)| ((*k).clone(), Some((*v).clone()))).collect();
    for chunk in fixes.chunks(3_001).rev() {
        root = apply(&store, root, chunk.to_vec()).unwrap();
    }
    let extras: Vec<_> =
        (0..entries.len().div_ceil(1_777)).map(|bi| (format!("extra/{bi}").into_bytes(), None)).collect();
    let mut extras: BTreeMap<_, _> = extras.into_iter().collect();
    extras.insert(b"never-there".to_vec(), None);
    root = apply(&store, root, extras.into_iter().collect()).unwrap();
    assert_eq!(root, direct);

    // Strided order: every 7th key per batch.
    let mut root2 = None;
    for s in 0..7 {
        let batch: Vec<_> =
            entries.iter().skip(s).step_by(7).map(|(k, v)| ((*k).clone(), Some((*v).clone()))).collect();
        root2 = apply(&store, root2, batch).unwrap();
    }
    assert_eq!(root2, direct);
    assert_eq!(len(&store, root2.as_ref()).unwrap(), n);
}

fn ten_thousand(store: &MemStore) -> (Model, Option<ChunkPointer>) {
    let model: Model = (0..10_000u64).map(|i| (key(i), value(i, 40))).collect();
    let root = build(store, &model);
    (model, root)
}

/// Changing one key rewrites one path; sizes of what is written stay small.
#[test]
fn incremental_cost() {
    let store = MemStore::default();
    let (model, root) = ten_thousand(&store);
    let d = depth(&store, root.as_ref()).unwrap() as u64;
    let levels = check_tree(&store, root.as_ref());
    assert!(d >= 2, "10k keys need more than one leaf: {levels:?}");
    let keys: Vec<&Vec<u8>> = model.keys().collect();
    let mut worst = (0, 0);
    for (n, i) in (0..keys.len()).step_by(97).enumerate() {
        let k = keys[i].clone();
        // An update of one value (same size, different bytes).
        store.reset();
        let r = apply(&store, root, vec![(k.clone(), Some(value(n as u64 + 1_000_000, 40)))]).unwrap();
        let (puts, bytes, _) = store.counts();
        assert!(puts <= d + 1, "update wrote {puts} nodes at depth {d}");
        assert!(bytes <= 64 << 10, "update wrote {bytes} bytes");
        worst = (worst.0.max(puts), worst.1.max(bytes));
        assert_ne!(r, root);
        // A delete and an insert of a new key.
        store.reset();
        apply(&store, root, vec![(k.clone(), None)]).unwrap();
        let mut k2 = k.clone();
        k2.push(b'!');
        apply(&store, root, vec![(k2, Some(value(1, 40)))]).unwrap();
        let (puts, bytes, _) = store.counts();
        assert!(puts <= 2 * (2 * d + 2), "delete + insert wrote {puts} nodes at depth {d}");
        assert!(bytes <= 2 * (128 << 10), "delete + insert wrote {bytes} bytes");
    }
    // Setting a key to its current value or deleting a missing key writes nothing.
    store.reset();
    let same = apply(&store, root, vec![(keys[5].clone(), Some(model[keys[5]].clone())), (b"zz".to_vec(), None)]);
    assert_eq!(same.unwrap(), root);
    assert_eq!(store.counts().0, 0);
    eprintln!("depth {d}, nodes per level {levels:?}, worst update: {} nodes, {} bytes", worst.0, worst.1);
}

/// Diffing two trees that differ in one key loads O(depth) nodes.
#[test]
fn diff_skips_shared_subtrees() {
    let store = MemStore::default();
    let (model, root) = ten_thousand(&store);
    let d = depth(&store, root.as_ref()).unwrap() as u64;
    let k = model.keys().nth(4321).unwrap().clone();
    let b = apply(&store, root, vec![(k.clone(), Some(b"changed".to_vec()))]).unwrap();
    store.reset();
    let got: Vec<_> = diff(&store, root, b).map(|e| e.unwrap()).collect();
    assert_eq!(got, vec![DiffEntry { key: k.clone(), old: Some(model[&k].clone()), new: Some(b"changed".to_vec()) }]);
    let gets = store.counts().2;
    assert!(gets <= 2 * d, "diff loaded {gets} nodes at depth {d}");
    // Reverse direction, and an inserted key.
    let mut k2 = k.clone();
    k2.push(0);
    let c = apply(&store, root, vec![(k2.clone(), Some(b"new".to_vec()))]).unwrap();
    store.reset();
    let got: Vec<_> = diff(&store, c, root).map(|e| e.unwrap()).collect();
    assert_eq!(got, vec![DiffEntry { key: k2, old: Some(b"new".to_vec()), new: None }]);
    let gets = store.counts().2;
    assert!(gets <= 4 * d + 2, "diff loaded {gets} nodes at depth {d}");
    store.reset();
    assert_eq!(diff(&store, root, root).count(), 0);
    assert_eq!(store.counts().2, 0);
}

/// Iterating 100,000 keys holds one path of nodes at a time.
#[test]
fn range_streams() {
    let store = MemStore::default();
    let n = 100_000u64;
    let root =
        apply(&store, None, (0..n).map(|i| (format!("k{i:08}").into_bytes(), Some(value(i, 40)))).collect()).unwrap();
    let d = depth(&store, root.as_ref()).unwrap();
    assert!(d >= 3);
    let mut r = range(&store, root, None, None);
    let mut count = 0u64;
    let mut max_held = 0;
    let mut prev: Option<Vec<u8>> = None;
    while let Some(e) = r.next() {
        let (k, _) = e.unwrap();
        assert!(prev.as_ref().is_none_or(|p| *p < k));
        prev = Some(k);
        max_held = max_held.max(r.held_nodes());
        count += 1;
    }
    assert_eq!(count, n);
    assert!(max_held <= d, "held {max_held} nodes at depth {d}");
    // A bounded range in the middle.
    let got = collect(range(&store, root, Some(b"k00050000".to_vec()), Some(b"k00050100".to_vec())));
    assert_eq!(got.len(), 100);
    assert_eq!(got[0].0, b"k00050000");
    assert_eq!(len(&store, root.as_ref()).unwrap(), n);
    let mut seen = 0;
    for_each_node(&store, root.as_ref(), &mut |_| {
        seen += 1;
        Ok(())
    })
    .unwrap();
    let levels = check_tree(&store, root.as_ref());
    assert_eq!(seen, levels.iter().sum::<usize>());
    assert_eq!(verify(&store, root.as_ref()).unwrap(), n);
}

/// Values larger than a node still work (one entry per node).
#[test]
fn large_values() {
    let store = MemStore::default();
    let model: Model = (0..40u64).map(|i| (key(i), value(i, if i % 3 == 0 { 40_000 } else { 3_000 }))).collect();
    let root = build(&store, &model);
    let got: Model = collect(range(&store, root, None, None)).into_iter().collect();
    assert_eq!(got, model);
    check_tree(&store, root.as_ref());
}

fn assert_integrity<T: std::fmt::Debug>(r: Result<T>) {
    match r {
        Err(Error::Integrity { .. }) => {}
        other => panic!("expected an integrity error, got {other:?}"),
    }
}

/// Corrupt or ill-formed nodes are integrity errors, never panics.
#[test]
fn corrupt_nodes() {
    small_nodes(|| {
        let store = MemStore::default();
        let model: Model = (0..300u64).map(|i| (key(i), value(i, 20))).collect();
        let root = build(&store, &model);
        let root_ptr = root.unwrap();
        let root_node = load(&store, &root_ptr, Access::Point).unwrap();
        assert!(root_node.level >= 2);
        let child = root_node.child(1).unwrap().ptr;
        let original = store.get_node(&child).unwrap();
        let probe = root_node.keys[1].clone();

        let check_all = |what: &str| {
            eprintln!("corruption: {what}");
            assert_integrity(get(&store, root.as_ref(), &probe));
            assert_integrity(collect_result(range(&store, root, None, None)));
            assert_integrity(collect_result(diff(&store, root, None)));
            assert_integrity(for_each_node(&store, root.as_ref(), &mut |_| Ok(())));
            assert_integrity(apply(&store, root, vec![(probe.clone(), None)]));
            assert_integrity(verify(&store, root.as_ref()));
        };

        let mut bad: Vec<Vec<u8>> =
            vec![vec![], vec![0xff; 10], original[..original.len() / 2].to_vec(), [original.as_slice(), &[0]].concat()];
        // Well-formed CBOR with impossible shapes.
        let good = Node::decode(&original).unwrap();
        let mut wrong_level = good.clone();
        wrong_level.level = 7;
        bad.push(wrong_level.encode());
        let mut unsorted = good.clone();
        unsorted.keys.swap(0, 1);
        bad.push(unsorted.encode());
        let mut empty = good.clone();
        empty.keys.clear();
        if let Body::Internal(c) = &mut empty.body {
            c.clear();
        }
        bad.push(empty.encode());
        let mut wrong_count = good.clone();
        if let Body::Internal(c) = &mut wrong_count.body {
            c[0].count += 1;
        }
        bad.push(wrong_count.encode());
        let mut as_leaf = vec![];
        ciborium::into_writer(&(0u8, vec![(serde_bytes::ByteBuf::from(good.keys[0].clone()), 5u64)]), &mut as_leaf)
            .unwrap();
        bad.push(as_leaf);
        let mut not_array = vec![];
        ciborium::into_writer(&"index", &mut not_array).unwrap();
        bad.push(not_array);
        for (i, b) in bad.into_iter().enumerate() {
            store.replace(&child, b);
            check_all(&format!("case {i}"));
        }
        store.replace(&child, original.to_vec());
        assert_eq!(collect(range(&store, root, None, None)).len(), 300);

        // A corrupt leaf is found by every reader that reaches it.
        let mut leaf = root_node.clone();
        while leaf.level > 0 {
            leaf = super::node::load_child(&store, &leaf, leaf.len() - 1, None, Access::Point).unwrap();
        }
        let leaf_ptr = {
            let mut parent = root_node.clone();
            while parent.level > 1 {
                parent = super::node::load_child(&store, &parent, parent.len() - 1, None, Access::Point).unwrap();
            }
            parent.child(parent.len() - 1).unwrap().ptr
        };
        let leaf_key = leaf.keys[0].clone();
        let leaf_bytes = store.get_node(&leaf_ptr).unwrap();
        store.replace(&leaf_ptr, leaf_bytes[1..].to_vec());
        assert_integrity(get(&store, root.as_ref(), &leaf_key));
        assert_integrity(collect_result(range(&store, root, None, None)));
        assert_integrity(collect_result(prefix(&store, root, &leaf_key)));
        assert_integrity(collect_result(diff(&store, None, root)));
        assert_integrity(verify(&store, root.as_ref()));
        assert_integrity(apply(&store, root, vec![(leaf_key.clone(), Some(b"x".to_vec()))]));
        store.replace(&leaf_ptr, leaf_bytes.to_vec());

        // A corrupt root is reported by every entry point, including len.
        store.replace(&root_ptr, vec![0x82, 0x00]);
        assert_integrity(len(&store, root.as_ref()));
        assert_integrity(depth(&store, root.as_ref()));
        check_all("root");
    });
}

fn collect_result<T>(it: impl Iterator<Item = Result<T>>) -> Result<Vec<T>> {
    it.collect()
}

/// The tree works on the real chunk store (encrypted, deduplicated index chunks).
#[test]
fn on_chunk_store() {
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::crypto::{Keys, MasterKey};
    use crate::engine::object::StoreOptions;
    let store =
        Store::new(Arc::new(MemoryBackend::new()), Arc::new(Keys::new(MasterKey::generate())), StoreOptions::default());
    let model: Model = (0..3_000u64).map(|i| (key(i), value(i, 40))).collect();
    let a = build(&store, &model);
    let b = apply(&store, a, vec![(key(17), None)]).unwrap();
    assert_eq!(build(&store, &model), a);
    assert_eq!(len(&store, b.as_ref()).unwrap(), 2_999);
    assert_eq!(get(&store, a.as_ref(), &key(17)).unwrap(), Some(value(17, 40)));
    assert_eq!(get(&store, b.as_ref(), &key(17)).unwrap(), None);
    assert_eq!(diff(&store, a, b).count(), 1);
    store.flush().unwrap();
}

/// Node sizes and depths at scale. Run with `cargo test --lib tree::tests::measure -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    for n in [10_000u64, 100_000, 1_000_000] {
        let store = MemStore::default();
        let root =
            apply(&store, None, (0..n).map(|i| (format!("k{i:010}").into_bytes(), Some(value(i, 40)))).collect())
                .unwrap();
        let (puts, bytes, _) = store.counts();
        let d = depth(&store, root.as_ref()).unwrap();
        let mut leaf_sizes = Vec::new();
        let mut internal_sizes = Vec::new();
        for_each_node(&store, root.as_ref(), &mut |p| {
            let b = store.get_node(p)?;
            if b.get(1) == Some(&0) {
                leaf_sizes.push(b.len())
            } else {
                internal_sizes.push(b.len())
            }
            Ok(())
        })
        .unwrap();
        leaf_sizes.sort();
        let avg = |v: &[usize]| v.iter().sum::<usize>() / v.len().max(1);
        eprintln!(
            "{n} keys: depth {d}, {puts} nodes, {bytes} bytes; leaves {} (min {} median {} avg {} max {}); internal {} (avg {})",
            leaf_sizes.len(),
            leaf_sizes[0],
            leaf_sizes[leaf_sizes.len() / 2],
            avg(&leaf_sizes),
            leaf_sizes[leaf_sizes.len() - 1],
            internal_sizes.len(),
            avg(&internal_sizes)
        );
        let mut worst = 0;
        let mut total = 0;
        for j in 0..200u64 {
            let i = j * (n / 200) + 7;
            store.reset();
            let k = format!("k{i:010}").into_bytes();
            apply(&store, root, vec![(k, Some(value(i + 1, 40)))]).unwrap();
            worst = worst.max(store.counts().0);
            total += store.counts().1;
        }
        let mut ins_worst = 0;
        let mut ins_total = 0;
        for j in 0..200u64 {
            let i = j * (n / 200) + 7;
            store.reset();
            let k = format!("k{i:010}+").into_bytes();
            apply(&store, root, vec![(k, Some(value(i + 1, 40)))]).unwrap();
            ins_worst = ins_worst.max(store.counts().0);
            ins_total += store.counts().0;
        }
        eprintln!(
            "  one-key update: worst {worst} nodes, avg {} bytes; one-key insert: worst {ins_worst} nodes, avg {:.2}",
            total / 200,
            ins_total as f64 / 200.0
        );
    }
}

/// A node store that keeps decoded nodes, over [`MemStore`].
/// A node store with a cache of decoded nodes; with `prefetching`, it fetches what a walk asks it to prefetch into
/// that cache, and records how many nodes each request fetched.
struct CachingStore {
    inner: MemStore,
    cache: NodeCache,
    prefetching: bool,
    asked: Mutex<Vec<usize>>,
}

impl CachingStore {
    fn new(inner: MemStore, capacity: usize, prefetching: bool) -> Self {
        Self { inner, cache: NodeCache::new(capacity), prefetching, asked: Mutex::default() }
    }
}

impl NodeStore for CachingStore {
    fn put_node(&self, bytes: &[u8]) -> Result<ChunkPointer> {
        self.inner.put_node(bytes)
    }
    fn get_node(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.inner.get_node(ptr)
    }
    fn node_cache(&self) -> Option<&NodeCache> {
        Some(&self.cache)
    }
    fn prefetch(&self, ptrs: &[ChunkPointer]) {
        if !self.prefetching {
            return;
        }
        let fresh: Vec<&ChunkPointer> = ptrs.iter().filter(|p| self.cache.get(p).is_none()).collect();
        for p in &fresh {
            self.cache.insert_encoded(p, &self.inner.get_node(p).unwrap());
        }
        self.asked.lock().unwrap().push(fresh.len());
    }
}

#[test]
fn decoded_nodes_are_reused_and_the_cache_stays_bounded() {
    small_nodes(|| {
        let model: Model = (0..2_000u32).map(|i| (format!("k{i:05}").into_bytes(), vec![i as u8; 20])).collect();
        let store = CachingStore::new(MemStore::default(), 64, false);
        let root = build(&store, &model);
        let walk = || range(&store, root, None, None).map(|r| r.unwrap()).collect::<Model>();
        store.inner.reset();
        assert_eq!(walk(), model);
        let (_, _, cold) = store.inner.counts();
        // Point reads of the same few keys again and again load each node once.
        store.inner.reset();
        for _ in 0..50 {
            for k in [b"k00007".to_vec(), b"k01500".to_vec()] {
                assert_eq!(get(&store, root.as_ref(), &k).unwrap(), model.get(&k).cloned());
            }
        }
        let (_, _, repeated) = store.inner.counts();
        assert!(
            repeated <= 2 * depth(&store, root.as_ref()).unwrap() as u64,
            "{repeated} node loads for 100 reads of 2 keys"
        );
        assert!(cold > 64, "the tree has more nodes ({cold}) than the cache holds, so the bound is exercised");
        assert!(store.cache.len() <= 64, "the cache holds {} nodes, more than its 64", store.cache.len());
        // A cache of size 0 keeps nothing.
        let none = CachingStore::new(MemStore::default(), 0, false);
        let root = build(&none, &model);
        let _ = get(&none, root.as_ref(), b"k00007").unwrap();
        assert_eq!(none.cache.len(), 0);
    });
}

/// Iterations read nodes around a [`Store`]'s hot cache: a full range, a diff against the empty tree and a walk of
/// every node add nothing to it, however many nodes the tree has, while point reads still fill it and a scan still
/// uses what it holds.
#[test]
fn scans_read_around_the_hot_cache() {
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::crypto::{Keys, MasterKey};
    use crate::engine::object::StoreOptions;
    small_nodes(|| {
        let backend = Arc::new(MemoryBackend::new());
        let keys = Arc::new(Keys::new(MasterKey::generate()));
        let model: Model = (0..10_000u64).map(|i| (key(i), value(i, 16))).collect();
        let root = {
            let writer = Store::new(backend.clone(), keys.clone(), StoreOptions::default());
            let root = build(&writer, &model);
            writer.flush().unwrap();
            root
        };
        // A new store, as a new process has: nothing cached.
        let store = Store::new(backend, keys, StoreOptions::default());
        let mut nodes = 0u64;
        for_each_node(&store, root.as_ref(), &mut |_| {
            nodes += 1;
            Ok(())
        })
        .unwrap();
        assert!(nodes > 1_000, "the tree has {nodes} nodes, too few to show a scan filling the cache");
        assert_eq!(store.hot().bytes(), 0, "walking every node filled the hot cache");
        assert_eq!(collect(range(&store, root, None, None)), model.clone().into_iter().collect::<Vec<_>>());
        assert_eq!(store.hot().bytes(), 0, "a full range filled the hot cache");
        assert_eq!(diff(&store, None, root).count(), model.len());
        assert_eq!(store.hot().bytes(), 0, "a full diff filled the hot cache");
        // Point reads still use the hot cache (the first keys' nodes have left the small decoded-node cache).
        for i in [0u64, 1, 2] {
            assert_eq!(get(&store, root.as_ref(), &key(i)).unwrap().as_ref(), model.get(&key(i)));
        }
        let kept = store.hot().bytes();
        assert!(kept > 0, "point reads did not fill the hot cache");
        // And a scan leaves what they cached where it was.
        assert_eq!(collect(range(&store, root, None, None)).len(), model.len());
        assert_eq!(store.hot().bytes(), kept, "a full range changed the hot cache");
        // A scan read is served from the hot cache when the node is there, without a fetch.
        let root_ptr = root.unwrap();
        store.get_node(&root_ptr).unwrap();
        let (hits, fetched) =
            (store.hot().hits.load(Ordering::Relaxed), store.stats.chunks_fetched.load(Ordering::Relaxed));
        store.get_node_scan(&root_ptr).unwrap();
        assert_eq!(store.hot().hits.load(Ordering::Relaxed), hits + 1);
        assert_eq!(store.stats.chunks_fetched.load(Ordering::Relaxed), fetched);
    });
}

/// A walk of the whole tree prefetches a level at a time below the node it starts from (as many as the node cache
/// keeps for sure): one request a level, not one per parent of leaves. A bounded range prefetches only the children
/// that can hold its keys.
#[test]
fn a_walk_prefetches_level_by_level_and_a_range_only_what_it_covers() {
    small_nodes(|| {
        let inner = MemStore::default();
        let n = 3_000u64;
        let root = apply(&inner, None, (0..n).map(|i| (format!("k{i:08}").into_bytes(), Some(value(i, 20)))).collect())
            .unwrap();
        let levels = check_tree(&inner, root.as_ref());
        assert!(levels.len() >= 4, "a deep tree: {levels:?}");
        let store = CachingStore::new(inner, 2 * 1024, true);
        assert_eq!(collect(range(&store, root, None, None)).len(), n as usize);
        let asked = store.asked.lock().unwrap().clone();
        let nodes: usize = levels.iter().sum();
        let below_root = nodes - 1;
        assert_eq!(asked.iter().sum::<usize>(), below_root, "every node below the root, once: {asked:?}");
        // Every level below the root asked for at once (a tree of fewer nodes than the cache keeps).
        assert!(below_root <= 1024, "{below_root} nodes");
        assert_eq!(asked.iter().filter(|&&a| a > 0).count(), levels.len() - 1, "{asked:?} for levels {levels:?}");

        // A range over a hundredth of the keys.
        let store = CachingStore::new(store.inner, 2 * 1024, true);
        let got = collect(range(&store, root, Some(b"k00001500".to_vec()), Some(b"k00001530".to_vec())));
        assert_eq!(got.len(), 30);
        let asked: usize = store.asked.lock().unwrap().iter().sum();
        assert!(asked <= 4 * levels.len(), "{asked} nodes prefetched for 30 keys of {n} ({nodes} nodes)");
    });
}
