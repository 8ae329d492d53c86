//! The state store: `<root>/<id>/state.json`, a per-id lock, and the container status
//! derived from the stored pid and its start time. Knows files, not processes (it reads
//! `/proc/<pid>/stat` only to tell whether the stored process is still the same one).

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod cgroup_check;
mod proc;
mod status;
#[cfg(test)]
pub(crate) mod tempdir;
mod time;

pub use cgroup_check::{check_cgroup_paths, CgroupPathCheck, ProvenCgroup, Unproven};
pub use proc::{alive, exec_stat, process_start_time, process_stat, status, ExecStat, ProcStat};
pub use status::{Op, Status};
pub use time::now_rfc3339;

/// The file that holds a container's [`State`].
const STATE_FILE: &str = "state.json";
/// Where [`ContainerDir::save`] writes before renaming over [`STATE_FILE`].
const STATE_TMP_FILE: &str = "state.json.tmp";
/// The container's cgroup, recorded before it is created: all `delete --force` has to go on
/// when `create` died before writing [`STATE_FILE`].
const CGROUP_FILE: &str = "cgroup.json";
/// Appended to a container directory's name while it is removed; `~` is never in an id.
const REMOVING_SUFFIX: &str = "~removing";
/// The longest container id accepted: it names a directory, and NAME_MAX is 255.
const MAX_ID_LEN: usize = 255;

/// A state-store failure.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The id is not acceptable as a container id.
    #[error("invalid container id {id:?}: {reason}")]
    InvalidId {
        /// The id given.
        id: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// `create` of an id that is already in the store.
    #[error("container with given ID already exists: {0}")]
    AlreadyExists(String),
    /// An id that is not in the store.
    #[error("container {0} does not exist")]
    NotFound(String),
    /// The container's directory exists but its state.json does not yet: `create` is running
    /// (or died before writing it).
    #[error("container {0} is still being created")]
    Creating(String),
    /// A file or directory operation on the store failed.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// state.json exists but cannot be parsed.
    #[error("parsing {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// serde's message.
        message: String,
    },
}

/// A validated container id: non-empty, at most 255 bytes, letters, digits and `_+-.`,
/// not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// Checks `id` and wraps it.
    pub fn parse(id: &str) -> Result<Self, StateError> {
        let refuse = |reason| Err(StateError::InvalidId { id: id.to_owned(), reason });
        if id.is_empty() {
            return refuse("it is empty");
        }
        if id.len() > MAX_ID_LEN {
            return refuse("it is longer than 255 bytes (a directory name)");
        }
        if id == "." || id == ".." {
            return refuse("it names a directory of the store, not a container");
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.');
        if !id.bytes().all(allowed) {
            return refuse("only letters, digits and _+-. are allowed");
        }
        Ok(ContainerId(id.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where a container directory keeps the fifo its init waits on until `start`.
fn fifo_in(dir: &Path) -> PathBuf {
    dir.join("exec.fifo")
}

/// What state.json holds: runc's `state` output fields plus what berth needs to
/// recognise its process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// OCI spec version of the bundle.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// Container id.
    pub id: String,
    /// Host pid of the container init.
    pub pid: i32,
    /// Start time of `pid` (field 22 of /proc/<pid>/stat), to detect pid reuse.
    pub pid_start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 in UTC with nanoseconds.
    pub created: String,
    /// Owner (empty for root, as runc).
    pub owner: String,
    /// The config's annotations.
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup directories: per v1 controller, or `unified` on v2. Read
    /// through [`State::cgroup`], which proves them.
    #[serde(default, skip_serializing_if = "Unproven::<BTreeMap<String, PathBuf>>::is_empty")]
    pub cgroup_paths: Unproven<BTreeMap<String, PathBuf>>,
    /// The cgroup directories berth made for the container, parents first. Only these are
    /// removed, and the cgroup is berth's to kill in and freeze only when its own
    /// directories are among them (a cgroup that existed before may hold host processes).
    #[serde(default, skip_serializing_if = "Unproven::<Vec<PathBuf>>::is_none_made")]
    pub cgroup_created: Unproven<Vec<PathBuf>>,
    /// `hooks.poststart`, run by `start`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststart: Vec<crate::spec::Hook>,
    /// `hooks.poststop`, run by `delete`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poststop: Vec<crate::spec::Hook>,
    /// The resctrl group berth created for `linux.intelRdt`, removed by `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt_path: Option<PathBuf>,
    /// The systemd unit holding the container's cgroup (`--systemd-cgroup`), stopped by
    /// `delete`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

impl State {
    /// The recorded cgroup, every directory proven to lie below a cgroup mount: what
    /// `delete` removes, `kill --all` signals in, `pause` freezes and `exec` joins. A state
    /// file berth did not write is refused here, naming the field.
    pub fn cgroup(&self) -> Result<ProvenCgroup<'_>, StateError> {
        ProvenCgroup::prove(self.cgroup_paths.unproven(), self.cgroup_created.unproven())
            .map_err(|message| StateError::Corrupt { path: STATE_FILE.into(), message })
    }

    /// The recorded cgroup's own directories, proven as by [`State::cgroup`]: all `exec`
    /// needs to join it. The directories berth made (its parents too) are not proven here,
    /// and not handed out: nothing that removes or freezes may start from this.
    pub fn cgroup_dirs(&self) -> Result<&BTreeMap<String, PathBuf>, StateError> {
        let proven = ProvenCgroup::prove(self.cgroup_paths.unproven(), &[])
            .map_err(|message| StateError::Corrupt { path: STATE_FILE.into(), message })?;
        Ok(proven.paths)
    }

    /// The one directory of the recorded cgroup that tells whether it is frozen, as a
    /// one-entry cgroup map, when berth made the cgroup and `check` proves the directory
    /// (see the `cgroup_check` module).
    pub fn freezer_cgroup(&self, check: &mut CgroupPathCheck) -> Option<BTreeMap<String, PathBuf>> {
        cgroup_check::proven_freezer_dir(
            self.cgroup_paths.unproven(),
            self.cgroup_created.unproven(),
            check,
        )
    }

    /// Records the cgroup berth made for the container.
    pub fn set_cgroup(&mut self, record: &CgroupRecord) {
        self.cgroup_paths = Unproven::new(record.paths.clone());
        self.cgroup_created = Unproven::new(record.created.clone());
    }
}

/// What a `create` records before state.json exists, so that `delete --force` after its
/// death knows what to undo and what to spare.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupRecord {
    /// The container's cgroup directories, as in [`State::cgroup_paths`].
    pub paths: BTreeMap<String, PathBuf>,
    /// The directories made so far, as in [`State::cgroup_created`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created: Vec<PathBuf>,
    /// The init's pid and start time, once it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<(i32, u64)>,
    /// The systemd unit of the cgroup, once systemd has it (`--systemd-cgroup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub systemd_unit: Option<String>,
}

/// The store rooted at `--root`.
#[derive(Debug, Clone)]
pub struct StateStore {
    root: PathBuf,
}

/// One container's directory, held under an exclusive lock for as long as it lives.
#[derive(Debug)]
pub struct ContainerDir {
    path: PathBuf,
    id: ContainerId,
    _lock: File,
}

impl std::fmt::Display for ContainerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io { what, path, source }
}

impl StateStore {
    /// A store at `root` (created on first use with mode 0700).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateStore { root: root.into() }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `exec.fifo` of container `id`, for readers that do not take its lock.
    pub fn fifo_path(&self, id: &ContainerId) -> PathBuf {
        fifo_in(&self.root.join(id.as_str()))
    }

    fn dir_of(&self, id: &ContainerId) -> PathBuf {
        self.root.join(id.as_str())
    }

    /// Creates and locks the directory of a new container; `AlreadyExists` if the id is taken.
    pub fn create(&self, id: &ContainerId) -> Result<ContainerDir, StateError> {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(io_err("creating state root", &self.root))?;
        let path = self.dir_of(id);
        // The exclusive mkdir is what makes an id taken; 0711 as runc, so that processes of
        // other users can reach exec.fifo without listing the directory.
        match DirBuilder::new().mode(0o711).create(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(StateError::AlreadyExists(id.to_string()))
            }
            Err(e) => return Err(io_err("creating container directory", &path)(e)),
        }
        match lock_dir(&path) {
            Ok(lock) => Ok(ContainerDir { path, id: id.clone(), _lock: lock }),
            Err(e) => {
                // Leaving the directory would make the id taken for good; the lock error
                // is the one to report.
                let _ = fs::remove_dir(&path);
                Err(e)
            }
        }
    }

    /// Locks the directory of an existing container; `NotFound` if there is none.
    pub fn open(&self, id: &ContainerId) -> Result<ContainerDir, StateError> {
        let path = self.dir_of(id);
        let lock = match lock_dir(&path) {
            Err(StateError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Err(StateError::NotFound(id.to_string()))
            }
            other => other?,
        };
        // Whoever held the lock before us may have deleted the container meanwhile.
        let meta = lock.metadata().map_err(io_err("stat of container directory", &path))?;
        if meta.nlink() == 0 {
            return Err(StateError::NotFound(id.to_string()));
        }
        Ok(ContainerDir { path, id: id.clone(), _lock: lock })
    }

    /// Reads a container's state without taking its lock (state.json is replaced atomically).
    pub fn read(&self, id: &ContainerId) -> Result<State, StateError> {
        read_state(&self.dir_of(id), id)
    }

    /// The ids of all containers in the store, sorted.
    pub fn list(&self) -> Result<Vec<ContainerId>, StateError> {
        let entries = match fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("listing state root", &self.root)(e)),
        };
        let mut ids = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_err("listing state root", &self.root))?;
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            let id = entry.file_name().to_str().and_then(|name| ContainerId::parse(name).ok());
            if let (true, Some(id)) = (is_dir, id) {
                ids.push(id);
            }
        }
        ids.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(ids)
    }
}

/// Opens `path` as a directory and takes an exclusive `flock` on it, waiting for it.
fn lock_dir(path: &Path) -> Result<File, StateError> {
    let dir = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(path)
        .map_err(io_err("opening container directory", path))?;
    // flock(2): https://man7.org/linux/man-pages/man2/flock.2.html
    loop {
        match crate::sys::file::lock_exclusive(dir.as_fd()) {
            Ok(()) => return Ok(dir),
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(io_err("locking container directory", path)(errno.into())),
        }
    }
}

/// Reads `<dir>/state.json`, telling a missing container from one still being created. The
/// recorded cgroup is proven only where it is used ([`State::cgroup`]).
fn read_state(dir: &Path, id: &ContainerId) -> Result<State, StateError> {
    let path = dir.join(STATE_FILE);
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(match fs::symlink_metadata(dir) {
                Ok(_) => StateError::Creating(id.to_string()),
                Err(_) => StateError::NotFound(id.to_string()),
            })
        }
        Err(e) => return Err(io_err("reading", &path)(e)),
    };
    let state: State = serde_json::from_slice(&bytes)
        .map_err(|e| StateError::Corrupt { path: path.clone(), message: e.to_string() })?;
    check_resctrl_path(state.intel_rdt_path.as_deref())
        .map_err(|message| StateError::Corrupt { path, message })?;
    Ok(state)
}

/// Refuses a recorded resctrl group that is not a group directly in the resctrl mount.
fn check_resctrl_path(group: Option<&Path>) -> Result<(), String> {
    let Some(group) = group else { return Ok(()) };
    let root = PathBuf::from(crate::host::resctrl::RESCTRL);
    if cgroup_check::strictly_below(group, std::slice::from_ref(&root))
        && group.parent() == Some(&root)
    {
        return Ok(());
    }
    Err(format!("intel_rdt_path: {group:?} is not a group in {}", root.display()))
}

impl ContainerDir {
    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container id.
    pub fn id(&self) -> &ContainerId {
        &self.id
    }

    /// `exec.fifo`, which the init blocks on until `start`.
    pub fn fifo_path(&self) -> PathBuf {
        fifo_in(&self.path)
    }

    /// Writes state.json: temp file, fsync, rename.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let tmp = self.path.join(STATE_TMP_FILE);
        let json = serde_json::to_vec(state).expect("State always serializes");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err("creating", &tmp))?;
        file.write_all(&json).map_err(io_err("writing", &tmp))?;
        file.sync_all().map_err(io_err("syncing", &tmp))?;
        // The directory is not fsynced: the store lives on /run (tmpfs) and does not outlive
        // a reboot, so only the atomicity of the rename matters.
        let path = self.path.join(STATE_FILE);
        fs::rename(&tmp, &path).map_err(io_err("replacing", &path))
    }

    /// Records what `create` has made so far (temp file and rename, no fsync: it only has
    /// to outlive a crash of the runtime, not of the host).
    pub fn save_cgroup(&self, record: &CgroupRecord) -> Result<(), StateError> {
        let path = self.path.join(CGROUP_FILE);
        let tmp = self.path.join(format!("{CGROUP_FILE}.tmp"));
        let json = serde_json::to_vec(record).expect("a record always serializes");
        fs::write(&tmp, json).map_err(io_err("writing", &tmp))?;
        fs::rename(&tmp, &path).map_err(io_err("replacing", &path))
    }

    /// The cgroup recorded by [`ContainerDir::save_cgroup`], if `create` got that far.
    pub fn load_cgroup(&self) -> Result<Option<CgroupRecord>, StateError> {
        let path = self.path.join(CGROUP_FILE);
        match fs::read(&path) {
            Ok(bytes) => {
                let record: CgroupRecord = serde_json::from_slice(&bytes).map_err(|e| {
                    StateError::Corrupt { path: path.clone(), message: e.to_string() }
                })?;
                cgroup_check::check_recorded_cgroups(&record.paths, &record.created)
                    .map_err(|message| StateError::Corrupt { path, message })?;
                Ok(Some(record))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("reading", &path)(e)),
        }
    }

    /// Reads state.json.
    pub fn load(&self) -> Result<State, StateError> {
        read_state(&self.path, &self.id)
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        // Renamed out of the way first (to a name no id can have), so that a lock-free
        // reader sees the container whole or not at all, never a directory whose state.json
        // is already gone (which reads as "creating"). Should the name be taken by a removal
        // that died, the directory goes where it is.
        let doomed = self.path.with_file_name(format!("{}{REMOVING_SUFFIX}", self.id.as_str()));
        let path = if fs::rename(&self.path, &doomed).is_ok() { &doomed } else { &self.path };
        match fs::remove_dir_all(path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(io_err("removing container directory", &self.path)(e))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::tempdir::TempDir;
    use super::*;

    fn id(s: &str) -> ContainerId {
        ContainerId::parse(s).unwrap()
    }

    fn sample_state(id: &str) -> State {
        State {
            oci_version: crate::OCI_VERSION.into(),
            id: id.into(),
            pid: 4242,
            pid_start_time: 99,
            bundle: "/bundles/a".into(),
            rootfs: "/bundles/a/rootfs".into(),
            created: "2026-11-25T14:00:00.123456789Z".into(),
            owner: String::new(),
            annotations: HashMap::from([("k".to_owned(), "v".to_owned())]),
            cgroup_paths: Unproven::new(BTreeMap::from([(
                "memory".to_owned(),
                "/sys/fs/cgroup/memory/x".into(),
            )])),
            cgroup_created: Unproven::new(vec!["/sys/fs/cgroup/memory/x".into()]),
            poststart: vec![],
            poststop: vec![],
            intel_rdt_path: None,
            systemd_unit: None,
        }
    }

    #[test]
    fn accepts_good_ids() {
        for good in ["a", "abc-123_x.y+z", "A.", "..a", "a..", &"x".repeat(255)] {
            assert_eq!(id(good).as_str(), good);
        }
    }

    #[test]
    fn refuses_bad_ids() {
        let long = "x".repeat(256);
        for bad in ["", ".", "..", "a/b", "/a", "a b", "a\0b", "é", "a:b", long.as_str()] {
            assert!(
                matches!(ContainerId::parse(bad), Err(StateError::InvalidId { .. })),
                "{bad:?} was accepted"
            );
        }
    }

    #[test]
    fn save_load_round_trip() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path().join("root"));
        let dir = store.create(&id("c1")).unwrap();
        assert!(matches!(dir.load(), Err(StateError::Creating(_))));
        assert!(matches!(store.read(&id("c1")), Err(StateError::Creating(_))));
        let state = sample_state("c1");
        dir.save(&state).unwrap();
        dir.save(&state).unwrap();
        assert_eq!(dir.load().unwrap(), state);
        assert_eq!(store.read(&id("c1")).unwrap(), state);
        assert!(!dir.path().join(STATE_TMP_FILE).exists());
        let mode = fs::metadata(store.root()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn create_twice_is_already_exists() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path());
        let _held = store.create(&id("dup")).unwrap();
        assert!(
            matches!(store.create(&id("dup")), Err(StateError::AlreadyExists(i)) if i == "dup")
        );
    }

    #[test]
    fn missing_container_is_not_found() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path().join("never-created"));
        assert!(matches!(store.open(&id("nope")), Err(StateError::NotFound(_))));
        assert!(matches!(store.read(&id("nope")), Err(StateError::NotFound(_))));
        assert_eq!(store.list().unwrap(), Vec::<ContainerId>::new());
    }

    #[test]
    fn open_after_remove_is_not_found() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path());
        let dir = store.create(&id("gone")).unwrap();
        dir.save(&sample_state("gone")).unwrap();
        dir.remove().unwrap();
        assert!(matches!(store.open(&id("gone")), Err(StateError::NotFound(_))));
    }

    #[test]
    fn remove_leaves_nothing_even_beside_a_dead_removal() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path());
        let dir = store.create(&id("twice")).unwrap();
        dir.save(&sample_state("twice")).unwrap();
        dir.remove().unwrap();
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        // A removal that died left its renamed directory: the next one still works.
        let stale = tmp.path().join(format!("twice{REMOVING_SUFFIX}"));
        fs::create_dir(&stale).unwrap();
        fs::write(stale.join("state.json"), b"{}").unwrap();
        let dir = store.create(&id("twice")).unwrap();
        dir.remove().unwrap();
        assert!(matches!(store.read(&id("twice")), Err(StateError::NotFound(_))));
        assert_eq!(store.list().unwrap(), Vec::<ContainerId>::new());
    }

    #[test]
    fn open_waits_for_the_lock() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path());
        let dir = store.create(&id("locked")).unwrap();
        dir.save(&sample_state("locked")).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let other = store.clone();
        let waiter = std::thread::spawn(move || {
            let opened = other.open(&id("locked"));
            tx.send(()).unwrap();
            opened.map(|d| d.load().unwrap())
        });
        let waited = rx.recv_timeout(std::time::Duration::from_millis(100));
        assert!(waited.is_err(), "open did not wait for the lock");
        drop(dir);
        assert_eq!(waiter.join().unwrap().unwrap(), sample_state("locked"));
    }

    #[test]
    fn list_is_sorted_and_skips_strangers() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path());
        for name in ["b", "a", "c.1"] {
            store.create(&id(name)).unwrap();
        }
        fs::write(tmp.path().join("file"), b"").unwrap();
        fs::create_dir(tmp.path().join("bad name")).unwrap();
        let names: Vec<String> = store.list().unwrap().iter().map(|i| i.to_string()).collect();
        assert_eq!(names, ["a", "b", "c.1"]);
    }

    #[test]
    fn cgroup_record_round_trip() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path());
        let dir = store.create(&id("half")).unwrap();
        assert_eq!(dir.load_cgroup().unwrap(), None);
        let state = sample_state("half");
        let record = CgroupRecord {
            paths: state.cgroup_paths.unproven().clone(),
            created: state.cgroup_created.unproven().clone(),
            init: Some((state.pid, state.pid_start_time)),
            systemd_unit: None,
        };
        dir.save_cgroup(&record).unwrap();
        assert_eq!(dir.load_cgroup().unwrap(), Some(record));
        assert!(matches!(dir.load(), Err(StateError::Creating(_))));
    }

    #[test]
    fn recorded_cgroups_must_be_below_a_cgroup_mount() {
        let mounts = [PathBuf::from("/sys/fs/cgroup/memory")];
        let paths = |p: &str| BTreeMap::from([("memory".to_owned(), PathBuf::from(p))]);
        let check = |p: &str, created: &[&str]| {
            let created: Vec<PathBuf> = created.iter().map(PathBuf::from).collect();
            check_cgroup_paths(&paths(p), &created, |p| cgroup_check::strictly_below(p, &mounts))
        };
        let ok = "/sys/fs/cgroup/memory/a/b";
        assert_eq!(check(ok, &[ok, "/sys/fs/cgroup/memory/a"]), Ok(()));
        // A `.` part is the same directory (Path compares and walks without it).
        assert_eq!(check("/sys/fs/cgroup/memory/./a", &[]), Ok(()));
        for (path, created) in [
            ("/tmp/x", &[][..]),
            ("/sys/fs/cgroup/memory", &[]),
            ("/sys/fs/cgroup/memory/../../../tmp", &[]),
            ("sys/fs/cgroup/memory/a", &[]),
            (ok, &["/sys/fs/cgroup/memory/other"]),
            (ok, &["/sys/fs/cgroup/memory"]),
            (ok, &["/tmp"]),
        ] {
            assert!(check(path, created).is_err(), "{path} {created:?} accepted");
        }
        assert!(check_resctrl_path(Some(Path::new("/sys/fs/resctrl/g"))).is_ok());
        for bad in ["/sys/fs/resctrl", "/sys/fs/resctrl/g/h", "/sys/fs/resctrl/../x", "/tmp/g"] {
            assert!(check_resctrl_path(Some(Path::new(bad))).is_err(), "{bad}");
        }
    }

    #[test]
    fn corrupt_state_is_reported() {
        let tmp = TempDir::new("state");
        let store = StateStore::new(tmp.path());
        let dir = store.create(&id("bad")).unwrap();
        fs::write(dir.path().join(STATE_FILE), b"{").unwrap();
        assert!(matches!(dir.load(), Err(StateError::Corrupt { .. })));
    }
}
