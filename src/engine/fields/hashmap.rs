//! [`Map`]: a concurrent hash map loaded whole, for small, hot state.
//!
//! ```
//! use infini::backends::MemoryBackend;
//! use infini::{fields::Map, Infinitree, KdfParams};
//! use infini::{Repository, StoreOptions};
//! use std::sync::Arc;
//! # fn main() -> infini::Result<()> {
//! let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
//! let repo = Arc::new(Repository::create(Arc::new(MemoryBackend::new()), b"pw", kdf, StoreOptions::default())?);
//! let mut tree = Infinitree::<Map<String, u64>>::open(repo, "main")?;
//! // Many threads count at once; no update is lost.
//! std::thread::scope(|s| {
//!     for _ in 0..4 {
//!         s.spawn(|| for _ in 0..100 {
//!             tree.index().upsert("hits".into(), || 0, |n| *n += 1);
//!         });
//!     }
//! });
//! tree.commit("counted")?;
//! assert_eq!(tree.index().get(&"hits".into()), Some(400));
//! # Ok(()) }
//! ```

use super::map::{decode_value, encode_value, show_key};
use super::serialized::{read_blob_root, write_blob_root};
use super::strategy::{Local, Strategy};
use super::{Change, Field, Key, Tracer};
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use dashmap::{DashMap, DashSet};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

/// Stored entries: encoded key → stored value (as the strategy stores it).
type Stored = BTreeMap<Vec<u8>, Vec<u8>>;

/// A concurrent map, loaded whole into memory and written whole (one stream of keys and stored values) at each
/// commit that changes it.
///
/// Reads and writes take a shard lock only ([`dashmap`]), so many threads can use it at once. Concurrent commits
/// merge by key, like [`VersionedMap`](super::VersionedMap): a key changed by both writers to different values is
/// a conflict. With the [`Sparse`](super::Sparse) strategy each value is a chunk of its own and a commit rewrites
/// only the key list and the values that changed.
pub struct Map<K: Eq + Hash, V, S = Local> {
    entries: DashMap<K, V>,
    changed: DashSet<Vec<u8>>,
    /// What the map was loaded from: the root, and its entries as stored.
    base: RwLock<(Option<Vec<u8>>, Arc<Stored>)>,
    _s: PhantomData<fn() -> S>,
}

impl<K: Eq + Hash, V, S> Default for Map<K, V, S> {
    fn default() -> Self {
        Self {
            entries: DashMap::new(),
            changed: DashSet::new(),
            base: RwLock::new((None, Arc::default())),
            _s: PhantomData,
        }
    }
}

fn read_stored(store: &Arc<Store>, root: Option<&[u8]>) -> Result<Stored> {
    let Some(r) = root else { return Ok(Stored::new()) };
    let bytes = read_blob_root(store, r)?.1;
    let pairs: Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)> =
        ciborium::from_reader(bytes.as_slice()).map_err(|e| Error::corrupt("map entries", e))?;
    Ok(pairs.into_iter().map(|(k, v)| (k.into_vec(), v.into_vec())).collect())
}

impl<K: Key + Hash, V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static, S: Strategy> Map<K, V, S> {
    /// The differences from this map's contents to `newer`'s (two versions of one field, e.g. from
    /// [`Infinitree::at`](crate::engine::db::Infinitree::at)), in key order. Values compare by their encoding. A
    /// `Map` is held whole, so both versions are compared as they are, staged changes included.
    pub fn diff(&self, newer: &Self) -> Vec<Change<K, V>> {
        let snapshot = |m: &Self| -> BTreeMap<Vec<u8>, (K, V)> {
            m.entries.iter().map(|e| (e.key().encode(), (e.key().clone(), e.value().clone()))).collect()
        };
        let (old, new) = (snapshot(self), snapshot(newer));
        let mut out = Vec::new();
        let mut new_it = new.into_iter().peekable();
        for (ek, (key, value)) in old {
            while let Some((nk, _)) = new_it.peek() {
                if *nk >= ek {
                    break;
                }
                let (_, (key, value)) = new_it.next().expect("peeked");
                out.push(Change::Added { key, value });
            }
            match new_it.peek() {
                Some((nk, _)) if *nk == ek => {
                    let (_, (_, nv)) = new_it.next().expect("peeked");
                    if encode_value(&value) != encode_value(&nv) {
                        out.push(Change::Changed { key, old: value, new: nv });
                    }
                }
                _ => out.push(Change::Removed { key, value }),
            }
        }
        out.extend(new_it.map(|(_, (key, value))| Change::Added { key, value }));
        out
    }

    /// Insert or replace; returns the previous value.
    pub fn insert(&self, k: K, v: V) -> Option<V> {
        self.changed.insert(k.encode());
        self.entries.insert(k, v)
    }

    /// Remove; returns the value.
    pub fn remove(&self, k: &K) -> Option<V> {
        self.changed.insert(k.encode());
        self.entries.remove(k).map(|(_, v)| v)
    }

    /// A copy of the value of `k`.
    pub fn get(&self, k: &K) -> Option<V> {
        self.entries.get(k).map(|v| v.clone())
    }

    /// Whether `k` has a value.
    pub fn contains_key(&self, k: &K) -> bool {
        self.entries.contains_key(k)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value of `k`, inserting `make()` first if there is none. Atomic per key.
    pub fn insert_with(&self, k: K, make: impl FnOnce() -> V) -> V {
        let ek = k.encode();
        let e = self.entries.entry(k).or_insert_with(|| {
            self.changed.insert(ek);
            make()
        });
        e.value().clone()
    }

    /// Change the value of `k` in place; returns the new value, or `None` if `k` has none. Atomic per key.
    pub fn update_with(&self, k: &K, f: impl FnOnce(&mut V)) -> Option<V> {
        let mut v = self.entries.get_mut(k)?;
        f(v.value_mut());
        self.changed.insert(k.encode());
        Some(v.value().clone())
    }

    /// Change the value of `k` in place with `f`, inserting `make()` first if there is none; returns the new
    /// value. Atomic per key, so counters updated from many threads lose nothing.
    pub fn upsert(&self, k: K, make: impl FnOnce() -> V, f: impl FnOnce(&mut V)) -> V {
        self.changed.insert(k.encode());
        let mut e = self.entries.entry(k).or_insert_with(make);
        f(e.value_mut());
        e.value().clone()
    }

    /// Visit every entry (in no particular order).
    pub fn for_each(&self, mut f: impl FnMut(&K, &V)) {
        for e in self.entries.iter() {
            f(e.key(), e.value());
        }
    }

    /// A copy of every entry, in key order.
    pub fn to_vec(&self) -> Vec<(K, V)> {
        let mut v: Vec<(K, V)> = self.entries.iter().map(|e| (e.key().clone(), e.value().clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl<K: Key + Hash, V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static, S: Strategy> Field
    for Map<K, V, S>
{
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()> {
        let stored = read_stored(store, root)?;
        self.entries.clear();
        for (k, sv) in &stored {
            let key =
                K::decode(k).ok_or_else(|| Error::integrity(format!("map key {} does not decode", show_key(k))))?;
            self.entries.insert(key, decode_value(&S::get(store, sv)?)?);
        }
        self.changed.clear();
        *self.base.write().expect("field lock") = (root.map(<[u8]>::to_vec), Arc::new(stored));
        Ok(())
    }

    fn commit(&self, store: &Arc<Store>, parent: Option<&[u8]>) -> Result<Vec<u8>> {
        if self.changed.is_empty() {
            if let Some(p) = parent {
                return Ok(p.to_vec());
            }
        }
        let (base_root, base) = self.base.read().expect("field lock").clone();
        let moved = parent != base_root.as_deref();
        let mut out: Stored = if moved { read_stored(store, parent)? } else { (*base).clone() };
        let mut changed: Vec<Vec<u8>> = self.changed.iter().map(|k| k.clone()).collect();
        changed.sort();
        let mut conflicts = Vec::new();
        for ek in changed {
            let key = K::decode(&ek).ok_or_else(|| Error::integrity("map key does not decode"))?;
            let ours = match self.entries.get(&key) {
                Some(v) => Some(S::put(store, &encode_value(v.value()))?),
                None => None,
            };
            if moved {
                let same = |a: Option<&Vec<u8>>, b: Option<&Vec<u8>>| match (a, b) {
                    (None, None) => true,
                    (Some(x), Some(y)) => S::same(x, y),
                    _ => false,
                };
                let theirs = out.get(&ek);
                if !same(base.get(&ek), theirs) && !same(theirs, ours.as_ref()) {
                    conflicts.push(show_key(&ek));
                    continue;
                }
            }
            match ours {
                Some(v) => out.insert(ek, v),
                None => out.remove(&ek),
            };
        }
        if !conflicts.is_empty() {
            return Err(Error::Conflict {
                what: format!("changed concurrently on the branch: {}", conflicts.join(", ")),
            });
        }
        let pairs: Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)> =
            out.into_iter().map(|(k, v)| (serde_bytes::ByteBuf::from(k), serde_bytes::ByteBuf::from(v))).collect();
        write_blob_root(store, &encode_value(&pairs))
    }

    fn is_dirty(&self) -> bool {
        !self.changed.is_empty()
    }

    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()> {
        if parent == Some(root) {
            return Ok(());
        }
        let store = tracer.store().clone();
        let (blob, _) = read_blob_root(&store, root)?;
        tracer.blob(&blob)?;
        for (_, stored) in read_stored(&store, Some(root))? {
            tracer.value();
            S::trace(&stored, tracer)?;
            tracer.scan(&S::get(&store, &stored)?)?;
        }
        Ok(())
    }
}
