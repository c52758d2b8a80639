//! The dedup index's sorted file in a workspace cache: the chunks of every pack the index knew at its last merge,
//! sorted by id into sealed blocks, so that a command looks a chunk up by reading one block instead of loading the
//! whole index. A Bloom filter in the footer answers most lookups of new chunks without reading a block.
//!
//! ```text
//! file   = magic:"INFINIX1" || nonce:16 || block* || footer || footer_len:u32 || "IXF1"
//! block  = sealed(Workspace, place = "chunk-index-block" || nonce || block number:u32, entry*)
//! entry  = id:32 || kind:u8 || pack number:u32 || offset:u32 || len:u32     (45 bytes; sorted by id, then kind)
//! footer = sealed(Workspace, place = "chunk-index-meta" || nonce,
//!            entries:u64 || packs:u32 || blocks:u32 || bloom words:u32 || bloom hashes:u32
//!            || pack id:32 * packs || (first id:32 || offset:u64 || sealed len:u32) * blocks || word:u64 * words)
//! ```
//!
//! The nonce and the block number bind each block to its file and place, so blocks cannot be swapped. Integers are
//! little-endian. The file is only a cache: a damaged or foreign file reads as absent (or a damaged block as a miss),
//! and whatever it lacked is read again from the repository's pack tables.

use crate::engine::crypto::{random_bytes, Keys, Kind};
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::{Error, Result};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"INFINIX1";
const TRAILER: &[u8; 4] = b"IXF1";
const HEAD: usize = 8 + 16;
const ENTRY: usize = 45;
/// Entries per block: about 8 KiB of plaintext, one read and one decryption per lookup.
const BLOCK_ENTRIES: usize = 180;
const BLOOM_BITS_PER_ENTRY: usize = 10;
const BLOOM_HASHES: u32 = 7;

/// An entry with its pack named: `(id, kind, pack, offset, len)`.
pub type Row = (ChunkId, u8, ObjectId, u32, u32);

/// One entry as stored: a chunk, its kind, and where it lies (the pack by its number in the file's pack list).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The chunk's id.
    pub id: ChunkId,
    /// Its kind ([`Kind`] as a byte).
    pub kind: u8,
    /// The pack, as its place in [`SortedIndex::packs`].
    pub pack: u32,
    /// Offset of the sealed chunk in the pack.
    pub offset: u32,
    /// Sealed length.
    pub len: u32,
}

impl Entry {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.id.0);
        out.push(self.kind);
        out.extend_from_slice(&self.pack.to_le_bytes());
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.len.to_le_bytes());
    }

    fn decode(b: &[u8]) -> Entry {
        let u = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
        Entry {
            id: ChunkId(b[..32].try_into().expect("32 bytes")),
            kind: b[32],
            pack: u(33),
            offset: u(37),
            len: u(41),
        }
    }
}

struct BlockRef {
    first: ChunkId,
    offset: u64,
    len: u32,
}

/// A Bloom filter over chunk ids. Ids are keyed hashes, so their bytes serve as the hash functions' input directly.
struct Bloom {
    words: Vec<u64>,
    hashes: u32,
}

impl Bloom {
    fn with_capacity(entries: usize) -> Bloom {
        let words = (entries.max(1) * BLOOM_BITS_PER_ENTRY).div_ceil(64).max(1);
        Bloom { words: vec![0; words], hashes: BLOOM_HASHES }
    }

    fn positions(&self, id: &ChunkId) -> impl Iterator<Item = usize> {
        let h1 = u64::from_le_bytes(id.0[..8].try_into().expect("8 bytes"));
        let h2 = u64::from_le_bytes(id.0[8..16].try_into().expect("8 bytes")) | 1;
        let bits = self.words.len() as u64 * 64;
        (0..self.hashes as u64).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % bits) as usize)
    }

    fn insert(&mut self, id: &ChunkId) {
        for p in self.positions(id).collect::<Vec<_>>() {
            self.words[p / 64] |= 1 << (p % 64);
        }
    }

    fn may_contain(&self, id: &ChunkId) -> bool {
        self.positions(id).all(|p| self.words[p / 64] & (1 << (p % 64)) != 0)
    }
}

fn block_place(nonce: &[u8; 16], n: u32) -> Vec<u8> {
    [&b"chunk-index-block"[..], nonce, &n.to_le_bytes()].concat()
}

fn meta_place(nonce: &[u8; 16]) -> Vec<u8> {
    [&b"chunk-index-meta"[..], nonce].concat()
}

fn damaged(what: &str) -> Error {
    Error::integrity(format!("the dedup index's sorted file: {what}"))
}

/// The sorted file, open: its pack list, block fences and Bloom filter in memory, its blocks read on demand.
pub struct SortedIndex {
    file: File,
    nonce: [u8; 16],
    entries: u64,
    packs: Vec<ObjectId>,
    blocks: Vec<BlockRef>,
    bloom: Bloom,
}

impl SortedIndex {
    /// Open the file at `path`. A missing, foreign or damaged file gives `None`.
    pub fn open(path: &Path, keys: &Keys) -> Option<SortedIndex> {
        let file = crate::engine::local_file::open_regular(path).ok()?;
        let size = file.metadata().ok()?.len();
        if size < (HEAD + 8) as u64 {
            return None;
        }
        let mut head = [0u8; HEAD];
        file.read_exact_at(&mut head, 0).ok()?;
        if &head[..8] != MAGIC {
            return None;
        }
        let nonce: [u8; 16] = head[8..].try_into().expect("16 bytes");
        let mut tail = [0u8; 8];
        file.read_exact_at(&mut tail, size - 8).ok()?;
        if &tail[4..] != TRAILER {
            return None;
        }
        let footer_len = u32::from_le_bytes(tail[..4].try_into().expect("4 bytes")) as u64;
        let footer_at = size.checked_sub(8 + footer_len).filter(|a| *a >= HEAD as u64)?;
        let mut sealed = vec![0u8; footer_len as usize];
        file.read_exact_at(&mut sealed, footer_at).ok()?;
        let range = keys.open_in_place(Kind::Workspace, &meta_place(&nonce), &mut sealed).ok()?;
        let plain = &sealed[range];
        let mut r = Reader { b: plain, at: 0 };
        let entries = r.u64()?;
        let (npacks, nblocks, nwords, hashes) = (r.u32()?, r.u32()?, r.u32()?, r.u32()?);
        let packs = (0..npacks).map(|_| r.id().map(ObjectId)).collect::<Option<Vec<_>>>()?;
        let blocks = (0..nblocks)
            .map(|_| Some(BlockRef { first: ChunkId(r.id()?), offset: r.u64()?, len: r.u32()? }))
            .collect::<Option<Vec<_>>>()?;
        let words = (0..nwords).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
        if words.is_empty() || hashes == 0 || r.at != plain.len() {
            return None;
        }
        Some(SortedIndex { file, nonce, entries, packs, blocks, bloom: Bloom { words, hashes } })
    }

    /// How many entries the file holds.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The packs its entries lie in.
    pub fn packs(&self) -> &[ObjectId] {
        &self.packs
    }

    /// The entries of block `n`, in order.
    pub fn read_block(&self, keys: &Keys, n: usize) -> Result<Vec<Entry>> {
        let b = self.blocks.get(n).ok_or_else(|| damaged("no such block"))?;
        let mut sealed = vec![0u8; b.len as usize];
        self.file
            .read_exact_at(&mut sealed, b.offset)
            .map_err(|e| Error::io("reading the dedup index's sorted file".to_string(), e))?;
        let range = keys.open_in_place(Kind::Workspace, &block_place(&self.nonce, n as u32), &mut sealed)?;
        let plain = &sealed[range];
        if plain.is_empty() || !plain.len().is_multiple_of(ENTRY) {
            return Err(damaged("a block of a wrong length"));
        }
        let entries: Vec<Entry> = plain.chunks_exact(ENTRY).map(Entry::decode).collect();
        if entries[0].id != b.first || entries.iter().any(|e| e.pack as usize >= self.packs.len()) {
            return Err(damaged("a block that does not match its fence"));
        }
        Ok(entries)
    }

    /// Every entry, in order, as `(id, kind, pack, offset, len)`, read block by block. A block that cannot be read
    /// or does not authenticate is an error (and ends the rows).
    pub fn rows<'a>(&'a self, keys: &'a Keys) -> impl Iterator<Item = Result<Row>> + 'a {
        let mut failed = false;
        (0..self.blocks.len()).flat_map(move |n| {
            let rows: Vec<Result<Row>> = match (failed, self.read_block(keys, n)) {
                (true, _) => Vec::new(),
                (false, Ok(es)) => {
                    es.iter().map(|e| Ok((e.id, e.kind, self.packs[e.pack as usize], e.offset, e.len))).collect()
                }
                (false, Err(e)) => {
                    failed = true;
                    vec![Err(e)]
                }
            };
            rows
        })
    }

    /// Where the chunk `id` of `kind` lies, if the file holds it: (pack, offset, sealed length). A block that cannot
    /// be read or does not authenticate reads as holding nothing.
    pub fn lookup(&self, keys: &Keys, kind: u8, id: &ChunkId) -> Option<(ObjectId, u32, u32)> {
        if !self.bloom.may_contain(id) {
            return None;
        }
        // Entries of one id (of different kinds) may continue from one block into the next: look back while the
        // block starts with the id.
        let mut n = self.blocks.partition_point(|b| b.first <= *id);
        while n > 0 {
            n -= 1;
            let entries = self.read_block(keys, n).ok()?;
            let from = entries.partition_point(|e| e.id < *id);
            if let Some(e) = entries[from..].iter().take_while(|e| e.id == *id).find(|e| e.kind == kind) {
                return Some((self.packs[e.pack as usize], e.offset, e.len));
            }
            if self.blocks[n].first != *id {
                break;
            }
        }
        None
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let s = self.b.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(s)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn id(&mut self) -> Option<[u8; 32]> {
        self.take(32)?.try_into().ok()
    }
}

/// Writes a sorted file from entries given in order (by id, then kind), into a temporary file renamed over the
/// destination by [`SortedWriter::finish`].
pub struct SortedWriter<'k> {
    keys: &'k Keys,
    tmp: PathBuf,
    out: BufWriter<File>,
    nonce: [u8; 16],
    at: u64,
    entries: u64,
    packs: Vec<ObjectId>,
    pack_numbers: HashMap<ObjectId, u32>,
    blocks: Vec<BlockRef>,
    block: Vec<Entry>,
    bloom: Bloom,
    last: Option<(ChunkId, u8)>,
}

impl<'k> SortedWriter<'k> {
    /// Start a file that will end up at `path`, sizing its Bloom filter for about `capacity` entries.
    pub fn create(path: &Path, keys: &'k Keys, capacity: usize) -> Result<SortedWriter<'k>> {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = path.with_file_name(format!("{name}.{}.tmp", hex::encode(random_bytes::<6>())));
        let file = File::create(&tmp).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        let nonce = random_bytes::<16>();
        let mut out = BufWriter::with_capacity(1 << 20, file);
        let head = [&MAGIC[..], &nonce].concat();
        out.write_all(&head).map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        Ok(SortedWriter {
            keys,
            tmp,
            out,
            nonce,
            at: HEAD as u64,
            entries: 0,
            packs: Vec::new(),
            pack_numbers: HashMap::new(),
            blocks: Vec::new(),
            block: Vec::with_capacity(BLOCK_ENTRIES),
            bloom: Bloom::with_capacity(capacity),
            last: None,
        })
    }

    fn io(&self, e: std::io::Error) -> Error {
        Error::io(format!("writing {}", self.tmp.display()), e)
    }

    /// Add the chunk `id` of `kind`, in `pack` at `offset`, `len` bytes long. Entries must come in order of (id,
    /// kind); one equal to the last is skipped.
    pub fn push(&mut self, id: ChunkId, kind: u8, pack: ObjectId, offset: u32, len: u32) -> Result<()> {
        if let Some(last) = self.last {
            if (id, kind) == last {
                return Ok(());
            }
            if (id, kind) < last {
                return Err(Error::internal("the dedup index's entries out of order"));
            }
        }
        self.last = Some((id, kind));
        let next = self.packs.len() as u32;
        let number = *self.pack_numbers.entry(pack).or_insert(next);
        if number == next {
            self.packs.push(pack);
        }
        self.bloom.insert(&id);
        self.block.push(Entry { id, kind, pack: number, offset, len });
        self.entries += 1;
        if self.block.len() == BLOCK_ENTRIES {
            self.seal_block()?;
        }
        Ok(())
    }

    fn seal_block(&mut self) -> Result<()> {
        let Some(first) = self.block.first().map(|e| e.id) else { return Ok(()) };
        let mut plain = Vec::with_capacity(self.block.len() * ENTRY);
        for e in self.block.drain(..) {
            e.encode(&mut plain);
        }
        let sealed = self.keys.seal(Kind::Workspace, &block_place(&self.nonce, self.blocks.len() as u32), &plain);
        self.out.write_all(&sealed).map_err(|e| self.io(e))?;
        self.blocks.push(BlockRef { first, offset: self.at, len: sealed.len() as u32 });
        self.at += sealed.len() as u64;
        Ok(())
    }

    /// Write the footer and put the file in place of `path`. Returns it, open.
    pub fn finish(mut self, path: &Path) -> Result<SortedIndex> {
        self.seal_block()?;
        let mut plain =
            Vec::with_capacity(24 + self.packs.len() * 32 + self.blocks.len() * 44 + self.bloom.words.len() * 8);
        plain.extend_from_slice(&self.entries.to_le_bytes());
        for n in [self.packs.len(), self.blocks.len(), self.bloom.words.len()] {
            plain.extend_from_slice(&(n as u32).to_le_bytes());
        }
        plain.extend_from_slice(&self.bloom.hashes.to_le_bytes());
        for p in &self.packs {
            plain.extend_from_slice(&p.0);
        }
        for b in &self.blocks {
            plain.extend_from_slice(&b.first.0);
            plain.extend_from_slice(&b.offset.to_le_bytes());
            plain.extend_from_slice(&b.len.to_le_bytes());
        }
        for w in &self.bloom.words {
            plain.extend_from_slice(&w.to_le_bytes());
        }
        let sealed = self.keys.seal(Kind::Workspace, &meta_place(&self.nonce), &plain);
        let trailer = [&(sealed.len() as u32).to_le_bytes()[..], TRAILER].concat();
        self.out.write_all(&sealed).and_then(|_| self.out.write_all(&trailer)).map_err(|e| self.io(e))?;
        self.out.flush().map_err(|e| self.io(e))?;
        std::fs::rename(&self.tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
        let file = File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
        Ok(SortedIndex {
            file,
            nonce: self.nonce,
            entries: self.entries,
            packs: std::mem::take(&mut self.packs),
            blocks: std::mem::take(&mut self.blocks),
            bloom: std::mem::replace(&mut self.bloom, Bloom { words: Vec::new(), hashes: 0 }),
        })
    }
}

impl Drop for SortedWriter<'_> {
    fn drop(&mut self) {
        // Unfinished (an error on the way): leave no temporary file behind. After `finish` it is gone already.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::MasterKey;

    fn write(path: &Path, keys: &Keys, mut entries: Vec<(ChunkId, u8, ObjectId, u32, u32)>) -> SortedIndex {
        entries.sort_by_key(|e| (e.0, e.1));
        let mut w = SortedWriter::create(path, keys, entries.len()).unwrap();
        for (id, kind, pack, offset, len) in entries {
            w.push(id, kind, pack, offset, len).unwrap();
        }
        w.finish(path).unwrap()
    }

    #[test]
    fn every_entry_is_found_where_it_was_put_and_absent_ids_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk-index.sorted");
        let keys = Keys::new(MasterKey::generate());
        let packs: Vec<ObjectId> = (0..7).map(|_| ObjectId::random()).collect();
        let mut entries: Vec<_> =
            (0..5000u32).map(|i| (ChunkId::random(), (i % 3) as u8, packs[(i % 7) as usize], i * 10, i + 1)).collect();
        // One id under several kinds, placed to straddle a block boundary.
        let shared = entries[BLOCK_ENTRIES - 1].0;
        for kind in [5u8, 6, 7] {
            entries.push((shared, kind, packs[0], 77, kind as u32));
        }
        let ix = write(&path, &keys, entries.clone());
        assert_eq!(ix.entries(), entries.len() as u64);
        let reopened = SortedIndex::open(&path, &keys).unwrap();
        for ix in [&ix, &reopened] {
            for (id, kind, pack, offset, len) in &entries {
                assert_eq!(ix.lookup(&keys, *kind, id), Some((*pack, *offset, *len)));
            }
            assert_eq!(ix.lookup(&keys, 9, &shared), None, "a kind not stored");
            let mut false_hits = 0;
            for _ in 0..20_000 {
                let id = ChunkId::random();
                assert_eq!(ix.lookup(&keys, 0, &id), None);
                false_hits += ix.bloom.may_contain(&id) as u32;
            }
            assert!(false_hits < 600, "the Bloom filter passes {false_hits} of 20000 absent ids");
        }
        let mut sorted = entries.clone();
        sorted.sort_by_key(|e| (e.0, e.1));
        let read: Vec<Row> = reopened.rows(&keys).collect::<Result<_>>().unwrap();
        assert_eq!(read, sorted, "the blocks hold every entry, in order");
    }

    #[test]
    fn damage_reads_as_absent_or_as_a_miss_never_as_another_pointer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk-index.sorted");
        let keys = Keys::new(MasterKey::generate());
        let pack = ObjectId::random();
        let entries: Vec<_> = (0..1000u32).map(|i| (ChunkId::random(), 1u8, pack, i, 9)).collect();
        write(&path, &keys, entries.clone());
        let good = std::fs::read(&path).unwrap();

        // Another key, a truncated file, garbage: absent.
        assert!(SortedIndex::open(&path, &Keys::new(MasterKey::generate())).is_none());
        std::fs::write(&path, &good[..good.len() - 3]).unwrap();
        assert!(SortedIndex::open(&path, &keys).is_none());
        std::fs::write(&path, b"INFINIX1 and nothing that follows").unwrap();
        assert!(SortedIndex::open(&path, &keys).is_none());

        // A flipped byte in the first block: that block's entries miss, the others are found.
        let mut bad = good.clone();
        bad[HEAD + 100] ^= 1;
        std::fs::write(&path, &bad).unwrap();
        let ix = SortedIndex::open(&path, &keys).unwrap();
        assert!(ix.read_block(&keys, 0).is_err());
        let rows: Vec<Result<Row>> = ix.rows(&keys).collect();
        assert!(rows.len() == 1 && rows[0].is_err(), "the rows end with the damaged block's error");
        let mut found = 0;
        for (id, kind, pack, offset, len) in &entries {
            if let Some(hit) = ix.lookup(&keys, *kind, id) {
                assert_eq!(hit, (*pack, *offset, *len));
                found += 1;
            }
        }
        assert_eq!(found, entries.len() - BLOCK_ENTRIES);

        // Two blocks swapped: neither authenticates in the other's place.
        let ix = SortedIndex::open(&std::path::PathBuf::from(&path), &keys).unwrap();
        let (b0, b1) = (&ix.blocks[0], &ix.blocks[1]);
        assert_eq!(b0.len, b1.len);
        let mut swapped = good.clone();
        let (o0, o1, n) = (b0.offset as usize, b1.offset as usize, b0.len as usize);
        swapped[o0..o0 + n].copy_from_slice(&good[o1..o1 + n]);
        swapped[o1..o1 + n].copy_from_slice(&good[o0..o0 + n]);
        std::fs::write(&path, &swapped).unwrap();
        let ix = SortedIndex::open(&path, &keys).unwrap();
        assert!(ix.read_block(&keys, 0).is_err() && ix.read_block(&keys, 1).is_err());
    }

    #[test]
    fn entries_out_of_order_are_refused_and_leave_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("chunk-index.sorted");
        let keys = Keys::new(MasterKey::generate());
        let mut w = SortedWriter::create(&path, &keys, 2).unwrap();
        let pack = ObjectId::random();
        w.push(ChunkId([2; 32]), 1, pack, 0, 1).unwrap();
        w.push(ChunkId([2; 32]), 1, pack, 0, 1).unwrap();
        assert!(w.push(ChunkId([1; 32]), 1, pack, 0, 1).is_err());
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
