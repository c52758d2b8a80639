//! Which files `put -r` leaves out: patterns (`--exclude`, `--exclude-file`), per-directory ignore files
//! (`.infiniignore` unless `--no-infiniignore`, `--ignore-file NAME`, `--git-ignore`), cache directories (`--exclude-caches`) and a size limit
//! (`--exclude-larger-than`). Patterns have gitignore's syntax and meaning, relative to the tree's root: `*.o`
//! anywhere, `/build` at the root only, `logs/` directories only, `**/tmp`, `!keep.o` to take a file back.

use super::usage;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use ignore::Match;
use infini::files::{KeySelect, PathFilter};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The rule of `get -r --include/--exclude`: gitignore patterns matched against keys' paths under the prefix (a
/// key is matched by a pattern that names it or one of its directories); `None` without patterns.
pub fn key_select(include: &[String], exclude: &[String]) -> anyhow::Result<Option<KeySelect>> {
    if include.is_empty() && exclude.is_empty() {
        return Ok(None);
    }
    let build = |flag: &str, patterns: &[String]| -> anyhow::Result<Gitignore> {
        let mut b = GitignoreBuilder::new("/");
        for p in patterns {
            b.add_line(None, p).map_err(|e| usage(format!("{flag} {p:?}: {e}")))?;
        }
        b.build().map_err(|e| usage(format!("{flag} patterns: {e}")))
    };
    let (inc, exc) = (build("--include", include)?, build("--exclude", exclude)?);
    let any_include = !include.is_empty();
    Ok(Some(KeySelect::new(move |rel| {
        // A directory entry's path ends with `/`: patterns for directories (`logs/`) match it.
        let (rel, is_dir) = match rel.strip_suffix('/') {
            Some(r) => (r, true),
            None => (rel, false),
        };
        let path = Path::new("/").join(rel);
        let hit = |g: &Gitignore| g.matched_path_or_any_parents(&path, is_dir).is_ignore();
        (!any_include || hit(&inc)) && !hit(&exc)
    })))
}

/// The first bytes of a `CACHEDIR.TAG` file (<https://bford.info/cachedir/>).
const CACHEDIR_SIGNATURE: &[u8] = b"Signature: 8a477f597d28d172789f06886806bc55";

/// The selection options of `put -r`.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Selection {
    /// With -r: leave out paths matching PATTERN (gitignore syntax, relative to DIR: `*.o`, `/build`, `logs/`,
    /// `**/tmp`; `!PATTERN` takes a path back). Repeatable.
    #[arg(long, value_name = "PATTERN", requires = "recursive")]
    pub exclude: Vec<String>,
    /// With -r: read --exclude patterns from FILE, one a line (`#` starts a comment). Repeatable.
    #[arg(long, value_name = "FILE", requires = "recursive")]
    pub exclude_file: Vec<PathBuf>,
    /// With -r: in every directory, read ignore patterns from a file named NAME (gitignore syntax, relative to
    /// that directory; deeper files take precedence, as git's do). Repeatable.
    #[arg(long, value_name = "NAME", requires = "recursive")]
    pub ignore_file: Vec<String>,
    /// With -r: do not read `.infiniignore` files (read by default: gitignore syntax, in any directory of the tree).
    #[arg(long, requires = "recursive")]
    pub no_infiniignore: bool,
    /// With -r: honour `.gitignore` files and leave out `.git` directories.
    #[arg(long, requires = "recursive")]
    pub git_ignore: bool,
    /// With -r: leave out directories holding a valid `CACHEDIR.TAG` (<https://bford.info/cachedir/>).
    #[arg(long, requires = "recursive")]
    pub exclude_caches: bool,
    /// With -r: leave out files larger than SIZE (e.g. 100M, 2G).
    #[arg(long, value_name = "SIZE", value_parser = super::parse_size, requires = "recursive")]
    pub exclude_larger_than: Option<u64>,
    /// With -r: stay on DIR's file system: do not descend into mount points.
    #[arg(short = 'x', long, requires = "recursive")]
    pub one_file_system: bool,
}

impl Selection {
    /// Whether any rule was given (a walk without rules needs no filter).
    fn any(&self) -> bool {
        !self.exclude.is_empty()
            || !self.exclude_file.is_empty()
            || !self.no_infiniignore
            || !self.ignore_file.is_empty()
            || self.git_ignore
            || self.exclude_caches
            || self.exclude_larger_than.is_some()
    }

    /// The filter for a walk of `root` (canonical), or `None` without rules. Bad patterns and unreadable
    /// exclude files are usage errors, reported before anything is read.
    pub fn filter(&self, root: &Path) -> anyhow::Result<Option<PathFilter>> {
        if !self.any() {
            return Ok(None);
        }
        let mut b = GitignoreBuilder::new(root);
        for p in &self.exclude {
            b.add_line(None, p).map_err(|e| usage(format!("--exclude {p:?}: {e}")))?;
        }
        for f in &self.exclude_file {
            let text = std::fs::read_to_string(f)
                .map_err(|e| usage(format!("--exclude-file {}: cannot read it: {e}", f.display())))?;
            for line in text.lines() {
                b.add_line(Some(f.clone()), line)
                    .map_err(|e| usage(format!("--exclude-file {}: {line:?}: {e}", f.display())))?;
            }
        }
        if self.git_ignore {
            b.add_line(None, ".git/").map_err(|e| usage(format!("{e}")))?;
        }
        let global = b.build().map_err(|e| usage(format!("exclude patterns: {e}")))?;
        let mut names = self.ignore_file.clone();
        if !self.no_infiniignore {
            names.push(".infiniignore".into());
        }
        if self.git_ignore {
            names.push(".gitignore".into());
        }
        let rules = Rules {
            root: root.to_path_buf(),
            global,
            names,
            caches: self.exclude_caches,
            larger_than: self.exclude_larger_than,
            per_dir: Mutex::new(HashMap::new()),
        };
        Ok(Some(PathFilter::new(move |path, is_dir| rules.leaves_out(path, is_dir))))
    }
}

/// The ignore files in force in one directory, outermost first.
type Chain = std::sync::Arc<Vec<std::sync::Arc<Gitignore>>>;

struct Rules {
    root: PathBuf,
    global: Gitignore,
    /// Names of per-directory ignore files.
    names: Vec<String>,
    caches: bool,
    larger_than: Option<u64>,
    /// For each directory seen, the ignore files that apply in it: its ancestors' (from the root) and its own,
    /// each read once. A walk asks for a directory before its contents, so a path costs one lookup.
    per_dir: Mutex<HashMap<PathBuf, Chain>>,
}

impl Rules {
    fn leaves_out(&self, path: &Path, is_dir: bool) -> bool {
        if let Match::Ignore(_) = self.global.matched(path, is_dir) {
            return true;
        }
        if !self.names.is_empty() && self.ignored_by_files(path, is_dir) {
            return true;
        }
        if is_dir && self.caches && is_cache_dir(path) {
            return true;
        }
        if !is_dir {
            if let Some(limit) = self.larger_than {
                if std::fs::symlink_metadata(path).is_ok_and(|m| m.is_file() && m.len() > limit) {
                    return true;
                }
            }
        }
        false
    }

    /// Whether the ignore files of `path`'s directories say to leave it out: the deepest one that has a say wins,
    /// as in git.
    fn ignored_by_files(&self, path: &Path, is_dir: bool) -> bool {
        let Some(dir) = path.parent() else { return false };
        let mut cache = self.per_dir.lock().expect("ignore-file cache lock");
        let chain = self.chain(&mut cache, dir);
        let mut verdict = false;
        for g in chain.iter() {
            match g.matched(path, is_dir) {
                Match::Ignore(_) => verdict = true,
                Match::Whitelist(_) => verdict = false,
                Match::None => {}
            }
        }
        verdict
    }

    /// The ignore files in force in `dir` (its parent's, then its own), computed once per directory.
    fn chain(&self, cache: &mut HashMap<PathBuf, Chain>, dir: &Path) -> Chain {
        if let Some(c) = cache.get(dir) {
            return c.clone();
        }
        let mut v = match dir.parent() {
            Some(parent) if dir != self.root && dir.starts_with(&self.root) => (*self.chain(cache, parent)).clone(),
            _ => Vec::new(),
        };
        if dir.starts_with(&self.root) {
            if let Some(g) = self.read_ignore_files(dir) {
                v.push(std::sync::Arc::new(g));
            }
        }
        let c: Chain = std::sync::Arc::new(v);
        cache.insert(dir.to_path_buf(), c.clone());
        c
    }

    fn read_ignore_files(&self, dir: &Path) -> Option<Gitignore> {
        let mut b = GitignoreBuilder::new(dir);
        let mut any = false;
        for name in &self.names {
            let f = dir.join(name);
            if f.is_file() {
                // A malformed line in someone's .gitignore is skipped, as git does.
                let _ = b.add(&f);
                any = true;
            }
        }
        any.then(|| b.build().ok()).flatten()
    }
}

/// Whether `dir` holds a `CACHEDIR.TAG` that starts with the standard signature.
fn is_cache_dir(dir: &Path) -> bool {
    use std::io::Read;
    let Ok(f) = std::fs::File::open(dir.join("CACHEDIR.TAG")) else { return false };
    let mut head = [0u8; CACHEDIR_SIGNATURE.len()];
    f.take(head.len() as u64).read_exact(&mut head).is_ok() && head == CACHEDIR_SIGNATURE
}
