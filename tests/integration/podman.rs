//! podman 4 (through conmon) drives the binary: `run --rm` output and exit codes (126 and
//! 127 come from podman matching the runtime's error text), `run -d` + `exec` + `top` +
//! `stop` + `rm`, `pause`/`unpause`, `run -t` through conmon's console socket, and
//! `--sdnotify=container` (podman's own relay).
//!
//! podman calls the runtime without `--root`, so berth keeps its state in its default
//! `/run/berth`, and podman writes /run/containers and /var/lib/containers/cache whatever its
//! flags say. Every podman command therefore runs (via nsenter) in one private mount
//! namespace per test, held by a `sleep` this test starts, with tmpfs over /run and
//! /var/lib/containers (all of /var/lib where that does not exist yet) and a private
//! /sys/fs/cgroup view on v1 hosts (see [`PRIVATE_CGROUP_VIEW`]); its storage, run,
//! tmp and image-copy dirs are in the test's temp dir, and its cgroups under
//! /berth-test/<unique> (`--cgroup-parent`), removed at the end.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{bin, bin_name, build_rootfs, cgroup_dirs, wait_for, Out, TestEnv};

/// The image every test imports from a busybox rootfs tarball.
const IMAGE: &str = "localhost/berth-busybox:test";

/// Rlimits within what root may set here (no CAP_SYS_RESOURCE above hard nofile 20000, and
/// conmon's hard nproc of 32768); podman's default of 1048576 fails with every runtime.
const ULIMITS: &[&str] = &["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"];

/// containers.conf: the `runtime_supports_json` line the README shows (berth writes JSON
/// error records, so podman reads a create's error from its `--log`), and image copies in
/// the test's temp dir instead of /var/tmp.
fn containers_conf(tmp: &Path) -> String {
    format!(
        "[engine]\nruntime_supports_json = [\"crun\", \"runc\", \"kata\", \"runsc\", \"krun\", \"berth\"]\n\
         image_copy_tmp_dir = \"{}\"\n",
        tmp.display()
    )
}

/// The host directories covered by a tmpfs in the private namespace: berth's default root
/// and podman's run dirs under /run, and podman's blob cache in /var/lib/containers (or all
/// of /var/lib, where podman would create that directory on the host).
fn covered_dirs() -> [&'static str; 2] {
    let containers = Path::new("/var/lib/containers");
    ["/run", if containers.is_dir() { "/var/lib/containers" } else { "/var/lib" }]
}

/// podman in a private mount namespace with its own storage, and a container cgroup parent.
struct Podman {
    env: TestEnv,
    /// The `sleep` holding the mount namespace (its pid is the namespace's handle).
    holder: Child,
    /// The leaf under /berth-test that podman's cgroups go under.
    cgroup: String,
}

impl Podman {
    /// A fresh podman world with the busybox image imported.
    fn new(name: &str) -> Self {
        let env = TestEnv::new(name);
        for tool in ["podman", "conmon", "nsenter", "unshare", "tar"] {
            let found = Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(found, "{tool} is needed for the podman tests (.ci/run installs it)");
        }
        let cwd = std::env::current_dir().unwrap();
        for path in [env.dir.as_path(), bin().as_path(), cwd.as_path()] {
            let hidden = covered_dirs().into_iter().find(|d| path.starts_with(d));
            assert!(hidden.is_none(), "{} would be hidden by the tmpfs over {hidden:?}: run the podman tests with the checkout and TMPDIR elsewhere", path.display());
        }
        fs::write(env.dir.join("containers.conf"), containers_conf(&env.dir)).unwrap();
        // The flags name the storage too; this keeps the host's storage.conf out of the way.
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            env.dir.join("storage").display(),
            env.dir.join("runroot").display()
        );
        fs::write(env.dir.join("storage.conf"), storage).unwrap();
        let holder = hold_private_mounts();
        let cgroup = env.id("podman");
        let podman = Podman { env, holder, cgroup };
        podman.import_busybox();
        podman
    }

    /// `podman <global flags> args…` inside the private mount namespace.
    #[track_caller]
    fn podman(&self, args: &[&str]) -> Out {
        self.try_podman(args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`Podman::podman`], but a hang is an `Err` (for `Drop`, which must not panic).
    fn try_podman(&self, args: &[&str]) -> Result<Out, String> {
        self.try_podman_env(&[], args)
    }

    /// Like [`Podman::try_podman`], with `vars` added to podman's environment.
    fn try_podman_env(&self, vars: &[(&str, &Path)], args: &[&str]) -> Result<Out, String> {
        let dir = &self.env.dir;
        let n = self.env.id("podman");
        let stdout = dir.join(format!("{n}.out"));
        let stderr = dir.join(format!("{n}.err"));
        let pid = self.holder.id().to_string();
        let mut cmd = Command::new("nsenter");
        cmd.args(["--target", &pid, "--mount", "--", "podman"])
            .arg("--runtime")
            .arg(bin())
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", "vfs"])
            .arg("--root")
            .arg(dir.join("storage"))
            .arg("--runroot")
            .arg(dir.join("runroot"))
            .arg("--tmpdir")
            .arg(dir.join("podman-tmp"))
            .arg("--network-config-dir")
            .arg(dir.join("networks"))
            .args(args)
            .env("CONTAINERS_CONF", dir.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))
            .env("TMPDIR", dir)
            .envs(vars.iter().copied())
            // Output to files: conmon outlives a detached run and would hold a pipe open.
            .stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap());
        let cmdline = format!("podman {}", args.join(" "));
        let child = cmd.spawn().map_err(|e| format!("spawning {cmdline}: {e}"))?;
        finish(child, &cmdline, &stdout, &stderr)
    }

    /// `podman run` with the flags every container here needs, then `args`.
    fn run(&self, args: &[&str]) -> Out {
        self.run_env(&[], args)
    }

    /// [`Podman::run`] with `vars` added to podman's environment.
    #[track_caller]
    fn run_env(&self, vars: &[(&str, &Path)], args: &[&str]) -> Out {
        let parent = format!("/berth-test/{}", self.cgroup);
        let mut all = vec!["run", "--network", "none", "--cgroup-parent", &parent];
        all.extend_from_slice(ULIMITS);
        all.extend_from_slice(args);
        self.try_podman_env(vars, &all).unwrap_or_else(|e| panic!("{e}"))
    }

    /// `podman inspect --format F NAME`, trimmed.
    fn inspect(&self, name: &str, format: &str) -> String {
        let out = self.podman(&["inspect", "--format", format, name]);
        out.ok();
        out.stdout.trim().to_string()
    }

    /// `<bin> state ID` with the runtime's default root, as podman left it.
    fn runtime_state(&self, id: &str) -> Value {
        let pid = self.holder.id().to_string();
        let out = Command::new("nsenter")
            .args(["--target", &pid, "--mount", "--"])
            .arg(bin())
            .args(["state", id])
            .output()
            .expect("running the runtime's state");
        assert!(out.status.success(), "{} state {id}: {out:?}", bin_name());
        serde_json::from_slice(&out.stdout).expect("state JSON")
    }

    /// The container ids berth keeps state for under its default root.
    fn runtime_state_dirs(&self) -> Vec<String> {
        let root = PathBuf::from(format!("/proc/{}/root/run/{}", self.holder.id(), bin_name()));
        match fs::read_dir(root) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('@'))
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// The memory limit of container `id`'s cgroup (v1 or v2), in bytes.
    fn memory_limit(&self, id: &str) -> u64 {
        let leaf = format!("berth-test/{}/libpod-{id}", self.cgroup);
        let v1 = Path::new("/sys/fs/cgroup/memory").join(&leaf).join("memory.limit_in_bytes");
        let v2 = Path::new("/sys/fs/cgroup").join(&leaf).join("memory.max");
        let path = if v1.exists() { v1 } else { v2 };
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        text.trim().parse().unwrap_or_else(|_| panic!("{}: {text:?}", path.display()))
    }

    fn import_busybox(&self) {
        let rootfs = self.env.dir.join("image-rootfs");
        build_rootfs(&rootfs);
        let tarball = self.env.dir.join("busybox.tar");
        let tar = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tarball)
            .arg(".")
            .status()
            .unwrap();
        assert!(tar.success(), "tar of the busybox rootfs failed");
        self.podman(&["import", tarball.to_str().unwrap(), IMAGE]).ok();
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // podman stops what it started: conmon, the containers, the runtime's state.
        let _ = self.try_podman(&["rm", "--all", "--force", "--time", "0"]);
        // Anything still in the private namespace was started by this test: end it by pid.
        let ns = mount_ns(self.holder.id() as i32);
        for pid in pids_in_mount_ns(ns).into_iter().filter(|p| *p != self.holder.id() as i32) {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
        // podman's cgroups (the containers' and conmon's) under this test's own parent.
        for dir in cgroup_dirs(&self.cgroup) {
            wait_for(Duration::from_secs(10), || remove_cgroup_tree(&dir));
        }
    }
}

/// Where /sys/fs/cgroup is a tmpfs holding the v1 hierarchies (a v1 or hybrid host), conmon
/// makes a plain directory, with a `tasks` file in it, for every controller the kernel knows but
/// the host did not mount (hugetlb, net_cls, ...): on the host's tmpfs these would outlive the
/// test. So the private namespace gets a tmpfs of its own there, with the host's hierarchies
/// (and symlinks such as `cpu -> cpu,cpuacct`) bound back in; cgroups are the host's, stray
/// directories die with the namespace. The mounts move to a staging dir under the private /run
/// first, then the host's view is detached (in this namespace only: propagation is private).
const PRIVATE_CGROUP_VIEW: &str = r#"if [ "$(stat -f -c %T /sys/fs/cgroup)" = tmpfs ]; then
  v=/run/berth-test-cgroup-view && mkdir $v && mount -t tmpfs -o mode=755 tmpfs $v &&
  for m in $(awk '$3 == "cgroup" || $3 == "cgroup2" { print $2 }' /proc/self/mounts); do
    case $m in /sys/fs/cgroup/*) mkdir -p $v/${m#/sys/fs/cgroup/} && mount --bind $m $v/${m#/sys/fs/cgroup/} || exit 1;; esac
  done &&
  for l in /sys/fs/cgroup/*; do [ ! -L $l ] || cp -P $l $v/ || exit 1; done &&
  umount -R -l /sys/fs/cgroup && mount --move $v /sys/fs/cgroup
fi"#;

/// Starts `sleep` in a new mount namespace with a tmpfs over each of [`covered_dirs`] and a
/// private tmpfs at /sys/fs/cgroup ([`PRIVATE_CGROUP_VIEW`]), and returns once the mounts are
/// in place.
fn hold_private_mounts() -> Child {
    let mounts: Vec<String> =
        covered_dirs().iter().map(|d| format!("mount -t tmpfs tmpfs {d} && ")).collect();
    let script =
        format!("{}{PRIVATE_CGROUP_VIEW} && echo ready && exec sleep infinity", mounts.concat());
    let mut child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--", "sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("unshare");
    let mut line = String::new();
    let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
    if line.trim() != "ready" {
        let _ = child.kill();
        let _ = child.wait();
        panic!("setting up the private mount namespace failed");
    }
    child
}

/// Waits (at most 60 s) for a podman command; podman may take a while on a busy host.
fn finish(mut child: Child, cmdline: &str, stdout: &Path, stderr: &Path) -> Result<Out, String> {
    let mut status = None;
    wait_for(Duration::from_secs(60), || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    });
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("{cmdline} did not finish within 60 s"));
    };
    Ok(Out {
        cmdline: cmdline.to_string(),
        status,
        stdout: fs::read_to_string(stdout).unwrap_or_default(),
        stderr: fs::read_to_string(stderr).unwrap_or_default(),
    })
}

/// The inode of `pid`'s mount namespace.
fn mount_ns(pid: i32) -> u64 {
    fs::metadata(format!("/proc/{pid}/ns/mnt")).map(|m| m.ino()).unwrap_or(0)
}

/// Every process whose mount namespace is `ns`.
fn pids_in_mount_ns(ns: u64) -> Vec<i32> {
    let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| ns != 0 && mount_ns(*pid) == ns)
        .collect()
}

/// Removes `dir` and the cgroups below it, deepest first; true once it is gone.
fn remove_cgroup_tree(dir: &Path) -> bool {
    if let Ok(rd) = fs::read_dir(dir) {
        for entry in rd.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
    !dir.exists()
}

#[test]
fn podman_run_rm_prints_output_and_exit_codes() {
    let p = Podman::new("podrun");
    let out = p.run(&["--rm", IMAGE, "sh", "-c", "echo hello from $(hostname) && exit 0"]);
    out.ok();
    assert!(out.stdout.starts_with("hello from "), "{out:#?}");

    let out = p.run(&["--rm", IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{out:#?}");

    // podman maps the runtime's error text: "executable file not found" / "no such file or
    // directory" to 127, "permission denied" to 126.
    let out = p.run(&["--rm", IMAGE, "no-such-command"]);
    assert_eq!(out.code(), 127, "{out:#?}");
    assert!(out.stderr.contains("executable file not found"), "{out:#?}");
    let out = p.run(&["--rm", IMAGE, "/no/such/file"]);
    assert_eq!(out.code(), 127, "{out:#?}");
    let out = p.run(&["--rm", IMAGE, "/etc/passwd"]);
    assert_eq!(out.code(), 126, "{out:#?}");
    assert!(out.stderr.contains("permission denied"), "{out:#?}");

    // --read-only: tmpfs mounts with tmpcopyup; --device: the host node's mode, type bits
    // included.
    let script = "touch /x 2>/dev/null || echo root-is-read-only; echo hi > /scratch/f; \
                  cat /scratch/f; ls /run >/dev/null && [ -c /dev/mynull ] && echo char-device";
    let device = ["--read-only", "--tmpfs", "/scratch", "--device", "/dev/null:/dev/mynull"];
    let out = p.run(&[&["--rm"][..], &device, &[IMAGE, "sh", "-c", script]].concat());
    out.ok();
    assert_eq!(out.stdout, "root-is-read-only\nhi\nchar-device\n", "{out:#?}");

    let left = p.podman(&["ps", "--all", "--quiet"]);
    assert_eq!(left.ok().stdout.trim(), "", "podman kept containers");
    assert!(p.runtime_state_dirs().is_empty(), "state left: {:?}", p.runtime_state_dirs());
}

#[test]
fn podman_detached_exec_top_stop_rm() {
    let p = Podman::new("poddetach");
    // pid 1 ignores TERM unless it handles it: exit code 7 shows podman's `kill ID 15` arrived.
    let out = p.run(&[
        "-d",
        "--name",
        "c",
        IMAGE,
        "sh",
        "-c",
        "trap 'exit 7' TERM; while :; do sleep 1; done",
    ]);
    out.ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(p.inspect("c", "{{.OCIRuntime}}"), bin().to_str().unwrap());
    let state = p.runtime_state(&id);
    assert_eq!(state["status"], "running", "{state}");
    assert_eq!(state["pid"].to_string(), p.inspect("c", "{{.State.Pid}}"), "{state}");

    let out = p.podman(&["exec", "c", "sh", "-c", "echo exec in $(hostname); exit 5"]);
    assert_eq!(out.code(), 5, "{out:#?}");
    assert!(out.stdout.starts_with("exec in "), "{out:#?}");

    let out = p.podman(&["top", "c", "pid", "args"]);
    out.ok();
    assert!(
        out.stdout.lines().any(|l| l.trim_start().starts_with("1 ") && l.contains("sh -c trap")),
        "{out:#?}"
    );

    p.podman(&["stop", "--time", "20", "c"]).ok();
    assert_eq!(p.inspect("c", "{{.State.Status}} {{.State.ExitCode}}"), "exited 7");
    p.podman(&["rm", "c"]).ok();
    assert!(!p.runtime_state_dirs().contains(&id), "runtime state of {id} left after rm");
    assert_eq!(p.podman(&["ps", "--all", "--quiet"]).ok().stdout.trim(), "");
}

#[test]
fn podman_pause_unpause_and_update() {
    let p = Podman::new("podpause");
    let out = p.run(&["-d", "--name", "c", IMAGE, "sleep", "1000"]);
    out.ok();
    let id = out.stdout.trim().to_string();
    p.podman(&["pause", "c"]).ok();
    assert_eq!(p.inspect("c", "{{.State.Status}}"), "paused");
    assert_eq!(p.runtime_state(&id)["status"], "paused");
    p.podman(&["unpause", "c"]).ok();
    assert_eq!(p.inspect("c", "{{.State.Status}}"), "running");
    assert_eq!(p.runtime_state(&id)["status"], "running");
    // `update --resources=FILE ID`.
    p.podman(&["update", "--memory", "64m", "c"]).ok();
    assert_eq!(p.memory_limit(&id), 64 << 20);
    p.podman(&["rm", "--force", "--time", "0", "c"]).ok();
    assert!(p.runtime_state_dirs().is_empty(), "state left: {:?}", p.runtime_state_dirs());
}

#[test]
fn podman_run_and_exec_with_a_tty() {
    let p = Podman::new("podtty");
    // A pty turns "\n" into "\r\n" (ONLCR): output through a pipe would not.
    let out = p.run(&["--rm", "-t", IMAGE, "sh", "-c", "tty; [ -t 1 ] && echo stdout-is-a-tty"]);
    out.ok();
    assert!(out.stdout.contains("/dev/pts/0\r\n"), "{out:#?}");
    assert!(out.stdout.contains("stdout-is-a-tty\r\n"), "{out:#?}");

    p.run(&["-d", "--name", "c", IMAGE, "sleep", "1000"]).ok();
    // Twice: each exec gets a pty of its own, and the first one's leaves nothing behind.
    for _ in 0..2 {
        let out = p.podman(&["exec", "-t", "c", "sh", "-c", "tty"]);
        out.ok();
        assert!(out.stdout.starts_with("/dev/pts/"), "{out:#?}");
        assert!(out.stdout.ends_with("\r\n"), "{out:#?}");
    }
}

/// `--sdnotify=container`: the container's READY=1 reaches podman's NOTIFY_SOCKET. podman
/// 4.3 relays it itself (its own socket's directory as a mount in config.json, MAINPID
/// conmon's) and calls the runtime without NOTIFY_SOCKET (seen through a logging wrapper),
/// so this checks that berth carries podman's relay, not berth's own (tests/integration/
/// sd_notify.rs does that).
#[test]
fn podman_sdnotify_container_hears_the_containers_ready() {
    let p = Podman::new("podnotify");
    let probe = p.env.probe_dir();
    let tools = p.env.probe_dir();
    crate::harness::copy_executable(crate::sd_notify::probe_binary(), &tools.join("sdnotify"));
    let socket = p.env.dir.join("host.sock");
    let host = std::os::unix::net::UnixDatagram::bind(&socket).unwrap();
    let probe_mount = format!("{}:/probe", probe.display());
    let tools_mount = format!("{}:/tools:ro", tools.display());
    let args = [
        "-d",
        "--name",
        "notify",
        "--sdnotify=container",
        "-v",
        &probe_mount,
        "-v",
        &tools_mount,
        IMAGE,
        "/tools/sdnotify",
        "READY=1",
    ];
    let out = p.run_env(&[("NOTIFY_SOCKET", socket.as_path())], &args);
    out.ok();
    let lines =
        crate::sd_notify::lines(&crate::sd_notify::received(&host, Duration::from_secs(10)));
    assert!(lines.iter().any(|l| l == "READY=1"), "{lines:?} {out:#?}");
    assert_eq!(fs::read_to_string(probe.join("env")).unwrap(), "/run/notify/notify.sock");
    assert_eq!(fs::read_to_string(probe.join("sent")).unwrap(), "ok");
    p.podman(&["rm", "--force", "notify"]).ok();
}
