//! Socket calls nix cannot make without allocating.

use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use nix::errno::Errno;

/// sendmsg(2) of `bytes` on `socket` with `fd` as SCM_RIGHTS, MSG_NOSIGNAL: one syscall and
/// no allocation, so it is safe to call where any other call could be stopped (right after
/// a notifying seccomp filter was loaded). The errno is all a failure says: building an
/// error message would allocate, which the caller may do afterwards.
pub fn send_with_fd(socket: BorrowedFd<'_>, bytes: &[u8], fd: RawFd) -> Result<(), Errno> {
    // CMSG_SPACE of one descriptor is 24 bytes on 64-bit, 16 on 32-bit; u64s align it.
    let mut control = [0u64; 4];
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
    let (space, len) = unsafe {
        (libc::CMSG_SPACE(size_of::<RawFd>() as u32), libc::CMSG_LEN(size_of::<RawFd>() as u32))
    };
    assert!(space as usize <= size_of_val(&control), "room for one descriptor");
    let mut iov = libc::iovec { iov_base: bytes.as_ptr().cast_mut().cast(), iov_len: bytes.len() };
    // SAFETY: an all-zero msghdr is a valid empty one; the fields are set below.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    hdr.msg_control = control.as_mut_ptr().cast();
    hdr.msg_controllen = space as _;
    // SAFETY: `control` holds `space` bytes, so the first header and its data fit; the
    // kernel reads `bytes` and `control` only during the call, while both live.
    let ret = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&hdr);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = len as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        libc::sendmsg(socket.as_raw_fd(), &hdr, libc::MSG_NOSIGNAL)
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    Ok(())
}
