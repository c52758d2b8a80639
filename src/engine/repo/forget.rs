//! Forgetting commits by retention policy (design.md, *Forgetting commits*).
//!
//! A commit is forgotten by listing it in the **forget record**, a sealed ref (named like a branch's, under a name
//! no branch can have) replaced only by compare-and-swap and checked against the last state a workspace saw, like
//! the gc ref. Nothing else changes: commit headers stay (so ids and `log` stay as they were), branch refs do not
//! move (so concurrent commits are untouched). gc and check trace the field roots of kept commits only, each
//! against its nearest kept first-parent ancestor, so what only forgotten commits reach becomes garbage while
//! everything a kept commit reaches stays.

use super::meta::{pad_for_seal, unpad_meta};
use super::seen::SeenRef;
use super::{Branch, CommitInfo, Repository};
use crate::engine::backend::{BackendError, RefVersion};
use crate::engine::crypto::{hostname, now_secs, Kind};
use crate::engine::format::{MAX_PACK, SEAL_OVERHEAD};
use crate::engine::id::{ChunkId, CommitId, ObjectId};
use crate::engine::object::ChunkPointer;
use crate::engine::progress::{ProgressSink, Unit};
use crate::engine::retention::{decide, utc, KeepRule, RetentionPolicy};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

/// Name (before hashing) of the forget record's ref. Not a valid branch name.
pub(crate) const FORGET_REF: &str = "forget:record";

/// The scope of the stored policy that applies to every branch without one of its own.
pub const EVERY_BRANCH: &str = "*";

/// Attempts [`Repository::forget`] makes against concurrent changes of the record.
const ATTEMPTS: u32 = 20;

/// Decode the plaintext of the forget record (after authentication and unpadding).
pub(crate) fn decode_record(body: &[u8]) -> Result<Record> {
    ciborium::from_reader(body).map_err(|e| Error::corrupt("the forget record", e))
}

/// What the forget record holds.
#[derive(Clone, Default, Debug, Serialize, Deserialize)]
pub(crate) struct Record {
    /// One more on every change; checked against the last state seen like the gc ref's.
    #[serde(default)]
    pub(super) seq: u64,
    /// Every run that forgot commits, numbered from 1.
    #[serde(default)]
    pub(super) runs: Vec<ForgetRun>,
    /// Forgotten commit -> the number of the run that forgot it. Only ever grows.
    #[serde(default)]
    pub(super) forgotten: BTreeMap<CommitId, u64>,
    /// Stored policies: branch name (or [`EVERY_BRANCH`]) -> policy.
    #[serde(default)]
    pub(super) policies: BTreeMap<String, RetentionPolicy>,
    /// Every run of [`Repository::rewrite`], numbered from 1 (absent from the encoding when there is none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) rewrites: Vec<super::rewrite::RewriteRun>,
    /// Rewritten commit -> the run that rewrote it and the commit that replaced it. Only ever grows.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) rewritten: BTreeMap<CommitId, super::rewrite::Replaced>,
    /// Packs that held what a rewrite removed -> the rewrite run: gc repacks them whatever their garbage share.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(super) purge: BTreeMap<ObjectId, u64>,
}

/// One run of [`Repository::forget`] that forgot commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetRun {
    /// Runs are numbered from 1.
    pub number: u64,
    /// When it ran (the host's clock, seconds since the epoch).
    pub time: u64,
    /// Where it ran.
    pub host: String,
    /// The branches it applied a policy to.
    pub branches: Vec<String>,
    /// The policy, as the command line spells it (one per branch when they differed).
    pub policy: String,
    /// How many commits it forgot.
    pub forgotten: u64,
}

impl fmt::Display for ForgetRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "forget run {} ({} on {}, branch {}: {})",
            self.number,
            utc(self.time),
            self.host,
            self.branches.join(", "),
            self.policy
        )
    }
}

/// The commits forgotten so far and the runs that forgot them (see [`Repository::forgotten`]).
#[derive(Clone, Debug, Default)]
pub struct Forgotten {
    commits: HashMap<ChunkId, u64>,
    runs: Vec<ForgetRun>,
}

impl Forgotten {
    /// Whether commit `id` is forgotten.
    pub fn contains(&self, id: &CommitId) -> bool {
        self.commits.contains_key(&ChunkId(id.0))
    }

    pub(crate) fn contains_chunk(&self, id: &ChunkId) -> bool {
        self.commits.contains_key(id)
    }

    /// The run that forgot commit `id`, if it is forgotten.
    pub fn run_of(&self, id: &CommitId) -> Option<&ForgetRun> {
        let n = self.commits.get(&ChunkId(id.0))?;
        self.runs.iter().find(|r| r.number == *n)
    }

    /// Every run that forgot commits, oldest first.
    pub fn runs(&self) -> &[ForgetRun] {
        &self.runs
    }

    /// How many commits are forgotten.
    pub fn len(&self) -> usize {
        self.commits.len()
    }

    /// Whether no commit is forgotten.
    pub fn is_empty(&self) -> bool {
        self.commits.is_empty()
    }
}

/// Which branches [`Repository::forget`] applies a policy to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForgetScope {
    /// One branch.
    Branch(String),
    /// Every live branch.
    All,
}

/// Tunables of [`Repository::forget`].
#[derive(Clone, Debug, Default)]
pub struct ForgetOptions {
    /// The policy to apply; `None`: each branch's stored policy (else the one stored for every branch).
    pub policy: Option<RetentionPolicy>,
    /// Only decide: change nothing.
    pub dry_run: bool,
    /// Where progress goes: phase `history` (commits walked).
    pub progress: ProgressSink,
}

/// What [`Repository::forget`] decided about one commit of a branch's first-parent history.
#[derive(Clone, Debug)]
pub struct CommitRetention {
    /// The commit.
    pub id: CommitId,
    /// Its time (seconds since the epoch).
    pub time: u64,
    /// Its message.
    pub message: String,
    /// The rules that keep it (empty: none).
    pub keep: Vec<KeepRule>,
    /// The tags that name it (each keeps it: [`KeepRule::Tag`] is then among `keep`).
    pub tags: Vec<String>,
    /// Kept although no rule keeps it, because another branch reaches it (one this run does not apply to, or whose
    /// policy keeps it).
    pub kept_elsewhere: bool,
    /// Forgotten by an earlier run.
    pub already_forgotten: bool,
    /// Forgotten by this run (in a dry run: would be).
    pub forget: bool,
}

/// A branch as [`Repository::forget`] saw it.
#[derive(Clone, Debug)]
pub struct BranchRetention {
    /// The branch.
    pub branch: String,
    /// The policy applied.
    pub policy: RetentionPolicy,
    /// Its first-parent history, newest first, each commit with the decision.
    pub commits: Vec<CommitRetention>,
}

/// What a [`Repository::forget`] run decided (and, unless a dry run, recorded).
#[derive(Clone, Debug, Default)]
pub struct ForgetOutcome {
    /// The run recorded (`None` in a dry run, or when there was nothing new to forget).
    pub run: Option<ForgetRun>,
    /// The branches, with every commit's decision.
    pub branches: Vec<BranchRetention>,
    /// Commits this run forgot (or would forget).
    pub forgotten: usize,
}

/// Seen state of the record, as a workspace keeps it: its sequence and the digest of its plaintext (in the place of
/// a head's chunk id).
fn seen_state(seq: u64, digest: [u8; 32]) -> SeenRef {
    SeenRef {
        seq,
        head: ChunkPointer { object: ObjectId::default(), offset: 0, len: 0, id: ChunkId(digest) },
        deleted: false,
    }
}

impl Repository {
    fn forget_ref_name(&self) -> String {
        self.store().keys().ref_name(FORGET_REF)
    }

    /// Read the forget record (empty when there is none), checked against the last state seen (when this reader
    /// keeps them): one that went back, was replaced at the same sequence, or is gone is an integrity error.
    pub(super) fn read_record(&self) -> Result<(Record, Option<RefVersion>)> {
        let _reading = self.seen.as_ref().map(|s| s.reading_record.lock().expect("seen refs lock"));
        let name = self.forget_ref_name();
        let cur = match self.backend().read_ref(&name)? {
            None => None,
            Some((sealed, version)) => {
                let plain = self
                    .store()
                    .keys()
                    .open(Kind::Ref, name.as_bytes(), &sealed)
                    .map_err(|_| Error::integrity("the forget record does not authenticate"))?;
                let body = unpad_meta(&plain).ok_or_else(|| Error::integrity("the forget record is truncated"))?;
                let rec = decode_record(body)?;
                Some((rec, version, *blake3::hash(body).as_bytes()))
            }
        };
        if let Some(seen) = &self.seen {
            let refuse = |why: String, last: u64| {
                Err(Error::integrity(format!(
                    "the forget record {why}; this workspace last saw sequence {last}. Nothing was changed (restore \
                     the newest forget record, or remove .infini/seen-refs to trust it as it is)"
                )))
            };
            match (seen.get(FORGET_REF), &cur) {
                (None, None) => {}
                (None, Some((r, _, d))) => seen.advance(FORGET_REF, &seen_state(r.seq, *d))?,
                (Some(last), None) => return refuse("is gone (deleted)".into(), last.seq),
                (Some(last), Some((r, _, _))) if r.seq < last.seq => {
                    return refuse(
                        format!("went back to sequence {}: an older record restored or replayed", r.seq),
                        last.seq,
                    )
                }
                (Some(last), Some((r, _, d))) if r.seq == last.seq && *d != last.head.id.0 => {
                    return refuse(format!("was replaced: sequence {} holds other contents than seen", r.seq), last.seq)
                }
                (Some(_), Some((r, _, d))) => seen.advance(FORGET_REF, &seen_state(r.seq, *d))?,
            }
        }
        Ok(match cur {
            Some((r, v, _)) => (r, Some(v)),
            None => (Record::default(), None),
        })
    }

    /// Compare-and-swap the record from `version` to `rec`, one sequence number on. `Ok(false)`: another writer
    /// changed it first.
    pub(super) fn write_record(&self, rec: &mut Record, version: Option<&RefVersion>) -> Result<bool> {
        rec.seq = rec.seq.checked_add(1).ok_or_else(|| Error::integrity("forget record sequence number exhausted"))?;
        let mut body = Vec::new();
        ciborium::into_writer(&*rec, &mut body).expect("CBOR encoding into memory cannot fail");
        let limit = MAX_PACK - SEAL_OVERHEAD - 4;
        if body.len() > limit {
            return Err(Error::too_large("the forget record (too many forgotten commits)", body.len(), limit));
        }
        let name = self.forget_ref_name();
        let sealed = self.store().keys().seal(Kind::Ref, name.as_bytes(), &pad_for_seal(&body));
        match self.backend().swap_ref(&name, version, &sealed) {
            Ok(_) => {
                if let Some(seen) = &self.seen {
                    seen.advance(FORGET_REF, &seen_state(rec.seq, *blake3::hash(&body).as_bytes()))?;
                }
                Ok(true)
            }
            Err(BackendError::PreconditionFailed { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// The commits forgotten so far, and the runs that forgot them.
    pub fn forgotten(&self) -> Result<Forgotten> {
        let (rec, _) = self.read_record()?;
        Ok(Forgotten { commits: rec.forgotten.into_iter().map(|(c, n)| (ChunkId(c.0), n)).collect(), runs: rec.runs })
    }

    /// The forgotten commits and the packs rewrites asked gc to purge (see design.md, *Rewriting history*), from one
    /// read of the record.
    pub(crate) fn forgotten_and_purged(&self) -> Result<(Forgotten, HashSet<ObjectId>)> {
        let (rec, _) = self.read_record()?;
        let purge = rec.purge.keys().copied().collect();
        let f =
            Forgotten { commits: rec.forgotten.into_iter().map(|(c, n)| (ChunkId(c.0), n)).collect(), runs: rec.runs };
        Ok((f, purge))
    }

    /// The retention policy stored for `branch`: its own, else the one stored for every branch.
    pub fn retention_policy(&self, branch: &str) -> Result<Option<RetentionPolicy>> {
        let (rec, _) = self.read_record()?;
        Ok(rec.policies.get(branch).or_else(|| rec.policies.get(EVERY_BRANCH)).cloned())
    }

    /// Store `policy` for the branches of `scope` (for [`ForgetScope::All`]: every branch without a policy of its
    /// own), or remove the stored one (`None`). [`Repository::forget`] without a policy applies it.
    pub fn set_retention_policy(&self, scope: &ForgetScope, policy: Option<RetentionPolicy>) -> Result<()> {
        let key = match scope {
            ForgetScope::Branch(b) => {
                Self::check_branch_name(b)?;
                b.clone()
            }
            ForgetScope::All => EVERY_BRANCH.to_string(),
        };
        if policy.as_ref().is_some_and(RetentionPolicy::is_empty) {
            return Err(Error::Invalid("a retention policy needs at least one rule that keeps commits".into()));
        }
        for attempt in 0..ATTEMPTS {
            let (mut rec, version) = self.read_record()?;
            match &policy {
                Some(p) => rec.policies.insert(key.clone(), p.clone()),
                None => rec.policies.remove(&key),
            };
            if self.write_record(&mut rec, version.as_ref())? {
                return Ok(());
            }
            backoff(attempt);
        }
        Err(Error::Conflict { what: "the forget record kept changing concurrently; try again".into() })
    }

    /// Apply a retention policy to the branches of `scope`: every commit of a branch's first-parent history that no
    /// rule keeps, that no other live branch reaches and that is not the branch's head is **forgotten** — recorded
    /// in the forget record, so that gc frees what only forgotten commits reach and reading it fails with
    /// [`Error::NotFound`] naming the run. Commit ids, branch refs and commits made concurrently are untouched.
    /// With `dry_run` nothing is written. See design.md, *Forgetting commits*.
    pub fn forget(&self, scope: &ForgetScope, opts: &ForgetOptions) -> Result<ForgetOutcome> {
        if opts.policy.as_ref().is_some_and(RetentionPolicy::is_empty) {
            return Err(Error::Invalid("a retention policy needs at least one rule that keeps commits".into()));
        }
        for attempt in 0..ATTEMPTS {
            let (mut rec, version) = self.read_record()?;
            let outcome = self.decide_forget(scope, opts, &rec)?;
            if opts.dry_run || outcome.forgotten == 0 {
                return Ok(outcome);
            }
            let number = rec.runs.last().map_or(1, |r| r.number + 1);
            let mut policies: Vec<String> = Vec::new();
            for b in &outcome.branches {
                let p = b.policy.to_string();
                if !policies.contains(&p) {
                    policies.push(p);
                }
            }
            let run = ForgetRun {
                number,
                time: now_secs(),
                host: hostname(),
                branches: outcome.branches.iter().map(|b| b.branch.clone()).collect(),
                policy: policies.join("; "),
                forgotten: outcome.forgotten as u64,
            };
            for c in outcome.branches.iter().flat_map(|b| &b.commits).filter(|c| c.forget) {
                rec.forgotten.insert(c.id, number);
            }
            rec.runs.push(run.clone());
            if self.write_record(&mut rec, version.as_ref())? {
                return Ok(ForgetOutcome { run: Some(run), ..outcome });
            }
            backoff(attempt);
        }
        Err(Error::Conflict { what: "the forget record kept changing concurrently; run forget again".into() })
    }

    /// Record commit `id`, a copy of a commit forgotten in the repository it was copied from, as forgotten here too
    /// (see [`Repository::importer`]): listed under the run whose policy is `note` (made by the first such commit),
    /// so that reading it fails as reading the original does. Nothing changes when it is listed already.
    pub(crate) fn forget_copied(&self, id: CommitId, note: &str) -> Result<()> {
        for attempt in 0..ATTEMPTS {
            let (mut rec, version) = self.read_record()?;
            if rec.forgotten.contains_key(&id) {
                return Ok(());
            }
            let number = match rec.runs.iter_mut().rev().find(|r| r.policy == note && r.branches.is_empty()) {
                Some(run) => {
                    run.forgotten += 1;
                    run.number
                }
                None => {
                    let number = rec.runs.last().map_or(1, |r| r.number + 1);
                    rec.runs.push(ForgetRun {
                        number,
                        time: now_secs(),
                        host: hostname(),
                        branches: Vec::new(),
                        policy: note.to_string(),
                        forgotten: 1,
                    });
                    number
                }
            };
            rec.forgotten.insert(id, number);
            if self.write_record(&mut rec, version.as_ref())? {
                return Ok(());
            }
            backoff(attempt);
        }
        Err(Error::Conflict { what: "the forget record kept changing concurrently; run copy again".into() })
    }

    /// The decisions of a forget run against record `rec`, without writing anything.
    fn decide_forget(&self, scope: &ForgetScope, opts: &ForgetOptions, rec: &Record) -> Result<ForgetOutcome> {
        let branches = self.branches()?;
        let targets: Vec<&Branch> = match scope {
            ForgetScope::All => branches.iter().collect(),
            ForgetScope::Branch(name) => {
                let t: Vec<&Branch> = branches.iter().filter(|b| &b.name == name).collect();
                if t.is_empty() {
                    return Err(Error::not_found(format!("branch {name}")));
                }
                t
            }
        };
        // A tagged commit is kept like a head.
        let mut tagged: HashMap<CommitId, Vec<String>> = HashMap::new();
        for t in self.tags()? {
            tagged.entry(CommitId(t.commit.id.0)).or_default().push(t.name);
        }
        let progress = &opts.progress;
        progress.phase("history", Unit::Items, None);
        let mut out = ForgetOutcome::default();
        // A kept write-only key's commit holds only its changes: its state needs the commits below it down to the
        // nearest one with a state of its own (see design.md, *Write-only keys*), which are kept with it.
        let mut writer_bases: HashSet<CommitId> = HashSet::new();
        for b in &targets {
            let policy = match &opts.policy {
                Some(p) => p.clone(),
                None => {
                    rec.policies.get(&b.name).or_else(|| rec.policies.get(EVERY_BRANCH)).cloned().ok_or_else(|| {
                        Error::Invalid(format!(
                            "no retention policy given, and none stored for branch {} (nor for every branch)",
                            b.name
                        ))
                    })?
                }
            };
            let mut chain: Vec<CommitInfo> = Vec::new();
            let mut at = Some(b.head);
            while let Some(p) = at {
                let c = self.read_commit(&p)?;
                at = c.commit.parents.first().copied();
                chain.push(c);
                progress.inc(1);
            }
            let times: Vec<u64> = chain.iter().map(CommitInfo::time).collect();
            let mut keep = decide(&policy, &times);
            if let Some(k) = keep.first_mut() {
                k.insert(0, KeepRule::Head);
            }
            for (c, k) in chain.iter().zip(keep.iter_mut()) {
                if tagged.contains_key(&c.id()) {
                    k.push(KeepRule::Tag);
                }
            }
            for (i, c) in chain.iter().enumerate() {
                if c.is_delta() && (!keep[i].is_empty() || writer_bases.contains(&c.id())) {
                    for below in &chain[i + 1..] {
                        writer_bases.insert(below.id());
                        if !below.is_delta() {
                            break;
                        }
                    }
                }
            }
            let commits = chain
                .iter()
                .zip(keep)
                .map(|(c, keep)| CommitRetention {
                    id: c.id(),
                    time: c.time(),
                    message: c.message().to_string(),
                    tags: tagged.get(&c.id()).cloned().unwrap_or_default(),
                    keep,
                    kept_elsewhere: false,
                    already_forgotten: rec.forgotten.contains_key(&c.id()),
                    forget: false,
                })
                .collect();
            out.branches.push(BranchRetention { branch: b.name.clone(), policy, commits });
        }
        // Kept by some branch of the run, or reached by a live branch the run does not apply to.
        let mut held: HashSet<CommitId> =
            out.branches.iter().flat_map(|b| b.commits.iter().filter(|c| !c.keep.is_empty()).map(|c| c.id)).collect();
        held.extend(writer_bases);
        let names: HashSet<&str> = targets.iter().map(|b| b.name.as_str()).collect();
        let mut queue: Vec<ChunkPointer> =
            branches.iter().filter(|b| !names.contains(b.name.as_str())).map(|b| b.head).collect();
        let mut seen = HashSet::new();
        while let Some(p) = queue.pop() {
            if seen.insert(p.id) {
                held.insert(CommitId(p.id.0));
                queue.extend(self.read_commit(&p)?.commit.parents);
            }
        }
        let mut newly = HashSet::new();
        for c in out.branches.iter_mut().flat_map(|b| b.commits.iter_mut()) {
            if c.already_forgotten || !c.keep.is_empty() {
                continue;
            }
            if held.contains(&c.id) {
                c.kept_elsewhere = true;
            } else {
                c.forget = true;
                newly.insert(c.id);
            }
        }
        out.forgotten = newly.len();
        Ok(out)
    }

    /// The commit a kept commit `c` is traced against (see design.md, *Forgetting commits*): its nearest first-parent
    /// ancestor that `kept` says is kept, or none (then it is traced in full).
    pub(crate) fn kept_base(&self, c: &CommitInfo, kept: &dyn Fn(&ChunkId) -> bool) -> Result<Option<CommitInfo>> {
        let mut at = c.commit.parents.first().copied();
        while let Some(p) = at {
            let pc = self.read_commit(&p)?;
            if kept(&p.id) {
                return Ok(Some(pc));
            }
            at = pc.commit.parents.first().copied();
        }
        Ok(None)
    }

    /// Fail with [`Error::NotFound`] naming the run that forgot commit `p`, if it is forgotten.
    pub(crate) fn refuse_forgotten(&self, p: &ChunkPointer) -> Result<()> {
        let f = self.forgotten()?;
        match f.run_of(&p.commit_id()) {
            Some(run) => Err(Error::not_found(format!(
                "commit {}: it was forgotten by {run}; its data is no longer kept",
                &p.id.to_hex()[..10]
            ))),
            None if f.contains(&p.commit_id()) => Err(Error::not_found(format!(
                "commit {}: it was forgotten by a retention policy",
                &p.id.to_hex()[..10]
            ))),
            None => Ok(()),
        }
    }
}

/// A short random pause after a lost compare-and-swap, longer with every attempt.
pub(super) fn backoff(attempt: u32) {
    let ms = rand::random::<u64>() % (2 * u64::from(attempt.min(25)) + 1);
    std::thread::sleep(std::time::Duration::from_millis(ms));
}
