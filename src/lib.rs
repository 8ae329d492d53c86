//! berth — a fast, runc-compatible OCI container runtime.
//!
//! The path of a container (see DESIGN.md in the project's shared folder):
//! `cli` parses flags and is the only code that prints; [`container`] holds the operations
//! (create, start, state, kill, delete, run, list); they call the concern modules
//! ([`spec`], [`state`], [`process`], [`namespaces`], [`rootfs`], [`cgroups`], [`capabilities`]) which
//! call thin syscall wrappers in [`sys`].
//!
//! The process model: `create` clones straight into the container init (never re-executing
//! the runtime), the init walks a linear list of named steps ([`process::init`]) and then
//! blocks on `<root>/<id>/exec.fifo` until `start` opens it.
//!
//! Cgroups are cgroupfs directories berth makes, or with `--systemd-cgroup` a transient unit
//! systemd makes ([`cgroups::systemd`], over berth's own blocking D-Bus client [`sys::dbus`]),
//! whose files are then written the same way.

pub mod capabilities;
pub mod cgroups;
pub mod checkpoint;
pub mod container;
pub mod error;
pub mod fault;
pub mod features;
pub mod hooks;
pub mod logging;
pub mod lsm;
pub mod namespaces;
pub mod netdev;
pub mod process;
pub mod resctrl;
pub mod rootfs;
pub mod rootless;
pub mod seccomp;
pub mod spec;
pub mod state;
pub mod subid;
pub mod sys;
pub mod tty;

pub use error::Error;

/// The OCI runtime specification version berth implements.
pub const OCI_VERSION: &str = "1.2.0";
