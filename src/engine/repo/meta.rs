//! Small metadata objects padded to one size class (`len:u32 || bytes || zeros`): reading them, and CBOR.

use serde::Serialize;

pub(super) fn unpad_meta(v: &[u8]) -> Option<&[u8]> {
    let n = u32::from_le_bytes(v.get(..4)?.try_into().ok()?) as usize;
    v.get(4..4 + n)
}

pub(super) fn cbor<T: Serialize>(t: &T) -> Vec<u8> {
    let mut v = Vec::new();
    ciborium::into_writer(t, &mut v).expect("CBOR encoding into memory cannot fail");
    v
}
