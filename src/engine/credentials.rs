//! [`Key`]: what unlocks a repository, in the seed's spelling — a password (or the seed's username and password),
//! or a master key held elsewhere — for [`Infinitree::empty`](crate::engine::db::Infinitree::empty).

use crate::engine::crypto::MasterKey;
use crate::engine::{Error, Result};
use zeroize::Zeroizing;

/// What unlocks a repository. Holds secrets: zeroized on drop, never printed or cloned.
pub struct Key(pub(crate) Secret);

pub(crate) enum Secret {
    /// A password; the repository's key slots are derived from it with scrypt.
    Password(Zeroizing<Vec<u8>>),
    /// The master key itself (from a key management service or a secret manager): no key derivation at all.
    Master(MasterKey),
}

impl Key {
    /// The seed's `Key::from_credentials(username, password)`: the repository's password is `username`, a colon,
    /// then `password` (so the command line opens the same repository with the password `username:password`).
    /// Both must be non-empty.
    pub fn from_credentials(username: impl AsRef<str>, password: impl AsRef<str>) -> Result<Self> {
        let (u, p) = (username.as_ref(), password.as_ref());
        if u.is_empty() || p.is_empty() {
            return Err(Error::Invalid("a username and a password are both needed".into()));
        }
        let mut joined = Zeroizing::new(Vec::with_capacity(u.len() + 1 + p.len()));
        joined.extend_from_slice(u.as_bytes());
        joined.push(b':');
        joined.extend_from_slice(p.as_bytes());
        Ok(Key(Secret::Password(joined)))
    }

    /// A password (non-empty).
    pub fn from_password(password: impl AsRef<[u8]>) -> Result<Self> {
        let p = password.as_ref();
        if p.is_empty() {
            return Err(Error::Invalid("the password is empty".into()));
        }
        Ok(Key(Secret::Password(Zeroizing::new(p.to_vec()))))
    }

    /// A master key held by the program (see [`Repository::with_key`](crate::engine::repo::Repository::with_key)):
    /// whoever holds it reads and writes everything, so keep it where keys belong (a KMS, a secret manager).
    pub fn from_master_key(master: MasterKey) -> Self {
        Key(Secret::Master(master))
    }
}
