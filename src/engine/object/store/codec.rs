//! The encoding of a chunk's plaintext before sealing: `encoding || raw_len:u32 || body`, the body zstd-compressed
//! when that saves space, or (index nodes gc moved, see [`encode_delta`]) compressed against another node of the
//! same pack. Compressors are kept per thread.

use super::spare::Spares;
use std::cell::RefCell;

const ENC_RAW: u8 = 0;
const ENC_ZSTD: u8 = 1;
const ENC_DELTA: u8 = 2;
const ENC_HEADER: usize = 5;
/// Bytes naming a delta's base after the header: `offset:u32 || len:u32 || chunk id (32)`.
const BASE_LEN: usize = 40;

thread_local! {
    static COMPRESSOR: RefCell<Option<(i32, zstd::bulk::Compressor<'static>)>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}

fn compress(level: i32, data: &[u8]) -> Option<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.as_ref().map(|(l, _)| *l) != Some(level) {
            *c = Some((level, zstd::bulk::Compressor::new(level).ok()?));
        }
        let (_, comp) = c.as_mut()?;
        comp.compress(data).ok()
    })
}

/// Decompress `data`, which must come to `raw_len` bytes, into `out` (whatever it held is dropped; only its
/// allocation is reused, and nothing is zeroed first). `None` if it is not a zstd frame of that length.
fn decompress_into(data: &[u8], raw_len: usize, mut out: Vec<u8>) -> Option<Vec<u8>> {
    out.clear();
    out.reserve_exact(raw_len);
    let n = DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().ok()?);
        }
        // Writes into `out`'s spare room (at least `raw_len` bytes) and sets its length.
        d.as_mut()?.decompress_to_buffer(data, &mut out).ok()
    })?;
    (n == raw_len).then_some(out)
}

/// Chunks below this many bytes (whole small files and values, index nodes) are compressed one level higher than
/// the repository's level: on inputs this small zstd's next level costs about the same time and, on source text,
/// takes about 8 % fewer bytes (level 3 against the default 2), where on large chunks it costs a third more CPU for
/// about 1 %.
pub(super) const SMALL_CHUNK: usize = 128 << 10;

/// The zstd level a chunk of `len` bytes is compressed at, for a repository's `level` (0: none).
pub(super) fn level_for(level: i32, len: usize) -> i32 {
    if level > 0 && len < SMALL_CHUNK {
        (level + 1).min(*zstd::compression_level_range().end())
    } else {
        level
    }
}

/// `encoding || raw_len:u32 || body`, compressed when that saves space, after `room` zero bytes.
pub(super) fn encode_with_room(level: i32, plain: &[u8], room: usize) -> Vec<u8> {
    let level = level_for(level, plain.len());
    let compressed = if level > 0 && plain.len() > 64 { compress(level, plain) } else { None };
    let (enc, body) = match &compressed {
        Some(c) if c.len() < plain.len() => (ENC_ZSTD, c.as_slice()),
        _ => (ENC_RAW, plain),
    };
    let mut out = Vec::with_capacity(room + ENC_HEADER + body.len() + 16);
    out.resize(room, 0);
    out.push(enc);
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
pub(super) fn encode(level: i32, plain: &[u8]) -> Vec<u8> {
    encode_with_room(level, plain, 0)
}

/// The plaintext encoded in `buf[range]`, as a buffer and where in it the plaintext starts (it runs to the end);
/// `None` if it does not decode. A chunk stored uncompressed stays where it is in `buf` (not copied); a compressed
/// one is decompressed into a buffer from `spares`, and `buf` is given back to them.
pub(super) fn decode_in(mut buf: Vec<u8>, range: std::ops::Range<usize>, spares: &Spares) -> Option<(Vec<u8>, usize)> {
    let payload = buf.get(range.clone())?;
    if payload.len() < ENC_HEADER {
        return None;
    }
    let raw_len = u32::from_le_bytes(payload[1..5].try_into().ok()?) as usize;
    match payload[0] {
        ENC_ZSTD if raw_len <= crate::engine::format::MAX_CHUNK_PLAIN => {
            let out = decompress_into(&payload[ENC_HEADER..], raw_len, spares.take_any(raw_len));
            spares.give(buf);
            out.map(|v| (v, 0))
        }
        ENC_RAW if raw_len == payload.len() - ENC_HEADER => {
            buf.truncate(range.end);
            Some((buf, range.start + ENC_HEADER))
        }
        _ => None,
    }
}

/// Where a delta's base lies in the delta's own pack: its offset, sealed length and chunk id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Base {
    pub offset: u32,
    pub len: u32,
    pub id: crate::engine::id::ChunkId,
}

impl Base {
    /// The base's pointer, in pack `object` (the delta's).
    pub(crate) fn at(&self, object: crate::engine::id::ObjectId) -> crate::engine::object::ChunkPointer {
        crate::engine::object::ChunkPointer { object, offset: self.offset, len: self.len, id: self.id }
    }
}

/// `encoding || raw_len:u32 || base || body`: `plain` compressed by zstd at `level` with `base_plain` (the
/// plaintext of the chunk `base` names, in the same pack) as its dictionary, after `room` zero bytes. An index node
/// next to a node of an adjacent version of the same keys is mostly the same bytes: what differs is all this stores.
pub(crate) fn encode_delta(level: i32, plain: &[u8], base: &Base, base_plain: &[u8], room: usize) -> Option<Vec<u8>> {
    let mut c = zstd::bulk::Compressor::with_dictionary(level.max(1), base_plain).ok()?;
    let body = c.compress(plain).ok()?;
    let mut out = Vec::with_capacity(room + ENC_HEADER + BASE_LEN + body.len() + 16);
    out.resize(room, 0);
    out.push(ENC_DELTA);
    out.extend_from_slice(&(plain.len() as u32).to_le_bytes());
    out.extend_from_slice(&base.offset.to_le_bytes());
    out.extend_from_slice(&base.len.to_le_bytes());
    out.extend_from_slice(&base.id.0);
    out.extend_from_slice(&body);
    Some(out)
}

/// The base a payload is stored against, if it is a delta (`Err` if it says it is one but is cut short).
pub(crate) fn delta_base(payload: &[u8]) -> Result<Option<Base>, ()> {
    if payload.first() != Some(&ENC_DELTA) {
        return Ok(None);
    }
    let b = payload.get(ENC_HEADER..ENC_HEADER + BASE_LEN).ok_or(())?;
    let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"));
    Ok(Some(Base { offset: u32_at(0), len: u32_at(4), id: crate::engine::id::ChunkId(b[8..].try_into().expect("32")) }))
}

/// The plaintext of delta `payload`, given its base's plaintext; `None` if it does not decode to the length it
/// says.
pub(crate) fn decode_delta(payload: &[u8], base_plain: &[u8]) -> Option<Vec<u8>> {
    if payload.first() != Some(&ENC_DELTA) || payload.len() < ENC_HEADER + BASE_LEN {
        return None;
    }
    let raw_len = u32::from_le_bytes(payload[1..5].try_into().ok()?) as usize;
    if raw_len > crate::engine::format::MAX_CHUNK_PLAIN {
        return None;
    }
    let mut d = zstd::bulk::Decompressor::with_dictionary(base_plain).ok()?;
    let mut out = Vec::with_capacity(raw_len);
    let n = d.decompress_to_buffer(&payload[ENC_HEADER + BASE_LEN..], &mut out).ok()?;
    (n == raw_len).then_some(out)
}

#[cfg(test)]
pub(super) fn decode(payload: &[u8]) -> Option<Vec<u8>> {
    if payload.len() < ENC_HEADER {
        return None;
    }
    let raw_len = u32::from_le_bytes(payload[1..5].try_into().ok()?) as usize;
    if raw_len > crate::engine::format::MAX_CHUNK_PLAIN {
        return None;
    }
    let body = &payload[ENC_HEADER..];
    let out = match payload[0] {
        ENC_RAW => body.to_vec(),
        ENC_ZSTD => decompress_into(body, raw_len, Vec::new())?,
        _ => return None,
    };
    (out.len() == raw_len).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_round_trip() {
        for data in [vec![], vec![1u8], vec![0u8; 100_000], (0..5000u32).map(|i| i as u8).collect()] {
            assert_eq!(decode(&encode(3, &data)).unwrap(), data);
            assert_eq!(decode(&encode(0, &data)).unwrap(), data);
        }
        assert!(decode(&[9, 0, 0, 0, 0]).is_none());
        // Within a larger buffer, either encoding.
        for level in [0, 3] {
            let data: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
            let mut buf = vec![7u8; 100];
            buf.extend_from_slice(&encode(level, &data));
            let end = buf.len();
            buf.extend_from_slice(&[9u8; 16]);
            let spares = Spares::default();
            let plain = |(v, at): (Vec<u8>, usize)| v[at..].to_vec();
            assert_eq!(decode_in(buf.clone(), 100..end, &spares).map(plain).unwrap(), data);
            assert!(decode_in(buf.clone(), 100..end - 1, &spares).is_none(), "a payload shorter than its length says");
            // Into a spare buffer holding other bytes, longer and shorter than the chunk.
            for stale in [vec![1u8; 9000], vec![2u8; 10]] {
                spares.give(stale);
                assert_eq!(decode_in(buf.clone(), 100..end, &spares).map(plain).unwrap(), data);
            }
        }
    }

    /// Lines of words, as source files are.
    fn text(len: usize) -> Vec<u8> {
        let words = ["fn", "let", "mut", "self", "match", "impl", "value", "index", "commit", "Some", "None"];
        let (mut out, mut x) = (Vec::new(), 7u64);
        while out.len() < len {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            out.extend_from_slice(words[(x >> 33) as usize % words.len()].as_bytes());
            out.push(if (x >> 40) % 9 == 0 { b'\n' } else { b' ' });
        }
        out.truncate(len);
        out
    }

    #[test]
    fn a_small_chunk_is_compressed_one_level_higher_than_a_large_one() {
        let zstd_len = |level: i32, data: &[u8]| zstd::bulk::compress(data, level).unwrap().len() + ENC_HEADER;
        let small = text(8 << 10);
        assert_eq!(encode(2, &small).len(), zstd_len(3, &small));
        assert!(zstd_len(3, &small) < zstd_len(2, &small), "the higher level takes fewer bytes here");
        let large = text(SMALL_CHUNK);
        assert_eq!(encode(2, &large).len(), zstd_len(2, &large));
        assert_eq!(decode(&encode(2, &small)).unwrap(), small);
        // No compression stays none; the highest level stays the highest.
        assert_eq!(level_for(0, 100), 0);
        let top = *zstd::compression_level_range().end();
        assert_eq!(level_for(top, 100), top);
    }

    #[test]
    fn payloads_that_lie_do_not_decode_into_spare_buffers() {
        let data: Vec<u8> = (0..50_000u32).map(|i| (i % 7) as u8).collect();
        let z = encode(3, &data);
        assert_eq!(z[0], ENC_ZSTD);
        let spares = Spares::default();
        spares.give(vec![1u8; 100_000]);
        let len = |p: &mut Vec<u8>, n: u32| p[1..5].copy_from_slice(&n.to_le_bytes());
        let mut cases = Vec::new();
        // A body that is not zstd, one cut short, and lengths that are not the frame's or are beyond any chunk.
        let mut garbage = z.clone();
        garbage[ENC_HEADER..].fill(0x5a);
        cases.push(garbage);
        cases.push(z[..z.len() - 3].to_vec());
        for n in [data.len() as u32 - 1, data.len() as u32 + 1, crate::engine::format::MAX_CHUNK_PLAIN as u32 + 1] {
            let mut p = z.clone();
            len(&mut p, n);
            cases.push(p);
        }
        // A raw chunk whose length is not its body's.
        let mut raw = encode(0, &data);
        len(&mut raw, data.len() as u32 + 1);
        cases.push(raw);
        for (i, p) in cases.into_iter().enumerate() {
            let end = p.len();
            assert!(decode_in(p, 0..end, &spares).is_none(), "case {i}");
        }
        // A good one still decodes after them.
        let end = z.len();
        assert_eq!(decode_in(z, 0..end, &spares).map(|(v, at)| v[at..].to_vec()).unwrap(), data);
    }

    /// A node stored against a nearly equal one takes a fraction of its bytes, decodes only with that base, and is
    /// never taken for a whole chunk.
    #[test]
    fn a_delta_stores_what_differs_from_its_base_and_needs_it_to_decode() {
        let base_plain = text(12 << 10);
        let mut plain = base_plain.clone();
        for i in (0..plain.len()).step_by(700) {
            plain[i] ^= 0x55;
        }
        let base = Base { offset: 17, len: 4000, id: crate::engine::id::ChunkId([3; 32]) };
        let delta = encode_delta(3, &plain, &base, &base_plain, 0).unwrap();
        assert!(delta.len() * 4 < encode(3, &plain).len(), "{} against {}", delta.len(), encode(3, &plain).len());
        assert_eq!(delta_base(&delta), Ok(Some(base)));
        assert_eq!(decode_delta(&delta, &base_plain).unwrap(), plain);
        // With another base it does not decode to the same bytes (or at all).
        assert_ne!(decode_delta(&delta, &text(5000)), Some(plain.clone()));
        // A delta is not a chunk that decodes on its own; a whole chunk names no base; a cut one is refused.
        let end = delta.len();
        assert!(decode_in(delta.clone(), 0..end, &Spares::default()).is_none());
        assert_eq!(delta_base(&encode(3, &plain)), Ok(None));
        assert_eq!(delta_base(&delta[..20]), Err(()));
        assert!(decode_delta(&delta[..end - 3], &base_plain).is_none());
        // With room before it, as a chunk is sealed in place.
        let roomy = encode_delta(3, &plain, &base, &base_plain, 9).unwrap();
        assert_eq!(&roomy[9..], &delta[..]);
    }
}
