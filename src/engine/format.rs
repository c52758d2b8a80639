//! Format constants in one place. All integers on storage are little-endian.

/// Format version written in the repository's public header. Repositories of any other version are refused
/// (docs/design.md, "Changes", lists what each version changed).
pub const FORMAT_VERSION: u32 = 8;

/// Magic at the start of the public repository header (`config`).
pub const CONFIG_MAGIC: &[u8; 8] = b"INFINI\x00\x01";

/// Size class used for small metadata objects: refs, key slots, the public header.
pub const META_CLASS: usize = 4 * 1024;

/// Size classes of packs, smallest first. Every pack is padded to one of these.
pub const PACK_CLASSES: [usize; 5] = [64 << 10, 256 << 10, 1 << 20, 4 << 20, 16 << 20];

/// The largest pack class.
pub const MAX_PACK: usize = PACK_CLASSES[PACK_CLASSES.len() - 1];

/// Every size an object in a repository may have.
pub fn is_size_class(len: u64) -> bool {
    len == META_CLASS as u64 || PACK_CLASSES.iter().any(|&c| c as u64 == len)
}

/// Largest plaintext a chunk may decode to: no stored chunk is larger (data chunks are at most
/// [`DATA_CHUNK_MAX`], index chunks far smaller), and a decoder never allocates more for one.
pub const MAX_CHUNK_PLAIN: usize = MAX_PACK;

/// Content-defined chunking of values: minimum, average and maximum chunk size.
pub const DATA_CHUNK_MIN: u32 = 256 * 1024;
/// Average data chunk size.
pub const DATA_CHUNK_AVG: u32 = 1024 * 1024;
/// Maximum data chunk size. Must leave room in the largest pack.
pub const DATA_CHUNK_MAX: u32 = 4 * 1024 * 1024;

/// Values up to this many bytes are stored inline in the index instead of as chunks.
pub const INLINE_MAX: usize = 2048;

/// Bytes a sealed message has beyond its plaintext: the per-message salt (32) and the GCM tag (16).
pub const SEAL_OVERHEAD: usize = 32 + 16;

/// Bytes of the pack locator at the end of every pack: a sealed table offset and length (4 + 4).
pub const LOCATOR_LEN: usize = SEAL_OVERHEAD + 8;

/// Default zstd level for chunks: level 2 compresses within 1% of level 3 on mixed data at about 30% less CPU.
pub const DEFAULT_ZSTD_LEVEL: i32 = 2;
