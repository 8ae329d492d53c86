//! Checkpoint and restore with criu in the systemd guest (tests/vm/drivers/criu.sh): Debian's
//! 6.1 cloud kernel, where criu 3.17's `criu check` passes (it fails on this project's host
//! kernel). berth and Debian's runc 1.1.5 run the same scenarios with the same bundles and
//! flags: a counter checkpointed and restored (the count continues), `--leave-running` and a
//! restore under another id, `--pre-dump` then a final dump with `--parent-path`, a terminal
//! container with `--shell-job` and a console socket, and failure cases. berth alone, traced
//! (BERTH_TRACE): a checkpoint and a restore name their phases, and `criu check` runs only
//! while the state root holds no verdict for this criu and kernel (`@criu-check`).

use std::time::Duration;

use serde_json::json;

use crate::harness::Config;
use crate::vm::Vm;

/// A shell that counts into /count every 0.2 s; its stdio are files of its own rootfs, so
/// criu has no descriptor outside the container to deal with.
fn counter(terminal: bool) -> Config {
    let script = if terminal {
        "i=0; while true; do i=$((i+1)); echo $i > /count; echo $i; sleep 0.2; done"
    } else {
        "exec </dev/null >/counter.log 2>&1; i=0; while true; do i=$((i+1)); echo $i > /count; sleep 0.2; done"
    };
    let mut cfg = Config::sh(script);
    cfg.0["process"]["terminal"] = json!(terminal);
    // Absolute: relative to the driver's own cgroup (a service with processes in it) no
    // controller could be enabled for a child on cgroup v2.
    cfg.0["linux"]["cgroupsPath"] = json!(if terminal { "/criu-tty" } else { "/criu-counter" });
    cfg
}

/// What criu needs loaded (modules in the cloud kernel): the socket diagnostics it dumps
/// sockets through, nf_tables for its network lock (Debian's criu locks with nftables),
/// tun for `criu check`.
const CRIU_MODULES: &[&str] = &[
    "unix_diag",
    "inet_diag",
    "tcp_diag",
    "udp_diag",
    "raw_diag",
    "netlink_diag",
    "af_packet_diag",
    "nf_tables",
    "nf_conntrack_netlink",
    "tun",
];

/// The facts each runtime must report ok.
fn facts(rt: &str) -> Vec<String> {
    const FACTS: &str = "run_c1 checkpoint checkpoint_removed restore restore_running restore_pid \
        count_continues count_grows killed deleted leave_running left_running \
        restore_other_id other_id_running other_id_continues restore_existing_fails \
        existing_still_running pre_dump pre_dump_running final_dump parent_link \
        restore_incremental incremental_continues tty_checkpoint tty_restore \
        tty_running tty_continues tty_console checkpoint_stopped_fails stopped_kept \
        empty_restore_leaves_nothing";
    FACTS.split_whitespace().map(|f| format!("{rt}_{f}")).collect()
}

#[test]
fn checkpoint_and_restore_match_runc_in_the_guest() {
    let mut vm = Vm::systemd("criu")
        .bundle("counter", counter(false))
        .bundle("tty", counter(true))
        .timeout(Duration::from_secs(900));
    for module in CRIU_MODULES {
        vm = vm.module(module);
    }
    let Some(run) = vm.run() else { return };
    let mut names: Vec<String> = [
        "criu_check",
        "features_checkpoint",
        "berth_features_cache",
        "berth_check_cache_written",
        "berth_list_skips_check_cache",
        "berth_checkpoint_traced",
        "berth_restore_traced",
        "berth_check_cost",
    ]
    .map(String::from)
    .to_vec();
    names.extend(facts("runc"));
    names.extend(facts("berth"));
    names.extend(
        [
            "same_tty",
            "same_fail_missing",
            "same_fail_stopped",
            "same_fail_empty",
            "same_state_keys",
        ]
        .map(String::from),
    );
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    // The cost of `criu check` cold and warm, for the record (--nocapture).
    if let Some(cost) = run.results.iter().find(|r| r.name == "berth_check_cost") {
        eprintln!("berth_check_cost: {}", cost.detail);
    }
    run.assert_ok(&names);
}
