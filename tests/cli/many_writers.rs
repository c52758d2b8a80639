//! Many writers on one repository: processes in separate workspaces commit to the same branch at once; every
//! update lands, and overlapping edits stop with exit code 11 naming the key.

use crate::util::Env;

/// `writers` workspaces cloned from `source`, each committing `commits` distinct keys concurrently; then every key
/// must be on the branch, and the history must hold every commit.
pub fn run(env: &Env, source: &str, clone_args: &[&str], writers: usize, commits: usize) {
    for w in 0..writers {
        let mut args = vec!["clone", source];
        let dir = format!("w{w}");
        args.push(&dir);
        args.extend_from_slice(clone_args);
        env.cmd(args).cwd(&env.root).ok();
    }
    std::thread::scope(|s| {
        for w in 0..writers {
            s.spawn(move || {
                let dir = env.root.join(format!("w{w}"));
                for i in 0..commits {
                    let key = format!("w{w}/k{i}");
                    env.cmd(["put", &key]).cwd(&dir).stdin(format!("{w}-{i}").as_bytes()).ok();
                    env.cmd(["commit", "-q", "-m", &key]).cwd(&dir).ok();
                }
            });
        }
    });
    let keys = env.cmd(["ls"]).cwd(env.root.join("w0")).ok().lines();
    for w in 0..writers {
        for i in 0..commits {
            assert!(keys.contains(&format!("w{w}/k{i}")), "w{w}/k{i} was lost");
        }
    }
    let (w, i) = (writers - 1, commits - 1);
    let sample = env.cmd(["get", &format!("w{w}/k{i}")]).cwd(env.root.join("w0")).ok().stdout;
    assert_eq!(sample, format!("{w}-{i}").as_bytes());
    let log = env.cmd(["log", "--json"]).cwd(env.root.join("w0")).ok().json();
    assert!(log.as_array().unwrap().len() >= writers * commits, "every commit is in the history");
}

#[test]
fn eight_writers_on_a_shared_local_repository_lose_nothing() {
    let env = Env::init();
    env.put("seed", b"x");
    env.commit("seed");
    let src = env.ws.display().to_string();
    run(&env, &src, &[], 8, 25);
}

#[test]
fn overlapping_edits_exit_11_name_the_key_and_lose_nothing() {
    let env = Env::init();
    env.put("shared", b"base");
    env.commit("base");
    let src = env.ws.display().to_string();
    env.cmd(["clone", &src, "other"]).cwd(&env.root).ok();
    let other = env.root.join("other");
    env.put("shared", b"mine");
    env.put("mine-only", b"1");
    env.cmd(["put", "shared"]).cwd(&other).stdin(b"theirs").ok();
    env.cmd(["commit", "-m", "theirs"]).cwd(&other).ok();
    let out = env.fails_with(11, ["commit", "-m", "mine"]);
    assert!(out.stderr.contains("shared"), "the conflict names the key: {out}");
    // Nothing lost: ours stays staged, theirs is committed.
    assert_eq!(env.get("shared"), b"mine");
    assert_eq!(env.get("mine-only"), b"1");
    let status = env.ok(["status", "--json"]).json();
    assert_eq!(status["staged"].as_array().unwrap().len(), 2);
    assert_eq!(env.ok(["get", "shared", "--at", "main"]).stdout, b"theirs");
}
