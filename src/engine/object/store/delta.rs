//! Index nodes stored as differences.
//!
//! Every commit writes its changed index nodes whole; in a history whose versions differ a little (every file's
//! mtime, a few files' content), each node is nearly the node the commit before wrote for the same keys. When gc
//! moves index nodes into a new pack, it stores each one as a zstd frame compressed with a node of its group (same
//! level and first key) already in that pack as the dictionary: a **delta** (encoding 2, see `codec.rs`), naming
//! its base by offset, length and chunk id. Two rules keep a delta readable for as long as anything points at it:
//! - its base is in **its own pack**, so whatever keeps the pack (a reachable pointer, a commit's claim, a
//!   forward's target) keeps the base; the pack's garbage share counts the base as garbage when nothing else
//!   reaches it, and a repack of the pack re-encodes the delta (against a base it moves, or whole);
//! - its base is a **whole** node (chains of one): a delta read as a base is an integrity error.
//!
//! A delta is sealed with the node's own kind and id like any chunk, so it authenticates wherever it is read and
//! cannot stand for another chunk; the base it names is authenticated by its own id when read.

use super::codec::{decode_delta, decode_in, delta_base, encode_delta, level_for, Base};
use super::Store;
use crate::engine::crypto::{Kind, SEAL_PREFIX};
use crate::engine::id::ChunkId;
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use std::collections::HashMap;
use std::sync::Arc;

/// Most plaintext bytes of base nodes a [`Rebaser`] holds for one pack; beyond, further nodes are stored whole
/// without becoming bases.
const HELD_MAX: usize = 64 << 20;

/// Most bases a group keeps (the newest): a node is stored against whichever of them it differs least from.
const BASES_PER_GROUP: usize = 8;

/// Chooses, for the index nodes gc moves into one new pack, which are stored whole (the bases) and which as deltas.
/// A node is stored as a delta against the base of its group (same level and first key) in the pack that it
/// differs least from, when that delta takes no more bytes than the nodes stored against that base so far take
/// on average, the base itself included (or at most a quarter of the node stored whole); otherwise it is stored
/// whole and becomes a base itself. Met in version order, as gc moves them, the nodes of a history thus start a
/// new base when that costs less on average than differing further from the old one; met in another order, each
/// still finds a base near it among the last few.
#[derive(Default)]
pub(crate) struct Rebaser {
    /// Group -> the whole nodes of the group last stored in the pack being filled.
    bases: HashMap<(u8, Vec<u8>), Vec<BaseNode>>,
    held: usize,
}

/// A whole node that deltas may be stored against.
struct BaseNode {
    base: Base,
    plain: Arc<Vec<u8>>,
    /// Sealed bytes of the node and of the deltas stored against it, and how many they are.
    bytes: usize,
    nodes: usize,
}

impl Rebaser {
    /// A new pack begins: a delta's base is always in its own pack.
    pub(crate) fn new_pack(&mut self) {
        self.bases.clear();
        self.held = 0;
    }

    /// Index node `id` (plaintext `plain`, sealed whole in `whole` bytes) sealed as a delta against the base it
    /// differs least from in the pack being filled, if that is worth it (see [`Rebaser`]).
    pub(crate) fn delta(&mut self, store: &Store, id: ChunkId, plain: &[u8], whole: usize) -> Option<Vec<u8>> {
        let level = store.opts.zstd_level;
        if level == 0 {
            return None;
        }
        let bases = self.bases.get_mut(&crate::engine::tree::node_group(plain)?)?;
        let (best, delta) = bases
            .iter_mut()
            .filter_map(|b| {
                Some((encode_delta(level_for(level, plain.len()), plain, &b.base, &b.plain, SEAL_PREFIX)?, b))
            })
            .min_by_key(|(d, _)| d.len())
            .map(|(d, b)| (b, d))?;
        let sealed = store.keys.seal_buffer(Kind::Index, &id.0, delta);
        if sealed.len() * best.nodes > best.bytes && sealed.len() * 4 > whole {
            return None;
        }
        best.bytes += sealed.len();
        best.nodes += 1;
        Some(sealed)
    }

    /// Index node `plain` was just stored whole at `ptr`: a base of its group from now on.
    pub(crate) fn stored_whole(&mut self, ptr: &ChunkPointer, plain: Arc<Vec<u8>>) {
        let Some(group) = crate::engine::tree::node_group(&plain) else { return };
        if self.held + plain.len() > HELD_MAX {
            return;
        }
        self.held += plain.len();
        let bases = self.bases.entry(group).or_default();
        if bases.len() == BASES_PER_GROUP {
            let old = bases.remove(0);
            self.held -= old.plain.len();
        }
        let base = Base { offset: ptr.offset, len: ptr.len, id: ptr.id };
        bases.push(BaseNode { base, plain, bytes: ptr.len as usize, nodes: 1 });
    }
}

impl Store {
    /// The plaintext of chunk `ptr` of the pack whose (verified) bytes are `bytes`, a delta decoded against its
    /// base in the same bytes; and whether it was a delta.
    pub(crate) fn plain_in_pack(&self, kind: Kind, bytes: &[u8], ptr: &ChunkPointer) -> Result<(Vec<u8>, bool)> {
        let (plain, base) = self.open_in_pack(kind, bytes, ptr)?;
        let Some(base) = base else { return Ok((plain, false)) };
        let bad = |what: &str| Error::integrity(format!("index node at offset {} {what}", ptr.offset));
        if kind != Kind::Index {
            return Err(bad("is stored as a difference where only a whole index node may be"));
        }
        let (base_plain, again) = self.open_in_pack(Kind::Index, bytes, &base.at(ptr.object))?;
        if again.is_some() {
            return Err(bad("is stored against a node that is itself a difference"));
        }
        Ok((decode_delta(&plain, &base_plain).ok_or_else(|| bad("does not decode against its base"))?, true))
    }

    /// Open chunk `ptr` in `bytes`: its plaintext, or for a delta its payload and base.
    fn open_in_pack(&self, kind: Kind, bytes: &[u8], ptr: &ChunkPointer) -> Result<(Vec<u8>, Option<Base>)> {
        let bad = |what: &str| Error::integrity(format!("chunk at offset {} {what}", ptr.offset));
        let sealed = bytes
            .get(ptr.offset as usize..ptr.offset as usize + ptr.len as usize)
            .ok_or_else(|| bad("lies beyond its pack"))?;
        let payload = self.keys.open(kind, &ptr.id.0, sealed).map_err(|_| bad("does not authenticate"))?;
        match delta_base(&payload) {
            Err(()) => Err(bad("does not decode")),
            Ok(Some(base)) => Ok((payload, Some(base))),
            Ok(None) => {
                let end = payload.len();
                let (mut buf, start) =
                    decode_in(payload, 0..end, &self.read_spares).ok_or_else(|| bad("does not decode"))?;
                buf.drain(..start);
                Ok((buf, None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::memory::MemoryBackend;
    use crate::engine::backend::Backend;
    use crate::engine::crypto::{Keys, MasterKey};
    use crate::engine::object::StoreOptions;
    use crate::engine::object::{object_name, PackBuilder};

    /// 6,000 bytes that do not compress alone, the same for every seed but every 500th byte.
    fn node(seed: u8) -> Vec<u8> {
        let mut x = 9u64;
        (0..6000u32)
            .map(|i| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                if i % 500 == 0 {
                    seed
                } else {
                    (x >> 56) as u8
                }
            })
            .collect()
    }

    /// A delta reads back through the store and from a pack's bytes as gc reads them; a delta stored against
    /// another delta, a data chunk stored as one, and a delta whose base is damaged are integrity errors.
    #[test]
    fn a_delta_reads_against_its_base_in_its_pack_and_nothing_else_passes() {
        let backend = Arc::new(MemoryBackend::new());
        let keys = Arc::new(Keys::new(MasterKey::generate()));
        let store = Store::new(backend.clone(), keys.clone(), StoreOptions::default());
        let mut pack = PackBuilder::new();
        let delta_of = |kind: Kind, plain: &[u8], base: &ChunkPointer, base_plain: &[u8]| {
            let id = keys.chunk_id(plain);
            let b = Base { offset: base.offset, len: base.len, id: base.id };
            (id, keys.seal_buffer(kind, &id.0, encode_delta(3, plain, &b, base_plain, SEAL_PREFIX).unwrap()))
        };
        let (base_plain, plain, again, data) = (node(1), node(2), node(3), node(4));
        let whole = store.seal_with_id(Kind::Index, keys.chunk_id(&base_plain), &base_plain);
        let base = pack.push(Kind::Index, whole.id, &whole.sealed);
        let (id, sealed) = delta_of(Kind::Index, &plain, &base, &base_plain);
        assert!(sealed.len() * 4 < whole.sealed.len(), "{} against {}", sealed.len(), whole.sealed.len());
        let delta = pack.push(Kind::Index, id, &sealed);
        let (id, sealed) = delta_of(Kind::Index, &again, &delta, &plain);
        let chained = pack.push(Kind::Index, id, &sealed);
        let (id, sealed) = delta_of(Kind::Data, &data, &base, &base_plain);
        let data_delta = pack.push(Kind::Data, id, &sealed);
        let (pack_id, bytes, _) = pack.finish(&keys);
        backend.write(&object_name(&pack_id), &bytes).unwrap();

        let fresh = || Store::new(backend.clone(), keys.clone(), StoreOptions::default());
        assert_eq!(&**fresh().get_chunk(Kind::Index, &delta).unwrap(), &plain);
        assert_eq!(store.plain_in_pack(Kind::Index, &bytes, &delta).unwrap(), (plain.clone(), true));
        assert_eq!(store.plain_in_pack(Kind::Index, &bytes, &base).unwrap(), (base_plain.clone(), false));
        for (kind, p) in [(Kind::Index, &chained), (Kind::Data, &data_delta)] {
            let e = fresh().get_chunk(kind, p).unwrap_err();
            assert!(matches!(e, Error::Integrity { .. }), "{e}");
            let e = store.plain_in_pack(kind, &bytes, p).unwrap_err();
            assert!(matches!(e, Error::Integrity { .. }), "{e}");
        }
        // The base damaged: the delta does not read.
        let mut damaged = backend.read(&object_name(&pack_id)).unwrap();
        damaged[base.offset as usize + 60] ^= 1;
        backend.delete(&object_name(&pack_id)).unwrap();
        backend.write(&object_name(&pack_id), &damaged).unwrap();
        let e = fresh().get_chunk(Kind::Index, &delta).unwrap_err();
        assert!(matches!(e, Error::Integrity { .. }) && e.to_string().contains("authenticate"), "{e}");
    }
}
