//! Installing berth from its Debian package: `make deb` builds it with dpkg-deb, dpkg installs
//! it into a scratch root of the test's own (its own admin dir, `dpkg --root`), and the
//! installed binary runs a container.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{bin, Config, TestEnv, COMMANDS};

/// Runs `program args…`; its status, stdout and stderr.
fn run(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> (bool, String, String) {
    let program = program.as_ref();
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program:?}: {e}"));
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.success(), text(&out.stdout), text(&out.stderr))
}

/// Runs `program args…`, asserting success; its stdout.
#[track_caller]
fn ok(program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> String {
    let (success, stdout, stderr) = run(program.as_ref(), args);
    assert!(success, "{:?} {args:?} failed:\n{stdout}\n{stderr}", program.as_ref());
    stdout
}

/// `make deb` into `dir` with the binaries this test run built; the package's path.
fn make_deb(dir: &Path) -> PathBuf {
    let out = Command::new("make")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-s", "-o", "build", "deb"])
        .arg(format!("DEB_DIR={}", dir.display()))
        .arg(concat!("BERTH=", env!("CARGO_BIN_EXE_berth")))
        .arg(concat!("BERTH_DOCS=", env!("CARGO_BIN_EXE_berth-docs")))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "make deb: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    PathBuf::from(stdout.lines().last().expect("make deb printed no path").trim())
}

/// The upstream part of the host's libc6 version (2.36-9+deb12u14 → 2.36).
fn host_glibc() -> (String, String) {
    let full = ok("dpkg-query", &["-W", "-f=${Version}", "libc6"]);
    let upstream = full.rsplit_once('-').map_or(full.as_str(), |(u, _)| u).to_owned();
    (full, upstream)
}

/// A scratch root with an empty dpkg database but for a libc6 of `version`.
fn scratch_root(dir: &Path, libc6_version: &str) -> PathBuf {
    let admin = dir.join("var/lib/dpkg");
    for sub in ["info", "updates"] {
        fs::create_dir_all(admin.join(sub)).unwrap();
    }
    let arch = ok("dpkg", &["--print-architecture"]);
    let status = format!(
        "Package: libc6\nStatus: install ok installed\nVersion: {libc6_version}\n\
         Architecture: {}\nMulti-Arch: same\nMaintainer: test\nDescription: libc6 stand-in\n\n",
        arch.trim()
    );
    fs::write(admin.join("status"), status).unwrap();
    dir.to_path_buf()
}

/// The control file names the package, its version and architecture as built, depends on
/// the glibc it was built with and suggests uidmap; the payload holds what `make install`
/// installs, under /usr.
#[test]
fn make_deb_builds_a_package_of_the_installed_files() {
    let env = TestEnv::new("deb");
    let deb = make_deb(&env.dir.join("deb"));
    let name = deb.file_name().unwrap().to_str().unwrap().to_owned();

    let version = ok(env!("CARGO_BIN_EXE_berth"), &["--version"]);
    let version = version.lines().next().unwrap().trim_start_matches("berth version ");
    let arch = ok("dpkg", &["--print-architecture"]);
    let arch = arch.trim();
    assert_eq!(name, format!("berth_{version}-1_{arch}.deb"));

    let info = ok("dpkg-deb", &["--info", deb.to_str().unwrap()]);
    let field = |name: &str| {
        let prefix = format!(" {name}: ");
        let line = info.lines().find(|l| l.starts_with(&prefix));
        line.unwrap_or_else(|| panic!("no {name} in:\n{info}"))[prefix.len()..].to_owned()
    };
    assert_eq!(field("Package"), "berth");
    assert_eq!(field("Version"), format!("{version}-1"));
    assert_eq!(field("Architecture"), arch);
    assert_eq!(field("Depends"), format!("libc6 (>= {})", host_glibc().1));
    assert_eq!(field("Suggests"), "uidmap");
    assert!(!field("Maintainer").is_empty() && !field("Description").is_empty(), "{info}");

    let contents = ok("dpkg-deb", &["--contents", deb.to_str().unwrap()]);
    let files: Vec<&str> = contents
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().last())
        .collect();
    let mut want: Vec<String> = [
        "./usr/bin/berth",
        "./usr/share/bash-completion/completions/berth",
        "./usr/share/zsh/site-functions/_berth",
        "./usr/share/fish/vendor_completions.d/berth.fish",
        "./usr/share/doc/berth/copyright",
        "./usr/share/man/man8/berth.8.gz",
    ]
    .map(String::from)
    .into();
    want.extend(COMMANDS.map(|c| format!("./usr/share/man/man8/berth-{c}.8.gz")));
    want.sort();
    let mut got: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    got.sort();
    assert_eq!(got, want, "{contents}");
    let binary = contents.lines().find(|l| l.ends_with("./usr/bin/berth")).unwrap();
    assert!(binary.starts_with("-rwxr-xr-x root/root"), "{binary}");
}

/// dpkg installs the package into a scratch root whose libc6 is the host's, refuses it with a
/// libc6 older than the build's, and removes it again; the installed binary runs a container.
#[test]
fn the_deb_installs_into_a_scratch_root_and_its_berth_runs_a_container() {
    let env = TestEnv::new("debinst");
    let deb = make_deb(&env.dir.join("deb"));
    let deb = deb.to_str().unwrap();
    let (libc6, _) = host_glibc();

    // An older glibc than the build's: dpkg leaves berth unconfigured, naming the dependency.
    let old = scratch_root(&env.dir.join("old-root"), "2.31-13");
    let root_arg = format!("--root={}", old.display());
    let (success, _, stderr) = run("dpkg", &[&root_arg, "-i", deb]);
    assert!(!success, "dpkg installed berth over libc6 2.31");
    assert!(stderr.contains("berth depends on libc6 (>="), "{stderr}");

    let root = scratch_root(&env.dir.join("root"), &libc6);
    let root_arg = format!("--root={}", root.display());
    ok("dpkg", &[&root_arg, "-i", deb]);
    let status = ok("dpkg-query", &[&root_arg, "-W", "-f=${Status}", "berth"]);
    assert_eq!(status, "install ok installed");
    // Every file as the package's md5sums say.
    let verify = ok("dpkg", &[&root_arg, "--verify", "berth"]);
    assert!(verify.is_empty(), "{verify}");

    let berth = root.join("usr/bin/berth");
    let version = ok(&berth, &["--version"]);
    assert!(version.starts_with("berth version "), "{version}");
    let spec_dir = env.dir.join("spec");
    fs::create_dir(&spec_dir).unwrap();
    let out = Command::new(&berth).arg("spec").current_dir(&spec_dir).output().unwrap();
    assert!(out.status.success(), "berth spec: {out:?}");
    let spec: serde_json::Value =
        serde_json::from_slice(&fs::read(spec_dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(spec["process"]["args"][0], "sh", "{spec}");

    env.use_binary(&berth);
    let bundle = env.bundle(&Config::sh("echo installed from the deb; exit 7"));
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
    assert_eq!(out.code(), 7, "{out:#?}");
    assert_eq!(out.stdout.trim(), "installed from the deb", "{out:#?}");

    // The guard cleans up with the binary the tests built, not the one about to go.
    env.use_binary(&bin());
    ok("dpkg", &[&root_arg, "--remove", "berth"]);
    assert!(!berth.exists(), "dpkg --remove left {}", berth.display());
    assert!(!root.join("usr/share/man/man8/berth.8.gz").exists());
}
