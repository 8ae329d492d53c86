//! `create`: validate the bundle, claim the id, clone the init and record its state.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::sys::signal::SigSet;
use nix::sys::stat::Mode;
use nix::unistd::Pid;

use super::query::hook_state_json;
use crate::cgroups::Cgroup;
use crate::process::{spawn, ContainerFlags, InitOptions, SetupError, SpawnOptions, Spawned};
use crate::spec::ValidSpec;
use crate::state::{
    process_start_time, CgroupRecord, ContainerDir, ContainerId, State, StateError, StateStore,
    Status,
};
use crate::sys::SysContext;
use crate::trace;
use crate::Error;

/// The flags of `create` (and of `run`, which creates first).
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// `--bundle`; the current directory when empty.
    pub bundle: PathBuf,
    /// `--pid-file`.
    pub pid_file: Option<PathBuf>,
    /// `--console-socket`.
    pub console_socket: Option<PathBuf>,
    /// `--no-pivot`.
    pub no_pivot: bool,
    /// `--no-new-keyring`.
    pub no_new_keyring: bool,
    /// `--preserve-fds`.
    pub preserve_fds: u32,
    /// `--systemd-cgroup` (a global flag).
    pub systemd_cgroup: bool,
}

/// A created container whose init blocks on exec.fifo.
#[derive(Debug)]
pub struct Created {
    /// Its (locked) state directory.
    pub dir: ContainerDir,
    /// What state.json now says.
    pub state: State,
    /// The pty master, kept when a foreground `run` proxies the terminal itself.
    pub console: Option<std::os::fd::OwnedFd>,
    /// The connection to systemd that made the container's unit (`--systemd-cgroup`), for
    /// a foreground `run`'s delete.
    pub systemd: Option<crate::cgroups::systemd::Manager>,
}

/// `berth create`: the container exists and its init waits for `start`.
pub fn create(store: &StateStore, id: &str, opts: &CreateOptions) -> Result<(), Error> {
    let mask = crate::process::signals::block_all()?;
    let result = create_with_mask(store, id, opts, &mask, false);
    crate::process::signals::restore(&mask)?;
    result.map(drop)
}

/// Creates with all signals already blocked (`mask` is what the init restores).
/// `keeps_console`: a foreground `run` takes the pty master instead of a console socket.
pub(super) fn create_with_mask(
    store: &StateStore,
    id: &str,
    opts: &CreateOptions,
    mask: &SigSet,
    keeps_console: bool,
) -> Result<Created, Error> {
    let id = ContainerId::parse(id)?;
    let mut spec = crate::spec::load(&opts.bundle)?;
    check_console_flags(&spec, opts, keeps_console)?;
    let mut preserve_fds = opts.preserve_fds;
    if let Some(count) = crate::process::activation::inherited_listen_fds() {
        crate::process::activation::pass_on(count, &mut preserve_fds, &mut spec.process.env);
    }
    trace::phase("loading config.json")?;
    let unit = systemd_unit(&spec, &id, opts.systemd_cgroup)?;
    // Read once: the init's rootfs setup finds the host's cgroup hierarchies here too.
    let mountinfo = crate::cgroups::read_mountinfo()?;
    let cgroup = match &unit {
        Some(unit) => crate::cgroups::systemd::unit_cgroup(unit, id.as_str(), &mountinfo)?,
        None => Cgroup::resolve_in(&mountinfo, spec.cgroups_path.as_deref(), id.as_str())?,
    };
    // Before the state dir exists: a profile libseccomp refuses leaves nothing behind.
    let cache = store.root().join(crate::seccomp::CACHE_DIR);
    let seccomp =
        spec.seccomp.as_ref().map(|p| crate::seccomp::compile_cached(p, &cache)).transpose()?;
    let dir = store.create(&id)?;
    let mut cleanup = Cleanup {
        dir: Some(dir),
        pid: None,
        cgroup: None,
        rdt_group: None,
        unit: None,
        systemd: None,
    };
    trace::phase("claiming the state dir")?;
    if crate::notify::host_socket().is_some() {
        crate::notify::prepare(cleanup.dir.as_ref().expect("set above").path(), &mut spec)?;
        trace::phase("making the notify socket directory")?;
    }
    // Recorded first, and again once the directories exist: if this process dies before
    // state.json exists, `delete --force` still finds the cgroup, knows which directories
    // are berth's, and (in a cgroup berth did not make) spares the processes there.
    let mut record = CgroupRecord { paths: cgroup.to_paths(), ..CgroupRecord::default() };
    cleanup.dir.as_ref().expect("set above").save_cgroup(&record)?;
    trace::phase("recording the cgroup")?;
    // Rootless, a cgroup the user may not write is gone without (state records none).
    let mut skipped = false;
    if unit.is_none() {
        // Limits are in place before any process of the container runs in the cgroup.
        let made = cgroup.create(&mut record.created);
        cleanup.cgroup = Some((cgroup.clone(), record.created.clone()));
        skipped = super::rootless::skips_cgroup(&made, &cgroup);
        if skipped {
            if let Some((cgroup, created)) = cleanup.cgroup.take() {
                cgroup.remove_created(&created)?;
            }
            record = CgroupRecord::default();
            super::rootless::warn_skipped(&spec, &cgroup);
        } else {
            made?;
        }
        cleanup.dir.as_ref().expect("set above").save_cgroup(&record)?;
        trace::phase("creating the cgroup")?;
    }
    if unit.is_none() && !skipped {
        let applying = if cgroup.is_owned(&record.created) {
            crate::cgroups::Applying::CreateOwned
        } else {
            crate::cgroups::Applying::CreateExisting
        };
        let (resources, applying) = super::rootless::applicable(&spec.resources, applying);
        cgroup.apply(&resources, applying)?;
        trace::phase("applying cgroup limits")?;
        // The init joins the cgroup first thing: in a frozen one it would never report back.
        cgroup.refuse_frozen()?;
        cgroup.warn_if_not_empty();
    }
    let dir = cleanup.dir.as_ref().expect("set above");
    let fifo = dir.fifo_path();
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622)).sys("mkfifo", fifo.display())?;
    trace::phase("making exec.fifo")?;
    let idmapped = idmapped_trees(&spec)?;
    let flags = ContainerFlags {
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds,
    };
    // Only a new mount namespace starts as a copy of berth's (a joined one has its own).
    let copied = spec.creates_namespace(crate::spec::NamespaceKind::Mount).then_some(&*mountinfo);
    let init = InitOptions::container(id.as_str(), flags, mask, seccomp.as_ref(), &idmapped)
        .with_host_mountinfo(copied);
    // With systemd the unit's cgroup exists only once systemd has the init: the clone
    // waits (for SetupDone) until it is placed and the limits are in place. Without, the
    // clone enters its cgroup itself and has nothing to wait for.
    let entry = if unit.is_none() && !skipped { Some(cgroup.entry()?) } else { None };
    let record = std::cell::RefCell::new(record);
    let unit_started = std::cell::Cell::new(false);
    let systemd = std::cell::RefCell::new(None);
    let start_unit = |pid: Pid| -> Result<(), SetupError> {
        let Some(unit) = &unit else { return Ok(()) };
        let started = crate::cgroups::systemd::start(
            unit,
            &cgroup,
            id.as_str(),
            pid.as_raw(),
            &spec.resources,
            &spec.annotations,
            &mut systemd.borrow_mut(),
            &|| unit_started.set(true),
        );
        if unit_started.get() {
            // The unit is ours now: every directory of its cgroup, and the unit itself.
            let mut record = record.borrow_mut();
            record.systemd_unit = Some(unit.name.clone());
            record.created = systemd_dirs(&cgroup);
            dir.save_cgroup(&record)?;
        }
        Ok(started?)
    };
    let on_hooks = |pid: Pid| -> Result<String, SetupError> {
        // The hooks may take long: a `create` killed meanwhile must leave its init findable.
        let start = process_start_time(pid.as_raw()).unwrap_or(0);
        record_init(dir, &record.borrow(), pid, start)?;
        let json = hook_state_json(&initial_state(&spec, &id, pid, start), Status::Creating);
        crate::hooks::run_all("prestart", &spec.hooks.prestart, json.as_bytes())?;
        crate::hooks::run_all("createRuntime", &spec.hooks.create_runtime, json.as_bytes())?;
        trace::phase("running prestart and createRuntime hooks")?;
        Ok(json)
    };
    let on_listener = |pid: Pid, listener: BorrowedFd| -> Result<(), SetupError> {
        let Some(filter) = &seccomp else { return Ok(()) };
        let start = process_start_time(pid.as_raw()).unwrap_or(0);
        let mut state = initial_state(&spec, &id, pid, start);
        state.set_cgroup(&record.borrow());
        state.systemd_unit = record.borrow().systemd_unit.clone();
        let view = super::query::StateView::new(state, Status::Creating);
        Ok(filter.send_listener(listener, pid.as_raw(), &view)?)
    };
    let options = SpawnOptions {
        fifo: Some(&fifo),
        init,
        cgroup: entry.as_ref(),
        place: if unit.is_some() { Some(&start_unit) } else { None },
        on_hooks: &on_hooks,
        on_listener: &on_listener,
    };
    let spawned = spawn(&spec, &options);
    let record = record.into_inner();
    cleanup.systemd = systemd.into_inner();
    if unit_started.get() {
        cleanup.unit = unit.as_ref().map(|u| u.name.clone());
        cleanup.cgroup = Some((cgroup.clone(), record.created.clone()));
    }
    let Spawned { pid, console } = spawned?;
    cleanup.pid = Some(pid);
    // Read once: the record and state.json carry the same start time.
    let start = process_start_time(pid.as_raw()).unwrap_or(0);
    record_init(dir, &record, pid, start)?;
    // The init waits for `start`; its network namespace exists whichever clone path ran.
    move_net_devices(&spec, pid)?;
    if let Some(rdt) = &spec.intel_rdt {
        cleanup.rdt_group = crate::host::resctrl::join(rdt, id.as_str(), pid.as_raw())?;
    }
    if let (Some(socket), Some(master)) = (&opts.console_socket, &console) {
        crate::tty::send_to_console_socket(socket, master.as_raw_fd())?;
        trace::phase("sending the console")?;
    }
    let mut state = initial_state(&spec, &id, pid, start);
    state.set_cgroup(&record);
    state.intel_rdt_path = cleanup.rdt_group.clone();
    state.systemd_unit = record.systemd_unit.clone();
    dir.save(&state)?;
    trace::phase("writing state.json")?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    let systemd = cleanup.systemd.take();
    let dir = cleanup.disarm();
    Ok(Created { dir, state, console: console.filter(|_| keeps_console), systemd })
}

/// The systemd unit of the container with `--systemd-cgroup`; without it, a path in
/// systemd's form is refused rather than taken as a directory name.
fn systemd_unit(
    spec: &ValidSpec,
    id: &ContainerId,
    systemd_cgroup: bool,
) -> Result<Option<crate::cgroups::systemd::Unit>, Error> {
    use crate::cgroups::systemd;
    let path = spec.cgroups_path.as_deref();
    if !systemd_cgroup {
        if let Some(path) = path.filter(|p| systemd::is_systemd_form(p)) {
            return Err(crate::cgroups::CgroupError::Invalid {
                config: "linux.cgroupsPath".into(),
                reason: format!(
                    "{path:?} is systemd's slice:prefix:name form, which needs --systemd-cgroup"
                ),
            }
            .into());
        }
        return Ok(None);
    }
    Ok(Some(systemd::container_unit(path, id.as_str())?))
}

/// Every directory of a cgroup systemd made for berth's unit (berth made the rest).
fn systemd_dirs(cgroup: &Cgroup) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = cgroup.to_paths().into_values().collect();
    dirs.sort();
    dirs.dedup();
    dirs
}

/// Adds the init (`pid`, started at `start`) to what `create` has recorded, for a
/// `delete --force` after its death.
fn record_init(
    dir: &ContainerDir,
    record: &CgroupRecord,
    pid: Pid,
    start: u64,
) -> Result<(), StateError> {
    let record = CgroupRecord { init: Some((pid.as_raw(), start)), ..record.clone() };
    dir.save_cgroup(&record)
}

/// The id-mapped copies of the id-mapped bind mounts' sources, made with the runtime's
/// privileges over the host's filesystems (the init may be in a user namespace without them).
fn idmapped_trees(spec: &ValidSpec) -> Result<Vec<Option<OwnedFd>>, Error> {
    let mut trees = Vec::with_capacity(spec.mounts.len());
    for (i, (m, maps)) in spec.mounts.iter().zip(&spec.mount_idmaps).enumerate() {
        let Some(maps) = maps else {
            trees.push(None);
            continue;
        };
        let what = format!("mounts[{i}] ({})", m.destination().display());
        let source = spec.bundle.join(m.source().as_deref().unwrap_or(Path::new("")));
        let rbind = m.options().iter().flatten().any(|o| o == "rbind");
        let userns = crate::namespaces::user_namespace_fd(&maps.uids, &maps.gids)
            .map_err(|source| crate::rootfs::RootfsError::Sys { what: what.clone(), source })?;
        let tree =
            crate::rootfs::detached_tree(&what, &source, rbind, userns.as_fd(), maps.recursive)?;
        trees.push(Some(tree));
    }
    Ok(trees)
}

fn move_net_devices(spec: &ValidSpec, pid: Pid) -> Result<(), Error> {
    if spec.net_devices.is_empty() {
        return Ok(());
    }
    let path = format!("/proc/{pid}/ns/net");
    let netns = crate::sys::mount::open(Path::new(&path), libc::O_RDONLY)?;
    Ok(crate::host::netdev::move_all(&spec.net_devices, netns.as_fd())?)
}

/// runc's rules: a terminal needs somewhere to go, and a socket needs a terminal to send.
fn check_console_flags(
    spec: &ValidSpec,
    opts: &CreateOptions,
    keeps_console: bool,
) -> Result<(), Error> {
    match (spec.process.terminal, opts.console_socket.is_some()) {
        (true, false) if !keeps_console => {
            Err(Error::Usage("process.terminal is true: --console-socket is required".into()))
        }
        (false, true) => Err(Error::Usage(
            "--console-socket given but process.terminal is false: there is no terminal to send"
                .into(),
        )),
        _ => Ok(()),
    }
}

/// The state of the init `pid`, started at `start` (clock ticks after boot).
fn initial_state(spec: &ValidSpec, id: &ContainerId, pid: Pid, start: u64) -> State {
    State {
        oci_version: spec.oci_version.clone(),
        id: id.as_str().to_string(),
        pid: pid.as_raw(),
        pid_start_time: start,
        bundle: spec.bundle.clone(),
        rootfs: spec.root.clone(),
        created: crate::state::now_rfc3339(),
        owner: String::new(),
        annotations: spec.annotations.clone(),
        cgroup_paths: Default::default(),
        cgroup_created: Default::default(),
        poststart: spec.hooks.poststart.clone(),
        poststop: spec.hooks.poststop.clone(),
        intel_rdt_path: None,
        systemd_unit: None,
    }
}

/// The pid file is written whole and renamed into place, so a reader never sees half.
pub(super) fn write_pid_file(path: &Path, pid: Pid) -> Result<(), Error> {
    let io = |source| Error::Io { what: "writing pid file", path: path.to_path_buf(), source };
    let tmp = path.with_extension("berth-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(e)
    })
}

/// Undoes a half-done create: kills the init, removes the cgroup directories berth made and
/// the state directory. The one place cleanup happens; its own errors never replace the
/// root cause.
struct Cleanup {
    dir: Option<ContainerDir>,
    pid: Option<Pid>,
    /// The cgroup and the directories made for it.
    cgroup: Option<(Cgroup, Vec<PathBuf>)>,
    rdt_group: Option<PathBuf>,
    /// The systemd unit started for the container.
    unit: Option<String>,
    /// The connection that started it, to stop it over.
    systemd: Option<crate::cgroups::systemd::Manager>,
}

impl Cleanup {
    fn disarm(mut self) -> ContainerDir {
        self.pid = None;
        self.cgroup = None;
        self.rdt_group = None;
        self.unit = None;
        self.dir.take().expect("disarmed once")
    }

    /// What to kill besides the init: in a cgroup berth made, whatever is left there (a
    /// two-stage init is not this process's child); in another, only the init's own.
    fn others(&self) -> Vec<i32> {
        let Some((cgroup, created)) = &self.cgroup else { return Vec::new() };
        if cgroup.is_owned(created) {
            return cgroup.pids().unwrap_or_default();
        }
        let Some(pid) = self.pid else { return Vec::new() };
        let start = process_start_time(pid.as_raw()).unwrap_or(0);
        super::kill::container_pids(Some(cgroup), pid.as_raw(), start).unwrap_or_default()
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let others = self.others();
        if let Some(pid) = self.pid {
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
        }
        for pid in others {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
        if let Some(unit) = self.unit.take() {
            let _ = crate::cgroups::systemd::stop(&unit, self.systemd.as_mut());
        }
        if let Some((cgroup, created)) = self.cgroup.take() {
            let _ = cgroup.remove_created(&created);
        }
        if let Some(group) = self.rdt_group.take() {
            let _ = crate::host::resctrl::remove(&group);
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
    }
}
