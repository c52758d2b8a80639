//! Limits on what a program stores: anything over one is refused with
//! [`Error::TooLarge`](crate::engine::Error::TooLarge) when it is committed, before the commit is published;
//! everything under them reads back.
//!
//! | what | limit |
//! | --- | --- |
//! | a value in any field, a list item | none but memory: a value is encoded whole in memory (stream larger data into a [`Blob`](crate::Blob)) |
//! | a key of a `VersionedMap` or `Map` (encoded) | [`KEY_MAX`], 64 KiB |
//! | a commit message | [`MESSAGE_MAX`], 64 KiB |
//! | a field's root (what [`Field::commit`](crate::Field::commit) returns) | [`ROOT_MAX`], 1 MiB |
//! | a whole commit (roots, message and the rest, encoded) | [`COMMIT_MAX`], 8 MiB |
//!
//! Values larger than the place a field keeps them in are stored as a blob of their own, transparently: over
//! [`INDEX_VALUE_MAX`] in a `VersionedMap` leaf or a `LinkedList` segment, over 4 MiB with the `Sparse` strategy
//! (docs/design.md, *Fields*, gives the stored form).

/// Most bytes a key of a `VersionedMap` or `Map` encodes to.
pub const KEY_MAX: usize = 64 << 10;

/// Most bytes in a commit message (UTF-8).
pub const MESSAGE_MAX: usize = 64 << 10;

/// Most bytes a field's root (as the field returns it from `Field::commit`) may have.
pub const ROOT_MAX: usize = 1 << 20;

/// Most bytes a commit may encode to (its roots, message, time, host and parents).
pub const COMMIT_MAX: usize = 8 << 20;

/// Values whose encoding is longer than this are not kept inside an index chunk (a `VersionedMap` leaf, a
/// `LinkedList` segment) but stored as a blob, with a reference in their place. Chosen so that a leaf holding the
/// largest inline value, its key and a full node's worth of neighbours still fits in one chunk.
pub const INDEX_VALUE_MAX: usize = (16 << 20) - (256 << 10);
