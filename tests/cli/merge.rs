//! `merge`: another branch merged into the current one with the rules of `update`, as a commit of two parents that
//! `log`, `show`, `diff`, `branch -d`, `forget` and gc understand.

use crate::util::*;

fn log_json(env: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let mut all = vec!["--json", "log"];
    all.extend_from_slice(args);
    env.ok(all).json().as_array().unwrap().clone()
}

fn parents(c: &serde_json::Value) -> Vec<String> {
    c["parents"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect()
}

/// main: base (a, b, r); side (forked at base): b changed, c added, r removed; main: a changed.
/// Returns (base, side's head, main's head).
fn diverged(env: &Env) -> (String, String, String) {
    env.put("a", b"a0");
    env.put("b", b"b0");
    env.put("r", b"to be removed");
    let base = env.commit("base");
    env.ok(["fork", "side"]);
    env.put("b", b"b-side");
    env.put("c", b"c-side");
    env.ok(["rm", "r"]);
    let side = env.commit("side work");
    env.ok(["checkout", "main"]);
    env.put("a", b"a-main");
    let main = env.commit("main work");
    (base, side, main)
}

fn gc(env: &Env) {
    for _ in 0..20 {
        let out = env.run(["gc", "--min-age", "0s", "--grace", "0s"]);
        if out.code == 0 {
            return;
        }
        assert_eq!(out.code, 11, "gc failed: {out}");
    }
    panic!("gc kept losing races");
}

#[test]
fn merge_of_diverged_branches_commits_both_sides_with_two_parents() {
    let env = Env::init();
    let (_, side, main) = diverged(&env);
    let out = env.ok(["merge", "side"]);
    let merge = commit_id(&out);
    assert!(out.stderr.contains("Merged side into main"), "{out}");
    assert_eq!(env.get("a"), b"a-main");
    assert_eq!(env.get("b"), b"b-side");
    assert_eq!(env.get("c"), b"c-side");
    env.fails_with(3, ["get", "r"]);
    let status = env.ok(["--json", "status"]).json();
    assert_eq!(status["staged"], serde_json::json!([]), "nothing left staged: {status}");
    assert_eq!(status["merging"], serde_json::Value::Null, "{status}");

    let log = log_json(&env, &[]);
    assert_eq!(log[0]["id"], merge.as_str());
    assert_eq!(parents(&log[0]), [main.clone(), side.clone()], "first the current head, then the merged one");
    assert_eq!(log[0]["message"], "Merge branch 'side'");
    // log lists first parents: side's own commit is not in main's list, but `log side` shows it.
    let ids: Vec<&str> = log.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "merge, main work, base: {ids:?}");
    assert!(!ids.contains(&side.as_str()));
    let text = env.ok(["log"]).text();
    assert!(text.contains(&format!("Merge:  {} {}", &main[..10], &side[..10])), "{text}");
    // show and diff of the merge compare it with its first parent: side's changes.
    let show = env.ok(["--json", "show"]).json();
    let keys: Vec<&str> =
        show["changes"].as_array().unwrap().iter().map(|c| c["key"].as_str().unwrap()).collect::<Vec<_>>();
    assert_eq!(keys, ["b", "c", "r"], "{show}");
    let diff = env.ok(["diff", "HEAD~1", "HEAD"]).text();
    assert!(diff.contains('b') && diff.contains('c') && !diff.contains('a'), "{diff}");

    // Merging again: nothing to do.
    let out = env.ok(["merge", "side"]);
    assert!(out.stderr.contains("Already up to date"), "{out}");
    assert_eq!(out.stdout, b"");
    assert_eq!(log_json(&env, &[]).len(), 3, "no new commit");

    let json = env.ok(["--json", "merge", "side"]).json();
    assert_eq!(json["result"], "up-to-date");
}

#[test]
fn merge_with_a_custom_message_and_of_a_tag() {
    let env = Env::init();
    let (_, side, _) = diverged(&env);
    env.ok(["tag", "v1", &side]);
    let out = env.ok(["--json", "merge", "v1", "-m", "bring in v1"]).json();
    assert_eq!(out["result"], "merge");
    assert_eq!(out["parents"][1], side.as_str());
    assert_eq!(log_json(&env, &[])[0]["message"], "bring in v1");
}

#[test]
fn merge_conflicts_behave_like_update_and_the_commit_settling_them_has_two_parents() {
    let env = Env::init();
    let (_, side, main) = diverged(&env);
    env.put("b", b"b-main");
    let main = {
        let _ = main;
        env.commit("main changes b too")
    };
    let out = env.fails_with(11, ["merge", "side"]);
    assert!(out.stderr.contains("1 conflict(s): b"), "{out}");
    assert!(out.stderr.contains("infini reset b"), "the next steps of update:\n{out}");
    let status = env.ok(["--json", "status"]).json();
    assert_eq!(status["conflicts"][0]["key"], "b", "{status}");
    assert_eq!(status["merging"], "side", "{status}");
    assert!(env.ok(["status"]).text().contains("Merging side"), "status says a merge is in progress");
    // Until resolved, commit refuses, as after update.
    env.fails_with(11, ["commit", "-m", "too early"]);
    // The non-conflicting side changes are staged already.
    assert_eq!(env.get("c"), b"c-side");
    // Keep main's b.
    env.ok(["reset", "b"]);
    let merge = commit_id(&env.ok(["commit"]));
    let log = log_json(&env, &[]);
    assert_eq!(log[0]["id"], merge.as_str());
    assert_eq!(parents(&log[0]), [main, side]);
    assert_eq!(log[0]["message"], "Merge branch 'side'");
    assert_eq!(env.get("b"), b"b-main");
    assert_eq!(env.get("c"), b"c-side");
    assert_eq!(env.get("a"), b"a-main");
}

#[test]
fn merge_conflict_resolved_with_put_keeps_the_merged_value() {
    let env = Env::init();
    let (_, side, _) = diverged(&env);
    env.put("b", b"b-main");
    env.commit("main changes b too");
    env.fails_with(11, ["merge", "side"]);
    assert_eq!(env.get("b"), b"b-side", "the conflicted key is staged with the merged branch's value");
    env.put("b", b"b-both");
    let merge = commit_id(&env.ok(["commit", "-m", "merged by hand"]));
    let log = log_json(&env, &[]);
    assert_eq!(log[0]["id"], merge.as_str());
    assert_eq!(parents(&log[0])[1], side);
    assert_eq!(log[0]["message"], "merged by hand");
    assert_eq!(env.get("b"), b"b-both");
}

#[test]
fn merge_fast_forwards_unless_no_ff() {
    let env = Env::init();
    env.put("a", b"1");
    let base = env.commit("base");
    env.ok(["fork", "side"]);
    env.put("a", b"2");
    let side = env.commit("side");
    env.ok(["checkout", "main"]);
    let out = env.ok(["merge", "side"]);
    assert!(out.stderr.contains("Fast-forward"), "{out}");
    assert_eq!(out.stdout, b"", "no commit made");
    assert_eq!(env.log_ids(), [side.clone(), base.clone()]);
    assert_eq!(env.get("a"), b"2");

    let env = Env::init();
    env.put("a", b"1");
    let base = env.commit("base");
    env.ok(["fork", "side"]);
    env.put("a", b"2");
    let side = env.commit("side");
    env.ok(["checkout", "main"]);
    let merge = commit_id(&env.ok(["merge", "--no-ff", "side"]));
    let log = log_json(&env, &[]);
    assert_eq!(log[0]["id"], merge.as_str());
    assert_eq!(parents(&log[0]), [base, side]);
    assert_eq!(env.get("a"), b"2");
}

#[test]
fn merge_refuses_while_changes_are_staged() {
    let env = Env::init();
    let (_, _, main) = diverged(&env);
    env.put("x", b"staged");
    let out = env.fails_with(11, ["merge", "side"]);
    assert!(out.stderr.contains("staged"), "{out}");
    assert_eq!(env.log_ids()[0], main, "nothing committed");
    assert_eq!(env.get("x"), b"staged", "still staged");
    env.ok(["reset"]);
    env.fails_with(3, ["merge", "no-such-branch"]);
}

#[test]
fn a_merged_branch_is_deleted_with_branch_d_and_gc_and_forget_keep_its_history() {
    let env = Env::init();
    env.put("base", b"base");
    env.commit("base");
    env.ok(["fork", "side"]);
    let mut side_commits = Vec::new();
    for i in 0..3u64 {
        let v = random_bytes(100 + i, 700_000);
        env.put(&format!("side/{i}"), &v);
        env.put("side/latest", &v);
        side_commits.push((env.commit(&format!("side {i}")), i, v));
    }
    env.ok(["checkout", "main"]);
    env.put("main", b"main");
    env.commit("main work");
    // Not merged yet: branch -d refuses.
    env.fails_with(11, ["branch", "-d", "side"]);
    env.ok(["merge", "side"]);
    env.ok(["branch", "-d", "side"]);
    // forget walks first parents: side's commits are reachable only through the merge's second parent.
    env.put("main", b"main 2");
    env.commit("after the merge");
    env.ok(["forget", "--keep-last", "1"]);
    gc(&env);
    gc(&env);
    for (id, i, v) in &side_commits {
        assert_bytes_eq(&env.ok(["get", "--at", id, &format!("side/{i}")]).stdout, v, "a merged commit's value");
        assert_bytes_eq(&env.ok(["get", "--at", id, "side/latest"]).stdout, v, "a merged commit's value");
    }
    assert_bytes_eq(&env.get("side/2"), &side_commits[2].2, "the merge's result");
    env.ok(["check", "--read-data"]);
}

#[test]
fn a_merge_and_a_fast_forward_are_accepted_by_a_workspace_that_saw_the_old_head() {
    let env = Env::init();
    let (_, side, main) = diverged(&env);
    env.cmd(["clone", env.repo_dir().to_str().unwrap(), "other"]).cwd(&env.root).ok();
    let other = env.root.join("other");
    let ids = |dir: &std::path::Path| -> Vec<String> {
        let out = env.cmd(["--json", "log"]).cwd(dir).ok().json();
        out.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&other)[0], main, "the clone saw main's head");
    // A merge commit's first parent is the head it replaces: the ref's `prev`, so the clone's check passes.
    let merge = commit_id(&env.ok(["merge", "side"]));
    assert_eq!(ids(&other)[0], merge);
    // A fast-forward moves main onto side's later commit: `prev` is main's old head, accepted as well.
    env.ok(["checkout", "side"]);
    env.ok(["merge", "main"]);
    env.put("d", b"d");
    let later = env.commit("later on side");
    env.ok(["checkout", "main"]);
    assert!(env.ok(["merge", "side"]).stderr.contains("Fast-forward"));
    assert_eq!(ids(&other)[0], later);
    env.cmd(["gc", "--min-age", "0s"]).cwd(&other).ok();
    assert_eq!(env.cmd(["get", "d"]).cwd(&other).ok().stdout, b"d");
    let _ = side;
}

#[test]
fn merge_of_branches_that_each_put_a_file_into_one_directory_does_not_conflict_on_the_directory() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("shared/base"), b"base");
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("base");
    env.ok(["fork", "side"]);
    write(src.join("shared/from-side"), b"s");
    filetime::set_file_mtime(src.join("shared"), filetime::FileTime::from_unix_time(1_200_000_000, 0)).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("side");
    env.ok(["checkout", "main"]);
    std::fs::remove_file(src.join("shared/from-side")).unwrap();
    write(src.join("shared/from-main"), b"m");
    filetime::set_file_mtime(src.join("shared"), filetime::FileTime::from_unix_time(1_100_000_000, 0)).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("main");
    // Both changed the directory's entry (its mtime): that alone is no conflict.
    let out = env.ok(["merge", "side"]);
    assert!(out.stderr.contains("Merged side into main"), "{out}");
    assert_eq!(env.get("t/shared/from-main"), b"m");
    assert_eq!(env.get("t/shared/from-side"), b"s");
}
