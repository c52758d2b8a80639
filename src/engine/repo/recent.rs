//! What this process read or wrote of a ref moments ago (a branch's ref, the gc ref, the forget record), for the
//! next step of the same command to use instead of reading it again: a round trip saved on S3. Each use is only a
//! first try that a compare-and-swap or a second read corrects (see the callers), and only for [`FRESH`], so that a
//! long-lived process does not act on what it read long ago.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long what was read or written stands in for reading it again.
pub(super) const FRESH: Duration = Duration::from_secs(10);

/// Whether something noted at `at` is still fresh.
pub(super) fn fresh(at: Instant) -> bool {
    at.elapsed() < FRESH
}

/// The last value noted, and when.
pub(super) struct Recent<T>(Mutex<Option<(T, Instant)>>);

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Self(Mutex::new(None))
    }
}

impl<T: Clone> Recent<T> {
    /// Note `value` as read or written now.
    pub(super) fn note(&self, value: T) {
        *self.0.lock().expect("recent lock") = Some((value, Instant::now()));
    }

    /// The value last noted, however long ago.
    pub(super) fn last(&self) -> Option<T> {
        self.0.lock().expect("recent lock").as_ref().map(|(v, _)| v.clone())
    }

    /// The value last noted, if within [`FRESH`].
    pub(super) fn recent(&self) -> Option<T> {
        self.0.lock().expect("recent lock").as_ref().filter(|(_, at)| fresh(*at)).map(|(v, _)| v.clone())
    }

    /// The value last noted, if within [`FRESH`], for one use: it is forgotten either way.
    pub(super) fn take_recent(&self) -> Option<T> {
        self.0.lock().expect("recent lock").take().filter(|(_, at)| fresh(*at)).map(|(v, _)| v)
    }
}
