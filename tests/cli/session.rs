//! The session from PRODUCT.md, command by command, on a local (embedded) repository.

use crate::util::*;

#[test]
fn product_session_on_a_local_repository() {
    let env = Env::new();

    // infini init
    let out = env.ok(["init"]);
    assert!(out.stdout.is_empty(), "init prints nothing on stdout:\n{out}");
    assert!(env.repo_dir().join("config").is_file(), "init creates .infini/repo:\n{out}");

    // infini put config/app.toml < app.toml
    let app = b"[server]\nport = 8080\nname = \"demo\"\n".to_vec();
    write(env.ws.join("app.toml"), &app);
    let out = env.cmd(["put", "config/app.toml"]).stdin(&app).ok();
    assert!(out.stdout.is_empty(), "put prints nothing on stdout:\n{out}");

    // infini put -r ./site web/
    write(env.ws.join("site/index.html"), b"<h1>hello</h1>\n");
    write(env.ws.join("site/css/style.css"), b"body { color: red }\n");
    write(env.ws.join("site/img/logo.bin"), &random_bytes(1, 10_000));
    let out = env.ok(["put", "-r", "./site", "web/"]);
    assert!(out.stdout.is_empty(), "put -r prints nothing on stdout:\n{out}");

    // infini commit -m "first measurement"
    let out = env.ok(["commit", "-m", "first measurement"]);
    let first = commit_id(&out);

    // infini log
    let out = env.ok(["log"]);
    let log = out.text();
    assert!(log.contains(&first), "log shows the commit id:\n{out}");
    assert!(log.contains("first measurement"), "log shows the message:\n{out}");

    // infini get config/app.toml > out.toml
    let out = env.ok(["get", "config/app.toml"]);
    assert_eq!(out.stdout, app, "get returns the value put:\n{out}");
    assert_eq!(env.get("web/index.html"), b"<h1>hello</h1>\n");
    assert_eq!(env.get("web/css/style.css"), b"body { color: red }\n");
    assert_bytes_eq(&env.get("web/img/logo.bin"), &random_bytes(1, 10_000), "web/img/logo.bin");
    let keys = env.ok(["ls"]).lines();
    assert_eq!(
        keys,
        ["config/app.toml", "web/css/style.css", "web/img/logo.bin", "web/index.html"],
        "ls lists every key in order"
    );

    // infini fork experiment
    let out = env.ok(["fork", "experiment"]);
    assert!(out.stdout.is_empty(), "fork prints nothing on stdout:\n{out}");
    let st = env.ok(["status", "--json"]).json();
    assert_eq!(st["branch"], "experiment", "fork switches to the new branch: {st}");
    // Diff of two branches at the same commit: nothing.
    let out = env.ok(["diff", "main", "experiment"]);
    assert!(out.stdout.is_empty(), "no differences yet:\n{out}");

    // Work on the experiment so the final diff has something to show.
    env.put("config/app.toml", b"[server]\nport = 9090\n");
    env.put("results/run1.csv", b"a,b\n1,2\n");
    env.ok(["rm", "web/css/style.css"]);
    let second = env.commit("experiment: port 9090");
    assert_ne!(first, second);

    // infini checkout 3f9a1c2e (a short id prefix of an earlier commit)
    let short = &first[..8];
    let out = env.ok(["checkout", short]);
    assert!(out.stdout.is_empty(), "checkout prints nothing on stdout:\n{out}");
    let st = env.ok(["status", "--json"]).json();
    assert_eq!(st["detached"], first, "HEAD is detached at the first commit: {st}");
    assert_eq!(env.get("config/app.toml"), app, "the checked-out commit's value is visible");
    assert_eq!(env.get("web/css/style.css"), b"body { color: red }\n");
    env.fails_with(3, ["get", "results/run1.csv"]);
    // Detached is read-only.
    env.cmd(["put", "x"]).stdin(b"y").fails_with(2);
    env.fails_with(2, ["commit", "-m", "not allowed"]);
    assert_eq!(env.log_ids(), vec![first.clone()], "nothing was committed while detached");

    // infini diff main experiment
    let out = env.ok(["diff", "main", "experiment"]);
    assert_eq!(
        out.lines(),
        ["M\tconfig/app.toml", "A\tresults/run1.csv", "D\tweb/css/style.css"],
        "diff main experiment:\n{out}"
    );
    let out = env.ok(["diff", "experiment", "main"]);
    assert_eq!(
        out.lines(),
        ["M\tconfig/app.toml", "D\tresults/run1.csv", "A\tweb/css/style.css"],
        "diff experiment main:\n{out}"
    );

    // And back to a branch: writable again.
    env.ok(["checkout", "experiment"]);
    assert_eq!(env.get("config/app.toml"), b"[server]\nport = 9090\n");
    env.put("x", b"y");
    let third = env.commit("third");
    assert_eq!(env.log_ids(), vec![third, second, first]);
}

/// Arguments, stdin, and what the JSON must mention.
type Step<'a> = (Vec<&'a str>, Option<&'a [u8]>, &'a str);

#[test]
fn every_command_speaks_json() {
    // Scripting contract: with --json, stdout is one JSON document (data only); nothing else is mixed in.
    let env = Env::new();
    let clone_dir = env.path("clone");
    let out_file = env.path("o.bin");
    let steps: Vec<Step> = vec![
        (vec!["init"], None, "workspace"),
        (vec!["put", "k"], Some(b"v"), "[key]"),
        (vec!["commit", "-m", "x"], None, "id"),
        (vec!["rm", "k"], None, "removed"),
        (vec!["reset"], None, "unstaged"),
        (vec!["cp", "k", "k2"], None, "to"),
        (vec!["mv", "k2", "k3"], None, "to"),
        (vec!["ls"], None, "[key]"),
        (vec!["status"], None, "staged"),
        (vec!["diff"], None, "[key]"),
        (vec!["commit", "-m", "y"], None, "id"),
        (vec!["log"], None, "[id]"),
        (vec!["show"], None, "changes"),
        (vec!["get", "k", "-o", out_file.to_str().unwrap()], None, "size"),
        (vec!["fork", "f"], None, "branch"),
        (vec!["checkout", "main"], None, "branch"),
        (vec!["branch"], None, "[name]"),
        (vec!["check"], None, "errors"),
        (vec!["stats"], None, "objects"),
        (vec!["key", "list"], None, "[name]"),
        (vec!["lock"], None, "locked"),
        (vec!["unlock"], None, "unlocked"),
        (vec!["gc", "--grace", "0s", "--min-age", "0s"], None, "packs"),
        (vec!["clone", ".", clone_dir.to_str().unwrap()], None, "workspace"),
    ];
    for (args, stdin, field) in steps {
        let mut all = vec!["--json"];
        all.extend(&args);
        let mut cmd = env.cmd(&all);
        if let Some(s) = stdin {
            cmd = cmd.stdin(s);
        }
        let out = cmd.ok();
        let v = out.json();
        match field.strip_prefix('[').and_then(|f| f.strip_suffix(']')) {
            Some(f) => {
                let arr = v.as_array().unwrap_or_else(|| panic!("an array expected:\n{out}"));
                assert!(!arr.is_empty() && arr.iter().all(|e| e.get(f).is_some()), "each entry has {f:?}:\n{out}");
            }
            None => assert!(v.get(field).is_some(), "{field:?} expected:\n{out}"),
        }
    }
}
