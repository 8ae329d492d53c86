//! A private containerd for the containerd and CRI tests, and the OCI image they run.
//!
//! Each test starts its own daemon (`Containerd::start`): its root, state, sockets, CNI dirs
//! and config.toml live in the test's temp dir, and it runs in a mount namespace of its own
//! with a tmpfs on /run, so the shim sockets and I/O fifos containerd 1.6 keeps under
//! /run/containerd never reach the host, and the snapshot mounts vanish with the namespace.
//! `ctr` runs in that namespace too (nsenter). The config declares the runtime `berth`
//! (`io.containerd.runc.v2`, `BinaryName` = the binary under test) for the CRI plugin, with its
//! state under `<temp>/runc/<namespace>`, where `berth --root … list` shows what the shim
//! asked it to run. The drop guard kills and deletes every task, stops the daemon and any
//! shim it started (by pid), removes the cgroups and checks that nothing is left.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::harness::{bin, cgroup_dirs, pid_alive, proc_stat, wait_for, Out, TestEnv};

/// How long one `ctr` command may take before the test fails.
const CTR_TIMEOUT: Duration = Duration::from_secs(60);

/// The image every test container runs: busybox, `sh` as its command.
pub const IMAGE: &str = "berth.test/busybox:1";

/// The sandbox ("pause") image of the CRI tests: the same layer, `sleep` as its entrypoint.
pub const PAUSE_IMAGE: &str = "berth.test/busybox:pause";

/// The runtime name (and CRI runtime handler) the config declares.
pub const RUNTIME: &str = "berth";

/// The busybox applets in the image beyond the harness's list.
const IMAGE_APPLETS: &[&str] = &["tty"];

/// A running private containerd; dropping it tears everything down.
pub struct Containerd {
    env: TestEnv,
    child: Child,
    pid: i32,
    /// The daemon's gRPC socket (CRI is served there too).
    pub socket: PathBuf,
    /// The shim's `--root` for berth is `<runc_root>/<namespace>`.
    pub runc_root: PathBuf,
    /// The cgroup every container of this daemon goes under: `/berth-test/<unique>`.
    pub cgroup_parent: String,
    namespaces: Vec<String>,
}

impl Containerd {
    /// Starts a daemon for test `name` and imports the test image into each of `namespaces`.
    pub fn start(name: &str, namespaces: &[&str]) -> Self {
        let tar = image_tar();
        let env = TestEnv::new(name);
        let dirs = Dirs::new(&env.dir);
        let config = env.dir.join("config.toml");
        fs::write(&config, config_toml(&dirs, &bin())).unwrap();
        let log = fs::File::create(env.dir.join("containerd.log")).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 tmpfs /run && exec containerd --config \"$0\"")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        // SAFETY: prctl is async-signal-safe. If the test binary dies without the guard
        // running, the daemon gets SIGTERM instead of outliving it.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("starting unshare … containerd");
        let pid = child.id() as i32;
        let cgroup_parent = format!("/berth-test/{}", env.id("ctd"));
        let mut ctd = Containerd {
            env,
            child,
            pid,
            socket: dirs.socket,
            runc_root: dirs.runc_root,
            cgroup_parent,
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
        };
        ctd.wait_ready();
        for ns in namespaces {
            ctd.ctr(
                ns,
                &["image", "import", "--base-name", "berth.test/busybox", tar.to_str().unwrap()],
            )
            .ok();
        }
        ctd
    }

    fn wait_ready(&mut self) {
        let ready = wait_for(Duration::from_secs(30), || {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("containerd exited ({st}):\n{}", self.log());
            }
            self.socket.exists() && self.ctr("default", &["version"]).status.success()
        });
        assert!(ready, "containerd did not serve within 30 s:\n{}", self.log());
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.env.dir.join("containerd.log")).unwrap_or_default()
    }

    /// The test's environment (temp dir, unique ids).
    pub fn env(&self) -> &TestEnv {
        &self.env
    }

    /// A cgroup path for container `id` under this daemon's parent.
    pub fn cgroup_for(&self, id: &str) -> String {
        format!("{}/{id}", self.cgroup_parent)
    }

    /// The shim's runtime root for `namespace`: where berth keeps those containers' state.
    pub fn runtime_root(&self, namespace: &str) -> PathBuf {
        self.runc_root.join(namespace)
    }

    /// `berth --root <runtime root of namespace> args…`: the binary under test, as the shim
    /// runs it.
    pub fn runtime(&self, namespace: &str, args: &[&str]) -> Out {
        let mut cmd = Command::new(bin());
        cmd.arg("--root").arg(self.runtime_root(namespace)).args(args);
        self.finish(cmd, &format!("berth --root <{namespace}> {}", args.join(" ")))
    }

    /// `ctr --address <socket> -n <namespace> args…`, inside the daemon's mount namespace.
    #[track_caller]
    pub fn ctr(&self, namespace: &str, args: &[&str]) -> Out {
        self.try_ctr(namespace, args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like `ctr`, but a failure to run it is an `Err` (for the guard, which must not panic).
    fn try_ctr(&self, namespace: &str, args: &[&str]) -> Result<Out, String> {
        let mut cmd = Command::new("nsenter");
        cmd.args(self.ctr_argv(namespace, args));
        self.try_finish(cmd, &format!("ctr -n {namespace} {}", args.join(" ")))
    }

    /// Like `ctr`, but under `script` so ctr's stdin is a terminal (`ctr run -t` needs one).
    pub fn ctr_on_terminal(&self, namespace: &str, args: &[&str]) -> Out {
        let line: Vec<String> = std::iter::once("nsenter".to_string())
            .chain(self.ctr_argv(namespace, args))
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &line.join(" "), "/dev/null"]);
        self.finish(cmd, &format!("(on a terminal) ctr -n {namespace} {}", args.join(" ")))
    }

    fn ctr_argv(&self, namespace: &str, args: &[&str]) -> Vec<String> {
        let mut argv =
            vec!["-t".to_string(), self.pid.to_string(), "-m".to_string(), "ctr".to_string()];
        argv.extend(["--address".to_string(), self.socket.display().to_string()]);
        argv.extend(["-n".to_string(), namespace.to_string()]);
        argv.extend(args.iter().map(|a| a.to_string()));
        argv
    }

    /// Like `try_finish`, failing the test when the command cannot run or hangs.
    #[track_caller]
    fn finish(&self, cmd: Command, cmdline: &str) -> Out {
        self.try_finish(cmd, cmdline).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `cmd` to its end (killing it after `CTR_TIMEOUT`), output through files.
    fn try_finish(&self, cmd: Command, cmdline: &str) -> Result<Out, String> {
        self.env.finish_within(cmd, cmdline, CTR_TIMEOUT)
    }

    /// The `STATUS` column of `ctr task ls` for task `id` (empty if it is not listed).
    pub fn task_status(&self, namespace: &str, id: &str) -> String {
        let out = self.ctr(namespace, &["task", "ls"]);
        out.ok();
        out.stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .find(|f| f.first() == Some(&id))
            .and_then(|f| f.get(2).map(|s| s.to_string()))
            .unwrap_or_default()
    }

    /// Waits until `ctr task ls` shows task `id` with `status`.
    #[track_caller]
    pub fn wait_task_status(&self, namespace: &str, id: &str, status: &str) {
        let mut last = String::new();
        let ok = wait_for(Duration::from_secs(15), || {
            last = self.task_status(namespace, id);
            last == status
        });
        assert!(ok, "task {id} stayed {last:?}, expected {status:?}");
    }

    /// Kills and deletes every task and container of our namespaces, then stops the daemon.
    fn stop(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if matches!(self.child.try_wait(), Ok(None)) {
            for ns in self.namespaces.clone() {
                self.remove_all(&ns);
            }
            unsafe { libc::kill(self.pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            if Instant::now() >= deadline {
                problems.push("containerd ignored SIGTERM for 15 s".to_string());
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        problems
    }

    fn remove_all(&self, ns: &str) {
        let listed = |what: &str| {
            self.try_ctr(ns, &[what, "ls", "-q"]).map(|o| o.stdout).unwrap_or_default()
        };
        for id in listed("task").lines().filter(|l| !l.is_empty()) {
            let _ = self.try_ctr(ns, &["task", "kill", "-s", "KILL", id]);
            let _ = self.try_ctr(ns, &["task", "delete", "--force", id]);
        }
        for id in listed("container").lines().filter(|l| !l.is_empty()) {
            let _ = self.try_ctr(ns, &["container", "delete", id]);
        }
    }

    /// Shims this daemon started (they outlive it when a task is left), by their `-address`.
    fn shims(&self) -> Vec<(i32, u64)> {
        let needle = self.socket.display().to_string();
        let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
        rd.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
                args.first().is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"))
                    && args.contains(&needle.as_bytes())
            })
            .filter_map(|pid| Some((pid, proc_stat(pid)?.0)))
            .collect()
    }

    /// Containers still in berth's state under the runtime root of `ns`.
    fn runtime_leftovers(&self, ns: &str) -> Vec<String> {
        match fs::read_dir(self.runtime_root(ns)) {
            Ok(rd) => rd
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n != berth::seccomp::CACHE_DIR)
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    fn teardown(&mut self) -> Vec<String> {
        let mut problems = self.stop();
        for ns in self.namespaces.clone() {
            let left = self.runtime_leftovers(&ns);
            if !left.is_empty() {
                problems.push(format!("containers left in the runtime root of {ns}: {left:?}"));
                for id in left {
                    let mut cmd = Command::new(bin());
                    cmd.arg("--root").arg(self.runtime_root(&ns)).args(["delete", "--force", &id]);
                    let _ = self.try_finish(cmd, "berth delete --force (leftover)");
                }
            }
        }
        let shims = self.shims();
        if !shims.is_empty() {
            problems.push(format!("shims left running: {shims:?}"));
            for (pid, start) in shims {
                if pid_alive(pid, start) {
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let parent = self.cgroup_parent.trim_start_matches('/').trim_start_matches("berth-test/");
        for dir in cgroup_dirs(parent) {
            if !dir.exists() {
                continue;
            }
            if let Ok(rd) = fs::read_dir(&dir) {
                for leaf in rd.flatten().filter(|e| e.path().is_dir()) {
                    problems.push(format!("cgroup left: {}", leaf.path().display()));
                    wait_for(Duration::from_secs(5), || fs::remove_dir(leaf.path()).is_ok());
                }
            }
            let _ = fs::remove_dir(&dir);
        }
        problems
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        let problems = self.teardown();
        if problems.is_empty() {
            return;
        }
        let msg = format!("containerd test left behind: {}\n{}", problems.join("; "), self.log());
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// The paths a daemon's config names, all in the test's temp dir.
struct Dirs {
    root: PathBuf,
    state: PathBuf,
    socket: PathBuf,
    runc_root: PathBuf,
    cni_bin: PathBuf,
    cni_conf: PathBuf,
}

impl Dirs {
    fn new(dir: &Path) -> Self {
        let d = Dirs {
            root: dir.join("ctd-root"),
            state: dir.join("ctd-state"),
            socket: dir.join("containerd.sock"),
            runc_root: dir.join("runc"),
            cni_bin: dir.join("cni-bin"),
            cni_conf: dir.join("cni-conf"),
        };
        for p in [&d.root, &d.state, &d.cni_bin, &d.cni_conf] {
            fs::create_dir_all(p).unwrap();
        }
        d
    }
}

/// containerd's config.toml: private paths; the runtime `berth` for the CRI plugin (the
/// stanza the README shows) beside the default `runc`, so only the runtime handler a pod
/// names routes it to berth. `restrict_oom_score_adj` keeps the sandbox's oomScoreAdj (-998)
/// at the daemon's own score: lowering it needs CAP_SYS_RESOURCE, which this host's root
/// lacks (runc fails there just as berth does). Plugins that need what this host lacks, or
/// that would write outside the temp dir (`opt` installs into /opt/containerd), are disabled.
fn config_toml(d: &Dirs, berth: &Path) -> String {
    let disabled = [
        "io.containerd.internal.v1.opt",
        "io.containerd.snapshotter.v1.aufs",
        "io.containerd.snapshotter.v1.btrfs",
        "io.containerd.snapshotter.v1.devmapper",
        "io.containerd.snapshotter.v1.zfs",
        "io.containerd.tracing.processor.v1.otlp",
        "io.containerd.internal.v1.tracing",
    ];
    let disabled: Vec<String> = disabled.iter().map(|p| format!("{p:?}")).collect();
    let p = |path: &Path| path.display().to_string();
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = [{disabled}]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{pause}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin}"
    conf_dir = "{cni_conf}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth.options]
        BinaryName = "{berth}"
        Root = "{runc_root}"
        SystemdCgroup = false
"#,
        root = p(&d.root),
        state = p(&d.state),
        disabled = disabled.join(", "),
        socket = p(&d.socket),
        pause = PAUSE_IMAGE,
        cni_bin = p(&d.cni_bin),
        cni_conf = p(&d.cni_conf),
        berth = p(berth),
        runc_root = p(&d.runc_root),
    )
}

/// The OCI image archive (tags `1` and `pause`, see `IMAGE` and `PAUSE_IMAGE`), made once per
/// test binary with umoci from the harness's busybox rootfs; kept in `target/containerd-image`.
pub fn image_tar() -> &'static Path {
    static TAR: OnceLock<PathBuf> = OnceLock::new();
    TAR.get_or_init(|| {
        let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
        let dir =
            berth.parent().and_then(Path::parent).expect("no target dir").join("containerd-image");
        let work = dir.join(format!("build-{}", std::process::id()));
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).unwrap();
        let layout = work.join("layout");
        let tagged = |tag: &str| format!("{}:{tag}", layout.display());
        umoci(&["init", "--layout", layout.to_str().unwrap()]);
        umoci(&["new", "--image", &tagged("1")]);
        let bundle = work.join("bundle");
        umoci(&["unpack", "--image", &tagged("1"), bundle.to_str().unwrap()]);
        crate::harness::build_rootfs(&bundle.join("rootfs"));
        for a in IMAGE_APPLETS {
            std::os::unix::fs::symlink("busybox", bundle.join("rootfs/bin").join(a)).unwrap();
        }
        umoci(&["repack", "--image", &tagged("1"), bundle.to_str().unwrap()]);
        umoci(&[
            "config",
            "--image",
            &tagged("1"),
            "--config.cmd",
            "sh",
            "--config.env",
            "PATH=/bin",
        ]);
        umoci(&[
            "config",
            "--image",
            &tagged("1"),
            "--tag",
            "pause",
            "--config.entrypoint",
            "sleep",
            "--config.cmd",
            "2147483647",
        ]);
        let tmp_tar = work.join("image.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&tmp_tar)
            .arg(".")
            .status()
            .expect("running tar");
        assert!(st.success(), "tar of the OCI layout failed");
        let tar = dir.join("busybox.tar");
        fs::rename(&tmp_tar, &tar).unwrap();
        fs::remove_dir_all(&work).unwrap();
        tar
    })
}

fn umoci(args: &[&str]) {
    let out = Command::new("umoci")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("running umoci (install the umoci package)");
    assert!(
        out.status.success(),
        "umoci {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
