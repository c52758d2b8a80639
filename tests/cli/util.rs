//! Test harness: a temporary directory per test, a controlled environment for every run of the real binary,
//! and helpers that keep the command, its exit code, stdout and stderr in every assertion message.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The password every test repository is created with.
pub const PASSWORD: &str = "correct horse battery staple";

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_infini")
}

/// How long a single command may run before the test fails (a hang, e.g. on a password prompt).
const TIMEOUT: Duration = Duration::from_secs(180);

/// Variables from the caller's environment that every run keeps; everything else (notably every `INFINI_*` and
/// `AWS_*` variable) is cleared.
const KEEP: &[&str] = &["PATH", "LANG", "LC_ALL", "TMPDIR"];

/// What a finished command gave back.
pub struct Out {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit code (-1 if killed by a signal).
    pub code: i32,
    /// Raw stdout.
    pub stdout: Vec<u8>,
    /// stderr, lossily decoded.
    pub stderr: String,
}

fn preview(b: &[u8]) -> String {
    const MAX: usize = 4000;
    if b.len() <= MAX {
        String::from_utf8_lossy(b).into_owned()
    } else {
        format!("{}... ({} bytes in all)", String::from_utf8_lossy(&b[..MAX]), b.len())
    }
}

impl fmt::Display for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmdline,
            self.code,
            preview(&self.stdout),
            self.stderr
        )
    }
}

impl fmt::Debug for Out {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Out {
    /// stdout as UTF-8 (panics with context otherwise).
    pub fn text(&self) -> String {
        String::from_utf8(self.stdout.clone()).unwrap_or_else(|_| panic!("stdout is not UTF-8:\n{self}"))
    }

    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{self}"))
    }

    /// stderr parsed as one JSON document.
    pub fn stderr_json(&self) -> serde_json::Value {
        serde_json::from_str(self.stderr.trim())
            .unwrap_or_else(|e| panic!("stderr is not a JSON document ({e}):\n{self}"))
    }

    /// Non-empty stdout lines.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    }
}

/// A temporary directory with a workspace directory `ws/` in it, and the environment every run gets.
pub struct Env {
    _tmp: tempfile::TempDir,
    /// The temporary directory.
    pub root: PathBuf,
    /// The workspace root (created empty; [`Env::init`] runs `infini init` there).
    pub ws: PathBuf,
    vars: BTreeMap<String, String>,
}

impl Env {
    /// A fresh temporary directory with an empty `ws/`; the password and cheap key derivation are set.
    pub fn new() -> Self {
        let tmp = tempfile::Builder::new().prefix("infini-cli-").tempdir().expect("creating a temporary directory");
        let root = tmp.path().canonicalize().expect("canonicalizing the temporary directory");
        let ws = root.join("ws");
        std::fs::create_dir(&ws).expect("creating ws/");
        let mut vars = BTreeMap::new();
        for k in KEEP {
            if let Ok(v) = std::env::var(k) {
                vars.insert(k.to_string(), v);
            }
        }
        vars.insert("HOME".into(), root.display().to_string());
        vars.insert("INFINI_PASSWORD".into(), PASSWORD.into());
        vars.insert("INFINI_KDF_LOG_N".into(), "10".into());
        vars.insert("INFINI_INSECURE_KDF".into(), "1".into());
        Self { _tmp: tmp, root, ws, vars }
    }

    /// [`Env::new`] plus `infini init` in `ws/`.
    pub fn init() -> Self {
        let env = Self::new();
        env.ok(["init"]);
        env
    }

    /// Set a variable for every later run.
    pub fn set(&mut self, k: &str, v: impl Into<String>) {
        self.vars.insert(k.to_string(), v.into());
    }

    /// Unset a variable for every later run.
    pub fn unset(&mut self, k: &str) {
        self.vars.remove(k);
    }

    /// A command builder, running in `ws/`.
    pub fn cmd<I, S>(&self, args: I) -> Run<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        Run {
            env: self,
            args: args.into_iter().map(|a| a.as_ref().to_owned()).collect(),
            stdin: None,
            cwd: self.ws.clone(),
            set: Vec::new(),
            unset: Vec::new(),
            timeout: TIMEOUT,
        }
    }

    /// Run in `ws/` with no stdin, whatever the outcome.
    pub fn run<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(args).run()
    }

    /// Run in `ws/`, assert exit code 0, return the outcome.
    pub fn ok<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(args).ok()
    }

    /// Run in `ws/`, assert exit code `code` and an empty stdout, return the outcome.
    pub fn fails_with<I, S>(&self, code: i32, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(args).fails_with(code)
    }

    /// `infini put KEY` with `value` on stdin.
    pub fn put(&self, key: &str, value: &[u8]) {
        self.cmd(["put", key]).stdin(value).ok();
    }

    /// `infini get KEY`, the raw value.
    pub fn get(&self, key: &str) -> Vec<u8> {
        self.ok(["get", key]).stdout
    }

    /// `infini commit -m MSG`; asserts stdout is exactly a 64-hex id and a newline, returns the id.
    pub fn commit(&self, msg: &str) -> String {
        let out = self.ok(["commit", "-m", msg]);
        commit_id(&out)
    }

    /// `infini log --json` ids, newest first.
    pub fn log_ids(&self) -> Vec<String> {
        let out = self.ok(["log", "--json"]);
        out.json()
            .as_array()
            .unwrap_or_else(|| panic!("log --json is not an array:\n{out}"))
            .iter()
            .map(|c| c["id"].as_str().expect("id is a string").to_string())
            .collect()
    }

    /// The repository directory of the embedded default.
    pub fn repo_dir(&self) -> PathBuf {
        self.ws.join(".infini").join("repo")
    }

    /// A path under the temporary directory.
    pub fn path(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }
}

/// The id `commit` printed: stdout must be exactly 64 lowercase hex digits and a newline.
pub fn commit_id(out: &Out) -> String {
    let s = out.text();
    let id = s.strip_suffix('\n').unwrap_or("");
    assert!(is_hex64(id), "commit stdout is not exactly a 64-hex id + newline:\n{out}");
    id.to_string()
}

/// Whether `s` is a full commit id.
pub fn is_hex64(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// One command about to run.
pub struct Run<'a> {
    env: &'a Env,
    args: Vec<OsString>,
    stdin: Option<Vec<u8>>,
    cwd: PathBuf,
    set: Vec<(String, String)>,
    unset: Vec<String>,
    timeout: Duration,
}

impl Run<'_> {
    /// Fail the test if the command runs longer than this (default: 180 s).
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Feed these bytes on stdin (otherwise stdin is /dev/null).
    pub fn stdin(mut self, data: &[u8]) -> Self {
        self.stdin = Some(data.to_vec());
        self
    }

    /// Run in this directory instead of `ws/`.
    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = dir.as_ref().to_path_buf();
        self
    }

    /// Set a variable for this run.
    pub fn env(mut self, k: &str, v: impl Into<String>) -> Self {
        self.set.push((k.to_string(), v.into()));
        self
    }

    /// Unset a variable for this run.
    pub fn env_remove(mut self, k: &str) -> Self {
        self.unset.push(k.to_string());
        self
    }

    fn vars(&self) -> BTreeMap<String, String> {
        let mut vars = self.env.vars.clone();
        for (k, v) in &self.set {
            vars.insert(k.clone(), v.clone());
        }
        for k in &self.unset {
            vars.remove(k);
        }
        vars
    }

    /// The configured command, for tests that need to drive the process themselves (stdio left to the caller).
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(bin());
        cmd.args(&self.args).current_dir(&self.cwd).env_clear().envs(self.vars());
        cmd
    }

    /// Run and collect, whatever the exit code.
    pub fn run(self) -> Out {
        let vars = self.vars();
        let cmdline = format!(
            "{}infini {} (in {})",
            self.set.iter().map(|(k, v)| format!("{k}={v} ")).collect::<String>(),
            self.args.iter().map(|a| a.to_string_lossy().into_owned()).collect::<Vec<_>>().join(" "),
            self.cwd.display()
        );
        let mut cmd = Command::new(bin());
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(&vars)
            .stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {cmdline}: {e}"));
        let writer = self.stdin.map(|data| {
            let mut w = child.stdin.take().expect("piped stdin");
            std::thread::spawn(move || {
                // The command may legitimately stop reading early (e.g. on an error): ignore broken pipes.
                let _ = w.write_all(&data);
            })
        });
        let mut so = child.stdout.take().expect("piped stdout");
        let mut se = child.stderr.take().expect("piped stderr");
        let out_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = so.read_to_end(&mut b);
            b
        });
        let err_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = se.read_to_end(&mut b);
            b
        });
        let start = Instant::now();
        let mut timed_out = false;
        let status = loop {
            if let Some(st) = child.try_wait().expect("waiting for the child") {
                break st;
            }
            if start.elapsed() > self.timeout {
                // Killed: the outcome is reported (exit code -1, a note on stderr) so that the test's own
                // assertion fails where it states what was expected.
                let _ = child.kill();
                timed_out = true;
                break child.wait().expect("waiting for the killed child");
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if let Some(w) = writer {
            let _ = w.join();
        }
        let stdout = out_t.join().expect("stdout reader");
        let mut stderr = String::from_utf8_lossy(&err_t.join().expect("stderr reader")).into_owned();
        if timed_out {
            stderr.push_str(&format!("\n[test harness: killed after {:?} without finishing (hung?)]", self.timeout));
        }
        Out { cmdline, code: status.code().unwrap_or(-1), stdout, stderr }
    }

    /// Run, assert success.
    pub fn ok(self) -> Out {
        let out = self.run();
        assert_eq!(out.code, 0, "expected success:\n{out}");
        out
    }

    /// Run, assert exit code `code` and that nothing was written to stdout.
    pub fn fails_with(self, code: i32) -> Out {
        let out = self.run();
        assert_eq!(out.code, code, "expected exit code {code}:\n{out}");
        assert!(out.stdout.is_empty(), "stdout must stay empty on errors:\n{out}");
        assert!(!out.stderr.trim().is_empty(), "an error must say something on stderr:\n{out}");
        out
    }
}

/// Deterministic pseudo-random bytes (splitmix64), fast enough for 100 MB.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len + 8);
    let mut s = seed;
    while v.len() < len {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        v.extend_from_slice(&z.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// Write a file, creating parent directories.
pub fn write(path: impl AsRef<Path>, data: &[u8]) {
    let path = path.as_ref();
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("creating {}: {e}", p.display()));
    }
    std::fs::write(path, data).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Read a file.
pub fn read(path: impl AsRef<Path>) -> Vec<u8> {
    let path = path.as_ref();
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every regular file under `dir`, as (path relative to `dir`, size), sorted.
pub fn files_under(dir: impl AsRef<Path>) -> Vec<(PathBuf, u64)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
        let rd = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
        for e in rd {
            let e = e.expect("directory entry");
            let ft = e.file_type().expect("file type");
            let p = e.path();
            if ft.is_dir() {
                walk(base, &p, out);
            } else if ft.is_file() {
                let len = e.metadata().expect("metadata").len();
                out.push((p.strip_prefix(base).expect("under base").to_path_buf(), len));
            }
        }
    }
    let dir = dir.as_ref();
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Total bytes of the regular files under `dir`.
pub fn bytes_under(dir: impl AsRef<Path>) -> u64 {
    files_under(dir).iter().map(|(_, n)| n).sum()
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Compare two byte strings without dumping megabytes into the failure message.
#[track_caller]
pub fn assert_bytes_eq(got: &[u8], want: &[u8], what: &str) {
    if got != want {
        let first = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
        panic!("{what}: got {} bytes, want {} bytes; first difference at byte {first}", got.len(), want.len());
    }
}

/// `diff -r a b` (symbolic links compared as links) must find no difference.
pub fn assert_same_tree(a: &Path, b: &Path, what: &str) {
    let out = Command::new("diff").arg("-r").arg("--no-dereference").arg(a).arg(b).output().expect("running diff");
    assert!(
        out.status.success(),
        "{what}: diff -r {} {} found differences:\n{}{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
