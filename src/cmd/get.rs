//! `infini get`: write a value (or a byte range of it) to stdout or a file, or a whole prefix to a directory.

use super::progress::{self, Bar};
use super::session::Session;
use super::{output, usage, Context};
use anyhow::Context as _;
use infini::files::{get_tree, GetTreeOptions};
use infini::namespace::Entry;
use infini::Error;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Write the value of KEY to stdout (or -o FILE); with -r, write every key under PREFIX into DIR: files and links
/// with their permission bits and mtimes, and every stored directory (empty ones too), whose permission bits and
/// mtimes are set once their contents are written.
#[derive(clap::Args)]
pub struct Args {
    /// Fetch a whole prefix: `get -r PREFIX DIR`.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// KEY (or PREFIX with -r).
    #[arg(add = super::complete::key())]
    key: String,
    /// DIR (with -r).
    #[arg(value_name = "DIR")]
    target_dir: Option<PathBuf>,
    /// Write to FILE instead of stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Create the missing parent directories of -o FILE (otherwise a missing one is an error, exit code 3).
    #[arg(long, requires = "output")]
    parents: bool,
    /// Read the value at revision REV instead of the workspace's view.
    #[arg(long, value_name = "REV", add = super::complete::rev())]
    at: Option<String>,
    /// Only bytes A to B, inclusive (`A-B`, `A-` to the end, `-N` for the last N bytes).
    #[arg(long, value_name = "A-B", allow_hyphen_values = true)]
    range: Option<String>,
    /// With -r: write PREFIX as a tar archive to stdout (or -o FILE) instead of files in DIR (modes, mtimes and
    /// symlinks included).
    #[arg(long, requires = "recursive", conflicts_with_all = ["target_dir", "range"])]
    tar: bool,
    /// With -r: replace files already in DIR. Without it, a restore that would replace any file stops before
    /// writing anything (exit 11).
    #[arg(long, requires = "recursive")]
    overwrite: bool,
    /// With -r: write only keys matching PATTERN (gitignore syntax, relative to PREFIX: `*.jpg`, `/docs`,
    /// `photos/2024/`). Repeatable; without it, every key.
    #[arg(long, value_name = "PATTERN", requires = "recursive")]
    include: Vec<String>,
    /// With -r: leave out keys matching PATTERN (as --include; applied after it). Repeatable.
    #[arg(long, value_name = "PATTERN", requires = "recursive")]
    exclude: Vec<String>,
}

/// Parse `A-B` / `A-` / `-N` into a half-open range for a value of `size` bytes.
pub fn parse_range(spec: &str, size: u64) -> anyhow::Result<(u64, u64)> {
    let bad = || usage(format!("invalid range {spec:?}: use A-B (inclusive), A- or -N"));
    let (a, b) = spec.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (true, true) => return Err(bad()),
        (true, false) => {
            let n = num(b)?;
            (size.saturating_sub(n), size)
        }
        (false, true) => (num(a)?, size),
        (false, false) => {
            let (x, y) = (num(a)?, num(b)?);
            if y < x {
                return Err(bad());
            }
            (x, y.saturating_add(1).min(size))
        }
    };
    if start > size || (start == size && size > 0 && !b.trim().is_empty() && a.trim().is_empty()) {
        return Err(usage(format!("range {spec:?} starts beyond the end of the value ({size} bytes)")));
    }
    Ok((start, end.max(start)))
}

fn write_file(s: &Session, entry: &Entry, path: &Path, range: (u64, u64), bar: &Bar) -> anyhow::Result<u64> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("infini-partial");
    let r = (|| -> anyhow::Result<u64> {
        let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let mut w = output::ProgressWriter::new(std::io::BufWriter::with_capacity(1 << 20, f), bar);
        let n = s.repo.copy_range(&entry.blob, range.0, range.1, &mut w)?;
        let mut w = w.into_inner();
        w.flush()?;
        w.get_ref().sync_all()?;
        Ok(n)
    })();
    match r {
        Ok(n) => {
            std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
            Ok(n)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let ns = s.view_at(self.at.as_deref())?;
        if self.tar {
            return self.write_tar(ctx, &s, &ns);
        }
        if self.recursive {
            let dir = self.target_dir.as_ref().ok_or_else(|| usage("get -r needs PREFIX and DIR"))?;
            let dir = super::session::cwd(ctx)?.join(dir);
            let bar = Bar::phases(ctx, "get -r");
            let select = super::select::key_select(&self.include, &self.exclude)?;
            let opts = GetTreeOptions {
                progress: bar.sink(),
                overwrite: self.overwrite,
                select: select.clone(),
                ..GetTreeOptions::default()
            };
            let out = get_tree(&s.repo, &ns, &self.key, &dir, &opts)?;
            if let (n, Some(first)) = &out.mtime_not_held {
                output::warn(
                    ctx,
                    format!(
                        "{n} file(s) got the nearest modification time this file system holds, not the stored one \
                         (first: {}; `infini ls -l` shows the stored time)",
                        first.display()
                    ),
                );
            }
            bar.finish(|took| {
                format!(
                    "get -r: {} files, {} in {}",
                    progress::count(out.written.len() as u64),
                    output::bytes(out.bytes),
                    progress::secs(took)
                )
            });
            if ctx.global.json {
                let files: Vec<_> = out
                    .written
                    .iter()
                    .map(|w| serde_json::json!({ "key": w.key, "size": w.size, "path": w.path.display().to_string() }))
                    .collect();
                output::json(&serde_json::Value::Array(files))?;
            } else {
                let dirs = match out.dirs {
                    0 => String::new(),
                    1 => " and 1 directory".to_string(),
                    n => format!(" and {n} directories"),
                };
                output::info(ctx, format!("wrote {} files{dirs} to {}", out.written.len(), dir.display()));
            }
            return Ok(());
        }
        if self.target_dir.is_some() {
            return Err(usage("unexpected argument after KEY (did you mean -o FILE or -r?)"));
        }
        let Some(entry) = ns.get(&self.key)? else {
            // A prefix of other keys (a directory, as put -r stored it) is not a key itself: say how to get it.
            let dir = format!("{}/", self.key.trim_end_matches('/'));
            if ns.prefix(dir.as_bytes()).next().is_some() {
                return Err(Error::not_found(format!("key {} (it is a prefix of other keys)", self.key))).context(
                    format!("write them out with `infini get -r {dir} DIR` or list them with `infini ls {dir}`"),
                );
            }
            anyhow::bail!(Error::not_found(format!("key {}", self.key)));
        };
        if entry.is_dir() {
            return Err(usage(format!(
                "{} is a directory entry (put -r stores one per directory); write the directory out with `infini \
                 get -r {} DIR`",
                self.key,
                self.key.trim_end_matches('/')
            )));
        }
        let size = entry.size();
        let range = match &self.range {
            Some(spec) => parse_range(spec, size)?,
            None => (0, size),
        };
        match &self.output {
            Some(path) => {
                let path = super::session::cwd(ctx)?.join(path);
                if let Some(parent) = path.parent().filter(|p| !self.parents && !p.as_os_str().is_empty()) {
                    if !parent.is_dir() {
                        anyhow::bail!(Error::not_found(format!(
                            "directory {} (the parent of -o {}; add --parents to create it)",
                            parent.display(),
                            self.output.as_ref().map(|o| o.display().to_string()).unwrap_or_default()
                        )));
                    }
                }
                let bar = Bar::bytes(ctx, "get", Some(range.1 - range.0));
                let n = write_file(&s, &entry, &path, range, &bar)?;
                bar.finish(bar.bytes_summary(n));
                if ctx.global.json {
                    output::json(
                        &serde_json::json!({ "key": self.key, "size": n, "path": path.display().to_string() }),
                    )?;
                }
            }
            None => {
                let stdout = std::io::stdout();
                // Data on a terminal and a bar on the same screen would garble each other.
                let bar =
                    if stdout.is_terminal() { Bar::hidden() } else { Bar::bytes(ctx, "get", Some(range.1 - range.0)) };
                // Straight to the descriptor: the standard library's stdout is line-buffered (every write scanned
                // for line ends, and small ones copied). Chunks larger than the buffer pass through it whole.
                let fd = std::os::fd::AsFd::as_fd(&stdout).try_clone_to_owned();
                let raw = std::fs::File::from(fd.map_err(|e| Error::io("writing output", e))?);
                let mut w = output::ProgressWriter::new(std::io::BufWriter::with_capacity(256 << 10, raw), &bar);
                let n = s.repo.copy_range(&entry.blob, range.0, range.1, &mut w)?;
                w.into_inner().flush().map_err(|e| Error::io("writing output", e))?;
                bar.finish(bar.bytes_summary(n));
            }
        }
        Ok(())
    }
}

impl Args {
    /// `get -r PREFIX --tar`: the prefix as a tar archive on stdout or in `-o FILE`.
    fn write_tar(&self, ctx: &Context, s: &Session, ns: &infini::namespace::Namespace) -> anyhow::Result<()> {
        let prefix = self.key.as_str();
        let when = match &self.at {
            Some(rev) => s.at(rev)?.0.time(),
            None => s.tip.as_ref().map(|c| c.time()).unwrap_or_else(now_secs),
        };
        // A commit's time is unsigned; one beyond any 64-bit time (only a damaged commit) shows as the latest.
        let when = i64::try_from(when).unwrap_or(i64::MAX);
        // The total is not known without a walk of its own: bytes and rate, then one summary line.
        let select = super::select::key_select(&self.include, &self.exclude)?;
        let select = select.as_ref();
        let bar = super::progress::Bar::bytes(ctx, "get -r --tar", None);
        let mut progress = |n| bar.set_position(n);
        let o = match &self.output {
            Some(path) => {
                let path = super::session::cwd(ctx)?.join(path);
                let tmp = path.with_extension("infini-partial");
                let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                let r = super::tar::write(&s.repo, ns, prefix, when, ctx.global.json, select, &mut w, &mut progress);
                let r = r.and_then(|o| {
                    w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
                    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
                    Ok(o)
                });
                if r.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                r?
            }
            None => {
                let mut w = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                super::tar::write(&s.repo, ns, prefix, when, false, select, &mut w, &mut progress)?
            }
        };
        bar.finish(bar.bytes_summary(o.bytes));
        if o.files == 0 && o.dirs == 0 {
            anyhow::bail!(Error::not_found(format!("no keys under prefix {:?}", self.key)));
        }
        if ctx.global.json && self.output.is_some() {
            let v: Vec<_> = o.keys.iter().map(|(k, n)| serde_json::json!({ "key": k, "size": n })).collect();
            output::json(&serde_json::Value::Array(v))?;
        }
        Ok(())
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("0-9", 100).unwrap(), (0, 10));
        assert_eq!(parse_range("90-", 100).unwrap(), (90, 100));
        assert_eq!(parse_range("-10", 100).unwrap(), (90, 100));
        assert_eq!(parse_range("95-200", 100).unwrap(), (95, 100));
        assert_eq!(parse_range("-200", 100).unwrap(), (0, 100));
        assert!(parse_range("101-", 100).is_err());
        assert!(parse_range("9-3", 100).is_err());
        assert!(parse_range("x", 100).is_err());
        assert!(parse_range("-", 100).is_err());
    }
}
