//! Versions: commits, revisions, forks, detached checkouts, and the staging commands.

use crate::util::*;
use serde_json::Value;

fn branch_of(env: &Env) -> Value {
    env.ok(["status", "--json"]).json()["branch"].clone()
}

#[test]
fn fork_isolates_changes_both_ways() {
    let env = Env::init();
    env.put("shared", b"v1");
    env.put("only-main-later", b"x");
    let base = env.commit("base");

    env.ok(["fork", "exp"]);
    assert_eq!(branch_of(&env), "exp");
    env.put("shared", b"changed on exp");
    env.put("exp-only", b"e");
    env.ok(["rm", "only-main-later"]);
    let exp1 = env.commit("on exp");

    env.ok(["checkout", "main"]);
    assert_eq!(branch_of(&env), "main");
    assert_eq!(env.get("shared"), b"v1", "a fork's change is invisible on main");
    env.fails_with(3, ["get", "exp-only"]);
    assert_eq!(env.get("only-main-later"), b"x", "a removal on the fork does not touch main");
    env.put("main-only", b"m");
    let main2 = env.commit("on main");
    assert_eq!(env.log_ids(), vec![main2.clone(), base.clone()]);

    env.ok(["checkout", "exp"]);
    assert_eq!(env.get("shared"), b"changed on exp");
    env.fails_with(3, ["get", "main-only"]);
    env.fails_with(3, ["get", "only-main-later"]);
    assert_eq!(env.log_ids(), vec![exp1.clone(), base.clone()]);

    // Either branch is readable from the other with --at.
    assert_eq!(env.ok(["get", "--at", "main", "main-only"]).stdout, b"m");
    assert_eq!(env.ok(["get", "--at", "main", "shared"]).stdout, b"v1");
    env.ok(["checkout", "main"]);
    assert_eq!(env.ok(["get", "--at", "exp", "shared"]).stdout, b"changed on exp");
    assert_eq!(env.ok(["ls", "--at", "exp"]).lines(), ["exp-only", "shared"]);
}

#[test]
fn fork_at_a_revision_and_staged_changes_come_along() {
    let env = Env::init();
    env.put("k", b"1");
    let c1 = env.commit("1");
    env.put("k", b"2");
    let c2 = env.commit("2");
    env.ok(["fork", "old", "HEAD~1"]);
    assert_eq!(env.log_ids(), vec![c1.clone()], "fork NAME REV starts the branch at REV");
    assert_eq!(env.get("k"), b"1");
    // Staged changes follow a fork.
    env.put("staged", b"s");
    env.ok(["fork", "carry"]);
    assert_eq!(env.get("staged"), b"s");
    let c3 = env.commit("on carry");
    assert_eq!(env.log_ids(), vec![c3, c1.clone()]);
    env.ok(["checkout", "main"]);
    assert_eq!(env.log_ids(), vec![c2, c1]);
    env.fails_with(3, ["get", "staged"]);
}

#[test]
fn detached_checkout_is_read_only() {
    let env = Env::init();
    env.put("a", b"1");
    env.put("b", b"2");
    let c1 = env.commit("1");
    env.put("a", b"changed");
    let c2 = env.commit("2");

    env.ok(["checkout", &c1]);
    let st = env.ok(["status", "--json"]).json();
    assert_eq!(st["detached"], c1.as_str(), "{st}");
    assert!(st["branch"].is_null(), "{st}");
    assert_eq!(env.get("a"), b"1");
    assert_eq!(env.log_ids(), vec![c1.clone()]);
    assert_eq!(env.ok(["ls"]).lines(), ["a", "b"]);

    env.cmd(["put", "a"]).stdin(b"nope").fails_with(2);
    env.fails_with(2, ["rm", "a"]);
    env.fails_with(2, ["mv", "a", "c"]);
    env.fails_with(2, ["cp", "a", "c"]);
    env.fails_with(2, ["commit", "-m", "nope"]);
    assert_eq!(env.get("a"), b"1", "nothing changed while detached");
    let st = env.ok(["status", "--json"]).json();
    assert_eq!(st["staged"], serde_json::json!([]), "nothing staged while detached: {st}");

    // The branch did not move.
    assert_eq!(env.ok(["log", "--json", "main"]).json()[0]["id"], c2.as_str());
    // Reads still work at other revisions.
    assert_eq!(env.ok(["get", "--at", "main", "a"]).stdout, b"changed");

    // A fork from a detached HEAD makes it writable there.
    env.ok(["fork", "from-old"]);
    env.put("a", b"3");
    let c3 = env.commit("3");
    assert_eq!(env.log_ids(), vec![c3, c1.clone()]);
}

#[test]
fn get_at_each_of_twenty_commits() {
    let env = Env::init();
    let mut ids = Vec::new();
    for i in 0..20 {
        env.put("counter", format!("value-{i}").as_bytes());
        env.put(&format!("key-{i:02}"), format!("{i}").as_bytes());
        ids.push(env.commit(&format!("commit {i}")));
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(env.log_ids(), newest_first, "log lists every commit, newest first");

    for (i, id) in ids.iter().enumerate() {
        let want = format!("value-{i}");
        let out = env.ok(["get", "--at", id, "counter"]);
        assert_eq!(out.text(), want, "--at full id:\n{out}");
        let back = format!("HEAD~{}", 19 - i);
        let out = env.ok(["get", "--at", &back, "counter"]);
        assert_eq!(out.text(), want, "--at {back}:\n{out}");
        let short = &id[..12];
        let out = env.ok(["get", "--at", short, "counter"]);
        assert_eq!(out.text(), want, "--at {short}:\n{out}");
        if i % 5 == 0 {
            let rev = format!("main~{}", 19 - i);
            let out = env.ok(["get", "--at", &rev, "counter"]);
            assert_eq!(out.text(), want, "--at {rev}:\n{out}");
            let keys = env.ok(["ls", "--at", id]).lines();
            assert_eq!(keys.len(), i + 2, "ls --at {id}: {keys:?}");
            env.fails_with(3, ["get", "--at", id, &format!("key-{:02}", i + 1)]);
        }
    }
}

#[test]
fn revision_forms() {
    let env = Env::init();
    env.put("k", b"1");
    let c1 = env.commit("1");
    env.put("k", b"2");
    let c2 = env.commit("2");
    env.put("k", b"3");
    let c3 = env.commit("3");
    for (rev, want) in [
        ("HEAD", &c3),
        ("HEAD~0", &c3),
        ("HEAD~", &c2),
        ("HEAD~1", &c2),
        ("HEAD^", &c2),
        ("HEAD~~", &c1),
        ("HEAD^^", &c1),
        ("HEAD~2", &c1),
        ("main", &c3),
        ("main~2", &c1),
    ] {
        let out = env.ok(["show", "--json", rev]);
        assert_eq!(out.json()["id"], want.as_str(), "show {rev}:\n{out}");
    }
    for id in [&c1, &c2, &c3] {
        for n in [8usize, 10, 20, 64] {
            let out = env.ok(["show", "--json", &id[..n]]);
            assert_eq!(out.json()["id"], id.as_str(), "show {}:\n{out}", &id[..n]);
        }
        let rev = format!("{}~0", &id[..10]);
        assert_eq!(env.ok(["show", "--json", &rev]).json()["id"], id.as_str());
    }
    let rev = format!("{}~1", &c3[..10]);
    assert_eq!(env.ok(["show", "--json", &rev]).json()["id"], c2.as_str());
    env.fails_with(3, ["show", "HEAD~3"]);
    env.fails_with(3, ["show", "no-such-branch"]);
}

#[test]
fn log_limits_and_json_fields() {
    let env = Env::init();
    let before = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut ids = Vec::new();
    for i in 0..4 {
        env.put("k", format!("{i}").as_bytes());
        ids.push(env.commit(&format!("message {i}\n\nbody line {i}")));
    }
    let out = env.ok(["log", "--json"]);
    let v = out.json();
    let arr = v.as_array().unwrap_or_else(|| panic!("log --json is an array:\n{out}"));
    assert_eq!(arr.len(), 4, "{out}");
    for (j, c) in arr.iter().enumerate() {
        let i = 3 - j;
        assert_eq!(c["id"], ids[i].as_str(), "{out}");
        assert_eq!(c["message"], format!("message {i}\n\nbody line {i}"), "{out}");
        let parents: Vec<&str> = c["parents"]
            .as_array()
            .unwrap_or_else(|| panic!("parents is an array:\n{out}"))
            .iter()
            .map(|p| p.as_str().expect("parent ids are strings"))
            .collect();
        if i == 0 {
            assert!(parents.is_empty(), "the first commit has no parents:\n{out}");
        } else {
            assert_eq!(parents, [ids[i - 1].as_str()], "{out}");
        }
        match &c["time"] {
            Value::Number(n) => {
                let t = n.as_u64().expect("time is a whole number of seconds");
                assert!(t + 5 >= before && t <= before + 600, "commit time {t} is now-ish ({before}):\n{out}");
            }
            Value::String(s) => assert!(!s.is_empty(), "{out}"),
            other => panic!("time is {other}:\n{out}"),
        }
    }

    let out = env.ok(["log", "-n", "2", "--json"]);
    assert_eq!(out.json().as_array().map(|a| a.len()), Some(2), "log -n 2:\n{out}");
    assert_eq!(out.json()[0]["id"], ids[3].as_str());
    assert_eq!(out.json()[1]["id"], ids[2].as_str());

    // Text log: -n limits, REV starts elsewhere.
    let out = env.ok(["log", "-n", "1"]);
    let text = out.text();
    assert!(text.contains(&ids[3]), "{out}");
    assert!(!text.contains(&ids[2]), "log -n 1 shows one commit:\n{out}");
    let out = env.ok(["log", &ids[1]]);
    let text = out.text();
    assert!(text.contains(&ids[1]) && text.contains(&ids[0]), "{out}");
    assert!(!text.contains(&ids[2]) && !text.contains(&ids[3]), "log REV starts at REV:\n{out}");
    let out = env.ok(["log", "--oneline"]);
    assert_eq!(out.lines().len(), 4, "log --oneline: one line per commit:\n{out}");
    assert!(out.lines()[0].starts_with(&ids[3][..7]), "{out}");
}

#[test]
fn log_of_an_empty_repository_is_empty() {
    let env = Env::init();
    let out = env.ok(["log"]);
    assert!(out.stdout.is_empty(), "{out}");
    let out = env.ok(["log", "--json"]);
    assert_eq!(out.json(), serde_json::json!([]), "{out}");
    let out = env.ok(["ls", "--json"]);
    assert_eq!(out.json(), serde_json::json!([]), "{out}");
}

#[test]
fn show_json_has_commit_fields_and_changes() {
    let env = Env::init();
    env.put("a", b"1");
    env.put("b", b"2");
    let c1 = env.commit("first");
    env.put("a", b"changed");
    env.ok(["rm", "b"]);
    env.put("c", b"3");
    let c2 = env.commit("second");

    let out = env.ok(["show", "--json"]);
    let v = out.json();
    assert_eq!(v["id"], c2.as_str(), "show defaults to HEAD:\n{out}");
    assert_eq!(v["parents"], serde_json::json!([c1]), "{out}");
    assert_eq!(v["message"], "second", "{out}");
    assert!(v["time"].is_number() || v["time"].is_string(), "{out}");
    let mut changes: Vec<(String, String)> = v["changes"]
        .as_array()
        .unwrap_or_else(|| panic!("changes is an array:\n{out}"))
        .iter()
        .map(|c| (c["key"].as_str().unwrap().into(), c["change"].as_str().unwrap().into()))
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            ("a".to_string(), "modified".to_string()),
            ("b".to_string(), "removed".to_string()),
            ("c".to_string(), "added".to_string())
        ],
        "{out}"
    );
    let out = env.ok(["show", "--json", &c1[..10]]);
    assert_eq!(out.json()["id"], c1.as_str());
    assert_eq!(out.json()["parents"], serde_json::json!([]));

    // Text form names the commit and the changed keys.
    let out = env.ok(["show", "HEAD"]);
    let t = out.text();
    assert!(t.contains(&c2) && t.contains("second"), "{out}");
    for k in ["a", "b", "c"] {
        assert!(t.lines().any(|l| l.ends_with(&format!("\t{k}"))), "show lists {k}:\n{out}");
    }
}

#[test]
fn ls_json_gives_key_and_size() {
    let env = Env::init();
    env.put("dir/a", b"12345");
    env.put("dir/b", b"");
    env.put("other", &random_bytes(3, 5000));
    let out = env.ok(["ls", "--json"]);
    let v = out.json();
    let got: Vec<(String, u64)> = v
        .as_array()
        .unwrap_or_else(|| panic!("ls --json is an array:\n{out}"))
        .iter()
        .map(|e| (e["key"].as_str().unwrap().to_string(), e["size"].as_u64().unwrap()))
        .collect();
    assert_eq!(got, [("dir/a".to_string(), 5), ("dir/b".to_string(), 0), ("other".to_string(), 5000)], "{out}");
    env.commit("c");
    assert_eq!(env.ok(["ls", "dir/"]).lines(), ["dir/a", "dir/b"]);
    assert_eq!(env.ok(["ls", "--json", "dir/"]).json().as_array().unwrap().len(), 2);
    assert!(env.ok(["ls", "nothing/"]).stdout.is_empty());
    let out = env.ok(["ls", "-l"]);
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{out}");
    assert!(lines[2].contains("5000") && lines[2].ends_with("other"), "ls -l shows size and key:\n{out}");
}

#[test]
fn status_and_reset() {
    let env = Env::init();
    env.put("keep", b"1");
    env.put("modify", b"1");
    env.put("remove", b"1");
    env.commit("base");

    let out = env.ok(["status"]);
    assert_eq!(out.lines(), ["On branch main", "nothing staged"], "nothing staged, said on stdout:\n{out}");
    let out = env.ok(["status", "--short"]);
    assert!(out.stdout.is_empty(), "--short: nothing staged, nothing on stdout:\n{out}");

    env.put("new", b"n");
    env.put("modify", b"2");
    env.ok(["rm", "remove"]);
    let out = env.ok(["status"]);
    assert_eq!(out.lines(), ["On branch main", "M\tmodify", "A\tnew", "D\tremove"], "{out}");
    let out = env.ok(["status", "-s"]);
    assert_eq!(out.lines(), ["M\tmodify", "A\tnew", "D\tremove"], "{out}");
    let out = env.ok(["status", "--json"]);
    let v = out.json();
    assert_eq!(v["branch"], "main", "{out}");
    let staged: Vec<(String, String)> = v["staged"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["key"].as_str().unwrap().into(), c["change"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        staged,
        [
            ("modify".to_string(), "modified".to_string()),
            ("new".to_string(), "added".to_string()),
            ("remove".to_string(), "removed".to_string())
        ],
        "{out}"
    );
    // diff with no revision: the same staged changes.
    assert_eq!(env.ok(["diff"]).lines(), ["M\tmodify", "A\tnew", "D\tremove"]);
    // diff REV: the workspace (HEAD and staged changes) against REV.
    assert_eq!(env.ok(["diff", "HEAD"]).lines(), ["M\tmodify", "A\tnew", "D\tremove"]);

    // Reset one key.
    env.ok(["reset", "modify"]);
    assert_eq!(env.get("modify"), b"1");
    assert_eq!(env.ok(["status", "--short"]).lines(), ["A\tnew", "D\tremove"]);
    // Reset all.
    let out = env.ok(["reset"]);
    assert!(out.stdout.is_empty(), "{out}");
    assert!(env.ok(["status", "--short"]).stdout.is_empty());
    env.fails_with(3, ["get", "new"]);
    assert_eq!(env.get("remove"), b"1");
    // Nothing staged: commit creates nothing.
    let out = env.fails_with(1, ["commit", "-m", "empty"]);
    assert!(out.stderr.contains("nothing to commit"), "{out}");
    assert_eq!(env.log_ids().len(), 1);

    // Putting back the committed value is not a change.
    env.put("modify", b"1");
    assert!(env.ok(["status", "--short"]).stdout.is_empty(), "same value as committed: no staged change");
}

#[test]
fn rm_mv_cp() {
    let env = Env::init();
    let big = random_bytes(11, 2_000_000);
    env.put("a", b"alpha");
    env.put("b", b"beta");
    env.put("c", &big);
    env.put("dir/x", b"x");
    env.put("dir/y", b"y");
    env.put("dirz", b"not under dir/");
    env.commit("base");

    env.ok(["rm", "a"]);
    env.fails_with(3, ["get", "a"]);
    env.ok(["mv", "b", "b2"]);
    env.fails_with(3, ["get", "b"]);
    assert_eq!(env.get("b2"), b"beta");
    let objects_before = bytes_under(env.repo_dir().join("objects"));
    env.ok(["cp", "c", "c2"]);
    assert_bytes_eq(&env.get("c"), &big, "cp keeps the source");
    assert_bytes_eq(&env.get("c2"), &big, "cp makes the copy");
    env.ok(["rm", "-r", "dir/"]);
    env.fails_with(3, ["get", "dir/x"]);
    assert_eq!(env.get("dirz"), b"not under dir/", "rm -r dir/ removes only keys under dir/");
    env.commit("changes");
    let grown = bytes_under(env.repo_dir().join("objects")) - objects_before;
    assert!(
        grown < big.len() as u64 / 2,
        "cp copies no data: objects grew by {grown} bytes for a {}-byte value",
        big.len()
    );
    assert_eq!(env.ok(["ls"]).lines(), ["b2", "c", "c2", "dirz"]);
    assert_eq!(env.ok(["get", "--at", "HEAD~1", "a"]).stdout, b"alpha", "history keeps removed keys");

    // Errors: missing sources.
    env.fails_with(3, ["rm", "nope"]);
    env.fails_with(3, ["mv", "nope", "x"]);
    env.fails_with(3, ["cp", "nope", "x"]);
    env.fails_with(3, ["rm", "-r", "nope/"]);
    // mv over an existing key replaces it.
    env.ok(["mv", "b2", "dirz"]);
    assert_eq!(env.get("dirz"), b"beta");
    env.fails_with(3, ["get", "b2"]);
}

#[test]
fn commit_with_nothing_staged_exits_1_unless_allow_empty() {
    // `id=$(infini commit -m x)` must never get an empty id and success.
    let env = Env::init();
    // Before the first commit.
    let out = env.fails_with(1, ["commit", "-m", "nothing"]);
    assert!(out.stderr.contains("nothing to commit"), "git's wording:\n{out}");
    assert!(out.stderr.contains("--allow-empty"), "the message names the way to commit anyway:\n{out}");
    assert!(env.log_ids().is_empty());
    env.put("k", b"v");
    let c1 = env.commit("one");
    let out = env.fails_with(1, ["commit", "-m", "nothing again"]);
    assert!(out.stderr.contains("nothing to commit"), "{out}");
    assert_eq!(env.log_ids(), vec![c1.clone()]);
    let out = env.fails_with(1, ["--json", "commit", "-m", "nothing again"]);
    assert_eq!(out.stderr_json()["error"]["code"], 1, "{out}");
    assert_eq!(env.log_ids(), vec![c1.clone()]);
    // --allow-empty records a commit with the same content.
    let c2 = commit_id(&env.ok(["commit", "-m", "marker", "--allow-empty"]));
    assert_eq!(env.log_ids(), vec![c2, c1]);
    assert_eq!(env.ok(["ls"]).lines(), ["k"]);
    assert_eq!(env.get("k"), b"v");
    // Also as the very first commit of a branch.
    let env = Env::init();
    let c = commit_id(&env.ok(["commit", "-m", "root", "--allow-empty"]));
    assert_eq!(env.log_ids(), vec![c]);
}

#[test]
fn checkout_refuses_while_changes_are_staged() {
    let env = Env::init();
    env.put("k", b"1");
    let c1 = env.commit("1");
    env.ok(["fork", "other"]);
    env.ok(["checkout", "main"]);
    env.put("k", b"staged");
    for target in ["other", c1.as_str()] {
        let out = env.run(["checkout", target]);
        assert!(out.code == 11 || out.code == 2, "checkout with staged changes must be refused (exit 11 or 2):\n{out}");
        assert!(out.stdout.is_empty(), "{out}");
    }
    assert_eq!(branch_of(&env), "main", "HEAD did not move");
    assert_eq!(env.get("k"), b"staged", "the staged change survives");
    env.ok(["reset"]);
    env.ok(["checkout", "other"]);
    assert_eq!(branch_of(&env), "other");
}

#[test]
fn branch_list_and_delete() {
    let env = Env::init();
    env.put("k", b"1");
    let c1 = env.commit("1");
    env.ok(["fork", "alpha"]);
    env.put("k", b"2");
    let c2 = env.commit("2");
    env.ok(["fork", "beta"]);
    env.ok(["checkout", "main"]);

    let out = env.ok(["branch"]);
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{out}");
    let current: Vec<&String> = lines.iter().filter(|l| l.starts_with('*')).collect();
    assert_eq!(current.len(), 1, "exactly one current branch:\n{out}");
    assert!(current[0].contains("main"), "{out}");
    for b in ["alpha", "beta", "main"] {
        assert!(lines.iter().any(|l| l.split_whitespace().any(|w| w == b)), "{b} listed:\n{out}");
    }
    let out = env.ok(["branch", "--json"]);
    let mut got: Vec<(String, String, bool)> = out
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["name"].as_str().unwrap().to_string(),
                b["head"].as_str().unwrap().to_string(),
                b["current"].as_bool().unwrap(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("alpha".to_string(), c2.clone(), false),
            ("beta".to_string(), c2.clone(), false),
            ("main".to_string(), c1.clone(), true)
        ],
        "{out}"
    );

    env.ok(["branch", "-d", "alpha"]);
    let out = env.ok(["branch"]);
    assert!(!out.text().contains("alpha"), "deleted branch is gone:\n{out}");
    env.fails_with(3, ["checkout", "alpha"]);
    env.fails_with(3, ["branch", "-d", "alpha"]);
    env.fails_with(2, ["branch", "-d", "main"]);
    // Commits of a deleted branch stay reachable from others.
    assert_eq!(env.ok(["get", "--at", "beta", "k"]).stdout, b"2");
    // The name is free again.
    env.ok(["fork", "alpha", &c1]);
    assert_eq!(env.log_ids(), vec![c1]);
}

#[test]
fn commits_from_two_workspaces_merge_when_keys_do_not_overlap() {
    let env = Env::init();
    env.put("k", b"1");
    let c1 = env.commit("c1");
    let ws2 = env.path("ws2");
    env.cmd(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]).ok();
    env.put("a", b"from ws1");
    env.cmd(["put", "b"]).stdin(b"from ws2").cwd(&ws2).ok();
    let ca = env.commit("a");
    // ws2's change was staged against c1; the branch moved meanwhile: merged by key.
    let cb = commit_id(&env.cmd(["commit", "-m", "b"]).cwd(&ws2).ok());
    let ids = env.log_ids();
    assert_eq!(ids.first(), Some(&cb), "the merged commit is the new head: {ids:?}");
    assert!(ids.contains(&ca) && ids.contains(&c1), "nothing was lost: {ids:?}");
    assert_eq!(env.ok(["ls"]).lines(), ["a", "b", "k"]);
    assert_eq!(env.get("a"), b"from ws1");
    assert_eq!(env.get("b"), b"from ws2");
}

#[test]
fn conflicting_commits_exit_11_and_keep_the_changes_staged() {
    let env = Env::init();
    env.put("k", b"base");
    env.commit("base");
    let ws2 = env.path("ws2");
    env.cmd(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]).ok();
    env.put("k", b"from ws1");
    env.cmd(["put", "k"]).stdin(b"from ws2").cwd(&ws2).ok();
    let c = env.commit("ws1 wins");
    let out = env.cmd(["commit", "-m", "ws2 loses"]).cwd(&ws2).fails_with(11);
    assert!(out.stderr.contains('k'), "the conflict names the key:\n{out}");
    assert_eq!(env.log_ids()[0], c, "the branch keeps the first commit");
    assert_eq!(env.get("k"), b"from ws1");
    let out = env.cmd(["status", "--short"]).cwd(&ws2).ok();
    assert_eq!(out.lines(), ["M\tk"], "the change stays staged in ws2:\n{out}");
    assert_eq!(env.cmd(["get", "k"]).cwd(&ws2).ok().stdout, b"from ws2");
}

#[test]
fn concurrent_commits_from_several_workspaces_lose_nothing() {
    const W: usize = 4;
    let env = Env::init();
    env.put("base", b"b");
    env.commit("base");
    let dirs: Vec<_> = (0..W).map(|i| env.path(format!("w{i}"))).collect();
    for (i, d) in dirs.iter().enumerate() {
        env.cmd(["clone", env.ws.to_str().unwrap(), d.to_str().unwrap()]).ok();
        env.cmd(["put", &format!("key-{i}")]).stdin(format!("value {i}").as_bytes()).cwd(d).ok();
    }
    let outs: Vec<Out> = std::thread::scope(|s| {
        let hs: Vec<_> = dirs
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let env = &env;
                s.spawn(move || env.cmd(["commit", "-m", &format!("from w{i}")]).cwd(d).run())
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in &outs {
        assert_eq!(out.code, 0, "every concurrent commit succeeds (no overlapping keys):\n{out}");
        commit_id(out);
    }
    let keys = env.ok(["ls"]).lines();
    let mut want: Vec<String> = (0..W).map(|i| format!("key-{i}")).collect();
    want.insert(0, "base".into());
    assert_eq!(keys, want, "no update was lost");
    for i in 0..W {
        assert_eq!(env.get(&format!("key-{i}")), format!("value {i}").as_bytes());
    }
    let log = env.ok(["log", "--json"]).json();
    let messages: Vec<&str> = log.as_array().unwrap().iter().map(|c| c["message"].as_str().unwrap()).collect();
    for i in 0..W {
        assert!(messages.contains(&format!("from w{i}").as_str()), "commit from w{i} is in the log: {messages:?}");
    }
}

fn object_set(env: &Env) -> std::collections::BTreeSet<std::path::PathBuf> {
    files_under(env.repo_dir().join("objects")).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn gc_removes_only_what_no_branch_reaches() {
    let env = Env::init();
    let keep = random_bytes(31, 300_000);
    let old = random_bytes(32, 300_000);
    env.put("keep", &keep);
    env.put("old", &old);
    env.commit("keep");
    env.ok(["rm", "old"]);
    env.commit("old is only in history now");
    // Unreachable: a staged value that was reset, and a deleted branch's commit.
    let before = object_set(&env);
    env.put("garbage", &random_bytes(33, 300_000));
    env.ok(["reset"]);
    env.ok(["fork", "doomed"]);
    env.put("doomed", &random_bytes(34, 300_000));
    env.commit("doomed");
    env.ok(["checkout", "main"]);
    env.ok(["branch", "-D", "doomed"]);
    let garbage: Vec<_> = object_set(&env).difference(&before).cloned().collect();
    assert!(!garbage.is_empty());

    // A dry run changes nothing.
    let all = object_set(&env);
    env.ok(["gc", "-n", "--grace", "0s", "--min-age", "0s"]);
    env.ok(["gc", "--dry-run", "--grace", "0s", "--min-age", "0s"]);
    assert_eq!(object_set(&env), all, "gc -n deleted something");
    // Condemn, then delete.
    env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    let out = env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    assert!(out.stdout.is_empty(), "gc reports on stderr only:\n{out}");
    let after = object_set(&env);
    for g in &garbage {
        assert!(!after.contains(g), "unreachable pack {} survived two gc runs", g.display());
    }
    assert!(
        before.is_subset(&after),
        "gc deleted a reachable pack: {:?}",
        before.difference(&after).collect::<Vec<_>>()
    );
    assert_bytes_eq(&env.get("keep"), &keep, "keep after gc");
    assert_bytes_eq(&env.ok(["get", "--at", "HEAD~1", "old"]).stdout, &old, "history after gc");
    env.fails_with(3, ["get", "garbage"]);
    env.ok(["check", "--read-data"]);
    // Later commits still work (the dedup index must not point into deleted packs).
    env.put("garbage", &random_bytes(33, 300_000));
    env.commit("same bytes again");
    env.ok(["check", "--read-data"]);
    assert_bytes_eq(&env.get("garbage"), &random_bytes(33, 300_000), "re-put after gc");
}

#[test]
fn diff_limits_to_paths_and_shows_line_changes_with_p() {
    let env = Env::init();
    env.put("web/index.html", b"<h1>\nhello\n</h1>\n");
    env.put("web/logo.png", &[0u8, 1, 2, 3]);
    env.put("README", b"one\n");
    env.commit("one");
    env.put("web/index.html", b"<h1>\nhello, world\n</h1>\n");
    env.put("web/logo.png", &[0u8, 9, 9, 9, 9]);
    env.put("README", b"one\ntwo\n");
    env.put("webby", b"not under web/\n");
    env.commit("two");
    // Paths after `--`: a directory (with or without '/') or a key; never a mere prefix of a name.
    assert_eq!(env.ok(["diff", "HEAD~1", "HEAD", "--", "web"]).lines(), ["M\tweb/index.html", "M\tweb/logo.png"]);
    assert_eq!(env.ok(["diff", "HEAD~1", "HEAD", "--", "README", "webby"]).lines(), ["M\tREADME", "A\twebby"]);
    // -p: a unified diff for text, a line naming the values otherwise.
    let out = env.ok(["diff", "-p", "HEAD~1", "HEAD", "--", "web/"]).text();
    assert!(out.contains("diff --infini a/web/index.html b/web/index.html"), "{out}");
    assert!(out.contains("--- a/web/index.html\n+++ b/web/index.html\n"), "{out}");
    assert!(out.contains("-hello\n+hello, world\n"), "{out}");
    assert!(out.contains("Values a/web/logo.png and b/web/logo.png differ (4 -> 5 bytes"), "{out}");
    let out = env.ok(["diff", "-p", "-U", "0", "HEAD~1", "HEAD", "--", "webby"]).text();
    assert!(out.contains("--- /dev/null\n+++ b/webby\n") && out.contains("+not under web/\n"), "{out}");
    // show -p: the commit and its changes, line by line; limited to paths too.
    let out = env.ok(["show", "-p", "HEAD", "--", "README"]).text();
    assert!(out.contains("two: ") || out.contains("    two"), "the commit: {out}");
    assert!(out.contains("--- a/README\n+++ b/README\n") && out.contains("+two\n"), "{out}");
    assert!(!out.contains("web/index.html"), "limited to README: {out}");
    let v = env.ok(["--json", "show", "-p"]).json();
    assert!(
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "README" && c["patch"].as_str().unwrap().contains("+two")),
        "{v}"
    );
    // Staged changes against HEAD, with --json.
    env.put("README", b"one\ntwo\nthree\n");
    let v = env.ok(["--json", "diff", "-p"]).json();
    assert_eq!(v[0]["key"], "README");
    assert!(v[0]["patch"].as_str().unwrap().contains("+three\n"), "{v}");
}

#[test]
fn log_of_a_key_lists_the_commits_that_changed_it_and_dates_bound_the_range() {
    let env = Env::init();
    env.put("etc/app.conf", b"1");
    env.put("README", b"r");
    let c1 = env.commit("one");
    env.put("README", b"r2");
    env.commit("two: README only");
    env.put("etc/app.conf", b"3");
    let c3 = env.commit("three");
    env.ok(["rm", "etc/app.conf"]);
    let c4 = env.commit("four: removed");
    let ids = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["--json", "log"];
        a.extend_from_slice(args);
        env.ok(a).json().as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(&["--", "etc/app.conf"]), vec![c4.clone(), c3.clone(), c1.clone()]);
    assert_eq!(ids(&["--", "etc"]), vec![c4.clone(), c3.clone(), c1.clone()], "a directory");
    assert_eq!(ids(&["-n", "1", "--", "etc/"]), vec![c4.clone()]);
    assert_eq!(ids(&["--", "nothing/here"]), Vec::<String>::new());
    // Dates: everything here was made in the last hour.
    assert_eq!(ids(&["--since", "1h"]).len(), 4);
    assert_eq!(ids(&["--since", "2 days ago", "--until", "2099-01-01"]).len(), 4);
    assert!(ids(&["--until", "2000-01-01"]).is_empty());
    assert!(ids(&["--since", "2099-01-01 00:00:00"]).is_empty());
    let out = env.fails_with(2, ["log", "--since", "last tuesday"]);
    assert!(out.stderr.contains("neither a date"), "{out}");
    // Text output too.
    let out = env.ok(["log", "--oneline", "--", "README"]);
    assert_eq!(out.lines().len(), 2, "{out}");
}

/// `secs` since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC), computed here independently of the program.
fn utc(secs: u64) -> String {
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[test]
fn revisions_by_date_take_the_newest_commit_made_by_then() {
    let env = Env::init();
    env.put("k", b"first");
    let c1 = env.commit("one");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.put("k", b"second");
    let c2 = env.commit("two");
    let log = env.ok(["log", "--json"]).json();
    let t1 = log[1]["time"].as_u64().unwrap();
    let t2 = log[0]["time"].as_u64().unwrap();
    assert!(t2 > t1);
    let at = |rev: &str| env.ok(["--json", "show", rev]).json()["id"].as_str().unwrap().to_string();
    assert_eq!(at(&format!("main@{{{}}}", utc(t1))), c1, "at the first commit's second: the first");
    assert_eq!(at(&format!("main@{{{}}}", utc(t2))), c2);
    assert_eq!(at("main@{now}"), c2);
    assert_eq!(at("@{now}"), c2, "@{{...}} alone is HEAD's");
    assert_eq!(env.ok(["get", "k", "--at", &format!("main@{{{}}}", utc(t1))]).stdout, b"first");
    let out = env.fails_with(3, ["checkout", "main@{1970-01-01}"]);
    assert!(out.stderr.contains("no commit that old"), "{out}");
    let out = env.fails_with(2, ["log", "main@{last tuesday}"]);
    assert!(out.stderr.contains("UTC date or time"), "{out}");
    env.fails_with(2, ["fork", "odd@{name}"]);
}
