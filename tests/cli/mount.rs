//! `infini mount`: versions as a read-only file system, compared with what `get -r` writes.
//!
//! Where FUSE is not usable (no /dev/fuse, no fusermount, no permission), each test says so loudly on stderr and
//! returns without checking anything.

use crate::util::*;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this machine can mount FUSE file systems; prints a loud notice when it cannot.
fn fuse_usable() -> bool {
    let dev = std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse");
    let fusermount = ["fusermount3", "fusermount"]
        .iter()
        .any(|b| Command::new(b).arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok());
    if dev.is_ok() && fusermount {
        return true;
    }
    eprintln!(
        "\n!!!!!!!! SKIPPED: FUSE is not usable here (/dev/fuse: {}, fusermount: {}); this mount test checked nothing !!!!!!!!\n",
        match &dev {
            Ok(_) => "ok".to_string(),
            Err(e) => e.to_string(),
        },
        if fusermount { "found" } else { "missing" }
    );
    false
}

/// Whether `dir` is a mount point now.
fn is_mounted(dir: &Path) -> bool {
    let want = dir.to_str().expect("UTF-8 path");
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("reading /proc/self/mountinfo")
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(want))
}

fn fusermount() -> &'static str {
    if Command::new("fusermount3").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok() {
        "fusermount3"
    } else {
        "fusermount"
    }
}

/// A running `infini mount`.
struct Mount {
    child: Option<Child>,
    dir: PathBuf,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl Mount {
    /// Start `infini mount DIR ARGS...` and wait until DIR is mounted.
    fn start(env: &Env, dir: &Path, args: &[&str]) -> Mount {
        std::fs::create_dir_all(dir).expect("creating the mountpoint");
        let mut a = vec!["mount".to_string(), dir.display().to_string()];
        a.extend(args.iter().map(|s| s.to_string()));
        let mut cmd = env.cmd(&a).command();
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning infini mount");
        let mut se = child.stderr.take().expect("piped stderr");
        let stderr = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = se.read_to_string(&mut s);
            s
        });
        let mut m = Mount { child: Some(child), dir: dir.to_path_buf(), stderr: Some(stderr) };
        let start = Instant::now();
        while !is_mounted(dir) {
            if let Some(st) = m.child.as_mut().expect("child").try_wait().expect("waiting") {
                let err = m.stderr.take().expect("stderr").join().expect("stderr reader");
                m.child = None;
                panic!("infini mount {} exited with {st} before mounting:\n{err}", dir.display());
            }
            assert!(start.elapsed() < Duration::from_secs(60), "infini mount did not mount within 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        m
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Wait for the process to exit (after an unmount or a signal); returns its exit code and stderr.
    fn wait(mut self) -> (i32, String) {
        let mut child = self.child.take().expect("running");
        let start = Instant::now();
        let st = loop {
            if let Some(st) = child.try_wait().expect("waiting") {
                break st;
            }
            if start.elapsed() > Duration::from_secs(30) {
                let _ = child.kill();
                panic!("infini mount did not exit within 30 s of being unmounted");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let err = self.stderr.take().expect("stderr").join().expect("stderr reader");
        (st.code().unwrap_or(-1), err)
    }

    /// `fusermount -u`, then the process must exit 0 and the directory be unmounted.
    fn unmount(self) {
        let st = Command::new(fusermount()).arg("-u").arg(&self.dir).status().expect("running fusermount -u");
        assert!(st.success(), "fusermount -u {} failed", self.dir.display());
        let dir = self.dir.clone();
        let (code, err) = self.wait();
        assert_eq!(code, 0, "infini mount must exit 0 after fusermount -u; stderr:\n{err}");
        assert!(!is_mounted(&dir), "{} is still mounted", dir.display());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new(fusermount()).arg("-uz").arg(&self.dir).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A tree with nested directories, an empty file, binary data and a value of several chunks.
fn make_tree(dir: &Path) {
    write(dir.join("README"), b"top level\n");
    write(dir.join("empty"), b"");
    write(dir.join("docs/guide.txt"), b"a guide\n".repeat(100).as_slice());
    write(dir.join("docs/deep/er/still.txt"), b"deep\n");
    write(dir.join("bin/blob"), &random_bytes(7, 3_500_000));
    write(dir.join("bin/small.bin"), &random_bytes(8, 3000));
    write(dir.join("a-b"), b"sorts between a and a/\n");
    write(dir.join("a/x"), b"x\n");
}

fn get_r(env: &Env, rev: &str, out: &Path) {
    env.ok(["get", "-r", "", out.to_str().unwrap(), "--at", rev]);
}

#[test]
fn mount_shows_commits_and_branches_as_get_r_writes_them_and_follows_new_commits() {
    if !fuse_usable() {
        return;
    }
    let env = Env::init();
    let src = env.path("src");
    make_tree(&src);
    env.ok(["put", "-r", src.to_str().unwrap()]);
    let c1 = env.commit("first");
    // Change, add and remove.
    write(src.join("docs/guide.txt"), b"a changed guide\n");
    write(src.join("new/file"), b"new\n");
    std::fs::remove_file(src.join("README")).unwrap();
    env.ok(["rm", "README"]);
    env.ok(["put", "-r", src.to_str().unwrap()]);
    let c2 = env.commit("second");

    let mnt = env.path("mnt");
    let m = Mount::start(&env, &mnt, &[]);
    for (rev, path) in [(&c1, format!("commits/{c1}")), (&c2, format!("commits/{c2}")), (&c2, "branches/main".into())] {
        let want = env.path(format!("want-{}", &rev[..8]));
        if !want.exists() {
            get_r(&env, rev, &want);
        }
        assert_same_tree(&want, &mnt.join(&path), &path);
    }
    // Short ids are symlinks to the full id; HEAD names the branch.
    let short = &c1[..10];
    assert_eq!(std::fs::read_link(mnt.join("commits").join(short)).unwrap(), PathBuf::from(&c1));
    assert_eq!(read(mnt.join("commits").join(short).join("README")), b"top level\n", "a path through a short id");
    assert_eq!(std::fs::read_link(mnt.join("HEAD")).unwrap(), PathBuf::from("branches/main"));
    let mut names: Vec<String> = std::fs::read_dir(mnt.join("branches"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["main"]);
    assert!(!mnt.join("commits/0000000000").exists(), "an unknown id is not found");
    // Read-only.
    assert!(std::fs::write(mnt.join("branches/main/new/file"), b"x").is_err(), "writes must fail");

    // A new commit shows under branches/main without remounting.
    write(src.join("new/after-mount"), b"committed while mounted\n");
    env.ok(["put", "-r", src.to_str().unwrap()]);
    let c3 = env.commit("third");
    let want3 = env.path("want-c3");
    get_r(&env, &c3, &want3);
    let start = Instant::now();
    loop {
        let seen = std::fs::read(mnt.join("branches/main/new/after-mount")).ok();
        if seen.as_deref() == Some(b"committed while mounted\n".as_slice()) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the new commit did not appear under branches/main");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_same_tree(&want3, &mnt.join("branches/main"), "branches/main after a new commit");
    assert_same_tree(&want3, &mnt.join("HEAD/."), "HEAD after a new commit");
    assert!(mnt.join(format!("commits/{c3}")).is_dir(), "the new commit is listed under commits/");
    m.unmount();
}

#[test]
fn mount_at_a_revision_and_unmount_with_ctrl_c() {
    if !fuse_usable() {
        return;
    }
    let env = Env::init();
    let src = env.path("src");
    make_tree(&src);
    env.ok(["put", "-r", src.to_str().unwrap(), "t/"]);
    let c1 = env.commit("first");
    env.put("t/later", b"later");
    env.commit("second");
    let mnt = env.path("mnt");
    let m = Mount::start(&env, &mnt, &["--at", "HEAD~1"]);
    let want = env.path("want");
    env.ok(["get", "-r", "t/", want.to_str().unwrap(), "--at", &c1]);
    assert_same_tree(&want, &mnt.join("t"), "--at HEAD~1");
    assert!(!mnt.join("t/later").exists());
    // Ctrl-C: a clean unmount and exit 0.
    let st = Command::new("kill").arg("-INT").arg(m.pid().to_string()).status().unwrap();
    assert!(st.success());
    let (code, err) = m.wait();
    assert_eq!(code, 0, "Ctrl-C must unmount and exit 0; stderr:\n{err}");
    assert!(!is_mounted(&mnt), "still mounted after Ctrl-C");
}

/// Peak resident memory of a process, in bytes.
fn peak_rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading /proc/PID/status");
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM in /proc/PID/status");
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() * 1024
}

#[test]
fn mount_reads_ranges_of_a_200_mb_value_in_bounded_memory() {
    if !fuse_usable() {
        return;
    }
    const N: usize = 200_000_000;
    let env = Env::init();
    let data = random_bytes(0xfeed, N);
    env.cmd(["put", "big"]).stdin(&data).ok();
    env.commit("200 MB");
    let mnt = env.path("mnt");
    let m = Mount::start(&env, &mnt, &["--at", "HEAD", "--mem-cache", "16M"]);
    let mut f = std::fs::File::open(mnt.join("big")).unwrap();
    assert_eq!(f.metadata().unwrap().len(), N as u64);
    // Ranges: near the end first (nothing before it needs reading), across chunk boundaries, the last byte.
    for (a, len) in [(150_000_000usize, 1_000_000usize), (7, 10), (99_999_000, 3_000_000), (N - 1, 1)] {
        let mut buf = vec![0u8; len];
        f.seek(SeekFrom::Start(a as u64)).unwrap();
        f.read_exact(&mut buf).unwrap();
        assert!(buf == data[a..a + len], "bytes {a}..{} through the mount differ", a + len);
    }
    drop(f);
    // The whole value, streamed.
    let mut f = std::fs::File::open(mnt.join("big")).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = 0usize;
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        assert!(buf[..n] == data[at..at + n], "bytes at {at} through the mount differ");
        at += n;
    }
    assert_eq!(at, N, "the whole value reads back");
    let rss = peak_rss(m.pid());
    assert!(rss < 128 << 20, "infini mount peaked at {} MiB reading a 200 MB value (bound: 128 MiB)", rss >> 20);
    drop(f);
    m.unmount();
}

#[test]
fn mounting_on_a_mount_point_is_refused() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    // Any mount point will do, whatever this machine can mount: /proc is one wherever /proc/self/mountinfo exists.
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if !info.lines().any(|l| l.split(' ').nth(4) == Some("/proc")) {
        return;
    }
    let out = env.fails_with(16, ["mount", "/proc"]);
    assert!(out.stderr.contains("already a mount point") && out.stderr.contains("proc"), "says why:\n{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line:\n{out}");
    if !fuse_usable() {
        return;
    }
    // A second infini mount on the same mountpoint: refused, and the first keeps serving.
    let mnt = env.path("mnt2");
    let m = Mount::start(&env, &mnt, &[]);
    let out = env.fails_with(16, ["mount", mnt.to_str().unwrap()]);
    assert!(out.stderr.contains("another `infini mount`") && out.stderr.contains("fusermount -u"), "{out}");
    assert_eq!(read(mnt.join("branches/main/k")), b"v");
    drop(m);
}

#[test]
fn mount_errors_are_one_line_with_their_own_exit_code() {
    let env = Env::init();
    env.put("k", b"v");
    env.commit("one");
    // A missing mountpoint is "not found"; a file is a usage error.
    let out = env.fails_with(3, ["mount", env.path("nope").to_str().unwrap()]);
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line:\n{out}");
    write(env.path("file"), b"x");
    env.fails_with(2, ["mount", env.path("file").to_str().unwrap()]);
    // No fusermount on PATH.
    std::fs::create_dir(env.path("mnt")).unwrap();
    let out = env.cmd(["mount", env.path("mnt").to_str().unwrap()]).env("PATH", "/nonexistent").fails_with(16);
    assert!(out.stderr.contains("fusermount") || out.stderr.contains("/dev/fuse"), "names what is missing:\n{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line:\n{out}");
    if !fuse_usable() {
        return;
    }
    // A stale mountpoint: the serving process was killed.
    let mnt = env.path("stale");
    let m = Mount::start(&env, &mnt, &[]);
    Command::new("kill").arg("-KILL").arg(m.pid().to_string()).status().unwrap();
    let (code, _) = m.wait();
    assert_eq!(code, -1, "killed");
    let out = env.fails_with(16, ["mount", mnt.to_str().unwrap()]);
    assert!(out.stderr.contains("stale") && out.stderr.contains("fusermount -u"), "says what to do:\n{out}");
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line:\n{out}");
    let st = Command::new(fusermount()).arg("-u").arg(&mnt).status().unwrap();
    assert!(st.success(), "the stale mount unmounts");
}

#[test]
fn mount_daemon_returns_once_mounted_and_stops_on_unmount() {
    if !fuse_usable() {
        return;
    }
    let env = Env::init();
    env.put("dir/k", b"value");
    env.commit("one");
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = env.ok(["mount", "--daemon", mnt.to_str().unwrap()]);
    assert!(out.stdout.is_empty(), "nothing on stdout:\n{out}");
    assert!(is_mounted(&mnt), "mounted when --daemon returns");
    assert_eq!(read(mnt.join("HEAD/dir/k")), b"value");
    let st = Command::new(fusermount()).arg("-u").arg(&mnt).status().unwrap();
    assert!(st.success());
    assert!(!is_mounted(&mnt));
    // A failure of the background process is reported by the command itself, with its exit code.
    let out = env.fails_with(3, ["mount", "--daemon", mnt.to_str().unwrap(), "--at", "no-such-branch"]);
    assert!(out.stderr.contains("no-such-branch"), "the error names the revision:\n{out}");
}

#[test]
fn mount_daemon_keeps_no_password_in_its_environment() {
    if !fuse_usable() {
        return;
    }
    let env = Env::init();
    env.put("dir/k", b"value");
    env.commit("one");
    // Locked: the background process needs the password to open the repository.
    env.ok(["lock"]);
    let mnt = env.path("mnt");
    std::fs::create_dir(&mnt).unwrap();
    env.cmd(["mount", "--daemon", mnt.to_str().unwrap()]).env("INFINI_NEW_PASSWORD", "another").ok();
    assert_eq!(read(mnt.join("HEAD/dir/k")), b"value");
    let mut found = 0;
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else { continue };
        if contains(&cmdline, b"--daemon-child") && contains(&cmdline, mnt.to_str().unwrap().as_bytes()) {
            found += 1;
            let environ = std::fs::read(e.path().join("environ")).unwrap();
            assert!(!contains(&environ, b"INFINI_PASSWORD="), "the daemon's environment holds INFINI_PASSWORD");
            assert!(!contains(&environ, PASSWORD.as_bytes()), "the daemon's environment holds the password");
            assert!(!contains(&environ, b"INFINI_NEW_PASSWORD="), "nor INFINI_NEW_PASSWORD");
        }
    }
    let st = Command::new(fusermount()).arg("-u").arg(&mnt).status().unwrap();
    assert!(st.success());
    assert_eq!(found, 1, "the daemon was found");
}

#[test]
fn mount_shows_mtimes_before_1970_and_with_nanoseconds_exactly() {
    if !fuse_usable() {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let env = Env::init();
    let src = env.path("src");
    write(src.join("old"), b"old\n");
    write(src.join("frac"), b"frac\n");
    let set = |name: &str, t: std::time::SystemTime| {
        let f = std::fs::File::options().write(true).open(src.join(name)).unwrap();
        f.set_times(std::fs::FileTimes::new().set_modified(t)).unwrap();
    };
    set("old", std::time::UNIX_EPOCH - Duration::from_secs(86_400));
    set("frac", std::time::UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_789));
    env.ok(["put", "-r", src.to_str().unwrap(), "t/"]);
    env.commit("times");
    let mnt = env.path("mnt");
    let m = Mount::start(&env, &mnt, &[]);
    let old = std::fs::metadata(mnt.join("branches/main/t/old")).expect("stat through the mount");
    assert_eq!((old.mtime(), old.mtime_nsec()), (-86_400, 0));
    assert_eq!(read(mnt.join("branches/main/t/old")), b"old\n");
    let frac = std::fs::metadata(mnt.join("branches/main/t/frac")).unwrap();
    assert_eq!((frac.mtime(), frac.mtime_nsec()), (1_700_000_000, 123_456_789));
    m.unmount();
}

#[test]
fn mount_shows_empty_directories_with_their_stored_mode_and_mtime() {
    if !fuse_usable() {
        return;
    }
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let env = Env::init();
    let src = env.path("src");
    write(src.join("d/f"), b"f\n");
    std::fs::create_dir_all(src.join("empty/inner")).unwrap();
    std::fs::set_permissions(src.join("empty/inner"), std::fs::Permissions::from_mode(0o700)).unwrap();
    filetime::set_file_mtime(src.join("empty/inner"), filetime::FileTime::from_unix_time(1_300_000_000, 7)).unwrap();
    filetime::set_file_mtime(src.join("d"), filetime::FileTime::from_unix_time(1_200_000_000, 0)).unwrap();
    env.ok(["put", "-r", src.to_str().unwrap(), "t"]);
    env.commit("dirs");
    let mnt = env.path("mnt");
    let m = Mount::start(&env, &mnt, &[]);
    let top = mnt.join("branches/main/t");
    let mut names: Vec<String> =
        std::fs::read_dir(&top).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["d", "empty"], "an empty directory appears");
    let inner = std::fs::metadata(top.join("empty/inner")).expect("stat through the mount");
    assert!(inner.is_dir());
    assert_eq!(std::fs::read_dir(top.join("empty/inner")).unwrap().count(), 0);
    assert_eq!((inner.mtime(), inner.mtime_nsec()), (1_300_000_000, 7), "a directory's stored mtime");
    assert_eq!(inner.mode() & 0o7777, 0o700, "a directory's stored mode");
    assert_eq!(std::fs::metadata(top.join("d")).unwrap().mtime(), 1_200_000_000);
    m.unmount();
}
