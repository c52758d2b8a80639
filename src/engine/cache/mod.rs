//! Cache tiers: hot (decrypted chunks in memory under a byte budget). The warm tier (encrypted bytes on local
//! disk) wraps a backend; the cold tier is the backend itself.

pub mod hot;
pub mod warm;
