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
//! Packs that are partly garbage are kept whole (chunk pointers carry their pack, so moving live chunks would mean
//! rewriting every tree that points at them); the plan reports how much of each is garbage.

use super::meta::{pad_for_seal, unpad_meta};
use super::Repository;
use crate::engine::backend::BackendError;
use crate::engine::crypto::{now_secs, Kind};
use crate::engine::fields::Index;
use crate::engine::id::ObjectId;
use crate::engine::object::{object_name, parse_object_name, ChunkPointer};
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// Name (before hashing) of the ref holding condemned packs. Not a valid branch name.
pub(crate) const GC_REF: &str = "gc:condemned";

/// Default [`GcOptions::min_age_secs`]: one hour.
pub const DEFAULT_MIN_AGE_SECS: u64 = 3600;

/// Tunables of [`Repository::gc`].
#[derive(Clone, Debug)]
pub struct GcOptions {
    /// Seconds a pack must stay condemned before it is deleted.
    pub grace_secs: u64,
    /// Seconds a pack must have existed (by the storage's clock) before it may be condemned: staged, uncommitted
    /// data younger than this is never touched.
    pub min_age_secs: u64,
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
    /// Unreachable packs left alone because the storage wrote them less than the minimum age ago.
    pub too_young: usize,
}

#[derive(Default, Serialize, Deserialize)]
struct Condemned {
    /// pack -> when it was condemned (seconds since the epoch).
    packs: BTreeMap<ObjectId, u64>,
    /// Packs a gc run decided to delete (recorded before it deletes them): no commit may claim them any more.
    #[serde(default)]
    deleting: BTreeSet<ObjectId>,
    /// How many runs have deleted packs (counted when a run records what it is about to delete).
    #[serde(default)]
    deletions: u64,
}

/// Attempts [`Repository::claim_packs`] makes against concurrent gc runs before giving up.
const CLAIM_ATTEMPTS: u32 = 50;

impl Repository {
    fn gc_ref_name(&self) -> String {
        self.store().keys().ref_name(GC_REF)
    }

    fn read_condemned(&self) -> Result<(Condemned, Option<crate::engine::backend::RefVersion>)> {
        let name = self.gc_ref_name();
        let Some((sealed, version)) = self.backend().read_ref(&name)? else { return Ok((Condemned::default(), None)) };
        let plain = self
            .store()
            .keys()
            .open(Kind::Ref, name.as_bytes(), &sealed)
            .map_err(|_| Error::integrity("gc ref does not authenticate"))?;
        let body = unpad_meta(&plain).ok_or_else(|| Error::integrity("gc ref is truncated"))?;
        let c = ciborium::from_reader(body).map_err(|e| Error::corrupt("gc ref", e))?;
        Ok((c, Some(version)))
    }

    /// Make sure every pack in `packs` (those staged changes point into) exists and will not be deleted, before a
    /// commit publishes pointers into them: packs condemned by gc are pardoned (a compare-and-swap on the gc ref, so
    /// a concurrent gc either sees the pardon or makes this fail and retry); a pack that is gone, or that a gc run
    /// has already decided to delete, is an error and nothing may be published.
    ///
    /// `gc_deletions` is what [`Repository::sync_dedup_index`] returned before the changes were staged, if known:
    /// when no gc run has deleted anything since, the packs are known to be there and the repository is not listed.
    pub(crate) fn claim_packs(&self, packs: &HashSet<ObjectId>, gc_deletions: Option<u64>) -> Result<()> {
        if packs.is_empty() {
            return Ok(());
        }
        let name = self.gc_ref_name();
        for _ in 0..CLAIM_ATTEMPTS {
            let (mut condemned, version) = self.read_condemned()?;
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
            if condemned.packs.len() == before {
                return Ok(());
            }
            let mut body = Vec::new();
            ciborium::into_writer(&condemned, &mut body).expect("CBOR encoding into memory cannot fail");
            let sealed = self.store().keys().seal(Kind::Ref, name.as_bytes(), &pad_for_seal(&body));
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
        let mut live_bytes: HashMap<ObjectId, u64> = HashMap::new();
        for p in &live {
            *live_bytes.entry(p.object).or_default() += p.len as u64;
        }
        let (mut condemned, version) = self.read_condemned()?;
        let now = self.storage_now(opts.dry_run)?;
        let mut plan = GcPlan::default();
        let listed = self.backend().list("objects/")?;
        let present: HashSet<ObjectId> = listed.iter().filter_map(|o| parse_object_name(&o.name)).collect();
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
                            plan.partly_garbage.push((o.name.clone(), (100 * (total - lb) / total) as u8));
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
        if opts.dry_run {
            return Ok(plan);
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
        let mut body = Vec::new();
        ciborium::into_writer(&condemned, &mut body).expect("CBOR encoding into memory cannot fail");
        for id in &to_delete {
            condemned.deleting.remove(id);
        }
        let mut body_after = Vec::new();
        ciborium::into_writer(&condemned, &mut body_after).expect("CBOR encoding into memory cannot fail");
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
        Ok(plan)
    }
}
