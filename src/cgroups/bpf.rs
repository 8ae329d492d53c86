//! The cgroup v2 device filter: an eBPF program (BPF_PROG_TYPE_CGROUP_DEVICE) built from
//! the same rules v1 writes to devices.allow/deny, attached to the container's cgroup.
//!
//! The program checks the rules from the last to the first and the first that matches
//! decides, which is what the v1 lists mean: a later rule overrides an earlier one, and a
//! leading "deny all" is the default. With no match, access is allowed (v1's default).

use std::os::fd::AsFd;
use std::path::Path;

use super::{CgroupError, DeviceRule};
use crate::sys::bpf::{prog_attach, prog_load, Insn};

/// `BPF_PROG_TYPE_CGROUP_DEVICE`.
const PROG_TYPE_CGROUP_DEVICE: u32 = 15;
/// `BPF_CGROUP_DEVICE`.
const ATTACH_CGROUP_DEVICE: u32 = 6;
/// `BPF_F_ALLOW_MULTI`: programs of parent cgroups keep applying.
const F_ALLOW_MULTI: u32 = 2;

// Opcode parts (instruction-set.rst).
const LDX_MEM_W: u8 = 0x01 | 0x60;
const ALU32: u8 = 0x04;
const JMP: u8 = 0x05;
const K: u8 = 0x00;
const X: u8 = 0x08;
const AND: u8 = 0x50;
const RSH: u8 = 0x70;
const MOV: u8 = 0xb0;
const JEQ: u8 = 0x10;
const JNE: u8 = 0x50;
const EXIT: u8 = 0x90;

// `bpf_cgroup_dev_ctx`: access_type is (access << 16) | type.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn { code, regs: (src << 4) | dst, off, imm }
}

fn access_bits(access: &str) -> i32 {
    access.chars().fold(0, |bits, c| {
        bits | match c {
            'm' => ACC_MKNOD,
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            _ => 0,
        }
    })
}

/// One test of a rule: jump opcode, register, value, and an ALU op with its operand that
/// first turns the access bits in r0 into the value compared.
type Check = (u8, u8, i32, Option<(u8, i32)>);

/// The checks of one rule, each jumping past the rule's verdict when it does not match.
fn rule_block(rule: &DeviceRule) -> Vec<Insn> {
    // r2 = device type, r3 = access, r4 = major, r5 = minor (see `program`).
    let mut checks: Vec<Check> = Vec::new();
    match rule.typ {
        'b' => checks.push((JNE, 2, DEV_BLOCK, None)),
        'c' => checks.push((JNE, 2, DEV_CHAR, None)),
        _ => {}
    }
    if let Some(major) = rule.major {
        checks.push((JNE, 4, major as i32, None));
    }
    if let Some(minor) = rule.minor {
        checks.push((JNE, 5, minor as i32, None));
    }
    let access = access_bits(&rule.access);
    if access != ACC_ALL {
        // allow: every requested bit is in the rule; deny: any requested bit is.
        if rule.allow {
            checks.push((JNE, 0, 0, Some((AND, !access & ACC_ALL))));
        } else {
            checks.push((JEQ, 0, 0, Some((AND, access))));
        }
    }
    let mut block = Vec::new();
    let mut jumps = Vec::new();
    for (op, reg, value, mask) in checks {
        if let Some((alu, m)) = mask {
            block.push(insn(ALU32 | MOV | X, 0, 3, 0, 0));
            block.push(insn(ALU32 | alu | K, 0, 0, 0, m));
        }
        jumps.push(block.len());
        block.push(insn(JMP | op | K, reg, 0, 0, value));
    }
    block.push(insn(ALU32 | MOV | K, 0, 0, 0, i32::from(rule.allow)));
    block.push(insn(JMP | EXIT, 0, 0, 0, 0));
    let end = block.len();
    for at in jumps {
        block[at].off = (end - at - 1) as i16;
    }
    block
}

/// The whole program for `rules`.
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut prog = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU32 | MOV | X, 3, 2, 0, 0),
        insn(ALU32 | AND | K, 2, 0, 0, 0xffff),
        insn(ALU32 | RSH | K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules.iter().rev() {
        let block = rule_block(rule);
        let unconditional = block.len() == 2;
        prog.extend(block);
        // The verifier refuses code it cannot reach: stop after a rule that always matches.
        if unconditional {
            return prog;
        }
    }
    prog.push(insn(ALU32 | MOV | K, 0, 0, 0, 1));
    prog.push(insn(JMP | EXIT, 0, 0, 0, 0));
    prog
}

/// Loads the program for `rules` and attaches it to the cgroup directory `dir`.
pub fn attach(dir: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let config =
        rules.first().map_or_else(|| "linux.resources.devices".to_owned(), |r| r.config.clone());
    let sys = |source: crate::sys::SysError| CgroupError::Device { config: config.clone(), source };
    let prog = prog_load(PROG_TYPE_CGROUP_DEVICE, &program(rules), c"Apache-2.0").map_err(sys)?;
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Io {
        what: "opening cgroup",
        path: dir.to_path_buf(),
        source,
    })?;
    prog_attach(
        cgroup.as_fd(),
        prog.as_fd(),
        ATTACH_CGROUP_DEVICE,
        F_ALLOW_MULTI,
        &dir.display().to_string(),
    )
    .map_err(sys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn rule(
        allow: bool,
        typ: char,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> DeviceRule {
        DeviceRule { config: "test".into(), allow, typ, major, minor, access: access.into() }
    }

    #[test]
    fn jumps_land_on_the_next_rule() {
        let r = rule(true, 'c', Some(1), Some(3), "r");
        let block = rule_block(&r);
        // 3 compares + mov/and + compare + verdict (mov, exit).
        assert_eq!(block.len(), 8);
        for (i, ins) in
            block.iter().enumerate().filter(|(_, i)| i.code & 0x07 == JMP && i.code != JMP | EXIT)
        {
            assert_eq!(i + 1 + ins.off as usize, block.len(), "jump at {i}");
        }
        let all = rule_block(&rule(false, 'a', None, None, "rwm"));
        assert_eq!(all.len(), 2, "deny all is a bare verdict");
    }

    /// Loads a filter into a fresh cgroup2 directory under berth-test and checks which
    /// devices a shell moved into it can open. Needs root and a cgroup2 mount.
    #[test]
    fn filter_allows_and_denies_in_the_kernel() {
        let base = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"].into_iter().find(|b| {
            Path::new(b).join("cgroup.procs").exists()
                && Path::new(b).join("cgroup.subtree_control").exists()
        });
        let (Some(base), true) = (base, nix::unistd::geteuid().is_root()) else {
            eprintln!("skipped: needs root and a cgroup2 hierarchy");
            return;
        };
        let dir =
            Path::new(base).join("berth-test").join(format!("bpf-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let rules = [
            rule(false, 'a', None, None, "rwm"),
            rule(true, 'c', Some(1), Some(3), "rwm"),
            rule(true, 'c', Some(1), Some(5), "r"),
        ];
        let attached = attach(&dir, &rules);
        let script = format!(
            "echo $$ > {}/cgroup.procs || exit 9; exec 3</dev/null || exit 1; exec 4</dev/zero || exit 2; \
             (exec 5>/dev/zero) 2>/dev/null && exit 3; (exec 6</dev/full) 2>/dev/null && exit 4; exit 0",
            dir.display()
        );
        let status = attached
            .as_ref()
            .ok()
            .map(|()| Command::new("sh").arg("-c").arg(&script).status().unwrap());
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_dir(dir.parent().unwrap());
        attached.unwrap();
        assert_eq!(status.unwrap().code(), Some(0), "null rw, zero read-only, full denied");
    }
}
