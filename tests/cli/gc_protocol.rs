//! gc cannot be fooled into deleting what a branch still needs: a replayed gc ref, a rolled-back branch seen by a
//! process without a workspace's memory, a commit racing gc on a slow store, a staged pack removed behind its back;
//! and what it decides is garbage it deletes only a grace period later, freeing the space it says it frees.
//!
//! `INFINI_RACE_TRIALS` sets the number of commit-against-gc races (default 3; `make stress` runs more).

use crate::util::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn ref_dirs(repo: &Path) -> BTreeSet<PathBuf> {
    match std::fs::read_dir(repo.join("refs")) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => BTreeSet::new(),
    }
}

use crate::rollback::{current_ref, gen_path, generations, replay};

/// The one ref directory that appeared while `f` ran.
fn new_ref_dir(env: &Env, f: impl FnOnce()) -> PathBuf {
    let before = ref_dirs(&env.repo_dir());
    f();
    let new: Vec<PathBuf> = ref_dirs(&env.repo_dir()).difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "one new ref: {new:?}");
    new[0].clone()
}

/// Every file under `dir` (none when it does not exist), with its size.
fn files_in(dir: PathBuf) -> Vec<(PathBuf, u64)> {
    if !dir.exists() {
        return Vec::new();
    }
    files_under(&dir).into_iter().map(|(p, s)| (dir.join(p), s)).collect()
}

/// Every file under objects/ and forward/, with its size: what gc may delete.
fn stored(env: &Env) -> Vec<(PathBuf, u64)> {
    let mut v = files_in(env.repo_dir().join("objects"));
    v.extend(files_in(env.repo_dir().join("forward")));
    v
}

fn forward_tables(env: &Env) -> Vec<PathBuf> {
    files_in(env.repo_dir().join("forward")).into_iter().map(|(p, _)| p).collect()
}

/// Each ref directory with its newest generation.
fn ref_generations(env: &Env) -> Vec<(PathBuf, u64)> {
    ref_dirs(&env.repo_dir()).into_iter().map(|d| (d.clone(), generations(&d).last().copied().unwrap_or(0))).collect()
}

fn gc_now(env: &Env) -> Out {
    env.ok(["--json", "gc", "--min-age", "0s", "--grace", "0s"])
}

#[test]
fn replayed_gc_ref_stops_gc_and_deletes_nothing() {
    let env = Env::init();
    // The first gc run creates the gc ref: keep a copy of it.
    let gc_dir = new_ref_dir(&env, || {
        env.ok(["gc"]);
    });
    let old_gc_ref = current_ref(&gc_dir);
    env.put("base", b"base");
    env.commit("base");
    // Branch dev holds A and B in one pack; main takes A (deduplicated against dev's pack); dev is deleted.
    let a = random_bytes(31, 600_000);
    let b = random_bytes(32, 900_000);
    let src = env.path("ab");
    std::fs::create_dir_all(&src).unwrap();
    std::fs::write(src.join("a"), &a).unwrap();
    std::fs::write(src.join("b"), &b).unwrap();
    env.ok(["fork", "dev"]);
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "d"]);
    env.commit("dev: a and b");
    env.ok(["checkout", "main"]);
    env.put("a", &a);
    env.commit("main: a");
    env.ok(["branch", "-D", "dev"]);
    // A is repacked (a forwarding table written), the old pack condemned; a grace period later it is deleted.
    let first = gc_now(&env).json();
    assert_eq!(first["repack"].as_array().unwrap().len(), 1, "{first}");
    gc_now(&env);
    gc_now(&env);
    assert_eq!(forward_tables(&env).len(), 1);
    assert_bytes_eq(&env.get("a"), &a, "a, read through the forward");

    env.put("c", b"c".repeat(10_000).as_slice());
    // The old gc ref copied back as the next generation.
    replay(&gc_dir, &old_gc_ref);
    let before = stored(&env);
    for _ in 0..2 {
        let out = env.fails_with(13, ["gc", "--min-age", "0s", "--grace", "0s"]);
        assert!(out.stderr.contains("gc ref"), "the gc ref is named:\n{out}");
    }
    assert_eq!(stored(&env), before, "nothing is deleted");
    // A commit's claim stops too, before publishing anything, and so does staging more.
    let log = env.log_ids();
    let out = env.fails_with(13, ["commit", "-m", "c"]);
    assert!(out.stderr.contains("gc ref"), "the gc ref is named:\n{out}");
    assert_eq!(env.log_ids(), log);
    env.cmd(["put", "d"]).stdin(b"d").fails_with(13);
    // A workspace that never saw the newer gc ref has no memory to compare with, but gc still refuses: a branch
    // reaches a chunk whose pack is gone and that no forward covers.
    let ws2 = env.path("ws2");
    env.ok(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]);
    env.cmd(["gc", "--min-age", "0s", "--grace", "0s"]).cwd(&ws2).fails_with(13);
    assert_eq!(stored(&env), before, "nothing is deleted");
    // Undone, everything reads back and gc runs again.
    std::fs::remove_file(gen_path(&gc_dir, *generations(&gc_dir).last().unwrap())).unwrap();
    assert_bytes_eq(&env.get("a"), &a, "a, after the replay was undone");
    gc_now(&env);
    env.ok(["check", "--read-data"]);
}

#[test]
fn gc_refuses_for_everyone_when_a_branch_is_behind_what_gc_traced() {
    let env = Env::init();
    env.ok(["gc"]);
    env.put("small", b"s");
    let main_dir = new_ref_dir(&env, || {
        env.commit("one");
    });
    let old = current_ref(&main_dir);
    let big = random_bytes(41, 800_000);
    env.put("big", &big);
    env.commit("two");
    // gc traces main at its second commit, and records it.
    gc_now(&env);
    // main rolled back to its first commit.
    replay(&main_dir, &old);
    let before = stored(&env);
    // A workspace cloned now never saw the newer head, yet its gc refuses: gc recorded it.
    let ws2 = env.path("ws2");
    env.ok(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]);
    for _ in 0..2 {
        let out = env.cmd(["gc", "--min-age", "0s", "--grace", "0s"]).cwd(&ws2).fails_with(13);
        assert!(out.stderr.contains("branch main"), "the branch is named:\n{out}");
    }
    assert_eq!(stored(&env), before, "the packs of the newer history are kept");
    // Undone, gc runs again and keeps everything.
    std::fs::remove_file(gen_path(&main_dir, *generations(&main_dir).last().unwrap())).unwrap();
    env.cmd(["gc", "--min-age", "0s", "--grace", "0s"]).cwd(&ws2).ok();
    gc_now(&env);
    assert_bytes_eq(&env.get("big"), &big, "after the rollback was undone");
}

#[test]
fn a_staged_pack_removed_outside_gc_stops_the_commit() {
    let env = Env::init();
    env.put("base", b"base");
    let base = env.commit("base");
    let before: BTreeSet<PathBuf> = files_in(env.repo_dir().join("objects")).into_iter().map(|(p, _)| p).collect();
    env.put("big", &random_bytes(51, 3_000_000));
    let after: BTreeSet<PathBuf> = files_in(env.repo_dir().join("objects")).into_iter().map(|(p, _)| p).collect();
    let new: Vec<&PathBuf> = after.difference(&before).collect();
    assert!(!new.is_empty());
    for p in new {
        std::fs::remove_file(p).unwrap();
    }
    let out = env.run(["commit", "-m", "big"]);
    assert_ne!(out.code, 0, "the commit must not publish a pointer to a pack that is gone:\n{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(env.log_ids(), vec![base], "nothing was committed");
    env.ok(["check"]);
}

pub(crate) fn trials() -> usize {
    std::env::var("INFINI_RACE_TRIALS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}

/// Each ref's name with its current version, as `refs` reports them (a directory's newest generation, an S3 ETag).
pub(crate) type RefVersions<'a> = dyn Fn() -> BTreeMap<String, String> + 'a;

/// One race: w1 stages a value, w2's gc condemns its pack, w1 commits on a slow store and, as soon as the gc ref
/// changes (the commit's claim landed), w2 runs gc with no grace and no minimum age over and over until the commit
/// ends. Returns a description of any loss.
pub(crate) fn commit_races_gc(env: &Env, ws2: &Path, seed: u64, refs: &RefVersions<'_>) -> Option<String> {
    let value = random_bytes(seed, 3_000_000);
    let key = format!("v{seed}");
    env.put(&key, &value);
    let before = refs();
    env.cmd(["gc", "--min-age", "0s"]).cwd(ws2).ok();
    // The gc ref: the ref that gc just changed.
    let after = refs();
    let gc_ref: Vec<&String> = after.keys().filter(|k| before.get(*k) != after.get(*k)).collect();
    assert_eq!(gc_ref.len(), 1, "gc changed one ref: {before:?} -> {after:?}");
    let (gc_ref, condemned_at) = (gc_ref[0].clone(), after[gc_ref[0]].clone());
    let mut commit = env
        .cmd(["commit", "-m", &key])
        .env("INFINI_BACKEND_LATENCY_MS", "100")
        .command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(s) = commit.try_wait().unwrap() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(300), "the commit never ended");
        if refs().get(&gc_ref) == Some(&condemned_at) {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        }
        let out = env.cmd(["gc", "--min-age", "0s", "--grace", "0s"]).cwd(ws2).run();
        assert!([0, 11].contains(&out.code), "gc: {out}");
    };
    let out = commit.wait_with_output().unwrap();
    if !status.success() {
        // Refused cleanly: nothing of it may be published, and it can be put and committed again.
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        env.ok(["reset"]);
        return None;
    }
    let got = env.run(["get", &key]);
    if got.code != 0 || got.stdout != value {
        return Some(format!("commit {key} exited 0, then get: {got}"));
    }
    let check = env.run(["check"]);
    (check.code != 0).then(|| format!("commit {key} exited 0, then check: {check}"))
}

/// [`commit_races_gc`] `trials` times in `env`'s repository (with a second workspace cloned from it by `clone`
/// followed by the workspace's path): 0 losses.
pub(crate) fn commit_races_gc_trials(env: &Env, refs: &RefVersions<'_>, trials: usize, clone: &[&str]) {
    env.put("base", b"base");
    env.commit("base");
    let ws2 = env.path("ws2");
    let mut args = vec!["clone"];
    args.extend_from_slice(clone);
    args.push(ws2.to_str().unwrap());
    env.ok(args);
    let losses: Vec<String> = (0..trials).filter_map(|i| commit_races_gc(env, &ws2, 100 + i as u64, refs)).collect();
    assert!(losses.is_empty(), "{} of {trials} commits lost data:\n{}", losses.len(), losses.join("\n"));
}

#[test]
fn commit_racing_two_gc_runs_on_a_slow_store_loses_nothing() {
    let env = Env::init();
    let refs = || ref_generations(&env).into_iter().map(|(d, g)| (d.display().to_string(), g.to_string())).collect();
    commit_races_gc_trials(&env, &refs, trials(), &[env.ws.to_str().unwrap()]);
}

#[test]
fn a_forwarding_table_no_forward_names_is_deleted_only_a_grace_period_later() {
    let env = Env::init();
    env.put("base", b"base");
    env.commit("base");
    gc_now(&env);
    // A table no forward names: what a run that crashed before recording its repack leaves.
    let stray = env.repo_dir().join("forward").join("ab".repeat(32));
    write(&stray, &random_bytes(61, 64 << 10));
    let first = gc_now(&env).json();
    assert!(stray.exists(), "the run that finds it unnamed only records it: {first}");
    env.ok(["gc", "--min-age", "0s", "--grace", "1h"]);
    assert!(stray.exists(), "kept for the grace period");
    let last = gc_now(&env).json();
    assert!(!stray.exists(), "deleted a grace period later: {last}");
    assert_eq!(last["forward_tables_deleted"], 1, "{last}");
    env.ok(["check"]);
}

#[test]
fn repack_writes_the_smallest_packs_that_hold_the_live_chunks_and_reports_the_bytes_freed() {
    let env = Env::init();
    env.put("base", b"base");
    env.commit("base");
    // One 16 MiB pack: a 7.6 MiB value kept, 7.6 MiB dropped (about half garbage, by chunk boundaries).
    let src = env.path("pair");
    std::fs::create_dir_all(&src).unwrap();
    let keep = random_bytes(71, 7_600_000);
    std::fs::write(src.join("a-keep"), &keep).unwrap();
    std::fs::write(src.join("b-drop"), random_bytes(72, 7_600_000)).unwrap();
    env.ok(["fork", "dev"]);
    env.ok(["put", "-q", "-r", src.to_str().unwrap(), "d"]);
    env.commit("dev");
    env.ok(["checkout", "main"]);
    env.put("keep", &keep);
    env.commit("keep");
    env.ok(["branch", "-D", "dev"]);
    let before = bytes_under(env.repo_dir().join("objects"));
    let plan = env.ok(["--json", "gc", "--min-age", "0s", "--grace", "0s", "--repack-threshold", "30"]).json();
    assert_eq!(plan["repack"].as_array().unwrap().len(), 1, "{plan}");
    let after_repack = bytes_under(env.repo_dir().join("objects"));
    let written = after_repack - before;
    assert!(written <= 12 << 20, "the live 7.6 MiB are written into smaller packs than one of 16 MiB: {written}");
    let plan = env.ok(["--json", "gc", "--min-age", "0s", "--grace", "0s", "--repack-threshold", "30"]).json();
    let freed = plan["freed_bytes"].as_u64().unwrap_or_else(|| panic!("freed_bytes in {plan}"));
    let after = bytes_under(env.repo_dir().join("objects"));
    assert_eq!(freed, after_repack - after, "{plan}");
    assert!(after + (4 << 20) <= before, "space is freed: {before} -> {after}");
    let text = env.ok(["gc", "--min-age", "0s", "--grace", "0s"]);
    assert!(text.stderr.contains("freed"), "{text}");
    assert_bytes_eq(&env.get("keep"), &keep, "keep, read through the forward");
    env.ok(["check", "--read-data"]);
}
