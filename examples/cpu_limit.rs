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
//!
//! ```text
//! cargo run --release --example cpu_limit -- --read DIR
//! ```
//!
//! What reading a repository from the disk costs, which the limit of a get above leaves out: every file under DIR
//! read once by direct I/O (as the dir backend reads chunks, around the page cache), in 1 MiB reads from as many
//! threads as a get keeps reads in flight. Prints `read_bytes`, `read_threads`, `read_wall_s` and `read_cpu_s`:
//! the CPU time of the whole machine while it ran (from /proc/stat, so the kernel threads that complete the reads
//! count too).

use fastcdc::v2020::{FastCDC, Normalization};
use std::io::{Read, Seek, SeekFrom};
use std::time::Instant;

/// The stream writer's chunk sizes (src/engine/format.rs).
const MIN: u32 = 256 * 1024;
const AVG: u32 = 1024 * 1024;
const MAX: u32 = 4 * 1024 * 1024;

fn main() {
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("--read") {
        let dir = std::env::args().nth(2).expect("usage: cpu_limit --read DIR");
        return read_cost(std::path::Path::new(&dir));
    }
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

/// Busy time of the whole machine so far, in seconds (user, nice, system, irq and softirq of every core).
#[cfg(target_os = "linux")]
fn machine_busy_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").expect("/proc/stat");
    let line = stat.lines().find(|l| l.starts_with("cpu ")).expect("the cpu line of /proc/stat");
    let f: Vec<u64> = line.split_whitespace().skip(1).map(|v| v.parse().unwrap_or(0)).collect();
    // user nice system idle iowait irq softirq ...
    let ticks = f[0] + f[1] + f[2] + f[5] + f[6];
    // /proc/stat counts in USER_HZ, 100 per second on every architecture Linux runs this on.
    ticks as f64 / 100.0
}

/// Stop with a message: a file could not be read by direct I/O (some filesystems refuse it).
#[cfg(target_os = "linux")]
fn fail(path: &std::path::Path, e: std::io::Error) -> ! {
    eprintln!("cpu_limit: reading {} by direct I/O: {e}", path.display());
    std::process::exit(1)
}

#[cfg(target_os = "linux")]
fn read_cost(dir: &std::path::Path) {
    use std::os::unix::fs::{FileExt, OpenOptionsExt};
    use std::sync::atomic::{AtomicUsize, Ordering};
    const BLOCK: usize = 1 << 20;
    const ALIGN: usize = 4096;
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).expect("reading the directory").flatten() {
            let t = e.file_type().expect("file type");
            if t.is_dir() {
                dirs.push(e.path());
            } else if t.is_file() {
                files.push((e.path(), e.metadata().expect("metadata").len()));
            }
        }
    }
    // Every 1 MiB block of every file, handed out to the threads in turn.
    let blocks: Vec<(usize, u64)> = files
        .iter()
        .enumerate()
        .flat_map(|(i, (_, len))| (0..len.div_ceil(BLOCK as u64)).map(move |b| (i, b * BLOCK as u64)))
        .collect();
    let cores = std::thread::available_parallelism().map(|c| c.get()).unwrap_or(1);
    let threads = (2 * cores).max(8);
    let next = AtomicUsize::new(0);
    let busy = machine_busy_s();
    let t = Instant::now();
    let read: u64 = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut raw = vec![0u8; BLOCK + ALIGN];
                    let at = (ALIGN - raw.as_ptr() as usize % ALIGN) % ALIGN;
                    let buf = &mut raw[at..at + BLOCK];
                    let mut n = 0u64;
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(file, off)) = blocks.get(i) else { break n };
                        let f = std::fs::OpenOptions::new()
                            .read(true)
                            .custom_flags(libc::O_DIRECT)
                            .open(&files[file].0)
                            .unwrap_or_else(|e| fail(&files[file].0, e));
                        n += f.read_at(buf, off).unwrap_or_else(|e| fail(&files[file].0, e)) as u64;
                    }
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("reader")).sum()
    });
    let wall = t.elapsed().as_secs_f64();
    let cpu = machine_busy_s() - busy;
    println!("read_bytes\t{read}");
    println!("read_threads\t{threads}");
    println!("read_wall_s\t{wall:.3}");
    println!("read_cpu_s\t{cpu:.3}");
}

#[cfg(not(target_os = "linux"))]
fn read_cost(_: &std::path::Path) {
    eprintln!("--read is measured on Linux only");
}
