//! [`List`]: a `RwLock<Vec<T>>` stored whole, for short lists that change as a unit.
//!
//! ```
//! use infini::backends::MemoryBackend;
//! use infini::{fields::List, Infinitree, KdfParams};
//! use infini::{Repository, StoreOptions};
//! use std::sync::Arc;
//! # fn main() -> infini::Result<()> {
//! let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
//! let repo = Arc::new(Repository::create(Arc::new(MemoryBackend::new()), b"pw", kdf, StoreOptions::default())?);
//! let mut tree = Infinitree::<List<u32>>::open(repo, "main")?;
//! tree.index().push(3);
//! tree.index().write(|v| v.extend([1, 2]));
//! tree.index().write(|v| v.sort());
//! tree.commit("sorted")?;
//! assert_eq!(tree.index().to_vec(), vec![1, 2, 3]);
//! assert_eq!(tree.index().get(0), Some(1));
//! # Ok(()) }
//! ```

use super::map::encode_value;
use super::serialized::{commit_value, load_whole, trace_whole};
use super::{Change, Field, Tracer};
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A list stored whole: every commit that changes it writes all of it (as one blob, the CBOR array of the items),
/// and loading reads all of it. Concurrent commits that both change the list conflict ([`Error::MergeConflict`](crate::engine::Error::MergeConflict)); use
/// [`LinkedList`](super::LinkedList) for a long or append-mostly sequence.
pub struct List<T> {
    items: RwLock<Vec<T>>,
    base: RwLock<Option<Vec<u8>>>,
    dirty: AtomicBool,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        Self { items: RwLock::new(Vec::new()), base: RwLock::new(None), dirty: AtomicBool::new(false) }
    }
}

/// An independent copy of the items and of the version they were loaded from.
impl<T: Clone> Clone for List<T> {
    fn clone(&self) -> Self {
        Self {
            items: RwLock::new(self.items.read().expect("field lock").clone()),
            base: RwLock::new(self.base.read().expect("field lock").clone()),
            dirty: AtomicBool::new(self.dirty.load(Ordering::SeqCst)),
        }
    }
}

impl<T: Clone + Serialize> List<T> {
    /// The differences from this list's items to `newer`'s (two versions of one field, e.g. from
    /// [`Infinitree::at`](crate::engine::db::Infinitree::at)), by position: an item whose encoding differs at the
    /// same index is `Changed`, items past the shorter list are `Added` or `Removed`. Items are compared as held,
    /// staged changes included.
    pub fn diff(&self, newer: &Self) -> Vec<Change<usize, T>> {
        let (old, new) = (self.to_vec(), newer.to_vec());
        let mut out = Vec::new();
        for i in 0..old.len().max(new.len()) {
            match (old.get(i), new.get(i)) {
                (Some(o), Some(n)) if encode_value(o) != encode_value(n) => {
                    out.push(Change::Changed { key: i, old: o.clone(), new: n.clone() })
                }
                (Some(o), None) => out.push(Change::Removed { key: i, value: o.clone() }),
                (None, Some(n)) => out.push(Change::Added { key: i, value: n.clone() }),
                _ => {}
            }
        }
        out
    }
}

impl<T: Clone> List<T> {
    /// Append an item.
    pub fn push(&self, item: T) {
        self.write(|v| v.push(item));
    }

    /// The item at `i`.
    pub fn get(&self, i: usize) -> Option<T> {
        self.read(|v| v.get(i).cloned())
    }

    /// A copy of all items.
    pub fn to_vec(&self) -> Vec<T> {
        self.read(|v| v.clone())
    }

    /// Replace all items.
    pub fn set(&self, items: Vec<T>) {
        self.write(|v| *v = items);
    }

    /// Number of items.
    pub fn len(&self) -> usize {
        self.read(Vec::len)
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Read the items under the lock.
    pub fn read<R>(&self, f: impl FnOnce(&Vec<T>) -> R) -> R {
        f(&self.items.read().expect("field lock"))
    }

    /// Change the items under the lock (marks the list changed).
    pub fn write<R>(&self, f: impl FnOnce(&mut Vec<T>) -> R) -> R {
        let mut items = self.items.write().expect("field lock");
        self.dirty.store(true, Ordering::SeqCst);
        f(&mut items)
    }
}

impl<T: Serialize + DeserializeOwned + Send + Sync> Field for List<T> {
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()> {
        let items = load_whole(store, root, "list items")?.unwrap_or_default();
        *self.items.write().expect("field lock") = items;
        *self.base.write().expect("field lock") = root.map(<[u8]>::to_vec);
        self.dirty.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn commit(&self, store: &Arc<Store>, parent: Option<&[u8]>) -> Result<Vec<u8>> {
        let base = self.base.read().expect("field lock").clone();
        let items = self.items.read().expect("field lock");
        commit_value(store, "list item", items, self.is_dirty(), base.as_deref(), parent)
    }

    fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::SeqCst)
    }

    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()> {
        let Some(bytes) = trace_whole(root, parent, tracer)? else { return Ok(()) };
        // Each item is counted; the blobs in them are found in the encoding, whatever `T` is.
        let items: Vec<ciborium::Value> =
            ciborium::from_reader(bytes.as_slice()).map_err(|e| Error::corrupt("list items", e))?;
        for item in &items {
            tracer.value();
            tracer.scan_value(item)?;
        }
        Ok(())
    }
}
