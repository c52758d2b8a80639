//! A branch's ref that went back, vanished or was replaced on storage is caught by every workspace that saw the newer
//! state (exit code 13 naming the branch), never turned into a new history or lost history; accepting it is one
//! explicit command. A workspace that never saw the newer state trusts what it finds (trust on first use).

use crate::util::*;
use std::path::{Path, PathBuf};

fn ref_dirs(repo: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(repo.join("refs")) {
        Ok(d) => d.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    v.sort();
    v
}

/// The gc ref's directory: the ref a gc run writes (every commit's claim writes it too, so it sits beside the
/// branches' refs). A gc run with the default minimum age changes nothing else here.
fn gc_ref_dir(env: &Env) -> PathBuf {
    let newest = || -> Vec<(PathBuf, u64)> {
        ref_dirs(&env.repo_dir())
            .into_iter()
            .map(|d| (d.clone(), generations(&d).last().copied().unwrap_or(0)))
            .collect()
    };
    let before = newest();
    env.ok(["gc"]);
    let changed: Vec<PathBuf> = newest().into_iter().filter(|d| !before.contains(d)).map(|(d, _)| d).collect();
    assert_eq!(changed.len(), 1, "gc changed one ref: {changed:?}");
    changed[0].clone()
}

/// The only branch's ref directory (the repository's one branch).
pub fn only_ref_dir(env: &Env) -> PathBuf {
    let gc = gc_ref_dir(env);
    let dirs: Vec<PathBuf> = ref_dirs(&env.repo_dir()).into_iter().filter(|d| *d != gc).collect();
    assert_eq!(dirs.len(), 1, "one branch ref: {dirs:?}");
    dirs[0].clone()
}

pub fn generations(dir: &Path) -> Vec<u64> {
    let mut g: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    g.sort();
    g
}

pub fn gen_path(dir: &Path, g: u64) -> PathBuf {
    dir.join(format!("{g:020}"))
}

/// The bytes of a ref's current generation.
pub fn current_ref(dir: &Path) -> Vec<u8> {
    read(gen_path(dir, *generations(dir).last().unwrap()))
}

/// Replay `old` (a ref's bytes from before) as a newer generation: what a store that keeps old versions, or an
/// attacker with write access to it, can do.
pub fn replay(dir: &Path, old: &[u8]) {
    let next = generations(dir).last().unwrap() + 1;
    write(gen_path(dir, next), old);
}

fn objects(env: &Env) -> Vec<(PathBuf, u64)> {
    files_under(env.repo_dir().join("objects"))
}

fn names_branch(out: &Out, branch: &str) {
    assert!(out.stderr.contains(&format!("branch {branch}")), "the branch is named:\n{out}");
    assert!(out.stderr.contains(&format!("--accept-rollback {branch}")), "the way to accept it is given:\n{out}");
    assert!(out.stderr.contains(&format!("--restore {branch}")), "the way to restore it is given:\n{out}");
}

fn staged(env: &Env) -> Vec<u8> {
    read(env.ws.join(".infini").join("staged"))
}

#[test]
fn deleted_refs_do_not_start_a_new_history() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    env.put("b", b"2");
    let two = env.commit("two");
    env.put("c", b"3");
    let packs = objects(&env);
    let staged_before = staged(&env);
    let main_dir = only_ref_dir(&env);
    std::fs::remove_dir_all(&main_dir).unwrap();

    let out = env.fails_with(13, ["commit", "-m", "three"]);
    names_branch(&out, "main");
    assert!(out.stderr.contains("gone"), "{out}");
    assert_eq!(staged(&env), staged_before, "the staged change stays staged");
    assert!(!main_dir.exists(), "nothing was published");
    names_branch(&env.fails_with(13, ["check"]), "main");
    names_branch(&env.fails_with(13, ["log"]), "main");
    // gc refuses: it never deletes the packs of the history it cannot see.
    names_branch(&env.fails_with(13, ["gc", "--grace", "0s"]), "main");
    names_branch(&env.fails_with(13, ["gc", "--grace", "0s"]), "main");
    assert_eq!(objects(&env), packs, "no pack deleted");

    // Accepted explicitly, the next commit builds on the commit the changes were staged on, never on nothing.
    let out = env.ok(["branch", "--accept-rollback", "main"]);
    assert!(out.stderr.contains("main"), "{out}");
    assert!(env.ok(["status"]).text().contains('c'), "still staged");
    let three = env.commit("three");
    assert_eq!(env.log_ids(), vec![three, two, one]);
    assert_eq!(env.get("a"), b"1");
    assert_eq!(env.get("b"), b"2");
    assert_eq!(env.get("c"), b"3");
    env.ok(["check", "--read-data"]);
}

#[test]
fn replayed_old_ref_is_detected_by_get_log_commit_and_check() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    let dir = only_ref_dir(&env);
    let old = current_ref(&dir);
    env.put("a", b"2");
    let two = env.commit("two");
    env.put("b", b"3");
    let three = env.commit("three");
    env.put("c", b"4");
    let staged_before = staged(&env);
    replay(&dir, &old);

    names_branch(&env.fails_with(13, ["get", "a"]), "main");
    names_branch(&env.fails_with(13, ["log"]), "main");
    names_branch(&env.fails_with(13, ["check"]), "main");
    names_branch(&env.fails_with(13, ["branch"]), "main");
    let out = env.fails_with(13, ["commit", "-m", "four"]);
    names_branch(&out, "main");
    assert!(out.stderr.contains("went back"), "{out}");
    assert_eq!(staged(&env), staged_before, "the staged change stays staged");
    assert_eq!(current_ref(&dir), old, "nothing was published");

    // Undone (the replayed generation removed), the newest state is the one seen: all is well again.
    let newest = generations(&dir).last().copied().unwrap();
    std::fs::remove_file(gen_path(&dir, newest)).unwrap();
    assert_eq!(env.log_ids(), vec![three.clone(), two.clone(), one.clone()]);

    replay(&dir, &old);
    let out = env.ok(["--json", "branch", "--accept-rollback", "main"]).json();
    assert_eq!(out["accepted"], "main");
    assert_eq!(out["head"], one.as_str());
    assert_eq!(out["seen_head"], three.as_str());
    assert_eq!(env.log_ids(), vec![one.clone()], "accepted: the branch is as the repository holds it");
    assert_eq!(env.get("a"), b"1");
    env.ok(["check"]);
    // The staged change was made on `three`; rebased onto the accepted head it commits on top of it.
    env.ok(["update"]);
    let four = env.commit("four");
    assert_eq!(env.log_ids(), vec![four, one]);
}

#[test]
fn gc_refuses_to_run_after_a_rollback() {
    let env = Env::init();
    env.put("small", b"s");
    env.commit("one");
    let dir = only_ref_dir(&env);
    let old = current_ref(&dir);
    let big = random_bytes(21, 800_000);
    env.put("big", &big);
    env.commit("two");
    replay(&dir, &old);
    let packs = objects(&env);
    for _ in 0..2 {
        names_branch(&env.fails_with(13, ["gc", "--grace", "0s"]), "main");
    }
    assert_eq!(objects(&env), packs, "the packs of the newer history are kept");
    // Undo the replay: everything is there.
    std::fs::remove_file(gen_path(&dir, *generations(&dir).last().unwrap())).unwrap();
    assert_bytes_eq(&env.get("big"), &big, "after the rollback was undone");
    env.ok(["gc", "--grace", "0s"]);
    env.ok(["check", "--read-data"]);
}

#[test]
fn workspaces_that_saw_the_newer_state_detect_and_a_fresh_clone_trusts_what_it_finds() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    let dir = only_ref_dir(&env);
    let old = current_ref(&dir);
    let ws2 = env.root.join("ws2");
    env.ok(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]);
    // Several commits from the second workspace: the first sees the ref moved forward by more than one change and
    // accepts it silently (its head descends from what it saw).
    let mut ids = vec![one.clone()];
    for i in 0..3 {
        env.cmd(["put", "b"]).cwd(&ws2).stdin(format!("{i}").as_bytes()).ok();
        let out = env.cmd(["commit", "-m", &format!("ws2 {i}")]).cwd(&ws2).ok();
        ids.insert(0, commit_id(&out));
    }
    env.ok(["get", "a"]);
    env.put("c", b"from ws");
    let mine = env.commit("from ws");
    ids.insert(0, mine.clone());
    assert_eq!(env.log_ids(), ids);
    let log2 = env.cmd(["log", "--json"]).cwd(&ws2).ok().json();
    assert_eq!(log2[0]["id"], mine.as_str(), "the second workspace follows the first forward");

    // Roll the branch back to `one`: both workspaces saw newer states and refuse.
    replay(&dir, &old);
    names_branch(&env.fails_with(13, ["log"]), "main");
    names_branch(&env.cmd(["get", "a"]).cwd(&ws2).fails_with(13), "main");

    // A workspace cloned now never saw the newer state: it trusts what it finds (trust on first use).
    let ws3 = env.root.join("ws3");
    env.ok(["clone", env.ws.to_str().unwrap(), ws3.to_str().unwrap()]);
    let log3 = env.cmd(["log", "--json"]).cwd(&ws3).ok().json();
    assert_eq!(log3.as_array().unwrap().len(), 1);
    assert_eq!(log3[0]["id"], one.as_str());
    // It commits on the rolled-back branch; the workspaces that saw the lost history still refuse (the new head does
    // not descend from what they saw).
    env.cmd(["put", "d"]).cwd(&ws3).stdin(b"4").ok();
    env.cmd(["commit", "-m", "on the old state"]).cwd(&ws3).ok();
    let out = env.fails_with(13, ["log"]);
    names_branch(&out, "main");
    names_branch(&env.cmd(["log"]).cwd(&ws2).fails_with(13), "main");
}

#[test]
fn a_branch_deleted_through_infini_is_not_a_vanished_ref() {
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    env.ok(["fork", "exp"]);
    env.put("b", b"2");
    env.commit("on exp");
    env.ok(["checkout", "main"]);
    let ws2 = env.root.join("ws2");
    env.ok(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]);
    assert_eq!(env.cmd(["branch"]).cwd(&ws2).ok().lines().len(), 2, "the second workspace saw both branches");
    env.ok(["branch", "-D", "exp"]);
    // The deletion is sealed in the ref: the second workspace accepts it, and gc runs.
    assert_eq!(env.cmd(["branch"]).cwd(&ws2).ok().lines().len(), 1);
    env.cmd(["gc", "--grace", "0s"]).cwd(&ws2).ok();
    env.ok(["gc", "--grace", "0s"]);
    env.ok(["check"]);
    // The branch can be created again, from any commit.
    env.ok(["fork", "exp"]);
    env.put("c", b"3");
    env.commit("exp again");
    env.cmd(["checkout", "exp"]).cwd(&ws2).ok();
    assert_eq!(env.cmd(["get", "c"]).cwd(&ws2).ok().stdout, b"3");
}

/// A branch with commits `one` (a), `two` (big) and `three` (c), rolled back to `one` by replaying its old ref.
/// Returns the ids of one, two and three, the ref directory and the big value.
fn rolled_back(env: &Env) -> (String, String, String, PathBuf, Vec<u8>) {
    env.put("a", b"1");
    let one = env.commit("one");
    let dir = only_ref_dir(env);
    let old = current_ref(&dir);
    let big = random_bytes(22, 600_000);
    env.put("big", &big);
    let two = env.commit("two");
    env.put("c", b"3");
    let three = env.commit("three");
    replay(&dir, &old);
    (one, two, three, dir, big)
}

#[test]
fn restore_puts_back_the_last_head_the_workspace_saw_after_a_rollback() {
    let env = Env::init();
    let (one, two, three, dir, big) = rolled_back(&env);
    // Workspaces cloned after the rollback trust the old state; one that saw the newer state too.
    let ws2 = env.root.join("ws2");
    env.ok(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]);
    assert_eq!(env.cmd(["log", "--json"]).cwd(&ws2).ok().json().as_array().unwrap().len(), 1);
    names_branch(&env.fails_with(13, ["log"]), "main");
    let rolled = current_ref(&dir);

    let out = env.ok(["--json", "branch", "--restore", "main"]);
    let v = out.json();
    assert_eq!(v["restored"], "main", "{out}");
    assert_eq!(v["head"], three.as_str(), "{out}");
    assert_eq!(v["rolled_back_head"], one.as_str(), "{out}");
    assert!(v["seq"].as_u64().unwrap() > 3, "a new sequence number, above every one seen: {out}");
    assert_ne!(current_ref(&dir), rolled, "the ref moved forward");

    assert_eq!(env.log_ids(), vec![three.clone(), two.clone(), one.clone()]);
    assert_bytes_eq(&env.get("big"), &big, "the restored history's value");
    env.ok(["check", "--read-data"]);
    // The workspace that trusted the rolled-back state follows the restored head forward (it descends from it).
    let log2 = env.cmd(["log", "--json"]).cwd(&ws2).ok().json();
    assert_eq!(log2[0]["id"], three.as_str());
    // Nothing is left to restore.
    let out = env.fails_with(2, ["branch", "--restore", "main"]);
    assert!(out.stderr.contains("nothing to restore"), "{out}");
    env.put("d", b"4");
    let four = env.commit("four");
    assert_eq!(env.log_ids(), vec![four, three, two, one]);
}

#[test]
fn restore_refuses_when_the_seen_head_is_gone_and_changes_nothing() {
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    let dir = only_ref_dir(&env);
    let old = current_ref(&dir);
    let before: Vec<PathBuf> = objects(&env).into_iter().map(|(p, _)| p).collect();
    env.put("big", &random_bytes(23, 600_000));
    env.commit("two");
    replay(&dir, &old);
    // The newer history's packs are gone (what gc run by someone who did not see it would do).
    for (p, _) in objects(&env) {
        if !before.contains(&p) {
            std::fs::remove_file(env.repo_dir().join("objects").join(&p)).unwrap();
        }
    }
    let rolled = current_ref(&dir);
    let out = env.run(["branch", "--restore", "main"]);
    assert!(out.code == 3 || out.code == 13, "refused as missing or damaged:\n{out}");
    assert!(out.stderr.contains("cannot restore branch main"), "{out}");
    assert_eq!(current_ref(&dir), rolled, "the ref is unchanged");
    names_branch(&env.fails_with(13, ["log"]), "main");
}

#[test]
fn accepting_a_rollback_says_how_many_commits_it_abandons() {
    let env = Env::init();
    let (one, _, three, _, _) = rolled_back(&env);
    let out = env.ok(["--json", "branch", "--accept-rollback", "main"]);
    let v = out.json();
    assert_eq!(v["head"], one.as_str(), "{out}");
    assert_eq!(v["seen_head"], three.as_str(), "{out}");
    assert_eq!(v["abandoned"], 2, "two and three are no longer on the branch: {out}");

    let env = Env::init();
    rolled_back(&env);
    let out = env.ok(["branch", "--accept-rollback", "main"]);
    assert!(out.stderr.contains("abandons 2 commit(s)"), "{out}");
    assert!(out.stderr.contains("gc"), "says gc will collect them:\n{out}");
    // Once accepted, there is nothing left to restore: the newer head is forgotten.
    env.fails_with(2, ["branch", "--restore", "main"]);
}

#[test]
fn restore_of_a_branch_that_was_not_rolled_back_is_refused() {
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    let out = env.fails_with(2, ["branch", "--restore", "main"]);
    assert!(out.stderr.contains("nothing to restore"), "{out}");
    let out = env.fails_with(2, ["branch", "--restore", "nosuch"]);
    assert!(out.stderr.contains("nosuch"), "{out}");
}

#[test]
fn restore_refuses_a_branch_that_moved_on_since_the_rollback() {
    let env = Env::init();
    let (one, _, _, dir, _) = rolled_back(&env);
    // A workspace cloned after the rollback trusts it and commits on the old state.
    let ws3 = env.root.join("ws3");
    env.ok(["clone", env.ws.to_str().unwrap(), ws3.to_str().unwrap()]);
    env.cmd(["put", "d"]).cwd(&ws3).stdin(b"4").ok();
    let theirs = commit_id(&env.cmd(["commit", "-m", "on the old state"]).cwd(&ws3).ok());
    let before = current_ref(&dir);
    let out = env.fails_with(11, ["branch", "--restore", "main"]);
    assert!(out.stderr.contains("moved on"), "{out}");
    assert_eq!(current_ref(&dir), before, "nothing changed");
    let log3: Vec<String> = env
        .cmd(["log", "--json"])
        .cwd(&ws3)
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(log3, vec![theirs, one]);
}

#[test]
fn restore_is_refused_while_the_gc_ref_vanished_too() {
    // Putting a head back claims what it reaches in the gc ref (a gc run may be deleting it): with the gc ref gone
    // as well, nothing is claimed and nothing restored until the gc ref is dealt with.
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    std::fs::remove_dir_all(env.repo_dir().join("refs")).unwrap();
    std::fs::create_dir(env.repo_dir().join("refs")).unwrap();
    let e = env.fails_with(13, ["branch", "--restore", "main"]);
    assert!(e.stderr.contains("gc ref"), "the gc ref is named:\n{e}");
    names_branch(&env.fails_with(13, ["log"]), "main");
}

#[test]
fn restore_brings_back_a_vanished_ref() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    env.put("b", b"2");
    let two = env.commit("two");
    std::fs::remove_dir_all(only_ref_dir(&env)).unwrap();
    names_branch(&env.fails_with(13, ["log"]), "main");
    let v = env.ok(["--json", "branch", "--restore", "main"]).json();
    assert_eq!(v["head"], two.as_str());
    assert!(v["rolled_back_head"].is_null());
    assert_eq!(v["commits"], 2);
    assert_eq!(env.log_ids(), vec![two, one]);
    assert_eq!(env.get("b"), b"2");
    env.ok(["check", "--read-data"]);
}
