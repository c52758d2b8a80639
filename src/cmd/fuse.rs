//! The FUSE driver of `infini mount`: translates kernel requests into calls on the library's [`Browser`].

use infini::browse::{Attr, Browser, FileType};
use infini::Error;
use std::ffi::OsStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use fuser::{
    Errno, FileHandle, FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, LockOwner, OpenFlags, ReplyAttr,
    ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyOpen, Request,
};

/// A [`Browser`] served over FUSE.
pub struct Fs {
    browser: Browser,
    uid: u32,
    gid: u32,
    /// Whether an I/O failure was already reported on stderr (later ones only go to the caller as EIO).
    reported: AtomicBool,
    quiet: bool,
    /// The kernel reads files without opening them (nothing to keep per open: contents never change).
    no_open: bool,
}

impl Fs {
    /// Serve `browser`, files owned by `uid:gid`.
    pub fn new(browser: Browser, uid: u32, gid: u32, quiet: bool) -> Self {
        Self { browser, uid, gid, reported: AtomicBool::new(false), quiet, no_open: false }
    }

    fn attr(&self, a: &Attr) -> fuser::FileAttr {
        let t = a.modified();
        fuser::FileAttr {
            ino: INodeNo(a.ino),
            size: a.size,
            blocks: a.size.div_ceil(512),
            atime: t,
            mtime: t,
            ctime: t,
            crtime: t,
            kind: kind(a.kind),
            perm: a.perm,
            nlink: if a.kind == FileType::Dir { 2 } else { 1 },
            uid: self.uid,
            gid: self.gid,
            rdev: 0,
            blksize: 128 * 1024,
            flags: 0,
        }
    }

    /// The errno for an engine error; integrity and backend failures are reported once on stderr.
    fn errno(&self, e: &Error) -> Errno {
        match e {
            Error::NotFound { .. } => Errno::ENOENT,
            Error::Invalid(_) => Errno::EINVAL,
            _ => {
                if !self.quiet && !self.reported.swap(true, Ordering::Relaxed) {
                    super::output::stderr_line(format!("infini: error: {e} (reads that fail return EIO)"));
                }
                Errno::EIO
            }
        }
    }
}

fn kind(k: FileType) -> fuser::FileType {
    match k {
        FileType::Dir => fuser::FileType::Directory,
        FileType::File => fuser::FileType::RegularFile,
        FileType::Symlink => fuser::FileType::Symlink,
    }
}

impl fuser::Filesystem for Fs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        // Each request is a round trip through the kernel, and a `cat` of many small files is dominated by them.
        // Contents and attributes under an inode never change, so: no open and release per file, attributes
        // delivered with the listing (no lookup per name), symlinks cached.
        self.no_open = config.add_capabilities(InitFlags::FUSE_NO_OPEN_SUPPORT).is_ok();
        for cap in [InitFlags::FUSE_DO_READDIRPLUS, InitFlags::FUSE_CACHE_SYMLINKS, InitFlags::FUSE_PARALLEL_DIROPS] {
            let _ = config.add_capabilities(cap);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        let Some(name) = name.to_str() else { return reply.error(Errno::ENOENT) };
        match self.browser.lookup(parent.0, name) {
            Ok(Some(a)) => reply.entry(&a.ttl, &self.attr(&a), Generation(0)),
            Ok(None) => reply.error(Errno::ENOENT),
            Err(e) => reply.error(self.errno(&e)),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.browser.forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.browser.getattr(ino.0) {
            Ok(a) => reply.attr(&a.ttl, &self.attr(&a)),
            Err(e) => reply.error(self.errno(&e)),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.browser.readlink(ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(self.errno(&e)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        if flags.acc_mode() != fuser::OpenAccMode::O_RDONLY {
            return reply.error(Errno::EROFS);
        }
        if self.no_open {
            // The kernel takes this as "opened, keep the page cache", and sends no more opens or releases.
            return reply.error(Errno::ENOSYS);
        }
        match self.browser.open(ino.0) {
            // Contents under an inode never change (a moved branch gets new inodes): the kernel may keep its cache.
            Ok(fh) => reply.opened(FileHandle(fh), FopenFlags::FOPEN_KEEP_CACHE),
            Err(e) => reply.error(self.errno(&e)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        // Handles start at 1: 0 is a read the kernel sends without an open.
        let data = match fh.0 {
            0 => self.browser.read_inode(ino.0, offset, size as usize),
            fh => self.browser.read(fh, offset, size as usize),
        };
        match data {
            Ok(data) => reply.data(&data),
            Err(e) => reply.error(self.errno(&e)),
        }
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.browser.release(fh.0);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // A version's directories never change: the kernel may keep their listings. `branches/` and `commits/` do.
        match self.browser.listing_is_fixed(ino.0) {
            Ok(true) => reply.opened(FileHandle(0), FopenFlags::FOPEN_CACHE_DIR | FopenFlags::FOPEN_KEEP_CACHE),
            Ok(false) => reply.opened(FileHandle(0), FopenFlags::empty()),
            Err(e) => reply.error(self.errno(&e)),
        }
    }

    fn readdir(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectory) {
        let list = match self.browser.readdir(ino.0) {
            Ok(l) => l,
            Err(e) => return reply.error(self.errno(&e)),
        };
        // Offsets: 1 is after ".", 2 after "..", 2 + i + 1 after the i-th name.
        let dots = [(ino.0, fuser::FileType::Directory, "."), (ino.0, fuser::FileType::Directory, "..")];
        let all = dots
            .into_iter()
            .map(|(i, k, n)| (i, k, n.to_string()))
            .chain(list.into_iter().map(|l| (l.ino, kind(l.kind), l.name)));
        for (i, (ino, k, name)) in all.enumerate().skip(offset as usize) {
            if reply.add(INodeNo(ino), i as u64 + 1, k, &name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(&self, _req: &Request, ino: INodeNo, _fh: FileHandle, offset: u64, mut reply: ReplyDirectoryPlus) {
        let own = match self.browser.getattr(ino.0) {
            Ok(a) => a,
            Err(e) => return reply.error(self.errno(&e)),
        };
        // Offsets as in readdir. The kernel counts a lookup for every name it accepts here, except `.` and `..`.
        let no_ttl = Duration::ZERO;
        for (i, name) in [".", ".."].into_iter().enumerate().skip(offset as usize) {
            if reply.add(ino, i as u64 + 1, name, &no_ttl, &self.attr(&own), Generation(0)) {
                return reply.ok();
            }
        }
        let r = self.browser.readdir_plus(ino.0, (offset as usize).saturating_sub(2), |i, name, a| {
            reply.add(INodeNo(a.ino), i as u64 + 3, name, &a.ttl, &self.attr(a), Generation(0))
        });
        if let Err(e) = r {
            return reply.error(self.errno(&e));
        }
        reply.ok();
    }
}
