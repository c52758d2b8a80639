//! Garbage collection in two phases, so that no concurrent writer ever loses data.
//!
//! 1. **Mark** every chunk reachable from every branch: commits, index nodes, chunk-list nodes, data chunks.
//! 2. Packs holding no reachable chunk are **condemned**: recorded, with the time, in the repository's gc ref
//!    (a sealed ref whose name, like a branch's, is a keyed hash). Writers leave condemned packs out of their dedup
//!    index, so nothing new comes to depend on them.
//! 3. A later run **deletes** packs that were condemned at least the grace period ago and are still unreachable;
//!    a condemned pack that became reachable again (a writer that deduplicated against it before it was condemned
//!    committed meanwhile) is pardoned.
//!
//! **Time is the storage's.** Every age is judged by the storage's own clock, never the gc host's: the run writes
//! a probe object and reads back the time the storage stamped on it ("now"), condemnations are recorded in that
//! time, and a pack is condemned only once the storage's timestamp on it (a file's mtime, S3's LastModified) is at
//! least the minimum age old. A fresh pack — data a workspace has staged but not yet committed — is therefore never
//! condemned, whatever the grace period or the host's clock says. Backends that cannot tell an object's time fall
//! back to the host's clock and condemnation time alone.
//!
//! **Repacking.** A pack whose garbage share reaches the repack threshold (default 50 % of its sealed chunk bytes)
//! has its live chunks copied, sealed bytes unchanged, into new packs; a forwarding table (`forward.rs`) records
//! where each moved, the gc ref maps the old pack to the table, and the old pack is condemned in the same
//! compare-and-swap (deleted by a later run, after the grace period, like any other). Pointers in commits are never
//! rewritten: readers that find the old pack gone follow the forward; the mark phase counts a pointer into a
//! forwarded pack as keeping the chunk's new place alive; commits claim the packs their staged pointers resolve to.
//! A forward that no reachable pointer has used for a grace period is dropped, and a table no forward names is
//! deleted.

use super::meta::{pad_for_seal, unpad_meta};
use super::refs::{short, Branch, RefChanged};
use super::seen::SeenRef;
use super::Forgotten;
use super::Repository;
use crate::engine::backend::{Backend, BackendError, RefVersion};
use crate::engine::crypto::{now_secs, Keys, Kind};
use crate::engine::fields::Index;
use crate::engine::format::{MAX_PACK, PACK_CLASSES};
use crate::engine::id::ChunkId;
use crate::engine::id::ObjectId;
use crate::engine::object::forward::{
    forward_name, parse_forward_name, ForwardRef, ForwardTable, Forwards, Moved, MAX_TABLE_ENTRIES,
};
use crate::engine::object::{
    kind_from_u8, object_name, parse_object_name, verify_pack, ChunkPointer, PackBuilder, Rebaser,
};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

/// An index node's plaintext as a repack read it, and whether it was stored as a delta (by offset in its pack).
type NodePlain = (Arc<Vec<u8>>, bool);

/// Name (before hashing) of the ref holding condemned packs. Not a valid branch name.
pub(crate) const GC_REF: &str = "gc:condemned";

/// Default [`GcOptions::min_age_secs`]: one hour.
pub const DEFAULT_MIN_AGE_SECS: u64 = 3600;

/// Default [`GcOptions::repack_threshold`]: packs at least half garbage are repacked.
pub const DEFAULT_REPACK_THRESHOLD: u8 = 50;

/// Packs smaller than this are small: each small commit writes one or two, and gc consolidates them.
pub const SMALL_PACK: u64 = 1 << 20;

/// Small live packs are consolidated once at least this many are old enough (fewer are not worth the forwards).
pub const CONSOLIDATE_MIN: usize = 8;

/// Tunables of [`Repository::gc`].
#[derive(Clone, Debug)]
pub struct GcOptions {
    /// Seconds a pack must stay condemned before it is deleted.
    pub grace_secs: u64,
    /// Seconds a pack must have existed (by the storage's clock) before it may be condemned: staged, uncommitted
    /// data younger than this is never touched.
    pub min_age_secs: u64,
    /// Repack packs whose garbage share (of their sealed chunk bytes) is at least this percentage (1..=100; 100
    /// never repacks, since a pack that is all garbage is condemned whole).
    pub repack_threshold: u8,
    /// Only compute the plan.
    pub dry_run: bool,
    /// Drop every claim of a commit in progress first (see [`GcPlan::claims`]): for claims left behind by commits
    /// that died between claiming and releasing. Unsafe while a commit is running: it may then publish pointers
    /// into packs this run condemns.
    pub drop_claims: bool,
    /// Where progress goes: phases `mark` (commits), `condemn` (packs) and `delete` (packs).
    pub progress: ProgressSink,
}

impl Default for GcOptions {
    fn default() -> Self {
        Self {
            grace_secs: 24 * 3600,
            min_age_secs: DEFAULT_MIN_AGE_SECS,
            repack_threshold: DEFAULT_REPACK_THRESHOLD,
            dry_run: false,
            drop_claims: false,
            progress: ProgressSink::none(),
        }
    }
}

/// What a gc run decided (and, unless a dry run, did).
#[derive(Debug, Default, Serialize)]
pub struct GcPlan {
    /// Packs examined.
    pub packs: usize,
    /// Packs with live chunks.
    pub live_packs: usize,
    /// Packs newly condemned (deleted by a run after the grace period).
    pub condemn: Vec<String>,
    /// Packs deleted (or to delete, in a dry run).
    pub delete: Vec<String>,
    /// Bytes the deleted packs occupy.
    pub delete_bytes: u64,
    /// Condemned packs found reachable again and pardoned.
    pub pardon: Vec<String>,
    /// Packs kept although partly garbage: (pack, percent of sealed bytes that are garbage).
    pub partly_garbage: Vec<(String, u8)>,
    /// Packs repacked (or to repack, in a dry run): their live chunks were copied into new packs and the packs
    /// condemned, so a run after the grace period deletes them.
    pub repack: Vec<String>,
    /// Bytes the repacked packs occupy (freed when they are deleted).
    pub repack_bytes: u64,
    /// Of the repacked packs, the small ones (below 1 MiB, whatever their garbage) consolidated into
    /// larger packs.
    pub consolidated: usize,
    /// Live chunks copied out of repacked packs, and their sealed bytes.
    pub moved_chunks: u64,
    /// Sealed bytes of the chunks copied.
    pub moved_bytes: u64,
    /// New packs written to hold them.
    pub new_packs: Vec<String>,
    /// Forwards (old pack -> new places) dropped because no reachable pointer used them for the grace period.
    pub forwards_dropped: usize,
    /// Forwarding tables deleted because no forward names them any more.
    pub forward_tables_deleted: usize,
    /// Unreachable packs left alone because the storage wrote them less than the minimum age ago.
    pub too_young: usize,
    /// Bytes this run deleted (or would delete, in a dry run): packs and forwarding tables.
    pub freed_bytes: u64,
    /// Bytes of the new packs written by repacking (the repacked packs' bytes less this is what their deletion
    /// frees).
    pub new_pack_bytes: u64,
    /// Claims of commits in progress found in the gc ref (after `drop_claims`).
    pub claims: usize,
    /// Claims dropped by `drop_claims`.
    pub claims_dropped: usize,
    /// Unreachable packs kept because a commit in progress claims them.
    pub claimed_packs: usize,
    /// The size class new packs of a repack are filled up to.
    #[serde(skip)]
    repack_cap: usize,
}

/// Take a run's decisions `mine` (made on gc ref `read`) onto `newer`, the gc ref that made its swap fail, when
/// `newer` differs from `read` only by what commits' claims do: claims added, grown or released, the packs they
/// pardon, the forwards they mark used. Then every pack a claim of `newer` holds is pardoned and taken out of
/// `to_delete` (those claims were checked against a gc ref without this run's `deleting`), and `mine` carries
/// `newer`'s claims. A claim made and released since `read` is seen by what it pardoned and marked used, which is
/// pardoned and kept here too; anything else it covers this run at most condemns, and the next run's mark sees its
/// commit. `false` (the run must not swap) for any other change, or when this run dropped a forward a claim relies
/// on.
fn rebase_on_claims(read: &GcState, newer: &GcState, mine: &mut GcState, to_delete: &mut Vec<ObjectId>) -> bool {
    let same = newer.deleting == read.deleting
        && newer.deletions == read.deletions
        && newer.traced == read.traced
        && newer.orphan_tables == read.orphan_tables
        && newer.forwarded.len() == read.forwarded.len()
        && newer.forwarded.iter().all(|(o, f)| read.forwarded.get(o).is_some_and(|r| r.table == f.table))
        && newer.packs.iter().all(|(p, t)| read.packs.get(p) == Some(t));
    if !same {
        return false;
    }
    // Claims this run dropped (their commit found reachable) stay dropped unless a commit changed them since.
    let dropped: HashSet<&ObjectId> = read.claims.keys().filter(|k| !mine.claims.contains_key(k)).collect();
    mine.claims = newer
        .claims
        .iter()
        .filter(|(k, c)| !dropped.contains(k) || read.claims.get(k).is_some_and(|r| r.commit != c.commit))
        .map(|(k, c)| (*k, c.clone()))
        .collect();
    for c in mine.claims.values() {
        for f in &c.forwards {
            match mine.forwarded.get_mut(f) {
                Some(fr) => fr.unused_since = None,
                None if read.forwarded.contains_key(f) => return false,
                None => {}
            }
        }
    }
    // A claim made and released since `read` (its commit published, perhaps after this run's mark) left traces:
    // the condemned packs it pardoned, the forwards it marked used. Those packs are pardoned here too (a later
    // run's mark sees the commit), those forwards kept.
    for (o, f) in &newer.forwarded {
        if f.unused_since.is_none() && read.forwarded.get(o).is_some_and(|r| r.unused_since.is_some()) {
            match mine.forwarded.get_mut(o) {
                Some(fr) => fr.unused_since = None,
                None => return false,
            }
        }
    }
    let mut held: HashSet<ObjectId> = mine.claims.values().flat_map(|c| c.packs.iter().copied()).collect();
    held.extend(read.packs.keys().filter(|p| !newer.packs.contains_key(p)));
    mine.packs.retain(|p, _| !held.contains(p));
    mine.deleting.retain(|p| !held.contains(p));
    to_delete.retain(|p| !held.contains(p));
    mine.seq = newer.seq;
    true
}

/// The size class (of [`PACK_CLASSES`]) up to which to fill new packs with sealed chunks of `lens`, in order, so
/// that they take the fewest bytes (ties: the larger class, fewer objects), and those bytes. A chunk larger than
/// the class gets a pack of its own.
pub(crate) fn best_pack_cap(lens: &[usize]) -> (usize, u64) {
    let class_of = |needed: usize| crate::engine::format::pack_class(needed) as u64;
    let mut best = (MAX_PACK, u64::MAX);
    for &cap in PACK_CLASSES.iter().rev() {
        let mut total = 0u64;
        let mut open: Option<(usize, usize)> = None;
        for &len in lens {
            let grown = open.map(|(b, n)| (b + len, n + 1)).unwrap_or((len, 1));
            if open.is_some() && PackBuilder::estimate(grown.0, grown.1) > cap {
                let (b, n) = open.take().unwrap_or_default();
                total += class_of(PackBuilder::estimate(b, n));
                open = Some((len, 1));
            } else {
                open = Some(grown);
            }
        }
        if let Some((b, n)) = open {
            total += class_of(PackBuilder::estimate(b, n));
        }
        if total < best.1 {
            best = (cap, total);
        }
    }
    best
}

/// The sealed lengths of the live chunks of `packs`, each pack's largest first, in the order a repack writes them.
fn live_lens(packs: &[(ObjectId, u64)], live_in: &HashMap<ObjectId, Vec<ChunkPointer>>) -> Vec<usize> {
    packs
        .iter()
        .flat_map(|(id, _)| {
            let mut v: Vec<usize> = live_in.get(id).into_iter().flatten().map(|p| p.len as usize).collect();
            v.sort_by(|a, b| b.cmp(a));
            v
        })
        .collect()
}

/// Keep `to_repack` only if writing its live chunks into new packs takes fewer bytes than the packs take now;
/// otherwise report each as partly garbage and repack nothing.
fn drop_useless_repack(
    store: &crate::engine::object::Store,
    to_repack: &mut Vec<(ObjectId, u64)>,
    live_in: &HashMap<ObjectId, Vec<ChunkPointer>>,
    live_bytes: &HashMap<ObjectId, u64>,
    purge: &HashSet<ObjectId>,
    plan: &mut GcPlan,
) {
    let old: u64 = to_repack.iter().map(|(_, s)| s).sum();
    let (_, new) = best_pack_cap(&live_lens(to_repack, live_in));
    if new < old {
        return;
    }
    // Packs holding what a rewrite removed are repacked even when that frees nothing: the point is to drop the data.
    let (kept, dropped): (Vec<_>, Vec<_>) = to_repack.drain(..).partition(|(id, _)| purge.contains(id));
    *to_repack = kept;
    for (id, _) in dropped {
        let lb = live_bytes.get(&id).copied().unwrap_or(0);
        let total: u64 = store.pack_table(&id).map(|t| t.iter().map(|e| e.len as u64).sum()).unwrap_or(0).max(1);
        plan.partly_garbage.push((object_name(&id), (100 * total.saturating_sub(lb) / total) as u8));
    }
}

/// What the gc ref holds.
#[derive(Clone, Default, Debug, Serialize, Deserialize)]
pub(crate) struct GcState {
    /// One more on every change of the gc ref (0 in a ref written before the field existed): a workspace that saw
    /// sequence `n` refuses a gc ref below `n`, or at `n` with other contents (see [`Repository::check_gc_seen`]).
    #[serde(default)]
    seq: u64,
    /// pack -> when it was condemned (seconds since the epoch).
    packs: BTreeMap<ObjectId, u64>,
    /// Packs a gc run decided to delete (recorded before it deletes them): no commit may claim them any more.
    #[serde(default)]
    deleting: BTreeSet<ObjectId>,
    /// How many runs have deleted packs (counted when a run records what it is about to delete).
    #[serde(default)]
    deletions: u64,
    /// Repacked packs -> the forwarding table saying where their live chunks went (stored per table: see
    /// [`forwarded_wire`](crate::engine::object::forward::forwarded_wire)).
    #[serde(default, with = "crate::engine::object::forward::forwarded_wire")]
    pub(crate) forwarded: BTreeMap<ObjectId, ForwardRef>,
    /// Branch -> the state of its ref the last gc run traced: a branch now behind it (a lower sequence, the same
    /// sequence with another head, or gone without a deletion marker) makes every gc run refuse.
    #[serde(default)]
    traced: BTreeMap<String, Traced>,
    /// Claims of commits in progress (a random token each): the packs their new commit points into, and the
    /// forwards it relies on. gc neither condemns, repacks nor deletes a claimed pack, nor drops a claimed forward,
    /// until the commit removes its claim (after its ref swap, won or lost).
    #[serde(default)]
    claims: BTreeMap<ObjectId, Claim>,
    /// Forwarding tables no forward names -> since when (storage time): deleted a grace period later.
    #[serde(default)]
    orphan_tables: BTreeMap<ObjectId, u64>,
}

/// A branch's ref as gc traced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Traced {
    seq: u64,
    head: ChunkPointer,
}

/// What one commit in progress claims (see [`GcState::claims`]).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Claim {
    /// The commit about to be published: once a gc run finds it reachable, the claim has done its work and that run
    /// drops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    commit: Option<ChunkPointer>,
    packs: BTreeSet<ObjectId>,
    #[serde(default)]
    forwards: BTreeSet<ObjectId>,
    /// When the claim was made (the claiming host's clock; shown, never acted on).
    #[serde(default)]
    at: u64,
}

/// A commit's claim on the packs it is about to publish pointers into (see [`Repository::claim_packs`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClaimToken(ObjectId);

impl ClaimToken {
    /// A new claim's token.
    pub(crate) fn new() -> Self {
        Self(ObjectId::random())
    }
}

/// Name under which a workspace's last seen states (see [`super::seen`]) keep the gc ref's: not a valid branch
/// name, so it never collides with one.
pub(crate) const SEEN_GC: &str = GC_REF;

/// Decode the plaintext of the gc ref (after authentication and unpadding).
pub(crate) fn decode_gc_state(body: &[u8]) -> Result<GcState> {
    ciborium::from_reader(body).map_err(|e| Error::corrupt("gc ref", e))
}

/// Read, authenticate and decode the gc ref (an empty state when there is none), with a digest of its plaintext.
fn read_gc_ref(backend: &dyn Backend, keys: &Keys) -> Result<Option<(GcState, RefVersion, [u8; 32])>> {
    let name = keys.ref_name(GC_REF);
    let Some((sealed, version)) = backend.read_ref(&name)? else { return Ok(None) };
    let plain =
        keys.open(Kind::Ref, name.as_bytes(), &sealed).map_err(|_| Error::integrity("gc ref does not authenticate"))?;
    let body = unpad_meta(&plain).ok_or_else(|| Error::integrity("gc ref is truncated"))?;
    Ok(Some((decode_gc_state(body)?, version, *blake3::hash(body).as_bytes())))
}

/// Read, authenticate and decode the gc ref (an empty state when there is none).
pub(crate) fn read_gc_state(backend: &dyn Backend, keys: &Keys) -> Result<(GcState, Option<RefVersion>)> {
    Ok(match read_gc_ref(backend, keys)? {
        Some((s, v, _)) => (s, Some(v)),
        None => (GcState::default(), None),
    })
}

fn encode_gc_state(state: &GcState) -> Vec<u8> {
    let mut body = Vec::new();
    ciborium::into_writer(state, &mut body).expect("CBOR encoding into memory cannot fail");
    body
}

/// The last seen state of the gc ref, as a workspace keeps it: its sequence, and the digest of its plaintext in
/// the place of a head's chunk id.
fn seen_gc(seq: u64, digest: [u8; 32]) -> SeenRef {
    SeenRef {
        seq,
        head: ChunkPointer { object: ObjectId::default(), offset: 0, len: 0, id: ChunkId(digest) },
        deleted: false,
    }
}

/// Packs a claim probes one by one for existence; more are checked against one listing.
const PROBE_AT_MOST: usize = 64;

/// Attempts [`Repository::claim_packs`] makes against concurrent gc runs before giving up.
const CLAIM_ATTEMPTS: u32 = 50;

/// A short random pause after a lost compare-and-swap of the gc ref, longer with every attempt.
fn backoff(attempt: u32) {
    let ms = rand::random::<u64>() % (2 * u64::from(attempt.min(25)) + 1);
    std::thread::sleep(std::time::Duration::from_millis(ms));
}

/// Calls its argument with each of a set of chunk pointers (see [`Repository::claim_packs`]).
pub(crate) type PointerSource<'a> = dyn Fn(&mut dyn FnMut(&ChunkPointer) -> Result<()>) -> Result<()> + 'a;

impl Repository {
    fn gc_ref_name(&self) -> String {
        self.store().keys().ref_name(GC_REF)
    }

    /// Read the gc ref, checked against the last state of it this reader saw (when it keeps any, see
    /// [`Repository::watch_refs`]): see [`Repository::check_gc_seen`].
    pub(super) fn read_condemned(&self) -> Result<(GcState, Option<RefVersion>)> {
        let _reading = self.seen.as_ref().map(|s| s.reading_gc.lock().expect("seen refs lock"));
        let cur = read_gc_ref(self.backend(), self.store().keys())?;
        self.check_gc_seen(cur.as_ref().map(|(s, _, d)| (s.seq, *d)))?;
        let (state, version) = match cur {
            Some((s, v, _)) => (s, Some(v)),
            None => (GcState::default(), None),
        };
        self.gc_known.note((state.clone(), version.clone()));
        Ok((state, version))
    }

    /// Compare the gc ref as read (`None`: absent; else its sequence and digest) with the last state seen: a gc ref
    /// that went back to a lower sequence, holds other contents at the sequence seen, or is gone is an integrity
    /// error, so that neither gc nor a commit's claim acts on a replayed, rolled-back or deleted gc ref. A newer
    /// state is recorded.
    fn check_gc_seen(&self, cur: Option<(u64, [u8; 32])>) -> Result<()> {
        let Some(seen) = &self.seen else { return Ok(()) };
        let Some(last) = seen.get(SEEN_GC) else {
            return match cur {
                Some((seq, d)) => seen.advance(SEEN_GC, &seen_gc(seq, d)),
                None => Ok(()),
            };
        };
        let refuse = |why: String| {
            Err(Error::integrity(format!(
                "the gc ref {why}; this workspace last saw sequence {}. Nothing was changed: gc and commits refuse to \
                 act on it (restore the newest gc ref, or remove .infini/seen-refs to trust it as it is)",
                last.seq
            )))
        };
        match cur {
            None => refuse("is gone (deleted)".into()),
            Some((seq, _)) if seq < last.seq => {
                refuse(format!("went back to sequence {seq}: an older gc ref restored or replayed"))
            }
            Some((seq, d)) if seq == last.seq && d != last.head.id.0 => {
                refuse(format!("was replaced: sequence {seq} holds other contents than seen"))
            }
            Some((seq, d)) => seen.advance(SEEN_GC, &seen_gc(seq, d)),
        }
    }

    /// Compare-and-swap the gc ref from `version` to `state`, one sequence number on. `Ok(None)`: another writer
    /// changed it first.
    fn write_gc_state(&self, state: &mut GcState, version: Option<&RefVersion>) -> Result<Option<RefVersion>> {
        state.seq = state.seq.checked_add(1).ok_or_else(|| Error::integrity("gc ref sequence number exhausted"))?;
        let name = self.gc_ref_name();
        let body = encode_gc_state(state);
        let sealed = self.store().keys().seal(Kind::Ref, name.as_bytes(), &pad_for_seal(&body));
        match self.backend().swap_ref(&name, version, &sealed) {
            Ok(v) => {
                if let Some(seen) = &self.seen {
                    seen.advance(SEEN_GC, &seen_gc(state.seq, *blake3::hash(&body).as_bytes()))?;
                }
                self.gc_known.note((state.clone(), Some(v.clone())));
                Ok(Some(v))
            }
            Err(BackendError::PreconditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Check that no gc run has decided to delete a chunk `pointers` yields (those staged changes point at),
    /// without claiming anything: the early check of a commit, before it builds anything (the commit itself
    /// claims, and checks that every pack is stored: see [`Repository::claim_packs`]). `_gc_deletions` is no longer needed: every pack
    /// is checked, whatever removed it.
    ///
    /// It judges on the gc ref as read moments before (see [`Repository::read_gc_ahead`]), if it was; whatever that
    /// says against the changes is judged again on the ref read now.
    pub(crate) fn verify_packs(&self, pointers: &PointerSource<'_>, _gc_deletions: Option<u64>) -> Result<()> {
        let verify = |state: &GcState| {
            let (packs, _) = self.resolve_claimed(pointers, state)?;
            // Only what gc decided: the claim probes that each pack is stored.
            match packs.iter().find(|p| state.deleting.contains(p)) {
                Some(p) => Err(Error::StagedDataCollected { pack: object_name(p) }),
                None => Ok(()),
            }
        };
        if let Some((state, _)) = self.gc_known.recent() {
            if verify(&state).is_ok() {
                return Ok(());
            }
        }
        verify(&self.read_condemned()?.0)
    }

    /// Read the gc ref now, so that what reads it next in this command — a commit's early check and claim, the
    /// dedup index's sync — starts from it (within 10 s) instead of reading it then: a command that reads its
    /// branch's ref first reads both at once (one round trip on S3). A failure is left for those reads to report.
    pub fn read_gc_ahead(&self) {
        let _ = self.read_condemned();
    }

    /// The packs `pointers` point into once resolved through the forwards of repacked packs, and the old packs whose
    /// forwards were used.
    pub(super) fn resolve_claimed(
        &self,
        pointers: &PointerSource<'_>,
        state: &GcState,
    ) -> Result<(HashSet<ObjectId>, HashSet<ObjectId>)> {
        let mut objects = HashSet::new();
        pointers(&mut |p| {
            objects.insert(p.object);
            Ok(())
        })?;
        // Only pointers into repacked packs need resolving, one by one; the others stay where they are.
        let forwarded: HashSet<ObjectId> =
            objects.iter().filter(|o| state.forwarded.contains_key(o)).copied().collect();
        let mut packs: HashSet<ObjectId> = objects.difference(&forwarded).copied().collect();
        let mut used = HashSet::new();
        if !forwarded.is_empty() {
            let fw = Forwards::load(self.backend(), self.store().keys(), &state.forwarded, forwarded.clone())?;
            pointers(&mut |p| {
                // A whole pack claimed by a write-only key (a pointer of length 0: it cannot name the chunks it
                // wrote) that gc repacked since: its live chunks moved, and the pointers that need them are
                // resolved on their own.
                if p.len == 0 && forwarded.contains(&p.object) {
                    return Ok(());
                }
                if forwarded.contains(&p.object) {
                    packs.insert(
                        fw.resolve(p, &mut |o| {
                            used.insert(o);
                        })?
                        .object,
                    );
                }
                Ok(())
            })?;
        }
        Ok((packs, used))
    }

    /// Fail with [`Error::StagedDataCollected`] when one of `packs` is being deleted by gc, or is not stored
    /// (whatever removed it). Packs not yet uploaded by this store are fine; `probed` remembers packs found stored.
    /// A few packs are probed one by one (a one-byte read each), more against one listing.
    fn find_lost(&self, packs: &HashSet<ObjectId>, state: &GcState, probed: &mut HashSet<ObjectId>) -> Result<()> {
        if let Some(p) = packs.iter().find(|p| state.deleting.contains(p)) {
            return Err(Error::StagedDataCollected { pack: object_name(p) });
        }
        let unknown: Vec<ObjectId> =
            packs.iter().filter(|p| !probed.contains(p) && !self.store().is_pending(p)).copied().collect();
        if unknown.len() <= PROBE_AT_MOST {
            for p in unknown {
                match self.backend().read_range(&object_name(&p), 0, 1) {
                    Ok(_) => {
                        probed.insert(p);
                    }
                    Err(e) if e.is_not_found() => return Err(Error::StagedDataCollected { pack: object_name(&p) }),
                    Err(e) => return Err(e.into()),
                }
            }
        } else {
            let present: HashSet<ObjectId> =
                self.backend().list("objects/")?.iter().filter_map(|o| parse_object_name(&o.name)).collect();
            for p in unknown {
                if !present.contains(&p) && !self.store().is_pending(&p) {
                    return Err(Error::StagedDataCollected { pack: object_name(&p) });
                }
                probed.insert(p);
            }
        }
        Ok(())
    }

    /// Claim every pack `pointers` point into (resolved through the forwards of repacked packs) before a commit
    /// publishes `commit`: one compare-and-swap of the gc ref records the claim under `token` (the packs, and the
    /// forwards used; a claim already under `token`, from an earlier attempt of the same commit, grows by them and
    /// names the new commit), pardons the packs gc condemned and marks the forwards used. No gc run condemns,
    /// repacks or deletes a claimed pack or drops a claimed forward while the claim stands. The commit removes it
    /// with [`Repository::release_claim`] once published (or failed); a gc run that finds the claim's commit
    /// reachable drops one left behind (everything it covers is reachable through the commit). A pack that is gone (whatever
    /// removed it), or that a gc run has already decided to delete, is an error and nothing is claimed.
    ///
    /// The compare-and-swap orders the claim against every gc run: a run that read the gc ref before the claim
    /// either swapped before it (its condemnations are pardoned, its `deleting` record is seen here) or finds the
    /// claim when its own swap fails (see [`Repository::gc`]); a run that reads the gc ref after it sees the claim.
    /// See design.md, *Commits and gc*.
    ///
    /// `pointers` calls its argument with every pointer, and may be called more than once: memory follows the packs
    /// pointed into (and the pointers into repacked packs), not the number of pointers.
    pub(crate) fn claim_packs(
        &self,
        token: ClaimToken,
        commit: Option<ChunkPointer>,
        pointers: &PointerSource<'_>,
    ) -> Result<()> {
        for attempt in 0..CLAIM_ATTEMPTS {
            // First from the gc ref as this process last read or wrote it (a commit's early check read it): when
            // nobody wrote since, the claim's swap succeeds without reading the ref again. Only a try: whatever
            // that state says against the claim (a pack being deleted, a forward gone), the ref is read and the
            // claim judged on it.
            let known = if attempt == 0 { self.gc_known.recent() } else { None };
            let from_known = known.is_some();
            let (state, version) = match known {
                Some(known) => known,
                None => self.read_condemned()?,
            };
            match self.claim_on(token, commit, pointers, state, version.as_ref()) {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(_) if from_known => continue,
                Err(e) => return Err(e),
            }
            backoff(attempt);
        }
        Err(Error::Conflict { what: "garbage collection kept running concurrently; commit again".into() })
    }

    /// One attempt of [`Repository::claim_packs`] on gc ref `state` at `version`: false when the swap lost.
    fn claim_on(
        &self,
        token: ClaimToken,
        commit: Option<ChunkPointer>,
        pointers: &PointerSource<'_>,
        mut state: GcState,
        version: Option<&RefVersion>,
    ) -> Result<bool> {
        // Probed again on every attempt: between two reads of the gc ref a gc run may have deleted a pack and
        // already removed it from `deleting`. The commit's own pack was just made durable by this store.
        let mut probed: HashSet<ObjectId> = commit.iter().map(|c| c.object).collect();
        let (packs, used) = self.resolve_claimed(pointers, &state)?;
        self.find_lost(&packs, &state, &mut probed)?;
        state.packs.retain(|id, _| !packs.contains(id));
        for o in &used {
            if let Some(f) = state.forwarded.get_mut(o) {
                f.unused_since = None;
            }
        }
        let claim = state.claims.entry(token.0).or_default();
        claim.commit = commit;
        claim.packs.extend(packs);
        claim.forwards.extend(used);
        claim.at = now_secs();
        Ok(self.write_gc_state(&mut state, version)?.is_some())
    }

    /// Every pointer a root at `commit` makes gc keep: everything the mark reaches from `commit` (its history's
    /// commits through every parent, and what each kept commit's fields reach through `index`).
    pub(crate) fn root_pointers(&self, commit: &ChunkPointer, index: &dyn Index) -> Result<HashSet<ChunkPointer>> {
        let forgotten = self.forgotten()?;
        Ok(self.mark(index, &[*commit], &forgotten, &ProgressSink::default())?.0)
    }

    /// Make a new root at the existing commit `commit` (a tag, a branch created or restored there, a branch moved
    /// there by a fast-forward): claim, under a token of its own, every pack the root makes gc keep (see
    /// [`Repository::root_pointers`]), then `publish` (which writes the root's ref), then release the claim. The
    /// commit may be one no root reaches any more (a deleted branch's), whose packs a gc run has condemned and may
    /// be deleting: the claim either finds them gone or `deleting` (an error, and nothing is published) or keeps
    /// them until the ref is written, after which gc finds them reachable. See [`Repository::claim_packs`] and
    /// design.md, *Commits and gc*.
    pub(crate) fn with_root_claimed<T>(
        &self,
        commit: &ChunkPointer,
        index: &dyn Index,
        publish: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let token = ClaimToken::new();
        let r = self
            .root_pointers(commit, index)
            .and_then(|live| self.claim_packs(token, None, &|each| live.iter().try_for_each(&mut *each)))
            .and_then(|()| publish());
        let _ = self.release_claim(token);
        r
    }

    /// Make what the last gc run traced of branch `name` its current state `now` (`None`: forget it): after a
    /// rollback is accepted, gc no longer refuses because of it, and collects what the branch lost.
    pub(crate) fn accept_traced(&self, name: &str, now: Option<SeenRef>) -> Result<()> {
        for attempt in 0..CLAIM_ATTEMPTS {
            let (mut state, version) = self.read_condemned()?;
            let before = state.traced.get(name).map(|t| (t.seq, t.head));
            let after = now.as_ref().filter(|n| !n.deleted).map(|n| (n.seq, n.head));
            if before.is_none() || before == after {
                return Ok(());
            }
            match after {
                Some((seq, head)) => state.traced.insert(name.to_string(), Traced { seq, head }),
                None => state.traced.remove(name),
            };
            if self.write_gc_state(&mut state, version.as_ref())?.is_some() {
                return Ok(());
            }
            backoff(attempt);
        }
        Err(Error::Conflict { what: "garbage collection kept running concurrently; accept again".into() })
    }

    /// Remove a claim made by [`Repository::claim_packs`] once its commit is published or has failed. A claim that
    /// cannot be removed (the store keeps failing, or the process dies first) keeps its packs until a gc run finds
    /// its commit reachable, or `gc --drop-claims` (see [`GcOptions::drop_claims`]).
    pub(crate) fn release_claim(&self, claim: ClaimToken) -> Result<()> {
        for attempt in 0..CLAIM_ATTEMPTS {
            // First from what this process wrote last (usually the claim itself): when nobody wrote since, the
            // swap succeeds without reading the ref back; otherwise it fails, and the ref is read.
            let written = if attempt == 0 { self.gc_known.last() } else { None };
            // (Only a state holding the claim: one without it says nothing of whether the stored ref does.)
            let written = written.filter(|(state, _)| state.claims.contains_key(&claim.0));
            let (mut state, version) = match written {
                Some(known) => known,
                None => self.read_condemned()?,
            };
            if state.claims.remove(&claim.0).is_none() {
                return Ok(());
            }
            if self.write_gc_state(&mut state, version.as_ref())?.is_some() {
                return Ok(());
            }
            backoff(attempt);
        }
        Err(Error::Conflict { what: "garbage collection kept running concurrently; a claim was left behind".into() })
    }

    /// The time by the storage's own clock, in seconds since the epoch: a probe object is written, listed for the
    /// time the storage stamped on it, and removed. The host's clock when the backend reports no times (or, in a
    /// dry run, which writes nothing).
    fn storage_now(&self, dry_run: bool) -> Result<u64> {
        if dry_run {
            return Ok(now_secs());
        }
        let name = format!("clock/{}", hex::encode(rand::random::<[u8; 16]>()));
        self.backend().write(&name, &[])?;
        let listed = self.backend().list(&name);
        let _ = self.backend().delete(&name);
        Ok(listed?.into_iter().find(|o| o.name == name).and_then(|o| o.modified).unwrap_or_else(now_secs))
    }

    /// Packs condemned by garbage collection: writers must not deduplicate against them.
    fn condemned_ids(&self) -> Result<HashSet<ObjectId>> {
        Ok(self.read_condemned()?.0.packs.into_keys().collect())
    }

    /// The object names of the packs garbage collection has condemned (deleted by a later run once the grace
    /// period is over, unless found reachable again), as [`GcPlan::condemn`] names them.
    pub fn condemned_packs(&self) -> Result<Vec<String>> {
        Ok(self.condemned_ids()?.iter().map(object_name).collect())
    }

    /// Bring the store's dedup index up to date, leaving out condemned packs. Returns how many gc runs have deleted
    /// packs so far (kept by workspaces with their staged changes; no longer needed by
    /// [`namespace::claim_staged`](crate::namespace::claim_staged), which checks every pack).
    ///
    /// The gc ref is the one read moments before (see [`Repository::read_gc_ahead`]), if it was: read before the packs
    /// are listed either way, so a pack gc deletes meanwhile is condemned in it or absent from the listing.
    pub fn sync_dedup_index(&self) -> Result<u64> {
        let (condemned, _) = match self.gc_known.recent() {
            Some(known) => known,
            None => self.read_condemned()?,
        };
        self.store().sync_index_excluding(&condemned.packs.keys().copied().collect())?;
        Ok(condemned.deletions)
    }

    /// The branches, checked against what the last gc run traced (the gc ref's `traced`): a branch whose ref is
    /// now behind it — a lower sequence, the same sequence with another head, or gone without a deletion marker —
    /// is an integrity error naming it, whoever runs gc (a fresh clone included), so that a rolled-back branch is
    /// never turned into deletions. A branch deleted through a deletion marker since is fine.
    ///
    /// Tags are roots like branches: they are returned (named `tag:NAME`) and witnessed the same way.
    fn witnessed_branches(&self, state: &GcState) -> Result<Vec<Branch>> {
        let branches = self.roots()?;
        let by_name: HashMap<&str, &Branch> = branches.iter().map(|b| (b.name.as_str(), b)).collect();
        for (name, t) in &state.traced {
            let now = match by_name.get(name.as_str()) {
                Some(b) => Some(SeenRef { seq: b.seq, head: b.head, deleted: false }),
                None => self.read_stored(name)?.map(|s| s.state()),
            };
            let why = match now {
                None => Some("its ref is gone, deleted without a deletion marker".to_string()),
                Some(n) if n.seq > t.seq => None,
                Some(n) if n.seq == t.seq && n.head == t.head && !n.deleted => None,
                Some(n) if n.seq == t.seq => {
                    Some(format!("its ref was replaced: sequence {} now holds commit {}", n.seq, short(&n.head)))
                }
                Some(n) => Some(format!(
                    "its ref went back to sequence {} (commit {}), an older ref restored or replayed",
                    n.seq,
                    short(&n.head)
                )),
            };
            if let Some(why) = why {
                return Err(Error::corrupt(
                    super::refs::describe(name),
                    RefChanged {
                        branch: name.clone(),
                        why: format!(
                            "{why}; gc last traced it at sequence {} (commit {}), so gc refuses to run, in every \
                             workspace, rather than delete the commits the branch lost",
                            t.seq,
                            short(&t.head)
                        ),
                    },
                ));
            }
        }
        Ok(branches)
    }

    /// Every chunk reachable from `branches`: commits, and whatever each field of each commit reaches, traced
    /// through the fields of `index`.
    ///
    /// Forgotten commits (see [`Repository::forget`]) keep only their headers: their fields are not traced, and each
    /// kept commit is traced against its nearest kept first-parent ancestor, so that everything a kept commit
    /// reaches is reported. A branch head is always kept.
    ///
    /// Every parent of a commit is walked (a merge commit's second parent's history too), not only first parents.
    /// With the set comes each pack reached, in the order first reached: newest commits first, which is how a
    /// history of small commits is laid out when gc consolidates it (so that versions next to each other are next
    /// to each other in the new packs, and index nodes find a base close to them).
    fn mark(
        &self,
        index: &dyn Index,
        roots: &[ChunkPointer],
        forgotten: &Forgotten,
        progress: &ProgressSink,
    ) -> Result<(HashSet<ChunkPointer>, HashMap<ObjectId, usize>)> {
        progress.phase("mark", Unit::Items, None);
        let mut live = HashSet::new();
        let mut order: HashMap<ObjectId, usize> = HashMap::new();
        let mut seen_commits = HashSet::new();
        let heads: HashSet<ChunkId> = roots.iter().map(|p| p.id).collect();
        let kept = |id: &ChunkId| heads.contains(id) || !forgotten.contains_chunk(id);
        let mut queue: Vec<ChunkPointer> = roots.to_vec();
        while let Some(p) = queue.pop() {
            if !seen_commits.insert(p.id) {
                continue;
            }
            live.insert(p);
            progress.inc(1);
            let c = self.read_commit(&p)?;
            queue.extend(c.commit.parents.iter().copied());
            if !kept(&p.id) {
                continue;
            }
            let parent = self.kept_base(&c, &kept)?;
            self.trace_commit(index, &c, parent.as_ref(), &mut |p, _| {
                live.insert(*p);
                let next = order.len();
                order.entry(p.object).or_insert(next);
                Ok(())
            })?;
        }
        Ok((live, order))
    }

    /// Collect garbage (see the module documentation), tracing every commit's fields through `index`. Returns the
    /// plan; with `dry_run` nothing changes. Fails without changing anything when a commit holds a field `index`
    /// does not declare (what it reaches cannot be known), when the gc ref or a branch's ref is behind what was
    /// seen or traced before, or when a branch reaches a chunk whose pack is gone with no forward covering it.
    pub fn gc(&self, index: &dyn Index, opts: &GcOptions) -> Result<GcPlan> {
        let store = self.store();
        let progress = &opts.progress;
        // The gc ref is read before the branches are: a commit's claim made before this read is honoured here, and
        // one made after it changes the gc ref, so this run's compare-and-swap fails and it deletes nothing.
        let (mut condemned, mut version) = self.read_condemned()?;
        let mut read = condemned.clone();
        // Read once, before the branches: the record only grows, so a commit forgotten after this read is at worst
        // kept by this run.
        let (forgotten, purge) = self.forgotten_and_purged()?;
        let branches = self.witnessed_branches(&condemned)?;
        let heads: Vec<ChunkPointer> = branches.iter().map(|b| b.head).collect();
        let (live, order) = self.mark(index, &heads, &forgotten, progress)?;
        let mut plan = GcPlan::default();
        if opts.drop_claims {
            plan.claims_dropped = condemned.claims.len();
            condemned.claims.clear();
        }
        // A claim whose commit is reachable has done its work: what it covers is reachable through the commit.
        condemned.claims.retain(|_, c| !c.commit.is_some_and(|p| live.contains(&p)));
        let claimed: HashSet<ObjectId> = condemned.claims.values().flat_map(|c| c.packs.iter().copied()).collect();
        plan.claims = condemned.claims.len();
        // Where each reachable chunk lives now: a pointer into a repacked pack keeps the chunk's new place alive.
        let fw = Forwards::load_all(self.backend(), store.keys(), &condemned.forwarded)?;
        let mut used_forwards: HashSet<ObjectId> =
            condemned.claims.values().flat_map(|c| c.forwards.iter().copied()).collect();
        let mut resolved = HashSet::new();
        for p in &live {
            resolved.insert(fw.resolve(p, &mut |o| {
                used_forwards.insert(o);
            })?);
        }
        let mut live_bytes: HashMap<ObjectId, u64> = HashMap::new();
        let mut live_in: HashMap<ObjectId, Vec<ChunkPointer>> = HashMap::new();
        for p in &resolved {
            *live_bytes.entry(p.object).or_default() += p.len as u64;
            live_in.entry(p.object).or_default().push(*p);
        }
        let now = self.storage_now(opts.dry_run)?;
        let listed = self.backend().list("objects/")?;
        let present: HashSet<ObjectId> = listed.iter().filter_map(|o| parse_object_name(&o.name)).collect();
        // A branch reaches a chunk whose pack is gone and that no forward covers: data is already lost, or the gc
        // ref lost the forward (a replayed gc ref). Deleting anything now could only make it worse.
        if let Some(missing) = live_bytes.keys().find(|o| !present.contains(o)) {
            if read_gc_state(self.backend(), store.keys())?.1 != version {
                return Err(Error::Conflict {
                    what: "another gc or a commit changed the gc state concurrently; run gc again".into(),
                });
            }
            return Err(Error::integrity(format!(
                "pack {} holds chunks a branch reaches, yet it is gone and no forward in the gc ref covers it (the \
                 gc ref may have been rolled back, or the pack deleted outside gc); gc refuses to run: nothing was \
                 deleted (run `infini check`)",
                object_name(missing)
            )));
        }
        // Listed before the gc ref is swapped: a table written by a concurrent run after this listing is not seen,
        // and one seen but not yet recorded belongs to a run whose swap will fail (it read the ref before ours).
        let tables: Vec<(ObjectId, u64)> = self
            .backend()
            .list("forward/")?
            .iter()
            .filter_map(|o| parse_forward_name(&o.name).map(|t| (t, o.size)))
            .collect();
        let mut to_repack: Vec<(ObjectId, u64)> = Vec::new();
        let mut repack_entries = 0usize;
        // Small live packs not repacked for their garbage: (pack, size, table entries). A pack an earlier repack
        // wrote is never small: moving its chunks again would lengthen their chain of forwards at every run.
        let mut small: Vec<(ObjectId, u64, usize)> = Vec::new();
        let repack_written: HashSet<ObjectId> =
            fw.packs.values().flat_map(|f| f.values().map(|(_, to)| to.object)).collect();
        progress.phase("condemn", Unit::Items, Some(listed.len() as u64));
        for o in &listed {
            progress.inc(1);
            let Some(id) = parse_object_name(&o.name) else { continue };
            plan.packs += 1;
            match live_bytes.get(&id) {
                Some(&lb) => {
                    plan.live_packs += 1;
                    if condemned.packs.remove(&id).is_some() {
                        plan.pardon.push(o.name.clone());
                    }
                    if let Ok(t) = store.pack_table(&id) {
                        let total: u64 = t.iter().map(|e| e.len as u64).sum();
                        if total > 0 && lb < total {
                            let pct = (100 * (total - lb) / total) as u8;
                            let old_enough = o.modified.is_none_or(|m| m.saturating_add(opts.min_age_secs) <= now);
                            let entries =
                                live_in.get(&id).map_or(0, Vec::len) + fw.packs.get(&id).map_or(0, |f| f.len());
                            let movable = old_enough && !claimed.contains(&id) && !condemned.deleting.contains(&id);
                            // A pack holding what a rewrite removed is repacked whatever its garbage share.
                            let purged = purge.contains(&id);
                            if (pct >= opts.repack_threshold || purged)
                                && movable
                                && repack_entries + entries <= MAX_TABLE_ENTRIES
                            {
                                repack_entries += entries;
                                to_repack.push((id, o.size));
                                continue;
                            }
                            plan.partly_garbage.push((o.name.clone(), pct));
                        }
                        if o.size < SMALL_PACK
                            && opts.repack_threshold > 0
                            && !repack_written.contains(&id)
                            && o.modified.is_none_or(|m| m.saturating_add(opts.min_age_secs) <= now)
                            && !claimed.contains(&id)
                            && !condemned.deleting.contains(&id)
                        {
                            let entries =
                                live_in.get(&id).map_or(0, Vec::len) + fw.packs.get(&id).map_or(0, |f| f.len());
                            small.push((id, o.size, entries));
                        }
                    }
                }
                // A commit in progress is about to publish pointers into it.
                None if claimed.contains(&id) => {
                    plan.claimed_packs += 1;
                    if condemned.packs.remove(&id).is_some() {
                        plan.pardon.push(o.name.clone());
                    }
                }
                None if condemned.deleting.contains(&id) => {
                    // A run that was interrupted while deleting: finish its work.
                    plan.delete.push(o.name.clone());
                    plan.delete_bytes += o.size;
                }
                None => match condemned.packs.get(&id) {
                    Some(&since) if since.saturating_add(opts.grace_secs) <= now => {
                        plan.delete.push(o.name.clone());
                        plan.delete_bytes += o.size;
                    }
                    Some(_) => {}
                    // Too young (by the storage's clock) to be judged: perhaps staged data not yet committed.
                    None if o.modified.is_some_and(|m| m.saturating_add(opts.min_age_secs) > now) => {
                        plan.too_young += 1;
                    }
                    None => {
                        condemned.packs.insert(id, now);
                        plan.condemn.push(o.name.clone());
                    }
                },
            }
        }
        condemned.packs.retain(|id, _| present.contains(id));
        condemned.deleting.retain(|id| present.contains(id) && !live_bytes.contains_key(id));
        // Forwards: one a reachable pointer or a claim uses (or whose old pack is still stored) stays; one unused for
        // the grace period is dropped (a commit relying on it meanwhile marks it used again).
        let grace = opts.grace_secs;
        let before = condemned.forwarded.len();
        condemned.forwarded.retain(|old, f| {
            if used_forwards.contains(old) || present.contains(old) {
                f.unused_since = None;
                return true;
            }
            match f.unused_since {
                None => {
                    f.unused_since = Some(now);
                    true
                }
                Some(t) => t.saturating_add(grace) > now,
            }
        });
        plan.forwards_dropped = before - condemned.forwarded.len();
        // Tables no forward names: recorded the first time they are found so, deleted a grace period later.
        let named: HashSet<ObjectId> = condemned.forwarded.values().map(|f| f.table).collect();
        let listed_tables: HashSet<ObjectId> = tables.iter().map(|(t, _)| *t).collect();
        condemned.orphan_tables.retain(|t, _| listed_tables.contains(t) && !named.contains(t));
        let mut tables_to_delete = Vec::new();
        for (t, size) in tables.iter().filter(|(t, _)| !named.contains(t)) {
            match condemned.orphan_tables.get(t) {
                Some(&since) if since.saturating_add(grace) <= now => tables_to_delete.push((*t, *size)),
                Some(_) => {}
                None => {
                    condemned.orphan_tables.insert(*t, now);
                }
            }
        }
        // A repack writes the live chunks into the smallest packs that hold them; one that would free nothing is
        // not done.
        if !to_repack.is_empty() {
            drop_useless_repack(store, &mut to_repack, &live_in, &live_bytes, &purge, &mut plan);
        }
        // Many small packs (each small commit writes one or two) are consolidated into large ones when that takes
        // fewer bytes: their live chunks move like a repack's.
        small.retain(|(id, _, _)| !to_repack.iter().any(|(r, _)| r == id));
        if small.len() >= CONSOLIDATE_MIN {
            let mut picked = Vec::new();
            for (id, size, entries) in small {
                if repack_entries + entries <= MAX_TABLE_ENTRIES {
                    repack_entries += entries;
                    picked.push((id, size));
                }
            }
            let old: u64 = picked.iter().map(|(_, s)| s).sum();
            let (_, new) = best_pack_cap(&live_lens(&picked, &live_in));
            if picked.len() >= CONSOLIDATE_MIN && new < old {
                plan.consolidated = picked.len();
                to_repack.extend(picked);
            }
        }
        if !to_repack.is_empty() {
            let (cap, new) = best_pack_cap(&live_lens(&to_repack, &live_in));
            plan.repack_cap = cap;
            if opts.dry_run {
                plan.new_pack_bytes = new;
            }
        }
        if opts.dry_run {
            for (id, size) in &to_repack {
                plan.repack.push(object_name(id));
                plan.repack_bytes += size;
                for p in live_in.get(id).into_iter().flatten() {
                    plan.moved_chunks += 1;
                    plan.moved_bytes += p.len as u64;
                }
            }
            plan.freed_bytes = plan.delete_bytes + tables_to_delete.iter().map(|(_, s)| s).sum::<u64>();
            plan.forward_tables_deleted = tables_to_delete.len();
            return Ok(plan);
        }
        if !to_repack.is_empty() {
            // In the order the mark reached them: the chunks of adjacent versions are moved next to each other.
            to_repack.sort_by_key(|(id, _)| (order.get(id).copied().unwrap_or(usize::MAX), *id));
            let cap = plan.repack_cap;
            self.repack(&to_repack, &live_in, &fw, now, cap, &mut condemned, &mut plan, progress)?;
        }
        // What this run traced: a later run refuses while a branch is behind it.
        condemned.traced = branches.iter().map(|b| (b.name.clone(), Traced { seq: b.seq, head: b.head })).collect();
        // Record condemnations, and what is about to be deleted, before deleting anything: a commit that claims a
        // pack from now on sees it is going. A lost race means another gc or a commit's claim came first: rerun.
        let to_delete: Vec<ObjectId> = plan.delete.iter().filter_map(|n| parse_object_name(n)).collect();
        for id in &to_delete {
            condemned.packs.remove(id);
            condemned.deleting.insert(*id);
        }
        if !to_delete.is_empty() {
            condemned.deletions = condemned.deletions.saturating_add(1);
        }
        for (t, _) in &tables_to_delete {
            condemned.orphan_tables.remove(t);
        }
        // A lost swap because commits claimed more packs meanwhile is taken up on the newer gc ref (see
        // `rebase_on_claims`); anything else changed means another gc run came first: rerun.
        let mut to_delete = to_delete;
        let mut attempt = 0;
        let v = loop {
            if let Some(v) = self.write_gc_state(&mut condemned, version.as_ref())? {
                break v;
            }
            attempt += 1;
            let (newer, newer_version) = self.read_condemned()?;
            if attempt >= CLAIM_ATTEMPTS || !rebase_on_claims(&read, &newer, &mut condemned, &mut to_delete) {
                return Err(Error::Conflict {
                    what: "another gc or a commit changed the gc state concurrently; run gc again".into(),
                });
            }
            read = newer;
            version = newer_version;
        };
        let kept: HashSet<String> = to_delete.iter().map(object_name).collect();
        plan.delete.retain(|n| kept.contains(n));
        plan.delete_bytes = listed.iter().filter(|o| kept.contains(&o.name)).map(|o| o.size).sum();
        progress.phase("delete", Unit::Items, Some(to_delete.len() as u64));
        for id in &to_delete {
            self.backend().delete(&object_name(id))?;
            progress.inc(1);
        }
        plan.freed_bytes = plan.delete_bytes;
        if !to_delete.is_empty() {
            for id in &to_delete {
                condemned.deleting.remove(id);
            }
            // Forgetting deleted packs is tidiness only; a lost race leaves harmless stale entries.
            let _ = self.write_gc_state(&mut condemned, Some(&v));
        }
        // Tables found unnamed a grace period ago and still unnamed (recorded as no longer orphans by the swap:
        // a run that reads the gc ref from now on never names them again).
        for (t, size) in &tables_to_delete {
            match self.backend().delete(&forward_name(t)) {
                Ok(()) => {}
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            }
            plan.forward_tables_deleted += 1;
            plan.freed_bytes += size;
        }
        Ok(plan)
    }

    /// Copy the live chunks of each pack in `packs` (id, stored size) into new packs, write one forwarding table
    /// for them, and record in `state` the forwards and the old packs' condemnation. New packs are filled up to size
    /// class `cap` (see [`best_pack_cap`]). Packs that fail to verify
    /// are left alone (`check` reports them). Everything written is durable before this returns; the caller's
    /// swap of the gc ref publishes it.
    #[allow(clippy::too_many_arguments)]
    fn repack(
        &self,
        packs: &[(ObjectId, u64)],
        live_in: &HashMap<ObjectId, Vec<ChunkPointer>>,
        fw: &Forwards,
        now: u64,
        cap: usize,
        state: &mut GcState,
        plan: &mut GcPlan,
        progress: &ProgressSink,
    ) -> Result<()> {
        let keys = self.store().keys();
        let backend = self.backend();
        progress.phase("repack", Unit::Items, Some(packs.len() as u64));
        let store = self.store();
        let mut table = ForwardTable::default();
        let mut builder = PackBuilder::new();
        let mut rebaser = Rebaser::default();
        let write = |b: PackBuilder, plan: &mut GcPlan| -> Result<()> {
            let (id, bytes, _) = b.finish(keys);
            backend.write(&object_name(&id), &bytes)?;
            plan.new_packs.push(object_name(&id));
            plan.new_pack_bytes += bytes.len() as u64;
            Ok(())
        };
        let mut done = Vec::new();
        for (id, size) in packs {
            progress.inc(1);
            let bytes = match backend.read(&object_name(id)) {
                Ok(b) => b,
                Err(e) if e.is_not_found() => continue,
                Err(e) => return Err(e.into()),
            };
            let entries = match verify_pack(keys, id, &bytes) {
                Ok(t) => t,
                Err(Error::Integrity { .. }) => continue,
                Err(e) => return Err(e),
            };
            let by_place: HashMap<(u32, u32), (crate::engine::id::ChunkId, u8)> =
                entries.iter().map(|e| ((e.offset, e.len), (e.id, e.kind))).collect();
            let live = live_in.get(id).map(Vec::as_slice).unwrap_or(&[]);
            // Every live pointer must be exactly a chunk of the (verified) pack; otherwise leave the pack alone.
            let mut chunks = Vec::with_capacity(live.len());
            for p in live {
                match by_place.get(&(p.offset, p.len)).and_then(|&(cid, k)| (cid == p.id).then_some(k)) {
                    Some(k) => chunks.push((*p, k)),
                    None => break,
                }
            }
            if chunks.len() != live.len() {
                continue;
            }
            // Index nodes are stored anew (whole, or as a delta against a node like them in their new pack), so
            // their plaintexts are needed; one that does not decode leaves the pack alone like a failed verify.
            let plains: Result<HashMap<u32, NodePlain>> = chunks
                .iter()
                .filter(|(_, k)| *k == Kind::Index as u8)
                .map(|(p, _)| {
                    let (plain, was_delta) = store.plain_in_pack(Kind::Index, &bytes, p)?;
                    Ok((p.offset, (Arc::new(plain), was_delta)))
                })
                .collect();
            let plains = match plains {
                Ok(p) => p,
                Err(Error::Integrity { .. }) => continue,
                Err(e) => return Err(e),
            };
            // Chunks moved by an earlier repack of this pack keep their forwards.
            let mut moved: Vec<Moved> = fw
                .packs
                .get(id)
                .map(|f| f.iter().map(|(cid, (k, to))| Moved { id: *cid, kind: *k, to: *to }).collect())
                .unwrap_or_default();
            // Largest first (as `best_pack_cap` assumed): packs close fuller.
            chunks.sort_by(|(a, _), (b, _)| b.len.cmp(&a.len).then(a.offset.cmp(&b.offset)));
            for (p, k) in chunks {
                let kind = kind_from_u8(k).ok_or_else(|| Error::integrity("unknown chunk kind"))?;
                let stored = &bytes[p.offset as usize..p.offset as usize + p.len as usize];
                let node = plains.get(&p.offset);
                // A delta is stored whole again unless a base in its new pack takes it (below).
                let resealed =
                    node.filter(|(_, was_delta)| *was_delta).map(|(plain, _)| store.seal_with_id(kind, p.id, plain));
                let whole = resealed.as_ref().map_or(stored, |c| c.sealed.as_slice());
                if !builder.fits_within(whole.len(), cap) {
                    write(std::mem::take(&mut builder), plan)?;
                    rebaser.new_pack();
                }
                let delta = node.and_then(|(plain, _)| rebaser.delta(store, p.id, plain, whole.len()));
                let to = builder.push(kind, p.id, delta.as_deref().unwrap_or(whole));
                if let (Some((plain, _)), None) = (node, &delta) {
                    rebaser.stored_whole(&to, plain.clone());
                }
                moved.push(Moved { id: p.id, kind: k, to });
                plan.moved_chunks += 1;
                plan.moved_bytes += p.len as u64;
            }
            moved.sort_by_key(|m| m.id);
            moved.dedup_by_key(|m| m.id);
            table.packs.insert(*id, moved);
            plan.repack.push(object_name(id));
            plan.repack_bytes += size;
            done.push(*id);
        }
        if !builder.is_empty() {
            write(builder, plan)?;
        }
        if done.is_empty() {
            return Ok(());
        }
        let table_id = ObjectId(rand::random());
        backend.write(&forward_name(&table_id), &table.seal(keys, &table_id))?;
        backend.sync()?;
        for id in done {
            state.forwarded.insert(id, ForwardRef { table: table_id, unused_since: None });
            state.packs.insert(id, now);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_packs_take_the_smallest_classes_that_hold_the_chunks() {
        assert_eq!(best_pack_cap(&[300_000]).1, 320 << 10);
        assert_eq!(best_pack_cap(&[10_000, 10_000]).1, 20 << 10);
        // Ties go to the larger class: fewer objects.
        assert_eq!(best_pack_cap(&[10_000, 10_000]).0, 16 << 20);
        // 7.6 MiB in chunks of about 1 MiB: one pack of the class that holds them (8 MiB), not one of 16 MiB.
        let (_, total) = best_pack_cap(&[1_000_000; 8]);
        assert!(total <= 8 << 20, "{total}");
    }

    /// Releasing a claim starts from the gc ref this process wrote last; when another process wrote it since, that
    /// swap fails and the release reads the ref and removes only its own claim.
    #[test]
    fn a_claim_is_released_when_another_process_wrote_the_gc_ref_since() {
        let (one, two) = crate::engine::repo::tests::two_processes();
        let none: &PointerSource<'_> = &|_| Ok(());
        let claims = |r: &Repository| r.read_condemned().unwrap().0.claims.into_keys().collect::<Vec<_>>();
        let (mine, theirs) = (ClaimToken::new(), ClaimToken::new());
        one.claim_packs(mine, None, none).unwrap();
        two.claim_packs(theirs, None, none).unwrap();
        one.release_claim(mine).unwrap();
        assert_eq!(claims(&two), vec![theirs.0], "only the other claim is left");
        // Nobody wrote since: released from what this process wrote.
        two.release_claim(theirs).unwrap();
        assert!(claims(&one).is_empty());
        // A release of a claim this process's last write does not hold still reads the ref (and finds nothing).
        let gone = ClaimToken::new();
        one.claim_packs(gone, None, none).unwrap();
        two.release_claim(gone).unwrap();
        assert!(claims(&one).is_empty());
        one.release_claim(gone).unwrap();
    }

    /// A claim starts from the gc ref as this process last read it (a commit's early check), without reading it
    /// again: when another process wrote it since, the swap fails and the claim reads the ref and claims on it,
    /// keeping what the other wrote. Whatever that earlier state says against the claim (a pack being deleted) is
    /// judged again on the ref as it is, and what the ref as it is says against it is an error.
    #[test]
    fn a_claim_on_a_gc_ref_read_before_is_judged_on_the_ref_as_it_is() {
        let (one, two) = crate::engine::repo::tests::two_processes();
        let none: &PointerSource<'_> = &|_| Ok(());
        let claims = |r: &Repository| r.read_condemned().unwrap().0.claims.into_keys().collect::<HashSet<_>>();
        let (mine, theirs) = (ClaimToken::new(), ClaimToken::new());
        one.read_condemned().unwrap();
        two.claim_packs(theirs, None, none).unwrap();
        one.claim_packs(mine, None, none).unwrap();
        assert_eq!(claims(&two), HashSet::from([mine.0, theirs.0]), "both claims stand");

        // A pack the state read before says is being deleted, and the ref as it is does not.
        let ptr = one.store().put_chunk(Kind::Data, b"staged").unwrap();
        one.store().flush().unwrap();
        let (mut stale, _) = one.read_condemned().unwrap();
        stale.deleting.insert(ptr.object);
        one.gc_known.note((stale.clone(), None));
        // A commit's early check too.
        one.verify_packs(&|each| each(&ptr), None).unwrap();
        one.gc_known.note((stale.clone(), None));
        let staged = ClaimToken::new();
        one.claim_packs(staged, None, &|each| each(&ptr)).unwrap();
        assert!(claims(&two).contains(&staged.0));
        // The ref as it is says so: an error, and nothing claimed.
        let (mut now, version) = two.read_condemned().unwrap();
        now.deleting.insert(ptr.object);
        two.write_gc_state(&mut now, version.as_ref()).unwrap().unwrap();
        let refused = ClaimToken::new();
        let r = one.claim_packs(refused, None, &|each| each(&ptr));
        assert!(matches!(r, Err(Error::StagedDataCollected { .. })), "{r:?}");
        assert!(!claims(&two).contains(&refused.0));
        // The early check judges on what this process last knew (now the ref as the claim read it): refused too.
        let r = one.verify_packs(&|each| each(&ptr), None);
        assert!(matches!(r, Err(Error::StagedDataCollected { .. })), "{r:?}");
    }
}
