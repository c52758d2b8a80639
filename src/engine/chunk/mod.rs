//! Chunking and streams.
