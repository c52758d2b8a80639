//! `infini copy --to REPO`: history copied into another repository that has its own key, between directories and
//! S3 either way, resumable, never overwriting a target branch that went its own way.

use crate::s3::with_credentials;
use crate::support::s3::server;
use crate::util::{random_bytes, Env};
use infini::backends::DirBackend;
use infini::namespace::{store_value, NamespaceIndex};
use infini::{CommitOptions, KdfParams, Repository, StoreOptions};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SOURCE_PW: &str = "source password";
const TARGET_PW: &str = "the target's own password";

/// One repository as the command line reads it: `-R` location, password, S3 endpoint.
#[derive(Clone)]
struct Side {
    repo: String,
    password: String,
    endpoint: Option<String>,
}

impl Side {
    fn dir(path: &Path, password: &str) -> Self {
        Side { repo: path.display().to_string(), password: password.into(), endpoint: None }
    }

    fn run(&self, env: &Env, args: &[&str]) -> crate::util::Out {
        let mut c = env.cmd(args).env("INFINI_REPO", &self.repo).env("INFINI_PASSWORD", &self.password);
        if let Some(e) = &self.endpoint {
            c = c.env("AWS_ENDPOINT_URL", e);
        }
        c.ok()
    }
}

/// A repository in directory `dir`, made with the library: `n` commits on `branch` (on top of `from`, if given) of
/// small values under a few directories, some changed, some removed, each commit at its own time in the past and
/// with metadata of its own. Returns the repository.
fn build(dir: &Path, password: &str, branch: &str, from: Option<&str>, n: usize, seed: u64) -> Repository {
    let backend = Arc::new(DirBackend::new(dir).unwrap());
    let repo = if dir.join("config").exists() {
        Repository::open(backend, password.as_bytes(), StoreOptions::default()).unwrap()
    } else {
        let kdf = KdfParams { log_n: 10, r: 8, p: 1 };
        Repository::create(backend, password.as_bytes(), kdf, StoreOptions::default()).unwrap()
    };
    let mut head = match repo.branch(branch).unwrap().or_else(|| from.and_then(|f| repo.branch(f).unwrap())) {
        Some(b) => Some(repo.read_commit(&b.head).unwrap()),
        None => None,
    };
    // A larger value shared by every commit that holds it: stored once, wherever it is copied.
    let shared = random_bytes(seed, 300_000);
    for i in 0..n {
        let idx = NamespaceIndex::default();
        repo.load_index(&idx, head.as_ref()).unwrap();
        let put = |key: String, value: &[u8]| {
            let mut e = store_value(&repo, &mut &value[..], &mut |_| {}).unwrap();
            e.mtime = Some(1_600_000_000 + i as i64);
            e.mode = Some(if i % 2 == 0 { 0o644 } else { 0o600 });
            idx.ns.insert(key, e);
        };
        put(format!("d{}/k{seed}-{i}", i % 4), &random_bytes(seed * 1000 + i as u64, 200 + 37 * i));
        if i % 5 == 0 {
            put(format!("changing-{seed}"), format!("version {i}").as_bytes());
        }
        if i % 9 == 0 {
            put(format!("shared/{i}"), &shared);
        }
        if i % 7 == 6 {
            idx.ns.remove(&format!("d{}/k{seed}-{}", (i - 3) % 4, i - 3));
        }
        let opts =
            CommitOptions::default().time(1_700_000_000 + seed * 100_000 + i as u64 * 60).metadata(&(seed, i)).unwrap();
        let c =
            repo.commit_index_on_with(branch, &format!("commit {i} of {seed}"), &idx, head.as_ref(), &opts).unwrap();
        head = Some(c);
    }
    repo
}

/// `infini init` of a target repository with its own password: a directory repository at `root/NAME/.infini/repo`.
fn init_target_dir(env: &Env, name: &str) -> std::path::PathBuf {
    env.cmd(["init", name]).cwd(&env.root).env("INFINI_NEW_PASSWORD", TARGET_PW).ok();
    env.root.join(name).join(".infini/repo")
}

/// Assert that `branch` has the same history in both: the same log (messages, times, hosts, parent structure,
/// commit by commit), and at every commit the same `ls -l` and the same values (a tar of everything, with modes
/// and times).
fn assert_same_history(env: &Env, a: &Side, b: &Side, branch: &str) -> usize {
    assert_same_history_every(env, a, b, branch, 1)
}

/// [`assert_same_history`] comparing `ls -l` and the values through the command line at every `step`-th commit
/// only (and the first and last).
fn assert_same_history_every(env: &Env, a: &Side, b: &Side, branch: &str, step: usize) -> usize {
    let log = |s: &Side| s.run(env, &["log", "--json", "--branch", branch]).json();
    let (la, lb) = (log(a), log(b));
    let shape = |l: &serde_json::Value| -> Vec<(String, u64, String, Vec<usize>)> {
        let l = l.as_array().unwrap();
        let at: HashMap<&str, usize> = l.iter().enumerate().map(|(i, c)| (c["id"].as_str().unwrap(), i)).collect();
        l.iter()
            .map(|c| {
                let parents = c["parents"].as_array().unwrap().iter().map(|p| at[p.as_str().unwrap()]).collect();
                (
                    c["message"].as_str().unwrap().into(),
                    c["time"].as_u64().unwrap(),
                    c["host"].as_str().unwrap().into(),
                    parents,
                )
            })
            .collect()
    };
    assert_eq!(shape(&la), shape(&lb), "log of branch {branch}");
    let ids = |l: &serde_json::Value| -> Vec<String> {
        l.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    let n = ids(&la).len();
    for (i, (ia, ib)) in ids(&la).iter().zip(ids(&lb).iter()).enumerate() {
        assert_ne!(ia, ib, "commit ids are keyed per repository");
        if i % step != 0 && i + 1 != n {
            continue;
        }
        let ls = |s: &Side, id: &str| s.run(env, &["ls", "-l", "--at", id]).stdout;
        assert_eq!(ls(a, ia), ls(b, ib), "ls -l at {ia} / {ib}");
        let tar = |s: &Side, id: &str| s.run(env, &["get", "-r", "/", "--tar", "--at", id]).stdout;
        let (ta, tb) = (tar(a, ia), tar(b, ib));
        assert!(ta.len() > 1024, "a tar of the values at {ia}");
        assert!(ta == tb, "values at {ia} / {ib} differ");
    }
    ids(&la).len()
}

/// Assert, through the library, that the first-parent history of `branch` holds the same keys, entries (time,
/// mode, kind) and values at every commit in both repositories.
fn assert_same_values(a: &Repository, b: &Repository, branch: &str) -> usize {
    let log = |r: &Repository| r.log(&r.branch(branch).unwrap().unwrap().head, usize::MAX).unwrap();
    let (la, lb) = (log(a), log(b));
    assert_eq!(la.len(), lb.len());
    for (ca, cb) in la.iter().zip(&lb) {
        assert_eq!(ca.message(), cb.message());
        assert_eq!(cb.copied_from(), Some(ca.id()), "the copy records what it copies");
        assert_eq!(ca.metadata_bytes(), cb.metadata_bytes(), "metadata of {}", ca.message());
        let load = |r: &Repository, c| {
            let idx = NamespaceIndex::default();
            r.load_index(&idx, Some(c)).unwrap();
            idx.ns.iter().map(|e| e.unwrap()).collect::<Vec<_>>()
        };
        let (ea, eb) = (load(a, ca), load(b, cb));
        assert_eq!(ea.len(), eb.len(), "keys at {}", ca.message());
        for ((ka, va), (kb, vb)) in ea.iter().zip(&eb) {
            assert_eq!(ka, kb);
            assert_eq!((va.mtime, va.mode, va.kind, va.size()), (vb.mtime, vb.mode, vb.kind, vb.size()), "{ka}");
            let read = |r: &Repository, e: &infini::namespace::Entry| {
                let mut v = Vec::new();
                std::io::Read::read_to_end(&mut r.blob_reader(e.blob.clone()), &mut v).unwrap();
                v
            };
            assert!(read(a, va) == read(b, vb), "value of {ka} at {}", ca.message());
        }
    }
    la.len()
}

fn copy_json(env: &Env, source: &Side, args: &[&str]) -> serde_json::Value {
    let mut full = vec!["copy", "--json"];
    full.extend_from_slice(args);
    env.cmd(&full)
        .env("INFINI_REPO", &source.repo)
        .env("INFINI_PASSWORD", &source.password)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .ok()
        .json()
}

#[test]
fn copy_of_a_hundred_commits_from_a_directory_to_s3_is_identical_and_a_second_copy_uploads_nothing() {
    let Some(srv) = server() else { return };
    let env = with_credentials(srv);
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 100, 1);
    let source = Side::dir(&src_dir, SOURCE_PW);
    let url = format!("{}/copied", srv.unique_bucket("copy-to-s3"));
    env.cmd(["init", "tgt", "--s3", &url, "--create-bucket", "--endpoint", &srv.endpoint])
        .cwd(&env.root)
        .env("INFINI_NEW_PASSWORD", TARGET_PW)
        .ok();
    let target_url = format!("s3://{url}");
    let target = Side { repo: target_url.clone(), password: TARGET_PW.into(), endpoint: Some(srv.endpoint.clone()) };

    let started = Instant::now();
    let first = copy_json(&env, &source, &["--to", &target_url, "--to-endpoint", &srv.endpoint]);
    let took = started.elapsed();
    assert_eq!(first["commits_copied"], 100, "{first}");
    assert!(first["bytes_uploaded"].as_u64().unwrap() > 0, "{first}");
    // The shared value is uploaded once: its chunks are found in the target for every later commit.
    assert!(first["chunks_deduplicated"].as_u64().unwrap() > 0, "{first}");
    eprintln!("copy of 100 commits to S3: {took:?}, {first}");

    // Every commit through the library; the command line's log, and its ls -l and values at every tenth commit.
    let src =
        Repository::open(Arc::new(DirBackend::new(&src_dir).unwrap()), SOURCE_PW.as_bytes(), StoreOptions::default())
            .unwrap();
    let mut cfg = srv.config(url.split('/').next().unwrap());
    cfg.prefix = "copied".into();
    let backend = Arc::new(infini::backends::S3Backend::open_with_credentials(cfg, srv.credentials()).unwrap());
    let tgt = Repository::open(backend, TARGET_PW.as_bytes(), StoreOptions::default()).unwrap();
    assert_eq!(assert_same_values(&src, &tgt, "main"), 100);
    assert_eq!(assert_same_history_every(&env, &source, &target, "main", 10), 100);

    // A second copy finds everything there: no commit, no pack, no byte.
    let started = Instant::now();
    let again = copy_json(&env, &source, &["--to", &target_url, "--to-endpoint", &srv.endpoint]);
    eprintln!("second copy of 100 commits to S3: {:?}", started.elapsed());
    assert_eq!(again["commits_copied"], 0, "{again}");
    assert_eq!(again["commits_skipped"], 100, "{again}");
    assert_eq!(again["packs_uploaded"], 0, "{again}");
    assert_eq!(again["bytes_uploaded"], 0, "{again}");
    assert_eq!(again["branches"][0]["target_head"], first["branches"][0]["target_head"]);
    target.run(&env, &["check", "--read-data"]);
}

#[test]
fn copy_from_s3_to_a_directory_is_identical() {
    let Some(srv) = server() else { return };
    let env = with_credentials(srv);
    // The source: a directory repository copied to S3 first (as above), then read from S3 only.
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 12, 2);
    let url = format!("{}/origin", srv.unique_bucket("copy-from-s3"));
    env.cmd(["init", "s3ws", "--s3", &url, "--create-bucket", "--endpoint", &srv.endpoint])
        .cwd(&env.root)
        .env("INFINI_NEW_PASSWORD", TARGET_PW)
        .ok();
    let s3_url = format!("s3://{url}");
    // The target named by its workspace: the bucket and endpoint are the workspace's.
    let s3ws = env.root.join("s3ws");
    let out = copy_json(&env, &Side::dir(&src_dir, SOURCE_PW), &["--to", s3ws.to_str().unwrap()]);
    assert_eq!(out["target"], s3_url.as_str(), "{out}");
    // The workspace reads the copy (its last seen states of the refs were kept by the copy).
    let log = env.cmd(["log", "--json"]).cwd(&s3ws).env("INFINI_PASSWORD", TARGET_PW).ok().json();
    assert_eq!(log.as_array().unwrap().len(), 12);
    let s3 = Side { repo: s3_url.clone(), password: TARGET_PW.into(), endpoint: Some(srv.endpoint.clone()) };

    // S3 -> a directory with yet another password.
    let back = env.root.join("back");
    env.cmd(["init", "back"]).cwd(&env.root).env("INFINI_NEW_PASSWORD", "third").ok();
    let out = env
        .cmd(["copy", "--json", "--to", back.to_str().unwrap(), "--endpoint", &srv.endpoint])
        .env("INFINI_REPO", &s3_url)
        .env("INFINI_PASSWORD", TARGET_PW)
        .env("INFINI_TO_PASSWORD", "third")
        .ok()
        .json();
    assert_eq!(out["commits_copied"], 12, "{out}");
    let dir = Side::dir(&back.join(".infini/repo"), "third");
    assert_eq!(assert_same_history(&env, &s3, &dir, "main"), 12);
    assert_eq!(assert_same_history(&env, &Side::dir(&src_dir, SOURCE_PW), &dir, "main"), 12);
    dir.run(&env, &["check", "--read-data"]);
}

#[test]
fn copy_of_two_branches_keeps_their_shared_history_shared() {
    let env = Env::new();
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 6, 3);
    build(&src_dir, SOURCE_PW, "dev", Some("main"), 4, 4);
    build(&src_dir, SOURCE_PW, "main", None, 3, 5);
    let source = Side::dir(&src_dir, SOURCE_PW);
    let tgt = init_target_dir(&env, "tgt");
    let out = copy_json(&env, &source, &["--to", tgt.to_str().unwrap(), "--all"]);
    // 6 shared, 4 on dev, 3 more on main: each copied once.
    assert_eq!(out["commits_copied"], 13, "{out}");
    let target = Side::dir(&tgt, TARGET_PW);
    assert_eq!(assert_same_history(&env, &source, &target, "main"), 9);
    assert_eq!(assert_same_history(&env, &source, &target, "dev"), 10);
    // The fork point is one commit of the target, reached from both branches.
    let ids = |b: &str| -> Vec<String> {
        let l = target.run(&env, &["log", "--json", "--branch", b]).json();
        l.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    let (main, dev) = (ids("main"), ids("dev"));
    assert_eq!(main[3..], dev[4..], "the shared history is shared in the target");
    // The commits' own metadata came along.
    let t = Repository::open(Arc::new(DirBackend::new(&tgt).unwrap()), TARGET_PW.as_bytes(), StoreOptions::default())
        .unwrap();
    let head = t.read_commit(&t.branch("dev").unwrap().unwrap().head).unwrap();
    assert_eq!(head.metadata::<(u64, usize)>().unwrap(), Some((4, 3)));
    target.run(&env, &["check", "--read-data"]);
}

#[test]
fn copy_into_a_target_with_its_own_password_needs_that_password() {
    let env = Env::new();
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 3, 6);
    let tgt = init_target_dir(&env, "tgt");
    let to = tgt.to_str().unwrap();
    let copy = |to_pw: Option<&str>, extra: &[&str]| {
        let mut args = vec!["copy", "--json", "--to", to];
        args.extend_from_slice(extra);
        let mut c = env
            .cmd(args)
            .env("INFINI_REPO", src_dir.to_str().unwrap())
            .env("INFINI_PASSWORD", SOURCE_PW)
            .env_remove("INFINI_TO_PASSWORD");
        if let Some(p) = to_pw {
            c = c.env("INFINI_TO_PASSWORD", p);
        }
        c
    };
    // No password for the target (and no terminal): refused, nothing asked, nothing copied.
    let out = copy(None, &[]).fails_with(12);
    assert!(out.stderr.contains("INFINI_TO_PASSWORD"), "{out}");
    // The source's password does not open the target.
    copy(Some(SOURCE_PW), &[]).fails_with(12);
    // From a file, and from a command.
    let pwfile = env.root.join("to-pw");
    std::fs::write(&pwfile, format!("{TARGET_PW}\n")).unwrap();
    let first = copy(None, &[]).env("INFINI_TO_PASSWORD_FILE", pwfile.to_str().unwrap()).ok().json();
    assert_eq!(first["commits_copied"], 3, "{first}");
    let cmd = format!("cat '{}'", pwfile.display());
    let again = copy(None, &["--to-password-command", &cmd]).ok().json();
    assert_eq!(again["commits_copied"], 0, "{again}");
    let target = Side::dir(&tgt, TARGET_PW);
    assert_eq!(assert_same_history(&env, &Side::dir(&src_dir, SOURCE_PW), &target, "main"), 3);
    // Copying a repository into itself is refused.
    let out = env
        .cmd(["copy", "--to", src_dir.to_str().unwrap()])
        .env("INFINI_REPO", src_dir.to_str().unwrap())
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", SOURCE_PW)
        .fails_with(2);
    assert!(out.stderr.contains("is the repository being copied from"), "{out}");
    // A target that is not a repository (create it first with init).
    let nothing = env.root.join("nothing");
    env.cmd(["copy", "--to", nothing.to_str().unwrap()])
        .env("INFINI_REPO", src_dir.to_str().unwrap())
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .fails_with(10);
    // The target opens with its own password only.
    env.cmd(["log"]).env("INFINI_REPO", to).env("INFINI_PASSWORD", SOURCE_PW).fails_with(12);
}

#[test]
fn copy_refuses_a_target_branch_that_diverged() {
    let env = Env::new();
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 3, 7);
    let source = Side::dir(&src_dir, SOURCE_PW);
    let tgt = init_target_dir(&env, "tgt");
    // The target's main has a commit of its own.
    let tws = env.root.join("tgt");
    env.cmd(["put", "mine"]).cwd(&tws).stdin(b"target's own").env("INFINI_PASSWORD", TARGET_PW).ok();
    env.cmd(["commit", "-m", "made in the target"]).cwd(&tws).env("INFINI_PASSWORD", TARGET_PW).ok();
    let target = Side::dir(&tgt, TARGET_PW);
    let before = target.run(&env, &["log", "--json"]).stdout;
    let out = env
        .cmd(["copy", "--to", tgt.to_str().unwrap()])
        .env("INFINI_REPO", &source.repo)
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .fails_with(11);
    assert!(out.stderr.contains("branch main of the target has diverged"), "{out}");
    assert_eq!(target.run(&env, &["log", "--json"]).stdout, before, "the target's branch was not touched");

    // A copied branch the source then rewrote (its history no longer reaches the copied head) is refused too.
    let other = init_target_dir(&env, "other");
    copy_json(&env, &source, &["--to", other.to_str().unwrap()]);
    let src2 = env.root.join("src2");
    build(&src2, SOURCE_PW, "main", None, 2, 8);
    let out = env
        .cmd(["copy", "--to", other.to_str().unwrap()])
        .env("INFINI_REPO", src2.to_str().unwrap())
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .fails_with(11);
    assert!(out.stderr.contains("diverged"), "{out}");
    assert_eq!(assert_same_history(&env, &source, &Side::dir(&other, TARGET_PW), "main"), 3);
}

#[test]
fn a_killed_copy_resumes_and_copies_only_what_was_missing() {
    let env = Env::new();
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 30, 9);
    let source = Side::dir(&src_dir, SOURCE_PW);
    let tgt = init_target_dir(&env, "tgt");
    let copied = || -> usize {
        let Ok(t) =
            Repository::open(Arc::new(DirBackend::new(&tgt).unwrap()), TARGET_PW.as_bytes(), StoreOptions::default())
        else {
            return 0;
        };
        match t.branch("main").unwrap() {
            Some(b) => t.log(&b.head, usize::MAX).unwrap().len(),
            None => 0,
        }
    };
    // A slow backend, and SIGKILL once some commits (not all) are there.
    let mut child = env
        .cmd(["copy", "--to", tgt.to_str().unwrap()])
        .env("INFINI_REPO", &source.repo)
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .env("INFINI_BACKEND_LATENCY_MS", "15")
        .command()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while copied() < 5 && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    let present = copied();
    assert!((5..30).contains(&present), "killed with {present} of 30 commits copied");

    // The rerun copies exactly what was missing, and the result is the same as an uninterrupted copy.
    let out = copy_json(&env, &source, &["--to", tgt.to_str().unwrap()]);
    assert_eq!(out["commits_copied"].as_u64().unwrap() as usize, 30 - present, "{out}");
    assert_eq!(out["commits_skipped"].as_u64().unwrap() as usize, present, "{out}");
    let target = Side::dir(&tgt, TARGET_PW);
    assert_eq!(assert_same_history(&env, &source, &target, "main"), 30);
    target.run(&env, &["check", "--read-data"]);
    let again = copy_json(&env, &source, &["--to", tgt.to_str().unwrap()]);
    assert_eq!(again["commits_copied"], 0, "{again}");
}

#[test]
fn forgotten_commits_are_copied_as_forgotten_headers() {
    let env = Env::new();
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 8, 10);
    // Forget all but the last three commits, in a workspace of the source.
    env.cmd(["clone", src_dir.to_str().unwrap(), "sws"]).cwd(&env.root).env("INFINI_PASSWORD", SOURCE_PW).ok();
    let sws = env.root.join("sws");
    env.cmd(["forget", "--keep-last", "3"]).cwd(&sws).env("INFINI_PASSWORD", SOURCE_PW).ok();
    let tgt = init_target_dir(&env, "tgt");
    let out = env
        .cmd(["copy", "--json", "--to", tgt.to_str().unwrap()])
        .cwd(&sws)
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .ok()
        .json();
    assert_eq!(out["commits_copied"], 8, "{out}");
    assert_eq!(out["forgotten_copied"], 5, "{out}");
    let source = Side::dir(&src_dir, SOURCE_PW);
    let target = Side::dir(&tgt, TARGET_PW);
    // The same log: three commits, then five forgotten ones.
    let log = |s: &Side| s.run(&env, &["log", "--json"]).json();
    let (ls, lt) = (log(&source), log(&target));
    let lines = |l: &serde_json::Value| -> Vec<String> {
        l.as_array()
            .unwrap()
            .iter()
            .map(|e| match e.get("forgotten") {
                Some(n) => format!("{n} forgotten"),
                None => format!("{} {}", e["message"], e["time"]),
            })
            .collect()
    };
    assert_eq!(lines(&ls), lines(&lt));
    assert_eq!(lines(&lt).len(), 4, "{lt}");
    // Kept commits hold the same values; a forgotten one cannot be read in either.
    for (a, b) in ls.as_array().unwrap()[..3].iter().zip(&lt.as_array().unwrap()[..3]) {
        let tar = |s: &Side, id: &serde_json::Value| {
            s.run(&env, &["get", "-r", "/", "--tar", "--at", id.as_str().unwrap()]).stdout
        };
        assert!(tar(&source, &a["id"]) == tar(&target, &b["id"]), "values at {} / {}", a["id"], b["id"]);
    }
    let forgotten = lt[3]["first"].as_str().unwrap();
    env.cmd(["ls", "--at", forgotten])
        .env("INFINI_REPO", tgt.to_str().unwrap())
        .env("INFINI_PASSWORD", TARGET_PW)
        .fails_with(3);
    target.run(&env, &["check", "--read-data"]);
    // Nothing new the second time.
    let again = env
        .cmd(["copy", "--json", "--to", tgt.to_str().unwrap()])
        .cwd(&sws)
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .ok()
        .json();
    assert_eq!(again["commits_copied"], 0, "{again}");
}

/// The target directory repository `dir` opened through the library.
fn open_dir(dir: &Path, password: &str) -> Repository {
    Repository::open(Arc::new(DirBackend::new(dir).unwrap()), password.as_bytes(), StoreOptions::default()).unwrap()
}

/// A tar of every value at `rev` of `side`, read outside any workspace.
fn tar_at(env: &Env, side: &Side, rev: &str) -> Vec<u8> {
    env.cmd(["get", "-r", "/", "--tar", "--at", rev])
        .cwd(&env.root)
        .env("INFINI_REPO", &side.repo)
        .env("INFINI_PASSWORD", &side.password)
        .ok()
        .stdout
}

#[test]
fn copy_brings_the_tags_into_what_it_copies_every_tag_with_all_and_one_tag_by_name() {
    let env = Env::new();
    let src_dir = env.root.join("src");
    build(&src_dir, SOURCE_PW, "main", None, 5, 11);
    let repo = build(&src_dir, SOURCE_PW, "dev", Some("main"), 3, 12);
    let idx = NamespaceIndex::default();
    let main = repo.log(&repo.branch("main").unwrap().unwrap().head, usize::MAX).unwrap();
    let dev = repo.branch("dev").unwrap().unwrap().head;
    // v1 on main's history, v2 only on dev's.
    repo.create_tag("v1", &main[2].ptr, &idx).unwrap();
    repo.create_tag("v2", &dev, &idx).unwrap();
    drop(repo);
    let source = Side::dir(&src_dir, SOURCE_PW);
    let tgt = init_target_dir(&env, "tgt");
    let to = tgt.to_str().unwrap();
    let target = Side::dir(&tgt, TARGET_PW);

    // main only: the tag into main's history comes along, dev's does not.
    let out = copy_json(&env, &source, &["--to", to, "main"]);
    assert_eq!(out["commits_copied"], 5, "{out}");
    assert_eq!(out["tags_copied"], 1, "{out}");
    assert_eq!(out["tags"][0]["name"], "v1", "{out}");
    let t = open_dir(&tgt, TARGET_PW);
    let v1 = t.tag("v1").unwrap().expect("tag v1 copied with main");
    assert_eq!(t.read_commit(&v1.commit).unwrap().copied_from(), Some(main[2].id()));
    assert!(t.tag("v2").unwrap().is_none(), "v2 is not in main's history");
    assert!(tar_at(&env, &source, "v1") == tar_at(&env, &target, "v1"), "the values at v1");

    // --all: every branch and every tag; v1 is there already (at the copy of its commit).
    let out = copy_json(&env, &source, &["--to", to, "--all"]);
    assert_eq!(out["commits_copied"], 3, "{out}");
    assert_eq!(out["tags_copied"], 1, "{out}");
    let t = open_dir(&tgt, TARGET_PW);
    let v2 = t.tag("v2").unwrap().expect("tag v2 copied with --all");
    assert_eq!(t.read_commit(&v2.commit).unwrap().copied_from(), Some(dev.commit_id()));
    assert_eq!(Some(v2.commit), t.branch("dev").unwrap().map(|b| b.head), "v2 is dev's head there too");
    assert!(tar_at(&env, &source, "v2") == tar_at(&env, &target, "v2"), "the values at v2");
    let again = copy_json(&env, &source, &["--to", to, "--all"]);
    assert_eq!((again["commits_copied"].as_u64(), again["tags_copied"].as_u64()), (Some(0), Some(0)), "{again}");

    // A tag by name: the tag and its history, no branch.
    let other = init_target_dir(&env, "other");
    let to = other.to_str().unwrap();
    let out = copy_json(&env, &source, &["--to", to, "v2"]);
    assert_eq!(out["commits_copied"], 8, "{out}");
    assert_eq!(out["tags_copied"], 1, "{out}");
    let o = open_dir(&other, TARGET_PW);
    assert!(o.branches().unwrap().is_empty(), "no branch was named");
    assert_eq!(o.tags().unwrap().iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["v2"]);
    let log = |s: &Side| {
        let l = env
            .cmd(["log", "--json", "v2"])
            .cwd(&env.root)
            .env("INFINI_REPO", &s.repo)
            .env("INFINI_PASSWORD", &s.password)
            .ok()
            .json();
        l.as_array().unwrap().iter().map(|c| (c["message"].clone(), c["time"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(log(&source), log(&Side::dir(&other, TARGET_PW)));
    // A tag's history is found again through the tag: nothing is copied twice.
    let again = copy_json(&env, &source, &["--to", to, "v2"]);
    assert_eq!(again["commits_copied"], 0, "{again}");
    assert_eq!(again["tags_copied"], 0, "{again}");
    Side::dir(&other, TARGET_PW).run(&env, &["check", "--read-data"]);
}

#[test]
fn copy_refuses_a_target_tag_at_another_commit_and_writes_nothing() {
    let env = Env::new();
    let src_dir = env.root.join("src");
    let repo = build(&src_dir, SOURCE_PW, "main", None, 3, 13);
    let head = repo.branch("main").unwrap().unwrap().head;
    repo.create_tag("v1", &head, &NamespaceIndex::default()).unwrap();
    drop(repo);
    let source = Side::dir(&src_dir, SOURCE_PW);
    let tgt = init_target_dir(&env, "tgt");
    let to = tgt.to_str().unwrap();
    copy_json(&env, &source, &["--to", to]);
    // In the target, v1 is deleted and made again at another commit (the copy of main~1).
    let t = open_dir(&tgt, TARGET_PW);
    let there = t.log(&t.branch("main").unwrap().unwrap().head, usize::MAX).unwrap();
    t.delete_tag("v1").unwrap();
    t.create_tag("v1", &there[1].ptr, &NamespaceIndex::default()).unwrap();
    drop(t);
    // The source moves on; the copy is refused before it writes anything.
    build(&src_dir, SOURCE_PW, "main", None, 2, 14);
    let out = env
        .cmd(["copy", "--to", to])
        .env("INFINI_REPO", &source.repo)
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .fails_with(11);
    assert!(out.stderr.contains("tag v1 of the target"), "{out}");
    let t = open_dir(&tgt, TARGET_PW);
    assert_eq!(t.branch("main").unwrap().unwrap().head, there[0].ptr, "the target's branch did not move");
    assert_eq!(t.tag("v1").unwrap().unwrap().commit, there[1].ptr, "the target's tag did not move");
    assert!(infini::copies(&t).unwrap().len() == 3, "no commit was copied");

    // A target whose branch has the name of a tag being copied: refused too (a branch and a tag never share one).
    let third = init_target_dir(&env, "third");
    let to = third.to_str().unwrap();
    let old = open_dir(&src_dir, SOURCE_PW).log(&head, 1).unwrap();
    copy_json(&env, &source, &["--to", to, "v1"]);
    let t = open_dir(&third, TARGET_PW);
    let at = infini::copies(&t).unwrap()[&old[0].id()].ptr;
    t.delete_tag("v1").unwrap();
    let mine = t.create_branch("v1", &at, &NamespaceIndex::default()).unwrap();
    drop(t);
    let out = env
        .cmd(["copy", "--to", to, "--all"])
        .env("INFINI_REPO", &source.repo)
        .env("INFINI_PASSWORD", SOURCE_PW)
        .env("INFINI_TO_PASSWORD", TARGET_PW)
        .fails_with(11);
    assert!(out.stderr.contains("tag v1: the target has a branch of that name"), "{out}");
    let t = open_dir(&third, TARGET_PW);
    assert!(t.branch("main").unwrap().is_none(), "nothing was copied");
    assert_eq!(t.branch("v1").unwrap().unwrap().head, mine.head);
}

#[test]
fn a_merge_commit_is_copied_with_both_parents() {
    let env = Env::init();
    env.put("a", b"a0");
    env.put("big", &random_bytes(15, 5000));
    env.put("r", b"to be removed");
    env.commit("base");
    env.ok(["fork", "side"]);
    env.put("b", &random_bytes(16, 3000));
    env.ok(["rm", "r"]);
    let side = env.commit("side work");
    env.ok(["checkout", "main"]);
    env.put("a", b"a-main");
    let main = env.commit("main work");
    let merge = crate::util::commit_id(&env.ok(["merge", "side"]));
    let source = Side::dir(&env.repo_dir(), crate::util::PASSWORD);
    let tgt = init_target_dir(&env, "tgt");
    let to = tgt.to_str().unwrap();
    let out = copy_json(&env, &source, &["--to", to, "--all"]);
    assert_eq!(out["commits_copied"], 4, "{out}");
    let target = Side::dir(&tgt, TARGET_PW);
    let log = |b: &str| {
        env.cmd(["log", "--json", "--branch", b])
            .cwd(&env.root)
            .env("INFINI_REPO", &target.repo)
            .env("INFINI_PASSWORD", TARGET_PW)
            .ok()
            .json()
    };
    let lm = log("main");
    let parents: Vec<String> =
        lm[0]["parents"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
    assert_eq!(lm[0]["message"], "Merge branch 'side'", "{lm}");
    assert_eq!(parents.len(), 2, "the merge has two parents there: {lm}");
    assert_eq!(parents[0], lm[1]["id"].as_str().unwrap(), "first parent: main's own work");
    assert_eq!(parents[1], log("side")[0]["id"].as_str().unwrap(), "second parent: the copy of side's head");
    let t = open_dir(&tgt, TARGET_PW);
    let origin = |id: &str| t.read_commit(&t.resolve(id, None).unwrap()).unwrap().copied_from().unwrap().to_hex();
    assert_eq!(origin(lm[0]["id"].as_str().unwrap()), merge);
    assert_eq!(origin(&parents[0]), main);
    assert_eq!(origin(&parents[1]), side);
    for (s, c) in [(&merge, lm[0]["id"].as_str().unwrap()), (&main, &parents[0]), (&side, &parents[1])] {
        assert!(tar_at(&env, &source, s) == tar_at(&env, &target, c), "values at {s} / {c}");
    }
    let again = copy_json(&env, &source, &["--to", to, "--all"]);
    assert_eq!(again["commits_copied"], 0, "{again}");
    assert_eq!(again["packs_uploaded"], 0, "{again}");
    env.cmd(["check", "--read-data"])
        .cwd(&env.root)
        .env("INFINI_REPO", &target.repo)
        .env("INFINI_PASSWORD", TARGET_PW)
        .ok();
}
