//! Typed 256-bit identifiers. One macro defines them all, so no bare `[u8; 32]` crosses a module boundary.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub [u8; 32]);

        // Not every id type uses every method.
        #[allow(dead_code)]
        impl $name {
            /// A fresh random id.
            pub fn random() -> Self {
                use rand::RngCore;
                let mut b = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut b);
                Self(b)
            }
            /// Lower-case hex, 64 characters.
            #[allow(clippy::wrong_self_convention)] // by reference, as the public `CommitId::to_hex` always was
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            /// Parse 64 hex characters.
            pub fn from_hex(s: &str) -> Option<Self> {
                let mut b = [0u8; 32];
                hex::decode_to_slice(s, &mut b).ok()?;
                Some(Self(b))
            }
            /// The raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), &self.to_hex()[..12])
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v: serde_bytes::ByteBuf = Deserialize::deserialize(d)?;
                let arr: [u8; 32] = v
                    .as_slice()
                    .try_into()
                    .map_err(|_| serde::de::Error::invalid_length(v.len(), &"32 bytes"))?;
                Ok(Self(arr))
            }
        }
    };
}

define_id!(
    /// Name of a stored object (a pack): 256 random bits, meaningless to an observer.
    ObjectId
);
define_id!(
    /// Keyed hash of a chunk's plaintext: HMAC-SHA-256 under the chunk-id key.
    ChunkId
);
define_id!(
    /// Id of a commit: the chunk id of its encoding.
    CommitId
);
