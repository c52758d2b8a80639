//! Forwarding tables: where garbage collection moved the live chunks of the packs it repacked.
//!
//! A pointer names its pack, and pointers in commits are never rewritten, so when gc copies the live chunks of a
//! mostly-garbage pack into a new pack and later deletes the old one, readers need to learn where each chunk went.
//! A forwarding table (`forward/<64 hex>`, sealed with the metadata key and bound to its name, padded to a size
//! class) lists, per old pack, `(chunk id, kind, new pointer)`; the gc ref says which table covers which old pack.
//! A reader that finds a pack missing consults it and reads the chunk where it moved. The chunk's seal is bound to
//! its id and kind, not to its place, so a moved chunk authenticates exactly as before, and a forged or stale
//! forward can at worst point at nothing (an integrity error), never at other content.

use super::Store;
use crate::engine::backend::Backend;
use crate::engine::crypto::{Keys, Kind};
use crate::engine::format::MAX_PACK;
use crate::engine::id::{ChunkId, ObjectId};
use crate::engine::object::{kind_from_u8, object_name, ChunkPointer};
use crate::engine::repo::meta::{pad_for_seal, unpad_meta};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Most forwarding hops a read follows (a chunk moved by one repack, then by another...): beyond, the table is
/// considered corrupt.
pub(crate) const MAX_HOPS: usize = 32;

/// Most entries gc writes into one forwarding table, which keeps it within the largest size class (each entry
/// encodes in about 110 bytes).
pub(crate) const MAX_TABLE_ENTRIES: usize = 100_000;

/// One moved chunk: its id, kind and new place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Moved {
    pub id: ChunkId,
    pub kind: u8,
    pub to: ChunkPointer,
}

/// A forwarding table: old pack -> the chunks that moved out of it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ForwardTable {
    pub packs: BTreeMap<ObjectId, Vec<Moved>>,
}

/// What the gc ref records for one repacked pack: the table saying where its chunks went, and since when (storage
/// time) no reachable pointer has needed the forward (it is dropped a grace period later; a commit that relies on
/// it clears the mark).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ForwardRef {
    pub table: ObjectId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unused_since: Option<u64>,
}

/// Chunk id -> (kind, new pointer), for one old pack.
pub(crate) type PackForward = HashMap<ChunkId, (u8, ChunkPointer)>;

/// Storage name of a forwarding table.
pub(crate) fn forward_name(id: &ObjectId) -> String {
    format!("forward/{}", id.to_hex())
}

/// Parse a forwarding table's storage name back into its id.
pub(crate) fn parse_forward_name(name: &str) -> Option<ObjectId> {
    ObjectId::from_hex(name.strip_prefix("forward/")?)
}

impl ForwardTable {
    /// The sealed, padded object.
    pub(crate) fn seal(&self, keys: &Keys, id: &ObjectId) -> Vec<u8> {
        let mut body = Vec::new();
        ciborium::into_writer(self, &mut body).expect("CBOR encoding into memory cannot fail");
        keys.seal(Kind::Forward, forward_name(id).as_bytes(), &pad_for_seal(&body))
    }

    /// Authenticate and decode a stored table. Anything wrong is an integrity error.
    pub(crate) fn open(keys: &Keys, id: &ObjectId, sealed: &[u8]) -> Result<Self> {
        let name = forward_name(id);
        let bad = |what: &str| Error::integrity(format!("forwarding table {name}: {what}"));
        if !crate::engine::format::is_size_class(sealed.len() as u64) {
            return Err(bad("size is not a size class"));
        }
        let plain = keys.open(Kind::Forward, name.as_bytes(), sealed).map_err(|_| bad("does not authenticate"))?;
        let body = unpad_meta(&plain).ok_or_else(|| bad("is truncated"))?;
        Self::decode(body).map_err(|e| bad(&e))
    }

    /// Decode and validate the plaintext: every entry moves a chunk of a known kind to a pointer carrying the same
    /// chunk id, inside a pack.
    pub(crate) fn decode(body: &[u8]) -> std::result::Result<Self, String> {
        let t: ForwardTable = ciborium::from_reader(body).map_err(|e| format!("does not decode: {e}"))?;
        for (old, moved) in &t.packs {
            for m in moved {
                if kind_from_u8(m.kind).is_none() {
                    return Err("unknown chunk kind".into());
                }
                if m.to.id != m.id || m.to.object == *old {
                    return Err("an entry forwards a chunk to another chunk or to its own pack".into());
                }
                if m.to.offset as u64 + m.to.len as u64 > MAX_PACK as u64 {
                    return Err("an entry points beyond the largest pack".into());
                }
            }
        }
        Ok(t)
    }

    /// Read and open table `id` from the backend.
    pub(crate) fn read(backend: &dyn Backend, keys: &Keys, id: &ObjectId) -> Result<Self> {
        let name = forward_name(id);
        let sealed = backend.read(&name).map_err(|e| {
            if e.is_not_found() {
                Error::integrity(format!("forwarding table {name} is missing"))
            } else {
                e.into()
            }
        })?;
        Self::open(keys, id, &sealed)
    }

    /// The entries for one old pack, as a map.
    pub(crate) fn pack(&self, old: &ObjectId) -> PackForward {
        self.packs.get(old).map(|v| v.iter().map(|m| (m.id, (m.kind, m.to))).collect()).unwrap_or_default()
    }
}

/// Every forward the gc ref records, loaded: old pack -> its moved chunks.
#[derive(Default)]
pub(crate) struct Forwards {
    pub packs: HashMap<ObjectId, PackForward>,
}

impl Forwards {
    /// Load the tables of the forwards that pointers into `start` may follow (transitively: a chunk moved twice
    /// follows two forwards), each table once.
    pub(crate) fn load(
        backend: &dyn Backend,
        keys: &Keys,
        forwarded: &BTreeMap<ObjectId, ForwardRef>,
        start: impl IntoIterator<Item = ObjectId>,
    ) -> Result<Self> {
        let mut tables: HashMap<ObjectId, ForwardTable> = HashMap::new();
        let mut out = Forwards::default();
        let mut todo: Vec<ObjectId> = start.into_iter().collect();
        while let Some(old) = todo.pop() {
            if out.packs.contains_key(&old) {
                continue;
            }
            let Some(f) = forwarded.get(&old) else { continue };
            let table = match tables.entry(f.table) {
                std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::hash_map::Entry::Vacant(e) => e.insert(ForwardTable::read(backend, keys, &f.table)?),
            };
            let pack = table.pack(&old);
            todo.extend(pack.values().map(|(_, to)| to.object));
            out.packs.insert(old, pack);
        }
        Ok(out)
    }

    /// Every forward the gc ref records.
    pub(crate) fn load_all(
        backend: &dyn Backend,
        keys: &Keys,
        forwarded: &BTreeMap<ObjectId, ForwardRef>,
    ) -> Result<Self> {
        Self::load(backend, keys, forwarded, forwarded.keys().copied())
    }

    /// Where chunk `p` lives now, following forwards (none: `p` itself), and each old pack whose forward was used.
    pub(crate) fn resolve(&self, p: &ChunkPointer, used: &mut dyn FnMut(ObjectId)) -> Result<ChunkPointer> {
        let mut at = *p;
        for _ in 0..MAX_HOPS {
            match self.packs.get(&at.object).and_then(|f| f.get(&at.id)) {
                Some((_, to)) => {
                    used(at.object);
                    at = *to;
                }
                None => return Ok(at),
            }
        }
        Err(Error::integrity(format!("chunk {} is forwarded in a loop from {}", p.id, object_name(&p.object))))
    }
}

impl Store {
    /// Where chunk `ptr` moved, if the forwards read so far say so (no I/O).
    pub(super) fn forwarded_cached(&self, ptr: &ChunkPointer) -> Option<ChunkPointer> {
        self.forwards.lock().expect("forwards lock").get(&ptr.object).and_then(|f| f.get(&ptr.id)).map(|(_, to)| *to)
    }

    /// Where a chunk of a pack found missing moved, if garbage collection repacked it: the gc ref names the
    /// forwarding table of the pack; tables are cached per old pack (and read again when a chunk is not in the
    /// cached copy, since a later repack may have added to it).
    pub(super) fn forwarded(&self, ptr: &ChunkPointer) -> Result<Option<ChunkPointer>> {
        if let Some(f) = self.forwards.lock().expect("forwards lock").get(&ptr.object) {
            if let Some((_, to)) = f.get(&ptr.id) {
                return Ok(Some(*to));
            }
        }
        let (state, _) = crate::engine::repo::gc::read_gc_state(&*self.backend, &self.keys)?;
        let Some(fwd) = state.forwarded.get(&ptr.object) else { return Ok(None) };
        let f = Arc::new(ForwardTable::read(&*self.backend, &self.keys, &fwd.table)?.pack(&ptr.object));
        let to = f.get(&ptr.id).map(|(_, to)| *to);
        self.forwards.lock().expect("forwards lock").insert(ptr.object, f);
        Ok(to)
    }
}
