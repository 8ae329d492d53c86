//! Regression tests for container-escape CVEs of runc and its peers. Each test states how it
//! would fail on a runtime that has the bug.

use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::{bin, build_rootfs, reference_runc, wait_for, Config, TestEnv};

/// Points `env` at a copy of the runtime in its temp dir, so that a successful attack
/// damages only the copy; returns the copy's path and its bytes.
fn runtime_copy(env: &TestEnv) -> (PathBuf, Vec<u8>) {
    let dir = env.dir.join("runtime");
    fs::create_dir(&dir).unwrap();
    let copy = dir.join(bin().file_name().unwrap());
    crate::harness::copy_executable(&bin(), &copy);
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).unwrap();
    env.use_binary(&copy);
    let bytes = fs::read(&copy).unwrap();
    (copy, bytes)
}

/// Waits (bounded) for `file` to appear; panics with `what` otherwise.
#[track_caller]
fn await_file(file: &Path, what: &str) {
    assert!(
        wait_for(Duration::from_secs(20), || file.exists()),
        "{what}: {} never appeared",
        file.display()
    );
}

/// Docker's default capabilities: an unprivileged container, which CVE-2019-5736 concerns
/// (one with CAP_SYS_PTRACE or CAP_SYS_ADMIN owns the host anyway).
const DEFAULT_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The config joined to the pid namespace of `pid`, with [`DEFAULT_CAPS`].
fn in_pid_namespace_of(cfg: Config, pid: i32) -> Config {
    let mut cfg = cfg;
    cfg.0["process"]["capabilities"] =
        json!({ "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS });
    for ns in cfg.0["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "pid" {
            ns["path"] = json!(format!("/proc/{pid}/ns/pid"));
        }
    }
    cfg
}

/// CVE-2019-5736: a container process must not get hold of the runtime binary through
/// /proc/<pid>/exe. Container B shares the pid namespace of container A, whose init is the
/// runtime (a clone of it) waiting for `start`, with the same (default) capabilities as B,
/// so only its dumpable flag protects it. B opens /proc/1/exe, A is started (the
/// runtime's code leaves the process), and B writes through the descriptor it kept.
/// On a runtime whose waiting init is dumpable, B opens the runtime binary, and once no
/// process executes it any more the write succeeds: `openable`/`wrote` appear and the copy
/// of the binary changes.
#[test]
fn cve_2019_5736_waiting_init_does_not_expose_the_runtime_binary() {
    let env = TestEnv::new("cve5736");
    let (copy, original) = runtime_copy(&env);
    let a = env.id("a");
    let mut a_cfg = Config::new(&["sleep", "1000"]);
    a_cfg.0["process"]["capabilities"] =
        json!({ "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS });
    env.create(&a, &env.bundle(&a_cfg));
    let pid_a = env.pid_of(&a);

    let probe = env.probe_dir();
    let script = "readlink /proc/1/exe > /probe/link 2>&1
        if (exec 3</proc/1/exe) 2>/probe/open-error; then
            echo yes > /probe/openable
            exec 3</proc/1/exe
        fi
        echo > /probe/ready
        while [ ! -e /probe/go ]; do sleep 0.05; done
        if [ -e /probe/openable ] && echo PWNED >> /proc/self/fd/3; then echo yes > /probe/wrote; fi
        echo > /probe/done";
    let b_cfg = in_pid_namespace_of(Config::sh(script).probe(&probe), pid_a);
    let b = env.id("b");
    // Detached: no runtime process of B is left executing the copy when B writes.
    env.berth(&["run", "--detach", "--bundle", env.bundle(&b_cfg).to_str().unwrap(), &b]).ok();
    env.note_pid(env.pid_of(&b));
    await_file(&probe.join("ready"), "container B");

    env.start(&a);
    let runs_sleep = || fs::read_link(format!("/proc/{pid_a}/exe")).is_ok_and(|e| e != copy);
    assert!(wait_for(Duration::from_secs(10), runs_sleep), "A never left the runtime's code");
    fs::write(probe.join("go"), "").unwrap();
    await_file(&probe.join("done"), "container B");

    let link = fs::read_to_string(probe.join("link")).unwrap_or_default();
    assert!(!link.contains("runtime"), "B could read A's exe link: {link}");
    assert!(!probe.join("openable").exists(), "B opened the runtime binary through /proc/1/exe");
    assert!(!probe.join("wrote").exists(), "B wrote to the runtime binary");
    assert!(fs::read(&copy).unwrap() == original, "the runtime binary changed");
    env.delete(&a, true);
    env.delete(&b, true);
}

/// CVE-2019-5736 through `exec` and the `#!/proc/self/exe` trick: an exec'd process whose
/// program is a script with `#!/proc/self/exe` (or /proc/self/exe itself) must not run the
/// runtime binary inside the container, and no process of the container may open the binary
/// while `exec` sets a process up. A second container in the same pid namespace scans
/// /proc/*/exe the whole time and tries to open everything that is not busybox.
/// On a vulnerable runtime the exec prints `<runtime> version` from inside the container, or
/// the scanner opens the runtime's clone (dumpable while it joins the container). The shim
/// itself may be caught and opened (it is no copy of the runtime), but never written. The kernel
/// does not stop this: it executes /proc/self/exe even when it leads outside the container's
/// root. A dynamically linked runtime used to fail here only by accident (its ELF
/// interpreter, ld-linux, is missing from the busybox rootfs); the static binary ran. What
/// keeps it out is the exec shim: the final execve happens in a sealed memfd copy of a tiny
/// program (src/process/shim.rs), so /proc/self/exe is never the runtime's binary then.
#[test]
fn cve_2019_5736_exec_cannot_reach_the_runtime_binary() {
    let env = TestEnv::new("cve5736exec");
    let (copy, original) = runtime_copy(&env);
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    fs::write(bundle.join("rootfs/evil"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(bundle.join("rootfs/evil"), fs::Permissions::from_mode(0o755)).unwrap();
    let a = env.id("a");
    env.create(&a, &bundle);
    env.start(&a);
    let pid_a = env.pid_of(&a);

    let probe = env.probe_dir();
    let scanner = "while [ ! -e /probe/stop ]; do
            for p in /proc/[0-9]*; do
                l=$(readlink $p/exe 2>/dev/null) || continue
                case \"$l\" in
                    /bin/busybox) ;;
                    '/memfd:berth-exec-shim (deleted)')
                        (echo PWNED >> $p/exe) 2>/dev/null && echo \"$p $l\" >> /probe/wrote ;;
                    *) (exec 3<$p/exe) 2>/dev/null && echo \"$p $l\" >> /probe/opened ;;
                esac
            done
            echo > /probe/scanning
        done
        echo > /probe/stopped";
    let b = env.id("b");
    let b_cfg = in_pid_namespace_of(Config::sh(scanner).probe(&probe), pid_a);
    env.berth(&["run", "--detach", "--bundle", env.bundle(&b_cfg).to_str().unwrap(), &b]).ok();
    env.note_pid(env.pid_of(&b));
    await_file(&probe.join("scanning"), "the scanner");

    for _ in 0..10 {
        for args in [&["/evil", "--version"][..], &["/proc/self/exe", "--version"], &["true"]] {
            let mut cmd = vec!["exec", &a];
            cmd.extend_from_slice(args);
            let out = env.berth(&cmd);
            assert!(!out.stdout.contains("version"), "{cmd:?} ran the runtime: {out:#?}");
        }
    }
    fs::write(probe.join("stop"), "").unwrap();
    await_file(&probe.join("stopped"), "the scanner");
    let opened = fs::read_to_string(probe.join("opened")).unwrap_or_default();
    assert!(opened.is_empty(), "the container opened runtime processes' binaries: {opened}");
    let wrote = fs::read_to_string(probe.join("wrote")).unwrap_or_default();
    assert!(wrote.is_empty(), "the container wrote to the sealed exec shim: {wrote}");
    assert!(fs::read(&copy).unwrap() == original, "the runtime binary changed");
    env.delete(&a, true);
    env.delete(&b, true);
}

/// `ls -l /proc/self/fd` output as (fd, target) pairs.
fn fd_list(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|l| {
            let (left, target) = l.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_owned()))
        })
        .collect()
}

/// Only stdio and the listing's own directory descriptor (fd 3, into /proc) may be open.
#[track_caller]
fn assert_no_runtime_fds(listing: &str, who: &str) {
    let fds = fd_list(listing);
    assert!(fds.iter().any(|(fd, _)| *fd == 0), "{who}: no listing: {listing}");
    for (fd, target) in &fds {
        let stdio = *fd <= 2;
        let own_listing = *fd == 3 && target.starts_with("/proc/");
        assert!(stdio || own_listing, "{who}: fd {fd} -> {target} leaked into the container");
    }
}

/// CVE-2024-21626, descriptors: nothing of the runtime's is open in the container's init
/// after create + start, nor in an exec'd process. On a runtime that leaks a descriptor
/// (a directory of the host, the state dir, the sync socket), it shows up in the listing.
#[test]
fn cve_2024_21626_no_runtime_descriptor_reaches_the_container() {
    let env = TestEnv::new("cve21626fd");
    let probe = env.probe_dir();
    let cfg = Config::sh("ls -l /proc/self/fd > /probe/fds; sleep 1000").probe(&probe);
    let id = env.id("c");
    env.create(&id, &env.bundle(&cfg));
    env.start(&id);
    await_file(&probe.join("fds"), "the init's listing");
    assert!(wait_for(Duration::from_secs(5), || {
        fs::read_to_string(probe.join("fds")).is_ok_and(|t| t.contains(" 2 -> "))
    }));
    assert_no_runtime_fds(&fs::read_to_string(probe.join("fds")).unwrap(), "init");
    let out = env.berth(&["exec", &id, "ls", "-l", "/proc/self/fd"]);
    out.ok();
    assert_no_runtime_fds(&out.stdout, "exec");
    env.delete(&id, true);
}

/// `create --preserve-fds 1` with fd 3 open on `dir`, to its end.
fn create_with_dir_fd(env: &TestEnv, bundle: &Path, id: &str, dir: &Path) -> (bool, String) {
    env.track(id);
    let held = fs::File::open(dir).unwrap();
    let held_fd = held.as_raw_fd();
    let err = env.dir.join(format!("{id}.err"));
    let mut cmd = Command::new(env.binary());
    cmd.args(["--root", env.root.to_str().unwrap(), "create", "--preserve-fds", "1"])
        .args(["--bundle", bundle.to_str().unwrap(), id])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fs::File::create(&err).unwrap());
    // SAFETY: dup2 is async-signal-safe and only changes the forked child.
    unsafe {
        cmd.pre_exec(move || match libc::dup2(held_fd, 3) {
            -1 => Err(std::io::Error::last_os_error()),
            _ => Ok(()),
        });
    }
    let mut child = cmd.spawn().unwrap();
    let ended = wait_for(crate::harness::COMMAND_TIMEOUT, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let status = child.wait().unwrap();
    (status.success(), fs::read_to_string(err).unwrap_or_default())
}

/// CVE-2024-21626, working directory: a cwd reached through /proc/self/fd must be refused,
/// also when a symlink in the image leads there. The caller hands the runtime a directory of
/// the host as a preserved fd 3 and the rootfs has /work -> /proc/self/fd/3 (the image is
/// untrusted, the caller is not). On a vulnerable runtime the container starts with its
/// working directory in the host's directory: create succeeds. (The direct form is refused
/// by validation; the symlink by the init, which checks after chdir that getcwd still finds
/// the directory inside the container, and on this host's kernel already earlier, where the
/// magic link does not resolve from inside the container's root.)
#[test]
fn cve_2024_21626_cwd_through_proc_self_fd_is_refused() {
    if reference_runc() {
        return; // runc's wording differs; the contract here is berth's one-line error.
    }
    let env = TestEnv::new("cve21626cwd");
    let host_dir = env.dir.join("host-secret");
    fs::create_dir(&host_dir).unwrap();
    for (tag, cwd) in [("link", "/work"), ("direct", "/proc/self/fd/3")] {
        let bundle = env.bundle(&Config::new(&["sleep", "1000"]).cwd(cwd));
        symlink("/proc/self/fd/3", bundle.join("rootfs/work")).unwrap();
        let id = env.id(tag);
        let (ok, stderr) = create_with_dir_fd(&env, &bundle, &id, &host_dir);
        assert!(!ok, "{tag}: create with cwd {cwd} succeeded");
        assert_eq!(stderr.lines().count(), 1, "{tag}: {stderr}");
        assert!(stderr.contains("process.cwd"), "{tag}: {stderr}");
        assert!(env.root_entries().is_empty(), "{tag}: state left");
    }
    assert_eq!(fs::read_dir(&host_dir).unwrap().count(), 0, "the host directory changed");

    let id = env.id("exec");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "1000"])));
    env.start(&id);
    let out = env.berth(&["exec", "--cwd", "/proc/self/fd/0", &id, "true"]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("--cwd"), "{out:#?}");
    env.delete(&id, true);
}

/// Swaps `a` and `b` atomically until `stop` is set (renameat2 RENAME_EXCHANGE).
fn keep_swapping(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let a = std::ffi::CString::new(a.into_os_string().into_encoded_bytes()).unwrap();
        let b = std::ffi::CString::new(b.into_os_string().into_encoded_bytes()).unwrap();
        let mut swaps = 0;
        while !stop.load(Ordering::Relaxed) {
            // SAFETY: two valid C strings; the call touches only the test's rootfs.
            let r = unsafe {
                libc::renameat2(
                    libc::AT_FDCWD,
                    a.as_ptr(),
                    libc::AT_FDCWD,
                    b.as_ptr(),
                    libc::RENAME_EXCHANGE,
                )
            };
            assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
            swaps += 1;
        }
        swaps
    })
}

/// CVE-2021-30465: a mount target swapped between a directory and a symlink to a host
/// directory while the runtime sets mounts up must not lead the mount (or the directories
/// the runtime creates for it) out of the rootfs. A thread flips rootfs/mnt/swap between a
/// directory and a symlink to `victim` (absolute, and climbing with `..`) during many runs
/// whose mounts sit below /mnt/swap. On a runtime that resolves mount targets on the host's
/// view, `victim` gains the `sub` and `bsub` directories (and a mount, in the runtime's
/// namespace) in some run.
#[test]
fn cve_2021_30465_swapped_symlink_cannot_redirect_a_mount() {
    let env = TestEnv::new("cve30465");
    let victim = env.dir.join("victim");
    fs::create_dir(&victim).unwrap();
    fs::write(victim.join("marker"), "host").unwrap();
    let source = env.probe_dir();
    let climbing =
        format!("{}{}", "../".repeat(20), victim.display().to_string().trim_start_matches('/'));
    for (round, target) in [victim.display().to_string(), climbing].into_iter().enumerate() {
        let mut cfg = Config::new(&["true"]);
        cfg.0["mounts"].as_array_mut().unwrap().extend([
            json!({ "destination": "/mnt/swap/sub", "type": "tmpfs", "source": "tmpfs" }),
            json!({ "destination": "/mnt/swap/bsub", "type": "bind", "source": source, "options": ["rbind"] }),
        ]);
        let bundle = env.bundle(&cfg);
        let mnt = bundle.join("rootfs/mnt");
        fs::create_dir_all(mnt.join("swap")).unwrap();
        symlink(&target, mnt.join("other")).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = keep_swapping(mnt.join("swap"), mnt.join("other"), stop.clone());
        for i in 0..25 {
            let id = env.id(&format!("r{round}-{i}"));
            // Either outcome is fine: the mount lands inside the rootfs or the run fails.
            let _ = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &id]);
            let _ = env.berth(&["delete", "--force", &id]);
        }
        stop.store(true, Ordering::Relaxed);
        assert!(swapper.join().unwrap() > 0, "the swapper never ran");
    }
    let entries: Vec<String> = fs::read_dir(&victim)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["marker"], "the runtime created entries in the host directory");
    assert_eq!(fs::read_to_string(victim.join("marker")).unwrap(), "host");
    assert_eq!(fs::read_dir(&source).unwrap().count(), 0, "the bind source changed");
    let victim_s = victim.display().to_string();
    let host_mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!host_mounts.contains(&victim_s), "a mount landed on the host directory");
}

/// The CapInh line of a /proc/<pid>/status text, as a number.
fn inheritable(status: &str) -> u64 {
    let line = status.lines().find(|l| l.starts_with("CapInh:")).expect("no CapInh line");
    u64::from_str_radix(line.split_whitespace().nth(1).unwrap(), 16).unwrap()
}

/// CVE-2022-29162: the inheritable set is empty unless the config lists capabilities in it
/// (runc before 1.1.2 filled it), for the init and for exec'd processes, also with --cap.
/// On a vulnerable runtime CapInh is non-zero in the first container.
#[test]
fn cve_2022_29162_inheritable_capabilities_stay_empty() {
    let env = TestEnv::new("cve29162");
    let caps = json!(["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    for (tag, inheritable_caps, expected) in
        [("none", None, 0u64), ("asked", Some(json!(["CAP_KILL"])), 1 << 5)]
    {
        let probe = env.probe_dir();
        let mut cfg = Config::sh("cat /proc/self/status > /probe/status; sleep 1000").probe(&probe);
        cfg.0["process"]["capabilities"] =
            json!({ "bounding": caps, "effective": caps, "permitted": caps });
        if let Some(inh) = inheritable_caps {
            cfg.0["process"]["capabilities"]["inheritable"] = inh;
        }
        let id = env.id(tag);
        env.create(&id, &env.bundle(&cfg));
        env.start(&id);
        await_file(&probe.join("status"), "the init's status");
        assert!(wait_for(Duration::from_secs(5), || {
            fs::read_to_string(probe.join("status")).is_ok_and(|s| s.contains("CapInh:"))
        }));
        let init = fs::read_to_string(probe.join("status")).unwrap();
        assert_eq!(inheritable(&init), expected, "{tag}: init");
        for extra in [&[][..], &["--cap", "CAP_NET_RAW"]] {
            let mut args = vec!["exec"];
            args.extend_from_slice(extra);
            args.extend([id.as_str(), "cat", "/proc/self/status"]);
            let out = env.berth(&args);
            out.ok();
            assert_eq!(inheritable(&out.stdout), expected, "{tag}: exec {extra:?}");
        }
        env.delete(&id, true);
    }
}

/// CVE-2025-31133: maskedPaths bind the container's /dev/null over what they hide; a
/// /dev/null the image replaced (a symlink to a host-wide sysctl, or a plain file) must make
/// create fail rather than bind that file over /proc/keys. The config has no /dev tmpfs, so
/// the image's /dev is used. On a vulnerable runtime create succeeds and /proc/keys in the
/// container is /proc/sys/kernel/core_pattern (host-wide), bound without the read-only flag.
#[test]
fn cve_2025_31133_masking_refuses_a_replaced_dev_null() {
    if reference_runc() {
        return; // runc 1.1.5 predates the fix.
    }
    let env = TestEnv::new("cve31133");
    let core_pattern = fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap();
    for tag in ["symlink", "file"] {
        let mut cfg =
            Config::new(&["sleep", "1000"]).set("/linux/maskedPaths", json!(["/proc/keys"]));
        cfg.0["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
        let bundle = env.bundle(&cfg);
        let null = bundle.join("rootfs/dev/null");
        match tag {
            "symlink" => symlink("/proc/sys/kernel/core_pattern", &null).unwrap(),
            _ => fs::write(&null, "").unwrap(),
        }
        let id = env.id(tag);
        let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
        out.fails_with_one_line();
        assert!(out.stderr.contains("linux.maskedPaths[0]"), "{tag}: {out:#?}");
        assert!(env.root_entries().is_empty(), "{tag}: state left");
    }
    assert_eq!(fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap(), core_pattern);
}

/// The default spec (`berth spec`) keeps /proc and /sys safe: its readonlyPaths are read-only
/// mounts, its maskedPaths empty or unreadable, /proc/sysrq-trigger and /proc/sys refuse
/// writes, /sys is read-only and mounting fails without CAP_SYS_ADMIN. A runtime that skips
/// masking or read-only paths, or keeps CAP_SYS_ADMIN, leaves a line in /probe/bad.
#[test]
fn default_spec_protects_proc_and_sys() {
    let env = TestEnv::new("procsys");
    let dir = env.dir.join("specbundle");
    build_rootfs(&dir.join("rootfs"));
    env.berth(&["spec", "--bundle", dir.to_str().unwrap()]).ok();
    let spec: Value =
        serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let list = |key: &str| -> Vec<String> {
        spec["linux"][key]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect()
    };
    let (masked, readonly) = (list("maskedPaths"), list("readonlyPaths"));
    assert!(
        masked.iter().any(|p| p == "/proc/keys")
            && readonly.iter().any(|p| p == "/proc/sysrq-trigger")
    );
    let script = format!(
        "bad() {{ echo \"$1\" >> /probe/bad; }}
        echo c > /proc/sysrq-trigger 2>/dev/null && bad sysrq-trigger-written
        echo 1 > /proc/sys/kernel/sysrq 2>/dev/null && bad proc-sys-written
        touch /sys/berth-probe 2>/dev/null && bad sys-written
        mount -t tmpfs t /tmp 2>/dev/null && bad mounted-tmpfs
        mount -o remount,rw /proc/sys 2>/dev/null && bad remounted-proc-sys
        for p in {}; do
            [ -e $p ] && echo $p >> /probe/present
            if [ -d $p ]; then [ -z \"$(ls -A $p)\" ] || bad \"$p lists entries\"
            elif [ -e $p ]; then [ \"$(head -c 1 $p 2>/dev/null | wc -c)\" = 0 ] || bad \"$p readable\"
            fi
        done
        cat /proc/self/mountinfo > /probe/mountinfo
        echo > /probe/done",
        masked.join(" ")
    );
    let probe = env.probe_dir();
    let mut cfg = Config(spec.clone()).probe(&probe);
    cfg.0["process"]["args"] = json!(["sh", "-c", script]);
    cfg.0["process"]["terminal"] = json!(false);
    env.write_config(&dir, &cfg);
    let id = env.id("c");
    let out = env.berth(&["run", "--bundle", dir.to_str().unwrap(), &id]);
    assert_eq!(out.code(), 0, "{out:#?}");
    let bad = fs::read_to_string(probe.join("bad")).unwrap_or_default();
    assert!(bad.is_empty(), "the container could: {bad}");
    let mountinfo = fs::read_to_string(probe.join("mountinfo")).unwrap();
    for path in &readonly {
        for line in mountinfo.lines().filter(|l| l.split(' ').nth(4) == Some(path.as_str())) {
            let options = line.split(' ').nth(5).unwrap();
            assert!(options.split(',').any(|o| o == "ro"), "{path} is mounted {options}");
        }
    }
    let present = fs::read_to_string(probe.join("present")).unwrap_or_default();
    assert!(present.lines().count() >= 2, "hardly any masked path exists here: {present:?}");
    for path in present.lines() {
        let masked = mountinfo.lines().any(|l| l.split(' ').nth(4) == Some(path));
        assert!(masked, "{path} is not masked by a mount:\n{mountinfo}");
    }
}

/// CVE-2019-5736, each way /proc/self/exe can be named as the program: by `exec`, by a
/// `#!/proc/self/exe` script, and as the init's own args. On a runtime whose clone executes
/// the program itself, /proc/self/exe is the runtime's binary at that moment, and (the binary
/// being static) it runs inside the container and prints its version. Through the shim it
/// is the sealed shim, which refuses to run without its arguments. Also checks that the
/// program, once running, sees itself (not the shim) as /proc/self/exe, argv[0] and comm.
#[test]
fn cve_2019_5736_proc_self_exe_is_never_the_runtime() {
    let env = TestEnv::new("cve5736self");
    let (copy, original) = runtime_copy(&env);
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    fs::write(bundle.join("rootfs/evil"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(bundle.join("rootfs/evil"), fs::Permissions::from_mode(0o755)).unwrap();
    let a = env.id("a");
    env.create(&a, &bundle);
    env.start(&a);
    for args in [&["/proc/self/exe", "--version"][..], &["/evil", "--version"]] {
        let mut cmd = vec!["exec", &a];
        cmd.extend_from_slice(args);
        let out = env.berth(&cmd);
        assert!(!out.stdout.contains("version"), "{cmd:?} ran the runtime: {out:#?}");
        assert!(!out.status.success(), "{cmd:?} should fail: {out:#?}");
    }
    let out = env.berth(&[
        "exec",
        &a,
        "sh",
        "-c",
        "readlink /proc/$$/exe; echo $0; cat /proc/$$/comm; true",
    ]);
    out.ok();
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), ["/bin/busybox", "sh", "sh"], "{out:#?}");
    env.delete(&a, true);

    let init = env.id("init");
    let bundle = env.bundle(&Config::new(&["/proc/self/exe", "--version"]));
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &init]);
    assert!(!out.stdout.contains("version"), "the init ran the runtime: {out:#?}");
    assert!(!out.status.success(), "the init should fail: {out:#?}");
    env.delete(&init, true);

    let probe = env.probe_dir();
    let script = "readlink /proc/$$/exe > /probe/exe; cat /proc/$$/comm > /probe/comm; true";
    let init = env.id("probe");
    let cfg = Config::sh(script).probe(&probe);
    env.berth(&["run", "--bundle", env.bundle(&cfg).to_str().unwrap(), &init]).ok();
    assert_eq!(fs::read_to_string(probe.join("exe")).unwrap().trim(), "/bin/busybox");
    assert_eq!(fs::read_to_string(probe.join("comm")).unwrap().trim(), "sh");
    assert!(fs::read(&copy).unwrap() == original, "the runtime binary changed");
}

/// The exec shim's execve can fail after the runtime's own checks passed (here a file that
/// is executable but no program: ENOEXEC). `exec` and `run` must still report it as before
/// the shim, one line in runc's words (`exec /bad: exec format error`), 126 from `run`; a shim that lost the
/// report would let `exec` succeed or print nothing.
#[test]
fn exec_shim_reports_a_failed_execve_like_the_runtime() {
    let env = TestEnv::new("shimerr");
    let want = "executing the process: exec /bad: exec format error";
    let bundle = env.bundle(&Config::new(&["sleep", "1000"]));
    fs::write(bundle.join("rootfs/bad"), "no program\n\0").unwrap();
    fs::set_permissions(bundle.join("rootfs/bad"), fs::Permissions::from_mode(0o755)).unwrap();
    let a = env.id("a");
    env.create(&a, &bundle);
    env.start(&a);
    let out = env.berth(&["exec", &a, "/bad"]);
    out.fails_with_one_line();
    assert!(out.stderr.contains(want), "{out:#?}");
    env.delete(&a, true);

    let bundle = env.bundle(&Config::new(&["/bad"]));
    fs::write(bundle.join("rootfs/bad"), "no program\n\0").unwrap();
    fs::set_permissions(bundle.join("rootfs/bad"), fs::Permissions::from_mode(0o755)).unwrap();
    let b = env.id("b");
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &b]);
    assert_eq!(out.code(), 126, "{out:#?}");
    assert!(out.stderr.contains(want), "{out:#?}");
    env.delete(&b, true);
}
