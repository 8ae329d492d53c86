//! runc's reading of `linux.resources`: for most fields a zero means "not set", and engines
//! rely on it. dockerd writes `blockIO.weight: 0`, `cpu.shares: 0` and
//! `memory.disableOOMKiller: false` for every container that sets none of them; written to
//! the kernel, weight 0 fails with ERANGE and no container could start. Fields whose zero is
//! meaningful (swappiness, burst, idle, throttle rates, hugepage limits) stay as given. A zero
//! `blockIO.weightDevice[].weight` or `leafWeight` is skipped where it is written (the type
//! has no setters).

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources};

/// `resources` with every value that runc treats as unset removed, so both cgroup versions
/// (on create and on update) leave the kernel's value alone for it.
pub(super) fn effective(resources: &LinuxResources) -> LinuxResources {
    let mut r = resources.clone();
    r.set_memory(r.memory().map(memory));
    r.set_cpu(r.cpu().as_ref().map(cpu));
    r.set_block_io(r.block_io().as_ref().map(block_io));
    // pids.limit 0 is no limit given (runc skips it); a negative one is "max".
    if r.pids().is_some_and(|p| p.limit() == 0) {
        r.set_pids(None);
    }
    r
}

fn nonzero_i64(v: Option<i64>) -> Option<i64> {
    v.filter(|v| *v != 0)
}

fn nonzero_u64(v: Option<u64>) -> Option<u64> {
    v.filter(|v| *v != 0)
}

fn memory(mut m: LinuxMemory) -> LinuxMemory {
    m.set_limit(nonzero_i64(m.limit()));
    m.set_reservation(nonzero_i64(m.reservation()));
    m.set_swap(nonzero_i64(m.swap()));
    m.set_kernel(nonzero_i64(m.kernel()));
    m.set_kernel_tcp(nonzero_i64(m.kernel_tcp()));
    // Swappiness 0 is a value; -1 (as the unsigned field holds it) is runc's "unset".
    m.set_swappiness(m.swappiness().filter(|s| *s != u64::MAX));
    // runc writes memory.oom_control only to disable the OOM killer.
    m.set_disable_oom_killer(m.disable_oom_killer().filter(|d| *d));
    m
}

fn cpu(c: &LinuxCpu) -> LinuxCpu {
    let mut c = c.clone();
    c.set_shares(nonzero_u64(c.shares()));
    c.set_quota(nonzero_i64(c.quota()));
    c.set_period(nonzero_u64(c.period()));
    c.set_realtime_runtime(nonzero_i64(c.realtime_runtime()));
    c.set_realtime_period(nonzero_u64(c.realtime_period()));
    c.set_cpus(c.cpus().clone().filter(|s| !s.is_empty()));
    c.set_mems(c.mems().clone().filter(|s| !s.is_empty()));
    c
}

fn block_io(b: &LinuxBlockIo) -> LinuxBlockIo {
    let mut b = b.clone();
    b.set_weight(b.weight().filter(|w| *w != 0));
    b.set_leaf_weight(b.leaf_weight().filter(|w| *w != 0));
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(value: serde_json::Value) -> LinuxResources {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn dockerd_defaults_set_nothing() {
        let r = effective(&resources(serde_json::json!({
            "memory": { "disableOOMKiller": false },
            "cpu": { "shares": 0 },
            "blockIO": { "weight": 0 }
        })));
        let m = r.memory().unwrap();
        assert_eq!(m.disable_oom_killer(), None);
        assert_eq!(r.cpu().as_ref().unwrap().shares(), None);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), None);
    }

    #[test]
    fn zero_means_unset_field_by_field() {
        let r = effective(&resources(serde_json::json!({
            "memory": { "limit": 0, "reservation": 0, "swap": 0, "swappiness": 18446744073709551615u64 },
            "cpu": { "quota": 0, "period": 0, "realtimeRuntime": 0, "realtimePeriod": 0, "burst": 0, "cpus": "" },
            "pids": { "limit": 0 },
            "blockIO": { "leafWeight": 0  }
        })));
        let m = r.memory().unwrap();
        assert_eq!(
            (m.limit(), m.reservation(), m.swap(), m.swappiness()),
            (None, None, None, None)
        );
        let c = r.cpu().as_ref().unwrap();
        assert_eq!((c.quota(), c.period()), (None, None));
        assert_eq!((c.realtime_runtime(), c.realtime_period()), (None, None));
        assert_eq!((c.burst(), c.cpus().as_deref()), (Some(0), None));
        assert!(r.pids().is_none());
        let b = r.block_io().as_ref().unwrap();
        assert_eq!(b.leaf_weight(), None);
    }

    #[test]
    fn meaningful_values_stay() {
        let r = effective(&resources(serde_json::json!({
            "memory": { "limit": 67108864, "swappiness": 0, "disableOOMKiller": true },
            "pids": { "limit": -1 },
            "blockIO": { "weight": 500 }
        })));
        let m = r.memory().unwrap();
        assert_eq!(
            (m.limit(), m.swappiness(), m.disable_oom_killer()),
            (Some(67108864), Some(0), Some(true))
        );
        assert_eq!(r.pids().unwrap().limit(), -1);
        assert_eq!(r.block_io().as_ref().unwrap().weight(), Some(500));
    }
}
