//! Control groups: where a container's cgroup is (`linux.cgroupsPath`, resolved as runc
//! does), creating it, applying `linux.resources`, freezing it, listing its processes,
//! reading its stats and removing it. cgroup v1 (a directory per controller) and v2 (one
//! directory).
//!
//! Plain file I/O, not cgroups-rs: cgroups-rs 0.5 depends on zbus (an async D-Bus stack of
//! some 50 crates) without a feature to turn it off, resolves one relative path for every
//! controller (runc resolves each against the runtime's own cgroup in that hierarchy), and
//! its errors cannot name the config path a value came from. The files are few and simple.
//!
//! With `--systemd-cgroup` systemd makes the cgroup as a transient unit ([`systemd`]); the
//! same code then writes its files.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

mod bpf;
pub mod devices;
pub mod path;
pub mod stats;
pub mod sub;
pub mod systemd;
mod unset;
mod v1;
pub mod v2;
pub mod values;

pub use devices::DeviceRule;

/// The key state.json uses for the single directory of a cgroup v2 container, and for the
/// cgroup2 directory beside the v1 ones on a hybrid host.
const UNIFIED_KEY: &str = "unified";
/// Where the cgroup hierarchies are mounted on a standard host.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";
/// How long removal retries a cgroup that is still busy (its last processes being reaped).
const REMOVE_WAIT: Duration = Duration::from_secs(3);
/// How long freezing or thawing may take.
const FREEZE_WAIT: Duration = Duration::from_secs(5);

/// When [`Cgroup::apply`] runs, which decides what a config without device rules means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applying {
    /// `create`, in a cgroup berth made: every device is denied but the default nodes (as
    /// runc), or the container would keep the host's access to every device.
    CreateOwned,
    /// `create`, in a cgroup that existed: device access stays as its owner set it (the
    /// kernel refuses to change the default of a v1 cgroup that has children).
    CreateExisting,
    /// `update` of a running container: access stays; memory.checkBeforeUpdate applies.
    Update,
}

/// The open cgroup files through which a new process moves itself into a cgroup (every v1
/// hierarchy's `tasks`, the v2 `cgroup.procs`), opened by the runtime: the kernel checks the
/// opener's credentials, so the clone may write them from a new user namespace too. Writing
/// 0 (the caller) to a v1 `tasks` file moves the calling thread, which is the whole
/// single-threaded clone, without the global lock that moving a process by its pid takes,
/// and so without its wait for an RCU grace period: 5–30 ms a `create` on this project's
/// machine, when the runtime wrote the clone's pid to `cgroup.procs`.
///
/// On v2 a clone can be born in the cgroup instead (clone3's CLONE_INTO_CGROUP), which
/// avoids the lock too: [`Entry::directory`]. On a hybrid host (v1 controllers, cgroup2 at
/// /sys/fs/cgroup/unified) both apply: born in the unified cgroup, the clone writes the v1
/// `tasks` files itself.
#[derive(Debug)]
pub struct Entry {
    /// The v1 `tasks` files.
    files: Vec<(std::fs::File, PathBuf)>,
    /// The cgroup2 directory and its `cgroup.procs` (for a clone that was not born in it).
    unified: Option<(std::fs::File, std::fs::File, PathBuf)>,
}

impl Entry {
    /// The cgroup2 directory a clone can be born in; none on a v1 host without one.
    pub fn directory(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        self.unified.as_ref().map(|(dir, _, _)| std::os::fd::AsFd::as_fd(dir))
    }

    /// Moves the calling process, which must be single-threaded, into the cgroup; the
    /// cgroup2 part only when it was not `born_inside` (by [`Entry::directory`]).
    pub fn join_self(&self, born_inside: bool) -> Result<(), CgroupError> {
        let unified = self.unified.iter().filter(|_| !born_inside).map(|(_, f, p)| (f, p));
        for (file, path) in unified.chain(self.files.iter().map(|(f, p)| (f, p))) {
            // `&File` writes; a write of "0" to a cgroup file is never short.
            let mut file: &std::fs::File = file;
            file.write_all(b"0").map_err(|source| CgroupError::Write {
                config: "linux.cgroupsPath".into(),
                file: path.clone(),
                value: "0".into(),
                source,
            })?;
        }
        Ok(())
    }
}

/// A cgroup operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// Writing a value to a cgroup file failed.
    #[error("{config}: writing {value:?} to {}", file.display())]
    Write {
        /// The config path of the value (`linux.resources.memory.limit`).
        config: String,
        /// The cgroup file.
        file: PathBuf,
        /// What was written.
        value: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The host has no file (or controller) to apply a value with.
    #[error("{config}: cannot apply {}: {reason}", file.display())]
    Unavailable {
        /// The config path of the value.
        config: String,
        /// The cgroup file that would take it.
        file: PathBuf,
        /// Why it is not there.
        reason: String,
    },
    /// A value that cannot be applied on this cgroup version.
    #[error("{config}: {reason}")]
    Invalid {
        /// The config path of the value.
        config: String,
        /// What is wrong.
        reason: String,
    },
    /// A cgroup directory or file could not be created, read or removed.
    #[error("{what} {}", path.display())]
    Io {
        /// What was being done.
        what: &'static str,
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A cgroup could not be made because berth does not run as root and the cgroup is not
    /// delegated to its user (`--rootless false`; rootless, the cgroup is skipped instead).
    #[error("creating cgroup {} as uid {uid} (not delegated to this user; berth needs root or --rootless to go without it)", path.display())]
    NotRoot {
        /// The directory.
        path: PathBuf,
        /// berth's effective uid.
        uid: u32,
        /// The cause (EACCES or EPERM).
        #[source]
        source: io::Error,
    },
    /// The v2 device filter could not be loaded or attached.
    #[error("{config}: installing the cgroup v2 device filter")]
    Device {
        /// The config path of the rules.
        config: String,
        /// The bpf(2) failure.
        #[source]
        source: crate::sys::SysError,
    },
    /// The host offers no usable cgroup hierarchy.
    #[error("no cgroup hierarchy: {0}")]
    NoHierarchy(String),
    /// Freezing or thawing did not complete.
    #[error("{} did not become {state} within {FREEZE_WAIT:?}", file.display())]
    FreezeTimeout {
        /// The freezer file.
        file: PathBuf,
        /// The state wanted.
        state: &'static str,
    },
}

impl CgroupError {
    /// Whether the kernel refused for lack of permission: an unprivileged caller in a cgroup
    /// hierarchy not delegated to it (or mounted read-only).
    pub fn is_permission(&self) -> bool {
        let source = match self {
            CgroupError::Write { source, .. } | CgroupError::Io { source, .. } => source,
            CgroupError::NotRoot { .. } => return true,
            _ => return false,
        };
        source.kind() == io::ErrorKind::PermissionDenied
            || matches!(source.raw_os_error(), Some(libc::EPERM | libc::EROFS))
    }
}

/// A container's cgroup: its directory per v1 controller, or its one v2 directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cgroup {
    /// cgroup v1: controller name → directory (co-mounted controllers share one); on a hybrid
    /// host also `unified` → the directory in the cgroup2 hierarchy.
    V1(BTreeMap<String, PathBuf>),
    /// cgroup v2: the directory.
    V2(PathBuf),
}

/// Whether the host's cgroups are unified (v2 only) rather than v1 or hybrid.
pub fn is_unified() -> bool {
    nix::sys::statfs::statfs(CGROUP_ROOT)
        .is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC)
}

fn read_proc(path: &str) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map_err(|source| CgroupError::Io {
        what: "reading",
        path: path.into(),
        source,
    })
}

/// The text of this process's /proc/self/mountinfo, where [`Cgroup::resolve_in`] finds the
/// cgroup hierarchies.
pub fn read_mountinfo() -> Result<String, CgroupError> {
    read_proc("/proc/self/mountinfo")
}

impl Cgroup {
    /// The cgroup for `cgroups_path` (`linux.cgroupsPath`; the id, relative, when absent).
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Self, CgroupError> {
        Cgroup::resolve_in(&read_mountinfo()?, cgroups_path, id)
    }

    /// [`Cgroup::resolve`] with the hierarchies of `mountinfo` (the text of
    /// /proc/self/mountinfo, [`read_mountinfo`]).
    pub fn resolve_in(
        mountinfo: &str,
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<Self, CgroupError> {
        let wanted = cgroups_path.filter(|p| !p.is_empty()).unwrap_or(id);
        let mounts = path::parse_mountinfo(mountinfo);
        let own = path::parse_proc_cgroup(&read_proc("/proc/self/cgroup")?);
        if is_unified() {
            let mount = mounts
                .iter()
                .find(|m| m.v2 && m.point == Path::new(CGROUP_ROOT))
                .or_else(|| mounts.iter().find(|m| m.v2))
                .ok_or_else(|| {
                    CgroupError::NoHierarchy("no cgroup2 mount in /proc/self/mountinfo".into())
                })?;
            return Ok(Cgroup::V2(path::resolve_v2(mount, &own, wanted)));
        }
        let mut paths = path::resolve_v1(&mounts, &own, wanted);
        // A hybrid host: the container also gets a cgroup in the cgroup2 hierarchy (no
        // controllers there), as with runc, which is where systemd and tools reading `0::`
        // in /proc/PID/cgroup look for it.
        if let Some(mount) = mounts.iter().find(|m| m.v2) {
            paths.insert(UNIFIED_KEY.to_owned(), path::resolve_v2(mount, &own, wanted));
        }
        // Without the devices controller a container could open any device node.
        if !paths.contains_key("devices") {
            return Err(CgroupError::NoHierarchy(
                "the cgroup v1 devices controller is not mounted".into(),
            ));
        }
        Ok(Cgroup::V1(paths))
    }

    /// The paths recorded in state.json.
    pub fn to_paths(&self) -> BTreeMap<String, PathBuf> {
        match self {
            Cgroup::V1(paths) => paths.clone(),
            Cgroup::V2(dir) => BTreeMap::from([(UNIFIED_KEY.to_owned(), dir.clone())]),
        }
    }

    /// The cgroup recorded in state.json; `None` when none was.
    pub fn from_paths(paths: &BTreeMap<String, PathBuf>) -> Option<Self> {
        match paths.get(UNIFIED_KEY) {
            Some(dir) if paths.len() == 1 => Some(Cgroup::V2(dir.clone())),
            _ if paths.is_empty() => None,
            _ => Some(Cgroup::V1(paths.clone())),
        }
    }

    /// The distinct directories, leaf last in no particular hierarchy order. Sorted and
    /// told apart byte for byte (see [`Cgroup::is_owned`]).
    fn dirs(&self) -> Vec<&Path> {
        let mut dirs: Vec<&Path> = match self {
            Cgroup::V1(paths) => paths.values().map(PathBuf::as_path).collect(),
            Cgroup::V2(dir) => vec![dir.as_path()],
        };
        dirs.sort_unstable_by(|a, b| a.as_os_str().cmp(b.as_os_str()));
        dirs.dedup_by(|a, b| a.as_os_str() == b.as_os_str());
        dirs
    }

    /// Creates the directories (and parents), adding each directory it makes to `created`
    /// (parents first) as soon as it exists, so a caller keeps the list even when a later
    /// step fails. On v1 a new cpuset inherits its parent's cpus and mems (else no task
    /// could join it), on v2 each parent enables its controllers for its children.
    pub fn create(&self, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(paths) => {
                for (controller, dir) in paths {
                    make_dir(dir, created)?;
                    if controller == "cpuset" {
                        v1::inherit_cpuset(dir)?;
                    }
                }
                Ok(())
            }
            Cgroup::V2(dir) => v2::create(dir, created),
        }
    }

    /// Whether berth made every directory of the cgroup (listed in `created`): only then
    /// is every process in it the container's, and the cgroup berth's to freeze. Compared
    /// byte for byte: berth records a directory in the one spelling it made it by (and
    /// `Path`'s equality, component by component, costs far more).
    pub fn is_owned(&self, created: &[PathBuf]) -> bool {
        self.dirs().iter().all(|dir| created.iter().any(|c| c.as_os_str() == dir.as_os_str()))
    }

    /// Applies `resources`, leaving alone what runc reads as unset (a zero weight, shares,
    /// quota, pids limit…: see [`unset`]); device rules are followed by runc's default nodes
    /// (see [`devices`]). `when` tells a create from an update.
    pub fn apply(&self, resources: &LinuxResources, when: Applying) -> Result<(), CgroupError> {
        let resources = &unset::effective(resources);
        let rules = devices::rules(resources, when == Applying::CreateOwned)?;
        let update = when == Applying::Update;
        warn_deprecated(resources);
        match self {
            Cgroup::V1(paths) => v1::apply(paths, resources, &rules, update),
            Cgroup::V2(dir) => v2::apply(dir, resources, &rules, update),
        }
    }

    /// Moves the process `pid` (and, on v2, all its threads) into every directory of the
    /// cgroup: the systemd driver's placement, where systemd moved it into some already.
    pub fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        for dir in self.dirs() {
            write_file(dir, "cgroup.procs", &pid.to_string(), "linux.cgroupsPath")?;
        }
        Ok(())
    }

    /// Whether `pid` is in this cgroup v2 directory already (the `0::` line of its
    /// /proc/PID/cgroup names it), as after systemd started a unit with it: writing it to
    /// `cgroup.procs` again would move nothing but still take the kernel's threadgroup lock,
    /// which can wait for an RCU grace period. False on v1 and when unsure.
    pub fn holds(&self, pid: i32) -> bool {
        let Cgroup::V2(dir) = self else { return false };
        let Ok(relative) = dir.strip_prefix(CGROUP_ROOT) else { return false };
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/cgroup")) else {
            return false;
        };
        let wanted = Path::new("/").join(relative);
        text.lines().any(|l| l.strip_prefix("0::").is_some_and(|p| Path::new(p) == wanted))
    }

    /// Opens the files through which a new process moves itself into the cgroup.
    pub fn entry(&self) -> Result<Entry, CgroupError> {
        let open = |dir: &Path, file: &str| {
            let path = dir.join(file);
            let opened = std::fs::OpenOptions::new().write(true).open(&path);
            // A cgroup2 hierarchy beside the v1 ones (systemd's, on a hybrid host) has no
            // `tasks`; writing 0 to `cgroup.procs` moves the writer there too.
            let (opened, path) = match opened {
                Err(e) if e.kind() == io::ErrorKind::NotFound && file == "tasks" => {
                    let procs = dir.join("cgroup.procs");
                    (std::fs::OpenOptions::new().write(true).open(&procs), procs)
                }
                other => (other, path),
            };
            match opened {
                Ok(f) => Ok((f, path)),
                Err(source) => Err(CgroupError::Io { what: "opening", path, source }),
            }
        };
        let unified = match self.unified_dir() {
            Some(dir) => {
                let mut options = std::fs::OpenOptions::new();
                options.read(true);
                std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_DIRECTORY);
                let opened = options.open(dir);
                let source =
                    |source| CgroupError::Io { what: "opening", path: dir.to_path_buf(), source };
                let (procs, path) = open(dir, "cgroup.procs")?;
                Some((opened.map_err(source)?, procs, path))
            }
            None => None,
        };
        let Cgroup::V1(paths) = self else { return Ok(Entry { files: Vec::new(), unified }) };
        // The v1 freezer last: a process that joins a frozen (paused) container stops
        // there, and should stop already in every other cgroup of the container.
        let freezer = paths.get("freezer").map(|d| d.as_os_str());
        let unified_dir = self.unified_dir().map(Path::as_os_str);
        let mut dirs = self.dirs();
        dirs.retain(|d| Some(d.as_os_str()) != unified_dir);
        dirs.sort_by_key(|d| Some(d.as_os_str()) == freezer);
        let files = dirs.into_iter().map(|d| open(d, "tasks")).collect::<Result<_, _>>()?;
        Ok(Entry { files, unified })
    }

    /// The cgroup2 directory: the one of a v2 host, or a hybrid host's unified one.
    fn unified_dir(&self) -> Option<&Path> {
        match self {
            Cgroup::V1(paths) => paths.get(UNIFIED_KEY).map(PathBuf::as_path),
            Cgroup::V2(dir) => Some(dir),
        }
    }

    /// The directory whose `cgroup.procs` lists the container's processes.
    fn procs_dir(&self) -> &Path {
        match self {
            Cgroup::V1(paths) => ["pids", "freezer", "devices", "memory"]
                .iter()
                .find_map(|c| paths.get(*c))
                .or_else(|| paths.values().next())
                .map_or(Path::new(CGROUP_ROOT), PathBuf::as_path),
            Cgroup::V2(dir) => dir,
        }
    }

    /// The pids of every process in the cgroup and the cgroups below it; empty when the
    /// cgroup no longer exists.
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut pids = Vec::new();
        collect_pids(self.procs_dir(), &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// Refuses a cgroup that is already frozen (runc does too): a process joining it stops at
    /// once, so `create` would wait forever for an init that never reports.
    pub fn refuse_frozen(&self) -> Result<(), CgroupError> {
        if !self.is_frozen() {
            return Ok(());
        }
        let file = match self {
            Cgroup::V1(paths) => paths.get("freezer").map(|d| d.join("freezer.state")),
            Cgroup::V2(dir) => Some(dir.join("cgroup.freeze")),
        };
        let file = file.map(|f| f.display().to_string()).unwrap_or_default();
        Err(CgroupError::Invalid {
            config: "linux.cgroupsPath".into(),
            reason: format!("container's cgroup unexpectedly frozen ({file}); thaw it first"),
        })
    }

    /// Warns (as runc does) when processes are already in the cgroup a new container is
    /// about to join: it will share their limits, and berth will treat the cgroup as not its
    /// own (no `pause`, and `delete` leaves it in place).
    pub fn warn_if_not_empty(&self) {
        let Ok(pids) = self.pids() else { return };
        if !pids.is_empty() {
            let msg = format!(
                "container's cgroup is not empty: {} processes already in {}",
                pids.len(),
                self.procs_dir().display()
            );
            crate::logging::log(crate::logging::Level::Warning, &msg);
        }
    }

    /// Whether the freezer holds the cgroup frozen.
    pub fn is_frozen(&self) -> bool {
        match self {
            Cgroup::V1(paths) => paths
                .get("freezer")
                .and_then(|d| crate::sys::file::read_small(&d.join("freezer.state"), 64))
                .is_some_and(|s| s.trim() == "FROZEN"),
            Cgroup::V2(dir) => crate::sys::file::read_small(&dir.join("cgroup.freeze"), 64)
                .is_some_and(|s| s.trim() == "1"),
        }
    }

    /// Freezes (`true`) or thaws the cgroup and waits until the kernel reports it done.
    pub fn freeze(&self, frozen: bool) -> Result<(), CgroupError> {
        match self {
            Cgroup::V1(paths) => {
                let dir = paths.get("freezer").ok_or_else(|| CgroupError::Unavailable {
                    config: "pause".into(),
                    file: "freezer.state".into(),
                    reason: "the freezer controller is not mounted".into(),
                })?;
                let state = if frozen { "FROZEN" } else { "THAWED" };
                let file = dir.join("freezer.state");
                // A freeze can stay FREEZING while a task is busy in the kernel; writing
                // again retries it.
                wait_until(&file, state, || {
                    write_file(dir, "freezer.state", state, "freezer")?;
                    Ok(read_trimmed(&file)? == state)
                })
            }
            Cgroup::V2(dir) => {
                write_file(dir, "cgroup.freeze", if frozen { "1" } else { "0" }, "freezer")?;
                let want = if frozen { "frozen 1" } else { "frozen 0" };
                let file = dir.join("cgroup.events");
                wait_until(&file, if frozen { "frozen" } else { "thawed" }, || {
                    Ok(read_trimmed(&file)?.lines().any(|l| l == want))
                })
            }
        }
    }

    /// How many processes the OOM killer has killed in the cgroup.
    pub fn oom_kills(&self) -> u64 {
        let (dir, file) = match self {
            Cgroup::V1(paths) => match paths.get("memory") {
                Some(d) => (d.as_path(), "memory.oom_control"),
                None => return 0,
            },
            Cgroup::V2(dir) => (dir.as_path(), "memory.events"),
        };
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        stats::keyed(&text).get("oom_kill").copied().unwrap_or(0)
    }

    /// The cgroup's statistics in runc's schema.
    pub fn stats(&self) -> stats::Stats {
        match self {
            Cgroup::V1(paths) => stats::v1(paths),
            Cgroup::V2(dir) => stats::v2(dir),
        }
    }

    /// Removes the directories berth made (`created`): the container's own ones with any
    /// the container made below them, retrying while they are busy with processes still
    /// being reaped; then the parents berth made, each only when empty (another container
    /// may share it). A directory of the cgroup berth did not make stays, with a warning
    /// when processes are left in it. Missing directories are fine.
    pub fn remove_created(&self, created: &[PathBuf]) -> Result<(), CgroupError> {
        let owned = self.is_owned(created);
        let dirs = self.dirs();
        let mut warned = false;
        for &dir in &dirs {
            if !created.iter().any(|c| c.as_os_str() == dir.as_os_str()) {
                warned = warned || warn_left_in_place(dir);
                continue;
            }
            match remove_tree(dir) {
                Err(err) if !owned => {
                    // Partly berth's (a v1 hierarchy where the directory was new): the
                    // processes left there were not berth's to kill.
                    let msg = crate::error::one_line(&err);
                    crate::logging::log(crate::logging::Level::Warning, &msg);
                }
                other => other?,
            }
        }
        let is_dir = |c: &PathBuf| dirs.iter().any(|d| d.as_os_str() == c.as_os_str());
        for parent in created.iter().rev().filter(|c| !is_dir(c)) {
            // EBUSY or ENOTEMPTY: in use by another container, which removes it later.
            let _ = std::fs::remove_dir(parent);
        }
        Ok(())
    }
}

/// Warns (and says so) when `dir`, which berth did not create, stays with processes in it.
fn warn_left_in_place(dir: &Path) -> bool {
    let mut pids = Vec::new();
    let busy = collect_pids(dir, &mut pids).is_ok() && !pids.is_empty();
    if busy {
        let msg = format!(
            "cgroup {} was not created by berth and still has {} processes: left in place",
            dir.display(),
            pids.len()
        );
        crate::logging::log(crate::logging::Level::Warning, &msg);
    }
    busy
}

/// Writes `value` to `dir/file` (never creating it); `config` names the setting in errors.
pub(crate) fn write_file(
    dir: &Path,
    file: &str,
    value: &str,
    config: &str,
) -> Result<(), CgroupError> {
    let path = dir.join(file);
    let mut f = open_for_write(&path, value, config)?;
    write_value(&mut f, &path, value, config)
}

/// Opens the cgroup file `path` for writing `value` (which the error names) for `config`.
pub(crate) fn open_for_write(
    path: &Path,
    value: &str,
    config: &str,
) -> Result<std::fs::File, CgroupError> {
    match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CgroupError::Unavailable {
            config: config.to_owned(),
            file: path.to_path_buf(),
            reason: "the kernel does not provide this file here".into(),
        }),
        Err(source) => Err(CgroupError::Write {
            config: config.to_owned(),
            file: path.to_path_buf(),
            value: value.to_owned(),
            source,
        }),
    }
}

/// Writes `value` in one write to the cgroup file `f` (at `path`), for `config`.
pub(crate) fn write_value(
    f: &mut std::fs::File,
    path: &Path,
    value: &str,
    config: &str,
) -> Result<(), CgroupError> {
    f.write_all(value.as_bytes()).map_err(|source| CgroupError::Write {
        config: config.to_owned(),
        file: path.to_path_buf(),
        value: value.to_owned(),
        source,
    })
}

/// The trimmed text of a cgroup file.
pub(crate) fn read_trimmed(path: &Path) -> Result<String, CgroupError> {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).map_err(|source| CgroupError::Io {
        what: "reading",
        path: path.to_path_buf(),
        source,
    })
}

fn wait_until(
    file: &Path,
    state: &'static str,
    mut done: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    let deadline = Instant::now() + FREEZE_WAIT;
    while !done()? {
        if Instant::now() >= deadline {
            return Err(CgroupError::FreezeTimeout { file: file.to_path_buf(), state });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Makes `dir` and its missing parents, adding each one this call made to `created`.
fn make_dir(dir: &Path, created: &mut Vec<PathBuf>) -> Result<(), CgroupError> {
    // The usual case, the parent there and the leaf not: one mkdir, no lookups first.
    match std::fs::create_dir(dir) {
        Ok(()) => {
            created.push(dir.to_path_buf());
            return Ok(());
        }
        // Made by someone else: not berth's to remove.
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        // A parent is missing, or another error the walk below reports as it did.
        Err(_) => {}
    }
    // Another runtime may remove an empty shared parent between two steps; a second
    // attempt recreates it.
    let mut attempt = 0;
    loop {
        let mut missing: Vec<&Path> = dir.ancestors().take_while(|p| !p.exists()).collect();
        missing.reverse();
        let mut gone = false;
        for path in missing {
            match std::fs::create_dir(path) {
                Ok(()) => created.push(path.to_path_buf()),
                // Made meanwhile by someone else: not berth's to remove.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempt < 3 => {
                    gone = true;
                    break;
                }
                Err(source) => {
                    let path = path.to_path_buf();
                    let denied = matches!(source.raw_os_error(), Some(libc::EACCES | libc::EPERM));
                    let uid = nix::unistd::geteuid();
                    if denied && !uid.is_root() {
                        return Err(CgroupError::NotRoot { path, uid: uid.as_raw(), source });
                    }
                    return Err(CgroupError::Io { what: "creating cgroup", path, source });
                }
            }
        }
        if !gone {
            return Ok(());
        }
        attempt += 1;
    }
}

fn collect_pids(dir: &Path, pids: &mut Vec<i32>) -> Result<(), CgroupError> {
    let procs = dir.join("cgroup.procs");
    match std::fs::read_to_string(&procs) {
        Ok(text) => pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => return Err(CgroupError::Io { what: "reading", path: procs, source }),
    }
    for sub in subdirs(dir) {
        collect_pids(&sub, pids)?;
    }
    Ok(())
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .collect()
}

fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    // Mostly the cgroup has no children: one rmdir, without listing it first.
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in subdirs(dir) {
        remove_tree(&sub)?;
    }
    let deadline = Instant::now() + REMOVE_WAIT;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(source) => {
                return Err(CgroupError::Io {
                    what: "removing cgroup",
                    path: dir.to_path_buf(),
                    source,
                })
            }
        }
    }
}

/// Kernel memory limits are deprecated by the spec and gone from current kernels; like runc,
/// berth does not apply them, and says so instead of staying silent.
fn warn_deprecated(resources: &LinuxResources) {
    let Some(memory) = resources.memory() else { return };
    for (field, set) in
        [("kernel", memory.kernel().is_some()), ("kernelTCP", memory.kernel_tcp().is_some())]
    {
        if set {
            let msg = format!("linux.resources.memory.{field} is deprecated and not applied");
            crate::logging::log(crate::logging::Level::Warning, &msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_round_trip_through_state() {
        let v1 = Cgroup::V1(BTreeMap::from([
            ("memory".to_owned(), PathBuf::from("/sys/fs/cgroup/memory/a")),
            ("pids".to_owned(), PathBuf::from("/sys/fs/cgroup/pids/a")),
        ]));
        assert_eq!(Cgroup::from_paths(&v1.to_paths()), Some(v1));
        let v2 = Cgroup::V2("/sys/fs/cgroup/a".into());
        assert_eq!(Cgroup::from_paths(&v2.to_paths()), Some(v2));
        assert_eq!(Cgroup::from_paths(&BTreeMap::new()), None);
    }

    #[test]
    fn co_mounted_controllers_are_one_directory() {
        let dir = PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/a");
        let cg = Cgroup::V1(BTreeMap::from([
            ("cpu".to_owned(), dir.clone()),
            ("cpuacct".to_owned(), dir.clone()),
        ]));
        assert_eq!(cg.dirs(), [dir.as_path()]);
    }

    /// A new cgroup2 cgroup `<base>/berth-test/<tag>-<pid>/c` (base: this host's hybrid
    /// `unified` mount, or the v2 root) and its parent; None (the test is skipped) without root
    /// or a cgroup2 hierarchy.
    fn scratch_v2_cgroup(tag: &str) -> Option<(Cgroup, PathBuf, Vec<PathBuf>)> {
        let base = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .into_iter()
            .map(Path::new)
            .find(|b| b.join("cgroup.subtree_control").exists());
        let (Some(base), true) = (base, nix::unistd::geteuid().is_root()) else {
            eprintln!("skipped: needs root and a cgroup2 hierarchy");
            return None;
        };
        let parent = base.join("berth-test").join(format!("{tag}-{}", std::process::id()));
        let cg = Cgroup::V2(parent.join("c"));
        let mut created = Vec::new();
        cg.create(&mut created).unwrap();
        assert!(cg.is_owned(&created));
        assert!(created.contains(&parent));
        Some((cg, parent, created))
    }

    /// A cgroup that existed before is not owned; removal leaves it and its processes alone
    /// and takes only the directories berth made. Needs root and a cgroup2 hierarchy.
    #[test]
    fn v2_existing_cgroup_is_left_in_place() {
        let Some((cg, parent, created)) = scratch_v2_cgroup("owned") else { return };
        let mut again = Vec::new();
        cg.create(&mut again).unwrap();
        assert!(again.is_empty(), "nothing new was made: {again:?}");
        assert!(!cg.is_owned(&again));
        let inner = Cgroup::V2(parent.join("c").join("inner"));
        let mut inner_created = Vec::new();
        inner.create(&mut inner_created).unwrap();
        assert_eq!(inner_created, [parent.join("c").join("inner")]);
        cg.remove_created(&again).unwrap();
        assert!(parent.join("c").join("inner").exists());
        inner.remove_created(&inner_created).unwrap();
        assert!(parent.join("c").exists());
        cg.remove_created(&created).unwrap();
        assert!(!parent.exists());
    }

    /// A clone made with the entry's directory (CLONE_INTO_CGROUP) starts in the cgroup.
    /// Needs root and a cgroup2 hierarchy.
    #[test]
    fn v2_clone_is_born_in_the_cgroup() {
        let Some((cg, _, created)) = scratch_v2_cgroup("born") else { return };
        let entry = cg.entry().unwrap();
        let directory = entry.directory().expect("v2 has a directory");
        let expected = format!("0::/berth-test/born-{}/c\n", std::process::id());
        let mut buf = [0u8; 4096];
        let result = crate::sys::process::clone_fork_into(0, directory);
        if let Ok((crate::sys::process::Forked::Child, _)) = result {
            // No allocation here: a raw clone runs none of glibc's fork handlers, so
            // malloc's lock may be held by another test's thread, forever in this child.
            // SAFETY: a NUL-terminated path and a buffer of ours; then leave at once.
            unsafe {
                let fd = libc::open(c"/proc/self/cgroup".as_ptr(), libc::O_RDONLY);
                let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
                let own = &buf[..usize::try_from(n).unwrap_or(0)];
                let ok = own.split_inclusive(|b| *b == b'\n').any(|l| l == expected.as_bytes());
                libc::_exit(if ok { 0 } else { 1 })
            }
        }
        let outcome = result.map(|(forked, born_inside)| {
            let crate::sys::process::Forked::Parent(pid) = forked else { unreachable!() };
            (nix::sys::wait::waitpid(pid, None), born_inside)
        });
        let removed = cg.remove_created(&created);
        let (status, born_inside) = outcome.unwrap();
        assert!(born_inside, "CLONE_INTO_CGROUP was not taken");
        let in_cgroup = matches!(status, Ok(nix::sys::wait::WaitStatus::Exited(_, 0)));
        assert!(in_cgroup, "the clone did not start in the cgroup: {status:?}");
        removed.unwrap();
    }

    /// create, entry, pids, freeze and remove on a real cgroup2 directory under berth-test
    /// (this host's hybrid `unified` mount, or the v2 root). Needs root.
    #[test]
    fn v2_lifecycle_in_the_kernel() {
        let Some((cg, parent, created)) = scratch_v2_cgroup("unit") else { return };
        let entry = cg.entry().unwrap();
        let mut sleep = std::process::Command::new("sleep");
        sleep.arg("10");
        // SAFETY: the forked child only writes to files it already has open.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut sleep, move || {
                entry.join_self(false).map_err(io::Error::other)
            })
        };
        let mut child = sleep.spawn().unwrap();
        let pid = child.id() as i32;
        let checks = (|| -> Result<(), CgroupError> {
            assert_eq!(cg.pids()?, [pid]);
            cg.freeze(true)?;
            assert!(cg.is_frozen());
            cg.freeze(false)?;
            assert!(!cg.is_frozen());
            let _ = cg.stats();
            Ok(())
        })();
        let _ = child.kill();
        let _ = child.wait();
        let removed = cg.remove_created(&created);
        checks.unwrap();
        removed.unwrap();
        assert!(!parent.exists());
    }
}
