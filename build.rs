//! Compiles the exec shim (src/process/shim/exec-shim.c), which berth embeds: a freestanding
//! static program of about 1 KiB, built with the system C compiler for the target. Lays out
//! the binary's code: the hot functions (src/hot-functions.txt) first, and has the linker
//! write a map of berth (`$OUT_DIR/berth.map`) that `make hot-functions-check` measures the
//! list against.

use std::path::{Path, PathBuf};
use std::process::Command;

const SHIM_SOURCE: &str = "src/process/shim/exec-shim.c";
const HOT_FUNCTIONS: &str = "src/hot-functions.txt";

fn main() {
    println!("cargo:rerun-if-env-changed=CC");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // No build id, no page-aligned segments: the file stays about 1 KiB.
    let shim_flags = [
        "-Os",
        "-static",
        "-nostdlib",
        "-ffreestanding",
        "-fno-builtin",
        "-fno-pie",
        "-no-pie",
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-fno-unwind-tables",
        "-Wl,--build-id=none",
        "-Wl,-z,noexecstack",
        "-Wl,-n",
        "-s",
    ];
    compile(SHIM_SOURCE, &out.join("exec-shim"), &shim_flags);
    order_hot_functions(&out);
    record_commit();
}

/// Sets BERTH_COMMIT (the `commit:` line of `berth --version`, as runc prints its git
/// commit): the environment's BERTH_COMMIT when given (a packager's build), else the checked
/// out commit, else nothing (a build outside git says its release instead).
fn record_commit() {
    println!("cargo:rerun-if-env-changed=BERTH_COMMIT");
    let git = |args: &[&str]| {
        let out = Command::new("git").args(args).output().ok().filter(|o| o.status.success())?;
        Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
    };
    let commit =
        std::env::var("BERTH_COMMIT").ok().or_else(|| git(&["rev-parse", "--short=12", "HEAD"]));
    let Some(commit) = commit else { return };
    // A new commit or another branch checked out changes these files; a packed ref has none.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    for name in std::iter::once("HEAD".to_owned()).chain(branch) {
        if let Some(file) = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]) {
            if Path::new(&file).exists() {
                println!("cargo:rerun-if-changed={file}");
            }
        }
    }
    println!("cargo:rustc-env=BERTH_COMMIT={commit}");
}

/// Hands src/hot-functions.txt to the linker when this build can use it: the same rustc and
/// target it was made with (its symbol names carry hashes that change with either; that rustc
/// links this target with lld). The linker also writes a map of berth into `out`
/// (scripts/hot-functions.sh reads it: the binary itself is stripped).
fn order_hot_functions(out: &Path) {
    println!("cargo:rerun-if-changed={HOT_FUNCTIONS}");
    let map = out.join("berth.map");
    let map = map.to_str().expect("OUT_DIR is UTF-8");
    println!("cargo:rustc-link-arg-bin=berth=-Wl,--no-demangle,-Map={map}");
    let list = std::fs::read_to_string(HOT_FUNCTIONS).unwrap_or_default();
    let made_with =
        |key: &str| list.lines().find_map(|l| l.strip_prefix(key)).map(str::trim).unwrap_or("none");
    let rustc = std::env::var("RUSTC").expect("cargo sets RUSTC");
    let version = Command::new(&rustc).arg("-V").output().map(|o| o.stdout).unwrap_or_default();
    let version = String::from_utf8_lossy(&version);
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    if made_with("# rustc:") != version.trim() || made_with("# target:") != target {
        println!(
            "cargo:warning={HOT_FUNCTIONS} was made for {} on {}, not this {} on {target}: \
             code not laid out (run `make hot-functions`)",
            made_with("# rustc:"),
            made_with("# target:"),
            version.trim()
        );
        return;
    }
    let path = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let path = path.join(HOT_FUNCTIONS);
    // Functions renamed or gone since the list was made are skipped, without a warning each.
    println!(
        "cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={},--no-warn-symbol-ordering",
        path.display()
    );
}

/// Compiles the C program `source` into `output` with the target's C compiler.
fn compile(source: &str, output: &Path, flags: &[&str]) {
    println!("cargo:rerun-if-changed={source}");
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let compiler = std::env::var(format!("CC_{}", target.replace('-', "_")))
        .or_else(|_| std::env::var("CC"))
        .unwrap_or_else(|_| "cc".into());
    let status = Command::new(&compiler)
        .args(flags)
        .args(["-Wall", "-Werror", "-o"])
        .arg(output)
        .arg(source)
        .status()
        .unwrap_or_else(|e| panic!("running {compiler} for {source}: {e}"));
    assert!(status.success(), "{compiler} failed to build {source} ({status})");
}
