//! Reading the local files a workspace and its caches keep (`.infini/…`, the warm cache, the dedup index): only
//! regular files, never through a symbolic link, never more than a bound.
//!
//! These files are the workspace's own, but whatever can write into the directory can put a FIFO there (opening it
//! would wait for a writer forever), a symbolic link to a device (`/dev/zero` never ends) or a file far larger than
//! any the workspace writes. Every read here opens without following a final symbolic link and without blocking,
//! checks the type of what it opened (through the open handle, so the path cannot change in between), and reads at
//! most a stated bound.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Open `path` for reading if it is a regular file: a final symbolic link, a FIFO, a device, a socket or a
/// directory is refused (`InvalidData`, saying what it is) without blocking. A missing file is `NotFound`.
pub(crate) fn open_regular(path: &Path) -> io::Result<File> {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => io::Error::new(io::ErrorKind::InvalidData, "is a symbolic link, not a regular file"),
            _ => e,
        })?;
    let ft = f.metadata()?.file_type();
    if !ft.is_file() {
        let what = if ft.is_dir() { "a directory" } else { "not a regular file (a FIFO, device or socket)" };
        return Err(io::Error::new(io::ErrorKind::InvalidData, format!("is {what}")));
    }
    Ok(f)
}

/// The bytes of the regular file at `path` (see [`open_regular`]), refused (`InvalidData`) when it holds more than
/// `limit` bytes.
pub(crate) fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    let f = open_regular(path)?;
    let len = f.metadata()?.len();
    if len > limit {
        return Err(too_large(limit));
    }
    let mut buf = Vec::with_capacity(len as usize);
    f.take(limit + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(buf)
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("is larger than {limit} bytes, more than it can legitimately hold"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_within_the_bound_are_read() {
        let d = tempfile::tempdir().unwrap();
        let f = d.path().join("f");
        std::fs::write(&f, b"12345").unwrap();
        assert_eq!(read_bounded(&f, 5).unwrap(), b"12345");
        assert_eq!(read_bounded(&f, 4).unwrap_err().kind(), io::ErrorKind::InvalidData);
        let link = d.path().join("link");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        assert_eq!(read_bounded(&link, 1 << 20).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(open_regular(&link).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(read_bounded(d.path(), 1 << 20).unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(read_bounded(&d.path().join("none"), 10).unwrap_err().kind(), io::ErrorKind::NotFound);
        let fifo = d.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        // Returns at once (no writer is waited for).
        assert_eq!(read_bounded(&fifo, 10).unwrap_err().kind(), io::ErrorKind::InvalidData);
    }
}
