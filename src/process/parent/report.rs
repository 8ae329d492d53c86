//! What the runtime reads once the init stops speaking JSON on the sync socket: the exec
//! shim's raw report on the socket (`exec`), and the init's last word in exec.fifo (`start`).

use nix::sys::socket::MsgFlags;

use crate::process::child::program::in_runc_words;
use crate::process::error::EXECUTING;
use crate::process::shim;
use crate::process::sync::{decode, Channel, FromInit, SyncError};

/// The cause chain of a failure the exec shim reported, worded as the init's last step
/// ([`EXECUTING`]) would report it: the program's execve failure in runc's words.
fn shim_failure(packet: &[u8]) -> Option<Vec<String>> {
    let source = in_runc_words(shim::parse_failure(packet)?);
    let mut chain = vec![EXECUTING.to_string()];
    chain.extend(crate::causes::chain(&*source));
    Some(chain)
}

/// After `Ready` of an exec'd process: end of file once the exec shim executed the
/// program (the socket is close-on-exec there), else the shim's or the init's report.
pub fn expect_exec(channel: &Channel) -> Result<(), SyncError> {
    let bytes = match channel.recv_bytes(MsgFlags::empty()) {
        Err(SyncError::Closed) => return Ok(()),
        other => other?.0,
    };
    if let Some(chain) = shim_failure(&bytes) {
        return Err(SyncError::InitFailed { chain });
    }
    match decode::<FromInit>(&bytes)? {
        FromInit::Failed { chain } => Err(SyncError::InitFailed { chain }),
        got => Err(SyncError::Unexpected { expected: "end of file", got: format!("{got:?}") }),
    }
}

/// What the init left in exec.fifo once `start` released it: the fifo is its only witness
/// then (nobody listens on the sync socket any more), and `start` reads it after the init
/// let go of the fifo, by executing the program or by dying.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FifoReport {
    /// The exec shim wrote [`shim::EXECUTING`]: only the program's execve was left.
    pub executing: bool,
    /// Why the init or the shim gave up, outermost message first.
    pub failure: Option<Vec<String>>,
}

/// Reads what `bytes` (all of exec.fifo's content) says: the byte `start` wrote when the init
/// never read it, then the shim's [`shim::EXECUTING`], then a report: the init's JSON
/// `Failed` or the shim's raw one.
pub fn parse_fifo_report(bytes: &[u8]) -> FifoReport {
    let bytes = bytes.strip_prefix(b"0").unwrap_or(bytes);
    let (executing, bytes) = match bytes.strip_prefix(&[shim::EXECUTING]) {
        Some(rest) => (true, rest),
        None => (false, bytes),
    };
    let failure = if bytes.is_empty() {
        None
    } else if let Some(chain) = shim_failure(bytes) {
        Some(chain)
    } else {
        match decode::<FromInit>(bytes) {
            Ok(FromInit::Failed { chain }) => Some(chain),
            _ => Some(vec![format!("exec.fifo: a malformed report of {} bytes", bytes.len())]),
        }
    };
    FifoReport { executing, failure }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::sync::channel_pair;

    fn shim_packet(errno: i32, call: &str, target: &str) -> Vec<u8> {
        let mut packet = errno.to_ne_bytes().to_vec();
        packet.extend_from_slice(call.as_bytes());
        packet.push(0);
        packet.extend_from_slice(target.as_bytes());
        packet
    }

    #[test]
    fn fifo_reports_parse() {
        assert_eq!(parse_fifo_report(b""), FifoReport::default());
        assert_eq!(parse_fifo_report(b"0"), FifoReport::default());
        let executing = parse_fifo_report(b"+");
        assert_eq!(executing, FifoReport { executing: true, failure: None });
        let json = serde_json::to_vec(&FromInit::Failed { chain: vec!["a".into(), "b".into()] });
        let failed = parse_fifo_report(&json.unwrap());
        assert_eq!(failed.failure, Some(vec!["a".to_string(), "b".to_string()]));
        let mut packet = b"+".to_vec();
        packet.extend_from_slice(&shim_packet(2, "execve", "/bin/gone"));
        let shim = parse_fifo_report(&packet);
        assert!(shim.executing);
        let chain = shim.failure.unwrap().join(": ");
        assert_eq!(chain, "executing the process: exec /bin/gone: no such file or directory");
        let garbage = parse_fifo_report(b"0{not json");
        assert_eq!(garbage.failure.unwrap(), ["exec.fifo: a malformed report of 9 bytes"]);
    }

    #[test]
    fn an_exec_ends_at_end_of_file_or_with_a_report() {
        let (parent, child) = channel_pair().unwrap();
        drop(child);
        expect_exec(&parent).unwrap();

        let (parent, child) = channel_pair().unwrap();
        let packet = shim_packet(13, "execve", "/bin/sh");
        nix::sys::socket::send(child.as_raw_fd(), &packet, MsgFlags::empty()).unwrap();
        let err = crate::process::ProcessError::from(expect_exec(&parent).unwrap_err());
        assert_eq!(
            err.to_string(),
            "container process: executing the process: exec /bin/sh: permission denied"
        );
        assert_eq!(err.exit_code(), 126);

        let (parent, child) = channel_pair().unwrap();
        child.send(&FromInit::Failed { chain: vec!["setting rlimits".into()] }, None).unwrap();
        let err = expect_exec(&parent).unwrap_err();
        assert!(
            matches!(err, SyncError::InitFailed { ref chain } if chain == &["setting rlimits"])
        );

        let (parent, child) = channel_pair().unwrap();
        child.send(&FromInit::RunHooks, None).unwrap();
        let err = expect_exec(&parent).unwrap_err();
        assert_eq!(err.to_string(), "sync protocol: expected end of file, got RunHooks");
    }
}
