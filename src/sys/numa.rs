//! CPU affinity and NUMA memory policy of the calling process: sched_setaffinity(2) and
//! set_mempolicy(2).

use nix::errno::Errno;

use super::{SysError, SysResult};

/// sched_setaffinity(2) of the calling thread to exactly `cpus`.
/// <https://man7.org/linux/man-pages/man2/sched_setaffinity.2.html>
pub fn set_cpu_affinity(cpus: &[u32]) -> SysResult<()> {
    let target = || format!("{cpus:?}");
    let mut set = nix::sched::CpuSet::new();
    for &cpu in cpus {
        set.set(cpu as usize).map_err(|e| SysError::new("sched_setaffinity", target(), e))?;
    }
    nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), &set)
        .map_err(|e| SysError::new("sched_setaffinity", target(), e))
}

/// Bits of one word of a nodemask.
const WORD_BITS: u32 = u64::BITS;

/// set_mempolicy(2) of the calling thread (inherited by children and kept across execve).
/// <https://man7.org/linux/man-pages/man2/set_mempolicy.2.html>
pub fn set_mempolicy(mode: i32, flags: i32, nodes: &[u32]) -> SysResult<()> {
    let words = nodes.iter().max().map_or(0, |max| (max / WORD_BITS + 1) as usize);
    let mut mask = vec![0u64; words];
    for &node in nodes {
        mask[(node / WORD_BITS) as usize] |= 1 << (node % WORD_BITS);
    }
    // maxnode counts bits; the kernel reads maxnode - 1 of them (a long-standing quirk).
    let maxnode = if words == 0 { 0 } else { words as u64 * u64::from(WORD_BITS) + 1 };
    let ptr = if words == 0 { std::ptr::null() } else { mask.as_ptr() };
    // SAFETY: the kernel reads at most `maxnode - 1` bits from `mask`, which holds them all.
    let ret = unsafe { libc::syscall(libc::SYS_set_mempolicy, mode | flags, ptr, maxnode) };
    if ret < 0 {
        return Err(SysError::new(
            "set_mempolicy",
            format!("mode {mode} flags {flags:#x} nodes {nodes:?}"),
            Errno::last(),
        ));
    }
    Ok(())
}
