//! Docker: dockerd 20.10 (Debian's docker.io) running containers with `--runtime berth`, and
//! the three things that kept it from starting any: the `linux.resources` it writes (zeros
//! meaning unset), the v1 cgroup view without a cgroup namespace, and the wording of exec
//! errors it maps to exit codes 127/126.
//!
//! The daemon is private to the test (`Dockerd::start`): data-root, exec-root, pidfile and
//! socket in the test's temp dir, no bridge and no iptables, cgroupfs driver with its cgroups
//! under `/berth-test/<unique>`, berth added as runtime `berth` (the default runtime stays
//! runc). It runs in a mount namespace of its own with a tmpfs on /run (containerd 1.6 puts
//! shim sockets under /run/containerd whatever its state dir), gets SIGTERM if the test
//! binary dies (PR_SET_PDEATHSIG), and the guard stops it by pid, then checks that no
//! process, cgroup or runtime state is left. Docker 28's CLI comes first in PATH on the
//! project's machine: the daemon and client are called by their full Debian paths.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    bin, build_rootfs, cgroup_dirs, reference_runc, wait_for, Config, Out, TestEnv,
};

/// Debian's dockerd (20.10).
pub(crate) const DOCKERD: &str = "/usr/sbin/dockerd";
/// Debian's docker CLI; /usr/local/bin/docker is a newer one.
pub(crate) const DOCKER: &str = "/usr/bin/docker";
/// How long one docker command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the daemon may take to serve, and to stop.
const DAEMON_TIMEOUT: Duration = Duration::from_secs(60);
/// The image the tests run: the harness's busybox rootfs, imported.
pub(crate) const IMAGE: &str = "berth-test/busybox:1";

/// The `linux.resources` dockerd 20.10 writes for `docker run` without resource flags on this
/// cgroup v1 host (captured from config.json through a wrapper around runc).
fn dockerd_resources() -> serde_json::Value {
    json!({
        "devices": [
            { "allow": false, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 5, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 9, "access": "rwm" },
            { "allow": true, "type": "c", "major": 1, "minor": 8, "access": "rwm" },
            { "allow": true, "type": "c", "major": 5, "minor": 0, "access": "rwm" },
            { "allow": true, "type": "c", "major": 5, "minor": 1, "access": "rwm" },
            { "allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm" }
        ],
        "memory": { "disableOOMKiller": false },
        "cpu": { "shares": 0 },
        "blockIO": { "weight": 0 }
    })
}

fn is_v1() -> bool {
    Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
}

/// A container's memory limit as the container reads it, on v1 or v2.
const READ_MEMORY_LIMIT: &str = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null \
                                 || cat /sys/fs/cgroup/memory.max";

/// dockerd's resources, zeros and all, are accepted by create and by update: a zero weight,
/// shares or pids limit leaves the kernel's value alone, as with runc.
#[test]
fn dockerd_resources_create_and_update() {
    let env = TestEnv::new("dockres");
    let mut cfg = Config::new(&["sleep", "1000"]);
    cfg.0["linux"]["resources"] = dockerd_resources();
    let bundle = env.bundle(&cfg);
    let id = env.id("c");
    env.create(&id, &bundle).ok();
    env.start(&id).ok();
    let file = env.dir.join("resources.json");
    let mut update = dockerd_resources();
    update["pids"] = json!({ "limit": 0 });
    update["cpu"] = json!({ "shares": 0, "quota": 0, "period": 0 });
    update["blockIO"] = json!({ "weight": 0, "leafWeight": 0 });
    fs::write(&file, update.to_string()).unwrap();
    env.berth(&["update", "--resources", file.to_str().unwrap(), &id]).ok();
    env.delete(&id, true).ok();
}

/// The `cgroup` mount of a container without a cgroup namespace (Docker's default on v1)
/// shows the container's own cgroup at /sys/fs/cgroup/<controller>, as runc's does: its own
/// memory limit, and no other cgroup. With a cgroup namespace the view is the same.
#[test]
fn v1_cgroup_mount_shows_the_containers_own_cgroup() {
    if !is_v1() {
        eprintln!("skipped: needs cgroup v1");
        return;
    }
    let env = TestEnv::new("cgview");
    let script = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  find /sys/fs/cgroup/memory /sys/fs/cgroup/pids -mindepth 1 -type d | wc -l; \
                  ls /sys/fs/cgroup/memory | grep -c '^memory.limit_in_bytes$'";
    for cgroupns in [false, true] {
        let mut cfg = Config::sh(script);
        cfg.0["linux"]["resources"] = json!({ "memory": { "limit": 67108864 } });
        cfg.0["mounts"].as_array_mut().unwrap().push(json!({
            "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
            "options": ["ro", "nosuid", "noexec", "nodev"]
        }));
        if cgroupns {
            cfg.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "cgroup" }));
        }
        let bundle = env.bundle(&cfg);
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
        out.ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines, ["67108864", "0", "1"], "cgroupns {cgroupns}: {out:#?}");
    }
}

/// An exec failure reads like runc's, which dockerd and podman match to choose 127 or 126.
#[test]
fn exec_errors_carry_runcs_phrases() {
    let env = TestEnv::new("execwords");
    let cases: [(&[&str], &str); 3] = [
        (&["/nope"], "exec: \"/nope\": stat /nope: no such file or directory"),
        (&["nope"], "exec: \"nope\": executable file not found in $PATH"),
        (&["/etc/passwd"], "exec: \"/etc/passwd\": permission denied"),
    ];
    for (args, want) in cases {
        let bundle = env.bundle(&Config::new(args));
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
        assert!(!out.status.success(), "{out:#?}");
        assert!(out.stderr.contains(want), "want {want:?}: {out:#?}");
    }
    // Executable but no program: execve fails after start, in the exec shim.
    let bundle = env.bundle(&Config::new(&["/bad"]));
    fs::write(bundle.join("rootfs/bad"), "no program\n\0").unwrap();
    fs::set_permissions(bundle.join("rootfs/bad"), fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("c")]);
    // runc's init exits 1 here; berth's exec shim exits 126 like a shell.
    if !reference_runc() {
        assert_eq!(out.code(), 126, "{out:#?}");
    }
    assert!(out.stderr.contains("exec /bad: exec format error"), "{out:#?}");
}

/// Docker with `--runtime berth`: exit codes (the program's, 127, 126), a memory limit read
/// back inside, a read-only rootfs, and a detached container through exec, pause, unpause,
/// stop and rm.
#[test]
fn docker_runs_containers_with_berth() {
    if !Path::new(DOCKERD).exists() || !Path::new(DOCKER).exists() {
        eprintln!("skipped: needs Debian's docker.io ({DOCKERD}, {DOCKER})");
        return;
    }
    let docker = Dockerd::start("docker");
    let run = |args: &[&str]| {
        let mut argv = vec!["run", "--rm", "--runtime", "berth", "--network", "none"];
        argv.extend_from_slice(args);
        docker.cli(&argv)
    };

    let out = run(&[IMAGE, "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{out:#?}\n{}", docker.log());
    for missing in ["/nope", "nope"] {
        let out = run(&[IMAGE, missing]);
        assert_eq!(out.code(), 127, "{out:#?}");
    }
    let out = run(&[IMAGE, "/etc/passwd"]);
    assert_eq!(out.code(), 126, "{out:#?}");

    let out = run(&["--memory", "64m", IMAGE, "sh", "-c", READ_MEMORY_LIMIT]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "67108864", "{out:#?}");

    let out = run(&["--read-only", IMAGE, "sh", "-c", "touch /written && echo wrote"]);
    assert_ne!(out.code(), 0, "{out:#?}");
    assert!(!out.stdout.contains("wrote"), "{out:#?}");
    assert!(out.stderr.contains("Read-only file system"), "{out:#?}");

    let name = docker.env.id("d");
    let detached = ["run", "-d", "--name", &name, "--runtime", "berth", "--network", "none", IMAGE];
    docker.cli(&[&detached[..], &["sleep", "1000"]].concat()).ok();
    assert_eq!(docker.cli(&["exec", &name, "echo", "inside"]).ok().stdout.trim(), "inside");
    let inspect = |format: &str| docker.cli(&["inspect", "-f", format, &name]).ok().stdout.clone();
    let status = || inspect("{{.State.Status}}");
    let full_id = inspect("{{.Id}}");
    assert!(docker.runtime_list().contains(full_id.trim()), "berth does not list {full_id}");
    docker.cli(&["pause", &name]).ok();
    assert_eq!(status().trim(), "paused");
    docker.cli(&["unpause", &name]).ok();
    assert_eq!(status().trim(), "running");
    assert_eq!(docker.cli(&["exec", &name, "echo", "again"]).ok().stdout.trim(), "again");
    docker.cli(&["stop", "-t", "1", &name]).ok();
    assert_eq!(status().trim(), "exited");
    docker.cli(&["rm", &name]).ok();
    let listed = docker.runtime_list();
    assert!(listed.lines().count() <= 1, "berth still lists containers:\n{listed}");
}

/// A running private dockerd; dropping it removes the image, stops the daemon and checks
/// that nothing is left.
pub(crate) struct Dockerd {
    pub(crate) env: TestEnv,
    child: Child,
    socket: PathBuf,
    exec_root: PathBuf,
    cgroup_parent: String,
}

impl Dockerd {
    /// Starts the daemon for test `name` and imports [`IMAGE`].
    pub(crate) fn start(name: &str) -> Self {
        let env = TestEnv::new(name);
        let (data_root, exec_root) = (env.dir.join("data"), env.dir.join("exec"));
        let socket = env.dir.join("docker.sock");
        let cgroup_parent = format!("/berth-test/{}", env.id("dockerd"));
        let log = fs::File::create(env.dir.join("dockerd.log")).unwrap();
        let mut cmd = Command::new("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg("mount -t tmpfs -o mode=0755 tmpfs /run && exec \"$@\"")
            .arg("sh")
            .arg(DOCKERD)
            .arg("--data-root")
            .arg(&data_root)
            .arg("--exec-root")
            .arg(&exec_root)
            .arg("--pidfile")
            .arg(env.dir.join("docker.pid"))
            .arg("-H")
            .arg(format!("unix://{}", socket.display()))
            .args(["--bridge=none", "--iptables=false", "--ip-masq=false"])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent"])
            .arg(&cgroup_parent)
            .arg("--add-runtime")
            .arg(format!("berth={}", bin().display()))
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
        let child = cmd.spawn().expect("starting unshare … dockerd");
        let daemon = Dockerd { env, child, socket, exec_root, cgroup_parent };
        daemon.wait_ready();
        let tar = daemon.image_tar();
        daemon.cli(&["import", tar.to_str().unwrap(), IMAGE]).ok();
        daemon
    }

    fn wait_ready(&self) {
        let ready = wait_for(DAEMON_TIMEOUT, || {
            self.socket.exists() && self.try_cli(&["version"]).is_ok_and(|o| o.status.success())
        });
        assert!(ready, "dockerd did not serve within {DAEMON_TIMEOUT:?}:\n{}", self.log());
    }

    /// A tarball of the harness's busybox rootfs.
    fn image_tar(&self) -> PathBuf {
        let rootfs = self.env.dir.join("image-rootfs");
        build_rootfs(&rootfs);
        let tar = self.env.dir.join("image.tar");
        let out = Command::new("tar").arg("-C").arg(&rootfs).arg("-cf").arg(&tar).arg(".").output();
        assert!(out.is_ok_and(|o| o.status.success()), "tar of the busybox rootfs failed");
        tar
    }

    /// The daemon's log so far.
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(self.env.dir.join("dockerd.log")).unwrap_or_default()
    }

    /// `docker -H <socket> args…`, failing the test when it cannot run or hangs.
    #[track_caller]
    pub(crate) fn cli(&self, args: &[&str]) -> Out {
        self.try_cli(args).unwrap_or_else(|e| panic!("{e}\n{}", self.log()))
    }

    /// `docker -H <socket> args…` to its end, killed after [`COMMAND_TIMEOUT`].
    fn try_cli(&self, args: &[&str]) -> Result<Out, String> {
        let mut cmd = Command::new(DOCKER);
        cmd.arg("-H").arg(format!("unix://{}", self.socket.display())).args(args);
        // The client's config (and its contexts) stay in the test's dir.
        cmd.env("DOCKER_CONFIG", self.env.dir.join("client"));
        self.env.finish_within(cmd, &format!("docker {}", args.join(" ")), COMMAND_TIMEOUT)
    }

    /// What berth lists in the state root dockerd gives it (`<exec-root>/runtime-runc/moby`,
    /// runc's, for every runc-compatible runtime).
    fn runtime_list(&self) -> String {
        let mut cmd = Command::new(bin());
        cmd.arg("--root").arg(self.exec_root.join("runtime-runc/moby")).arg("list");
        self.env
            .finish_within(cmd, "berth list", COMMAND_TIMEOUT)
            .map(|o| o.stdout)
            .unwrap_or_default()
    }

    /// Removes the containers and the image, stops the daemon (SIGTERM, bounded) and reports
    /// what is left.
    fn stop(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Ok(out) = self.try_cli(&["ps", "-aq"]) {
            for id in out.stdout.split_whitespace() {
                let _ = self.try_cli(&["rm", "-f", id]);
            }
        }
        let _ = self.try_cli(&["rmi", "-f", IMAGE]);
        let pid = self.child.id() as i32;
        // SAFETY: signals only the daemon this guard started, still its unreaped child.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + DAEMON_TIMEOUT;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() >= deadline => {
                    problems.push(format!("dockerd {pid} ignored SIGTERM; killed"));
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        let exec_root = self.exec_root.display().to_string();
        for pid in processes_naming(&exec_root) {
            problems.push(format!("process {pid} of the daemon outlived it; killed"));
            // SAFETY: a process whose command line names this test's exec-root.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let leaf = self.cgroup_parent.trim_start_matches("/berth-test/");
        for dir in cgroup_dirs(leaf).into_iter().filter(|d| d.exists()) {
            let removed = wait_for(Duration::from_secs(5), || fs::remove_dir(&dir).is_ok());
            if !removed {
                problems.push(format!("cgroup {} is left", dir.display()));
            }
        }
        problems
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let problems = self.stop();
        if problems.is_empty() {
            return;
        }
        let msg = format!("dockerd left behind: {}\n{}", problems.join("; "), self.log());
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// Pids of the processes whose command line contains `needle`.
fn processes_naming(needle: &str) -> Vec<i32> {
    let own = std::process::id() as i32;
    fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| *pid != own)
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(needle)
        })
        .collect()
}
