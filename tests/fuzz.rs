//! Fuzzing without a fuzzing engine: a seeded, deterministic mutation loop over the inputs
//! berth takes from outside — config.json (parse, validate, check), `exec --process` JSON,
//! sync-protocol messages, signal names and container ids — and the host-safety paths:
//! `linux.cgroupsPath` resolution, state.json and cgroup.json, hook entries. Each input must
//! give `Ok` or an error (one short line where berth reports it), and where a property
//! exists (a cgroup stays below its mount) it is asserted; a panic is caught, the input
//! saved under `target/fuzz-crashes/` and the test fails.
//!
//! `cargo test --test fuzz` runs a short pass (a few seconds); `make fuzz` a long one.
//! `FUZZ_ITERATIONS` scales every target (the number for the cheapest, the config targets
//! run a tenth of it), `FUZZ_SEED` picks another deterministic sequence.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use berth::process::sync::{channel_pair, decode, FromInit, FromParent};
use serde_json::{json, Value};

/// xorshift64*: small, fast and the same sequence everywhere for a seed.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

fn iterations() -> usize {
    std::env::var("FUZZ_ITERATIONS").ok().and_then(|n| n.parse().ok()).unwrap_or(20_000)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED").ok().and_then(|n| n.parse().ok()).unwrap_or(0x5eed)
}

/// Runs `f`; on a panic saves `input` and fails naming the file.
fn guard(target: &str, n: usize, input: &[u8], f: impl FnOnce()) {
    if catch_unwind(AssertUnwindSafe(f)).is_ok() {
        return;
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-crashes");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join(format!("{target}-{:x}-{n}", seed()));
    std::fs::write(&file, input).unwrap();
    panic!("{target}: input {n} panicked; saved in {}", file.display());
}

/// Strings that have broken parsers and validators before.
const STRINGS: &[&str] = &[
    "",
    "/",
    ".",
    "..",
    "../../etc/passwd",
    "/proc/self/exe",
    "a\0b",
    "\n",
    "é",
    "🦀",
    "proc",
    "bind",
    "rbind",
    "tmpfs",
    "ro",
    "rw,nosuid",
    "private",
    "rshared",
    "user",
    "pid",
    "network",
    "mount",
    "cgroup",
    "time",
    "ipc",
    "uts",
    "CAP_SYS_ADMIN",
    "CAP_NOPE",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_NOTIFY",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_ARCH_X86_64",
    "read",
    "RLIMIT_NOFILE",
    "RLIMIT_BOGUS",
    "SCHED_FIFO",
    "IOPRIO_CLASS_RT",
    "LINUX32",
    "a",
    "rwm",
    "c",
    "b",
    "p",
    "/dev/null",
    "/berth-test/x",
    "system.slice:x:y",
    "net.ipv4.ip_forward",
    "kernel.shmmax",
    "monotonic",
    "boottime",
    "-1",
    "1e309",
    "0x10",
    "999999999999999999999",
];

const NUMBERS: &[i128] = &[
    0,
    1,
    -1,
    2,
    7,
    63,
    64,
    255,
    256,
    1023,
    1024,
    4096,
    65535,
    65536,
    2147483647,
    2147483648,
    -2147483648,
    4294967295,
    4294967296,
    9223372036854775807,
    -9223372036854775808,
    18446744073709551615,
];

fn random_scalar(rng: &mut Rng) -> Value {
    match rng.below(6) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => {
            let n = *rng.pick(NUMBERS);
            serde_json::from_str(&n.to_string()).unwrap()
        }
        3 => json!(f64::from_bits(rng.next()) % 1e12),
        4 => {
            let long = "A".repeat(1 << rng.below(17));
            json!(long)
        }
        _ => json!(*rng.pick(STRINGS)),
    }
}

/// JSON pointers of every node of `v` (the root is "").
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(child, format!("{at}/{}", key.replace('~', "~0").replace('/', "~1")), out)
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                pointers(child, format!("{at}/{i}"), out)
            }
        }
        _ => {}
    }
    out.push(at);
}

/// One structural change somewhere in `v`; `donors` lend subtrees of other inputs.
fn mutate(v: &mut Value, rng: &mut Rng, donors: &[Value]) {
    let mut all = Vec::new();
    pointers(v, String::new(), &mut all);
    let at = rng.pick(&all).clone();
    let donor = || {
        let mut r = Rng::new(at.len() as u64 ^ all.len() as u64);
        let d = r.pick(donors);
        let mut ps = Vec::new();
        pointers(d, String::new(), &mut ps);
        d.pointer(r.pick(&ps).as_str()).cloned().unwrap_or(Value::Null)
    };
    let op = rng.below(9);
    if op == 3 && !at.is_empty() {
        // Remove the node from its parent.
        let (parent, key) = at.rsplit_once('/').unwrap();
        let key = key.replace("~1", "/").replace("~0", "~");
        match v.pointer_mut(parent) {
            Some(Value::Object(map)) => {
                map.remove(&key);
            }
            Some(Value::Array(items)) => {
                if let Ok(i) = key.parse::<usize>() {
                    if i < items.len() {
                        items.remove(i);
                    }
                }
            }
            _ => {}
        }
        return;
    }
    let replacement = match op {
        5 => Some(donor()),
        _ => None,
    };
    let Some(node) = v.pointer_mut(&at) else { return };
    match (op, node) {
        (0 | 1, node) => *node = random_scalar(rng),
        (2, node) => *node = if rng.below(2) == 0 { json!([]) } else { json!({}) },
        (4, Value::Array(items)) if !items.is_empty() => {
            let i = rng.below(items.len());
            items.push(items[i].clone());
        }
        (4, Value::Object(map)) => {
            map.insert(rng.pick(STRINGS).to_string(), random_scalar(rng));
        }
        (5, node) => *node = replacement.unwrap(),
        (6, node) => {
            let inner = node.take();
            *node = json!([inner]);
        }
        (7, Value::String(s)) => match rng.below(4) {
            0 => s.push_str("/../.."),
            1 => {
                let mut i = s.len() / 2;
                while !s.is_char_boundary(i) {
                    i -= 1;
                }
                s.insert(i, '\0')
            }
            2 => *s = s.repeat(1 + rng.below(64)),
            _ => s.clear(),
        },
        (7 | 8, node @ Value::Number(_)) => {
            *node = serde_json::from_str(&rng.pick(NUMBERS).to_string()).unwrap()
        }
        (_, node) => *node = random_scalar(rng),
    }
}

/// Byte-level damage to serialized input: flips, cuts, inserts.
fn damage(bytes: &mut Vec<u8>, rng: &mut Rng) {
    if bytes.is_empty() {
        bytes.push(b'{');
    }
    match rng.below(4) {
        0 => {
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 << rng.below(8);
        }
        1 => bytes.truncate(rng.below(bytes.len())),
        2 => {
            let i = rng.below(bytes.len());
            const INSERTS: &[&[u8]] = &[b"\"", b"{", b"[", b"\\u0000", b",", b"\xff"];
            let insert = *rng.pick(INSERTS);
            bytes.splice(i..i, insert.iter().copied());
        }
        _ => {
            let i = rng.below(bytes.len());
            let j = rng.below(bytes.len());
            bytes.swap(i, j);
        }
    }
}

/// A new input: a seed with a few mutations, sometimes damaged as bytes.
fn next_input(rng: &mut Rng, seeds: &[Value]) -> Vec<u8> {
    let mut v = rng.pick(seeds).clone();
    for _ in 0..1 + rng.below(4) {
        mutate(&mut v, rng, seeds);
    }
    let mut bytes = serde_json::to_vec(&v).unwrap();
    if rng.below(8) == 0 {
        damage(&mut bytes, rng);
    }
    bytes
}

/// Config seeds: `berth spec` (plain and rootless) and one that uses most of the spec.
fn config_seeds() -> Vec<Value> {
    let rich = json!({
        "ociVersion": "1.2.0",
        "root": { "path": "rootfs", "readonly": true },
        "hostname": "h", "domainname": "d",
        "annotations": { "k": "v" },
        "process": {
            "terminal": false, "cwd": "/tmp", "args": ["sh", "-c", "true"],
            "env": ["PATH=/bin", "A=B"],
            "user": { "uid": 1000, "gid": 1000, "umask": 18, "additionalGids": [5, 6] },
            "capabilities": { "bounding": ["CAP_KILL"], "effective": ["CAP_KILL"],
                "permitted": ["CAP_KILL"], "inheritable": [], "ambient": [] },
            "rlimits": [{ "type": "RLIMIT_NOFILE", "soft": 10, "hard": 20 }],
            "noNewPrivileges": true, "oomScoreAdj": 100,
            "scheduler": { "policy": "SCHED_OTHER", "nice": 5 },
            "ioPriority": { "class": "IOPRIO_CLASS_BE", "priority": 4 }
        },
        "mounts": [
            { "destination": "/proc", "type": "proc", "source": "proc" },
            { "destination": "/data", "type": "bind", "source": "/tmp", "options": ["rbind", "ro"] },
            { "destination": "/t", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=755"] }
        ],
        "hooks": {
            "prestart": [{ "path": "/bin/true", "args": ["true"], "env": ["X=1"], "timeout": 5 }],
            "createRuntime": [{ "path": "/bin/true" }],
            "poststop": [{ "path": "/bin/true" }]
        },
        "linux": {
            "namespaces": [{ "type": "pid" }, { "type": "mount" }, { "type": "user" },
                { "type": "network", "path": "/proc/1/ns/net" }, { "type": "time" }],
            "uidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
            "gidMappings": [{ "containerID": 0, "hostID": 100000, "size": 65536 }],
            "timeOffsets": { "monotonic": { "secs": 1, "nanosecs": 2 } },
            "cgroupsPath": "/berth-test/fuzz",
            "sysctl": { "net.ipv4.ip_forward": "1" },
            "resources": {
                "memory": { "limit": 1048576, "swap": 2097152 },
                "cpu": { "shares": 512, "quota": 10000, "period": 100000, "cpus": "0" },
                "pids": { "limit": 10 },
                "devices": [{ "allow": false, "access": "rwm" },
                    { "allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw" }],
                "unified": { "memory.high": "max" }
            },
            "devices": [{ "path": "/dev/fuse", "type": "c", "major": 10, "minor": 229 }],
            "seccomp": {
                "defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1,
                "architectures": ["SCMP_ARCH_X86_64"], "flags": ["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls": [{ "names": ["read", "write"], "action": "SCMP_ACT_ALLOW",
                    "args": [{ "index": 0, "value": 1, "valueTwo": 0, "op": "SCMP_CMP_EQ" }] }]
            },
            "maskedPaths": ["/proc/kcore"], "readonlyPaths": ["/proc/sys"],
            "personality": { "domain": "LINUX" },
            "rootfsPropagation": "rprivate"
        }
    });
    let plain = serde_json::from_str(&berth::spec::default_spec(false)).unwrap();
    let rootless = serde_json::from_str(&berth::spec::default_spec(true)).unwrap();
    vec![plain, rootless, rich]
}

/// A scratch bundle (with an empty rootfs) in the temp dir, removed on drop.
struct Bundle(PathBuf);

impl Bundle {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("berth-fuzz-{name}-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        Bundle(dir)
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn config_json_load_and_check_never_panic_and_agree() {
    let bundle = Bundle::new("config");
    let seeds = config_seeds();
    let mut rng = Rng::new(seed());
    let (mut accepted, mut refused) = (0, 0);
    for n in 0..iterations() / 10 {
        let input = next_input(&mut rng, &seeds);
        std::fs::write(bundle.0.join("config.json"), &input).unwrap();
        guard("config", n, &input, || {
            let loaded = berth::spec::load(&bundle.0);
            let problems = berth::spec::check(&bundle.0);
            match &loaded {
                Ok(_) => {
                    accepted += 1;
                    assert!(problems.is_empty(), "load accepted what check refuses: {problems:?}");
                }
                Err(err) => {
                    refused += 1;
                    assert!(!berth::error::one_line(err).is_empty(), "an empty error");
                    assert!(!problems.is_empty(), "check found nothing, load refused: {err}");
                }
            }
        });
    }
    eprintln!("config.json: {accepted} accepted, {refused} refused");
    assert!(
        accepted > 0 && refused > 0,
        "the mutations never reach one side: {accepted}/{refused}"
    );
}

#[test]
fn exec_process_json_never_panics() {
    let bundle = Bundle::new("process");
    let seeds: Vec<Value> = config_seeds().into_iter().map(|c| c["process"].clone()).collect();
    let path = bundle.0.join("process.json");
    let mut rng = Rng::new(seed() ^ 1);
    for n in 0..iterations() / 10 {
        let input = next_input(&mut rng, &seeds);
        std::fs::write(&path, &input).unwrap();
        guard("process", n, &input, || {
            let _ = berth::spec::load_process(&path);
        });
    }
}

fn sync_seeds() -> Vec<Value> {
    let from_init = [
        FromInit::UserNamespaceReady,
        FromInit::InitPid(42),
        FromInit::RunHooks,
        FromInit::ConsoleMaster,
        FromInit::SeccompListener,
        FromInit::Ready { steps: vec![("preparing the rootfs".into(), 848)] },
        FromInit::Failed { chain: vec!["mounting".into(), "EPERM".into()] },
    ];
    let from_parent = [
        FromParent::SetupDone,
        FromParent::InitPidSeen,
        FromParent::HooksDone { state: "{\"id\":\"x\"}".into() },
    ];
    let mut seeds: Vec<Value> =
        from_init.iter().map(|m| serde_json::to_value(m).unwrap()).collect();
    seeds.extend(from_parent.iter().map(|m| serde_json::to_value(m).unwrap()));
    seeds
}

#[test]
fn sync_messages_decode_or_fail_never_panic() {
    let seeds = sync_seeds();
    let mut rng = Rng::new(seed() ^ 2);
    for n in 0..iterations() {
        let input = next_input(&mut rng, &seeds);
        guard("sync", n, &input, || {
            // Whatever decodes encodes back to the same message.
            if let Ok(msg) = decode::<FromInit>(&input) {
                let again = serde_json::to_vec(&msg).unwrap();
                assert_eq!(decode::<FromInit>(&again).unwrap(), msg);
            }
            if let Ok(msg) = decode::<FromParent>(&input) {
                let again = serde_json::to_vec(&msg).unwrap();
                assert_eq!(decode::<FromParent>(&again).unwrap(), msg);
            }
        });
    }
}

#[test]
fn sync_channel_takes_any_message_in_any_order() {
    let seeds = sync_seeds();
    let mut rng = Rng::new(seed() ^ 3);
    let (parent, init) = channel_pair().unwrap();
    for n in 0..iterations() / 10 {
        let mut value = rng.pick(&seeds).clone();
        mutate(&mut value, &mut rng, &seeds);
        let input = serde_json::to_vec(&value).unwrap();
        guard("channel", n, &input, || {
            init.send(&value, None).unwrap();
            let _ = parent.expect_ready();
            parent.send(&value, None).unwrap();
            let _ = init.recv::<FromParent>();
        });
    }
}

#[test]
fn signal_names_parse_or_refuse() {
    let names = ["KILL", "SIGKILL", "kill", "TERM", "RTMIN", "RTMIN+", "RTMAX", "SIG", "HUP"];
    let mut rng = Rng::new(seed() ^ 4);
    for n in 0..iterations() {
        let text = match rng.below(4) {
            0 => format!("{}+{}", rng.pick(&names), rng.pick(NUMBERS)),
            1 => format!("{}{}", rng.pick(&names), rng.pick(STRINGS)),
            2 => rng.pick(NUMBERS).to_string(),
            _ => {
                let bytes: Vec<u8> = (0..rng.below(12)).map(|_| rng.next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            }
        };
        guard("signal", n, text.as_bytes(), || {
            if let Ok(sig) = berth::process::signals::parse_signal(&text) {
                assert!((1..=libc::SIGRTMAX()).contains(&sig), "{text:?} gave signal {sig}");
                assert_eq!(berth::process::signals::parse_signal(&sig.to_string()), Ok(sig));
            }
        });
    }
}

#[test]
fn container_ids_parse_or_refuse() {
    let mut rng = Rng::new(seed() ^ 5);
    let alphabet = b"aZ09_+-./ \0~:\xc3\xa9";
    for n in 0..iterations() {
        let len = match rng.below(8) {
            0 => 1020 + rng.below(8),
            _ => rng.below(10),
        };
        let bytes: Vec<u8> = (0..len).map(|_| *rng.pick(alphabet)).collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        guard("id", n, text.as_bytes(), || {
            if let Ok(id) = berth::state::ContainerId::parse(&text) {
                let ok = |b: u8| b.is_ascii_alphanumeric() || b"_+-.".contains(&b);
                assert!(text.bytes().all(ok), "{text:?} accepted");
                assert!(!text.is_empty() && text.len() <= 1024 && text != "." && text != "..");
                assert_eq!(id.as_str(), text);
            }
        });
    }
}

/// berth only sends on a console socket, so what can be hostile is the peer: every kind of
/// path and peer gives `Ok` or an error naming the socket, never a panic or a hang.
#[test]
fn console_socket_peers_never_panic() {
    use std::os::fd::AsRawFd;
    use std::os::unix::net::{UnixDatagram, UnixListener};
    let bundle = Bundle::new("console");
    let master = std::fs::File::open("/dev/null").unwrap();
    let path = |name: &str| bundle.0.join(name);
    std::fs::write(path("file"), b"").unwrap();
    drop(UnixListener::bind(path("closed")).unwrap());
    let backlog = UnixListener::bind(path("backlog")).unwrap();
    let _dgram = UnixDatagram::bind(path("dgram")).unwrap();
    let hangup = UnixListener::bind(path("hangup")).unwrap();
    let closer = std::thread::spawn(move || drop(hangup.accept()));
    for name in ["missing", "file", "rootfs", "closed", "backlog", "dgram", "hangup"] {
        let socket = path(name);
        let sent = berth::tty::send_to_console_socket(&socket, master.as_raw_fd());
        if let Err(err) = &sent {
            let msg = berth::error::one_line(err);
            assert!(msg.contains(socket.to_str().unwrap()), "{name}: {msg}");
        }
        if name == "backlog" {
            assert!(sent.is_ok(), "a peer that accepts later must get the master: {sent:?}");
        }
    }
    closer.join().unwrap();
    drop(backlog);
}

/// The longest one-line error any fuzz target accepts: a few hundred characters per cause
/// (`berth::error::MAX_MESSAGE` each) and a short chain.
const MAX_ERROR: usize = 3 * berth::error::MAX_MESSAGE;

/// An error as berth reports it: one line, bounded, not empty.
fn assert_short_error(err: &(dyn std::error::Error + 'static)) {
    let line = berth::error::one_line(err);
    assert!(!line.is_empty(), "an empty error");
    assert!(!line.contains('\n'), "a multi-line error: {line:?}");
    let chars = line.chars().count();
    let start: String = line.chars().take(200).collect();
    assert!(chars <= MAX_ERROR, "an error of {chars} characters: {start}");
}

/// Path parts that have escaped cgroup roots elsewhere: climbs, dots, scopes, NUL, slashes.
const CGROUP_PARTS: &[&str] =
    &["", ".", "..", "...", "a", "berth-test", "x.scope", "user.slice", "a\0b", "/", "é", " "];

fn random_cgroup_path(rng: &mut Rng) -> String {
    let mut path = String::new();
    if rng.below(2) == 0 {
        path.push('/');
    }
    for i in 0..rng.below(8) {
        if i > 0 {
            path.push('/');
        }
        let part = if rng.below(6) == 0 { *rng.pick(STRINGS) } else { *rng.pick(CGROUP_PARTS) };
        path.push_str(part);
    }
    path
}

/// A mount point has no `.` or `..` part and lies under the mount.
fn assert_under(mount: &Path, dir: &Path, input: &str) {
    use std::path::Component;
    assert!(
        dir.starts_with(mount),
        "{input:?} resolved to {} outside {}",
        dir.display(),
        mount.display()
    );
    let climbs = dir.components().any(|c| matches!(c, Component::ParentDir | Component::CurDir));
    assert!(!climbs, "{input:?} resolved to {} with a . or .. part", dir.display());
}

/// `linux.cgroupsPath` with the runtime's own cgroup and the mount's root (both from /proc
/// on the host, so also fuzzed): the resolved directories stay under the hierarchy mount.
#[test]
fn cgroups_paths_resolve_under_the_mount() {
    use berth::cgroups::path::{parse_mountinfo, parse_proc_cgroup, resolve_v1, resolve_v2};
    let mut rng = Rng::new(seed() ^ 6);
    for n in 0..iterations() {
        let wanted = random_cgroup_path(&mut rng);
        let own = random_cgroup_path(&mut rng);
        // The kernel escapes blanks in mountinfo; an unescaped one would shift the fields.
        let root = random_cgroup_path(&mut rng).replace([' ', '\n'], "_");
        let mountinfo = format!(
            "30 25 0:26 {root} /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n\
             31 25 0:27 {root} /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
             32 25 0:28 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n"
        );
        let proc_cgroup = format!("0::{own}\n5:memory:{own}\n4:devices:{root}\n");
        let input = format!("{wanted}\n{mountinfo}{proc_cgroup}");
        guard("cgroups-path", n, input.as_bytes(), || {
            let mounts = parse_mountinfo(&mountinfo);
            let own = parse_proc_cgroup(&proc_cgroup);
            for mount in mounts.iter().filter(|m| m.v2) {
                assert_under(&mount.point, &resolve_v2(mount, &own, &wanted), &input);
            }
            let v1 = resolve_v1(&mounts, &own, &wanted);
            assert!(v1.contains_key("devices"), "a mounted controller left out: {v1:?}");
            for (controller, dir) in &v1 {
                let mount = mounts.iter().find(|m| m.controllers.contains(controller)).unwrap();
                assert_under(&mount.point, dir, &input);
            }
        });
        // Damaged mountinfo and /proc/self/cgroup text parse to something or nothing.
        let mut bytes = input.clone().into_bytes();
        damage(&mut bytes, &mut rng);
        guard("cgroups-text", n, &bytes, || {
            let text = String::from_utf8_lossy(&bytes);
            let _ = parse_mountinfo(&text);
            let _ = parse_proc_cgroup(&text);
        });
    }
}

/// state.json and cgroup.json as `create` writes them, with every optional field set.
fn state_seeds() -> Vec<Value> {
    let hook = json!({ "path": "/bin/true", "args": ["true", "x"], "env": ["A=1"], "timeout": 3 });
    let paths = json!({ "memory": "/sys/fs/cgroup/memory/berth-test/f",
        "devices": "/sys/fs/cgroup/devices/berth-test/f" });
    let created = json!(["/sys/fs/cgroup/memory/berth-test", "/sys/fs/cgroup/memory/berth-test/f"]);
    let state = json!({
        "ociVersion": "1.2.0", "id": "f", "pid": 4242, "pid_start_time": 99,
        "bundle": "/b", "rootfs": "/b/rootfs", "created": "2026-11-25T14:00:00.123456789Z",
        "owner": "", "annotations": { "k": "v" },
        "cgroup_paths": paths, "cgroup_created": created,
        "poststart": [hook], "poststop": [hook, { "path": "/bin/false" }],
        "intel_rdt_path": "/sys/fs/resctrl/f"
    });
    let v2 = json!({ "ociVersion": "1.2.0", "id": "f", "pid": 0, "pid_start_time": 0,
        "bundle": "/b", "rootfs": "/b/rootfs", "created": "", "owner": "",
        "cgroup_paths": { "unified": "/sys/fs/cgroup/berth-test/f" } });
    let record = json!({ "paths": paths, "created": created, "init": [4242, 99] });
    vec![state, v2, record]
}

/// A corrupted or hostile state.json / cgroup.json in a container directory: `state`,
/// `list`, `kill` and `delete` read them through these functions, which give a state or a
/// short one-line error, never a panic; a state that loads names a cgroup berth treats as
/// its own only when every directory of it is recorded as made by berth.
#[test]
fn state_files_load_or_fail_short() {
    use berth::cgroups::Cgroup;
    use berth::state::{ContainerId, StateStore};
    let bundle = Bundle::new("state");
    let store = StateStore::new(bundle.0.join("root"));
    let id = ContainerId::parse("f").unwrap();
    let dir = store.create(&id).unwrap();
    let seeds = state_seeds();
    let mut rng = Rng::new(seed() ^ 7);
    for n in 0..iterations() / 40 {
        let input = next_input(&mut rng, &seeds);
        std::fs::write(dir.path().join("state.json"), &input).unwrap();
        std::fs::write(dir.path().join("cgroup.json"), &input).unwrap();
        guard("state", n, &input, || {
            match dir.load() {
                Ok(state) => {
                    assert_eq!(store.read(&id).unwrap(), state);
                    // Reads /proc/<pid>/stat only (never /proc/0 or /proc/-1).
                    let _ = berth::state::status(&state, &dir.fifo_path(), || false);
                    // What delete removes and kill --all signals in is a proven cgroup.
                    match state.cgroup() {
                        Ok(proven) => {
                            let mounts = cgroup_mount_points();
                            for dir in proven.paths.values().chain(proven.created) {
                                let below = mounts.iter().any(|m| dir.starts_with(m) && dir != m);
                                assert!(below, "{} is not below a cgroup mount", dir.display());
                                assert_under(Path::new("/"), dir, "state.json");
                            }
                            if let Some(cgroup) = Cgroup::from_paths(proven.paths) {
                                if cgroup.is_owned(proven.created) {
                                    let dirs = proven.paths.values();
                                    assert!(dirs.clone().all(|d| proven.created.contains(d)));
                                }
                            }
                        }
                        Err(err) => assert_short_error(&err),
                    }
                }
                Err(err) => assert_short_error(&err),
            }
            if let Err(err) = dir.load_cgroup() {
                assert_short_error(&err);
            }
            assert_eq!(store.list().unwrap().len(), 1, "the store lost its container");
        });
    }
}

/// Hook entries (path, args, env, timeout) mutated inside an otherwise valid config: what
/// validation accepts is runnable as a hook (absolute path, KEY=VALUE env, a positive
/// timeout), what it refuses is a short one-line error naming the hook.
#[test]
fn hook_entries_validate_or_refuse_short() {
    let bundle = Bundle::new("hooks");
    let rich = config_seeds().pop().unwrap();
    let seeds = vec![rich["hooks"].clone()];
    let base: Value = serde_json::from_str(&berth::spec::default_spec(false)).unwrap();
    let mut rng = Rng::new(seed() ^ 8);
    let (mut accepted, mut refused) = (0, 0);
    for n in 0..iterations() / 40 {
        let mut hooks = rng.pick(&seeds).clone();
        for _ in 0..1 + rng.below(4) {
            mutate(&mut hooks, &mut rng, &seeds);
        }
        let mut config = base.clone();
        config["hooks"] = hooks;
        let input = serde_json::to_vec(&config).unwrap();
        std::fs::write(bundle.0.join("config.json"), &input).unwrap();
        guard("hooks", n, &input, || match berth::spec::load(&bundle.0) {
            Ok(spec) => {
                accepted += 1;
                let h = &spec.hooks;
                for hook in [
                    &h.prestart,
                    &h.create_runtime,
                    &h.create_container,
                    &h.start_container,
                    &h.poststart,
                    &h.poststop,
                ]
                .into_iter()
                .flatten()
                {
                    assert!(hook.path.is_absolute(), "{hook:?}");
                    assert!(hook.env.iter().all(|e| e.contains('=')), "{hook:?}");
                    assert!(hook.timeout.is_none_or(|t| t > 0), "{hook:?}");
                }
            }
            Err(err) => {
                refused += 1;
                assert_short_error(&err);
            }
        });
    }
    eprintln!("hooks: {accepted} accepted, {refused} refused");
    assert!(accepted > 0 && refused > 0, "the mutations never reach one side");
}

fn cgroup_mount_points() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    berth::cgroups::path::parse_mountinfo(&text).into_iter().map(|m| m.point).collect()
}

/// The binary against a hostile state.json: its cgroup is a decoy directory tree in the
/// temp dir with a `cgroup.procs` that lists a `sleep` the test started. Every command that
/// acts on the cgroup (`delete --force`, `kill --all`, `ps`) must refuse it with
/// one line naming state.json, and leave the decoy and the sleep alone (berth used to rmdir
/// the decoy tree and SIGKILL the sleep on the file's word); `state`, which uses nothing of
/// it, reports the container.
#[test]
fn hostile_state_json_is_refused_and_nothing_outside_is_touched() {
    use berth::state::{ContainerId, StateStore};
    use std::process::Command;
    let bundle = Bundle::new("hostile-state");
    let root = bundle.0.join("root");
    let decoy = bundle.0.join("decoy");
    std::fs::create_dir_all(decoy.join("child")).unwrap();
    let mut sleep = Command::new("sleep").arg("300").spawn().unwrap();
    std::fs::write(decoy.join("cgroup.procs"), format!("{}\n", sleep.id())).unwrap();
    let store = StateStore::new(&root);
    let mut seed = state_seeds().remove(0);
    seed["pid"] = json!(0);
    seed["poststart"] = json!([]);
    seed["poststop"] = json!([]);
    seed.as_object_mut().unwrap().remove("intel_rdt_path");
    let decoy_json = json!(decoy);
    let mounted = json!(cgroup_mount_points()[0].join("berth-test-none"));
    let climb = format!("{}{}{}", mounted.as_str().unwrap(), "/..".repeat(12), decoy.display());
    let cases = [
        ("paths", json!({ "unified": decoy_json }), json!([decoy_json])),
        ("climb", json!({ "unified": climb }), json!([climb])),
        ("created", json!({ "unified": mounted }), json!([decoy_json])),
    ];
    for (name, paths, created) in cases {
        let id = ContainerId::parse(name).unwrap();
        drop(store.create(&id).unwrap());
        let mut state = seed.clone();
        state["id"] = json!(name);
        state["cgroup_paths"] = paths;
        state["cgroup_created"] = created;
        std::fs::write(root.join(name).join("state.json"), state.to_string()).unwrap();
        let run = |args: &[&str]| {
            Command::new(env!("CARGO_BIN_EXE_berth")).arg("--root").arg(&root).args(args).output()
        };
        let state = run(&["state", name]).unwrap();
        assert!(state.status.success(), "{name}: {}", String::from_utf8_lossy(&state.stderr));
        for args in
            [&["kill", "--all", name, "KILL"][..], &["ps", name], &["delete", "--force", name]]
        {
            let out = run(args).unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{name} {args:?} succeeded: {stderr}");
            assert_eq!(stderr.trim_end().lines().count(), 1, "{name} {args:?}: {stderr}");
            assert!(stderr.contains("state.json"), "{name} {args:?}: {stderr}");
            assert!(decoy.join("child").is_dir(), "{name} {args:?} removed the decoy");
            assert!(sleep.try_wait().unwrap().is_none(), "{name} {args:?} killed the sleep");
        }
    }
    sleep.kill().unwrap();
    sleep.wait().unwrap();
}
