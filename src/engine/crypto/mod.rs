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
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::{Zeroize, Zeroizing};

mod header;
mod slot;

pub use header::{decode_header, encode_header, Header, HeaderError};
pub use slot::{decode_slot, KdfParams, KeySlot, SlotInfo, SlotKey};

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

/// All subkeys of a repository, derived from its master key — or, for a write-only key, the part of them a writer
/// holds (see [`WriterKeySet`]).
pub struct Keys {
    chunk_id: SubKey,
    /// Absent for a write-only key: it seals content to the reader public key instead, and opens none.
    data: Option<SubKey>,
    meta: SubKey,
    ref_name: SubKey,
    master: Option<MasterKey>,
    reader_public: x25519_dalek::PublicKey,
    /// Absent for a write-only key.
    reader_secret: Option<x25519_dalek::StaticSecret>,
}

impl Keys {
    /// Derive every subkey from `master`.
    pub fn new(master: MasterKey) -> Self {
        let m = master.expose();
        let reader_secret = reader_secret(m);
        Self {
            chunk_id: SubKey::derive(m, "chunk-id"),
            data: Some(SubKey::derive(m, "data")),
            meta: SubKey::derive(m, "meta"),
            ref_name: SubKey::derive(m, "ref-name"),
            reader_public: x25519_dalek::PublicKey::from(&reader_secret),
            reader_secret: Some(reader_secret),
            master: Some(master),
        }
    }

    /// The keys of a write-only key: they seal content to the reader and open none of it.
    pub fn writer(set: &WriterKeySet) -> Self {
        let sub = |b: &[u8; 32]| {
            let mut k = secret_box();
            k.copy_from_slice(b);
            SubKey(k)
        };
        Self {
            chunk_id: sub(&set.chunk_id),
            data: None,
            meta: sub(&set.meta),
            ref_name: sub(&set.ref_name),
            master: None,
            reader_public: x25519_dalek::PublicKey::from(set.reader),
            reader_secret: None,
        }
    }

    /// Whether these are a write-only key's: they seal, and open no value, index node or commit.
    pub fn is_write_only(&self) -> bool {
        self.data.is_none()
    }

    /// The master key these were derived from (`None` for a write-only key, which has none).
    pub fn master(&self) -> Option<&MasterKey> {
        self.master.as_ref()
    }

    /// The writer key set: what a write-only key slot wraps (writing needs it; nothing in it reads), or what a
    /// write-only key keeps.
    pub fn writer_set(&self) -> WriterKeySet {
        WriterKeySet {
            chunk_id: **self.chunk_id.0,
            meta: **self.meta.0,
            ref_name: **self.ref_name.0,
            reader: self.reader_public.to_bytes(),
        }
    }

    /// The repository's reader public key.
    pub fn reader_public(&self) -> [u8; 32] {
        self.reader_public.to_bytes()
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

    /// The symmetric key of `kind`: `None` for content (data, index nodes, commits) under a write-only key.
    fn key_for(&self, kind: Kind) -> Option<&SubKey> {
        match kind {
            Kind::Data | Kind::Index | Kind::Commit => self.data.as_ref(),
            _ => Some(&self.meta),
        }
    }

    /// Seal `plaintext` as `kind`, bound to `place` (a chunk id, an object name, a ref name).
    pub fn seal(&self, kind: Kind, place: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut buf = Vec::with_capacity(plaintext.len() + SEAL_OVERHEAD);
        buf.resize(SEAL_PREFIX, 0);
        buf.extend_from_slice(plaintext);
        self.seal_buffer(kind, place, buf)
    }

    /// [`Keys::seal`] without copying: `buf` holds [`SEAL_PREFIX`] bytes of room followed by the plaintext, and is
    /// encrypted in place. The result is the same as sealing the plaintext.
    pub fn seal_buffer(&self, kind: Kind, place: &[u8], mut buf: Vec<u8>) -> Vec<u8> {
        self.seal_tail(kind, place, &mut buf, 0);
        buf
    }

    /// [`Keys::seal_buffer`] at the end of a longer buffer: `buf[at..]` holds [`SEAL_PREFIX`] bytes of room followed
    /// by the plaintext, and becomes the sealed message (as [`Keys::seal`] would make it); what precedes `at` is
    /// left alone.
    pub fn seal_tail(&self, kind: Kind, place: &[u8], buf: &mut Vec<u8>, at: usize) {
        match self.key_for(kind) {
            Some(key) => seal_tail(key, &ad(kind, place), buf, at, unmarked_salt()),
            None => seal_to_reader(&self.reader_public, &ad(kind, place), buf, at),
        }
    }

    /// Open what [`Keys::seal`] sealed with the same kind and place. [`Error::WriteOnly`] for content under a
    /// write-only key.
    pub fn open(&self, kind: Kind, place: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        let mut buf = sealed.to_vec();
        let r = self.open_in_place(kind, place, &mut buf)?;
        buf.truncate(r.end);
        buf.drain(..r.start);
        Ok(buf)
    }

    /// [`Keys::open`] without copying: decrypts `sealed` where it is and returns where in it the plaintext lies.
    /// On failure the buffer's contents are unspecified.
    pub fn open_in_place(&self, kind: Kind, place: &[u8], sealed: &mut [u8]) -> Result<std::ops::Range<usize>> {
        let Some(key) = self.key_for(kind) else {
            return Err(Error::WriteOnly { what: "opening stored content".into() });
        };
        if sealed.len() >= SEAL_OVERHEAD && sealed[31] & 0x80 != 0 {
            if let Some(secret) = &self.reader_secret {
                return open_from_writer(secret, &ad(kind, place), sealed);
            }
        }
        open_in_place(key, &ad(kind, place), sealed)
    }
}

/// What a write-only key slot wraps: the keys writing needs and none that read. Zeroized on drop.
#[derive(Serialize, Deserialize)]
pub struct WriterKeySet {
    /// The chunk-id subkey (dedup across writers, chunk boundaries).
    #[serde(rename = "chunk-id", with = "serde_bytes")]
    chunk_id: [u8; 32],
    /// The meta subkey (pack tables and locators, refs, the gc ref, workspace files).
    #[serde(with = "serde_bytes")]
    meta: [u8; 32],
    /// The ref-name subkey (refs' storage names).
    #[serde(rename = "ref-name", with = "serde_bytes")]
    ref_name: [u8; 32],
    /// The repository's reader public key, which a writer seals content to.
    #[serde(with = "serde_bytes")]
    reader: [u8; 32],
}

impl Drop for WriterKeySet {
    fn drop(&mut self) {
        self.chunk_id.zeroize();
        self.meta.zeroize();
        self.ref_name.zeroize();
    }
}

impl WriterKeySet {
    /// The CBOR a writer slot wraps and a writer's workspace keeps (wiped on drop).
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(160));
        ciborium::into_writer(self, &mut *out).expect("CBOR encoding into memory cannot fail");
        out
    }

    /// Decode [`WriterKeySet::encode`]'s bytes.
    pub fn decode(b: &[u8]) -> Option<Self> {
        ciborium::from_reader(b).ok()
    }
}

/// The reader secret of a master key: `HMAC-SHA-256(master, "infini/1/subkey/reader")` as an X25519 secret
/// (clamped when used). Derived, never stored.
fn reader_secret(master: &[u8; 32]) -> x25519_dalek::StaticSecret {
    let k = SubKey::derive(master, "reader");
    x25519_dalek::StaticSecret::from(**k.0)
}

/// A fresh salt for a symmetric seal, with bit 255 clear: a set bit marks a message sealed to the reader.
fn unmarked_salt() -> [u8; 32] {
    let mut s: [u8; 32] = random_bytes();
    s[31] &= 0x7f;
    s
}

/// The AES-256-GCM key of a message sealed to the reader: HKDF-SHA-256 of the exchange, salted by both public keys.
fn writer_message_cipher(shared: &[u8; 32], ephemeral: &[u8; 32], reader: &[u8; 32]) -> LessSafeKey {
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(ephemeral);
    salt[32..].copy_from_slice(reader);
    let hk = hkdf::Hkdf::<Sha256>::new(Some(&salt), shared);
    let mut k = Zeroizing::new([0u8; 32]);
    hk.expand(b"infini/1/writer-seal", &mut *k).expect("32 bytes is a valid HKDF-SHA-256 length");
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &*k).expect("32-byte key"))
}

/// Seal `buf[at..]` (room for 32 bytes, then the plaintext) to the reader public key with a fresh ephemeral key,
/// which is wiped before this returns: afterwards not even the writer can open the message.
fn seal_to_reader(reader: &x25519_dalek::PublicKey, ad: &[u8], buf: &mut Vec<u8>, at: usize) {
    let e = x25519_dalek::EphemeralSecret::random_from_rng(rand::rngs::OsRng);
    let epub = x25519_dalek::PublicKey::from(&e).to_bytes();
    let shared = e.diffie_hellman(reader);
    let cipher = writer_message_cipher(shared.as_bytes(), &epub, reader.as_bytes());
    drop(shared);
    let mut marked = epub;
    marked[31] |= 0x80;
    buf[at..at + SEAL_PREFIX].copy_from_slice(&marked);
    let tag = cipher
        .seal_in_place_separate_tag(zero_nonce(), Aad::from(ad), &mut buf[at + SEAL_PREFIX..])
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    buf.extend_from_slice(tag.as_ref());
}

/// Open a message [`seal_to_reader`] sealed, with the reader secret.
fn open_from_writer(
    secret: &x25519_dalek::StaticSecret,
    ad: &[u8],
    sealed: &mut [u8],
) -> Result<std::ops::Range<usize>> {
    let mut epub = salt_of(sealed)?;
    epub[31] &= 0x7f;
    let shared = secret.diffie_hellman(&x25519_dalek::PublicKey::from(epub));
    if !shared.was_contributory() {
        return Err(Error::integrity("authentication failed"));
    }
    let reader = x25519_dalek::PublicKey::from(secret).to_bytes();
    let cipher = writer_message_cipher(shared.as_bytes(), &epub, &reader);
    let len = cipher
        .open_in_place(zero_nonce(), Aad::from(ad), &mut sealed[32..])
        .map(|plain| plain.len())
        .map_err(|_| Error::integrity("authentication failed"))?;
    Ok(32..32 + len)
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
        let sealed = seal(k.data.as_ref().unwrap(), &ad(Kind::Data, b"place"), b"attack at dawn", [7u8; 32]);
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
            let theirs =
                aes_gcm::Aes256Gcm::new_from_slice(&k.data.as_ref().unwrap().hmac(&[b"message/", &salt])).unwrap();
            let nonce = aes_gcm::Nonce::from_slice(&[0u8; 12]);
            let sealed = seal(k.data.as_ref().unwrap(), &ad, &plain, salt);
            assert_eq!(sealed[..32], salt);
            assert_eq!(theirs.decrypt(nonce, Payload { msg: &sealed[32..], aad: &ad }).unwrap(), plain);
            let mut foreign = salt.to_vec();
            foreign.extend(theirs.encrypt(nonce, Payload { msg: &plain, aad: &ad }).unwrap());
            assert_eq!(foreign, sealed);
            assert_eq!(open(k.data.as_ref().unwrap(), &ad, &foreign).unwrap(), plain);
            let mut in_place = foreign.clone();
            let r = open_in_place(k.data.as_ref().unwrap(), &ad, &mut in_place).unwrap();
            assert_eq!(in_place[r], plain);
            let mut tampered = foreign.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert!(open(k.data.as_ref().unwrap(), &ad, &tampered).is_err());
            assert!(open_in_place(k.data.as_ref().unwrap(), &ad, &mut tampered).is_err());
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
    fn a_writer_seals_to_the_reader_and_opens_nothing_not_even_what_it_sealed() {
        let full = fixed_keys();
        let writer = Keys::writer(&WriterKeySet::decode(&full.writer_set().encode()).unwrap());
        assert!(writer.is_write_only() && !full.is_write_only());
        assert_eq!(writer.chunk_id(b"x"), full.chunk_id(b"x"), "dedup across writers");
        assert_eq!(writer.ref_name("main"), full.ref_name("main"));
        for kind in [Kind::Data, Kind::Index, Kind::Commit] {
            let s = writer.seal(kind, b"place", b"secret payload");
            assert_eq!(s.len(), b"secret payload".len() + SEAL_OVERHEAD);
            assert!(s[31] & 0x80 != 0, "marked as sealed to the reader");
            assert!(matches!(writer.open(kind, b"place", &s), Err(Error::WriteOnly { .. })));
            assert_eq!(full.open(kind, b"place", &s).unwrap(), b"secret payload");
            assert!(full.open(kind, b"other", &s).is_err());
            let mut t = s.clone();
            t[40] ^= 1;
            assert!(full.open(kind, b"place", &t).is_err());
            // Not the data key's seal: a key of another repository cannot open it.
            let other = Keys::new(MasterKey::from_bytes([0x43; 32]));
            assert!(other.open(kind, b"place", &s).is_err());
        }
        // Metadata (tables, refs, workspace files) stays sealed with the meta key both hold.
        let m = writer.seal(Kind::Ref, b"r", b"ref");
        assert_eq!(full.open(Kind::Ref, b"r", &m).unwrap(), b"ref");
        assert_eq!(writer.open(Kind::Ref, b"r", &m).unwrap(), b"ref");
    }

    #[test]
    fn symmetric_salts_leave_the_mark_clear() {
        let k = fixed_keys();
        for _ in 0..64 {
            assert_eq!(k.seal(Kind::Data, b"p", b"v")[31] & 0x80, 0);
            assert_eq!(k.seal(Kind::Ref, b"p", b"v")[31] & 0x80, 0);
        }
    }

    #[test]
    fn salts_differ_per_message() {
        let k = fixed_keys();
        assert_ne!(k.seal(Kind::Data, b"", b"same"), k.seal(Kind::Data, b"", b"same"));
    }
}
