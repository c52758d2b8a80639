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
use super::Repository;
use crate::engine::backend::{Backend, BackendError, RefVersion};
use crate::engine::crypto::{now_secs, Keys, Kind};
use crate::engine::fields::Index;
use crate::engine::id::ObjectId;
use crate::engine::object::forward::{
    forward_name, parse_forward_name, ForwardRef, ForwardTable, Forwards, Moved, MAX_TABLE_ENTRIES,
};
use crate::engine::object::{kind_from_u8, object_name, parse_object_name, verify_pack, ChunkPointer, PackBuilder};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Name (before hashing) of the ref holding condemned packs. Not a valid branch name.
pub(crate) const GC_REF: &str = "gc:condemned";

/// Default [`GcOptions::min_age_secs`]: one hour.
pub const DEFAULT_MIN_AGE_SECS: u64 = 3600;

/// Default [`GcOptions::repack_threshold`]: packs at least half garbage are repacked.
pub const DEFAULT_REPACK_THRESHOLD: u8 = 50;

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
}

/// What the gc ref holds.
#[derive(Default, Debug, Serialize, Deserialize)]
pub(crate) struct GcState {
    /// pack -> when it was condemned (seconds since the epoch).
    packs: BTreeMap<ObjectId, u64>,
    /// Packs a gc run decided to delete (recorded before it deletes them): no commit may claim them any more.
    #[serde(default)]
    deleting: BTreeSet<ObjectId>,
    /// How many runs have deleted packs (counted when a run records what it is about to delete).
    #[serde(default)]
    deletions: u64,
    /// Repacked packs -> the forwarding table saying where their live chunks went.
    #[serde(default)]
    pub(crate) forwarded: BTreeMap<ObjectId, ForwardRef>,
}

/// Decode the plaintext of the gc ref (after authentication and unpadding).
pub(crate) fn decode_gc_state(body: &[u8]) -> Result<GcState> {
    ciborium::from_reader(body).map_err(|e| Error::corrupt("gc ref", e))
}

/// Read, authenticate and decode the gc ref (an empty state when there is none).
pub(crate) fn read_gc_state(backend: &dyn Backend, keys: &Keys) -> Result<(GcState, Option<RefVersion>)> {
    let name = keys.ref_name(GC_REF);
    let Some((sealed, version)) = backend.read_ref(&name)? else { return Ok((GcState::default(), None)) };
    let plain =
        keys.open(Kind::Ref, name.as_bytes(), &sealed).map_err(|_| Error::integrity("gc ref does not authenticate"))?;
    let body = unpad_meta(&plain).ok_or_else(|| Error::integrity("gc ref is truncated"))?;
    Ok((decode_gc_state(body)?, Some(version)))
}

fn encode_gc_state(state: &GcState) -> Vec<u8> {
    let mut body = Vec::new();
    ciborium::into_writer(state, &mut body).expect("CBOR encoding into memory cannot fail");
    body
}

/// Attempts [`Repository::claim_packs`] makes against concurrent gc runs before giving up.
const CLAIM_ATTEMPTS: u32 = 50;

/// Calls its argument with each of a set of chunk pointers (see [`Repository::claim_packs`]).
pub(crate) type PointerSource<'a> = dyn Fn(&mut dyn FnMut(&ChunkPointer) -> Result<()>) -> Result<()> + 'a;

impl Repository {
    fn gc_ref_name(&self) -> String {
        self.store().keys().ref_name(GC_REF)
    }

    fn read_condemned(&self) -> Result<(GcState, Option<RefVersion>)> {
        read_gc_state(self.backend(), self.store().keys())
    }

    /// Make sure every chunk `pointers` yields (those staged changes point at) is stored and will not be deleted,
    /// before a commit publishes pointers to them. Each pointer is first resolved through the forwards of repacked
    /// packs (a pointer into a repacked pack is fine as long as its forward exists; readers follow it); the packs the
    /// chunks then live in are claimed: packs condemned by gc are pardoned, and forwards marked unused are marked
    /// used again (a compare-and-swap on the gc ref, so a concurrent gc either sees the claim or makes this fail
    /// and retry). A pack that is gone, or that a gc run has already decided to delete, is an error and nothing may
    /// be published.
    ///
    /// `pointers` calls its argument with every pointer, and may be called more than once: memory follows the packs
    /// pointed into (and the pointers into repacked packs), not the number of pointers.
    ///
    /// `gc_deletions` is what [`Repository::sync_dedup_index`] returned before the changes were staged, if known:
    /// when no gc run has deleted anything since, the packs are known to be there and the repository is not listed.
    pub(crate) fn claim_packs(&self, pointers: &PointerSource<'_>, gc_deletions: Option<u64>) -> Result<()> {
        let mut objects = HashSet::new();
        pointers(&mut |p| {
            objects.insert(p.object);
            Ok(())
        })?;
        if objects.is_empty() {
            return Ok(());
        }
        let name = self.gc_ref_name();
        for _ in 0..CLAIM_ATTEMPTS {
            let (mut condemned, version) = self.read_condemned()?;
            // Only pointers into repacked packs need resolving, one by one; the others stay where they are.
            let forwarded: HashSet<ObjectId> =
                objects.iter().filter(|o| condemned.forwarded.contains_key(o)).copied().collect();
            let mut packs: HashSet<ObjectId> = objects.difference(&forwarded).copied().collect();
            let mut used = HashSet::new();
            if !forwarded.is_empty() {
                let fw = Forwards::load(self.backend(), self.store().keys(), &condemned.forwarded, forwarded.clone())?;
                pointers(&mut |p| {
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
            let mut lost = packs.iter().find(|p| condemned.deleting.contains(p)).copied();
            if lost.is_none() && gc_deletions != Some(condemned.deletions) {
                let present: HashSet<ObjectId> =
                    self.backend().list("objects/")?.iter().filter_map(|o| parse_object_name(&o.name)).collect();
                lost = packs.iter().find(|p| !present.contains(p) && !self.store().is_pending(p)).copied();
            }
            if let Some(p) = lost {
                return Err(Error::StagedDataCollected { pack: object_name(&p) });
            }
            let before = condemned.packs.len();
            condemned.packs.retain(|id, _| !packs.contains(id));
            let mut changed = condemned.packs.len() != before;
            for o in &used {
                if let Some(f) = condemned.forwarded.get_mut(o) {
                    changed |= f.unused_since.take().is_some();
                }
            }
            if !changed {
                return Ok(());
            }
            let sealed =
                self.store().keys().seal(Kind::Ref, name.as_bytes(), &pad_for_seal(&encode_gc_state(&condemned)));
            match self.backend().swap_ref(&name, version.as_ref(), &sealed) {
                Ok(_) => return Ok(()),
                Err(BackendError::PreconditionFailed { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict { what: "garbage collection kept running concurrently; commit again".into() })
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
    /// packs so far: keep it with changes staged from now on and pass it to
    /// [`namespace::claim_staged`](crate::namespace::claim_staged), which then need not list the repository.
    pub fn sync_dedup_index(&self) -> Result<u64> {
        let (condemned, _) = self.read_condemned()?;
        self.store().sync_index_excluding(&condemned.packs.keys().copied().collect())?;
        Ok(condemned.deletions)
    }

    /// Every chunk reachable from every branch: commits, and whatever each field of each commit reaches, traced
    /// through the fields of `index`.
    fn mark(&self, index: &dyn Index, progress: &ProgressSink) -> Result<HashSet<ChunkPointer>> {
        progress.phase("mark", Unit::Items, None);
        let mut live = HashSet::new();
        let mut seen_commits = HashSet::new();
        let mut queue: Vec<ChunkPointer> = self.branches()?.into_iter().map(|b| b.head).collect();
        while let Some(p) = queue.pop() {
            if !seen_commits.insert(p.id) {
                continue;
            }
            live.insert(p);
            progress.inc(1);
            let c = self.read_commit(&p)?;
            queue.extend(c.commit.parents.iter().copied());
            let parent = match c.commit.parents.first() {
                Some(pp) => Some(self.read_commit(pp)?),
                None => None,
            };
            self.trace_commit(index, &c, parent.as_ref(), &mut |p, _| {
                live.insert(*p);
                Ok(())
            })?;
        }
        Ok(live)
    }

    /// Collect garbage (see the module documentation), tracing every commit's fields through `index`. Returns the
    /// plan; with `dry_run` nothing changes. Fails without changing anything when a commit holds a field `index`
    /// does not declare (what it reaches cannot be known).
    pub fn gc(&self, index: &dyn Index, opts: &GcOptions) -> Result<GcPlan> {
        let store = self.store();
        let progress = &opts.progress;
        let live = self.mark(index, progress)?;
        let (mut condemned, version) = self.read_condemned()?;
        // Where each reachable chunk lives now: a pointer into a repacked pack keeps the chunk's new place alive.
        let fw = Forwards::load_all(self.backend(), store.keys(), &condemned.forwarded)?;
        let mut used_forwards = HashSet::new();
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
        let mut plan = GcPlan::default();
        let listed = self.backend().list("objects/")?;
        let present: HashSet<ObjectId> = listed.iter().filter_map(|o| parse_object_name(&o.name)).collect();
        // Listed before the gc ref is swapped: a table written by a concurrent run after this listing is not seen,
        // and one seen but not yet recorded belongs to a run whose swap will fail (it read the ref before ours).
        let tables: Vec<ObjectId> =
            self.backend().list("forward/")?.iter().filter_map(|o| parse_forward_name(&o.name)).collect();
        let mut to_repack: Vec<(ObjectId, u64)> = Vec::new();
        let mut repack_entries = 0usize;
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
                            if pct >= opts.repack_threshold
                                && old_enough
                                && !condemned.deleting.contains(&id)
                                && repack_entries + entries <= MAX_TABLE_ENTRIES
                            {
                                repack_entries += entries;
                                to_repack.push((id, o.size));
                            } else {
                                plan.partly_garbage.push((o.name.clone(), pct));
                            }
                        }
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
        // Forwards: one a reachable pointer uses (or whose old pack is still stored) stays; one unused for the
        // grace period is dropped (a commit relying on it meanwhile marks it used again).
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
        if opts.dry_run {
            for (id, size) in &to_repack {
                plan.repack.push(object_name(id));
                plan.repack_bytes += size;
                for p in live_in.get(id).into_iter().flatten() {
                    plan.moved_chunks += 1;
                    plan.moved_bytes += p.len as u64;
                }
            }
            return Ok(plan);
        }
        if !to_repack.is_empty() {
            self.repack(&to_repack, &live_in, &fw, now, &mut condemned, &mut plan, progress)?;
        }
        // Record condemnations, and what is about to be deleted, before deleting anything: a commit that claims a
        // pack from now on sees it is going. A lost race means another gc or a commit's claim came first: rerun.
        let name = self.gc_ref_name();
        let to_delete: Vec<ObjectId> = plan.delete.iter().filter_map(|n| parse_object_name(n)).collect();
        for id in &to_delete {
            condemned.packs.remove(id);
            condemned.deleting.insert(*id);
        }
        if !to_delete.is_empty() {
            condemned.deletions = condemned.deletions.saturating_add(1);
        }
        let body = encode_gc_state(&condemned);
        for id in &to_delete {
            condemned.deleting.remove(id);
        }
        let body_after = encode_gc_state(&condemned);
        let sealed = store.keys().seal(Kind::Ref, name.as_bytes(), &pad_for_seal(&body));
        let v = match self.backend().swap_ref(&name, version.as_ref(), &sealed) {
            Ok(v) => v,
            Err(BackendError::PreconditionFailed { .. }) => {
                return Err(Error::Conflict {
                    what: "another gc or a commit changed the gc state concurrently; run gc again".into(),
                })
            }
            Err(e) => return Err(e.into()),
        };
        progress.phase("delete", Unit::Items, Some(to_delete.len() as u64));
        for id in &to_delete {
            self.backend().delete(&object_name(id))?;
            progress.inc(1);
        }
        if !to_delete.is_empty() {
            let sealed = store.keys().seal(Kind::Ref, name.as_bytes(), &pad_for_seal(&body_after));
            // Forgetting deleted packs is tidiness only; a lost race leaves harmless stale entries.
            let _ = self.backend().swap_ref(&name, Some(&v), &sealed);
        }
        // Tables no forward names any more (dropped forwards, or a crashed run's table).
        let named: HashSet<ObjectId> = condemned.forwarded.values().map(|f| f.table).collect();
        for t in tables.iter().filter(|t| !named.contains(t)) {
            self.backend().delete(&forward_name(t))?;
            plan.forward_tables_deleted += 1;
        }
        Ok(plan)
    }

    /// Copy the live chunks of each pack in `packs` (id, stored size) into new packs, write one forwarding table
    /// for them, and record in `state` the forwards and the old packs' condemnation. Packs that fail to verify
    /// are left alone (`check` reports them). Everything written is durable before this returns; the caller's
    /// swap of the gc ref publishes it.
    #[allow(clippy::too_many_arguments)]
    fn repack(
        &self,
        packs: &[(ObjectId, u64)],
        live_in: &HashMap<ObjectId, Vec<ChunkPointer>>,
        fw: &Forwards,
        now: u64,
        state: &mut GcState,
        plan: &mut GcPlan,
        progress: &ProgressSink,
    ) -> Result<()> {
        let keys = self.store().keys();
        let backend = self.backend();
        progress.phase("repack", Unit::Items, Some(packs.len() as u64));
        let mut table = ForwardTable::default();
        let mut builder = PackBuilder::new();
        let write = |b: PackBuilder, plan: &mut GcPlan| -> Result<()> {
            let (id, bytes, _) = b.finish(keys);
            backend.write(&object_name(&id), &bytes)?;
            plan.new_packs.push(object_name(&id));
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
            // Chunks moved by an earlier repack of this pack keep their forwards.
            let mut moved: Vec<Moved> = fw
                .packs
                .get(id)
                .map(|f| f.iter().map(|(cid, (k, to))| Moved { id: *cid, kind: *k, to: *to }).collect())
                .unwrap_or_default();
            chunks.sort_by_key(|(p, _)| p.offset);
            for (p, k) in chunks {
                let kind = kind_from_u8(k).ok_or_else(|| Error::integrity("unknown chunk kind"))?;
                let sealed = &bytes[p.offset as usize..p.offset as usize + p.len as usize];
                if !builder.fits(sealed.len()) {
                    write(std::mem::take(&mut builder), plan)?;
                }
                let to = builder.push(kind, p.id, sealed);
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
