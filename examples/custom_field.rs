//! A field type and a strategy written outside the crate, with the public object API alone.
//!
//! - [`TimeSeries<T>`]: timestamped points, appended across commits. Its own layout on storage: each commit that
//!   appends writes its new points, sorted by time, as one *block* (a [`Blob`] of CBOR `[[time, point], ...]`), and
//!   the field's root is the list of blocks with the time span each covers. A range query reads only the blocks
//!   whose spans overlap it; an append never rewrites a block, and concurrent appends never conflict.
//! - [`Blobbed`]: a [`Strategy`] for `VersionedMap`/`Map` that stores each value as a blob of its own (chunked,
//!   deduplicated, of any size — `Sparse` stops at 4 MiB) and keeps only the blob beside the key.
//!
//! Both report what they store to garbage collection through the [`Tracer`]; `tests/engine/extend.rs` runs this
//! file's types through gc to prove it keeps their data while a branch reaches it and frees it when none does.
//! Copy this file to write your own; docs/library.md (*Writing your own field, strategy and backend*) walks
//! through it.
//!
//! ```sh
//! cargo run --example custom_field
//! ```

use infini::fields::{Field, Strategy, Tracer, VersionedMap};
use infini::{Blob, Error, Infinitree, KdfParams, Repository, Result, Store, StoreOptions};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::sync::{Arc, Mutex, RwLock};

// ---- The field: a time series ----

/// One block of a [`TimeSeries`]: the points one commit appended, and the span they cover.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Earliest timestamp in the block.
    pub first: u64,
    /// Latest timestamp in the block.
    pub last: u64,
    /// Number of points.
    pub points: u64,
    /// CBOR `[[time, point], ...]`, sorted by time.
    pub data: Blob,
}

/// Timestamped points appended across commits; see the file's docs for the layout.
pub struct TimeSeries<T> {
    /// The store the field was loaded from (handed to `load`): what queries read blocks through.
    store: RwLock<Option<Arc<Store>>>,
    /// The committed blocks, oldest first.
    blocks: RwLock<Vec<Block>>,
    /// Points staged for the next commit.
    pending: Mutex<Vec<(u64, T)>>,
}

impl<T> Default for TimeSeries<T> {
    fn default() -> Self {
        Self { store: RwLock::new(None), blocks: RwLock::new(Vec::new()), pending: Mutex::new(Vec::new()) }
    }
}

fn corrupt(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Integrity { what: what.to_string(), source: Some(Box::new(e)) }
}

fn cbor<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    ciborium::into_writer(v, &mut out).map_err(|e| Error::Invalid(format!("does not serialize: {e}")))?;
    Ok(out)
}

fn decode_blocks(root: Option<&[u8]>) -> Result<Vec<Block>> {
    match root {
        None => Ok(Vec::new()),
        Some(r) => ciborium::from_reader(r).map_err(|e| corrupt("time series root", e)),
    }
}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync> TimeSeries<T> {
    /// Stage a point.
    pub fn append(&self, time: u64, point: T) {
        self.lock_pending().push((time, point));
    }

    /// Committed and staged points.
    pub fn len(&self) -> u64 {
        let committed: u64 = self.blocks.read().unwrap_or_else(|e| e.into_inner()).iter().map(|b| b.points).sum();
        committed + self.lock_pending().len() as u64
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The committed blocks (their spans and blobs), oldest first.
    pub fn blocks(&self) -> Vec<Block> {
        self.blocks.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Points with `from <= time < to`, sorted by time, staged ones included. Reads only the blocks whose spans
    /// overlap the range.
    pub fn range(&self, from: u64, to: u64) -> Result<Vec<(u64, T)>> {
        let mut out = Vec::new();
        let store = self.store.read().unwrap_or_else(|e| e.into_inner()).clone();
        for b in self.blocks().iter().filter(|b| b.first < to && b.last >= from) {
            let store = store.as_ref().ok_or_else(|| Error::Invalid("time series not loaded".into()))?;
            let points: Vec<(u64, T)> =
                ciborium::from_reader(store.read(&b.data)?.as_slice()).map_err(|e| corrupt("time series block", e))?;
            out.extend(points.into_iter().filter(|(t, _)| (from..to).contains(t)));
        }
        out.extend(self.lock_pending().iter().filter(|(t, _)| (from..to).contains(t)).cloned());
        out.sort_by_key(|(t, _)| *t);
        Ok(out)
    }

    fn lock_pending(&self) -> std::sync::MutexGuard<'_, Vec<(u64, T)>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync> Field for TimeSeries<T> {
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()> {
        let blocks = decode_blocks(root)?;
        *self.store.write().unwrap_or_else(|e| e.into_inner()) = Some(store.clone());
        *self.blocks.write().unwrap_or_else(|e| e.into_inner()) = blocks;
        self.lock_pending().clear();
        Ok(())
    }

    /// Appends go after whatever the branch holds when the commit lands: `parent` is the branch's root, so two
    /// writers appending at once both keep their points, and nothing conflicts. Staged points stay staged until the
    /// commit lands (the tree loads the new root then), because a commit that loses a race is built again.
    fn commit(&self, store: &Arc<Store>, parent: Option<&[u8]>) -> Result<Vec<u8>> {
        let mut blocks = decode_blocks(parent)?;
        let mut points = self.lock_pending().clone();
        if !points.is_empty() {
            points.sort_by_key(|(t, _)| *t);
            let data = store.write(&cbor(&points)?)?;
            let (first, last) = (points[0].0, points[points.len() - 1].0);
            blocks.push(Block { first, last, points: points.len() as u64, data });
        }
        cbor(&blocks)
    }

    fn is_dirty(&self) -> bool {
        !self.lock_pending().is_empty()
    }

    /// Every block the root lists that the parent's root did not (older ones are traced from the commit that added
    /// them): the block's chunks, and any blob inside its points.
    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()> {
        let old = decode_blocks(parent)?;
        for b in decode_blocks(Some(root))? {
            if old.contains(&b) {
                continue;
            }
            tracer.value();
            tracer.blob(&b.data)?;
            // Points may hold blobs of their own (a `T` with a `Blob` in it): scan the block's encoding for them.
            let bytes = tracer.store().read(&b.data)?;
            tracer.scan(&bytes)?;
        }
        Ok(())
    }
}

/// A time series alone is an index of one field.
impl<T: Serialize + DeserializeOwned + Clone + Send + Sync> infini::Index for TimeSeries<T> {
    fn fields(&self) -> Vec<(&'static str, &dyn Field)> {
        vec![("root", self)]
    }
}

// ---- The strategy: every value a blob of its own ----

/// Stores each value as a [`Blob`] (any size, chunked and deduplicated) and keeps the blob beside the key.
#[derive(Debug, Default, Clone, Copy)]
pub struct Blobbed;

fn decode_blob(stored: &[u8]) -> Result<Blob> {
    ciborium::from_reader(stored).map_err(|e| corrupt("blobbed value", e))
}

impl Strategy for Blobbed {
    const NAME: &'static str = "blobbed";

    fn put(store: &Arc<Store>, value: &[u8]) -> Result<Vec<u8>> {
        cbor(&store.write(value)?)
    }

    fn get(store: &Arc<Store>, stored: &[u8]) -> Result<Arc<Vec<u8>>> {
        Ok(Arc::new(store.read(&decode_blob(stored)?)?))
    }

    fn same(a: &[u8], b: &[u8]) -> bool {
        match (decode_blob(a), decode_blob(b)) {
            (Ok(x), Ok(y)) => x.same_content(&y),
            _ => a == b,
        }
    }

    fn trace(stored: &[u8], tracer: &mut Tracer<'_>) -> Result<()> {
        tracer.blob(&decode_blob(stored)?)
    }
}

// ---- A schema using both ----

infini::index! {
    /// Sensor readings and the raw captures they came from.
    pub struct Lab {
        pub temperature: TimeSeries<f64>,
        pub captures: VersionedMap<String, Vec<u8>, Blobbed>,
    }
}

fn main() -> Result<()> {
    let kdf = KdfParams { log_n: 12, ..KdfParams::default() }; // cheap, for the example only
    let repo =
        Repository::create(Arc::new(infini::backends::MemoryBackend::new()), b"pw", kdf, StoreOptions::default())?;
    let mut lab = Infinitree::<Lab>::open(repo, "main")?;

    for day in 0..3u64 {
        for minute in 0..1440 {
            lab.index().temperature.append(day * 86_400 + minute * 60, 20.0 + (minute as f64 / 100.0).sin());
        }
        // A capture larger than a `Sparse` value may be (4 MiB): the strategy stores it as a chunked blob.
        let capture: Vec<u8> = (0..(5u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        lab.index().captures.insert(format!("day-{day}"), capture);
        lab.commit(&format!("day {day}"))?;
    }

    let day1 = lab.index().temperature.range(86_400, 2 * 86_400)?;
    assert_eq!(day1.len(), 1440);
    println!(
        "{} points in {} blocks; day 1 has {} points, from {:.2} to {:.2}",
        lab.index().temperature.len(),
        lab.index().temperature.blocks().len(),
        day1.len(),
        day1.iter().map(|p| p.1).fold(f64::INFINITY, f64::min),
        day1.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max),
    );
    let capture = lab.index().captures.get(&"day-2".to_string())?.expect("committed");
    println!("capture day-2: {} bytes", capture.len());
    assert_eq!(capture.len(), 5 << 20);

    let report = lab.repository().check(&Lab::default(), true)?;
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    println!("check: {} commits, {} values, no problem", report.commits, report.values);
    Ok(())
}
