//! Fault injection, a tool for tests: [`Faulty`] wraps a backend and makes chosen calls fail.
//!
//! It can fail the next N calls or every k-th call with [`BackendError::Transient`] (before the call reaches the
//! wrapped backend), apply the next N calls but report them as failed (a response lost on the way back), restrict
//! all of that to some operations, add latency, and simulate a crash: after N mutating calls (`write`, `delete`,
//! `swap_ref`, `delete_ref`) every later mutating call is dropped without reaching the wrapped backend, so the
//! backend holds exactly what a process killed at that point would have left behind. A ranged read of one place
//! can be held, as a stalled request, until released.
//!
//! All settings can be changed while the backend is shared between threads.

use super::{BResult, Backend, BackendError, ObjectInfo, RefVersion};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// A backend operation, for choosing which calls faults apply to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// [`Backend::read`].
    Read,
    /// [`Backend::read_range`].
    ReadRange,
    /// [`Backend::read_tail`].
    ReadTail,
    /// [`Backend::write`].
    Write,
    /// [`Backend::list`].
    List,
    /// [`Backend::delete`].
    Delete,
    /// [`Backend::read_ref`].
    ReadRef,
    /// [`Backend::swap_ref`].
    SwapRef,
    /// [`Backend::delete_ref`].
    DeleteRef,
    /// [`Backend::list_refs`].
    ListRefs,
    /// [`Backend::sync`].
    Sync,
}

impl Op {
    /// Every operation.
    pub const ALL: [Op; 11] = [
        Op::Read,
        Op::ReadRange,
        Op::ReadTail,
        Op::Write,
        Op::List,
        Op::Delete,
        Op::ReadRef,
        Op::SwapRef,
        Op::DeleteRef,
        Op::ListRefs,
        Op::Sync,
    ];

    /// Whether the operation changes what is stored.
    pub fn is_mutation(self) -> bool {
        matches!(self, Op::Write | Op::Delete | Op::SwapRef | Op::DeleteRef)
    }

    /// Name used in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::ReadRange => "read range",
            Op::ReadTail => "read tail",
            Op::Write => "write",
            Op::List => "list",
            Op::Delete => "delete",
            Op::ReadRef => "read ref",
            Op::SwapRef => "swap ref",
            Op::DeleteRef => "delete ref",
            Op::ListRefs => "list refs",
            Op::Sync => "sync",
        }
    }
}

#[derive(Default)]
struct Plan {
    /// Operations faults apply to; `None` for all.
    only: Option<Vec<Op>>,
    fail_next: u32,
    lose_next: u32,
    fail_every: u32,
    latency: Duration,
    crash_after_writes: Option<u64>,
    /// Matching calls seen, for `fail_every`.
    matching: u64,
    /// Mutating calls that reached the wrapped backend, for `crash_after_writes`.
    writes: u64,
    /// A ranged read (object name, offset) that waits until released.
    hold: Option<(String, u64)>,
}

enum Decision {
    Pass,
    Fail,
    Lose,
    Drop,
}

/// A backend wrapper that injects failures into calls to `B`, a tool for tests.
///
/// It can fail the next N calls or every k-th call with [`BackendError::Transient`] (before the call reaches the
/// wrapped backend), apply the next N calls but report them as failed (a response lost on the way back), restrict
/// all of that to some operations ([`Op`]), add latency, and simulate a crash: after N mutating calls (`write`,
/// `delete`, `swap_ref`, `delete_ref`) every later mutating call is dropped without reaching the wrapped backend,
/// so the backend holds exactly what a process killed at that point would have left behind. All settings can be
/// changed while the backend is shared between threads.
pub struct Faulty<B> {
    inner: B,
    plan: Mutex<Plan>,
    /// Signalled when a held read is released.
    released: Condvar,
    range_reads: AtomicU64,
    calls: AtomicU64,
    injected: AtomicU64,
    dropped: AtomicU64,
}

impl<B: Backend> Faulty<B> {
    /// Wrap `inner`; no faults until configured.
    pub fn new(inner: B) -> Self {
        Faulty {
            inner,
            plan: Mutex::new(Plan::default()),
            released: Condvar::new(),
            range_reads: AtomicU64::new(0),
            calls: AtomicU64::new(0),
            injected: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        }
    }

    fn plan(&self) -> MutexGuard<'_, Plan> {
        // The plan holds no invariants a panic could break: keep going with it.
        self.plan.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fail the next `n` matching calls with a transient error (they do not reach the wrapped backend).
    pub fn fail_next(&self, n: u32) -> &Self {
        self.plan().fail_next = n;
        self
    }

    /// Fail every `k`-th matching call with a transient error; 0 stops it.
    pub fn fail_every(&self, k: u32) -> &Self {
        let mut p = self.plan();
        p.fail_every = k;
        p.matching = 0;
        self
    }

    /// Apply the next `n` matching calls to the wrapped backend but report a transient error, as if the response
    /// had been lost.
    pub fn lose_responses_next(&self, n: u32) -> &Self {
        self.plan().lose_next = n;
        self
    }

    /// Make faults and latency apply only to `ops`.
    pub fn only(&self, ops: &[Op]) -> &Self {
        self.plan().only = Some(ops.to_vec());
        self
    }

    /// Make faults and latency apply to every operation again.
    pub fn all_ops(&self) -> &Self {
        self.plan().only = None;
        self
    }

    /// Delay every matching call by `d`.
    pub fn latency(&self, d: Duration) -> &Self {
        self.plan().latency = d;
        self
    }

    /// Let `n` more mutating calls through, then drop every later one: they fail with a permanent "simulated
    /// crash" error and never reach the wrapped backend. Reads keep working.
    pub fn crash_after_writes(&self, n: u64) -> &Self {
        let mut p = self.plan();
        p.crash_after_writes = Some(n);
        p.writes = 0;
        self
    }

    /// Make a ranged read of object `name` at `offset` wait (a stalled request) until [`Faulty::release`] or
    /// [`Faulty::clear`].
    pub fn hold_range_read(&self, name: &str, offset: u64) -> &Self {
        self.plan().hold = Some((name.into(), offset));
        self
    }

    /// Let a held ranged read go on.
    pub fn release(&self) -> &Self {
        self.plan().hold = None;
        self.released.notify_all();
        self
    }

    /// Remove every fault, the operation filter, latency, the crash and a held read.
    pub fn clear(&self) -> &Self {
        *self.plan() = Plan::default();
        self.released.notify_all();
        self
    }

    /// Ranged reads started so far (held ones included).
    pub fn range_reads(&self) -> u64 {
        self.range_reads.load(Ordering::SeqCst)
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }

    /// Faults injected so far (failed or lost calls).
    pub fn injected(&self) -> u64 {
        self.injected.load(Ordering::SeqCst)
    }

    /// Mutating calls dropped by a simulated crash.
    pub fn dropped_writes(&self) -> u64 {
        self.dropped.load(Ordering::SeqCst)
    }

    /// Whether the simulated crash point has been reached.
    pub fn crashed(&self) -> bool {
        let p = self.plan();
        p.crash_after_writes.is_some_and(|n| p.writes >= n)
    }

    /// The wrapped backend, to look at what really got stored.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// Unwrap.
    pub fn into_inner(self) -> B {
        self.inner
    }

    fn decide(&self, op: Op) -> Decision {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let (decision, latency) = {
            let mut p = self.plan();
            if op.is_mutation() && p.crash_after_writes.is_some_and(|n| p.writes >= n) {
                self.dropped.fetch_add(1, Ordering::SeqCst);
                return Decision::Drop;
            }
            let matching = p.only.as_ref().is_none_or(|ops| ops.contains(&op));
            let mut decision = Decision::Pass;
            if matching {
                p.matching += 1;
                if p.fail_next > 0 {
                    p.fail_next -= 1;
                    decision = Decision::Fail;
                } else if p.lose_next > 0 {
                    p.lose_next -= 1;
                    decision = Decision::Lose;
                } else if p.fail_every > 0 && p.matching.is_multiple_of(u64::from(p.fail_every)) {
                    decision = Decision::Fail;
                }
            }
            if op.is_mutation() && !matches!(decision, Decision::Fail) {
                p.writes += 1;
            }
            (decision, if matching { p.latency } else { Duration::ZERO })
        };
        if matches!(decision, Decision::Fail | Decision::Lose) {
            self.injected.fetch_add(1, Ordering::SeqCst);
        }
        if !latency.is_zero() {
            std::thread::sleep(latency);
        }
        decision
    }

    fn call<T>(&self, op: Op, name: &str, f: impl FnOnce() -> BResult<T>) -> BResult<T> {
        let backend = || format!("faulty {}", self.inner.describe());
        match self.decide(op) {
            Decision::Pass => f(),
            Decision::Fail => Err(BackendError::Transient {
                backend: backend(),
                op: op.name(),
                name: name.into(),
                message: "injected fault: connection reset".into(),
            }),
            Decision::Lose => {
                let _ = f();
                Err(BackendError::Transient {
                    backend: backend(),
                    op: op.name(),
                    name: name.into(),
                    message: "injected fault: response lost after the operation was applied".into(),
                })
            }
            Decision::Drop => Err(BackendError::Permanent {
                backend: backend(),
                op: op.name(),
                name: name.into(),
                message: "simulated crash: write dropped".into(),
            }),
        }
    }
}

impl<B: Backend> Backend for Faulty<B> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn is_remote(&self) -> bool {
        // Added latency stands for a network's.
        self.inner.is_remote() || !self.plan().latency.is_zero()
    }
    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        self.call(Op::Read, name, || self.inner.read(name))
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        self.range_reads.fetch_add(1, Ordering::SeqCst);
        let mut plan = self.plan();
        while plan.hold.as_ref().is_some_and(|(n, o)| n == name && *o == offset) {
            plan = self.released.wait(plan).unwrap_or_else(|e| e.into_inner());
        }
        drop(plan);
        self.call(Op::ReadRange, name, || self.inner.read_range(name, offset, len))
    }
    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        self.call(Op::ReadTail, name, || self.inner.read_tail(name, len))
    }
    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        self.call(Op::Write, name, || self.inner.write(name, data))
    }
    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        self.call(Op::List, prefix, || self.inner.list(prefix))
    }
    fn delete(&self, name: &str) -> BResult<()> {
        self.call(Op::Delete, name, || self.inner.delete(name))
    }
    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        self.call(Op::ReadRef, name, || self.inner.read_ref(name))
    }
    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        self.call(Op::SwapRef, name, || self.inner.swap_ref(name, expected, data))
    }
    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.call(Op::DeleteRef, name, || self.inner.delete_ref(name))
    }
    fn list_refs(&self) -> BResult<Vec<String>> {
        self.call(Op::ListRefs, "refs", || self.inner.list_refs())
    }
    fn sync(&self) -> BResult<()> {
        self.call(Op::Sync, "sync", || self.inner.sync())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::memory::MemoryBackend;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn no_faults_passes_conformance() {
        super::super::conformance::run_all(Arc::new(Faulty::new(MemoryBackend::new())));
    }

    #[test]
    fn fail_next_and_every() {
        let f = Faulty::new(MemoryBackend::new());
        f.fail_next(2);
        assert!(f.write("a", b"1").unwrap_err().is_transient());
        assert!(f.write("a", b"1").unwrap_err().is_transient());
        f.write("a", b"1").unwrap();
        assert_eq!(f.injected(), 2);
        f.fail_every(3);
        let failed: Vec<bool> = (0..9).map(|_| f.read("a").is_err()).collect();
        assert_eq!(failed, [false, false, true, false, false, true, false, false, true]);
        f.clear();
        assert!(f.read("a").is_ok());
        assert_eq!(f.calls(), 13);
    }

    #[test]
    fn filters_operations() {
        let f = Faulty::new(MemoryBackend::new());
        f.only(&[Op::SwapRef, Op::ReadRef]).fail_next(1);
        f.write("a", b"1").unwrap();
        assert_eq!(f.read("a").unwrap(), b"1");
        let e = f.swap_ref("main", None, b"x").unwrap_err();
        assert!(matches!(&e, BackendError::Transient { op: "swap ref", .. }), "{e:?}");
        assert!(f.inner().read_ref("main").unwrap().is_none(), "a failed call must not reach the backend");
        f.swap_ref("main", None, b"x").unwrap();
    }

    #[test]
    fn lost_responses_are_applied() {
        let f = Faulty::new(MemoryBackend::new());
        f.lose_responses_next(1);
        assert!(f.write("a", b"1").unwrap_err().is_transient());
        assert_eq!(f.inner().read("a").unwrap(), b"1");
    }

    #[test]
    fn latency_is_added() {
        let f = Faulty::new(MemoryBackend::new());
        f.only(&[Op::List]).latency(Duration::from_millis(30));
        let t = Instant::now();
        f.read("missing").unwrap_err();
        assert!(t.elapsed() < Duration::from_millis(30));
        f.list("").unwrap();
        assert!(t.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn crash_drops_later_writes() {
        let f = Faulty::new(MemoryBackend::new());
        f.crash_after_writes(2);
        f.write("a", b"1").unwrap();
        f.swap_ref("main", None, b"x").unwrap();
        assert!(f.crashed());
        let e = f.write("b", b"2").unwrap_err();
        assert!(matches!(e, BackendError::Permanent { .. }), "{e:?}");
        assert!(f.delete("a").is_err());
        assert!(f.delete_ref("main").is_err());
        assert_eq!(f.dropped_writes(), 3);
        assert_eq!(f.read("a").unwrap(), b"1", "reads still work");
        let inner = f.into_inner();
        assert!(inner.read("b").unwrap_err().is_not_found());
        assert_eq!(inner.read_ref("main").unwrap().unwrap().0, b"x");
    }
}
