//! [`Location`]: where a repository lives, so that a program opens one in a single call.
//!
//! ```no_run
//! use infini::{fields::VersionedMap, Infinitree, Location, Repository};
//! # fn main() -> infini::Result<()> {
//! let repo = Repository::open_at(&Location::Dir("/srv/state".into()), b"secret")?;
//! let tree = Infinitree::<VersionedMap<String, u64>>::open(repo, "main")?;
//! # Ok(()) }
//! ```

use crate::engine::backend::dir::DirBackend;
use crate::engine::backend::memory::MemoryBackend;
use crate::engine::backend::Backend;
use crate::engine::crypto::KdfParams;
use crate::engine::object::StoreOptions;
use crate::engine::repo::Repository;
use crate::engine::Result;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a repository lives.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Location {
    /// A local directory (created if missing).
    Dir(PathBuf),
    /// A new, empty in-memory store (for tests and scratch work; gone when the last handle drops).
    Memory,
    /// An S3 bucket and prefix.
    #[cfg(feature = "s3")]
    S3(crate::engine::backend::s3::S3Config),
}

impl Location {
    /// Connect to the storage.
    pub fn backend(&self) -> Result<Arc<dyn Backend>> {
        Ok(match self {
            Location::Dir(p) => Arc::new(DirBackend::new(p.clone())?),
            Location::Memory => Arc::new(MemoryBackend::new()),
            #[cfg(feature = "s3")]
            Location::S3(cfg) => Arc::new(crate::engine::backend::s3::S3Backend::open(cfg.clone())?),
        })
    }
}

impl Repository {
    /// Create a repository at `location`, protected by `password`, with default key derivation and store options.
    pub fn create_at(location: &Location, password: &[u8]) -> Result<Repository> {
        Repository::create(location.backend()?, password, KdfParams::default(), StoreOptions::default())
    }

    /// Open the repository at `location` with `password`, with default store options.
    pub fn open_at(location: &Location, password: &[u8]) -> Result<Repository> {
        Repository::open(location.backend()?, password, StoreOptions::default())
    }
}
