//! What `put -r` leaves out: patterns, exclude files, ignore files, cache directories, a size limit; and a dry run
//! that lists what would be staged without reading or storing anything.

use crate::util::{write, Env};

/// A tree with build products, logs, a VCS directory, a cache directory and a large file among the sources.
fn project(env: &Env) -> std::path::PathBuf {
    let p = env.path("proj");
    for (f, data) in [
        ("main.c", &b"int main;"[..]),
        ("main.o", b"obj"),
        ("lib/util.c", b"util"),
        ("lib/util.o", b"obj"),
        ("lib/keep.o", b"kept object"),
        ("build/out.bin", b"built"),
        ("lib/build/x.c", b"not the root build"),
        ("logs/today.log", b"log"),
        ("notes.log", b"notes"),
        ("docs/important.log", b"important"),
        ("node_modules/pkg/index.js", b"js"),
        (".git/HEAD", b"ref: refs/heads/main"),
        ("cache/CACHEDIR.TAG", b"Signature: 8a477f597d28d172789f06886806bc55\n# a cache"),
        ("cache/blob", b"cached"),
        ("notcache/CACHEDIR.TAG", b"not the signature"),
        ("notcache/blob", b"kept"),
        ("big.iso", &[7u8; 5000][..]),
    ] {
        write(p.join(f), data);
    }
    p
}

fn keys(env: &Env) -> Vec<String> {
    env.ok(["ls"]).lines()
}

#[test]
fn exclude_patterns_have_gitignore_meaning_relative_to_the_tree() {
    let env = Env::init();
    let p = project(&env);
    let ps = p.to_str().unwrap();
    env.ok([
        "put",
        "-r",
        ps,
        "p/",
        "--exclude",
        "*.o",
        "--exclude",
        "!keep.o",
        "--exclude",
        "/build",
        "--exclude",
        "logs/",
    ]);
    let k = keys(&env);
    assert!(k.contains(&"p/main.c".to_string()) && k.contains(&"p/lib/util.c".to_string()), "{k:?}");
    assert!(!k.iter().any(|k| k == "p/main.o" || k == "p/lib/util.o"), "*.o anywhere: {k:?}");
    assert!(k.contains(&"p/lib/keep.o".to_string()), "!keep.o takes it back: {k:?}");
    assert!(!k.contains(&"p/build/out.bin".to_string()), "/build at the root: {k:?}");
    assert!(k.contains(&"p/lib/build/x.c".to_string()), "/build only at the root: {k:?}");
    assert!(!k.iter().any(|k| k.starts_with("p/logs/")), "logs/: {k:?}");
    assert!(k.contains(&"p/notes.log".to_string()));

    // The same patterns from a file. With --delete, a key whose path is now left out stays (the walk does not
    // judge what it was told to leave alone); a file gone from the tree is removed.
    let list = env.path("excludes.txt");
    write(&list, b"# build products\n*.o\n\n/build\nlogs/\n*.iso\n");
    std::fs::remove_file(p.join("notes.log")).unwrap();
    let out = env.ok(["--json", "put", "-r", ps, "p/", "--delete", "--exclude-file", list.to_str().unwrap()]).json();
    let removed: Vec<&str> =
        out.as_array().unwrap().iter().filter(|e| e["removed"] == true).map(|e| e["key"].as_str().unwrap()).collect();
    assert_eq!(removed, ["p/notes.log"], "only the file gone from the tree");
    let k = keys(&env);
    assert!(k.contains(&"p/big.iso".to_string()) && k.contains(&"p/lib/keep.o".to_string()), "left out, kept: {k:?}");
    assert!(k.contains(&"p/main.c".to_string()) && !k.contains(&"p/notes.log".to_string()), "{k:?}");
    // A pattern gitignore cannot parse, or an exclude file that cannot be read: a usage error, nothing staged.
    let before = env.ok(["status", "-s"]).stdout;
    let out = env.fails_with(2, ["put", "-r", ps, "q/", "--exclude", "[z-a]"]);
    assert!(out.stderr.contains("--exclude \"[z-a]\""), "names the pattern: {out}");
    env.fails_with(2, ["put", "-r", ps, "q/", "--exclude-file", "/nonexistent/list"]);
    assert_eq!(env.ok(["status", "-s"]).stdout, before);
}

#[test]
fn ignore_files_caches_and_size_limits_leave_out_what_they_name() {
    let env = Env::init();
    let p = project(&env);
    write(p.join(".gitignore"), b"node_modules/\n*.log\n");
    write(p.join("docs/.gitignore"), b"!important.log\n");
    let ps = p.to_str().unwrap();
    env.ok(["put", "-r", ps, "p/", "--git-ignore", "--exclude-caches", "--exclude-larger-than", "1K"]);
    let k = keys(&env);
    assert!(!k.iter().any(|k| k.starts_with("p/node_modules/")), "{k:?}");
    assert!(!k.iter().any(|k| k.starts_with("p/.git/")), ".git is left out: {k:?}");
    assert!(!k.contains(&"p/notes.log".to_string()) && !k.contains(&"p/logs/today.log".to_string()), "{k:?}");
    assert!(k.contains(&"p/docs/important.log".to_string()), "a deeper ignore file takes it back: {k:?}");
    assert!(k.contains(&"p/.gitignore".to_string()), "ignore files themselves are kept: {k:?}");
    assert!(!k.iter().any(|k| k.starts_with("p/cache/")), "a tagged cache directory: {k:?}");
    assert!(k.contains(&"p/notcache/blob".to_string()), "a tag without the signature is no cache: {k:?}");
    assert!(!k.contains(&"p/big.iso".to_string()), "larger than 1K: {k:?}");
    assert!(k.contains(&"p/main.o".to_string()), "nothing else left out: {k:?}");
    // .infiniignore files are read by default (--no-infiniignore: not); any other name with --ignore-file.
    write(p.join(".infiniignore"), b"*.o\n");
    write(p.join("lib/.myignore"), b"util.c\n");
    env.ok(["put", "-r", ps, "q/", "--ignore-file", ".myignore"]);
    let k = keys(&env);
    assert!(!k.iter().any(|k| k.starts_with("q/") && k.ends_with(".o")), "{k:?}");
    assert!(!k.contains(&"q/lib/util.c".to_string()), "{k:?}");
    assert!(k.contains(&"q/node_modules/pkg/index.js".to_string()), "no .gitignore without --git-ignore: {k:?}");
    env.ok(["put", "-r", ps, "r/", "--no-infiniignore"]);
    assert!(keys(&env).contains(&"r/main.o".to_string()));
}

#[test]
fn a_dry_run_lists_what_put_r_would_stage_and_stores_nothing() {
    let env = Env::init();
    let p = project(&env);
    let ps = p.to_str().unwrap();
    let repo = env.repo_dir();
    let before = crate::util::bytes_under(&repo);
    let out = env.ok(["put", "-r", ps, "p/", "--dry-run", "--exclude", "*.o", "--git-ignore"]);
    let listed: Vec<String> = out.lines();
    assert!(listed.contains(&"p/main.c\t9".to_string()), "KEY<TAB>SIZE: {listed:?}");
    assert!(!listed.iter().any(|l| l.contains(".o\t") || l.starts_with("p/.git/")), "{listed:?}");
    assert!(out.stderr.contains("nothing read or stored"), "{out}");
    assert!(env.ok(["status", "-s"]).stdout.is_empty(), "nothing staged");
    assert_eq!(crate::util::bytes_under(&repo), before, "nothing stored");
    // The real put stages exactly the keys the dry run listed.
    env.ok(["put", "-r", ps, "p/", "--exclude", "*.o", "--git-ignore"]);
    let staged: Vec<String> =
        env.ok(["status", "-s"]).lines().iter().map(|l| l.trim_start_matches("A\t").to_string()).collect();
    let dry: Vec<String> = listed.iter().map(|l| l.split('\t').next().unwrap().to_string()).collect();
    assert_eq!(staged, dry);
    // --json: an array of {key, size}.
    let v = env.ok(["--json", "put", "-r", ps, "p/", "-n"]).json();
    assert!(v.as_array().unwrap().iter().any(|e| e["key"] == "p/big.iso" && e["size"] == 5000), "{v}");
}

#[test]
fn get_r_writes_only_the_keys_include_and_exclude_select() {
    let env = Env::init();
    let p = project(&env);
    env.ok(["put", "-r", p.to_str().unwrap(), "p/"]);
    env.commit("tree");
    let files = |dir: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> =
            crate::util::files_under(dir).into_iter().map(|(f, _)| f.display().to_string()).collect();
        v.sort();
        v
    };
    let out = env.path("out");
    env.ok(["get", "-r", "p/", out.to_str().unwrap(), "--include", "lib/", "--include", "*.c", "--exclude", "*.o"]);
    assert_eq!(files(&out), ["lib/build/x.c", "lib/util.c", "main.c"]);
    // Exclude alone: everything else.
    let out2 = env.path("out2");
    env.ok([
        "get",
        "-r",
        "p/",
        out2.to_str().unwrap(),
        "--exclude",
        "/node_modules",
        "--exclude",
        ".git/",
        "--exclude",
        "cache*/",
    ]);
    let got = files(&out2);
    assert!(got.contains(&"main.o".to_string()) && got.contains(&"big.iso".to_string()), "{got:?}");
    assert!(
        !got.iter().any(|f| f.starts_with("node_modules/") || f.starts_with(".git/") || f.starts_with("cache")),
        "{got:?}"
    );
    // The same selection for a tar stream.
    let tar = env.ok(["get", "-r", "--tar", "p/", "--include", "*.log"]).stdout;
    let listing = std::process::Command::new("tar")
        .arg("-t")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(&tar)?;
            c.wait_with_output()
        });
    let names = String::from_utf8(listing.unwrap().stdout).unwrap();
    let members: Vec<&str> = names.lines().filter(|l| !l.ends_with('/')).collect();
    assert_eq!(members, ["docs/important.log", "logs/today.log", "notes.log"]);
    // Nothing selected: not found, nothing written.
    let none = env.path("none");
    env.fails_with(3, ["get", "-r", "p/", none.to_str().unwrap(), "--include", "*.nothing"]);
    assert!(!none.exists());
    env.fails_with(3, ["get", "-r", "--tar", "p/", "--include", "*.nothing"]);
}

#[test]
fn a_real_looking_project_stages_exactly_its_sources_under_git_ignore_and_exclude_caches() {
    let env = Env::init();
    let p = env.path("app");
    for (f, data) in [
        ("Cargo.toml", &b"[package]"[..]),
        ("Cargo.lock", b"# lock"),
        (".gitignore", b"/target\nnode_modules/\n*.swp\n.env\n"),
        ("src/main.rs", b"fn main() {}"),
        ("src/.main.rs.swp", b"swap"),
        ("src/web/app.js", b"app"),
        ("src/web/.gitignore", b"dist/\n"),
        ("src/web/dist/bundle.js", b"bundle"),
        ("src/web/node_modules/left-pad/index.js", b"pad"),
        ("target/CACHEDIR.TAG", b"Signature: 8a477f597d28d172789f06886806bc55\n"),
        ("target/debug/app", b"binary"),
        ("tools/target/keep.txt", b"not the root target"),
        (".cache/CACHEDIR.TAG", b"Signature: 8a477f597d28d172789f06886806bc55\n"),
        (".cache/blob", b"blob"),
        (".git/config", b"[core]"),
        (".git/objects/ab/cdef", b"object"),
        (".env", b"SECRET=1"),
        ("README.md", b"# app"),
    ] {
        write(p.join(f), data);
    }
    env.ok(["put", "-r", p.to_str().unwrap(), "app/", "--git-ignore", "--exclude-caches"]);
    assert_eq!(
        keys(&env),
        [
            "app/.gitignore",
            "app/Cargo.lock",
            "app/Cargo.toml",
            "app/README.md",
            "app/src/main.rs",
            "app/src/web/.gitignore",
            "app/src/web/app.js",
            "app/tools/target/keep.txt",
        ]
    );
}
