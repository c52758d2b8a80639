//! The namespace: the key -> value map the command line works on, one [`VersionedMap`] of [`Entry`]s.

use crate::engine::chunk::{Blob, BlobWriter, WriteOptions};
use crate::engine::fields::VersionedMap;
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::sync::Arc;

/// A stored value and what is known about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value.
    pub blob: Blob,
    /// Modification time of the file it came from, seconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime: Option<u64>,
}

impl Entry {
    /// Value length in bytes.
    pub fn size(&self) -> u64 {
        self.blob.size()
    }
}

/// The namespace field.
pub type Namespace = VersionedMap<String, Entry>;

/// Name of the namespace field in a commit's index.
pub const FIELD: &str = "namespace";

/// An index holding just the namespace.
#[derive(Default)]
pub struct NamespaceIndex {
    /// The namespace.
    pub ns: Namespace,
}

impl crate::engine::fields::Index for NamespaceIndex {
    fn fields(&self) -> Vec<(&'static str, &dyn crate::engine::fields::Field)> {
        vec![(FIELD, &self.ns)]
    }
}

/// Validate a key: non-empty UTF-8 without NUL, at most 4096 bytes.
pub fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 4096 || key.contains('\0') {
        return Err(Error::Invalid(format!("invalid key {key:?}: keys are 1-4096 bytes without NUL")));
    }
    Ok(())
}

/// Store everything `input` yields as a value. `progress` is called with the bytes read so far.
pub fn store_value(store: &Arc<Store>, input: &mut dyn Read, progress: &mut dyn FnMut(u64)) -> Result<Entry> {
    let mut w = BlobWriter::new(store.clone(), WriteOptions::default());
    w.write_from(input, progress)?;
    Ok(Entry { blob: w.finish()?, mtime: None })
}
