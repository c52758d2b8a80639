//! A big blob in a field: stream a large value through the writer, store the blob in a map, then read a byte
//! range back with `Seek` — in bounded memory, whatever the size.
//!
//! ```sh
//! cargo run --release --example big_blob          # 1 GiB
//! cargo run --example big_blob -- 64              # size in MiB
//! ```

use infini::fields::VersionedMap;
use infini::{backends::DirBackend, Blob, Infinitree, KdfParams, Repository, StoreOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::Arc;

/// Deterministic pseudo-random bytes: byte `i` of the stream is a function of `i`, so any range can be checked.
fn byte_at(i: u64) -> u8 {
    let x = (i / 8).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> ((i % 8) * 8)) as u8
}

fn main() -> infini::Result<()> {
    let mib: u64 = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1024);
    let size = mib << 20;
    let dir = std::env::temp_dir().join(format!("infini-example-blob-{}", std::process::id()));
    let kdf = KdfParams { log_n: 12, ..KdfParams::default() };
    let repo = Arc::new(Repository::create(Arc::new(DirBackend::new(&dir)?), b"pw", kdf, StoreOptions::default())?);
    let mut tree = Infinitree::<VersionedMap<String, Blob>>::open(repo, "main")?;

    // Stream the value through the writer in 1 MiB pieces: memory stays bounded by the pipeline, not the value.
    let mut writer = tree.blob_writer();
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < size {
        let n = buf.len().min((size - written) as usize);
        for (j, b) in buf[..n].iter_mut().enumerate() {
            *b = byte_at(written + j as u64);
        }
        writer.write_all(&buf[..n]).map_err(|e| infini::Error::io("writing the blob", e))?;
        written += n as u64;
    }
    let blob = writer.finish()?;
    tree.index().insert("video.raw".into(), blob);
    let c = tree.commit("a big value")?;
    println!("stored {mib} MiB in commit {}", c.id());

    // Read 4 KiB from the middle: only the chunks covering the range are fetched.
    let blob = tree.index().get(&"video.raw".to_string())?.expect("just committed");
    let mut reader = tree.blob_reader(blob);
    let at = size / 2 + 12345;
    reader.seek(SeekFrom::Start(at)).map_err(|e| infini::Error::io("seeking", e))?;
    let mut got = vec![0u8; 4096];
    reader.read_exact(&mut got).map_err(|e| infini::Error::io("reading", e))?;
    let want: Vec<u8> = (0..4096).map(|j| byte_at(at + j)).collect();
    assert_eq!(got, want, "the range read back differs");
    println!("read 4096 bytes at offset {at}: ok");

    std::fs::remove_dir_all(&dir).ok();
    Ok(())
}
