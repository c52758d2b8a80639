//! `infini mount`: browse every branch and commit (or one version) as a read-only file system.

use super::fuse::Fs;
use super::session::Session;
use super::{code, output, usage, Context};
use anyhow::Context as _;
use infini::browse::{BrowseOptions, Browser, HeadTarget, Layout};
use infini::workspace::Head;
use std::io::{BufRead, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Mount the repository read-only on MOUNTPOINT: `branches/NAME/…` (following new commits), `commits/ID/…` (full
/// ids; short ids are symlinks) and `HEAD`, or one version with `--at REV`. Runs until unmounted (Ctrl-C, or
/// `fusermount -u MOUNTPOINT`); `--daemon` returns once mounted.
#[derive(clap::Args)]
pub struct Args {
    /// An existing directory to mount on.
    mountpoint: PathBuf,
    /// Show one version (a revision: branch, commit id prefix, HEAD~N) at the top instead.
    #[arg(long, value_name = "REV")]
    at: Option<String>,
    /// Return once mounted and keep serving in the background until unmounted.
    #[arg(long)]
    daemon: bool,
    /// Internal: the background process `--daemon` starts.
    #[arg(long, hide = true)]
    daemon_child: bool,
}

/// The mount could not be made (exit code 16): no FUSE device, no fusermount, or a stale or unusable mountpoint.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MountError(pub String);

/// A failure a `--daemon` child reported, with its exit code.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct ChildError {
    /// The child's exit code.
    pub code: u8,
    /// Its message.
    pub msg: String,
}

fn mount_error(msg: impl Into<String>) -> anyhow::Error {
    MountError(msg.into()).into()
}

/// Check what FUSE needs before starting: the mountpoint, `/dev/fuse` and `fusermount`.
fn preflight(mountpoint: &Path) -> anyhow::Result<()> {
    let shown = mountpoint.display();
    match std::fs::metadata(mountpoint) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(usage(format!("mountpoint {shown} is not a directory"))),
        Err(e) if e.raw_os_error() == Some(107) => {
            return Err(mount_error(format!(
                "mountpoint {shown} is a stale mount (its process ended); unmount it with `fusermount -u {shown}`"
            )))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(infini::Error::not_found(format!("mountpoint {shown}")).into())
        }
        Err(e) => return Err(mount_error(format!("mountpoint {shown}: {e}"))),
    }
    if let Some(fstype) = mounted_on(mountpoint) {
        let how = if fstype == "fuse" || fstype.starts_with("fuse.") {
            format!(
                "a FUSE file system ({fstype}; another `infini mount`?) is serving it; unmount it first \
                 (`fusermount -u {shown}`)"
            )
        } else {
            format!("a {fstype} file system is mounted there; choose an empty directory")
        };
        return Err(mount_error(format!("mountpoint {shown} is already a mount point: {how}")));
    }
    match std::fs::metadata("/dev/fuse") {
        Ok(m) if m.file_type().is_char_device() => {}
        Ok(_) => return Err(mount_error("/dev/fuse is not a character device: FUSE is not available here")),
        Err(_) => {
            return Err(mount_error(
                "/dev/fuse does not exist: FUSE is not available here (load the fuse module, or give the container /dev/fuse)",
            ))
        }
    }
    if let Err(e) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/fuse") {
        return Err(mount_error(format!("cannot open /dev/fuse: {e}")));
    }
    if find_fusermount().is_none() {
        return Err(mount_error("fusermount not found on PATH: install the fuse3 (or fuse) package"));
    }
    Ok(())
}

/// The type of the file system mounted exactly on `dir` (as `/proc/self/mountinfo` lists it), if one is. Mounting
/// on top of a mount would hide it (and a second `infini mount` there would be stacked silently).
fn mounted_on(dir: &Path) -> Option<String> {
    let dir = std::fs::canonicalize(dir).ok()?;
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mut found = None;
    for line in info.lines() {
        // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(point) = fields.get(4) else { continue };
        if Path::new(&unescape_mountinfo(point)) != dir {
            continue;
        }
        let fstype = fields.iter().position(|f| *f == "-").and_then(|i| fields.get(i + 1));
        // The last line for a mount point is what is visible there.
        found = Some(fstype.map_or_else(|| "unknown".to_string(), |t| t.to_string()));
    }
    found
}

/// Undo mountinfo's octal escapes (`\040` for a space, `\011`, `\012`, `\134`).
fn unescape_mountinfo(s: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let esc = b.get(i + 1..i + 4).filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match esc {
            Some(d) => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    std::ffi::OsString::from_vec(out)
}

/// `fusermount3` or `fusermount`, as fuser looks for them.
fn find_fusermount() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FUSERMOUNT_PATH") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for name in ["fusermount3", "fusermount"] {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

impl Args {
    pub fn run(self, ctx: &Context) -> anyhow::Result<()> {
        let mountpoint = super::session::cwd(ctx)?.join(&self.mountpoint);
        if self.daemon && !self.daemon_child {
            return detach(ctx, &mountpoint);
        }
        if self.daemon_child {
            // The password, if the command was given one in INFINI_PASSWORD, comes on stdin (see `detach`).
            let mut pw = zeroize::Zeroizing::new(Vec::new());
            std::io::Read::read_to_end(
                &mut std::io::Read::take(std::io::stdin().lock(), super::password::MAX_PASSWORD_FILE),
                &mut pw,
            )
            .context("reading the password from the mounting process")?;
            if !pw.is_empty() {
                super::password::hand_over(pw);
            }
        }
        let r = self.serve(ctx, &mountpoint);
        if self.daemon_child {
            // The parent reads one line: `ready`, or the exit code and message of the failure.
            let mut out = std::io::stdout().lock();
            let line = match &r {
                Ok(()) => "done".to_string(),
                Err(e) => format!("{} {e:#}", super::exit_code(e)),
            };
            let _ = writeln!(out, "{line}");
        }
        r
    }

    fn serve(&self, ctx: &Context, mountpoint: &Path) -> anyhow::Result<()> {
        preflight(mountpoint)?;
        let s = Session::read(ctx)?;
        let layout = match &self.at {
            Some(rev) => Layout::At(s.at(rev)?.0),
            None => Layout::All {
                head: Some(match &s.head {
                    Head::Branch(b) => HeadTarget::Branch(b.clone()),
                    Head::Detached(p) => HeadTarget::Commit(*p),
                }),
            },
        };
        let browser = Browser::new(s.repo.clone(), layout, BrowseOptions::default());
        let me = std::fs::metadata("/proc/self").map(|m| (m.uid(), m.gid())).unwrap_or((0, 0));
        let fs = Fs::new(browser, me.0, me.1, ctx.global.quiet);
        let mut config = fuser::Config::default();
        config.mount_options = vec![
            fuser::MountOption::RO,
            fuser::MountOption::FSName("infini".into()),
            fuser::MountOption::Subtype("infini".into()),
            fuser::MountOption::NoSuid,
            fuser::MountOption::NoDev,
            fuser::MountOption::DefaultPermissions,
        ];
        config.n_threads = Some(4);
        let mut session = fuser::Session::new(fs, mountpoint, &config)
            .map_err(|e| mount_error(format!("mounting on {}: {e}", mountpoint.display())))?;
        let mut unmounter = session.unmount_callable();
        let mut signals = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ])
        .context("installing signal handlers")?;
        let handle = signals.handle();
        let shown = mountpoint.display().to_string();
        let quiet = ctx.global.quiet;
        let watcher = std::thread::spawn(move || {
            for _ in signals.forever() {
                match unmounter.unmount() {
                    Ok(()) => break,
                    Err(e) if !quiet => output::stderr_line(format!(
                        "infini: cannot unmount {shown}: {e} (close what uses it, or `fusermount -u -z {shown}`)"
                    )),
                    Err(_) => {}
                }
            }
        });
        if self.daemon_child {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ready");
            let _ = out.flush();
        } else {
            output::info(ctx, format!("mounted on {} (Ctrl-C or `fusermount -u` to unmount)", mountpoint.display()));
        }
        let r = session.run();
        handle.close();
        let _ = watcher.join();
        r.map_err(|e| mount_error(format!("serving {}: {e}", mountpoint.display())))?;
        Ok(())
    }
}

/// Variables holding secrets, never passed to the background process: its environment stays readable (by the
/// same user, in /proc/PID/environ) for as long as it serves.
const SECRET_VARS: &[&str] = &["INFINI_PASSWORD", "INFINI_NEW_PASSWORD"];

/// The command that starts the background process: this program with `args`, without the variables of
/// [`SECRET_VARS`]; the password, if any, goes to its stdin.
fn daemon_command(exe: &Path, args: Vec<std::ffi::OsString>, with_password: bool) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(args)
        .stdin(if with_password { std::process::Stdio::piped() } else { std::process::Stdio::null() })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        // Its own process group: a Ctrl-C at the terminal does not reach it.
        .process_group(0);
    for v in SECRET_VARS {
        cmd.env_remove(v);
    }
    cmd
}

/// Start `infini mount` again as a background process and return once it has mounted (or failed). A password in
/// `INFINI_PASSWORD` is written to its stdin, not left in its environment.
fn detach(ctx: &Context, mountpoint: &Path) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the infini executable")?;
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).filter(|a| a != "--daemon").collect();
    args.push("--daemon-child".into());
    let password = std::env::var_os("INFINI_PASSWORD").map(|p| zeroize::Zeroizing::new(p.into_encoded_bytes()));
    let mut child = daemon_command(&exe, args, password.is_some()).spawn().context("starting the background mount")?;
    if let (Some(pw), Some(mut stdin)) = (&password, child.stdin.take()) {
        // Dropped (closed) at the end of the statement: the child reads to the end.
        stdin.write_all(pw).context("handing the password to the background mount")?;
    }
    let out = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    let _ = std::io::BufReader::new(out).read_line(&mut line);
    let line = line.trim_end();
    if line == "ready" {
        output::info(ctx, format!("mounted on {} (unmount with `fusermount -u`)", mountpoint.display()));
        return Ok(());
    }
    let status = child.wait().context("waiting for the background mount")?;
    let (code, msg) = match line.split_once(' ') {
        Some((c, m)) if c.parse::<u8>().is_ok() => (c.parse().expect("checked"), m.to_string()),
        _ => (status.code().unwrap_or(code::OTHER as i32) as u8, "the background mount exited".to_string()),
    };
    Err(ChildError { code, msg }.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape_mountinfo(r"/mnt/a\040b\011c\134d"), std::ffi::OsString::from("/mnt/a b\tc\\d"));
        assert_eq!(unescape_mountinfo(r"/x\04"), std::ffi::OsString::from(r"/x\04"), "a short escape stays");
        assert!(mounted_on(Path::new("/nonexistent-dir")).is_none());
    }

    #[test]
    fn the_background_process_gets_no_secret_in_its_environment() {
        let cmd = daemon_command(Path::new("/bin/true"), vec!["mount".into()], true);
        let removed: Vec<_> = cmd.get_envs().filter(|(_, v)| v.is_none()).map(|(k, _)| k.to_owned()).collect();
        for v in SECRET_VARS {
            assert!(removed.iter().any(|k| k == v), "{v} is removed from the daemon's environment");
        }
    }
}
