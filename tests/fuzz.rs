//! Fuzzing without a fuzzing engine: a seeded, deterministic mutation loop over the inputs
//! berth takes from outside — config.json (parse, validate, check), `exec --process` JSON,
//! sync-protocol messages, signal names and container ids. Each input must give `Ok` or an
//! error; a panic is caught, the input saved under `target/fuzz-crashes/` and the test fails.
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
            let _ = parent.expect("Ready", |m| matches!(m, FromInit::Ready { .. }));
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
