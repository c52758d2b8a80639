//! The storage engine: backends, keys and encryption, chunking, packs, the versioned index and repositories.
//!
//! Everything here is independent of the command line; the `infini` binary is one user of it.

pub mod backend;
pub mod browse;
pub mod cache;
pub mod chunk;
pub mod credentials;
pub mod crypto;
pub mod db;
pub mod error;
pub mod fields;
pub mod files;
pub mod format;
#[cfg(test)]
mod fuzz;
pub mod id;
pub mod limits;
pub(crate) mod local_file;
pub mod location;
pub mod namespace;
pub mod object;
pub mod progress;
pub mod repo;
pub mod retention;
pub mod tree;
pub mod workspace;

pub use error::{Error, Result};

/// The cores this process may use, asked of the system once: `available_parallelism` reads the cgroup files under
/// `/proc` on every call, which a value-by-value writer would otherwise pay for each value.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2))
}
