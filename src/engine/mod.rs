//! The storage engine: backends, keys and encryption, chunking, packs, the versioned index and repositories.
//!
//! Everything here is independent of the command line; the `infini` binary is one user of it.

pub mod backend;
pub mod browse;
pub mod cache;
pub mod chunk;
pub mod crypto;
pub mod db;
pub mod error;
pub mod fields;
pub mod files;
pub mod format;
#[cfg(test)]
mod fuzz;
pub mod id;
pub mod location;
pub mod namespace;
pub mod object;
pub mod progress;
pub mod repo;
pub mod tree;
pub mod workspace;

pub use error::{Error, Result};
