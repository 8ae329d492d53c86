//! buildah (Debian's 1.28) as a caller: `buildah bud --isolation oci --runtime <berth>` runs a
//! Containerfile's RUN steps through berth, and `buildah run` runs a command in the image it
//! built.
//!
//! Everything buildah keeps is in the test's temp dir: vfs storage (`--root`, `--runroot`,
//! a storage.conf of the test's own so the host's does not apply), and the base image is the
//! containerd tests' busybox OCI archive (`oci-archive:…:1`), so nothing is pulled. The
//! runtime buildah is given is a small wrapper that logs each call and execs berth: it shows
//! that the steps went through the runtime named. The RUN containers' cgroups go under
//! `/berth-test/<unique>` (`--cgroup-parent`); the guard removes the images and working
//! containers, then that parent, and fails the test on whatever is left. Each buildah command
//! runs in a mount namespace of its own with an empty /var/lib (see [`PRIVATE_VAR_LIB`]).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::containerd_daemon::image_tar;
use crate::harness::{bin, cgroup_dirs, Out, TestEnv};

/// Debian's buildah.
const BUILDAH: &str = "/usr/bin/buildah";
/// How long one buildah command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// The image the test builds.
const BUILT: &str = "localhost/berth-built:1";

/// Runs `"$@"` with a private, empty /var/lib: buildah keeps its blob-info cache in
/// /var/lib/containers/cache whatever `--root` says, which would outlive the test on the host.
const PRIVATE_VAR_LIB: &str = "mount -t tmpfs -o mode=0755 tmpfs /var/lib && exec \"$@\"";

/// The Containerfile: each RUN step leaves a file behind, one reads the `ENV` before it.
const CONTAINERFILE: &str = "\
ENV GREETING=hello
RUN echo \"$GREETING from a RUN step\" > /made
RUN busybox mkdir -p /data && id -u > /data/uid && cat /made > /data/copy
";

/// buildah's RUN steps run through berth, their results are in the image it commits, and
/// `buildah run` on that image (berth again) reads them; a RUN step's exit code fails the
/// build, naming it.
#[test]
fn buildah_builds_an_image_whose_run_steps_ran_through_berth() {
    if !Path::new(BUILDAH).exists() {
        eprintln!("skipped: needs Debian's buildah ({BUILDAH})");
        return;
    }
    let buildah = Buildah::new("buildah");
    let from = format!("FROM oci-archive:{}:1\n", image_tar().display());
    let context = buildah.context(&format!("{from}{CONTAINERFILE}"));
    buildah.bud(&context, BUILT).ok();
    let calls = buildah.runtime_calls();
    // Two RUN steps, each a container berth created, started and deleted in its own root.
    let root = format!("--root={} ", buildah.runtime_root().display());
    for step in ["create --bundle", "start", "delete"] {
        let n = calls.lines().filter(|l| l.starts_with(&format!("{root}{step} "))).count();
        assert_eq!(n, 2, "berth was called:\n{calls}");
    }

    let name = buildah.env.id("w");
    let parent = buildah.cgroup_parent.as_str();
    buildah.cli(&["from", "--name", &name, "--pull=never", "--cgroup-parent", parent, BUILT]).ok();
    let run = buildah.run_args(&name, &["cat", "/made", "/data/uid", "/data/copy"]);
    let out = buildah.cli(&run.iter().map(String::as_str).collect::<Vec<_>>());
    out.ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines, ["hello from a RUN step", "0", "hello from a RUN step"], "{out:#?}");
    let runs_after = buildah.runtime_calls().lines().count();
    assert!(runs_after > calls.lines().count(), "buildah run did not call berth");

    // A failing step stops the build with the step's exit code in the error.
    let failing = buildah.context(&format!("{from}RUN echo before; exit 3\nRUN echo never\n"));
    let out = buildah.bud(&failing, "localhost/berth-failed:1");
    assert!(!out.status.success(), "{out:#?}");
    assert!(out.stderr.contains("exit status 3"), "{out:#?}");
    assert!(!out.stdout.contains("never"), "{out:#?}");
}

/// buildah with storage, runtime wrapper and cgroup parent of one test.
struct Buildah {
    env: TestEnv,
    storage_conf: PathBuf,
    runtime: PathBuf,
    cgroup_parent: String,
}

impl Buildah {
    fn new(name: &str) -> Self {
        let env = TestEnv::new(name);
        let storage_conf = env.dir.join("storage.conf");
        let conf = format!(
            "[storage]\ndriver = \"vfs\"\nrunroot = \"{}\"\ngraphroot = \"{}\"\n",
            env.dir.join("run").display(),
            env.dir.join("graph").display()
        );
        fs::write(&storage_conf, conf).unwrap();
        let runtime = env.dir.join("berth-logged");
        let script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n",
            env.dir.join("calls.log").display(),
            bin().display()
        );
        fs::write(&runtime, script).unwrap();
        fs::set_permissions(&runtime, fs::Permissions::from_mode(0o755)).unwrap();
        let cgroup_parent = format!("/berth-test/{}", env.id("buildah"));
        Buildah { env, storage_conf, runtime, cgroup_parent }
    }

    /// A build context holding `containerfile` as its Containerfile.
    fn context(&self, containerfile: &str) -> PathBuf {
        let dir = self.env.dir.join(self.env.id("context"));
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("Containerfile"), containerfile).unwrap();
        dir
    }

    /// `buildah bud` of `context` through berth, tagged `tag`.
    fn bud(&self, context: &Path, tag: &str) -> Out {
        let runtime = self.runtime_args();
        let mut args = vec!["bud", "--isolation", "oci", "--network", "none", "--pull-never"];
        args.extend(runtime.iter().map(String::as_str));
        args.extend(["--cgroup-parent", &self.cgroup_parent, "-t", tag]);
        args.push(context.to_str().unwrap());
        self.cli(&args)
    }

    /// `buildah run` arguments for `command` in working container `name` (made with our
    /// `--cgroup-parent`), through berth.
    fn run_args(&self, name: &str, command: &[&str]) -> Vec<String> {
        let mut args: Vec<String> =
            ["run", "--isolation", "oci", "--network", "none"].map(String::from).into();
        args.extend(self.runtime_args());
        args.extend([name, "--"].map(String::from));
        args.extend(command.iter().map(|c| c.to_string()));
        args
    }

    /// The `--root` buildah passes berth (`--runtime-flag root=…`).
    fn runtime_root(&self) -> PathBuf {
        self.env.dir.join("berth-root")
    }

    /// `--runtime <wrapper> --runtime-flag root=<runtime_root>`.
    fn runtime_args(&self) -> Vec<String> {
        let root = format!("root={}", self.runtime_root().display());
        let runtime = self.runtime.display().to_string();
        ["--runtime".into(), runtime, "--runtime-flag".into(), root].into()
    }

    /// What buildah passed the runtime, one call a line.
    fn runtime_calls(&self) -> String {
        fs::read_to_string(self.env.dir.join("calls.log")).unwrap_or_default()
    }

    /// `buildah --root … --runroot … --storage-driver vfs args…`, bounded by
    /// [`COMMAND_TIMEOUT`].
    #[track_caller]
    fn cli(&self, args: &[&str]) -> Out {
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c", PRIVATE_VAR_LIB, "sh"])
            .arg(BUILDAH)
            .arg("--root")
            .arg(self.env.dir.join("graph"))
            .arg("--runroot")
            .arg(self.env.dir.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args)
            .env("CONTAINERS_STORAGE_CONF", &self.storage_conf)
            .env("BUILDAH_ISOLATION", "oci")
            // Where buildah writes the RUN steps' bundles.
            .env("TMPDIR", &self.env.dir);
        let cmdline = format!("buildah {}", args.join(" "));
        self.env.finish_within(cmd, &cmdline, COMMAND_TIMEOUT).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Buildah {
    fn drop(&mut self) {
        let mut problems = Vec::new();
        for args in [&["rm", "--all"][..], &["rmi", "--all", "--force"]] {
            let out = self.cli(args);
            if !out.status.success() {
                problems.push(format!("{out:?}"));
            }
        }
        let mut list = Command::new(bin());
        list.arg("--root").arg(self.runtime_root()).args(["list", "-q"]);
        match self.env.finish_within(list, "berth list", COMMAND_TIMEOUT) {
            Ok(out) if out.stdout.trim().is_empty() => {}
            Ok(out) => problems.push(format!("containers in berth's root: {}", out.stdout)),
            Err(e) => problems.push(e),
        }
        let leaf = self.cgroup_parent.trim_start_matches("/berth-test/");
        for dir in cgroup_dirs(leaf).into_iter().filter(|d| d.exists()) {
            if fs::remove_dir(&dir).is_err() {
                problems.push(format!("cgroup {} is left", dir.display()));
            }
        }
        if problems.is_empty() {
            return;
        }
        let msg = format!("buildah left behind: {}", problems.join("; "));
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}
