//! infini: an embedded, encrypted, versioned database.
//!
//! An [`Infinitree`] is an [`Index`] — a set of named, typed [`fields`] — bound to a branch of a [`Repository`].
//! Changes are staged in the fields and written by [`Infinitree::commit`]; every commit is an immutable snapshot,
//! and a commit costs what changed, not what exists. Everything on storage is encrypted and padded into uniform
//! objects; storage is any [`backends::Backend`] (a directory, memory, S3 with the `s3` feature).
//!
//! The crate root is the front door: everything a program needs is re-exported here or in [`fields`],
//! [`backends`] and [`namespace`]. The `infini` command line (feature `cli`, on by default) is built on this same
//! API; `default-features = false` builds the engine alone.
//!
//! Open for extension: a field type of the program's own implements [`Field`] (a strategy for the keyed fields,
//! [`fields::Strategy`]) and stores its data through the object API of the [`Store`] it is handed (write bytes or a
//! stream and get a [`Blob`] or a [`ChunkPointer`], read them back whole, by range or streamed), reporting what it
//! keeps to garbage collection through a [`Tracer`]; a storage backend implements [`backends::Backend`] and passes
//! [`backends::conformance`]. `examples/custom_field.rs` and `examples/custom_backend.rs` show each.
//!
//! ```no_run
//! use infini::{backends::MemoryBackend, fields::VersionedMap, Infinitree, KdfParams, Repository, StoreOptions};
//! use std::sync::Arc;
//! # fn main() -> infini::Result<()> {
//! let repo = Arc::new(Repository::create(Arc::new(MemoryBackend::new()), b"secret", KdfParams::default(), StoreOptions::default())?);
//! let mut tree = Infinitree::<VersionedMap<String, usize>>::open(repo, "main")?;
//! tree.index().insert("sample_size".into(), 1234);
//! tree.commit("first measurement! yay!")?;
//! assert_eq!(tree.index().get(&"sample_size".to_string())?, Some(1234));
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

// Lets `#[derive(Index)]` name this crate as `::infini` from inside it too.
extern crate self as infini;

pub(crate) mod engine;

pub use engine::cache::warm::WarmNotice;
pub use engine::chunk::{Blob, BlobReader, BlobWriter, ChunkRef, ListRef, StreamReader, WriteOptions, BLOB_TAG};
pub use engine::credentials::Key;
pub use engine::crypto::{KdfParams, KeySlot, MasterKey, SlotInfo, SlotKey, WriterKeySet};
pub use engine::db::{build_roots, CommitOptions, Commits, Infinitree};
pub use engine::error::{Error, Result};
pub use engine::fields::{Field, Index, Trace, Tracer};
pub use engine::id::CommitId;
pub use engine::location::Location;
pub use engine::object::{ChunkPointer, Store, StoreOptions};
pub use engine::repo::Config as RepositoryConfig;
pub use engine::repo::{
    copies, Abandoned, Branch, BranchRetention, BranchRewrite, CacheStats, CheckOptions, CheckReport, CommitInfo,
    CommitRetention, Damage, ForgetOptions, ForgetOutcome, ForgetRun, ForgetScope, Forgotten, GcOptions, GcPlan,
    Importer, KeySlots, KindStats, RawKey, RefChanged, Replaced, Repository, RepositoryStats, Restored, RewriteOptions,
    RewriteOutcome, RewriteRun, Rewritten, RewrittenCommit, SaveSeen, SeenMap, SeenRef, SeenRefs, Tag, Unlocked,
    UnlockedAny, WriteStats, COPIED_FORGOTTEN, DEFAULT_REPACK_THRESHOLD, EVERY_BRANCH, RAW_KEY_KDF,
};
/// `#[derive(Index)]`: implement [`Index`](trait@Index) for a struct of fields.
///
/// Each field is stored under its Rust name, or under `#[infini(name = "...")]`; `#[infini(skip)]` leaves a field
/// out (not persisted; `Default` when an index is loaded); `#[infini(strategy = "infini::fields::SparseField")]`
/// (the seed's spelling; a bare path works too) stores a `VersionedMap` or `Map` field with that strategy, as its
/// type parameter would. The derive also adds `FIELD_NAMES`, the stored names.
///
/// ```
/// use infini::fields::{LinkedList, Serialized, VersionedMap};
/// use infini::Index;
///
/// #[derive(Default, Index)]
/// struct State {
///     samples: VersionedMap<String, u64>,
///     #[infini(name = "events")]
///     log: LinkedList<String>,
///     settings: Serialized<Vec<String>>,
///     #[infini(skip)]
///     scratch: std::sync::Mutex<Vec<u8>>,
/// }
///
/// assert_eq!(State::FIELD_NAMES, ["samples", "events", "settings"]);
/// let s = State::default();
/// let names: Vec<&str> = s.fields().into_iter().map(|(n, _)| n).collect();
/// assert_eq!(names, State::FIELD_NAMES);
/// ```
pub use infini_derive::Index;

/// Limits on what a program stores, and what happens to values larger than where a field keeps them.
pub mod limits {
    pub use crate::engine::limits::*;
}

/// Typed, versioned fields and the [`Index`] of named fields a commit snapshots.
pub mod fields {
    pub use crate::engine::fields::*;
}

/// Storage backends: where encrypted objects and refs live.
pub mod backends {
    pub use crate::engine::backend::dir::DirBackend;
    /// The seed's name for [`DirBackend`]: `Directory::new(path)?`.
    pub use crate::engine::backend::dir::DirBackend as Directory;
    pub use crate::engine::backend::faults::{Faulty, Op};
    pub use crate::engine::backend::memory::MemoryBackend;
    pub use crate::engine::backend::retry::{Retry, RetryNotify, RetryPolicy, DEFAULT_DEADLINE};
    #[cfg(feature = "s3")]
    pub use crate::engine::backend::s3::{S3Backend, S3Config, S3Credentials, DEFAULT_RESPONSE_TIMEOUT};
    pub use crate::engine::backend::{conformance, BResult, Backend, BackendError, ObjectInfo, RefVersion};
}

/// The key → value namespace the command line works on: one [`fields::VersionedMap`] of [`namespace::Entry`].
pub mod namespace {
    pub use crate::engine::namespace::*;
}

/// Progress of long operations ([`Repository::check_with`], [`Repository::gc`], tree puts and gets): implement
/// [`progress::Progress`] and pass it in the operation's options as a [`progress::ProgressSink`].
pub mod progress {
    pub use crate::engine::progress::*;
}

/// Retention policies: which commits to keep ([`retention::decide`]), applied by [`Repository::forget`].
pub mod retention {
    pub use crate::engine::retention::*;
}

/// Directory trees in and out of a [`namespace`]: stage a tree of files as keys under a prefix
/// ([`files::put_tree`]), write the keys under a prefix back out as files ([`files::get_tree`]).
pub mod files {
    pub use crate::engine::files::*;
}

/// A workspace: a local working copy of a repository in a `.infini/` directory (its configuration, HEAD, the
/// changes staged between commands, caches, and the remembered key), as the command line keeps it.
pub mod workspace {
    pub use crate::engine::workspace::*;
}

/// Read-only browsing of a repository as a file tree: branches, commits and the keys of each version laid out as
/// directories and files (what `infini mount` and `get -r --tar` serve).
pub mod browse {
    pub use crate::engine::browse::*;
}

#[doc(hidden)]
pub mod __derive {
    pub use crate::engine::fields::{ChooseStrategy, Field, Index};
}

/// The seed's error crate, for its examples' `anyhow::Result` (feature `anyhow`, part of the default features).
#[cfg(feature = "anyhow")]
pub use anyhow;

/// The README's Rust examples compile and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
