//! `linux.netDevices`: move interfaces of the runtime's network namespace into the
//! container's, renamed on the way, with one rtnetlink RTM_NEWLINK request each
//! (`IFLA_NET_NS_FD` + `IFLA_IFNAME`, so the move and the rename happen together).
//!
//! The kernel drops an interface's addresses when it changes namespace; configuring the
//! interface inside is left to the caller (hooks, CNI), as the spec leaves it.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use crate::spec::NetDevice;

/// A device that could not be moved, naming its config entry.
#[derive(Debug, thiserror::Error)]
pub enum NetDevError {
    /// No interface of that name in the runtime's network namespace.
    #[error("linux.netDevices.{0}: no such network interface on the host")]
    Missing(String),
    /// The netlink exchange failed.
    #[error("linux.netDevices.{name}: {call}")]
    Netlink {
        /// The host name of the interface.
        name: String,
        /// What failed.
        call: &'static str,
        /// The kernel's answer.
        #[source]
        errno: Errno,
    },
}

/// Checks that every device exists, before anything is created.
pub fn check(devices: &[NetDevice]) -> Result<(), NetDevError> {
    for d in devices {
        index_of(&d.host_name)?;
    }
    Ok(())
}

fn netlink_err<'a>(name: &'a str, call: &'static str) -> impl Fn(Errno) -> NetDevError + 'a {
    move |errno| NetDevError::Netlink { name: name.to_string(), call, errno }
}

/// Moves every device into the network namespace `netns`.
pub fn move_all(devices: &[NetDevice], netns: BorrowedFd<'_>) -> Result<(), NetDevError> {
    if devices.is_empty() {
        return Ok(());
    }
    let socket =
        netlink_socket().map_err(netlink_err(&devices[0].host_name, "socket(NETLINK_ROUTE)"))?;
    for (seq, d) in devices.iter().enumerate() {
        let index = index_of(&d.host_name)?;
        let request = move_request(seq as u32 + 1, index, netns.as_raw_fd() as u32, &d.name);
        send_and_ack(&socket, &request)
            .map_err(netlink_err(&d.host_name, "moving with RTM_NEWLINK"))?;
    }
    Ok(())
}

fn index_of(name: &str) -> Result<u32, NetDevError> {
    let missing = || NetDevError::Missing(name.to_string());
    let c = CString::new(name).map_err(|_| missing())?;
    // SAFETY: a NUL-terminated name; 0 means not found.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(missing()),
        index => Ok(index),
    }
}

fn netlink_socket() -> Result<OwnedFd, Errno> {
    // SAFETY: plain socket(2); the result is checked and owned.
    let fd = unsafe {
        libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
    };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: a new descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_attr(buf: &mut Vec<u8>, typ: u16, payload: &[u8]) {
    let len = 4 + payload.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&typ.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(buf.len()), 0);
}

/// RTM_NEWLINK on interface `index`: into namespace fd `netns`, named `name` there.
fn move_request(seq: u32, index: u32, netns: u32, name: &str) -> Vec<u8> {
    let mut buf = vec![0u8; NLMSG_HDRLEN];
    // struct ifinfomsg: family, pad, type, index, flags, change.
    buf.extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
    buf.extend_from_slice(&(index as i32).to_ne_bytes());
    buf.extend_from_slice(&[0u8; 8]);
    debug_assert_eq!(buf.len(), NLMSG_HDRLEN + IFINFOMSG_LEN);
    push_attr(&mut buf, IFLA_NET_NS_FD, &netns.to_ne_bytes());
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    push_attr(&mut buf, IFLA_IFNAME, &ifname);
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    let len = buf.len() as u32;
    buf[0..4].copy_from_slice(&len.to_ne_bytes());
    buf[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
    buf[6..8].copy_from_slice(&flags.to_ne_bytes());
    buf[8..12].copy_from_slice(&seq.to_ne_bytes());
    buf
}

/// Sends one request and reads the kernel's acknowledgement (an NLMSG_ERROR, 0 on success).
fn send_and_ack(socket: &OwnedFd, request: &[u8]) -> Result<(), Errno> {
    // SAFETY: the buffer is valid for its length; the kernel is the default destination.
    let sent = unsafe { libc::send(socket.as_raw_fd(), request.as_ptr().cast(), request.len(), 0) };
    if sent < 0 {
        return Err(Errno::last());
    }
    let mut reply = [0u8; 1024];
    // SAFETY: the buffer is valid for its length.
    let got = unsafe { libc::recv(socket.as_raw_fd(), reply.as_mut_ptr().cast(), reply.len(), 0) };
    if got < 0 {
        return Err(Errno::last());
    }
    let got = got as usize;
    if got < NLMSG_HDRLEN + 4 {
        return Err(Errno::EBADMSG);
    }
    let typ = u16::from_ne_bytes([reply[4], reply[5]]);
    if typ != libc::NLMSG_ERROR as u16 {
        return Err(Errno::EBADMSG);
    }
    let code = i32::from_ne_bytes(reply[16..20].try_into().expect("4 bytes"));
    match code {
        0 => Ok(()),
        negative => Err(Errno::from_raw(-negative)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout() {
        let r = move_request(7, 3, 9, "ctr0");
        // header + ifinfomsg + (4 + 4) + align4(4 + 5)
        assert_eq!(r.len(), 16 + 16 + 8 + 12);
        assert_eq!(u32::from_ne_bytes(r[0..4].try_into().unwrap()) as usize, r.len());
        assert_eq!(i32::from_ne_bytes(r[20..24].try_into().unwrap()), 3);
        assert_eq!(&r[44..49], b"ctr0\0");
    }
}
