//! Completions and man pages are generated from the command definitions and committed; help texts end with
//! the exit-code table.

use crate::util::*;
use std::path::Path;

/// Every command the product promises.
const COMMANDS: &[&str] = &[
    "init",
    "clone",
    "put",
    "get",
    "rm",
    "mv",
    "cp",
    "copy",
    "ls",
    "status",
    "reset",
    "diff",
    "commit",
    "log",
    "show",
    "checkout",
    "fork",
    "branch",
    "check",
    "gc",
    "stats",
    "key",
    "lock",
    "unlock",
    "completions",
    "update",
    "tag",
    "merge",
    "rewrite",
];

const KEY_COMMANDS: &[&str] = &["passwd", "add", "list", "rm"];

#[test]
fn committed_completions_and_man_pages_are_current() {
    let env = Env::new();
    let gen = env.path("gen");
    env.ok(["gen-docs", gen.to_str().unwrap()]);
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut problems = Vec::new();
    for sub in ["completions", "man"] {
        let fresh = files_under(gen.join(sub));
        assert!(!fresh.is_empty(), "gen-docs wrote nothing into {sub}/");
        let committed_dir = project.join(sub);
        let committed = if committed_dir.is_dir() { files_under(&committed_dir) } else { Vec::new() };
        for (p, _) in &fresh {
            let c = committed_dir.join(p);
            if !c.is_file() {
                problems.push(format!("{sub}/{} is missing", p.display()));
            } else if read(&c) != read(gen.join(sub).join(p)) {
                problems.push(format!("{sub}/{} is out of date", p.display()));
            }
        }
        for (p, _) in &committed {
            if !fresh.iter().any(|(f, _)| f == p) {
                problems.push(format!("{sub}/{} is stale (no longer generated)", p.display()));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "completions/ and man/ are not current; regenerate them with `make docs`:\n  {}",
        problems.join("\n  ")
    );
}

/// What the shell gets back when it asks `infini` to complete the words of `line` (the last one being completed),
/// through the protocol the completion scripts speak (`COMPLETE=<shell>`, the index of the word).
fn complete(env: &Env, shell: &str, line: &[&str]) -> Vec<String> {
    let mut args = vec!["--", "infini"];
    args.extend_from_slice(line);
    let out = env
        .cmd(&args)
        .env("COMPLETE", shell)
        .env("_CLAP_COMPLETE_INDEX", line.len().to_string())
        .env("_CLAP_IFS", "\n")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .run();
    assert_eq!(out.code, 0, "{out}");
    out.text().lines().map(|l| l.split(['\t', ':']).next().unwrap_or("").to_string()).collect()
}

#[test]
fn completions_cover_every_command() {
    let env = Env::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = env.ok(["completions", shell]).text();
        assert!(script.contains("COMPLETE=") || script.contains("COMPLETE "), "{shell}: asks infini itself:\n{script}");
        let offered = complete(&env, shell, &[""]);
        for c in COMMANDS {
            assert!(offered.iter().any(|o| o == c), "{shell} completion offers {c}: {offered:?}");
        }
    }
}

#[test]
fn completions_offer_branches_commit_ids_and_keys_of_the_workspace() {
    let mut env = Env::init();
    env.put("web/a.txt", b"a");
    env.put("web/img/x.png", b"x");
    env.put("top", b"t");
    let id = env.commit("one");
    env.ok(["fork", "experiment"]);
    env.unset("INFINI_PASSWORD"); // the unlocked workspace key is enough; completion never prompts
    for shell in ["bash", "zsh", "fish"] {
        let revs = complete(&env, shell, &["checkout", ""]);
        for want in ["HEAD", "main", "experiment", &id[..10]] {
            assert!(revs.iter().any(|r| r == want), "{shell}: checkout offers {want}: {revs:?}");
        }
        assert_eq!(complete(&env, shell, &["branch", "-d", "exp"]), ["experiment"], "{shell}");
        assert_eq!(complete(&env, shell, &["get", "we"]), ["web/"], "{shell}: one level at a time");
        assert_eq!(complete(&env, shell, &["get", "web/"]), ["web/a.txt", "web/img/"], "{shell}");
        assert_eq!(complete(&env, shell, &["ls", "--at", "ma"]), ["main"], "{shell}");
    }
    // Through bash itself: the installed script, a command line, TAB.
    let script = env.path("infini.bash");
    std::fs::write(&script, env.ok(["completions", "bash"]).stdout).unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_infini"));
    let probe = format!(
        "PATH={}:$PATH; source {}; COMP_WORDS=(infini checkout exp); COMP_CWORD=2; COMP_TYPE=9; \
         _clap_complete_infini infini exp checkout; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        bin.parent().unwrap().display(),
        script.display()
    );
    let bash = std::process::Command::new("bash")
        .arg("-c")
        .arg(&probe)
        .current_dir(&env.ws)
        .env_remove("INFINI_PASSWORD")
        .env("HOME", &env.root)
        .output()
        .unwrap();
    let got = String::from_utf8_lossy(&bash.stdout);
    assert!(got.lines().any(|l| l.trim() == "experiment"), "bash completes the branch: {got:?} {:?}", bash.stderr);
    // A locked workspace offers nothing, and does not ask for a password.
    env.ok(["lock"]);
    let revs = complete(&env, "bash", &["checkout", "exp"]);
    assert!(revs.iter().all(|r| r != "experiment"), "{revs:?}");
}

#[track_caller]
fn assert_ends_with_exit_codes(out: &crate::util::Out) {
    let text = out.text();
    assert!(text.contains("Exit codes:"), "help has the exit-code table:\n{out}");
    let last = text.trim_end().lines().last().unwrap_or("");
    assert!(last.trim_start().starts_with("17"), "help ends with the exit-code table (last line is code 17):\n{out}");
    for code in ["0", "1", "2", "3", "10", "11", "12", "13", "14", "15", "16", "17"] {
        assert!(
            text.lines().any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "help lists exit code {code}:\n{out}"
        );
    }
}

/// The commands `infini --help` lists (two-space indented names under "Commands:"), without `help`.
fn listed_commands(env: &Env) -> Vec<String> {
    let out = env.ok(["--help"]);
    let text = out.text();
    let mut names = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line.trim_end() == "Commands:" {
            inside = true;
            continue;
        }
        if inside {
            if line.trim().is_empty() || !line.starts_with("  ") {
                break;
            }
            // Continuation lines of a wrapped description are indented further.
            if line.starts_with("   ") {
                continue;
            }
            let name = line.split_whitespace().next().unwrap_or("").to_string();
            if name != "help" {
                names.push(name);
            }
        }
    }
    assert!(names.len() >= 10, "could not read the command list from --help:\n{out}");
    names
}

/// A command's own help: its options first, the global ones under their own heading after them, and a pointer to
/// the exit codes at the end instead of the whole table.
#[track_caller]
fn assert_own_options_first_and_a_pointer_to_the_exit_codes(out: &crate::util::Out) {
    let text = out.text();
    let last = text.trim_end().lines().last().unwrap_or("");
    assert!(
        last.contains("infini help exit-codes") || text.trim_end().ends_with("exit-codes`)"),
        "ends with the pointer:\n{out}"
    );
    assert!(!text.contains("\n  17  "), "the exit-code table is not repeated under every command:\n{out}");
    let global = text.find("Global options:").unwrap_or_else(|| panic!("a Global options heading:\n{out}"));
    let own = text.find("Options:").unwrap_or_else(|| panic!("an Options heading:\n{out}"));
    assert!(own < global, "the command's own options come first:\n{out}");
    assert!(text[global..].contains("--repo") && !text[..global].contains("--repo"), "-R is global only:\n{out}");
}

#[test]
fn every_command_help_lists_its_own_options_first_and_the_exit_codes_once() {
    let env = Env::new();
    assert_ends_with_exit_codes(&env.ok(["--help"]));
    let help = env.ok(["help", "exit-codes"]).text();
    assert!(
        ["  0 ", "  11 ", "  13 ", "  16 ", "  17 "].iter().all(|c| help.contains(c)),
        "help exit-codes has the table:\n{help}"
    );
    assert_ends_with_exit_codes(&env.ok(["exit-codes"]));
    for c in listed_commands(&env).iter().filter(|c| *c != "exit-codes") {
        assert_own_options_first_and_a_pointer_to_the_exit_codes(&env.ok([c.as_str(), "--help"]));
        // `help CMD` says the same.
        assert_own_options_first_and_a_pointer_to_the_exit_codes(&env.ok(["help", c.as_str()]));
    }
    for c in KEY_COMMANDS {
        assert_own_options_first_and_a_pointer_to_the_exit_codes(&env.ok(["key", c, "--help"]));
    }
    // put's own three options, not mixed in among the globals.
    let put = env.ok(["put", "--help"]).text();
    let own = &put[put.find("Options:").unwrap()..put.find("Global options:").unwrap()];
    for o in ["--recursive", "--delete", "--tar"] {
        assert!(own.contains(o), "{o} among put's own options:\n{put}");
    }
}

#[test]
fn man_pages_have_examples_environment_exit_status_and_see_also() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let top = String::from_utf8(read(project.join("man/infini.1"))).unwrap();
    let env_section = top.split(".SH ENVIRONMENT").nth(1).and_then(|s| s.split(".SH").next()).expect("ENVIRONMENT");
    // Every INFINI_* variable the sources read, and the AWS ones, are in infini(1).
    let mut vars = std::collections::BTreeSet::new();
    for (f, _) in files_under(project.join("src")) {
        let text = String::from_utf8_lossy(&read(project.join("src").join(&f))).into_owned();
        let mut rest = text.as_str();
        while let Some(i) = rest.find("\"INFINI_") {
            let name: String = rest[i + 1..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            vars.insert(name);
            rest = &rest[i + 1..];
        }
    }
    assert!(vars.contains("INFINI_PASSWORD") && vars.len() >= 10, "{vars:?}");
    for v in vars.iter().map(String::as_str).chain([
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_ENDPOINT_URL",
    ]) {
        assert!(
            env_section.contains(v) || env_section.contains(&v.replace('_', "\\_")),
            "infini(1) ENVIRONMENT names {v}"
        );
    }
    for (page, _) in files_under(project.join("man")) {
        let roff = String::from_utf8(read(project.join("man").join(&page))).unwrap();
        for section in [".SH EXAMPLES", ".SH \"EXIT STATUS\"", ".SH ENVIRONMENT", ".SH \"SEE ALSO\""] {
            assert!(roff.contains(section), "{} has {section}", page.display());
        }
    }
}

#[test]
fn every_product_command_exists() {
    let env = Env::new();
    let listed = listed_commands(&env);
    let missing: Vec<&&str> = COMMANDS.iter().filter(|c| !listed.iter().any(|l| l == **c)).collect();
    assert!(missing.is_empty(), "commands promised by the product but missing from `infini --help`: {missing:?}");
    for c in COMMANDS {
        env.ok([c, "--help"]);
    }
}

/// `man -l PAGE` rendered as plain text (`None`, after a note, when `man` is not installed).
fn render_man(page: &Path) -> Option<String> {
    let out = std::process::Command::new("man")
        .arg("-l")
        .arg(page)
        .env("MANWIDTH", "100")
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MAN_KEEP_FORMATTING", "")
        .output();
    match out {
        Ok(o) if o.status.success() => {
            // Strip overstrike formatting (bold as c\bc, underline as _\bc).
            let raw = String::from_utf8_lossy(&o.stdout).into_owned();
            let mut text = String::new();
            for c in raw.chars() {
                if c == '\u{8}' {
                    text.pop();
                } else {
                    text.push(c);
                }
            }
            Some(text)
        }
        _ => {
            eprintln!("note: `man` is not available; only the roff source of {} is checked", page.display());
            None
        }
    }
}

#[test]
fn man_pages_show_value_names_and_a_clean_exit_code_list() {
    let project = Path::new(env!("CARGO_MANIFEST_DIR"));
    let top = project.join("man/infini.1");
    let roff = String::from_utf8(read(&top)).expect("man page is UTF-8");
    let synopsis = roff.split(".SH SYNOPSIS").nth(1).and_then(|s| s.split(".SH").next()).expect("a SYNOPSIS");
    for want in
        [r"\fB\-C\fR\ <\fIDIR\fR>", r"\fB\-R\fR|\fB\-\-repo\fR\ <\fIURL\fR>", r"\fB\-\-endpoint\fR\ <\fIURL\fR>"]
    {
        assert!(synopsis.contains(want), "the synopsis shows {want}:\n{synopsis}");
    }
    assert!(roff.contains(".SH \"EXIT STATUS\""), "an EXIT STATUS section");
    let get = String::from_utf8(read(project.join("man/infini-get.1"))).unwrap();
    assert!(get.contains(r"[\fB\-o\fR|\fB\-\-output\fR\ <\fIFILE\fR>]"), "subcommand synopses too:\n{get}");
    let Some(text) = render_man(&top) else { return };
    let syn = text.split("SYNOPSIS").nth(1).and_then(|s| s.split("DESCRIPTION").next()).unwrap_or("");
    let syn = syn.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(syn.contains("[-C <DIR>]") && syn.contains("[-R|--repo <URL>]"), "rendered synopsis:\n{syn}");
    let exit = text.split("EXIT STATUS").nth(1).expect("rendered EXIT STATUS");
    let exit = exit.split("VERSION").next().unwrap_or(exit);
    // Each code on its own line, its meaning indented below it, no line wrapped into the code column.
    let codes: Vec<&str> =
        exit.lines().filter_map(|l| l.split_whitespace().next()).filter(|w| w.parse::<u8>().is_ok()).collect();
    assert_eq!(
        codes,
        ["0", "1", "2", "3", "10", "11", "12", "13", "14", "15", "16", "17"],
        "rendered exit codes:\n{exit}"
    );
    assert!(exit.contains("access denied by the backend"), "{exit}");
    // Every meaning starts in the same column, after its code.
    let columns: std::collections::BTreeSet<usize> = exit
        .lines()
        .filter(|l| l.split_whitespace().next().is_some_and(|w| w.parse::<u8>().is_ok()))
        .map(|l| {
            let code_end = l.find(|c: char| c.is_ascii_digit()).unwrap() + l.trim_start().find(' ').unwrap();
            code_end + l[code_end..].find(|c: char| c != ' ').unwrap()
        })
        .collect();
    assert_eq!(columns.len(), 1, "meanings aligned in one column:\n{exit}");
}

/// One documented command output in docs/json.md.
struct JsonDoc {
    /// `## ...` heading text without backticks (`infini ls`, `error`).
    label: String,
    /// Field path -> optional.
    fields: std::collections::BTreeMap<String, bool>,
}

fn parse_json_md() -> Vec<JsonDoc> {
    let text = String::from_utf8(read(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))).unwrap();
    let mut docs: Vec<JsonDoc> = Vec::new();
    let mut is_json = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            docs.push(JsonDoc { label: h.replace('`', ""), fields: Default::default() });
            is_json = false;
        } else if let Some(o) = line.strip_prefix("Output: ") {
            is_json = o.starts_with("object") || o.starts_with("array");
        } else if let (Some(d), true, Some(row)) = (docs.last_mut(), is_json, line.strip_prefix("| `")) {
            let (path, rest) = row.split_once('`').expect("a `path` cell");
            d.fields.insert(path.to_string(), rest.contains("optional"));
        }
    }
    docs.retain(|d| !d.fields.is_empty());
    docs
}

/// Every field path of a JSON value (`a.b`, `list[].x`), and the paths of arrays that are empty (`list[]`).
fn json_paths(
    v: &serde_json::Value,
    prefix: &str,
    out: &mut std::collections::BTreeSet<String>,
    empty: &mut Vec<String>,
) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                out.insert(p.clone());
                json_paths(x, &p, out, empty);
            }
        }
        serde_json::Value::Array(a) => {
            let p = format!("{prefix}[]");
            if a.is_empty() {
                empty.push(p.clone());
            }
            for x in a {
                if x.is_object() {
                    json_paths(x, &p, out, empty);
                }
            }
        }
        _ => {}
    }
}

#[test]
fn every_commands_json_matches_docs_json_md() {
    let docs = parse_json_md();
    let mut env = Env::new();
    // `copy`'s target has a password of its own (here the same).
    env.set("INFINI_TO_PASSWORD", PASSWORD);
    let f = env.path("f.txt");
    write(&f, b"from a file");
    let tree = env.path("tree");
    write(tree.join("x/1"), b"one");
    let ws2 = env.path("ws2");
    let out_file = env.path("out.bin");
    let out_dir = env.path("out-dir");
    let ws = env.ws.to_str().unwrap().to_string();
    // (label in docs/json.md, arguments, stdin, workspace): run in order; every documented output is produced.
    let mut outputs: Vec<(String, serde_json::Value)> = Vec::new();
    let mut run = |label: &str, args: &[&str], stdin: Option<&[u8]>, dir: &Path| {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let mut cmd = env.cmd(&all).cwd(dir);
        if args[0] == "key" {
            cmd = cmd.env("INFINI_NEW_PASSWORD", "another password");
        }
        if let Some(b) = stdin {
            cmd = cmd.stdin(b);
        }
        let out = cmd.run();
        let v = if label == "error" {
            assert_ne!(out.code, 0, "{out}");
            out.stderr_json()
        } else if args == ["update"] {
            // An update that leaves conflicts prints its outcome, then exits 11.
            assert_eq!(out.code, 11, "{out}");
            out.json()
        } else {
            assert_eq!(out.code, 0, "{out}");
            out.json()
        };
        outputs.push((label.to_string(), v.clone()));
        v
    };
    let w = env.ws.clone();
    run("infini init", &["init"], None, &w);
    run("infini put", &["put", "a"], Some(b"base"), &w);
    run("infini put", &["put", "file", f.to_str().unwrap()], None, &w);
    run("infini put", &["put", "-r", tree.to_str().unwrap(), "t/"], None, &w);
    run("infini commit", &["commit", "-m", "base"], None, &w);
    run("infini clone", &["clone", &ws, ws2.to_str().unwrap()], None, &w);
    run("infini put", &["put", "a"], Some(b"mine"), &ws2);
    run("infini put", &["put", "a"], Some(b"theirs"), &w);
    run("infini commit", &["commit", "-m", "theirs"], None, &w);
    run("error", &["commit", "-m", "conflict"], None, &ws2);
    run("infini update", &["update"], None, &ws2);
    run("infini status", &["status"], None, &ws2);
    run("infini reset", &["reset", "a"], None, &ws2);
    run("infini get -o FILE", &["get", "a", "-o", out_file.to_str().unwrap()], None, &w);
    run("infini get -r PREFIX DIR", &["get", "-r", "t/", out_dir.to_str().unwrap()], None, &w);
    run("infini cp", &["cp", "a", "b"], None, &w);
    run("infini mv", &["mv", "b", "c"], None, &w);
    run("infini rm", &["rm", "c"], None, &w);
    run("infini put", &["put", "d"], Some(b"d"), &w);
    run("infini status", &["status"], None, &w);
    run("infini diff", &["diff"], None, &w);
    run("infini ls", &["ls"], None, &w);
    run("infini find", &["find", "*"], None, &w);
    run("infini commit", &["commit", "-m", "more"], None, &w);
    run("infini log", &["log"], None, &w);
    run("infini forget", &["forget", "--keep-last", "1", "--dry-run"], None, &w);
    run("infini forget --set-policy", &["forget", "--set-policy", "--keep-last", "100"], None, &w);
    run("infini rewrite", &["rewrite", "--remove", "d", "--dry-run"], None, &w);
    run("infini show", &["show"], None, &w);
    run("infini fork", &["fork", "side"], None, &w);
    run("infini checkout", &["checkout", "main"], None, &w);
    run("infini branch", &["branch"], None, &w);
    run("infini tag NAME", &["tag", "v1"], None, &w);
    run("infini tag", &["tag"], None, &w);
    run("infini merge", &["merge", "side"], None, &w);
    run("infini tag -d NAME", &["tag", "-d", "v1"], None, &w);
    run("infini tag --accept-rollback NAME", &["tag", "--accept-rollback", "v1"], None, &w);
    run("infini branch -d NAME", &["branch", "-D", "side"], None, &w);
    run("infini branch --accept-rollback NAME", &["branch", "--accept-rollback", "main"], None, &w);
    // Roll main back one commit (its old ref replayed as a newer generation), then restore it.
    let refs = w.join(".infini/repo/refs");
    let newest = |dir: &Path| -> (u64, Vec<u8>) {
        let g = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.unwrap().file_name().to_str().and_then(|s| s.parse::<u64>().ok()))
            .max()
            .unwrap();
        (g, read(dir.join(format!("{g:020}"))))
    };
    let before: Vec<_> =
        std::fs::read_dir(&refs).unwrap().map(|e| e.unwrap().path()).map(|d| (newest(&d), d)).collect();
    env.cmd(["put", "e"]).stdin(b"e").cwd(&w).ok();
    env.cmd(["commit", "-m", "to be rolled back"]).cwd(&w).ok();
    // main's ref moved once (the commit); the gc ref twice (the commit's claim and its release).
    let ((g, old), dir) = before.into_iter().find(|((g, _), d)| newest(d).0 == *g + 1).expect("main's ref moved");
    write(dir.join(format!("{:020}", g + 2)), &old);
    run("infini branch --restore NAME", &["branch", "--restore", "main"], None, &w);
    run("infini check", &["check"], None, &w);
    run("infini gc", &["gc", "--grace", "0s", "--min-age", "0s"], None, &w);
    run("infini stats", &["stats"], None, &w);
    let added = run("infini key add", &["key", "add"], None, &w)["added"].as_str().unwrap().to_string();
    run("infini key list", &["key", "list"], None, &w);
    run("infini key rm", &["key", "rm", &added], None, &w);
    run("infini key passwd", &["key", "passwd"], None, &w);
    run("error", &["get", "no-such-key"], None, &w);
    let copied = env.path("copied");
    run("infini init", &["init", copied.to_str().unwrap()], None, &w);
    run("infini copy", &["copy", "--all", "--to", copied.to_str().unwrap()], None, &w);
    run("infini lock", &["lock"], None, &w);
    env.set("INFINI_PASSWORD", "another password");
    env_unlock(&env, &w, &mut outputs);

    let mut problems = Vec::new();
    for d in &docs {
        if !outputs.iter().any(|(l, _)| *l == d.label) {
            problems.push(format!("docs/json.md documents `{}` but this test never runs it", d.label));
        }
    }
    for c in COMMANDS.iter().filter(|c| !["completions", "key"].contains(c)) {
        if !docs.iter().any(|d| d.label == format!("infini {c}") || d.label.starts_with(&format!("infini {c} "))) {
            problems.push(format!("docs/json.md has no section for `infini {c}`"));
        }
    }
    for (label, v) in &outputs {
        let Some(d) = docs.iter().find(|d| d.label == *label) else {
            problems.push(format!("`{label}` produced JSON that docs/json.md does not document: {v}"));
            continue;
        };
        let mut actual = std::collections::BTreeSet::new();
        let mut empty = Vec::new();
        json_paths(v, "", &mut actual, &mut empty);
        for p in &actual {
            if !d.fields.contains_key(p) {
                problems.push(format!("`{label}` emits `{p}`, not in docs/json.md: {v}"));
            }
        }
        for (p, optional) in &d.fields {
            let excused = *optional || empty.iter().any(|e| p.starts_with(e.as_str()));
            if !excused && !actual.contains(p) {
                problems.push(format!("`{label}` lacks documented field `{p}`: {v}"));
            }
        }
    }
    assert!(problems.is_empty(), "--json output and docs/json.md disagree:\n  {}", problems.join("\n  "));
}

fn env_unlock(env: &Env, dir: &Path, outputs: &mut Vec<(String, serde_json::Value)>) {
    let out = env.cmd(["--json", "unlock"]).cwd(dir).ok();
    outputs.push(("infini unlock".into(), out.json()));
}
