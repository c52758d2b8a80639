//! Engine integration tests.

#[path = "../support/mod.rs"]
mod support;

mod s3;
