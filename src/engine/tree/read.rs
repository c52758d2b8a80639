//! Reading: point lookups, streaming ranges, counts and node walks.

use super::node::{child_upper, load, load_child, Access, Body, Node};
use super::NodeStore;
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use std::sync::Arc;

/// Look up one key.
pub fn get(store: &dyn NodeStore, root: Option<&ChunkPointer>, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(root) = root else { return Ok(None) };
    let mut node = load(store, root, Access::Point)?;
    let mut upper: Option<Vec<u8>> = None;
    loop {
        match &node.body {
            Body::Leaf(vals) => {
                return Ok(node.keys.binary_search_by(|k| k.as_slice().cmp(key)).ok().map(|i| vals[i].clone()));
            }
            Body::Internal(_) => {
                if node.keys.first().is_some_and(|k| key < k.as_slice()) {
                    return Ok(None);
                }
                let i = node.child_index(key);
                let child = load_child(store, &node, i, upper.as_deref(), Access::Point)?;
                upper = child_upper(&node, i, upper.as_deref()).map(<[u8]>::to_vec);
                node = child;
            }
        }
    }
}

/// Number of entries, from the counts the root records.
pub fn len(store: &dyn NodeStore, root: Option<&ChunkPointer>) -> Result<u64> {
    match root {
        None => Ok(0),
        Some(r) => load(store, r, Access::Point)?.count(),
    }
}

#[cfg(test)]
/// Number of levels: 0 for the empty tree, 1 for a single leaf, and so on.
pub fn depth(store: &dyn NodeStore, root: Option<&ChunkPointer>) -> Result<usize> {
    match root {
        None => Ok(0),
        Some(r) => Ok(load(store, r, Access::Point)?.level as usize + 1),
    }
}

/// Visit every node pointer reachable from `root`, parents before children, in key order.
///
/// Internal nodes are loaded (and checked) to find their children; leaves are only reported, not loaded.
pub fn for_each_node(
    store: &dyn NodeStore,
    root: Option<&ChunkPointer>,
    f: &mut dyn FnMut(&ChunkPointer) -> Result<()>,
) -> Result<()> {
    fn walk(
        store: &dyn NodeStore,
        node: &Node,
        upper: Option<&[u8]>,
        f: &mut dyn FnMut(&ChunkPointer) -> Result<()>,
    ) -> Result<()> {
        let Body::Internal(children) = &node.body else { return Ok(()) };
        let mut fetched = 0;
        for (i, c) in children.iter().enumerate() {
            f(&c.ptr)?;
            if node.level > 1 {
                if i >= fetched {
                    fetched = prefetch_children(store, node, i, None, None);
                }
                let child = load_child(store, node, i, upper, Access::Scan)?;
                walk(store, &child, child_upper(node, i, upper), f)?;
            }
        }
        Ok(())
    }
    let Some(root) = root else { return Ok(()) };
    f(root)?;
    let node = load(store, root, Access::Scan)?;
    walk(store, &node, None, f)
}

#[cfg(test)]
/// Load and check every node reachable from `root`, leaves included (levels, key order and ranges, counts);
/// returns the number of entries. Memory is bounded by the tree's depth.
pub fn verify(store: &dyn NodeStore, root: Option<&ChunkPointer>) -> Result<u64> {
    fn walk(store: &dyn NodeStore, node: &Node, upper: Option<&[u8]>) -> Result<()> {
        if node.level == 0 {
            return Ok(());
        }
        for i in 0..node.len() {
            let child = load_child(store, node, i, upper, Access::Scan)?;
            walk(store, &child, child_upper(node, i, upper))?;
        }
        Ok(())
    }
    let Some(root) = root else { return Ok(0) };
    let node = load(store, root, Access::Scan)?;
    if node.level > 0 && node.len() < 2 {
        return Err(Error::integrity("index root has a single child"));
    }
    walk(store, &node, None)?;
    node.count()
}

/// Children a walk asks its store to prefetch at once: enough to hide round trips, few enough that the node cache
/// keeps them until they are used.
const PREFETCH: usize = 128;

/// Ask the store to prefetch the children of internal `node` from `from` on (at most [`PREFETCH`], and none whose
/// keys all lie at or past `end`); returns the index after the last one asked for.
///
/// Above the leaves' parents it goes on down, breadth first: the children of the nodes just fetched that may hold
/// keys in `[start, end)`, a level at a time, as many in all as the store's node cache keeps for sure (so that each
/// is still there when the walk reaches it: 512 for a [`Store`](crate::engine::object::Store), a tree of some
/// 15,000 to 60,000 keys), so that a walk's rounds of reads follow the tree's depth rather than the number of nodes
/// at each level.
fn prefetch_children(
    store: &dyn NodeStore,
    node: &Node,
    from: usize,
    start: Option<&[u8]>,
    end: Option<&[u8]>,
) -> usize {
    let Body::Internal(children) = &node.body else { return from };
    let stop = children.len().min(from + PREFETCH).min(children_before(node, end).max(from + 1));
    if from >= stop {
        return stop;
    }
    let mut level: Vec<ChunkPointer> = children[from..stop].iter().map(|c| c.ptr).collect();
    store.prefetch(&level);
    let Some(cache) = store.node_cache() else { return stop };
    let mut budget = cache.keeps().saturating_sub(level.len());
    let mut height = node.level;
    while height >= 2 && budget > 0 {
        height -= 1;
        let below: Vec<ChunkPointer> = level
            .iter()
            .filter_map(|p| cache.get(p))
            .flat_map(|c| match &c.body {
                Body::Internal(cs) => {
                    // Child i holds the keys from `keys[i]` to `keys[i + 1]`.
                    let first = start.map_or(0, |s| c.child_index(s));
                    cs[first..children_before(&c, end).max(first + 1).min(cs.len())].iter().map(|c| c.ptr).collect()
                }
                Body::Leaf(_) => Vec::new(),
            })
            .take(budget)
            .collect();
        if below.is_empty() {
            break;
        }
        budget -= below.len();
        store.prefetch(&below);
        level = below;
    }
    stop
}

/// The number of children of internal `node` that may hold keys below `end` (all of them without an end).
fn children_before(node: &Node, end: Option<&[u8]>) -> usize {
    end.map_or(node.len(), |e| node.keys.partition_point(|k| k.as_slice() < e))
}

/// One node of a [`Range`]'s path: the node, the index of the current entry (leaf) or child (internal), the
/// node's upper key bound, and (internal nodes) the end of the children prefetched so far.
type PathStep = (Arc<Node>, usize, Option<Vec<u8>>, usize);

/// Streaming iterator over a key range, from [`range`](super::range) or [`prefix`](super::prefix).
///
/// It holds one path of nodes from the root to the current leaf, so its memory is bounded by the tree's depth.
pub struct Range<'a> {
    store: StoreRef<'a>,
    /// Root and start key, until the first call to `next`.
    pending: Option<(ChunkPointer, Option<Vec<u8>>)>,
    /// The current path: each node with the index of the current entry (leaf) or child (internal), the node's
    /// upper key bound, and (internal nodes) the end of the children prefetched so far.
    path: Vec<PathStep>,
    end: Option<Vec<u8>>,
    done: bool,
}

impl<'a> Range<'a> {
    pub(crate) fn new(
        store: StoreRef<'a>,
        root: Option<ChunkPointer>,
        start: Option<Vec<u8>>,
        end: Option<Vec<u8>>,
    ) -> Self {
        let empty = matches!((&start, &end), (Some(s), Some(e)) if s >= e);
        Self { store, pending: root.filter(|_| !empty).map(|r| (r, start)), path: Vec::new(), end, done: false }
    }

    /// Nodes currently held (the length of the root-to-leaf path): never more than the tree's depth.
    #[cfg(test)]
    pub fn held_nodes(&self) -> usize {
        self.path.len()
    }

    /// Descend from the root to the first entry `>= start`.
    fn seek(&mut self, root: ChunkPointer, start: Option<Vec<u8>>) -> Result<()> {
        let mut node = load(self.store.get(), &root, Access::Scan)?;
        let mut upper: Option<Vec<u8>> = None;
        loop {
            let i = match &start {
                None => 0,
                Some(s) if node.level == 0 => node.keys.partition_point(|k| k < s),
                Some(s) => node.child_index(s),
            };
            if node.level == 0 {
                self.path.push((node, i, upper, 0));
                return Ok(());
            }
            let fetched = prefetch_children(self.store.get(), &node, i, start.as_deref(), self.end.as_deref());
            let child = load_child(self.store.get(), &node, i, upper.as_deref(), Access::Scan)?;
            let child_up = child_upper(&node, i, upper.as_deref()).map(<[u8]>::to_vec);
            self.path.push((node, i, upper, fetched));
            node = child;
            upper = child_up;
        }
    }

    /// Move past an exhausted leaf to the first entry of the next one; false at the end of the tree.
    fn next_leaf(&mut self) -> Result<bool> {
        let end = self.end.as_deref();
        self.path.pop();
        loop {
            let Some((node, i, _, fetched)) = self.path.last_mut() else { return Ok(false) };
            *i += 1;
            if *i < node.len() {
                if *i >= *fetched {
                    *fetched = prefetch_children(self.store.get(), node, *i, None, end);
                }
                break;
            }
            self.path.pop();
        }
        loop {
            let (node, i, upper, _) = self.path.last().expect("path is not empty here");
            if node.level == 0 {
                return Ok(true);
            }
            let child = load_child(self.store.get(), node, *i, upper.as_deref(), Access::Scan)?;
            let child_up = child_upper(node, *i, upper.as_deref()).map(<[u8]>::to_vec);
            let fetched = if child.level > 0 { prefetch_children(self.store.get(), &child, 0, None, end) } else { 0 };
            self.path.push((child, 0, child_up, fetched));
        }
    }

    fn step(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        if let Some((root, start)) = self.pending.take() {
            self.seek(root, start)?;
        }
        loop {
            let Some((node, i, _, _)) = self.path.last_mut() else { return Ok(None) };
            if *i < node.len() {
                let Body::Leaf(vals) = &node.body else {
                    return Err(Error::integrity("index node: expected a leaf"));
                };
                let key = &node.keys[*i];
                if self.end.as_ref().is_some_and(|e| key >= e) {
                    self.path.clear();
                    return Ok(None);
                }
                let item = (key.clone(), vals[*i].clone());
                *i += 1;
                return Ok(Some(item));
            }
            if !self.next_leaf()? {
                return Ok(None);
            }
        }
    }
}

impl Iterator for Range<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                self.path.clear();
                None
            }
            Err(e) => {
                self.done = true;
                self.path.clear();
                Some(Err(e))
            }
        }
    }
}

/// A node store an iterator reads through: borrowed, or shared so the iterator can outlive its creator's borrows.
#[derive(Clone)]
pub enum StoreRef<'a> {
    /// Borrowed for the iterator's lifetime.
    Borrowed(&'a dyn NodeStore),
    /// Shared ownership.
    Shared(Arc<dyn NodeStore>),
}

impl StoreRef<'_> {
    /// The store.
    pub fn get(&self) -> &dyn NodeStore {
        match self {
            StoreRef::Borrowed(s) => *s,
            StoreRef::Shared(s) => &**s,
        }
    }
}

/// The smallest key greater than every key starting with `prefix`, if there is one.
pub(crate) fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
