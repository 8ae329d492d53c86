//! The `exec` row group: `exec` as podman and the CRI shims call it, beyond the core group's
//! bare `exec /bin/true` — a whole process.json with a podman-style process into a container
//! under podman's seccomp profile, and `exec --detach`.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::bench::{Bench, Timed};
use crate::bundle::Variant;
use crate::host::{path_str, wait_exit};
use crate::report::{Row, Unit};
use crate::Opts;

/// Podman's default capabilities (containers.conf `default_capabilities`).
const PODMAN_CAPS: [&str; 11] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
];

/// How many variables the podman-style process carries (podman's own, the image's, the
/// user's `--env`s).
const ENV_VARS: usize = 20;

/// The rows of the group, in table order.
pub fn rows(bench: &mut Bench, opts: &Opts) -> Vec<Row> {
    let n = opts.iterations;
    let mut rows = Vec::new();
    let process = bench.dir.join("exec-process.json");
    let podman =
        format!("exec --process (podman-style: {ENV_VARS} env, uid 1000, 11 caps, seccomp)");
    match write_process(&process) {
        Ok(()) if bench.seccomp.is_some() => {
            bench.prepare(0, &[Variant::SleepSeccomp]);
            rows.push(row_on(bench, &podman, n, Variant::SleepSeccomp, |b, rt, id| {
                b.invoke(rt, &["exec", "--process", path_str(&process), id])
            }));
        }
        Ok(()) => rows.push(Row::not_available(&podman, bench.runtimes.len(), "no profile")),
        Err(e) => rows.push(Row::not_available(&podman, bench.runtimes.len(), &e)),
    }
    bench.prepare(0, &[Variant::Sleep]);
    rows.push(row_on(bench, "exec --detach /bin/true", n, Variant::Sleep, op_detached));
    rows
}

/// The process.json podman hands `exec --process`: its environment, a user, its default
/// capabilities, the container's seccomp filter applying (it is the container's).
fn process() -> Value {
    let mut env = vec![
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
        "TERM=xterm".into(),
        "container=podman".into(),
        "HOSTNAME=bench".into(),
        "HOME=/root".into(),
    ];
    env.extend((env.len()..ENV_VARS).map(|i| format!("BENCH_VAR_{i}=value-{i}")));
    let caps = json!(PODMAN_CAPS);
    json!({
        "terminal": false,
        "user": { "uid": 1000, "gid": 1000, "additionalGids": [1000] },
        "args": ["/bin/true"],
        "env": env,
        "cwd": "/",
        "capabilities": { "bounding": caps, "effective": caps, "permitted": caps },
        "rlimits": [{ "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 }],
        "noNewPrivileges": false
    })
}

fn write_process(path: &Path) -> Result<(), String> {
    let text = serde_json::to_vec_pretty(&process()).expect("serialisable");
    fs::write(path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// `exec --detach --pid-file F ID /bin/true`, timed; the process is then waited for (the
/// benchmark is a subreaper, it lands with us) outside the timing.
fn op_detached(bench: &Bench, rt: usize, id: &str) -> Result<Timed, String> {
    let pid_file = bench.dir.join(format!("{id}-exec.pid"));
    let args = ["exec", "--detach", "--pid-file", path_str(&pid_file), id, "/bin/true"];
    let timed = bench.invoke(rt, &args)?;
    let pid = read_pid(&pid_file)?;
    let _ = fs::remove_file(&pid_file);
    wait_exit(pid)?;
    Ok(timed)
}

fn read_pid(path: &PathBuf) -> Result<i32, String> {
    fs::read_to_string(path)
        .map_err(|e| format!("reading the pid file: {e}"))?
        .trim()
        .parse()
        .map_err(|_| "the pid file holds no pid".to_string())
}

/// Like `Bench::row_on_sleeper`, on a running `sleep` container of `variant` per runtime.
fn row_on(
    bench: &Bench,
    name: &str,
    n: usize,
    variant: Variant,
    op: impl Fn(&Bench, usize, &str) -> Result<Timed, String>,
) -> Row {
    let ids: Vec<Result<String, String>> =
        (0..bench.runtimes.len()).map(|rt| start(bench, rt, variant)).collect();
    let row = bench.row(name, Unit::Millis, n, |b, rt| match &ids[rt] {
        Ok(id) => op(b, rt, id),
        Err(e) => Err(format!("starting the container: {e}")),
    });
    for (rt, id) in ids.iter().enumerate() {
        if let Ok(id) = id {
            bench.remove(rt, id);
        }
    }
    row
}

fn start(bench: &Bench, rt: usize, variant: Variant) -> Result<String, String> {
    let bundle = bench.bundle(rt, 0, variant)?;
    let id = bench.unique("exec");
    bench.track(rt, &id);
    bench.invoke(rt, &["run", "--detach", "--bundle", path_str(&bundle), &id])?;
    Ok(id)
}
