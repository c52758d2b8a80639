//! Padded metadata (the one padding helper, also used by the header and key-slot codecs): small objects (the header, key slots) and the plaintext of sealed refs are stored as
//! `len:u32 || bytes || zeros`, padded to a size class so their size says nothing about their content.

use crate::engine::format::{META_CLASS, SEAL_OVERHEAD};
use crate::engine::{Error, Result};
use serde::Serialize;

/// `len:u32 || bytes || zeros`, `total` bytes long; `None` if `bytes` do not fit. The one padding helper: every
/// padded object is built here.
pub(super) fn pad_to(bytes: &[u8], total: usize) -> Option<Vec<u8>> {
    if bytes.len() + 4 > total {
        return None;
    }
    let mut v = Vec::with_capacity(total);
    v.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    v.extend_from_slice(bytes);
    v.resize(total, 0);
    Some(v)
}

/// Small metadata stored as it is (the header, key slots), padded to [`META_CLASS`].
pub(crate) fn pad_meta(bytes: &[u8]) -> Result<Vec<u8>> {
    pad_to(bytes, META_CLASS).ok_or_else(|| Error::Invalid("metadata too large".into()))
}

/// The plaintext of a sealed object holding `bytes`, padded so that the sealed object is the smallest size class
/// ([`META_CLASS`], then the pack classes) that fits it.
pub(crate) fn pad_for_seal(bytes: &[u8]) -> Vec<u8> {
    let need = bytes.len() + 4 + SEAL_OVERHEAD;
    let class = if need <= META_CLASS { META_CLASS } else { crate::engine::format::pack_class(need) };
    pad_to(bytes, class - SEAL_OVERHEAD).expect("the class was chosen to fit")
}

/// The bytes of padded metadata; `None` if the length prefix is out of range.
pub(crate) fn unpad_meta(v: &[u8]) -> Option<&[u8]> {
    let n = u32::from_le_bytes(v.get(..4)?.try_into().ok()?) as usize;
    v.get(4..4usize.checked_add(n)?)
}

pub(super) fn cbor<T: Serialize>(t: &T) -> Vec<u8> {
    let mut v = Vec::new();
    ciborium::into_writer(t, &mut v).expect("CBOR encoding into memory cannot fail");
    v
}
