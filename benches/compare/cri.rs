//! The "cri" row group: the pod start a Kubernetes user sees, through containerd's CRI plugin.
//!
//! One private containerd (Debian's; root, state, shim sockets and the runtimes' roots on the
//! benchmark's tmpfs) declares a runtime handler per runtime under test (runtime
//! type `io.containerd.runc.v2`, option `BinaryName`), and a second handler per runtime
//! (`<name>-stamped`) whose `BinaryName` is scripts/runtime-stamp.c built for that runtime: it
//! logs each invocation's start and end, so a pass over those handlers shows which part of a
//! CRI call the runtime itself takes. A CRI client (k8s-cri over tonic, the integration
//! tests' dev-dependencies) then times, interleaved per handler, a host-network pod
//! (RunPodSandbox with the busybox `sleep` sandbox image) with one busybox `sleep` container
//! (CreateContainer + StartContainer, then ContainerStatus says RUNNING), and separately its
//! teardown (StopContainer with timeout 0, RemoveContainer, StopPodSandbox, RemovePodSandbox).
//! The daemon inherits the benchmark's mount namespace (with crun's controller mask) and gets
//! one of its own with a tmpfs on /run; at the end it is stopped and its temp dirs go with
//! the benchmark's.

use std::collections::BTreeMap;
use std::fs;
use std::future::Future;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hyper_util::rt::TokioIo;
use k8s_cri::v1alpha2::image_service_client::ImageServiceClient;
use k8s_cri::v1alpha2::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1alpha2::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatusRequest,
    CreateContainerRequest, ImageSpec, ImageStatusRequest, LinuxPodSandboxConfig,
    LinuxSandboxSecurityContext, ListPodSandboxRequest, NamespaceMode, NamespaceOption,
    PodSandboxConfig, PodSandboxMetadata, RemoveContainerRequest, RemovePodSandboxRequest,
    RunPodSandboxRequest, StartContainerRequest, StopContainerRequest, StopPodSandboxRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Response, Status};

use crate::bench::Bench;
use crate::host::{bench_cgroup, path_str, CGROUP_PARENT};
use crate::report::{Cell, Row, Unit};
use crate::rows::Measured;
use crate::Opts;

/// The containerd namespace of the CRI plugin.
const K8S_NS: &str = "k8s.io";
/// The container image (busybox) and the sandbox image (the same layer running `sleep`).
const IMAGE: &str = "berth.bench/busybox:1";
const PAUSE_IMAGE: &str = "berth.bench/busybox:pause";
/// The suffix of the handlers that run a runtime through scripts/runtime-stamp.c.
const STAMPED: &str = "-stamped";
/// The runtime commands the attribution names (the first of these in an argument list).
const COMMANDS: &[&str] = &["create", "start", "state", "kill", "delete", "exec", "update", "ps"];

/// The rows' names, in table order.
const START_ROW: &str = "CRI pod start (sandbox, create, start)";
const TEARDOWN_ROW: &str = "CRI pod teardown (stop, remove; pod too)";
const RUNTIME_ROW: &str = "  of which in the runtime's invocations";
const BEFORE_ROW: &str = "  of which before the first runtime call";
const STAMPED_ROW: &str = "CRI pod start, runtime-stamp.c wrapping";

/// Runs the group: the two timed rows, then the attribution rows.
pub fn group(bench: &mut Bench, opts: &Opts, out: &mut Measured) {
    let k = bench.runtimes.len();
    let names = [START_ROW, TEARDOWN_ROW, STAMPED_ROW, RUNTIME_ROW, BEFORE_ROW];
    let mut daemon = match Daemon::start(bench) {
        Ok(d) => d,
        Err(e) => {
            bench.notes.push(format!("no CRI rows: {e}"));
            out.rows.extend(names.iter().map(|n| Row::not_available(n, k, &e)));
            return;
        }
    };
    let (start, teardown) = daemon.timed_rows(bench, opts.iterations);
    out.rows.push(start);
    out.rows.push(teardown);
    let (rows, notes) = daemon.attribution(bench, opts.iterations.div_ceil(3).max(3));
    out.rows.extend(rows);
    bench.notes.extend(notes);
    if let Err(e) = daemon.stop() {
        bench.notes.push(format!("stopping containerd: {e}"));
    }
}

/// One pod the benchmark made: its sandbox and container ids.
struct Pod {
    sandbox: String,
    container: String,
}

/// CLOCK_MONOTONIC in nanoseconds (the clock scripts/runtime-stamp.c writes).
fn monotonic_ns() -> i64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// The private containerd, its CRI client and paths.
struct Daemon {
    dir: PathBuf,
    child: Child,
    pid: i32,
    socket: PathBuf,
    /// Each runtime's stamp log (scripts/runtime-stamp.c), by runtime index.
    stamp_logs: Vec<PathBuf>,
    cgroup_parent: String,
    rt: tokio::runtime::Runtime,
    client: RuntimeServiceClient<Channel>,
    seq: usize,
}

impl Daemon {
    /// Builds the image and the stubs, writes the config, starts containerd, imports the
    /// image and connects.
    fn start(bench: &mut Bench) -> Result<Self, String> {
        let dir = bench.dir.join("cri");
        // Everything of the daemon's on the tmpfs, its root (bolt database, snapshots) too:
        // on this host's disk each commit's fsync costs milliseconds and varies, which would
        // drown the runtimes' differences (a node pays them, alike for every runtime).
        let run = bench.dir.join("run").join("cri");
        for d in [&dir, &run] {
            fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        let tar = build_image(&bench.rootfs, &dir.join("image"))?;
        let mut handlers = Vec::new();
        let mut stamp_logs = Vec::new();
        for runtime in &bench.runtimes {
            let log = dir.join(format!("stamps-{}", runtime.name));
            let stub = build_stamp(&dir, runtime.name, &runtime.bin, &log)?;
            handlers.push((runtime.name.to_string(), runtime.bin.clone()));
            handlers.push((format!("{}{STAMPED}", runtime.name), stub));
            stamp_logs.push(log);
        }
        let cg = format!("{}/cri", bench_cgroup());
        let cgroup_parent = format!("/{CGROUP_PARENT}/{cg}");
        bench.cgroups.lock().unwrap().push(cg);
        let socket = dir.join("containerd.sock");
        let config = dir.join("config.toml");
        fs::write(&config, config_toml(&dir, &run, &socket, &handlers))
            .map_err(|e| format!("writing {}: {e}", config.display()))?;
        let child = spawn_containerd(&config, &dir.join("containerd.log"))?;
        let pid = child.id() as i32;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        let client = rt.block_on(connect_lazy())?;
        let mut daemon =
            Daemon { dir, child, pid, socket, stamp_logs, cgroup_parent, rt, client, seq: 0 };
        if let Err(e) = daemon.serve_images(&tar) {
            let _ = daemon.stop();
            return Err(e);
        }
        Ok(daemon)
    }

    /// Waits until the daemon serves, imports the image archive and waits until the CRI
    /// plugin lists both images.
    fn serve_images(&mut self, tar: &Path) -> Result<(), String> {
        self.client = self.wait_ready()?;
        self.ctr(&["image", "import", "--base-name", "berth.bench/busybox", path_str(tar)])?;
        let images = self.rt.block_on(channel(&self.socket)).map(ImageServiceClient::new)?;
        for image in [IMAGE, PAUSE_IMAGE] {
            self.wait_for_image(images.clone(), image)?;
        }
        Ok(())
    }

    /// Waits (30 s at most) until the daemon serves CRI; returns the connected client.
    fn wait_ready(&mut self) -> Result<RuntimeServiceClient<Channel>, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Err(format!("containerd exited ({st}): {}", self.log_tail()));
            }
            if self.socket.exists() {
                if let Ok(ch) = self.rt.block_on(channel(&self.socket)) {
                    let mut c = RuntimeServiceClient::new(ch);
                    let req = k8s_cri::v1alpha2::VersionRequest::default();
                    if self.rt.block_on(c.version(req)).is_ok() {
                        return Ok(c);
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!("containerd did not serve within 30 s: {}", self.log_tail()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of the daemon's log (for errors).
    fn log_tail(&self) -> String {
        let log = fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// `ctr` against the daemon, in its mount namespace.
    fn ctr(&self, args: &[&str]) -> Result<(), String> {
        let out = Command::new("nsenter")
            .args(["-t", &self.pid.to_string(), "-m", "ctr", "--address"])
            .arg(&self.socket)
            .args(["-n", K8S_NS])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("running nsenter … ctr: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "ctr {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    }

    /// Waits until the CRI image store lists `image` (it learns of imports from events).
    fn wait_for_image(
        &self,
        mut images: ImageServiceClient<Channel>,
        image: &str,
    ) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            let req = ImageStatusRequest {
                image: Some(ImageSpec { image: image.to_string(), ..Default::default() }),
                verbose: false,
            };
            let res = self.rt.block_on(images.image_status(req));
            if res.is_ok_and(|r| r.into_inner().image.is_some()) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("the CRI plugin never listed {image}"))
    }

    /// Runs one RuntimeService call to its end.
    fn call<T, Fut>(
        &self,
        what: &str,
        f: impl FnOnce(RuntimeServiceClient<Channel>) -> Fut,
    ) -> Result<T, String>
    where
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.rt
            .block_on(f(self.client.clone()))
            .map(Response::into_inner)
            .map_err(|s| format!("{what}: {}", s.message()))
    }

    /// RunPodSandbox, CreateContainer, StartContainer, then ContainerStatus until RUNNING,
    /// through `handler`. Returns the pod and the monotonic time at the end of each of the
    /// three calls and of the status check.
    fn pod_start(&mut self, handler: &str) -> Result<(Pod, [i64; 4]), String> {
        self.seq += 1;
        let name = format!("bench-{}-{handler}-{}", std::process::id(), self.seq);
        let pod = pod_config(&name, &self.cgroup_parent, &self.dir.join("pod-logs"));
        let req = RunPodSandboxRequest {
            config: Some(pod.clone()),
            runtime_handler: handler.to_string(),
        };
        let sandbox = self
            .call("RunPodSandbox", |mut c| async move { c.run_pod_sandbox(req).await })?
            .pod_sandbox_id;
        let t_sandbox = monotonic_ns();
        let req = CreateContainerRequest {
            pod_sandbox_id: sandbox.clone(),
            config: Some(container_config("sleeper")),
            sandbox_config: Some(pod),
        };
        let created =
            self.call("CreateContainer", |mut c| async move { c.create_container(req).await });
        let container = match created {
            Ok(r) => r.container_id,
            Err(e) => {
                self.remove_pod(&sandbox);
                return Err(e);
            }
        };
        let t_create = monotonic_ns();
        let pod = Pod { sandbox, container };
        let started = self.start_and_check(&pod.container);
        let t_start = monotonic_ns();
        if let Err(e) = started {
            let _ = self.teardown(&pod);
            return Err(e);
        }
        Ok((pod, [t_sandbox, t_create, t_start, monotonic_ns()]))
    }

    /// StartContainer, and ContainerStatus must say RUNNING.
    fn start_and_check(&self, id: &str) -> Result<(), String> {
        let req = StartContainerRequest { container_id: id.to_string() };
        self.call("StartContainer", |mut c| async move { c.start_container(req).await })?;
        let req = ContainerStatusRequest { container_id: id.to_string(), verbose: false };
        let status =
            self.call("ContainerStatus", |mut c| async move { c.container_status(req).await })?;
        let state = status.status.map(|s| s.state).unwrap_or(-1);
        if state != ContainerState::ContainerRunning as i32 {
            return Err(format!("the started container is in state {state}, not RUNNING"));
        }
        Ok(())
    }

    /// The kubelet's teardown of the pod: StopContainer (timeout 0: SIGKILL at once),
    /// RemoveContainer, StopPodSandbox, RemovePodSandbox.
    fn teardown(&self, pod: &Pod) -> Result<(), String> {
        let req = StopContainerRequest { container_id: pod.container.clone(), timeout: 0 };
        self.call("StopContainer", |mut c| async move { c.stop_container(req).await })?;
        let req = RemoveContainerRequest { container_id: pod.container.clone() };
        self.call("RemoveContainer", |mut c| async move { c.remove_container(req).await })?;
        self.stop_remove_pod(&pod.sandbox)
    }

    fn stop_remove_pod(&self, sandbox: &str) -> Result<(), String> {
        let req = StopPodSandboxRequest { pod_sandbox_id: sandbox.to_string() };
        self.call("StopPodSandbox", |mut c| async move { c.stop_pod_sandbox(req).await })?;
        let req = RemovePodSandboxRequest { pod_sandbox_id: sandbox.to_string() };
        self.call("RemovePodSandbox", |mut c| async move { c.remove_pod_sandbox(req).await })?;
        Ok(())
    }

    /// Best effort: a pod whose start failed half-way goes (its containers with it).
    fn remove_pod(&self, sandbox: &str) {
        let _ = self.stop_remove_pod(sandbox);
    }

    /// The pod start and teardown rows: every runtime's handler, interleaved in a rotating
    /// order, after two warm-up rounds.
    fn timed_rows(&mut self, bench: &Bench, n: usize) -> (Row, Row) {
        let k = bench.runtimes.len();
        let mut start: Vec<Cell> = (0..k).map(|_| Cell::Samples(Vec::new())).collect();
        let mut down = start.clone();
        let warmup = 2;
        for i in 0..warmup + n {
            for j in 0..k {
                let rt = (i + j) % k;
                if start[rt].failed() || down[rt].failed() {
                    continue;
                }
                let begin = monotonic_ns();
                let (pod, stamps) = match self.pod_start(bench.runtimes[rt].name) {
                    Ok(p) => p,
                    Err(e) => {
                        start[rt].fail(e);
                        continue;
                    }
                };
                let ms = |a: i64, b: i64| (b - a) as f64 / 1e6;
                let begin_down = Instant::now();
                let result = self.teardown(&pod);
                let down_ms = begin_down.elapsed().as_secs_f64() * 1e3;
                match result {
                    Err(e) => down[rt].fail(e),
                    Ok(()) if i >= warmup => {
                        start[rt].push(ms(begin, stamps[3]));
                        down[rt].push(down_ms);
                    }
                    Ok(()) => {}
                }
            }
        }
        let row = |name: &str, cells| Row { name: name.into(), unit: Unit::Millis, cells, warmup };
        (row(START_ROW, start), row(TEARDOWN_ROW, down))
    }

    /// The pass over the stamped handlers: the pod start through the stub, the part of it
    /// spent in the runtime's invocations, and RunPodSandbox's part before the first one;
    /// notes with each runtime's invocations by command and where the rest went.
    fn attribution(&mut self, bench: &Bench, n: usize) -> (Vec<Row>, Vec<String>) {
        let k = bench.runtimes.len();
        let empty = || -> Vec<Cell> { (0..k).map(|_| Cell::Samples(Vec::new())).collect() };
        let (mut total, mut inside, mut before) = (empty(), empty(), empty());
        let mut windows: Vec<Vec<Window>> = (0..k).map(|_| Vec::new()).collect();
        let warmup = 1;
        for i in 0..warmup + n {
            for j in 0..k {
                let rt = (i + j) % k;
                if total[rt].failed() {
                    continue;
                }
                let handler = format!("{}{STAMPED}", bench.runtimes[rt].name);
                let begin = monotonic_ns();
                let started = self.pod_start(&handler);
                let (pod, stamps) = match started {
                    Ok(p) => p,
                    Err(e) => {
                        total[rt].fail(e);
                        continue;
                    }
                };
                let down_begin = monotonic_ns();
                if let Err(e) = self.teardown(&pod) {
                    total[rt].fail(e);
                    continue;
                }
                if i >= warmup {
                    windows[rt].push(Window { begin, stamps, down: (down_begin, monotonic_ns()) });
                }
            }
        }
        let mut notes = Vec::new();
        for rt in 0..k {
            if total[rt].failed() {
                let why = match &total[rt] {
                    Cell::NotAvailable(w) => w.clone(),
                    Cell::Samples(_) => unreachable!(),
                };
                inside[rt].fail(why.clone());
                before[rt].fail(why);
                continue;
            }
            let calls = match read_stamps(&self.stamp_logs[rt]) {
                Ok(c) => c,
                Err(e) => {
                    for cell in [&mut total[rt], &mut inside[rt], &mut before[rt]] {
                        cell.fail(e.clone());
                    }
                    continue;
                }
            };
            let summary = Summary::of(&windows[rt], &calls);
            for (w, s) in windows[rt].iter().zip(&summary.per_pod) {
                total[rt].push((w.stamps[3] - w.begin) as f64 / 1e6);
                inside[rt].push(s.runtime_ms);
                before[rt].push(s.before_first_ms);
            }
            notes.push(summary.note(bench.runtimes[rt].name));
        }
        let row = |name: &str, cells| Row { name: name.into(), unit: Unit::Millis, cells, warmup };
        (vec![row(STAMPED_ROW, total), row(RUNTIME_ROW, inside), row(BEFORE_ROW, before)], notes)
    }

    /// Removes any pod left, stops the daemon (SIGTERM, SIGKILL after 15 s) and kills any
    /// shim it left behind.
    fn stop(&mut self) -> Result<(), String> {
        let listed = self.call("ListPodSandbox", |mut c| async move {
            c.list_pod_sandbox(ListPodSandboxRequest::default()).await
        });
        let mut problems = Vec::new();
        if let Ok(list) = listed {
            for pod in list.items {
                problems.push(format!("pod {} left; removing it", pod.id));
                self.remove_pod(&pod.id);
            }
        }
        // SAFETY: signals the daemon we started.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(15);
        while !matches!(self.child.try_wait(), Ok(Some(_))) {
            if Instant::now() > deadline {
                problems.push("containerd ignored SIGTERM for 15 s".into());
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        for pid in shims_of(&self.socket) {
            problems.push(format!("shim {pid} left running; killed"));
            // SAFETY: a shim our daemon started (its command line names our socket).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

/// One timed pod of the attribution pass: its start, the end of each of its calls (as
/// `Daemon::pod_start` returns them) and its teardown.
struct Window {
    begin: i64,
    stamps: [i64; 4],
    down: (i64, i64),
}

/// One runtime invocation the stub logged.
struct Call {
    begin: i64,
    end: i64,
    command: String,
}

/// Reads a stamp log: one line per invocation.
fn read_stamps(log: &Path) -> Result<Vec<Call>, String> {
    let text = fs::read_to_string(log).map_err(|e| format!("reading {}: {e}", log.display()))?;
    let mut calls = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let num = |i: usize| f.get(i).and_then(|s| s.parse::<i64>().ok());
        let (Some(begin), Some(end)) = (num(0), num(1)) else {
            return Err(format!("{}: bad line {line:?}", log.display()));
        };
        let command =
            f.iter().skip(3).find(|a| COMMANDS.contains(a)).unwrap_or(&"other").to_string();
        calls.push(Call { begin, end, command });
    }
    Ok(calls)
}

/// One pod start's attribution.
struct PodShare {
    runtime_ms: f64,
    before_first_ms: f64,
}

/// A runtime's attribution over the pass.
struct Summary {
    per_pod: Vec<PodShare>,
    /// Per CRI call (and the teardown), per runtime command: the durations, in ms.
    by_call: BTreeMap<(usize, String), Vec<f64>>,
    /// Per CRI call: its total durations.
    call_ms: Vec<Vec<f64>>,
}

/// The phases a window is cut into, in order.
const PHASES: [&str; 5] =
    ["RunPodSandbox", "CreateContainer", "StartContainer", "ContainerStatus", "teardown"];

impl Summary {
    fn of(windows: &[Window], calls: &[Call]) -> Self {
        let mut per_pod = Vec::new();
        let mut by_call: BTreeMap<(usize, String), Vec<f64>> = BTreeMap::new();
        let mut call_ms: Vec<Vec<f64>> = PHASES.iter().map(|_| Vec::new()).collect();
        for w in windows {
            let bounds = [w.begin, w.stamps[0], w.stamps[1], w.stamps[2], w.stamps[3]];
            let mut phases: Vec<(i64, i64)> = bounds.windows(2).map(|b| (b[0], b[1])).collect();
            phases.push(w.down);
            let mut runtime_ms = 0.0;
            let mut first = None;
            for (p, &(a, b)) in phases.iter().enumerate() {
                call_ms[p].push((b - a) as f64 / 1e6);
                let mut sums: BTreeMap<String, f64> = BTreeMap::new();
                for c in calls.iter().filter(|c| c.begin >= a && c.end <= b) {
                    let ms = (c.end - c.begin) as f64 / 1e6;
                    *sums.entry(c.command.clone()).or_default() += ms;
                    if p < 4 {
                        runtime_ms += ms;
                        first = Some(first.map_or(c.begin, |f: i64| f.min(c.begin)));
                    }
                }
                for (cmd, ms) in sums {
                    by_call.entry((p, cmd)).or_default().push(ms);
                }
            }
            let before_first_ms = (first.unwrap_or(w.stamps[0]) - w.begin) as f64 / 1e6;
            per_pod.push(PodShare { runtime_ms, before_first_ms });
        }
        Summary { per_pod, by_call, call_ms }
    }

    /// One line: each CRI call's median, and in it the runtime's commands' medians.
    fn note(&self, runtime: &str) -> String {
        let parts: Vec<String> = PHASES
            .iter()
            .enumerate()
            .map(|(p, name)| {
                let inner: Vec<String> = self
                    .by_call
                    .iter()
                    .filter(|((q, _), _)| *q == p)
                    .map(|((_, cmd), v)| format!("{cmd} {:.2}", median(v)))
                    .collect();
                let inner =
                    if inner.is_empty() { "no runtime call".into() } else { inner.join(", ") };
                format!("{name} {:.2} ({inner})", median(&self.call_ms[p]))
            })
            .collect();
        format!(
            "CRI through {runtime}{STAMPED}, medians in ms, runtime commands summed per call: {}",
            parts.join("; ")
        )
    }
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 0 => (s[n / 2 - 1] + s[n / 2]) / 2.0,
        n => s[n / 2],
    }
}

/// A connection to the daemon's socket (the URI is required by the API but unused).
async fn channel(socket: &Path) -> Result<Channel, String> {
    let path = socket.to_path_buf();
    Endpoint::try_from("http://[::1]:1")
        .map_err(|e| e.to_string())?
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }))
        .await
        .map_err(|e| format!("connecting to {}: {e}", socket.display()))
}

/// A client on a channel that connects on first use (replaced once the daemon serves).
async fn connect_lazy() -> Result<RuntimeServiceClient<Channel>, String> {
    let endpoint = Endpoint::try_from("http://[::1]:1").map_err(|e| e.to_string())?;
    Ok(RuntimeServiceClient::new(endpoint.connect_lazy()))
}

/// The pod a kubelet asks for with `hostNetwork: true` (no CNI): node network, its own PID
/// and IPC namespaces, its cgroup under `cgroup_parent`.
fn pod_config(name: &str, cgroup_parent: &str, log_dir: &Path) -> PodSandboxConfig {
    let namespaces = NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    };
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.to_string(),
            uid: name.to_string(),
            namespace: "default".to_string(),
            attempt: 0,
        }),
        // As the kubelet does for a host-network pod: the node's hostname.
        hostname: String::new(),
        log_directory: path_str(log_dir).to_string(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: cgroup_parent.to_string(),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(namespaces),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The busybox container: `sleep 3600`.
fn container_config(name: &str) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata { name: name.to_string(), attempt: 0 }),
        image: Some(ImageSpec { image: IMAGE.to_string(), ..Default::default() }),
        command: vec!["/bin/sleep".into(), "3600".into()],
        log_path: format!("{name}.log"),
        ..Default::default()
    }
}

/// `unshare --mount` (private propagation) with a tmpfs on /run, then containerd: the shim
/// sockets and fifos containerd 1.6 keeps under /run/containerd stay off the host, and its
/// snapshot mounts go with the namespace. The daemon dies with the benchmark (PDEATHSIG).
fn spawn_containerd(config: &Path, log: &Path) -> Result<Child, String> {
    let log = fs::File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg("mount -t tmpfs -o mode=0755 tmpfs /run && exec containerd --config \"$0\"")
        .arg(config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
    // SAFETY: prctl is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| format!("starting unshare … containerd: {e}"))
}

/// containerd's config: private paths, one handler per (name, binary), the local sandbox
/// image. `restrict_oom_score_adj` keeps the sandbox's oomScoreAdj at the daemon's own (this
/// host's root lacks CAP_SYS_RESOURCE to lower it, for every runtime alike); plugins that need
/// what the host lacks, or would write outside the temp dir, are off.
fn config_toml(dir: &Path, run: &Path, socket: &Path, handlers: &[(String, PathBuf)]) -> String {
    let p = |path: &Path| path_str(path).to_string();
    let mut runtimes = String::new();
    for (name, bin) in handlers {
        let prefix =
            format!("[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.{name:?}]");
        runtimes.push_str(&format!(
            "    {prefix}\n      runtime_type = \"io.containerd.runc.v2\"\n    {}\n        BinaryName = {:?}\n        Root = {:?}\n        SystemdCgroup = false\n",
            prefix.replace("]", ".options]"),
            p(bin),
            p(&run.join(format!("root-{name}"))),
        ));
    }
    let cni = dir.join("cni");
    format!(
        r#"version = 2
root = "{root}"
state = "{state}"
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "{socket}"

[ttrpc]
  address = "{socket}.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni}"
    conf_dir = "{cni}"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
{runtimes}"#,
        root = p(&run.join("root")),
        state = p(&run.join("state")),
        socket = p(socket),
        cni = p(&cni),
    )
}

/// Compiles scripts/runtime-stamp.c for `bin`, logging to `log`.
fn build_stamp(dir: &Path, name: &str, bin: &Path, log: &Path) -> Result<PathBuf, String> {
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/runtime-stamp.c");
    let stub = dir.join(format!("stamp-{name}"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-O2", "-static", "-Wall", "-Werror"])
        .arg(format!("-DRUNTIME={:?}", path_str(bin)))
        .arg(format!("-DSTAMP_LOG={:?}", path_str(log)))
        .arg("-o")
        .arg(&stub)
        .arg(&source)
        .status()
        .map_err(|e| format!("running {cc}: {e}"))?;
    if !status.success() {
        return Err(format!("{cc} failed to build {} ({status})", source.display()));
    }
    Ok(stub)
}

/// The OCI image archive: the benchmark's busybox rootfs as one layer, tagged `1` (command
/// `sh`) and `pause` (entrypoint `sleep 2147483647`), made with umoci.
fn build_image(rootfs: &Path, work: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(work).map_err(|e| e.to_string())?;
    let layout = work.join("layout");
    let tagged = |tag: &str| format!("{}:{tag}", path_str(&layout));
    let bundle = work.join("bundle");
    umoci(&["init", "--layout", path_str(&layout)])?;
    umoci(&["new", "--image", &tagged("1")])?;
    umoci(&["unpack", "--image", &tagged("1"), path_str(&bundle)])?;
    let copied = Command::new("cp")
        .arg("-a")
        .arg(rootfs.join("."))
        .arg(bundle.join("rootfs"))
        .status()
        .map_err(|e| format!("running cp: {e}"))?;
    if !copied.success() {
        return Err("copying the rootfs into the image bundle failed".into());
    }
    umoci(&["repack", "--image", &tagged("1"), path_str(&bundle)])?;
    let config = ["config", "--image", &tagged("1"), "--config.cmd", "sh"];
    umoci(&[&config[..], &["--config.env", "PATH=/bin"]].concat())?;
    umoci(&[
        "config",
        "--image",
        &tagged("1"),
        "--tag",
        "pause",
        "--config.entrypoint",
        "sleep",
        "--config.cmd",
        "2147483647",
    ])?;
    let tar = work.join("image.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .map_err(|e| format!("running tar: {e}"))?;
    if !st.success() {
        return Err("tar of the OCI layout failed".into());
    }
    Ok(tar)
}

fn umoci(args: &[&str]) -> Result<(), String> {
    let out = Command::new("umoci")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running umoci (apt-get install umoci): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "umoci {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(())
}

/// Shims started by the daemon at `socket` (their command line names it).
fn shims_of(socket: &Path) -> Vec<i32> {
    let needle = path_str(socket).as_bytes().to_vec();
    let Ok(rd) = fs::read_dir("/proc") else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
            args.first().is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"))
                && args.contains(&needle.as_slice())
        })
        .collect()
}
