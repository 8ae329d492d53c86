//! Hostile and broken bundles, as a table: wrong JSON types, missing fields, paths that lead
//! out of the bundle or the container, absurd numbers, huge inputs, bad ids and hook paths.
//! Each case must fail `create` with one line on stderr that names the config path (or the
//! file) and leave nothing behind: no state dir, cgroup, host mount, process, or descriptor
//! into the test's files. `berth check` must list create's line among its own.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::harness::{cgroup_dirs, reference_runc, Config, TestEnv};

/// Whether `berth check` sees the problem `create` fails on.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Seen {
    /// check lists create's error line (config and host problems).
    ByCheck,
    /// Only the container process meets it (the kernel refuses a value), or it is not
    /// about the bundle (the container id): check cannot know.
    OnlyByCreate,
}

/// One hostile input and what its error must name.
struct Case {
    name: &'static str,
    bundle: PathBuf,
    id: String,
    /// Text the one error line must contain: a config path or a file.
    needle: String,
    seen: Seen,
}

/// Builds the cases' bundles inside `env`.
struct Table<'a> {
    env: &'a TestEnv,
    cases: Vec<Case>,
}

impl<'a> Table<'a> {
    /// A bundle whose config is the base config changed by `edit`.
    fn config(&mut self, name: &'static str, needle: &str, edit: impl FnOnce(&mut Value)) {
        self.config_seen(name, needle, Seen::ByCheck, edit);
    }

    fn config_seen(
        &mut self,
        name: &'static str,
        needle: &str,
        seen: Seen,
        edit: impl FnOnce(&mut Value),
    ) {
        let mut cfg = Config::new(&["true"]);
        edit(&mut cfg.0);
        let bundle = self.env.bundle(&cfg);
        self.push(name, bundle, needle, seen);
    }

    /// A bundle whose config.json holds exactly `bytes`.
    fn raw(&mut self, name: &'static str, bytes: &[u8]) {
        let bundle = self.env.bare_bundle();
        fs::write(bundle.join("config.json"), bytes).unwrap();
        let needle = bundle.join("config.json").display().to_string();
        self.push(name, bundle, &needle, Seen::ByCheck);
    }

    fn push(&mut self, name: &'static str, bundle: PathBuf, needle: &str, seen: Seen) {
        let id = self.env.id(name);
        self.cases.push(Case { name, bundle, id, needle: needle.to_owned(), seen });
    }
}

fn make_fifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid C string; creates one FIFO in the test's dir.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0, "mkfifo {}", path.display());
}

fn ns(v: &mut Value) -> &mut Vec<Value> {
    v["linux"]["namespaces"].as_array_mut().unwrap()
}

fn mounts(v: &mut Value) -> &mut Vec<Value> {
    v["mounts"].as_array_mut().unwrap()
}

fn user_ns(v: &mut Value, uid_maps: Value) {
    ns(v).push(json!({ "type": "user" }));
    v["linux"]["uidMappings"] = uid_maps;
    v["linux"]["gidMappings"] = json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
}

fn file_cases(t: &mut Table) {
    t.raw("notjson", b"{ this is not json");
    t.raw("trailing", br#"{"ociVersion": "1.2.0"} trailing garbage"#);
    t.raw("empty", b"");
    let deep = format!("{{\"annotations\": {}{}}}", "[".repeat(100_000), "]".repeat(100_000));
    t.raw("deepnest", deep.as_bytes());
    t.raw("nulbyte", b"{\"ociVersion\": \"1.2.0\"\0}");

    // 100 MB: refused by its size before a byte is parsed (a sparse file costs no disk).
    let bundle = t.env.bare_bundle();
    let file = fs::File::create(bundle.join("config.json")).unwrap();
    file.set_len(100 << 20).unwrap();
    let needle = bundle.join("config.json").display().to_string();
    t.push("huge", bundle, &needle, Seen::ByCheck);

    let bundle = t.env.bare_bundle();
    fs::create_dir(bundle.join("config.json")).unwrap();
    let needle = bundle.join("config.json").display().to_string();
    t.push("configdir", bundle, &needle, Seen::ByCheck);

    let bundle = t.env.bare_bundle();
    let needle = bundle.display().to_string();
    t.push("noconfig", bundle, &needle, Seen::ByCheck);

    // A FIFO would block a plain open(2) until a writer comes.
    let bundle = t.env.bare_bundle();
    make_fifo(&bundle.join("config.json"));
    let needle = bundle.join("config.json").display().to_string();
    t.push("configfifo", bundle, &needle, Seen::ByCheck);

    let file = t.env.dir.join("bundle-is-a-file");
    fs::write(&file, "").unwrap();
    let needle = file.display().to_string();
    t.push("bundlefile", file, &needle, Seen::ByCheck);

    let missing = t.env.dir.join("no-such-bundle");
    let needle = missing.display().to_string();
    t.push("nobundle", missing, &needle, Seen::ByCheck);
}

fn type_and_required_cases(t: &mut Table) {
    t.config("versionint", "ociVersion", |v| v["ociVersion"] = json!(1));
    t.config("noversion", "ociVersion", |v| drop(v.as_object_mut().unwrap().remove("ociVersion")));
    t.config("version2", "ociVersion", |v| v["ociVersion"] = json!("2.0.0"));
    t.config("noroot", "root", |v| drop(v.as_object_mut().unwrap().remove("root")));
    t.config("rootpathempty", "root.path", |v| v["root"]["path"] = json!(""));
    t.config("rootpathint", "root", |v| v["root"]["path"] = json!(7));
    t.config("noprocess", "process", |v| drop(v.as_object_mut().unwrap().remove("process")));
    t.config("argsstring", "process.args", |v| v["process"]["args"] = json!("sh -c true"));
    t.config("argsmissing", "process.args", |v| {
        drop(v["process"].as_object_mut().unwrap().remove("args"))
    });
    t.config("argsempty", "process.args", |v| v["process"]["args"] = json!([]));
    t.config("argsnul", "process.args", |v| v["process"]["args"] = json!(["tr\u{0}ue"]));
    t.config("hostnamenul", "hostname", |v| v["hostname"] = json!("a\u{0}b"));
    t.config("uidnegative", "process.user", |v| v["process"]["user"]["uid"] = json!(-1));
    t.config("envnoname", "process.env[2]", |v| {
        v["process"]["env"].as_array_mut().unwrap().push(json!("=x"))
    });
    t.config("annotationint", "annotations", |v| v["annotations"] = json!({ "a": 1 }));
    // An unknown capability *name* is ignored with a warning (compat.rs); a non-name is not.
    t.config("capnotaname", "process.capabilities.bounding[1]", |v| {
        v["process"]["capabilities"] = json!({ "bounding": ["CAP_NOT_A_CAP", 5] })
    });
    t.config("rlimitunknown", "process.rlimits[0].type", |v| {
        v["process"]["rlimits"] = json!([{ "type": "RLIMIT_NOPE", "soft": 1, "hard": 1 }])
    });
    t.config("rlimitsoft", "process.rlimits[0].soft", |v| {
        v["process"]["rlimits"] = json!([{ "type": "RLIMIT_NOFILE", "soft": 100, "hard": 10 }])
    });
    t.config("oomscore", "process.oomScoreAdj", |v| v["process"]["oomScoreAdj"] = json!(5000));
}

fn path_cases(t: &mut Table) {
    t.config("rootdotdot", "root.path", |v| v["root"]["path"] = json!("../../../../../etc"));
    t.config("rootmissing", "root.path", |v| v["root"]["path"] = json!("no-such-rootfs"));
    t.config("rootisfile", "root.path", |v| v["root"]["path"] = json!("rootfs/etc/passwd"));
    t.config("cwdrelative", "process.cwd", |v| v["process"]["cwd"] = json!("tmp"));
    t.config("cwdprocfd", "process.cwd", |v| v["process"]["cwd"] = json!("/proc/self/fd/3"));
    t.config("mountdotdot", "mounts[6].destination", |v| {
        mounts(v)
            .push(json!({ "destination": "/tmp/../../../etc", "type": "tmpfs", "source": "t" }))
    });
    t.config("mountrelative", "mounts[6].destination", |v| {
        mounts(v).push(json!({ "destination": "tmp", "type": "tmpfs", "source": "t" }))
    });
    t.config("tenthousandmounts", "mounts[10006].destination", |v| {
        for i in 0..10_000 {
            mounts(v).push(json!({ "destination": format!("/tmp/m{i}"), "type": "tmpfs" }));
        }
        mounts(v).push(json!({ "destination": "/tmp/../x", "type": "tmpfs", "source": "t" }));
    });
    t.config_seen("mountfstype", "mounts[6]", Seen::OnlyByCreate, |v| {
        mounts(v).push(json!({ "destination": "/tmp", "type": "no-such-fs", "source": "x" }))
    });
    t.config("bindmissing", "mounts[6].source", |v| {
        mounts(v).push(json!({ "destination": "/tmp", "type": "bind",
                               "source": "/no/such/source", "options": ["rbind"] }))
    });
    t.config("maskedrelative", "linux.maskedPaths[0]", |v| {
        v["linux"]["maskedPaths"] = json!(["proc/kcore"])
    });
    t.config("devicerelative", "linux.devices[0].path", |v| {
        v["linux"]["devices"] = json!([{ "path": "dev/x", "type": "c", "major": 1, "minor": 3 }])
    });
    t.config("cgroupdotdot", "linux.cgroupsPath", |v| {
        v["linux"]["cgroupsPath"] = json!("/berth-test/../../berth-hostile-escape")
    });
    t.config("hookrelative", "hooks.prestart[0].path", |v| {
        v["hooks"] = json!({ "prestart": [{ "path": "bin/true" }] })
    });
    t.config("hookmissing", "hooks.createRuntime[0].path", |v| {
        v["hooks"] = json!({ "createRuntime": [{ "path": "/no/such/hook" }] })
    });
    t.config("hooknotexec", "hooks.createContainer[0].path", |v| {
        v["hooks"] = json!({ "createContainer": [{ "path": "/etc/passwd" }] })
    });
}

fn namespace_cases(t: &mut Table) {
    t.config("nsunknown", "linux.namespaces[1].type", |v| ns(v)[1] = json!({ "type": "bogus" }));
    t.config("nsduplicate", "linux.namespaces[5].type", |v| ns(v).push(json!({ "type": "pid" })));
    t.config("nsnomount", "linux.namespaces", |v| ns(v).retain(|n| n["type"] != "mount"));
    t.config("nspathfile", "linux.namespaces[4].path", |v| {
        ns(v)[4] = json!({ "type": "network", "path": "/etc/passwd" })
    });
    t.config("nspathmissing", "linux.namespaces[4].path", |v| {
        ns(v)[4] = json!({ "type": "network", "path": "/no/such/ns" })
    });
    t.config("nspathwrongtype", "linux.namespaces[4].path", |v| {
        ns(v)[4] = json!({ "type": "network", "path": "/proc/self/ns/uts" })
    });
    t.config("hostnamenouts", "hostname", |v| ns(v).retain(|n| n["type"] != "uts"));
    t.config("timeoffsets", "linux.timeOffsets", |v| {
        v["linux"]["timeOffsets"] = json!({ "monotonic": { "secs": 1 } })
    });
    t.config("uidmaphuge", "linux.uidMappings", |v| {
        let lines: Vec<Value> = (0..400)
            .map(|i| json!({ "containerID": i, "hostID": 100000 + i, "size": 1 }))
            .collect();
        user_ns(v, Value::Array(lines));
    });
    t.config("uidmapoverlap", "linux.uidMappings[1].containerID", |v| {
        user_ns(
            v,
            json!([{ "containerID": 0, "hostID": 100000, "size": 100 },
                   { "containerID": 50, "hostID": 300000, "size": 100 }]),
        )
    });
    t.config("uidmapoverflow", "linux.uidMappings[0]", |v| {
        user_ns(v, json!([{ "containerID": 0, "hostID": 4294967295u32, "size": 4294967295u32 }]))
    });
    t.config("sysctlhost", "linux.sysctl.kernel.panic", |v| {
        v["linux"]["sysctl"] = json!({ "kernel.panic": "1" })
    });
}

fn limit_cases(t: &mut Table) {
    let resources = |r: Value| move |v: &mut Value| v["linux"]["resources"] = r;
    t.config(
        "pidsnegative",
        "linux.resources.pids.limit",
        resources(json!({ "pids": { "limit": -5 } })),
    );
    t.config(
        "memorynegative",
        "linux.resources.memory.limit",
        resources(json!({ "memory": { "limit": -12345 } })),
    );
    t.config(
        "sharesabsurd",
        "linux.resources.cpu.shares",
        resources(json!({ "cpu": { "shares": 99_999_999_999u64 } })),
    );
    t.config(
        "periodtiny",
        "linux.resources.cpu.period",
        resources(json!({ "cpu": { "period": 1 } })),
    );
    t.config(
        "blkioweight",
        "linux.resources.blockIO.weight",
        resources(json!({ "blockIO": { "weight": 5 } })),
    );
    t.config(
        "swappiness",
        "linux.resources.memory.swappiness",
        resources(json!({ "memory": { "swappiness": 1000 } })),
    );
    t.config_seen("rlimitabovehost", "process.rlimits[0]", Seen::OnlyByCreate, |v| {
        v["process"]["rlimits"] =
            json!([{ "type": "RLIMIT_NOFILE", "soft": 1u64 << 40, "hard": 1u64 << 40 }])
    });
}

fn seccomp_cases(t: &mut Table) {
    t.config("seccompaction", "linux.seccomp.defaultAction", |v| {
        v["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_BOGUS" })
    });
    t.config("seccomprule", "linux.seccomp.syscalls[0].action", |v| {
        v["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{ "names": ["getpid"], "action": "SCMP_ACT_NOPE" }] })
    });
    t.config("seccomperrno", "linux.seccomp.defaultErrnoRet", |v| {
        v["linux"]["seccomp"] = json!({ "defaultAction": "SCMP_ACT_KILL", "defaultErrnoRet": 1 })
    });
}

fn id_cases(t: &mut Table) {
    let bundle = t.env.bundle(&Config::new(&["true"]));
    let long = "x".repeat(1000);
    for (name, id) in [("iddotdot", "../x"), ("idslash", "a/b"), ("idempty", ""), ("idlong", &long)]
    {
        t.cases.push(Case {
            name,
            bundle: bundle.clone(),
            id: id.to_owned(),
            needle: "container id".to_owned(),
            seen: Seen::OnlyByCreate,
        });
    }
}

/// Every case of the table.
fn table(env: &TestEnv) -> Vec<Case> {
    let mut t = Table { env, cases: Vec::new() };
    file_cases(&mut t);
    type_and_required_cases(&mut t);
    path_cases(&mut t);
    namespace_cases(&mut t);
    limit_cases(&mut t);
    seccomp_cases(&mut t);
    id_cases(&mut t);
    t.cases
}

/// Processes (other than this test) whose command line holds `id`.
fn processes_naming(id: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let cmdline = fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        if args.contains(&id.as_bytes()) {
            found.push(format!("{name}: {}", String::from_utf8_lossy(&cmdline)));
        }
    }
    found
}

/// Descriptors of other processes that point into `dir`. A child another test thread has
/// forked but not yet exec'd still holds copies of this process's descriptors (and still
/// runs this test binary): skipped.
fn descriptors_into(dir: &Path) -> Vec<String> {
    let me = std::process::id().to_string();
    let my_exe = fs::read_link("/proc/self/exe").ok();
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == me || !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if fs::read_link(entry.path().join("exe")).ok() == my_exe {
            continue;
        }
        let Ok(fds) = fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(dir)) {
                found.push(format!("{name}/fd/{}", fd.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// The config's cgroup (set by the harness under /berth-test), if any.
fn cgroup_of(bundle: &Path) -> Option<String> {
    let config = bundle.join("config.json");
    if !fs::metadata(&config).is_ok_and(|m| m.is_file()) {
        return None; // a directory or FIFO case
    }
    let text = fs::read_to_string(config).ok()?;
    let v: Value = serde_json::from_str(&text).ok()?;
    let path = v["linux"]["cgroupsPath"].as_str()?;
    path.strip_prefix("/berth-test/").filter(|p| !p.contains("..")).map(str::to_owned)
}

/// What a case left behind; empty when nothing.
fn leftovers(env: &TestEnv, case: &Case) -> Vec<String> {
    let mut left = Vec::new();
    if !env.root_entries().is_empty() {
        left.push(format!("state: {:?}", env.root_entries()));
    }
    if let Some(cg) = cgroup_of(&case.bundle) {
        left.extend(
            cgroup_dirs(&cg).into_iter().filter(|d| d.exists()).map(|d| d.display().to_string()),
        );
    }
    left.extend(
        cgroup_dirs("")
            .iter()
            .map(|d| d.parent().unwrap().join("berth-hostile-escape"))
            .filter(|d| d.exists())
            .map(|d| d.display().to_string()),
    );
    left.extend(env.leaked_mounts());
    if !case.id.is_empty() {
        left.extend(processes_naming(&case.id));
    }
    left.extend(descriptors_into(&env.dir));
    left
}

#[test]
fn hostile_configs_fail_cleanly_and_check_says_the_same() {
    if reference_runc() {
        return; // The one-line and config-path contracts are berth's.
    }
    let env = TestEnv::new("hostile");
    let cases = table(&env);
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let bundle = case.bundle.to_str().unwrap();
        let out = env.berth(&["create", "--bundle", bundle, &case.id]);
        let lines: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        let mut wrong = Vec::new();
        if out.status.success() || out.status.code().is_none() {
            wrong.push(format!("create did not fail cleanly ({})", out.status));
        }
        if lines.len() != 1 || out.stderr.contains("panicked") {
            wrong.push("stderr is not one line".to_owned());
        }
        if !out.stderr.contains(&case.needle) {
            wrong.push(format!("the error does not name {:?}", case.needle));
        }
        let left = leftovers(&env, case);
        if !left.is_empty() {
            wrong.push(format!("left behind: {left:?}"));
        }
        if case.seen == Seen::ByCheck {
            let check = env.berth(&["check", "--bundle", bundle]);
            let message = lines.first().map_or("", |l| l.strip_prefix("berth: ").unwrap_or(l));
            let listed = check.stdout.lines().any(|l| l.contains(&format!("{message} (hint: ")));
            if check.code() != 1 || !listed {
                wrong.push(format!(
                    "check (exit {}) does not list it: {:?}",
                    check.code(),
                    check.stdout
                ));
            }
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {:?}",
                case.name,
                wrong.join("; "),
                out.stderr
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn check_passes_a_good_bundle_and_lists_every_problem() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("check");
    let good = env.bundle(&Config::new(&["true"]));
    let out = env.berth(&["check", "--bundle", good.to_str().unwrap()]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert_eq!(out.stdout, "", "{out:#?}");

    let mut cfg = Config::new(&[]).cwd("rel").set("/ociVersion", json!("x"));
    ns(&mut cfg.0).push(json!({ "type": "ipc" }));
    cfg.0["hooks"] = json!({ "prestart": [{ "path": "/no/such/hook" }] });
    let bad = env.bundle(&cfg);
    let out = env.berth(&["check", "--bundle", bad.to_str().unwrap()]);
    assert_eq!(out.code(), 1, "{out:#?}");
    let paths: Vec<&str> = out.stdout.lines().map(|l| l.split(": ").next().unwrap()).collect();
    assert_eq!(
        paths,
        [
            "/ociVersion",
            "/process/args",
            "/process/cwd",
            "/linux/namespaces/5/type",
            "/hooks/prestart/0/path"
        ],
        "{out:#?}"
    );
    assert!(out.stdout.lines().all(|l| l.contains(" (hint: ") && l.ends_with(')')), "{out:#?}");
    assert!(env.root_entries().is_empty(), "check created state");
    assert!(env.leaked_mounts().is_empty());
}

/// Unknown syscall names are skipped, as runc skips them: create works, check warns (exit 0).
#[test]
fn unknown_seccomp_syscall_is_a_warning() {
    if reference_runc() {
        return;
    }
    let env = TestEnv::new("seccompname");
    let cfg = Config::new(&["true"]).set(
        "/linux/seccomp",
        json!({ "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{ "names": ["no_such_syscall_x", "getpid"], "action": "SCMP_ACT_ERRNO" }] }),
    );
    let bundle = env.bundle(&cfg);
    let out = env.berth(&["check", "--bundle", bundle.to_str().unwrap()]);
    assert_eq!(out.code(), 0, "{out:#?}");
    assert!(
        out.stdout.starts_with(
            "/linux/seccomp/syscalls/0/names/0: linux.seccomp.syscalls[0].names[0]: \"no_such_syscall_x\"",
        )
            && out.stdout.contains("(warning; hint: "),
        "{out:#?}"
    );
    let id = env.id("c");
    env.create(&id, &bundle);
    env.delete(&id, true);
}

/// A config.json the runtime cannot read (mode 000 does not stop root: a directory does).
#[test]
fn unreadable_rootfs_is_named() {
    let env = TestEnv::new("unreadable");
    let bundle = env.bundle(&Config::new(&["true"]));
    let rootfs = bundle.join("rootfs");
    fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o000)).unwrap();
    let mut cfg = Config::new(&["true"]);
    cfg.0["process"]["user"] = json!({ "uid": 1000, "gid": 1000 });
    env.write_config(&bundle, &cfg);
    let id = env.id("c");
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &id]);
    fs::set_permissions(&rootfs, fs::Permissions::from_mode(0o755)).unwrap();
    out.fails_with_one_line();
    assert!(env.root_entries().is_empty(), "state left: {:?}", env.root_entries());
}
