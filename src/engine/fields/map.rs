//! [`VersionedMap`]: an ordered map whose committed state is an index tree and whose changes are staged in memory
//! until commit — or, for a large set of changes, spilled into a tree of their own in a separate node store (see
//! [`VersionedMap::spill`]).
//!
//! ```
//! use infini::backends::MemoryBackend;
//! use infini::{fields::VersionedMap, Infinitree, KdfParams};
//! use infini::{Repository, StoreOptions};
//! use std::sync::Arc;
//! # fn main() -> infini::Result<()> {
//! let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
//! let repo = Arc::new(Repository::create(Arc::new(MemoryBackend::new()), b"pw", kdf, StoreOptions::default())?);
//! // Readings keyed by (sensor, time): a tuple key, ordered element by element.
//! let mut tree = Infinitree::<VersionedMap<(String, i64), f64>>::open(repo, "main")?;
//! let readings = tree.index();
//! readings.insert(("east".into(), -20), 1.5);
//! readings.insert(("east".into(), 10), 2.5);
//! readings.insert(("west".into(), 0), 9.0);
//! let first = tree.commit("readings")?;
//!
//! let readings = tree.index();
//! assert_eq!(readings.len()?, 3);
//! // Every reading of one sensor, in time order, streamed from the tree.
//! let east: Vec<_> = readings.tuple_prefix(&"east".to_string()).collect::<Result<_, _>>()?;
//! assert_eq!(east, vec![(("east".into(), -20), 1.5), (("east".into(), 10), 2.5)]);
//! // Read-modify-write under the map's lock.
//! readings.update_with(&("west".into(), 0), |v| *v += 1.0)?;
//! readings.insert_with(("west".into(), 5), || 0.0)?;
//! tree.commit("more")?;
//!
//! // What changed between two versions, typed.
//! let old = tree.at(first.id())?;
//! let changes: Vec<_> = old.diff(tree.index())?.collect::<Result<_, _>>()?;
//! assert_eq!(changes.len(), 2);
//! # Ok(()) }
//! ```

use super::choice::{ChooseStrategy, Ops};
use super::strategy::{Local, Strategy};
use super::value::{decode_stored, encode_stored, trace_value};
use super::{Field, Key, Tracer};
use crate::engine::limits::{INDEX_VALUE_MAX, KEY_MAX};
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::tree::{self, NodeStore};
use crate::engine::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::iter::Peekable;
use std::marker::PhantomData;
use std::ops::{Bound, RangeBounds};
use std::sync::{Arc, OnceLock, RwLock};

/// Staged changes: encoded key -> new value (`None` = removed).
type Staged<V> = BTreeMap<Vec<u8>, Option<V>>;

/// Staged changes moved out of memory: a tree in a node store of their own, whose values are `1 || CBOR(value)`
/// for a value and `0` for a removal.
struct Spill {
    store: Arc<dyn NodeStore>,
    root: Option<ChunkPointer>,
}

/// Changes applied to the committed tree per batch (bounds the memory a commit of many spilled changes takes).
const COMMIT_BATCH: usize = 20_000;

/// A write-only key's delta chunk holds at most this many changes...
const DELTA_BATCH: usize = 20_000;
/// ...and at most about this many bytes of keys and stored values (one change alone may exceed it: a key and a
/// value at their limits still fit a chunk).
const DELTA_BATCH_BYTES: usize = 4 << 20;

fn encode_spilled(v: Option<&[u8]>) -> Vec<u8> {
    match v {
        Some(b) => {
            let mut out = Vec::with_capacity(b.len() + 1);
            out.push(1);
            out.extend_from_slice(b);
            out
        }
        None => vec![0],
    }
}

fn decode_spilled(b: &[u8]) -> Result<Option<&[u8]>> {
    match b.split_first() {
        Some((1, rest)) => Ok(Some(rest)),
        Some((0, [])) => Ok(None),
        _ => Err(Error::integrity("a spilled staged change does not decode")),
    }
}

/// A versioned ordered map `K -> V`, stored as an index tree, values kept as the strategy `S` says ([`Local`]:
/// in the tree's leaves; [`Sparse`](super::Sparse): each value a chunk of its own).
///
/// Reads see staged changes over the committed state; a commit writes only the tree nodes on the paths to changed
/// keys, and every read (point lookups, ranges, counts, diffs) loads only the nodes it needs.
pub struct VersionedMap<K, V, S = Local> {
    store: RwLock<Option<Arc<Store>>>,
    base: RwLock<Option<ChunkPointer>>,
    staged: RwLock<Staged<V>>,
    spill: RwLock<Option<Spill>>,
    /// Called on every value traced (see [`VersionedMap::validated`]).
    validate: Option<Validate<V>>,
    /// Staged keys whose change was a read-modify-write ([`VersionedMap::update_with`],
    /// [`VersionedMap::compare_and_set`]): a commit conflicts if they changed on the branch since the base at all.
    checked: RwLock<BTreeSet<Vec<u8>>>,
    /// The strategy an index chose for this field (`#[infini(strategy = ...)]`), over `S`.
    chosen: OnceLock<Ops>,
    _k: PhantomData<fn() -> (K, S)>,
}

/// A check of a value's own rules, run on every value a [`VersionedMap::validated`] traces.
pub type Validate<V> = fn(&V, &mut Tracer<'_>) -> Result<()>;

impl<K, V, S> Default for VersionedMap<K, V, S> {
    fn default() -> Self {
        Self {
            store: RwLock::new(None),
            base: RwLock::new(None),
            staged: RwLock::new(BTreeMap::new()),
            spill: RwLock::new(None),
            validate: None,
            checked: RwLock::new(BTreeSet::new()),
            chosen: OnceLock::new(),
            _k: PhantomData,
        }
    }
}

impl<K, V, S> VersionedMap<K, V, S> {
    /// An empty map whose tracing also decodes every value it traces and calls `validate` on it (with the value's
    /// key at [`Tracer::key`]), which may report what the value's schema does not allow through
    /// [`Tracer::invalid`] for `check` to report; `<V as Trace>::trace` is such a function. Blobs are found
    /// without it (see [`Tracer::scan`]).
    pub fn validated(validate: Validate<V>) -> Self {
        Self { validate: Some(validate), ..Self::default() }
    }
}

/// An independent copy: the same committed version and a copy of the staged changes (spilled ones stay in the
/// spill store both copies share; its trees are never changed in place).
impl<K, V: Clone, S> Clone for VersionedMap<K, V, S> {
    fn clone(&self) -> Self {
        let spill = self.spill.read().expect("field lock");
        Self {
            store: RwLock::new(self.store.read().expect("field lock").clone()),
            base: RwLock::new(*self.base.read().expect("field lock")),
            staged: RwLock::new(self.staged.read().expect("field lock").clone()),
            spill: RwLock::new(spill.as_ref().map(|sp| Spill { store: sp.store.clone(), root: sp.root })),
            validate: self.validate,
            checked: RwLock::new(self.checked.read().expect("field lock").clone()),
            chosen: self.chosen.clone(),
            _k: PhantomData,
        }
    }
}

impl<K, V, S: Strategy> ChooseStrategy for VersionedMap<K, V, S> {
    fn choose_strategy<T: Strategy>(&self) {
        let _ = self.chosen.set(Ops::of::<T>());
    }
}

pub(crate) fn encode_value<V: Serialize>(v: &V) -> Vec<u8> {
    let mut b = Vec::new();
    ciborium::into_writer(v, &mut b).expect("CBOR encoding into memory cannot fail");
    b
}

pub(crate) fn decode_value<V: DeserializeOwned>(b: &[u8]) -> Result<V> {
    ciborium::from_reader(b).map_err(|e| Error::type_mismatch("a stored value", std::any::type_name::<V>(), e))
}

/// Decode a map root as stored in a commit.
pub fn decode_root(root: Option<&[u8]>) -> Result<Option<ChunkPointer>> {
    match root {
        None => Ok(None),
        Some(r) => ciborium::from_reader(r)
            .map_err(|e| Error::type_mismatch("a field's root", "the root of a VersionedMap (a tree pointer)", e)),
    }
}

/// A key for messages: UTF-8 if it is, else hex.
pub(crate) fn show_key(k: &[u8]) -> String {
    match std::str::from_utf8(k) {
        Ok(s) if !s.chars().any(char::is_control) => s.to_string(),
        _ => format!("0x{}", hex::encode(k)),
    }
}

/// `[start, end)` in encoded bytes for typed bounds (encodings preserve order, and `e || 0x00` is the smallest
/// byte string above `e`).
fn encoded_bounds<K: Key>(r: &impl RangeBounds<K>) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let after = |k: &K| {
        let mut e = k.encode();
        e.push(0);
        e
    };
    let start = match r.start_bound() {
        Bound::Included(k) => Some(k.encode()),
        Bound::Excluded(k) => Some(after(k)),
        Bound::Unbounded => None,
    };
    let end = match r.end_bound() {
        Bound::Included(k) => Some(after(k)),
        Bound::Excluded(k) => Some(k.encode()),
        Bound::Unbounded => None,
    };
    (start, end)
}

impl<K: Key, V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static, S: Strategy> VersionedMap<K, V, S> {
    /// The strategy values are stored with: the one the index chose, else `S`.
    fn ops(&self) -> Ops {
        self.chosen.get().copied().unwrap_or_else(Ops::of::<S>)
    }

    fn store(&self) -> Option<Arc<Store>> {
        self.store.read().expect("field lock").clone()
    }

    /// The committed tree this map was loaded from.
    pub fn base(&self) -> Option<ChunkPointer> {
        *self.base.read().expect("field lock")
    }

    /// The committed tree reads go to: under a write-only key, a pointer no read gets past (the store refuses it
    /// before any request), so every read of committed state fails with [`Error::WriteOnly`].
    fn read_base(&self) -> Option<ChunkPointer> {
        match self.store() {
            Some(s) if s.keys().is_write_only() => Some(ChunkPointer {
                object: crate::engine::id::ObjectId([0; 32]),
                offset: 0,
                len: 0,
                id: crate::engine::id::ChunkId([0; 32]),
            }),
            _ => self.base(),
        }
    }

    /// [`Error::WriteOnly`] under a write-only key: it reads nothing back, not even what it staged.
    fn refuse_write_only(&self) -> Result<()> {
        match self.store() {
            Some(s) if s.keys().is_write_only() => Err(Error::WriteOnly { what: "reading a field".into() }),
            _ => Ok(()),
        }
    }

    /// The value for `k`: staged if staged, else committed.
    pub fn get(&self, k: &K) -> Result<Option<V>> {
        self.refuse_write_only()?;
        let ek = k.encode();
        if let Some(change) = self.staged.read().expect("field lock").get(&ek) {
            return Ok(change.clone());
        }
        self.get_unstaged(&ek)
    }

    /// The spilled change of `ek` if there is one (`Some(None)`: a removal), else `None`.
    fn get_spilled(&self, ek: &[u8]) -> Result<Option<Option<V>>> {
        let spill = self.spill.read().expect("field lock");
        let Some(sp) = spill.as_ref().filter(|sp| sp.root.is_some()) else { return Ok(None) };
        match tree::get(&*sp.store, sp.root.as_ref(), ek)? {
            Some(b) => Ok(Some(decode_spilled(&b)?.map(decode_value).transpose()?)),
            None => Ok(None),
        }
    }

    /// The value of `ek` below the changes held in memory: spilled, else committed.
    fn get_unstaged(&self, ek: &[u8]) -> Result<Option<V>> {
        match self.get_spilled(ek)? {
            Some(change) => Ok(change),
            None => self.get_committed(ek),
        }
    }

    fn get_committed(&self, ek: &[u8]) -> Result<Option<V>> {
        let (Some(store), Some(base)) = (self.store(), self.read_base()) else {
            return Ok(None);
        };
        match tree::get(&*store as &dyn NodeStore, Some(&base), ek)? {
            Some(b) => Ok(Some(decode_stored(&store, &(self.ops().get)(&store, &b)?)?)),
            None => Ok(None),
        }
    }

    /// The committed value for `k` at the map's base, ignoring anything staged.
    pub fn committed(&self, k: &K) -> Result<Option<V>> {
        self.get_committed(&k.encode())
    }

    /// Move the map's base to the committed version `newer` was loaded from (the same field at a newer head of the
    /// branch, e.g. loaded with [`Repository::load_index`](crate::engine::repo::Repository::load_index)), keeping
    /// the staged changes: afterwards they apply on top of it, as if they had been staged there. Returns the keys
    /// whose staged change collides with a different change committed between the old base and the new one (a
    /// commit would have failed with [`Error::MergeConflict`] on them); they stay staged with this side's value,
    /// and the committed value is what [`committed`](Self::committed) returns now. Staged changes that the new
    /// base already holds are dropped.
    pub fn rebase_onto(&self, newer: &Self) -> Result<Vec<K>> {
        let new_base = newer.base();
        let Some(store) = self.store() else {
            return Err(Error::Invalid("rebase of a map that was never loaded".into()));
        };
        let old_base = self.base();
        let mut conflicts = Vec::new();
        let mut settled = Vec::new();
        for change in self.staged_stream(None, None) {
            let (k, ours) = change?;
            let ours = ours.as_ref().map(encode_value);
            let at_new = match new_base {
                Some(b) => tree::get(&*store as &dyn NodeStore, Some(&b), &k)?,
                None => None,
            };
            let at_old = match old_base {
                Some(b) => tree::get(&*store as &dyn NodeStore, Some(&b), &k)?,
                None => None,
            };
            // A read-modify-write computed from the old base is stale once the key moved, even to the same value.
            let is_checked = self.checked.read().expect("field lock").contains(&k);
            if at_new == ours && !(is_checked && at_old != at_new) {
                settled.push(k);
                continue;
            }
            if at_old != at_new {
                conflicts.push(K::decode(&k).ok_or_else(|| Error::integrity("staged key does not decode"))?);
            }
        }
        self.unstage_encoded(settled)?;
        *self.base.write().expect("field lock") = new_base;
        Ok(conflicts)
    }

    fn has_committed(&self, ek: &[u8]) -> Result<bool> {
        let (Some(store), Some(base)) = (self.store(), self.read_base()) else {
            return Ok(false);
        };
        Ok(tree::get(&*store as &dyn NodeStore, Some(&base), ek)?.is_some())
    }

    /// Whether `k` has a value.
    pub fn contains_key(&self, k: &K) -> Result<bool> {
        self.refuse_write_only()?;
        let ek = k.encode();
        if let Some(change) = self.staged.read().expect("field lock").get(&ek) {
            return Ok(change.is_some());
        }
        if let Some(change) = self.get_spilled(&ek)? {
            return Ok(change.is_some());
        }
        self.has_committed(&ek)
    }

    /// Number of entries, staged changes included. Reads the root (entry counts are kept in internal nodes) plus
    /// one lookup per staged key: never the whole map.
    pub fn len(&self) -> Result<u64> {
        let committed = match (self.store(), self.read_base()) {
            (Some(store), Some(base)) => tree::len(&*store as &dyn NodeStore, Some(&base))?,
            _ => 0,
        };
        let mut n = committed;
        for change in self.staged_stream(None, None) {
            let (k, v) = change?;
            match (self.has_committed(&k)?, v.is_some()) {
                (false, true) => n += 1,
                (true, false) => n -= 1,
                _ => {}
            }
        }
        Ok(n)
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Stage `k = v`. Should another writer commit a change of `k` first, the commit merges: it succeeds when the
    /// other writer stored the same value, and conflicts otherwise. For a change computed from the current value
    /// use [`update_with`](Self::update_with) or [`compare_and_set`](Self::compare_and_set), which conflict
    /// whenever `k` changed.
    pub fn insert(&self, k: K, v: V) {
        let ek = k.encode();
        let mut staged = self.staged.write().expect("field lock");
        self.checked.write().expect("field lock").remove(&ek);
        staged.insert(ek, Some(v));
    }

    /// The value of `k`, staging `make()` first if `k` has none. Atomic with respect to other calls on this map.
    pub fn insert_with(&self, k: K, make: impl FnOnce() -> V) -> Result<V> {
        let ek = k.encode();
        let mut staged = self.staged.write().expect("field lock");
        let current = match staged.get(&ek) {
            Some(v) => v.clone(),
            None => self.get_unstaged(&ek)?,
        };
        if let Some(v) = current {
            return Ok(v);
        }
        let v = make();
        staged.insert(ek, Some(v.clone()));
        Ok(v)
    }

    /// Change the value of `k` in place with `f` and stage the result; returns the new value, or `None` (and
    /// stages nothing) if `k` has no value. Atomic with respect to other calls on this map, so concurrent
    /// `update_with` calls from many threads lose no update.
    ///
    /// Across writers, the change is a read-modify-write of the version the map was loaded from: if another
    /// writer commits any change of `k` first (even to the value computed here), this commit fails with
    /// [`Error::MergeConflict`] instead of losing that writer's update. Load the branch's new head and apply the
    /// change again.
    ///
    /// ```
    /// use infini::{fields::VersionedMap, Error, Infinitree, Location, Repository};
    /// # fn main() -> infini::Result<()> {
    /// let repo = std::sync::Arc::new(Repository::create_at(&Location::Memory, b"pw")?);
    /// let mut a = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main")?;
    /// a.index().insert("n".into(), 0);
    /// a.commit("zero")?;
    /// let mut b = Infinitree::<VersionedMap<String, u64>>::open(repo.clone(), "main")?;
    /// a.index().update_with(&"n".into(), |n| *n += 1)?;
    /// b.index().update_with(&"n".into(), |n| *n += 1)?;
    /// a.commit("a counts")?;
    /// assert!(matches!(b.commit("b counts"), Err(Error::MergeConflict { .. })));
    /// // Again on the new head: 2, no update lost.
    /// let mut b = Infinitree::<VersionedMap<String, u64>>::open(repo, "main")?;
    /// b.index().update_with(&"n".into(), |n| *n += 1)?;
    /// b.commit("b counts")?;
    /// assert_eq!(b.index().get(&"n".into())?, Some(2));
    /// # Ok(()) }
    /// ```
    pub fn update_with(&self, k: &K, f: impl FnOnce(&mut V)) -> Result<Option<V>> {
        let ek = k.encode();
        let mut staged = self.staged.write().expect("field lock");
        let current = match staged.get(&ek) {
            Some(v) => v.clone(),
            None => self.get_unstaged(&ek)?,
        };
        let Some(mut v) = current else { return Ok(None) };
        f(&mut v);
        self.checked.write().expect("field lock").insert(ek.clone());
        staged.insert(ek, Some(v.clone()));
        Ok(Some(v))
    }

    /// Stage `new` for `k` (`None`: remove it) if `k`'s value is `expected` now (`None`: `k` has none), and return
    /// whether it was staged. Like [`update_with`](Self::update_with), the change is checked again at commit: it
    /// fails with [`Error::MergeConflict`] if another writer committed any change of `k` since the map was loaded.
    pub fn compare_and_set(&self, k: &K, expected: Option<&V>, new: Option<V>) -> Result<bool>
    where
        V: PartialEq,
    {
        let ek = k.encode();
        let mut staged = self.staged.write().expect("field lock");
        let current = match staged.get(&ek) {
            Some(v) => v.clone(),
            None => self.get_unstaged(&ek)?,
        };
        if current.as_ref() != expected {
            return Ok(false);
        }
        self.checked.write().expect("field lock").insert(ek.clone());
        staged.insert(ek, new);
        Ok(true)
    }

    /// Stage removal of `k`.
    pub fn remove(&self, k: &K) {
        let ek = k.encode();
        let mut staged = self.staged.write().expect("field lock");
        self.checked.write().expect("field lock").remove(&ek);
        staged.insert(ek, None);
    }

    /// Drop a staged change of `k` (back to the committed value).
    pub fn unstage(&self, k: &K) -> Result<()> {
        self.unstage_encoded(vec![k.encode()])
    }

    /// Drop the staged changes of the encoded keys `keys`, in memory and spilled.
    fn unstage_encoded(&self, mut keys: Vec<Vec<u8>>) -> Result<()> {
        let mut staged = self.staged.write().expect("field lock");
        let mut checked = self.checked.write().expect("field lock");
        for k in &keys {
            staged.remove(k);
            checked.remove(k);
        }
        drop(checked);
        let mut spill = self.spill.write().expect("field lock");
        if let Some(sp) = spill.as_mut().filter(|sp| sp.root.is_some()) {
            keys.sort();
            keys.dedup();
            for batch in keys.chunks(COMMIT_BATCH) {
                let removals = batch.iter().map(|k| (k.clone(), None)).collect();
                sp.root = tree::apply(&*sp.store, sp.root, removals)?;
            }
        }
        Ok(())
    }

    /// Drop every staged change.
    pub fn reset(&self) {
        self.staged.write().expect("field lock").clear();
        self.checked.write().expect("field lock").clear();
        if let Some(sp) = self.spill.write().expect("field lock").as_mut() {
            sp.root = None;
        }
    }

    /// Staged changes in key order (spilled ones included).
    pub fn staged(&self) -> Result<Vec<(K, Option<V>)>> {
        self.staged_stream(None, None).map(|c| c.and_then(|(k, v)| Ok((typed_key(&k)?, v)))).collect()
    }

    /// Staged changes in key order (spilled ones included), streaming.
    pub fn staged_iter(&self) -> impl Iterator<Item = Result<(K, Option<V>)>> {
        self.staged_stream(None, None).map(|c| c.and_then(|(k, v)| Ok((typed_key(&k)?, v))))
    }

    /// Number of staged changes (spilled ones included: they are counted by reading them).
    pub fn staged_len(&self) -> Result<usize> {
        if self.spilled_root().is_none() {
            return Ok(self.staged_in_memory());
        }
        let mut n = 0;
        for change in self.staged_stream(None, None) {
            change?;
            n += 1;
        }
        Ok(n)
    }

    /// Whether anything is staged (in memory or spilled).
    pub fn has_staged(&self) -> bool {
        self.staged_in_memory() > 0 || self.spilled_root().is_some()
    }

    /// The staged change of `k`, if any (`Some(None)`: its removal is staged), in memory or spilled.
    pub fn staged_change(&self, k: &K) -> Result<Option<Option<V>>> {
        let ek = k.encode();
        if let Some(change) = self.staged.read().expect("field lock").get(&ek) {
            return Ok(Some(change.clone()));
        }
        self.get_spilled(&ek)
    }

    /// Number of staged changes held in memory (not spilled).
    pub fn staged_in_memory(&self) -> usize {
        self.staged.read().expect("field lock").len()
    }

    /// Keep staged changes beyond memory in `store` (a node store of their own, never the repository's), starting
    /// from the spilled tree `root` (as [`VersionedMap::spilled_root`] returned it). See [`VersionedMap::spill`].
    pub(crate) fn attach_spill(&self, store: Arc<dyn NodeStore>, root: Option<ChunkPointer>) {
        *self.spill.write().expect("field lock") = Some(Spill { store, root });
    }

    /// Whether a spill store is attached.
    pub fn can_spill(&self) -> bool {
        self.spill.read().expect("field lock").is_some()
    }

    /// Move the staged changes held in memory into the spilled tree of the attached spill store, so that staging
    /// any number of changes takes bounded memory; reads, [`staged`](Self::staged) and commits see them as before.
    /// Without a spill store attached (the command line's workspaces attach one), nothing happens.
    pub fn spill(&self) -> Result<()> {
        let mut spill = self.spill.write().expect("field lock");
        let Some(sp) = spill.as_mut() else { return Ok(()) };
        let mut staged = self.staged.write().expect("field lock");
        if staged.is_empty() {
            return Ok(());
        }
        let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = staged
            .iter()
            .map(|(k, v)| (k.clone(), Some(encode_spilled(v.as_ref().map(encode_value).as_deref()))))
            .collect();
        sp.root = tree::apply(&*sp.store, sp.root, changes)?;
        staged.clear();
        Ok(())
    }

    /// The tree of spilled staged changes (`None`: nothing spilled).
    pub fn spilled_root(&self) -> Option<ChunkPointer> {
        self.spill.read().expect("field lock").as_ref().and_then(|s| s.root)
    }

    /// Every staged change with an encoded key in `[start, end)`, in key order: the changes held in memory over
    /// the spilled ones, streaming over the spilled tree.
    fn staged_stream(&self, start: Option<Vec<u8>>, end: Option<Vec<u8>>) -> StagedChanges<V> {
        let mem = self.staged_between(&start, &end);
        let spilled = self
            .spill
            .read()
            .expect("field lock")
            .as_ref()
            .filter(|sp| sp.root.is_some())
            .map(|sp| tree::range_shared(sp.store.clone(), sp.root, start, end).peekable());
        StagedChanges { mem: mem.into_iter().peekable(), spilled, ahead: None }
    }

    /// Staged changes held in memory, encoded (to persist them between processes; spilled changes are persisted
    /// by their tree, [`VersionedMap::spilled_root`]).
    pub fn export_staged(&self) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        self.staged.read().expect("field lock").iter().map(|(k, v)| (k.clone(), v.as_ref().map(encode_value))).collect()
    }

    /// Restore staged changes exported by [`VersionedMap::export_staged`].
    pub fn import_staged(&self, changes: Vec<(Vec<u8>, Option<Vec<u8>>)>) -> Result<()> {
        let mut staged = self.staged.write().expect("field lock");
        for (k, v) in changes {
            let v = match v {
                Some(b) => Some(decode_value(&b)?),
                None => None,
            };
            staged.insert(k, v);
        }
        Ok(())
    }

    fn staged_between(&self, start: &Option<Vec<u8>>, end: &Option<Vec<u8>>) -> Vec<(Vec<u8>, Option<V>)> {
        let staged = self.staged.read().expect("field lock");
        let lo = start.clone().map_or(Bound::Unbounded, Bound::Included);
        let hi = end.clone().map_or(Bound::Unbounded, Bound::Excluded);
        if matches!((&lo, &hi), (Bound::Included(s), Bound::Excluded(e)) if s >= e) {
            return Vec::new();
        }
        staged.range::<Vec<u8>, _>((lo, hi)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    fn entries(&self, start: Option<Vec<u8>>, end: Option<Vec<u8>>) -> MapIter<'static, K, V, S> {
        let staged = self.staged_stream(start.clone(), end.clone());
        let store = self.store();
        let committed = store.clone().map(|store| {
            let nodes: Arc<dyn NodeStore> = store;
            tree::range_shared(nodes, self.read_base(), start, end).peekable()
        });
        MapIter {
            merge: Merge { committed, staged },
            handle: store.map(StoreHandle::Shared),
            ops: self.ops(),
            _k: PhantomData,
        }
    }

    /// Every entry in key order, staged changes included. Streams from the tree: memory is bounded by the tree's
    /// depth plus the staged changes, whatever the map's size.
    pub fn iter(&self) -> MapIter<'static, K, V, S> {
        self.entries(None, None)
    }

    /// The entries whose keys lie in `range`, in key order, streaming (see [`VersionedMap::iter`]).
    pub fn range(&self, range: impl RangeBounds<K>) -> MapIter<'static, K, V, S> {
        let (start, end) = encoded_bounds(&range);
        self.entries(start, end)
    }

    /// The entries whose encoded keys start with `prefix`, in key order, streaming. For `String` keys this is
    /// "keys starting with this string"; for tuple keys see [`VersionedMap::tuple_prefix`].
    pub fn prefix(&self, prefix: &[u8]) -> MapIter<'static, K, V, S> {
        let start = (!prefix.is_empty()).then(|| prefix.to_vec());
        self.entries(start, tree::prefix_end(prefix))
    }

    /// For tuple keys: the entries whose leading elements equal `leading` (one element, or a tuple of the first
    /// few), in key order, streaming.
    pub fn tuple_prefix<P: Key>(&self, leading: &P) -> MapIter<'static, K, V, S> {
        self.prefix(&super::key::nested_prefix(leading))
    }

    /// Every key in order, staged changes included, without reading any value: with the [`Sparse`](super::Sparse)
    /// strategy no value chunk is fetched at all.
    pub fn keys(&self) -> Keys<K, V> {
        let staged = self.staged_stream(None, None);
        let committed = self.store().map(|store| {
            let nodes: Arc<dyn NodeStore> = store;
            tree::range_shared(nodes, self.read_base(), None, None).peekable()
        });
        Keys { inner: Merge { committed, staged }, _k: PhantomData }
    }

    /// Entries whose keys start with `prefix`, committed merged with staged, in key order. Streams: memory is
    /// bounded by the tree's depth plus the staged changes.
    pub(crate) fn iter_prefix<'a>(&self, store: &'a Arc<Store>, prefix: &[u8]) -> MapIter<'a, K, V, S> {
        let start = (!prefix.is_empty()).then(|| prefix.to_vec());
        let staged = self.staged_stream(start, tree::prefix_end(prefix));
        MapIter {
            merge: Merge {
                committed: Some(tree::prefix(&**store as &dyn NodeStore, self.read_base(), prefix).peekable()),
                staged,
            },
            handle: Some(StoreHandle::Borrowed(store)),
            ops: self.ops(),
            _k: PhantomData,
        }
    }

    /// The differences from this map's committed version to `newer`'s (two versions of one field, e.g. from
    /// [`Infinitree::at`](crate::engine::db::Infinitree::at)), in key order, streaming. Staged changes are not
    /// included. Subtrees the versions share are skipped without being read, so the cost follows the size of the
    /// difference, not of the map.
    pub fn diff(&self, newer: &Self) -> Result<MapDiff<K, V, S>> {
        let store = self.store().or_else(|| newer.store());
        let inner = store.map(|store| {
            let nodes: Arc<dyn NodeStore> = store.clone();
            (tree::diff_shared(nodes, self.read_base(), newer.base()), store)
        });
        Ok(MapDiff { inner, ops: self.ops(), _k: PhantomData })
    }
}

/// The store an iterator reads values through.
enum StoreHandle<'a> {
    Borrowed(&'a Arc<Store>),
    Shared(Arc<Store>),
}

impl StoreHandle<'_> {
    fn get(&self) -> &Arc<Store> {
        match self {
            StoreHandle::Borrowed(s) => s,
            StoreHandle::Shared(s) => s,
        }
    }
}

/// A key's entry from either side of a merge of committed and staged state.
enum Source<V> {
    Committed(Vec<u8>),
    Staged(V),
}

/// Staged changes in key order: those held in memory over the spilled ones (decoded as they are read).
pub(crate) struct StagedChanges<V> {
    mem: Peekable<std::vec::IntoIter<(Vec<u8>, Option<V>)>>,
    spilled: Option<Peekable<tree::Range<'static>>>,
    ahead: Option<Result<(Vec<u8>, Option<V>)>>,
}

impl<V: DeserializeOwned> Iterator for StagedChanges<V> {
    type Item = Result<(Vec<u8>, Option<V>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.ahead.take().or_else(|| self.advance())
    }
}

impl<V: DeserializeOwned> StagedChanges<V> {
    fn peek(&mut self) -> Option<&Result<(Vec<u8>, Option<V>)>> {
        if self.ahead.is_none() {
            self.ahead = self.advance();
        }
        self.ahead.as_ref()
    }

    fn advance(&mut self) -> Option<Result<(Vec<u8>, Option<V>)>> {
        let sk = match self.spilled.as_mut().and_then(|s| s.peek()) {
            Some(Ok((k, _))) => Some(k.clone()),
            Some(Err(_)) => return self.spilled.as_mut()?.next().map(|r| r.map(|_| unreachable!())),
            None => None,
        };
        let take_mem = match (self.mem.peek(), &sk) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((m, _)), Some(s)) => {
                if m == s {
                    self.spilled.as_mut()?.next();
                }
                m <= s
            }
        };
        if take_mem {
            return self.mem.next().map(Ok);
        }
        let (k, v) = match self.spilled.as_mut()?.next()? {
            Ok(kv) => kv,
            Err(e) => return Some(Err(e)),
        };
        Some(decode_spilled(&v).and_then(|v| Ok((k, v.map(decode_value).transpose()?))))
    }
}

/// Committed entries merged with staged changes, in key order; staged wins, staged removals hide entries.
struct Merge<'a, V> {
    committed: Option<Peekable<tree::Range<'a>>>,
    staged: StagedChanges<V>,
}

impl<V: DeserializeOwned> Iterator for Merge<'_, V> {
    type Item = Result<(Vec<u8>, Source<V>)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let ck = match self.committed.as_mut().and_then(|c| c.peek()) {
                Some(Ok((k, _))) => Some(k.clone()),
                Some(Err(_)) => {
                    return self.committed.as_mut()?.next().map(|r| r.map(|(k, v)| (k, Source::Committed(v))))
                }
                None => None,
            };
            let sk = match self.staged.peek() {
                Some(Ok((k, _))) => Some(k.clone()),
                Some(Err(_)) => return self.staged.next().map(|r| r.map(|_| unreachable!())),
                None => None,
            };
            let take_staged = match (&ck, &sk) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(c), Some(s)) => {
                    if c == s {
                        self.committed.as_mut()?.next();
                    }
                    s <= c
                }
            };
            if take_staged {
                let (k, v) = match self.staged.next()? {
                    Ok(kv) => kv,
                    Err(e) => return Some(Err(e)),
                };
                match v {
                    Some(v) => return Some(Ok((k, Source::Staged(v)))),
                    None => continue,
                }
            }
            return self.committed.as_mut()?.next().map(|r| r.map(|(k, v)| (k, Source::Committed(v))));
        }
    }
}

fn typed_key<K: Key>(k: &[u8]) -> Result<K> {
    K::decode(k).ok_or_else(|| key_mismatch::<K>(k))
}

/// A stored key that does not decode as `K`.
pub(crate) fn key_mismatch<K>(k: &[u8]) -> Error {
    Error::TypeMismatch {
        what: format!("stored key {}", show_key(k)),
        expected: std::any::type_name::<K>().to_string(),
        source: None,
    }
}

/// Iterator over a [`VersionedMap`]'s entries, in key order.
pub struct MapIter<'a, K, V, S = Local> {
    merge: Merge<'a, V>,
    handle: Option<StoreHandle<'a>>,
    ops: Ops,
    _k: PhantomData<fn() -> (K, S)>,
}

impl<K: Key, V: DeserializeOwned, S: Strategy> Iterator for MapIter<'_, K, V, S> {
    type Item = Result<(K, V)>;

    fn next(&mut self) -> Option<Self::Item> {
        let (k, src) = match self.merge.next()? {
            Ok(x) => x,
            Err(e) => return Some(Err(e)),
        };
        let value = match src {
            Source::Staged(v) => Ok(v),
            Source::Committed(stored) => match &self.handle {
                Some(h) => (self.ops.get)(h.get(), &stored).and_then(|b| decode_stored(h.get(), &b)),
                None => Err(Error::integrity("index entry without a store")),
            },
        };
        Some(typed_key(&k).and_then(|k| value.map(|v| (k, v))))
    }
}

/// Iterator over a [`VersionedMap`]'s keys, in order, from [`VersionedMap::keys`]: values are not read.
pub struct Keys<K, V> {
    inner: Merge<'static, V>,
    _k: PhantomData<fn() -> K>,
}

impl<K: Key, V: DeserializeOwned> Iterator for Keys<K, V> {
    type Item = Result<K>;

    fn next(&mut self) -> Option<Self::Item> {
        Some(self.inner.next()?.and_then(|(k, _)| typed_key(&k)))
    }
}

/// One difference between two versions of a field, from the fields' `diff` methods: keyed by the map's key for
/// [`VersionedMap::diff`] and [`Map::diff`](super::Map::diff), by position for [`List::diff`](super::List::diff)
/// and [`LinkedList::diff`](super::LinkedList::diff).
#[derive(Clone, Debug, PartialEq)]
pub enum Change<K, V> {
    /// The key is new.
    Added {
        /// Key.
        key: K,
        /// Its value in the newer version.
        value: V,
    },
    /// The key is gone.
    Removed {
        /// Key.
        key: K,
        /// Its value in the older version.
        value: V,
    },
    /// The key's value changed.
    Changed {
        /// Key.
        key: K,
        /// Value in the older version.
        old: V,
        /// Value in the newer version.
        new: V,
    },
}

impl<K, V> Change<K, V> {
    /// The key that changed.
    pub fn key(&self) -> &K {
        match self {
            Change::Added { key, .. } | Change::Removed { key, .. } | Change::Changed { key, .. } => key,
        }
    }
}

/// Streaming, typed differences between two versions of a [`VersionedMap`].
pub struct MapDiff<K, V, S = Local> {
    inner: Option<(tree::Diff<'static>, Arc<Store>)>,
    ops: Ops,
    _k: PhantomData<Types<K, V, S>>,
}

/// The types a [`MapDiff`] decodes to.
type Types<K, V, S> = fn() -> (K, V, S);

impl<K: Key, V: DeserializeOwned, S: Strategy> Iterator for MapDiff<K, V, S> {
    type Item = Result<Change<K, V>>;

    fn next(&mut self) -> Option<Self::Item> {
        let (diff, store) = self.inner.as_mut()?;
        loop {
            let d = match diff.next()? {
                Ok(d) => d,
                Err(e) => return Some(Err(e)),
            };
            let ops = self.ops;
            let value = |b: &[u8]| -> Result<V> { decode_stored(store, &(ops.get)(store, b)?) };
            let r = (|| {
                let key = typed_key::<K>(&d.key)?;
                Ok(Some(match (&d.old, &d.new) {
                    (None, Some(n)) => Change::Added { key, value: value(n)? },
                    (Some(o), None) => Change::Removed { key, value: value(o)? },
                    (Some(o), Some(n)) if ops.same_stored(&d.old, &d.new) => {
                        let _ = (o, n);
                        return Ok(None);
                    }
                    (Some(o), Some(n)) => Change::Changed { key, old: value(o)?, new: value(n)? },
                    (None, None) => return Ok(None),
                }))
            })();
            match r {
                Ok(Some(c)) => return Some(Ok(c)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<K: Key, V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static, S: Strategy> Field
    for VersionedMap<K, V, S>
{
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()> {
        let root = decode_root(root)?;
        *self.store.write().expect("field lock") = Some(store.clone());
        *self.base.write().expect("field lock") = root;
        self.reset();
        Ok(())
    }

    fn commit(&self, store: &Arc<Store>, parent: Option<&[u8]>) -> Result<Vec<u8>> {
        let parent = decode_root(parent)?;
        let base = self.base();
        let ops = self.ops();
        // A leaf holds a value up to INDEX_VALUE_MAX; a strategy may take less. Longer values become blobs.
        let inline_max = ops.max_put.min(INDEX_VALUE_MAX);
        // Streamed from the staged changes (memory and spilled), a batch at a time.
        let stored = |change: Result<(Vec<u8>, Option<V>)>| -> Result<(Vec<u8>, Option<Vec<u8>>)> {
            let (k, v) = change?;
            if k.len() > KEY_MAX {
                return Err(Error::too_large(format!("key {:.64}…", show_key(&k)), k.len(), KEY_MAX));
            }
            let stored = match v {
                Some(v) => Some((ops.put)(store, &encode_stored(store, &v, inline_max)?)?),
                None => None,
            };
            Ok((k, stored))
        };
        if parent != base {
            // Someone committed since our base: merge by key. A staged key conflicts when it changed between the
            // base and the parent to something other than what we staged; a checked key (a read-modify-write)
            // when it changed between the base and the parent at all.
            let checked = self.checked.read().expect("field lock").clone();
            let mut keys = Vec::new();
            for change in self.staged_stream(None, None) {
                let (k, ours) = stored(change)?;
                let (k, ours) = (&k, &ours);
                let at_base = match base {
                    Some(b) => tree::get(&**store as &dyn NodeStore, Some(&b), k)?,
                    None => None,
                };
                let at_parent = match parent {
                    Some(p) => tree::get(&**store as &dyn NodeStore, Some(&p), k)?,
                    None => None,
                };
                let moved = !ops.same_stored(&at_base, &at_parent);
                if moved && (checked.contains(k) || !ops.same_stored(&at_parent, ours)) {
                    keys.push(show_key(k));
                }
            }
            if !keys.is_empty() {
                return Err(Error::MergeConflict { field: String::new(), keys });
            }
        }
        let mut root = parent;
        let mut batch = Vec::new();
        for change in self.staged_stream(None, None) {
            batch.push(stored(change)?);
            if batch.len() >= COMMIT_BATCH {
                root = tree::apply(&**store as &dyn NodeStore, root, std::mem::take(&mut batch))?;
            }
        }
        if !batch.is_empty() {
            root = tree::apply(&**store as &dyn NodeStore, root, batch)?;
        }
        let mut out = Vec::new();
        ciborium::into_writer(&root, &mut out).expect("CBOR encoding into memory cannot fail");
        Ok(out)
    }

    fn write_delta(
        &self,
        store: &Arc<Store>,
        tracer: &mut Tracer<'_>,
        emit: &mut super::DeltaSink<'_>,
    ) -> Result<bool> {
        let ops = self.ops();
        let inline_max = ops.max_put.min(INDEX_VALUE_MAX);
        let mut batch: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        let mut bytes = 0usize;
        let mut any = false;
        for change in self.staged_stream(None, None) {
            let (k, v) = change?;
            if k.len() > KEY_MAX {
                return Err(Error::too_large(format!("key {:.64}…", show_key(&k)), k.len(), KEY_MAX));
            }
            let stored = match v {
                Some(v) => {
                    let plain = encode_value(&v);
                    let stored = (ops.put)(store, &encode_stored(store, &v, inline_max)?)?;
                    tracer.keyed_value(&k);
                    (ops.trace)(&stored, tracer)?;
                    tracer.scan(&stored)?;
                    tracer.scan(&plain)?;
                    Some(stored)
                }
                None => None,
            };
            let len = k.len() + stored.as_ref().map_or(0, Vec::len) + 16;
            if !batch.is_empty() && (batch.len() >= DELTA_BATCH || bytes + len > DELTA_BATCH_BYTES) {
                emit(std::mem::take(&mut batch))?;
                bytes = 0;
            }
            bytes += len;
            batch.push((k, stored));
            any = true;
        }
        if !batch.is_empty() {
            emit(batch)?;
        }
        Ok(any)
    }

    fn is_dirty(&self) -> bool {
        self.has_staged()
    }

    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()> {
        let store = tracer.store().clone();
        let nodes = &*store as &dyn NodeStore;
        let root = decode_root(Some(root))?;
        let parent = decode_root(parent)?;
        tree::for_each_node(nodes, root.as_ref(), &mut |n| tracer.chunk(n))?;
        // Values that are new in this commit; older ones are traced from the commit that introduced them. The diff
        // loads (and so authenticates) every index node that differs from the parent.
        for d in tree::diff(nodes, parent, root) {
            let d = d?;
            let Some(stored) = d.new else { continue };
            self.trace_stored(&d.key, &stored, tracer)?;
        }
        Ok(())
    }

    fn trace_stored(&self, key: &[u8], stored: &[u8], tracer: &mut Tracer<'_>) -> Result<()> {
        let store = tracer.store().clone();
        tracer.keyed_value(key);
        let ops = self.ops();
        (ops.trace)(stored, tracer)?;
        let bytes = (ops.get)(&store, stored)?;
        let full = trace_value(&store, &bytes, tracer)?;
        if let Some(validate) = self.validate {
            validate(&decode_value::<V>(&full)?, tracer)?;
        }
        Ok(())
    }
}
