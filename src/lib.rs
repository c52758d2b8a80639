//! infini: an embedded, encrypted, versioned database.
pub mod engine;
