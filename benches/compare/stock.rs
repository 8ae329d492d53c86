//! The "stock" group: `run`, create+start+wait+delete and `state` with the config exactly as
//! `berth spec` writes it (see [`crate::bundle::stock_config`]): no `linux.cgroupsPath`, so
//! each runtime puts the container in its default cgroup (the container id under the
//! runtime's own cgroup), and the devices deny-all rule and read-only rootfs of the default
//! config. The core rows' bundle carries a cgroupsPath under /berth-test instead.

use crate::bench::Bench;
use crate::bundle::Variant;
use crate::report::Unit;
use crate::rows::Measured;
use crate::Opts;

/// The stock rows.
pub fn stock(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let n = opts.iterations;
    bench.prepare(0, &[Variant::Stock, Variant::StockSleep]);
    out.rows.push(
        bench.row("stock: run /bin/true", Unit::Millis, n, |b, rt| b.op_run(rt, 0, Variant::Stock)),
    );
    out.rows.push(bench.row("stock: create + start + wait + delete", Unit::Millis, n, |b, rt| {
        b.op_lifecycle_of(rt, Variant::Stock)
    }));
    out.rows.push(bench.row_on_sleeper_of(
        Variant::StockSleep,
        "stock: state of a running container",
        n,
        |b, rt, id| b.invoke(rt, &["state", id]),
    ));
}
