//! Storage strategies side by side: the same map stored [`Local`] (values beside keys) and [`Sparse`] (values
//! apart), for a `VersionedMap` and a `Map`, measured in one run.
//!
//! For each: the time to commit every entry, to list the keys from a cold cache, to read every value from a cold
//! cache, and to commit a one-value change, with the bytes read from the backend for the two reads.
//!
//! `cargo bench --bench fields` (`BENCH_FIELDS_KEYS` entries, default 2000, of `BENCH_FIELDS_VALUE` bytes, default
//! 4096).

use infini::backends::MemoryBackend;
use infini::backends::{BResult, Backend, ObjectInfo, RefVersion};
use infini::fields::{Index, Local, Map, Sparse, Strategy, VersionedMap};
use infini::Infinitree;
use infini::KdfParams;
use infini::Repository;
use infini::StoreOptions;
use rand::{RngCore, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

/// A memory backend that counts the bytes read from it.
#[derive(Default)]
struct Counting {
    inner: MemoryBackend,
    read: AtomicU64,
}

impl Counting {
    fn take(&self) -> u64 {
        self.read.swap(0, Ordering::SeqCst)
    }
    fn count(&self, r: BResult<Vec<u8>>) -> BResult<Vec<u8>> {
        if let Ok(v) = &r {
            self.read.fetch_add(v.len() as u64, Ordering::SeqCst);
        }
        r
    }
}

impl Backend for Counting {
    fn describe(&self) -> String {
        "counting memory".into()
    }
    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        self.count(self.inner.read(name))
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        self.count(self.inner.read_range(name, offset, len))
    }
    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        self.count(self.inner.read_tail(name, len))
    }
    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        self.inner.write(name, data)
    }
    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        self.inner.list(prefix)
    }
    fn delete(&self, name: &str) -> BResult<()> {
        self.inner.delete(name)
    }
    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        self.inner.read_ref(name)
    }
    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        self.inner.swap_ref(name, expected, data)
    }
    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.inner.delete_ref(name)
    }
    fn list_refs(&self) -> BResult<Vec<String>> {
        self.inner.list_refs()
    }
}

const KDF: KdfParams = KdfParams { log_n: 10, r: 8, p: 1 };

fn open(b: &Arc<Counting>) -> Arc<Repository> {
    Arc::new(Repository::open(b.clone(), b"pw", StoreOptions::default()).expect("open"))
}

struct Row {
    field: &'static str,
    commit_all: f64,
    keys: f64,
    keys_read: u64,
    values: f64,
    values_read: u64,
    commit_one: f64,
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

/// A field both benchmarks drive the same way.
trait Subject: Index + Default {
    fn put(&self, k: String, v: Vec<u8>);
    fn count_keys(&self) -> usize;
    fn sum_values(&self) -> usize;
}

impl<S: Strategy> Subject for VersionedMap<String, Vec<u8>, S> {
    fn put(&self, k: String, v: Vec<u8>) {
        self.insert(k, v);
    }
    fn count_keys(&self) -> usize {
        let mut n = 0;
        for k in self.keys() {
            k.expect("key");
            n += 1;
        }
        n
    }
    fn sum_values(&self) -> usize {
        self.iter().map(|e| e.expect("entry").1.len()).sum()
    }
}

impl<S: Strategy> Subject for Map<String, Vec<u8>, S> {
    fn put(&self, k: String, v: Vec<u8>) {
        self.insert(k, v);
    }
    // A Map is loaded whole: opening it already read everything.
    fn count_keys(&self) -> usize {
        self.len()
    }
    fn sum_values(&self) -> usize {
        let mut n = 0;
        self.for_each(|_, v| n += v.len());
        n
    }
}

fn run<F: Subject>(field: &'static str, keys: usize, value: usize) -> Row {
    let b = Arc::new(Counting::default());
    Repository::create(b.clone(), b"pw", KDF, StoreOptions::default()).expect("create");
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let mut t = Infinitree::<F>::open(open(&b), "main").expect("open");
    for i in 0..keys {
        let mut v = vec![0u8; value];
        rng.fill_bytes(&mut v);
        t.index().put(format!("key/{i:08}"), v);
    }
    let start = Instant::now();
    t.commit("all").expect("commit");
    let commit_all = ms(start);

    // Cold: a fresh repository handle has nothing cached.
    b.take();
    let start = Instant::now();
    let cold = Infinitree::<F>::open(open(&b), "main").expect("open");
    assert_eq!(cold.index().count_keys(), keys);
    let (keys_ms, keys_read) = (ms(start), b.take());
    let start = Instant::now();
    let cold = Infinitree::<F>::open(open(&b), "main").expect("open");
    assert_eq!(cold.index().sum_values(), keys * value);
    let (values_ms, values_read) = (ms(start), b.take());

    t.index().put(format!("key/{:08}", keys / 2), vec![7; value]);
    let start = Instant::now();
    t.commit("one").expect("commit");
    Row { field, commit_all, keys: keys_ms, keys_read, values: values_ms, values_read, commit_one: ms(start) }
}

fn main() {
    let env = |k: &str, d: usize| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let keys = env("BENCH_FIELDS_KEYS", 2000);
    let value = env("BENCH_FIELDS_VALUE", 4096);
    let rows = [
        run::<VersionedMap<String, Vec<u8>, Local>>("VersionedMap, Local", keys, value),
        run::<VersionedMap<String, Vec<u8>, Sparse>>("VersionedMap, Sparse", keys, value),
        run::<Map<String, Vec<u8>, Local>>("Map, Local", keys, value),
        run::<Map<String, Vec<u8>, Sparse>>("Map, Sparse", keys, value),
    ];
    println!("## Field strategies: {keys} entries of {value} random bytes, memory backend\n");
    println!("| field, strategy | commit all (ms) | list keys, cold (ms) | bytes read | read all values, cold (ms) | bytes read | commit one change (ms) |");
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
    for r in rows {
        println!(
            "| {} | {:.1} | {:.1} | {} | {:.1} | {} | {:.1} |",
            r.field, r.commit_all, r.keys, r.keys_read, r.values, r.values_read, r.commit_one
        );
    }
}
