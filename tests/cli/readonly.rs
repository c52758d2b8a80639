//! `-R`/`--repo` (and `INFINI_REPO`) name a repository to read without a workspace: every command that would write
//! (to the repository or to a workspace) refuses with a usage error that says to use a workspace, and changes
//! nothing; every command that only reads keeps working.

use crate::util::*;
use std::path::Path;

/// Every file under the repository with its bytes: nothing may change.
fn snapshot(repo: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    files_under(repo).into_iter().map(|(p, _)| (p.clone(), read(repo.join(&p)))).collect()
}

/// A repository with a commit on `main` and a second branch `dev`, and an empty directory to run from.
fn setup() -> (Env, std::path::PathBuf) {
    let env = Env::init();
    env.put("a", b"1");
    env.commit("one");
    env.ok(["fork", "dev"]);
    env.put("b", b"2");
    env.commit("two");
    env.ok(["checkout", "main"]);
    let empty = env.root.join("empty");
    std::fs::create_dir(&empty).unwrap();
    (env, empty)
}

#[test]
fn writing_commands_refuse_through_repo_with_a_usage_error_and_change_nothing() {
    let (env, empty) = setup();
    let repo = env.repo_dir();
    let r = repo.to_str().unwrap().to_string();
    let before = snapshot(&repo);
    let writers: Vec<Vec<&str>> = vec![
        vec!["gc", "--grace", "0s", "--min-age", "0s"],
        vec!["branch", "-d", "dev"],
        vec!["branch", "--accept-rollback", "dev"],
        vec!["key", "add"],
        vec!["key", "rm", "whatever"],
        vec!["key", "passwd"],
        vec!["commit", "-m", "x"],
        vec!["put", "c"],
        vec!["rm", "a"],
        vec!["mv", "a", "c"],
        vec!["cp", "a", "c"],
        vec!["fork", "other"],
        vec!["checkout", "dev"],
        vec!["reset"],
        vec!["update"],
        vec!["lock"],
        vec!["unlock"],
    ];
    for args in &writers {
        for via_env in [false, true] {
            let mut cmd = if via_env {
                env.cmd(args.iter().copied()).env("INFINI_REPO", &r)
            } else {
                let mut a = vec!["-R", r.as_str()];
                a.extend(args.iter().copied());
                env.cmd(a)
            };
            cmd = cmd.cwd(&empty).env("INFINI_NEW_PASSWORD", "another one").stdin(b"v");
            let out = cmd.fails_with(2);
            assert!(out.stderr.contains("read-only"), "says -R is read-only:\n{out}");
            assert!(out.stderr.contains("clone"), "says what to do instead (a workspace: clone):\n{out}");
        }
    }
    // Also from inside a workspace: -R names another repository, never the workspace's.
    let out = env.fails_with(2, ["-R", &r, "gc", "--grace", "0s"]);
    assert!(out.stderr.contains("read-only"), "{out}");
    assert_eq!(snapshot(&repo), before, "nothing in the repository changed");
    assert_eq!(env.ok(["branch"]).lines().len(), 2, "dev is still there");
}

#[test]
fn reading_commands_keep_working_through_repo() {
    let (env, empty) = setup();
    let r = env.repo_dir().to_str().unwrap().to_string();
    let readers: Vec<Vec<&str>> = vec![
        vec!["get", "a"],
        vec!["ls"],
        vec!["log"],
        vec!["show"],
        vec!["branch"],
        vec!["check"],
        vec!["stats"],
        vec!["diff", "HEAD"],
        vec!["key", "list"],
        vec!["gc", "--dry-run"],
        vec!["status"],
    ];
    for args in &readers {
        let mut a = vec!["-R", r.as_str()];
        a.extend(args.iter().copied());
        env.cmd(a).cwd(&empty).ok();
    }
}

#[test]
fn help_says_repo_is_read_only() {
    let env = Env::new();
    let out = env.ok(["--help"]);
    let text = out.text();
    let line = text.lines().find(|l| l.contains("--repo")).unwrap_or_else(|| panic!("--repo in --help:\n{out}"));
    let after: String = text.split("--repo").nth(1).unwrap_or("").chars().take(300).collect();
    assert!(after.to_lowercase().contains("read-only"), "--help says --repo is read-only: {line}\n{out}");
}
