//! Engine integration tests: tampering, crash safety and backends through the public API.

#[path = "../support/mod.rs"]
mod support;

mod s3;
mod tamper;
