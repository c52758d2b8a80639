//! Key slots: the master key wrapped under a password-derived key (scrypt), stored in the clear under `keys/`.
//!
//! A slot is untrusted input until its password opens it: its scrypt parameters are checked against hard limits
//! before any memory is allocated for the derivation, and a slot that does not decode is reported and skipped, never
//! allowed to stop the others from being tried. The wrapped key is bound to the repository id and the slot's own
//! name through associated data, so a slot copied from another repository or renamed fails to open.

use super::{ad, open, random_bytes, seal, Keys, Kind, MasterKey, SubKey, WriterKeySet};
use crate::engine::format::{META_CLASS, SEAL_OVERHEAD};
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Version of the key slot format written by this build for a full key (the master key).
pub const SLOT_VERSION: u32 = 2;

/// Version of a write-only key slot: it wraps a [`WriterKeySet`], never the master key.
pub const WRITER_SLOT_VERSION: u32 = 3;

/// Most bytes a writer slot's wrapped key set may take.
const WRITER_WRAPPED_MAX: usize = 256;

/// scrypt cost parameters, stored in each key slot.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct KdfParams {
    /// log2 of N.
    pub log_n: u8,
    /// Block size.
    pub r: u32,
    /// Parallelism.
    pub p: u32,
}

impl Default for KdfParams {
    /// N = 2^17, r = 8, p = 1: 128 MiB and roughly half a second here.
    fn default() -> Self {
        Self { log_n: 17, r: 8, p: 1 }
    }
}

/// Why scrypt parameters were refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("scrypt parameters log_n={log_n}, r={r}, p={p} {why}")]
pub struct KdfParamsError {
    log_n: u8,
    r: u32,
    p: u32,
    why: &'static str,
}

impl KdfParams {
    /// Most memory a derivation may need (`128 · r · 2^log_n` bytes): 1 GiB, eight times the default.
    pub const MAX_MEMORY: u64 = 1 << 30;
    /// Largest accepted parallelism (work grows linearly with it).
    pub const MAX_P: u32 = 16;
    /// Largest accepted block size.
    pub const MAX_R: u32 = 64;
    /// Smallest `log_n` a new slot gets without the caller explicitly asking for a weak one.
    pub const MIN_LOG_N: u8 = 15;
    /// Most work a derivation may take, in scrypt block mixes (`r · p · 2^log_n`): eight times the default, a few
    /// seconds here. Memory alone does not bound the time: log_n=22, r=2, p=16 needs 1 GiB, inside
    /// [`KdfParams::MAX_MEMORY`], but 128 times the default's work (over a minute and a half per try).
    pub const MAX_WORK: u64 = 1 << 23;

    /// Check the parameters against the limits above, before anything is allocated for them.
    pub fn validate(&self) -> std::result::Result<(), KdfParamsError> {
        let err = |why| Err(KdfParamsError { log_n: self.log_n, r: self.r, p: self.p, why });
        if self.log_n == 0 || self.log_n > 40 {
            return err("are out of range");
        }
        if self.r == 0 || self.r > Self::MAX_R || self.p == 0 || self.p > Self::MAX_P {
            return err("are out of range");
        }
        // log_n <= 40 and r <= 64: the product fits in u64 comfortably.
        let memory = 128u64 * u64::from(self.r) * (1u64 << self.log_n);
        if memory > Self::MAX_MEMORY {
            return err("need more than 1 GiB of memory");
        }
        // r <= 64, p <= 16, log_n <= 40: fits in u64.
        let work = u64::from(self.r) * u64::from(self.p) * (1u64 << self.log_n);
        if work > Self::MAX_WORK {
            return err("need more than eight times the default work (r · p · 2^log_n above 2^23)");
        }
        Ok(())
    }

    /// Whether these parameters are below what a real repository should use.
    pub fn is_weak(&self) -> bool {
        self.log_n < Self::MIN_LOG_N
    }

    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<SubKey> {
        self.validate().map_err(|e| Error::integrity(e.to_string()))?;
        let params = scrypt::Params::new(self.log_n, self.r, self.p, 32)
            .map_err(|e| Error::integrity(format!("invalid key slot parameters: {e}")))?;
        let mut out = super::secret_box();
        scrypt::scrypt(password, salt, &params, &mut **out)
            .map_err(|e| Error::integrity(format!("key derivation failed: {e}")))?;
        Ok(SubKey(out))
    }
}

/// When and where a slot was made; sealed with the repository key, so storage does not reveal it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SlotInfo {
    /// Seconds since the epoch.
    pub created: u64,
    /// Host that made it.
    pub host: String,
    /// The name given to a write-only key (`key add --write-only --name NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Whether the slot is a write-only key's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub write_only: bool,
}

/// What a key slot opens to.
pub enum SlotKey {
    /// The master key: reads and writes everything.
    Master(MasterKey),
    /// A write-only key's key set.
    Writer(WriterKeySet),
}

/// A password-protected copy of the master key, readable without a key except for its wrapped key and its
/// [`SlotInfo`]. Its CBOR is stored as `len:u32 || CBOR || zeros` padded to 4096 bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeySlot {
    /// Format version of the slot.
    pub version: u32,
    /// scrypt parameters.
    pub kdf: KdfParams,
    /// scrypt salt (32 bytes).
    #[serde(with = "serde_bytes")]
    salt: Vec<u8>,
    /// The master key sealed under the password-derived key, bound to the repository id and slot name.
    #[serde(with = "serde_bytes")]
    wrapped: Vec<u8>,
    /// [`SlotInfo`] sealed with the repository's metadata key.
    #[serde(with = "serde_bytes")]
    info: Vec<u8>,
    /// The id of the repository the slot was made for, in the clear (as public as the header that holds it): a
    /// password that opens the slot under this id but not under the header's shows a header taken from another
    /// repository. Empty in slots written before it was recorded.
    #[serde(with = "serde_bytes", default, skip_serializing_if = "Vec::is_empty")]
    repo: Vec<u8>,
}

/// Associated-data place of a slot: `repository id || slot name`.
fn slot_place(repo_id: &[u8], name: &str) -> Vec<u8> {
    let mut p = repo_id.to_vec();
    p.extend_from_slice(name.as_bytes());
    p
}

fn info_place(repo_id: &[u8], name: &str) -> Vec<u8> {
    let mut p = b"info/".to_vec();
    p.extend_from_slice(&slot_place(repo_id, name));
    p
}

impl KeySlot {
    /// Wrap the master key of `keys` under `password`, for the slot named `name` of repository `repo_id`.
    /// Parameters beyond the limits are refused; weak ones are the caller's decision (see [`KdfParams::is_weak`]).
    pub fn create(keys: &Keys, password: &[u8], kdf: KdfParams, repo_id: &[u8], name: &str) -> Result<Self> {
        kdf.validate().map_err(|e| Error::Invalid(e.to_string()))?;
        let salt: [u8; 32] = random_bytes();
        let k = kdf.derive(password, &salt)?;
        let place = slot_place(repo_id, name);
        let master = keys.master().ok_or_else(|| Error::WriteOnly { what: "adding a key".into() })?;
        let wrapped = seal(&k, &ad(Kind::KeySlot, &place), master.expose(), random_bytes());
        let meta = SlotInfo { created: super::now_secs(), host: super::hostname(), name: None, write_only: false };
        Ok(Self::assemble(keys, SLOT_VERSION, kdf, salt, wrapped, &meta, repo_id, name))
    }

    /// A write-only key's slot: wraps the [`WriterKeySet`] of `keys` (a full key's) under `password`; `writer` is
    /// the name it is listed and its commits are attributed by.
    pub fn create_writer(
        keys: &Keys,
        password: &[u8],
        kdf: KdfParams,
        repo_id: &[u8],
        name: &str,
        writer: &str,
    ) -> Result<Self> {
        kdf.validate().map_err(|e| Error::Invalid(e.to_string()))?;
        if keys.is_write_only() {
            return Err(Error::WriteOnly { what: "adding a key".into() });
        }
        let set = keys.writer_set();
        let salt: [u8; 32] = random_bytes();
        let k = kdf.derive(password, &salt)?;
        let wrapped = seal(&k, &ad(Kind::KeySlot, &slot_place(repo_id, name)), &set.encode(), random_bytes());
        let meta = SlotInfo {
            created: super::now_secs(),
            host: super::hostname(),
            name: Some(writer.to_string()),
            write_only: true,
        };
        Ok(Self::assemble(keys, WRITER_SLOT_VERSION, kdf, salt, wrapped, &meta, repo_id, name))
    }

    #[allow(clippy::too_many_arguments)]
    fn assemble(
        keys: &Keys,
        version: u32,
        kdf: KdfParams,
        salt: [u8; 32],
        wrapped: Vec<u8>,
        meta: &SlotInfo,
        repo_id: &[u8],
        name: &str,
    ) -> Self {
        let mut info = Vec::new();
        ciborium::into_writer(meta, &mut info).expect("CBOR encoding into memory cannot fail");
        let info = keys.seal(Kind::KeySlot, &info_place(repo_id, name), &info);
        Self { version, kdf, salt: salt.to_vec(), wrapped, info, repo: repo_id.to_vec() }
    }

    /// Whether this is a write-only key's slot.
    pub fn is_write_only(&self) -> bool {
        self.version == WRITER_SLOT_VERSION
    }

    /// Unwrap the master key; [`Error::WrongPassword`] if the password does not fit (or the slot belongs to another
    /// repository or name).
    ///
    /// When the password does not open the slot for `repo_id` but does for the repository id the slot records (see
    /// [`KeySlot::made_for`]), the header naming `repo_id` is another repository's: an integrity error naming it.
    pub fn open(&self, password: &[u8], repo_id: &[u8], name: &str) -> Result<MasterKey> {
        match self.open_any(password, repo_id, name)? {
            SlotKey::Master(k) => Ok(k),
            SlotKey::Writer(_) => Err(Error::WriteOnly { what: format!("opening key slot {name} as a full key") }),
        }
    }

    /// [`KeySlot::open`] for either kind of slot: the master key, or a write-only key's key set.
    pub fn open_any(&self, password: &[u8], repo_id: &[u8], name: &str) -> Result<SlotKey> {
        let k = self.kdf.derive(password, &self.salt)?;
        let place = slot_place(repo_id, name);
        let raw = match open(&k, &ad(Kind::KeySlot, &place), &self.wrapped) {
            Ok(raw) => Zeroizing::new(raw),
            Err(_) if !self.repo.is_empty() && self.repo != repo_id => {
                // The derivation is the expensive part; a second authentication costs nothing.
                let theirs = slot_place(&self.repo, name);
                if open(&k, &ad(Kind::KeySlot, &theirs), &self.wrapped).is_ok() {
                    return Err(Error::integrity(format!(
                        "repository header (config) is another repository's: it names repository {}, but the \
                         password opens key slot {name} of repository {}",
                        hex::encode(&repo_id[..repo_id.len().min(8)]),
                        hex::encode(&self.repo[..self.repo.len().min(8)])
                    )));
                }
                return Err(Error::WrongPassword);
            }
            Err(_) => return Err(Error::WrongPassword),
        };
        let malformed = || Error::integrity(format!("key slot {name} holds a malformed key"));
        if self.is_write_only() {
            return WriterKeySet::decode(&raw).map(SlotKey::Writer).ok_or_else(malformed);
        }
        MasterKey::from_slice(&raw).map(SlotKey::Master).ok_or_else(malformed)
    }

    /// The id of the repository the slot says it was made for (`None` in slots that do not record it). Only a
    /// claim: the slot opens for the id it is bound to through associated data, whatever this says.
    pub fn made_for(&self) -> Option<&[u8]> {
        (!self.repo.is_empty()).then_some(self.repo.as_slice())
    }

    /// When and where the slot was made, if `keys` opens it.
    pub fn info(&self, keys: &Keys, repo_id: &[u8], name: &str) -> Option<SlotInfo> {
        let plain = keys.open(Kind::KeySlot, &info_place(repo_id, name), &self.info).ok()?;
        ciborium::from_reader(plain.as_slice()).ok()
    }

    /// When and where the slot was made, readable with the repository's master key (e.g. the one a workspace
    /// holds); `None` when the key does not open it.
    pub fn info_with(&self, key: &MasterKey, repo_id: &[u8], name: &str) -> Option<SlotInfo> {
        self.info(&Keys::new(MasterKey::from_bytes(**key.0)), repo_id, name)
    }

    /// The slot's stored form: `len:u32 || CBOR || zeros`, 4096 bytes.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut body = Vec::new();
        ciborium::into_writer(self, &mut body).expect("CBOR encoding into memory cannot fail");
        super::header::pad_meta(&body)
    }
}

/// Decode a stored key slot and check it before use: version, salt and key lengths, and scrypt parameters within
/// [`KdfParams::validate`]'s limits. Allocates nothing beyond the 4096-byte input's size.
pub fn decode_slot(raw: &[u8]) -> std::result::Result<KeySlot, String> {
    if raw.len() != META_CLASS {
        return Err(format!("has {} bytes, not {META_CLASS}", raw.len()));
    }
    let body = super::header::unpad_meta(raw).ok_or("is truncated")?;
    let slot: KeySlot = ciborium::from_reader(body).map_err(|e| format!("does not decode: {e}"))?;
    let wrapped_ok = match slot.version {
        SLOT_VERSION => slot.wrapped.len() == 32 + SEAL_OVERHEAD,
        WRITER_SLOT_VERSION => slot.wrapped.len() > SEAL_OVERHEAD && slot.wrapped.len() <= WRITER_WRAPPED_MAX,
        v => {
            return Err(format!(
                "has format version {v}; this build reads versions {SLOT_VERSION} and {WRITER_SLOT_VERSION}"
            ))
        }
    };
    if slot.salt.len() != 32 || !wrapped_ok || slot.repo.len() > 64 {
        return Err("is malformed".into());
    }
    slot.kdf.validate().map_err(|e| e.to_string())?;
    Ok(slot)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::new(MasterKey::generate())
    }

    const CHEAP: KdfParams = KdfParams { log_n: 10, r: 8, p: 1 };

    #[test]
    fn a_writer_slot_opens_to_the_writer_key_set_and_nothing_stored_with_it_makes_it_a_reader() {
        let k = keys();
        let slot = KeySlot::create_writer(&k, b"ci", CHEAP, b"repo-a", "keys/w", "ci-runner").unwrap();
        assert!(slot.is_write_only());
        let decoded = decode_slot(&slot.encode().unwrap()).unwrap();
        let Ok(SlotKey::Writer(set)) = decoded.open_any(b"ci", b"repo-a", "keys/w") else { panic!("a writer key set") };
        let w = Keys::writer(&set);
        assert!(w.is_write_only() && w.master().is_none());
        assert_eq!(slot.info(&w, b"repo-a", "keys/w").unwrap().name.as_deref(), Some("ci-runner"));
        assert!(matches!(decoded.open(b"ci", b"repo-a", "keys/w"), Err(Error::WriteOnly { .. })));
        // Relabelled as a full key's slot, it does not even decode (its wrapped key is no master key).
        let mut relabelled = decoded.clone();
        relabelled.version = SLOT_VERSION;
        assert!(decode_slot(&relabelled.encode().unwrap()).is_err());
        // A writer cannot add slots of either kind.
        assert!(matches!(KeySlot::create(&w, b"x", CHEAP, b"repo-a", "keys/x"), Err(Error::WriteOnly { .. })));
        assert!(KeySlot::create_writer(&w, b"x", CHEAP, b"repo-a", "keys/x", "x").is_err());
    }

    #[test]
    fn round_trip_wrong_password_and_binding() {
        let k = keys();
        let slot = KeySlot::create(&k, b"secret", CHEAP, b"repo-a", "keys/1").unwrap();
        let slot = decode_slot(&slot.encode().unwrap()).unwrap();
        assert_eq!(slot.open(b"secret", b"repo-a", "keys/1").unwrap().expose(), k.master().unwrap().expose());
        assert!(matches!(slot.open(b"wrong", b"repo-a", "keys/1"), Err(Error::WrongPassword)));
        // Bound to the repository and to its name.
        // (Under another repository's id the password still opens it for its own: the header is named.)
        assert!(matches!(slot.open(b"secret", b"repo-b", "keys/1"), Err(Error::Integrity { .. })));
        assert!(matches!(slot.open(b"secret", b"repo-a", "keys/2"), Err(Error::WrongPassword)));
        let info = slot.info(&k, b"repo-a", "keys/1").unwrap();
        assert!(info.created > 0);
        assert!(slot.info(&k, b"repo-a", "keys/2").is_none());
    }

    #[test]
    fn absurd_parameters_are_refused_before_allocating() {
        for (log_n, r, p) in [(40, 8, 1), (21, 8, 1), (17, 65, 1), (17, 8, 17), (0, 8, 1), (17, 0, 1), (255, 8, 1)] {
            let kdf = KdfParams { log_n, r, p };
            assert!(kdf.validate().is_err(), "{kdf:?} accepted");
            assert!(KeySlot::create(&keys(), b"pw", kdf, b"r", "n").is_err());
        }
        assert!(KdfParams::default().validate().is_ok());
        assert!(KdfParams { log_n: 20, r: 8, p: 1 }.validate().is_ok());
        // A stored slot claiming absurd parameters is rejected by the decoder, before any derivation.
        let k = keys();
        let mut slot = KeySlot::create(&k, b"pw", CHEAP, b"r", "n").unwrap();
        slot.kdf.log_n = 40;
        let err = decode_slot(&slot.encode().unwrap()).unwrap_err();
        assert!(err.contains("log_n=40"), "{err}");
        assert!(slot.open(b"pw", b"r", "n").is_err());
    }

    #[test]
    fn costly_parameters_inside_the_memory_limit_are_refused() {
        // 1 GiB (allowed) but 2^27 block mixes: over a minute and a half per try.
        let kdf = KdfParams { log_n: 22, r: 2, p: 16 };
        let err = kdf.validate().unwrap_err().to_string();
        assert!(err.contains("log_n=22") && err.contains("work"), "{err}");
        assert!(KdfParams { log_n: 17, r: 8, p: 8 }.validate().is_ok());
        assert!(KdfParams { log_n: 17, r: 8, p: 9 }.validate().is_err());
        let k = keys();
        let mut slot = KeySlot::create(&k, b"pw", CHEAP, b"r", "n").unwrap();
        slot.kdf = kdf;
        assert!(decode_slot(&slot.encode().unwrap()).unwrap_err().contains("log_n=22"));
    }

    #[test]
    fn a_slot_opened_under_the_id_it_records_but_not_the_headers_names_the_header() {
        let k = keys();
        let id = [1u8; 32];
        let slot = KeySlot::create(&k, b"pw", CHEAP, &id, "keys/1").unwrap();
        let slot = decode_slot(&slot.encode().unwrap()).unwrap();
        assert_eq!(slot.made_for(), Some(&id[..]));
        match slot.open(b"pw", &[2u8; 32], "keys/1") {
            Err(Error::Integrity { what, .. }) => assert!(what.contains("header"), "{what}"),
            other => panic!("{:?}", other.map(|_| ())),
        }
        // A wrong password is a wrong password, whichever header.
        assert!(matches!(slot.open(b"nope", &[2u8; 32], "keys/1"), Err(Error::WrongPassword)));
        assert!(matches!(slot.open(b"nope", &id, "keys/1"), Err(Error::WrongPassword)));
        // A slot that does not record an id (written before it was recorded) cannot tell: wrong password.
        let mut old = slot.clone();
        old.repo.clear();
        let old = decode_slot(&old.encode().unwrap()).unwrap();
        assert!(matches!(old.open(b"pw", &[2u8; 32], "keys/1"), Err(Error::WrongPassword)));
        assert!(old.open(b"pw", &id, "keys/1").is_ok());
    }

    #[test]
    fn decoder_rejects_garbage() {
        assert!(decode_slot(&[]).is_err());
        assert!(decode_slot(&[0xff; META_CLASS]).is_err());
        assert!(decode_slot(&[0; META_CLASS]).is_err());
    }
}
