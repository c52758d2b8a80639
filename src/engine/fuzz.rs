//! Fuzzing every decoder of stored bytes, on the stable toolchain.
//!
//! Each target feeds a decoder arbitrary bytes and mutations of valid encodings: both what an attacker with write
//! access to storage can place (public header, key slots, raw packs, forwarding tables) and what only a key holder
//! could seal (the plaintext inside refs and the gc ref, pack tables and locators, forwarding tables, index nodes,
//! commits, chunk-list nodes, namespace entries and what presents them, staged files and warm-cache entries), since a decoder must stay safe even when authentication is not the line of defence. The
//! property is always the same: no panic, an error or a value, and no allocation beyond the caps the format
//! documents (a whole object is at most the largest size class, 16 MiB; a chunk's plaintext at most 16 MiB).
//!
//! `make test` runs every target with `FUZZ_CASES` cases (default 256) inside a child process whose address
//! space is limited (`ulimit -v`), so an allocation beyond the caps aborts the child and fails the run;
//! `make stress` runs many more.

use crate::engine::backend::{memory::MemoryBackend, Backend};
use crate::engine::crypto::{
    decode_header, decode_slot, encode_header, Header, KdfParams, KeySlot, Keys, Kind, MasterKey,
};
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::object::{object_name, read_table, verify_pack, ChunkPointer, PackBuilder, Store, StoreOptions};
use crate::engine::tree::{self, NodeStore};
use crate::engine::workspace::{Workspace, WorkspaceConfig};
use crate::engine::Result;
use rand::{Rng, RngCore, SeedableRng};
use std::sync::Arc;

fn cases() -> usize {
    std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256)
}

/// Inputs for one target: random bytes of random length, and mutations (flips, truncations, extensions,
/// splices of interesting integers) of the valid samples.
fn inputs(seed: u64, samples: &[Vec<u8>], n: usize, f: &mut dyn FnMut(&[u8])) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for i in 0..n {
        let mut b = if samples.is_empty() || i % 4 == 0 {
            let len = match rng.gen_range(0..4) {
                0 => rng.gen_range(0..16),
                1 => rng.gen_range(0..256),
                2 => rng.gen_range(0..4096),
                _ => rng.gen_range(0..70_000),
            };
            let mut b = vec![0u8; len];
            rng.fill_bytes(&mut b);
            b
        } else {
            samples[rng.gen_range(0..samples.len())].clone()
        };
        for _ in 0..rng.gen_range(0..8) {
            if b.is_empty() {
                break;
            }
            let at = rng.gen_range(0..b.len());
            match rng.gen_range(0..6) {
                0 => b[at] ^= 1 << rng.gen_range(0..8),
                1 => b[at] = rng.gen(),
                2 => b.truncate(at),
                3 => {
                    // Large CBOR lengths and integers: 0x1b = uint64 follows, 0x5b = bstr of u64 length, etc.
                    let v: &[u8] = match rng.gen_range(0..4) {
                        0 => &[0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                        1 => &[0x5b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                        2 => &[0x9b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00],
                        _ => &[0xff, 0xff, 0xff, 0xff],
                    };
                    let end = (at + v.len()).min(b.len());
                    b.splice(at..end, v.iter().copied());
                }
                4 => {
                    let extra = rng.gen_range(1..64);
                    b.extend((0..extra).map(|_| rng.gen::<u8>()));
                }
                _ => {
                    let len = b.len();
                    b[at..].rotate_left(rng.gen_range(0..(len - at).max(1)));
                }
            }
        }
        f(&b);
    }
}

fn keys() -> Arc<Keys> {
    Arc::new(Keys::new(MasterKey::from_bytes([7; 32])))
}

fn cbor<T: serde::Serialize>(t: &T) -> Vec<u8> {
    let mut v = Vec::new();
    ciborium::into_writer(t, &mut v).expect("CBOR into memory");
    v
}

fn ptr(i: u8) -> ChunkPointer {
    ChunkPointer { object: ObjectId([i; 32]), offset: u32::from(i) * 10, len: 100, id: ChunkId([i; 32]) }
}

/// A node store that answers one pointer with the fuzzed bytes (and every other with them too).
struct FuzzNodes(Vec<u8>);

impl NodeStore for FuzzNodes {
    fn put_node(&self, _: &[u8]) -> Result<ChunkPointer> {
        Ok(ptr(1))
    }
    fn get_node(&self, _: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        Ok(Arc::new(self.0.clone()))
    }
}

pub(crate) fn target_header(n: usize) {
    let k = keys();
    let sample = encode_header(&Header::new(&k)).expect("header fits");
    inputs(1, &[sample], n, &mut |b| {
        if let Ok(h) = decode_header(b) {
            let _ = h.verify(&k);
        }
    });
}

pub(crate) fn target_key_slot(n: usize) {
    let k = keys();
    let slot = KeySlot::create(&k, b"pw", KdfParams { log_n: 4, r: 1, p: 1 }, b"id", "keys/x").expect("slot");
    let sample = slot.encode().expect("slot fits");
    inputs(2, &[sample], n, &mut |b| {
        if let Ok(s) = decode_slot(b) {
            // Only parameters within the limits reach the derivation; keep the fuzz fast with cheap ones.
            if s.kdf.log_n <= 12 && s.kdf.p <= 2 {
                let _ = s.open(b"pw", b"id", "keys/x");
            }
            let _ = s.info(&k, b"id", "keys/x");
        }
    });
}

pub(crate) fn target_pack(n: usize) {
    let k = keys();
    let mut pb = PackBuilder::new();
    let id = ChunkId([3; 32]);
    let sealed = k.seal(Kind::Data, &id.0, b"\x00\x05\x00\x00\x00hello");
    pb.push(Kind::Data, id, &sealed);
    let (oid, bytes, _) = pb.finish(&k);
    let bytes = bytes.to_vec();
    let backend = MemoryBackend::new();
    // Raw packs as an attacker can write them.
    inputs(3, std::slice::from_ref(&bytes), n / 2, &mut |b| {
        let _ = verify_pack(&k, &oid, b);
        let name = object_name(&oid);
        backend.delete(&name).expect("memory delete");
        backend.write(&name, b).expect("memory write");
        let _ = read_table(&backend, &k, &oid);
    });
    // Sealed plaintexts of locators and tables, as only a key holder could write them.
    let table = cbor(&vec![(serde_bytes::Bytes::new(&[3; 32]), 1u8, 0u32, 5u32)]);
    inputs(4, &[table, vec![0, 0, 0, 0, 16, 0, 0, 0]], n / 2, &mut |plain| {
        let mut pack = vec![0u8; 65_536];
        let t = k.seal(Kind::PackTable, &oid.0, plain);
        let t_len = t.len().min(60_000);
        pack[100..100 + t_len].copy_from_slice(&t[..t_len]);
        let mut loc = 100u32.to_le_bytes().to_vec();
        loc.extend_from_slice(&(t_len as u32).to_le_bytes());
        let loc = if plain.len() == 8 { plain.to_vec() } else { loc };
        let l = k.seal(Kind::PackLocator, &oid.0, &loc);
        let at = pack.len() - l.len().min(pack.len());
        pack.truncate(at);
        pack.extend_from_slice(&l);
        let _ = verify_pack(&k, &oid, &pack);
        let name = object_name(&oid);
        backend.delete(&name).expect("memory delete");
        backend.write(&name, &pack).expect("memory write");
        let _ = read_table(&backend, &k, &oid);
    });
}

pub(crate) fn target_index_node(n: usize) {
    let leaf = cbor(&(0u8, vec![(serde_bytes::Bytes::new(b"a"), serde_bytes::Bytes::new(b"1"))]));
    let p = ptr(1);
    let mut pb = Vec::new();
    ciborium::into_writer(&p, &mut pb).expect("CBOR");
    let internal = cbor(&(1u8, vec![(serde_bytes::Bytes::new(b"a"), serde_bytes::Bytes::new(&pb), 1u64)]));
    inputs(5, &[leaf, internal], n, &mut |b| {
        let s = FuzzNodes(b.to_vec());
        let root = ptr(1);
        let _ = tree::get(&s, Some(&root), b"a");
        let _ = tree::len(&s, Some(&root));
        let _ = tree::verify(&s, Some(&root));
        let _ = tree::depth(&s, Some(&root));
        for item in tree::range(&s, Some(root), None, None).take(10_000) {
            if item.is_err() {
                break;
            }
        }
        let _ = tree::for_each_node(&s, Some(&root), &mut |_| Ok(()));
    });
}

fn store_with_warm(dir: &std::path::Path) -> Store {
    let opts = StoreOptions { warm: Some((dir.to_path_buf(), 64 << 20)), ..StoreOptions::default() };
    Store::new(Arc::new(MemoryBackend::new()), keys(), opts)
}

/// A chunk of `kind` whose sealed payload is `payload`, planted as a warm-cache entry, read through the store.
fn read_planted(store: &Store, dir: &std::path::Path, kind: Kind, payload: &[u8]) -> Result<Arc<Vec<u8>>> {
    let id = ChunkId(rand::random());
    let sealed = store.keys().seal(kind, &id.0, payload);
    let p = ChunkPointer { object: ObjectId(rand::random()), offset: 0, len: sealed.len() as u32, id };
    let sub = if kind == Kind::Data { "d" } else { "i" };
    let path = dir.join(sub).join(format!("{}-{}-{}", p.object.to_hex(), p.offset, p.len));
    std::fs::create_dir_all(path.parent().expect("parent")).expect("warm dir");
    std::fs::write(&path, &sealed).expect("warm entry");
    let r = store.get_chunk(kind, &p);
    let _ = std::fs::remove_file(&path);
    r
}

/// Chunk encodings (`encoding || raw_len || body`), through the warm tier: the warm-cache entry and chunk decoders.
pub(crate) fn target_chunk_and_warm_entry(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_warm(dir.path());
    let mut zstd_sample = vec![1u8];
    let body = zstd::bulk::compress(&[b'x'; 1000], 1).expect("zstd");
    zstd_sample.extend_from_slice(&1000u32.to_le_bytes());
    zstd_sample.extend_from_slice(&body);
    let mut bomb = vec![1u8];
    bomb.extend_from_slice(&u32::MAX.to_le_bytes());
    bomb.extend_from_slice(&body);
    inputs(6, &[b"\x00\x05\x00\x00\x00hello".to_vec(), zstd_sample, bomb], n, &mut |b| {
        let _ = read_planted(&store, dir.path(), Kind::Data, b);
    });
    // Raw warm-cache files: damaged bytes are discarded and the chunk read from the (empty) backend.
    inputs(7, &[], n / 4, &mut |b| {
        let p = ChunkPointer { object: ObjectId([9; 32]), offset: 0, len: b.len() as u32, id: ChunkId([9; 32]) };
        let path = dir.path().join("i").join(format!("{}-0-{}", p.object.to_hex(), p.len));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("warm dir");
        std::fs::write(&path, b).expect("warm entry");
        assert!(store.get_chunk(Kind::Index, &p).is_err());
    });
}

/// Commits and chunk-list nodes, as sealed index chunks.
pub(crate) fn target_commit_and_chunk_list(n: usize) {
    use crate::engine::chunk::{load_list, ChunkRef, ListNode};
    use crate::engine::repo::Commit;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store_with_warm(dir.path());
    let commit = Commit {
        parents: vec![ptr(1)],
        index: Default::default(),
        message: "m".into(),
        time: 1,
        host: "h".into(),
        metadata: None,
        delta: Default::default(),
        writer: None,
        copied_from: None,
    };
    let list = ListNode::Chunks(vec![ChunkRef { len: 5, ptr: ptr(2) }]);
    let enc = |plain: &[u8]| {
        let mut v = vec![0u8];
        v.extend_from_slice(&(plain.len() as u32).to_le_bytes());
        v.extend_from_slice(plain);
        v
    };
    inputs(8, &[cbor(&commit), cbor(&list)], n, &mut |b| {
        if let Ok(bytes) = read_planted(&store, dir.path(), Kind::Commit, &enc(b)) {
            let _ = ciborium::from_reader::<Commit, _>(bytes.as_slice());
        }
        if let Ok(c) = ciborium::from_reader::<Commit, _>(b) {
            // What `log` and `show` print of it.
            let _ = crate::engine::namespace::format_time(c.time.into());
        }
        let _ = ciborium::from_reader::<ListNode, _>(b);
        // load_list goes through the store: plant the node as an index chunk at a known pointer.
        let id = ChunkId(rand::random());
        let sealed = store.keys().seal(Kind::Index, &id.0, &enc(b));
        let p = ChunkPointer { object: ObjectId(rand::random()), offset: 0, len: sealed.len() as u32, id };
        let path = dir.path().join("i").join(format!("{}-0-{}", p.object.to_hex(), p.len));
        std::fs::create_dir_all(path.parent().expect("parent")).expect("warm dir");
        std::fs::write(&path, &sealed).expect("warm entry");
        let _ = load_list(&store, &p);
        let _ = std::fs::remove_file(&path);
    });
}

/// The workspace's staged file, sealed and raw.
pub(crate) fn target_staged_file(n: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = WorkspaceConfig {
        repo: "r".into(),
        endpoint: None,
        region: None,
        head: crate::engine::workspace::Head::Branch("main".into()),
        mem_cache: None,
        cache_size: None,
        cache_dir: None,
        zstd_level: None,
        create_bucket: false,
        storage_class: None,
    };
    let ws = Workspace::create(dir.path(), cfg).expect("workspace");
    let kdf = crate::engine::crypto::KdfParams { log_n: 10, r: 8, p: 1 };
    let mem = std::sync::Arc::new(crate::engine::backend::memory::MemoryBackend::new());
    let repo = crate::engine::repo::Repository::create(mem, b"pw", kdf, Default::default()).expect("repository");
    let k = repo.store().keys().clone();
    let staged = crate::engine::workspace::StagedFile {
        base: Some(ptr(1)),
        changes: vec![(serde_bytes::ByteBuf::from(b"k".to_vec()), Some(serde_bytes::ByteBuf::from(b"v".to_vec())))],
        conflicts: vec![serde_bytes::ByteBuf::from(b"k".to_vec())],
        gc_deletions: Some(1),
        spilled: Some(ptr(2)),
        version: Some(2),
        packs: Vec::new(),
        merge: None,
    };
    let sample = cbor(&staged);
    let path = ws.dir().join("staged");
    inputs(9, &[sample], n, &mut |b| {
        std::fs::write(&path, k.seal(Kind::Workspace, b"staged", b)).expect("staged");
        let _ = ws.load_staged(&repo);
        std::fs::write(&path, k.seal(Kind::Workspace, b"staged/2", b)).expect("staged");
        let _ = ws.load_staged(&repo);
        std::fs::write(&path, b).expect("staged");
        let _ = ws.load_staged(&repo);
    });
    // The last seen ref states, kept beside it the same way.
    let seen: crate::engine::repo::SeenMap =
        [("main".to_string(), crate::engine::repo::SeenRef { seq: 3, head: ptr(1), deleted: false })].into();
    let path = ws.dir().join("seen-refs");
    inputs(10, &[cbor(&seen)], n, &mut |b| {
        std::fs::write(&path, k.seal(Kind::Workspace, b"seen-refs", b)).expect("seen-refs");
        let _ = ws.load_seen(&k);
    });
}

/// Forwarding tables (the sealed object as stored, and the plaintext inside) and the gc ref's plaintext, and a
/// read through a forward: a chunk whose pack is missing, with a planted gc ref naming a fuzzed table.
pub(crate) fn target_forward_table_and_gc_ref(n: usize) {
    use crate::engine::object::forward::{forward_name, ForwardRef, ForwardTable, Forwards, Moved};
    use crate::engine::repo::gc::{decode_gc_state, GC_REF};
    let k = keys();
    let tid = ObjectId([9; 32]);
    let old = ptr(3);
    let table = ForwardTable {
        packs: [(
            old.object,
            vec![Moved { id: old.id, kind: 1, to: ChunkPointer { object: ObjectId([4; 32]), ..old } }],
        )]
        .into(),
    };
    let body = table.encode();
    inputs(11, &[table.seal(&k, &tid)], n, &mut |b| {
        let _ = ForwardTable::open(&k, &tid, b);
    });
    let forwarded: std::collections::BTreeMap<ObjectId, ForwardRef> =
        [(old.object, ForwardRef { table: tid, unused_since: Some(5) })].into();
    let state = {
        #[derive(serde::Serialize)]
        struct State {
            packs: std::collections::BTreeMap<ObjectId, u64>,
            #[serde(with = "crate::engine::object::forward::forwarded_wire")]
            forwarded: std::collections::BTreeMap<ObjectId, ForwardRef>,
        }
        let s = State { packs: Default::default(), forwarded };
        let state = cbor(&s);
        assert_eq!(decode_gc_state(&state).expect("the seed decodes").forwarded, s.forwarded);
        state
    };
    inputs(12, std::slice::from_ref(&state), n, &mut |b| {
        let _ = decode_gc_state(b);
    });
    let backend = Arc::new(MemoryBackend::new());
    let store = Store::new(backend.clone(), k.clone(), StoreOptions::default());
    let ref_name = k.ref_name(GC_REF);
    let sealed_state = k.seal(Kind::Ref, ref_name.as_bytes(), &crate::engine::repo::meta::pad_for_seal(&state));
    backend.swap_ref(&ref_name, None, &sealed_state).expect("gc ref");
    inputs(13, &[body], n, &mut |b| {
        if let Ok(t) = ForwardTable::decode(b) {
            let fw = Forwards { packs: t.packs.keys().map(|o| (*o, t.pack(o))).collect() };
            let _ = fw.resolve(&old, &mut |_| {});
        }
        let plain = crate::engine::repo::meta::pad_for_seal(b);
        let _ = backend.delete(&forward_name(&tid));
        backend.write(&forward_name(&tid), &k.seal(Kind::Forward, forward_name(&tid).as_bytes(), &plain)).ok();
        let _ = store.get_chunk(Kind::Data, &old);
    });
}

/// The forget record's plaintext (forgotten commits, runs, stored policies).
pub(crate) fn target_forget_record(n: usize) {
    use crate::engine::repo::forget::decode_record;
    let mut runs = std::collections::BTreeMap::new();
    runs.insert("number", ciborium::Value::Integer(1.into()));
    runs.insert("time", ciborium::Value::Integer(5.into()));
    runs.insert("host", ciborium::Value::Text("h".into()));
    runs.insert("branches", ciborium::Value::Array(vec![ciborium::Value::Text("main".into())]));
    runs.insert("policy", ciborium::Value::Text("keep-last 1".into()));
    runs.insert("forgotten", ciborium::Value::Integer(1.into()));
    let mut policy = std::collections::BTreeMap::new();
    policy.insert("last", 3u32);
    let mut m = std::collections::BTreeMap::new();
    m.insert("seq", ciborium::Value::Integer(2.into()));
    m.insert("runs", ciborium::Value::Array(vec![ciborium::Value::serialized(&runs).expect("cbor")]));
    m.insert(
        "forgotten",
        ciborium::Value::Map(vec![(ciborium::Value::Bytes(vec![7; 32]), ciborium::Value::Integer(1.into()))]),
    );
    m.insert(
        "policies",
        ciborium::Value::Map(vec![(
            ciborium::Value::Text("*".into()),
            ciborium::Value::serialized(&policy).expect("cbor"),
        )]),
    );
    let sample = cbor(&m);
    assert!(decode_record(&sample).is_ok(), "the sample decodes");
    inputs(14, &[sample], n, &mut |b| {
        let _ = decode_record(b);
    });
}

/// Namespace entries as an index leaf holds them, and everything that presents one: the time's text (`ls -l`),
/// the time restored (`get -r`), the file attributes (`ls`, `get -r --tar`, `mount`) and `check`'s validation of
/// the entry and its key. Then any 64-bit time, and any seconds with any nanoseconds, through the same.
pub(crate) fn target_namespace_entry(n: usize) {
    use crate::engine::browse::{Attr, FileMeta, FileType};
    use crate::engine::chunk::{Blob, ChunkRef, ListRef};
    use crate::engine::namespace::{format_time, system_time, Entry, EntryKind};
    let mut file = Entry::new(Blob::Inline(b"value".to_vec()));
    file.mtime = Some(-86_400);
    file.mtime_nsec = 5;
    file.mode = Some(0o755);
    let mut link = Entry::new(Blob::Inline(b"target".to_vec()));
    link.kind = EntryKind::Symlink;
    let chunked = Entry::new(Blob::Chunks(vec![ChunkRef { len: 5, ptr: ptr(2) }]));
    // Sizes as stored that add up beyond 64 bits.
    let huge =
        Entry::new(Blob::Lists(vec![ListRef { size: u64::MAX, ptr: ptr(3) }, ListRef { size: u64::MAX, ptr: ptr(4) }]));
    // An entry as earlier programs wrote a tar member dated before 1970: the time's two's complement, unsigned.
    #[derive(serde::Serialize)]
    struct Old {
        blob: Blob,
        mtime: u64,
    }
    let old = Old { blob: Blob::Inline(b"old".to_vec()), mtime: (-86_400i64) as u64 };
    let present = |e: &Entry, key: &[u8]| {
        let m = FileMeta::of(e);
        let _ = e.size();
        let _ = e.blob.content_id();
        if let Some(s) = m.mtime {
            let _ = format_time(s.into());
            let a = Attr {
                ino: 1,
                kind: FileType::File,
                size: e.size(),
                perm: m.perm,
                mtime: s,
                mtime_nsec: m.mtime_nsec,
                ttl: std::time::Duration::ZERO,
            };
            let _ = a.modified();
        }
        let _ = e.modified();
        let _ = e.problems(key);
    };
    inputs(14, &[cbor(&file), cbor(&link), cbor(&chunked), cbor(&huge), cbor(&old)], n, &mut |b| {
        if let Ok(e) = ciborium::from_reader::<Entry, _>(b) {
            present(&e, b"k");
            present(&e, b);
        }
        if b.len() >= 12 {
            let secs = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
            let nsec = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
            let _ = format_time(secs.into());
            let _ = format_time(u64::from_le_bytes(b[..8].try_into().expect("8 bytes")).into());
            let _ = system_time(secs, nsec);
            let mut e = Entry::new(Blob::Inline(b[12..].to_vec()));
            e.mtime = Some(secs);
            e.mtime_nsec = nsec;
            e.mode = Some(nsec);
            present(&e, &b[12..]);
        }
    });
    for secs in [i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX] {
        for nsec in [0, 1, 999_999_999, 1_000_000_000, u32::MAX] {
            let mut e = Entry::new(Blob::Inline(Vec::new()));
            e.mtime = Some(secs);
            e.mtime_nsec = nsec;
            present(&e, b"");
        }
    }
}

/// Every target, `n` cases each. Returns the number of cases run.
pub(crate) fn run_all(n: usize) -> usize {
    target_header(n);
    target_key_slot(n);
    target_pack(n);
    target_index_node(n);
    target_chunk_and_warm_entry(n);
    target_commit_and_chunk_list(n);
    target_staged_file(n);
    target_forward_table_and_gc_ref(n);
    target_namespace_entry(n);
    target_forget_record(n);
    10 * n
}

#[cfg(test)]
mod tests {
    /// The targets themselves; run by [`decoders_survive_fuzzing_within_memory_caps`] under a memory limit.
    #[test]
    #[ignore = "run under a memory limit by decoders_survive_fuzzing_within_memory_caps"]
    fn fuzz_all_targets() {
        let n = super::cases();
        let ran = super::run_all(n);
        eprintln!("fuzz: {ran} cases over 10 targets");
    }

    /// Re-run this test binary's fuzz targets in a child whose address space is capped at 3 GiB: an allocation
    /// beyond the documented caps (e.g. a 4 GiB decompression buffer, a 1 PiB scrypt table) aborts the child.
    #[test]
    fn decoders_survive_fuzzing_within_memory_caps() {
        let exe = std::env::current_exe().expect("test binary");
        let script =
            "ulimit -v 3145728 && exec \"$0\" --ignored --exact engine::fuzz::tests::fuzz_all_targets --test-threads 1";
        let out = std::process::Command::new("sh").arg("-c").arg(script).arg(&exe).output().expect("running sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "fuzz run failed ({}):\n{stdout}\n{stderr}", out.status);
        assert!(stdout.contains("1 passed"), "the fuzz targets did not run:\n{stdout}\n{stderr}");
    }
}
