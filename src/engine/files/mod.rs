//! Directory trees in the namespace: [`put_tree`] stores a directory as one key per file under a prefix, and
//! [`get_tree`] writes the keys under a prefix back out as a directory.
//!
//! A prefix names a directory: `web` and `web/` are the same. Regular files keep their bytes, permission bits
//! and modification time (nanoseconds included); symbolic links are stored as links (the value is the target) and
//! restored as links, never followed; sockets, FIFOs and devices are skipped and counted.
//!
//! Re-storing an unchanged tree is cheap: a [`StatCache`] kept by the workspace remembers, for every file read,
//! its device, inode, size, mtime and ctime (both with nanoseconds) and a digest of the value stored from it. A
//! file whose stat data all match, and whose key still holds that value, is not read again. ctime cannot be set by a user, so a file rewritten with the same size
//! and a restored mtime is still read. Files changed less than [`RACY_WINDOW`] before their stat was taken are
//! not remembered (a later write within the same timestamp tick could otherwise go unnoticed).

mod get;
mod put;
mod stat_cache;

pub use get::{get_tree, GetTreeOptions, GetTreeOutcome, KeySelect, Written};
pub use put::{file_entry, put_tree, walk_tree, PathFilter, PutTreeOptions, PutTreeOutcome};
pub(crate) use stat_cache::StatCache;

/// Files whose ctime or mtime is this close to the moment they were examined are not remembered in the stat cache.
pub const RACY_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);
