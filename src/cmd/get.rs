//! `infini get`: write a value (or a byte range of it) to stdout or a file, or a whole prefix to a directory.

use super::session::Session;
use super::{output, usage, Context};
use anyhow::Context as _;
use infini::engine::chunk::copy_range;
use infini::engine::namespace::Entry;
use infini::engine::Error;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

/// Write the value of KEY to stdout (or -o FILE); with -r, write every key under PREFIX into DIR.
#[derive(clap::Args)]
pub struct Args {
    /// Fetch a whole prefix: `get -r PREFIX DIR`.
    #[arg(short = 'r', long)]
    recursive: bool,
    /// KEY (or PREFIX with -r).
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
    #[arg(long, value_name = "REV")]
    at: Option<String>,
    /// Only bytes A to B, inclusive (`A-B`, `A-` to the end, `-N` for the last N bytes).
    #[arg(long, value_name = "A-B", allow_hyphen_values = true)]
    range: Option<String>,
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

/// `rel` as a safe relative path (no `..`, no absolute parts).
fn safe_relative(rel: &str) -> Option<PathBuf> {
    let p = Path::new(rel);
    let ok = !rel.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)));
    ok.then(|| p.to_path_buf())
}

fn write_file(ctx: &Context, s: &Session, entry: &Entry, path: &Path, range: (u64, u64)) -> anyhow::Result<u64> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("infini-partial");
    let r = (|| -> anyhow::Result<u64> {
        let f = std::fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let bar = big(range).then(|| output::progress(ctx, Some(range.1 - range.0), "get")).flatten();
        let mut w = output::ProgressWriter::new(std::io::BufWriter::with_capacity(1 << 20, f), bar);
        let n = copy_range(s.repo.store(), &entry.blob, range.0, range.1, s.repo.store().read_parallelism(), &mut w)?;
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

/// Worth a progress bar.
fn big(range: (u64, u64)) -> bool {
    range.1 - range.0 >= 64 << 20
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let s = Session::read(ctx)?;
        let ns = s.view_at(self.at.as_deref())?;
        if self.recursive {
            let dir = self.target_dir.as_ref().ok_or_else(|| usage("get -r needs PREFIX and DIR"))?;
            let dir = super::session::cwd(ctx)?.join(dir);
            let store = s.repo.store();
            let mut n = 0usize;
            let mut files = Vec::new();
            for item in ns.iter_prefix(store, self.key.as_bytes()) {
                let (key, entry) = item?;
                let rel = safe_relative(&key[self.key.len()..])
                    .ok_or_else(|| usage(format!("key {key:?} does not map to a safe path under {}", dir.display())))?;
                let size = entry.size();
                write_file(ctx, &s, &entry, &dir.join(&rel), (0, size))?;
                files.push(
                    serde_json::json!({ "key": key, "size": size, "path": dir.join(&rel).display().to_string() }),
                );
                n += 1;
            }
            if n == 0 {
                anyhow::bail!(Error::not_found(format!("no keys under prefix {:?}", self.key)));
            }
            if ctx.global.json {
                output::json(&serde_json::Value::Array(files))?;
            } else {
                output::info(ctx, format!("wrote {n} files to {}", dir.display()));
            }
            return Ok(());
        }
        if self.target_dir.is_some() {
            return Err(usage("unexpected argument after KEY (did you mean -o FILE or -r?)"));
        }
        let entry = ns.get(&self.key)?.ok_or_else(|| Error::not_found(format!("key {}", self.key)))?;
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
                let n = write_file(ctx, &s, &entry, &path, range)?;
                if ctx.global.json {
                    output::json(
                        &serde_json::json!({ "key": self.key, "size": n, "path": path.display().to_string() }),
                    )?;
                }
            }
            None => {
                let stdout = std::io::stdout();
                let bar = big(range).then(|| output::progress(ctx, Some(range.1 - range.0), "get")).flatten();
                let mut w = output::ProgressWriter::new(std::io::BufWriter::with_capacity(1 << 20, stdout.lock()), bar);
                copy_range(s.repo.store(), &entry.blob, range.0, range.1, s.repo.store().read_parallelism(), &mut w)?;
                w.into_inner().flush().map_err(|e| Error::io("writing output", e))?;
            }
        }
        Ok(())
    }
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
