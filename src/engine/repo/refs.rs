//! Branch refs: sealed, named by a keyed hash of the branch name, replaced only by compare-and-swap.

use super::meta::{cbor, pad_to, unpad_meta};
use super::{gc, Repository};
use crate::engine::backend::{BackendError, RefVersion};
use crate::engine::crypto::Kind;
use crate::engine::format::{META_CLASS, SEAL_OVERHEAD};
use crate::engine::object::ChunkPointer;
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};

/// Contents of a branch ref.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RefValue {
    branch: String,
    head: ChunkPointer,
}

/// A branch and its head.
#[derive(Clone, Debug)]
pub struct Branch {
    /// Branch name.
    pub name: String,
    /// Head commit.
    pub head: ChunkPointer,
    /// Version of the ref, for compare-and-swap.
    pub version: RefVersion,
}

impl Repository {
    fn seal_ref(&self, name: &str, value: &RefValue) -> Result<Vec<u8>> {
        // A ref seals to exactly one META_CLASS object.
        let plain = pad_to(&cbor(value), META_CLASS - SEAL_OVERHEAD)
            .ok_or_else(|| Error::Invalid("branch name too long".into()))?;
        Ok(self.store.keys().seal(Kind::Ref, name.as_bytes(), &plain))
    }

    fn open_ref(&self, name: &str, sealed: &[u8]) -> Result<RefValue> {
        let plain = self
            .store
            .keys()
            .open(Kind::Ref, name.as_bytes(), sealed)
            .map_err(|_| Error::integrity(format!("ref {name} does not authenticate")))?;
        let body = unpad_meta(&plain).ok_or_else(|| Error::integrity(format!("ref {name} does not decode")))?;
        let v: RefValue =
            ciborium::from_reader(body).map_err(|e| Error::corrupt(format!("ref {name} does not decode"), e))?;
        if self.store.keys().ref_name(&v.branch) != name {
            return Err(Error::integrity(format!("ref {name} holds another branch's head")));
        }
        Ok(v)
    }

    /// Validate a branch name: non-empty, no whitespace or control characters, not a revision expression.
    pub fn check_branch_name(name: &str) -> Result<()> {
        let bad = name.is_empty()
            || name.len() > 255
            || name == "HEAD"
            || name.starts_with('-')
            || name.chars().any(|c| c.is_whitespace() || c.is_control() || "~^:".contains(c));
        if bad {
            return Err(Error::Invalid(format!("invalid branch name {name:?}")));
        }
        Ok(())
    }

    /// A branch's head and ref version, or `None`.
    pub fn branch(&self, name: &str) -> Result<Option<Branch>> {
        let rn = self.store.keys().ref_name(name);
        match self.backend.read_ref(&rn)? {
            None => Ok(None),
            Some((data, version)) => {
                let v = self.open_ref(&rn, &data)?;
                Ok(Some(Branch { name: v.branch, head: v.head, version }))
            }
        }
    }

    /// All branches, sorted by name.
    pub fn branches(&self) -> Result<Vec<Branch>> {
        let mut out = Vec::new();
        let gc_ref = self.store.keys().ref_name(gc::GC_REF);
        for rn in self.backend.list_refs()? {
            if rn == gc_ref {
                continue;
            }
            if let Some((data, version)) = self.backend.read_ref(&rn)? {
                let v = self.open_ref(&rn, &data)?;
                out.push(Branch { name: v.branch, head: v.head, version });
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Create a branch at `head`; [`Error::Conflict`] if it exists.
    pub fn create_branch(&self, name: &str, head: &ChunkPointer) -> Result<Branch> {
        Self::check_branch_name(name)?;
        self.store.flush()?;
        let rn = self.store.keys().ref_name(name);
        let sealed = self.seal_ref(&rn, &RefValue { branch: name.into(), head: *head })?;
        match self.backend.swap_ref(&rn, None, &sealed) {
            Ok(version) => Ok(Branch { name: name.into(), head: *head, version }),
            Err(BackendError::PreconditionFailed { .. }) => {
                Err(Error::Conflict { what: format!("branch {name} already exists") })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Move a branch from `expected` to `head` with compare-and-swap. `Ok(None)` when another writer won.
    pub fn swap_branch(
        &self,
        name: &str,
        expected: Option<&RefVersion>,
        head: &ChunkPointer,
    ) -> Result<Option<RefVersion>> {
        // Write ordering: everything the new head points at must be durable before the ref moves.
        self.store.flush()?;
        let rn = self.store.keys().ref_name(name);
        let sealed = self.seal_ref(&rn, &RefValue { branch: name.into(), head: *head })?;
        match self.backend.swap_ref(&rn, expected, &sealed) {
            Ok(v) => Ok(Some(v)),
            Err(BackendError::PreconditionFailed { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Delete a branch.
    pub fn delete_branch(&self, name: &str) -> Result<()> {
        if self.branch(name)?.is_none() {
            return Err(Error::not_found(format!("branch {name}")));
        }
        self.backend.delete_ref(&self.store.keys().ref_name(name))?;
        Ok(())
    }
}
