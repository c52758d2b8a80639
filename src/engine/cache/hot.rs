//! The hot tier: decrypted chunks in memory, least recently used evicted first, under a hard byte budget.

use crate::engine::id::ChunkId;

/// What the hot tier is keyed by: the kind a chunk was read as, and its id.
pub type CacheKey = (u8, ChunkId);
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

struct Inner {
    map: HashMap<CacheKey, (Arc<Vec<u8>>, u64)>,
    order: BTreeMap<u64, CacheKey>,
    bytes: usize,
    tick: u64,
}

/// An LRU of decrypted chunks whose total size never exceeds its budget.
pub struct HotCache {
    budget: usize,
    inner: Mutex<Inner>,
    /// Lookups served from memory.
    pub hits: AtomicU64,
    /// Lookups that were not.
    pub misses: AtomicU64,
}

impl HotCache {
    /// A cache holding at most `budget` bytes of chunk data.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            inner: Mutex::new(Inner { map: HashMap::new(), order: BTreeMap::new(), bytes: 0, tick: 0 }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The chunk, if cached; marks it recently used.
    pub fn get(&self, id: &CacheKey) -> Option<Arc<Vec<u8>>> {
        let mut g = self.inner.lock().expect("hot cache lock");
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        match inner.map.get_mut(id) {
            Some((v, t)) => {
                inner.order.remove(t);
                *t = tick;
                inner.order.insert(tick, *id);
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some(v.clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Cache a chunk; evicts the least recently used until the budget holds. Chunks larger than the budget are
    /// not cached.
    pub fn insert(&self, id: CacheKey, data: Arc<Vec<u8>>) {
        if data.len() > self.budget {
            return;
        }
        let mut g = self.inner.lock().expect("hot cache lock");
        let inner = &mut *g;
        if inner.map.contains_key(&id) {
            return;
        }
        while inner.bytes + data.len() > self.budget {
            let Some((_, victim)) = inner.order.pop_first() else {
                break;
            };
            if let Some((v, _)) = inner.map.remove(&victim) {
                inner.bytes -= v.len();
            }
        }
        inner.tick += 1;
        let tick = inner.tick;
        inner.bytes += data.len();
        inner.order.insert(tick, id);
        inner.map.insert(id, (data, tick));
    }

    /// Bytes currently held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.inner.lock().expect("hot cache lock").bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_is_a_hard_limit() {
        let c = HotCache::new(1000);
        for i in 0..100u8 {
            c.insert((0, ChunkId([i; 32])), Arc::new(vec![i; 300]));
            assert!(c.bytes() <= 1000);
        }
        assert!(c.get(&(0, ChunkId([99; 32]))).is_some());
        assert!(c.get(&(0, ChunkId([0; 32]))).is_none());
        c.insert((0, ChunkId([200; 32])), Arc::new(vec![0; 2000]));
        assert!(c.get(&(0, ChunkId([200; 32]))).is_none());
    }

    #[test]
    fn evicts_least_recently_used() {
        let c = HotCache::new(900);
        c.insert((0, ChunkId([1; 32])), Arc::new(vec![0; 300]));
        c.insert((0, ChunkId([2; 32])), Arc::new(vec![0; 300]));
        c.insert((0, ChunkId([3; 32])), Arc::new(vec![0; 300]));
        assert!(c.get(&(0, ChunkId([1; 32]))).is_some());
        c.insert((0, ChunkId([4; 32])), Arc::new(vec![0; 300]));
        assert!(c.get(&(0, ChunkId([1; 32]))).is_some());
        assert!(c.get(&(0, ChunkId([2; 32]))).is_none());
    }
}
