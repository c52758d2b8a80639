//! `infini rewrite --remove`: a key removed from every commit of a branch's history, its data freed by gc, the
//! branch's identity and rollback protection kept, and other workspaces' work neither lost nor bringing it back.

use crate::rollback::{current_ref, only_ref_dir, replay};
use crate::util::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn packs(env: &Env) -> BTreeSet<PathBuf> {
    files_under(env.repo_dir().join("objects")).into_iter().map(|(p, _)| p).collect()
}

/// The messages of `log --json`, newest first.
fn messages(env: &Env, dir: &Path) -> Vec<String> {
    let out = env.cmd(["log", "--json"]).cwd(dir).ok();
    out.json().as_array().unwrap().iter().map(|c| c["message"].as_str().unwrap().to_string()).collect()
}

fn keys_at(env: &Env, rev: &str) -> Vec<String> {
    let out = env.ok(["ls", "--json", "--at", rev]);
    out.json().as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap().to_string()).collect()
}

fn gc_past_grace(env: &Env) {
    for _ in 0..3 {
        env.ok(["gc", "--grace", "0s", "--min-age", "0s"]);
    }
}

/// The leaked-secret history: `a.txt`, then the secret, then `b.txt`, then the secret removed. Returns the commit
/// ids (oldest first) and the packs the secret's commit added (its value and the index nodes that held it).
fn leaked_secret(env: &Env, secret: &[u8]) -> (Vec<String>, BTreeSet<PathBuf>) {
    env.put("a.txt", b"alpha");
    let c1 = env.commit("one: a");
    let before = packs(env);
    env.put("config/secret.env", secret);
    let c2 = env.commit("two: the secret");
    let with_secret: BTreeSet<PathBuf> = packs(env).difference(&before).cloned().collect();
    assert!(!with_secret.is_empty(), "the secret's commit wrote packs");
    env.put("b.txt", b"beta");
    let c3 = env.commit("three: b");
    env.ok(["rm", "config/secret.env"]);
    let c4 = env.commit("four: secret removed");
    (vec![c1, c2, c3, c4], with_secret)
}

#[test]
fn leaked_secret_is_removed_from_history_and_its_data_freed() {
    let env = Env::init();
    let secret = [b"API_KEY=".as_slice(), &random_bytes(7, 40_000)].concat();
    let (old, with_secret) = leaked_secret(&env, &secret);
    // The leak: the value is still there one commit back.
    assert_eq!(env.ok(["get", "config/secret.env", "--at", "HEAD~1"]).stdout, secret);

    let out = env.ok(["rewrite", "--remove", "config/secret.env", "--json"]).json();
    assert_eq!(out["dry_run"], false, "{out}");
    assert_eq!(out["rewritten"], 3, "commits two, three and four are replaced: {out}");
    let commits = out["branches"][0]["commits"].as_array().unwrap();
    let removed: Vec<u64> = commits.iter().map(|c| c["removed"].as_u64().unwrap()).collect();
    assert_eq!(removed, [0, 1, 1], "newest first: four holds no secret, three and two lose it: {out}");

    // Same history: as many commits, same messages; the first commit, which never held it, keeps its id.
    let new = env.log_ids();
    assert_eq!(new.len(), 4);
    assert_eq!(
        messages(&env, &env.ws),
        ["four: secret removed", "three: b", "two: the secret", "one: a"],
        "the messages are kept"
    );
    assert_eq!(new[3], old[0], "the commit below the first changed one keeps its id");
    for (n, o) in new[..3].iter().zip(old[1..].iter().rev()) {
        assert_ne!(n, o, "a commit that held the secret, or is after one, is replaced");
    }
    // Every other value at every commit is byte-exact, and the secret is nowhere.
    for (i, id) in new.iter().enumerate() {
        let keys = keys_at(&env, id);
        assert!(!keys.iter().any(|k| k.contains("secret")), "commit {i} still lists the secret: {keys:?}");
        assert_eq!(env.ok(["get", "a.txt", "--at", id]).stdout, b"alpha");
        if i <= 1 {
            assert_eq!(env.ok(["get", "b.txt", "--at", id]).stdout, b"beta");
        }
    }
    env.fails_with(3, ["get", "config/secret.env", "--at", "HEAD~1"]);
    // The old commits are dropped: reading one names the rewrite.
    let refused = env.fails_with(3, ["get", "config/secret.env", "--at", &old[1]]);
    assert!(refused.stderr.contains("rewritten"), "the refusal says the commit was rewritten:\n{refused}");

    // gc past its grace period frees the secret's data: every pack its commit wrote is deleted.
    gc_past_grace(&env);
    let now = packs(&env);
    let left: Vec<&PathBuf> = with_secret.iter().filter(|p| now.contains(*p)).collect();
    assert!(left.is_empty(), "packs that held the secret are still stored: {left:?}");
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    let refused = env.fails_with(3, ["get", "config/secret.env", "--at", &old[1][..12]]);
    assert!(refused.stderr.contains("rewritten"), "after gc too:\n{refused}");
    assert_eq!(env.get("b.txt"), b"beta");
    assert_eq!(env.log_ids(), new, "gc changed nothing of the history");
}

#[test]
fn rewrite_dry_run_lists_the_commits_and_writes_nothing() {
    let env = Env::init();
    let (old, _) = leaked_secret(&env, b"API_KEY=hunter2");
    let before = files_under(env.repo_dir());
    let out = env.ok(["rewrite", "--remove", "config/", "--dry-run", "--json"]).json();
    assert_eq!(out["dry_run"], true, "{out}");
    assert_eq!(out["run"], serde_json::Value::Null, "{out}");
    let commits = out["branches"][0]["commits"].as_array().unwrap();
    let listed: Vec<(&str, u64)> =
        commits.iter().map(|c| (c["old"].as_str().unwrap(), c["removed"].as_u64().unwrap())).collect();
    assert_eq!(listed, [(old[3].as_str(), 0), (old[2].as_str(), 1), (old[1].as_str(), 1)], "{out}");
    assert!(commits.iter().all(|c| c["new"].is_null()), "{out}");
    let text = env.ok(["rewrite", "--remove", "config/secret.env", "-n"]);
    assert!(text.text().contains(&old[1][..10]), "the text lists the commits:\n{text}");
    assert_eq!(files_under(env.repo_dir()), before, "a dry run writes nothing");
    assert_eq!(env.log_ids(), old.iter().rev().cloned().collect::<Vec<_>>());
    assert_eq!(env.ok(["get", "config/secret.env", "--at", "HEAD~1"]).stdout, b"API_KEY=hunter2");
    // Nothing holds the key: nothing to rewrite, nothing written.
    let none = env.ok(["rewrite", "--remove", "nothing/here", "--json"]).json();
    assert_eq!(none["rewritten"], 0, "{none}");
    assert_eq!(files_under(env.repo_dir()), before, "a rewrite that changes nothing writes nothing");
}

#[test]
fn other_workspaces_accept_the_rewritten_branch_even_after_gc() {
    let env = Env::init();
    let clone_and_look = |name: &str| {
        let dir = env.path(name);
        env.ok(["clone", env.ws.to_str().unwrap(), dir.to_str().unwrap()]);
        env.cmd(["log"]).cwd(&dir).ok();
        dir
    };
    env.put("a.txt", b"alpha");
    env.commit("one");
    // A workspace that last saw the branch before the secret (a commit the rewrite keeps)...
    let early = clone_and_look("early");
    env.put("config/secret.env", b"API_KEY=hunter2");
    env.commit("two: the secret");
    // ...one that last saw it at the secret's commit (one the rewrite replaces)...
    let middle = clone_and_look("middle");
    env.put("b.txt", b"beta");
    env.commit("three");
    env.ok(["rm", "config/secret.env"]);
    env.commit("four: removed");
    // ...and one that saw the head the rewrite replaces.
    let late = clone_and_look("late");

    env.ok(["rewrite", "--remove", "config/secret.env"]);
    let new = env.log_ids();
    let ids_in = |dir: &Path| -> Vec<String> {
        let out = env.cmd(["log", "--json"]).cwd(dir).ok().json();
        out.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids_in(&late), new, "the workspace that saw the old head takes the rewritten one as the branch");
    // The replaced commits are freed: the workspaces that saw older heads cannot walk them any more, and still
    // accept the branch through what the rewrite recorded.
    gc_past_grace(&env);
    assert_eq!(ids_in(&early), new, "seen before the secret");
    assert_eq!(ids_in(&middle), new, "seen at the replaced commit");
    assert_eq!(env.cmd(["get", "b.txt"]).cwd(&middle).ok().stdout, b"beta");
    env.cmd(["get", "config/secret.env", "--at", "HEAD~2"]).cwd(&middle).fails_with(3);
}

#[test]
fn a_replayed_pre_rewrite_ref_is_still_a_rollback() {
    let env = Env::init();
    let (_, _) = leaked_secret(&env, b"API_KEY=hunter2");
    let dir = only_ref_dir(&env);
    let old_ref = current_ref(&dir);
    env.ok(["rewrite", "--remove", "config/secret.env"]);
    // Storage hands back the branch as it was before the rewrite, secret history included.
    replay(&dir, &old_ref);
    let out = env.fails_with(13, ["log"]);
    assert!(out.stderr.contains("branch main"), "the branch is named:\n{out}");
    assert!(out.stderr.contains("went back"), "the ref went back:\n{out}");
    env.fails_with(13, ["get", "config/secret.env", "--at", "HEAD~1"]);
}

#[test]
fn staged_changes_from_another_workspace_do_not_bring_the_key_back() {
    let env = Env::init();
    env.put("a.txt", b"alpha");
    env.put("config/secret.env", b"API_KEY=hunter2");
    env.commit("one: with the secret");
    env.put("b.txt", b"beta");
    env.commit("two");
    // Another workspace stages changes on the head that still holds the secret.
    let other = env.path("other");
    env.ok(["clone", env.ws.to_str().unwrap(), other.to_str().unwrap()]);
    env.cmd(["put", "c.txt"]).cwd(&other).stdin(b"gamma").ok();
    env.cmd(["put", "a.txt"]).cwd(&other).stdin(b"alpha 2").ok();
    env.cmd(["rm", "b.txt"]).cwd(&other).ok();

    env.ok(["rewrite", "--remove", "config/secret.env"]);
    let rewritten = env.log_ids();
    // Its commit lands on the rewritten head, and the secret stays out.
    env.cmd(["commit", "-m", "three: from the other workspace"]).cwd(&other).ok();
    let ids = env.log_ids();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[1..], rewritten[..], "committed on top of the rewritten head, nothing lost");
    let keys = keys_at(&env, "HEAD");
    assert_eq!(keys, ["a.txt", "c.txt"], "the other workspace's changes, and no secret");
    assert_eq!(env.get("a.txt"), b"alpha 2");
    for rev in ["HEAD", "HEAD~1", "HEAD~2"] {
        env.fails_with(3, ["get", "config/secret.env", "--at", rev]);
    }
    // Nothing in the history holds it: gc frees it, and check is clean.
    gc_past_grace(&env);
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    assert_eq!(env.get("c.txt"), b"gamma");
}

#[test]
fn staged_changes_based_on_a_replaced_commit_commit_after_gc_freed_it() {
    let env = Env::init();
    env.put("a.txt", b"alpha");
    env.put("config/secret.env", b"API_KEY=hunter2");
    env.commit("one: with the secret");
    let other = env.path("other");
    env.ok(["clone", env.ws.to_str().unwrap(), other.to_str().unwrap()]);
    env.cmd(["put", "c.txt"]).cwd(&other).stdin(b"gamma").ok();
    env.ok(["rewrite", "--remove", "config/secret.env"]);
    // The commit the staged changes were made on is gone from storage now.
    gc_past_grace(&env);
    env.cmd(["commit", "-m", "two"]).cwd(&other).ok();
    assert_eq!(keys_at(&env, "HEAD"), ["a.txt", "c.txt"]);
    env.fails_with(3, ["get", "config/secret.env", "--at", "HEAD~1"]);
}

#[test]
fn rewrite_after_rev_keeps_older_commits() {
    let env = Env::init();
    let (old, _) = leaked_secret(&env, b"API_KEY=hunter2");
    // Only what came after the secret's commit: that commit keeps it (and its id).
    let out = env.ok(["rewrite", "--remove", "config/secret.env", "--after", &old[1], "--json"]).json();
    assert_eq!(out["rewritten"], 2, "{out}");
    let new = env.log_ids();
    assert_eq!(new[2..], [old[1].clone(), old[0].clone()]);
    assert_eq!(env.ok(["get", "config/secret.env", "--at", "HEAD~2"]).stdout, b"API_KEY=hunter2");
    env.fails_with(3, ["get", "config/secret.env", "--at", "HEAD~1"]);
    env.fails_with(2, ["rewrite", "--remove", "x", "--after", "main", "--all"]);
}

#[test]
fn a_small_secret_in_a_pack_of_live_index_nodes_is_repacked_away() {
    let env = Env::init();
    env.put("first", b"x");
    env.commit("one");
    // A small value lives inline in an index leaf, packed with the leaves of 1,500 other keys that stay live: the
    // pack's garbage share after the rewrite is far below gc's threshold.
    let tree = env.path("tree");
    for i in 0..1500 {
        write(tree.join(format!("f{i:04}.txt")), format!("file {i}").as_bytes());
    }
    write(tree.join("secret.env"), b"API_KEY=hunter2");
    let before = packs(&env);
    env.ok(["put", "-r", tree.to_str().unwrap(), "t/"]);
    env.commit("two: a tree and a secret");
    let with_secret: BTreeSet<PathBuf> = packs(&env).difference(&before).cloned().collect();
    env.ok(["rewrite", "--remove", "t/secret.env"]);
    gc_past_grace(&env);
    let now = packs(&env);
    let left: Vec<&PathBuf> = with_secret.iter().filter(|p| now.contains(*p)).collect();
    assert!(left.is_empty(), "packs that held the secret are still stored: {left:?}");
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    assert_eq!(keys_at(&env, "HEAD").len(), 1501, "every other key is kept");
    assert_eq!(env.get("t/f0999.txt"), b"file 999");
    env.fails_with(3, ["get", "t/secret.env", "--at", "HEAD"]);
}

/// A fork of the leaked-secret history: `side` shares main's four commits and adds one.
fn forked(env: &Env, secret: &[u8]) -> BTreeSet<PathBuf> {
    let (_, with_secret) = leaked_secret(env, secret);
    env.ok(["fork", "side"]);
    env.put("s.txt", b"side");
    env.commit("five: on side");
    env.ok(["checkout", "main"]);
    with_secret
}

fn ids_of(env: &Env, branch: &str) -> Vec<String> {
    let out = env.ok(["log", "--json", branch]).json();
    out.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn another_branch_keeps_the_secret_until_it_is_rewritten_too() {
    let env = Env::init();
    let secret = [b"API_KEY=".as_slice(), &random_bytes(9, 30_000)].concat();
    let with_secret = forked(&env, &secret);
    let only_main = env.ok(["rewrite", "--remove", "config/secret.env", "--json"]).json();
    assert_eq!(only_main["rewritten"], 3, "{only_main}");
    gc_past_grace(&env);
    assert!(with_secret.iter().any(|p| packs(&env).contains(p)), "the side branch keeps the secret's data alive");
    assert_eq!(env.ok(["get", "config/secret.env", "--at", "side~2"]).stdout, secret);
    // Rewritten in a later run, side gets its own replacements (main is left as it is).
    let main_before = ids_of(&env, "main");
    let all = env.ok(["rewrite", "--remove", "config/secret.env", "--all", "--json"]).json();
    assert_eq!(all["rewritten"], 4, "side's three shared commits and its own: {all}");
    assert_eq!(ids_of(&env, "main"), main_before, "main has nothing left to remove");
    assert_eq!(messages(&env, &env.ws).len(), 4);
    gc_past_grace(&env);
    let now = packs(&env);
    assert!(with_secret.iter().all(|p| !now.contains(p)), "no pack that held the secret is left");
    env.fails_with(3, ["get", "config/secret.env", "--at", "side~2"]);
    assert_eq!(env.ok(["get", "s.txt", "--at", "side"]).stdout, b"side");
    assert_eq!(env.ok(["get", "b.txt", "--at", "side~1"]).stdout, b"beta");
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
}

#[test]
fn rewrite_all_gives_branches_that_share_history_the_same_new_commits() {
    let env = Env::init();
    let with_secret = forked(&env, b"API_KEY=hunter2");
    let all = env.ok(["rewrite", "--remove", "config/secret.env", "--all", "--json"]).json();
    assert_eq!(all["rewritten"], 4, "main's three, and side's own on top of them: {all}");
    let (main, side) = (ids_of(&env, "main"), ids_of(&env, "side"));
    assert_eq!(side[1..], main[..], "side continues main's rewritten history");
    gc_past_grace(&env);
    let now = packs(&env);
    assert!(with_secret.iter().all(|p| !now.contains(p)), "no pack that held the secret is left");
}

#[test]
fn a_workspace_detached_at_a_replaced_commit_stays_usable() {
    let env = Env::init();
    let (old, _) = leaked_secret(&env, b"API_KEY=hunter2");
    env.ok(["checkout", &old[2]]);
    env.ok(["rewrite", "--branch", "main", "--remove", "config/secret.env"]);
    gc_past_grace(&env);
    // HEAD names a commit that is gone: the workspace reads its replacement, without the secret.
    let keys: Vec<String> =
        env.ok(["ls", "--json"]).json().as_array().unwrap().iter().map(|e| e["key"].as_str().unwrap().into()).collect();
    assert_eq!(keys, ["a.txt", "b.txt"]);
    env.ok(["checkout", "main"]);
    assert_eq!(env.get("b.txt"), b"beta");
}

#[test]
fn a_tag_made_before_the_rewrite_keeps_the_old_commit_until_it_is_deleted() {
    let env = Env::init();
    let secret = [b"API_KEY=".as_slice(), &random_bytes(11, 30_000)].concat();
    let (old, with_secret) = leaked_secret(&env, &secret);
    env.ok(["tag", "v1", &old[1]]);
    env.ok(["rewrite", "--remove", "config/secret.env"]);
    gc_past_grace(&env);
    // The tag pins the original: it and its data stay, readable through the tag.
    assert_eq!(env.ok(["get", "config/secret.env", "--at", "v1"]).stdout, secret);
    assert!(with_secret.iter().any(|p| packs(&env).contains(p)), "the tag keeps the secret's data alive");
    env.fails_with(3, ["get", "config/secret.env", "--at", "HEAD~2"]);
    // Deleting the tag lets gc free it.
    env.ok(["tag", "-d", "v1"]);
    gc_past_grace(&env);
    let now = packs(&env);
    assert!(with_secret.iter().all(|p| !now.contains(p)), "no pack that held the secret is left");
    let refused = env.fails_with(3, ["get", "config/secret.env", "--at", &old[1]]);
    assert!(refused.stderr.contains("rewritten"), "{refused}");
}

/// gc stores the index nodes of a consolidated history as differences against other nodes of the same pack, newest
/// versions first, so the newest leaf, which holds a small secret, is the base the older versions' leaves are
/// stored against. Once the secret is rewritten away (only the newest commit is replaced), gc repacks the pack that
/// held it and stores those nodes anew: the pack is deleted, and every version still reads back whole.
#[test]
fn a_secret_in_a_node_others_were_stored_against_is_repacked_away() {
    let env = Env::init();
    let tree = env.path("tree");
    let mut versions = Vec::new();
    for v in 0..12 {
        // Small values live inline in the leaves; every version rewrites every file (new mtimes) and edits one.
        for i in 0..30 {
            let body = if i == v { format!("file {i} edited in version {v}") } else { format!("file {i}") };
            write(tree.join(format!("f{i:02}.txt")), body.as_bytes());
        }
        if v == 11 {
            write(tree.join("secret.env"), b"API_KEY=hunter2");
        }
        env.ok(["put", "-q", "-r", "--delete", tree.to_str().unwrap(), "t/"]);
        versions.push(env.commit(&format!("v{v}")));
    }
    let index = |env: &Env| env.ok(["--json", "stats"]).json()["by_kind"]["index"]["bytes"].as_u64().unwrap();
    let whole = index(&env);
    gc_past_grace(&env);
    let consolidated = packs(&env);
    let stored = index(&env);
    assert!(stored * 5 <= whole * 4, "the leaves were stored as differences: {whole} bytes, then {stored}");
    env.ok(["rewrite", "--remove", "t/secret.env"]);
    gc_past_grace(&env);
    let now = packs(&env);
    let left: Vec<&PathBuf> = consolidated.iter().filter(|p| now.contains(*p)).collect();
    assert!(left.is_empty(), "packs that held the secret are still stored: {left:?}");
    let check = env.ok(["check", "--read-data", "--json"]).json();
    assert_eq!(check["errors"], serde_json::json!([]), "{check}");
    let ids = env.log_ids();
    assert_eq!(ids.len(), 12);
    for (back, id) in ids.iter().enumerate() {
        let v = 11 - back;
        let keys = keys_at(&env, id);
        assert_eq!(keys.len(), 30, "version {v}: {keys:?}");
        assert_eq!(id == &versions[v], v < 11, "only the newest commit is replaced");
        for i in [0, v, 29] {
            let want = if i == v { format!("file {i} edited in version {v}") } else { format!("file {i}") };
            assert_eq!(env.ok(["get", "--at", id, &format!("t/f{i:02}.txt")]).stdout, want.as_bytes(), "v{v} f{i}");
        }
    }
    env.fails_with(3, ["get", "t/secret.env", "--at", "HEAD"]);
}
