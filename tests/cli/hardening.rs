//! What a careless operator or a hostile local file can do to a command, bounded: key slots that would make an
//! unlock take minutes, a public header taken from another repository, workspace and cache files that are not
//! regular files (a FIFO, a symlink to /dev/zero), a closed stderr, a permissive umask, secrets in a daemon's
//! environment.

use crate::util::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Run `infini ARGS` through `sh -c` with `redirect` (e.g. `2>&-`) applied, in `cwd`, with the test environment.
fn run_sh(env: &Env, cwd: &Path, pre: &str, redirect: &str, args: &[&str], stdin: Option<&Path>) -> Out {
    let base = env.cmd(args.iter().copied()).cwd(cwd).command();
    let script = format!("{pre} exec \"$0\" \"$@\" {redirect}");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&script).arg(bin()).args(args).env_clear().current_dir(cwd);
    for (k, v) in base.get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    match stdin {
        Some(p) => cmd.stdin(std::fs::File::open(p).unwrap()),
        None => cmd.stdin(std::process::Stdio::null()),
    };
    let out = cmd.output().expect("running sh");
    Out {
        cmdline: format!("sh -c '{script}' infini {}", args.join(" ")),
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn a_closed_or_full_stderr_or_stdout_never_panics() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    let value = env.path("value");
    write(&value, b"new");
    let ws = env.ws.clone();
    for (redirect, args, code) in [
        ("2>&-", vec!["get", "nosuchkey"], 3),
        ("2>&-", vec!["--json", "get", "nosuchkey"], 3),
        ("2>&-", vec!["log", "--at", "nosuch"], 2),
        ("2>&-", vec!["put", "k2"], 0),
        ("2>&-", vec!["commit", "-m", "two"], 0),
        ("2>&-", vec!["gc", "--grace", "0s"], 0),
        ("2>&- >&-", vec!["get", "nosuchkey"], 3),
        // A stderr that cannot be written (a full disk): every write fails.
        ("2>/dev/full", vec!["get", "nosuchkey"], 3),
        ("2>/dev/full", vec!["--json", "get", "nosuchkey"], 3),
        ("2>/dev/full", vec!["put", "k3"], 0),
        ("2>/dev/full", vec!["commit", "-m", "three"], 0),
        ("2>/dev/full", vec!["check"], 0),
        ("2>/dev/full", vec!["gc", "--grace", "0s"], 0),
    ] {
        let out = run_sh(&env, &ws, "", redirect, &args, Some(&value));
        assert_ne!(out.code, 101, "no panic:\n{out}");
        assert_eq!(out.code, code, "the exit code of the error itself:\n{out}");
    }
    // A closed stdout: the data cannot be written; an error (not a panic), said on stderr.
    let out = run_sh(&env, &ws, "", ">&-", &["get", "k"], None);
    assert_ne!(out.code, 101, "no panic:\n{out}");
    assert!(!out.stderr.contains("panicked"), "{out}");
    let out = run_sh(&env, &ws, "", ">&-", &["ls"], None);
    assert!(!out.stderr.contains("panicked") && out.code != 101, "{out}");
    for args in [["get", "k"], ["ls", "-l"]] {
        let out = run_sh(&env, &ws, "", ">/dev/full 2>/dev/full", &args, None);
        assert_ne!(out.code, 101, "no panic:\n{out}");
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o7777
}

#[test]
fn workspace_files_are_private_whatever_the_umask() {
    let env = Env::new();
    let root = env.root.clone();
    let ws = env.ws.clone();
    let out = run_sh(&env, &ws, "umask 000;", "", &["init"], None);
    assert_eq!(out.code, 0, "{out}");
    let value = env.path("value");
    write(&value, b"v");
    for args in [vec!["put", "k"], vec!["commit", "-m", "one"], vec!["lock"], vec!["unlock"], vec!["get", "k"]] {
        let out = run_sh(&env, &ws, "umask 000;", "", &args, Some(&value));
        assert_eq!(out.code, 0, "{out}");
    }
    let ws2 = root.join("ws2");
    let out = run_sh(&env, &root, "umask 000;", "", &["clone", ws.to_str().unwrap(), ws2.to_str().unwrap()], None);
    assert_eq!(out.code, 0, "{out}");
    for w in [&ws, &ws2] {
        let dir = w.join(".infini");
        assert_eq!(mode(&dir), 0o700, "{} is private", dir.display());
        // Its files (what is below its directories is out of reach of others through it).
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                continue;
            }
            let m = mode(&p);
            assert_eq!(m & 0o077, 0, "{} has mode {m:o}: readable or writable by others", p.display());
        }
    }
}

#[test]
fn password_file_that_is_a_device_is_refused_quickly() {
    let mut env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    env.ok(["lock"]);
    env.unset("INFINI_PASSWORD");
    let start = Instant::now();
    let out = env.cmd(["--password-file", "/dev/zero", "get", "k"]).timeout(Duration::from_secs(20)).fails_with(2);
    assert!(start.elapsed() < Duration::from_secs(10), "refused before reading much: {:?}", start.elapsed());
    assert!(out.stderr.contains("/dev/zero"), "names the file:\n{out}");
    // An oversized regular file is refused too, and a proper one works.
    let big = env.path("big-password");
    write(&big, &vec![b'x'; 2 << 20]);
    let out = env.cmd(["--password-file", big.to_str().unwrap(), "get", "k"]).fails_with(2);
    assert!(out.stderr.contains("big-password"), "{out}");
    let good = env.path("password");
    write(&good, format!("{PASSWORD}\n").as_bytes());
    assert_eq!(env.ok(["--password-file", good.to_str().unwrap(), "get", "k"]).stdout, b"v");
}

/// Every entry of the warm cache of workspace `ws`.
fn warm_entries(ws: &Path) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for sub in ["i", "d"] {
        if let Ok(rd) = std::fs::read_dir(ws.join(".infini/cache/warm").join(sub)) {
            v.extend(rd.map(|e| e.unwrap().path()));
        }
    }
    v
}

#[test]
fn warm_cache_entries_that_are_not_regular_files_are_not_read() {
    let env = Env::new();
    env.ok(["--cache-size", "64M", "init"]);
    let value = random_bytes(5, 300_000);
    env.put("k", &value);
    env.commit("one");
    assert_bytes_eq(&env.get("k"), &value, "first read");
    let entries = warm_entries(&env.ws);
    assert!(!entries.is_empty(), "the read filled the warm cache");

    // FIFOs: opening one for reading would wait for a writer forever.
    for e in &entries {
        std::fs::remove_file(e).unwrap();
        let st = Command::new("mkfifo").arg(e).status().unwrap();
        assert!(st.success());
    }
    let out = env.cmd(["get", "k"]).timeout(Duration::from_secs(30)).ok();
    assert_bytes_eq(&out.stdout, &value, "read past FIFO entries");

    // Symbolic links to /dev/zero: endless bytes.
    for e in &entries {
        let _ = std::fs::remove_file(e);
        std::os::unix::fs::symlink("/dev/zero", e).unwrap();
    }
    let start = Instant::now();
    let out = env.cmd(["get", "k"]).timeout(Duration::from_secs(30)).ok();
    assert_bytes_eq(&out.stdout, &value, "read past symlinked entries");
    assert!(start.elapsed() < Duration::from_secs(15), "no endless read: {:?}", start.elapsed());
}

#[test]
fn workspace_files_that_are_fifos_or_devices_fail_instead_of_hanging() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    env.put("k2", b"v2");
    for name in ["staged", "seen-refs", "key", "header"] {
        let p = env.ws.join(".infini").join(name);
        let saved = read(&p);
        std::fs::remove_file(&p).unwrap();
        std::os::unix::fs::symlink("/dev/zero", &p).unwrap();
        let out = env.cmd(["status"]).timeout(Duration::from_secs(30)).run();
        assert!(out.code > 0 || name == "header" || name == "key", "{name} as /dev/zero is refused:\n{out}");
        assert!(out.code != -1 && out.code != 101, "{name}: no hang, no panic:\n{out}");
        std::fs::remove_file(&p).unwrap();
        let st = Command::new("mkfifo").arg(&p).status().unwrap();
        assert!(st.success());
        let out = env.cmd(["status"]).timeout(Duration::from_secs(30)).run();
        assert!(out.code != -1 && out.code != 101, "{name} as a FIFO: no hang, no panic:\n{out}");
        std::fs::remove_file(&p).unwrap();
        write(&p, &saved);
        env.ok(["status"]);
    }
}

/// The stored key slots of the repository in `repo`.
fn slots(repo: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(repo.join("keys")).unwrap().map(|e| e.unwrap().path()).collect()
}

/// Rewrite a stored key slot's scrypt parameters (`len:u32 || CBOR || zeros`).
fn set_kdf(slot: &[u8], log_n: u8, r: u32, p: u32) -> Vec<u8> {
    let n = u32::from_le_bytes(slot[..4].try_into().unwrap()) as usize;
    let mut v: ciborium::Value = ciborium::from_reader(&slot[4..4 + n]).unwrap();
    let map = v.as_map_mut().unwrap();
    let kdf = map.iter_mut().find(|(k, _)| k.as_text() == Some("kdf")).unwrap();
    let kdf = kdf.1.as_map_mut().unwrap();
    for (k, val) in kdf.iter_mut() {
        match k.as_text() {
            Some("log_n") => *val = ciborium::Value::Integer(log_n.into()),
            Some("r") => *val = ciborium::Value::Integer(r.into()),
            Some("p") => *val = ciborium::Value::Integer(p.into()),
            _ => {}
        }
    }
    let mut body = Vec::new();
    ciborium::into_writer(&v, &mut body).unwrap();
    let mut out = (body.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(&body);
    out.resize(slot.len(), 0);
    out
}

#[test]
fn a_key_slot_beyond_the_cost_ceiling_is_skipped_with_a_warning_naming_it() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    env.ok(["lock"]);
    let repo = env.repo_dir();
    let good = slots(&repo);
    assert_eq!(good.len(), 1);
    // 1 GiB and 2^27 block operations: inside the memory limit, over a minute of work per try.
    let costly = repo.join("keys").join("0123456789abcdef0123456789abcdef");
    write(&costly, &set_kdf(&read(&good[0]), 22, 2, 16));
    let start = Instant::now();
    let out = env
        .cmd(["get", "k"])
        .env("INFINI_PASSWORD", "not the password")
        .timeout(Duration::from_secs(30))
        .fails_with(12);
    assert!(start.elapsed() < Duration::from_secs(20), "not tried: {:?}", start.elapsed());
    assert!(out.stderr.contains("0123456789abcdef0123456789abcdef"), "the slot is named:\n{out}");
    assert!(out.stderr.contains("log_n=22"), "with what is wrong with it:\n{out}");
    // With the right password the good slot opens, and the costly one is still named.
    let out = env.cmd(["get", "k"]).timeout(Duration::from_secs(30)).ok();
    assert_eq!(out.stdout, b"v");
    let listed = env.ok(["key", "list"]).text();
    assert!(listed.contains("0123456789abcdef0123456789abcdef  damaged"), "{listed}");
}

#[test]
fn a_header_from_another_repository_is_an_integrity_error_not_a_wrong_password() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    let other = Env::init();
    let r = env.repo_dir().to_str().unwrap().to_string();
    // A wrong password stays a wrong password.
    env.cmd(["-R", &r, "get", "k"]).cwd(&env.root).env("INFINI_PASSWORD", "nope").fails_with(12);
    std::fs::copy(other.repo_dir().join("config"), env.repo_dir().join("config")).unwrap();
    let out = env.cmd(["-R", &r, "get", "k"]).cwd(&env.root).fails_with(13);
    assert!(out.stderr.contains("header") && out.stderr.contains("config"), "names the header:\n{out}");
    // Through the workspace (its key belongs to the real header's id) too.
    let out = env.fails_with(13, ["get", "k"]);
    assert!(out.stderr.contains("header"), "{out}");
    // With a wrong password nothing opens either way: 12.
    env.cmd(["-R", &r, "get", "k"]).cwd(&env.root).env("INFINI_PASSWORD", "nope").fails_with(12);
}

#[test]
fn key_rm_and_passwd_help_say_removing_a_slot_is_not_revocation() {
    let env = Env::new();
    for sub in ["rm", "passwd"] {
        let out = env.ok(["key", sub, "--help"]);
        let t = out.text().to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(t.contains("not revocation"), "key {sub} --help:\n{out}");
        assert!(t.contains("copy"), "says how the old password comes back:\n{out}");
    }
    let design = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/design.md")).unwrap();
    assert!(design.contains("not revocation"), "design.md states it");
}
