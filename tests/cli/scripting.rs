//! Errors and pipes as scripts see them: a closed stdout is never an error, missing inputs and output
//! directories are "not found" (3) naming the path.

use crate::util::*;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Run with stdout a pipe whose reading end is already closed (`infini ... | head -c 0`); return exit code and
/// stderr.
fn into_closed_pipe(env: &Env, args: &[&str]) -> (i32, String) {
    let mut child = env
        .cmd(args)
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning infini");
    drop(child.stdout.take());
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting") {
            break st;
        }
        assert!(Instant::now() < deadline, "{args:?} into a closed pipe hung");
        std::thread::sleep(Duration::from_millis(5));
    };
    let mut stderr = String::new();
    let _ = child.stderr.take().expect("piped stderr").read_to_string(&mut stderr);
    (status.code().unwrap_or(-1), stderr)
}

#[test]
fn closed_stdout_is_never_an_error_in_any_mode() {
    // `infini --json ls | head -c 100`: exit 0, nothing on stderr, with and without --json.
    let env = Env::init();
    let tree = env.path("tree");
    for i in 0..1500 {
        write(tree.join(format!("a-rather-long-directory-name/file-number-{i:05}.txt")), b"x");
    }
    env.ok(["put", "-r", tree.to_str().unwrap(), "k/"]);
    env.commit("many keys: listings larger than a pipe buffer");
    env.ok(["commit", "-m", "second", "--allow-empty"]);
    let cases: &[&[&str]] = &[
        &["ls"],
        &["--json", "ls"],
        &["ls", "-l"],
        &["--json", "log"],
        &["log"],
        &["--json", "show"],
        &["show", "HEAD~1"],
        &["--json", "status"],
        &["--json", "diff", "HEAD~1", "HEAD"],
        &["--json", "branch"],
        &["--json", "stats"],
        &["stats"],
        &["completions", "bash"],
        &["get", "k/a-rather-long-directory-name/file-number-00001.txt"],
    ];
    for args in cases {
        let (code, stderr) = into_closed_pipe(&env, args);
        assert_eq!(code, 0, "`infini {}` into a closed pipe must exit 0:\n{stderr}", args.join(" "));
        assert!(stderr.trim().is_empty(), "`infini {}` into a closed pipe is quiet:\n{stderr}", args.join(" "));
    }
    // commit prints its id into the closed pipe: the commit still happens, and it is not an error.
    env.put("one-more", b"1");
    let (code, stderr) = into_closed_pipe(&env, &["commit", "-m", "id into a closed pipe"]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(env.log_ids().len(), 3);
}

#[test]
fn get_o_into_a_missing_directory_is_3_unless_parents() {
    let env = Env::init();
    env.put("k", b"value");
    let missing = env.path("no/such/dir");
    let target = missing.join("out");
    let out = env.fails_with(3, ["get", "-o", target.to_str().unwrap(), "k"]);
    assert!(out.stderr.contains(&missing.display().to_string()), "the message names the missing directory:\n{out}");
    assert!(out.stderr.contains("--parents"), "and how to create it:\n{out}");
    assert!(!env.path("no").exists(), "nothing was created");
    env.ok(["get", "-o", target.to_str().unwrap(), "--parents", "k"]);
    assert_eq!(read(&target), b"value");
    // A relative path into an existing directory, and into the current one, need nothing.
    env.ok(["get", "-o", "here.bin", "k"]);
    assert_eq!(read(env.ws.join("here.bin")), b"value");
}

#[test]
fn put_from_a_missing_file_is_3() {
    let env = Env::init();
    let out = env.fails_with(3, ["put", "x", "/nonexistent/file"]);
    assert!(out.stderr.contains("/nonexistent/file"), "the message names the file:\n{out}");
    let out = env.fails_with(3, ["--json", "put", "x", "missing.txt"]);
    assert_eq!(out.stderr_json()["error"]["code"], 3, "{out}");
    env.fails_with(3, ["get", "x"]);
}
