//! The isolation fields that act on host resources, read back from inside the container:
//! recursive mount attributes, nosymfollow, tmpcopyup, the mqueue fallback, personality
//! flags, the memory policy, exec CPU affinity, LISTEN_PID, network devices, the cwd check,
//! and the clear refusals of LSM labels and Intel RDT on a host without them.

use std::fs;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::harness::{chown_tree, Config, TestEnv};

fn run(env: &TestEnv, cfg: &Config) -> crate::harness::Out {
    let bundle = env.bundle(cfg);
    env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("i")])
}

fn lines(env: &TestEnv, cfg: &Config) -> Vec<String> {
    let out = run(env, cfg);
    assert_eq!(out.code(), 0, "{out:#?}");
    out.stdout.lines().map(str::to_string).collect()
}

fn push_mount(cfg: &mut Config, mount: serde_json::Value) {
    cfg.0["mounts"].as_array_mut().unwrap().push(mount);
}

/// The per-mount options (mountinfo field 6) of the mount at `point`, from `mountinfo`.
fn mount_options<'a>(mountinfo: &'a [String], point: &str) -> Vec<&'a str> {
    let line = mountinfo
        .iter()
        .find(|l| l.split_whitespace().nth(4) == Some(point))
        .unwrap_or_else(|| panic!("no mount at {point}: {mountinfo:#?}"));
    line.split_whitespace().nth(5).unwrap().split(',').collect()
}

#[test]
fn recursive_options_reach_submounts() {
    let env = TestEnv::new("rattr");
    let mut cfg = Config::sh("cat /proc/self/mountinfo");
    let bundle = env.bare_bundle();
    let data = bundle.join("rootfs/data");
    push_mount(&mut cfg, json!({ "destination": "/data", "type": "tmpfs", "source": "tmpfs" }));
    push_mount(&mut cfg, json!({ "destination": "/data/sub", "type": "tmpfs", "source": "t" }));
    push_mount(
        &mut cfg,
        json!({ "destination": "/view", "type": "bind", "source": data,
                "options": ["rbind", "rro", "rnosuid", "rnodev", "rnoexec", "rnoatime",
                            "rnosymfollow"] }),
    );
    env.write_config(&bundle, &cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("i")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    let info: Vec<String> = out.stdout.lines().map(str::to_string).collect();
    for point in ["/view", "/view/sub"] {
        let opts = mount_options(&info, point);
        for want in ["ro", "nosuid", "nodev", "noexec", "noatime", "nosymfollow"] {
            assert!(opts.contains(&want), "{point}: {want} missing in {opts:?}");
        }
    }
    // The source tree keeps its own attributes: only the bind's tree changed.
    assert!(mount_options(&info, "/data/sub").contains(&"rw"), "{info:#?}");
}

#[test]
fn recursive_options_cover_the_cgroup_tree() {
    let env = TestEnv::new("rattrcg");
    let mut cfg = Config::sh("grep ' /sys/fs/cgroup' /proc/self/mountinfo");
    push_mount(
        &mut cfg,
        json!({ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                "options": ["nosuid", "rro", "rnoexec"] }),
    );
    let info = lines(&env, &cfg);
    // The v1 tmpfs with one mount per hierarchy on this host, or one cgroup2 mount.
    assert!(!info.is_empty());
    for line in &info {
        let opts: Vec<&str> = line.split_whitespace().nth(5).unwrap().split(',').collect();
        assert!(opts.contains(&"ro") && opts.contains(&"noexec"), "{line}");
    }
}

#[test]
fn nosymfollow_refuses_symlinks() {
    let env = TestEnv::new("nosymfollow");
    let dir = env.probe_dir();
    fs::write(dir.join("target"), "reached\n").unwrap();
    symlink("target", dir.join("link")).unwrap();
    let mut cfg = Config::sh("cat /m/target; cat /m/link || echo refused; cat /n/link");
    for (dest, opts) in [("/m", json!(["bind", "nosymfollow"])), ("/n", json!(["bind"]))] {
        push_mount(
            &mut cfg,
            json!({ "destination": dest, "type": "bind", "source": dir, "options": opts }),
        );
    }
    assert_eq!(lines(&env, &cfg), ["reached", "refused", "reached"]);
}

#[test]
fn tmpcopyup_copies_content_owners_and_modes() {
    let env = TestEnv::new("copyup");
    let bundle = env.bare_bundle();
    let seed = bundle.join("rootfs/seed");
    fs::create_dir_all(seed.join("d")).unwrap();
    fs::write(seed.join("a"), "alpha\n").unwrap();
    fs::write(seed.join("d/b"), "beta\n").unwrap();
    symlink("a", seed.join("l")).unwrap();
    fs::set_permissions(seed.join("a"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::set_permissions(seed.join("d"), fs::Permissions::from_mode(0o710)).unwrap();
    lchown(seed.join("a"), Some(1000), Some(1000)).unwrap();
    lchown(seed.join("d"), Some(1001), Some(1002)).unwrap();
    let mut cfg = Config::sh(
        "stat -c '%n %a %u %g' /seed/a /seed/d /seed/d/b; readlink /seed/l; cat /seed/d/b; \
         grep ' /seed ' /proc/self/mountinfo | grep -c ' - tmpfs '",
    )
    // Root of the container needs it to search /seed/d (0710, owned by 1001).
    .set(
        "/process/capabilities",
        json!({ "effective": ["CAP_DAC_OVERRIDE"],
                                          "permitted": ["CAP_DAC_OVERRIDE"],
                                          "bounding": ["CAP_DAC_OVERRIDE"] }),
    );
    push_mount(
        &mut cfg,
        json!({ "destination": "/seed", "type": "tmpfs", "source": "tmpfs",
                "options": ["tmpcopyup", "mode=755"] }),
    );
    env.write_config(&bundle, &cfg);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("i")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    let got: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        got,
        ["/seed/a 640 1000 1000", "/seed/d 710 1001 1002", "/seed/d/b 644 0 0", "a", "beta", "1"]
    );
}

#[test]
fn tmpcopyup_on_another_filesystem_is_refused() {
    let env = TestEnv::new("copyupbad");
    let mut cfg = Config::sh("true");
    push_mount(
        &mut cfg,
        json!({ "destination": "/q", "type": "mqueue", "source": "mqueue",
                "options": ["tmpcopyup"] }),
    );
    let out = run(&env, &cfg);
    out.fails_with_one_line();
    assert!(out.stderr.contains("mounts[6]") && out.stderr.contains("tmpcopyup"), "{out:#?}");
}

/// Runs `berth args…` in a private mount namespace whose /dev is a copy of the host's
/// device nodes plus an mqueue mount at /dev/mqueue (this host has none); nothing of it
/// reaches the host's mount table.
fn berth_with_dev_mqueue(env: &TestEnv, args: &[&str]) -> (i32, String, String) {
    let stash = env.dir.join("hostdev");
    fs::create_dir(&stash).unwrap();
    let mut script = String::from(
        "set -e; mount --make-rprivate /; mount --rbind /dev \"$2\"; \
         mount -t tmpfs -o mode=755 tmpfs /dev; \
         for n in null zero full random urandom tty; do \
           touch /dev/$n; mount --bind \"$2/$n\" /dev/$n; done; \
         mkdir /dev/mqueue; mount -t mqueue mqueue /dev/mqueue; \
         exec \"$0\" --root \"$1\"",
    );
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 3));
    }
    let out = Command::new("unshare")
        .args(["--mount", "--", "sh", "-c", &script])
        .arg(crate::harness::bin())
        .arg(env.dir.join("state"))
        .arg(&stash)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

#[test]
fn mqueue_without_an_own_ipc_namespace_binds_the_hosts() {
    let env = TestEnv::new("mqueue");
    let cfg = Config::sh("grep ' /dev/mqueue ' /proc/self/mountinfo")
        .user_namespace(100000, 65536)
        .without_namespace("ipc");
    let bundle = env.bundle(&cfg);
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let id = env.id("i");
    env.track(&id);
    let (code, stdout, stderr) =
        berth_with_dev_mqueue(&env, &["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // A bind of the runtime's /dev/mqueue: an mqueue filesystem, with nosuid/nodev/noexec.
    assert!(stdout.contains(" - mqueue "), "{stdout}");
    let opts: Vec<&str> = stdout.split_whitespace().nth(5).unwrap().split(',').collect();
    for want in ["nosuid", "nodev", "noexec"] {
        assert!(opts.contains(&want), "{want} missing: {stdout}");
    }
    // Where the runtime has no /dev/mqueue (this host), the refusal says so in one line.
    if !Path::new("/dev/mqueue").exists() {
        let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("j")]);
        out.fails_with_one_line();
        assert!(out.stderr.contains("mounts[4] (/dev/mqueue): mqueue needs"), "{out:#?}");
    }
}

#[test]
fn personality_flags_apply() {
    let env = TestEnv::new("persflags");
    let cfg = Config::sh("cat /proc/self/personality").set(
        "/linux/personality",
        json!({ "domain": "LINUX", "flags": ["ADDR_NO_RANDOMIZE", "UNAME26"] }),
    );
    assert_eq!(lines(&env, &cfg), ["00060000"]);
    let cfg = Config::sh("true")
        .set("/linux/personality", json!({ "domain": "LINUX", "flags": ["NO_SUCH_FLAG"] }));
    let out = run(&env, &cfg);
    out.fails_with_one_line();
    assert!(out.stderr.contains("linux.personality.flags[0]"), "{out:#?}");
}

#[test]
fn memory_policy_shows_in_numa_maps() {
    let env = TestEnv::new("mempolicy");
    for (mode, shown) in [("MPOL_INTERLEAVE", "interleave:0"), ("MPOL_BIND", "bind:0")] {
        let cfg = Config::sh("head -n 1 /proc/self/numa_maps")
            .set("/linux/memoryPolicy", json!({ "mode": mode, "nodes": "0" }));
        let out = lines(&env, &cfg);
        assert_eq!(out[0].split_whitespace().nth(1), Some(shown), "{mode}: {out:?}");
    }
    let cfg = Config::sh("head -n 1 /proc/self/numa_maps").set(
        "/linux/memoryPolicy",
        json!({ "mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"] }),
    );
    let out = lines(&env, &cfg);
    assert_eq!(out[0].split_whitespace().nth(1), Some("prefer=static:0"), "{out:?}");
}

#[test]
fn bad_memory_policies_name_their_path() {
    let env = TestEnv::new("mempolbad");
    // Node 63 is not online here: the kernel refuses, the error names the field.
    let online = fs::read_to_string("/sys/devices/system/node/online").unwrap_or_default();
    assert!(!online.contains("63"), "needs a host without node 63: {online}");
    let cases = [
        (json!({ "mode": "MPOL_BIND", "nodes": "63" }), "linux.memoryPolicy"),
        (json!({ "mode": "MPOL_BIND", "nodes": "zero" }), "linux.memoryPolicy.nodes"),
        (json!({ "mode": "MPOL_LOCAL", "nodes": "0" }), "linux.memoryPolicy.nodes"),
    ];
    for (policy, path) in cases {
        let out = run(&env, &Config::sh("true").set("/linux/memoryPolicy", policy.clone()));
        out.fails_with_one_line();
        assert!(out.stderr.contains(path), "{policy}: {out:#?}");
    }
}

fn cpus_online() -> usize {
    std::thread::available_parallelism().map(usize::from).unwrap_or(1)
}

#[test]
fn exec_cpu_affinity_initial_and_final() {
    let env = TestEnv::new("execaff");
    if cpus_online() < 2 {
        eprintln!("skipped: needs two CPUs");
        return;
    }
    let bundle = env.bundle(&Config::new(&["sleep", "60"]));
    let id = env.id("c");
    env.create(&id, &bundle).ok();
    env.start(&id).ok();
    let affinity = |json: serde_json::Value| {
        let process = json!({
            "args": ["grep", "Cpus_allowed_list", "/proc/self/status"],
            "env": ["PATH=/bin"], "cwd": "/", "user": { "uid": 0, "gid": 0 },
            "execCPUAffinity": json,
        });
        let file = env.probe_dir().join("process.json");
        fs::write(&file, process.to_string()).unwrap();
        env.berth(&["exec", "--process", file.to_str().unwrap(), &id])
    };
    let out = affinity(json!({ "final": "1" }));
    assert_eq!(out.ok().stdout.split_whitespace().last(), Some("1"), "{out:#?}");
    let out = affinity(json!({ "initial": "0" }));
    assert_eq!(out.ok().stdout.split_whitespace().last(), Some("0"), "{out:#?}");
    let out = affinity(json!({ "initial": "0", "final": "0-1" }));
    assert_eq!(out.ok().stdout.split_whitespace().last(), Some("0-1"), "{out:#?}");
    for field in ["initial", "final"] {
        let out = affinity(json!({ field: "1023" }));
        out.fails_with_one_line();
        let want = format!("process.execCPUAffinity.{field}");
        assert!(out.stderr.contains(&want), "{out:#?}");
    }
}

#[test]
fn listen_pid_names_the_container_process() {
    let env = TestEnv::new("listenpid");
    let cfg = Config::sh("echo $LISTEN_FDS $LISTEN_PID").env("LISTEN_FDS=1").env("LISTEN_PID=77");
    let bundle = env.bundle(&cfg);
    let out = env.berth(&[
        "run",
        "--preserve-fds",
        "1",
        "--bundle",
        bundle.to_str().unwrap(),
        &env.id("i"),
    ]);
    assert_eq!(out.code(), 0, "{out:#?}");
    // sh is pid 1 of the container's own pid namespace.
    assert_eq!(out.stdout.trim(), "1 1");
}

#[test]
fn cwd_through_a_magic_link_is_refused() {
    let env = TestEnv::new("cwdmagic");
    let out = run(&env, &Config::sh("pwd").cwd("/proc/self/fd/0"));
    out.fails_with_one_line();
    assert!(out.stderr.contains("process.cwd"), "{out:#?}");
    // Any cwd spelled through /proc is refused before anything is created.
    let out = run(&env, &Config::sh("pwd").cwd("/proc/self/cwd/../../.."));
    out.fails_with_one_line();
    assert!(out.stderr.contains("process.cwd"), "{out:#?}");
}

#[test]
fn lsm_labels_without_the_lsm_are_refused_by_field() {
    let env = TestEnv::new("lsm");
    let apparmor = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let cases = [
        (!apparmor, "/process/apparmorProfile", "process.apparmorProfile", "AppArmor"),
        (!selinux, "/process/selinuxLabel", "process.selinuxLabel", "SELinux"),
        (!selinux, "/linux/mountLabel", "linux.mountLabel", "SELinux"),
    ];
    for (absent, ptr, field, lsm) in cases {
        if !absent {
            eprintln!("skipped {field}: {lsm} runs on this host");
            continue;
        }
        let out = run(&env, &Config::sh("true").set(ptr, json!("system_u:system_r:x_t:s0")));
        out.fails_with_one_line();
        let want = format!("{field}: {lsm} is not enabled on this host");
        assert!(out.stderr.contains(&want), "{out:#?}");
        assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
    }
}

#[test]
fn intel_rdt_without_resctrl_is_refused() {
    let env = TestEnv::new("rdt");
    let mounted = fs::read_to_string("/proc/self/mountinfo").unwrap().contains(" - resctrl ");
    if mounted {
        eprintln!("skipped: resctrl is mounted here");
        return;
    }
    let out = run(&env, &Config::sh("true").set("/linux/intelRdt", json!({ "closID": "g1" })));
    out.fails_with_one_line();
    assert!(out.stderr.contains("linux.intelRdt: resctrl is not mounted"), "{out:#?}");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

/// Runs `berth args…` inside a new network namespace of its own, where `setup` (shell)
/// runs first: the host's interfaces are never touched.
fn berth_in_private_netns(env: &TestEnv, setup: &str, args: &[&str]) -> (i32, String, String) {
    let mut script = format!("{setup} && exec \"$0\" --root \"$1\"");
    for i in 0..args.len() {
        script.push_str(&format!(" \"${}\"", i + 2));
    }
    let root = env.dir.join("state");
    let out = Command::new("unshare")
        .args(["--net", "--", "sh", "-c", &script])
        .arg(crate::harness::bin())
        .arg(&root)
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code().unwrap_or(-1), text(out.stdout), text(out.stderr))
}

#[test]
fn net_devices_move_into_the_container_renamed() {
    let env = TestEnv::new("netdev");
    // The container's own sysfs lists the interfaces of its network namespace.
    let cfg =
        Config::sh("for i in /sys/class/net/*; do echo ${i##*/}; done; ip -o addr show dev ctr0")
            .set("/linux/netDevices", json!({ "bdummy0": { "name": "ctr0" }, "bdummy1": {} }));
    let bundle = env.bundle(&cfg);
    let id = env.id("n");
    env.track(&id);
    // veth is built into this kernel (dummy is a module it lacks). The addresses must
    // survive the move (the kernel drops them on a namespace change).
    let setup = "ip link add bdummy0 type veth peer name bdummy1 && \
                 ip addr add 10.123.45.6/24 dev bdummy0 && ip addr add fd00:b::6/64 dev bdummy0";
    let (code, stdout, stderr) =
        berth_in_private_netns(&env, setup, &["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..3], ["bdummy1", "ctr0", "lo"], "{stdout}{stderr}");
    let addresses: Vec<&str> =
        lines[3..].iter().filter_map(|l| l.split_whitespace().nth(3)).collect();
    assert!(addresses.contains(&"10.123.45.6/24"), "{stdout}");
    assert!(addresses.contains(&"fd00:b::6/64"), "{stdout}");

    // A missing interface: one line naming the entry, nothing left behind.
    let cfg = Config::sh("true").set("/linux/netDevices", json!({ "nosuch0": {} }));
    let bundle = env.bundle(&cfg);
    let id = env.id("m");
    env.track(&id);
    let (code, _, stderr) =
        berth_in_private_netns(&env, "true", &["run", "--bundle", bundle.to_str().unwrap(), &id]);
    assert_ne!(code, 0);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("linux.netDevices.nosuch0: no such network interface"), "{stderr}");
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

/// A probe dir owned by uid and gid 1000, holding `owned` (also 1000), for id-mapped mounts.
fn idmap_source(env: &TestEnv) -> std::path::PathBuf {
    let dir = env.probe_dir();
    fs::write(dir.join("owned"), "x\n").unwrap();
    lchown(dir.join("owned"), Some(1000), Some(1000)).unwrap();
    lchown(&dir, Some(1000), Some(1000)).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn idmapped(
    dir: &Path,
    options: serde_json::Value,
    uid: (u32, u32),
    gid: (u32, u32),
) -> serde_json::Value {
    json!({ "destination": "/m", "type": "bind", "source": dir, "options": options,
            "uidMappings": [{ "containerID": uid.0, "hostID": uid.1, "size": 1 }],
            "gidMappings": [{ "containerID": gid.0, "hostID": gid.1, "size": 1 }] })
}

#[test]
fn idmapped_mount_shows_and_writes_mapped_owners() {
    let env = TestEnv::new("idmap");
    let dir = idmap_source(&env);
    // On-disk ids are the maps' containerID side; the mount shows them as hostID.
    let mut cfg = Config::sh("stat -c '%u %g' /m/owned; touch /m/new; stat -c '%u %g' /m/new");
    push_mount(&mut cfg, idmapped(&dir, json!(["rbind", "idmap"]), (1000, 3000), (1000, 3001)));
    let mut cfg = cfg.user(3000, 3001, &[]);
    cfg.0["process"]["capabilities"] = json!({});
    assert_eq!(lines(&env, &cfg), ["3000 3001", "3000 3001"]);
    // A file the mapped user made lands on disk with the unmapped ids.
    let meta = fs::metadata(dir.join("new")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
}

#[test]
fn idmapped_mount_in_a_user_namespace() {
    let env = TestEnv::new("idmapuserns");
    let dir = idmap_source(&env);
    // The container's root is host 100000; the mount shows disk id 1000 as host 100000 + 7.
    let mut cfg = Config::sh("stat -c '%u %g' /m/owned").user_namespace(100000, 65536);
    push_mount(&mut cfg, idmapped(&dir, json!(["rbind"]), (1000, 100007), (1000, 100008)));
    let bundle = env.bundle(&cfg);
    chown_tree(&bundle.join("rootfs"), 100000, 100000);
    let out = env.berth(&["run", "--bundle", bundle.to_str().unwrap(), &env.id("i")]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout.trim(), "7 8", "{out:#?}");
}

#[test]
fn bad_idmapped_mounts_name_their_path() {
    let env = TestEnv::new("idmapbad");
    let dir = idmap_source(&env);
    // Not a bind mount.
    let mut cfg = Config::sh("true");
    let mut tmpfs = idmapped(&dir, json!([]), (0, 1000), (0, 1000));
    tmpfs["type"] = json!("tmpfs");
    push_mount(&mut cfg, tmpfs);
    let out = run(&env, &cfg);
    out.fails_with_one_line();
    assert!(out.stderr.contains("mounts[6].options"), "{out:#?}");
    // A filesystem the kernel cannot id-map (/proc): the error names the entry and the call.
    let mut cfg = Config::sh("true");
    let mut proc_bind = idmapped(Path::new("/proc"), json!(["rbind"]), (0, 1000), (0, 1000));
    proc_bind["destination"] = json!("/m");
    push_mount(&mut cfg, proc_bind);
    let out = run(&env, &cfg);
    out.fails_with_one_line();
    assert!(
        out.stderr.contains("mounts[6] (/m)") && out.stderr.contains("mount_setattr"),
        "{out:#?}"
    );
    assert!(env.root_entries().is_empty(), "{:?}", env.root_entries());
}

#[test]
fn listen_fds_given_to_berth_reach_the_container() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new("listenfds");
    let socket_like = env.dir.join("activation");
    fs::write(&socket_like, "from fd 3\n").unwrap();
    let file = fs::File::open(&socket_like).unwrap();
    let bundle = env.bundle(&Config::sh("echo $LISTEN_FDS $LISTEN_PID; cat <&3"));
    let id = env.id("i");
    env.track(&id);
    // The shell's pid is berth's after exec: LISTEN_PID names the runtime, as systemd sets it.
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "LISTEN_PID=$$ exec \"$0\" \"$@\""]).arg(crate::harness::bin());
    cmd.arg("--root").arg(env.dir.join("state"));
    cmd.args(["run", "--bundle", bundle.to_str().unwrap(), &id]);
    cmd.env("LISTEN_FDS", "1");
    let raw = std::os::fd::AsRawFd::as_raw_fd(&file);
    // SAFETY: dup2 in the child between fork and exec, onto fd 3 as systemd passes it.
    unsafe {
        cmd.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it explicitly.
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "1 1\nfrom fd 3\n");

    // LISTEN_FDS meant for another process (LISTEN_PID is not berth's) passes nothing on.
    let bundle = env.bundle(&Config::sh("echo \"[$LISTEN_FDS]\"; cat <&3 || echo closed"));
    let id = env.id("j");
    env.track(&id);
    let mut cmd = Command::new(crate::harness::bin());
    cmd.arg("--root").arg(env.dir.join("state"));
    cmd.args(["run", "--bundle", bundle.to_str().unwrap(), &id]);
    cmd.env("LISTEN_FDS", "1").env("LISTEN_PID", "1");
    // SAFETY: as above.
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(raw, 3) < 0 || libc::fcntl(3, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout, "[]\nclosed\n");
}

#[test]
fn exec_label_flags_without_the_lsm_are_refused_by_flag() {
    let env = TestEnv::new("execlsm");
    let apparmor = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .is_ok_and(|v| v.starts_with('Y'));
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    let bundle = env.bundle(&Config::new(&["sleep", "60"]));
    let id = env.id("c");
    env.create(&id, &bundle).ok();
    env.start(&id).ok();
    for (absent, flag, lsm) in
        [(!apparmor, "--apparmor", "AppArmor"), (!selinux, "--process-label", "SELinux")]
    {
        if !absent {
            eprintln!("skipped {flag}: {lsm} runs on this host");
            continue;
        }
        let out = env.berth(&["exec", flag, "unconfined_t", &id, "true"]);
        out.fails_with_one_line();
        assert!(out.stderr.contains(&format!("{flag}: {lsm} is not enabled")), "{out:#?}");
    }
    // The container is untouched: a plain exec still runs.
    env.berth(&["exec", &id, "true"]).ok();
}
