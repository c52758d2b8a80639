//! Key slots: the master key wrapped under each password, bound to the repository and the slot's name, stored as
//! padded metadata under `keys/`.

use super::header::read_config;
use super::Repository;
use crate::engine::backend::Backend;
use crate::engine::crypto::{decode_slot, KdfParams, KeySlot, MasterKey};
use crate::engine::format::META_CLASS;
use crate::engine::{Error, Result};

/// The key slots of a repository (readable without a key): those that decode, and `(name, why)` for those that
/// do not, which are skipped.
pub struct KeySlots {
    /// Usable slots, by object name.
    pub slots: Vec<(String, KeySlot)>,
    /// Slots that could not be used, with the reason.
    pub damaged: Vec<(String, String)>,
}

/// List the key slots of a repository (readable without a key).
pub(crate) fn key_slots(backend: &dyn Backend) -> Result<KeySlots> {
    let mut out = KeySlots { slots: Vec::new(), damaged: Vec::new() };
    for o in backend.list("keys/")? {
        if o.size != META_CLASS as u64 {
            out.damaged.push((o.name, format!("has {} bytes, not {META_CLASS}", o.size)));
            continue;
        }
        let raw = backend.read(&o.name)?;
        match decode_slot(&raw) {
            Ok(slot) => out.slots.push((o.name, slot)),
            Err(why) => out.damaged.push((o.name, why)),
        }
    }
    Ok(out)
}

/// A master key recovered from a key slot.
pub struct Unlocked {
    /// The slot that opened.
    pub slot: String,
    /// The master key.
    pub key: MasterKey,
    /// Slots skipped because they could not be used, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Repository {
    /// The key slots of the repository in `backend`, by name (readable without a key: the slots hold no secret
    /// in the clear).
    pub fn key_slots(backend: &dyn Backend) -> Result<KeySlots> {
        key_slots(backend)
    }

    /// Recover the master key with a password.
    pub fn unlock(backend: &dyn Backend, password: &[u8]) -> Result<MasterKey> {
        Self::unlock_slot(backend, password).map(|(_, k)| k)
    }

    /// Recover the master key with a password, and say which key slot opened.
    pub fn unlock_slot(backend: &dyn Backend, password: &[u8]) -> Result<(String, MasterKey)> {
        Self::unlock_report(backend, password).map(|u| (u.slot, u.key))
    }

    /// Recover the master key with a password, trying every usable key slot; slots that cannot be used are skipped
    /// and listed in the result. [`Error::WrongPassword`] when no slot opens; an integrity error naming the header
    /// when none opens but the password opens a slot for the repository id that slot records (the header, `config`,
    /// was taken from another repository).
    pub fn unlock_report(backend: &dyn Backend, password: &[u8]) -> Result<Unlocked> {
        Self::unlock_with(backend, password, &mut |_, _| {})
    }

    /// [`Repository::unlock_report`], telling `tried` how long each slot tried took (a slot's scrypt parameters
    /// are bounded by [`KdfParams::validate`], but a slot near the bound still takes seconds: a caller can say
    /// which).
    pub fn unlock_with(
        backend: &dyn Backend,
        password: &[u8],
        tried: &mut dyn FnMut(&str, std::time::Duration),
    ) -> Result<Unlocked> {
        let config = read_config(backend)?;
        let KeySlots { slots, mut damaged } = key_slots(backend)?;
        let mut foreign = None;
        for (name, slot) in slots {
            let start = std::time::Instant::now();
            let opened = slot.open(password, &config.id, &name);
            tried(&name, start.elapsed());
            match opened {
                Ok(key) => return Ok(Unlocked { slot: name, key, skipped: damaged }),
                Err(Error::WrongPassword) => continue,
                Err(e @ Error::Integrity { .. }) if slot.made_for().is_some_and(|id| id != config.id) => {
                    foreign.get_or_insert(e);
                }
                Err(e) => damaged.push((name, e.to_string())),
            }
        }
        Err(foreign.unwrap_or(Error::WrongPassword))
    }

    /// Add a key slot for another password.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<String> {
        let name = format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>()));
        let slot = KeySlot::create(self.store.keys(), password, kdf, &self.config.id, &name)?;
        self.backend.write(&name, &slot.encode()?)?;
        Ok(name)
    }

    /// Remove a key slot; refuses to remove the last one.
    pub fn remove_key(&self, name: &str) -> Result<()> {
        let slots = key_slots(&*self.backend)?;
        if !slots.slots.iter().any(|(n, _)| n == name) && !slots.damaged.iter().any(|(n, _)| n == name) {
            return Err(Error::not_found(format!("key {name}")));
        }
        if slots.slots.len() == 1 && slots.slots[0].0 == name {
            return Err(Error::Invalid("refusing to remove the last key".into()));
        }
        self.backend.delete(name)?;
        Ok(())
    }
}
