//! Small metadata objects (the header, key slots) padded to one size class: `len:u32 || bytes || zeros`.

use crate::engine::format::META_CLASS;
use crate::engine::{Error, Result};
use serde::Serialize;

/// Store small metadata padded to [`META_CLASS`]: `len:u32 || bytes || zeros`.
pub(super) fn pad_meta(bytes: &[u8]) -> Result<Vec<u8>> {
    if bytes.len() + 4 > META_CLASS {
        return Err(Error::Invalid("metadata too large".into()));
    }
    let mut v = Vec::with_capacity(META_CLASS);
    v.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    v.extend_from_slice(bytes);
    v.resize(META_CLASS, 0);
    Ok(v)
}

pub(super) fn unpad_meta(v: &[u8]) -> Option<&[u8]> {
    let n = u32::from_le_bytes(v.get(..4)?.try_into().ok()?) as usize;
    v.get(4..4 + n)
}

pub(super) fn cbor<T: Serialize>(t: &T) -> Vec<u8> {
    let mut v = Vec::new();
    ciborium::into_writer(t, &mut v).expect("CBOR encoding into memory cannot fail");
    v
}
