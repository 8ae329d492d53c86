//! What the runtime does for the clone between the clone and [`FromParent::SetupDone`], and
//! so whether the clone has to wait for it at all ([`Setup`]).
//!
//! Decided once, from the validated config and the caller's options, before the clone: the
//! clone inherits the decision and [`super::follow`] does exactly the work listed here. Most
//! configs (no user namespace, no systemd unit, no resctrl group for an `exec`) leave the
//! runtime nothing that must precede the clone's next step: the cgroup is entered by the
//! clone itself (born in it on cgroup v2, joining it first thing on v1), and the create hooks
//! have their own round trip once the mounts are done (`RunHooks`/`HooksDone`).
//!
//! [`FromParent::SetupDone`]: crate::process::sync::FromParent::SetupDone

use super::spawn::Plan;
use crate::process::child::init::Role;
use crate::process::sync::Setup;
use crate::spec::ValidSpec;

/// The runtime's work for the clone before it may go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct CloneSetup {
    /// A new user namespace: its uid/gid maps, which everything the clone does needs.
    pub(super) id_maps: bool,
    /// A container's init on the fast path of a new user namespace: the bind sources it may
    /// not reach by path, opened in its mount namespace (see `bind_sources.rs`).
    pub(super) bind_sources: bool,
    /// `process.oomScoreAdj` of a container's init, written by the runtime.
    pub(super) oom_score_adj: Option<i32>,
    /// The oomScoreAdj write must land before the clone goes on: a first stage forks the
    /// init (which inherits the value only if it is set by then), or a rootless runtime may
    /// write the clone's /proc files only while the clone is still dumpable. Otherwise the
    /// runtime, root on the host, writes it whenever it likes before the init's `Ready`,
    /// which comes before anything the init forks or executes (hooks, the program).
    pub(super) oom_first: bool,
    /// The caller places the clone (a systemd unit, a resctrl group) before it may go on.
    pub(super) placement: bool,
}

impl CloneSetup {
    /// The setup of the clone of `spec` taking `plan`, as `role`; `places`: the caller
    /// places it ([`super::spawn::SpawnOptions::place`]); `rootless`: the runtime is not the
    /// host's root.
    pub(super) fn new(
        spec: &ValidSpec,
        plan: &Plan,
        role: Role,
        places: bool,
        rootless: impl FnOnce() -> bool,
    ) -> Self {
        let oom_score_adj = spec.process.oom_score_adj.filter(|_| role == Role::Container);
        let oom_first = oom_score_adj.is_some() && (plan.two_stage || rootless());
        CloneSetup {
            id_maps: plan.new_user_ns,
            bind_sources: plan.new_user_ns && !plan.two_stage && role == Role::Container,
            oom_score_adj,
            oom_first,
            placement: places,
        }
    }

    /// Whether the clone waits for `SetupDone`: only when some of the work must precede its
    /// next step.
    pub(super) fn wait(&self) -> Setup {
        match self.id_maps || self.bind_sources || self.oom_first || self.placement {
            true => Setup::Awaited,
            false => Setup::Skipped,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::process::testing::{load_spec, with_namespace, with_user_namespace};

    fn setup_of(edit: impl FnOnce(&mut serde_json::Value), role: Role, places: bool) -> CloneSetup {
        let (_bundle, spec) = load_spec(edit);
        CloneSetup::new(&spec, &Plan::for_spec(&spec), role, places, || false)
    }

    #[test]
    fn a_plain_container_or_exec_goes_on_at_once() {
        for role in [Role::Container, Role::Exec] {
            let setup = setup_of(|_| {}, role, false);
            assert_eq!(setup.wait(), Setup::Skipped, "{role:?}: {setup:?}");
            assert!(!setup.id_maps && !setup.bind_sources && !setup.placement, "{setup:?}");
        }
        // Hooks have their own round trip, after the mounts.
        let hooks = |c: &mut serde_json::Value| {
            let hook = json!([{ "path": "/bin/true" }]);
            c["hooks"] =
                json!({ "prestart": hook, "createRuntime": hook, "createContainer": hook });
        };
        assert_eq!(setup_of(hooks, Role::Container, false).wait(), Setup::Skipped);
        // A joined namespace the init enters itself.
        let joined = |c: &mut _| {
            with_namespace(c, json!({ "type": "network", "path": "/proc/self/ns/net" }))
        };
        assert_eq!(setup_of(joined, Role::Container, false).wait(), Setup::Skipped);
    }

    #[test]
    fn a_new_user_namespace_waits_for_its_maps() {
        let setup = setup_of(with_user_namespace, Role::Container, false);
        assert!(setup.id_maps && setup.bind_sources, "{setup:?}");
        assert_eq!(setup.wait(), Setup::Awaited);
        // Made by a first stage (a joined namespace to enter first): maps, no bind sources.
        let two_stage = |c: &mut serde_json::Value| {
            with_user_namespace(c);
            with_namespace(c, json!({ "type": "network", "path": "/proc/self/ns/net" }));
        };
        let setup = setup_of(two_stage, Role::Container, false);
        assert!(setup.id_maps && !setup.bind_sources, "{setup:?}");
        assert_eq!(setup.wait(), Setup::Awaited);
    }

    #[test]
    fn a_placement_by_the_caller_is_waited_for() {
        for role in [Role::Container, Role::Exec] {
            let setup = setup_of(|_| {}, role, true);
            assert_eq!(setup.wait(), Setup::Awaited, "{role:?}");
        }
    }

    /// The runtime, the host's root, writes oomScoreAdj of a single clone at any time before
    /// its `Ready`; a forked init or a rootless runtime needs it before the clone goes on.
    #[test]
    fn oom_score_adj_is_waited_for_only_where_it_must_come_first() {
        let oom = |c: &mut serde_json::Value| c["process"]["oomScoreAdj"] = json!(100);
        let setup = setup_of(oom, Role::Container, false);
        assert_eq!((setup.oom_score_adj, setup.oom_first), (Some(100), false));
        assert_eq!(setup.wait(), Setup::Skipped);

        let (_bundle, spec) = load_spec(oom);
        let setup = CloneSetup::new(&spec, &Plan::for_spec(&spec), Role::Container, false, || true);
        assert!(setup.oom_first, "rootless: {setup:?}");
        assert_eq!(setup.wait(), Setup::Awaited);

        let two_stage = |c: &mut serde_json::Value| {
            oom(c);
            with_namespace(c, json!({ "type": "pid", "path": "/proc/self/ns/pid" }));
        };
        let setup = setup_of(two_stage, Role::Container, false);
        assert!(setup.oom_first && !setup.id_maps, "{setup:?}");
        assert_eq!(setup.wait(), Setup::Awaited);

        // An exec'd process keeps the container's value: nothing is written.
        let setup = setup_of(two_stage, Role::Exec, false);
        assert_eq!(setup.oom_score_adj, None);
        assert_eq!(setup.wait(), Setup::Skipped);
    }

    /// Rootless is asked only when the answer matters (it reads /proc once).
    #[test]
    fn rootless_is_asked_only_for_an_oom_score_adj() {
        let (_bundle, spec) = load_spec(|_| {});
        let plan = Plan::for_spec(&spec);
        let setup =
            CloneSetup::new(&spec, &plan, Role::Container, false, || panic!("asked rootless"));
        assert_eq!(setup.wait(), Setup::Skipped);
    }
}
