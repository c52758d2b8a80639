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
