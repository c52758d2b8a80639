//! Engine integration tests: tampering, crash safety and backends through the public API.

mod concurrency;
mod crash;
mod gc;
mod tamper;
