//! The index tree: a persistent, copy-on-write ordered map of bytes to bytes whose nodes are chunks.

use crate::engine::crypto::Kind;
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::Result;
use std::sync::Arc;

/// Where tree nodes are kept. [`Store`] implements it with index chunks; tests may use memory.
pub trait NodeStore: Send + Sync {
    /// Store an encoded node; returns its pointer. Identical nodes may deduplicate to the same pointer.
    fn put_node(&self, bytes: &[u8]) -> Result<ChunkPointer>;
    /// Load an encoded node by pointer.
    fn get_node(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>>;
}

impl NodeStore for Store {
    fn put_node(&self, bytes: &[u8]) -> Result<ChunkPointer> {
        self.put_chunk(Kind::Index, bytes)
    }
    fn get_node(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.get_chunk(Kind::Index, ptr)
    }
}

// Interim single-node implementation with the final API (replaced by the persistent tree).
use crate::engine::Error;

type Entries = Vec<(serde_bytes::ByteBuf, serde_bytes::ByteBuf)>;

fn load(store: &dyn NodeStore, root: Option<&ChunkPointer>) -> Result<Entries> {
    match root {
        None => Ok(Vec::new()),
        Some(p) => {
            ciborium::from_reader(store.get_node(p)?.as_slice()).map_err(|e| Error::integrity(format!("node: {e}")))
        }
    }
}

/// Point lookup.
pub fn get(store: &dyn NodeStore, root: Option<&ChunkPointer>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let e = load(store, root)?;
    Ok(e.binary_search_by(|(k, _)| k.as_slice().cmp(key)).ok().map(|i| e[i].1.to_vec()))
}

/// Apply sorted changes.
pub fn apply(
    store: &dyn NodeStore,
    root: Option<ChunkPointer>,
    changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<Option<ChunkPointer>> {
    let mut m: std::collections::BTreeMap<Vec<u8>, Vec<u8>> =
        load(store, root.as_ref())?.into_iter().map(|(k, v)| (k.into_vec(), v.into_vec())).collect();
    for (k, v) in changes {
        match v {
            Some(v) => {
                m.insert(k, v);
            }
            None => {
                m.remove(&k);
            }
        }
    }
    if m.is_empty() {
        return Ok(None);
    }
    let e: Entries =
        m.into_iter().map(|(k, v)| (serde_bytes::ByteBuf::from(k), serde_bytes::ByteBuf::from(v))).collect();
    let mut b = Vec::new();
    ciborium::into_writer(&e, &mut b).expect("cbor");
    Ok(Some(store.put_node(&b)?))
}

/// Streaming range.
pub struct Range<'a> {
    items: std::vec::IntoIter<Result<(Vec<u8>, Vec<u8>)>>,
    _s: std::marker::PhantomData<&'a ()>,
}
impl Iterator for Range<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;
    fn next(&mut self) -> Option<Self::Item> {
        self.items.next()
    }
}

/// Keys with a prefix.
pub fn prefix<'a>(store: &'a dyn NodeStore, root: Option<ChunkPointer>, prefix: &[u8]) -> Range<'a> {
    let items = match load(store, root.as_ref()) {
        Ok(e) => e
            .into_iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, v)| Ok((k.into_vec(), v.into_vec())))
            .collect::<Vec<_>>(),
        Err(e) => vec![Err(e)],
    };
    Range { items: items.into_iter(), _s: std::marker::PhantomData }
}

/// A difference.
pub struct DiffEntry {
    pub key: Vec<u8>,
    pub old: Option<Vec<u8>>,
    pub new: Option<Vec<u8>>,
}

/// Diff.
#[allow(clippy::needless_lifetimes)]
pub fn diff<'a>(
    store: &'a dyn NodeStore,
    a: Option<ChunkPointer>,
    b: Option<ChunkPointer>,
) -> std::vec::IntoIter<Result<DiffEntry>> {
    let (ea, eb) = match (load(store, a.as_ref()), load(store, b.as_ref())) {
        (Ok(x), Ok(y)) => (x, y),
        (Err(e), _) | (_, Err(e)) => return vec![Err(e)].into_iter(),
    };
    let ma: std::collections::BTreeMap<_, _> = ea.into_iter().collect();
    let mb: std::collections::BTreeMap<_, _> = eb.into_iter().collect();
    let mut keys: Vec<_> = ma.keys().chain(mb.keys()).cloned().collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let o = ma.get(&k).map(|v| v.to_vec());
            let n = mb.get(&k).map(|v| v.to_vec());
            (o != n).then(|| Ok(DiffEntry { key: k.into_vec(), old: o, new: n }))
        })
        .collect::<Vec<_>>()
        .into_iter()
}
