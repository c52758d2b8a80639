//! Helpers shared by the integration test binaries. Each binary uses only some of them.
#![allow(dead_code)]

pub mod proxy;
#[cfg(feature = "s3")]
pub mod s3;
