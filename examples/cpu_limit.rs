//! The CPU limit of a put on this machine: how fast the work every byte of a first put needs can go, from the
//! single-core speed of each step measured on the same input.
//!
//! ```text
//! cargo run --release --example cpu_limit -- FILE [--level N] [--mb N]
//! ```
//!
//! Each step (content-defined chunking with the writer's parameters, keyed BLAKE3 chunk ids, zstd at the
//! repository's level, AES-256-GCM over the compressed bytes) runs alone on one core over a sample of FILE (`--mb`
//! MB, default 256, in 16 evenly spaced slices). Their times per byte add up to the single-core cost of a byte; divided by the
//! cores it gives the fastest a put of FILE can be when every core does nothing else. Prints `name<TAB>value`
//! lines: each step's MB/s, `bytes_per_s` (all cores) and `limit_s` for the whole of FILE.
//!
//! The same for a get: opening (AES-256-GCM) and decompressing the sealed chunks, summed per byte and divided by
//! the cores, is `get_limit_s`.

use fastcdc::v2020::{FastCDC, Normalization};
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

/// The stream writer's chunk sizes (src/engine/format.rs).
const MIN: u32 = 256 * 1024;
const AVG: u32 = 1024 * 1024;
const MAX: u32 = 4 * 1024 * 1024;

fn main() {
    let mut args = std::env::args().skip(1);
    let mut file = None;
    let mut level = 3;
    let mut mb = 256usize;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--level" => level = args.next().and_then(|v| v.parse().ok()).expect("--level N"),
            "--mb" => mb = args.next().and_then(|v| v.parse().ok()).expect("--mb N"),
            _ => file = Some(a),
        }
    }
    let file = file.expect("usage: cpu_limit FILE [--level N] [--mb N]");
    let total = std::fs::metadata(&file).expect("input file").len();
    // The sample: 16 evenly spaced slices of the file, so that it has the file's mix of content.
    let want = ((mb as u64) * 1_000_000).min(total);
    let slices = 16u64;
    let mut sample = Vec::with_capacity(want as usize);
    let mut f = std::fs::File::open(&file).expect("input file");
    for i in 0..slices {
        let at = total / slices * i;
        f.seek(SeekFrom::Start(at)).expect("seeking in the input");
        (&mut f).take(want / slices).read_to_end(&mut sample).expect("reading the input");
    }
    let n = sample.len() as f64;
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);

    // Each step is timed on its own, best of two runs (the first also warms caches).
    let best = |f: &mut dyn FnMut()| {
        (0..2)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };

    let mut cuts = Vec::new();
    let t_cdc = best(&mut || {
        cuts = FastCDC::with_level_and_seed(&sample, MIN, AVG, MAX, Normalization::Level1, 0x1f1f)
            .map(|c| (c.offset, c.length))
            .collect();
    });
    let chunks: Vec<&[u8]> = cuts.iter().map(|&(o, l)| &sample[o..o + l]).collect();

    let t_hash = best(&mut || {
        for c in &chunks {
            std::hint::black_box(blake3::keyed_hash(&[7u8; 32], c));
        }
    });

    let mut compressor = zstd::bulk::Compressor::new(level).expect("zstd");
    let mut compressed: Vec<Vec<u8>> = Vec::new();
    let t_zstd = best(&mut || {
        compressed = chunks
            .iter()
            .map(|c| {
                let z = compressor.compress(c).expect("zstd");
                // Stored raw when compression does not help, as the writer does.
                if z.len() < c.len() {
                    z
                } else {
                    c.to_vec()
                }
            })
            .collect();
    });
    let stored: usize = compressed.iter().map(|c| c.len()).sum();

    // The library's AEAD (ring's AES-256-GCM), a key per message as the library derives one.
    use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
    let key = || LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[9u8; 32]).expect("key"));
    let nonce = || Nonce::assume_unique_for_key([0u8; 12]);
    let mut sealed: Vec<Vec<u8>> = compressed.clone();
    let t_aes = best(&mut || {
        for c in sealed.iter_mut() {
            let tag = key().seal_in_place_separate_tag(nonce(), Aad::empty(), c).expect("aes");
            let _tag = std::hint::black_box(tag);
        }
    });

    // A get's work: open each sealed chunk (copied out of the pack, as the reader does) and decompress it.
    let sealed: Vec<Vec<u8>> = compressed
        .iter()
        .map(|c| {
            let mut s = c.clone();
            key().seal_in_place_append_tag(nonce(), Aad::empty(), &mut s).expect("aes");
            s
        })
        .collect();
    let t_open = best(&mut || {
        for s in &sealed {
            let mut b = s.clone();
            std::hint::black_box(key().open_in_place(nonce(), Aad::empty(), &mut b).expect("authentic").len());
        }
    });
    let mut decompressor = zstd::bulk::Decompressor::new().expect("zstd");
    let t_unzstd = best(&mut || {
        for (c, raw) in compressed.iter().zip(&chunks) {
            let out =
                if c.len() < raw.len() { decompressor.decompress(c, raw.len()).expect("zstd") } else { c.to_vec() };
            std::hint::black_box(out);
        }
    });

    let per_byte = (t_cdc + t_hash + t_zstd + t_aes) / n;
    let bytes_per_s = cores as f64 / per_byte;
    let mbps = |t: f64| n / t / 1e6;
    println!("sample_bytes\t{}", sample.len());
    println!("zstd_level\t{level}");
    println!("compression_ratio\t{:.3}", n / stored as f64);
    println!("chunking_mbps\t{:.0}", mbps(t_cdc));
    println!("keyed_hash_mbps\t{:.0}", mbps(t_hash));
    println!("zstd_mbps\t{:.0}", mbps(t_zstd));
    println!("aes_256_gcm_mbps\t{:.0}", n / t_aes / 1e6);
    println!("one_core_mbps\t{:.0}", 1.0 / per_byte / 1e6);
    println!("cores\t{cores}");
    println!("bytes_per_s\t{bytes_per_s:.0}");
    println!("limit_s\t{:.3}", total as f64 / bytes_per_s);
    let get_per_byte = (t_open + t_unzstd) / n;
    println!("open_mbps\t{:.0}", mbps(t_open));
    println!("unzstd_mbps\t{:.0}", mbps(t_unzstd));
    println!("get_limit_s\t{:.3}", total as f64 * get_per_byte / cores as f64);
}
