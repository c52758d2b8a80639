//! The index tree: a persistent, copy-on-write ordered map of bytes to bytes whose nodes are chunks.
//!
//! # Shape
//!
//! The tree is a *prolly tree*: a B-tree whose node boundaries are chosen by the content, not by the history of
//! insertions. Level 0 is the sorted sequence of all entries, cut into leaves; level `n + 1` has one entry per node
//! of level `n` (that node's first key, pointer and entry count), cut into nodes by the same rule. The root is the
//! lowest level that is a single node. A tree is named by its root pointer; `None` is the empty tree.
//!
//! Because a node ends after an entry depending only on the entries since the previous node ended, the same set of
//! entries always gives the same nodes, whatever order and batches they were written in: equal subtrees of two
//! versions have equal pointers (identical node bytes deduplicate in the store), which is what lets
//! `diff` skip them and `apply` rewrite only the paths to changed keys.
//!
//! # Node format (part of the on-disk format)
//!
//! A node is the CBOR encoding of a two-element array, stored as one index chunk through [`NodeStore`]:
//!
//! ```text
//! leaf      = [0, [[key: bstr, value: bstr], ...]]
//! internal  = [level: uint (1..=64), [[first_key: bstr, child: bstr(72 bytes, a ChunkPointer), count: uint], ...]]
//! ```
//!
//! * Keys in a node are strictly increasing and a node has at least one entry.
//! * In an internal node at `level`, each child is a node at `level - 1` whose first key is `first_key`, whose keys
//!   are all below the next entry's `first_key`, and whose subtree holds `count >= 1` entries.
//!
//! # Boundary rule
//!
//! Each entry has a *weight*: `len(key) + len(value) + 4` in a leaf, `len(key) + 84` in an internal node. Let
//! `before` and `after` be the summed weights of the node being built without and with an entry, and
//! `h = u32_le(SHA-256(level_byte || key)[0..4])`. The node ends after the entry when
//!
//! * `after >= MAX` (16 KiB), or
//! * `after >= MIN` (4 KiB) and `h < floor(2^32 * (a² - b²) / a²)`, where `a = MAX - max(before, MIN)` and
//!   `b = MAX - after`.
//!
//! That is, node sizes follow the survival function `S(x) = (1 - (x - MIN) / (MAX - MIN))²` between `MIN` and
//! `MAX` (mean about 8 KiB, mode at 4 KiB), independently of how large single entries are. The last node of a level
//! ends with the level. An entry heavier than `MAX` gets a node of its own (plus whatever precedes it); nothing
//! limits an entry's size, but values are meant to be at most a few KiB.
//!
//! Everything is integer arithmetic on the encoded bytes, so every implementation cuts the same nodes.
//!
//! # Costs
//!
//! * [`get`]: one node per level.
//! * `apply`: only nodes whose content changes are written: per change, about one node per level (occasionally
//!   a neighbour whose end moves). Untouched nodes are shared and not even loaded.
//! * [`range`], [`prefix`], `diff`: streaming, holding one root-to-leaf path of nodes (per tree). Their nodes,
//!   and those of [`for_each_node`], are read as a scan ([`NodeStore::get_node_scan`]): a [`Store`] serves them
//!   from its hot cache if there but does not add them, so a whole-tree scan leaves the cache as it was.
//! * [`len`]: the root only (internal entries carry counts).
//! * [`for_each_node`]: loads internal nodes only; [`verify`] loads and checks every node.
//!
//! Nodes come from authenticated storage, but are still checked when decoded and when followed (levels, key order,
//! key ranges, counts); a node that fails is reported as [`Error::Integrity`](crate::engine::Error::Integrity).

#![deny(missing_docs)]

mod apply;
mod cache;
mod diff;
mod node;
mod read;
#[cfg(test)]
mod tests;

pub use apply::apply;
pub use cache::NodeCache;
pub use diff::Diff;
#[cfg(test)]
pub use diff::DiffEntry;
pub(crate) use read::prefix_end;
#[cfg(test)]
pub use read::{depth, verify};
pub use read::{for_each_node, get, len, Range, StoreRef};

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
    /// Load an encoded node for an iteration that reads each node about once ([`range`], [`prefix`], `diff`,
    /// [`for_each_node`]): like [`NodeStore::get_node`], but a store with a cache of chunks should serve the node
    /// from it if there and not add it, so that scans do not fill the cache or evict what point reads keep.
    fn get_node_scan(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.get_node(ptr)
    }
    /// Decoded nodes this store keeps for reuse, if any.
    fn node_cache(&self) -> Option<&NodeCache> {
        None
    }
    /// Nodes a walk is about to load, in the order it will: a store whose reads wait on a network fetches them
    /// all at once into its [`NodeCache`] (one round trip for the lot instead of one each). Failures are left for
    /// the walk's own load to report.
    fn prefetch(&self, _ptrs: &[ChunkPointer]) {}
}

impl NodeStore for Store {
    fn put_node(&self, bytes: &[u8]) -> Result<ChunkPointer> {
        self.put_chunk(Kind::Index, bytes)
    }
    fn get_node(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.get_chunk(Kind::Index, ptr)
    }
    fn get_node_scan(&self, ptr: &ChunkPointer) -> Result<Arc<Vec<u8>>> {
        self.get_chunk_streaming(Kind::Index, ptr)
    }
    fn node_cache(&self) -> Option<&NodeCache> {
        Some(self.nodes())
    }
    fn prefetch(&self, ptrs: &[ChunkPointer]) {
        self.read_ahead_nodes(ptrs);
    }
}

/// Streaming iteration over the keys in `[start, end)`, in key order (`None`: from the first key / to the last).
///
/// Memory is bounded by the tree's depth (one path of nodes), not by the number of keys.
pub fn range<'a>(
    store: &'a dyn NodeStore,
    root: Option<ChunkPointer>,
    start: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
) -> Range<'a> {
    Range::new(StoreRef::Borrowed(store), root, start, end)
}

/// Like [`range`], but the iterator shares ownership of the store, so it can be returned from where the store was
/// only borrowed (a field's iterators).
pub fn range_shared(
    store: Arc<dyn NodeStore>,
    root: Option<ChunkPointer>,
    start: Option<Vec<u8>>,
    end: Option<Vec<u8>>,
) -> Range<'static> {
    Range::new(StoreRef::Shared(store), root, start, end)
}

/// Streaming iteration over all keys starting with `prefix`, in key order.
pub fn prefix<'a>(store: &'a dyn NodeStore, root: Option<ChunkPointer>, prefix: &[u8]) -> Range<'a> {
    let start = (!prefix.is_empty()).then(|| prefix.to_vec());
    Range::new(StoreRef::Borrowed(store), root, start, read::prefix_end(prefix))
}

/// Differences from tree `a` to tree `b` in key order, streaming. Only subtrees whose pointers differ are
/// descended into; identical subtrees are skipped without being loaded.
pub fn diff<'a>(store: &'a dyn NodeStore, a: Option<ChunkPointer>, b: Option<ChunkPointer>) -> Diff<'a> {
    Diff::new(StoreRef::Borrowed(store), a, b)
}

/// Like `diff`, but the iterator shares ownership of the store.
pub fn diff_shared(store: Arc<dyn NodeStore>, a: Option<ChunkPointer>, b: Option<ChunkPointer>) -> Diff<'static> {
    Diff::new(StoreRef::Shared(store), a, b)
}

/// The level and first key of an encoded node, if it decodes: what the nodes of adjacent versions of the same
/// keys share (leaf boundaries depend on the keys alone), and so what gc groups nodes by to store one as the
/// difference from another.
pub(crate) fn node_group(encoded: &[u8]) -> Option<(u8, Vec<u8>)> {
    let n = node::Node::decode(encoded).ok()?;
    let first = n.keys.first()?.clone();
    Some((n.level, first))
}
