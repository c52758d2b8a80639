//! The public repository header (`config`): format version, repository id, creation time.

use super::meta::unpad_meta;
use super::Repository;
use crate::engine::backend::{Backend, BackendError};
use crate::engine::format::{CONFIG_MAGIC, FORMAT_VERSION};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};

/// The public repository header, stored unencrypted as `config`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    /// Format version.
    pub version: u32,
    /// Random repository id.
    #[serde(with = "serde_bytes")]
    pub id: Vec<u8>,
    /// Creation time, seconds since the epoch.
    pub created: u64,
}

pub(super) fn read_config(backend: &dyn Backend) -> Result<Config> {
    let raw = backend.read("config").map_err(|e| match e {
        BackendError::NotFound { .. } => {
            Error::NoRepository { what: format!("no infini repository at {}", backend.describe()) }
        }
        e => e.into(),
    })?;
    let body = unpad_meta(&raw).ok_or_else(|| Error::integrity("repository header is truncated"))?;
    let body = body
        .strip_prefix(CONFIG_MAGIC.as_slice())
        .ok_or_else(|| Error::NoRepository { what: format!("{} is not an infini repository", backend.describe()) })?;
    let c: Config = ciborium::from_reader(body).map_err(|e| Error::corrupt("repository header", e))?;
    if c.version != FORMAT_VERSION {
        return Err(Error::NoRepository {
            what: format!(
                "{} has repository format version {}; this infini reads only version {FORMAT_VERSION}",
                backend.describe(),
                c.version
            ),
        });
    }
    Ok(c)
}

impl Repository {
    /// Read a repository's public header without opening it.
    pub fn header(backend: &dyn Backend) -> Result<Config> {
        read_config(backend)
    }
}
