//! The architecture tables: every architecture a profile may name, with libseccomp's token
//! and the kernel's AUDIT_ARCH_* value; the architectures berth itself is built for, with
//! their own facts; the personality domains; and the syscalls berth makes by number. Code
//! looks these facts up here instead of matching on an architecture, and the unit tests
//! check every row (aarch64's included) against libseccomp's tables on any host.

use libseccomp::{ScmpAction, ScmpArch, ScmpFilterContext};
use oci_spec::runtime::{Arch, LinuxPersonalityDomain};

/// One architecture a seccomp profile may name.
#[derive(Debug, Clone, Copy)]
pub struct ArchRow {
    /// Its name in `linux.seccomp.architectures`.
    pub spec: Arch,
    /// libseccomp's token.
    pub scmp: ScmpArch,
    /// The kernel's AUDIT_ARCH_* value (linux/audit.h: the ELF machine, with 0x8000_0000 for
    /// 64-bit and 0x4000_0000 for little-endian), as `seccomp_data.arch` carries it; None
    /// where the ENOSYS prologue does not cover the architecture.
    pub audit: Option<u32>,
    /// For the two ABIs that share AUDIT_ARCH_X86_64: whether the syscall number carries
    /// the x32 bit (x32) or not (x86_64).
    pub x32: Option<bool>,
}

const B64: u32 = 0x8000_0000;
const LE: u32 = 0x4000_0000;

const fn row(spec: Arch, scmp: ScmpArch, audit: Option<u32>, x32: Option<bool>) -> ArchRow {
    ArchRow { spec, scmp, audit, x32 }
}

/// Every architecture of the runtime spec.
pub const ARCHS: &[ArchRow] = &[
    row(Arch::ScmpArchNative, ScmpArch::Native, None, None),
    row(Arch::ScmpArchX86, ScmpArch::X86, Some(3 | LE), None),
    row(Arch::ScmpArchX86_64, ScmpArch::X8664, Some(62 | B64 | LE), Some(false)),
    row(Arch::ScmpArchX32, ScmpArch::X32, Some(62 | B64 | LE), Some(true)),
    row(Arch::ScmpArchArm, ScmpArch::Arm, Some(40 | LE), None),
    row(Arch::ScmpArchAarch64, ScmpArch::Aarch64, Some(183 | B64 | LE), None),
    row(Arch::ScmpArchMips, ScmpArch::Mips, None, None),
    row(Arch::ScmpArchMips64, ScmpArch::Mips64, None, None),
    row(Arch::ScmpArchMips64n32, ScmpArch::Mips64N32, None, None),
    row(Arch::ScmpArchMipsel, ScmpArch::Mipsel, None, None),
    row(Arch::ScmpArchMipsel64, ScmpArch::Mipsel64, None, None),
    row(Arch::ScmpArchMipsel64n32, ScmpArch::Mipsel64N32, None, None),
    row(Arch::ScmpArchPpc, ScmpArch::Ppc, None, None),
    row(Arch::ScmpArchPpc64, ScmpArch::Ppc64, None, None),
    row(Arch::ScmpArchPpc64le, ScmpArch::Ppc64Le, Some(21 | B64 | LE), None),
    row(Arch::ScmpArchS390, ScmpArch::S390, None, None),
    row(Arch::ScmpArchS390x, ScmpArch::S390X, Some(22 | B64), None),
    row(Arch::ScmpArchParisc, ScmpArch::Parisc, None, None),
    row(Arch::ScmpArchParisc64, ScmpArch::Parisc64, None, None),
    row(Arch::ScmpArchRiscv64, ScmpArch::Riscv64, Some(243 | B64 | LE), None),
    row(Arch::ScmpArchLoongarch64, ScmpArch::Loongarch64, None, None),
    row(Arch::ScmpArchM68k, ScmpArch::M68k, None, None),
    row(Arch::ScmpArchSh, ScmpArch::Sh, None, None),
    row(Arch::ScmpArchSheb, ScmpArch::Sheb, None, None),
];

/// An architecture berth is built for (the exec shim supports exactly these).
#[derive(Debug, Clone, Copy)]
pub struct BuildArch {
    /// Rust's `target_arch`.
    pub target_arch: &'static str,
    /// Its seccomp architecture.
    pub spec: Arch,
    /// The 32-bit ABIs its kernel can run besides (a profile names them to cover them).
    pub compat: &'static [Arch],
    /// Whether personality(2) takes PER_LINUX32 on every such kernel: x86_64 always runs
    /// i386 code; an aarch64 kernel refuses it (EINVAL) on CPUs without AArch32.
    pub linux32_always: bool,
}

/// The architectures berth is built for.
pub const BUILD_ARCHS: &[BuildArch] = &[
    BuildArch {
        target_arch: "x86_64",
        spec: Arch::ScmpArchX86_64,
        compat: &[Arch::ScmpArchX86, Arch::ScmpArchX32],
        linux32_always: true,
    },
    BuildArch {
        target_arch: "aarch64",
        spec: Arch::ScmpArchAarch64,
        compat: &[Arch::ScmpArchArm],
        linux32_always: false,
    },
];

/// The row of the architecture this berth was built for, if it is one of [`BUILD_ARCHS`].
pub fn build_arch() -> Option<&'static BuildArch> {
    BUILD_ARCHS.iter().find(|b| b.target_arch == std::env::consts::ARCH)
}

/// personality(2)'s value for each `linux.personality.domain` (linux/personality.h).
pub const PERSONALITY_DOMAINS: &[(LinuxPersonalityDomain, u64)] =
    &[(LinuxPersonalityDomain::PerLinux, 0x0000), (LinuxPersonalityDomain::PerLinux32, 0x0008)];

/// personality(2)'s value for `domain`.
pub fn personality_domain(domain: LinuxPersonalityDomain) -> u64 {
    PERSONALITY_DOMAINS
        .iter()
        .find(|(d, _)| *d == domain)
        .map(|(_, v)| *v)
        .expect("PERSONALITY_DOMAINS covers every domain")
}

/// The syscalls berth makes by number (`libc::syscall(libc::SYS_…)`, and the exec shim's),
/// by name; a unit test checks that every one exists on each of [`BUILD_ARCHS`] and that
/// this list names every `libc::SYS_` in the source.
pub const DIRECT_SYSCALLS: &[&str] = &[
    "bpf",
    "clone",
    "clone3",
    "close_range",
    "execveat",
    "getcwd",
    "ioprio_set",
    "keyctl",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "openat2",
    "pidfd_open",
    "pidfd_send_signal",
    "sched_setattr",
    "seccomp",
    "set_mempolicy",
];

/// libseccomp's token for a spec architecture.
pub(super) fn scmp_arch(arch: Arch) -> ScmpArch {
    ARCHS.iter().find(|r| r.spec == arch).map(|r| r.scmp).expect("ARCHS covers every arch")
}

/// The kernel's AUDIT_ARCH_* token of an architecture and, for x86_64 and x32, whether the
/// syscall number carries the x32 bit. None: the ENOSYS prologue skips the architecture.
pub(super) fn audit_arch(arch: ScmpArch) -> Option<(u32, Option<bool>)> {
    let row = ARCHS.iter().find(|r| r.scmp == arch)?;
    Some((row.audit?, row.x32))
}

/// Whether a profile naming `arch` can be compiled here (see [`known_archs`]).
pub fn arch_usable(arch: Arch) -> bool {
    arch == Arch::ScmpArchNative
        || ScmpFilterContext::new(ScmpAction::Allow)
            .is_ok_and(|mut ctx| ctx.add_arch(scmp_arch(arch)).is_ok())
}

/// The architectures a profile can name on this build: the linked libseccomp knows them
/// and they share the native architecture's byte order (a filter cannot mix byte orders,
/// and the native one is always in it).
pub fn known_archs() -> Vec<Arch> {
    let adds = |scmp: ScmpArch| {
        ScmpFilterContext::new(ScmpAction::Allow).is_ok_and(|mut ctx| ctx.add_arch(scmp).is_ok())
    };
    ARCHS
        .iter()
        .filter(|r| r.spec != Arch::ScmpArchNative && adds(r.scmp))
        .map(|r| r.spec)
        .collect()
}

#[cfg(test)]
mod tests {
    use libseccomp::ScmpSyscall;

    use super::*;

    fn profile(v: serde_json::Value) -> oci_spec::runtime::LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn listed_archs_are_accepted() {
        let archs = known_archs();
        assert!(archs.contains(&Arch::ScmpArchX86_64) || archs.contains(&Arch::ScmpArchAarch64));
        for arch in archs {
            let json =
                serde_json::json!({ "defaultAction": "SCMP_ACT_ALLOW", "architectures": [arch] });
            super::super::compile(&profile(json)).unwrap_or_else(|e| panic!("{arch}: {e}"));
        }
    }

    /// The AUDIT_ARCH_* values are the ones libseccomp's programs compare
    /// `seccomp_data.arch` with: a filter for the row's architecture alone checks for it.
    #[test]
    fn audit_tokens_match_libseccomp() {
        const JMP_JEQ_K: u16 = 0x15;
        let mut checked = 0;
        for row in ARCHS.iter().filter(|r| r.audit.is_some()) {
            let mut ctx = ScmpFilterContext::new(ScmpAction::KillProcess).unwrap();
            // The row's architecture alone. One of the other byte order cannot join the native
            // one (which cannot go first): its value is checked on such hosts only.
            if row.scmp != ScmpArch::native() {
                if ctx.add_arch(row.scmp).is_err() {
                    continue;
                }
                ctx.remove_arch(ScmpArch::native()).unwrap();
            }
            let read = libseccomp::ScmpSyscall::from_name("read").unwrap();
            ctx.add_rule(ScmpAction::Allow, read).unwrap();
            let program = super::super::compile::export(&ctx).unwrap();
            let token = row.audit.unwrap();
            assert!(
                program.iter().any(|i| i.code == JMP_JEQ_K && i.k == token),
                "{}: no check for {token:#x}",
                row.spec
            );
            checked += 1;
        }
        assert!(checked >= 7, "{checked} checked");
        assert_eq!(audit_arch(ScmpArch::Aarch64), Some((0xc000_00b7, None)));
        assert_eq!(audit_arch(ScmpArch::X32), Some((0xc000_003e, Some(true))));
        assert_eq!(audit_arch(ScmpArch::Mips), None);
        let mut names: Vec<String> = ARCHS.iter().map(|r| r.spec.to_string()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 24);
    }

    /// Every architecture berth is built for, with its compat ABIs, compiles into one filter,
    /// and the native one is in the table.
    #[test]
    fn build_archs_compile_with_their_compat_abis() {
        assert!(build_arch().is_some(), "{} is not in BUILD_ARCHS", std::env::consts::ARCH);
        for build in BUILD_ARCHS {
            let mut ctx = ScmpFilterContext::new(ScmpAction::Allow).unwrap();
            ctx.remove_arch(ScmpArch::native()).unwrap();
            for arch in std::iter::once(&build.spec).chain(build.compat) {
                ctx.add_arch(scmp_arch(*arch)).unwrap_or_else(|e| panic!("{arch}: {e}"));
            }
            let json = serde_json::json!({ "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": std::iter::once(&build.spec).chain(build.compat).collect::<Vec<_>>(),
                "syscalls": [{ "names": ["read"], "action": "SCMP_ACT_ALLOW" }] });
            // Another byte order than the native one cannot join the native filter.
            if known_archs().contains(&build.spec) {
                super::super::compile(&profile(json)).unwrap();
            }
        }
    }

    /// linux/personality.h: PER_LINUX is 0 (what this test process runs as), PER_LINUX32 8.
    #[test]
    fn personality_domains_are_the_kernels() {
        // SAFETY: 0xffffffff only queries the persona.
        let current = unsafe { libc::personality(0xffff_ffff) } as u64;
        assert_eq!(personality_domain(LinuxPersonalityDomain::PerLinux), current & 0xff);
        assert_eq!(personality_domain(LinuxPersonalityDomain::PerLinux32), 0x0008);
        let native = build_arch().unwrap();
        assert_eq!(native.linux32_always, native.target_arch == "x86_64");
    }

    /// Every syscall berth makes by number exists on every architecture it is built for.
    #[test]
    fn direct_syscalls_exist_on_every_build_arch() {
        for build in BUILD_ARCHS {
            for name in DIRECT_SYSCALLS {
                let nr = ScmpSyscall::from_name_by_arch(name, scmp_arch(build.spec));
                assert!(nr.is_ok(), "{name} on {}", build.target_arch);
            }
        }
    }

    /// DIRECT_SYSCALLS names every `libc::SYS_` of the source, so a new one gets checked.
    #[test]
    fn direct_syscalls_cover_the_source() {
        fn walk(dir: &std::path::Path, found: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (_, rest) in
                        text.match_indices("libc::SYS_").map(|(i, _)| text.split_at(i + 10))
                    {
                        let name: String = rest
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect();
                        found.push(name);
                    }
                }
            }
        }
        let mut found = Vec::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
        // This file's own mentions of the prefix are followed by no name.
        found.retain(|name| !name.is_empty());
        found.sort();
        found.dedup();
        assert!(found.len() >= 10, "{found:?}");
        for name in found {
            assert!(
                DIRECT_SYSCALLS.contains(&name.as_str()),
                "libc::SYS_{name} is not in DIRECT_SYSCALLS"
            );
        }
    }

    /// The exec shim's syscall numbers (its `NR_` defines, per architecture) are the
    /// kernel's, by libseccomp's tables: checked for aarch64 on any host.
    #[test]
    fn exec_shim_syscall_numbers_are_the_kernels() {
        let source = include_str!("../process/shim/exec-shim.c");
        let mut checked = Vec::new();
        for build in BUILD_ARCHS {
            let start = format!("defined(__{}__)", build.target_arch);
            let block = source.split_once(&start).unwrap_or_else(|| panic!("no {start}")).1;
            let block = block.split("#elif").next().unwrap().split("#else").next().unwrap();
            for line in block.lines().filter_map(|l| l.strip_prefix("#define NR_")) {
                let (name, nr) = line.split_once(' ').unwrap();
                let name = name.to_ascii_lowercase();
                let want = ScmpSyscall::from_name_by_arch(&name, scmp_arch(build.spec)).unwrap();
                assert_eq!(
                    nr.trim().parse::<i32>().unwrap(),
                    i32::from(want),
                    "{name} on {}",
                    build.target_arch
                );
                checked.push(name);
            }
        }
        assert_eq!(checked.len(), 14, "{checked:?}");
    }
}
