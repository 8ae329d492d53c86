//! The kubelet's path: CRI (runtime.v1alpha2: the API containerd 1.6 serves) calls to a private containerd whose CRI plugin
//! declares the runtime handler `berth` (containerd_daemon.rs), as a Kubernetes RuntimeClass
//! with `handler: berth` selects it. The pod runs with host networking, so no CNI plugin is
//! needed; its sandbox image is the locally made busybox `sleep` image, so nothing is pulled.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1alpha2::image_service_client::ImageServiceClient;
use k8s_cri::v1alpha2::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1alpha2::{
    ContainerConfig, ContainerMetadata, ContainerState, ContainerStatsRequest,
    ContainerStatusRequest, CreateContainerRequest, ExecSyncRequest, ImageSpec, ImageStatusRequest,
    Int64Value, KeyValue, LinuxContainerConfig, LinuxContainerResources,
    LinuxContainerSecurityContext, LinuxPodSandboxConfig, LinuxSandboxSecurityContext, Mount,
    NamespaceMode, NamespaceOption, PodSandboxConfig, PodSandboxMetadata, RemoveContainerRequest,
    RemovePodSandboxRequest, RunPodSandboxRequest, SecurityProfile, StartContainerRequest,
    StopContainerRequest, StopPodSandboxRequest, UpdateContainerResourcesRequest, VersionRequest,
};
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};
use tonic::{Response, Status};

use crate::containerd_daemon::{Containerd, IMAGE, PAUSE_IMAGE, RUNTIME};
use crate::harness::wait_for;

/// The containerd namespace the CRI plugin keeps its pods and images in.
const K8S_NS: &str = "k8s.io";

/// A blocking CRI client over the daemon's unix socket.
struct Cri {
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

impl Cri {
    fn connect(socket: &Path) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let path = socket.to_path_buf();
        // The URI is required by the API but unused: every connection goes to the socket.
        let endpoint = Endpoint::try_from("http://[::1]:1").unwrap();
        let channel = rt
            .block_on(
                endpoint.connect_with_connector(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                })),
            )
            .expect("connecting to containerd's CRI socket");
        Cri {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }

    /// Runs one RuntimeService call to its end.
    fn call<T, Fut>(
        &self,
        f: impl FnOnce(RuntimeServiceClient<Channel>) -> Fut,
    ) -> Result<T, Status>
    where
        Fut: Future<Output = Result<Response<T>, Status>>,
    {
        self.rt.block_on(f(self.runtime.clone())).map(Response::into_inner)
    }

    /// Waits until the CRI image store knows `image` (it learns of imports from events).
    fn wait_for_image(&self, image: &str) {
        let known = wait_for(Duration::from_secs(15), || {
            let mut images = self.images.clone();
            let req = ImageStatusRequest {
                image: Some(ImageSpec { image: image.to_string(), ..Default::default() }),
                verbose: false,
            };
            let res = self.rt.block_on(images.image_status(req));
            res.is_ok_and(|r| r.into_inner().image.is_some())
        });
        assert!(known, "the CRI plugin never listed {image}");
    }
}

/// The pod a kubelet would ask for: host network (no CNI), its cgroup under `cgroup_parent`.
fn pod_config(name: &str, uid: &str, cgroup_parent: &str, log_dir: &Path) -> PodSandboxConfig {
    let namespaces = NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    };
    PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: name.to_string(),
            uid: uid.to_string(),
            namespace: "default".to_string(),
            attempt: 0,
        }),
        // As the kubelet does for a host-network pod: its hostname is the node's (runc, like
        // berth, refuses a hostname without a UTS namespace of the container's own).
        hostname: String::new(),
        log_directory: log_dir.display().to_string(),
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

/// A busybox container running `command`.
fn container_config(name: &str, command: &[&str]) -> ContainerConfig {
    ContainerConfig {
        metadata: Some(ContainerMetadata { name: name.to_string(), attempt: 0 }),
        image: Some(ImageSpec { image: IMAGE.to_string(), ..Default::default() }),
        command: command.iter().map(|s| s.to_string()).collect(),
        log_path: format!("{name}.log"),
        ..Default::default()
    }
}

/// Ids and status the runtime itself lists for the CRI's containers (its root for k8s.io).
fn runtime_list(ctd: &Containerd) -> HashMap<String, String> {
    let out = ctd.runtime(K8S_NS, &["list", "--format", "json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("list output is not JSON ({e}): {out:#?}"));
    v.as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("id"), s("status"))
        })
        .collect()
}

/// The memory limit the container's cgroup holds (v1 `memory.limit_in_bytes`, v2 `memory.max`).
fn memory_limit(cgroup: &str) -> String {
    let rel = cgroup.trim_start_matches('/');
    let v1 = Path::new("/sys/fs/cgroup/memory").join(rel).join("memory.limit_in_bytes");
    let path =
        if v1.exists() { v1 } else { Path::new("/sys/fs/cgroup").join(rel).join("memory.max") };
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .trim()
        .to_string()
}

/// Where the pods of a test write their containers' logs.
fn pod_logs(ctd: &Containerd) -> PathBuf {
    ctd.env().dir.join("pod-logs")
}

/// Waits for both images and runs a pod sandbox named `name` through the handler under
/// test, logging to a directory of the test's; returns its id and config.
fn run_pod(ctd: &Containerd, cri: &Cri, name: &str) -> (String, PodSandboxConfig) {
    cri.wait_for_image(PAUSE_IMAGE);
    cri.wait_for_image(IMAGE);
    let logs = pod_logs(ctd);
    std::fs::create_dir_all(&logs).unwrap();
    let pod = pod_config(name, &ctd.env().id("uid"), &ctd.cgroup_parent, &logs);
    let req = RunPodSandboxRequest { config: Some(pod.clone()), runtime_handler: RUNTIME.into() };
    let pod_id =
        cri.call(|mut c| async move { c.run_pod_sandbox(req).await }).unwrap().pod_sandbox_id;
    (pod_id, pod)
}

/// Stops and removes the pod sandbox, as the kubelet does last; the runtime must list nothing.
fn remove_pod(ctd: &Containerd, cri: &Cri, pod_id: &str) {
    let req = StopPodSandboxRequest { pod_sandbox_id: pod_id.to_owned() };
    cri.call(|mut c| async move { c.stop_pod_sandbox(req).await }).unwrap();
    let req = RemovePodSandboxRequest { pod_sandbox_id: pod_id.to_owned() };
    cri.call(|mut c| async move { c.remove_pod_sandbox(req).await }).unwrap();
    assert!(runtime_list(ctd).is_empty(), "the runtime still lists containers");
}

#[test]
fn cri_pod_with_runtime_handler_berth_runs_execs_updates_and_stops() {
    let ctd = Containerd::start("cri-pod", &[K8S_NS]);
    let cri = Cri::connect(&ctd.socket);
    let version =
        cri.call(|mut c| async move { c.version(VersionRequest::default()).await }).unwrap();
    assert_eq!(version.runtime_api_version, "v1alpha2");
    let (pod_id, pod) = run_pod(&ctd, &cri, "berth-pod");
    // The handler routed the sandbox to the binary under test: its own state lists it.
    assert_eq!(runtime_list(&ctd).get(&pod_id).map(String::as_str), Some("running"));

    let script = "trap 'exit 42' TERM; echo started; while :; do sleep 1; done";
    let req = CreateContainerRequest {
        pod_sandbox_id: pod_id.clone(),
        config: Some(container_config("app", &["sh", "-c", script])),
        sandbox_config: Some(pod.clone()),
    };
    let cid = cri.call(|mut c| async move { c.create_container(req).await }).unwrap().container_id;
    // containerd's CRI makes the task (runtime create + start) only at StartContainer.
    assert!(!runtime_list(&ctd).contains_key(&cid), "the runtime lists {cid} before its start");
    let req = StartContainerRequest { container_id: cid.clone() };
    cri.call(|mut c| async move { c.start_container(req).await }).unwrap();
    let status = |cri: &Cri| {
        let req = ContainerStatusRequest { container_id: cid.clone(), verbose: false };
        cri.call(|mut c| async move { c.container_status(req).await }).unwrap().status.unwrap()
    };
    assert_eq!(status(&cri).state, ContainerState::ContainerRunning as i32);
    assert_eq!(runtime_list(&ctd).get(&cid).map(String::as_str), Some("running"));

    let req = ExecSyncRequest {
        container_id: cid.clone(),
        cmd: ["sh", "-c", "echo out $(cat /proc/1/comm); echo err >&2; exit 3"]
            .map(String::from)
            .to_vec(),
        timeout: 30,
    };
    let exec = cri.call(|mut c| async move { c.exec_sync(req).await }).unwrap();
    // The container joined the pod's pid namespace (CRI's default for a container), whose
    // pid 1 is the sandbox's `sleep`.
    assert_eq!(String::from_utf8_lossy(&exec.stdout), "out sleep\n");
    assert_eq!(String::from_utf8_lossy(&exec.stderr), "err\n");
    assert_eq!(exec.exit_code, 3);

    let limit = 64 << 20;
    let req = UpdateContainerResourcesRequest {
        container_id: cid.clone(),
        linux: Some(LinuxContainerResources { memory_limit_in_bytes: limit, ..Default::default() }),
        ..Default::default()
    };
    cri.call(|mut c| async move { c.update_container_resources(req).await }).unwrap();
    let cgroup = format!("{}/{cid}", ctd.cgroup_parent);
    assert_eq!(memory_limit(&cgroup), limit.to_string());

    // The kubelet's metrics: the shim reads them from the cgroup berth made.
    let req = ContainerStatsRequest { container_id: cid.clone() };
    let stats =
        cri.call(|mut c| async move { c.container_stats(req).await }).unwrap().stats.unwrap();
    let memory = stats.memory.and_then(|m| m.usage_bytes).map(|v| v.value);
    assert!(memory.is_some_and(|m| m > 0), "no memory usage in the stats: {memory:?}");
    let cpu = stats.cpu.and_then(|c| c.usage_core_nano_seconds).map(|v| v.value);
    assert!(cpu.is_some_and(|c| c > 0), "no cpu usage in the stats: {cpu:?}");

    // The kubelet's stop: TERM, then KILL after the grace period; the trap's status shows TERM.
    let req = StopContainerRequest { container_id: cid.clone(), timeout: 20 };
    cri.call(|mut c| async move { c.stop_container(req).await }).unwrap();
    let stopped = status(&cri);
    assert_eq!(stopped.state, ContainerState::ContainerExited as i32);
    assert_eq!(stopped.exit_code, 42, "{stopped:?}");
    let log = std::fs::read_to_string(pod_logs(&ctd).join("app.log")).unwrap_or_default();
    assert!(log.contains(" stdout F started"), "container log: {log:?}");

    let req = RemoveContainerRequest { container_id: cid.clone() };
    cri.call(|mut c| async move { c.remove_container(req).await }).unwrap();
    assert!(!runtime_list(&ctd).contains_key(&cid), "the runtime still lists {cid}");
    remove_pod(&ctd, &cri, &pod_id);
}

#[test]
fn cri_start_failure_carries_the_runtimes_error_and_leaves_nothing() {
    let ctd = Containerd::start("cri-fail", &[K8S_NS]);
    let cri = Cri::connect(&ctd.socket);
    let (pod_id, pod) = run_pod(&ctd, &cri, "berth-fail");

    let req = CreateContainerRequest {
        pod_sandbox_id: pod_id.clone(),
        config: Some(container_config("broken", &["/bin/no-such-program"])),
        sandbox_config: Some(pod),
    };
    let cid = cri.call(|mut c| async move { c.create_container(req).await }).unwrap().container_id;
    let req = StartContainerRequest { container_id: cid.clone() };
    let err = cri.call(|mut c| async move { c.start_container(req).await }).unwrap_err();
    // The shim passes on the last error record of the runtime's JSON log.
    assert!(err.message().contains("OCI runtime create failed"), "{err:?}");
    assert!(err.message().contains("/bin/no-such-program"), "{err:?}");
    let listed = runtime_list(&ctd);
    assert_eq!(listed.keys().collect::<Vec<_>>(), vec![&pod_id], "only the sandbox should be left");

    let req = RemoveContainerRequest { container_id: cid };
    cri.call(|mut c| async move { c.remove_container(req).await }).unwrap();
    remove_pod(&ctd, &cri, &pod_id);
}

#[test]
fn cri_security_context_and_host_path_volume_reach_the_container() {
    let ctd = Containerd::start("cri-secctx", &[K8S_NS]);
    let cri = Cri::connect(&ctd.socket);
    let (pod_id, pod) = run_pod(&ctd, &cri, "berth-secctx");

    // A kubelet's restricted container: a user, read-only root, no privilege escalation,
    // RuntimeDefault seccomp, a pid namespace of its own, env, workingDir and a hostPath volume.
    let volume = ctd.env().probe_dir();
    let probe = "id -u > /data/uid; echo \"$GREETING\" > /data/env; pwd > /data/cwd; \
                 cat /proc/1/comm > /data/pid1; touch /written 2> /data/ro; \
                 grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status > /data/status; \
                 echo done > /data/done; exec sleep 1000";
    let mut config = container_config("restricted", &["sh", "-c", probe]);
    config.working_dir = "/tmp".into();
    config.envs = vec![KeyValue { key: "GREETING".into(), value: "hello from CRI".into() }];
    config.mounts = vec![Mount {
        container_path: "/data".into(),
        host_path: volume.display().to_string(),
        ..Default::default()
    }];
    let namespaces = NamespaceOption {
        network: NamespaceMode::Node as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    };
    config.linux = Some(LinuxContainerConfig {
        security_context: Some(LinuxContainerSecurityContext {
            run_as_user: Some(Int64Value { value: 1000 }),
            readonly_rootfs: true,
            no_new_privs: true,
            namespace_options: Some(namespaces),
            seccomp: Some(SecurityProfile::default()),
            ..Default::default()
        }),
        ..Default::default()
    });
    let req = CreateContainerRequest {
        pod_sandbox_id: pod_id.clone(),
        config: Some(config),
        sandbox_config: Some(pod),
    };
    let cid = cri.call(|mut c| async move { c.create_container(req).await }).unwrap().container_id;
    let req = StartContainerRequest { container_id: cid.clone() };
    cri.call(|mut c| async move { c.start_container(req).await }).unwrap();
    assert!(
        wait_for(Duration::from_secs(10), || volume.join("done").exists()),
        "the container never wrote to its hostPath volume"
    );
    let fact = |name: &str| std::fs::read_to_string(volume.join(name)).unwrap();
    assert_eq!(fact("uid"), "1000\n");
    assert_eq!(fact("env"), "hello from CRI\n");
    assert_eq!(fact("cwd"), "/tmp\n");
    assert_eq!(fact("pid1"), "sh\n", "a pid namespace of its own: the container's sh is pid 1");
    assert!(fact("ro").contains("Read-only file system"), "touch said {:?}", fact("ro"));
    assert_eq!(fact("status"), "NoNewPrivs:\t1\nSeccomp:\t2\n");

    // Grace period 0: the kubelet's force stop is SIGKILL straight away.
    let req = StopContainerRequest { container_id: cid.clone(), timeout: 0 };
    cri.call(|mut c| async move { c.stop_container(req).await }).unwrap();
    let req = ContainerStatusRequest { container_id: cid.clone(), verbose: false };
    let st =
        cri.call(|mut c| async move { c.container_status(req).await }).unwrap().status.unwrap();
    assert_eq!((st.state, st.exit_code), (ContainerState::ContainerExited as i32, 137));
    let req = RemoveContainerRequest { container_id: cid };
    cri.call(|mut c| async move { c.remove_container(req).await }).unwrap();
    remove_pod(&ctd, &cri, &pod_id);
}
