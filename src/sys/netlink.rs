//! A minimal rtnetlink client: build a request, send it, read the acknowledgement or the
//! messages of a dump. <https://man7.org/linux/man-pages/man7/rtnetlink.7.html>

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

/// Length of `struct nlmsghdr`.
pub const HEADER_LEN: usize = 16;

/// One rtnetlink message: its type and its payload (after the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `nlmsg_type`.
    pub typ: u16,
    /// The bytes after the header.
    pub payload: Vec<u8>,
}

/// An `AF_NETLINK`/`NETLINK_ROUTE` socket in the calling thread's network namespace.
pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// Appends one `struct rtattr` of type `typ` to `buf`.
pub fn push_attr(buf: &mut Vec<u8>, typ: u16, payload: &[u8]) {
    buf.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&typ.to_ne_bytes());
    buf.extend_from_slice(payload);
    buf.resize(align4(buf.len()), 0);
}

/// The `(type, payload)` of each `struct rtattr` in `buf`.
pub fn attrs(buf: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 4 <= buf.len() {
        let len = u16::from_ne_bytes([buf[at], buf[at + 1]]) as usize;
        let typ = u16::from_ne_bytes([buf[at + 2], buf[at + 3]]);
        if len < 4 || at + len > buf.len() {
            break;
        }
        out.push((typ, &buf[at + 4..at + len]));
        at += align4(len);
    }
    out
}

/// A request of type `typ` with `flags` (`NLM_F_REQUEST` is added) and `body`.
pub fn request(typ: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = (HEADER_LEN + body.len()) as u32;
    let mut buf = Vec::with_capacity(len as usize);
    buf.extend_from_slice(&len.to_ne_bytes());
    buf.extend_from_slice(&typ.to_ne_bytes());
    buf.extend_from_slice(&(flags | libc::NLM_F_REQUEST as u16).to_ne_bytes());
    buf.extend_from_slice(&seq.to_ne_bytes());
    buf.extend_from_slice(&0u32.to_ne_bytes());
    buf.extend_from_slice(body);
    buf
}

/// Splits a datagram into messages.
fn messages(buf: &[u8]) -> Vec<Message> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + HEADER_LEN <= buf.len() {
        let len = u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len < HEADER_LEN || at + len > buf.len() {
            break;
        }
        let typ = u16::from_ne_bytes([buf[at + 4], buf[at + 5]]);
        out.push(Message { typ, payload: buf[at + HEADER_LEN..at + len].to_vec() });
        at += align4(len);
    }
    out
}

impl Socket {
    /// socket(2) in the current network namespace.
    pub fn open() -> Result<Self, Errno> {
        // SAFETY: plain socket(2); the result is checked and owned.
        let fd = unsafe {
            libc::socket(libc::AF_NETLINK, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::NETLINK_ROUTE)
        };
        if fd < 0 {
            return Err(Errno::last());
        }
        // SAFETY: a new descriptor.
        Ok(Socket { fd: unsafe { OwnedFd::from_raw_fd(fd) }, seq: 0 })
    }

    fn send(&mut self, typ: u16, flags: u16, body: &[u8]) -> Result<(), Errno> {
        self.seq += 1;
        let buf = request(typ, flags, self.seq, body);
        // SAFETY: the buffer is valid for its length; the kernel is the default peer.
        if unsafe { libc::send(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) } < 0 {
            return Err(Errno::last());
        }
        Ok(())
    }

    fn recv(&self) -> Result<Vec<Message>, Errno> {
        let mut buf = vec![0u8; 32 * 1024];
        // SAFETY: the buffer is valid for its length.
        let got = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if got < 0 {
            return Err(Errno::last());
        }
        Ok(messages(&buf[..got as usize]))
    }

    /// Sends a request asking for an acknowledgement and returns the kernel's verdict.
    pub fn call(&mut self, typ: u16, flags: u16, body: &[u8]) -> Result<(), Errno> {
        self.send(typ, flags | libc::NLM_F_ACK as u16, body)?;
        for msg in self.recv()? {
            if msg.typ == libc::NLMSG_ERROR as u16 && msg.payload.len() >= 4 {
                let code = i32::from_ne_bytes(msg.payload[..4].try_into().expect("4 bytes"));
                return if code == 0 { Ok(()) } else { Err(Errno::from_raw(-code)) };
            }
        }
        Err(Errno::EBADMSG)
    }

    /// Sends a dump request and collects every message of type `want` until NLMSG_DONE.
    pub fn dump(&mut self, typ: u16, body: &[u8], want: u16) -> Result<Vec<Message>, Errno> {
        self.send(typ, libc::NLM_F_DUMP as u16, body)?;
        let mut out = Vec::new();
        loop {
            for msg in self.recv()? {
                match msg.typ {
                    t if t == libc::NLMSG_DONE as u16 => return Ok(out),
                    t if t == libc::NLMSG_ERROR as u16 => {
                        let code = msg.payload.get(..4).map_or(-libc::EBADMSG, |b| {
                            i32::from_ne_bytes(b.try_into().expect("4 bytes"))
                        });
                        return Err(Errno::from_raw(-code));
                    }
                    t if t == want => out.push(msg),
                    _ => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_round_trip() {
        let mut buf = Vec::new();
        push_attr(&mut buf, 3, b"ctr0\0");
        push_attr(&mut buf, 28, &7u32.to_ne_bytes());
        assert_eq!(buf.len(), 12 + 8);
        assert_eq!(attrs(&buf), [(3, &b"ctr0\0"[..]), (28, &7u32.to_ne_bytes()[..])]);
        let req = request(16, 0, 1, &buf);
        let parsed = messages(&req);
        assert_eq!(parsed, [Message { typ: 16, payload: buf }]);
    }
}
