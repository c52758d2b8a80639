//! Streaming differences between two trees, skipping shared subtrees without loading them.

use super::node::{child_upper, load, load_child, Access, Body, Node};
use super::read::StoreRef;
use super::NodeStore;
use crate::engine::object::ChunkPointer;
use crate::engine::Result;
use std::cmp::Ordering;
use std::sync::Arc;

/// One difference between two trees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiffEntry {
    /// The key.
    pub key: Vec<u8>,
    /// Its value in the old tree, if present there.
    pub old: Option<Vec<u8>>,
    /// Its value in the new tree, if present there.
    pub new: Option<Vec<u8>>,
}

/// A lazy position in one tree: the path of loaded nodes, each with its current index and upper key bound. The
/// current item is the top node's entry (a leaf entry, or a whole child subtree not yet loaded).
struct Cursor {
    path: Vec<(Arc<Node>, usize, Option<Vec<u8>>)>,
}

/// What a cursor is on.
enum Item<'n> {
    End,
    Entry { key: &'n [u8], value: &'n [u8] },
    Subtree { key: &'n [u8], ptr: ChunkPointer, level: u8 },
}

impl Cursor {
    fn new(store: &dyn NodeStore, root: Option<&ChunkPointer>) -> Result<Self> {
        let path = match root {
            None => Vec::new(),
            Some(r) => vec![(load(store, r, Access::Scan)?, 0, None)],
        };
        Ok(Self { path })
    }

    fn item(&self) -> Item<'_> {
        let Some((node, i, _)) = self.path.last() else { return Item::End };
        let key = node.keys[*i].as_slice();
        match &node.body {
            Body::Leaf(vals) => Item::Entry { key, value: &vals[*i] },
            Body::Internal(children) => Item::Subtree { key, ptr: children[*i].ptr, level: node.level - 1 },
        }
    }

    /// Move past the current item (entry or whole subtree).
    fn advance(&mut self) {
        while let Some((node, i, _)) = self.path.last_mut() {
            *i += 1;
            if *i < node.len() {
                return;
            }
            self.path.pop();
        }
    }

    /// Open the current subtree: its first item becomes current.
    fn descend(&mut self, store: &dyn NodeStore) -> Result<()> {
        let (node, i, upper) = self.path.last().expect("descend is only called on a subtree");
        let child = load_child(store, node, *i, upper.as_deref(), Access::Scan)?;
        let child_up = child_upper(node, *i, upper.as_deref()).map(<[u8]>::to_vec);
        self.path.push((child, 0, child_up));
        Ok(())
    }
}

/// Streaming iterator over the differences between two trees, in key order, from `diff`.
///
/// Memory is bounded by the depth of the two trees. Subtrees whose pointers are equal on both sides are skipped
/// without being loaded.
pub struct Diff<'a> {
    store: StoreRef<'a>,
    pending: Option<(Option<ChunkPointer>, Option<ChunkPointer>)>,
    a: Cursor,
    b: Cursor,
    done: bool,
}

/// What to do next, decided from the two current items.
enum Step {
    Done,
    SkipBoth,
    DescendA,
    DescendB,
    DescendBoth,
    Removed,
    Added,
    Compare,
}

impl<'a> Diff<'a> {
    pub(crate) fn new(store: StoreRef<'a>, a: Option<ChunkPointer>, b: Option<ChunkPointer>) -> Self {
        let pending = (a != b).then_some((a, b));
        Self { store, pending, a: Cursor { path: Vec::new() }, b: Cursor { path: Vec::new() }, done: pending.is_none() }
    }

    fn decide(&self) -> Step {
        use Item::*;
        let (ia, ib) = (self.a.item(), self.b.item());
        fn key<'n>(i: &Item<'n>) -> Option<&'n [u8]> {
            match *i {
                End => None,
                Entry { key, .. } | Subtree { key, .. } => Some(key),
            }
        }
        let order = match (key(&ia), key(&ib)) {
            (None, None) => return Step::Done,
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (Some(x), Some(y)) => x.cmp(y),
        };
        match (order, &ia, &ib) {
            (_, Subtree { ptr: p, .. }, Subtree { ptr: q, .. }) if p == q => Step::SkipBoth,
            (Ordering::Less, Subtree { .. }, _) => Step::DescendA,
            (Ordering::Less, _, _) => Step::Removed,
            (Ordering::Greater, _, Subtree { .. }) => Step::DescendB,
            (Ordering::Greater, _, _) => Step::Added,
            (Ordering::Equal, Subtree { level: la, .. }, Subtree { level: lb, .. }) => match la.cmp(lb) {
                Ordering::Greater => Step::DescendA,
                Ordering::Less => Step::DescendB,
                Ordering::Equal => Step::DescendBoth,
            },
            (Ordering::Equal, Subtree { .. }, _) => Step::DescendA,
            (Ordering::Equal, _, Subtree { .. }) => Step::DescendB,
            (Ordering::Equal, _, _) => Step::Compare,
        }
    }

    fn step(&mut self) -> Result<Option<DiffEntry>> {
        if let Some((a, b)) = self.pending.take() {
            self.a = Cursor::new(self.store.get(), a.as_ref())?;
            self.b = Cursor::new(self.store.get(), b.as_ref())?;
        }
        loop {
            match self.decide() {
                Step::Done => return Ok(None),
                Step::SkipBoth => {
                    self.a.advance();
                    self.b.advance();
                }
                Step::DescendA => self.a.descend(self.store.get())?,
                Step::DescendB => self.b.descend(self.store.get())?,
                Step::DescendBoth => {
                    self.a.descend(self.store.get())?;
                    self.b.descend(self.store.get())?;
                }
                Step::Removed => {
                    let Item::Entry { key, value } = self.a.item() else { unreachable!("decided on an entry") };
                    let e = DiffEntry { key: key.to_vec(), old: Some(value.to_vec()), new: None };
                    self.a.advance();
                    return Ok(Some(e));
                }
                Step::Added => {
                    let Item::Entry { key, value } = self.b.item() else { unreachable!("decided on an entry") };
                    let e = DiffEntry { key: key.to_vec(), old: None, new: Some(value.to_vec()) };
                    self.b.advance();
                    return Ok(Some(e));
                }
                Step::Compare => {
                    let (Item::Entry { key, value: old }, Item::Entry { value: new, .. }) =
                        (self.a.item(), self.b.item())
                    else {
                        unreachable!("decided on two entries")
                    };
                    let e = (old != new).then(|| DiffEntry {
                        key: key.to_vec(),
                        old: Some(old.to_vec()),
                        new: Some(new.to_vec()),
                    });
                    self.a.advance();
                    self.b.advance();
                    if e.is_some() {
                        return Ok(e);
                    }
                }
            }
        }
    }
}

impl Iterator for Diff<'_> {
    type Item = Result<DiffEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step().transpose();
        if !matches!(r, Some(Ok(_))) {
            self.done = true;
            self.a.path.clear();
            self.b.path.clear();
        }
        r
    }
}
