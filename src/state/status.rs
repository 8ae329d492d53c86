//! The one owner of a container's status: its names, how it is derived, and which
//! operations each status allows (with the exact words runc-compatible callers match when
//! one is refused).

use std::fmt;

/// The lifecycle status of a container, as runc reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// An operation on an existing container whose allowed statuses [`Status::allows`] knows.
///
/// `state`, `list`, `ps` and `kill --all` accept every status and have no entry; a
/// container that is still being created is refused before any of these checks (its
/// state.json does not exist yet), except by `delete --force`, which removes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `start`: only a created container.
    Start,
    /// `kill` without `--all`: any container whose init lives.
    Kill,
    /// `delete`: a stopped or created container; any with `force`.
    Delete {
        /// `--force`.
        force: bool,
    },
    /// `pause`: a running or created container.
    Pause,
    /// `resume`: a paused container.
    Resume,
    /// `exec`: a created or running container; a paused one with `ignore_paused`.
    Exec {
        /// `--ignore-paused`.
        ignore_paused: bool,
    },
    /// `update`: any container whose init lives.
    Update,
    /// `events --stats`: any container whose init lives.
    Stats,
    /// `events`: any container whose init lives.
    Events,
    /// `checkpoint`: only a running container.
    Checkpoint,
}

impl Op {
    /// Whether the operation refuses only a stopped container: then whether its init lives
    /// (one read of /proc/<pid>/stat) decides, without looking at exec.fifo or the freezer.
    pub fn needs_only_liveness(self) -> bool {
        matches!(self, Op::Kill | Op::Update | Op::Stats | Op::Events)
    }
}

impl Status {
    /// runc's lowercase word for the status (`state`'s `status` field, error messages).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }

    /// The status of a container from three facts, each asked only when needed: whether
    /// its init is still the recorded process (and not a zombie), whether exec.fifo still
    /// exists (`start` removes it), and whether its cgroup (one berth made) is frozen.
    pub fn derive(
        alive: bool,
        fifo_present: impl FnOnce() -> bool,
        frozen: impl FnOnce() -> bool,
    ) -> Status {
        if !alive {
            return Status::Stopped;
        }
        let created = fifo_present();
        if frozen() {
            Status::Paused
        } else if created {
            Status::Created
        } else {
            Status::Running
        }
    }

    /// Whether this status allows `op`.
    pub fn allows(self, op: Op) -> bool {
        self.refusal(op).is_none()
    }

    /// Why this status refuses `op` (the words berth has always printed, after
    /// `container ID is STATUS: `), or `None` when it allows it.
    pub fn refusal(self, op: Op) -> Option<&'static str> {
        use Status::*;
        match (op, self) {
            (Op::Start, Created) => None,
            (Op::Start, Stopped) => Some("cannot start a container that has stopped"),
            (Op::Start, _) => Some("cannot start a container that is not created"),
            (Op::Kill, Stopped) => Some("container not running"),
            (Op::Kill, _) => None,
            (Op::Delete { .. }, Stopped | Created) | (Op::Delete { force: true }, _) => None,
            (Op::Delete { force: false }, _) => {
                Some("cannot delete a container that is not stopped (use --force)")
            }
            (Op::Pause, Running | Created) => None,
            (Op::Pause, _) => Some("only a running or created container can be paused"),
            (Op::Resume, Paused) => None,
            (Op::Resume, _) => Some("only a paused container can be resumed"),
            (Op::Exec { .. }, Created | Running) | (Op::Exec { ignore_paused: true }, Paused) => {
                None
            }
            (Op::Exec { .. }, Paused) => {
                Some("cannot exec in a paused container (use --ignore-paused to override)")
            }
            (Op::Exec { .. }, _) => Some("cannot exec in a container that is not running"),
            (Op::Update, Stopped) => Some("a stopped container cannot be updated"),
            (Op::Update, _) => None,
            (Op::Stats, Stopped) => Some("a stopped container has no stats"),
            (Op::Events, Stopped) => Some("a stopped container has no events"),
            (Op::Stats | Op::Events, _) => None,
            (Op::Checkpoint, Running) => None,
            (Op::Checkpoint, _) => Some("cannot checkpoint a container that is not running"),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Status {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Status::*;
    use super::*;

    const ALL: [Status; 5] = [Creating, Created, Running, Paused, Stopped];

    const OPS: [Op; 12] = [
        Op::Start,
        Op::Kill,
        Op::Delete { force: false },
        Op::Delete { force: true },
        Op::Pause,
        Op::Resume,
        Op::Exec { ignore_paused: false },
        Op::Exec { ignore_paused: true },
        Op::Update,
        Op::Stats,
        Op::Events,
        Op::Checkpoint,
    ];

    /// The refusal each operation gave before this type existed, status by status in the
    /// order of [`ALL`] (`-` allows), copied from each operation's own match.
    fn table(op: Op) -> [&'static str; 5] {
        const START_NOT_CREATED: &str = "cannot start a container that is not created";
        const NOT_STOPPED: &str = "cannot delete a container that is not stopped (use --force)";
        const PAUSE: &str = "only a running or created container can be paused";
        const RESUME: &str = "only a paused container can be resumed";
        const EXEC_NOT_RUNNING: &str = "cannot exec in a container that is not running";
        const EXEC_PAUSED: &str =
            "cannot exec in a paused container (use --ignore-paused to override)";
        match op {
            Op::Start => [
                START_NOT_CREATED,
                "-",
                START_NOT_CREATED,
                START_NOT_CREATED,
                "cannot start a container that has stopped",
            ],
            Op::Kill => ["-", "-", "-", "-", "container not running"],
            Op::Delete { force: false } => [NOT_STOPPED, "-", NOT_STOPPED, NOT_STOPPED, "-"],
            Op::Delete { force: true } => ["-"; 5],
            Op::Pause => [PAUSE, "-", "-", PAUSE, PAUSE],
            Op::Resume => [RESUME, RESUME, RESUME, "-", RESUME],
            Op::Exec { ignore_paused: false } => {
                [EXEC_NOT_RUNNING, "-", "-", EXEC_PAUSED, EXEC_NOT_RUNNING]
            }
            Op::Exec { ignore_paused: true } => [EXEC_NOT_RUNNING, "-", "-", "-", EXEC_NOT_RUNNING],
            Op::Update => ["-", "-", "-", "-", "a stopped container cannot be updated"],
            Op::Stats => ["-", "-", "-", "-", "a stopped container has no stats"],
            Op::Events => ["-", "-", "-", "-", "a stopped container has no events"],
            Op::Checkpoint => {
                const NOT_RUNNING: &str = "cannot checkpoint a container that is not running";
                [NOT_RUNNING, NOT_RUNNING, "-", NOT_RUNNING, NOT_RUNNING]
            }
        }
    }

    #[test]
    fn every_operation_refuses_with_the_same_words_as_before() {
        for op in OPS {
            for (status, want) in ALL.into_iter().zip(table(op)) {
                let got = status.refusal(op).unwrap_or("-");
                assert_eq!(got, want, "{op:?} on a {status} container");
                assert_eq!(status.allows(op), want == "-", "{op:?} on a {status} container");
            }
        }
    }

    #[test]
    fn liveness_alone_decides_the_operations_that_say_so() {
        for op in OPS {
            let only_stopped = ALL.iter().all(|s| s.allows(op) == (*s != Stopped));
            assert_eq!(op.needs_only_liveness(), only_stopped, "{op:?}");
        }
    }

    #[test]
    fn names_are_runcs_words_in_display_and_json() {
        let words = ["creating", "created", "running", "paused", "stopped"];
        for (status, word) in ALL.into_iter().zip(words) {
            assert_eq!(status.to_string(), word);
            assert_eq!(serde_json::to_string(&status).unwrap(), format!("\"{word}\""));
        }
    }

    #[test]
    fn derived_from_life_fifo_and_freezer() {
        let never = || -> bool { panic!("asked although the init is gone") };
        assert_eq!(Status::derive(false, never, never), Stopped);
        assert_eq!(Status::derive(true, || true, || false), Created);
        assert_eq!(Status::derive(true, || false, || false), Running);
        assert_eq!(Status::derive(true, || true, || true), Paused);
        assert_eq!(Status::derive(true, || false, || true), Paused);
    }
}
