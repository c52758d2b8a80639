//! [`LinkedList`]: an append-only sequence across commits; each commit stores only what it appended.
//!
//! # Storage
//!
//! Each commit that appends writes its new items as one or more *segments* (index chunks of at most
//! [`SEGMENT_MAX`] encoded bytes), each pointing back at the segment before it, and adds the segments to a small
//! index tree (segment number → segment pointer) that lets readers go forward. Nothing already stored is
//! rewritten: appending `k` items to a list of `n` costs the `k` items plus the path of the segment tree that
//! changes (one leaf and its parents, a few KiB, growing with `log(commits)`, never with `n`).
//!
//! Reading streams: oldest → newest walks the segment tree in order, newest → oldest follows the back pointers;
//! either way one segment is held at a time.
//!
//! # Concurrent appends
//!
//! Appends never conflict. A commit appends its staged items after whatever the branch holds when the commit
//! lands, so when two writers append to the same list at once both keep their items: the items of the writer
//! whose commit reaches the branch first come first, each writer's items stay together and in the order it
//! pushed them.
//!
//! ```
//! use infini::backends::MemoryBackend;
//! use infini::{fields::LinkedList, Infinitree, KdfParams};
//! use infini::{Repository, StoreOptions};
//! use std::sync::Arc;
//! # fn main() -> infini::Result<()> {
//! let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
//! let repo = Arc::new(Repository::create(Arc::new(MemoryBackend::new()), b"pw", kdf, StoreOptions::default())?);
//! let mut log = Infinitree::<LinkedList<String>>::open(repo, "main")?;
//! log.index().push("started".into());
//! log.commit("day 1")?;
//! log.index().extend(["ran".to_string(), "stopped".to_string()]);
//! log.commit("day 2")?;
//!
//! let events = log.index();
//! assert_eq!(events.len(), 3);
//! let oldest_first: Vec<String> = events.iter().collect::<Result<_, _>>()?;
//! assert_eq!(oldest_first, ["started", "ran", "stopped"]);
//! let newest_first: Vec<String> = events.iter_rev().collect::<Result<_, _>>()?;
//! assert_eq!(newest_first, ["stopped", "ran", "started"]);
//! # Ok(()) }
//! ```

use super::map::encode_value;
use super::value::{decode_stored, encode_stored, trace_value};
use super::{Field, Tracer};
use crate::engine::crypto::Kind;
use crate::engine::limits::INDEX_VALUE_MAX;
use crate::engine::object::{ChunkPointer, Store};
use crate::engine::tree::{self, NodeStore};
use crate::engine::{Error, Result};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, RwLock};

/// Most encoded item bytes in one segment; a longer append is split. An item longer than this gets a segment of
/// its own.
pub const SEGMENT_MAX: usize = 256 * 1024;

/// The root of a [`LinkedList`] as stored in a commit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct ListRoot {
    /// Items in the list.
    len: u64,
    /// Segments in the list.
    segments: u64,
    /// The newest segment.
    head: Option<ChunkPointer>,
    /// Segment tree: segment number (u64 big-endian) → CBOR segment pointer.
    index: Option<ChunkPointer>,
}

/// One segment: some consecutive items and the segment before them.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Segment {
    /// The previous (older) segment.
    prev: Option<ChunkPointer>,
    /// Position of the first item in the list.
    first: u64,
    /// Items, each CBOR-encoded.
    items: Vec<serde_bytes::ByteBuf>,
}

fn decode_list_root(root: Option<&[u8]>) -> Result<ListRoot> {
    match root {
        None => Ok(ListRoot::default()),
        Some(r) => {
            ciborium::from_reader(r).map_err(|e| Error::type_mismatch("a field's root", "the root of a LinkedList", e))
        }
    }
}

fn load_segment(store: &Store, ptr: &ChunkPointer) -> Result<Segment> {
    let bytes = store.get_chunk(Kind::Index, ptr)?;
    ciborium::from_reader(bytes.as_slice()).map_err(|e| Error::corrupt(format!("list segment {}", ptr.id), e))
}

fn decode_pointer(b: &[u8]) -> Result<ChunkPointer> {
    ciborium::from_reader(b).map_err(|e| Error::corrupt("list segment pointer", e))
}

/// An append-only list that stores, per commit, only the items appended (see the [module docs](self)).
pub struct LinkedList<T> {
    store: RwLock<Option<Arc<Store>>>,
    base: RwLock<ListRoot>,
    pending: Mutex<Vec<T>>,
}

impl<T> Default for LinkedList<T> {
    fn default() -> Self {
        Self { store: RwLock::new(None), base: RwLock::new(ListRoot::default()), pending: Mutex::new(Vec::new()) }
    }
}

/// An independent copy: the same committed version and a copy of the staged items.
impl<T: Clone> Clone for LinkedList<T> {
    fn clone(&self) -> Self {
        Self {
            store: RwLock::new(self.store.read().expect("field lock").clone()),
            base: RwLock::new(*self.base.read().expect("field lock")),
            pending: Mutex::new(self.pending.lock().expect("field lock").clone()),
        }
    }
}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> LinkedList<T> {
    /// Stage one item at the end.
    pub fn push(&self, item: T) {
        self.pending.lock().expect("field lock").push(item);
    }

    /// Stage items at the end, in order.
    pub fn extend(&self, items: impl IntoIterator<Item = T>) {
        self.pending.lock().expect("field lock").extend(items);
    }

    /// Number of items, staged ones included.
    pub fn len(&self) -> u64 {
        self.base.read().expect("field lock").len + self.pending.lock().expect("field lock").len() as u64
    }

    /// Whether the list has no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of committed items.
    pub fn committed_len(&self) -> u64 {
        self.base.read().expect("field lock").len
    }

    /// Number of segments committed (one or more per commit that appended).
    pub fn segments(&self) -> u64 {
        self.base.read().expect("field lock").segments
    }

    /// Items oldest → newest, staged ones last. Streams: one segment is held at a time.
    pub fn iter(&self) -> ListIter<T> {
        let root = *self.base.read().expect("field lock");
        let store = self.store.read().expect("field lock").clone();
        let segments = store.as_ref().map(|s| {
            let nodes: Arc<dyn NodeStore> = s.clone();
            tree::range_shared(nodes, root.index, None, None)
        });
        ListIter {
            store,
            segments,
            current: Vec::new().into_iter(),
            pending: self.pending.lock().expect("field lock").clone().into_iter(),
            _t: PhantomData,
        }
    }

    /// The differences from this list's committed items to `newer`'s (two versions of one field, e.g. from
    /// [`Infinitree::at`](crate::engine::db::Infinitree::at)). A list only grows, so a newer version differs by the
    /// items appended: `Added` with their positions, oldest first (`Removed` if `newer` is in fact the older
    /// version). Reads only the segments that hold those items; staged items are not included.
    pub fn diff(&self, newer: &Self) -> Result<Vec<super::Change<u64, T>>> {
        let (a, b) = (self.committed_len(), newer.committed_len());
        let (longer, from, to, added) = if b >= a { (newer, a, b, true) } else { (self, b, a, false) };
        let committed = ListRevIter::<T> {
            store: longer.store.read().expect("field lock").clone(),
            next: longer.base.read().expect("field lock").head,
            current: Vec::new().into_iter(),
            pending: Vec::new().into_iter(),
            _t: PhantomData,
        };
        let mut items: Vec<T> = committed.take((to - from) as usize).collect::<Result<_>>()?;
        items.reverse();
        Ok(items
            .into_iter()
            .zip(from..)
            .map(
                |(value, key)| {
                    if added {
                        super::Change::Added { key, value }
                    } else {
                        super::Change::Removed { key, value }
                    }
                },
            )
            .collect())
    }

    /// Items newest → oldest, staged ones first. Streams: one segment is held at a time.
    pub fn iter_rev(&self) -> ListRevIter<T> {
        let root = *self.base.read().expect("field lock");
        let mut pending = self.pending.lock().expect("field lock").clone();
        pending.reverse();
        ListRevIter {
            store: self.store.read().expect("field lock").clone(),
            next: root.head,
            current: Vec::new().into_iter(),
            pending: pending.into_iter(),
            _t: PhantomData,
        }
    }
}

/// Write `items` as segments on top of `root`; returns the new root.
fn append(store: &Store, mut root: ListRoot, items: Vec<Vec<u8>>) -> Result<ListRoot> {
    let mut changes = Vec::new();
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        let mut seg = Segment { prev: root.head, first: root.len, items: Vec::new() };
        let mut size = 0;
        while let Some(it) = items.peek() {
            if !seg.items.is_empty() && size + it.len() > SEGMENT_MAX {
                break;
            }
            size += it.len();
            seg.items.push(serde_bytes::ByteBuf::from(items.next().expect("peeked")));
        }
        let ptr = store.put_chunk(Kind::Index, &encode_value(&seg))?;
        changes.push((root.segments.to_be_bytes().to_vec(), Some(encode_value(&ptr))));
        root.len += seg.items.len() as u64;
        root.segments += 1;
        root.head = Some(ptr);
    }
    root.index = tree::apply(store as &dyn NodeStore, root.index, changes)?;
    Ok(root)
}

impl<T: Serialize + DeserializeOwned + Clone + Send + Sync + 'static> Field for LinkedList<T> {
    fn load(&self, store: &Arc<Store>, root: Option<&[u8]>) -> Result<()> {
        let root = decode_list_root(root)?;
        *self.store.write().expect("field lock") = Some(store.clone());
        *self.base.write().expect("field lock") = root;
        self.pending.lock().expect("field lock").clear();
        Ok(())
    }

    fn commit(&self, store: &Arc<Store>, parent: Option<&[u8]>) -> Result<Vec<u8>> {
        // Items too long for a segment are stored as blobs of their own, a reference in the segment.
        let items = self.pending.lock().expect("field lock").clone();
        let pending: Vec<Vec<u8>> =
            items.iter().map(|it| encode_stored(store, it, INDEX_VALUE_MAX)).collect::<Result<_>>()?;
        drop(items);
        if pending.is_empty() {
            if let Some(p) = parent {
                return Ok(p.to_vec());
            }
        }
        // Appends go after whatever the branch holds now: concurrent appends merge in commit order.
        let root = append(store, decode_list_root(parent)?, pending)?;
        Ok(encode_value(&root))
    }

    fn is_dirty(&self) -> bool {
        !self.pending.lock().expect("field lock").is_empty()
    }

    fn trace(&self, root: &[u8], parent: Option<&[u8]>, tracer: &mut Tracer<'_>) -> Result<()> {
        let store = tracer.store().clone();
        let root = decode_list_root(Some(root))?;
        let parent = decode_list_root(parent)?;
        tree::for_each_node(&*store as &dyn NodeStore, root.index.as_ref(), &mut |n| tracer.chunk(n))?;
        // Segments appended since the parent; older ones are traced from the commits that wrote them.
        let mut next = root.head;
        while let Some(p) = next {
            if Some(p) == parent.head {
                break;
            }
            tracer.chunk(&p)?;
            let seg = load_segment(&store, &p)?;
            for b in &seg.items {
                tracer.value();
                trace_value(&store, b, tracer)?;
            }
            next = seg.prev;
        }
        Ok(())
    }
}

/// Oldest → newest iterator over a [`LinkedList`], from [`LinkedList::iter`].
pub struct ListIter<T> {
    store: Option<Arc<Store>>,
    segments: Option<tree::Range<'static>>,
    current: std::vec::IntoIter<serde_bytes::ByteBuf>,
    pending: std::vec::IntoIter<T>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Iterator for ListIter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(b) = self.current.next() {
                return Some(decode_stored(self.store.as_ref()?, &b));
            }
            let next = self.segments.as_mut().and_then(Iterator::next);
            match next {
                None => {
                    self.segments = None;
                    return self.pending.next().map(Ok);
                }
                Some(Err(e)) => {
                    self.segments = None;
                    return Some(Err(e));
                }
                Some(Ok((_, ptr))) => {
                    let store = self.store.as_ref()?;
                    match decode_pointer(&ptr).and_then(|p| load_segment(store, &p)) {
                        Ok(seg) => self.current = seg.items.into_iter(),
                        Err(e) => {
                            self.segments = None;
                            return Some(Err(e));
                        }
                    }
                }
            }
        }
    }
}

/// Newest → oldest iterator over a [`LinkedList`], from [`LinkedList::iter_rev`].
pub struct ListRevIter<T> {
    store: Option<Arc<Store>>,
    next: Option<ChunkPointer>,
    current: std::vec::IntoIter<serde_bytes::ByteBuf>,
    pending: std::vec::IntoIter<T>,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Iterator for ListRevIter<T> {
    type Item = Result<T>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(v) = self.pending.next() {
            return Some(Ok(v));
        }
        loop {
            if let Some(b) = self.current.next_back() {
                return Some(decode_stored(self.store.as_ref()?, &b));
            }
            let p = self.next.take()?;
            match load_segment(self.store.as_ref()?, &p) {
                Ok(seg) => {
                    self.next = seg.prev;
                    self.current = seg.items.into_iter();
                }
                Err(e) => return Some(Err(e)),
            }
        }
    }
}
