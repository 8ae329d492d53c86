//! Root-only end-to-end tests: a forked child enters new mount, pid, network and UTS
//! namespaces, makes `/` private before anything else, builds a container view of a tiny
//! rootfs under a fresh temp dir with prepare → pivot → finish, and probes it. The child
//! reports failed probes through a pipe and its exit code; the test process asserts.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::{LinuxDeviceBuilder, LinuxDeviceType, Mount};

use crate::spec::{Namespace, NamespaceKind, ValidProcess, ValidSpec};

/// A directory under /tmp, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let template = CString::new("/tmp/berth-rootfs-XXXXXX").unwrap();
        let raw = template.into_raw();
        // SAFETY: `raw` is a writable NUL-terminated template owned by this function.
        let ok = !unsafe { libc::mkdtemp(raw) }.is_null();
        // SAFETY: `raw` came from `into_raw` above.
        let path = unsafe { CString::from_raw(raw) };
        assert!(ok, "mkdtemp: {}", std::io::Error::last_os_error());
        TempDir(PathBuf::from(path.into_string().unwrap()))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn mnt(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.into());
    m.set_typ(Some(typ.into()));
    m.set_source(Some(source.into()));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

fn spec(bundle: &Path, mounts: Vec<Mount>, namespaces: &[NamespaceKind]) -> ValidSpec {
    ValidSpec {
        oci_version: "1.2.0".into(),
        bundle: bundle.to_path_buf(),
        root: bundle.join("rootfs"),
        root_readonly: false,
        process: ValidProcess {
            args: vec!["/bin/busybox".into()],
            env: vec![],
            cwd: "/".into(),
            uid: 0,
            gid: 0,
            umask: None,
            additional_gids: vec![],
            terminal: false,
            console_size: None,
            no_new_privileges: false,
            capabilities: None,
            rlimits: vec![],
            oom_score_adj: None,
            scheduler: None,
            io_priority: None,
            exec_cpu_affinity: None,
            apparmor_profile: None,
            selinux_label: None,
        },
        hostname: None,
        domainname: None,
        mount_options: (mounts.iter())
            .map(|m| super::options::parse(m.options().as_deref().unwrap_or_default()))
            .collect(),
        mount_idmaps: mounts.iter().map(|_| None).collect(),
        mounts,
        mount_label: None,
        memory_policy: None,
        net_devices: vec![],
        intel_rdt: None,
        namespaces: namespaces.iter().map(|&kind| Namespace { kind, path: None }).collect(),
        uid_mappings: vec![],
        gid_mappings: vec![],
        devices: vec![],
        masked_paths: vec![],
        readonly_paths: vec![],
        rootfs_propagation: None,
        seccomp: None,
        annotations: HashMap::new(),
        cgroups_path: None,
        resources: Default::default(),
        hooks: Default::default(),
        sysctl: vec![],
        personality: None,
        time_offsets: vec![],
    }
}

/// A bundle with rootfs/bin/busybox.
fn bundle() -> TempDir {
    let dir = TempDir::new();
    let rootfs = dir.0.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    // Copied by `cp`, not here: a write descriptor this process held would be inherited by
    // whatever another test thread forks meanwhile (the D-Bus tests start a daemon), and
    // until that child exec'd, running the copy would fail with ETXTBSY.
    let copied = std::process::Command::new("cp")
        .arg("/bin/busybox")
        .arg(rootfs.join("bin/busybox"))
        .status();
    assert!(copied.is_ok_and(|s| s.success()), "copying /bin/busybox");
    dir
}

/// Collects the probes that failed.
#[derive(Default)]
struct Probe(Vec<String>);

impl Probe {
    fn check(&mut self, what: &str, ok: bool) {
        if !ok {
            self.0.push(what.to_string());
        }
    }
}

fn is_erofs<T>(r: std::io::Result<T>) -> bool {
    matches!(r, Err(e) if e.raw_os_error() == Some(libc::EROFS))
}

fn fs_type(path: &str) -> i64 {
    nix::sys::statfs::statfs(path).map(|s| s.filesystem_type().0).unwrap_or(-1)
}

/// Runs `body` in a grandchild that is pid 1 of new namespaces whose `/` was made private
/// first; returns the failures it reported.
fn in_container(extra: CloneFlags, body: impl FnOnce() -> Result<Probe, String>) -> Vec<String> {
    let (r, w) = nix::unistd::pipe().unwrap();
    // SAFETY: the child only runs the test body and leaves with _exit; glibc's malloc is
    // fork-safe and the child touches no lock the harness's other threads could hold.
    match unsafe { fork() }.unwrap() {
        ForkResult::Child => {
            drop(r);
            let mut out = File::from(w);
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                child(extra, &mut out, body)
            }))
            .unwrap_or(99);
            // SAFETY: leaving the forked child without running the harness's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => {
            drop(w);
            let mut report = String::new();
            File::from(r).read_to_string(&mut report).unwrap();
            let status = waitpid(child, None).unwrap();
            let mut failures: Vec<String> = report.lines().map(str::to_string).collect();
            if status != WaitStatus::Exited(child, 0) && failures.is_empty() {
                failures.push(format!("child ended with {status:?}"));
            }
            failures
        }
    }
}

fn child(extra: CloneFlags, out: &mut File, body: impl FnOnce() -> Result<Probe, String>) -> i32 {
    let setup = || -> Result<(), String> {
        let flags = CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWUTS
            | CloneFlags::CLONE_NEWIPC
            | extra;
        nix::sched::unshare(flags).map_err(|e| format!("unshare: {e}"))?;
        // Before anything else: nothing this test mounts may reach the host.
        let private = nix::mount::MsFlags::MS_PRIVATE | nix::mount::MsFlags::MS_REC;
        nix::mount::mount(None::<&str>, "/", None::<&str>, private, None::<&str>)
            .map_err(|e| format!("making / private: {e}"))
    };
    if let Err(e) = setup() {
        let _ = writeln!(out, "{e}");
        return 1;
    }
    // SAFETY: this process is single-threaded (a fork child).
    match unsafe { fork() } {
        Ok(ForkResult::Child) => {
            let code = match body() {
                Ok(p) if p.0.is_empty() => 0,
                Ok(p) => {
                    let _ = writeln!(out, "{}", p.0.join("\n"));
                    1
                }
                Err(e) => {
                    let _ = writeln!(out, "{e}");
                    1
                }
            };
            // SAFETY: leaving the forked child without running exit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(ForkResult::Parent { child }) => match waitpid(child, None) {
            Ok(WaitStatus::Exited(_, code)) => code,
            other => {
                let _ = writeln!(out, "container pid 1 ended with {other:?}");
                1
            }
        },
        Err(e) => {
            let _ = writeln!(out, "fork: {e}");
            1
        }
    }
}

fn run_steps(spec: &ValidSpec, no_pivot: bool, between: impl FnOnce()) -> Result<(), String> {
    let one_line = |e: super::RootfsError| crate::error::one_line(&e);
    super::prepare(spec, &[], &[], None).map_err(one_line)?;
    between();
    super::pivot(spec, no_pivot).map_err(one_line)?;
    super::finish(spec).map_err(one_line)
}

fn is_root() -> bool {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root");
        return false;
    }
    true
}

#[test]
fn full_container_view() {
    if !is_root() {
        return;
    }
    let dir = bundle();
    let rootfs = dir.0.join("rootfs");
    std::fs::write(dir.0.join("hello"), "hello\n").unwrap();
    // Destinations under these symlinks must land inside the rootfs, never on the host.
    std::os::unix::fs::symlink("/", rootfs.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../..", rootfs.join("up")).unwrap();
    let escape = format!("berth-escape-probe-{}", std::process::id());
    assert!(!Path::new("/").join(&escape).exists());

    let mut s = spec(
        &dir.0,
        vec![
            mnt("/proc", "proc", "proc", &[]),
            mnt("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
            mnt(
                "/dev/pts",
                "devpts",
                "devpts",
                &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
            ),
            mnt("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777"]),
            mnt("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
            mnt("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
            mnt(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "relatime", "ro"],
            ),
            mnt("/etc/hello", "bind", "hello", &["ro", "nosuid"]),
            mnt(&format!("/evil/{escape}"), "tmpfs", "tmpfs", &[]),
            mnt(&format!("/up/{escape}-up"), "tmpfs", "tmpfs", &[]),
            mnt("/scratch", "tmpfs", "tmpfs", &["rprivate"]),
        ],
        &[NamespaceKind::Mount, NamespaceKind::Pid, NamespaceKind::Network],
    );
    let tun = LinuxDeviceBuilder::default()
        .path("/dev/net/tun")
        .typ(LinuxDeviceType::C)
        .major(10)
        .minor(200)
        .file_mode(0o640u32)
        .uid(1u32)
        .gid(2u32)
        .build()
        .unwrap();
    s.devices = vec![crate::spec::Device::parse(&tun).unwrap()];
    s.masked_paths =
        ["/proc/keys", "/proc/kcore", "/sys/firmware", "/no/such/path"].map(String::from).into();
    s.readonly_paths = ["/proc/sys", "/scratch/ro", "/missing"].map(String::from).into();
    s.root_readonly = true;

    let failures = in_container(CloneFlags::CLONE_NEWNET, || {
        let scratch_ro = s.root.join("scratch/ro");
        run_steps(&s, false, || std::fs::create_dir(&scratch_ro).unwrap_or(()))?;
        let mut p = Probe::default();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        p.check("/proc is this pid namespace's proc", stat.starts_with("1 "));
        let null = std::fs::metadata("/dev/null");
        p.check(
            "/dev/null is char 1:3 mode 0666",
            null.as_ref().is_ok_and(|m| {
                m.file_type().is_char_device()
                    && m.rdev() == libc::makedev(1, 3)
                    && m.permissions().mode() & 0o7777 == 0o666
            }),
        );
        let tun = std::fs::metadata("/dev/net/tun");
        p.check(
            "/dev/net/tun is char 10:200 0640 owned by 1:2",
            tun.as_ref().is_ok_and(|m| {
                m.rdev() == libc::makedev(10, 200)
                    && m.permissions().mode() & 0o7777 == 0o640
                    && (m.uid(), m.gid()) == (1, 2)
            }),
        );
        let link = |p: &str| std::fs::read_link(p).ok();
        p.check("/dev/fd links to /proc/self/fd", link("/dev/fd") == Some("/proc/self/fd".into()));
        p.check("/dev/stderr link", link("/dev/stderr") == Some("/proc/self/fd/2".into()));
        p.check("/dev/ptmx links to pts/ptmx", link("/dev/ptmx") == Some("pts/ptmx".into()));
        p.check("/dev/pts/ptmx exists", Path::new("/dev/pts/ptmx").exists());
        p.check("/dev/shm is tmpfs", fs_type("/dev/shm") == libc::TMPFS_MAGIC);
        p.check("/dev/mqueue is mqueue", fs_type("/dev/mqueue") == 0x19800202);
        let keys = std::fs::read("/proc/keys");
        p.check("masked /proc/keys reads empty", keys.is_ok_and(|b| b.is_empty()));
        let fw = std::fs::read_dir("/sys/firmware").map(|d| d.count());
        p.check("masked /sys/firmware is empty", fw.is_ok_and(|n| n == 0));
        p.check(
            "masked /sys/firmware is read-only",
            is_erofs(std::fs::create_dir("/sys/firmware/x")),
        );
        p.check(
            "/proc/sys is read-only",
            is_erofs(std::fs::OpenOptions::new().write(true).open("/proc/sys/kernel/hostname")),
        );
        p.check("/scratch stays writable", std::fs::write("/scratch/file", "x").is_ok());
        p.check("/scratch/ro is read-only", is_erofs(std::fs::write("/scratch/ro/file", "x")));
        p.check("root is read-only", is_erofs(std::fs::write("/newfile", "x")));
        p.check(
            "bind file has the host content",
            std::fs::read_to_string("/etc/hello").is_ok_and(|s| s == "hello\n"),
        );
        p.check("ro bind refuses writes", is_erofs(std::fs::write("/etc/hello", "x")));
        p.check(
            "symlink to / lands inside the rootfs",
            fs_type(&format!("/{escape}")) == libc::TMPFS_MAGIC,
        );
        p.check(
            "symlink with .. lands inside the rootfs",
            fs_type(&format!("/{escape}-up")) == libc::TMPFS_MAGIC,
        );
        let net: Vec<_> = std::fs::read_dir("/sys/class/net")
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default();
        p.check("/sys is this network namespace's sysfs", net == ["lo"]);
        p.check("/sys is read-only", is_erofs(std::fs::create_dir("/sys/x")));
        p.check(
            "/sys/fs/cgroup/memory is a cgroup v1 hierarchy",
            fs_type("/sys/fs/cgroup/memory") == libc::CGROUP_SUPER_MAGIC
                || fs_type("/sys/fs/cgroup") == libc::CGROUP2_SUPER_MAGIC,
        );
        p.check("/sys/fs/cgroup is read-only", is_erofs(std::fs::create_dir("/sys/fs/cgroup/x")));
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let roots = mountinfo.lines().filter(|l| l.split(' ').nth(4) == Some("/")).count();
        p.check("no old root stays mounted", roots == 1);
        let cat = std::process::Command::new("/bin/busybox").args(["cat", "/etc/hello"]).output();
        let seen = format!("busybox runs in the container (got {cat:?})");
        p.check(&seen, cat.is_ok_and(|o| o.stdout == b"hello\n"));
        Ok(p)
    });
    assert!(failures.is_empty(), "container probes failed:\n{}", failures.join("\n"));
    assert!(!Path::new("/").join(&escape).exists(), "a mount escaped the rootfs");
    assert!(!Path::new("/").join(format!("{escape}-up")).exists(), "a mount escaped the rootfs");
}

#[test]
fn no_pivot_and_host_sysfs() {
    if !is_root() {
        return;
    }
    let dir = bundle();
    let s = spec(
        &dir.0,
        vec![
            mnt("/proc", "proc", "proc", &[]),
            mnt("/dev", "tmpfs", "tmpfs", &["nosuid", "mode=755"]),
            mnt("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        ],
        &[NamespaceKind::Mount, NamespaceKind::Pid],
    );
    let failures = in_container(CloneFlags::empty(), || {
        run_steps(&s, true, || {})?;
        let mut p = Probe::default();
        p.check("/bin/busybox is visible at the new root", Path::new("/bin/busybox").exists());
        p.check("/dev/zero exists", Path::new("/dev/zero").exists());
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        p.check("/proc is this pid namespace's proc", stat.starts_with("1 "));
        p.check("/sys is the host's sysfs, bound", fs_type("/sys") == libc::SYSFS_MAGIC);
        p.check("/sys is read-only", is_erofs(std::fs::create_dir("/sys/x")));
        Ok(p)
    });
    assert!(failures.is_empty(), "container probes failed:\n{}", failures.join("\n"));
}

#[test]
fn dev_null_must_be_the_null_device() {
    if !is_root() {
        return;
    }
    let dir = bundle();
    let mut s = spec(&dir.0, vec![mnt("/proc", "proc", "proc", &[])], &[NamespaceKind::Mount]);
    s.masked_paths = vec!["/etc/secret".into()];
    std::fs::create_dir_all(s.root.join("etc")).unwrap();
    std::fs::write(s.root.join("etc/secret"), "secret").unwrap();
    let failures = in_container(CloneFlags::empty(), || {
        let dev = s.root.join("dev");
        // A /dev/null pointing elsewhere: masking must refuse rather than bind its target.
        let plant = || {
            let _ = std::fs::remove_file(dev.join("null"));
            let _ = std::os::unix::fs::symlink("/etc/secret", dev.join("null"));
        };
        match run_steps(&s, false, plant) {
            Err(e) if e.contains("maskedPaths[0]") => Ok(Probe::default()),
            Err(e) => Err(format!("wrong error: {e}")),
            Ok(()) => Err("masking with a symlinked /dev/null succeeded".into()),
        }
    });
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn user_namespace_binds_devices() {
    if !is_root() {
        return;
    }
    let dir = bundle();
    let mut s = spec(
        &dir.0,
        vec![
            mnt("/proc", "proc", "proc", &[]),
            mnt("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755"]),
            mnt("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]),
        ],
        &[NamespaceKind::User, NamespaceKind::Mount, NamespaceKind::Pid, NamespaceKind::Network],
    );
    s.readonly_paths = vec!["/proc/sys".into()];
    s.root_readonly = true;
    let failures = in_container(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNET, || {
        // Map only our own ids, which a process may do for itself.
        for (file, text) in [("setgroups", "deny"), ("uid_map", "0 0 1"), ("gid_map", "0 0 1")] {
            std::fs::write(format!("/proc/self/{file}"), text)
                .map_err(|e| format!("{file}: {e}"))?;
        }
        run_steps(&s, false, || {})?;
        let mut p = Probe::default();
        for (name, dev) in [("null", (1, 3)), ("zero", (1, 5)), ("tty", (5, 0))] {
            let m = std::fs::metadata(format!("/dev/{name}"));
            p.check(
                &format!("/dev/{name} is the host's char {}:{}", dev.0, dev.1),
                m.is_ok_and(|m| {
                    m.file_type().is_char_device() && m.rdev() == libc::makedev(dev.0, dev.1)
                }),
            );
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        p.check(
            "/dev/null is a bind mount",
            mountinfo.lines().any(|l| l.split(' ').nth(4) == Some("/dev/null")),
        );
        p.check(
            "/proc/sys is read-only",
            is_erofs(std::fs::OpenOptions::new().write(true).open("/proc/sys/kernel/hostname")),
        );
        p.check("root is read-only", is_erofs(std::fs::write("/newfile", "x")));
        Ok(p)
    });
    assert!(failures.is_empty(), "container probes failed:\n{}", failures.join("\n"));
}

#[test]
fn shared_root_propagation_still_pivots() {
    if !is_root() {
        return;
    }
    let dir = bundle();
    let mut s = spec(&dir.0, vec![mnt("/proc", "proc", "proc", &[])], &[NamespaceKind::Mount]);
    s.rootfs_propagation = Some(nix::mount::MsFlags::MS_SHARED | nix::mount::MsFlags::MS_REC);
    let failures = in_container(CloneFlags::empty(), || {
        run_steps(&s, false, || {})?;
        let mut p = Probe::default();
        p.check("/bin/busybox is visible at the new root", Path::new("/bin/busybox").exists());
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let proc_line = mountinfo.lines().find(|l| l.split(' ').nth(4) == Some("/proc"));
        p.check("/proc is a shared mount", proc_line.is_some_and(|l| l.contains(" shared:")));
        Ok(p)
    });
    assert!(failures.is_empty(), "container probes failed:\n{}", failures.join("\n"));
}
