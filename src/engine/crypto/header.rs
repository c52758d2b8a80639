//! The repository's public header (`config`): format version, repository id and creation time, readable without
//! a key, and authenticated with the repository key once it is known.
//!
//! Stored as `len:u32 || "INFINI\0\1" || CBOR {version, id, created, mac} || zeros`, 4096 bytes, where
//! `mac = HMAC(K_meta, "header/" || CBOR [version, id, created])`.

use super::Keys;
use crate::engine::format::{CONFIG_MAGIC, FORMAT_VERSION, META_CLASS};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};

/// Length of the header's authentication tag.
pub const HEADER_MAC_LEN: usize = 32;

/// The public repository header.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Header {
    /// Format version.
    pub version: u32,
    /// Random repository id.
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    /// Creation time, seconds since the epoch.
    pub created: u64,
    /// Authentication tag over the fields above (absent in version 1).
    #[serde(with = "serde_bytes", default)]
    pub mac: Vec<u8>,
}

impl Header {
    /// A new header for the current format, authenticated with `keys`.
    pub fn new(keys: &Keys) -> Self {
        let mut h = Self {
            version: FORMAT_VERSION,
            id: super::random_bytes::<32>().to_vec(),
            created: super::now_secs(),
            mac: Vec::new(),
        };
        h.mac = keys.header_mac(&h.signed_bytes()).to_vec();
        h
    }

    fn signed_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        ciborium::into_writer(&(self.version, serde_bytes::Bytes::new(&self.id), self.created), &mut v)
            .expect("CBOR encoding into memory cannot fail");
        v
    }

    /// Check the header's tag with the repository key: a header changed on storage fails.
    pub fn verify(&self, keys: &Keys) -> Result<()> {
        if keys.verify_header_mac(&self.signed_bytes(), &self.mac) {
            Ok(())
        } else {
            Err(Error::integrity("repository header (config) does not authenticate: it was changed or replaced"))
        }
    }
}

/// Why a header could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    /// Not an infini header at all.
    NotInfini,
    /// An infini header that is damaged.
    Damaged(String),
    /// An infini header of another format version.
    Version(u32),
}

/// The header's stored form.
pub fn encode_header(h: &Header) -> Result<Vec<u8>> {
    let mut body = CONFIG_MAGIC.to_vec();
    ciborium::into_writer(h, &mut body).expect("CBOR encoding into memory cannot fail");
    pad_meta(&body)
}

/// Decode a stored header. Allocates nothing beyond the input's size (at most 4096 bytes are looked at).
pub fn decode_header(raw: &[u8]) -> std::result::Result<Header, HeaderError> {
    let raw = raw.get(..META_CLASS.min(raw.len())).unwrap_or(raw);
    let body = unpad_meta(raw).ok_or_else(|| HeaderError::Damaged("is truncated".into()))?;
    let body = body.strip_prefix(CONFIG_MAGIC.as_slice()).ok_or(HeaderError::NotInfini)?;
    let h: Header = ciborium::from_reader(body).map_err(|e| HeaderError::Damaged(format!("does not decode: {e}")))?;
    if h.version != FORMAT_VERSION {
        return Err(HeaderError::Version(h.version));
    }
    if h.id.len() != 32 || h.mac.len() != HEADER_MAC_LEN {
        return Err(HeaderError::Damaged("is malformed".into()));
    }
    Ok(h)
}

pub(crate) use crate::engine::repo::meta::{pad_meta, unpad_meta};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::MasterKey;

    #[test]
    fn round_trip_and_authentication() {
        let k = Keys::new(MasterKey::generate());
        let h = Header::new(&k);
        let d = decode_header(&encode_header(&h).unwrap()).unwrap();
        d.verify(&k).unwrap();
        let mut changed = d.clone();
        changed.created += 1;
        assert!(changed.verify(&k).is_err());
        let other = Keys::new(MasterKey::generate());
        assert!(d.verify(&other).is_err());
        let mut old = h.clone();
        old.version = 1;
        assert_eq!(decode_header(&encode_header(&old).unwrap()).unwrap_err(), HeaderError::Version(1));
        assert_eq!(decode_header(&[0; 4096]).unwrap_err(), HeaderError::NotInfini);
        assert!(matches!(decode_header(&[0xff; 4096]), Err(HeaderError::Damaged(_))));
    }
}
