//! Integration tests: each test builds a busybox bundle in its own temp dir, drives the real
//! binary with its own `--root`, reads facts a probe reports from inside the container, and
//! asserts on the host. Nothing may be left behind: the `TestEnv` guard checks that on drop.
//!
//! The binary is `target/<profile>/berth` unless `BERTH_BIN` names another (e.g. `runc`, to
//! check the tests themselves against a reference runtime). Needs root.

mod harness;

mod bounds;
mod buildah;
mod cgroup_ownership;
mod cgroups;
mod checkpoint;
mod cli;
mod cli_compat;
mod clone_setup;
mod compat;
mod concurrency;
mod conformance;
mod containerd;
mod containerd_daemon;
mod cri;
mod crio_argv;
mod cve;
mod docker;
mod docker_more;
mod errors;
mod exec;
mod exec_paths;
mod faults;
mod features;
mod hooks;
mod hostile;
mod isolation;
mod join;
mod kill;
mod knobs;
mod lifecycle;
mod list;
mod namespaces;
mod nopivot_frozen;
mod operator;
mod operator_deb;
mod operator_install;
mod podman;
mod procfs_safety;
mod rootless;
mod rootless_more;
mod run;
mod scale;
mod sd_notify;
mod seccomp;
mod seccomp_notify;
mod seccomp_profiles;
mod soak;
mod spec_exact;
mod state_scale;
mod status;
mod suite_cgroups;
mod suite_found;
mod suite_misc;
mod systemd_driver;
mod tmpcopyup;
mod trace;
mod tty;
mod typed_build;
mod validate_sections;
mod vm;
mod vm_criu;
mod vm_systemd;
mod vm_systemd_user;
