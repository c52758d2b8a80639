//! Format constants in one place. All integers on storage are little-endian.

/// Format version written in the repository's public header. Repositories of any other version are refused
/// (docs/design.md, "Changes", lists what each version changed).
pub const FORMAT_VERSION: u32 = 11;

/// Magic at the start of the public repository header (`config`).
pub const CONFIG_MAGIC: &[u8; 8] = b"INFINI\x00\x01";

/// Size class used for small metadata objects: refs, key slots, the public header.
pub const META_CLASS: usize = 4 * 1024;

/// The smallest pack class: 8 KiB.
pub const MIN_PACK: usize = 8 << 10;

/// The largest pack class: 16 MiB.
pub const MAX_PACK: usize = 16 << 20;

/// Pack classes per doubling: a padded pack is at most 1/8 (12.5 %) larger than its content.
const CLASS_STEPS: usize = 8;

/// Classes are whole pages (packs are written with direct I/O): below 32 KiB a doubling has fewer steps.
const CLASS_ALIGN: usize = 4096;

const fn class_step(base: usize) -> usize {
    let s = base / CLASS_STEPS;
    if s < CLASS_ALIGN {
        CLASS_ALIGN
    } else {
        s
    }
}

const fn count_pack_classes() -> usize {
    let (mut n, mut base) = (1, MIN_PACK);
    while base < MAX_PACK {
        n += base / class_step(base);
        base *= 2;
    }
    n
}

const PACK_CLASS_COUNT: usize = count_pack_classes();

/// Size classes of packs (and of sealed objects larger than a ref), smallest first: from each power of two `2^e`
/// between 8 KiB and 8 MiB, steps of `2^e / 8` (at least 4 KiB) up to the next, then 16 MiB. Every pack is
/// padded to one of these.
pub const PACK_CLASSES: [usize; PACK_CLASS_COUNT] = pack_classes();

const fn pack_classes() -> [usize; PACK_CLASS_COUNT] {
    let mut out = [0usize; PACK_CLASS_COUNT];
    let (mut i, mut base) = (0, MIN_PACK);
    while base < MAX_PACK {
        let step = class_step(base);
        let mut size = base;
        while size < base * 2 {
            out[i] = size;
            i += 1;
            size += step;
        }
        base *= 2;
    }
    out[i] = MAX_PACK;
    out
}

/// The smallest pack class of at least `needed` bytes (`needed` itself beyond the largest).
pub fn pack_class(needed: usize) -> usize {
    match PACK_CLASSES.binary_search(&needed) {
        Ok(i) => PACK_CLASSES[i],
        Err(i) => PACK_CLASSES.get(i).copied().unwrap_or(needed),
    }
}

/// Every size an object in a repository may have.
pub fn is_size_class(len: u64) -> bool {
    len == META_CLASS as u64 || usize::try_from(len).is_ok_and(|l| PACK_CLASSES.binary_search(&l).is_ok())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_classes_rise_by_at_most_an_eighth_from_32_kib_to_16_mib() {
        assert_eq!(PACK_CLASSES[..7], [8 << 10, 12 << 10, 16 << 10, 20 << 10, 24 << 10, 28 << 10, 32 << 10]);
        assert_eq!(PACK_CLASSES[7], 36 << 10);
        assert_eq!(*PACK_CLASSES.last().unwrap(), 16 << 20);
        assert_eq!(PACK_CLASSES.len(), 2 + 4 + 9 * 8 + 1);
        for w in PACK_CLASSES.windows(2) {
            assert!(w[0] < w[1], "{w:?}");
            assert!(w[1] * 2 <= w[0] * 3, "at most a half apart: {w:?}");
            assert!(w[0] < 32 << 10 || w[1] * 8 <= w[0] * 9, "at most an eighth apart from 32 KiB: {w:?}");
        }
        assert!(PACK_CLASSES.iter().all(|c| c % 4096 == 0), "every class is whole pages");
        assert_eq!(pack_class(1), 8 << 10);
        assert_eq!(pack_class(16 << 10), 16 << 10);
        assert_eq!(pack_class((16 << 10) + 1), 20 << 10);
        assert_eq!(pack_class((1 << 20) + 1), 9 << 17);
        assert_eq!(pack_class((16 << 20) + 1), (16 << 20) + 1);
        assert!(
            is_size_class(4096)
                && is_size_class(36 << 10)
                && !is_size_class(65_537)
                && is_size_class(8192)
                && !is_size_class(18 << 10)
        );
    }
}
