//! The encoding of a chunk's plaintext before sealing: `encoding || raw_len:u32 || body`, the body zstd-compressed
//! when that saves space. Compressors are kept per thread.

use std::cell::RefCell;

const ENC_RAW: u8 = 0;
const ENC_ZSTD: u8 = 1;
const ENC_HEADER: usize = 5;

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

fn decompress(data: &[u8], raw_len: usize) -> Option<Vec<u8>> {
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(zstd::bulk::Decompressor::new().ok()?);
        }
        d.as_mut()?.decompress(data, raw_len).ok()
    })
}

/// `encoding || raw_len:u32 || body`, compressed when that saves space, after `room` zero bytes.
pub(super) fn encode_with_room(level: i32, plain: &[u8], room: usize) -> Vec<u8> {
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

/// [`decode`] of `buf[range]`, reusing `buf` for a chunk stored uncompressed (its bytes are moved to the front
/// rather than copied into a new buffer).
pub(super) fn decode_in(mut buf: Vec<u8>, range: std::ops::Range<usize>) -> Option<Vec<u8>> {
    let payload = buf.get(range.clone())?;
    if payload.len() < ENC_HEADER || payload[0] != ENC_RAW {
        return decode(payload);
    }
    let raw_len = u32::from_le_bytes(payload[1..5].try_into().ok()?) as usize;
    if raw_len != payload.len() - ENC_HEADER {
        return None;
    }
    buf.truncate(range.end);
    buf.drain(..range.start + ENC_HEADER);
    Some(buf)
}

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
        ENC_ZSTD => decompress(body, raw_len)?,
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
            assert_eq!(decode_in(buf.clone(), 100..end).unwrap(), data);
            assert!(decode_in(buf, 100..end - 1).is_none(), "a payload shorter than its length says");
        }
    }
}
