//! Integration tests of the `infini` command line: each test drives the real binary in a temporary directory.

#[path = "../support/mod.rs"]
mod support;
mod util;

mod check;
mod confidentiality;
mod conflicts;
mod copy;
mod docs;
mod endpoints;
mod errors;
mod find;
mod forget;
mod gc;
mod gc_protocol;
mod hardening;
mod history;
mod hostile;
mod incremental;
mod killed;
mod many_writers;
mod merge;
mod mount;
mod newcomer;
mod progress;
mod readme;
mod readonly;
mod rewrite;
mod rollback;
mod s3;
mod scripting;
mod select;
mod session;
mod tags;
mod tar;
mod timestamps;
mod trees;
mod values;
mod workspace;
mod write_only;
