//! Directory trees: `put -r` / `get -r` keep symbolic links, permission bits and mtimes; prefixes name
//! directories; `--delete` mirrors a tree; metadata-only changes are their own kind; keys are validated; unchanged
//! files are not re-read, but a rewrite that keeps size and mtime is seen.

use crate::util::*;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn set_mtime(path: &Path, t: SystemTime) {
    let f = fs::File::options().write(true).open(path).unwrap();
    f.set_times(fs::FileTimes::new().set_modified(t)).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo").arg(path).status().expect("running mkfifo");
    assert!(st.success(), "mkfifo {}", path.display());
}

/// Lines of `status` without the branch line (the staged changes: `X<TAB>key`).
fn staged(env: &Env) -> Vec<String> {
    env.ok(["status", "--short"]).lines()
}

#[test]
fn put_r_keeps_symlinks_modes_and_mtimes_and_skips_special_files() {
    let env = Env::init();
    let src = env.path("tree");
    write(src.join("bin/tool"), b"#!/bin/sh\necho hi\n");
    chmod(&src.join("bin/tool"), 0o755);
    write(src.join("doc/readme"), b"read me\n");
    chmod(&src.join("doc/readme"), 0o640);
    let when = UNIX_EPOCH + Duration::new(1_500_000_000, 123_456_789);
    set_mtime(&src.join("doc/readme"), when);
    std::os::unix::fs::symlink("../doc/readme", src.join("bin/readme-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.join("doc/outside")).unwrap();
    std::os::unix::fs::symlink("missing", src.join("doc/dangling")).unwrap();
    fs::create_dir_all(src.join("only-links")).unwrap();
    std::os::unix::fs::symlink("../doc", src.join("only-links/d")).unwrap();
    mkfifo(&src.join("doc/pipe"));
    mkfifo(&src.join("zz-pipe"));

    let out = env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    let skipped: Vec<_> = out.stderr.lines().filter(|l| l.contains("special")).collect();
    assert_eq!(skipped.len(), 1, "one summary line for the special files:\n{out}");
    assert!(skipped[0].contains("skipped 2 ") && skipped[0].contains("doc/pipe"), "count and first path:\n{out}");
    assert_eq!(
        env.ok(["ls", "t"]).lines(),
        ["t/bin/readme-link", "t/bin/tool", "t/doc/dangling", "t/doc/outside", "t/doc/readme", "t/only-links/d"],
        "links are stored, special files are not"
    );
    let long = env.ok(["ls", "-l", "t"]).text();
    let line = |k: &str| long.lines().find(|l| l.contains(k)).unwrap_or_else(|| panic!("{k} in ls -l:\n{long}"));
    assert!(line("t/bin/tool").starts_with("-rwxr-xr-x"), "ls -l shows the mode:\n{long}");
    assert!(line("t/doc/readme").starts_with("-rw-r-----"), "ls -l shows the mode:\n{long}");
    assert!(line("t/doc/outside").starts_with("lrwxrwxrwx"), "ls -l shows links:\n{long}");
    assert!(line("t/doc/outside").ends_with("t/doc/outside -> /etc/passwd"), "and their target:\n{long}");
    let json = env.ok(["ls", "--json", "t/bin"]).json();
    assert_eq!(json[1]["mode"], "0755", "{json}");
    assert_eq!(json[0]["kind"], "symlink", "{json}");
    env.commit("tree");

    let dst = env.path("out");
    env.ok(["get", "-r", "t", dst.to_str().unwrap()]);
    assert_eq!(read(dst.join("bin/tool")), b"#!/bin/sh\necho hi\n");
    assert_eq!(fs::metadata(dst.join("bin/tool")).unwrap().mode() & 0o7777, 0o755, "mode restored");
    let m = fs::metadata(dst.join("doc/readme")).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o640, "mode restored");
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_500_000_000, 123_456_789), "mtime restored to the nanosecond");
    for (link, target) in [
        ("bin/readme-link", "../doc/readme"),
        ("doc/outside", "/etc/passwd"),
        ("doc/dangling", "missing"),
        ("only-links/d", "../doc"),
    ] {
        let p = dst.join(link);
        assert!(fs::symlink_metadata(&p).unwrap().file_type().is_symlink(), "{link} restored as a link");
        assert_eq!(fs::read_link(&p).unwrap(), Path::new(target), "{link} keeps its target");
    }
    assert!(!dst.join("doc/pipe").exists(), "special files are not invented");

    // Again into the same directory: links and files are replaced (when asked), never written through.
    env.fails_with(11, ["get", "-r", "t/", dst.to_str().unwrap()]);
    env.ok(["get", "-r", "t/", dst.to_str().unwrap(), "--overwrite"]);
    assert_eq!(fs::read_link(dst.join("doc/outside")).unwrap(), Path::new("/etc/passwd"));
}

#[test]
fn get_r_never_writes_through_a_symlink() {
    let env = Env::init();
    let outside = env.path("outside");
    fs::create_dir_all(&outside).unwrap();
    write(outside.join("victim"), b"untouched");
    let src = env.path("tree");
    fs::create_dir_all(&src).unwrap();
    std::os::unix::fs::symlink(&outside, src.join("x")).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    // A key below the link's name: restoring it would write through the link.
    env.put("t/x/victim", b"overwritten");
    env.put("t/x/new", b"planted");
    let dst = env.path("out");
    let out = env.run(["get", "-r", "t", dst.to_str().unwrap()]);
    assert_ne!(out.code, 0, "a key below a restored link is refused:\n{out}");
    assert!(out.stderr.contains("symbolic link"), "the error names the link:\n{out}");
    assert_eq!(read(outside.join("victim")), b"untouched", "nothing written through the link");
    assert!(!outside.join("new").exists(), "nothing created through the link");

    // A link already in the target directory is not followed either: the file replaces the link.
    env.ok(["reset"]);
    env.put("u/victim", b"new content");
    let dst2 = env.path("out2");
    fs::create_dir_all(&dst2).unwrap();
    std::os::unix::fs::symlink(outside.join("victim"), dst2.join("victim")).unwrap();
    env.ok(["get", "-r", "u", dst2.to_str().unwrap(), "--overwrite"]);
    assert_eq!(read(outside.join("victim")), b"untouched", "the link's target is not written");
    assert!(!fs::symlink_metadata(dst2.join("victim")).unwrap().file_type().is_symlink());
    assert_eq!(read(dst2.join("victim")), b"new content");
    // A directory on the way that is a link is refused.
    env.put("v/sub/f", b"x");
    let dst3 = env.path("out3");
    fs::create_dir_all(&dst3).unwrap();
    std::os::unix::fs::symlink(&outside, dst3.join("sub")).unwrap();
    let out = env.run(["get", "-r", "v", dst3.to_str().unwrap()]);
    assert_ne!(out.code, 0, "{out}");
    assert!(!outside.join("f").exists(), "nothing created through a linked directory");
}

#[test]
fn a_prefix_names_a_directory_with_or_without_slash() {
    let env = Env::init();
    let site = env.path("site");
    write(site.join("css/m.css"), b"body{}");
    write(site.join("index.html"), b"<p>");
    env.ok(["put", "-r", site.to_str().unwrap(), "web"]);
    assert_eq!(env.ok(["ls"]).lines(), ["web/css/m.css", "web/index.html"], "`web` stores web/...");
    env.ok(["put", "-r", site.to_str().unwrap(), "web2/"]);
    assert_eq!(env.ok(["ls", "web2"]).lines(), ["web2/css/m.css", "web2/index.html"]);
    env.commit("site");
    for prefix in ["web", "web/", "web//"] {
        let dst = env.path(format!("out-{}", prefix.len()));
        env.ok(["get", "-r", prefix, dst.to_str().unwrap()]);
        assert_eq!(read(dst.join("css/m.css")), b"body{}", "get -r {prefix}");
        assert_eq!(read(dst.join("index.html")), b"<p>", "get -r {prefix}");
    }
    // `web` does not match `web2/...` as a directory.
    let dst = env.path("only-web");
    env.ok(["get", "-r", "web", dst.to_str().unwrap()]);
    assert!(!dst.join("2").exists() && files_under(&dst).len() == 2, "{:?}", files_under(&dst));
}

#[test]
fn put_r_delete_mirrors_the_tree() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("keep"), b"k");
    write(src.join("gone"), b"g");
    write(src.join("sub/gone-too"), b"g2");
    env.ok(["put", "-r", src.to_str().unwrap(), "web"]);
    env.put("webby/other", b"not under web/");
    env.put("other", b"o");
    env.commit("one");
    fs::remove_file(src.join("gone")).unwrap();
    fs::remove_dir_all(src.join("sub")).unwrap();
    write(src.join("added"), b"a");
    // Without --delete nothing is removed.
    env.ok(["put", "-r", src.to_str().unwrap(), "web"]);
    assert_eq!(staged(&env), ["A\tweb/added"]);
    env.ok(["put", "-r", "--delete", src.to_str().unwrap(), "web"]);
    assert_eq!(staged(&env), ["A\tweb/added", "D\tweb/gone", "D\tweb/sub/gone-too"]);
    env.commit("mirror");
    assert_eq!(env.ok(["ls"]).lines(), ["other", "web/added", "web/keep", "webby/other"]);
    // --delete only makes sense with -r.
    env.fails_with(2, ["put", "--delete", "k", "f"]);
}

#[test]
fn metadata_only_changes_are_t_not_m() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("a"), b"same bytes");
    write(src.join("b"), b"bytes");
    env.ok(["put", "-r", src.to_str().unwrap(), "d"]);
    let first = env.commit("one");
    // Re-putting an unchanged tree stages nothing.
    env.ok(["put", "-r", src.to_str().unwrap(), "d"]);
    assert!(staged(&env).is_empty(), "an unchanged tree stages nothing: {:?}", staged(&env));
    // Touch a (mtime only), chmod b's mode... and change c's bytes.
    set_mtime(&src.join("a"), UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    chmod(&src.join("b"), 0o600);
    write(src.join("c"), b"new");
    env.ok(["put", "-r", src.to_str().unwrap(), "d"]);
    assert_eq!(staged(&env), ["T\td/a", "T\td/b", "A\td/c"], "metadata-only changes are T");
    let st = env.ok(["status", "--json"]).json();
    assert_eq!(st["staged"][0]["change"], "metadata", "{st}");
    let d = env.ok(["diff", "--json"]).json();
    assert_eq!(d[0]["change"], "metadata", "{d}");
    assert_eq!(d[2]["change"], "added", "{d}");
    let second = env.commit("two");
    let show = env.ok(["show", &second]).text();
    assert!(show.contains("T\td/a") && show.contains("T\td/b"), "show:\n{show}");
    let diff = env.ok(["diff", &first, &second]).lines();
    assert_eq!(diff, ["T\td/a", "T\td/b", "A\td/c"]);
    // A change of bytes is M, whatever the metadata.
    write(src.join("a"), b"other bytes");
    env.ok(["put", "-r", src.to_str().unwrap(), "d"]);
    assert_eq!(staged(&env), ["M\td/a"]);
}

#[test]
fn keys_are_validated_when_they_enter() {
    let env = Env::init();
    env.put("ok", b"v");
    for bad in ["../x", "/abs/key", "a//b", "a/./b", "a/..", ".", "dir/", ""] {
        let out = env.cmd(["put", bad]).stdin(b"x").fails_with(2);
        assert!(out.stderr.contains("segments") || out.stderr.contains("1-4096"), "the rule is named:\n{out}");
        let out = env.fails_with(2, ["cp", "ok", bad]);
        assert!(out.stderr.contains("invalid key"), "{out}");
        env.fails_with(2, ["mv", "ok", bad]);
    }
    let src = env.path("src");
    write(src.join("f"), b"f");
    env.fails_with(2, ["put", "-r", src.to_str().unwrap(), "../up"]);
    env.fails_with(2, ["put", "-r", src.to_str().unwrap(), "/abs"]);
    assert_eq!(env.ok(["ls"]).lines(), ["ok"], "nothing invalid was staged");
}

#[test]
fn reput_skips_unchanged_files_by_stat_but_sees_a_rewrite_that_keeps_size_and_mtime() {
    let env = Env::init();
    let src = env.path("src");
    let old = UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for name in ["a", "b", "c"] {
        write(src.join(name), format!("content {name} {}", "x".repeat(5000)).as_bytes());
        set_mtime(&src.join(name), old);
    }
    // Files changed in the last 2 s are never trusted by stat alone: let their ctime age.
    std::thread::sleep(Duration::from_millis(2200));
    env.ok(["put", "-r", src.to_str().unwrap(), "s"]);
    env.commit("one");
    let out = env.ok(["put", "-r", src.to_str().unwrap(), "s"]);
    assert!(out.stderr.contains("3 unchanged, 3 files not read"), "unchanged files are not read again:\n{out}");
    assert!(staged(&env).is_empty());

    // Same size, same mtime, different bytes: only ctime tells.
    let a = src.join("a");
    let before = fs::metadata(&a).unwrap();
    let mut bytes = read(&a);
    bytes[0] ^= 0x20;
    write(&a, &bytes);
    set_mtime(&a, old);
    let after = fs::metadata(&a).unwrap();
    assert_eq!((before.len(), before.mtime(), before.mtime_nsec()), (after.len(), after.mtime(), after.mtime_nsec()));
    let out = env.ok(["put", "-r", src.to_str().unwrap(), "s"]);
    assert!(out.stderr.contains("2 files not read"), "the rewritten file is read:\n{out}");
    assert_eq!(staged(&env), ["M\ts/a"], "the change is seen");
    assert_eq!(env.get("s/a"), bytes);
}

#[test]
fn a_repository_of_another_format_version_is_refused_naming_both() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    let config = env.repo_dir().join("config");
    let mut b = read(&config);
    let at = b.windows(8).position(|w| w == b"version\x0b").expect("the header holds version 11") + 7;
    b[at] = 2;
    write(&config, &b);
    let out = env.fails_with(10, ["get", "k"]);
    assert!(out.stderr.contains("version 2") && out.stderr.contains("version 11"), "both versions named:\n{out}");
}

#[test]
fn put_r_of_the_workspace_leaves_its_own_directory_out() {
    let env = Env::init();
    write(env.ws.join("notes.txt"), b"n");
    write(env.ws.join("sub/a"), b"a");
    env.ok(["put", "-r", ".", "all"]);
    assert_eq!(env.ok(["ls"]).lines(), ["all/notes.txt", "all/sub/a"], "no .infini/ keys (key, caches, repository)");
}

/// Set a directory's (or file's) mtime, seconds and nanoseconds.
fn set_dir_mtime(path: &Path, secs: i64, nsec: u32) {
    filetime::set_file_mtime(path, filetime::FileTime::from_unix_time(secs, nsec)).unwrap();
}

/// A path's mtime, seconds and nanoseconds.
fn mtime_of(path: &Path) -> (i64, i64) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mtime(), m.mtime_nsec())
}

/// A tree with an empty directory, a nested empty one, files, and directories of known mtimes.
fn tree_with_empty_dirs(src: &Path) {
    write(src.join("a/file"), b"f");
    write(src.join("top"), b"t");
    fs::create_dir_all(src.join("a/empty")).unwrap();
    fs::create_dir_all(src.join("nested/deeper/deepest")).unwrap();
    chmod(&src.join("a/empty"), 0o700);
    // Deepest first: setting a child's time does not touch its parent's, but creating it did.
    set_dir_mtime(&src.join("nested/deeper/deepest"), 1_400_000_000, 0);
    set_dir_mtime(&src.join("nested/deeper"), 1_300_000_000, 5);
    set_dir_mtime(&src.join("nested"), 1_200_000_000, 0);
    set_dir_mtime(&src.join("a/empty"), 1_100_000_000, 123_456_789);
    set_dir_mtime(&src.join("a"), 1_000_000_000, 0);
}

fn assert_restored_dirs(out: &Path) {
    assert_eq!(read(out.join("a/file")), b"f");
    assert!(out.join("a/empty").is_dir(), "the empty directory is restored");
    assert!(out.join("nested/deeper/deepest").is_dir(), "the nested empty directory is restored");
    assert_eq!(fs::read_dir(out.join("nested/deeper/deepest")).unwrap().count(), 0);
    assert_eq!(mtime_of(&out.join("nested/deeper/deepest")), (1_400_000_000, 0));
    assert_eq!(mtime_of(&out.join("nested/deeper")), (1_300_000_000, 5), "set after its child was created");
    assert_eq!(mtime_of(&out.join("nested")), (1_200_000_000, 0));
    assert_eq!(mtime_of(&out.join("a/empty")), (1_100_000_000, 123_456_789));
    assert_eq!(mtime_of(&out.join("a")), (1_000_000_000, 0), "set after its file was written");
    assert_eq!(fs::metadata(out.join("a/empty")).unwrap().mode() & 0o7777, 0o700, "a directory's mode is kept");
}

#[test]
fn empty_directories_and_directory_mtimes_round_trip_through_put_r_and_get_r() {
    let env = Env::init();
    let src = env.path("src");
    tree_with_empty_dirs(&src);
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("tree");
    let out = env.path("out");
    let o = env.ok(["get", "-r", "t", out.to_str().unwrap()]);
    assert_restored_dirs(&out);
    assert!(o.stderr.contains("wrote 2 files and 6 directories"), "{o}");
    // A restore of a subdirectory that holds only an empty one.
    let out2 = env.path("out2");
    env.ok(["get", "-r", "t/nested", out2.to_str().unwrap()]);
    assert!(out2.join("deeper/deepest").is_dir());
    assert_eq!(mtime_of(&out2.join("deeper")), (1_300_000_000, 5));
    assert_eq!(mtime_of(&out2), (1_200_000_000, 0), "a directory the restore creates takes the prefix's time");
    // An empty directory alone is a tree too.
    let out3 = env.path("out3");
    env.ok(["get", "-r", "t/a/empty", out3.to_str().unwrap()]);
    assert!(out3.is_dir());
    assert_eq!(mtime_of(&out3), (1_100_000_000, 123_456_789));
}

#[test]
fn empty_directories_and_directory_mtimes_round_trip_through_tar() {
    let env = Env::init();
    let src = env.path("src");
    tree_with_empty_dirs(&src);
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("tree");
    let archive = env.path("t.tar");
    env.ok(["get", "-r", "--tar", "t", "-o", archive.to_str().unwrap()]);
    // Another tar reads the empty directories and their times.
    let x = env.path("x");
    fs::create_dir_all(&x).unwrap();
    let st = std::process::Command::new("tar").arg("-xf").arg(&archive).current_dir(&x).status().unwrap();
    assert!(st.success());
    assert_restored_dirs(&x);
    // And back in: put --tar stores the directories, get -r restores them.
    env.ok(["put", "--tar", "u", archive.to_str().unwrap()]);
    env.commit("from tar");
    let out = env.path("out");
    env.ok(["get", "-r", "u", out.to_str().unwrap()]);
    assert_restored_dirs(&out);
}

#[test]
fn put_r_delete_after_removing_a_directory_removes_its_entry() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("keep"), b"k");
    fs::create_dir_all(src.join("gone/inner")).unwrap();
    fs::create_dir_all(src.join("stays-empty")).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "w"]);
    env.commit("one");
    fs::remove_dir_all(src.join("gone")).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "w"]);
    assert!(staged(&env).is_empty(), "without --delete nothing is removed: {:?}", staged(&env));
    env.ok(["put", "-r", "--delete", src.to_str().unwrap(), "w"]);
    // The removed directory holding a removed one is shown by it.
    assert_eq!(staged(&env), ["D\tw/gone/inner/"], "the removed directories' entries go");
    env.commit("mirror");
    let out = env.path("out");
    env.ok(["get", "-r", "w", out.to_str().unwrap()]);
    assert!(!out.join("gone").exists(), "a removed directory is not restored");
    assert!(out.join("stays-empty").is_dir());
}

#[test]
fn get_r_exclude_leaves_an_excluded_empty_directory_out() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("docs/a.txt"), b"a");
    fs::create_dir_all(src.join("cache/empty")).unwrap();
    fs::create_dir_all(src.join("logs")).unwrap();
    fs::create_dir_all(src.join("kept")).unwrap();
    set_dir_mtime(&src.join("docs"), 1_000_000_000, 0);
    env.ok(["put", "-r", src.to_str().unwrap(), "s"]);
    env.commit("one");
    let out = env.path("out");
    env.ok(["get", "-r", "--exclude", "cache", "--exclude", "logs/", "s", out.to_str().unwrap()]);
    assert!(!out.join("cache").exists(), "an excluded directory is not created");
    assert!(!out.join("logs").exists(), "a directory pattern leaves an empty directory out");
    assert!(out.join("kept").is_dir());
    // The same in an archive.
    let archive = env.path("s.tar");
    env.ok(["get", "-r", "--tar", "--exclude", "cache", "--exclude", "logs/", "s", "-o", archive.to_str().unwrap()]);
    let listed = std::process::Command::new("tar").arg("-tf").arg(&archive).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    assert!(listed.lines().any(|l| l == "kept/"), "the kept empty directory is a member:\n{listed}");
    assert!(!listed.contains("cache") && !listed.contains("logs"), "excluded directories are not:\n{listed}");
    // --include of files: their directory is dated, other empty directories are left out.
    let only = env.path("only");
    env.ok(["get", "-r", "--include", "*.txt", "s", only.to_str().unwrap()]);
    assert_eq!(read(only.join("docs/a.txt")), b"a");
    assert!(!only.join("kept").exists(), "an empty directory the patterns do not include is left out");
    assert_eq!(mtime_of(&only.join("docs")), (1_000_000_000, 0), "a directory holding an included file is dated");
}

#[test]
fn a_new_empty_directory_is_a_change_a_directory_time_alone_is_not_listed() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("d/f"), b"f");
    env.ok(["put", "-r", src.to_str().unwrap(), "p"]);
    // A directory holding files is shown by its files; the empty one by itself.
    fs::create_dir_all(src.join("new-empty")).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "p"]);
    assert_eq!(staged(&env), ["A\tp/d/f", "A\tp/new-empty/"]);
    let first = env.commit("one");
    assert_eq!(env.ok(["ls", "p"]).lines(), ["p/d/f", "p/new-empty/"], "ls shows an empty directory as dir/");
    assert_eq!(env.ok(["ls", "--dirs", "p"]).lines(), ["p/", "p/d/", "p/d/f", "p/new-empty/"]);
    let long = env.ok(["ls", "-l", "p/new-empty"]).text();
    assert!(long.starts_with("drwx"), "ls -l shows a directory's mode:\n{long}");
    // A directory whose time alone changed is staged (get -r restores it) but not listed as a change.
    set_dir_mtime(&src.join("d"), 1_000_000_000, 0);
    env.ok(["put", "-r", src.to_str().unwrap(), "p"]);
    assert!(staged(&env).is_empty(), "{:?}", staged(&env));
    let st = env.ok(["status"]).text();
    assert!(st.contains("1 directory time"), "status says what is staged:\n{st}");
    let second = env.commit("touch");
    assert!(env.ok(["diff", &first, &second]).lines().is_empty());
    assert!(env.ok(["log", "--oneline", "--", "p/d"]).lines().len() == 1, "log -- DIR is not moved by a time");
    // mv and cp move keys, not directory entries.
    let out = env.fails_with(2, ["mv", "p/new-empty/", "elsewhere"]);
    assert!(out.stderr.contains("directory entry"), "{out}");
    // Removing the empty directory is a change.
    fs::remove_dir(src.join("new-empty")).unwrap();
    env.ok(["put", "-r", "--delete", src.to_str().unwrap(), "p"]);
    assert_eq!(staged(&env), ["D\tp/new-empty/"]);
    let third = env.commit("rmdir");
    assert_eq!(env.ok(["log", "--oneline", "--", "p/new-empty"]).lines().len(), 2, "log -- DIR sees it come and go");
    assert_eq!(env.ok(["diff", &second, &third]).lines(), ["D\tp/new-empty/"]);
    // check accepts directory entries; find lists keys of values, not directories.
    env.ok(["check"]);
    let found = env.ok(["find", "p/**"]).text();
    assert!(found.contains("p/d/f") && !found.contains("p/d/\n"), "{found}");
    // rm -r takes a directory's entries along.
    env.ok(["rm", "-r", "p/d"]);
    assert_eq!(staged(&env), ["D\tp/d/f"]);
    env.commit("rm");
    assert_eq!(env.ok(["ls", "--dirs"]).lines(), ["p/"]);
}

#[test]
fn put_r_delete_keeps_the_entry_of_a_directory_the_patterns_leave_out() {
    let env = Env::init();
    let src = env.path("src");
    write(src.join("keep"), b"k");
    fs::create_dir_all(src.join("logs/empty")).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "w"]);
    env.commit("one");
    assert_eq!(env.ok(["ls", "--dirs", "w"]).lines(), ["w/", "w/keep", "w/logs/", "w/logs/empty/"]);
    // Left out by a directory pattern, the directory is not the walk's to judge: its entries stay.
    env.ok(["put", "-r", "--delete", "--exclude", "logs/", src.to_str().unwrap(), "w"]);
    assert!(staged(&env).is_empty(), "{:?}", staged(&env));
    let out = env.ok(["put", "-r", "--delete", "--exclude", "logs/", "--json", src.to_str().unwrap(), "w"]);
    assert!(!out.text().contains("removed"), "{out}");
}
