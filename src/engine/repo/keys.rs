//! Key slots: the master key wrapped under each password, stored as padded metadata under `keys/`.

use super::header::read_config;
use super::meta::{cbor, pad_meta, unpad_meta};
use super::Repository;
use crate::engine::backend::Backend;
use crate::engine::crypto::{KdfParams, KeySlot, MasterKey};
use crate::engine::{Error, Result};

/// List the key slots of a repository (readable without a key).
pub fn key_slots(backend: &dyn Backend) -> Result<Vec<(String, KeySlot)>> {
    let mut out = Vec::new();
    for o in backend.list("keys/")? {
        let raw = backend.read(&o.name)?;
        let body = unpad_meta(&raw).ok_or_else(|| Error::integrity(format!("key slot {} does not decode", o.name)))?;
        let slot: KeySlot = ciborium::from_reader(body)
            .map_err(|e| Error::corrupt(format!("key slot {} does not decode", o.name), e))?;
        out.push((o.name, slot));
    }
    Ok(out)
}

impl Repository {
    /// The key slots of the repository in `backend`, by name (readable without a key: the slots hold no secret
    /// in the clear).
    pub fn key_slots(backend: &dyn Backend) -> Result<Vec<(String, KeySlot)>> {
        key_slots(backend)
    }

    /// Recover the master key with a password.
    pub fn unlock(backend: &dyn Backend, password: &[u8]) -> Result<MasterKey> {
        Self::unlock_slot(backend, password).map(|(_, k)| k)
    }

    /// Recover the master key with a password, and say which key slot opened.
    pub fn unlock_slot(backend: &dyn Backend, password: &[u8]) -> Result<(String, MasterKey)> {
        read_config(backend)?;
        let slots = key_slots(backend)?;
        if slots.is_empty() {
            return Err(Error::WrongPassword);
        }
        for (name, slot) in slots {
            match slot.open(password) {
                Ok(k) => return Ok((name, k)),
                Err(Error::WrongPassword) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::WrongPassword)
    }

    /// Add a key slot for another password.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<String> {
        let slot = KeySlot::create(self.store.keys().master(), password, kdf)?;
        let name = format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>()));
        self.backend.write(&name, &pad_meta(&cbor(&slot))?)?;
        Ok(name)
    }

    /// Remove a key slot; refuses to remove the last one.
    pub fn remove_key(&self, name: &str) -> Result<()> {
        let slots = key_slots(&*self.backend)?;
        if !slots.iter().any(|(n, _)| n == name) {
            return Err(Error::not_found(format!("key {name}")));
        }
        if slots.len() == 1 {
            return Err(Error::Invalid("refusing to remove the last key".into()));
        }
        self.backend.delete(name)?;
        Ok(())
    }
}
