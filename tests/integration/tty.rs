//! Terminals: the pty master reaches a `--console-socket` receiver (as containerd's and
//! conmon's do) for `create` with `process.terminal` and for `exec --tty`, and a shell
//! answers through it.

use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};

use crate::harness::{Config, TestEnv};

/// Receives one descriptor sent with SCM_RIGHTS on the first connection to `listener`.
pub(crate) fn receive_master(listener: &UnixListener) -> OwnedFd {
    let (stream, _) = listener.accept().expect("accepting the runtime's connection");
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(
        std::os::fd::AsRawFd::as_raw_fd(&stream),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let fd = msg
        .cmsgs()
        .unwrap()
        .find_map(|c| match c {
            ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
            _ => None,
        })
        .expect("no descriptor in the console message");
    // SAFETY: SCM_RIGHTS gave us this descriptor.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Creates a container from `cfg` (with `process.terminal` true) with `--console-socket`,
/// and returns its id and the pty master berth sent over the socket.
pub(crate) fn create_with_console(env: &TestEnv, cfg: &Config) -> (String, OwnedFd) {
    let socket = env.dir.join(format!("{}.sock", env.id("console")));
    let listener = UnixListener::bind(&socket).unwrap();
    let bundle = env.bundle(cfg);
    let id = env.id("t");
    let receiver = std::thread::spawn(move || receive_master(&listener));
    let sock = socket.to_str().unwrap();
    env.berth(&["create", "--bundle", bundle.to_str().unwrap(), "--console-socket", sock, &id])
        .ok();
    (id, receiver.join().unwrap())
}

/// Writes `input` to the terminal and reads until `marker` shows up (or 10 s pass).
pub(crate) fn converse(master: OwnedFd, input: &str, marker: &str) -> String {
    let mut term = std::fs::File::from(master);
    term.write_all(input.as_bytes()).unwrap();
    let flags = nix::fcntl::OFlag::O_NONBLOCK;
    nix::fcntl::fcntl(&term, nix::fcntl::FcntlArg::F_SETFL(flags)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = String::new();
    while !seen.contains(marker) && Instant::now() < deadline {
        let mut buf = [0u8; 4096];
        match term.read(&mut buf) {
            Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            _ => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    seen
}

#[test]
fn create_sends_the_pty_master_to_the_console_socket() {
    let env = TestEnv::new("ttycreate");
    let cfg = Config::sh("stty size; tty; read line; echo got-$line")
        .set("/process/terminal", true.into());
    let cfg = cfg.set("/process/consoleSize", serde_json::json!({ "height": 33, "width": 101 }));
    let (id, master) = create_with_console(&env, &cfg);
    env.start(&id);
    let seen = converse(master, "hello\n", "got-hello");
    assert!(seen.contains("33 101"), "consoleSize not applied: {seen:?}");
    assert!(seen.contains("/dev/pts/"), "stdin is not the pty: {seen:?}");
    assert!(seen.contains("got-hello"), "{seen:?}");
}

#[test]
fn exec_tty_through_the_console_socket() {
    let env = TestEnv::new("ttyexec");
    let id = env.id("t");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "60"])));
    env.start(&id);
    let socket = env.dir.join("exec.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    let receiver = std::thread::spawn(move || receive_master(&listener));
    env.berth(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        socket.to_str().unwrap(),
        &id,
        "sh",
    ])
    .ok();
    let master = receiver.join().unwrap();
    let seen = converse(master, "echo $((6*7)); tty\n", "/dev/pts/");
    assert!(seen.contains("42"), "{seen:?}");
}

#[test]
fn exec_ttys_leave_the_containers_dev_console_alone() {
    let env = TestEnv::new("ttyexec2");
    let id = env.id("t");
    env.create(&id, &env.bundle(&Config::new(&["sleep", "60"])));
    env.start(&id);
    // `podman exec -t` twice: the second used to fail, /dev/console still bound to the
    // first exec's pty, which was gone.
    for round in 0..2 {
        let socket = env.dir.join(format!("exec{round}.sock"));
        let listener = UnixListener::bind(&socket).unwrap();
        let receiver = std::thread::spawn(move || receive_master(&listener));
        let sock = socket.to_str().unwrap();
        let script = "echo round-$((1+1)); tty";
        env.berth(&[
            "exec",
            "--tty",
            "--detach",
            "--console-socket",
            sock,
            &id,
            "sh",
            "-c",
            script,
        ])
        .ok();
        let seen = converse(receiver.join().unwrap(), "", "/dev/pts/");
        assert!(seen.contains("round-2"), "exec {round}: {seen:?}");
    }
    let mounts = env.berth(&["exec", &id, "cat", "/proc/self/mountinfo"]);
    mounts.ok();
    assert!(
        !mounts.stdout.lines().any(|l| l.split(' ').nth(4) == Some("/dev/console")),
        "an exec's pty is mounted over /dev/console: {}",
        mounts.stdout
    );
}

#[test]
fn terminal_without_console_socket_is_refused_by_create() {
    let env = TestEnv::new("ttynosock");
    let bundle = env.bundle(&Config::sh("true").set("/process/terminal", true.into()));
    let out = env.berth(&["create", "--bundle", bundle.to_str().unwrap(), &env.id("t")]);
    out.fails_with_one_line();
    assert!(out.stderr.contains("--console-socket"), "{out:#?}");
}
