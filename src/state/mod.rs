//! The state store: `<root>/<id>/state.json`, a per-id lock, and the container status
//! derived from the stored pid and its start time. Knows files, not processes (it reads
//! `/proc/<pid>/stat` only to tell whether the stored process is still the same one).

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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
    #[error("container {0} already exists")]
    AlreadyExists(String),
    /// The container's directory exists but `create` has not written state.json yet.
    #[error("container {0} is still being created")]
    Creating(String),
    /// An id that is not in the store.
    #[error("container {0} does not exist")]
    NotFound(String),
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

/// A validated container id: non-empty, at most 1024 bytes, letters, digits and `_+-.`,
/// not `.` or `..`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContainerId(String);

impl ContainerId {
    /// Checks `id` and wraps it.
    pub fn parse(id: &str) -> Result<Self, StateError> {
        let _ = id;
        todo!("ContainerId::parse")
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The lifecycle status of a container, as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The runtime is still creating it (no state.json yet).
    Creating,
    /// Created; the init waits for `start`.
    Created,
    /// The user process runs.
    Running,
    /// Frozen by the cgroup freezer.
    Paused,
    /// The init has exited.
    Stopped,
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

impl StateStore {
    /// A store at `root` (created on first use with mode 0700).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StateStore { root: root.into() }
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates and locks the directory of a new container; `AlreadyExists` if the id is taken.
    pub fn create(&self, id: &ContainerId) -> Result<ContainerDir, StateError> {
        let _ = id;
        todo!()
    }

    /// Locks the directory of an existing container; `NotFound` if there is none.
    pub fn open(&self, id: &ContainerId) -> Result<ContainerDir, StateError> {
        let _ = id;
        todo!()
    }

    /// Reads a container's state without taking its lock (state.json is replaced atomically).
    pub fn read(&self, id: &ContainerId) -> Result<State, StateError> {
        let _ = id;
        todo!()
    }

    /// The ids of all containers in the store, sorted.
    pub fn list(&self) -> Result<Vec<ContainerId>, StateError> {
        todo!()
    }
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
        self.path.join("exec.fifo")
    }

    /// Writes state.json: temp file, fsync, rename.
    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let _ = state;
        todo!()
    }

    /// Reads state.json.
    pub fn load(&self) -> Result<State, StateError> {
        todo!()
    }

    /// Removes the directory and everything in it.
    pub fn remove(self) -> Result<(), StateError> {
        todo!()
    }
}

/// The status of the container described by `state`: `Stopped` when its pid is gone or is
/// now another process, `Created` while `exec.fifo` still exists, else `Running`.
pub fn status(state: &State, fifo: &Path) -> Status {
    let _ = (state, fifo);
    todo!()
}

/// Start time (field 22 of /proc/<pid>/stat, in clock ticks since boot) of `pid`, if it lives.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let _ = pid;
    todo!()
}

/// The current UTC time as RFC 3339 with nanoseconds.
pub fn now_rfc3339() -> String {
    todo!()
}
