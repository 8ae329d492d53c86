//! berth — a fast, runc-compatible OCI container runtime.
//!
//! The path of a container (see DESIGN.md in the project's shared folder):
//! `cli` parses flags and is the only code that prints; [`container`] holds the operations
//! (create, start, state, kill, delete, run, list); they call the concern modules
//! ([`spec`], [`state`], [`process`], [`namespaces`], [`rootfs`], [`cgroups`], [`capabilities`]) which
//! call thin syscall wrappers in [`sys`].
//!
//! The process model: `create` clones straight into the container init (never re-executing
//! the runtime), the init walks a linear list of named steps ([`process::child::init`]) and then
//! blocks on `<root>/<id>/exec.fifo` until `start` opens it. [`process`] is split by side:
//! [`process::parent`] (spawn, the walk through the protocol in [`process::parent::follow`],
//! the init's last reports, signals of a foreground `run`/`exec`) and [`process::child`]
//! (the clone: first stage, init steps, [`process::child::program`] = PATH lookup + execve
//! through the exec shim); [`process::sync`] is the protocol between them, written once,
//! and [`process::ProcessError`] the parent side's one error.
//!
//! Errors: each layer has its own error type; [`error::Error`] gathers them at the top, and
//! [`causes`] (a leaf every layer may use) flattens a cause chain onto one bounded line.
//!
//! A container's status has one owner, [`state::Status`]: its words, how it is derived (init
//! alive, exec.fifo present, cgroup frozen) and which operation ([`state::Op`]) each status
//! allows, with the refusal every operation prints. Tracing is one system, [`trace`]: each
//! named point of the create path is a traced phase and, built with the `fault-injection`
//! feature, a fault point; [`logging`] writes the records. Raw syscalls stay in [`sys`]
//! (the terminal's in [`sys::tty`], the state store's lock and statx in [`sys::file`]).
//!
//! A config is validated once, by [`spec`]'s one entry point (one file per config section
//! under `spec/validate/`), which `create`, `exec` and `berth check` all call: check lists
//! every problem, create refuses on the first, so they say the same thing. What the host
//! offers (kernel namespaces, LSMs, cgroup controllers, libseccomp, network devices,
//! resctrl) reaches those checks through [`spec::HostFacts`], answered by [`host::Probe`];
//! [`host`] also holds the modules that apply those host features (LSM labels, network
//! devices, Intel RDT) and `berth features`. [`spec::NAMESPACES`] is the one table of
//! namespace kinds (config name, clone flag, /proc/self/ns file).
//!
//! Cgroups are cgroupfs directories berth makes, or with `--systemd-cgroup` a transient unit
//! systemd makes ([`cgroups::systemd`], over berth's own blocking D-Bus client [`sys::dbus`]),
//! whose files are then written the same way.

pub mod capabilities;
pub mod causes;
pub mod cgroups;
pub mod checkpoint;
pub mod container;
pub mod error;
pub mod hooks;
pub mod host;
pub mod logging;
pub mod namespaces;
pub mod process;
pub mod rootfs;
pub mod rootless;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod subid;
pub mod sys;
pub mod trace;
pub mod tty;

pub use error::Error;

/// The OCI runtime specification version berth implements.
pub const OCI_VERSION: &str = "1.2.0";
