//! [`VersionedMap`]: an ordered map whose committed state is an index tree and whose changes are staged in memory
//! until commit.

use super::{Field, Key, Trace, Tracer};
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::tree::{self, NodeStore};
use crate::engine::{Error, Result};
use serde::{de::DeserializeOwned, Serialize};
use std::collections::BTreeMap;
use std::iter::Peekable;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

/// Staged changes: encoded key -> new value (`None` = removed).
type Staged<V> = BTreeMap<Vec<u8>, Option<V>>;

/// A versioned ordered map `K -> V`.
pub struct VersionedMap<K, V> {
    store: RwLock<Option<Arc<Store>>>,
    base: RwLock<Option<ChunkPointer>>,
    staged: RwLock<Staged<V>>,
    _k: PhantomData<fn() -> K>,
}

impl<K, V> Default for VersionedMap<K, V> {
    fn default() -> Self {
        Self {
            store: RwLock::new(None),
            base: RwLock::new(None),
            staged: RwLock::new(BTreeMap::new()),
            _k: PhantomData,
        }
    }
}

fn encode_value<V: Serialize>(v: &V) -> Vec<u8> {
    let mut b = Vec::new();
    ciborium::into_writer(v, &mut b).expect("CBOR encoding into memory cannot fail");
    b
}

fn decode_value<V: DeserializeOwned>(b: &[u8]) -> Result<V> {
    ciborium::from_reader(b).map_err(|e| Error::integrity(format!("index value does not decode: {e}")))
}

/// Decode a map root as stored in a commit.
pub fn decode_root(root: Option<&[u8]>) -> Result<Option<ChunkPointer>> {
    match root {
        None => Ok(None),
        Some(r) => ciborium::from_reader(r).map_err(|e| Error::integrity(format!("map root: {e}"))),
    }
}

impl<K: Key, V: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> VersionedMap<K, V> {
    /// A map attached to `store` at tree `root` (`None`: empty).
    pub fn at(store: Arc<Store>, root: Option<ChunkPointer>) -> Self {
        let m = Self::default();
        *m.store.write().expect("field lock") = Some(store);
        *m.base.write().expect("field lock") = root;
        m
    }

    fn store(&self) -> Option<Arc<Store>> {
        self.store.read().expect("field lock").clone()
    }

    /// The committed tree this map was loaded from.
    pub fn base(&self) -> Option<ChunkPointer> {
        *self.base.read().expect("field lock")
    }

    /// The value for `k`: staged if staged, else committed.
    pub fn get(&self, k: &K) -> Result<Option<V>> {
        let ek = k.encode();
        if let Some(change) = self.staged.read().expect("field lock").get(&ek) {
            return Ok(change.clone());
        }
        self.get_committed(&ek)
    }

    fn get_committed(&self, ek: &[u8]) -> Result<Option<V>> {
        let (Some(store), Some(base)) = (self.store(), self.base()) else {
            return Ok(None);
        };
        match tree::get(&*store as &dyn NodeStore, Some(&base), ek)? {
            Some(b) => Ok(Some(decode_value(&b)?)),
            None => Ok(None),
        }
    }

    /// The committed value for `k` at the map's base, ignoring anything staged.
    pub fn committed(&self, k: &K) -> Result<Option<V>> {
        self.get_committed(&k.encode())
    }

    /// Move the map's base to the committed tree `root` (a newer head of the branch), keeping the staged changes:
    /// afterwards they apply on top of `root`, as if they had been staged there. Returns the keys whose staged
    /// change collides with a different change committed between the old base and `root` (a commit would have
    /// failed with [`Error::MergeConflict`] on them); they stay staged with this side's value, and the committed
    /// value is what [`committed`](Self::committed) returns now. Staged changes that `root` already holds are
    /// dropped.
    pub fn rebase(&self, root: Option<&[u8]>) -> Result<Vec<K>> {
        let new_base = decode_root(root)?;
        let Some(store) = self.store() else {
            return Err(Error::Invalid("rebase of a map that was never loaded".into()));
        };
        let old_base = self.base();
        let mut conflicts = Vec::new();
        let mut settled = Vec::new();
        for (k, ours) in self.export_staged() {
            let at_new = match new_base {
                Some(b) => tree::get(&*store as &dyn NodeStore, Some(&b), &k)?,
                None => None,
            };
            if at_new == ours {
                settled.push(k);
                continue;
            }
            let at_old = match old_base {
                Some(b) => tree::get(&*store as &dyn NodeStore, Some(&b), &k)?,
                None => None,
            };
            if at_old != at_new {
                conflicts.push(K::decode(&k).ok_or_else(|| Error::integrity("staged key does not decode"))?);
            }
        }
        let mut staged = self.staged.write().expect("field lock");
        for k in settled {
            staged.remove(&k);
        }
        *self.base.write().expect("field lock") = new_base;
        Ok(conflicts)
    }

    /// Whether `k` has a value.
    pub fn contains_key(&self, k: &K) -> Result<bool> {
        Ok(self.get(k)?.is_some())
    }

    /// Stage `k = v`.
    pub fn insert(&self, k: K, v: V) {
        self.staged.write().expect("field lock").insert(k.encode(), Some(v));
    }

    /// Stage removal of `k`.
    pub fn remove(&self, k: &K) {
        self.staged.write().expect("field lock").insert(k.encode(), None);
    }

    /// Drop a staged change of `k` (back to the committed value).
    pub fn unstage(&self, k: &K) {
        self.staged.write().expect("field lock").remove(&k.encode());
    }

    /// Drop every staged change.
    pub fn reset(&self) {
        self.staged.write().expect("field lock").clear();
    }

    /// Staged changes in key order.
    pub fn staged(&self) -> Vec<(K, Option<V>)> {
        self.staged.read().expect("field lock").iter().filter_map(|(k, v)| Some((K::decode(k)?, v.clone()))).collect()
    }

    /// Number of staged changes.
    pub fn staged_len(&self) -> usize {
        self.staged.read().expect("field lock").len()
    }

    /// Staged changes encoded (to persist them between processes).
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

    /// Entries whose keys start with `prefix`, committed merged with staged, in key order. Streams: memory is
    /// bounded by the tree's depth plus the staged changes.
    pub fn iter_prefix<'a>(&self, store: &'a Store, prefix: &[u8]) -> MapIter<'a, K, V> {
        let staged: Vec<(Vec<u8>, Option<V>)> = self
            .staged
            .read()
            .expect("field lock")
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        MapIter {
            committed: tree::prefix(store as &dyn NodeStore, self.base(), prefix).peekable(),
            staged: staged.into_iter().peekable(),
            _k: PhantomData,
        }
    }

    /// Only the committed entries under `prefix` in the tree `root`.
    pub fn iter_root<'a>(store: &'a Store, root: Option<ChunkPointer>, prefix: &[u8]) -> MapIter<'a, K, V> {
        MapIter {
            committed: tree::prefix(store as &dyn NodeStore, root, prefix).peekable(),
            staged: Vec::new().into_iter().peekable(),
            _k: PhantomData,
        }
    }
}

/// Iterator over a [`VersionedMap`]'s entries.
pub struct MapIter<'a, K, V> {
    committed: Peekable<tree::Range<'a>>,
    staged: Peekable<std::vec::IntoIter<(Vec<u8>, Option<V>)>>,
    _k: PhantomData<fn() -> K>,
}

impl<K: Key, V: DeserializeOwned> Iterator for MapIter<'_, K, V> {
    type Item = Result<(K, V)>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let ck = match self.committed.peek() {
                Some(Ok((k, _))) => Some(k.clone()),
                Some(Err(_)) => {
                    return match self.committed.next() {
                        Some(Err(e)) => Some(Err(e)),
                        _ => None,
                    }
                }
                None => None,
            };
            let sk = self.staged.peek().map(|(k, _)| k.clone());
            let take_staged = match (&ck, &sk) {
                (None, None) => return None,
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some(c), Some(s)) => {
                    if c == s {
                        self.committed.next();
                    }
                    s <= c
                }
            };
            let (k, v) = if take_staged {
                let (k, v) = self.staged.next()?;
                match v {
                    Some(v) => (k, Ok(v)),
                    None => continue,
                }
            } else {
                match self.committed.next()? {
                    Ok((k, b)) => {
                        let v = decode_value(&b);
                        (k, v)
                    }
                    Err(e) => return Some(Err(e)),
                }
            };
            let key = match K::decode(&k) {
                Some(key) => key,
                None => return Some(Err(Error::integrity("index key does not decode"))),
            };
            return Some(v.map(|v| (key, v)));
        }
    }
}

impl<K: Key, V: Serialize + DeserializeOwned + Clone + Trace + Send + Sync + 'static> Field for VersionedMap<K, V> {
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
        let changes: Vec<(Vec<u8>, Option<Vec<u8>>)> = self.export_staged();
        if parent != base {
            // Someone committed since our base: merge by key. A staged key conflicts when it changed between the
            // base and the parent to something other than what we staged.
            let mut keys = Vec::new();
            for (k, ours) in &changes {
                let at_base = match base {
                    Some(b) => tree::get(&**store as &dyn NodeStore, Some(&b), k)?,
                    None => None,
                };
                let at_parent = match parent {
                    Some(p) => tree::get(&**store as &dyn NodeStore, Some(&p), k)?,
                    None => None,
                };
                if at_base != at_parent && at_parent != *ours {
                    keys.push(String::from_utf8_lossy(k).into_owned());
                }
            }
            if !keys.is_empty() {
                return Err(Error::MergeConflict { keys });
            }
        }
        let root = tree::apply(&**store as &dyn NodeStore, parent, changes)?;
        let mut out = Vec::new();
        ciborium::into_writer(&root, &mut out).expect("CBOR encoding into memory cannot fail");
        Ok(out)
    }

    fn is_dirty(&self) -> bool {
        self.staged_len() > 0
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
            let Some(v) = d.new else { continue };
            let v: V = decode_value(&v)?;
            tracer.keyed_value(&d.key);
            v.trace(tracer)?;
        }
        Ok(())
    }
}
