//! The README's examples run: every `sh` block, in order, in a temporary directory, with the binary under test
//! first on PATH. A block is skipped or run in a prepared setting when the line above it says so:
//! `<!-- test: skip ... -->`, `<!-- test: conflict ... -->` (a workspace whose commit just conflicted with one in
//! `../other`), `<!-- test: s3 ... -->` (against the test's S3 server, endpoint, credentials and bucket
//! substituted).

use crate::support::s3::server;
use crate::util::*;
use std::path::Path;

/// `sh` blocks of the README with the mode the line above them gives.
fn blocks() -> Vec<(String, String)> {
    let text = String::from_utf8(read(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))).unwrap();
    let mut out = Vec::new();
    let mut mode = String::from("run");
    let mut block: Option<String> = None;
    for line in text.lines() {
        if let Some(b) = block.as_mut() {
            if line.starts_with("```") {
                out.push((std::mem::take(&mut mode), block.take().unwrap()));
                mode = "run".into();
            } else {
                b.push_str(line);
                b.push('\n');
            }
        } else if line == "```sh" {
            block = Some(String::new());
        } else if let Some(m) = line.strip_prefix("<!-- test: ") {
            mode = m.split_whitespace().next().unwrap_or("run").to_string();
        } else if !line.trim().is_empty() {
            mode = "run".into();
        }
    }
    out
}

/// Run a script with bash (`set -euo pipefail`) in `dir`.
fn bash(env: &Env, dir: &Path, script: &str) -> Out {
    let bin_dir = Path::new(bin()).parent().unwrap().display().to_string();
    let path = format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default());
    let full = format!("set -euo pipefail\n{script}");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(&full)
        .current_dir(dir)
        .env_clear()
        .envs([("PATH", path.as_str()), ("HOME", env.root.to_str().unwrap())])
        .envs([("INFINI_PASSWORD", PASSWORD), ("INFINI_KDF_LOG_N", "10"), ("INFINI_INSECURE_KDF", "1")])
        .output()
        .expect("running bash");
    Out {
        cmdline: format!("bash -c <README block> in {}:\n{script}", dir.display()),
        code: out.status.code().unwrap_or(-1),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn readme_examples_run() {
    let all = blocks();
    assert!(all.iter().filter(|(m, _)| m == "run").count() >= 2, "README sh blocks found: {all:?}");
    for (mode, _) in &all {
        assert!(["run", "skip", "conflict", "s3"].contains(&mode.as_str()), "unknown README test mode {mode:?}");
    }
    // The plain examples, in order, in one directory (later ones use the workspace the first one made).
    let env = Env::new();
    for (_, script) in all.iter().filter(|(m, _)| m == "run") {
        let out = bash(&env, &env.ws, script);
        assert_eq!(out.code, 0, "a README example failed:\n{out}");
    }
    // After a conflict.
    for (_, script) in all.iter().filter(|(m, _)| m == "conflict") {
        let env = Env::init();
        env.put("shared", b"base");
        env.commit("base");
        let other = env.path("other");
        env.cmd(["clone", env.ws.to_str().unwrap(), other.to_str().unwrap()]).ok();
        env.put("shared", b"mine");
        env.put("notes", b"only here");
        env.cmd(["put", "shared"]).stdin(b"theirs").cwd(&other).ok();
        env.cmd(["commit", "-m", "theirs"]).cwd(&other).ok();
        env.fails_with(11, ["commit", "-m", "mine"]);
        let out = bash(&env, &env.ws, script);
        assert_eq!(out.code, 0, "the README's conflict example failed:\n{out}");
        assert_eq!(env.get("shared"), b"theirs", "the example takes theirs");
        assert_eq!(env.get("notes"), b"only here", "and commits the rest");
    }
    // S3, against the test's server.
    let s3: Vec<&String> = all.iter().filter(|(m, _)| m == "s3").map(|(_, s)| s).collect();
    assert!(!s3.is_empty(), "the README has an S3 example");
    let Some(srv) = server() else { return };
    for script in s3 {
        let env = Env::new();
        let bucket = srv.unique_bucket("readme");
        let script = script
            .replace("http://127.0.0.1:18300", &srv.endpoint)
            .replace("benchaccesskey", &srv.access_key)
            .replace("benchsecretkey0123456789", &srv.secret_key)
            .replace("my-bucket", &bucket);
        let out = bash(&env, &env.ws, &script);
        assert_eq!(out.code, 0, "the README's S3 example failed:\n{out}");
    }
}
