//! Tests in a fresh VM: the Debian cloud kernel booted under qemu (TCG) as a pure cgroup v2
//! host (`cgroup_no_v1=all`), with an initramfs that tests/vm/build.sh makes from the berth
//! under test. A driver script (tests/vm/drivers/NAME.sh, helpers in tests/vm/lib.sh) runs as
//! root in the VM and prints `RESULT <name> ok|fail <detail>` lines on the serial console; the
//! host parses them and asserts. A new VM test is a driver script plus a `Vm` here.
//! `Vm::systemd` boots the other guest, systemd as PID 1 on a Debian root image
//! (tests/vm/systemd, vm_systemd.rs).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{bin, Config, TestEnv};

/// How long one VM may run, boot to power-off, before the test fails.
pub const VM_TIMEOUT: Duration = Duration::from_secs(150);

/// The kernel command line: serial console, cgroup v1 off, power off instead of hanging.
const KERNEL_ARGS: &str = "console=ttyS0 cgroup_no_v1=all panic=-1 loglevel=4";

/// The systemd guest's kernel command line: systemd mounts the cgroups as it chooses (unified
/// unless told otherwise) and shows no unit status on the console the results go to.
const SYSTEMD_KERNEL_ARGS: &str = "console=ttyS0 panic=-1 loglevel=4 systemd.show_status=0";

/// How long the systemd guest may run: its boot alone takes 10 to 20 s under TCG.
pub const SYSTEMD_VM_TIMEOUT: Duration = Duration::from_secs(400);

/// The line init prints once it runs on its tmpfs root, and the one after the driver.
const INIT_MARK: &str = "BERTH-VM-INIT";
const END_MARK: &str = "RESULTS-END";
/// The line the systemd guest's test unit prints when systemd starts it.
const SYSTEMD_MARK: &str = "BERTH-VM-SYSTEMD";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `target/<host triple>/vm`, next to the profile dir holding the berth under test: the
/// kernel cache.
fn vm_dir() -> PathBuf {
    let berth = PathBuf::from(env!("CARGO_BIN_EXE_berth"));
    berth.parent().and_then(Path::parent).expect("berth has no target dir").join("vm")
}

/// The vmlinuz to boot, fetched once per test binary (build.sh caches it under
/// `target/<host triple>/vm`);
/// `Err` holds why VM tests are skipped (qemu cannot be installed).
fn kernel() -> &'static Result<PathBuf, String> {
    static KERNEL: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    KERNEL.get_or_init(|| {
        let out = Command::new(repo().join("tests/vm/build.sh"))
            .arg("kernel")
            .arg(vm_dir())
            .stdin(Stdio::null())
            .output()
            .expect("running tests/vm/build.sh kernel");
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status.code() {
            Some(0) => Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())),
            Some(77) => Err(stderr),
            _ => panic!("tests/vm/build.sh kernel failed ({}): {stderr}", out.status),
        }
    })
}

/// The systemd guest's root image, built once per package list (build.sh caches it under
/// `target/vm`); `Err` holds why systemd VM tests are skipped (mmdebstrap or qemu cannot be
/// installed).
fn systemd_root() -> &'static Result<PathBuf, String> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let start = Instant::now();
        let out = Command::new(repo().join("tests/vm/build.sh"))
            .arg("sdroot")
            .arg(vm_dir())
            .stdin(Stdio::null())
            .output()
            .expect("running tests/vm/build.sh sdroot");
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        match out.status.code() {
            Some(0) => {
                let built = stderr.lines().rfind(|l| l.starts_with("vm/build.sh: built"));
                eprintln!(
                    "systemd root image ready in {:.1?} {}",
                    start.elapsed(),
                    built.unwrap_or("")
                );
                Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            }
            Some(77) => Err(stderr),
            _ => panic!("tests/vm/build.sh sdroot failed ({}): {stderr}", out.status),
        }
    })
}

/// One `RESULT <name> ok|fail <detail>` line from a driver.
#[derive(Clone, Debug)]
pub struct VmResult {
    /// The fact's name.
    pub name: String,
    /// Whether the driver found it as expected.
    pub ok: bool,
    /// What it saw.
    pub detail: String,
}

/// What one VM run printed and how long it took.
#[derive(Debug)]
pub struct VmRun {
    /// The RESULT lines, in order.
    pub results: Vec<VmResult>,
    /// Host wall time from starting qemu to init's first line (kernel boot and initramfs), or
    /// in the systemd guest to the test unit's first line (systemd's boot too).
    pub boot: Duration,
    /// Host wall time from starting qemu to its exit.
    pub wall: Duration,
    /// Everything the serial console showed.
    pub console: String,
}

impl VmRun {
    /// Asserts the driver ran to its end, every result is ok and each of `names` was reported.
    #[track_caller]
    pub fn assert_ok(&self, names: &[impl AsRef<str>]) {
        self.assert_ok_excusing(names, &[]);
    }

    /// Like [`VmRun::assert_ok`], where the facts named in `excused` may fail (a reference
    /// runtime's known defects) but must still be reported.
    #[track_caller]
    pub fn assert_ok_excusing(&self, names: &[impl AsRef<str>], excused: &[&str]) {
        let failed: Vec<&VmResult> =
            self.results.iter().filter(|r| !r.ok && !excused.contains(&r.name.as_str())).collect();
        let missing: Vec<&str> = names
            .iter()
            .map(AsRef::as_ref)
            .filter(|n| !self.results.iter().any(|r| r.name == *n))
            .collect();
        let ended = self.console.contains(END_MARK);
        assert!(
            failed.is_empty() && missing.is_empty() && ended,
            "VM results: failed {failed:#?}, missing {missing:?}, driver ended: {ended}\n\
             --- console ---\n{}",
            self.console
        );
    }
}

/// A VM test: a driver script and the bundles (config.json only) it finds under /vm/bundles.
pub struct Vm {
    driver: String,
    bundles: Vec<(String, Config)>,
    modules: Vec<String>,
    systemd: bool,
    kernel_args: Vec<String>,
    timeout: Option<Duration>,
}

impl Vm {
    /// A VM running `tests/vm/drivers/<driver>.sh`.
    pub fn new(driver: &str) -> Self {
        Vm {
            driver: driver.to_string(),
            bundles: Vec::new(),
            modules: Vec::new(),
            systemd: false,
            kernel_args: Vec::new(),
            timeout: None,
        }
    }

    /// A VM booting systemd as PID 1 from the Debian root image (tests/vm/systemd), running
    /// the driver from a unit once the system bus is up.
    pub fn systemd(driver: &str) -> Self {
        Vm { systemd: true, ..Vm::new(driver) }
    }

    /// Appends `arg` to the kernel command line (drivers read their options from /proc/cmdline).
    pub fn kernel_arg(mut self, arg: &str) -> Self {
        self.kernel_args.push(arg.to_string());
        self
    }

    /// Ships `cfg` as `/vm/bundles/<name>/config.json`; the driver's `bundle NAME` adds a rootfs.
    pub fn bundle(mut self, name: &str, cfg: Config) -> Self {
        self.bundles.push((name.to_string(), cfg));
        self
    }

    /// Lets the guest run for `limit` instead of the default before it is killed.
    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = Some(limit);
        self
    }

    /// Loads kernel module `name` (and what it needs) from the fetched kernel before the driver.
    pub fn module(mut self, name: &str) -> Self {
        self.modules.push(name.to_string());
        self
    }

    /// Builds the initramfs, boots it and collects the results; `None` (with the reason
    /// printed) when qemu cannot be installed, which CI (`CI` set) does not accept.
    pub fn run(&self) -> Option<VmRun> {
        let kernel = match kernel() {
            Ok(k) => k,
            Err(why) if std::env::var_os("CI").is_none() => {
                eprintln!("skipped: VM test {}: {why}", self.driver);
                return None;
            }
            Err(why) => panic!("VM test {} cannot run in CI: {why}", self.driver),
        };
        let disk = if self.systemd {
            match systemd_root() {
                Ok(img) => Some(img.clone()),
                Err(why) if std::env::var_os("CI").is_none() => {
                    eprintln!("skipped: VM test {}: {why}", self.driver);
                    return None;
                }
                Err(why) => panic!("VM test {} cannot run in CI: {why}", self.driver),
            }
        } else {
            None
        };
        let env = TestEnv::new(&format!("vm-{}", self.driver));
        let initrd = self.initramfs(&env);
        let mut append = if self.systemd { SYSTEMD_KERNEL_ARGS } else { KERNEL_ARGS }.to_string();
        for arg in &self.kernel_args {
            append = format!("{append} {arg}");
        }
        let spec = Boot {
            kernel,
            initrd: &initrd,
            disk: disk.as_deref(),
            append,
            timeout: self.timeout.unwrap_or(if self.systemd {
                SYSTEMD_VM_TIMEOUT
            } else {
                VM_TIMEOUT
            }),
            booted: if self.systemd { SYSTEMD_MARK } else { INIT_MARK },
        };
        Some(boot(&spec, &env.dir.join("console.log")))
    }

    fn initramfs(&self, env: &TestEnv) -> PathBuf {
        let bundles = env.dir.join("bundles");
        for (name, cfg) in &self.bundles {
            let dir = bundles.join(name);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&cfg.0).unwrap()).unwrap();
        }
        let out = env.dir.join("initramfs.gz");
        let driver = repo().join("tests/vm/drivers").join(format!("{}.sh", self.driver));
        let mut cmd = Command::new(repo().join("tests/vm/build.sh"));
        cmd.arg("initramfs").arg(&out).arg(bin()).arg(&driver);
        if !self.bundles.is_empty() {
            cmd.arg(&bundles);
        }
        if self.systemd {
            cmd.env("VM_INIT", "systemd");
        }
        let res = cmd
            .env("VM_MODULES", self.modules.join(" "))
            .env("VMDIR", vm_dir())
            .stdin(Stdio::null())
            .output()
            .expect("running tests/vm/build.sh initramfs");
        assert!(
            res.status.success(),
            "tests/vm/build.sh initramfs failed: {}",
            String::from_utf8_lossy(&res.stderr)
        );
        out
    }
}

/// What one VM boots: kernel, initramfs, the root image (`snapshot=on`: writes stay out of
/// the cached image) for the systemd guest, the kernel command line, and how long it may run.
struct Boot<'a> {
    kernel: &'a Path,
    initrd: &'a Path,
    disk: Option<&'a Path>,
    append: String,
    timeout: Duration,
    /// The console line that ends the boot: init's first, or the systemd guest's test unit.
    booted: &'static str,
}

/// Boots `spec` under TCG, the serial console going to `console` and qemu's own messages to
/// `console.err` (files: a full pipe would stall the VM); kills qemu (its own child, by
/// handle) after `spec.timeout`.
fn boot(spec: &Boot, console: &Path) -> VmRun {
    let errors = console.with_extension("err");
    let start = Instant::now();
    let mut qemu = Command::new("qemu-system-x86_64");
    qemu.args(["-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "1024", "-smp", "1"])
        .args(["-nodefaults", "-nographic", "-serial", "stdio", "-monitor", "none"])
        .arg("-no-reboot")
        .arg("-kernel")
        .arg(spec.kernel)
        .arg("-initrd")
        .arg(spec.initrd)
        .arg("-append")
        .arg(&spec.append);
    if let Some(disk) = spec.disk {
        let mut drive = std::ffi::OsString::from("format=raw,if=virtio,snapshot=on,file=");
        drive.push(disk);
        qemu.arg("-drive").arg(drive);
    }
    let mut child = qemu
        .stdin(Stdio::null())
        .stdout(fs::File::create(console).unwrap())
        .stderr(fs::File::create(&errors).unwrap())
        .spawn()
        .expect("starting qemu-system-x86_64");
    let mut boot = None;
    let status = loop {
        if let Some(st) = child.try_wait().expect("waiting for qemu") {
            break st;
        }
        if boot.is_none() && fs::read_to_string(console).unwrap_or_default().contains(spec.booted) {
            boot = Some(start.elapsed());
        }
        if start.elapsed() > spec.timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the VM did not power off within {:?}\n--- console ---\n{}",
                spec.timeout,
                fs::read_to_string(console).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let wall = start.elapsed();
    let text = fs::read_to_string(console).unwrap_or_default().replace('\r', "");
    let qemu_err = fs::read_to_string(&errors).unwrap_or_default();
    assert!(status.success(), "qemu failed ({status}): {qemu_err}\n--- console ---\n{text}");
    let results = text.lines().filter_map(parse_result).collect();
    let run = VmRun { results, boot: boot.unwrap_or(wall), wall, console: text };
    for r in &run.results {
        eprintln!("{} {} {}", r.name, if r.ok { "ok" } else { "FAIL" }, r.detail);
    }
    let unit = match guest_uptime(&run.console, SYSTEMD_MARK) {
        "?" => String::new(),
        up => format!(", {up} at systemd's test unit"),
    };
    eprintln!(
        "VM boot {:.1?}, wall {:.1?}; guest uptime {} at init{unit}, {} at the end",
        run.boot,
        run.wall,
        guest_uptime(&run.console, INIT_MARK),
        guest_uptime(&run.console, END_MARK)
    );
    run
}

/// The `uptime=` init printed on the line with `mark` (seconds since the guest kernel started).
fn guest_uptime<'a>(console: &'a str, mark: &str) -> &'a str {
    console
        .lines()
        .find(|l| l.contains(mark))
        .and_then(|l| l.split_whitespace().find_map(|w| w.strip_prefix("uptime=")))
        .unwrap_or("?")
}

/// Parses `RESULT <name> ok|fail <detail>`, wherever it starts on the line (kernel messages
/// can share a console line).
fn parse_result(line: &str) -> Option<VmResult> {
    let rest = &line[line.find("RESULT ")? + "RESULT ".len()..];
    let mut parts = rest.splitn(3, ' ');
    let name = parts.next()?.to_string();
    let ok = match parts.next()? {
        "ok" => true,
        "fail" => false,
        _ => return None,
    };
    let detail = parts.next().unwrap_or("").to_string();
    Some(VmResult { name, ok, detail })
}

#[test]
fn vm_pure_cgroup_v2_basics() {
    // A cgroup namespace and a cgroup mount, which on a pure v2 host is cgroup2 itself.
    let mut cgroupns = Config::sh(
        "echo fstype $(stat -fc %t /sys/fs/cgroup); echo cgroup $(cat /proc/self/cgroup)",
    );
    cgroupns.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "cgroup" }));
    cgroupns.0["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
    }));
    let vm = Vm::new("basic")
        .module("overlay")
        .bundle(
            "run",
            Config::sh("echo pid $$; echo hostname $(hostname)").hostname("berth-vm-test"),
        )
        .bundle("sleeper", Config::new(&["sleep", "1000"]))
        .bundle("userns", Config::sh("echo uid $(id -u) > /tmp/out").user_namespace(100000, 65536))
        .bundle("cgroupns", cgroupns);
    let Some(run) = vm.run() else { return };
    run.assert_ok(&[
        "host_cgroup2",
        "host_no_v1",
        "run_exit",
        "run_pid",
        "run_hostname",
        "run_cleaned",
        "create",
        "create_status",
        "start",
        "start_status",
        "kill_stopped",
        "delete_gone",
        "userns_host_uid",
        "userns_map",
        "userns_output",
        "userns_cleaned",
        "cgroupns_fstype",
        "cgroupns_self",
        "module_overlay",
    ]);
}

/// A config in cgroup `/berth-vm/<name>` with `resources` as `linux.resources`.
fn in_cgroup(cfg: Config, name: &str, resources: serde_json::Value) -> Config {
    let mut cfg = cfg;
    cfg.0["linux"]["cgroupsPath"] = json!(format!("/berth-vm/{name}"));
    cfg.0["linux"]["resources"] = resources;
    cfg
}

#[test]
fn vm_cgroup_v2_resources() {
    let limits = json!({
        "memory": { "limit": 67108864 },
        "pids": { "limit": 20 },
        "cpu": { "quota": 50000, "period": 100000 }
    });
    // Each shell forks two more forever; only pids.max holds it.
    let bomb = Config::sh("b() { b | b & }; b; sleep 1000");
    // dd's 128 MiB block is touched in full, past a 32 MiB memory.max.
    let hog = Config::sh("dd if=/dev/zero of=/dev/null bs=128M count=1");
    let mut nsmount = Config::sh(
        "echo cgroup $(cat /proc/self/cgroup); echo memory.max $(cat /sys/fs/cgroup/memory.max)",
    );
    nsmount.0["linux"]["namespaces"].as_array_mut().unwrap().push(json!({ "type": "cgroup" }));
    nsmount.0["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]
    }));
    let mut devdeny = Config::sh("head -c0 /dev/null && echo null ok; head -c1 /dev/kmsg; true");
    // Bound from the host rather than listed in linux.devices (which would allow it).
    devdeny.0["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/dev/kmsg", "type": "bind", "source": "/dev/kmsg", "options": ["bind"]
    }));
    let devices = json!({ "devices": [{ "allow": false, "access": "rwm" }] });
    let vm = Vm::new("cgroup_v2")
        .bundle("devdeny", in_cgroup(devdeny, "devdeny", devices))
        .bundle("limits", in_cgroup(Config::new(&["sleep", "1000"]), "limits", limits))
        .bundle("bomb", in_cgroup(bomb, "bomb", json!({ "pids": { "limit": 20 } })))
        .bundle("hog", in_cgroup(hog, "hog", json!({ "memory": { "limit": 33554432 } })))
        .bundle(
            "nsmount",
            in_cgroup(nsmount, "nsmount", json!({ "memory": { "limit": 67108864 } })),
        );
    let Some(run) = vm.run() else { return };
    run.assert_ok(&[
        "limits_placement",
        "limits_memory_max",
        "limits_pids_max",
        "limits_cpu_max",
        "update_pids_max",
        "events_stats",
        "exec_cgroup",
        "kill_all_before",
        "kill_all_empty",
        "pause_status",
        "pause_frozen",
        "resume_status",
        "resume_frozen",
        "limits_cgroup_removed",
        "bomb_limited",
        "bomb_refused",
        "bomb_cgroup_removed",
        "hog_killed",
        "devices_null_allowed",
        "devices_kmsg_denied",
        "nsmount_self",
        "nsmount_memory_max",
        "berth_vm_parent_empty",
    ]);
}
