//! Progress reporting for long operations.
//!
//! Operations that can take long (`check`, `gc`, ...) report what they are doing through a [`Progress`]
//! implementation handed to them in their options struct, wrapped in a [`ProgressSink`]. The engine never draws
//! anything itself: a command line draws bars, a service might log, and the default sink discards everything.
//!
//! An operation runs in one or more *phases* (e.g. `mark`, `condemn`, `delete`); each phase counts units (items or
//! bytes) towards a total when the total is known.
//!
//! ```
//! use infini::progress::{Progress, ProgressSink, Unit};
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use std::sync::Arc;
//!
//! #[derive(Default)]
//! struct Count(AtomicU64);
//! impl Progress for Count {
//!     fn inc(&self, n: u64) {
//!         self.0.fetch_add(n, Ordering::Relaxed);
//!     }
//! }
//!
//! let count = Arc::new(Count::default());
//! let sink = ProgressSink::new(count.clone());
//! sink.phase("read", Unit::Bytes, Some(10));
//! sink.inc(4);
//! sink.inc(6);
//! assert_eq!(count.0.load(Ordering::Relaxed), 10);
//! ```

use std::fmt;
use std::sync::Arc;

/// What a phase counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Things: objects, packs, commits, keys.
    Items,
    /// Bytes.
    Bytes,
}

/// Receives progress reports from a long operation. Every method has an empty default, so an implementation
/// picks what it cares about. Calls may come from several threads; implementations should be cheap (the engine
/// calls [`Progress::inc`] once per unit of work: per object, per chunk, per read).
pub trait Progress: Send + Sync {
    /// A new phase starts: its `name` (a short lower-case word such as `"mark"`), what it counts, and how many
    /// units it will take when that is known beforehand. Counting restarts at zero.
    fn phase(&self, name: &str, unit: Unit, total: Option<u64>) {
        let _ = (name, unit, total);
    }

    /// The current phase's total became known or changed.
    fn set_total(&self, total: u64) {
        let _ = total;
    }

    /// `n` more units of the current phase are done.
    fn inc(&self, n: u64) {
        let _ = n;
    }

    /// What is being worked on now (an object, a key, a path), for display.
    fn message(&self, msg: &str) {
        let _ = msg;
    }

    /// A phase that counts the bytes of many items (the files of a tree) counts the items too: `total` are known
    /// so far (it may grow as they are discovered).
    fn set_items(&self, total: u64) {
        let _ = total;
    }

    /// One more item of the current phase is finished (see [`Progress::set_items`]).
    fn item_done(&self) {}
}

/// Where an operation sends its progress: a shared [`Progress`] implementation, or nowhere (the default).
/// Cheap to clone; kept in options structs.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Arc<dyn Progress>>);

impl ProgressSink {
    /// Report to `p`.
    pub fn new(p: Arc<dyn Progress>) -> Self {
        Self(Some(p))
    }

    /// Report nowhere.
    pub fn none() -> Self {
        Self(None)
    }

    /// Whether anyone listens.
    pub fn is_some(&self) -> bool {
        self.0.is_some()
    }

    /// See [`Progress::phase`].
    pub fn phase(&self, name: &str, unit: Unit, total: Option<u64>) {
        if let Some(p) = &self.0 {
            p.phase(name, unit, total);
        }
    }

    /// See [`Progress::set_total`].
    pub fn set_total(&self, total: u64) {
        if let Some(p) = &self.0 {
            p.set_total(total);
        }
    }

    /// See [`Progress::inc`].
    pub fn inc(&self, n: u64) {
        if let Some(p) = &self.0 {
            p.inc(n);
        }
    }

    /// See [`Progress::message`]. `msg` is only built when someone listens.
    pub fn message(&self, msg: impl FnOnce() -> String) {
        if let Some(p) = &self.0 {
            p.message(&msg());
        }
    }

    /// See [`Progress::set_items`].
    pub fn set_items(&self, total: u64) {
        if let Some(p) = &self.0 {
            p.set_items(total);
        }
    }

    /// See [`Progress::item_done`].
    pub fn item_done(&self) {
        if let Some(p) = &self.0 {
            p.item_done();
        }
    }
}

impl fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() { "ProgressSink(..)" } else { "ProgressSink(none)" })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);
    impl Progress for Log {
        fn phase(&self, name: &str, unit: Unit, total: Option<u64>) {
            self.0.lock().unwrap().push(format!("phase {name} {unit:?} {total:?}"));
        }
        fn inc(&self, n: u64) {
            self.0.lock().unwrap().push(format!("inc {n}"));
        }
        fn message(&self, msg: &str) {
            self.0.lock().unwrap().push(format!("msg {msg}"));
        }
    }

    #[test]
    fn sink_forwards_and_default_discards() {
        let log = Arc::new(Log::default());
        let sink = ProgressSink::new(log.clone());
        sink.phase("mark", Unit::Items, None);
        sink.inc(3);
        sink.message(|| "k".into());
        assert_eq!(*log.0.lock().unwrap(), ["phase mark Items None", "inc 3", "msg k"]);
        let none = ProgressSink::default();
        none.message(|| unreachable!("messages are not built when nobody listens"));
        none.inc(1);
        assert!(!none.is_some());
    }
}
