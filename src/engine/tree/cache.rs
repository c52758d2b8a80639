//! Decoded index nodes kept for reuse, so that walks which revisit the same nodes (a directory listing that seeks
//! past each subdirectory, repeated point reads, a merge) decode each node once. Nodes are immutable and named by
//! their chunk id, so an entry never goes stale. Bounded by a count of nodes (each at most the largest node,
//! 16 KiB encoded): two generations, the older dropped whole when the younger fills.

use super::node::Node;
use crate::engine::id::ChunkId;
use crate::engine::object::ChunkPointer;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Decoded nodes by chunk id, at most `capacity` of them.
pub struct NodeCache {
    generations: Mutex<Generations>,
    half: usize,
}

#[derive(Default)]
struct Generations {
    young: HashMap<ChunkId, Arc<Node>>,
    old: HashMap<ChunkId, Arc<Node>>,
}

impl Generations {
    fn put(&mut self, id: ChunkId, node: Arc<Node>, half: usize) {
        if self.young.len() >= half {
            self.old = std::mem::take(&mut self.young);
        }
        self.young.insert(id, node);
    }
}

impl NodeCache {
    /// A cache holding at most `capacity` decoded nodes (0: none).
    pub fn new(capacity: usize) -> Self {
        Self { generations: Mutex::new(Generations::default()), half: capacity / 2 }
    }

    /// Nodes it keeps for sure: a node inserted is still there after this many more insertions (it holds up to
    /// twice as many).
    pub(crate) fn keeps(&self) -> usize {
        self.half
    }

    /// The decoded node at `ptr`, if kept.
    pub(crate) fn get(&self, ptr: &ChunkPointer) -> Option<Arc<Node>> {
        if self.half == 0 {
            return None;
        }
        let mut g = self.generations.lock().expect("node cache lock");
        if let Some(n) = g.young.get(&ptr.id) {
            return Some(n.clone());
        }
        let n = g.old.remove(&ptr.id)?;
        g.put(ptr.id, n.clone(), self.half);
        Some(n)
    }

    /// Keep the decoded node at `ptr`.
    pub(crate) fn insert(&self, ptr: &ChunkPointer, node: Arc<Node>) {
        if self.half == 0 {
            return;
        }
        self.generations.lock().expect("node cache lock").put(ptr.id, node, self.half);
    }

    /// Decode the node at `ptr` from its plaintext `bytes` and keep it; a node that does not decode is not kept
    /// (its own load reports it).
    pub(crate) fn insert_encoded(&self, ptr: &ChunkPointer, bytes: &[u8]) {
        if let Ok(node) = Node::decode(bytes) {
            self.insert(ptr, Arc::new(node));
        }
    }

    /// Nodes currently kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        let g = self.generations.lock().expect("node cache lock");
        g.young.len() + g.old.len()
    }
}
