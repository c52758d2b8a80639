//! Progress output as a person sees it: commands run in a real terminal (a tmux pane), whose screen is read while
//! they run and after they exit; and the same commands with stderr piped, which must carry no bar.
//!
//! A slow backend (`INFINI_BACKEND_LATENCY_MS`) makes small inputs take long enough to draw.

use crate::util::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Characters only a bar or spinner draws.
const BAR_GLYPHS: &[char] = &['█', '▉', '▊', '▋', '▌', '▍', '▎', '▏', '⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

fn tmux_ok() -> bool {
    Command::new("tmux").arg("-V").output().map(|o| o.status.success()).unwrap_or(false)
}

/// Skip the test, loudly, when tmux is missing (`.ci/run` installs it).
macro_rules! need_tmux {
    () => {
        if !tmux_ok() {
            eprintln!("SKIPPED: tmux is not installed; terminal progress tests did not run");
            return;
        }
    };
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One tmux server (own socket) with one 100×30 pane running a command.
struct Term {
    socket: PathBuf,
}

/// What a command did on the terminal.
struct Seen {
    /// Every distinct screen captured while it ran.
    frames: Vec<String>,
    /// The screen after it exited.
    last: String,
    /// Its exit status, as the shell saw it.
    code: i32,
}

impl Seen {
    /// The last line of any frame containing every one of `parts`.
    fn line_with(&self, parts: &[&str]) -> Option<String> {
        self.frames.iter().flat_map(|f| f.lines()).rfind(|l| parts.iter().all(|p| l.contains(p))).map(str::to_string)
    }

    fn dump(&self) -> String {
        let mut s = String::new();
        for (i, f) in self.frames.iter().enumerate() {
            s.push_str(&format!("--- frame {i} ---\n{}\n", f.trim_end()));
        }
        s.push_str(&format!("--- after exit ({}) ---\n{}\n", self.code, self.last.trim_end()));
        s
    }

    /// After exit: the summary or exit line is followed by nothing a bar drew, and the shell's next output
    /// starts on a clean line.
    fn assert_clean_exit(&self) {
        let last = self.last.trim_end();
        assert!(
            !last.contains(BAR_GLYPHS) && !last.contains(" eta "),
            "a stale bar is left on screen:\n{}",
            self.dump()
        );
        assert!(
            last.lines().any(|l| l.starts_with("__EXIT ")),
            "the exit line does not start at column 0 (cursor left on a dirty line):\n{}",
            self.dump()
        );
    }
}

impl Term {
    /// Run `run` in a fresh pane: `sh -c 'trap : INT; cd DIR && env -i VARS infini ARGS; printf "__EXIT %s\n" $?'`.
    fn start(dir: &Path, run: Run<'_>) -> Term {
        let cmd = run.command();
        let mut line = String::from("trap : INT; cd ");
        line.push_str(&sh_quote(&cmd.get_current_dir().expect("a working directory").display().to_string()));
        line.push_str(" && env -i TERM=\"$TERM\" LANG=C.UTF-8");
        for (k, v) in cmd.get_envs() {
            if let (k, Some(v)) = (k.to_string_lossy(), v) {
                line.push_str(&format!(" {}", sh_quote(&format!("{k}={}", v.to_string_lossy()))));
            }
        }
        line.push(' ');
        line.push_str(&sh_quote(&cmd.get_program().to_string_lossy()));
        for a in cmd.get_args() {
            line.push(' ');
            line.push_str(&sh_quote(&a.to_string_lossy()));
        }
        line.push_str("; printf '__EXIT %s\\n' $?; sleep 600");
        static N: AtomicUsize = AtomicUsize::new(0);
        let t = Term { socket: dir.join(format!("tmux-{}.sock", N.fetch_add(1, Ordering::Relaxed))) };
        t.tmux(&["-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30", "-s", "t", &line]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-u")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .env("LANG", "C.UTF-8")
            .output()
            .expect("running tmux");
        assert!(out.status.success(), "tmux {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn capture(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    /// Capture the screen until `until` holds for one (or the timeout passes).
    fn watch(&self, frames: &mut Vec<String>, timeout: Duration, until: impl Fn(&str) -> bool) -> Option<String> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            let s = self.capture();
            if frames.last() != Some(&s) {
                frames.push(s.clone());
            }
            if until(&s) {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(40));
        }
        None
    }

    /// Capture screens until the command exits.
    fn wait(&self) -> Seen {
        let mut frames = Vec::new();
        let last = self
            .watch(&mut frames, Duration::from_secs(120), |s| s.lines().any(|l| l.contains("__EXIT ")))
            .unwrap_or_else(|| panic!("the command did not finish:\n{}", frames.join("\n---\n")));
        frames.pop();
        let code =
            last.lines().find_map(|l| l.split("__EXIT ").nth(1)).and_then(|c| c.trim().parse().ok()).unwrap_or(-1);
        Seen { frames, last, code }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let _ = Command::new("tmux").arg("-S").arg(&self.socket).arg("kill-server").output();
    }
}

/// A workspace whose backend takes `ms` milliseconds per object read and write.
fn slow_env(ms: u64) -> Env {
    let mut env = Env::init();
    env.set("INFINI_BACKEND_LATENCY_MS", ms.to_string());
    env
}

/// `n` files of `size` random bytes under `dir`, in two subdirectories.
fn tree(dir: &Path, n: usize, size: usize) {
    for i in 0..n {
        let sub = if i % 2 == 0 { "alpha" } else { "beta/deeper" };
        write(dir.join(sub).join(format!("file-{i:03}.bin")), &random_bytes(i as u64 + 1, size));
    }
}

#[test]
fn put_draws_bytes_total_rate_and_eta_then_one_summary_line() {
    need_tmux!();
    // Slow enough that the command lasts well over the one second after which a summary line is printed, however
    // fast the machine (three packs over two uploaders at 600 ms each, plus the reads before).
    let env = slow_env(600);
    write(env.ws.join("big.bin"), &random_bytes(7, 40 << 20));
    let t = Term::start(&env.root, env.cmd(["put", "big", "big.bin"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    let bar = seen.line_with(&["put", "/40.00 MiB", "/s", "eta"]);
    assert!(bar.is_some(), "no bar with a total and a rate while putting:\n{}", seen.dump());
    assert!(seen.last.lines().any(|l| l.starts_with("put: 40.0 MiB in ")), "no summary line:\n{}", seen.dump());
    seen.assert_clean_exit();
    println!("bar:\n{}\n{}", bar.unwrap_or_default(), seen.dump());
}

#[test]
fn put_recursive_draws_files_and_bytes_with_the_current_path() {
    need_tmux!();
    let env = slow_env(1000);
    // Large enough that reading takes longer than a few frames on a quiet machine.
    tree(&env.ws.join("photos"), 160, 256 << 10);
    let t = Term::start(&env.root, env.cmd(["put", "-r", "photos", "p/"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    let bar = seen.line_with(&["put -r ", "/160 files", "/40.00 MiB", "/s", "eta", ".bin"]);
    assert!(bar.is_some(), "no bar with files, bytes, rate and path:\n{}", seen.dump());
    assert!(
        seen.last.lines().any(|l| l.starts_with("put -r: 160 files, 40.0 MiB in ")),
        "no summary line:\n{}",
        seen.dump()
    );
    seen.assert_clean_exit();
    println!("bar:\n{}\n{}", bar.unwrap_or_default(), seen.dump());
}

#[test]
fn check_read_data_draws_bytes_of_all_packs() {
    need_tmux!();
    let mut env = Env::init();
    // Several packs: one per put.
    for i in 0..6 {
        write(env.ws.join("v.bin"), &random_bytes(i, 3 << 20));
        env.ok(["put", &format!("v{i}"), "v.bin"]);
        env.commit(&format!("v{i}"));
    }
    env.set("INFINI_BACKEND_LATENCY_MS", "300");
    let t = Term::start(&env.root, env.cmd(["check", "--read-data"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    let bar = seen.line_with(&["check packs", "MiB/", "/s", "eta"]);
    assert!(bar.is_some(), "no bar with a byte total and a rate while checking:\n{}", seen.dump());
    assert!(seen.last.lines().any(|l| l.starts_with("checked ")), "no summary line:\n{}", seen.dump());
    seen.assert_clean_exit();
    println!("bar:\n{}\n{}", bar.unwrap_or_default(), seen.dump());
}

#[test]
fn gc_draws_its_phases() {
    need_tmux!();
    let mut env = Env::init();
    for i in 0..4 {
        env.put(&format!("k{i}"), &random_bytes(i, 300 << 10));
        env.commit("k");
    }
    env.ok(["rm", "k0"]);
    env.commit("rm");
    env.set("INFINI_BACKEND_LATENCY_MS", "300");
    let t = Term::start(&env.root, env.cmd(["gc", "--grace", "0s", "--min-age", "0s"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    let mark = seen.line_with(&["gc mark"]);
    let condemn = seen.line_with(&["gc condemn", "/s", "eta"]);
    assert!(mark.is_some() && condemn.is_some(), "no mark spinner or condemn bar:\n{}", seen.dump());
    seen.assert_clean_exit();
    println!("{}\n{}\nafter exit:\n{}", mark.unwrap_or_default(), condemn.unwrap_or_default(), seen.last.trim_end());
}

#[test]
fn ctrl_c_clears_the_bar_and_leaves_a_clean_line() {
    need_tmux!();
    let env = slow_env(1000);
    write(env.ws.join("big.bin"), &random_bytes(9, 64 << 20));
    let t = Term::start(&env.root, env.cmd(["put", "big", "big.bin"]));
    let mut frames = Vec::new();
    let drawn = t.watch(&mut frames, Duration::from_secs(60), |s| s.contains(BAR_GLYPHS));
    assert!(drawn.is_some(), "no bar appeared:\n{}", frames.join("\n---\n"));
    t.tmux(&["send-keys", "-t", "t", "C-c"]);
    let seen = t.wait();
    assert_eq!(seen.code, 130, "interrupted put should die of SIGINT:\n{}", seen.dump());
    seen.assert_clean_exit();
    println!("before Ctrl-C:\n{}\nafter:\n{}", drawn.unwrap_or_default().trim_end(), seen.last.trim_end());
}

#[test]
fn quiet_and_json_draw_nothing_on_a_terminal() {
    need_tmux!();
    let env = slow_env(200);
    write(env.ws.join("big.bin"), &random_bytes(3, 20 << 20));
    for args in [vec!["-q", "put", "a", "big.bin"], vec!["--json", "put", "b", "big.bin"]] {
        let t = Term::start(&env.root, env.cmd(&args));
        let seen = t.wait();
        assert_eq!(seen.code, 0, "{args:?}:\n{}", seen.dump());
        assert!(
            !seen.frames.iter().any(|f| f.contains(BAR_GLYPHS) || f.contains(" eta ")),
            "{args:?} drew a bar:\n{}",
            seen.dump()
        );
        drop(t);
    }
}

/// Every command that draws on a terminal leaves a piped stderr free of bars and terminal codes.
#[test]
fn piped_stderr_holds_no_bar() {
    let env = slow_env(50);
    tree(&env.ws.join("d"), 8, 100 << 10);
    write(env.ws.join("big.bin"), &random_bytes(5, 5 << 20));
    let out_dir = env.path("out").display().to_string();
    let runs: Vec<Vec<&str>> = vec![
        vec!["put", "big", "big.bin"],
        vec!["put", "-r", "d", "d/"],
        vec!["commit", "-m", "m"],
        vec!["get", "-r", "d/", &out_dir],
        vec!["check", "--read-data"],
        vec!["gc", "--grace", "0s", "--min-age", "0s"],
        vec!["stats"],
    ];
    for args in runs {
        let out = env.ok(&args);
        assert!(
            !out.stderr.contains(BAR_GLYPHS) && !out.stderr.contains('\r') && !out.stderr.contains('\x1b'),
            "bar output on a piped stderr:\n{out}"
        );
    }
    let out = env.ok(["get", "big"]);
    assert_eq!(out.stdout.len(), 5 << 20, "{out}");
    assert!(out.stderr.is_empty(), "{out}");
}

#[test]
fn get_recursive_draws_files_and_bytes_then_one_summary_line() {
    need_tmux!();
    let mut env = Env::init();
    tree(&env.ws.join("photos"), 24, 512 << 10);
    env.ok(["put", "-r", "photos", "p"]);
    env.commit("photos");
    // A restore reads in a few rounds (the commit with its index, the batches of chunks): 600 ms each keeps the
    // bar up for over a second, when a summary line is due.
    env.set("INFINI_BACKEND_LATENCY_MS", "600");
    // A fresh cache, so that reads reach the slow backend.
    env.set("INFINI_THREADS", "1");
    let t = Term::start(&env.root, env.cmd(["--mem-cache", "0", "get", "-r", "p", "../out"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    let bar = seen.line_with(&["get -r ", "/24 files", "MiB/", "/s", "eta"]);
    assert!(bar.is_some(), "no bar with files, bytes and rate:\n{}", seen.dump());
    assert!(
        seen.last.lines().any(|l| l.starts_with("get -r: 24 files, 12.0 MiB in ")),
        "no summary line:\n{}",
        seen.dump()
    );
    seen.assert_clean_exit();
    println!("bar:\n{}\n{}", bar.unwrap_or_default(), seen.dump());
}

#[test]
fn commit_and_stats_show_a_spinner_saying_what_happens() {
    need_tmux!();
    let mut env = Env::init();
    tree(&env.ws.join("d"), 16, 300 << 10);
    env.ok(["put", "-r", "d", "d"]);
    env.set("INFINI_BACKEND_LATENCY_MS", "400");
    for (args, want) in [
        (vec!["commit", "-m", "m"], "commit 20 staged changes" /* 16 files, 4 directories */),
        (vec!["stats"], "stats "),
    ] {
        let t = Term::start(&env.root, env.cmd(&args));
        let seen = t.wait();
        assert_eq!(seen.code, 0, "{args:?}:\n{}", seen.dump());
        let spin = seen.line_with(&[want]).filter(|l| l.contains(BAR_GLYPHS));
        assert!(spin.is_some(), "{args:?}: no spinner:\n{}", seen.dump());
        seen.assert_clean_exit();
        println!("{args:?}:\n{}\nafter exit:\n{}", spin.unwrap_or_default(), seen.last.trim_end());
    }
}

#[test]
fn a_message_during_a_bar_gets_a_line_of_its_own() {
    need_tmux!();
    let env = slow_env(1500);
    tree(&env.ws.join("d"), 8, 256 << 10);
    let fifo = env.ws.join("d").join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
    assert!(made, "mkfifo {}", fifo.display());
    let t = Term::start(&env.root, env.cmd(["put", "-r", "d", "d"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    assert!(
        seen.last.lines().any(|l| l.starts_with("skipped 1 special file")),
        "the message does not start its own line:\n{}",
        seen.dump()
    );
    assert!(seen.last.lines().any(|l| l.starts_with("put -r: 8 files, ")), "no summary line:\n{}", seen.dump());
    seen.assert_clean_exit();
    println!("{}", seen.dump());
}

#[test]
fn get_r_tar_draws_bytes_and_rate_then_one_summary_line() {
    need_tmux!();
    let env = Env::init();
    tree(&env.ws.join("d"), 12, 1 << 20);
    env.ok(["put", "-r", "d", "d/"]);
    env.commit("tree");
    // A new process (cold in-memory cache) over a slow backend: reading the values takes seconds.
    let mut env = env;
    env.set("INFINI_BACKEND_LATENCY_MS", "400");
    let t = Term::start(&env.root, env.cmd(["get", "-r", "d/", "--tar", "-o", "out.tar"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    let bar = seen.line_with(&["get -r --tar", "MiB", "/s"]);
    assert!(bar.is_some(), "no bar with bytes and a rate while writing the archive:\n{}", seen.dump());
    assert!(
        seen.last.lines().any(|l| l.starts_with("get -r --tar: 12.0 MiB in ")),
        "no summary line:\n{}",
        seen.dump()
    );
    seen.assert_clean_exit();
}

#[test]
fn copy_shows_the_commit_it_is_at_then_one_summary_line() {
    need_tmux!();
    let mut env = Env::init();
    for i in 0..4 {
        env.put(&format!("k{i}"), &random_bytes(i, 2000));
        env.commit(&format!("commit {i}"));
    }
    env.cmd(["init", "target"]).cwd(&env.root).ok();
    env.set("INFINI_TO_PASSWORD", PASSWORD);
    env.set("INFINI_BACKEND_LATENCY_MS", "150");
    let t = Term::start(&env.root, env.cmd(["copy", "--to", "../target"]));
    let seen = t.wait();
    assert_eq!(seen.code, 0, "{}", seen.dump());
    let spin = seen.line_with(&["copy", "branch main: commit ", " of 4"]).filter(|l| l.contains(BAR_GLYPHS));
    assert!(spin.is_some(), "no spinner naming the commit being copied:\n{}", seen.dump());
    assert!(seen.last.lines().any(|l| l.starts_with("Copied 4 commits")), "no summary line:\n{}", seen.dump());
    seen.assert_clean_exit();
}
