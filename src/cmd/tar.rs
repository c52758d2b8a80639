//! Tar streams for `get -r --tar` and `put --tar`: a prefix of a version out as a tar archive, and a tar archive in
//! as staged keys.
//!
//! Uses the `tar` crate for the format (ustar headers, GNU long names on output; GNU, pax and ustar on input).

use super::usage;
use anyhow::Context as _;
use infini::browse::FileMeta;
use infini::namespace::{check_key, dir_prefix, store_value, Entry, EntryKind, Namespace};
use infini::{Blob, Error, Repository};
use std::io::{Read, Write};
use std::path::{Component, Path};

/// What was written or staged.
pub struct Outcome {
    /// Files written or staged.
    pub files: u64,
    /// Directory entries written or staged.
    pub dirs: u64,
    /// Bytes of values.
    pub bytes: u64,
    /// Archive members left out (not a regular file, directory, symlink or hard link), with the first one's path.
    pub skipped: (u64, Option<String>),
    /// Keys staged (put), or written (get, only when asked for: a listing of millions of keys would otherwise be
    /// held to the end), with sizes.
    pub keys: Vec<(String, u64)>,
}

/// A reader of a whole value: background parallel fetches for values of several chunks, direct reads otherwise.
fn value_reader(repo: &Repository, e: &Entry) -> Box<dyn Read + Send> {
    let multi = match &e.blob {
        Blob::Inline(_) => false,
        Blob::Chunks(c) => c.len() > 1,
        Blob::Lists(_) => true,
    };
    if multi {
        Box::new(repo.stream_reader(e.blob.clone(), 0, e.size()))
    } else {
        Box::new(repo.blob_reader(e.blob.clone()))
    }
}

fn header(kind: tar::EntryType, mode: u32, mtime: i64, size: u64, owner: (u32, u32)) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.as_old_mut().mtime = mtime_field(mtime);
    h.set_size(size);
    h.set_uid(owner.0 as u64);
    h.set_gid(owner.1 as u64);
    h
}

/// The 12-byte header field holding `secs` as GNU tar writes it: octal when it fits (0 to 8^11 - 1), else
/// base-256 (two's complement, big-endian, the first byte's top bit set), which holds any 64-bit time, negative
/// ones included.
fn mtime_field(secs: i64) -> [u8; 12] {
    let mut f = [0u8; 12];
    if (0..1 << 33).contains(&secs) {
        f[..11].copy_from_slice(format!("{secs:011o}").as_bytes());
    } else {
        f.copy_from_slice(&i128::from(secs).to_be_bytes()[4..]);
        f[0] |= 0x80;
    }
    f
}

/// The seconds an mtime header field holds: octal (as `tar` reads it), or base-256 with a sign (as GNU tar writes
/// times before 1970 and after 2242). `None` when it is neither, or beyond 64 bits.
fn parse_mtime_field(h: &tar::Header) -> Option<i64> {
    let f = &h.as_old().mtime;
    if f[0] & 0x80 == 0 {
        return h.mtime().ok().and_then(|m| i64::try_from(m).ok());
    }
    // Base-256: bit 0x40 of the first byte is the sign; the rest is two's complement.
    let mut v: i128 = if f[0] & 0x40 != 0 { -1 } else { 0 };
    for (i, b) in f.iter().enumerate() {
        let b = if i == 0 { (f[0] & 0x7f) | (f[0] & 0x40) << 1 } else { *b };
        v = (v << 8) | i128::from(b);
    }
    i64::try_from(v).ok()
}

/// A pax time (`mtime=-1.5`): seconds and nanoseconds, the fraction counted forward from the second below (-1.5 is
/// -2 s + 500,000,000 ns). Digits past nanoseconds are dropped. `None` when it is not a decimal number that fits.
fn parse_pax_time(t: &str) -> Option<(i64, u32)> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secs: i128 = whole.parse().ok()?;
    let mut nsec: u32 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nsec += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
    }
    let (secs, nsec) = match (neg, nsec) {
        (false, n) => (secs, n),
        (true, 0) => (-secs, 0),
        (true, n) => (-secs - 1, 1_000_000_000 - n),
    };
    Some((i64::try_from(secs).ok()?, nsec))
}

/// The pax text of a time: `secs.nsec` as a decimal number (`-1.5` for -2 s + 500,000,000 ns).
fn pax_time(secs: i64, nsec: u32) -> String {
    if nsec == 0 {
        return secs.to_string();
    }
    let (sign, whole, frac) = if secs < 0 {
        ("-", i128::from(secs).unsigned_abs() - 1, 1_000_000_000 - nsec)
    } else {
        ("", i128::from(secs).unsigned_abs(), nsec)
    };
    format!("{sign}{whole}.{frac:09}")
}

/// Write a pax extended header for the next member, with `records` (`key`, `value`).
fn append_pax<W: Write>(b: &mut tar::Builder<W>, records: &[(&str, String)]) -> std::io::Result<()> {
    let mut data = Vec::new();
    for (k, v) in records {
        // `LEN key=value\n`, LEN counting itself.
        let rest = k.len() + v.len() + 3;
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} {k}={v}\n").as_bytes());
    }
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::XHeader);
    h.as_old_mut().name[..14].copy_from_slice(b"././@PaxHeader");
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_cksum();
    b.append(&h, data.as_slice())
}

/// Append a symbolic link whose target is `target`'s bytes exactly (a target longer than the header's 100 bytes
/// goes in a GNU long-link member first).
fn append_symlink<W: Write>(
    b: &mut tar::Builder<W>,
    h: &mut tar::Header,
    path: &str,
    target: &[u8],
) -> std::io::Result<()> {
    let field = &mut h.as_old_mut().linkname;
    field.fill(0);
    if target.len() <= field.len() {
        field[..target.len()].copy_from_slice(target);
    } else {
        field.copy_from_slice(&target[..100]);
        let mut k = tar::Header::new_gnu();
        k.set_entry_type(tar::EntryType::GNULongLink);
        k.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        k.set_mode(0o644);
        k.set_mtime(0);
        k.set_size(target.len() as u64 + 1);
        k.set_cksum();
        b.append(&k, target.chain(&[0u8][..]))?;
    }
    b.append_data(h, path, std::io::empty())
}

/// Write every key under `prefix` (a directory name: `web` and `web/` are the same) of `ns` as a tar archive to
/// `out`, each as its path after the prefix, the way `get -r` lays them out. `dir_mtime` is the time given to
/// directories and to files stored without one. With `keep_keys`, the outcome lists the keys written.
///
/// Memory does not grow with the number of keys: keys come in order, so the keys under any directory are
/// contiguous, and a directory is new exactly when it differs from the previous path's at the same depth.
#[allow(clippy::too_many_arguments)]
pub fn write(
    repo: &Repository,
    ns: &Namespace,
    prefix: &str,
    dir_mtime: i64,
    keep_keys: bool,
    select: Option<&infini::files::KeySelect>,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<Outcome> {
    let prefix = dir_prefix(prefix)?;
    let prefix = prefix.as_str();
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata("/proc/self").map(|m| (m.uid(), m.gid())).unwrap_or((0, 0));
    let selected = |item: &infini::Result<(String, infini::namespace::Entry)>| match (item, select) {
        (Ok((key, _)), Some(sel)) => sel.selects(key.strip_prefix(prefix).unwrap_or(key)),
        _ => true,
    };
    let mut items = Ahead::new(repo, ns.prefix(prefix.as_bytes()).filter(selected)).peekable();
    if items.peek().is_none() {
        // Nothing is written at all (not even an empty archive).
        let what = if select.is_some() { " matching the patterns" } else { "" };
        return Err(Error::not_found(format!("no keys under prefix {prefix:?}{what}")).into());
    }
    let mut b = tar::Builder::new(out);
    // The directories of the previous member, outermost first.
    let mut dirs: Vec<String> = Vec::new();
    let mut o = Outcome { files: 0, dirs: 0, bytes: 0, skipped: (0, None), keys: Vec::new() };
    for item in items {
        let (key, entry) = item?;
        let rest = key.strip_prefix(prefix).unwrap_or_default();
        // A directory entry's key ends with `/`; the prefix's own entry (`web/` for `web`) is the archive's top,
        // which has no member.
        let (rest, is_dir) = match (entry.is_dir(), rest.strip_suffix('/')) {
            (true, Some(r)) => (r, true),
            (true, None) => continue,
            (false, _) => (rest, false),
        };
        let path = member_path(Path::new(rest))?
            .filter(|p| !rest.is_empty() && p.len() == rest.len())
            .ok_or_else(|| usage(format!("key {key:?} does not map to a safe path in an archive")))?;
        // Parent directories first, once each, as tar itself writes them.
        let mut at = 0;
        let mut depth = 0;
        while let Some(i) = path[at..].find('/') {
            let dir = &path[..at + i];
            if dirs.get(depth).map(String::as_str) != Some(dir) {
                dirs.truncate(depth);
                dirs.push(dir.to_string());
                let mut h = header(tar::EntryType::Directory, 0o755, dir_mtime, 0, owner);
                b.append_data(&mut h, format!("{dir}/"), std::io::empty()).map_err(write_err)?;
            }
            at += i + 1;
            depth += 1;
        }
        dirs.truncate(depth);
        let meta = FileMeta::of(&entry);
        let mtime = meta.mtime.unwrap_or(dir_mtime);
        if meta.mtime.is_some() && meta.mtime_nsec != 0 {
            // The header holds whole seconds; a pax record before the member carries the nanoseconds.
            append_pax(&mut b, &[("mtime", pax_time(mtime, meta.mtime_nsec))]).map_err(write_err)?;
        }
        if is_dir {
            // Its stored mode and time; its contents follow, so it is not written again as a parent.
            let perm = entry.mode.map_or(0o755, |m| m & 0o7777);
            let mut h = header(tar::EntryType::Directory, perm, mtime, 0, owner);
            b.append_data(&mut h, format!("{path}/"), std::io::empty()).map_err(write_err)?;
            dirs.push(path);
            o.dirs += 1;
            continue;
        }
        if meta.symlink {
            // A target is bytes (not necessarily UTF-8), written as stored.
            let mut target = Vec::new();
            repo.blob_reader(entry.blob.clone()).read_to_end(&mut target).map_err(read_err)?;
            let mut h = header(tar::EntryType::Symlink, u32::from(meta.perm), mtime, 0, owner);
            append_symlink(&mut b, &mut h, &path, &target).map_err(write_err)?;
        } else {
            let size = entry.size();
            let mut h = header(tar::EntryType::Regular, u32::from(meta.perm), mtime, size, owner);
            let mut r = value_reader(repo, &entry).take(size);
            b.append_data(&mut h, &path, &mut r).map_err(write_err)?;
            o.bytes = o.bytes.saturating_add(size);
        }
        o.files += 1;
        if keep_keys {
            o.keys.push((key, entry.size()));
        }
        progress(o.bytes);
    }
    b.into_inner().map_err(write_err)?.flush().map_err(write_err)?;
    Ok(o)
}

/// Files in one batch read ahead, and their bytes.
const AHEAD_FILES: usize = 512;
const AHEAD_BYTES: u64 = 16 << 20;

/// Keys of a listing, a batch at a time, each batch's values read ahead (see [`Repository::read_ahead`]) before
/// the first of them is handed on: on S3, the archive's small files cost a few requests a batch rather than one
/// each.
/// The first batch is small and each is twice the one before, up to the limits above, so that the first members
/// are written (and progress moves) one round trip after the start.
struct Ahead<'a, I> {
    repo: &'a Repository,
    inner: I,
    batch: std::collections::VecDeque<infini::Result<(String, infini::namespace::Entry)>>,
    max_files: usize,
    max_bytes: u64,
}

impl<'a, I> Ahead<'a, I> {
    fn new(repo: &'a Repository, inner: I) -> Self {
        Self { repo, inner, batch: Default::default(), max_files: AHEAD_FILES / 8, max_bytes: AHEAD_BYTES / 16 }
    }
}

impl<I: Iterator<Item = infini::Result<(String, infini::namespace::Entry)>>> Iterator for Ahead<'_, I> {
    type Item = I::Item;

    fn next(&mut self) -> Option<I::Item> {
        if self.batch.is_empty() {
            let mut bytes = 0u64;
            for item in self.inner.by_ref() {
                let failed = item.is_err();
                bytes += item.as_ref().map_or(0, |(_, e)| e.size());
                self.batch.push_back(item);
                if failed || self.batch.len() >= self.max_files || bytes >= self.max_bytes {
                    break;
                }
            }
            let small = self
                .batch
                .iter()
                .filter_map(|i| i.as_ref().ok())
                .filter(|(_, e)| e.size() < AHEAD_BYTES)
                .map(|(_, e)| &e.blob);
            self.repo.read_ahead(small);
            self.max_files = (self.max_files * 2).min(AHEAD_FILES);
            self.max_bytes = (self.max_bytes * 2).min(AHEAD_BYTES);
        }
        self.batch.pop_front()
    }
}

impl<I> Drop for Ahead<'_, I> {
    fn drop(&mut self) {
        self.repo.clear_read_ahead();
    }
}

fn read_err(e: std::io::Error) -> anyhow::Error {
    write_err(e)
}

/// An I/O error while writing the archive; an engine error that travelled through `Read` comes back as itself.
fn write_err(e: std::io::Error) -> anyhow::Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        if let Ok(inner) = e.into_inner().expect("checked above").downcast::<Error>() {
            return (*inner).into();
        }
        return Error::integrity("reading a value failed").into();
    }
    Error::io("writing the tar stream", e).into()
}

/// The archive path as a relative key suffix: `./` and empty components dropped; absolute paths and `..` refused.
fn member_path(p: &Path) -> anyhow::Result<Option<String>> {
    let mut parts = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => {
                parts.push(s.to_str().ok_or_else(|| usage(format!("archive path {} is not UTF-8", p.display())))?)
            }
            Component::CurDir => {}
            _ => return Err(usage(format!("archive path {} is absolute or leaves its directory", p.display()))),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// Stage every member of the tar archive `input` under `prefix` (a directory name) as `put -r` would stage the
/// same tree: files with their permission bits and mtime, symbolic links as links, directories as directory entries
/// (with their permission bits and mtime; `./` as the prefix's own); a hard link stores the content of the file it links to; other members are skipped and counted.
///
/// As `put -r` does, the staged changes are spilled out of memory whenever `spill_at` of them are held (0: never),
/// and the keys are listed in the outcome only with `keep_keys`, so an archive of millions of members is staged in
/// bounded memory.
pub fn stage(
    repo: &Repository,
    ns: &Namespace,
    prefix: &str,
    input: &mut dyn Read,
    spill_at: usize,
    keep_keys: bool,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<Outcome> {
    let prefix = dir_prefix(prefix)?;
    let prefix = prefix.as_str();
    let mut archive = tar::Archive::new(input);
    let mut o = Outcome { files: 0, dirs: 0, bytes: 0, skipped: (0, None), keys: Vec::new() };
    let stage_one = |key: String, entry: Entry, o: &mut Outcome| -> anyhow::Result<()> {
        o.files += 1;
        if keep_keys {
            o.keys.push((key.clone(), entry.size()));
        }
        ns.insert(key, entry);
        if spill_at > 0 && ns.can_spill() && ns.staged_in_memory() >= spill_at {
            ns.spill()?;
        }
        Ok(())
    };
    for member in archive.entries().context("reading the tar stream")? {
        let mut member = member.context("reading the tar stream")?;
        let path = member.path().context("reading a tar member's path")?.into_owned();
        let kind = member.header().entry_type();
        // `./` is the top directory: with a prefix, the prefix's own directory entry; else nothing.
        let rel = match member_path(&path)? {
            Some(rel) => rel,
            None if kind == tar::EntryType::Directory && !prefix.is_empty() => String::new(),
            None => continue,
        };
        let key = format!("{prefix}{rel}");
        // A pax record's time (it has the nanoseconds), else the header's (signed).
        let pax_mtime = match member.pax_extensions().context("reading a tar member's pax records")? {
            Some(records) => records
                .filter_map(Result::ok)
                .find(|r| r.key_bytes() == b"mtime")
                .and_then(|r| r.value().ok().and_then(parse_pax_time)),
            None => None,
        };
        let (mtime, mtime_nsec) = match pax_mtime {
            Some((s, ns)) => (Some(s), ns),
            None => (parse_mtime_field(member.header()), 0),
        };
        let mode = member.header().mode().ok().map(|m| m & 0o7777);
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                check_key(&key)?;
                let base = o.bytes;
                let mut entry = store_value(repo, &mut member, &mut |n| progress(base + n))
                    .with_context(|| format!("reading {} from the tar stream", path.display()))?;
                entry.mtime = mtime;
                entry.mtime_nsec = mtime_nsec;
                entry.mode = mode;
                o.bytes += entry.size();
                stage_one(key, entry, &mut o)?;
            }
            tar::EntryType::Link => {
                let target = member.link_name().context("reading a hard link's target")?;
                let target = target.as_deref().map(member_path).transpose()?.flatten();
                let linked = match target {
                    Some(t) => ns.get(&format!("{prefix}{t}"))?,
                    None => None,
                };
                let Some(mut entry) = linked else {
                    return Err(Error::not_found(format!(
                        "hard link {} names a file not earlier in the archive",
                        path.display()
                    ))
                    .into());
                };
                check_key(&key)?;
                entry.mtime = mtime;
                entry.mtime_nsec = mtime_nsec;
                entry.mode = mode;
                stage_one(key, entry, &mut o)?;
            }
            tar::EntryType::Symlink => {
                let target = member
                    .link_name_bytes()
                    .ok_or_else(|| {
                        Error::integrity(format!("symbolic link {} has no target in the archive", path.display()))
                    })?
                    .into_owned();
                check_key(&key)?;
                let mut entry = Entry::new(Blob::Inline(target));
                entry.kind = EntryKind::Symlink;
                entry.mtime = mtime;
                entry.mtime_nsec = mtime_nsec;
                stage_one(key, entry, &mut o)?;
            }
            tar::EntryType::Directory => {
                let key = if rel.is_empty() { key } else { format!("{key}/") };
                check_key(key.trim_end_matches('/'))?;
                let mut entry = Entry::dir();
                entry.mtime = mtime;
                entry.mtime_nsec = mtime_nsec;
                entry.mode = mode;
                o.dirs += 1;
                if keep_keys {
                    o.keys.push((key.clone(), 0));
                }
                ns.insert(key, entry);
            }
            _ => {
                o.skipped.0 += 1;
                if o.skipped.1.is_none() {
                    o.skipped.1 = Some(path.display().to_string());
                }
            }
        }
    }
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_64_bit_time_goes_through_a_header_and_a_pax_record_exactly() {
        let mut times = vec![i64::MIN, i64::MIN + 1, -86_400, -1, 0, 1, (1 << 33) - 1, 1 << 33, i64::MAX - 1, i64::MAX];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            times.push(x as i64);
            times.push((x as i64) >> (x % 63));
        }
        for secs in times {
            let mut h = tar::Header::new_gnu();
            h.as_old_mut().mtime = mtime_field(secs);
            assert_eq!(parse_mtime_field(&h), Some(secs), "header field of {secs}");
            if (0..1 << 33).contains(&secs) {
                assert_eq!(h.mtime().ok(), Some(secs as u64), "octal as tar reads it");
            }
            for nsec in [0, 1, 500_000_000, 999_999_999] {
                assert_eq!(parse_pax_time(&pax_time(secs, nsec)), Some((secs, nsec)), "pax {secs}.{nsec}");
            }
        }
        assert_eq!(pax_time(-2, 500_000_000), "-1.500000000");
        assert_eq!(parse_pax_time("-1.5"), Some((-2, 500_000_000)));
        assert_eq!(parse_pax_time("1700000000.1234567891"), Some((1_700_000_000, 123_456_789)));
        for bad in ["", "-", ".5", "1e5", "1.-5", "99999999999999999999", "+1"] {
            assert_eq!(parse_pax_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_base_256_field_beyond_64_bits_is_no_time() {
        let mut h = tar::Header::new_gnu();
        let mut f = [0u8; 12];
        f[0] = 0x80;
        f[3] = 1; // 2^64
        h.as_old_mut().mtime = f;
        assert_eq!(parse_mtime_field(&h), None);
        f = [0xff; 12];
        f[3] = 0xfe; // -2^64 - 1 and so on
        h.as_old_mut().mtime = f;
        assert_eq!(parse_mtime_field(&h), None);
    }
}
