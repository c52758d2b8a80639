//! Writing: applying a batch of changes level by level, rewriting only the nodes whose content changes.
//!
//! Each level of the tree is a sequence of entries cut into nodes by the boundary rule. A batch of changes to one
//! level is merged into that level's old sequence, re-cutting nodes from the start of the first old node a change
//! touches until the new cut lines up with an old node's end again; everything after is shared. The old nodes
//! consumed and the new nodes written become the changes to the next level up (delete the old separator keys, insert
//! the new ones). Because node ends depend only on the entries since the previous end, the result is the same tree
//! a from-scratch build of the final entries gives.

use super::node::{internal_weight, is_boundary, leaf_weight, load, load_child, Access, Body, ChildRef, Node};
use super::NodeStore;
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// An entry's payload at some level.
#[derive(Clone, Debug)]
enum Val {
    Value(Vec<u8>),
    Child(ChildRef),
}

/// Changes to one level: sorted, unique keys; `None` deletes.
type Changes = Vec<(Vec<u8>, Option<Val>)>;

/// A node produced while applying, in key order.
struct Emitted {
    key: Vec<u8>,
    child: ChildRef,
    /// An old node kept as is (nothing was written).
    reused: bool,
    /// The node's first child, if it is an internal node with exactly one entry.
    only_child: Option<ChunkPointer>,
}

/// Shared state of one `apply`: the store and decoded internal nodes of the old tree.
struct Ctx<'s> {
    store: &'s dyn NodeStore,
    cache: HashMap<ChunkPointer, Arc<Node>>,
}

impl Ctx<'_> {
    /// Load a child of an old internal node, keeping internal nodes for later seeks.
    fn child(&mut self, parent: &Node, i: usize) -> Result<Arc<Node>> {
        let c = parent.child(i).ok_or_else(|| Error::integrity("index node: no such child"))?;
        if let Some(n) = self.cache.get(&c.ptr) {
            return Ok(n.clone());
        }
        let n = load_child(self.store, parent, i, None, Access::Point)?;
        if n.level > 0 {
            self.cache.insert(c.ptr, n.clone());
        }
        Ok(n)
    }
}

/// A position in the old tree at one level: the path from the root down to a node of that level.
struct LevelCursor {
    root_ptr: ChunkPointer,
    /// Nodes from the root down; each internal node with the index of the child on the path. The last is the
    /// current node of the target level (its index is unused).
    path: Vec<(Arc<Node>, usize)>,
    target: u8,
}

impl LevelCursor {
    /// Position on the node of the target level whose range holds `key`.
    fn seek(&mut self, ctx: &mut Ctx, root: &Arc<Node>, key: &[u8]) -> Result<()> {
        self.path.clear();
        let mut node = root.clone();
        while node.level > self.target {
            let i = node.child_index(key);
            let child = ctx.child(&node, i)?;
            self.path.push((node, i));
            node = child;
        }
        self.path.push((node, 0));
        Ok(())
    }

    /// Move to the next node of the target level; false at the end of the level.
    fn advance(&mut self, ctx: &mut Ctx) -> Result<bool> {
        let Some(depth) = (0..self.path.len().saturating_sub(1)).rev().find(|&d| {
            let (n, i) = &self.path[d];
            i + 1 < n.len()
        }) else {
            return Ok(false);
        };
        self.path.truncate(depth + 1);
        self.path[depth].1 += 1;
        loop {
            let (node, i) = self.path.last().expect("path is not empty");
            if node.level == self.target {
                return Ok(true);
            }
            let child = ctx.child(node, *i)?;
            self.path.push((child, 0));
        }
    }

    fn node(&self) -> &Arc<Node> {
        &self.path.last().expect("cursor is positioned").0
    }

    /// Pointer of the current node.
    fn ptr(&self) -> Result<ChunkPointer> {
        match self.path.len() {
            0 => Err(Error::integrity("index: cursor is not positioned")),
            1 => Ok(self.root_ptr),
            n => {
                let (parent, i) = &self.path[n - 2];
                parent.child(*i).map(|c| c.ptr).ok_or_else(|| Error::integrity("index node: no such child"))
            }
        }
    }

    /// The separator key of the current node in its parent (None for the root).
    fn parent_key(&self) -> Option<Vec<u8>> {
        let n = self.path.len();
        (n >= 2).then(|| self.path[n - 2].0.keys[self.path[n - 2].1].clone())
    }

    /// First key of the next node of the target level, if any.
    fn next_key(&self) -> Option<Vec<u8>> {
        (0..self.path.len().saturating_sub(1)).rev().find_map(|d| {
            let (n, i) = &self.path[d];
            n.keys.get(i + 1).cloned()
        })
    }
}

/// Cuts a level's sequence of entries into nodes and stores them.
struct Chunker<'s> {
    store: &'s dyn NodeStore,
    cur: Node,
    size: usize,
    /// The old node (pointer, entry count) this chunk started at the start of, while it is unchanged.
    origin: Option<(ChunkPointer, usize)>,
    out: Vec<Emitted>,
}

impl<'s> Chunker<'s> {
    fn new(store: &'s dyn NodeStore, level: u8) -> Self {
        Self { store, cur: Node::empty(level), size: 0, origin: None, out: Vec::new() }
    }

    fn is_empty(&self) -> bool {
        self.cur.keys.is_empty()
    }

    /// The entries that follow come from the old node `ptr` of `len` entries.
    fn begin_old(&mut self, ptr: ChunkPointer, len: usize) {
        self.origin = self.is_empty().then_some((ptr, len));
    }

    /// The chunk no longer equals an old node.
    fn modified(&mut self) {
        self.origin = None;
    }

    /// Append an entry; ends the node if the boundary rule says so.
    fn push(&mut self, key: Vec<u8>, val: Val) -> Result<()> {
        let weight = match (&mut self.cur.body, val) {
            (Body::Leaf(vals), Val::Value(v)) => {
                let w = leaf_weight(&key, &v);
                vals.push(v);
                w
            }
            (Body::Internal(children), Val::Child(c)) => {
                children.push(c);
                internal_weight(&key)
            }
            _ => return Err(Error::integrity("index: entry of the wrong kind for its level")),
        };
        let before = self.size;
        self.size += weight;
        let end = is_boundary(self.cur.level, &key, before, self.size);
        self.cur.keys.push(key);
        if end {
            self.emit()?;
        }
        Ok(())
    }

    /// End the current chunk (if any): keep the old node it equals, or store a new one.
    fn emit(&mut self) -> Result<()> {
        if self.is_empty() {
            return Ok(());
        }
        let level = self.cur.level;
        let node = std::mem::replace(&mut self.cur, Node::empty(level));
        let count = node.count()?;
        let key = node.keys[0].clone();
        let only_child = if node.len() == 1 { node.child(0).map(|c| c.ptr) } else { None };
        let (ptr, reused) = match self.origin.take() {
            Some((ptr, len)) if len == node.len() => (ptr, true),
            _ => (self.store.put_node(&node.encode())?, false),
        };
        self.size = 0;
        self.out.push(Emitted { key, child: ChildRef { ptr, count }, reused, only_child });
        Ok(())
    }
}

/// The result of applying changes to one level.
struct LevelOut {
    /// Nodes produced (written or kept), in key order.
    nodes: Vec<Emitted>,
    /// Separator keys of old nodes replaced.
    removed: Vec<Vec<u8>>,
}

/// Apply `changes` to the level `level` of the old tree rooted at `root` (or of an empty level).
fn apply_level(
    ctx: &mut Ctx,
    root: Option<(&Arc<Node>, ChunkPointer)>,
    level: u8,
    changes: Changes,
) -> Result<LevelOut> {
    let mut ch = Chunker::new(ctx.store, level);
    let mut removed: Vec<(Vec<u8>, ChunkPointer)> = Vec::new();
    let root = root.filter(|(r, _)| r.level >= level);
    let Some((root, root_ptr)) = root else {
        for (k, v) in changes {
            if let Some(v) = v {
                ch.push(k, v)?;
            }
        }
        ch.emit()?;
        return Ok(LevelOut { nodes: ch.out, removed: Vec::new() });
    };
    let mut cursor = LevelCursor { root_ptr, path: Vec::new(), target: level };
    let mut changes = changes.into_iter().peekable();
    while let Some((first, _)) = changes.peek() {
        cursor.seek(ctx, root, first)?;
        loop {
            let node = cursor.node().clone();
            let ptr = cursor.ptr()?;
            let upper = cursor.next_key();
            if let Some(pk) = cursor.parent_key() {
                removed.push((pk, ptr));
            }
            ch.begin_old(ptr, node.len());
            let mut i = 0;
            loop {
                let next_change = changes.peek().filter(|(k, _)| upper.as_ref().is_none_or(|u| k < u));
                let order = match (node.keys.get(i), next_change) {
                    (None, None) => break,
                    (Some(_), None) => std::cmp::Ordering::Less,
                    (None, Some(_)) => std::cmp::Ordering::Greater,
                    (Some(old), Some((k, _))) => old.cmp(k),
                };
                if order != std::cmp::Ordering::Less {
                    let (k, new) = changes.next().expect("peeked");
                    let old = (order == std::cmp::Ordering::Equal).then(|| old_val(&node, i));
                    if order == std::cmp::Ordering::Equal {
                        i += 1;
                    }
                    match (old, new) {
                        (Some(old), Some(new)) if same(&old, &new) => ch.push(k, old)?,
                        (_, Some(new)) => {
                            ch.modified();
                            ch.push(k, new)?;
                        }
                        (Some(_), None) => ch.modified(),
                        (None, None) => {}
                    }
                } else {
                    ch.push(node.keys[i].clone(), old_val(&node, i))?;
                    i += 1;
                }
            }
            if ch.is_empty() {
                break;
            }
            if !cursor.advance(ctx)? {
                ch.emit()?;
                break;
            }
        }
    }
    let kept: HashSet<ChunkPointer> = ch.out.iter().filter(|e| e.reused).map(|e| e.child.ptr).collect();
    let removed = removed.into_iter().filter(|(_, p)| !kept.contains(p)).map(|(k, _)| k).collect();
    Ok(LevelOut { nodes: ch.out, removed })
}

fn old_val(node: &Node, i: usize) -> Val {
    match &node.body {
        Body::Leaf(v) => Val::Value(v[i].clone()),
        Body::Internal(c) => Val::Child(c[i]),
    }
}

fn same(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Value(x), Val::Value(y)) => x == y,
        (Val::Child(x), Val::Child(y)) => x == y,
        _ => false,
    }
}

/// Apply a batch of changes (sorted by key, unique keys; `None` deletes) to the tree at `root`; returns the new
/// root.
///
/// Only nodes on the paths to changed keys are rewritten (plus, rarely, a neighbour whose end moves); every other
/// node is shared with the old tree. Deleting a missing key or setting a key to its current value changes nothing.
pub fn apply(
    store: &dyn NodeStore,
    root: Option<ChunkPointer>,
    changes: Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<Option<ChunkPointer>> {
    if !changes.windows(2).all(|w| w[0].0 < w[1].0) {
        return Err(Error::Invalid("index changes must be sorted by key without duplicates".into()));
    }
    if changes.is_empty() {
        return Ok(root);
    }
    let mut ctx = Ctx { store, cache: HashMap::new() };
    let old = match root {
        Some(p) => Some((load(store, &p, Access::Point)?, p)),
        None => None,
    };
    let top = old.as_ref().map(|(n, _)| n.level);
    let mut changes: Changes = changes.into_iter().map(|(k, v)| (k, v.map(Val::Value))).collect();
    let mut level: u8 = 0;
    // Climb the old tree's levels below its root, passing the changes of each level up to the next.
    let nodes = loop {
        let out = apply_level(&mut ctx, old.as_ref().map(|(n, p)| (n, *p)), level, changes)?;
        if top.is_none_or(|t| level >= t) {
            break out.nodes;
        }
        let mut next: BTreeMap<Vec<u8>, Option<Val>> = out.removed.into_iter().map(|k| (k, None)).collect();
        for e in out.nodes.into_iter().filter(|e| !e.reused) {
            next.insert(e.key, Some(Val::Child(e.child)));
        }
        if next.is_empty() {
            return Ok(root);
        }
        changes = next.into_iter().collect();
        level += 1;
    };
    // `nodes` is now the whole of level `level`: build up to a single root.
    let mut nodes = nodes;
    while nodes.len() > 1 {
        level = level.checked_add(1).ok_or_else(|| Error::integrity("index: tree too deep"))?;
        let mut ch = Chunker::new(store, level);
        for e in nodes {
            ch.push(e.key, Val::Child(e.child))?;
        }
        ch.emit()?;
        nodes = ch.out;
    }
    let Some(last) = nodes.pop() else { return Ok(None) };
    // A root with a single child is not a root: the lowest level with one node is.
    let Some(mut new_root) = last.only_child else { return Ok(Some(last.child.ptr)) };
    loop {
        let n = load(store, &new_root, Access::Point)?;
        match &n.body {
            Body::Internal(c) if c.len() == 1 => new_root = c[0].ptr,
            _ => return Ok(Some(new_root)),
        }
    }
}
