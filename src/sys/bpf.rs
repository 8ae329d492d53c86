//! bpf(2): loading a program and attaching it to a cgroup.
//! See <https://man7.org/linux/man-pages/man2/bpf.2.html> and the kernel's
//! Documentation/bpf/standardization/instruction-set.rst for the instruction encoding.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

use super::{SysError, SysResult};

/// `BPF_PROG_LOAD`.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_PROG_ATTACH`.
const BPF_PROG_ATTACH: libc::c_long = 8;
/// The size the kernel accepts for `union bpf_attr` (larger than both commands use).
const ATTR_SIZE: usize = 128;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register in the low nibble, source register in the high one.
    pub regs: u8,
    /// Signed offset (jumps, memory accesses).
    pub off: i16,
    /// Signed immediate.
    pub imm: i32,
}

/// The start of `union bpf_attr` as BPF_PROG_LOAD reads it, zero-padded to [`ATTR_SIZE`].
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    rest: [u8; ATTR_SIZE - 32],
}

/// The start of `union bpf_attr` as BPF_PROG_ATTACH reads it, zero-padded.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    rest: [u8; ATTR_SIZE - 16],
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> Result<libc::c_long, Errno> {
    // SAFETY: `attr` is a live, fully initialised bpf_attr prefix of ATTR_SIZE bytes.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *mut T, std::mem::size_of::<T>()) };
    if rc < 0 {
        Err(Errno::last())
    } else {
        Ok(rc)
    }
}

/// Loads `insns` as a program of `prog_type`; the verifier's log, if it refuses, goes into
/// the error's target.
pub fn prog_load(prog_type: u32, insns: &[Insn], license: &std::ffi::CStr) -> SysResult<OwnedFd> {
    // Without a log first: the verifier's log costs time, and a log buffer it outgrows makes
    // even a valid program fail with ENOSPC (seen on 6.1 kernels).
    match load(prog_type, insns, license, &mut []) {
        Ok(fd) => Ok(fd),
        Err(_) => {
            let mut log = vec![0u8; 1 << 20];
            load(prog_type, insns, license, &mut log).map_err(|errno| {
                let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
                let text = String::from_utf8_lossy(&log[..end]);
                // The verifier's verdict is its last line; the rest is a trace.
                let verdict =
                    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
                SysError::new("bpf(BPF_PROG_LOAD)", format!("verifier: {verdict}"), errno)
            })
        }
    }
}

/// One BPF_PROG_LOAD; an empty `log` asks for none.
fn load(
    prog_type: u32,
    insns: &[Insn],
    license: &std::ffi::CStr,
    log: &mut [u8],
) -> Result<OwnedFd, Errno> {
    let mut attr = ProgLoadAttr {
        prog_type,
        insn_cnt: u32::try_from(insns.len()).unwrap_or(u32::MAX),
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: u32::from(!log.is_empty()),
        log_size: log.len() as u32,
        log_buf: if log.is_empty() { 0 } else { log.as_mut_ptr() as u64 },
        rest: [0; ATTR_SIZE - 32],
    };
    // SAFETY: on success the kernel returned a new descriptor that nothing else owns.
    bpf(BPF_PROG_LOAD, &mut attr).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attaches program `prog` to the cgroup directory `cgroup` as `attach_type`.
pub fn prog_attach(
    cgroup: BorrowedFd,
    prog: BorrowedFd,
    attach_type: u32,
    flags: u32,
    what: &str,
) -> SysResult<()> {
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type,
        attach_flags: flags,
        rest: [0; ATTR_SIZE - 16],
    };
    bpf(BPF_PROG_ATTACH, &mut attr)
        .map(drop)
        .map_err(|errno| SysError::new("bpf(BPF_PROG_ATTACH)", what, errno))
}
