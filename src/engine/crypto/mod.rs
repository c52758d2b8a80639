//! Keys and encryption.
//!
//! - A random 256-bit [`MasterKey`] encrypts everything; [`KeySlot`]s wrap it under passwords (scrypt), so a
//!   password can change without re-encrypting data and several can coexist.
//! - [`Keys`] holds purpose-separated subkeys derived from the master key with HMAC-SHA-256.
//! - [`seal`]/[`open`] are the one AEAD construction used for every stored byte: AES-256-GCM under a key derived
//!   from a fresh random 256-bit salt per message (`K = HMAC-SHA-256(subkey, salt)`) with a zero nonce. No key ever
//!   encrypts two messages, so there is no nonce-reuse bound to track however many messages are written. Associated
//!   data binds each ciphertext to its kind and place.

use crate::engine::format::SEAL_OVERHEAD;
use crate::engine::id::ChunkId;
use crate::engine::{Error, Result};
use hmac::{Hmac, Mac};
use rand::RngCore;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

mod header;
mod slot;

pub use header::{decode_header, encode_header, Header, HeaderError};
pub use slot::{decode_slot, KdfParams, KeySlot, SlotInfo};

type HmacSha256 = Hmac<Sha256>;

/// Fill a fresh array with OS randomness.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// A zeroed 32-byte secret on the heap, wiped on drop. Moving its owner moves only the pointer, so no stray
/// copies of the key are left behind on the stack.
fn secret_box() -> Box<Zeroizing<[u8; 32]>> {
    Box::new(Zeroizing::new([0u8; 32]))
}

/// The repository's master key: 256 random bits. Zeroized on drop; never printed or copied implicitly.
pub struct MasterKey(Box<Zeroizing<[u8; 32]>>);

impl MasterKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut k = secret_box();
        rand::rngs::OsRng.fill_bytes(&mut **k);
        Self(k)
    }
    /// Rebuild from raw bytes (tests and embedders holding a key); the argument is wiped.
    pub fn from_bytes(mut b: [u8; 32]) -> Self {
        let mut k = secret_box();
        k.copy_from_slice(&b);
        b.zeroize();
        Self(k)
    }
    /// Rebuild from a 32-byte slice (an unlocked workspace's key file, an unwrapped key slot) without an
    /// intermediate copy; `None` if the length is wrong.
    pub fn from_slice(b: &[u8]) -> Option<Self> {
        if b.len() != 32 {
            return None;
        }
        let mut k = secret_box();
        k.copy_from_slice(b);
        Some(Self(k))
    }
    /// The raw bytes, for wrapping into a key slot or an unlocked workspace.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

/// A 256-bit subkey for one purpose.
pub struct SubKey(Box<Zeroizing<[u8; 32]>>);

impl SubKey {
    fn derive(master: &[u8; 32], purpose: &str) -> Self {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(master).expect("HMAC takes any key length");
        mac.update(b"infini/1/subkey/");
        mac.update(purpose.as_bytes());
        let mut k = secret_box();
        let mut out = mac.finalize().into_bytes();
        k.copy_from_slice(&out);
        out.as_mut_slice().zeroize();
        Self(k)
    }

    fn mac(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&**self.0).expect("HMAC takes any key length")
    }

    /// HMAC-SHA-256 of `parts` under this key.
    pub fn hmac(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.mac();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }
}

/// What a sealed message is; part of its associated data, so one kind can never be passed off as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A chunk of a stored value.
    Data = 1,
    /// A node of the index tree or of a value's chunk list.
    Index = 2,
    /// A commit.
    Commit = 3,
    /// A pack's table of contents.
    PackTable = 4,
    /// A pack's locator (where its table is).
    PackLocator = 5,
    /// A branch ref.
    Ref = 6,
    /// A workspace file (staged changes, unlocked state).
    Workspace = 7,
    /// A key slot's wrapped master key.
    KeySlot = 8,
    /// A forwarding table written by garbage collection (where the live chunks of repacked packs moved).
    Forward = 9,
}

/// All subkeys of a repository, derived from its master key.
pub struct Keys {
    chunk_id: SubKey,
    data: SubKey,
    meta: SubKey,
    ref_name: SubKey,
    master: MasterKey,
}

impl Keys {
    /// Derive every subkey from `master`.
    pub fn new(master: MasterKey) -> Self {
        let m = master.expose();
        Self {
            chunk_id: SubKey::derive(m, "chunk-id"),
            data: SubKey::derive(m, "data"),
            meta: SubKey::derive(m, "meta"),
            ref_name: SubKey::derive(m, "ref-name"),
            master,
        }
    }

    /// The master key these were derived from.
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// Keyed id of a chunk's plaintext: BLAKE3 in keyed mode under the chunk-id subkey (format version 6; it was
    /// HMAC-SHA-256, four times slower here). Reveals nothing about the content to anyone without the key.
    pub fn chunk_id(&self, plaintext: &[u8]) -> ChunkId {
        ChunkId(*blake3::keyed_hash(&self.chunk_id.0, plaintext).as_bytes())
    }

    /// Seed for the chunker's gear table, so chunk boundaries (and thus sizes) depend on the key.
    pub fn cdc_seed(&self) -> u64 {
        let h = self.chunk_id.hmac(&[b"cdc-seed"]);
        u64::from_le_bytes(h[..8].try_into().expect("32-byte hash"))
    }

    /// Seed of a pack's padding: padding is a keyed pseudo-random stream, indistinguishable from random bytes to
    /// an observer but reproducible with the key, so `check` can verify every byte of a pack.
    pub fn padding_seed(&self, pack: &[u8; 32]) -> [u8; 32] {
        self.meta.hmac(&[b"padding/", pack])
    }

    /// Authentication tag of the public header's bytes, so a header changed on storage is detected once the key
    /// is known.
    pub fn header_mac(&self, header: &[u8]) -> [u8; 32] {
        self.meta.hmac(&[b"header/", header])
    }

    /// Whether `tag` is [`Keys::header_mac`] of `header` (compared in constant time).
    pub fn verify_header_mac(&self, header: &[u8], tag: &[u8]) -> bool {
        let mut mac = self.meta.mac();
        mac.update(b"header/");
        mac.update(header);
        mac.verify_slice(tag).is_ok()
    }

    /// Storage name of the ref for branch `branch`: a keyed hash, so branch names stay secret.
    pub fn ref_name(&self, branch: &str) -> String {
        hex::encode(self.ref_name.hmac(&[b"branch/", branch.as_bytes()]))
    }

    fn key_for(&self, kind: Kind) -> &SubKey {
        match kind {
            Kind::Data | Kind::Index | Kind::Commit => &self.data,
            _ => &self.meta,
        }
    }

    /// Seal `plaintext` as `kind`, bound to `place` (a chunk id, an object name, a ref name).
    pub fn seal(&self, kind: Kind, place: &[u8], plaintext: &[u8]) -> Vec<u8> {
        seal(self.key_for(kind), &ad(kind, place), plaintext, random_bytes())
    }

    /// [`Keys::seal`] without copying: `buf` holds [`SEAL_PREFIX`] bytes of room followed by the plaintext, and is
    /// encrypted in place. The result is the same as sealing the plaintext.
    pub fn seal_buffer(&self, kind: Kind, place: &[u8], buf: Vec<u8>) -> Vec<u8> {
        seal_in_place(self.key_for(kind), &ad(kind, place), buf, random_bytes())
    }

    /// [`Keys::seal_buffer`] at the end of a longer buffer: `buf[at..]` holds [`SEAL_PREFIX`] bytes of room followed
    /// by the plaintext, and becomes the sealed message (as [`Keys::seal`] would make it); what precedes `at` is
    /// left alone.
    pub fn seal_tail(&self, kind: Kind, place: &[u8], buf: &mut Vec<u8>, at: usize) {
        seal_tail(self.key_for(kind), &ad(kind, place), buf, at, random_bytes())
    }

    /// Open what [`Keys::seal`] sealed with the same kind and place.
    pub fn open(&self, kind: Kind, place: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        open(self.key_for(kind), &ad(kind, place), sealed)
    }

    /// [`Keys::open`] without copying: decrypts `sealed` where it is and returns where in it the plaintext lies.
    /// On failure the buffer's contents are unspecified.
    pub fn open_in_place(&self, kind: Kind, place: &[u8], sealed: &mut [u8]) -> Result<std::ops::Range<usize>> {
        open_in_place(self.key_for(kind), &ad(kind, place), sealed)
    }
}

pub(crate) fn ad(kind: Kind, place: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(12 + place.len());
    ad.extend_from_slice(b"infini/1/");
    ad.push(kind as u8);
    ad.extend_from_slice(place);
    ad
}

/// The message's own AES-256-GCM key. (`ring`'s AES-GCM runs about four times as fast here as the pure-Rust
/// implementation this replaced, with identical output.)
fn message_cipher(key: &SubKey, salt: &[u8; 32]) -> LessSafeKey {
    let k = Zeroizing::new(key.hmac(&[b"message/", salt]));
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &*k).expect("32-byte key"))
}

/// Every message has a key of its own, so the nonce is fixed.
fn zero_nonce() -> Nonce {
    Nonce::assume_unique_for_key([0u8; 12])
}

/// Room a buffer passed to [`Keys::seal_buffer`] keeps in front of the plaintext (for the salt).
pub const SEAL_PREFIX: usize = 32;

/// `salt || AES-256-GCM(HMAC(key, salt), nonce = 0, ad, plaintext)`.
pub(crate) fn seal(key: &SubKey, ad: &[u8], plaintext: &[u8], salt: [u8; 32]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
    buf.resize(SEAL_PREFIX, 0);
    buf.extend_from_slice(plaintext);
    seal_in_place(key, ad, buf, salt)
}

fn seal_in_place(key: &SubKey, ad: &[u8], mut buf: Vec<u8>, salt: [u8; 32]) -> Vec<u8> {
    seal_tail(key, ad, &mut buf, 0, salt);
    buf
}

/// Seal `buf[at..]` where it is: `buf[at..at + SEAL_PREFIX]` is room for the salt, the plaintext follows, and the
/// tag is appended.
fn seal_tail(key: &SubKey, ad: &[u8], buf: &mut Vec<u8>, at: usize, salt: [u8; 32]) {
    let cipher = message_cipher(key, &salt);
    buf[at..at + SEAL_PREFIX].copy_from_slice(&salt);
    let tag = cipher
        .seal_in_place_separate_tag(zero_nonce(), Aad::from(ad), &mut buf[at + SEAL_PREFIX..])
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    buf.extend_from_slice(tag.as_ref());
}

/// A sealed message's salt, once its length is checked.
fn salt_of(sealed: &[u8]) -> Result<[u8; 32]> {
    if sealed.len() < SEAL_OVERHEAD {
        return Err(Error::integrity("sealed message is truncated"));
    }
    Ok(sealed[..32].try_into().expect("checked length"))
}

/// Decrypt `body` (ciphertext and tag) in place under the message key of `salt`; returns the plaintext's length.
fn open_body(key: &SubKey, ad: &[u8], salt: &[u8; 32], body: &mut [u8]) -> Result<usize> {
    message_cipher(key, salt)
        .open_in_place(zero_nonce(), Aad::from(ad), body)
        .map(|plain| plain.len())
        .map_err(|_| Error::integrity("authentication failed"))
}

fn open_in_place(key: &SubKey, ad: &[u8], sealed: &mut [u8]) -> Result<std::ops::Range<usize>> {
    let salt = salt_of(sealed)?;
    let len = open_body(key, ad, &salt, &mut sealed[32..])?;
    Ok(32..32 + len)
}

pub(crate) fn open(key: &SubKey, ad: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
    let salt = salt_of(sealed)?;
    let mut buf = sealed[32..].to_vec();
    let len = open_body(key, ad, &salt, &mut buf)?;
    buf.truncate(len);
    Ok(buf)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// This machine's host name, or `unknown`.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_keys() -> Keys {
        Keys::new(MasterKey::from_bytes([0x42; 32]))
    }

    #[test]
    fn known_answers() {
        let k = fixed_keys();
        // Subkey derivation and keyed ids are fixed functions of the master key.
        assert_eq!(
            k.chunk_id(b"hello").to_hex(),
            blake3::keyed_hash(&SubKey::derive(&[0x42; 32], "chunk-id").0, b"hello").to_hex().as_str()
        );
        assert_eq!(k.chunk_id(b"hello").to_hex(), KAT_CHUNK_ID);
        assert_eq!(k.ref_name("main"), KAT_REF_NAME);
        let sealed = seal(&k.data, &ad(Kind::Data, b"place"), b"attack at dawn", [7u8; 32]);
        assert_eq!(hex::encode(&sealed), KAT_SEALED);
        assert_eq!(k.open(Kind::Data, b"place", &sealed).unwrap(), b"attack at dawn");
    }

    /// Sealing is plain AES-256-GCM under the message key: a second, independent implementation (the `aes-gcm`
    /// crate) opens what this one seals, and this one opens what it seals, for every length around block edges.
    #[test]
    fn seal_is_standard_aes_256_gcm_under_the_message_key() {
        use aes_gcm::aead::{Aead, KeyInit, Payload};
        let k = fixed_keys();
        let ad = ad(Kind::Data, b"place");
        for len in [0usize, 1, 15, 16, 17, 4095, 65_537, 1 << 20] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let salt = [len as u8; 32];
            let theirs = aes_gcm::Aes256Gcm::new_from_slice(&k.data.hmac(&[b"message/", &salt])).unwrap();
            let nonce = aes_gcm::Nonce::from_slice(&[0u8; 12]);
            let sealed = seal(&k.data, &ad, &plain, salt);
            assert_eq!(sealed[..32], salt);
            assert_eq!(theirs.decrypt(nonce, Payload { msg: &sealed[32..], aad: &ad }).unwrap(), plain);
            let mut foreign = salt.to_vec();
            foreign.extend(theirs.encrypt(nonce, Payload { msg: &plain, aad: &ad }).unwrap());
            assert_eq!(foreign, sealed);
            assert_eq!(open(&k.data, &ad, &foreign).unwrap(), plain);
            let mut in_place = foreign.clone();
            let r = open_in_place(&k.data, &ad, &mut in_place).unwrap();
            assert_eq!(in_place[r], plain);
            let mut tampered = foreign.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert!(open(&k.data, &ad, &tampered).is_err());
            assert!(open_in_place(&k.data, &ad, &mut tampered).is_err());
        }
    }

    /// Computed independently (Python's `hmac` and the `blake3` package): BLAKE3 keyed by
    /// HMAC-SHA-256(0x42*32, "infini/1/subkey/chunk-id"), of "hello".
    const KAT_CHUNK_ID: &str = "2891913cc2a77513ec68d1f0a2b373d291c7365e35ebe9c633f6e5bb7e063fe3";
    const KAT_REF_NAME: &str = "d8dba021da1e747de59591c70141461d500b63c429a31cab795015be50987ac0";
    const KAT_SEALED: &str = "0707070707070707070707070707070707070707070707070707070707070707e7b2730fba1b4507fb085afd8af27f8cfe1ba4cb5ec0eb0ee22dc310b682";

    #[test]
    fn seal_binds_kind_and_place() {
        let k = fixed_keys();
        let s = k.seal(Kind::Index, b"a", b"payload");
        assert_eq!(k.open(Kind::Index, b"a", &s).unwrap(), b"payload");
        assert!(matches!(k.open(Kind::Index, b"b", &s), Err(Error::Integrity { .. })));
        assert!(matches!(k.open(Kind::Data, b"a", &s), Err(Error::Integrity { .. })));
        assert!(matches!(k.open(Kind::Ref, b"a", &s), Err(Error::Integrity { .. })));
        let other = Keys::new(MasterKey::from_bytes([0x43; 32]));
        assert!(matches!(other.open(Kind::Index, b"a", &s), Err(Error::Integrity { .. })));
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x01;
            assert!(k.open(Kind::Index, b"a", &t).is_err(), "flip at {i} accepted");
        }
        for n in 0..s.len() {
            assert!(k.open(Kind::Index, b"a", &s[..n]).is_err(), "truncation to {n} accepted");
        }
    }

    #[test]
    fn salts_differ_per_message() {
        let k = fixed_keys();
        assert_ne!(k.seal(Kind::Data, b"", b"same"), k.seal(Kind::Data, b"", b"same"));
    }
}
