//! `tmpcopyup` (a runc and crun mount option, which podman sets on every tmpfs of a
//! `--read-only` container and on `--tmpfs`): the new tmpfs starts with a copy of what the
//! image had at its mount point, so `/run` or `/tmp` keep their files and directories.
//!
//! The walk goes from a directory fd opened before the mount (it still names the image's
//! directory underneath) to the new mount's root, one `*at` call per entry with
//! `O_NOFOLLOW`: a symlink in the image is copied as a symlink and never followed.
//! Contents, modes and owners are copied; timestamps and hard links are not.

use std::ffi::{CStr, OsStr};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::dir::Dir;
use nix::fcntl::{openat, readlinkat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, mkdirat, mknodat, FileStat, Mode, SFlag};
use nix::unistd::{fchown, fchownat, symlinkat, Gid, Uid};

use crate::sys::{SysContext, SysResult};

/// Opens a directory for reading its entries, refusing to follow a final symlink.
pub(super) fn open_dir(dir: BorrowedFd<'_>, name: &Path) -> SysResult<OwnedFd> {
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    openat(dir, name, flags, Mode::empty()).sys("openat", name.display())
}

/// Copies every entry of the directory `from` into the (empty) directory `to`; `shown` is
/// the directory's path inside the container, for errors.
pub(super) fn copy_tree(from: OwnedFd, to: BorrowedFd<'_>, shown: &Path) -> SysResult<()> {
    let mut dir = Dir::from_fd(from).sys("fdopendir", shown.display())?;
    let mut names: Vec<Vec<u8>> = Vec::new();
    for entry in dir.iter() {
        let entry = entry.sys("getdents64", shown.display())?;
        if !is_dot(entry.file_name()) {
            names.push(entry.file_name().to_bytes().to_vec());
        }
    }
    for name in names {
        let name = Path::new(OsStr::from_bytes(&name));
        copy_entry(dir.as_fd(), to, name, &shown.join(name))?;
    }
    Ok(())
}

fn copy_entry(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &Path,
    shown: &Path,
) -> SysResult<()> {
    let st = fstatat(from, name, AtFlags::AT_SYMLINK_NOFOLLOW).sys("fstatat", shown.display())?;
    let kind = SFlag::from_bits_truncate(st.st_mode & libc::S_IFMT);
    let perm = Mode::from_bits_truncate(st.st_mode & 0o7777);
    match kind {
        SFlag::S_IFDIR => {
            mkdirat(to, name, Mode::S_IRWXU).sys("mkdirat", shown.display())?;
            let target = open_dir(to, name)?;
            copy_tree(open_dir(from, name)?, target.as_fd(), shown)?;
            set_owner_and_mode(target.as_fd(), &st, perm, shown)
        }
        SFlag::S_IFREG => copy_file(from, to, name, &st, perm, shown),
        SFlag::S_IFLNK => {
            let target = readlinkat(from, name).sys("readlinkat", shown.display())?;
            symlinkat(target.as_os_str(), to, name).sys("symlinkat", shown.display())?;
            chown_at(to, name, &st, shown)
        }
        _ => {
            mknodat(to, name, kind, perm, st.st_rdev).sys("mknodat", shown.display())?;
            chown_at(to, name, &st, shown)
        }
    }
}

fn copy_file(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    name: &Path,
    st: &FileStat,
    perm: Mode,
    shown: &Path,
) -> SysResult<()> {
    let read = OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let src = openat(from, name, read, Mode::empty()).sys("openat", shown.display())?;
    let write =
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let dst =
        openat(to, name, write, Mode::S_IRUSR | Mode::S_IWUSR).sys("openat", shown.display())?;
    let (mut src, mut dst) = (std::fs::File::from(src), std::fs::File::from(dst));
    std::io::copy(&mut src, &mut dst).map_err(|e| {
        crate::sys::SysError::new("copy_file_range", shown.display().to_string(), errno_of(&e))
    })?;
    set_owner_and_mode(dst.as_fd(), st, perm, shown)
}

/// Owner first: chown clears the set-id bits that the mode then sets again.
fn set_owner_and_mode(
    fd: BorrowedFd<'_>,
    st: &FileStat,
    perm: Mode,
    shown: &Path,
) -> SysResult<()> {
    fchown(fd, Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)))
        .sys("fchown", shown.display())?;
    fchmod(fd, perm).sys("fchmod", shown.display())
}

fn chown_at(dir: BorrowedFd<'_>, name: &Path, st: &FileStat, shown: &Path) -> SysResult<()> {
    let owner = (Some(Uid::from_raw(st.st_uid)), Some(Gid::from_raw(st.st_gid)));
    fchownat(dir, name, owner.0, owner.1, AtFlags::AT_SYMLINK_NOFOLLOW)
        .sys("fchownat", shown.display())
}

fn is_dot(name: &CStr) -> bool {
    matches!(name.to_bytes(), b"." | b"..")
}

fn errno_of(e: &std::io::Error) -> nix::errno::Errno {
    nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}
