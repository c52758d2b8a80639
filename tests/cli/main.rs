//! Integration tests of the `infini` command line: each test drives the real binary in a temporary directory.

mod util;

mod confidentiality;
mod docs;
mod errors;
mod history;
mod incremental;
mod session;
mod values;
mod workspace;
