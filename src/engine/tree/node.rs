//! Node encoding, decoding, validation and the boundary rule. See the module docs of [`super`] for the format.

use crate::engine::object::ChunkPointer;
use crate::engine::tree::NodeStore;
use crate::engine::{Error, Result};
use serde::de::{IgnoredAny, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_bytes::{ByteBuf, Bytes};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Below this many weighted bytes a node never ends (unless the sequence does).
pub(crate) const MIN_NODE: usize = 4 * 1024;
/// At this many weighted bytes a node always ends.
pub(crate) const MAX_NODE: usize = 16 * 1024;
/// Weight of a leaf entry beyond its key and value bytes (CBOR headers).
pub(crate) const LEAF_ENTRY_OVERHEAD: usize = 4;
/// Weight of an internal entry beyond its key bytes (headers, 72-byte pointer, count).
pub(crate) const INTERNAL_ENTRY_OVERHEAD: usize = 84;
/// Highest level a node may claim. Far above anything reachable (each level multiplies fan-out by at least 2).
pub(crate) const MAX_LEVEL: u8 = 64;

/// A reference from an internal node to a child subtree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ChildRef {
    /// Where the child node is stored.
    pub ptr: ChunkPointer,
    /// Number of leaf entries in the child's subtree (at least 1).
    pub count: u64,
}

/// Entries of a node, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Body {
    /// Values of a leaf, parallel to the keys.
    Leaf(Vec<Vec<u8>>),
    /// Children of an internal node, parallel to the keys.
    Internal(Vec<ChildRef>),
}

/// A decoded node: sorted keys with either values (level 0) or children (level >= 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    /// 0 for leaves; an internal node's children have level `level - 1`.
    pub level: u8,
    /// Strictly increasing keys. For an internal node, each key is the first key of the child's subtree.
    pub keys: Vec<Vec<u8>>,
    /// Values or children, one per key.
    pub body: Body,
}

impl Node {
    /// An empty node of `level` (only ever used while building).
    pub fn empty(level: u8) -> Self {
        let body = if level == 0 { Body::Leaf(Vec::new()) } else { Body::Internal(Vec::new()) };
        Self { level, keys: Vec::new(), body }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Leaf entries in this node's subtree, from the node itself.
    pub fn count(&self) -> Result<u64> {
        match &self.body {
            Body::Leaf(v) => Ok(v.len() as u64),
            Body::Internal(c) => c
                .iter()
                .try_fold(0u64, |acc, c| acc.checked_add(c.count))
                .ok_or_else(|| Error::integrity("index node: entry count overflows")),
        }
    }

    /// The child at `i` of an internal node.
    pub fn child(&self, i: usize) -> Option<ChildRef> {
        match &self.body {
            Body::Internal(c) => c.get(i).copied(),
            Body::Leaf(_) => None,
        }
    }

    /// Index of the child whose subtree would hold `key`: the last child whose first key is `<= key`, or the first.
    pub fn child_index(&self, key: &[u8]) -> usize {
        match self.keys.binary_search_by(|k| k.as_slice().cmp(key)) {
            Ok(i) => i,
            Err(0) => 0,
            Err(i) => i - 1,
        }
    }

    /// Encode as CBOR.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(MAX_NODE + 1024);
        ciborium::into_writer(self, &mut out).expect("CBOR encoding into memory cannot fail");
        out
    }

    /// Decode and validate CBOR bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let mut rest = bytes;
        let node: Node =
            ciborium::from_reader(&mut rest).map_err(|e| Error::corrupt("index node does not decode", e))?;
        if !rest.is_empty() {
            return Err(Error::integrity("index node has trailing bytes"));
        }
        node.validate()?;
        Ok(node)
    }

    fn validate(&self) -> Result<()> {
        if self.keys.is_empty() {
            return Err(Error::integrity("index node is empty"));
        }
        if self.level > MAX_LEVEL {
            return Err(Error::integrity(format!("index node level {} is too high", self.level)));
        }
        if !self.keys.windows(2).all(|w| w[0] < w[1]) {
            return Err(Error::integrity("index node keys are not strictly increasing"));
        }
        match &self.body {
            Body::Leaf(v) if self.level == 0 && v.len() == self.keys.len() => Ok(()),
            Body::Internal(c) if self.level > 0 && c.len() == self.keys.len() => {
                if c.iter().any(|c| c.count == 0) {
                    return Err(Error::integrity("index node has an empty child"));
                }
                self.count().map(|_| ())
            }
            _ => Err(Error::integrity("index node has an impossible shape")),
        }
    }
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        struct Entries<'a>(&'a Node);
        impl Serialize for Entries<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                let n = self.0;
                match &n.body {
                    Body::Leaf(vals) => {
                        s.collect_seq(n.keys.iter().zip(vals).map(|(k, v)| (Bytes::new(k), Bytes::new(v))))
                    }
                    Body::Internal(children) => {
                        s.collect_seq(n.keys.iter().zip(children).map(|(k, c)| (Bytes::new(k), &c.ptr, c.count)))
                    }
                }
            }
        }
        let mut t = s.serialize_tuple(2)?;
        t.serialize_element(&self.level)?;
        t.serialize_element(&Entries(self))?;
        t.end()
    }
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an index node [level, entries]")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Node, A::Error> {
                use serde::de::Error as _;
                let level: u8 = seq.next_element()?.ok_or_else(|| A::Error::invalid_length(0, &self))?;
                let node = if level == 0 {
                    let entries: Vec<(ByteBuf, ByteBuf)> =
                        seq.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))?;
                    let (keys, vals) = entries.into_iter().map(|(k, v)| (k.into_vec(), v.into_vec())).unzip();
                    Node { level, keys, body: Body::Leaf(vals) }
                } else {
                    let entries: Vec<(ByteBuf, ChunkPointer, u64)> =
                        seq.next_element()?.ok_or_else(|| A::Error::invalid_length(1, &self))?;
                    let (keys, children) =
                        entries.into_iter().map(|(k, ptr, count)| (k.into_vec(), ChildRef { ptr, count })).unzip();
                    Node { level, keys, body: Body::Internal(children) }
                };
                if seq.next_element::<IgnoredAny>()?.is_some() {
                    return Err(A::Error::invalid_length(3, &self));
                }
                Ok(node)
            }
        }
        d.deserialize_tuple(2, V)
    }
}

/// How a node is being read, so that the store can choose what to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// A point read (a lookup, a path rewritten by `apply`): the store may keep the node in its chunk cache.
    Point,
    /// Part of an iteration that reads each node about once (a range, a diff, a walk of every node): the store
    /// serves it from its caches if there but adds nothing to its chunk cache, so a scan of a whole tree neither
    /// grows memory with the tree nor evicts what point reads cached.
    Scan,
}

/// Load and decode any node (a root: its level is not known in advance).
pub(crate) fn load(store: &dyn NodeStore, ptr: &ChunkPointer, access: Access) -> Result<Arc<Node>> {
    let cache = store.node_cache();
    if let Some(n) = cache.and_then(|c| c.get(ptr)) {
        return Ok(n);
    }
    let bytes = match access {
        Access::Point => store.get_node(ptr)?,
        Access::Scan => store.get_node_scan(ptr)?,
    };
    let node = Arc::new(Node::decode(&bytes)?);
    if let Some(c) = cache {
        c.insert(ptr, node.clone());
    }
    Ok(node)
}

/// Load the child `i` of `parent` and check that it fits: one level lower, starting with the parent's key for it,
/// ending before the next key (`upper`: the parent's next key or the parent's own upper bound), with the count the
/// parent records.
pub(crate) fn load_child(
    store: &dyn NodeStore,
    parent: &Node,
    i: usize,
    upper: Option<&[u8]>,
    access: Access,
) -> Result<Arc<Node>> {
    let child = parent.child(i).ok_or_else(|| Error::integrity("index node: no such child"))?;
    let node = load(store, &child.ptr, access)?;
    check_child(parent, i, upper, &node)?;
    Ok(node)
}

/// The checks of [`load_child`] on an already decoded child.
pub(crate) fn check_child(parent: &Node, i: usize, upper: Option<&[u8]>, node: &Node) -> Result<()> {
    let child = parent.child(i).ok_or_else(|| Error::integrity("index node: no such child"))?;
    if node.level + 1 != parent.level {
        return Err(Error::integrity(format!(
            "index node at level {} has a child at level {}",
            parent.level, node.level
        )));
    }
    if node.keys.first() != parent.keys.get(i) {
        return Err(Error::integrity("index node: child does not start with its separator key"));
    }
    let upper = parent.keys.get(i + 1).map(|k| k.as_slice()).or(upper);
    if let (Some(u), Some(last)) = (upper, node.keys.last()) {
        if last.as_slice() >= u {
            return Err(Error::integrity("index node: child keys exceed their range"));
        }
    }
    if node.count()? != child.count {
        return Err(Error::integrity("index node: child entry count does not match"));
    }
    Ok(())
}

/// The upper bound of child `i`'s keys: the parent's next key, else the parent's own bound.
pub(crate) fn child_upper<'a>(parent: &'a Node, i: usize, parent_upper: Option<&'a [u8]>) -> Option<&'a [u8]> {
    parent.keys.get(i + 1).map(|k| k.as_slice()).or(parent_upper)
}

/// Weight of a leaf entry for the boundary rule.
pub(crate) fn leaf_weight(key: &[u8], value: &[u8]) -> usize {
    key.len() + value.len() + LEAF_ENTRY_OVERHEAD
}

/// Weight of an internal entry for the boundary rule.
pub(crate) fn internal_weight(key: &[u8]) -> usize {
    key.len() + INTERNAL_ENTRY_OVERHEAD
}

/// The boundary hash of a key at a level: the first four bytes of SHA-256(level || key), little-endian.
pub(crate) fn boundary_hash(level: u8, key: &[u8]) -> u32 {
    let mut h = Sha256::new();
    h.update([level]);
    h.update(key);
    let d = h.finalize();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// Whether a node ends after an entry that took the node from `before` to `after` weighted bytes.
///
/// Node sizes follow the survival function `S(x) = (1 - (x - MIN)/(MAX - MIN))^2` on `[MIN, MAX]`; the entry ends
/// the node with the conditional probability `1 - S(after)/S(before)`, decided by comparing the key's boundary hash
/// with that probability scaled to 2^32. All integer arithmetic, so the rule is the same everywhere.
pub(crate) fn is_boundary(level: u8, key: &[u8], before: usize, after: usize) -> bool {
    let (min, max) = sizes();
    if after < min {
        return false;
    }
    if after >= max {
        return true;
    }
    let a = (max - before.max(min)) as u64;
    let b = (max - after) as u64;
    let threshold = ((a * a - b * b) << 32) / (a * a);
    u64::from(boundary_hash(level, key)) < threshold
}

#[cfg(test)]
thread_local! {
    /// Node size bounds (min, max) to use instead of the real ones on this thread, so tests get deep trees from
    /// few entries.
    pub(crate) static TEST_SIZES: std::cell::Cell<Option<(usize, usize)>> = const { std::cell::Cell::new(None) };
}

/// The node size bounds in effect.
fn sizes() -> (usize, usize) {
    #[cfg(test)]
    if let Some(s) = TEST_SIZES.with(|c| c.get()) {
        return s;
    }
    (MIN_NODE, MAX_NODE)
}
