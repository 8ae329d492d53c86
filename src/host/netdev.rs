//! `linux.netDevices`: move interfaces of the runtime's network namespace into the
//! container's, renamed on the way, with one rtnetlink RTM_NEWLINK request each
//! (`IFLA_NET_NS_FD` + `IFLA_IFNAME`, so the move and the rename happen together).
//!
//! The kernel drops an interface's addresses when it changes namespace; berth reads the
//! global ones first and adds them again inside, as other runtimes do. Routes and the
//! link's state are left to the caller (hooks, CNI), as the spec leaves them.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::CloneFlags;

use crate::spec::NetDevice;
use crate::sys::netlink::{self, Socket};

/// A device that could not be moved, naming its config entry.
#[derive(Debug, thiserror::Error)]
pub enum NetDevError {
    /// No interface of that name in the runtime's network namespace.
    #[error("linux.netDevices.{0}: no such network interface on the host")]
    Missing(String),
    /// A netlink exchange or a namespace switch failed.
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

/// Whether the runtime's network namespace has an interface `name` (validation refuses a
/// config naming one it lacks, before anything is created).
pub fn exists(name: &str) -> bool {
    index_of(name).is_ok()
}

fn netlink_err<'a>(name: &'a str, call: &'static str) -> impl Fn(Errno) -> NetDevError + 'a {
    move |errno| NetDevError::Netlink { name: name.to_string(), call, errno }
}

/// Moves every device into the network namespace `netns`, with its global addresses.
pub fn move_all(devices: &[NetDevice], netns: BorrowedFd<'_>) -> Result<(), NetDevError> {
    let Some(first) = devices.first() else { return Ok(()) };
    let mut host = Socket::open().map_err(netlink_err(&first.host_name, "socket"))?;
    let mut inside = socket_in(netns).map_err(netlink_err(&first.host_name, "setns"))?;
    for d in devices {
        let err = |call| netlink_err(&d.host_name, call);
        let index = index_of(&d.host_name)?;
        let addresses = global_addresses(&mut host, index).map_err(err("RTM_GETADDR"))?;
        host.call(libc::RTM_NEWLINK, 0, &move_body(index, netns.as_raw_fd() as u32, &d.name))
            .map_err(err("moving with RTM_NEWLINK"))?;
        if addresses.is_empty() {
            continue;
        }
        let new_index = index_inside(&mut inside, &d.name).map_err(err("RTM_GETLINK"))?;
        let flags = (libc::NLM_F_CREATE | libc::NLM_F_EXCL) as u16;
        for address in addresses {
            inside
                .call(libc::RTM_NEWADDR, flags, &address.with_index(new_index))
                .map_err(err("restoring an address with RTM_NEWADDR"))?;
        }
    }
    Ok(())
}

/// A netlink socket of the namespace `netns`: the runtime enters it for the socket(2) call
/// only (the runtime is single-threaded, so nothing else runs meanwhile).
fn socket_in(netns: BorrowedFd<'_>) -> Result<Socket, Errno> {
    let own: OwnedFd = std::fs::File::open("/proc/thread-self/ns/net")
        .map_err(|e| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)))?
        .into();
    nix::sched::setns(netns, CloneFlags::CLONE_NEWNET)?;
    let socket = Socket::open();
    nix::sched::setns(own.as_fd(), CloneFlags::CLONE_NEWNET)?;
    socket
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

const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_LABEL: u16 = 3;
const IFA_CACHEINFO: u16 = 6;
const IFA_FLAGS: u16 = 8;
/// `IFA_F_DADFAILED | IFA_F_DEPRECATED | IFA_F_TENTATIVE`.
const IFA_TRANSIENT: u8 = 0x08 | 0x20 | 0x40;
const RT_SCOPE_LINK: u8 = 253;

/// `struct ifinfomsg` for interface `index`.
fn ifinfomsg(index: u32) -> Vec<u8> {
    let mut body = vec![libc::AF_UNSPEC as u8, 0, 0, 0];
    body.extend_from_slice(&(index as i32).to_ne_bytes());
    body.extend_from_slice(&[0u8; 8]);
    body
}

/// RTM_NEWLINK's body: interface `index` into namespace fd `netns`, named `name` there.
fn move_body(index: u32, netns: u32, name: &str) -> Vec<u8> {
    let mut body = ifinfomsg(index);
    netlink::push_attr(&mut body, IFLA_NET_NS_FD, &netns.to_ne_bytes());
    let mut ifname = name.as_bytes().to_vec();
    ifname.push(0);
    netlink::push_attr(&mut body, IFLA_IFNAME, &ifname);
    body
}

/// The index of interface `name` as the socket's namespace sees it.
fn index_inside(socket: &mut Socket, name: &str) -> Result<u32, Errno> {
    let links = socket.dump(libc::RTM_GETLINK, &ifinfomsg(0), libc::RTM_NEWLINK)?;
    let mut wanted = name.as_bytes().to_vec();
    wanted.push(0);
    links
        .iter()
        .filter(|m| m.payload.len() >= 16)
        .find(|m| {
            netlink::attrs(&m.payload[16..])
                .iter()
                .any(|(t, v)| *t == IFLA_IFNAME && v.starts_with(&wanted))
        })
        .map(|m| u32::from_ne_bytes(m.payload[4..8].try_into().expect("4 bytes")))
        .ok_or(Errno::ENODEV)
}

/// One address of an interface, as RTM_NEWADDR takes it back.
struct Address {
    /// `struct ifaddrmsg` (the index is replaced on the way back).
    header: [u8; 8],
    /// Its attributes but the label (bound to the old name), lifetimes and extended flags.
    attributes: Vec<u8>,
}

impl Address {
    fn with_index(&self, index: u32) -> Vec<u8> {
        let mut body = self.header.to_vec();
        body[4..8].copy_from_slice(&index.to_ne_bytes());
        body.extend_from_slice(&self.attributes);
        body
    }
}

/// The addresses of interface `index` that are not link-scoped (the kernel makes those).
fn global_addresses(socket: &mut Socket, index: u32) -> Result<Vec<Address>, Errno> {
    let all = socket.dump(libc::RTM_GETADDR, &[0u8; 8], libc::RTM_NEWADDR)?;
    let mut out = Vec::new();
    for msg in all.iter().filter(|m| m.payload.len() >= 8) {
        let mut header: [u8; 8] = msg.payload[..8].try_into().expect("8 bytes");
        // Duplicate-address-detection states belong to the old link; the kernel sets them anew.
        header[2] &= !IFA_TRANSIENT;
        let of_index = u32::from_ne_bytes(header[4..8].try_into().expect("4 bytes"));
        if of_index != index || header[3] == RT_SCOPE_LINK {
            continue;
        }
        let mut attributes = Vec::new();
        for (typ, value) in netlink::attrs(&msg.payload[8..]) {
            if ![IFA_LABEL, IFA_CACHEINFO, IFA_FLAGS].contains(&typ) {
                netlink::push_attr(&mut attributes, typ, value);
            }
        }
        out.push(Address { header, attributes });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn move_body_layout() {
        let body = move_body(3, 9, "ctr0");
        // ifinfomsg + (4 + 4) + align4(4 + 5)
        assert_eq!(body.len(), 16 + 8 + 12);
        assert_eq!(i32::from_ne_bytes(body[4..8].try_into().unwrap()), 3);
        assert_eq!(&body[28..33], b"ctr0\0");
    }
}
