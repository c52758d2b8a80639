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

use super::choice::{ChooseStrategy, Ops};
use super::map::{encode_value, key_mismatch, show_key};
use super::serialized::{read_blob_root, write_blob_root};
use super::strategy::{Local, Strategy};
use super::value::{decode_stored, encode_stored, trace_value};
use super::{Change, Field, Key, Tracer};
use crate::engine::limits::KEY_MAX;
use crate::engine::object::Store;
use crate::engine::{Error, Result};
use dashmap::{DashMap, DashSet};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::{Arc, OnceLock, RwLock};

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
    /// Changed keys whose change was a read-modify-write ([`Map::update_with`], [`Map::upsert`],
    /// [`Map::compare_and_set`]): a commit conflicts if they changed on the branch since the base at all.
    checked: DashSet<Vec<u8>>,
    /// The strategy an index chose for this field (`#[infini(strategy = ...)]`), over `S`.
    chosen: OnceLock<Ops>,
    /// What the map was loaded from: the root, and its entries as stored.
    base: RwLock<(Option<Vec<u8>>, Arc<Stored>)>,
    _s: PhantomData<fn() -> S>,
}

impl<K: Eq + Hash, V, S> Default for Map<K, V, S> {
    fn default() -> Self {
        Self {
            entries: DashMap::new(),
            changed: DashSet::new(),
            checked: DashSet::new(),
            chosen: OnceLock::new(),
            base: RwLock::new((None, Arc::default())),
            _s: PhantomData,
        }
    }
}

/// An independent copy of the entries, what changed, and the version they were loaded from.
impl<K: Eq + Hash + Clone, V: Clone, S> Clone for Map<K, V, S> {
    fn clone(&self) -> Self {
        Self {
            entries: self.entries.clone(),
            changed: self.changed.clone(),
            checked: self.checked.clone(),
            chosen: self.chosen.clone(),
            base: RwLock::new(self.base.read().expect("field lock").clone()),
            _s: PhantomData,
        }
    }
}

impl<K: Eq + Hash, V, S: Strategy> ChooseStrategy for Map<K, V, S> {
    fn choose_strategy<T: Strategy>(&self) {
        let _ = self.chosen.set(Ops::of::<T>());
    }
}

fn read_stored(store: &Arc<Store>, root: Option<&[u8]>) -> Result<Stored> {
    let Some(r) = root else { return Ok(Stored::new()) };
    let bytes = read_blob_root(store, r)?.1;
    let pairs: Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)> = ciborium::from_reader(bytes.as_slice())
        .map_err(|e| Error::type_mismatch("a field's entries", "the entries of a Map", e))?;
    Ok(pairs.into_iter().map(|(k, v)| (k.into_vec(), v.into_vec())).collect())
}

impl<K: Key + Hash, V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static, S: Strategy> Map<K, V, S> {
    /// The strategy values are stored with: the one the index chose, else `S`.
    fn ops(&self) -> Ops {
        self.chosen.get().copied().unwrap_or_else(Ops::of::<S>)
    }

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

    /// Insert or replace; returns the previous value. Should another writer commit a change of `k` first, the
    /// commit merges (it succeeds when both stored the same value); for a change computed from the current value
    /// use [`update_with`](Self::update_with), [`upsert`](Self::upsert) or
    /// [`compare_and_set`](Self::compare_and_set).
    pub fn insert(&self, k: K, v: V) -> Option<V> {
        let ek = k.encode();
        self.checked.remove(&ek);
        self.changed.insert(ek);
        self.entries.insert(k, v)
    }

    /// Remove; returns the value.
    pub fn remove(&self, k: &K) -> Option<V> {
        let ek = k.encode();
        self.checked.remove(&ek);
        self.changed.insert(ek);
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
    ///
    /// Across writers, a read-modify-write of the version the map was loaded from: if another writer commits any
    /// change of `k` first (even to the value computed here), this commit fails with
    /// [`Error::MergeConflict`] instead of losing that writer's update.
    pub fn update_with(&self, k: &K, f: impl FnOnce(&mut V)) -> Option<V> {
        let mut v = self.entries.get_mut(k)?;
        f(v.value_mut());
        let ek = k.encode();
        self.checked.insert(ek.clone());
        self.changed.insert(ek);
        Some(v.value().clone())
    }

    /// Change the value of `k` in place with `f`, inserting `make()` first if there is none; returns the new
    /// value. Atomic per key, so counters updated from many threads lose nothing; across writers it is a
    /// read-modify-write like [`update_with`](Self::update_with) (a commit conflicts if `k` changed meanwhile).
    pub fn upsert(&self, k: K, make: impl FnOnce() -> V, f: impl FnOnce(&mut V)) -> V {
        let ek = k.encode();
        self.checked.insert(ek.clone());
        self.changed.insert(ek);
        let mut e = self.entries.entry(k).or_insert_with(make);
        f(e.value_mut());
        e.value().clone()
    }

    /// Set `k` to `new` (`None`: remove it) if its value is `expected` now (`None`: it has none), and return
    /// whether it did. Atomic per key; checked again at commit like [`update_with`](Self::update_with).
    pub fn compare_and_set(&self, k: K, expected: Option<&V>, new: Option<V>) -> bool
    where
        V: PartialEq,
    {
        let ek = k.encode();
        match self.entries.entry(k) {
            dashmap::Entry::Occupied(mut e) => {
                if Some(e.get()) != expected {
                    return false;
                }
                match new {
                    Some(v) => {
                        e.insert(v);
                    }
                    None => {
                        e.remove();
                    }
                }
            }
            dashmap::Entry::Vacant(e) => {
                if expected.is_some() {
                    return false;
                }
                if let Some(v) = new {
                    e.insert(v);
                }
            }
        }
        self.checked.insert(ek.clone());
        self.changed.insert(ek);
        true
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
            let key = K::decode(k).ok_or_else(|| key_mismatch::<K>(k))?;
            self.entries.insert(key, decode_stored(store, &(self.ops().get)(store, sv)?)?);
        }
        self.changed.clear();
        self.checked.clear();
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
        let ops = self.ops();
        let mut conflicts = Vec::new();
        for ek in changed {
            if ek.len() > KEY_MAX {
                return Err(Error::too_large(format!("key {:.64}…", show_key(&ek)), ek.len(), KEY_MAX));
            }
            let key = K::decode(&ek).ok_or_else(|| Error::integrity("map key does not decode"))?;
            // Clone out of the shard lock before writing anything.
            let value = self.entries.get(&key).map(|v| v.value().clone());
            let ours = match value {
                Some(v) => Some((ops.put)(store, &encode_stored(store, &v, ops.max_put)?)?),
                None => None,
            };
            if moved {
                let theirs = out.get(&ek).cloned();
                let at_base = base.get(&ek).cloned();
                let changed_since = !ops.same_stored(&at_base, &theirs);
                if changed_since && (self.checked.contains(&ek) || !ops.same_stored(&theirs, &ours)) {
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
            return Err(Error::MergeConflict { field: String::new(), keys: conflicts });
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
        let ops = self.ops();
        for (_, stored) in read_stored(&store, Some(root))? {
            tracer.value();
            (ops.trace)(&stored, tracer)?;
            let bytes = (ops.get)(&store, &stored)?;
            trace_value(&store, &bytes, tracer)?;
        }
        Ok(())
    }
}
