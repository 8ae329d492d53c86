//! berth — a fast, runc-compatible OCI container runtime.
//!
//! # Layers
//! The binary's `cli` (src/cli/) parses flags and is the only code that prints. It calls one
//! operation of [`container`], which calls the concern modules, which call the thin syscall
//! wrappers of [`sys`] (raw libc stays there, each call with a SAFETY comment). See DESIGN.md
//! in the project's shared folder for the reasons.
//!
//! # Operations ([`container`])
//! `create` (create.rs), `start`, `run` (create + start + wait), `exec`, `kill`, `delete`,
//! `state`/`list`/`ps` (query.rs), `pause`/`resume`/`update`/`events` (cgroup_ops.rs),
//! `checkpoint` and `restore` (through criu, [`checkpoint`]); rootless detection for all of
//! them in container/rootless.rs.
//!
//! # Concern modules
//! - [`spec`]: config.json loaded, validated once and built into a [`spec::ValidSpec`] of
//!   typed values (mount options parsed, devices as [`spec::Device`] nodes the clone only
//!   makes). One entry point, one file per config
//!   section under `spec/validate/`, is called by `create`, `exec` and `berth check`, so they
//!   say the same thing; host facts come in through [`spec::HostFacts`];
//!   [`spec::NAMESPACES`] is the one table of namespace kinds.
//! - [`state`]: the state directory of each container, and [`state::Status`], the one owner of
//!   a container's status: its words, how it is derived, which [`state::Op`] it allows and the
//!   refusal each operation prints.
//! - [`process`]: the container's processes, split by side. [`process::parent`] clones and
//!   walks the protocol ([`process::parent::follow`]), having decided before the clone
//!   whether the clone must wait for its setup at all (`process::parent::setup`);
//!   [`process::child`] is the clone (first stage, the init's named steps in
//!   [`process::child::init`], [`process::child::program`]: PATH lookup and execve through
//!   the exec shim); [`process::sync`] is the protocol between
//!   them, written once; [`process::ProcessError`] the parent side's one error (its
//!   own setup of the clone failing as a [`process::SetupError`]).
//! - [`namespaces`], [`rootfs`] (mounts, pivot_root, devices, masked and read-only paths),
//!   [`cgroups`] (v1, v2, and with `--systemd-cgroup` a transient unit over berth's own D-Bus
//!   client [`sys::dbus`], [`cgroups::systemd`]; [`cgroups::values`] parses the text of
//!   `linux.resources` for both the spec's check and the apply), [`capabilities`], [`seccomp`] (arch tables,
//!   compile, on-disk cache, notify, the ENOSYS prologue), [`hooks`], [`tty`], [`rootless`]
//!   and [`subid`] (unprivileged callers, subordinate ids).
//! - [`notify`]: the sd_notify relay (`NOTIFY_SOCKET`): `create` mounts a socket directory
//!   into the container, `start` and `run` pass its `READY=1` on to the host's socket.
//! - [`host`]: what the host offers ([`host::Probe`] answers [`spec::HostFacts`]) and the
//!   modules that apply host features: LSM labels, network devices, Intel RDT, `features`.
//! - [`trace`]: named phases of create, exec, run, checkpoint and restore, traced with
//!   `--debug`/BERTH_TRACE and, built with the `fault-injection` feature, fault points;
//!   [`logging`] writes the records.
//! - [`error`]: [`Error`] gathers each layer's error at the top; [`causes`] (a leaf) flattens
//!   a cause chain onto one bounded line.
//!
//! The process model: `create` clones straight into the container init (never re-executing
//! the runtime), the init walks its steps and then blocks on `<root>/<id>/exec.fifo` until
//! `start` opens it.

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
pub mod notify;
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
