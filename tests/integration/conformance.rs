//! berth's OCI conformance suite (tests/oci-conformance: a probe inside the container and a
//! runner of lifecycle checks) against the binary under test. Every check must pass, unless
//! tests/oci-conformance/berth-todo.txt lists it as a known gap.

use std::path::Path;
use std::process::Command;

use crate::harness::{bin, reference_runc, TestEnv};

#[test]
fn oci_conformance_suite_passes() {
    if reference_runc() {
        // runc's known differences are listed in tests/oci-conformance/README.md instead.
        eprintln!("the conformance suite is berth's contract; `make conformance` compares runc");
        return;
    }
    let env = TestEnv::new("conformance");
    let suite = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oci-conformance");
    // A crate of its own with its own target dir: it does not slow the main build.
    let build = Command::new(suite.join("build.sh"))
        .env("CARGO", option_env!("CARGO").unwrap_or("cargo"))
        .output()
        .expect("running tests/oci-conformance/build.sh");
    let stderr = String::from_utf8_lossy(&build.stderr);
    assert!(build.status.success(), "building the conformance suite failed: {stderr}");
    let bin_dir = String::from_utf8_lossy(&build.stdout).trim().to_string();
    let out = Command::new(Path::new(&bin_dir).join("oci-conformance"))
        .arg("--probe")
        .arg(Path::new(&bin_dir).join("oci-probe"))
        .arg("--runtime")
        .arg(bin())
        .arg("--todo")
        .arg(suite.join("berth-todo.txt"))
        .arg("--tmp")
        .arg(&env.dir)
        .output()
        .expect("running the conformance suite");
    let tap = String::from_utf8_lossy(&out.stdout);
    let failed: Vec<&str> =
        tap.lines().filter(|l| l.starts_with("not ok") && !l.contains("# TODO")).collect();
    assert!(
        out.status.success() && failed.is_empty() && tap.contains("\n1.."),
        "conformance failures:\n{}\nstderr: {}\n{tap}",
        failed.join("\n"),
        String::from_utf8_lossy(&out.stderr)
    );
}
