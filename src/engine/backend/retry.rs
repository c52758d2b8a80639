//! Retries with exponential backoff for any backend.
//!
//! [`Retry`] repeats operations that fail with [`BackendError::Transient`], sleeping between attempts with
//! exponential backoff and full jitter (a random delay between zero and `min(cap, base * 2^attempt)`). When the
//! attempts are used up it reports [`BackendError::Unavailable`] with the last failure. Other errors are returned
//! at once.
//!
//! Two operations need care because an attempt may have succeeded although its response was lost:
//! - `write`: `AlreadyExists` after a transient failure of the same write probably means the earlier attempt
//!   landed. The object is read back: if it holds exactly our bytes the write counts as a success.
//! - `swap_ref`: `PreconditionFailed` after a transient failure may be our own earlier attempt; the ref is read
//!   back, and if it holds exactly the bytes we wrote the swap succeeded with the version read. (Should another
//!   writer have stored the very same bytes meanwhile, that is reported as our success too: the ref holds the
//!   value asked for.)

use super::{BResult, Backend, BackendError, ObjectInfo, RefVersion};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Called before each retry with the transient failure, the number of the attempt about to be made, the number of
/// attempts allowed, and the backoff about to be slept: a command line tells its user what it is waiting for.
#[derive(Clone)]
pub struct RetryNotify(pub Arc<NotifyFn>);

/// The function a [`RetryNotify`] calls: failure, next attempt, attempts allowed, backoff.
pub type NotifyFn = dyn Fn(&BackendError, u32, u32, Duration) + Send + Sync;

impl std::fmt::Debug for RetryNotify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RetryNotify(..)")
    }
}

impl PartialEq for RetryNotify {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for RetryNotify {}

/// How often and how patiently to retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per operation, including the first (at least 1).
    pub max_attempts: u32,
    /// Backoff before the second attempt (before jitter); doubled for each further attempt.
    pub base_delay: Duration,
    /// Upper bound of any single backoff.
    pub max_delay: Duration,
    /// Time budget of one operation: once this much has passed since its first attempt began, no further attempt
    /// is started after the second. It bounds how long a server that accepts requests and never answers holds a
    /// command (each attempt waits at most the backend's own response timeout), without taking the one retry away
    /// from an operation whose first attempt was a long transfer.
    pub deadline: Duration,
    /// Told about each retry before its backoff (see [`RetryNotify`]).
    pub notify: Option<RetryNotify>,
}

impl Default for RetryPolicy {
    /// 8 attempts, backoff from 100 ms doubling up to 5 s (at most about 11 s of waiting in all), and a deadline of
    /// 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
            deadline: DEFAULT_DEADLINE,
            notify: None,
        }
    }
}

/// Default [`RetryPolicy::deadline`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(30);

impl RetryPolicy {
    /// A policy for tests: `attempts` attempts with delays of at most a few milliseconds.
    pub fn quick(attempts: u32) -> Self {
        RetryPolicy {
            max_attempts: attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            deadline: DEFAULT_DEADLINE,
            notify: None,
        }
    }

    /// The randomized delay after failed attempt number `attempt` (1-based).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let exp = self.base_delay.saturating_mul(1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX));
        let ceiling = exp.min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::thread_rng().gen_range(0..=nanos))
    }

    /// Run `f` until it returns something other than a transient error or the attempts are used up.
    /// `on_retry` is told about each transient failure before the backoff. Returns the outcome, the number of
    /// attempts made, and whether any attempt failed transiently.
    fn run_inner<T>(&self, mut f: impl FnMut() -> BResult<T>) -> (BResult<T>, u32, bool) {
        let max = self.max_attempts.max(1);
        let mut saw_transient = false;
        let mut attempt = 0;
        let start = Instant::now();
        loop {
            attempt += 1;
            match f() {
                Err(e) if e.is_transient() => {
                    saw_transient = true;
                    if attempt >= max || (attempt >= 2 && start.elapsed() >= self.deadline) {
                        return (Err(e), attempt, saw_transient);
                    }
                    let delay = self.backoff(attempt);
                    if let Some(n) = &self.notify {
                        (n.0)(&e, attempt + 1, max, delay);
                    }
                    std::thread::sleep(delay);
                }
                other => return (other, attempt, saw_transient),
            }
        }
    }

    /// Run `f` with retries of transient failures; persistent ones become [`BackendError::Unavailable`].
    /// Useful for steps outside the [`Backend`] trait (such as opening a backend).
    pub fn run<T>(&self, f: impl FnMut() -> BResult<T>) -> BResult<T> {
        let (r, attempts, _) = self.run_inner(f);
        r.map_err(|e| unavailable(e, attempts))
    }
}

/// Turn a transient error that persisted through `attempts` attempts into `Unavailable`; keep others.
fn unavailable(e: BackendError, attempts: u32) -> BackendError {
    match e {
        BackendError::Transient { backend, op, name, message } => {
            BackendError::Unavailable { backend, op, name, attempts, message }
        }
        other => other,
    }
}

/// A backend that retries transient failures of `B`.
pub struct Retry<B: Backend> {
    inner: B,
    policy: RetryPolicy,
}

impl<B: Backend> Retry<B> {
    /// After a create-only write: an `AlreadyExists` following a transient failure probably means an earlier
    /// attempt whose response was lost created the object; confirm by reading it back.
    fn confirm_write(
        &self,
        name: &str,
        data: &[u8],
        r: BResult<()>,
        attempts: u32,
        saw_transient: bool,
    ) -> BResult<()> {
        match r {
            Err(BackendError::AlreadyExists { .. }) if saw_transient => {
                if self.read(name)? == data {
                    Ok(())
                } else {
                    Err(BackendError::AlreadyExists { name: name.into() })
                }
            }
            r => r.map_err(|e| unavailable(e, attempts)),
        }
    }

    /// Wrap `inner` with the default policy.
    pub fn new(inner: B) -> Self {
        Self::with_policy(inner, RetryPolicy::default())
    }

    /// Wrap `inner` with `policy`.
    pub fn with_policy(inner: B, policy: RetryPolicy) -> Self {
        Retry { inner, policy }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The retry policy in force.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }

    fn run<T>(&self, f: impl FnMut() -> BResult<T>) -> BResult<T> {
        self.policy.run(f)
    }
}

impl<B: Backend> Backend for Retry<B> {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn is_remote(&self) -> bool {
        self.inner.is_remote()
    }

    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        self.run(|| self.inner.read(name))
    }

    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        self.run(|| self.inner.read_range(name, offset, len))
    }

    fn read_range_in(&self, name: &str, offset: u64, len: u64, spare: Vec<u8>) -> BResult<(Vec<u8>, usize)> {
        // The spare goes to the first attempt; a retry allocates.
        let mut spare = Some(spare);
        self.run(|| self.inner.read_range_in(name, offset, len, spare.take().unwrap_or_default()))
    }

    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        self.run(|| self.inner.read_tail(name, len))
    }

    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        let (r, attempts, saw_transient) = self.policy.run_inner(|| self.inner.write(name, data));
        self.confirm_write(name, data, r, attempts, saw_transient)
    }

    fn write_shared(&self, name: &str, data: super::SharedBytes) -> BResult<()> {
        let (r, attempts, saw_transient) = self.policy.run_inner(|| self.inner.write_shared(name, data.clone()));
        self.confirm_write(name, (*data).as_ref(), r, attempts, saw_transient)
    }

    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        self.run(|| self.inner.list(prefix))
    }

    fn delete(&self, name: &str) -> BResult<()> {
        self.run(|| self.inner.delete(name))
    }

    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        self.run(|| self.inner.read_ref(name))
    }

    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        let (r, attempts, saw_transient) = self.policy.run_inner(|| self.inner.swap_ref(name, expected, data));
        match r {
            Err(BackendError::PreconditionFailed { .. }) if saw_transient => {
                // Maybe our own earlier attempt landed and its response was lost.
                match self.read_ref(name)? {
                    Some((current, version)) if current == data => Ok(version),
                    _ => Err(BackendError::PreconditionFailed { name: name.into() }),
                }
            }
            r => r.map_err(|e| unavailable(e, attempts)),
        }
    }

    fn delete_ref(&self, name: &str) -> BResult<()> {
        self.run(|| self.inner.delete_ref(name))
    }

    fn list_refs(&self) -> BResult<Vec<String>> {
        self.run(|| self.inner.list_refs())
    }

    fn sync(&self) -> BResult<()> {
        self.run(|| self.inner.sync())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::backend::faults::{Faulty, Op};
    use crate::engine::backend::memory::MemoryBackend;
    use std::sync::Arc;

    fn retry(f: Faulty<MemoryBackend>, attempts: u32) -> Retry<Faulty<MemoryBackend>> {
        Retry::with_policy(f, RetryPolicy::quick(attempts))
    }

    #[test]
    fn backoff_is_bounded_and_jittered() {
        let p = RetryPolicy::default();
        for attempt in 1..40 {
            let d = p.backoff(attempt);
            assert!(d <= p.max_delay, "{d:?}");
            assert!(d <= p.base_delay * 2u32.saturating_pow(attempt - 1).max(1), "{attempt}: {d:?}");
        }
        let samples: std::collections::HashSet<Duration> = (0..20).map(|_| p.backoff(6)).collect();
        assert!(samples.len() > 1, "backoff must be randomized");
        assert_eq!(RetryPolicy { base_delay: Duration::ZERO, ..p }.backoff(3), Duration::ZERO);
    }

    #[test]
    fn conformance_through_retry_with_faults() {
        let f = Faulty::new(MemoryBackend::new());
        // Not swap_ref: the suite checks that a stale swap to the current value fails, which a retried swap
        // reports as success by design (see the module documentation).
        let ops: Vec<Op> = Op::ALL.into_iter().filter(|&o| o != Op::SwapRef).collect();
        f.only(&ops).fail_every(3);
        let b = Arc::new(retry(f, 10));
        crate::engine::backend::conformance::objects(&*b);
        crate::engine::backend::conformance::ranges(&*b);
        crate::engine::backend::conformance::refs(&*b);
        assert!(b.inner().injected() > 10, "faults were injected: {}", b.inner().injected());
    }

    #[test]
    fn succeeds_through_transient_failures() {
        let f = Faulty::new(MemoryBackend::new());
        f.fail_next(3);
        let b = retry(f, 5);
        b.write("objects/aa/x", b"data").unwrap();
        assert_eq!(b.inner().injected(), 3);
        f_fail_next(&b, 2);
        assert_eq!(b.read("objects/aa/x").unwrap(), b"data");
        f_fail_next(&b, 4);
        let v = b.swap_ref("main", None, b"one").unwrap();
        assert_eq!(b.inner().inner().read_ref("main").unwrap().unwrap().1, v);
    }

    fn f_fail_next(b: &Retry<Faulty<MemoryBackend>>, n: u32) {
        b.inner().fail_next(n);
    }

    #[test]
    fn an_operation_past_its_deadline_stops_after_the_second_attempt_and_each_retry_is_told() {
        let told = Arc::new(std::sync::Mutex::new(Vec::new()));
        let t = told.clone();
        let policy = RetryPolicy {
            deadline: Duration::from_millis(30),
            notify: Some(RetryNotify(Arc::new(move |_, next, max, _| t.lock().unwrap().push((next, max))))),
            ..RetryPolicy::quick(8)
        };
        let mut calls = 0;
        let slow_failure = || -> BResult<()> {
            calls += 1;
            std::thread::sleep(Duration::from_millis(20));
            Err(BackendError::Transient {
                backend: "b".into(),
                op: "read",
                name: "x".into(),
                message: "timed out".into(),
            })
        };
        let e = policy.run(slow_failure).unwrap_err();
        assert!(matches!(e, BackendError::Unavailable { attempts: 2, .. }), "{e}");
        assert_eq!(calls, 2);
        assert_eq!(*told.lock().unwrap(), vec![(2, 8)]);
        // Quick failures keep every attempt: the deadline bounds time, not the count.
        let mut calls = 0;
        let e = policy
            .run(|| -> BResult<()> {
                calls += 1;
                Err(BackendError::Transient {
                    backend: "b".into(),
                    op: "read",
                    name: "x".into(),
                    message: "503".into(),
                })
            })
            .unwrap_err();
        assert!(matches!(e, BackendError::Unavailable { attempts: 8, .. }), "{e}");
        assert_eq!(calls, 8);
    }

    #[test]
    fn persistent_failures_become_unavailable() {
        let f = Faulty::new(MemoryBackend::new());
        f.fail_next(100);
        let b = retry(f, 4);
        let e = b.read("objects/aa/x").unwrap_err();
        match &e {
            BackendError::Unavailable { attempts, op, name, backend, .. } => {
                assert_eq!(*attempts, 4);
                assert_eq!(*op, "read");
                assert_eq!(name, "objects/aa/x");
                assert!(backend.contains("memory"), "{backend}");
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(e.to_string().contains("unavailable after 4 attempts"), "{e}");
        assert_eq!(b.inner().injected(), 4);
        let e = b.write("objects/aa/x", b"x").unwrap_err();
        assert!(matches!(e, BackendError::Unavailable { .. }), "{e:?}");
        let e = b.swap_ref("main", None, b"x").unwrap_err();
        assert!(matches!(e, BackendError::Unavailable { .. }), "{e:?}");
        let e = RetryPolicy::quick(3).run(|| b.inner().list_refs()).unwrap_err();
        assert!(matches!(e, BackendError::Unavailable { attempts: 3, .. }), "{e:?}");
    }

    #[test]
    fn other_errors_are_not_retried() {
        let f = Faulty::new(MemoryBackend::new());
        let b = retry(f, 5);
        b.write("objects/aa/x", b"one").unwrap();
        let calls = b.inner().calls();
        let e = b.write("objects/aa/x", b"two").unwrap_err();
        assert!(matches!(e, BackendError::AlreadyExists { .. }), "{e:?}");
        assert!(b.read("objects/aa/missing").unwrap_err().is_not_found());
        let v = b.swap_ref("main", None, b"one").unwrap();
        let e = b.swap_ref("main", None, b"two").unwrap_err();
        assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
        assert_eq!(b.inner().calls(), calls + 4, "each failing call made exactly one attempt");
        assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"one".to_vec(), v));
    }

    #[test]
    fn write_whose_response_was_lost_counts_as_success() {
        let f = Faulty::new(MemoryBackend::new());
        f.only(&[Op::Write]).lose_responses_next(1);
        let b = retry(f, 5);
        b.write("objects/aa/x", b"data").unwrap();
        assert_eq!(b.inner().injected(), 1);
        assert_eq!(b.read("objects/aa/x").unwrap(), b"data");
        // Without a transient failure, an existing name is still reported.
        assert!(matches!(b.write("objects/aa/x", b"data"), Err(BackendError::AlreadyExists { .. })));
        // After a transient failure, a name taken by different bytes is still reported.
        b.inner().fail_next(1);
        assert!(matches!(b.write("objects/aa/x", b"other"), Err(BackendError::AlreadyExists { .. })));
    }

    #[test]
    fn swap_whose_response_was_lost_is_confirmed_by_reading_back() {
        let f = Faulty::new(MemoryBackend::new());
        f.only(&[Op::SwapRef]).lose_responses_next(1);
        let b = retry(f, 5);
        let v1 = b.swap_ref("main", None, b"one").unwrap();
        assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"one".to_vec(), v1.clone()));
        b.inner().lose_responses_next(1);
        let v2 = b.swap_ref("main", Some(&v1), b"two").unwrap();
        assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"two".to_vec(), v2.clone()));
        // A real conflict after a transient failure is still a conflict.
        b.inner().fail_next(1);
        let e = b.swap_ref("main", Some(&v1), b"three").unwrap_err();
        assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
        assert_eq!(b.read_ref("main").unwrap().unwrap(), (b"two".to_vec(), v2));
    }

    #[test]
    fn race_through_retry_has_one_winner() {
        let f = Faulty::new(MemoryBackend::new());
        f.fail_every(4);
        crate::engine::backend::conformance::race_swap(Arc::new(retry(f, 20)), 8);
    }
}
