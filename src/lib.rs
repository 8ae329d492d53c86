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
pub mod cgroups;
pub mod container;
pub mod error;
pub mod fault;
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
pub mod tty;

pub use error::Error;

/// The OCI runtime specification version berth implements.
pub const OCI_VERSION: &str = "1.2.0";
