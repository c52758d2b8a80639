//! The seed's own example (infinitree 0.8's crate docs), with only the crate name changed: `seed/readme.rs` is
//! the seed's text, line for line (included, so that rustfmt leaves the seed's layout as it was). It keeps the
//! seed's unused imports and its unchecked `commit` result, hence the `allow`. It writes to `test_data` in the
//! working directory (`make test` runs it from `target/`); run again, it opens the same repository.
//!
//! ```sh
//! cargo run --example seed
//! ```
#![allow(unused_imports, unused_must_use)]
include!("seed/readme.rs");
