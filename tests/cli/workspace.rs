//! Finding the workspace (-C, walking up), naming a repository directly (-R, INFINI_REPO), passwords, keys,
//! lock/unlock, clone, and what a workspace keeps on disk.

use crate::util::*;
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn key_slots(env: &Env) -> usize {
    let out = env.ok(["key", "list", "--json"]);
    out.json().as_array().unwrap_or_else(|| panic!("key list --json is an array:\n{out}")).len()
}

#[test]
fn dash_c_runs_as_if_started_in_dir() {
    let env = Env::new();
    let elsewhere = env.path("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let ws = env.ws.to_str().unwrap();
    env.cmd(["-C", ws, "init"]).cwd(&elsewhere).ok();
    assert!(env.ws.join(".infini/config.json").is_file(), "-C DIR init creates the workspace in DIR");
    assert!(!elsewhere.join(".infini").exists());
    env.cmd(["-C", ws, "put", "k"]).stdin(b"v").cwd(&elsewhere).ok();
    env.cmd(["-C", ws, "commit", "-m", "c"]).cwd(&elsewhere).ok();
    let out = env.cmd(["-C", ws, "get", "k"]).cwd(&elsewhere).ok();
    assert_eq!(out.stdout, b"v", "{out}");
    // Relative to the current directory, and paths after -C are relative to DIR.
    write(env.ws.join("file.txt"), b"from a file in DIR");
    env.cmd(["-C", "../ws", "put", "f", "file.txt"]).cwd(&elsewhere).ok();
    assert_eq!(env.get("f"), b"from a file in DIR");
    // -C may come after the command too (a global option).
    let out = env.cmd(["get", "-C", ws, "k"]).cwd(&elsewhere).ok();
    assert_eq!(out.stdout, b"v", "{out}");
}

#[test]
fn commands_walk_up_from_a_subdirectory() {
    let env = Env::init();
    let deep = env.ws.join("a/b/c");
    std::fs::create_dir_all(&deep).unwrap();
    env.cmd(["put", "k"]).stdin(b"from deep").cwd(&deep).ok();
    let id = commit_id(&env.cmd(["commit", "-m", "deep"]).cwd(&deep).ok());
    assert_eq!(env.log_ids(), vec![id], "the commit landed in the workspace above");
    assert_eq!(env.cmd(["get", "k"]).cwd(&deep).ok().stdout, b"from deep");
    assert!(!deep.join(".infini").exists());
    // put -r and -o paths are relative to where the command runs.
    write(deep.join("tree/x.txt"), b"x");
    env.cmd(["put", "-r", "tree", "t/"]).cwd(&deep).ok();
    env.cmd(["get", "t/x.txt", "-o", "x.out"]).cwd(&deep).ok();
    assert_eq!(read(deep.join("x.out")), b"x");
}

#[test]
fn repo_flag_and_env_work_without_a_workspace() {
    let mut env = Env::init();
    env.put("k", b"main value");
    let c1 = env.commit("c1");
    env.ok(["fork", "exp"]);
    env.put("k", b"exp value");
    env.commit("c2");

    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let repo = env.repo_dir();
    let repo_s = repo.to_str().unwrap();
    // -R PATH: the repository directory, or the workspace holding it.
    for r in [repo_s, env.ws.to_str().unwrap()] {
        let out = env.cmd(["-R", r, "get", "k"]).cwd(&empty).ok();
        assert_eq!(out.stdout, b"main value", "-R reads main by default:\n{out}");
        let out = env.cmd(["--repo", r, "log", "--json"]).cwd(&empty).ok();
        assert_eq!(out.json()[0]["id"], c1.as_str(), "{out}");
    }
    // A relative path is relative to the current directory.
    let out = env.cmd(["-R", "../ws/.infini/repo", "get", "k"]).cwd(&empty).ok();
    assert_eq!(out.stdout, b"main value", "{out}");
    // INFINI_REPO alone, with other read-only commands.
    let run = |args: &[&str]| env.cmd(args).cwd(&empty).env("INFINI_REPO", repo_s).ok();
    assert_eq!(run(&["get", "k"]).stdout, b"main value");
    assert_eq!(run(&["ls"]).lines(), ["k"]);
    assert_eq!(run(&["get", "--at", "exp", "k"]).stdout, b"exp value");
    assert_eq!(run(&["show", "--json", "exp"]).json()["message"], "c2");
    assert_eq!(run(&["diff", "main", "exp"]).lines(), ["M\tk"]);
    assert_eq!(run(&["branch"]).lines().len(), 2);
    run(&["check"]);
    // Another branch with --branch / INFINI_BRANCH.
    assert_eq!(run(&["--branch", "exp", "get", "k"]).stdout, b"exp value");
    let out = env.cmd(["get", "k"]).cwd(&empty).env("INFINI_REPO", repo_s).env("INFINI_BRANCH", "exp").ok();
    assert_eq!(out.stdout, b"exp value");
    // With -R the password is always needed: there is no workspace holding a key.
    env.unset("INFINI_PASSWORD");
    env.cmd(["-R", repo_s, "get", "k"]).cwd(&empty).fails_with(12);
    env.cmd(["get", "k"]).cwd(&empty).env("INFINI_REPO", repo_s).fails_with(12);
    // And it works from inside an unrelated workspace too (-R wins over the workspace).
    let other = Env::init();
    let out = other.cmd(["-R", repo_s, "get", "k"]).ok();
    assert_eq!(out.stdout, b"main value", "{out}");
}

#[test]
fn lock_then_commands_need_the_password_and_unlock_restores() {
    let mut env = Env::init();
    env.put("k", b"v");
    env.commit("c");
    let key = env.ws.join(".infini/key");
    assert!(key.is_file(), "a new workspace is unlocked");
    env.unset("INFINI_PASSWORD");
    assert_eq!(env.get("k"), b"v", "an unlocked workspace needs no password");

    env.ok(["lock"]);
    assert!(!key.exists(), "lock removes the key file");
    env.fails_with(12, ["get", "k"]);
    env.cmd(["put", "k2"]).stdin(b"x").fails_with(12);
    // With a password each command works, but the workspace stays locked.
    let out = env.cmd(["get", "k"]).env("INFINI_PASSWORD", PASSWORD).ok();
    assert_eq!(out.stdout, b"v");
    env.cmd(["put", "k2"]).stdin(b"x").env("INFINI_PASSWORD", PASSWORD).ok();
    env.fails_with(12, ["get", "k2"]);
    // Locking twice is fine.
    env.ok(["lock"]);

    env.cmd(["unlock"]).env("INFINI_PASSWORD", PASSWORD).ok();
    assert!(key.is_file());
    assert_eq!(mode(&key), 0o600, "the key file is readable by its owner only");
    assert_eq!(env.get("k2"), b"x", "staged changes survived lock/unlock");
    env.commit("c2");
}

#[test]
fn key_add_list_passwd_rm() {
    let mut env = Env::init();
    env.put("k", b"v");
    env.commit("c");
    let empty = env.path("empty");
    std::fs::create_dir(&empty).unwrap();
    let repo = env.repo_dir().display().to_string();
    let read_with =
        |env: &Env, pw: &str| env.cmd(["-R", &repo, "get", "k"]).cwd(&empty).env("INFINI_PASSWORD", pw).run();

    assert_eq!(key_slots(&env), 1);
    let out = env.ok(["key", "list"]);
    assert_eq!(out.lines().len(), 1, "{out}");

    env.cmd(["key", "add"]).env("INFINI_NEW_PASSWORD", "second password").ok();
    assert_eq!(key_slots(&env), 2);
    assert_eq!(read_with(&env, PASSWORD).stdout, b"v");
    assert_eq!(read_with(&env, "second password").stdout, b"v");

    // Change the first password.
    let out = env.cmd(["key", "passwd"]).env("INFINI_NEW_PASSWORD", "third password").ok();
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(key_slots(&env), 2, "passwd replaces a slot");
    let out = read_with(&env, PASSWORD);
    assert_eq!(out.code, 12, "the old password no longer works:\n{out}");
    assert!(out.stdout.is_empty(), "{out}");
    assert_eq!(read_with(&env, "third password").stdout, b"v");
    assert_eq!(read_with(&env, "second password").stdout, b"v");
    // The workspace keeps working (no data was re-encrypted) and can be unlocked with the new password only.
    assert_eq!(env.get("k"), b"v");
    env.ok(["lock"]);
    env.fails_with(12, ["unlock"]);
    env.set("INFINI_PASSWORD", "third password");
    env.ok(["unlock"]);
    assert_eq!(env.get("k"), b"v");

    // Remove a slot by name: add one, remove it again, its password stops working.
    let out = env.cmd(["--json", "key", "add"]).env("INFINI_NEW_PASSWORD", "fourth password").ok();
    let name =
        out.json()["added"].as_str().unwrap_or_else(|| panic!("key add --json names the slot:\n{out}")).to_string();
    assert_eq!(key_slots(&env), 3);
    assert_eq!(read_with(&env, "fourth password").stdout, b"v");
    env.ok(["key", "rm", &name]);
    assert_eq!(key_slots(&env), 2);
    assert_eq!(read_with(&env, "fourth password").code, 12);
    assert_eq!(read_with(&env, "third password").stdout, b"v");
    // Down to one slot.
    let names: Vec<String> = env
        .ok(["key", "list", "--json"])
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    let mut removed = false;
    for n in &names {
        let out = env.cmd(["key", "rm", n]).env("INFINI_PASSWORD", "third password").run();
        if out.code == 0 {
            removed = true;
            break;
        }
    }
    assert!(removed, "one of two slots can be removed");
    assert_eq!(key_slots(&env), 1);
    // The last slot can never be removed.
    let last = env.ok(["key", "list", "--json"]).json()[0]["name"].as_str().unwrap().to_string();
    let out = env.run(["key", "rm", &last]);
    assert_ne!(out.code, 0, "removing the last key slot must fail:\n{out}");
    assert_eq!(key_slots(&env), 1);
}

#[test]
fn password_file_and_command() {
    let mut env = Env::init();
    env.put("k", b"v");
    env.commit("c");
    env.ok(["lock"]);
    env.unset("INFINI_PASSWORD");
    let pwfile = env.path("pw.txt");
    write(&pwfile, format!("{PASSWORD}\n").as_bytes());
    let pw = pwfile.to_str().unwrap();
    assert_eq!(env.ok(["--password-file", pw, "get", "k"]).stdout, b"v");
    assert_eq!(env.cmd(["get", "k"]).env("INFINI_PASSWORD_FILE", pw).ok().stdout, b"v");
    let cmd = format!("cat '{pw}'");
    assert_eq!(env.ok(["--password-command", &cmd, "get", "k"]).stdout, b"v");
    assert_eq!(env.cmd(["get", "k"]).env("INFINI_PASSWORD_COMMAND", &cmd).ok().stdout, b"v");
    env.fails_with(12, ["--password-command", "echo wrong", "get", "k"]);
    env.fails_with(12, ["--password-command", "exit 1", "get", "k"]);
    write(&pwfile, b"wrong\n");
    env.fails_with(12, ["--password-file", pw, "get", "k"]);
}

#[test]
fn clone_gives_a_second_workspace_on_the_same_commits() {
    let env = Env::init();
    env.put("k", b"v1");
    let c1 = env.commit("c1");
    let ws2 = env.path("ws2");
    let out = env.cmd(["clone", env.ws.to_str().unwrap(), ws2.to_str().unwrap()]).cwd(&env.root).ok();
    assert!(out.stdout.is_empty(), "clone prints nothing on stdout without --json:\n{out}");
    assert!(ws2.join(".infini/config.json").is_file());
    assert_eq!(mode(&ws2.join(".infini/key")), 0o600, "a clone is unlocked with an owner-only key file");

    let in2 = |args: &[&str]| env.cmd(args).cwd(&ws2).env_remove("INFINI_PASSWORD").ok();
    assert_eq!(in2(&["log", "--json"]).json()[0]["id"], c1.as_str());
    assert_eq!(in2(&["get", "k"]).stdout, b"v1");
    // Commits from either workspace are seen by the other.
    env.cmd(["put", "k"]).stdin(b"v2").cwd(&ws2).ok();
    let c2 = commit_id(&in2(&["commit", "-m", "from ws2"]));
    assert_eq!(env.log_ids(), vec![c2.clone(), c1.clone()]);
    assert_eq!(env.get("k"), b"v2");
    env.put("k", b"v3");
    let c3 = env.commit("from ws1");
    assert_eq!(in2(&["log", "--json"]).json()[0]["id"], c3.as_str());
    // Staged changes are per workspace.
    env.put("only-in-ws1", b"x");
    let out = env.cmd(["get", "only-in-ws1"]).cwd(&ws2).run();
    assert_eq!(out.code, 3, "{out}");

    // Clone of the repository directory itself, and with --json.
    let ws3 = env.path("ws3");
    let out = env.cmd(["--json", "clone", env.repo_dir().to_str().unwrap(), ws3.to_str().unwrap()]).cwd(&env.root).ok();
    assert!(out.json().is_object(), "{out}");
    assert_eq!(env.cmd(["get", "k"]).cwd(&ws3).ok().stdout, b"v3");
    // Into an existing workspace: conflict.
    env.cmd(["clone", env.ws.to_str().unwrap(), ws3.to_str().unwrap()]).cwd(&env.root).fails_with(11);
    // Without a password: nothing is left behind.
    let ws4 = env.path("ws4");
    env.cmd(["clone", env.ws.to_str().unwrap(), ws4.to_str().unwrap()])
        .cwd(&env.root)
        .env_remove("INFINI_PASSWORD")
        .fails_with(12);
    assert!(!ws4.join(".infini").exists(), "a failed clone leaves no workspace");
}

#[test]
fn staged_changes_survive_between_invocations_encrypted() {
    let env = Env::init();
    let key = "staged/KEYNAME-MARKER-51c7";
    let value = b"VALUE-MARKER-e02a inline and small";
    env.put(key, value);
    env.put("big/VALUE-MARKER-e02a", &b"BIGVALUE-MARKER-77aa ".repeat(5000));
    // Another invocation sees it.
    let out = env.ok(["status", "--short"]);
    assert_eq!(out.lines(), ["A\tbig/VALUE-MARKER-e02a".to_string(), format!("A\t{key}")], "{out}");
    assert_eq!(env.get(key), value);
    let staged = env.ws.join(".infini/staged");
    assert!(staged.is_file(), "staged changes are kept in .infini/staged");
    let raw = read(&staged);
    for m in ["KEYNAME-MARKER-51c7", "VALUE-MARKER-e02a", "BIGVALUE-MARKER-77aa", "staged/"] {
        assert!(!contains(&raw, m.as_bytes()), ".infini/staged contains {m:?} in the clear");
    }
    // Committing clears it.
    env.commit("c");
    assert!(env.ok(["status", "--short"]).stdout.is_empty());
    assert_eq!(env.get(key), value);
}

#[test]
fn key_file_has_mode_0600() {
    let env = Env::init();
    let key = env.ws.join(".infini/key");
    assert_eq!(mode(&key), 0o600, "after init");
    env.ok(["lock"]);
    env.ok(["unlock"]);
    assert_eq!(mode(&key), 0o600, "after unlock");
    let staged = env.ws.join(".infini/staged");
    env.put("k", b"v");
    assert_eq!(mode(&staged) & 0o077, 0, "the staged file is not readable by others either");
}

/// Many staged keys are spilled out of memory into `.infini/staging/`: every command sees them as staged, a crash
/// at any point of a spill (nodes appended but the staged file not yet replaced, or a torn segment tail) keeps the
/// last saved state, and commit writes exactly them.
#[test]
fn spilled_staged_changes_survive_crashes_and_commit() {
    let mut env = Env::init();
    env.set("INFINI_SPILL_AT", "40");
    env.put("early", b"committed");
    let base = env.commit("base");
    let src = env.root.join("src");
    for i in 0..300 {
        write(src.join(format!("d{}/f{i:03}", i % 7)), format!("value {i}").as_bytes());
    }
    env.ok(["put", "-r", src.to_str().unwrap(), "a/"]);
    let staging = env.ws.join(".infini/staging");
    assert!(staging.is_dir(), "300 staged keys with INFINI_SPILL_AT=40 are spilled");
    let saved_staged = read(env.ws.join(".infini/staged"));
    assert_eq!(env.ok(["ls", "a/"]).lines().len(), 300);
    assert_eq!(env.get("a/d3/f003"), b"value 3");
    assert_eq!(env.ok(["status", "--short"]).lines().len(), 300);

    // A second put -r spills more; then pretend it crashed before the staged file was replaced: the nodes it
    // appended are unreachable and the first put's state is intact.
    env.ok(["put", "-r", src.to_str().unwrap(), "b/"]);
    assert_eq!(env.ok(["ls"]).lines().len(), 601);
    std::fs::write(env.ws.join(".infini/staged"), &saved_staged).unwrap();
    assert_eq!(env.ok(["ls"]).lines().len(), 301, "back to the saved state: early + a/");
    // A torn write at the end of a segment is ignored too.
    let seg = std::fs::read_dir(&staging).unwrap().map(|e| e.unwrap().path()).max().unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&seg).unwrap();
    std::io::Write::write_all(&mut f, b"half a node").unwrap();
    drop(f);
    assert_eq!(env.get("a/d5/f299"), b"value 299");
    // Spilled changes are sealed: no value appears in the clear.
    for e in std::fs::read_dir(&staging).unwrap() {
        assert!(!contains(&read(e.unwrap().path()), b"value 1"), "staging segments are sealed");
    }

    // Changes on top of spilled ones: overwrite, remove, unstage.
    env.put("a/d0/f000", b"changed");
    env.ok(["rm", "a/d1/f001"]);
    env.ok(["reset", "a/d2/f002"]);
    let status = env.ok(["status", "--short"]).lines();
    assert_eq!(status.len(), 298, "300 added, one removed before commit, one unstaged: {status:?}");
    assert!(status.contains(&"A\ta/d0/f000".to_string()));
    assert_eq!(env.ok(["diff"]).lines().len(), 298);
    // checkout refuses while spilled changes are staged.
    env.cmd(["checkout", base.as_str()]).fails_with(11);

    env.commit("many");
    assert!(!staging.exists(), "nothing staged: the staging directory is gone");
    assert!(env.ok(["status", "--short"]).stdout.is_empty());
    let listing = env.ok(["ls"]).lines();
    assert_eq!(listing.len(), 299, "{listing:?}");
    assert_eq!(env.get("a/d0/f000"), b"changed");
    assert_eq!(env.get("a/d4/f004"), b"value 4");
    assert_eq!(env.get("early"), b"committed");
    env.cmd(["get", "a/d1/f001"]).fails_with(3);
    env.cmd(["get", "a/d2/f002"]).fails_with(3);

    // reset drops spilled changes too.
    env.ok(["put", "-r", src.to_str().unwrap(), "c/"]);
    assert!(staging.is_dir());
    env.ok(["reset"]);
    assert!(!staging.exists());
    assert!(env.ok(["status", "--short"]).stdout.is_empty());
}

/// 30,000 keys put with a spill threshold of 1,000: the staged set goes out of memory thirty times over, and the
/// commit holds every key with its exact bytes.
#[test]
fn thirty_thousand_spilled_keys_commit_byte_exact() {
    let mut env = Env::init();
    env.set("INFINI_SPILL_AT", "1000");
    let src = env.root.join("many");
    for i in 0..30_000u32 {
        // Sizes and contents vary with i; a few values are large enough to go into chunks.
        let mut v = format!("value {i} ").into_bytes();
        v.resize(8 + (i as usize * 7919) % 300, b'a' + (i % 26) as u8);
        if i % 5000 == 0 {
            v = random_bytes(u64::from(i), 70_000);
        }
        write(src.join(format!("d{:02}/k{i:05}", i % 37)), &v);
    }
    let out = env.ok(["put", "-r", src.to_str().unwrap(), "m"]);
    assert!(out.stderr.contains("staged 30000 keys"), "{}", out.stderr);
    let staging = env.ws.join(".infini/staging");
    assert!(staging.is_dir(), "30,000 staged keys over a threshold of 1,000 are spilled");
    let staged_file = std::fs::metadata(env.ws.join(".infini/staged")).unwrap().len();
    assert!(staged_file < 64 * 1024, "the staged file names the spilled tree, not 30,000 changes: {staged_file} bytes");
    assert_eq!(env.ok(["status", "--short"]).lines().len(), 30_000);
    env.commit("thirty thousand");
    assert!(!staging.exists());
    assert_eq!(env.ok(["ls", "m/"]).lines().len(), 30_000);
    let dst = env.root.join("out");
    env.ok(["get", "-r", "m", dst.to_str().unwrap()]);
    assert_same_tree(&src, &dst, "30,000 spilled keys, committed and written back");
    env.ok(["check", "--read-data"]);
}
