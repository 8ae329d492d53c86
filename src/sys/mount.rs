//! Wrappers for the calls that build a filesystem view: mount(2), mount_setattr(2),
//! umount2(2), pivot_root(2), chroot(2), openat2(2) and the `*at` calls used to create files
//! inside a rootfs.
//!
//! Files are reached through file descriptors opened with `O_CLOEXEC`; a mount onto an fd goes
//! through its `/proc/self/fd/N` magic link, so the kernel mounts on exactly the file the fd
//! names, never on a path re-resolved later.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sys::statvfs::FsFlags;

use super::{SysError, SysResult};

/// `/proc/self/fd/N` for `fd`: a path the kernel resolves to the very file `fd` refers to.
pub fn fd_path(fd: BorrowedFd<'_>) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn cstring(call: &'static str, path: &Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SysError::new(call, path.display().to_string(), Errno::EINVAL))
}

fn describe(source: Option<&Path>, target: &Path) -> String {
    match source {
        Some(s) => format!("{} on {}", s.display(), target.display()),
        None => target.display().to_string(),
    }
}

/// mount(2) on a path. <https://man7.org/linux/man-pages/man2/mount.2.html>
pub fn mount(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> SysResult<()> {
    nix::mount::mount(source, target, fstype, flags, data)
        .map_err(|e| SysError::new("mount", describe(source, target), e))
}

/// mount(2) onto the file `target` refers to; errors name the target as `name`.
/// <https://man7.org/linux/man-pages/man2/mount.2.html>
pub fn mount_on(
    source: Option<&Path>,
    target: BorrowedFd<'_>,
    name: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> SysResult<()> {
    nix::mount::mount(source, &fd_path(target), fstype, flags, data)
        .map_err(|e| SysError::new("mount", describe(source, name), e))
}

/// umount2(2). <https://man7.org/linux/man-pages/man2/umount2.2.html>
pub fn umount2(target: &Path, flags: MntFlags) -> SysResult<()> {
    nix::mount::umount2(target, flags)
        .map_err(|e| SysError::new("umount2", target.display().to_string(), e))
}

/// pivot_root(2). <https://man7.org/linux/man-pages/man2/pivot_root.2.html>
pub fn pivot_root(new_root: &Path, put_old: &Path) -> SysResult<()> {
    nix::unistd::pivot_root(new_root, put_old)
        .map_err(|e| SysError::new("pivot_root", new_root.display().to_string(), e))
}

/// chroot(2). <https://man7.org/linux/man-pages/man2/chroot.2.html>
pub fn chroot(path: &Path) -> SysResult<()> {
    nix::unistd::chroot(path).map_err(|e| SysError::new("chroot", path.display().to_string(), e))
}

/// chdir(2). <https://man7.org/linux/man-pages/man2/chdir.2.html>
pub fn chdir(path: &Path) -> SysResult<()> {
    nix::unistd::chdir(path).map_err(|e| SysError::new("chdir", path.display().to_string(), e))
}

/// fchdir(2); errors name the directory as `name`.
/// <https://man7.org/linux/man-pages/man2/fchdir.2.html>
pub fn fchdir(fd: BorrowedFd<'_>, name: &Path) -> SysResult<()> {
    nix::unistd::fchdir(fd).map_err(|e| SysError::new("fchdir", name.display().to_string(), e))
}

/// open(2) with `O_CLOEXEC` added to `flags`. <https://man7.org/linux/man-pages/man2/open.2.html>
pub fn open(path: &Path, flags: libc::c_int) -> SysResult<OwnedFd> {
    let c = cstring("open", path)?;
    // SAFETY: `c` is a valid NUL-terminated string; the result is checked before use.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(SysError::new("open", path.display().to_string(), Errno::last()));
    }
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// openat2(2) with `O_CLOEXEC` added to `flags`; `resolve` is the `RESOLVE_*` set.
/// <https://man7.org/linux/man-pages/man2/openat2.2.html>
pub fn openat2(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: libc::c_int,
    mode: libc::mode_t,
    resolve: u64,
) -> SysResult<OwnedFd> {
    let c = cstring("openat2", path)?;
    // SAFETY: open_how is plain integers; all-zero is its documented "nothing set" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    if flags & libc::O_CREAT != 0 {
        how.mode = mode as u64;
    }
    how.resolve = resolve;
    loop {
        // SAFETY: every pointer is valid for the call and `how`'s size is passed with it.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                c.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd >= 0 {
            // SAFETY: the kernel just returned this fd and nothing else owns it.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) });
        }
        // openat2 asks callers to retry when a concurrent rename or mount raced the lookup.
        match Errno::last() {
            Errno::EAGAIN => continue,
            e => return Err(SysError::new("openat2", path.display().to_string(), e)),
        }
    }
}

fn check(call: &'static str, name: &Path, ret: libc::c_int) -> SysResult<()> {
    if ret < 0 {
        Err(SysError::new(call, name.display().to_string(), Errno::last()))
    } else {
        Ok(())
    }
}

/// mkdirat(2). <https://man7.org/linux/man-pages/man2/mkdirat.2.html>
pub fn mkdirat(dir: BorrowedFd<'_>, name: &Path, mode: libc::mode_t) -> SysResult<()> {
    let c = cstring("mkdirat", name)?;
    // SAFETY: `c` is a valid NUL-terminated string.
    check("mkdirat", name, unsafe { libc::mkdirat(dir.as_raw_fd(), c.as_ptr(), mode) })
}

/// mknodat(2); `mode` carries the file type bits. <https://man7.org/linux/man-pages/man2/mknodat.2.html>
pub fn mknodat(
    dir: BorrowedFd<'_>,
    name: &Path,
    mode: libc::mode_t,
    dev: libc::dev_t,
) -> SysResult<()> {
    let c = cstring("mknodat", name)?;
    // SAFETY: `c` is a valid NUL-terminated string.
    check("mknodat", name, unsafe { libc::mknodat(dir.as_raw_fd(), c.as_ptr(), mode, dev) })
}

/// Creates an empty regular file with openat(2) (`O_CREAT|O_EXCL|O_NOFOLLOW`) and closes it.
/// <https://man7.org/linux/man-pages/man2/openat.2.html>
pub fn create_file_at(dir: BorrowedFd<'_>, name: &Path, mode: libc::mode_t) -> SysResult<()> {
    let c = cstring("openat", name)?;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY | libc::O_CLOEXEC;
    // SAFETY: `c` is a valid NUL-terminated string; the fd is closed right away.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags, mode as libc::c_uint) };
    check("openat", name, fd)?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    drop(unsafe { OwnedFd::from_raw_fd(fd) });
    Ok(())
}

/// fchownat(2) with `AT_SYMLINK_NOFOLLOW`. <https://man7.org/linux/man-pages/man2/fchownat.2.html>
pub fn fchownat(
    dir: BorrowedFd<'_>,
    name: &Path,
    uid: libc::uid_t,
    gid: libc::gid_t,
) -> SysResult<()> {
    let c = cstring("fchownat", name)?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let ret =
        unsafe { libc::fchownat(dir.as_raw_fd(), c.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) };
    check("fchownat", name, ret)
}

/// symlinkat(2): creates `name` in `dir` pointing at `target`.
/// <https://man7.org/linux/man-pages/man2/symlinkat.2.html>
pub fn symlinkat(target: &Path, dir: BorrowedFd<'_>, name: &Path) -> SysResult<()> {
    let t = cstring("symlinkat", target)?;
    let c = cstring("symlinkat", name)?;
    // SAFETY: both are valid NUL-terminated strings.
    check("symlinkat", name, unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), c.as_ptr()) })
}

/// readlinkat(2): the target of the symlink `name` in `dir` (EINVAL when `name` is not a
/// symlink). <https://man7.org/linux/man-pages/man2/readlinkat.2.html>
pub fn readlinkat(dir: BorrowedFd<'_>, name: &Path) -> SysResult<PathBuf> {
    nix::fcntl::readlinkat(dir, name)
        .map(PathBuf::from)
        .map_err(|e| SysError::new("readlinkat", name.display().to_string(), e))
}

/// fstat(2); errors name the file as `name`. <https://man7.org/linux/man-pages/man2/fstat.2.html>
pub fn fstat(fd: BorrowedFd<'_>, name: &Path) -> SysResult<libc::stat> {
    nix::sys::stat::fstat(fd).map_err(|e| SysError::new("fstat", name.display().to_string(), e))
}

/// The mount flags fstatvfs(3) reports for the mount holding `fd`.
/// <https://man7.org/linux/man-pages/man3/fstatvfs.3.html>
pub fn fstatvfs_flags(fd: BorrowedFd<'_>, name: &Path) -> SysResult<FsFlags> {
    nix::sys::statvfs::fstatvfs(fd)
        .map(|s| s.flags())
        .map_err(|e| SysError::new("fstatvfs", name.display().to_string(), e))
}

/// Whether the filesystem at `path` is cgroup2, by statfs(2)'s magic number.
/// <https://man7.org/linux/man-pages/man2/statfs.2.html>
pub fn is_cgroup2(path: &Path) -> SysResult<bool> {
    nix::sys::statfs::statfs(path)
        .map(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
        .map_err(|e| SysError::new("statfs", path.display().to_string(), e))
}

/// umask(2); returns the previous mask. <https://man7.org/linux/man-pages/man2/umask.2.html>
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(mask) }
}

/// Whether the kernel has mount_setattr(2) (Linux 5.12), which id-mapped mounts need.
/// <https://man7.org/linux/man-pages/man2/mount_setattr.2.html>
pub fn mount_setattr_available() -> bool {
    // An invalid descriptor: EBADF when the syscall exists, ENOSYS when it does not.
    // SAFETY: no pointer is dereferenced with a null attr and size 0.
    let ret = unsafe {
        libc::syscall(libc::SYS_mount_setattr, -1, c"".as_ptr(), 0, std::ptr::null::<u8>(), 0)
    };
    !(ret < 0 && nix::errno::Errno::last() == nix::errno::Errno::ENOSYS)
}
