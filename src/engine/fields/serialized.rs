//! [`Serialized`]: any serde value as a field, stored whole at each commit that changes it.
//!
//! ```
//! use infini::backends::MemoryBackend;
//! use infini::{fields::Serialized, Error, Infinitree, KdfParams};
//! use infini::{Repository, StoreOptions};
//! use std::sync::Arc;
//! # fn main() -> infini::Result<()> {
//! let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
//! let repo = Arc::new(Repository::create(Arc::new(MemoryBackend::new()), b"pw", kdf, StoreOptions::default())?);
//! let mut a = Infinitree::<Serialized<Vec<String>>>::open(repo.clone(), "main")?;
//! a.index().set(vec!["dark mode".into()]);
//! a.commit("settings")?;
//!
//! // Two writers load the same version and both change the value: the second commit is a conflict, not a
//! // silent overwrite.
//! let mut b = Infinitree::<Serialized<Vec<String>>>::open(repo.clone(), "main")?;
//! a.index().set(vec!["light mode".into()]);
//! b.index().set(vec!["large fonts".into()]);
//! a.commit("light")?;
//! assert!(matches!(b.commit("fonts"), Err(Error::MergeConflict { .. })));
//! # Ok(()) }
//! ```

use super::{Field, Tracer};
use crate::engine::chunk::{copy_range, Blob, BlobWriter};
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A value of type `T`, replaced as a whole.
///
/// Stored as one blob (the CBOR encoding of the value, chunked like any stream); the field's root is the CBOR of
/// that [`Blob`]. A commit that did not [`set`](Serialized::set) the value keeps whatever the branch holds. A commit
/// that did, on a branch where another writer changed the value since it was loaded, fails with
/// [`Error::MergeConflict`] (unless both wrote the same value): whole values cannot be merged.
pub struct Serialized<T> {
    value: RwLock<T>,
    /// The root this value was loaded from (`None`: the field did not exist).
    base: RwLock<Option<Vec<u8>>>,
    dirty: AtomicBool,
}

impl<T: Default> Default for Serialized<T> {
    fn default() -> Self {
        Self { value: RwLock::new(T::default()), base: RwLock::new(None), dirty: AtomicBool::new(false) }
    }
}

/// An independent copy of the value and of the version it was loaded from.
impl<T: Clone> Clone for Serialized<T> {
    fn clone(&self) -> Self {
        Self {
            value: RwLock::new(self.value.read().expect("field lock").clone()),
            base: RwLock::new(self.base.read().expect("field lock").clone()),
            dirty: AtomicBool::new(self.dirty.load(Ordering::SeqCst)),
        }
    }
}

impl<T: Clone> Serialized<T> {
    /// The current value.
    pub fn get(&self) -> T {
        self.value.read().expect("field lock").clone()
    }
}

impl<T: Clone + Serialize> Serialized<T> {
    /// The difference from this value to `newer`'s (two versions of one field, e.g. from
    /// [`Infinitree::at`](crate::engine::db::Infinitree::at)): `Some((old, new))` when their encodings differ.
    pub fn diff(&self, newer: &Self) -> Option<(T, T)> {
        let (old, new) = (self.get(), newer.get());
        (super::map::encode_value(&old) != super::map::encode_value(&new)).then_some((old, new))
    }
}

impl<T> Serialized<T> {
    /// Replace the value (staged until commit).
    pub fn set(&self, v: T) {
        *self.value.write().expect("field lock") = v;
        self.dirty.store(true, Ordering::SeqCst);
    }

    /// Change the value in place (staged until commit); returns what `f` returns.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut v = self.value.write().expect("field lock");
        self.dirty.store(true, Ordering::SeqCst);
        f(&mut v)
    }

    /// Read the value in place.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.value.read().expect("field lock"))
    }
}

/// Decode a whole-value root (a [`Blob`]) and read its bytes.
pub(crate) fn read_blob_root(store: &Arc<Store>, root: &[u8]) -> Result<(Blob, Vec<u8>)> {
    let blob: Blob = ciborium::from_reader(root)
        .map_err(|e| Error::type_mismatch("a field's root", "the root of a field stored as one value (a blob)", e))?;
    let mut bytes = Vec::new();
    copy_range(store, &blob, 0, u64::MAX, 2, &mut bytes)?;
    Ok((blob, bytes))
}

/// Store `bytes` as a blob; returns the root (the CBOR of the blob).
pub(crate) fn write_blob_root(store: &Arc<Store>, bytes: &[u8]) -> Result<Vec<u8>> {
    let mut w = BlobWriter::new(store.clone(), store.write_options());
    w.write_all(bytes).map_err(|e| Error::io("storing field", e))?;
    let blob = w.finish()?;
    let mut root = Vec::new();
    ciborium::into_writer(&blob, &mut root).expect("CBOR encoding into memory cannot fail");
    Ok(root)
}

/// The whole-value commit rule shared by fields stored as one value: keep the parent when nothing is staged;
/// otherwise write `ours`, unless the parent moved past `base` to a different value (a conflict).
pub(crate) fn commit_whole(
    store: &Arc<Store>,
    dirty: bool,
    base: Option<&[u8]>,
    parent: Option<&[u8]>,
    ours: &[u8],
) -> Result<Vec<u8>> {
    if !dirty {
        if let Some(p) = parent {
            return Ok(p.to_vec());
        }
    }
    if let Some(p) = parent.filter(|p| dirty && Some(*p) != base) {
        let theirs = read_blob_root(store, p)?.1;
        if theirs == ours {
            return Ok(p.to_vec());
        }
        return Err(Error::MergeConflict { field: String::new(), keys: Vec::new() });
    }
    write_blob_root(store, ours)
}

/// The value a whole-value field ([`Serialized`], [`List`](super::List)) stores at `root`; `None` for no root.
/// `what` names it in a decode error.
pub(super) fn load_whole<V: DeserializeOwned>(
    store: &Arc<Store>,
    root: Option<&[u8]>,
    what: &str,
) -> Result<Option<V>> {
    let Some(r) = root else { return Ok(None) };
    let bytes = read_blob_root(store, r)?.1;
    ciborium::from_reader(bytes.as_slice())
        .map(Some)
        .map_err(|e| Error::type_mismatch(what, std::any::type_name::<V>(), e))
}

/// Encode `value` (a lock guard, released once encoded) and commit it whole ([`commit_whole`]); `item` names it in
/// an encoding error.
pub(super) fn commit_value<V: Serialize + ?Sized>(
    store: &Arc<Store>,
    item: &str,
    value: impl std::ops::Deref<Target = V>,
    dirty: bool,
    base: Option<&[u8]>,
    parent: Option<&[u8]>,
) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    ciborium::into_writer(&*value, &mut bytes)
        .map_err(|e| Error::Invalid(format!("{item} does not serialize: {e}")))?;
    drop(value);
    commit_whole(store, dirty, base, parent, &bytes)
}

/// For tracing a whole-value field: trace the blob at `root` and return the encoded value it holds, or `None` when
/// `parent` holds the same root (already traced).
pub(super) fn trace_whole(root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<Option<Vec<u8>>> {
    if parent == Some(root) {
        return Ok(None);
    }
    let (blob, bytes) = read_blob_root(&tracer.store().clone(), root)?;
    tracer.blob(&blob)?;
    Ok(Some(bytes))
}

impl<T: Serialize + DeserializeOwned + Default + Send + Sync> Field for Serialized<T> {
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()> {
        let v = load_whole(store, root, "field value")?.unwrap_or_default();
        *self.value.write().expect("field lock") = v;
        *self.base.write().expect("field lock") = root.map(<[u8]>::to_vec);
        self.dirty.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn commit(&self, store: &Arc<Store>, parent: Option<&[u8]>) -> Result<Vec<u8>> {
        let base = self.base.read().expect("field lock").clone();
        let value = self.value.read().expect("field lock");
        commit_value(store, "field", value, self.is_dirty(), base.as_deref(), parent)
    }

    fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }

    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()> {
        let Some(bytes) = trace_whole(root, parent, tracer)? else { return Ok(()) };
        tracer.value();
        tracer.scan(&bytes)
    }
}
