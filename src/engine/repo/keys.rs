//! Key slots: the master key wrapped under each password, bound to the repository and the slot's name, stored as
//! padded metadata under `keys/`.

use super::header::read_config;
use super::Repository;
use crate::engine::backend::Backend;
use crate::engine::crypto::{decode_slot, KdfParams, KeySlot, Keys, MasterKey, SlotKey};
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

/// A 256-bit key held outside the repository (in a KMS or a secret manager) that opens a key slot of its own
/// without the password KDF: a *slot-wrapping* key, not the master key. Add its slot with
/// [`Repository::add_raw_key`], open with [`Repository::open_with_raw_key`], revoke it with
/// [`Repository::remove_key`]. It MUST be 32 bytes from a cryptographic random source (what a KMS's
/// generate-data-key returns): its slot has no KDF to slow down guessing, so a password here would be weak.
/// Zeroized on drop; no `Debug`, `Clone` or `Copy`.
pub struct RawKey(zeroize::Zeroizing<[u8; 32]>);

impl RawKey {
    /// A fresh random key (to hand to the KMS or secret manager that will keep it).
    pub fn generate() -> Self {
        Self(zeroize::Zeroizing::new(crate::engine::crypto::random_bytes()))
    }

    /// The key as fetched from where it is kept; the argument is wiped.
    pub fn from_bytes(mut b: [u8; 32]) -> Self {
        let k = Self(zeroize::Zeroizing::new(b));
        zeroize::Zeroize::zeroize(&mut b);
        k
    }

    /// The raw bytes (to store them in the KMS or secret manager).
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// The scrypt parameters of a raw-key slot: the least work scrypt allows. The key's 256 random bits, not the
/// derivation, are what make guessing infeasible; these parameters also mark the slot as one to try with a raw key.
pub const RAW_KEY_KDF: KdfParams = KdfParams { log_n: 1, r: 1, p: 1 };

/// A master key recovered from a key slot.
pub struct Unlocked {
    /// The slot that opened.
    pub slot: String,
    /// The master key.
    pub key: MasterKey,
    /// Slots skipped because they could not be used, with the reason.
    pub skipped: Vec<(String, String)>,
}

/// A key recovered from a key slot: the master key or a write-only key's key set.
pub struct UnlockedAny {
    /// The slot that opened.
    pub slot: String,
    /// What it opened to.
    pub key: SlotKey,
    /// A write-only key's name (`None` for a full key).
    pub writer: Option<String>,
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
        let u = Self::unlock_any_with(backend, password, tried)?;
        match u.key {
            SlotKey::Master(key) => Ok(Unlocked { slot: u.slot, key, skipped: u.skipped }),
            SlotKey::Writer(_) => Err(Error::WriteOnly {
                what: format!(
                    "opening the repository with a full key (the password opens write-only key {})",
                    u.writer.as_deref().unwrap_or(&u.slot)
                ),
            }),
        }
    }

    /// [`Repository::unlock_with`] for either kind of key: the master key, or a write-only key's key set (see
    /// docs/design.md, *Write-only keys*).
    pub fn unlock_any_with(
        backend: &dyn Backend,
        password: &[u8],
        tried: &mut dyn FnMut(&str, std::time::Duration),
    ) -> Result<UnlockedAny> {
        let config = read_config(backend)?;
        let KeySlots { slots, mut damaged } = key_slots(backend)?;
        let mut foreign = None;
        for (name, slot) in slots {
            let start = std::time::Instant::now();
            let opened = slot.open_any(password, &config.id, &name);
            tried(&name, start.elapsed());
            match opened {
                Ok(key) => {
                    let writer = match &key {
                        SlotKey::Writer(set) => Some(
                            slot.info(&Keys::writer(set), &config.id, &name)
                                .and_then(|i| i.name)
                                .unwrap_or_else(|| name.clone()),
                        ),
                        SlotKey::Master(_) => None,
                    };
                    return Ok(UnlockedAny { slot: name, key, writer, skipped: damaged });
                }
                Err(Error::WrongPassword) => continue,
                Err(e @ Error::Integrity { .. }) if slot.made_for().is_some_and(|id| id != config.id) => {
                    foreign.get_or_insert(e);
                }
                Err(e) => damaged.push((name, e.to_string())),
            }
        }
        Err(foreign.unwrap_or(Error::WrongPassword))
    }

    /// Add a key slot opened by `key` (a [`RawKey`] kept in a KMS or secret manager) without the password KDF.
    /// Returns the slot's name, which [`Repository::remove_key`] takes to revoke it.
    pub fn add_raw_key(&self, key: &RawKey) -> Result<String> {
        self.refuse_write_only("adding a key")?;
        let name = format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>()));
        let slot = KeySlot::create(self.store.keys(), key.expose(), RAW_KEY_KDF, &self.config.id, &name)?;
        self.backend.write(&name, &slot.encode()?)?;
        Ok(name)
    }

    /// Recover the master key with a [`RawKey`], trying only the raw-key slots (no password slot's KDF is paid).
    /// [`Error::WrongPassword`] when none opens.
    pub fn unlock_raw(backend: &dyn Backend, key: &RawKey) -> Result<MasterKey> {
        let config = read_config(backend)?;
        for (name, slot) in key_slots(backend)?.slots {
            if slot.kdf != RAW_KEY_KDF {
                continue;
            }
            match slot.open(key.expose(), &config.id, &name) {
                Ok(k) => return Ok(k),
                Err(Error::WrongPassword) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::WrongPassword)
    }

    /// Open with a [`RawKey`] from a KMS or secret manager instead of a password: opens in milliseconds, with no
    /// password KDF (see docs/library.md, *Opening without a password*).
    pub fn open_with_raw_key(
        backend: std::sync::Arc<dyn Backend>,
        key: &RawKey,
        opts: crate::engine::object::StoreOptions,
    ) -> Result<Self> {
        let master = Self::unlock_raw(&*backend, key)?;
        Self::with_key(backend, master, opts)
    }

    /// Add a write-only key (see docs/design.md, *Write-only keys*): a slot opened by `password` that can put and
    /// commit but read nothing, listed as `name`. Needs the full key. Returns the slot's name.
    pub fn add_writer_key(&self, password: &[u8], kdf: KdfParams, name: &str) -> Result<String> {
        self.refuse_write_only("adding a key")?;
        if name.is_empty() || name.len() > 256 || name.chars().any(char::is_control) {
            return Err(Error::Invalid(format!("invalid write-only key name {name:?} (1-256 printable characters)")));
        }
        let slot_name = format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>()));
        let slot = KeySlot::create_writer(self.store.keys(), password, kdf, &self.config.id, &slot_name, name)?;
        self.backend.write(&slot_name, &slot.encode()?)?;
        Ok(slot_name)
    }

    /// Add a key slot for another password.
    pub fn add_key(&self, password: &[u8], kdf: KdfParams) -> Result<String> {
        self.refuse_write_only("adding a key")?;
        let name = format!("keys/{}", hex::encode(crate::engine::crypto::random_bytes::<16>()));
        let slot = KeySlot::create(self.store.keys(), password, kdf, &self.config.id, &name)?;
        self.backend.write(&name, &slot.encode()?)?;
        Ok(name)
    }

    /// Remove a key slot; refuses to remove the last one.
    pub fn remove_key(&self, name: &str) -> Result<()> {
        self.refuse_write_only("removing a key")?;
        let slots = key_slots(&*self.backend)?;
        if !slots.slots.iter().any(|(n, _)| n == name) && !slots.damaged.iter().any(|(n, _)| n == name) {
            return Err(Error::not_found(format!("key {name}")));
        }
        let full: Vec<&String> = slots.slots.iter().filter(|(_, s)| !s.is_write_only()).map(|(n, _)| n).collect();
        if full.len() == 1 && full[0] == name {
            return Err(Error::Invalid("refusing to remove the last key that can read".into()));
        }
        self.backend.delete(name)?;
        Ok(())
    }
}
