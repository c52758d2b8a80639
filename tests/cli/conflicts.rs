//! After a conflict there is a way forward, as in git: `update` (or `commit --rebase`) takes the branch's new head
//! as the base while keeping the staged changes; `status` lists the conflicted keys with both sides; each is
//! resolved by `put` (keep mine) or `reset KEY` (take theirs), or all at once with `--ours` / `--theirs`.

use crate::util::*;
use std::path::{Path, PathBuf};

/// Two workspaces on one repository, both at a commit holding `a`, `b`, `c` = "base".
fn two_workspaces() -> (Env, PathBuf) {
    let env = Env::init();
    for k in ["a", "b", "c"] {
        env.put(k, b"base");
    }
    env.commit("base");
    let ws2 = env.path("ws2");
    env.cmd(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]).ok();
    (env, ws2)
}

/// ws2 stages a, b = "mine" and a new key; meanwhile ws1 commits a, b = "theirs" and another new key; ws2's
/// commit fails with exit 11. Returns ws1's commit.
fn conflicted(env: &Env, ws2: &Path) -> String {
    for k in ["a", "b"] {
        env.cmd(["put", k]).stdin(b"mine").cwd(ws2).ok();
    }
    env.cmd(["put", "only-mine"]).stdin(b"m").cwd(ws2).ok();
    env.put("a", b"theirs");
    env.put("b", b"theirs");
    env.put("only-theirs", b"t");
    let theirs = env.commit("ws1 first");
    let out = env.cmd(["commit", "-m", "ws2"]).cwd(ws2).fails_with(11);
    assert!(out.stderr.contains('a') && out.stderr.contains('b'), "the conflict names the keys:\n{out}");
    assert!(out.stderr.contains("infini update"), "the exit-11 message names the next command:\n{out}");
    // Retrying without doing anything is the same conflict, and loses nothing.
    env.cmd(["commit", "-m", "ws2 again"]).cwd(ws2).fails_with(11);
    let out = env.cmd(["--json", "commit", "-m", "ws2 again"]).cwd(ws2).fails_with(11);
    let err = out.stderr_json();
    assert!(err["error"]["hint"].as_str().unwrap_or("").contains("infini update"), "{out}");
    theirs
}

fn in_ws2(env: &Env, ws2: &Path, args: &[&str]) -> Out {
    env.cmd(args).cwd(ws2).ok()
}

fn get2(env: &Env, ws2: &Path, k: &str) -> Vec<u8> {
    in_ws2(env, ws2, &["get", k]).stdout
}

#[test]
fn conflict_update_then_put_or_reset_each_key_then_commit() {
    let (env, ws2) = two_workspaces();
    let theirs = conflicted(&env, &ws2);

    // update: the branch's head becomes the base, the staged changes stay; it exits 11 while conflicts remain.
    let out = env.cmd(["update"]).cwd(&ws2).fails_with(11);
    assert!(out.stderr.contains("conflict"), "update reports the conflicts:\n{out}");
    assert_eq!(get2(&env, &ws2, "a"), b"mine", "staged values survive the update");
    assert_eq!(get2(&env, &ws2, "only-theirs"), b"t", "the other side's commit is now visible");
    assert_eq!(get2(&env, &ws2, "only-mine"), b"m");

    // status lists each conflicted key with both sides' sizes and ids.
    let out = in_ws2(&env, &ws2, &["status"]);
    let c_lines: Vec<String> = out.lines().into_iter().filter(|l| l.starts_with("C\t")).collect();
    assert_eq!(c_lines.len(), 2, "two conflicted keys:\n{out}");
    assert!(c_lines[0].starts_with("C\ta\tours: 4 ") && c_lines[0].contains("theirs: 6 "), "{out}");
    assert!(out.text().contains("infini put") && out.text().contains("infini reset"), "how to resolve:\n{out}");
    let st = in_ws2(&env, &ws2, &["--json", "status"]).json();
    let conflicts = st["conflicts"].as_array().expect("conflicts array");
    assert_eq!(conflicts.len(), 2, "{st}");
    assert_eq!(conflicts[0]["key"], "a");
    assert_eq!(conflicts[0]["ours"]["size"], 4);
    assert_eq!(conflicts[0]["theirs"]["size"], 6);
    let (ours_id, theirs_id) =
        (conflicts[0]["ours"]["id"].as_str().unwrap(), conflicts[0]["theirs"]["id"].as_str().unwrap());
    assert_eq!(ours_id.len(), 64);
    assert_ne!(ours_id, theirs_id, "different values have different ids");
    assert_eq!(conflicts[1]["ours"]["id"], conflicts[0]["ours"]["id"], "same bytes, same id: {st}");

    // Unresolved conflicts block the commit (still exit 11), naming what to do — not another update.
    let out = env.cmd(["commit", "-m", "too early"]).cwd(&ws2).fails_with(11);
    assert!(out.stderr.contains("infini put a") && out.stderr.contains("infini reset a"), "{out}");
    assert!(!out.stderr.contains("run `infini update`"), "update was done; the next step is not another: {out}");
    // Running update again changes nothing and still says so (exit 11, the same next steps).
    let out = env.cmd(["update"]).cwd(&ws2).fails_with(11);
    assert!(out.stderr.contains("2 unresolved conflict(s): a, b") && out.stderr.contains("infini reset a"), "{out}");
    let out = env.cmd(["--json", "update"]).cwd(&ws2).run();
    assert_eq!(out.code, 11, "{out}");
    assert_eq!(out.json()["conflicts"], serde_json::json!(["a", "b"]), "the conflicts that remain: {out}");
    assert!(out.stderr_json()["error"]["hint"].as_str().unwrap().contains("infini put a"), "{out}");

    // Keep mine for a (put, even the same bytes), take theirs for b (reset KEY).
    env.cmd(["put", "a"]).stdin(b"mine").cwd(&ws2).ok();
    in_ws2(&env, &ws2, &["reset", "b"]);
    assert_eq!(get2(&env, &ws2, "b"), b"theirs");
    let st = in_ws2(&env, &ws2, &["--json", "status"]).json();
    assert_eq!(st["conflicts"], serde_json::json!([]), "all resolved: {st}");
    let mine = commit_id(&in_ws2(&env, &ws2, &["commit", "-m", "ws2 resolved"]));

    // The result, seen from ws1: both sides' work, mine for a, theirs for b, history linear on theirs.
    assert_eq!(env.log_ids()[..2], [mine.clone(), theirs.clone()]);
    assert_eq!(env.get("a"), b"mine");
    assert_eq!(env.get("b"), b"theirs");
    assert_eq!(env.get("c"), b"base");
    assert_eq!(env.get("only-theirs"), b"t");
    assert_eq!(env.get("only-mine"), b"m");
    let parents = env.ok(["--json", "show", &mine]).json()["parents"].clone();
    assert_eq!(parents, serde_json::json!([theirs]));
}

#[test]
fn update_ours_and_theirs_resolve_every_conflict_in_one_step() {
    let (env, ws2) = two_workspaces();
    conflicted(&env, &ws2);
    let out = in_ws2(&env, &ws2, &["--json", "update", "--ours"]);
    assert_eq!(out.json()["conflicts"], serde_json::json!([]), "{out}");
    in_ws2(&env, &ws2, &["commit", "-m", "mine wins"]);
    assert_eq!(env.get("a"), b"mine");
    assert_eq!(env.get("b"), b"mine");
    assert_eq!(env.get("only-theirs"), b"t");

    let (env, ws2) = two_workspaces();
    conflicted(&env, &ws2);
    in_ws2(&env, &ws2, &["update", "--theirs"]);
    in_ws2(&env, &ws2, &["commit", "-m", "theirs win"]);
    assert_eq!(env.get("a"), b"theirs");
    assert_eq!(env.get("b"), b"theirs");
    assert_eq!(env.get("only-mine"), b"m", "non-conflicting changes are kept");
}

#[test]
fn commit_rebase_in_one_step() {
    let (env, ws2) = two_workspaces();
    conflicted(&env, &ws2);
    // --rebase alone stops at the conflicts (exit 11) but leaves the workspace updated.
    let out = env.cmd(["commit", "--rebase", "-m", "x"]).cwd(&ws2).fails_with(11);
    assert!(out.stderr.contains("infini put") || out.stderr.contains("--ours"), "{out}");
    let st = in_ws2(&env, &ws2, &["--json", "status"]).json();
    assert_eq!(st["conflicts"].as_array().map(Vec::len), Some(2), "{st}");
    // --theirs settles them and commits.
    commit_id(&in_ws2(&env, &ws2, &["commit", "--rebase", "--theirs", "-m", "theirs win"]));
    assert_eq!(env.get("a"), b"theirs");
    assert_eq!(env.get("only-mine"), b"m");
    // Without a conflict, --rebase is a plain commit on the new head.
    env.put("x", b"1");
    env.commit("ws1 again");
    env.cmd(["put", "y"]).stdin(b"2").cwd(&ws2).ok();
    commit_id(&in_ws2(&env, &ws2, &["commit", "--rebase", "-m", "clean"]));
    assert_eq!(env.get("y"), b"2");
    // --ours/--theirs only make sense with --rebase.
    env.fails_with(2, ["commit", "--ours", "-m", "z"]);
}

#[test]
fn rm_of_a_conflicted_key_resolves_it_with_the_removal() {
    let (env, ws2) = two_workspaces();
    conflicted(&env, &ws2);
    env.cmd(["update"]).cwd(&ws2).fails_with(11);
    in_ws2(&env, &ws2, &["rm", "a"]);
    in_ws2(&env, &ws2, &["reset", "b"]);
    in_ws2(&env, &ws2, &["commit", "-m", "drop a"]);
    env.fails_with(3, ["get", "a"]);
    assert_eq!(env.get("b"), b"theirs");
}

#[test]
fn put_r_of_different_files_into_one_directory_from_two_workspaces_does_not_conflict_on_the_directory() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("shared/base"), b"base");
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("base");
    let ws2 = env.path("ws2");
    env.cmd(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]).ok();
    // Each side adds its own file to the same directory: both change the directory's mtime.
    let src2 = env.path("src2");
    write(src2.join("shared/base"), b"base");
    write(src2.join("shared/from-ws2"), b"2");
    filetime::set_file_mtime(src2.join("shared"), filetime::FileTime::from_unix_time(1_200_000_000, 0)).unwrap();
    env.cmd(["put", "-r", src2.to_str().unwrap(), "t"]).cwd(&ws2).ok();
    write(src.join("shared/from-ws1"), b"1");
    filetime::set_file_mtime(src.join("shared"), filetime::FileTime::from_unix_time(1_100_000_000, 0)).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("ws1");
    env.cmd(["commit", "-m", "ws2"]).cwd(&ws2).fails_with(11);
    // The directory's entry is no conflict: update keeps this side's time, and the commit goes through.
    let out = env.cmd(["update"]).cwd(&ws2).ok();
    assert!(!out.stderr.contains("conflict"), "{out}");
    env.cmd(["commit", "-m", "ws2"]).cwd(&ws2).ok();
    let out = env.path("out");
    env.cmd(["get", "-r", "t", out.to_str().unwrap()]).cwd(&ws2).ok();
    assert_eq!(read(out.join("shared/from-ws1")), b"1");
    assert_eq!(read(out.join("shared/from-ws2")), b"2");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(out.join("shared")).unwrap().mtime(), 1_200_000_000, "this side's time");
    // A directory entry is not a value to get.
    let e = env.fails_with(2, ["get", "t/shared/"]);
    assert!(e.stderr.contains("get -r"), "{e}");
}
