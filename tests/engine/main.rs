//! Engine integration tests: tampering, crash safety, concurrency, gc and backends through the public API.

#[path = "../support/mod.rs"]
mod support;

mod browse;
mod concurrency;
mod crash;
mod errors;
mod extend;
mod forget;
mod gc;
mod gc_race;
mod library;
mod progress;
mod read_modify_write;
#[cfg(feature = "s3")]
mod s3;
mod seed_spelling;
mod sizes;
mod tamper;
mod write_only;
