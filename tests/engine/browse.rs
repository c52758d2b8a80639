//! The browser behind `infini mount`: reads without an open handle, and listings that carry attributes and
//! count as lookups.

use infini::backends::MemoryBackend;
use infini::browse::{BrowseOptions, Browser, FileType, Layout, ROOT_INO};
use infini::namespace::{store_value, NamespaceIndex};
use infini::{Error, Infinitree, KdfParams, Repository, StoreOptions};
use std::sync::Arc;

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 11) as u8)).collect()
}

/// A repository whose `main` holds `d/a` (inline), `d/b` (several chunks) and `d/c`; the browser and the inode of
/// `branches/main/d`.
fn setup(big: &[u8]) -> (Browser, u64) {
    let mem = Arc::new(MemoryBackend::new());
    let repo =
        Arc::new(Repository::create(mem, b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap());
    let mut main = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    for (k, v) in [("d/a", b"small".to_vec()), ("d/b", big.to_vec()), ("d/c", b"third".to_vec())] {
        let e = store_value(&repo, &mut v.as_slice(), &mut |_| {}).unwrap();
        main.index().ns.insert(k.into(), e);
    }
    main.commit("one").unwrap();
    let b = Browser::new(repo, Layout::All { head: None }, BrowseOptions::default());
    let branches = b.lookup(ROOT_INO, "branches").unwrap().unwrap().ino;
    let head = b.lookup(branches, "main").unwrap().unwrap().ino;
    let d = b.lookup(head, "d").unwrap().unwrap().ino;
    (b, d)
}

#[test]
fn listing_with_attributes_counts_only_the_names_taken() {
    let big = bytes(5, 3_000_000);
    let (b, d) = setup(&big);
    assert!(b.listing_is_fixed(d).unwrap(), "a version's directory never changes");
    assert!(!b.listing_is_fixed(ROOT_INO).unwrap(), "the top (branches, commits) does");

    let before = b.remembered();
    let mut seen = Vec::new();
    // The caller takes one name, then has no room for the second: only the first counts as a lookup.
    b.readdir_plus(d, 0, |i, name, a| {
        seen.push((i, name.to_string(), a.kind, a.size));
        seen.len() == 2
    })
    .unwrap();
    assert_eq!(seen[0], (0, "a".to_string(), FileType::File, 5));
    assert_eq!(seen[1].1, "b");
    assert_eq!(b.remembered(), before + 1, "the refused name is not remembered");

    // Going on from the refused name hands over the rest, with the positions readdir gives them.
    let mut rest = Vec::new();
    b.readdir_plus(d, 1, |i, name, a| {
        rest.push((i, name.to_string(), a.size, a.ino));
        false
    })
    .unwrap();
    let names: Vec<_> = rest.iter().map(|r| (r.0, r.1.as_str(), r.2)).collect();
    assert_eq!(names, [(1, "b", big.len() as u64), (2, "c", 5)]);
    assert_eq!(b.remembered(), before + 3);
    // The inodes handed over are the ones lookup reports.
    assert_eq!(b.lookup(d, "b").unwrap().unwrap().ino, rest[0].3);
    b.forget(rest[0].3, 2);
    b.forget(rest[1].3, 1);
    assert_eq!(b.remembered(), before + 1);
}

#[test]
fn reads_without_a_handle_match_reads_through_one() {
    let big = bytes(9, 3_000_000);
    let (b, d) = setup(&big);
    let ino = b.lookup(d, "b").unwrap().unwrap().ino;

    // Sequential reads in the kernel's 128 KiB pieces, then past the end.
    let mut got = Vec::new();
    loop {
        let piece = b.read_inode(ino, got.len() as u64, 128 << 10).unwrap();
        if piece.is_empty() {
            break;
        }
        got.extend_from_slice(&piece);
    }
    assert!(got == big, "sequential reads without a handle return the value");
    // A seek back, and a range across a chunk boundary, agree with a handle's reads.
    let fh = b.open(ino).unwrap();
    for (off, len) in [(1_048_000u64, 300_000usize), (17, 4096), (2_999_990, 100)] {
        let direct = b.read_inode(ino, off, len).unwrap();
        assert_eq!(direct, b.read(fh, off, len).unwrap());
        assert_eq!(direct, big[off as usize..(off as usize + len).min(big.len())]);
    }
    b.release(fh);

    // Many files in turn (more than the readers kept) still read right.
    let small = b.lookup(d, "a").unwrap().unwrap().ino;
    for _ in 0..20 {
        assert_eq!(b.read_inode(small, 0, 4096).unwrap(), b"small");
        assert_eq!(b.read_inode(ino, 5, 3).unwrap(), big[5..8]);
    }
    // A directory, or an inode nobody looked up, is an error, not bytes.
    assert!(matches!(b.read_inode(d, 0, 10), Err(Error::Invalid(_))));
    assert!(b.read_inode(0xdead_beef, 0, 10).is_err());
    // Once the kernel forgets the file, its inode is gone.
    b.forget(ino, 1);
    b.forget(ino, 1);
    assert!(b.read_inode(ino, 0, 10).is_err(), "a forgotten inode does not read");
}

/// What `mount` shows of a file's time: the stored seconds (negative before 1970, up to the 64-bit extremes) and
/// nanoseconds, exactly, as attributes and as the `SystemTime` handed to the kernel.
#[test]
fn attributes_carry_mtimes_before_1970_far_future_and_nanoseconds_exactly() {
    use std::time::{Duration, UNIX_EPOCH};
    let mem = Arc::new(MemoryBackend::new());
    let repo =
        Arc::new(Repository::create(mem, b"pw", KdfParams { log_n: 10, r: 8, p: 1 }, StoreOptions::default()).unwrap());
    let mut main = Infinitree::<NamespaceIndex>::open(repo.clone(), "main").unwrap();
    let times = [
        ("old", -86_401, 250_000_000),
        ("frac", 1_700_000_000, 123_456_789),
        ("max", i64::MAX, 0),
        ("min", i64::MIN, 0),
    ];
    for (k, secs, nsec) in times {
        let mut e = store_value(&repo, &mut &b"v"[..], &mut |_| {}).unwrap();
        e.mtime = Some(secs);
        e.mtime_nsec = nsec;
        main.index().ns.insert(k.into(), e);
    }
    main.commit("times").unwrap();
    let b = Browser::new(repo, Layout::All { head: None }, BrowseOptions::default());
    let branches = b.lookup(ROOT_INO, "branches").unwrap().unwrap().ino;
    let head = b.lookup(branches, "main").unwrap().unwrap().ino;
    for (k, secs, nsec) in times {
        let a = b.lookup(head, k).unwrap().unwrap();
        assert_eq!((a.mtime, a.mtime_nsec), (secs, nsec), "{k}");
        assert_eq!(b.getattr(a.ino).unwrap().mtime, secs, "{k}");
        let t = a.modified();
        let back = match t.duration_since(UNIX_EPOCH) {
            Ok(d) => (i128::from(d.as_secs()), d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                let (s, n) = (-i128::from(d.as_secs()), d.subsec_nanos());
                if n == 0 {
                    (s, 0)
                } else {
                    (s - 1, 1_000_000_000 - n)
                }
            }
        };
        assert_eq!(back, (i128::from(secs), nsec), "{k}: {t:?}");
    }
    assert_eq!(
        b.lookup(head, "old").unwrap().unwrap().modified(),
        UNIX_EPOCH - Duration::from_secs(86_401) + Duration::from_millis(250)
    );
}
