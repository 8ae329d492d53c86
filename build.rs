//! Compiles the exec shim (src/process/shim/exec-shim.c), which berth embeds: a freestanding
//! static program of about 1 KiB, built with the system C compiler for the target.

use std::path::PathBuf;
use std::process::Command;

const SOURCE: &str = "src/process/shim/exec-shim.c";

fn main() {
    println!("cargo:rerun-if-changed={SOURCE}");
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let compiler = std::env::var(format!("CC_{}", target.replace('-', "_")))
        .or_else(|_| std::env::var("CC"))
        .unwrap_or_else(|_| "cc".into());
    let shim = out.join("exec-shim");
    let status = Command::new(&compiler)
        .args(["-Os", "-static", "-nostdlib", "-ffreestanding", "-fno-builtin"])
        .args(["-fno-pie", "-no-pie", "-fno-stack-protector"])
        .args(["-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-Wall", "-Werror"])
        // No build id, no page-aligned segments: the file stays about 1 KiB.
        .args(["-Wl,--build-id=none", "-Wl,-z,noexecstack", "-Wl,-n", "-s", "-o"])
        .arg(&shim)
        .arg(SOURCE)
        .status()
        .unwrap_or_else(|e| panic!("running {compiler} for the exec shim: {e}"));
    assert!(status.success(), "{compiler} failed to build the exec shim ({status})");
}
