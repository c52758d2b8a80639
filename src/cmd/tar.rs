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

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64, owner: (u32, u32)) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_size(size);
    h.set_uid(owner.0 as u64);
    h.set_gid(owner.1 as u64);
    h
}

/// Write every key under `prefix` (a directory name: `web` and `web/` are the same) of `ns` as a tar archive to
/// `out`, each as its path after the prefix, the way `get -r` lays them out. `dir_mtime` is the time given to
/// directories and to files stored without one. With `keep_keys`, the outcome lists the keys written.
///
/// Memory does not grow with the number of keys: keys come in order, so the keys under any directory are
/// contiguous, and a directory is new exactly when it differs from the previous path's at the same depth.
pub fn write(
    repo: &Repository,
    ns: &Namespace,
    prefix: &str,
    dir_mtime: u64,
    keep_keys: bool,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> anyhow::Result<Outcome> {
    let prefix = dir_prefix(prefix)?;
    let prefix = prefix.as_str();
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata("/proc/self").map(|m| (m.uid(), m.gid())).unwrap_or((0, 0));
    let mut items = ns.prefix(prefix.as_bytes()).peekable();
    if items.peek().is_none() {
        // Nothing is written at all (not even an empty archive).
        return Err(Error::not_found(format!("no keys under prefix {prefix:?}")).into());
    }
    let mut b = tar::Builder::new(out);
    // The directories of the previous member, outermost first.
    let mut dirs: Vec<String> = Vec::new();
    let mut o = Outcome { files: 0, bytes: 0, skipped: (0, None), keys: Vec::new() };
    for item in items {
        let (key, entry) = item?;
        let path = member_path(Path::new(&key[prefix.len()..]))?
            .filter(|p| p.len() == key.len() - prefix.len())
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
        if meta.symlink {
            let mut target = Vec::new();
            repo.blob_reader(entry.blob.clone()).read_to_end(&mut target).map_err(read_err)?;
            let target = String::from_utf8(target).map_err(|_| Error::integrity(format!("symlink {key}")))?;
            let mut h = header(tar::EntryType::Symlink, u32::from(meta.perm), mtime, 0, owner);
            b.append_link(&mut h, &path, &target).map_err(write_err)?;
        } else {
            let size = entry.size();
            let mut h = header(tar::EntryType::Regular, u32::from(meta.perm), mtime, size, owner);
            let mut r = value_reader(repo, &entry).take(size);
            b.append_data(&mut h, &path, &mut r).map_err(write_err)?;
            o.bytes += size;
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
/// same tree: files with their permission bits and mtime, symbolic links as links; directories are implied by
/// keys; a hard link stores the content of the file it links to; other members are skipped and counted.
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
    let mut o = Outcome { files: 0, bytes: 0, skipped: (0, None), keys: Vec::new() };
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
        let Some(rel) = member_path(&path)? else { continue };
        let key = format!("{prefix}{rel}");
        let mtime = member.header().mtime().ok();
        let mode = member.header().mode().ok().map(|m| m & 0o7777);
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                check_key(&key)?;
                let base = o.bytes;
                let mut entry = store_value(repo, &mut member, &mut |n| progress(base + n))
                    .with_context(|| format!("reading {} from the tar stream", path.display()))?;
                entry.mtime = mtime;
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
                entry.mtime_nsec = 0;
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
                stage_one(key, entry, &mut o)?;
            }
            tar::EntryType::Directory => {}
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
