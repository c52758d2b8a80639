//! Forwarding tables: where garbage collection moved the live chunks of the packs it repacked.
//!
//! A pointer names its pack, and pointers in commits are never rewritten, so when gc copies the live chunks of a
//! mostly-garbage pack into a new pack and later deletes the old one, readers need to learn where each chunk went.
//! A forwarding table (`forward/<64 hex>`, sealed with the metadata key and bound to its name, padded to a size
//! class) lists, per old pack, `(chunk id, kind, new pack, offset, length)`, 45 bytes each (see [`ForwardTable`]);
//! the gc ref says which table covers which old pack.
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
/// encodes in 45 bytes, each new pack once in 34).
pub(crate) const MAX_TABLE_ENTRIES: usize = 100_000;

/// One moved chunk: its id, kind and new place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Moved {
    pub id: ChunkId,
    pub kind: u8,
    pub to: ChunkPointer,
}

/// A forwarding table: old pack -> the chunks that moved out of it.
///
/// Stored (format version 10) as CBOR `{to: [new pack id, ...], packs: {old pack id: moves}}`, where `moves` is a
/// byte string of 45-byte records `chunk id (32) || kind:u8 || new pack:u32 (an index into to) || offset:u32 ||
/// len:u32` (little-endian): a moved chunk's id is the same in its new place, and the new packs are few, so each is
/// named once. (Version 9 stored each entry as a CBOR map with the whole 72-byte new pointer, about 140 bytes.)
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ForwardTable {
    pub packs: BTreeMap<ObjectId, Vec<Moved>>,
}

/// Bytes of one moved chunk's record in a stored table.
const MOVE_LEN: usize = 32 + 1 + 4 + 4 + 4;

#[derive(Serialize, Deserialize)]
struct Wire {
    to: Vec<ObjectId>,
    packs: BTreeMap<ObjectId, serde_bytes::ByteBuf>,
}

impl ForwardTable {
    fn to_wire(&self) -> Wire {
        let mut to: Vec<ObjectId> = Vec::new();
        let mut index: HashMap<ObjectId, u32> = HashMap::new();
        let mut packs = BTreeMap::new();
        for (old, moved) in &self.packs {
            let mut b = Vec::with_capacity(moved.len() * MOVE_LEN);
            for m in moved {
                let i = *index.entry(m.to.object).or_insert_with(|| {
                    to.push(m.to.object);
                    u32::try_from(to.len() - 1).expect("a table holds at most 100,000 entries")
                });
                b.extend_from_slice(&m.id.0);
                b.push(m.kind);
                b.extend_from_slice(&i.to_le_bytes());
                b.extend_from_slice(&m.to.offset.to_le_bytes());
                b.extend_from_slice(&m.to.len.to_le_bytes());
            }
            packs.insert(*old, serde_bytes::ByteBuf::from(b));
        }
        Wire { to, packs }
    }

    fn from_wire(w: Wire) -> std::result::Result<Self, String> {
        let mut packs = BTreeMap::new();
        for (old, b) in w.packs {
            if b.len() % MOVE_LEN != 0 {
                return Err("a pack's moves are not whole records".into());
            }
            let moved = b
                .chunks_exact(MOVE_LEN)
                .map(|r| {
                    let id = ChunkId(r[..32].try_into().expect("32 bytes"));
                    let u32_at = |at: usize| u32::from_le_bytes(r[at..at + 4].try_into().expect("4 bytes"));
                    let object =
                        *w.to.get(u32_at(33) as usize).ok_or("an entry names a new pack the table does not list")?;
                    let (offset, len) = (u32_at(37), u32_at(41));
                    Ok(Moved { id, kind: r[32], to: ChunkPointer { object, offset, len, id } })
                })
                .collect::<std::result::Result<Vec<_>, String>>()?;
            packs.insert(old, moved);
        }
        Ok(Self { packs })
    }
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
        keys.seal(Kind::Forward, forward_name(id).as_bytes(), &pad_for_seal(&self.encode()))
    }

    /// The plaintext: CBOR of the stored form (see [`ForwardTable`]).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        ciborium::into_writer(&self.to_wire(), &mut body).expect("CBOR encoding into memory cannot fail");
        body
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
        let w: Wire = ciborium::from_reader(body).map_err(|e| format!("does not decode: {e}"))?;
        let t = Self::from_wire(w)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::crypto::MasterKey;

    fn table(moves: usize, new_packs: u8) -> ForwardTable {
        let mut t = ForwardTable::default();
        for old in 0..4u8 {
            let moved = (0..moves)
                .map(|i| {
                    let id = ChunkId(crate::engine::id::ObjectId::random().0);
                    let object = ObjectId([100 + (i % new_packs as usize) as u8; 32]);
                    Moved {
                        id,
                        kind: 1 + (i % 3) as u8,
                        to: ChunkPointer { object, offset: 4096 * i as u32, len: 999, id },
                    }
                })
                .collect();
            t.packs.insert(ObjectId([old; 32]), moved);
        }
        t
    }

    #[test]
    fn a_table_round_trips_in_45_bytes_a_moved_chunk() {
        let keys = Keys::new(MasterKey::generate());
        let t = table(1000, 3);
        let mut body = Vec::new();
        ciborium::into_writer(&t.to_wire(), &mut body).unwrap();
        // 4,000 moved chunks into 3 new packs: 45 bytes each, each pack id once, a little CBOR around them (the
        // whole pointer in a CBOR map of each entry took about 140).
        assert!(body.len() <= 4000 * 45 + 7 * 40 + 64, "{} bytes", body.len());
        assert_eq!(ForwardTable::decode(&body).unwrap(), t);
        let id = ObjectId([9; 32]);
        assert_eq!(ForwardTable::open(&keys, &id, &t.seal(&keys, &id)).unwrap(), t);
        // The lookup a reader makes: by old pack and chunk id, to the new place with the same id.
        let (old, moved) = t.packs.iter().next().unwrap();
        let m = moved[17];
        assert_eq!(t.pack(old).get(&m.id), Some(&(m.kind, m.to)));
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct State {
        #[serde(with = "forwarded_wire")]
        forwarded: BTreeMap<ObjectId, ForwardRef>,
    }

    #[test]
    fn the_gc_refs_forwards_take_32_bytes_a_pack() {
        let tables = [ObjectId([1; 32]), ObjectId([2; 32])];
        let forwarded: BTreeMap<ObjectId, ForwardRef> = (0..160u8)
            .map(|i| {
                let unused_since = (i % 10 == 0).then_some(1_700_000_000 + i as u64);
                (ObjectId([i; 32]), ForwardRef { table: tables[(i % 2) as usize], unused_since })
            })
            .collect();
        let s = State { forwarded };
        let mut body = Vec::new();
        ciborium::into_writer(&s, &mut body).unwrap();
        // 160 packs, 16 of them marked unused (a pack id and a time each): a map of {table, unused_since} per pack
        // took about 80 bytes a pack.
        assert!(body.len() <= 160 * 32 + 16 * 42 + 2 * 60 + 32, "{} bytes", body.len());
        let back: State = ciborium::from_reader(body.as_slice()).unwrap();
        assert_eq!(back, s);
        // A pack under two tables, an unused mark for a pack its table does not forward, a torn id: refused.
        let bad = |w: BTreeMap<ObjectId, forwarded_wire::Table>| {
            let mut m = BTreeMap::new();
            m.insert("forwarded", w);
            let mut body = Vec::new();
            ciborium::into_writer(&m, &mut body).unwrap();
            ciborium::from_reader::<State, _>(body.as_slice()).is_err()
        };
        let table = |packs: &[u8], unused: &[(u8, u64)]| forwarded_wire::Table {
            packs: serde_bytes::ByteBuf::from(packs.iter().flat_map(|&p| [p; 32]).collect::<Vec<u8>>()),
            unused: unused.iter().map(|&(p, t)| (ObjectId([p; 32]), t)).collect(),
        };
        assert!(bad([(tables[0], table(&[5, 6], &[])), (tables[1], table(&[6], &[]))].into()));
        assert!(bad([(tables[0], table(&[5], &[(6, 1)]))].into()));
        let mut torn = table(&[5], &[]);
        torn.packs.pop();
        assert!(bad([(tables[0], torn)].into()));
        assert!(!bad([(tables[0], table(&[5], &[(5, 1)]))].into()));
    }

    #[test]
    fn a_record_naming_an_unlisted_pack_or_cut_short_does_not_decode() {
        let t = table(10, 2);
        let mut w = t.to_wire();
        w.to.truncate(1);
        let mut body = Vec::new();
        ciborium::into_writer(&w, &mut body).unwrap();
        assert!(ForwardTable::decode(&body).unwrap_err().contains("does not list"));
        let mut w = t.to_wire();
        w.packs.values_mut().next().unwrap().pop();
        let mut body = Vec::new();
        ciborium::into_writer(&w, &mut body).unwrap();
        assert!(ForwardTable::decode(&body).unwrap_err().contains("whole records"));
        // A chunk forwarded to its own pack is refused as before.
        let mut t = table(3, 1);
        let old = *t.packs.keys().next().unwrap();
        let m = &mut t.packs.get_mut(&old).unwrap()[0];
        m.to.object = old;
        let mut body = Vec::new();
        ciborium::into_writer(&t.to_wire(), &mut body).unwrap();
        assert!(ForwardTable::decode(&body).is_err());
    }
}

/// The gc ref's `forwarded` map as stored (format version 10): per forwarding table, the old packs it covers as
/// one byte string of 32-byte ids, and those whose forward is marked unused with since when — `{table: {packs,
/// unused?}}`. A history of small commits that gc consolidated has a forward for each of its packs, and each ref
/// generation holds them all: this takes 32 bytes a pack where a map of `{table, unused_since?}` per pack took about
/// 80.
pub(crate) mod forwarded_wire {
    use super::ForwardRef;
    use crate::engine::id::ObjectId;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    #[derive(Serialize, Deserialize, Default)]
    pub(super) struct Table {
        pub(super) packs: serde_bytes::ByteBuf,
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        pub(super) unused: BTreeMap<ObjectId, u64>,
    }

    pub(crate) fn serialize<S: Serializer>(f: &BTreeMap<ObjectId, ForwardRef>, s: S) -> Result<S::Ok, S::Error> {
        let mut by_table: BTreeMap<ObjectId, Table> = BTreeMap::new();
        for (old, r) in f {
            let t = by_table.entry(r.table).or_default();
            t.packs.extend_from_slice(&old.0);
            if let Some(since) = r.unused_since {
                t.unused.insert(*old, since);
            }
        }
        by_table.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<ObjectId, ForwardRef>, D::Error> {
        use serde::de::Error;
        let by_table: BTreeMap<ObjectId, Table> = Deserialize::deserialize(d)?;
        let mut out = BTreeMap::new();
        for (table, t) in by_table {
            if t.packs.len() % 32 != 0 {
                return Err(D::Error::custom("a forwarding table's packs are not whole ids"));
            }
            for id in t.packs.chunks_exact(32) {
                let old = ObjectId(id.try_into().expect("32 bytes"));
                if out.insert(old, ForwardRef { table, unused_since: None }).is_some() {
                    return Err(D::Error::custom("a pack is forwarded by two tables"));
                }
            }
            for (old, since) in t.unused {
                match out.get_mut(&old) {
                    Some(r) if r.table == table => r.unused_since = Some(since),
                    _ => return Err(D::Error::custom("an unused mark names a pack its table does not forward")),
                }
            }
        }
        Ok(out)
    }
}
