//! Tags: fixed names for commits, usable wherever a revision is, immutable, roots for gc and forget, and
//! rollback-protected like branches.

use crate::util::*;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn ref_dirs(repo: &Path) -> BTreeSet<PathBuf> {
    std::fs::read_dir(repo.join("refs")).unwrap().map(|e| e.unwrap().path()).collect()
}

/// Run `args` (which creates exactly one new ref, a tag's) and return that ref's directory.
fn new_ref_dir(env: &Env, args: &[&str]) -> PathBuf {
    let before = ref_dirs(&env.repo_dir());
    env.ok(args);
    let new: Vec<PathBuf> = ref_dirs(&env.repo_dir()).difference(&before).cloned().collect();
    assert_eq!(new.len(), 1, "one new ref: {new:?}");
    new[0].clone()
}

fn generations(dir: &Path) -> Vec<u64> {
    let mut g: Vec<u64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.unwrap().file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    g.sort();
    g
}

fn current_ref(dir: &Path) -> Vec<u8> {
    read(dir.join(format!("{:020}", generations(dir).last().unwrap())))
}

/// gc with no minimum age and no grace, retried while it loses a race.
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

fn short(id: &str) -> &str {
    &id[..10]
}

#[test]
fn a_tag_names_a_commit_wherever_a_revision_is_taken() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    env.put("a", b"2");
    env.put("b", b"new");
    let two = env.commit("two");
    env.put("a", b"3");
    let three = env.commit("three");

    let out = env.ok(["--json", "tag", "v1", "HEAD~2"]).json();
    assert_eq!(out["tag"], "v1");
    assert_eq!(out["commit"], one.as_str());
    env.ok(["tag", "v2", &two]);
    env.ok(["tag", "latest"]);

    assert_eq!(env.ok(["get", "--at", "v1", "a"]).stdout, b"1");
    assert_eq!(env.ok(["get", "--at", "v2", "a"]).stdout, b"2");
    assert_eq!(env.ok(["get", "--at", "v2^", "a"]).stdout, b"1");
    assert_eq!(env.ok(["get", "--at", "latest~1", "b"]).stdout, b"new");
    let log = env.ok(["log", "--json", "v2"]).json();
    let ids: Vec<&str> = log.as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [two.as_str(), one.as_str()]);
    let diff = env.ok(["diff", "v1", "v2"]).text();
    assert!(diff.contains('a') && diff.contains('b'), "{diff}");
    let diff = env.ok(["diff", "v2", "main"]).text();
    assert!(diff.contains('a') && !diff.contains('b'), "{diff}");

    // Listed, sorted, with a glob.
    let listed = env.ok(["tag"]).text();
    assert_eq!(
        listed,
        format!("latest {}\nv1 {}\nv2 {}\n", short(&three), short(&one), short(&two)),
        "every tag, sorted by name"
    );
    assert_eq!(env.ok(["tag", "-l", "v*"]).text(), format!("v1 {}\nv2 {}\n", short(&one), short(&two)));
    let json = env.ok(["--json", "tag", "-l"]).json();
    assert_eq!(json.as_array().unwrap().len(), 3, "{json}");
    assert_eq!(json[1]["name"], "v1");
    assert_eq!(json[1]["commit"], one.as_str());
    assert_eq!(json[1]["message"], "one");

    // Checkout of a tag is a detached, read-only HEAD at its commit.
    env.ok(["checkout", "v1"]);
    assert_eq!(env.get("a"), b"1");
    env.cmd(["put", "x"]).stdin(b"x").fails_with(2);
    env.ok(["checkout", "main"]);
    assert_eq!(env.get("a"), b"3");
}

#[test]
fn a_tag_never_moves_and_is_created_again_only_after_tag_d() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    env.put("a", b"2");
    let two = env.commit("two");
    env.ok(["tag", "v1", &one]);

    let out = env.fails_with(11, ["tag", "v1"]);
    assert!(out.stderr.contains("tag v1") && out.stderr.contains(short(&one)), "names the tag and its commit:\n{out}");
    let out = env.fails_with(11, ["tag", "v1", &one]);
    assert!(out.stderr.contains("tag v1"), "{out}");
    assert_eq!(env.ok(["get", "--at", "v1", "a"]).stdout, b"1", "unchanged");

    let out = env.ok(["--json", "tag", "-d", "v1"]).json();
    assert_eq!(out["deleted"], "v1");
    assert_eq!(out["commit"], one.as_str());
    env.fails_with(3, ["get", "--at", "v1", "a"]);
    env.fails_with(3, ["tag", "-d", "v1"]);
    assert_eq!(env.ok(["tag"]).text(), "");
    env.ok(["tag", "v1"]);
    assert_eq!(env.ok(["get", "--at", "v1", "a"]).stdout, b"2");
    assert_eq!(env.ok(["tag"]).text(), format!("v1 {}\n", short(&two)));

    // Names that are not revisions are refused.
    for bad in ["a~b", "x:y", "HEAD", "-v"] {
        env.fails_with(2, ["tag", "--", bad]);
    }
}

#[test]
fn a_branch_and_a_tag_never_share_a_name() {
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    let out = env.fails_with(11, ["tag", "main"]);
    assert!(out.stderr.contains("branch main"), "{out}");
    env.ok(["tag", "v1"]);
    let out = env.fails_with(11, ["fork", "v1"]);
    assert!(out.stderr.contains("tag v1"), "{out}");
    assert_eq!(env.ok(["--json", "branch"]).json().as_array().unwrap().len(), 1, "no branch v1");
}

#[test]
fn a_tagged_commit_keeps_its_data_after_its_branch_is_deleted_and_gc_ran_past_grace() {
    let env = Env::init();
    env.put("base", b"base");
    env.commit("base");
    env.ok(["fork", "side"]);
    let tagged = random_bytes(1, 3 << 20);
    let dropped = random_bytes(2, 3 << 20);
    env.put("big", &tagged);
    env.put("small", b"small value");
    let kept = env.commit("tagged");
    env.ok(["tag", "keep"]);
    env.put("big", &dropped);
    let gone = env.commit("untagged");
    env.ok(["checkout", "main"]);
    env.ok(["branch", "-D", "side"]);
    let before = bytes_under(env.repo_dir().join("objects"));
    gc(&env);
    gc(&env);
    let after = bytes_under(env.repo_dir().join("objects"));
    assert!(after + (2 << 20) < before, "gc freed the untagged commit's data: {before} -> {after}");
    env.fails_with(3, ["get", "--at", &gone, "big"]);
    assert_bytes_eq(&env.ok(["get", "--at", "keep", "big"]).stdout, &tagged, "the tagged value");
    assert_eq!(env.ok(["get", "--at", "keep", "small"]).stdout, b"small value");
    assert_eq!(env.ok(["get", "--at", &kept, "base"]).stdout, b"base");
    env.ok(["check", "--read-data"]);

    // Once the tag is deleted, its data is garbage like any other.
    env.ok(["tag", "-d", "keep"]);
    gc(&env);
    gc(&env);
    assert!(bytes_under(env.repo_dir().join("objects")) + (2 << 20) < after, "the tag's data freed after tag -d");
}

#[test]
fn forget_never_forgets_a_tagged_commit_and_gc_keeps_its_values() {
    let env = Env::init();
    let mut ids = Vec::new();
    let mut values = Vec::new();
    for i in 0..5u64 {
        let v = random_bytes(10 + i, 600_000);
        env.put("v", &v);
        ids.push(env.commit(&format!("c{i}")));
        values.push(v);
    }
    env.ok(["tag", "v1", &ids[1]]);
    let dry = env.ok(["--json", "forget", "--keep-last", "1", "--dry-run"]).json();
    let commits = dry["branches"][0]["commits"].as_array().unwrap();
    let tagged = commits.iter().find(|c| c["id"] == ids[1].as_str()).unwrap();
    assert_eq!(tagged["keep"], serde_json::json!(["tag"]), "{dry}");
    assert_eq!(tagged["tags"], serde_json::json!(["v1"]), "{dry}");
    assert_eq!(tagged["action"], "keep");
    let text = env.ok(["forget", "--keep-last", "1", "--dry-run"]).text();
    let line = text.lines().find(|l| l.contains(short(&ids[1]))).unwrap_or_else(|| panic!("{text}"));
    assert!(line.contains("tag v1"), "the reason is the tag: {line}");

    let out = env.ok(["--json", "forget", "--keep-last", "1"]).json();
    assert_eq!(out["forgotten"], 3, "{out}");
    gc(&env);
    gc(&env);
    assert_bytes_eq(&env.ok(["get", "--at", "v1", "v"]).stdout, &values[1], "the tagged commit's value");
    assert_bytes_eq(&env.ok(["get", "--at", &ids[1], "v"]).stdout, &values[1], "by id too");
    assert_bytes_eq(&env.get("v"), &values[4], "the head's value");
    env.fails_with(3, ["get", "--at", &ids[2], "v"]);
    env.ok(["check", "--read-data"]);
}

#[test]
fn a_tag_ref_that_vanished_went_back_or_was_replaced_is_an_integrity_error_naming_the_tag() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    env.put("a", b"2");
    env.commit("two");
    let dir = new_ref_dir(&env, &["tag", "v1", &one]);
    let first = current_ref(&dir);
    let names_tag = |out: &Out| {
        assert!(out.stderr.contains("tag v1"), "the tag is named:\n{out}");
        assert!(out.stderr.contains("--accept-rollback v1"), "the way to accept it is given:\n{out}");
    };

    // Vanished: removed without a deletion marker.
    let saved = env.path("saved-ref");
    std::fs::rename(&dir, &saved).unwrap();
    names_tag(&env.fails_with(13, ["tag"]));
    names_tag(&env.fails_with(13, ["get", "--at", "v1", "a"]));
    names_tag(&env.fails_with(13, ["gc", "--min-age", "0s", "--grace", "0s"]));
    let out = env.fails_with(13, ["check"]);
    assert!(out.stderr.contains("tag v1") && out.stderr.contains("gone"), "{out}");
    std::fs::rename(&saved, &dir).unwrap();
    assert_eq!(env.ok(["get", "--at", "v1", "a"]).stdout, b"1");

    // Went back: deleted and created again elsewhere, then the first value replayed as a newer generation.
    env.ok(["tag", "-d", "v1"]);
    env.ok(["tag", "v1", "HEAD"]);
    let next = generations(&dir).last().unwrap() + 1;
    write(dir.join(format!("{next:020}")), &first);
    let out = env.fails_with(13, ["get", "--at", "v1", "a"]);
    names_tag(&out);
    assert!(out.stderr.contains("went back"), "{out}");
    names_tag(&env.fails_with(13, ["tag"]));

    // A fresh clone trusts what it finds; the workspace that saw more accepts it explicitly.
    let out = env.ok(["--json", "tag", "--accept-rollback", "v1"]).json();
    assert_eq!(out["commit"], one.as_str());
    assert_eq!(env.ok(["get", "--at", "v1", "a"]).stdout, b"1");
    gc(&env);
}

#[test]
fn a_tag_deleted_and_created_again_is_accepted_by_a_workspace_that_saw_the_old_one() {
    let env = Env::init();
    env.put("a", b"1");
    let one = env.commit("one");
    env.put("a", b"2");
    env.commit("two");
    env.ok(["tag", "v1", &one]);
    env.cmd(["clone", env.repo_dir().to_str().unwrap(), "other"]).cwd(&env.root).ok();
    let other = env.root.join("other");
    assert_eq!(env.cmd(["get", "--at", "v1", "a"]).cwd(&other).ok().stdout, b"1", "the clone saw v1 at one");
    env.ok(["tag", "-d", "v1"]);
    env.ok(["tag", "v1", "HEAD"]);
    assert_eq!(env.cmd(["get", "--at", "v1", "a"]).cwd(&other).ok().stdout, b"2", "deleted and created again");
    env.cmd(["gc", "--min-age", "0s"]).cwd(&other).ok();
}

#[test]
fn a_write_only_key_cannot_create_or_delete_tags() {
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    env.ok(["tag", "v1"]);
    env.cmd(["key", "add", "--write-only", "--name", "ci"]).env("INFINI_NEW_PASSWORD", "writer pw").ok();
    env.cmd(["clone", env.repo_dir().to_str().unwrap(), "w"]).cwd(&env.root).env("INFINI_PASSWORD", "writer pw").ok();
    let w = env.root.join("w");
    for args in [&["tag", "v2"][..], &["tag", "-d", "v1"], &["tag"]] {
        let out = env.cmd(args.iter().copied()).cwd(&w).fails_with(17);
        assert!(out.stderr.contains("write-only"), "{out}");
    }
    assert_eq!(env.ok(["tag"]).text().lines().count(), 1, "v1 only, untouched");
}
