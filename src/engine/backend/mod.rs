//! Storage backends: where objects and refs live.
//!
//! A backend stores two kinds of things:
//! - **objects**: write-once blobs under a name (`objects/ab/ab12...`, `keys/...`, `config`), read whole or by range;
//! - **refs**: small mutable values replaced only by compare-and-swap against a [`RefVersion`].
//!
//! The trait is synchronous; implementations that talk to the network keep their async runtime private.

pub mod dir;
pub mod faults;
pub mod memory;
pub mod retry;
#[cfg(feature = "s3")]
pub mod s3;

use std::sync::Arc;

/// Largest object a backend reads whole (the largest size class): an object beyond it on storage is refused rather
/// than loaded into memory.
pub const MAX_OBJECT_READ: u64 = crate::engine::format::MAX_PACK as u64;

/// Opaque version of a ref's current value (a generation number, an ETag). Compared only for equality.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefVersion(pub String);

/// What a listing returns for each object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Full object name.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// When the storage wrote the object, in seconds since the epoch by the storage's own clock (a file's mtime,
    /// S3's LastModified); `None` when the backend cannot tell.
    pub modified: Option<u64>,
}

/// Errors every backend reports, typed so callers can retry, treat as missing, or give up.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The object or ref does not exist.
    #[error("{name}: not found")]
    NotFound {
        /// Object or ref name.
        name: String,
    },
    /// A create-only write found the object already there.
    #[error("{name}: already exists")]
    AlreadyExists {
        /// Object name.
        name: String,
    },
    /// A compare-and-swap found a different current version.
    #[error("{name}: changed concurrently (precondition failed)")]
    PreconditionFailed {
        /// Ref name.
        name: String,
    },
    /// A failure that may succeed when retried (timeouts, 5xx, throttling, resets).
    #[error("{op}{} on {backend}: temporary failure: {message}", named(name))]
    Transient {
        /// Which backend (path or endpoint).
        backend: String,
        /// Operation.
        op: &'static str,
        /// Object or ref name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// A failure that will not go away by retrying (full disk, a malformed request, ...).
    #[error("{op}{} on {backend}: {message}", named(name))]
    Permanent {
        /// Which backend (path or endpoint).
        backend: String,
        /// Operation.
        op: &'static str,
        /// Object or ref name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Transient failures persisted past the retry budget.
    #[error("{op}{} on {backend}: unavailable after {attempts} attempts: {message}", named(name))]
    Unavailable {
        /// Which backend (path or endpoint).
        backend: String,
        /// Operation.
        op: &'static str,
        /// Object or ref name.
        name: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// The backend refused the request: the credentials were rejected or lack the permission.
    #[error("{op}{} on {backend}: access denied: {message}", named(name))]
    AccessDenied {
        /// Which backend (path or endpoint).
        backend: String,
        /// Operation.
        op: &'static str,
        /// Object or ref name.
        name: String,
        /// What the backend said.
        message: String,
    },
    /// The server does not speak the backend's protocol (an S3 endpoint that answers like a plain web server):
    /// the endpoint is probably wrong.
    #[error("{op} on {backend}: not an S3 server? {message}")]
    WrongService {
        /// Which backend (endpoint).
        backend: String,
        /// Operation.
        op: &'static str,
        /// What the server answered.
        message: String,
    },
    /// The container the repository lives in (an S3 bucket) does not exist.
    #[error("bucket {bucket} does not exist on {backend}")]
    NoBucket {
        /// Which backend (endpoint).
        backend: String,
        /// The bucket.
        bucket: String,
    },
}

/// ` NAME` for messages, or nothing for operations that concern no particular object.
fn named(name: &str) -> String {
    if name.is_empty() {
        String::new()
    } else {
        format!(" {name}")
    }
}

impl BackendError {
    /// The thing asked for does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, BackendError::NotFound { .. })
    }
    /// Retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, BackendError::Transient { .. })
    }
}

/// Result of backend operations.
pub type BResult<T> = std::result::Result<T, BackendError>;

/// The bytes of an object shared with the writer that made them (a finished pack, which the store keeps readable
/// until it is stored), for [`Backend::write_shared`].
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// A place to keep objects and refs. Implementations must be safe to share between threads and processes:
/// `write` is create-only, and `swap_ref` must have exactly one winner among racing writers.
pub trait Backend: Send + Sync + 'static {
    /// Human-readable location, used in messages (`/path/to/repo`, `s3://bucket/prefix at http://...`).
    fn describe(&self) -> String;
    /// Whether each request waits on a network round trip, so that reading many chunks at once (prefetching the
    /// index nodes a listing will need) saves time. Local backends answer at memory or disk speed: `false`.
    fn is_remote(&self) -> bool {
        false
    }
    /// Read a whole object.
    fn read(&self, name: &str) -> BResult<Vec<u8>>;
    /// Read `len` bytes at `offset`. A short result means the object is shorter than asked.
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>>;
    /// [`Backend::read_range`] into a buffer the bytes may start anywhere in: returns the buffer and where they
    /// start (they run to its end). `spare` is a buffer the backend may read into instead of allocating one (its
    /// contents are of no meaning). Backends that read into aligned buffers (direct I/O) override it to save a
    /// copy and an allocation.
    fn read_range_in(&self, name: &str, offset: u64, len: u64, spare: Vec<u8>) -> BResult<(Vec<u8>, usize)> {
        drop(spare);
        self.read_range(name, offset, len).map(|b| (b, 0))
    }
    /// Read the last `len` bytes (or the whole object if it is shorter).
    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>>;
    /// Create an object. Fails with `AlreadyExists` if the name is taken; never replaces.
    fn write(&self, name: &str, data: &[u8]) -> BResult<()>;
    /// [`Backend::write`] of a shared buffer; backends that hand the bytes to another thread (network clients)
    /// override it to avoid a copy.
    fn write_shared(&self, name: &str, data: SharedBytes) -> BResult<()> {
        self.write(name, (*data).as_ref())
    }
    /// List objects whose names start with `prefix`.
    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>>;
    /// Delete an object. Deleting a missing object is not an error.
    fn delete(&self, name: &str) -> BResult<()>;
    /// Read a ref and its version, `None` if it does not exist.
    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>>;
    /// Replace a ref if its version is still `expected` (`None`: create only if absent).
    /// Fails with `PreconditionFailed` otherwise; exactly one of racing writers wins.
    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion>;
    /// Remove a ref. Removing a missing ref is not an error.
    fn delete_ref(&self, name: &str) -> BResult<()>;
    /// Names of all refs.
    fn list_refs(&self) -> BResult<Vec<String>>;
    /// Make every object written so far durable. Writers call this before publishing anything that points at
    /// those objects (a ref swap); backends whose writes are durable on return need not do anything.
    fn sync(&self) -> BResult<()> {
        Ok(())
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn describe(&self) -> String {
        (**self).describe()
    }
    fn is_remote(&self) -> bool {
        (**self).is_remote()
    }
    fn read(&self, name: &str) -> BResult<Vec<u8>> {
        (**self).read(name)
    }
    fn read_range(&self, name: &str, offset: u64, len: u64) -> BResult<Vec<u8>> {
        (**self).read_range(name, offset, len)
    }
    fn read_range_in(&self, name: &str, offset: u64, len: u64, spare: Vec<u8>) -> BResult<(Vec<u8>, usize)> {
        (**self).read_range_in(name, offset, len, spare)
    }
    fn read_tail(&self, name: &str, len: u64) -> BResult<Vec<u8>> {
        (**self).read_tail(name, len)
    }
    fn write(&self, name: &str, data: &[u8]) -> BResult<()> {
        (**self).write(name, data)
    }
    fn write_shared(&self, name: &str, data: SharedBytes) -> BResult<()> {
        (**self).write_shared(name, data)
    }
    fn list(&self, prefix: &str) -> BResult<Vec<ObjectInfo>> {
        (**self).list(prefix)
    }
    fn delete(&self, name: &str) -> BResult<()> {
        (**self).delete(name)
    }
    fn read_ref(&self, name: &str) -> BResult<Option<(Vec<u8>, RefVersion)>> {
        (**self).read_ref(name)
    }
    fn swap_ref(&self, name: &str, expected: Option<&RefVersion>, data: &[u8]) -> BResult<RefVersion> {
        (**self).swap_ref(name, expected, data)
    }
    fn delete_ref(&self, name: &str) -> BResult<()> {
        (**self).delete_ref(name)
    }
    fn list_refs(&self) -> BResult<Vec<String>> {
        (**self).list_refs()
    }
    fn sync(&self) -> BResult<()> {
        (**self).sync()
    }
}

/// The backend conformance suite: every backend must pass it. Public so integration tests can run it against
/// backends they construct (directories, S3 servers).
pub mod conformance {
    use super::*;

    fn names(v: Vec<ObjectInfo>) -> Vec<String> {
        let mut n: Vec<String> = v.into_iter().map(|i| i.name).collect();
        n.sort();
        n
    }

    /// Run every check against `b`, which must be empty.
    pub fn run_all(b: Arc<dyn Backend>) {
        objects(&*b);
        ranges(&*b);
        refs(&*b);
        race_swap(b.clone(), 8);
    }

    /// Create-only writes, reads, listing and deletion.
    pub fn objects(b: &dyn Backend) {
        assert!(b.read("objects/aa/missing").unwrap_err().is_not_found());
        b.write("objects/aa/one", b"hello").unwrap();
        b.write("objects/bb/two", b"").unwrap();
        b.write("keys/k1", &[7u8; 300]).unwrap();
        assert_eq!(b.read("objects/aa/one").unwrap(), b"hello");
        assert_eq!(b.read("objects/bb/two").unwrap(), b"");
        let e = b.write("objects/aa/one", b"other").unwrap_err();
        assert!(matches!(e, BackendError::AlreadyExists { .. }), "{e:?}");
        assert_eq!(b.read("objects/aa/one").unwrap(), b"hello", "create-only write must not replace");
        assert_eq!(names(b.list("objects/").unwrap()), vec!["objects/aa/one", "objects/bb/two"]);
        assert_eq!(names(b.list("keys/").unwrap()), vec!["keys/k1"]);
        let sizes: Vec<u64> = b.list("keys/").unwrap().iter().map(|i| i.size).collect();
        assert_eq!(sizes, vec![300]);
        // A backend that stamps objects stamps them with the storage's time (here: the same machine's clock).
        let host = crate::engine::crypto::now_secs();
        for o in b.list("objects/").unwrap() {
            if let Some(m) = o.modified {
                assert!(m.abs_diff(host) < 300, "{}: modified {m}, host clock {host}", o.name);
            }
        }
        assert!(b.list("nothing/").unwrap().is_empty());
        b.delete("objects/bb/two").unwrap();
        b.delete("objects/bb/two").unwrap();
        assert!(b.read("objects/bb/two").unwrap_err().is_not_found());
        assert_eq!(names(b.list("objects/").unwrap()), vec!["objects/aa/one"]);
        b.delete("objects/aa/one").unwrap();
        b.delete("keys/k1").unwrap();
    }

    /// Ranged and tail reads, including past the end.
    pub fn ranges(b: &dyn Backend) {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        b.write("objects/cc/range", &data).unwrap();
        assert_eq!(b.read_range("objects/cc/range", 0, 10).unwrap(), &data[..10]);
        assert_eq!(b.read_range("objects/cc/range", 5000, 1234).unwrap(), &data[5000..6234]);
        assert_eq!(b.read_range("objects/cc/range", 9990, 100).unwrap(), &data[9990..]);
        assert_eq!(b.read_tail("objects/cc/range", 36).unwrap(), &data[10_000 - 36..]);
        assert_eq!(b.read_tail("objects/cc/range", 20_000).unwrap(), &data[..]);
        assert!(b.read_range("objects/cc/missing", 0, 1).unwrap_err().is_not_found());
        assert!(b.read_tail("objects/cc/missing", 1).unwrap_err().is_not_found());
        b.delete("objects/cc/range").unwrap();
    }

    /// Ref create, compare-and-swap, stale swaps, deletion and listing.
    pub fn refs(b: &dyn Backend) {
        assert!(b.read_ref("r1").unwrap().is_none());
        let v1 = b.swap_ref("r1", None, b"one").unwrap();
        let e = b.swap_ref("r1", None, b"again").unwrap_err();
        assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
        let (data, v) = b.read_ref("r1").unwrap().unwrap();
        assert_eq!(data, b"one");
        assert_eq!(v, v1);
        let v2 = b.swap_ref("r1", Some(&v1), b"two").unwrap();
        assert_ne!(v1, v2);
        let e = b.swap_ref("r1", Some(&v1), b"stale").unwrap_err();
        assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
        assert_eq!(b.read_ref("r1").unwrap().unwrap().0, b"two");
        let e = b.swap_ref("missing", Some(&v2), b"x").unwrap_err();
        assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
        b.swap_ref("r2", None, b"x").unwrap();
        let mut refs = b.list_refs().unwrap();
        refs.sort();
        assert_eq!(refs, vec!["r1", "r2"]);
        b.delete_ref("r2").unwrap();
        b.delete_ref("r2").unwrap();
        assert!(b.read_ref("r2").unwrap().is_none());
        assert_eq!(b.list_refs().unwrap(), vec!["r1"]);
        // Rewriting the current value still makes a new version: a writer holding the old one must lose.
        let (_, v2) = b.read_ref("r1").unwrap().unwrap();
        let v3 = b.swap_ref("r1", Some(&v2), b"two").unwrap();
        assert_ne!(v2, v3, "a swap must change the version even when the value is unchanged");
        let e = b.swap_ref("r1", Some(&v2), b"two").unwrap_err();
        assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
        b.delete_ref("r1").unwrap();
    }

    /// `writers` threads race to swap the same ref from the same version: exactly one wins each round.
    pub fn race_swap(b: Arc<dyn Backend>, writers: usize) {
        let base = b.swap_ref("race", None, b"base").unwrap();
        for round in 0..3 {
            let current = b.read_ref("race").unwrap().unwrap().1;
            if round == 0 {
                assert_eq!(current, base);
            }
            let barrier = Arc::new(std::sync::Barrier::new(writers));
            let handles: Vec<_> = (0..writers)
                .map(|i| {
                    let b = b.clone();
                    let cur = current.clone();
                    let barrier = barrier.clone();
                    std::thread::spawn(move || {
                        barrier.wait();
                        b.swap_ref("race", Some(&cur), format!("writer {i}").as_bytes())
                    })
                })
                .collect();
            let results: Vec<_> = handles.into_iter().map(|h| h.join().expect("writer thread")).collect();
            let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
            assert_eq!(winners.len(), 1, "exactly one writer must win: {results:?}");
            for r in &results {
                if let Err(e) = r {
                    assert!(matches!(e, BackendError::PreconditionFailed { .. }), "{e:?}");
                }
            }
            let (data, _) = b.read_ref("race").unwrap().unwrap();
            assert_eq!(data, format!("writer {}", winners[0]).as_bytes());
        }
        b.delete_ref("race").unwrap();
    }
}
