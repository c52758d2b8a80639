//! Write-only keys on the command line: a workspace cloned with a writer's password puts and commits while a reader
//! commits concurrently; the full key reads everything back; the writer reads nothing, and nothing it can reach
//! holds plaintext.

use crate::support::s3::server;
use crate::util::{contains, files_under, random_bytes, read, write, Env};
use infini::backends::{Backend, S3Backend, S3Config};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const WRITER_PASSWORD: &str = "the writer's own password";
const VALUE_MARKER: &[u8] = b"PLAINTEXT-VALUE-MARKER-7f3a";
const KEY_MARKER: &str = "keymarker9c1e";
const MESSAGE_MARKER: &str = "MESSAGE-MARKER-51bd";

/// Add a write-only key named `ci-runner` from the reader's workspace and clone a writer workspace `w/` with it.
fn writer_workspace(env: &Env, source: &str, extra: &[&str]) -> PathBuf {
    let added = env
        .cmd(["key", "add", "--write-only", "--name", "ci-runner", "--json"])
        .env("INFINI_NEW_PASSWORD", WRITER_PASSWORD)
        .ok()
        .json();
    assert_eq!(added["write_only"], true, "{added}");
    let keys = env.ok(["key", "list", "--json"]).json();
    let writers: Vec<_> = keys.as_array().unwrap().iter().filter(|k| k["write_only"] == true).collect();
    assert_eq!(writers.len(), 1, "{keys}");
    assert_eq!(writers[0]["writer"], "ci-runner", "{keys}");
    let mut args = vec!["clone", source, "w"];
    args.extend_from_slice(extra);
    env.cmd(args).cwd(&env.root).env("INFINI_PASSWORD", WRITER_PASSWORD).ok();
    env.root.join("w")
}

/// A value with the marker in it (and enough random bytes for a few chunks when `big`).
fn value(i: u64, big: bool) -> Vec<u8> {
    let mut v = VALUE_MARKER.to_vec();
    v.extend_from_slice(format!("-{i}-").as_bytes());
    v.extend(random_bytes(i, if big { 700_000 } else { 300 }));
    v.extend_from_slice(VALUE_MARKER);
    v
}

/// The writer's 20 commits (a tree with `put -r` and a value from stdin each) racing a reader's 10: returns every
/// key and value committed.
fn race(env: &Env, w: &Path) -> BTreeMap<String, Vec<u8>> {
    let src = env.root.join("src");
    let mut expected = BTreeMap::new();
    let mut reader_values = BTreeMap::new();
    std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            for j in 0..10u64 {
                let v = value(1000 + j, false);
                env.cmd(["put", &format!("reader/{j}")]).stdin(&v).ok();
                env.cmd(["commit", "-m", &format!("reader {j}")]).ok();
                reader_values.insert(format!("reader/{j}"), v);
            }
        });
        for i in 0..20u64 {
            let name = format!("{KEY_MARKER}-{i}.bin");
            let v = value(i, i % 5 == 0);
            write(src.join(format!("d{}", i % 3)).join(&name), &v);
            let tree = src.display().to_string();
            env.cmd(["put", "-r", &tree, "builds/"]).cwd(w).env("INFINI_PASSWORD", "not needed: the key is kept").ok();
            let single = value(500 + i, false);
            env.cmd(["put", &format!("single/{KEY_MARKER}-{i}")]).cwd(w).stdin(&single).ok();
            env.cmd(["commit", "-m", &format!("{MESSAGE_MARKER} build {i}")]).cwd(w).ok();
            expected.insert(format!("builds/d{}/{name}", i % 3), v);
            expected.insert(format!("single/{KEY_MARKER}-{i}"), single);
        }
        reader.join().expect("reader thread");
    });
    expected.extend(reader_values);
    expected
}

/// Every value reads back byte-exact with the full key, and the writer's 20 commits are in the log under its name.
fn full_key_reads_everything(env: &Env, expected: &BTreeMap<String, Vec<u8>>) {
    let keys = env.ok(["ls"]).lines();
    let want: Vec<String> = expected.keys().cloned().collect();
    let mut got: Vec<String> = keys.into_iter().filter(|k| k != "seed").collect();
    got.sort();
    assert_eq!(got, want);
    for (k, v) in expected {
        assert_eq!(&env.get(k), v, "{k}");
    }
    let log = env.ok(["log", "--json"]).json();
    let writer_commits: Vec<_> = log.as_array().unwrap().iter().filter(|c| c["writer"] == "ci-runner").collect();
    assert!(writer_commits.len() >= 20, "{log}");
    assert!(writer_commits.iter().all(|c| c["message"].as_str().unwrap().starts_with(MESSAGE_MARKER)));
}

/// gc with the full key keeps everything writer commits reference, and check --read-data is clean.
fn gc_keeps_and_check_is_clean(env: &Env, expected: &BTreeMap<String, Vec<u8>>) {
    for _ in 0..2 {
        env.ok(["gc", "--min-age", "0", "--grace", "0"]);
    }
    let report = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(report["errors"].as_array().map(Vec::len), Some(0), "{report}");
    // A fresh clone (no cache) reads every value.
    for (k, v) in expected {
        assert_eq!(&env.get(k), v, "{k} after gc");
    }
}

/// Every read command refuses in the writer's workspace with exit code 17, naming the key; `--json` says so.
fn writer_reads_nothing(env: &Env, w: &Path) {
    let reads: &[&[&str]] = &[
        &["get", "single/x"],
        &["get", "-r", "builds", "out"],
        &["ls"],
        &["ls", "-l", "builds/"],
        &["get", "--at", "HEAD~2", "single/x"],
        &["log"],
        &["diff"],
        &["show", "HEAD"],
        &["show", "HEAD~1"],
        &["status"],
        &["checkout", "main"],
        &["gc"],
        &["check"],
        &["key", "add"],
        &["key", "rm", "keys/00"],
        &["branch"],
        &["fork", "other"],
        &["stats"],
        &["get", "-r", "--tar", "builds"],
        &["mount", "mnt"],
        &["rm", "single/x"],
        &["update"],
        &["find", "*"],
        &["log", "--", "builds/"],
        &["diff", "-p"],
    ];
    for args in reads {
        let out = env.cmd(args.iter().copied()).cwd(w).fails_with(17);
        assert!(out.stderr.contains("write-only key \"ci-runner\""), "{out}");
        assert!(out.stdout.is_empty(), "{out}");
        let mut json: Vec<&str> = vec!["--json"];
        json.extend_from_slice(args);
        let out = env.cmd(json).cwd(w).fails_with(17);
        assert_eq!(out.stderr_json()["error"]["write_only"], true, "{out}");
    }
}

/// put -r --delete and put --tar would read what is stored: refused as usage errors.
fn writer_cannot_delete_by_tree(env: &Env, w: &Path) {
    let tree = env.root.join("src").display().to_string();
    env.cmd(["put", "-r", "--delete", &tree, "builds/"]).cwd(w).fails_with(2);
    env.cmd(["put", "--tar", "t/"]).cwd(w).stdin(b"").fails_with(2);
}

/// No plaintext marker (value, key name or message) anywhere in the writer's workspace files or in `objects`.
fn no_marker_in(what: &str, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        for m in [VALUE_MARKER, KEY_MARKER.as_bytes(), MESSAGE_MARKER.as_bytes()] {
            assert!(!contains(bytes, m), "{what}: {name} holds {:?} in the clear", String::from_utf8_lossy(m));
        }
    }
}

fn local_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    files_under(dir).into_iter().map(|(p, _)| (p.display().to_string(), read(dir.join(&p)))).collect()
}

#[test]
fn a_write_only_workspace_commits_20_times_beside_a_reader_and_reads_nothing_back() {
    let env = Env::init();
    env.put("seed", b"seed");
    env.commit("seed");
    let repo = env.repo_dir();
    let w = writer_workspace(&env, &repo.display().to_string(), &[]);
    let expected = race(&env, &w);
    let mut with_seed = expected.clone();
    with_seed.insert("seed".into(), b"seed".to_vec());

    // The writer refuses every read before touching the repository: with the repository moved away the answer is
    // still 17, not "no repository".
    let away = env.root.join("repo-away");
    std::fs::rename(&repo, &away).unwrap();
    writer_reads_nothing(&env, &w);
    std::fs::rename(&away, &repo).unwrap();
    writer_cannot_delete_by_tree(&env, &w);

    no_marker_in("the writer's workspace", &local_files(&w.join(".infini")));
    no_marker_in("the repository", &local_files(&repo));
    // Staged but not committed: the staged file and the packs are sealed too.
    let pending = value(4242, true);
    env.cmd(["put", &format!("pending/{KEY_MARKER}")]).cwd(&w).stdin(&pending).ok();
    no_marker_in("the writer's workspace with a change staged", &local_files(&w.join(".infini")));
    no_marker_in("the repository with a change staged", &local_files(&repo));
    env.cmd(["commit", "-m", MESSAGE_MARKER]).cwd(&w).ok();
    with_seed.insert(format!("pending/{KEY_MARKER}"), pending.clone());

    let mut expected_all = expected;
    expected_all.insert(format!("pending/{KEY_MARKER}"), pending);
    expected_all.insert("seed".into(), b"seed".to_vec());
    full_key_reads_everything_with_seed(&env, &expected_all);
    gc_keeps_and_check_is_clean(&env, &with_seed);
}

fn full_key_reads_everything_with_seed(env: &Env, expected: &BTreeMap<String, Vec<u8>>) {
    let mut without_seed = expected.clone();
    without_seed.remove("seed");
    assert_eq!(env.get("seed"), b"seed");
    full_key_reads_everything(env, &without_seed);
}

#[test]
fn a_write_only_workspace_commits_20_times_beside_a_reader_over_s3() {
    let Some(srv) = server() else { return };
    let env = crate::s3::with_credentials(srv);
    let bucket = srv.unique_bucket("writeonly");
    let url = format!("{bucket}/team-a");
    env.ok(["init", "--s3", &url, "--create-bucket", "--endpoint", &srv.endpoint]);
    env.put("seed", b"seed");
    env.commit("seed");
    let w = writer_workspace(&env, &format!("s3://{url}"), &["--endpoint", &srv.endpoint]);
    let expected = race(&env, &w);
    writer_reads_nothing(&env, &w);
    writer_cannot_delete_by_tree(&env, &w);

    no_marker_in("the writer's workspace", &local_files(&w.join(".infini")));
    let b = S3Backend::open_with_credentials(
        S3Config { prefix: "team-a".into(), ..srv.config(&bucket) },
        srv.credentials(),
    )
    .unwrap();
    let objects: Vec<(String, Vec<u8>)> = ["objects/", "keys/", "refs/", "forward/", "config"]
        .iter()
        .flat_map(|p| b.list(p).unwrap())
        .map(|o| {
            let bytes = b.read(&o.name).unwrap();
            (o.name, bytes)
        })
        .collect();
    assert!(objects.iter().filter(|(n, _)| n.starts_with("objects/")).count() > 20, "{}", objects.len());
    no_marker_in("the bucket", &objects);

    let mut all = expected;
    all.insert("seed".into(), b"seed".to_vec());
    full_key_reads_everything_with_seed(&env, &all);
    gc_keeps_and_check_is_clean(&env, &all);
}

#[test]
fn a_writer_password_opens_nothing_for_reading_and_key_rm_removes_its_slot() {
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    let repo = env.repo_dir();
    writer_workspace(&env, &repo.display().to_string(), &[]);
    // -R with the writer's password: refused, exit 17, naming the key.
    let out = env
        .cmd(["ls"])
        .cwd(&env.root)
        .env("INFINI_REPO", repo.display().to_string())
        .env("INFINI_PASSWORD", WRITER_PASSWORD)
        .fails_with(17);
    assert!(out.stderr.contains("ci-runner"), "{out}");
    // The last key that can read is never removed; the writer's slot is.
    let keys = env.ok(["key", "list", "--json"]).json();
    let name = |wo: bool| -> String {
        keys.as_array().unwrap().iter().find(|k| k["write_only"] == wo).unwrap()["name"].as_str().unwrap().to_string()
    };
    env.fails_with(2, ["key", "rm", &name(false)]);
    env.ok(["key", "rm", &name(true)]);
    let keys = env.ok(["key", "list", "--json"]).json();
    assert_eq!(keys.as_array().unwrap().len(), 1, "{keys}");
    env.cmd(["clone", &repo.display().to_string(), "w2"])
        .cwd(&env.root)
        .env("INFINI_PASSWORD", WRITER_PASSWORD)
        .fails_with(12);
}

/// A writer's `put` and `commit` killed (SIGKILL) at random instants, `INFINI_KILL_TRIALS` times each (`make stress`
/// runs 100): after every kill the reader's last commit is intact or the killed commit landed whole on top of it,
/// `check --read-data` is clean, and in the end everything the writer staged is committed and reads back.
#[test]
fn a_writers_put_and_commit_killed_at_random_lose_nothing() {
    let env = Env::init();
    let kept = random_bytes(70, 300_000);
    env.put("kept", &kept);
    let mut head = env.commit("base");
    let repo = env.repo_dir();
    let w = writer_workspace(&env, &repo.display().to_string(), &[]);
    let value = random_bytes(71, 6_000_000);
    let file = env.root.join("value.bin");
    write(&file, &value);
    let n = crate::killed::kill_trials(4);
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut small = BTreeMap::new();
    for t in 0..2 * n {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let delay = std::time::Duration::from_millis(state % 500);
        let args: Vec<String> = if t % 2 == 0 {
            vec!["put".into(), format!("v{t}"), file.display().to_string()]
        } else {
            let v = random_bytes(100 + t as u64, 50_000);
            env.cmd(["put", &format!("s{t}")]).cwd(&w).stdin(&v).ok();
            small.insert(format!("s{t}"), v);
            vec!["commit".into(), "-m".into(), format!("c{t}")]
        };
        let mut child = env
            .cmd(args.iter().map(String::as_str))
            .cwd(&w)
            .command()
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        let ctx = format!("trial {t}: writer's {} killed after {delay:?}", args[0]);
        let ids = env.log_ids();
        if ids[0] != head {
            assert_eq!(args[0], "commit", "{ctx}: the head moved without a commit");
            assert_eq!(ids.get(1), Some(&head), "{ctx}: the killed commit did not land on the last head");
            head = ids[0].clone();
        }
        let out = env.run(["check", "--read-data"]);
        assert_eq!(out.code, 0, "{ctx}: check after the kill:\n{out}");
        assert_eq!(env.get("kept"), kept, "{ctx}");
    }
    // The interrupted work runs again; everything staged is committed.
    env.cmd(["put", "final", &file.display().to_string()]).cwd(&w).ok();
    env.cmd(["commit", "-m", "final"]).cwd(&w).ok();
    for _ in 0..2 {
        env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    }
    env.ok(["check", "--read-data"]);
    assert_eq!(env.get("final"), value);
    for (k, v) in &small {
        assert_eq!(&env.get(k), v, "{k}");
    }
    for k in env.ok(["ls"]).lines().into_iter().filter(|k| k.starts_with('v')) {
        assert_eq!(env.get(&k), value, "{k}");
    }
}
