//! The test harness: a per-test temp dir and state root (`TestEnv`), busybox bundles, an OCI
//! config builder (`Config`), a runner for the binary under test, and a drop guard that
//! force-deletes what a test created and then checks nothing is left behind.

use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::{lchown, symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How long one runtime command may take before the test fails (and the command is killed).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Busybox applets linked into every test rootfs.
pub const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "id", "hostname", "sleep", "ls", "ip", "readlink", "stat", "touch", "pwd",
    "kill", "env", "true", "false", "mount", "grep", "wc", "head",
];

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// The binary under test: `$BERTH_BIN` if set, else the berth cargo built for this test.
pub fn bin() -> PathBuf {
    match std::env::var_os("BERTH_BIN") {
        Some(b) if !b.is_empty() => PathBuf::from(b),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_berth")),
    }
}

/// The program name the binary reports in `--version` (`berth`, or `runc` in reference mode).
pub fn bin_name() -> String {
    bin().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// True when the tests run against runc to check the harness itself; runc needs a cgroup
/// path (kept under `/berth-test`) and some berth-only contracts are skipped.
pub fn reference_runc() -> bool {
    bin_name() == "runc"
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::SeqCst))
}

/// Polls `cond` every 10 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Start time (clock ticks since boot) and state letter of `pid`, if it exists.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm may contain spaces and parentheses; the fields after the last ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

/// True if `pid` (with start time `start`) still runs; a zombie or a reused pid counts as gone.
pub fn pid_alive(pid: i32, start: u64) -> bool {
    matches!(proc_stat(pid), Some((s, st)) if s == start && st != 'Z' && st != 'X')
}

/// The output of one finished runtime command.
#[derive(Debug)]
pub struct Out {
    /// The command line, for messages.
    pub cmdline: String,
    /// How it ended.
    pub status: ExitStatus,
    /// Everything written to stdout.
    pub stdout: String,
    /// Everything written to stderr.
    pub stderr: String,
}

impl Out {
    /// The exit code; panics if the command was killed by a signal.
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or_else(|| panic!("{} died by a signal: {self:#?}", self.cmdline))
    }

    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(&self) -> &Self {
        assert!(self.status.success(), "{} failed: {self:#?}", self.cmdline);
        self
    }

    /// Asserts the runc error contract: non-zero exit and exactly one non-empty stderr line
    /// (RUST_BACKTRACE=1 is set, so a panic or a multi-line cause dump fails this).
    #[track_caller]
    pub fn fails_with_one_line(&self) -> &Self {
        assert!(!self.status.success(), "{} should have failed: {self:#?}", self.cmdline);
        assert!(self.status.code().is_some(), "{} died by a signal: {self:#?}", self.cmdline);
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{}: stderr should be one line: {self:#?}", self.cmdline);
        assert!(!self.stderr.contains("panicked"), "{} panicked: {self:#?}", self.cmdline);
        self
    }
}

/// A runtime command started in the background (e.g. a foreground `run` a test signals).
pub struct Running {
    cmdline: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Running {
    /// The command's pid, to look at it in /proc while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("already waited").id()
    }

    /// What the command has written to stdout so far.
    pub fn stdout_so_far(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Waits (at most `COMMAND_TIMEOUT`) for the command to end and collects its output.
    #[track_caller]
    pub fn wait(self) -> Out {
        self.finish().unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like `wait`, but a timeout is an `Err` (for use in `Drop`, which must not panic).
    pub fn finish(mut self) -> Result<Out, String> {
        let mut child = self.child.take().expect("waited twice");
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        let status = loop {
            if let Some(st) = child.try_wait().expect("try_wait") {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} did not finish within {COMMAND_TIMEOUT:?}", self.cmdline));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok(Out {
            cmdline: self.cmdline.clone(),
            status,
            stdout: fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // Only the child this harness started, by its own handle.
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One test's world: a unique temp dir holding bundles, probe dirs and the state root.
/// On drop it force-deletes every container the test left, then checks that no state, no
/// mount under the temp dir and no container process is left, and removes the temp dir.
pub struct TestEnv {
    /// The unique temp dir.
    pub dir: PathBuf,
    /// The `--root` passed to every command.
    pub root: PathBuf,
    name: String,
    ids: RefCell<Vec<String>>,
    pids: RefCell<Vec<(i32, u64)>>,
    cgroups: RefCell<Vec<String>>,
    binary: RefCell<Option<PathBuf>>,
}

impl TestEnv {
    /// A fresh environment; `name` (the test's name) goes into the temp dir and the ids.
    pub fn new(name: &str) -> Self {
        assert_eq!(unsafe { libc::geteuid() }, 0, "the integration tests need root");
        let base = std::env::var_os("BERTH_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(unique(&format!("berth-it-{name}")));
        fs::create_dir_all(&dir).expect("creating the test dir");
        // A user-namespaced container (host uid 100000) must be able to reach its bundle.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        let root = dir.join("state");
        TestEnv {
            dir,
            root,
            name: name.to_string(),
            ids: RefCell::default(),
            pids: RefCell::default(),
            cgroups: RefCell::default(),
            binary: RefCell::default(),
        }
    }

    /// Runs every later command (and the guard's cleanup) with `binary` instead of [`bin`].
    pub fn use_binary(&self, binary: &Path) {
        *self.binary.borrow_mut() = Some(binary.to_path_buf());
    }

    /// The binary this environment runs.
    pub fn binary(&self) -> PathBuf {
        self.binary.borrow().clone().unwrap_or_else(bin)
    }

    /// A container id unique on this host (runc mode puts it in a cgroup path).
    pub fn id(&self, tag: &str) -> String {
        unique(&format!("{}-{tag}", self.name))
    }

    /// A fresh directory in the temp dir, mode 0777 so a probe under any uid can write to it.
    pub fn probe_dir(&self) -> PathBuf {
        let p = self.dir.join(unique("probe"));
        fs::create_dir(&p).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o777)).unwrap();
        p
    }

    /// A busybox bundle with `cfg` as its config.json.
    pub fn bundle(&self, cfg: &Config) -> PathBuf {
        let b = self.bare_bundle();
        self.write_config(&b, cfg);
        b
    }

    /// A bundle with a busybox rootfs and no config.json.
    pub fn bare_bundle(&self) -> PathBuf {
        let b = self.dir.join(unique("bundle"));
        build_rootfs(&b.join("rootfs"));
        b
    }

    /// Writes `cfg` as `<bundle>/config.json`, with a cgroup under /berth-test unless the
    /// config names one (the runtime's default would sit in the host's own cgroups).
    pub fn write_config(&self, bundle: &Path, cfg: &Config) {
        let mut v = cfg.0.clone();
        if v["linux"].is_object() {
            let cg = match v["linux"]["cgroupsPath"].as_str() {
                Some(path) => path.strip_prefix("/berth-test/").map(str::to_owned),
                None => {
                    let cg = unique("berth-test");
                    v["linux"]["cgroupsPath"] = json!(format!("/berth-test/{cg}"));
                    Some(cg)
                }
            };
            self.cgroups.borrow_mut().extend(cg);
        }
        fs::write(bundle.join("config.json"), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }

    fn command(&self, pre: &[&str], args: &[&str]) -> (Command, String, PathBuf, PathBuf) {
        let n = unique("cmd");
        let stdout = self.dir.join(format!("{n}.out"));
        let stderr = self.dir.join(format!("{n}.err"));
        let mut cmd = Command::new(self.binary());
        cmd.arg("--root").arg(&self.root).args(pre).args(args);
        // Output goes to files, not pipes: a created container inherits the runtime's stdio
        // and would hold a pipe open until it exits.
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&stdout).unwrap())
            .stderr(fs::File::create(&stderr).unwrap())
            .env("RUST_BACKTRACE", "1")
            // A runner started by systemd must not have its containers relay to systemd.
            .env_remove("NOTIFY_SOCKET");
        let cmdline = format!("{} {} {}", bin_name(), pre.join(" "), args.join(" "));
        (cmd, cmdline, stdout, stderr)
    }

    /// Starts `<bin> --root <root> args…` in the background.
    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_with_env(&[], args)
    }

    /// Starts `<bin> --root <root> args…` in the background with `vars` added to its
    /// environment (e.g. a NOTIFY_SOCKET of the test's own).
    pub fn spawn_with_env(&self, vars: &[(&str, &Path)], args: &[&str]) -> Running {
        let (mut cmd, cmdline, stdout, stderr) = self.command(&[], args);
        cmd.envs(vars.iter().copied());
        self.track_args(args);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {cmdline}: {e}"));
        Running { cmdline, child: Some(child), stdout, stderr }
    }

    /// Runs `<bin> --root <root> args…` to its end.
    #[track_caller]
    /// Runs `cmd` to its end with stdin closed and its output through files in the test's
    /// directory (a daemon it starts may keep pipes open), killed after `timeout`.
    pub fn finish_within(
        &self,
        mut cmd: Command,
        cmdline: &str,
        timeout: Duration,
    ) -> Result<Out, String> {
        let n = self.id("out");
        let (out, err) = (self.dir.join(format!("{n}.out")), self.dir.join(format!("{n}.err")));
        cmd.stdin(Stdio::null())
            .stdout(fs::File::create(&out).unwrap())
            .stderr(fs::File::create(&err).unwrap());
        let mut child = cmd.spawn().map_err(|e| format!("spawning {cmdline}: {e}"))?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(st) = child.try_wait().map_err(|e| format!("waiting for {cmdline}: {e}"))? {
                break st;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmdline} did not finish within {timeout:?}"));
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        Ok(Out {
            cmdline: cmdline.to_string(),
            status,
            stdout: fs::read_to_string(&out).unwrap_or_default(),
            stderr: fs::read_to_string(&err).unwrap_or_default(),
        })
    }

    pub fn berth(&self, args: &[&str]) -> Out {
        self.spawn(args).wait()
    }

    /// Runs with `--log <file> --log-format json`; returns the output and the log's text.
    #[track_caller]
    pub fn berth_logged(&self, args: &[&str]) -> (Out, String) {
        let log = self.dir.join(unique("log"));
        let log_s = log.to_str().unwrap();
        let (mut cmd, cmdline, stdout, stderr) =
            self.command(&["--log", log_s, "--log-format", "json"], args);
        self.track_args(args);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {cmdline}: {e}"));
        let out = Running { cmdline, child: Some(child), stdout, stderr }.wait();
        (out, fs::read_to_string(&log).unwrap_or_default())
    }

    /// Remembers the id of a create/run so the guard can clean it up whatever happens.
    fn track_args(&self, args: &[&str]) {
        if matches!(args.first(), Some(&"create") | Some(&"run")) {
            if let Some(id) = args.last() {
                self.track(id);
            }
        }
    }

    /// Makes the guard force-delete `id` at the end (for containers created outside `berth`).
    pub fn track(&self, id: &str) {
        self.ids.borrow_mut().push(id.to_string());
    }

    /// `create --bundle B ID`, asserted to succeed; notes the init's pid for the guard.
    #[track_caller]
    pub fn create(&self, id: &str, bundle: &Path) -> Out {
        let out = self.berth(&["create", "--bundle", bundle.to_str().unwrap(), id]);
        out.ok();
        let pid = self.pid_of(id);
        assert!(pid > 0, "created container has no pid");
        out
    }

    /// `start ID`, asserted to succeed.
    #[track_caller]
    pub fn start(&self, id: &str) -> Out {
        let out = self.berth(&["start", id]);
        out.ok();
        out
    }

    /// `kill ID [SIG]`, asserted to succeed.
    #[track_caller]
    pub fn kill(&self, id: &str, sig: Option<&str>) -> Out {
        let mut args = vec!["kill", id];
        args.extend(sig);
        let out = self.berth(&args);
        out.ok();
        out
    }

    /// `delete [--force] ID`, asserted to succeed.
    #[track_caller]
    pub fn delete(&self, id: &str, force: bool) -> Out {
        let args: Vec<&str> =
            if force { vec!["delete", "--force", id] } else { vec!["delete", id] };
        let out = self.berth(&args);
        out.ok();
        out
    }

    /// `state ID`, asserted to succeed, parsed.
    #[track_caller]
    pub fn state(&self, id: &str) -> Value {
        let out = self.berth(&["state", id]);
        out.ok();
        serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("state output is not JSON ({e}): {:?}", out.stdout))
    }

    /// The `status` field of `state ID`.
    #[track_caller]
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().expect("state has no status").to_string()
    }

    /// The `pid` in `state ID`, remembered so the guard can check the process is gone.
    #[track_caller]
    pub fn pid_of(&self, id: &str) -> i32 {
        let pid = self.state(id)["pid"].as_i64().expect("state has no numeric pid") as i32;
        self.note_pid(pid);
        pid
    }

    /// Remembers a container pid (with its start time) for the guard's final check.
    pub fn note_pid(&self, pid: i32) {
        if let Some((start, _)) = proc_stat(pid) {
            let mut pids = self.pids.borrow_mut();
            if !pids.contains(&(pid, start)) {
                pids.push((pid, start));
            }
        }
    }

    /// Waits until `state ID` reports `status`; panics with the last state otherwise.
    #[track_caller]
    pub fn wait_status(&self, id: &str, status: &str) {
        let mut last = String::new();
        let ok = wait_for(Duration::from_secs(10), || {
            last = self.status(id);
            last == status
        });
        assert!(ok, "{id} stayed {last:?}, expected {status:?}");
    }
    /// Asserts that `berth check` names `field` (in a line starting with `pointer`, when
    /// given) and that `create` fails on one line with that same problem, leaving nothing in
    /// the state root: check and create say the same thing. Returns the problem, from `field`
    /// on, without check's hint.
    #[track_caller]
    pub fn check_and_create_agree(
        &self,
        cfg: &Config,
        pointer: Option<&str>,
        field: &str,
    ) -> String {
        let bundle = self.bundle(cfg);
        let bundle = bundle.to_str().unwrap();
        let check = self.berth(&["check", "--bundle", bundle]);
        assert_eq!(check.code(), 1, "{check:#?}");
        let marker = format!(": {field}: ");
        let named = |l: &&str| match pointer {
            Some(p) => l.starts_with(&format!("{p}{marker}")),
            None => l.contains(&marker),
        };
        let line = check.stdout.lines().find(named);
        let line = line.unwrap_or_else(|| panic!("check does not name {field}: {check:#?}"));
        // `<pointer>: <problem> (hint: …)`: the problem is create's message.
        let start = line.find(&marker).unwrap() + 2;
        let problem = &line[start..line.rfind(" (hint: ").unwrap_or(line.len())];
        let id = self.id("agree");
        self.track(&id);
        let create = self.berth(&["create", "--bundle", bundle, &id]);
        create.fails_with_one_line();
        assert!(create.stderr.contains(problem), "create: {create:#?}\ncheck: {problem}");
        assert!(self.root_entries().is_empty(), "{:?}", self.root_entries());
        problem.to_string()
    }

    /// The entries of the state root (none when it does not exist).
    pub fn root_entries(&self) -> Vec<String> {
        match fs::read_dir(&self.root) {
            // Compiled seccomp programs and criu check's verdict are kept for reuse, not
            // container state (a temp file of the verdict left behind would still show).
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .filter(|name| {
                    name != berth::seccomp::CACHE_DIR && name != berth::checkpoint::CHECK_CACHE_FILE
                })
                .collect(),
            Err(_) => Vec::new(),
        }
    }

    /// Lines of the host's mountinfo that mention this test's temp dir.
    pub fn leaked_mounts(&self) -> Vec<String> {
        let dir = self.dir.to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&dir))
            .map(String::from)
            .collect()
    }

    fn cleanup_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let left = self.root_entries();
        if !left.is_empty() {
            problems.push(format!("state root not empty: {left:?}"));
        }
        let pids = self.pids.borrow().clone();
        for (pid, start) in pids {
            if !wait_for(Duration::from_secs(5), || !pid_alive(pid, start)) {
                problems.push(format!("container process {pid} still alive"));
            }
        }
        let mounts = self.leaked_mounts();
        if !mounts.is_empty() {
            problems.push(format!("mounts left under {}: {mounts:#?}", self.dir.display()));
        }
        for cg in self.cgroups.borrow().iter() {
            for d in cgroup_dirs(cg) {
                if d.exists() {
                    problems.push(format!("cgroup left: {}", d.display()));
                }
            }
        }
        problems
    }
}

/// `/sys/fs/cgroup[/<controller>]/berth-test/<cg>` on v1 and v2 hosts.
pub fn cgroup_dirs(cg: &str) -> Vec<PathBuf> {
    let base = Path::new("/sys/fs/cgroup");
    let mut out = vec![base.join("berth-test").join(cg)];
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            out.push(e.path().join("berth-test").join(cg));
        }
    }
    out
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        let ids = self.ids.borrow().clone();
        let mut hung = Vec::new();
        for id in ids.iter().rev() {
            // Learn the pid first, so a process the runtime fails to kill is still caught.
            let st = self.spawn(&["state", id]).finish();
            if let Some(v) = st.ok().and_then(|o| serde_json::from_str::<Value>(&o.stdout).ok()) {
                if let Some(pid) = v["pid"].as_i64().filter(|p| *p > 0) {
                    self.note_pid(pid as i32);
                }
            }
            // A container the test already deleted is "not found" here; that is fine.
            if let Err(e) = self.spawn(&["delete", "--force", id]).finish() {
                hung.push(e);
            }
        }
        // The runtime removes its own cgroup; the shared parent goes once it is empty (rmdir of
        // a cgroup with children fails, so this never touches another test's cgroup).
        for d in cgroup_dirs("") {
            let _ = fs::remove_dir(d);
        }
        let mut problems = self.cleanup_problems();
        problems.extend(hung);
        if problems.is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
            return;
        }
        // The runtime failed to clean up. Kill the container processes this test made (by
        // pid, checked against their start time) and keep the temp dir for inspection.
        for (pid, start) in self.pids.borrow().iter() {
            if pid_alive(*pid, *start) {
                unsafe { libc::kill(*pid, libc::SIGKILL) };
                wait_for(Duration::from_secs(5), || !pid_alive(*pid, *start));
            }
        }
        // A killed process stays in its cgroup until reaped: retry for a while.
        for d in self.cgroups.borrow().iter().flat_map(|cg| cgroup_dirs(cg)) {
            wait_for(Duration::from_secs(5), || fs::remove_dir(&d).is_ok() || !d.exists());
        }
        for d in cgroup_dirs("") {
            let _ = fs::remove_dir(d);
        }
        let msg = format!(
            "{}: left behind: {} (temp dir kept: {})",
            self.name,
            problems.join("; "),
            self.dir.display()
        );
        if std::thread::panicking() {
            eprintln!("{msg}");
        } else {
            panic!("{msg}");
        }
    }
}

/// Makes `<rootfs>` a busybox root: /bin/busybox with applet links, the usual mount points,
/// /probe for bind-mounted probe dirs, and a minimal /etc/passwd and /etc/group.
pub fn build_rootfs(rootfs: &Path) {
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "probe"] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    fs::set_permissions(rootfs.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    // A copy, not a hard link: the user-namespace test chowns the rootfs.
    let bb = rootfs.join("bin/busybox");
    copy_executable(Path::new("/bin/busybox"), &bb);
    fs::set_permissions(&bb, fs::Permissions::from_mode(0o755)).unwrap();
    for a in APPLETS {
        symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\ntester:x:1000:1000:tester:/tmp:/bin/sh\n\
         nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\ntester:x:1000:\nnogroup:x:65534:\n").unwrap();
}

/// Copies the program `src` to `dst` with `cp`, not in this process: a write descriptor held
/// here is inherited by whatever another test thread forks meanwhile, and until that child
/// has exec'd, running the copy fails with ETXTBSY ("text file busy", seen under load).
pub fn copy_executable(src: &Path, dst: &Path) {
    let copied = Command::new("cp").arg(src).arg(dst).status();
    assert!(copied.is_ok_and(|s| s.success()), "copying {} to {}", src.display(), dst.display());
}

/// Changes the owner of `path` and everything under it (links themselves, not their targets).
pub fn chown_tree(path: &Path, uid: u32, gid: u32) {
    lchown(path, Some(uid), Some(gid)).unwrap();
    let meta = fs::symlink_metadata(path).unwrap();
    if meta.is_dir() {
        for e in fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), uid, gid);
        }
    }
}

/// A minimal valid OCI config, changed by builder methods.
#[derive(Clone, Debug)]
pub struct Config(pub Value);

impl Config {
    /// The base config running `args`: pid, mount, ipc, uts and network namespaces, the
    /// standard /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue and /sys mounts, uid 0.
    pub fn new(args: &[&str]) -> Self {
        Config(json!({
            "ociVersion": "1.2.0",
            "root": { "path": "rootfs", "readonly": false },
            "process": {
                "terminal": false,
                "user": { "uid": 0, "gid": 0 },
                "args": args,
                "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "HOME=/root"],
                "cwd": "/"
            },
            "hostname": "berth-test",
            "mounts": [
                { "destination": "/proc", "type": "proc", "source": "proc" },
                { "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "strictatime", "mode=755", "size=65536k"] },
                { "destination": "/dev/pts", "type": "devpts", "source": "devpts",
                  "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"] },
                { "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                  "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
                { "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                  "options": ["nosuid", "noexec", "nodev"] },
                { "destination": "/sys", "type": "sysfs", "source": "sysfs",
                  "options": ["nosuid", "noexec", "nodev", "ro"] }
            ],
            "linux": {
                "namespaces": [
                    { "type": "pid" }, { "type": "mount" }, { "type": "ipc" },
                    { "type": "uts" }, { "type": "network" }
                ]
            }
        }))
    }

    /// A shell script as the process: `sh -c script`.
    pub fn sh(script: &str) -> Self {
        Self::new(&["sh", "-c", script])
    }

    /// Replaces process.args.
    pub fn args(mut self, args: &[&str]) -> Self {
        self.0["process"]["args"] = json!(args);
        self
    }

    /// Sets the hostname.
    pub fn hostname(mut self, h: &str) -> Self {
        self.0["hostname"] = json!(h);
        self
    }

    /// Appends `KEY=VALUE` to process.env.
    pub fn env(mut self, kv: &str) -> Self {
        self.0["process"]["env"].as_array_mut().unwrap().push(json!(kv));
        self
    }

    /// Sets process.cwd.
    pub fn cwd(mut self, cwd: &str) -> Self {
        self.0["process"]["cwd"] = json!(cwd);
        self
    }

    /// Sets process.user uid/gid and additionalGids.
    pub fn user(mut self, uid: u32, gid: u32, additional: &[u32]) -> Self {
        self.0["process"]["user"] = json!({ "uid": uid, "gid": gid, "additionalGids": additional });
        self
    }

    /// Sets root.readonly.
    pub fn readonly_root(mut self, ro: bool) -> Self {
        self.0["root"]["readonly"] = json!(ro);
        self
    }

    /// Removes the namespace of type `kind`, so the container shares the runtime's.
    pub fn without_namespace(mut self, kind: &str) -> Self {
        self.0["linux"]["namespaces"].as_array_mut().unwrap().retain(|n| n["type"] != kind);
        self
    }

    /// Adds a user namespace mapping container uid/gid 0.. to host `host_id`.. (`size` ids).
    pub fn user_namespace(mut self, host_id: u32, size: u32) -> Self {
        let map = json!([{ "containerID": 0, "hostID": host_id, "size": size }]);
        let linux = &mut self.0["linux"];
        linux["namespaces"].as_array_mut().unwrap().push(json!({ "type": "user" }));
        linux["uidMappings"] = map.clone();
        linux["gidMappings"] = map;
        self
    }

    /// Bind-mounts host dir `src` at `dest` (read-write unless `ro`).
    pub fn bind(mut self, src: &Path, dest: &str, ro: bool) -> Self {
        let opts = if ro { json!(["rbind", "ro"]) } else { json!(["rbind", "rw"]) };
        self.0["mounts"].as_array_mut().unwrap().push(json!({
            "destination": dest, "type": "bind", "source": src, "options": opts
        }));
        self
    }

    /// Bind-mounts the probe dir `dir` at /probe, writable.
    pub fn probe(self, dir: &Path) -> Self {
        self.bind(dir, "/probe", false)
    }

    /// Adds an annotation.
    pub fn annotation(mut self, k: &str, v: &str) -> Self {
        if !self.0["annotations"].is_object() {
            self.0["annotations"] = json!({});
        }
        self.0["annotations"][k] = json!(v);
        self
    }

    /// Sets the value at JSON pointer `ptr` (its parent must exist), for malformed configs.
    pub fn set(mut self, ptr: &str, v: Value) -> Self {
        let (parent, key) = ptr.rsplit_once('/').expect("pointer needs a '/'");
        let obj = self.0.pointer_mut(parent).unwrap_or_else(|| panic!("no {parent} in config"));
        obj.as_object_mut().expect("parent is not an object").insert(key.to_string(), v);
        self
    }
}

/// scripts/peak-rss.c, the peak-RSS meter, compiled with the system C compiler into this test
/// build's temp dir the first time a test asks (it is a test tool, not part of berth's build).
pub fn peak_rss() -> &'static Path {
    static TOOL: OnceLock<PathBuf> = OnceLock::new();
    TOOL.get_or_init(|| {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/peak-rss.c");
        let tool = Path::new(env!("CARGO_TARGET_TMPDIR")).join("peak-rss");
        // Another test process may be running the previous copy: compile beside, then rename.
        let tmp = tool.with_extension(format!("tmp{}", std::process::id()));
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let built = Command::new(&cc)
            .args(["-O2", "-static", "-Wall", "-Werror", "-o"])
            .arg(&tmp)
            .arg(&source)
            .status();
        assert!(built.is_ok_and(|s| s.success()), "{cc} failed to build {}", source.display());
        fs::rename(&tmp, &tool).unwrap();
        tool
    })
}

/// Every command berth has (hidden plumbing such as `criu-hook` aside): each has a man page
/// and a completion.
pub const COMMANDS: [&str; 18] = [
    "create",
    "start",
    "state",
    "kill",
    "delete",
    "exec",
    "run",
    "list",
    "spec",
    "update",
    "pause",
    "resume",
    "events",
    "ps",
    "features",
    "check",
    "checkpoint",
    "restore",
];
