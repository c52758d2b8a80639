//! Stream throughput: the writer and reader on compressible and random data, next to the single-core speed of
//! the primitives they are built from (zstd -3, SHA-256, AES-256-GCM), measured in the same run.
//!
//! `cargo bench --bench stream` (`BENCH_STREAM_MB` sets the data size, default 256).

use infini::backends::DirBackend;
use infini::{KdfParams, MasterKey, Repository, StoreOptions};
use rand::{Rng, RngCore, SeedableRng};
use sha2::Digest;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;

fn compressible(len: usize) -> Vec<u8> {
    const WORDS: [&str; 16] = [
        "infini",
        "stream",
        "chunk",
        "value",
        "commit",
        "branch",
        "encrypted",
        "the",
        "of",
        "and",
        "data",
        "0x1f",
        "pack",
        "index",
        "{\"key\":",
        "\n",
    ];
    let mut r = rand::rngs::StdRng::seed_from_u64(1);
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        v.extend_from_slice(WORDS[r.gen_range(0..WORDS.len())].as_bytes());
        v.push(b' ');
        if r.gen_bool(0.02) {
            let mut junk = [0u8; 8];
            r.fill_bytes(&mut junk);
            v.extend_from_slice(&junk);
        }
    }
    v.truncate(len);
    v
}

fn random(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(2).fill_bytes(&mut v);
    v
}

fn mbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / 1e6 / secs
}

fn time<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let t = Instant::now();
    let r = f();
    (r, t.elapsed().as_secs_f64())
}

fn main() {
    let mb: usize = std::env::var("BENCH_STREAM_MB").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    let len = mb << 20;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("stream benchmark: {mb} MiB per data set, {cores} cores");
    println!("| what | data | MB/s |");
    println!("|---|---|---|");
    for (name, data) in [("compressible", compressible(len)), ("random", random(len))] {
        // Physical limits, single core.
        let sample = &data[..data.len().min(64 << 20)];
        let (c, s) = time(|| zstd::bulk::compress(sample, 3).expect("zstd"));
        println!(
            "| zstd -3 (1 core) | {name} (ratio {:.2}) | {:.0} |",
            sample.len() as f64 / c.len() as f64,
            mbps(sample.len(), s)
        );
        let (_, s) = time(|| sha2::Sha256::digest(sample));
        println!("| SHA-256 (1 core) | {name} | {:.0} |", mbps(sample.len(), s));
        let key = ring::aead::LessSafeKey::new(
            ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &[7u8; 32]).expect("key"),
        );
        let mut buf = sample.to_vec();
        let (_, s) = time(|| {
            let nonce = ring::aead::Nonce::assume_unique_for_key([0u8; 12]);
            key.seal_in_place_separate_tag(nonce, ring::aead::Aad::empty(), &mut buf).expect("aes")
        });
        println!("| AES-256-GCM (1 core) | {name} | {:.0} |", mbps(sample.len(), s));

        // The stream writer and reader on a local directory repository.
        let dir = tempfile::tempdir().expect("tempdir");
        let backend = Arc::new(DirBackend::new(dir.path()).expect("dir backend"));
        let kdf = KdfParams { log_n: 10, ..KdfParams::default() };
        let store = Repository::create(backend.clone(), b"bench", kdf, StoreOptions::default()).expect("repo");
        let (blob, s) = time(|| {
            let mut w = store.blob_writer();
            for piece in data.chunks(1 << 20) {
                w.write_all(piece).expect("write");
            }
            let b = w.finish().expect("finish");
            store.flush().expect("flush");
            b
        });
        println!("| stream write ({cores} threads) | {name} | {:.0} |", mbps(data.len(), s));
        // The same write with a write-only key, into a repository of its own (nothing to deduplicate against):
        // every chunk sealed to the reader key with an ephemeral X25519 exchange.
        let wdir = tempfile::tempdir().expect("tempdir");
        let wbackend = Arc::new(DirBackend::new(wdir.path()).expect("dir backend"));
        let full = Repository::create(wbackend.clone(), b"bench", kdf, StoreOptions::default()).expect("repo");
        full.add_writer_key(b"writer", kdf, "bench").expect("writer key");
        let writer = Repository::open_write_only(wbackend, b"writer", StoreOptions::default()).expect("writer");
        let (_, ws) = time(|| {
            let mut w = writer.blob_writer();
            for piece in data.chunks(1 << 20) {
                w.write_all(piece).expect("write");
            }
            let b = w.finish().expect("finish");
            writer.flush().expect("flush");
            b
        });
        println!(
            "| stream write, write-only key ({cores} threads; {:.2}x the full key's time) | {name} | {:.0} |",
            ws / s,
            mbps(data.len(), ws)
        );
        let (_, s) = time(|| {
            let mut w = store.blob_writer();
            for piece in data.chunks(1 << 20) {
                w.write_all(piece).expect("write");
            }
            w.finish().expect("finish")
        });
        println!("| stream write, all deduplicated | {name} | {:.0} |", mbps(data.len(), s));
        let key = MasterKey::from_bytes(*store.master_key().expect("a full key").expose());
        let fresh = Repository::with_key(backend, key, StoreOptions::default()).expect("repo");
        let (n, s) = time(|| fresh.copy_range(&blob, 0, u64::MAX, &mut std::io::sink()).expect("read"));
        assert_eq!(n as usize, data.len());
        println!("| stream read ({cores} threads) | {name} | {:.0} |", mbps(data.len(), s));
    }
}
