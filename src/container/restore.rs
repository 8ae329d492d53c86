//! `restore`: a new container from a checkpoint — claim the id, make the cgroup, let criu
//! rebuild the processes, record the restored init as running.

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::query::hook_state_json;
use super::run::RunOutcome;
use crate::cgroups::Cgroup;
use crate::checkpoint::args::{restore_args, RestoreTarget};
use crate::checkpoint::options::RestoreOptions;
use crate::checkpoint::{Criu, CriuError, DESCRIPTORS_FILE, MASKED_FILES, RESTORE_LOG};
use crate::spec::{Hook, NamespaceKind, ValidSpec};
use crate::state::{
    process_start_time, CgroupRecord, ContainerDir, ContainerId, State, StateStore, Status,
};
use crate::sys::SysContext;
use crate::{trace, Error};

/// The directory in the container's state dir where the rootfs is bound for criu (criu
/// wants the new root to be a mount point).
const CRIU_ROOT: &str = "criu-root";
/// The file in the state dir the action script reads (`berth criu-hook FILE`).
const HOOKS_FILE: &str = "criu-hooks.json";
/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// The file in the state dir criu writes the restored init's pid to.
const PID_FILE: &str = "restore.pid";

/// What `berth criu-hook` needs to run the hooks at criu's `setup-namespaces`.
#[derive(Debug, Serialize, Deserialize)]
struct HookPlan {
    state: State,
    prestart: Vec<Hook>,
    create_runtime: Vec<Hook>,
}

/// `berth restore [--detach] ID`: in the foreground, waits for the restored container and
/// removes it, returning its exit status, as `run` does.
pub fn restore(
    store: &StateStore,
    id: &str,
    opts: &RestoreOptions,
    systemd_cgroup: bool,
) -> Result<RunOutcome, Error> {
    if opts.lazy_pages {
        return Err(CriuError::Refused(
            "--lazy-pages is not supported: berth runs no criu page server".into(),
        )
        .into());
    }
    if systemd_cgroup {
        return Err(Error::Unsupported("restore with --systemd-cgroup"));
    }
    let id = ContainerId::parse(id)?;
    let spec = crate::spec::load(&opts.bundle)?;
    check_console(&spec, opts)?;
    trace::phase("loading config.json")?;
    let criu = super::checkpoint::located_and_checked(opts.common.criu.as_deref(), store.root())?;
    let descriptors = read_list(&opts.common.image_path, DESCRIPTORS_FILE)?;
    let masked = read_list(&opts.common.image_path, MASKED_FILES)?;
    trace::phase("reading the checkpoint's descriptors and masked files")?;
    let mask = crate::process::signals::block_all()?;
    let result = restore_blocked(store, &id, &spec, opts, &criu, &descriptors, masked);
    let result = result.and_then(|(dir, state)| {
        if opts.detach {
            return Ok(RunOutcome::Detached);
        }
        drop(dir);
        let code = crate::process::signals::wait_forwarding(Pid::from_raw(state.pid), None, None)?;
        trace::mark("container running");
        if let Ok(dir) = store.open(&id) {
            let state = dir.load()?;
            super::delete::remove(dir, &state, None)?;
        }
        trace::mark("delete");
        Ok(RunOutcome::Exited(code))
    });
    crate::process::signals::restore(&mask)?;
    result
}

/// Claims the id and runs criu; the locked directory and the state written.
fn restore_blocked(
    store: &StateStore,
    id: &ContainerId,
    spec: &ValidSpec,
    opts: &RestoreOptions,
    criu: &Criu,
    descriptors: &Option<Vec<String>>,
    masked: Option<Vec<String>>,
) -> Result<(ContainerDir, State), Error> {
    let cgroup = Cgroup::resolve(spec.cgroups_path.as_deref(), id.as_str())?;
    let dir = store.create(id)?;
    trace::phase("claiming the state dir")?;
    let mut cleanup = Cleanup { dir: Some(dir), cgroup: None, root: None, pid: None };
    let dir = cleanup.dir.as_ref().expect("set above");
    let mut record = CgroupRecord { paths: cgroup.to_paths(), ..CgroupRecord::default() };
    dir.save_cgroup(&record)?;
    let made = cgroup.create(&mut record.created);
    cleanup.cgroup = Some((cgroup.clone(), record.created.clone()));
    made?;
    dir.save_cgroup(&record)?;
    trace::phase("creating the cgroup")?;
    let applying = if cgroup.is_owned(&record.created) {
        crate::cgroups::Applying::CreateOwned
    } else {
        crate::cgroups::Applying::CreateExisting
    };
    cgroup.apply(&spec.resources, applying)?;
    trace::phase("applying cgroup limits")?;
    let root = dir.path().join(CRIU_ROOT);
    bind_root(&spec.root, &root)?;
    cleanup.root = Some(root.clone());
    trace::phase("binding the rootfs for criu")?;
    let net_ns = open_net_ns(spec)?;
    let mut state = new_state(spec, id, &record);
    let action_script = write_hook_plan(dir, spec, &state)?;
    let console = opts.console_socket.is_some().then(open_console).transpose()?;
    let mut binds: Vec<(String, PathBuf)> = spec
        .mounts
        .iter()
        .filter(|m| super::checkpoint::is_bind(m))
        .map(|m| {
            let source = m.source().clone().unwrap_or_default();
            (m.destination().display().to_string(), source)
        })
        .collect();
    if spec.process.terminal {
        binds.push((super::checkpoint::CONSOLE.to_owned(), console_path(console.as_ref())?));
    }
    let target = RestoreTarget {
        root,
        binds,
        masked_files: masked.unwrap_or_else(|| masked_files(spec)),
        net_ns_fd: net_ns.as_ref().map(|fd| fd.as_raw_fd()),
        inherited: inherited_pipes(descriptors.as_deref().unwrap_or_default()),
        cgroup_root: cgroup_root(&cgroup),
        pid_file: dir.path().join(PID_FILE),
        action_script,
    };
    trace::phase("hook plan, network namespace, console, external mounts")?;
    if let (Some(socket), Some((master, _))) = (&opts.console_socket, &console) {
        crate::tty::send_to_console_socket(socket, master.as_raw_fd())?;
        trace::phase("sending the console")?;
    }
    run_criu(criu, opts, &target, &cgroup, console.map(|(_, slave)| slave))?;
    let pid = read_pid(&target.pid_file)?;
    cleanup.pid = Some(pid);
    state.pid = pid.as_raw();
    state.pid_start_time = process_start_time(pid.as_raw()).unwrap_or(0);
    dir.save(&state)?;
    if let Some(pid_file) = &opts.pid_file {
        super::create::write_pid_file(pid_file, pid)?;
    }
    let _ = std::fs::remove_file(dir.path().join(HOOKS_FILE));
    trace::phase("writing state.json")?;
    Ok((cleanup.disarm(), state))
}

/// A terminal container gets a new pty whose master goes to the console socket (in the
/// foreground without one, berth's own terminal, for `--shell-job`); without a terminal
/// there must be no console socket (as `create`).
fn check_console(spec: &ValidSpec, opts: &RestoreOptions) -> Result<(), Error> {
    match (spec.process.terminal, &opts.console_socket) {
        (true, None) if !opts.detach => Ok(()),
        (true, None) => Err(Error::Usage(
            "restore --detach of a container with process.terminal needs --console-socket".into(),
        )),
        (false, Some(_)) => Err(Error::Usage(
            "--console-socket given, but process.terminal is false in config.json".into(),
        )),
        _ => Ok(()),
    }
}

/// Binds the rootfs onto `target` (made here): criu restores the container's root from a
/// mount point.
fn bind_root(rootfs: &Path, target: &Path) -> Result<(), Error> {
    std::fs::create_dir(target).map_err(|source| Error::Io {
        what: "creating",
        path: target.to_path_buf(),
        source,
    })?;
    use nix::mount::MsFlags;
    // Not made private: criu copies the restored mounts' sharing from this one (mount-v2
    // fails with EINVAL on a private root), as with runc's bind.
    crate::sys::mount::mount(Some(rootfs), target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)?;
    Ok(())
}

/// The joined network namespace, open for criu to inherit (no close-on-exec).
fn open_net_ns(spec: &ValidSpec) -> Result<Option<OwnedFd>, Error> {
    let Some(path) = spec
        .namespaces
        .iter()
        .find(|ns| ns.kind == NamespaceKind::Network)
        .and_then(|ns| ns.path.as_ref())
    else {
        return Ok(None);
    };
    let fd = nix::fcntl::open(path, nix::fcntl::OFlag::O_RDONLY, nix::sys::stat::Mode::empty())
        .sys("open", path.display())?;
    Ok(Some(fd))
}

/// For a checkpoint without berth's list (another runtime's): the masked paths that are not
/// directories in the rootfs (covered by /dev/null, not a tmpfs).
fn masked_files(spec: &ValidSpec) -> Vec<String> {
    spec.masked_paths
        .iter()
        .filter(|p| {
            let host = spec.root.join(p.trim_start_matches('/'));
            !host.is_dir()
        })
        .cloned()
        .collect()
}

/// Descriptors 0..2 of the dumped init that were pipes: berth's own are inherited in their
/// place (criu's stdio is berth's).
fn inherited_pipes(descriptors: &[String]) -> Vec<(i32, String)> {
    (0..)
        .zip(descriptors)
        .filter(|(_, d)| d.starts_with("pipe:"))
        .map(|(fd, d)| (fd, d.clone()))
        .collect()
}

/// The cgroup relative to its hierarchy's root, as criu's `--cgroup-root` takes it (every
/// v1 controller of berth's cgroups has the same relative path).
fn cgroup_root(cgroup: &Cgroup) -> Option<String> {
    let dir = match cgroup {
        Cgroup::V2(dir) => dir.strip_prefix(CGROUP_ROOT).ok()?.to_path_buf(),
        Cgroup::V1(paths) => {
            let dir = paths.values().next()?.strip_prefix(CGROUP_ROOT).ok()?;
            dir.components().skip(1).collect()
        }
    };
    Some(Path::new("/").join(dir).display().to_string())
}

/// A pty pair for a terminal container: the master for the console socket, the slave as
/// criu's stdio and controlling terminal.
fn open_console() -> Result<(OwnedFd, OwnedFd), Error> {
    let pty = nix::pty::openpty(None, None).sys("openpty", "")?;
    Ok((pty.master, pty.slave))
}

/// The pty slave bound at the restored container's /dev/console: the new pty's, or without a
/// console socket berth's own terminal (criu's stdio either way).
fn console_path(console: Option<&(OwnedFd, OwnedFd)>) -> Result<PathBuf, Error> {
    let link = match console {
        Some((_, slave)) => format!("/proc/self/fd/{}", slave.as_raw_fd()),
        None => "/proc/self/fd/0".to_owned(),
    };
    std::fs::read_link(&link).map_err(|source| Error::Io {
        what: "reading the console's pty",
        path: link.into(),
        source,
    })
}

/// Runs `criu restore` in the container's cgroup (its restored tasks start there).
fn run_criu(
    criu: &Criu,
    opts: &RestoreOptions,
    target: &RestoreTarget,
    cgroup: &Cgroup,
    console: Option<OwnedFd>,
) -> Result<(), Error> {
    let mut cmd = criu.command(&restore_args(opts, target));
    trace::phase("building criu's arguments")?;
    let has_console = console.is_some();
    match console {
        Some(slave) => {
            let dup = |fd: &OwnedFd| {
                fd.try_clone().map_err(|source| Error::Io {
                    what: "duplicating",
                    path: "the pty".into(),
                    source,
                })
            };
            cmd.stdin(Stdio::from(dup(&slave)?));
            cmd.stdout(Stdio::from(dup(&slave)?));
            cmd.stderr(Stdio::from(slave));
        }
        None => {
            cmd.stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::inherit());
        }
    }
    let cgroup = cgroup.clone();
    let mask = nix::sys::signal::SigSet::empty();
    // SAFETY: berth is single-threaded; the closure writes files and makes syscalls only.
    unsafe {
        cmd.pre_exec(move || {
            nix::sys::signal::sigprocmask(
                nix::sys::signal::SigmaskHow::SIG_SETMASK,
                Some(&mask),
                None,
            )?;
            if has_console {
                nix::unistd::setsid()?;
                if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            cgroup.add_pid(std::process::id() as i32).map_err(std::io::Error::other)
        });
    }
    let log = opts.common.work_dir().join(RESTORE_LOG);
    let status =
        cmd.status().map_err(|source| CriuError::Spawn { criu: criu.path.clone(), source })?;
    if !status.success() {
        return Err(criu.failure("restore", &status, b"", &log).into());
    }
    // criu's tasks were born in the container's cgroup (see pre_exec): restoring the cgroup
    // is part of this phase.
    trace::phase("criu restore")?;
    Ok(())
}

fn read_pid(path: &Path) -> Result<Pid, Error> {
    let io =
        |source| Error::Io { what: "reading criu's pid file", path: path.to_path_buf(), source };
    let text = std::fs::read_to_string(path).map_err(io)?;
    let pid = text
        .trim()
        .parse::<i32>()
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    Ok(Pid::from_raw(pid))
}

/// A list `checkpoint` wrote into the image directory (the init's stdio, the masked files);
/// `None` when it is not there (another runtime's images).
fn read_list(image_dir: &Path, name: &str) -> Result<Option<Vec<String>>, Error> {
    if !image_dir.is_dir() {
        return Err(Error::Io {
            what: "reading the checkpoint in",
            path: image_dir.to_path_buf(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let path = image_dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map(Some).map_err(|e| Error::Io {
            what: "parsing",
            path,
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::Io { what: "reading", path, source }),
    }
}

fn new_state(spec: &ValidSpec, id: &ContainerId, record: &CgroupRecord) -> State {
    State {
        oci_version: spec.oci_version.clone(),
        id: id.as_str().to_string(),
        pid: 0,
        pid_start_time: 0,
        bundle: spec.bundle.clone(),
        rootfs: spec.root.clone(),
        created: crate::state::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations.clone(),
        cgroup_paths: crate::state::Unproven::new(record.paths.clone()),
        cgroup_created: crate::state::Unproven::new(record.created.clone()),
        poststart: spec.hooks.poststart.clone(),
        poststop: spec.hooks.poststop.clone(),
        intel_rdt_path: None,
        systemd_unit: None,
    }
}

/// With prestart or createRuntime hooks, writes what `berth criu-hook` needs and returns
/// the action script criu runs (through `sh -c`) at each restore stage.
fn write_hook_plan(
    dir: &ContainerDir,
    spec: &ValidSpec,
    state: &State,
) -> Result<Option<String>, Error> {
    if spec.hooks.prestart.is_empty() && spec.hooks.create_runtime.is_empty() {
        return Ok(None);
    }
    let plan = HookPlan {
        state: state.clone(),
        prestart: spec.hooks.prestart.clone(),
        create_runtime: spec.hooks.create_runtime.clone(),
    };
    let path = dir.path().join(HOOKS_FILE);
    let text = serde_json::to_string(&plan).expect("the plan serializes");
    std::fs::write(&path, text).map_err(|source| Error::Io {
        what: "writing",
        path: path.clone(),
        source,
    })?;
    let exe = std::fs::read_link("/proc/self/exe").map_err(|source| Error::Io {
        what: "reading",
        path: "/proc/self/exe".into(),
        source,
    })?;
    Ok(Some(format!("{} criu-hook {}", shell_quote(&exe), shell_quote(&path))))
}

/// `path` in single quotes for `sh -c`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// `berth criu-hook FILE`, criu's action script during a restore: at `setup-namespaces`
/// (the restored init exists, its namespaces are set up, nothing runs yet) it runs the
/// prestart and createRuntime hooks with the restored pid, as runc does; other stages pass.
pub fn criu_hook(plan_file: &Path) -> Result<(), Error> {
    if std::env::var("CRTOOLS_SCRIPT_ACTION").as_deref() != Ok("setup-namespaces") {
        return Ok(());
    }
    let io = |source| Error::Io { what: "reading", path: plan_file.to_path_buf(), source };
    let text = std::fs::read_to_string(plan_file).map_err(io)?;
    let mut plan: HookPlan = serde_json::from_str(&text)
        .map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
    plan.state.pid =
        std::env::var("CRTOOLS_INIT_PID").ok().and_then(|p| p.parse().ok()).unwrap_or_default();
    let json = hook_state_json(&plan.state, Status::Creating);
    crate::hooks::run_all("prestart", &plan.prestart, json.as_bytes())?;
    crate::hooks::run_all("createRuntime", &plan.create_runtime, json.as_bytes())?;
    Ok(())
}

/// Undoes a half-done restore: the restored init, the rootfs bind, the cgroup directories
/// berth made, the state directory. Its own errors never replace the root cause.
struct Cleanup {
    dir: Option<ContainerDir>,
    cgroup: Option<(Cgroup, Vec<PathBuf>)>,
    root: Option<PathBuf>,
    pid: Option<Pid>,
}

impl Cleanup {
    /// Keeps the container; the rootfs bind is criu's only and goes now.
    fn disarm(mut self) -> ContainerDir {
        self.pid = None;
        self.cgroup = None;
        self.unbind_root();
        self.dir.take().expect("disarmed once")
    }

    fn unbind_root(&mut self) {
        if let Some(root) = self.root.take() {
            let _ = crate::sys::mount::umount2(&root, nix::mount::MntFlags::MNT_DETACH);
            let _ = std::fs::remove_dir(&root);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        self.unbind_root();
        if let Some((cgroup, created)) = self.cgroup.take() {
            if cgroup.is_owned(&created) {
                for pid in cgroup.pids().unwrap_or_default() {
                    let _ = nix::sys::signal::kill(
                        Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            let _ = cgroup.remove_created(&created);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pipes_are_inherited() {
        let d = vec!["/dev/null".to_string(), "pipe:[12]".into(), "pipe:[13]".into()];
        assert_eq!(inherited_pipes(&d), vec![(1, "pipe:[12]".into()), (2, "pipe:[13]".into())]);
    }

    #[test]
    fn cgroup_root_is_relative_to_the_hierarchy() {
        let v2 = Cgroup::V2("/sys/fs/cgroup/berth-test/c1".into());
        assert_eq!(cgroup_root(&v2).as_deref(), Some("/berth-test/c1"));
        let v1 = Cgroup::V1(
            [("memory".to_string(), PathBuf::from("/sys/fs/cgroup/memory/berth-test/c1"))].into(),
        );
        assert_eq!(cgroup_root(&v1).as_deref(), Some("/berth-test/c1"));
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(shell_quote(Path::new("/a'b")), r"'/a'\''b'");
    }
}
