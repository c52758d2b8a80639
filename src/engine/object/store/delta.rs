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
/// differs least from, when that takes at most half the bytes of the node stored whole; otherwise it is stored
/// whole and becomes a base itself. Nodes of versions far apart thus each find a base near them, in whatever order
/// gc meets them.
#[derive(Default)]
pub(crate) struct Rebaser {
    /// Group -> the whole nodes of the group last stored in the pack being filled, and their plaintexts.
    bases: HashMap<(u8, Vec<u8>), Vec<(Base, Arc<Vec<u8>>)>>,
    held: usize,
}

impl Rebaser {
    /// A new pack begins: a delta's base is always in its own pack.
    pub(crate) fn new_pack(&mut self) {
        self.bases.clear();
        self.held = 0;
    }

    /// Index node `id` (plaintext `plain`, sealed whole in `whole` bytes) sealed as a delta against the base it
    /// differs least from in the pack being filled, if that takes at most half the bytes.
    pub(crate) fn delta(&self, store: &Store, id: ChunkId, plain: &[u8], whole: usize) -> Option<Vec<u8>> {
        let level = store.opts.zstd_level;
        if level == 0 {
            return None;
        }
        let bases = self.bases.get(&crate::engine::tree::node_group(plain)?)?;
        let best = bases
            .iter()
            .filter_map(|(base, base_plain)| {
                encode_delta(level_for(level, plain.len()), plain, base, base_plain, SEAL_PREFIX)
            })
            .min_by_key(Vec::len)?;
        let sealed = store.keys.seal_buffer(Kind::Index, &id.0, best);
        (sealed.len() * 2 <= whole).then_some(sealed)
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
            let (_, old) = bases.remove(0);
            self.held -= old.len();
        }
        bases.push((Base { offset: ptr.offset, len: ptr.len, id: ptr.id }, plain));
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
