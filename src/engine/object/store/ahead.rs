//! Read-ahead of data chunks, for walks that know what they will read next (a tree restore writing many small
//! files). On a backend whose reads wait on a network, one ranged read per chunk costs one round trip per file; the
//! chunks named here are fetched instead in as few ranged reads as their packs allow (neighbouring chunks of a pack,
//! with small gaps between them, in one read), all of a batch's reads at once, and kept decoded until the reads they
//! were fetched for take them ([`Store::get_piece`]). Each chunk is authenticated exactly as a read of it alone
//! would be; anything that fails here (a missing pack, a short or damaged read) is simply not kept, so the chunk's
//! own read meets the failure and reports it as it always does.

use super::read::Piece;
use super::Store;
use crate::engine::crypto::Kind;
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::object::object_name;
use crate::engine::object::ChunkPointer;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes between two wanted chunks of a pack that a read still spans rather than split in two: at tens of
/// milliseconds a round trip, reading this much more costs less than another request.
const GAP: u64 = 256 << 10;
/// Longest single read.
const SPAN_MAX: u64 = 8 << 20;
/// Most decoded bytes kept waiting at once; a batch beyond it is read chunk by chunk as before.
const BUDGET: usize = 64 << 20;

/// Chunks read ahead and not yet taken.
#[derive(Default)]
pub(super) struct ReadAhead {
    chunks: HashMap<ChunkId, Ahead>,
    bytes: usize,
}

struct Ahead {
    buf: Arc<Vec<u8>>,
    start: usize,
    /// Reads still expected to take it.
    uses: u32,
}

/// One ranged read: `[start, end)` of a pack, covering `chunks`.
struct Span {
    object: ObjectId,
    start: u64,
    end: u64,
    chunks: Vec<ChunkPointer>,
}

impl Store {
    /// Fetch the data chunks at `ptrs` (in the order they will be read; a chunk named twice is kept for two reads)
    /// ahead of their reads, in few ranged reads run at once. Only on remote backends; a no-op elsewhere, where a
    /// read costs no round trip. Chunks already in the hot tier, or in packs this process has not finished storing,
    /// are left to their reads.
    pub(crate) fn read_ahead(&self, ptrs: &[ChunkPointer]) {
        if !self.is_remote() || self.keys.is_write_only() || ptrs.is_empty() {
            return;
        }
        let mut uses: HashMap<ChunkId, u32> = HashMap::new();
        let mut by_pack: BTreeMap<ObjectId, Vec<ChunkPointer>> = BTreeMap::new();
        let mut budget;
        {
            let mut ahead = self.ahead.lock().expect("read-ahead lock");
            budget = BUDGET.saturating_sub(ahead.bytes);
            for p in ptrs {
                if let Some(a) = ahead.chunks.get_mut(&p.id) {
                    a.uses += 1;
                    continue;
                }
                let n = uses.entry(p.id).or_default();
                *n += 1;
                if *n > 1 || budget < p.len as usize {
                    continue;
                }
                if self.hot.get(&(Kind::Data as u8, p.id)).is_some() || self.is_pending(&p.object) {
                    uses.remove(&p.id);
                    continue;
                }
                budget -= p.len as usize;
                by_pack.entry(p.object).or_default().push(*p);
            }
        }
        self.fetch_spans(Kind::Data, by_pack, &|p, buf, start| {
            let held = buf.len() - start;
            let mut ahead = self.ahead.lock().expect("read-ahead lock");
            let uses = uses.get(&p.id).copied().unwrap_or(1);
            if ahead.chunks.insert(p.id, Ahead { buf: Arc::new(buf), start, uses }).is_none() {
                ahead.bytes += held;
            }
        });
    }

    /// Index nodes a walk is about to load (see [`NodeStore::prefetch`](crate::engine::tree::NodeStore::prefetch)):
    /// those neither decoded already nor in the warm tier are fetched in few ranged reads run at once, and decoded
    /// into the node cache. Remote backends only.
    pub(crate) fn read_ahead_nodes(&self, ptrs: &[ChunkPointer]) {
        if !self.is_remote() || self.keys.is_write_only() {
            return;
        }
        let mut by_pack: BTreeMap<ObjectId, Vec<ChunkPointer>> = BTreeMap::new();
        let mut seen = std::collections::HashSet::new();
        for p in ptrs {
            if !seen.insert(p.id)
                || self.nodes.get(p).is_some()
                || self.is_pending(&p.object)
                || self.warm.as_ref().is_some_and(|w| w.contains(p, true))
            {
                continue;
            }
            // Read with the commit already: decoded here, so that the walk's next level is known.
            if self.behind_holds(p) {
                if let Ok(plain) = self.read_chunk(Kind::Index, p) {
                    self.nodes.insert_encoded(p, &plain);
                }
                continue;
            }
            by_pack.entry(p.object).or_default().push(*p);
        }
        if by_pack.values().map(Vec::len).sum::<usize>() < 2 {
            return;
        }
        self.fetch_spans(Kind::Index, by_pack, &|p, buf, start| {
            self.nodes.insert_encoded(p, &buf[start..]);
        });
    }

    /// Fetch the chunks of `by_pack` in spans, all at once (bounded), handing each one that authenticates and
    /// decodes to `keep` as its plaintext `buf[start..]`; the warm tier keeps their sealed bytes as a read would.
    fn fetch_spans(
        &self,
        kind: Kind,
        by_pack: BTreeMap<ObjectId, Vec<ChunkPointer>>,
        keep: &(dyn Fn(&ChunkPointer, Vec<u8>, usize) + Sync),
    ) {
        let spans = spans(by_pack);
        let next = AtomicUsize::new(0);
        let workers = spans.len().min(self.read_parallelism());
        std::thread::scope(|s| {
            for _ in 0..workers {
                s.spawn(|| {
                    while let Some(span) = spans.get(next.fetch_add(1, Ordering::Relaxed)) {
                        self.read_span(kind, span, keep);
                    }
                });
            }
        });
    }

    /// Read one span and hand on each of its chunks that authenticates and decodes.
    fn read_span(&self, kind: Kind, span: &Span, keep: &(dyn Fn(&ChunkPointer, Vec<u8>, usize) + Sync)) {
        let name = object_name(&span.object);
        let Ok(bytes) = self.backend.read_range(&name, span.start, span.end - span.start) else { return };
        if bytes.len() as u64 != span.end - span.start {
            return;
        }
        self.stats.bytes_fetched.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        for p in &span.chunks {
            let at = (p.offset as u64 - span.start) as usize;
            let Some(sealed) = bytes.get(at..at + p.len as usize) else { continue };
            let mut buf = self.read_spares.take_any(sealed.len());
            buf.clear();
            buf.extend_from_slice(sealed);
            let Ok(plain) = self.keys.open_in_place(kind, &p.id.0, &mut buf) else { continue };
            // A delta decodes against its base (from the hot tier, or read from the same pack).
            let Ok((buf, start, _)) = self.decode_payload(kind, p, buf, plain, true) else { continue };
            self.stats.chunks_fetched.fetch_add(1, Ordering::Relaxed);
            // Index nodes go into the warm tier as a read would put them; data chunks do not: a walk reads ahead
            // to restore many files, and one cache file per chunk would write every restored file twice (and
            // fill the cache with data read once).
            if let Some(w) = self.warm.as_ref().filter(|_| kind != Kind::Data) {
                w.insert(p, true, sealed);
            }
            keep(p, buf, start);
        }
    }

    /// The chunk `id` if it was read ahead, counting this read as one of those it was kept for.
    pub(super) fn take_ahead(&self, id: &ChunkId) -> Option<Piece> {
        let mut ahead = self.ahead.lock().expect("read-ahead lock");
        let a = ahead.chunks.get_mut(id)?;
        a.uses = a.uses.saturating_sub(1);
        let piece = Piece { buf: a.buf.clone(), start: a.start };
        if a.uses == 0 {
            ahead.chunks.remove(id);
            ahead.bytes = ahead.bytes.saturating_sub(piece.buf.len() - piece.start);
        }
        Some(piece)
    }

    /// Drop every chunk read ahead and not taken (a walk that stopped early).
    pub(crate) fn clear_read_ahead(&self) {
        let mut ahead = self.ahead.lock().expect("read-ahead lock");
        ahead.chunks.clear();
        ahead.bytes = 0;
    }
}

/// Group each pack's chunks, in offset order, into reads of neighbouring chunks.
fn spans(by_pack: BTreeMap<ObjectId, Vec<ChunkPointer>>) -> Vec<Span> {
    let mut out = Vec::new();
    for (object, mut chunks) in by_pack {
        chunks.sort_by_key(|p| p.offset);
        let mut cur: Option<Span> = None;
        for p in chunks {
            let (s, e) = (p.offset as u64, p.offset as u64 + p.len as u64);
            match &mut cur {
                Some(c) if s >= c.end && s - c.end <= GAP && e - c.start <= SPAN_MAX => {
                    c.end = e;
                    c.chunks.push(p);
                }
                _ => {
                    out.extend(cur.take());
                    cur = Some(Span { object, start: s, end: e, chunks: vec![p] });
                }
            }
        }
        out.extend(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(object: u8, offset: u32, len: u32, id: u8) -> ChunkPointer {
        ChunkPointer { object: ObjectId([object; 32]), offset, len, id: ChunkId([id; 32]) }
    }

    #[test]
    fn neighbouring_chunks_share_a_read_and_distant_ones_do_not() {
        let mut by_pack = BTreeMap::new();
        by_pack.insert(
            ObjectId([1; 32]),
            vec![
                ptr(1, 5000, 1000, 2),
                ptr(1, 0, 4000, 1),
                // 256 KiB + 1 after the end of the previous one: a read of its own.
                ptr(1, 6000 + (256 << 10) + 1, 100, 3),
            ],
        );
        by_pack.insert(ObjectId([2; 32]), vec![ptr(2, 0, 10, 4)]);
        let got: Vec<(u8, u64, u64, usize)> =
            spans(by_pack).iter().map(|s| (s.object.0[0], s.start, s.end, s.chunks.len())).collect();
        assert_eq!(got, vec![(1, 0, 6000, 2), (1, 6000 + (256 << 10) + 1, 6000 + (256 << 10) + 101, 1), (2, 0, 10, 1)]);
    }

    #[test]
    fn a_read_stops_at_its_longest() {
        let chunks: Vec<ChunkPointer> = (0..20).map(|i| ptr(1, i * (1 << 20), 1 << 20, i as u8)).collect();
        let mut by_pack = BTreeMap::new();
        by_pack.insert(ObjectId([1; 32]), chunks);
        let got: Vec<usize> = spans(by_pack).iter().map(|s| s.chunks.len()).collect();
        assert_eq!(got, vec![8, 8, 4]);
    }
}
