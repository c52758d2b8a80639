//! The namespace: the key -> value map the command line works on, one [`VersionedMap`] of [`Entry`]s.

use crate::engine::chunk::Blob;
use crate::engine::fields::VersionedMap;
use crate::engine::repo::Repository;
use crate::engine::{Error, Result};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// What a namespace entry stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A value (a regular file's content).
    #[default]
    File,
    /// A symbolic link: the value is the link's target, as bytes.
    Symlink,
    /// A directory: its key is its path with a `/` after it (`web/css/`, which no file's key can be), its value
    /// empty; it carries the directory's permission bits and mtime, and makes an empty directory part of a tree.
    Dir,
}

impl EntryKind {
    fn is_file(&self) -> bool {
        *self == EntryKind::File
    }
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// An `mtime` as stored: any CBOR integer that is a 64-bit time (see [`Entry::mtime`]); anything else does not
/// decode.
fn de_mtime<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<i64>, D::Error> {
    let Some(v) = Option::<i128>::deserialize(d)? else { return Ok(None) };
    if let Ok(s) = i64::try_from(v) {
        return Ok(Some(s));
    }
    match u64::try_from(v) {
        // The two's complement an earlier program kept in an unsigned field (see `Entry::mtime`).
        Ok(u) => Ok(Some(u as i64)),
        Err(_) => Err(serde::de::Error::custom(format!("mtime {v} is outside the 64-bit range"))),
    }
}

/// A stored value and what is known about it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The value (for a symbolic link: its target).
    pub blob: Blob,
    /// Modification time of the file it came from, seconds since the epoch (negative before 1970).
    ///
    /// Encoded as a CBOR integer of either sign. An unsigned value above `i64::MAX` is read as the negative number
    /// with the same 64 bits: that is how earlier programs stored a tar member dated before 1970.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de_mtime")]
    pub mtime: Option<i64>,
    /// Nanoseconds past `mtime`'s second.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mtime_nsec: u32,
    /// Permission bits (`st_mode & 0o7777`) of the file it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    /// A file or a symbolic link.
    #[serde(default, skip_serializing_if = "EntryKind::is_file")]
    pub kind: EntryKind,
}

impl crate::engine::fields::Trace for Entry {
    /// Reports the blob's chunks, and to `check` whatever about the entry and its key the command line could never
    /// have written ([`Entry::problems`]).
    fn trace(&self, tracer: &mut crate::engine::fields::Tracer<'_>) -> Result<()> {
        if let Some(key) = tracer.key() {
            for p in self.problems(key) {
                tracer.invalid(p);
            }
        }
        tracer.blob(&self.blob)
    }
}

impl Entry {
    /// An entry holding `blob` with no file metadata.
    pub fn new(blob: Blob) -> Self {
        Self { blob, mtime: None, mtime_nsec: 0, mode: None, kind: EntryKind::File }
    }

    /// A directory entry (empty value, no metadata yet); its key is [`dir_key`] of the directory's path.
    pub fn dir() -> Self {
        Self { kind: EntryKind::Dir, ..Self::new(Blob::Inline(Vec::new())) }
    }

    /// Whether this is a directory entry.
    pub fn is_dir(&self) -> bool {
        self.kind == EntryKind::Dir
    }

    /// Value length in bytes.
    pub fn size(&self) -> u64 {
        self.blob.size()
    }

    /// The modification time, if stored and valid: seconds since the epoch (negative before 1970) and nanoseconds
    /// (below 10^9). `None` when unknown, or when the stored nanoseconds are out of range (which
    /// [`Entry::problems`] reports).
    pub fn mtime_parts(&self) -> Option<(i64, u32)> {
        let secs = self.mtime?;
        (self.mtime_nsec < NANOS).then_some((secs, self.mtime_nsec))
    }

    /// The modification time as a [`SystemTime`](std::time::SystemTime), if stored, valid, and representable on
    /// this platform.
    pub fn modified(&self) -> Option<std::time::SystemTime> {
        let (secs, nsec) = self.mtime_parts()?;
        system_time(secs, nsec)
    }

    /// What about this entry, stored under `key` (raw bytes), no program following the rules could have written:
    /// a key [`check_key`] refuses (or not UTF-8; for a directory entry, its key without the trailing `/`, which it
    /// must have), a directory entry with a value, a symbolic link whose target is not inline, empty or holds a NUL,
    /// nanoseconds of 10^9 or more, or without seconds, and permission bits beyond `0o7777`. Each problem names the
    /// key. Empty when the entry is valid.
    pub fn problems(&self, key: &[u8]) -> Vec<String> {
        let name = String::from_utf8_lossy(key);
        let mut out = Vec::new();
        match std::str::from_utf8(key) {
            Ok(k) => {
                let checked = match (self.kind, k.strip_suffix('/')) {
                    (EntryKind::Dir, Some(path)) => check_key(path),
                    (EntryKind::Dir, None) => {
                        Err(Error::Invalid(format!("directory entry {k:?} has a key without a trailing '/'")))
                    }
                    _ => check_key(k),
                };
                if let Err(e) = checked {
                    let why = match e {
                        Error::Invalid(m) => m,
                        e => e.to_string(),
                    };
                    out.push(format!("stored {why}"));
                }
            }
            Err(_) => out.push(format!("stored key {name:?} is not UTF-8")),
        }
        if self.kind == EntryKind::Symlink {
            match &self.blob {
                Blob::Inline(t) if t.is_empty() => out.push(format!("symbolic link {name:?} has an empty target")),
                Blob::Inline(t) if t.contains(&0) => {
                    out.push(format!("symbolic link {name:?} has a target with a NUL byte"))
                }
                Blob::Inline(_) => {}
                _ => out.push(format!("symbolic link {name:?} has a target that is not inline")),
            }
        }
        if self.kind == EntryKind::Dir && !matches!(&self.blob, Blob::Inline(v) if v.is_empty()) {
            out.push(format!("directory entry {name:?} has a value"));
        }
        if self.mtime_nsec >= NANOS {
            out.push(format!("entry {name:?} has mtime_nsec {} (not below 10^9)", self.mtime_nsec));
        } else if self.mtime_nsec != 0 && self.mtime.is_none() {
            out.push(format!("entry {name:?} has mtime_nsec {} without an mtime", self.mtime_nsec));
        }
        if let Some(m) = self.mode.filter(|m| m & !0o7777 != 0) {
            out.push(format!("entry {name:?} has mode {m:#o} (beyond the permission bits 0o7777)"));
        }
        out
    }

    /// Whether two entries hold the same bytes as the same kind (their metadata may differ). Compares content
    /// identities (inline bytes, chunk ids), never reads a value.
    pub fn same_content(&self, other: &Entry) -> bool {
        self.kind == other.kind && self.blob.same_content(&other.blob)
    }

    /// How `new` differs from `self`: `None` when equal.
    pub fn change_to(&self, new: &Entry) -> Option<Change> {
        if self == new {
            None
        } else if self.same_content(new) {
            Some(Change::Metadata)
        } else {
            Some(Change::Modified)
        }
    }
}

/// Nanoseconds in a second.
const NANOS: u32 = 1_000_000_000;

/// `secs` seconds and `nsec` nanoseconds (below 10^9) after the epoch (before it for negative `secs`), if this
/// platform's [`SystemTime`](std::time::SystemTime) holds it.
pub fn system_time(secs: i64, nsec: u32) -> Option<std::time::SystemTime> {
    use std::time::{Duration, UNIX_EPOCH};
    if nsec >= NANOS {
        return None;
    }
    let whole = if secs >= 0 {
        UNIX_EPOCH.checked_add(Duration::from_secs(secs.unsigned_abs()))
    } else {
        UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    whole?.checked_add(Duration::from_nanos(u64::from(nsec)))
}

/// `secs` seconds after the epoch (before it when negative), in UTC as RFC 3339 to the second:
/// `1969-12-31T00:00:00Z`. Years outside 0000–9999 are written with a sign and as many digits as they need (ISO
/// 8601's expanded form: `+292277026596-12-04T15:30:07Z`, `-0001-12-31T23:59:59Z`), so every 64-bit time, signed
/// or not, has one exact text.
pub fn format_time(secs: i128) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    // Days to a civil date in the proleptic Gregorian calendar (after Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i128::from(month <= 2);
    let year = match year {
        0..=9999 => format!("{year:04}"),
        y if y > 9999 => format!("+{y}"),
        y => format!("-{:04}", y.unsigned_abs()),
    };
    format!("{year}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z")
}

/// How a key changed between two versions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The key is new.
    Added,
    /// The key is gone.
    Removed,
    /// The bytes (or the kind) changed.
    Modified,
    /// Only metadata (mode, mtime) changed; the bytes are the same.
    Metadata,
}

impl Change {
    /// The change between two optional entries (`None` when equal).
    pub fn between(old: Option<&Entry>, new: Option<&Entry>) -> Option<Change> {
        match (old, new) {
            (None, None) => None,
            (None, Some(_)) => Some(Change::Added),
            (Some(_), None) => Some(Change::Removed),
            (Some(a), Some(b)) => a.change_to(b),
        }
    }

    /// One letter: `A`, `D`, `M`, or `T` (metadata only, as git shows a type change).
    pub fn letter(self) -> &'static str {
        match self {
            Change::Added => "A",
            Change::Removed => "D",
            Change::Modified => "M",
            Change::Metadata => "T",
        }
    }

    /// `added`, `removed`, `modified` or `metadata`.
    pub fn word(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Modified => "modified",
            Change::Metadata => "metadata",
        }
    }
}

/// The namespace field.
pub type Namespace = VersionedMap<String, Entry>;

/// Name of the namespace field in a commit's index.
pub const FIELD: &str = "namespace";

/// An index holding just the namespace.
pub struct NamespaceIndex {
    /// The namespace.
    pub ns: Namespace,
}

impl Default for NamespaceIndex {
    /// An empty namespace whose entries `check` validates ([`Entry::problems`], through `Entry`'s
    /// [`Trace`](crate::engine::fields::Trace)).
    fn default() -> Self {
        Self { ns: Namespace::validated(<Entry as crate::engine::fields::Trace>::trace) }
    }
}

impl crate::engine::fields::Index for NamespaceIndex {
    fn fields(&self) -> Vec<(&'static str, &dyn crate::engine::fields::Field)> {
        vec![(FIELD, &self.ns)]
    }
}

/// Validate a key: 1-4096 bytes of UTF-8, no NUL, no leading `/`, and `/`-separated segments that are neither
/// empty nor `.` or `..` (so every key maps to a safe relative path).
pub fn check_key(key: &str) -> Result<()> {
    let rule = "keys are 1-4096 bytes without NUL, not starting with '/', with no empty, '.' or '..' segments";
    let bad = |why: &str| Err(Error::Invalid(format!("invalid key {key:?}: {why} ({rule})")));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > 4096 {
        return bad("longer than 4096 bytes");
    }
    if key.contains('\0') {
        return bad("contains NUL");
    }
    if key.starts_with('/') {
        return bad("starts with '/'");
    }
    for seg in key.split('/') {
        match seg {
            "" => return bad("has an empty segment"),
            "." | ".." => return bad(&format!("has a '{seg}' segment")),
            _ => {}
        }
    }
    Ok(())
}

/// The key of the directory entry for directory `path` (a valid key): `path/`.
pub fn dir_key(path: &str) -> String {
    format!("{}/", path.trim_end_matches('/'))
}

/// A key prefix naming a directory: `web`, `web/` and `web//` all become `web/`; empty (or `/`) is the whole
/// namespace. The prefix itself must be a valid key.
pub fn dir_prefix(prefix: &str) -> Result<String> {
    let p = prefix.trim_end_matches('/');
    if p.is_empty() {
        return Ok(String::new());
    }
    check_key(p)?;
    Ok(format!("{p}/"))
}

/// The namespace of a commit's state `roots` without the keys `keys` name — each a key, which removes that key and
/// every key under it as a directory (`KEY/...`), or a prefix ending in `/`, which removes every key under it —
/// and how many keys that removed; `None` when it removes none. The edit of `infini rewrite --remove`, for
/// [`Repository::rewrite`]: the new roots keep every other field as it is.
pub fn without_keys(
    repo: &Repository,
    roots: &crate::engine::repo::IndexRoots,
    keys: &[String],
) -> Result<Option<(crate::engine::repo::IndexRoots, u64)>> {
    use crate::engine::fields::Field;
    let Some(root) = roots.get(FIELD) else { return Ok(None) };
    let ns = Namespace::default();
    ns.load(repo.store(), Some(root.as_slice()))?;
    let mut doomed: Vec<String> = Vec::new();
    for k in keys {
        let dir = dir_prefix(k)?;
        if !k.ends_with('/') && ns.contains_key(k)? {
            doomed.push(k.clone());
        }
        for e in ns.prefix(dir.as_bytes()) {
            doomed.push(e?.0);
        }
    }
    doomed.sort();
    doomed.dedup();
    if doomed.is_empty() {
        return Ok(None);
    }
    for k in &doomed {
        ns.remove(k);
    }
    let new_root = ns.commit(repo.store(), Some(root.as_slice()))?;
    let mut out = roots.clone();
    out.insert(FIELD.to_string(), serde_bytes::ByteBuf::from(new_root));
    Ok(Some((out, doomed.len() as u64)))
}

/// Store everything `input` yields as a value. `progress` is called with the bytes read so far.
pub fn store_value(repo: &Repository, input: &mut dyn Read, progress: &mut dyn FnMut(u64)) -> Result<Entry> {
    Ok(Entry::new(repo.write_blob(input, progress)?))
}

/// Like [`claim_staged`], for every change staged in `ns` (those held in memory and the spilled ones, read as a
/// stream: memory follows the packs pointed into, not the number of pointers).
pub fn claim_staged_in(repo: &Repository, ns: &Namespace, gc_deletions: Option<u64>) -> Result<()> {
    repo.verify_packs(
        &|each| {
            for change in ns.staged_iter() {
                let (_, v) = change?;
                let Some(e) = v else { continue };
                e.blob.for_each_pointer(repo.store(), &mut |_, p| each(p))?;
            }
            Ok(())
        },
        gc_deletions,
    )
}

/// Check, before a commit starts building, that no pack staged changes (`(key, encoded entry or None)`, as
/// exported) point into (for a chunk of a pack gc repacked, the pack it moved to) is being deleted by gc: otherwise
/// [`Error::StagedDataCollected`](crate::engine::Error::StagedDataCollected) and nothing may be published. The
/// commit itself then checks that each is stored, whatever removed it, and claims them, so that gc keeps them until
/// its ref swap is done (see [`Repository::commit_index_on`]). `gc_deletions` is no longer needed (every pack is checked) and is ignored.
pub fn claim_staged(
    repo: &Repository,
    changes: &[(Vec<u8>, Option<Vec<u8>>)],
    gc_deletions: Option<u64>,
) -> Result<()> {
    repo.verify_packs(
        &|each| {
            for (_, v) in changes {
                let Some(v) = v else { continue };
                let e: Entry = ciborium::from_reader(v.as_slice())
                    .map_err(|e| crate::engine::Error::integrity(format!("staged entry: {e}")))?;
                e.blob.for_each_pointer(repo.store(), &mut |_, p| each(p))?;
            }
            Ok(())
        },
        gc_deletions,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor<T: Serialize>(t: &T) -> Vec<u8> {
        let mut v = Vec::new();
        ciborium::into_writer(t, &mut v).expect("CBOR into memory");
        v
    }

    #[test]
    fn an_entry_an_earlier_program_stored_for_a_tar_member_before_1970_reads_as_its_negative_time() {
        // Earlier programs kept the two's complement of a negative tar time in an unsigned field.
        #[derive(Serialize)]
        struct Old {
            blob: Blob,
            mtime: u64,
        }
        let old = cbor(&Old { blob: Blob::Inline(b"v".to_vec()), mtime: 18_446_744_073_709_465_216 });
        let e: Entry = ciborium::from_reader(old.as_slice()).expect("decodes");
        assert_eq!(e.mtime, Some(-86_400));
        assert_eq!(format_time(e.mtime.unwrap_or_default().into()), "1969-12-31T00:00:00Z");
        // Written again, the time is a negative CBOR integer, and reads back the same.
        let again: Entry = ciborium::from_reader(cbor(&e).as_slice()).expect("decodes");
        assert_eq!(again, e);
        // A positive time of an earlier program reads as it was.
        let old = cbor(&Old { blob: Blob::Inline(b"v".to_vec()), mtime: 1_700_000_000 });
        let e: Entry = ciborium::from_reader(old.as_slice()).expect("decodes");
        assert_eq!(e.mtime, Some(1_700_000_000));
    }

    #[test]
    fn an_mtime_beyond_64_bits_does_not_decode() {
        #[derive(Serialize)]
        struct Wide {
            blob: Blob,
            mtime: i128,
        }
        for t in [i128::from(i64::MIN) - 1, -(1i128 << 64), 1i128 << 64] {
            let b = cbor(&Wide { blob: Blob::Inline(b"v".to_vec()), mtime: t });
            assert!(ciborium::from_reader::<Entry, _>(b.as_slice()).is_err(), "{t}");
        }
    }

    #[test]
    fn every_64_bit_time_has_one_text() {
        for (secs, text) in [
            (0, "1970-01-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
            (-86_400, "1969-12-31T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (16_725_225_600, "2500-01-01T00:00:00Z"),
            (253_402_300_799, "9999-12-31T23:59:59Z"),
            (253_402_300_800, "+10000-01-01T00:00:00Z"),
            (-62_167_219_200, "0000-01-01T00:00:00Z"),
            (-62_167_219_201, "-0001-12-31T23:59:59Z"),
            (i64::MAX, "+292277026596-12-04T15:30:07Z"),
            (i64::MIN, "-292277022657-01-27T08:29:52Z"),
        ] {
            assert_eq!(format_time(secs.into()), text, "{secs}");
        }
        assert_eq!(format_time(u64::MAX.into()), "+584554051223-11-09T07:00:15Z");
    }

    #[test]
    fn times_before_1970_and_with_nanoseconds_are_system_times() {
        use std::time::{Duration, UNIX_EPOCH};
        assert_eq!(system_time(-86_400, 0), Some(UNIX_EPOCH - Duration::from_secs(86_400)));
        assert_eq!(system_time(-2, 500_000_000), Some(UNIX_EPOCH - Duration::from_millis(1500)));
        assert_eq!(system_time(5, 1_000_000_000), None, "nanoseconds past a second are not a time");
        let mut e = Entry::new(Blob::Inline(Vec::new()));
        e.mtime = Some(i64::MIN);
        e.mtime_nsec = 999_999_999;
        let _ = e.modified();
        e.mtime_nsec = 1_000_000_000;
        assert_eq!(e.mtime_parts(), None, "an invalid time is unknown, not clamped");
    }

    #[test]
    fn problems_name_what_the_command_line_could_never_have_written() {
        let v = Entry::new(Blob::Inline(b"v".to_vec()));
        assert!(v.problems(b"a/b").is_empty());
        for key in [&b"h/../../x"[..], b"/abs", b"a\0b", b"", b"a//b", b"\xff"] {
            let p = v.problems(key);
            assert_eq!(p.len(), 1, "{key:?}: {p:?}");
        }
        let mut l = v.clone();
        l.kind = EntryKind::Symlink;
        assert!(l.problems(b"l").is_empty(), "a link whose target is bytes, even not UTF-8, is valid");
        l.blob = Blob::Inline(b"\xff\xfe".to_vec());
        assert!(l.problems(b"l").is_empty());
        l.blob = Blob::Inline(Vec::new());
        assert_eq!(l.problems(b"l").len(), 1);
        l.blob = Blob::Inline(b"a\0".to_vec());
        assert_eq!(l.problems(b"l").len(), 1);
        let mut t = v.clone();
        t.mtime_nsec = 1;
        assert_eq!(t.problems(b"t").len(), 1, "nanoseconds without seconds");
        t.mtime = Some(-1);
        assert!(t.problems(b"t").is_empty());
        t.mtime_nsec = 1_000_000_000;
        assert_eq!(t.problems(b"t").len(), 1);
        let mut m = v;
        m.mode = Some(0o100_644);
        assert_eq!(m.problems(b"m").len(), 1);
        let d = Entry::dir();
        assert!(d.problems(b"a/b/").is_empty());
        assert_eq!(d.problems(b"a/b").len(), 1, "a directory's key ends with '/'");
        assert_eq!(d.problems(b"a//").len(), 1);
        assert_eq!(d.problems(b"/").len(), 1);
        assert_eq!(Entry::new(Blob::Inline(Vec::new())).problems(b"a/").len(), 1, "a file's key cannot end with '/'");
        let mut full = Entry::dir();
        full.blob = Blob::Inline(b"x".to_vec());
        assert_eq!(full.problems(b"d/").len(), 1, "a directory holds no value");
    }
}
