//! The public repository header (`config`): format version, repository id, creation time; authenticated once the
//! key is known.

use super::Repository;
use crate::engine::backend::{Backend, BackendError};
use crate::engine::crypto::{decode_header, HeaderError};
use crate::engine::format::FORMAT_VERSION;
use crate::engine::{Error, Result};

/// The public repository header, stored unencrypted as `config` and authenticated once the key is known.
pub use crate::engine::crypto::Header as Config;

pub(super) fn read_config(backend: &dyn Backend) -> Result<Config> {
    let raw = backend.read("config").map_err(|e| match e {
        BackendError::NotFound { .. } => {
            Error::NoRepository { what: format!("no infini repository at {}", backend.describe()) }
        }
        e => e.into(),
    })?;
    decode_header(&raw).map_err(|e| match e {
        HeaderError::NotInfini => {
            Error::NoRepository { what: format!("{} is not an infini repository", backend.describe()) }
        }
        HeaderError::Damaged(why) => Error::integrity(format!("repository header {why}")),
        HeaderError::Version(v) => Error::NoRepository {
            what: format!(
                "{} has repository format version {v}; this infini reads only version {FORMAT_VERSION}",
                backend.describe()
            ),
        },
    })
}

impl Repository {
    /// Read a repository's public header without opening it.
    pub fn header(backend: &dyn Backend) -> Result<Config> {
        read_config(backend)
    }
}
