//! File calls the state store makes: a whole-file lock, the mount-root attribute, and
//! reads of small kernel files.

use std::os::fd::{AsRawFd, BorrowedFd};

use nix::errno::Errno;

/// Takes an exclusive flock(2) on `fd`, waiting for it (one call: EINTR is returned).
pub fn lock_exclusive(fd: BorrowedFd) -> nix::Result<()> {
    // SAFETY: flock takes a descriptor number and an int; `fd` is open for the call.
    Errno::result(unsafe { libc::flock(fd.as_raw_fd(), libc::LOCK_EX) }).map(drop)
}

/// statx(2)'s `STATX_ATTR_MOUNT_ROOT` for `fd`: whether it is the root of a mount, or
/// `None` where the kernel does not report the attribute (before Linux 5.8).
pub fn is_mount_root(fd: BorrowedFd) -> nix::Result<Option<bool>> {
    const MOUNT_ROOT: u64 = libc::STATX_ATTR_MOUNT_ROOT as u64;
    // SAFETY: statx is plain integers and arrays; all-zero is a valid value to overwrite.
    let mut buf: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: the fd is open, the path is a valid empty C string (AT_EMPTY_PATH: the fd
    // itself), and `buf` is writable for the call.
    let rc = unsafe { libc::statx(fd.as_raw_fd(), c"".as_ptr(), libc::AT_EMPTY_PATH, 0, &mut buf) };
    Errno::result(rc)?;
    Ok((buf.stx_attributes_mask & MOUNT_ROOT != 0).then_some(buf.stx_attributes & MOUNT_ROOT != 0))
}

/// The whole text of a small procfs or cgroup file, read(2) until end of file into room
/// for `expected` bytes (grown when it fills). `fs::read_to_string` first asks for the
/// file's size (statx and lseek), which such files report as 0, then reads in growing
/// pieces: up to nine system calls where four do. `None` when it cannot be opened or read.
pub fn read_small(path: &std::path::Path, expected: usize) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = vec![0u8; expected.max(16)];
    let mut len = 0;
    loop {
        match file.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return None,
        }
        if len == buf.len() {
            buf.resize(len * 2, 0);
        }
    }
    buf.truncate(len);
    String::from_utf8(buf).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn small_files_are_read_whole_past_the_expected_size() {
        let text = super::read_small(std::path::Path::new("/proc/self/stat"), 1).unwrap();
        assert!(text.starts_with(&format!("{} (", std::process::id())), "{text}");
        assert!(text.ends_with('\n'), "{text}");
        assert_eq!(super::read_small(std::path::Path::new("/proc/self/nonexistent"), 64), None);
    }
}
