//! What a new user meets in the first hour: a repository of its own outside any workspace, and failed commands
//! that leave nothing behind.

use crate::util::Env;

#[test]
fn init_with_a_repository_path_keeps_the_repository_outside_the_workspace() {
    let env = Env::new();
    let disk = env.root.join("external/disk/repo");
    let disk_s = disk.display().to_string();
    env.cmd(["-R", &disk_s, "init", "ws3"]).cwd(&env.root).ok();
    assert!(disk.join("config").is_file(), "the repository is where -R said");
    assert!(!env.root.join("ws3/.infini/repo").exists(), "not inside the workspace");
    let ws3 = env.root.join("ws3");
    env.cmd(["put", "k"]).cwd(&ws3).stdin(b"kept").ok();
    env.cmd(["commit", "-m", "one"]).cwd(&ws3).ok();
    env.cmd(["clone", &disk_s, "ws4"]).cwd(&env.root).ok();
    // The first workspace goes; the repository and every other workspace stay usable.
    std::fs::remove_dir_all(&ws3).unwrap();
    let out = env.cmd(["get", "k"]).cwd(env.root.join("ws4")).ok();
    assert_eq!(out.stdout, b"kept");
    // A second init on the same path would start another history: refused, pointing at clone.
    let out = env.cmd(["-R", &disk_s, "init", "ws5"]).cwd(&env.root).fails_with(11);
    assert!(out.stderr.contains("infini clone"), "{out}");
    assert!(!env.root.join("ws5").exists(), "a refused init leaves no directory: {out}");
    // Both spellings of an S3 repository at once are refused.
    env.cmd(["-R", "s3://b/p", "init", "--s3", "b/p", "ws6"]).cwd(&env.root).fails_with(2);
}

#[test]
fn a_failed_init_or_clone_leaves_no_directory_behind() {
    let mut env = Env::new();
    env.set("AWS_ACCESS_KEY_ID", "AK");
    env.set("AWS_SECRET_ACCESS_KEY", "SK");
    env.set("INFINI_RETRIES", "1");
    env.cmd(["init", "--s3", "bkt1", "--endpoint", "http://127.0.0.1:9", "new/ws"]).cwd(&env.root).fails_with(14);
    assert!(!env.root.join("new").exists(), "init removed what it created");
    env.cmd(["clone", "s3://bkt1", "cl/ws", "--endpoint", "http://127.0.0.1:9"]).cwd(&env.root).fails_with(14);
    assert!(!env.root.join("cl").exists(), "clone removed what it created");
    // A directory that existed before is left in place, as it was.
    std::fs::create_dir(env.root.join("mine")).unwrap();
    std::fs::write(env.root.join("mine/file"), b"x").unwrap();
    env.cmd(["clone", "no-such-repo", "mine"]).cwd(&env.root).fails_with(10);
    assert_eq!(std::fs::read(env.root.join("mine/file")).unwrap(), b"x");
}

#[test]
fn misdirected_commands_say_what_was_meant() {
    let env = Env::init();
    let site = env.path("site");
    std::fs::create_dir_all(site.join("sub")).unwrap();
    std::fs::write(site.join("sub/a.txt"), b"a").unwrap();
    // put KEY DIR: a directory is not a value; the message names put -r.
    let out = env.fails_with(2, ["put", "k", site.to_str().unwrap()]);
    assert!(out.stderr.contains("put -r"), "{out}");
    // put -r of a directory that does not exist: not found (3), not a usage error.
    let out = env.fails_with(3, ["put", "-r", "nonexistent-dir", "p/"]);
    assert!(out.stderr.contains("nonexistent-dir"), "{out}");
    env.ok(["put", "-r", site.to_str().unwrap(), "web/"]);
    env.commit("site");
    // get PREFIX: not a key, but the message says how to get what is under it.
    let out = env.fails_with(3, ["get", "web"]);
    assert!(out.stderr.contains("get -r web/"), "{out}");
    // A revision too short to be an id prefix says so.
    let out = env.fails_with(3, ["checkout", "f52"]);
    assert!(out.stderr.contains("at least 4 hex digits"), "{out}");
    // An S3 location with a bucket name S3 refuses says why.
    let out = env.fails_with(2, ["-R", "s3://b1", "ls"]);
    assert!(out.stderr.contains("3 to 63 characters"), "{out}");
}

#[test]
fn get_r_does_not_replace_existing_files_unless_asked() {
    let env = Env::init();
    env.put("web/a.txt", b"stored a");
    env.put("web/sub/b.txt", b"stored b");
    env.commit("site");
    let out_dir = env.path("restore");
    std::fs::create_dir_all(out_dir.join("sub")).unwrap();
    std::fs::write(out_dir.join("sub/b.txt"), b"my own edit").unwrap();
    std::fs::write(out_dir.join("unrelated"), b"keep").unwrap();
    let out = env.fails_with(11, ["get", "-r", "web/", out_dir.to_str().unwrap()]);
    assert!(out.stderr.contains("already exist") && out.stderr.contains("--overwrite"), "{out}");
    assert_eq!(std::fs::read(out_dir.join("sub/b.txt")).unwrap(), b"my own edit", "nothing replaced");
    assert!(!out_dir.join("a.txt").exists(), "nothing written at all: {out}");
    env.ok(["get", "-r", "web/", out_dir.to_str().unwrap(), "--overwrite"]);
    assert_eq!(std::fs::read(out_dir.join("sub/b.txt")).unwrap(), b"stored b");
    assert_eq!(std::fs::read(out_dir.join("a.txt")).unwrap(), b"stored a");
    assert_eq!(std::fs::read(out_dir.join("unrelated")).unwrap(), b"keep", "files that are not keys stay");
    // Into a directory that exists but holds none of the paths: fine without --overwrite.
    let other = env.path("other");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes"), b"n").unwrap();
    env.ok(["get", "-r", "web/", other.to_str().unwrap()]);
}

#[test]
fn branch_d_refuses_to_abandon_unmerged_work_and_d_capital_can_be_undone_until_gc() {
    let env = Env::init();
    env.put("base", b"b");
    env.commit("base");
    env.ok(["fork", "experiment"]);
    env.put("idea", b"only on experiment");
    let lost = env.commit("the experiment's work");
    env.ok(["checkout", "main"]);
    let out = env.fails_with(11, ["branch", "-d", "experiment"]);
    assert!(out.stderr.contains("not fully merged") && out.stderr.contains("1 commit"), "{out}");
    assert!(out.stderr.contains("branch -D experiment"), "names the way to force it: {out}");
    env.ok(["checkout", &lost[..12]]); // still there
    env.ok(["checkout", "main"]);
    // A branch whose commits another branch holds goes with -d.
    env.ok(["fork", "merged-copy"]);
    env.ok(["checkout", "main"]);
    env.ok(["branch", "-d", "merged-copy"]);
    // -D deletes it, says what it abandoned and how to bring it back.
    let out = env.ok(["--json", "branch", "-D", "experiment"]);
    let v = out.json();
    assert_eq!(v["abandoned"], 1, "{out}");
    assert_eq!(v["head"], lost.as_str());
    assert!(env.ok(["branch"]).text().lines().all(|l| !l.contains("experiment")));
    // Until gc collects it, the commit is found by its id and the branch comes back.
    env.ok(["fork", "experiment", &lost[..12]]);
    env.ok(["checkout", "experiment"]);
    assert_eq!(env.get("idea"), b"only on experiment");
}

#[test]
fn a_missing_password_is_named_as_missing_not_as_wrong() {
    let mut env = Env::new();
    env.unset("INFINI_PASSWORD");
    // init with no password at all: nothing to be wrong about yet.
    let out = env.fails_with(12, ["init"]);
    assert!(out.stderr.contains("no password given for the new repository's first key"), "{out}");
    assert!(!out.stderr.contains("wrong password"), "{out}");
    assert!(out.stderr.contains("INFINI_PASSWORD_FILE"), "names where a password can come from:\n{out}");
    // A password file that does not exist: a password problem (12), naming the file, not a generic failure (1).
    let out = env.cmd(["init"]).env("INFINI_PASSWORD_FILE", "/nonexistent/pw").fails_with(12);
    assert!(out.stderr.contains("/nonexistent/pw") && !out.stderr.contains("wrong password"), "{out}");
    env.cmd(["init"]).env("INFINI_PASSWORD", "pw").ok();
    let ws = env.ws.display().to_string();
    let out =
        env.cmd(["clone", &ws, "ws2"]).cwd(&env.root).env("INFINI_PASSWORD_FILE", "/nonexistent/pw").fails_with(12);
    assert!(out.stderr.contains("cannot open password file /nonexistent/pw"), "{out}");
    assert!(!env.root.join("ws2").exists(), "{out}");
    let out = env.cmd(["clone", &ws, "ws2"]).cwd(&env.root).fails_with(12);
    assert!(out.stderr.contains("no password given:") && !out.stderr.contains("wrong password"), "{out}");
    // A wrong one is still called wrong.
    let out = env.cmd(["clone", &ws, "ws2"]).cwd(&env.root).env("INFINI_PASSWORD", "nope").fails_with(12);
    assert!(out.stderr.contains("wrong password"), "{out}");
}

#[test]
fn get_r_restores_the_mtime_of_symbolic_links() {
    use std::os::unix::fs::MetadataExt;
    let env = Env::init();
    let site = env.path("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("a.txt"), b"a").unwrap();
    std::os::unix::fs::symlink("a.txt", site.join("link")).unwrap();
    let st = std::process::Command::new("touch").args(["-h", "-d", "@1000000000.25"]).arg(site.join("link")).status();
    assert!(st.unwrap().success());
    assert_eq!(std::fs::symlink_metadata(site.join("link")).unwrap().mtime(), 1_000_000_000);
    env.ok(["put", "-r", site.to_str().unwrap(), "web/"]);
    env.commit("site");
    let out = env.path("out");
    env.ok(["get", "-r", "web/", out.to_str().unwrap()]);
    let m = std::fs::symlink_metadata(out.join("link")).unwrap();
    assert!(m.file_type().is_symlink());
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_000_000_000, 250_000_000), "the link's own mtime");
    assert_eq!(std::fs::read_link(out.join("link")).unwrap(), std::path::Path::new("a.txt"));
    // Through a tar stream and back, too.
    let tar = env.ok(["get", "-r", "--tar", "web/"]).stdout;
    env.cmd(["put", "--tar", "copy/"]).stdin(&tar).ok();
    env.commit("copy");
    let out2 = env.path("out2");
    env.ok(["get", "-r", "copy/", out2.to_str().unwrap()]);
    assert_eq!(std::fs::symlink_metadata(out2.join("link")).unwrap().mtime(), 1_000_000_000);
}
