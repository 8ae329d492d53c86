//! The ENOSYS prologue: a syscall newer than every syscall a profile names fails with
//! ENOSYS instead of meeting the profile's default action.
//!
//! A profile lists what its author knew. A syscall added to the kernel later (clone3,
//! faccessat2, openat2 when they were new) would otherwise get the default action, usually
//! EPERM, and a program that tries the new call first and falls back to the old one only on
//! ENOSYS ("not implemented") then fails instead of falling back. runc and crun answer such
//! calls with ENOSYS; so does berth. Syscalls the profile could have named but did not (the
//! ones numbered below its newest) still get the default action.
//!
//! The prologue runs before libseccomp's program: per architecture of the filter, it loads
//! the syscall number, answers ENOSYS when it is above the highest number the profile names
//! for that architecture, and otherwise jumps to libseccomp's program unchanged.

use libseccomp::{ScmpAction, ScmpArch, ScmpSyscall};

use super::arch::audit_arch;

/// `struct seccomp_data`: offset of `nr` and of `arch`.
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;

/// Classic-BPF opcodes (linux/filter.h, linux/bpf_common.h).
const LD_W_ABS: u16 = 0x20; // BPF_LD (0) | BPF_W (0) | BPF_ABS
const JMP_JA: u16 = 0x05; // BPF_JMP | BPF_JA
const JMP_JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JMP_JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JMP_JSET_K: u16 = 0x45; // BPF_JMP | BPF_JSET | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

/// x32 syscalls arrive as AUDIT_ARCH_X86_64 with this bit set in their number.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// One check of the prologue: for syscalls of `audit` (with the x32 bit set or clear when
/// `x32` says so), numbers above `max` get ENOSYS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limit {
    audit: u32,
    x32: Option<bool>,
    max: u32,
}

/// Whether a filter with this default action needs the prologue: not when unknown calls
/// are allowed (or only logged) anyway, nor when the default already says ENOSYS.
pub(super) fn wanted(default: ScmpAction) -> bool {
    !matches!(default, ScmpAction::Allow | ScmpAction::Log)
        && default != ScmpAction::Errno(libc::ENOSYS)
}

/// The limits for a filter over `archs` (the native one included) whose profile names
/// `names`: per architecture, the highest number among the names it knows there. An
/// architecture for which the profile names nothing gets no limit.
fn limits<'a>(archs: &[ScmpArch], names: impl Iterator<Item = &'a str> + Clone) -> Vec<Limit> {
    let mut limits: Vec<Limit> = Vec::new();
    for &arch in archs {
        let Some((audit, x32)) = audit_arch(arch) else { continue };
        let max = names
            .clone()
            .filter_map(|name| ScmpSyscall::from_name_by_arch(name, arch).ok())
            .filter_map(|nr| u32::try_from(nr.as_raw_syscall()).ok())
            .max();
        let Some(max) = max else { continue };
        let limit = Limit { audit, x32, max };
        if !limits.contains(&limit) {
            limits.push(limit);
        }
    }
    limits
}

/// Where a jump of the prologue goes.
#[derive(Clone, Copy)]
enum To {
    /// The next instruction.
    Next,
    /// Skip this many instructions.
    Skip(u8),
    /// The ENOSYS return.
    Enosys,
    /// The first instruction of libseccomp's program.
    Program,
}

/// One prologue instruction before its jumps are resolved.
struct Insn {
    code: u16,
    jt: To,
    jf: To,
    k: u32,
}

impl Insn {
    fn load(offset: u32) -> Self {
        Insn { code: LD_W_ABS, jt: To::Next, jf: To::Next, k: offset }
    }
    fn jump(code: u16, k: u32, jt: To, jf: To) -> Self {
        Insn { code, jt, jf, k }
    }
}

/// The prologue's instructions for `limits`, grouped by architecture token.
fn assemble(limits: &[Limit]) -> Vec<Insn> {
    let mut out = vec![Insn::load(ARCH_OFFSET)];
    let mut tokens: Vec<u32> = Vec::new();
    for limit in limits {
        if !tokens.contains(&limit.audit) {
            tokens.push(limit.audit);
        }
    }
    for audit in tokens {
        let mut block = vec![Insn::load(NR_OFFSET)];
        for limit in limits.iter().filter(|l| l.audit == audit) {
            if let Some(set) = limit.x32 {
                // Skip the comparison when the bit does not say this is the limit's ABI.
                let (jt, jf) = if set { (To::Next, To::Skip(1)) } else { (To::Skip(1), To::Next) };
                block.push(Insn::jump(JMP_JSET_K, X32_SYSCALL_BIT, jt, jf));
            }
            block.push(Insn::jump(JMP_JGT_K, limit.max, To::Enosys, To::Program));
        }
        // An ABI of this architecture without a limit (x32 when only x86_64 is listed).
        block.push(Insn::jump(JMP_JA, 0, To::Program, To::Program));
        let skip = u8::try_from(block.len()).expect("a block has a few instructions");
        out.push(Insn::jump(JMP_JEQ_K, audit, To::Next, To::Skip(skip)));
        out.extend(block);
    }
    // An architecture without limits.
    out.push(Insn::jump(JMP_JA, 0, To::Program, To::Program));
    out
}

/// The prologue for a filter over `archs` whose profile names `names`, to be put in front
/// of libseccomp's program; empty when no architecture has a limit.
pub(super) fn prologue<'a>(
    archs: &[ScmpArch],
    names: impl Iterator<Item = &'a str> + Clone,
) -> Vec<libc::sock_filter> {
    let limits = limits(archs, names);
    if limits.is_empty() {
        return Vec::new();
    }
    let insns = assemble(&limits);
    let enosys = insns.len();
    let program = enosys + 1;
    let offset = |at: usize, to: To| -> usize {
        match to {
            To::Next => 0,
            To::Skip(n) => usize::from(n),
            To::Enosys => enosys - at - 1,
            To::Program => program - at - 1,
        }
    };
    let mut out: Vec<libc::sock_filter> = insns
        .iter()
        .enumerate()
        .map(|(at, insn)| {
            let (jt, jf) = (offset(at, insn.jt), offset(at, insn.jf));
            if insn.code == JMP_JA {
                return libc::sock_filter { code: JMP_JA, jt: 0, jf: 0, k: jt as u32 };
            }
            let short = |o: usize| u8::try_from(o).expect("the prologue is short");
            libc::sock_filter { code: insn.code, jt: short(jt), jf: short(jf), k: insn.k }
        })
        .collect();
    out.push(libc::sock_filter {
        code: RET_K,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x32_numbers_carry_the_x32_bit() {
        let nr = ScmpSyscall::from_name_by_arch("read", ScmpArch::X32).unwrap();
        assert_eq!(nr.as_raw_syscall() as u32 & X32_SYSCALL_BIT, X32_SYSCALL_BIT);
    }

    #[test]
    fn the_limit_is_the_highest_number_named_per_architecture() {
        let names = ["read", "write", "openat", "no-such-call"];
        let found = limits(&[ScmpArch::X8664, ScmpArch::X86], names.iter().copied());
        let x86_64_openat = ScmpSyscall::from_name_by_arch("openat", ScmpArch::X8664).unwrap();
        assert_eq!(found[0], Limit { audit: 0xC000_003E, x32: Some(false), max: 257 });
        assert_eq!(x86_64_openat.as_raw_syscall(), 257);
        assert_eq!(found[1].audit, 0x4000_0003);
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn every_jump_lands_inside_the_prologue_or_on_the_program() {
        let names = ["read", "clone3"];
        let archs = [ScmpArch::X8664, ScmpArch::X32, ScmpArch::X86];
        let prog = prologue(&archs, names.iter().copied());
        let len = prog.len();
        assert_eq!(prog[len - 1].k, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        for (at, insn) in prog.iter().enumerate() {
            let targets = match insn.code {
                JMP_JA => vec![insn.k as usize],
                JMP_JEQ_K | JMP_JGT_K | JMP_JSET_K => vec![insn.jt.into(), insn.jf.into()],
                _ => continue,
            };
            for t in targets {
                assert!(at + 1 + t <= len, "instruction {at} jumps past the program start");
            }
        }
    }

    #[test]
    fn allow_and_enosys_defaults_need_no_prologue() {
        assert!(!wanted(ScmpAction::Allow));
        assert!(!wanted(ScmpAction::Log));
        assert!(!wanted(ScmpAction::Errno(libc::ENOSYS)));
        assert!(wanted(ScmpAction::Errno(libc::EPERM)));
        assert!(wanted(ScmpAction::KillProcess));
    }
}
