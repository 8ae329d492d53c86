//! A small blocking D-Bus client: one unix socket, AUTH EXTERNAL, `Hello`, method calls,
//! their replies and errors, and signals (what the systemd cgroup driver needs of the bus).
//!
//! Written from the D-Bus specification (dbus.freedesktop.org/doc/dbus-specification.html,
//! "Message Protocol" and "Authentication Protocol"), not zbus: zbus is an async stack of
//! some 50 crates whose blocking API still starts an executor thread, while berth is
//! single-threaded by design and only ever makes a handful of calls to systemd. Messages
//! are written little-endian; replies are read in either byte order.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// The bus daemon's own name, path and interface.
pub const BUS_NAME: &str = "org.freedesktop.DBus";
const BUS_PATH: &str = "/org/freedesktop/DBus";
/// Messages larger than this (the specification's limit is 128 MiB) are refused.
const MAX_MESSAGE: usize = 1 << 27;
/// How long the rest of a message may take once its first bytes came, and the bound on
/// each write and on each line of the authentication exchange.
const MESSAGE_REST_WAIT: Duration = Duration::from_secs(10);

/// A failed D-Bus operation.
#[derive(Debug, thiserror::Error)]
pub enum DbusError {
    /// The socket could not be connected, read or written.
    #[error("{what} {path}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The bus socket.
        path: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The bus refused our authentication.
    #[error("D-Bus authentication refused: {0}")]
    Auth(String),
    /// The peer answered with an error.
    #[error("{name}: {message}")]
    Remote {
        /// The error name, e.g. `org.freedesktop.DBus.Error.AccessDenied`.
        name: String,
        /// Its human-readable message (may be empty).
        message: String,
    },
    /// A message that does not follow the wire format.
    #[error("malformed D-Bus message: {0}")]
    Malformed(String),
    /// No answer within the time allowed.
    #[error("no D-Bus reply to {0} in time")]
    Timeout(String),
}

type Result<T> = std::result::Result<T, DbusError>;

fn malformed<T>(what: impl Into<String>) -> Result<T> {
    Err(DbusError::Malformed(what.into()))
}

/// A D-Bus value of any type the driver sends or receives.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `y`
    Byte(u8),
    /// `b`
    Bool(bool),
    /// `n`
    I16(i16),
    /// `q`
    U16(u16),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `x`
    I64(i64),
    /// `t`
    U64(u64),
    /// `d`
    Double(f64),
    /// `s`
    Str(String),
    /// `o`
    Path(String),
    /// `g`
    Signature(String),
    /// `a<elem>`: the element signature is kept so an empty array still has a type.
    Array(String, Vec<Value>),
    /// `(...)`
    Struct(Vec<Value>),
    /// `{kv}`, only inside an array.
    DictEntry(Box<Value>, Box<Value>),
    /// `v`
    Variant(Box<Value>),
    /// `h`: an index into the message's descriptors (never sent by this client).
    Fd(u32),
}

impl Value {
    /// The value's type signature.
    pub fn signature(&self) -> String {
        match self {
            Value::Byte(_) => "y".into(),
            Value::Bool(_) => "b".into(),
            Value::I16(_) => "n".into(),
            Value::U16(_) => "q".into(),
            Value::I32(_) => "i".into(),
            Value::U32(_) => "u".into(),
            Value::I64(_) => "x".into(),
            Value::U64(_) => "t".into(),
            Value::Double(_) => "d".into(),
            Value::Str(_) => "s".into(),
            Value::Path(_) => "o".into(),
            Value::Signature(_) => "g".into(),
            Value::Array(elem, _) => format!("a{elem}"),
            Value::Struct(fields) => {
                format!("({})", fields.iter().map(Value::signature).collect::<String>())
            }
            Value::DictEntry(k, v) => format!("{{{}{}}}", k.signature(), v.signature()),
            Value::Variant(_) => "v".into(),
            Value::Fd(_) => "h".into(),
        }
    }

    /// A string value.
    pub fn str(s: &str) -> Value {
        Value::Str(s.to_owned())
    }

    /// An `as` array.
    pub fn strings<S: AsRef<str>>(items: &[S]) -> Value {
        Value::Array("s".into(), items.iter().map(|s| Value::str(s.as_ref())).collect())
    }

    /// An `ay` array.
    pub fn bytes(bytes: &[u8]) -> Value {
        Value::Array("y".into(), bytes.iter().map(|b| Value::Byte(*b)).collect())
    }

    /// The string of an `s`, `o` or `g`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) | Value::Path(s) | Value::Signature(s) => Some(s),
            _ => None,
        }
    }

    /// The number of an unsigned integer value.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Byte(v) => Some(u64::from(*v)),
            Value::U16(v) => Some(u64::from(*v)),
            Value::U32(v) => Some(u64::from(*v)),
            Value::U64(v) => Some(*v),
            _ => None,
        }
    }
}

/// The alignment of the first character of a signature (the type it starts).
fn alignment(code: u8) -> usize {
    match code {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'b' | b'i' | b'u' | b's' | b'o' | b'a' | b'h' => 4,
        _ => 8, // x t d ( {
    }
}

/// The length of the single complete type at the start of `sig`.
fn single_type_len(sig: &[u8]) -> Result<usize> {
    match sig.first() {
        None => malformed("signature ends inside a type"),
        Some(b'a') => Ok(1 + single_type_len(&sig[1..])?),
        Some(&open @ (b'(' | b'{')) => {
            let close = if open == b'(' { b')' } else { b'}' };
            let mut i = 1;
            while sig.get(i) != Some(&close) {
                if i >= sig.len() {
                    return malformed("unclosed struct in signature");
                }
                i += single_type_len(&sig[i..])?;
            }
            Ok(i + 1)
        }
        Some(c) if b"ybnqiuxtdsoghv".contains(c) => Ok(1),
        Some(c) => malformed(format!("unknown type code {:?}", *c as char)),
    }
}

/// Splits a signature into its complete types.
fn split_signature(sig: &str) -> Result<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = sig;
    while !rest.is_empty() {
        let len = single_type_len(rest.as_bytes())?;
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    Ok(out)
}

/// Writes values in the wire format (little-endian).
#[derive(Debug, Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }

    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    fn string(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    fn signature(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }

    /// Appends `value`, aligned as its type requires.
    pub fn value(&mut self, value: &Value) {
        match value {
            Value::Byte(v) => self.buf.push(*v),
            Value::Bool(v) => self.u32(u32::from(*v)),
            Value::I16(v) => {
                self.pad(2);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
            Value::U16(v) => {
                self.pad(2);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
            Value::I32(v) => {
                self.pad(4);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
            Value::U32(v) | Value::Fd(v) => self.u32(*v),
            Value::I64(v) => {
                self.pad(8);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
            Value::U64(v) => {
                self.pad(8);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
            Value::Double(v) => {
                self.pad(8);
                self.buf.extend_from_slice(&v.to_le_bytes());
            }
            Value::Str(s) | Value::Path(s) => self.string(s),
            Value::Signature(s) => self.signature(s),
            Value::Array(elem, items) => {
                self.u32(0);
                let len_at = self.buf.len() - 4;
                // The padding to the first element is not counted in the length.
                self.pad(alignment(elem.as_bytes().first().copied().unwrap_or(b'y')));
                let start = self.buf.len();
                for item in items {
                    self.value(item);
                }
                let len = (self.buf.len() - start) as u32;
                self.buf[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
            }
            Value::Struct(fields) => {
                self.pad(8);
                for field in fields {
                    self.value(field);
                }
            }
            Value::DictEntry(k, v) => {
                self.pad(8);
                self.value(k);
                self.value(v);
            }
            Value::Variant(inner) => {
                self.signature(&inner.signature());
                self.value(inner);
            }
        }
    }

    /// The bytes written.
    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }
}

/// Reads values of a known signature from a message (in the message's byte order).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    big: bool,
    depth: usize,
}

impl<'a> Reader<'a> {
    fn align(&mut self, align: usize) -> Result<()> {
        let to = self.pos.next_multiple_of(align);
        if to > self.buf.len() {
            return malformed("padding runs past the end");
        }
        self.pos = to;
        Ok(())
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        let Some(end) = end else { return malformed("value runs past the end") };
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N]> {
        self.align(N)?;
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        if self.big {
            out.reverse();
        }
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.fixed()?))
    }

    fn text(&mut self, len: usize) -> Result<String> {
        let bytes = self.take(len)?;
        if self.take(1)? != [0] {
            return malformed("string without its nul");
        }
        String::from_utf8(bytes.to_vec()).or_else(|_| malformed("string is not UTF-8"))
    }

    fn value(&mut self, sig: &str) -> Result<Value> {
        let code = sig.as_bytes().first().copied().unwrap_or(0);
        Ok(match code {
            b'y' => Value::Byte(self.take(1)?[0]),
            b'b' => match self.u32()? {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                v => return malformed(format!("boolean {v}")),
            },
            b'n' => Value::I16(i16::from_le_bytes(self.fixed()?)),
            b'q' => Value::U16(u16::from_le_bytes(self.fixed()?)),
            b'i' => Value::I32(i32::from_le_bytes(self.fixed()?)),
            b'u' => Value::U32(self.u32()?),
            b'h' => Value::Fd(self.u32()?),
            b'x' => Value::I64(i64::from_le_bytes(self.fixed()?)),
            b't' => Value::U64(u64::from_le_bytes(self.fixed()?)),
            b'd' => Value::Double(f64::from_le_bytes(self.fixed()?)),
            b's' | b'o' => {
                let len = self.u32()? as usize;
                let text = self.text(len)?;
                if code == b's' {
                    Value::Str(text)
                } else {
                    Value::Path(text)
                }
            }
            b'g' => {
                let len = usize::from(self.take(1)?[0]);
                Value::Signature(self.text(len)?)
            }
            b'v' => {
                let len = usize::from(self.take(1)?[0]);
                let inner = self.text(len)?;
                if split_signature(&inner)?.len() != 1 {
                    return malformed(format!("variant signature {inner:?}"));
                }
                Value::Variant(Box::new(self.nested(&inner)?))
            }
            b'a' => {
                let elem = &sig[1..];
                let len = self.u32()? as usize;
                self.align(alignment(elem.as_bytes()[0]))?;
                let end = self.pos.checked_add(len).filter(|e| *e <= self.buf.len());
                let Some(end) = end else { return malformed("array runs past the end") };
                let mut items = Vec::new();
                while self.pos < end {
                    items.push(self.nested(elem)?);
                }
                if self.pos != end {
                    return malformed("array elements overrun its length");
                }
                Value::Array(elem.to_owned(), items)
            }
            b'(' | b'{' => {
                self.align(8)?;
                let fields = split_signature(&sig[1..sig.len() - 1])?
                    .into_iter()
                    .map(|f| self.nested(f))
                    .collect::<Result<Vec<_>>>()?;
                if code == b'(' {
                    Value::Struct(fields)
                } else {
                    let [k, v]: [Value; 2] = fields
                        .try_into()
                        .or_else(|_| malformed("dict entry without two fields"))?;
                    Value::DictEntry(Box::new(k), Box::new(v))
                }
            }
            _ => return malformed(format!("unknown type {sig:?}")),
        })
    }

    /// A value inside a container, with the nesting bounded (the specification's limit is
    /// 64 levels of arrays plus 64 of structs).
    fn nested(&mut self, sig: &str) -> Result<Value> {
        if self.depth >= 128 {
            return malformed("values nested too deeply");
        }
        self.depth += 1;
        let value = self.value(sig);
        self.depth -= 1;
        value
    }
}

/// Parses `body` as the values of `signature`.
pub fn parse_body(body: &[u8], signature: &str, big_endian: bool) -> Result<Vec<Value>> {
    let mut reader = Reader { buf: body, pos: 0, big: big_endian, depth: 0 };
    let values = split_signature(signature)?
        .into_iter()
        .map(|t| reader.value(t))
        .collect::<Result<Vec<_>>>()?;
    if reader.pos != body.len() {
        return malformed("bytes left after the body");
    }
    Ok(values)
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A method call.
    Call = 1,
    /// A method's return.
    Return = 2,
    /// A method's error.
    Error = 3,
    /// A signal.
    Signal = 4,
}

/// A received (or built) message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Message {
    /// Method call, return, error or signal (`None`: a type this client does not know).
    pub kind: Option<Kind>,
    /// Its serial.
    pub serial: u32,
    /// PATH
    pub path: Option<String>,
    /// INTERFACE
    pub interface: Option<String>,
    /// MEMBER
    pub member: Option<String>,
    /// ERROR_NAME
    pub error_name: Option<String>,
    /// REPLY_SERIAL
    pub reply_serial: Option<u32>,
    /// DESTINATION
    pub destination: Option<String>,
    /// SENDER
    pub sender: Option<String>,
    /// The body's values.
    pub body: Vec<Value>,
}

impl Message {
    /// A method call of `interface.member` on `path` at `destination` with `args`.
    pub fn call(destination: &str, path: &str, interface: &str, member: &str) -> Self {
        Message {
            kind: Some(Kind::Call),
            path: Some(path.into()),
            interface: Some(interface.into()),
            member: Some(member.into()),
            destination: Some(destination.into()),
            ..Message::default()
        }
    }

    /// The message in the wire format, with `serial`.
    pub fn encode(&self, serial: u32) -> Vec<u8> {
        let mut body = Writer::default();
        for value in &self.body {
            body.value(value);
        }
        let body = body.into_bytes();
        let signature: String = self.body.iter().map(Value::signature).collect();
        let mut fields = Vec::new();
        let mut field = |code: u8, value: Value| {
            fields.push(Value::Struct(vec![Value::Byte(code), Value::Variant(Box::new(value))]));
        };
        let text = |s: &Option<String>| s.as_deref().map(Value::str);
        if let Some(p) = &self.path {
            field(1, Value::Path(p.clone()));
        }
        for (code, v) in [(2, &self.interface), (3, &self.member), (4, &self.error_name)] {
            text(v).into_iter().for_each(|v| field(code, v));
        }
        if let Some(r) = self.reply_serial {
            field(5, Value::U32(r));
        }
        for (code, v) in [(6, &self.destination), (7, &self.sender)] {
            text(v).into_iter().for_each(|v| field(code, v));
        }
        if !signature.is_empty() {
            field(8, Value::Signature(signature));
        }
        let mut out = Writer::default();
        let kind = self.kind.map_or(0, |k| k as u8);
        for byte in [b'l', kind, 0, 1] {
            out.value(&Value::Byte(byte));
        }
        out.value(&Value::U32(body.len() as u32));
        out.value(&Value::U32(serial));
        out.value(&Value::Array("(yv)".into(), fields));
        out.pad(8);
        out.buf.extend_from_slice(&body);
        out.into_bytes()
    }

    /// Parses one whole message (as [`message_len`] measured it).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let big = match bytes.first() {
            Some(b'l') => false,
            Some(b'B') => true,
            _ => return malformed("unknown byte order"),
        };
        let header = parse_body(&bytes[..header_len(bytes)?], "yyyyuua(yv)", big)?;
        let [_, Value::Byte(kind), _, _, Value::U32(body_len), Value::U32(serial), Value::Array(_, fields)] =
            &header[..]
        else {
            return malformed("header");
        };
        let mut msg = Message {
            kind: [Kind::Call, Kind::Return, Kind::Error, Kind::Signal]
                .into_iter()
                .find(|k| *k as u8 == *kind),
            serial: *serial,
            ..Message::default()
        };
        let mut signature = String::new();
        for field in fields {
            let Value::Struct(pair) = field else { return malformed("header field") };
            let [Value::Byte(code), Value::Variant(value)] = &pair[..] else {
                return malformed("header field");
            };
            let text = value.as_str().map(str::to_owned);
            match code {
                1 => msg.path = text,
                2 => msg.interface = text,
                3 => msg.member = text,
                4 => msg.error_name = text,
                5 => msg.reply_serial = value.as_u64().map(|v| v as u32),
                6 => msg.destination = text,
                7 => msg.sender = text,
                8 => signature = text.unwrap_or_default(),
                _ => {}
            }
        }
        let start = header_len(bytes)?.next_multiple_of(8);
        let body = bytes.get(start..start + *body_len as usize);
        let Some(body) = body else { return malformed("body shorter than its length") };
        msg.body = parse_body(body, &signature, big)?;
        Ok(msg)
    }

    /// The string argument at `index`.
    pub fn arg_str(&self, index: usize) -> Option<&str> {
        self.body.get(index).and_then(Value::as_str)
    }
}

/// The length of the fixed header and the header field array (before the padding to 8).
fn header_len(bytes: &[u8]) -> Result<usize> {
    let Some(raw) = bytes.get(12..16) else { return malformed("short header") };
    let raw: [u8; 4] = raw.try_into().expect("four bytes");
    let len = if bytes[0] == b'B' { u32::from_be_bytes(raw) } else { u32::from_le_bytes(raw) };
    Ok(16 + len as usize)
}

/// The whole length of the message whose first 16 bytes are `head`.
pub fn message_len(head: &[u8; 16]) -> Result<usize> {
    let raw = |at: usize| -> [u8; 4] { head[at..at + 4].try_into().expect("four bytes") };
    let num = |at| match head[0] {
        b'l' => Ok(u32::from_le_bytes(raw(at)) as usize),
        b'B' => Ok(u32::from_be_bytes(raw(at)) as usize),
        _ => malformed("unknown byte order"),
    };
    let total = (16 + num(12)?).next_multiple_of(8) + num(4)?;
    if total > MAX_MESSAGE {
        return malformed(format!("message of {total} bytes"));
    }
    Ok(total)
}

/// The id of the parent user namespace that `id` maps to, by a uid_map's `inside outside
/// count` lines (the identity in the initial namespace).
fn outside_id(map: &str, id: u32) -> Option<u32> {
    map.lines().find_map(|line| {
        let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().ok());
        let (inside, outside, count) = (fields.next()??, fields.next()??, fields.next()??);
        let id = u64::from(id);
        (inside <= id && id < inside + count).then(|| u32::try_from(outside + id - inside).ok())?
    })
}

/// A connection to a bus. Writes are queued and go out together just before the next read,
/// and the answers to the handshake and to [`Connection::add_match`] are read along with the
/// next reply: a client that opens, adds a match and calls once waits for the bus once.
#[derive(Debug)]
pub struct Connection {
    stream: UnixStream,
    path: String,
    serial: u32,
    /// What was sent but not yet written.
    outgoing: Vec<u8>,
    /// The bus's answer to the authentication has not been read yet.
    auth_unread: bool,
    /// Calls whose replies are still to be read and checked (Hello, AddMatch), with their
    /// names for an error.
    unconfirmed: VecDeque<(u32, &'static str)>,
    /// Signals received while waiting for a reply.
    pending: VecDeque<Message>,
    /// The unique name the bus gave us (empty until Hello's reply is read).
    unique_name: String,
}

/// The name under which Hello's reply is awaited.
const HELLO: &str = "org.freedesktop.DBus.Hello";

impl Connection {
    /// Connects to the bus at the unix socket `path` and queues the authentication (as this
    /// process's uid) and Hello; their answers are read with the first reply.
    pub fn open(path: &Path) -> Result<Self> {
        let display = path.display().to_string();
        let stream = UnixStream::connect(path).map_err(|source| DbusError::Io {
            what: "connecting to the D-Bus socket",
            path: display.clone(),
            source,
        })?;
        // A bus that stops answering (or reading) must not hold berth forever: the waits of
        // the authentication exchange and every write are bounded too.
        let bound = |r: io::Result<()>| {
            r.map_err(|source| DbusError::Io { what: "setting up", path: display.clone(), source })
        };
        bound(stream.set_read_timeout(Some(MESSAGE_REST_WAIT)))?;
        bound(stream.set_write_timeout(Some(MESSAGE_REST_WAIT)))?;
        let mut conn = Connection {
            stream,
            path: display,
            serial: 0,
            outgoing: Vec::new(),
            auth_unread: true,
            unconfirmed: VecDeque::new(),
            pending: VecDeque::new(),
            unique_name: String::new(),
        };
        // The authentication, BEGIN and Hello go out in one write with what follows (the
        // bus reads them in order, as sd-bus clients send them), without waiting for the OK.
        conn.queue_authentication();
        let hello = conn.send(&Message::call(BUS_NAME, BUS_PATH, BUS_NAME, "Hello"));
        conn.unconfirmed.push_back((hello, HELLO));
        Ok(conn)
    }

    /// Connects to a bus given by a D-Bus address such as `unix:path=/run/dbus/x,guid=…`.
    pub fn open_address(address: &str) -> Result<Self> {
        let path = address
            .split(';')
            .filter_map(|a| a.strip_prefix("unix:"))
            .flat_map(|a| a.split(','))
            .find_map(|kv| kv.strip_prefix("path="));
        match path {
            Some(path) => Connection::open(Path::new(&unescape_address(path))),
            None => Err(DbusError::Auth(format!("no unix:path= in the address {address:?}"))),
        }
    }

    /// The unique name the bus gave this connection (waits for Hello's reply if unread).
    pub fn unique_name(&mut self) -> Result<&str> {
        self.confirm()?;
        Ok(&self.unique_name)
    }

    fn io(&self, what: &'static str) -> impl FnOnce(io::Error) -> DbusError + '_ {
        move |source| DbusError::Io { what, path: self.path.clone(), source }
    }

    /// The EXTERNAL mechanism: the bus checks our uid from the socket's credentials, which
    /// it sees in its own user namespace: in another one, the id that maps to ours there.
    /// BEGIN follows at once; the OK is read before the first message.
    fn queue_authentication(&mut self) {
        let euid = nix::unistd::geteuid().as_raw();
        let map = std::fs::read_to_string("/proc/self/uid_map").unwrap_or_default();
        let uid = outside_id(&map, euid).unwrap_or(euid).to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        self.outgoing.extend(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").into_bytes());
    }

    /// Reads the bus's answer to the authentication, once.
    fn read_authentication(&mut self) -> Result<()> {
        if !self.auth_unread {
            return Ok(());
        }
        let line = self.auth_line()?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Auth(line));
        }
        self.auth_unread = false;
        Ok(())
    }

    /// One line of the authentication exchange, read a byte at a time so that nothing of
    /// the messages that follow is consumed.
    fn auth_line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        let mut byte = [0u8];
        while !line.ends_with(b"\r\n") {
            if line.len() > 4096 {
                return Err(DbusError::Auth("endless authentication line".into()));
            }
            match self.stream.read(&mut byte) {
                Ok(0) => return Err(DbusError::Auth("the bus closed the connection".into())),
                Ok(_) => line.push(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.io("authenticating on")(e)),
            }
        }
        Ok(String::from_utf8_lossy(&line).trim_end().to_owned())
    }

    /// Queues `msg` with the next serial, which it returns; it is written before the next
    /// read (or [`Connection::flush`]).
    pub fn send(&mut self, msg: &Message) -> u32 {
        self.serial = self.serial.wrapping_add(1).max(1);
        self.outgoing.extend(msg.encode(self.serial));
        self.serial
    }

    /// Writes what was queued.
    pub fn flush(&mut self) -> Result<()> {
        if self.outgoing.is_empty() {
            return Ok(());
        }
        let bytes = std::mem::take(&mut self.outgoing);
        self.stream.write_all(&bytes).map_err(self.io("writing to"))
    }

    /// Reads the next message, waiting until `deadline`; `Ok(None)` when it passed. What
    /// was queued is written first, and the authentication's answer read.
    fn receive(&mut self, deadline: Option<Instant>) -> Result<Option<Message>> {
        self.flush()?;
        self.read_authentication()?;
        let mut head = [0u8; 16];
        if !self.read_exact_until(&mut head, deadline)? {
            return Ok(None);
        }
        let mut bytes = head.to_vec();
        bytes.resize(message_len(&head)?, 0);
        // Once a message has begun, the rest of it follows soon: a peer that stops halfway
        // must not hold berth (and the engine waiting on it) forever.
        let rest = Instant::now() + MESSAGE_REST_WAIT;
        if !self.read_exact_until(&mut bytes[16..], Some(rest))? {
            return Err(DbusError::Timeout("the rest of a message".into()));
        }
        let msg = Message::decode(&bytes)?;
        self.settle(&msg)?;
        Ok(Some(msg))
    }

    /// Checks `msg` against the calls whose replies were not awaited: an error reply to one
    /// of them fails whatever read it, and Hello's reply names this connection.
    fn settle(&mut self, msg: &Message) -> Result<()> {
        let Some(serial) = msg.reply_serial else { return Ok(()) };
        let Some(at) = self.unconfirmed.iter().position(|&(s, _)| s == serial) else {
            return Ok(());
        };
        let (_, what) = self.unconfirmed.remove(at).expect("found above");
        match msg.kind {
            Some(Kind::Error) => Err(remote_error(msg)),
            _ if what == HELLO => {
                self.unique_name = msg.arg_str(0).unwrap_or_default().to_owned();
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Reads until every call sent without waiting has been answered, and fails with the
    /// first error among those answers.
    pub fn confirm(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(&(_, what)) = self.unconfirmed.front() {
            match self.receive(Some(deadline))? {
                None => return Err(DbusError::Timeout(what.to_owned())),
                Some(msg) if msg.kind == Some(Kind::Signal) => self.pending.push_back(msg),
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Fills `buf`; false when `deadline` passed before the first byte came, an error when
    /// it passed after some.
    fn read_exact_until(&mut self, buf: &mut [u8], deadline: Option<Instant>) -> Result<bool> {
        let mut filled = 0;
        while filled < buf.len() {
            let wait = match deadline {
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    match (left.is_zero(), filled) {
                        (true, 0) => return Ok(false),
                        (true, _) => {
                            return Err(DbusError::Timeout("the rest of a message".into()))
                        }
                        (false, _) => Some(left),
                    }
                }
                None => None,
            };
            self.stream.set_read_timeout(wait).map_err(self.io("reading from"))?;
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => {
                    let eof = io::Error::from(io::ErrorKind::UnexpectedEof);
                    return Err(self.io("reading from")(eof));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // The deadline is checked at the top of the loop.
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(self.io("reading from")(e)),
            }
        }
        Ok(true)
    }

    /// Calls a method and waits for its reply (signals that arrive meanwhile are kept for
    /// [`Connection::next_signal`]); an error reply becomes [`DbusError::Remote`].
    pub fn call(&mut self, msg: Message) -> Result<Message> {
        self.call_within(msg, Duration::from_secs(30))
    }

    /// [`Connection::call`] with a bound on the wait.
    pub fn call_within(&mut self, msg: Message, timeout: Duration) -> Result<Message> {
        let what = format!(
            "{}.{}",
            msg.interface.as_deref().unwrap_or(""),
            msg.member.as_deref().unwrap_or("")
        );
        let serial = self.send(&msg);
        self.reply(serial, &what, timeout)
    }

    /// Waits for the reply to the call sent with `serial` (`what` names it in a timeout);
    /// signals that arrive meanwhile are kept, replies to other calls dropped. The calls
    /// sent before it without waiting are answered first (the bus handles one connection's
    /// messages in order), so an error among them fails this wait too.
    fn reply(&mut self, serial: u32, what: &str, timeout: Duration) -> Result<Message> {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(reply) = self.receive(Some(deadline))? else {
                return Err(DbusError::Timeout(what.to_owned()));
            };
            match reply.kind {
                Some(Kind::Signal) => self.pending.push_back(reply),
                Some(Kind::Return) if reply.reply_serial == Some(serial) => return Ok(reply),
                Some(Kind::Error) if reply.reply_serial == Some(serial) => {
                    return Err(remote_error(&reply))
                }
                _ => {}
            }
        }
    }

    /// Calls `member` of the bus daemon itself.
    pub fn call_bus(&mut self, member: &str, args: Vec<Value>) -> Result<Message> {
        let mut msg = Message::call(BUS_NAME, BUS_PATH, BUS_NAME, member);
        msg.body = args;
        self.call(msg)
    }

    /// Asks the bus to route the signals matching `rule` (match rule syntax) to us. Queued
    /// without waiting: the bus applies it before it handles anything sent after it (so a
    /// signal caused by a later call is routed by it), and its answer is checked with the
    /// next reply read.
    pub fn add_match(&mut self, rule: &str) {
        let mut msg = Message::call(BUS_NAME, BUS_PATH, BUS_NAME, "AddMatch");
        msg.body = vec![Value::str(rule)];
        let serial = self.send(&msg);
        self.unconfirmed.push_back((serial, "org.freedesktop.DBus.AddMatch"));
    }

    /// Asks the bus to stop routing the signals matching `rule` to us. Queued without
    /// waiting, and its answer is not checked: a rule that was never added is all it could
    /// refuse.
    pub fn remove_match(&mut self, rule: &str) {
        let mut msg = Message::call(BUS_NAME, BUS_PATH, BUS_NAME, "RemoveMatch");
        msg.body = vec![Value::str(rule)];
        self.send(&msg);
    }

    /// The next signal (kept ones first), or `None` when `deadline` passes first.
    pub fn next_signal(&mut self, deadline: Instant) -> Result<Option<Message>> {
        if let Some(signal) = self.pending.pop_front() {
            return Ok(Some(signal));
        }
        loop {
            match self.receive(Some(deadline))? {
                None => return Ok(None),
                Some(msg) if msg.kind == Some(Kind::Signal) => return Ok(Some(msg)),
                Some(_) => {}
            }
        }
    }
}

/// The error reply `msg` as a [`DbusError::Remote`].
fn remote_error(msg: &Message) -> DbusError {
    DbusError::Remote {
        name: msg.error_name.clone().unwrap_or_default(),
        message: msg.arg_str(0).unwrap_or_default().to_owned(),
    }
}

/// Undoes the `%xx` escapes of a D-Bus address value.
fn unescape_address(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_auth_names_the_uid_the_bus_sees() {
        let host = "         0          0 4294967295\n";
        assert_eq!(outside_id(host, 1000), Some(1000));
        let rootless = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(outside_id(rootless, 0), Some(1000));
        assert_eq!(outside_id(rootless, 5), Some(100_004));
        assert_eq!(outside_id(rootless, 70000), None);
        assert_eq!(outside_id("", 0), None);
    }

    fn round_trip(values: Vec<Value>) {
        let signature: String = values.iter().map(Value::signature).collect();
        let mut w = Writer::default();
        values.iter().for_each(|v| w.value(v));
        assert_eq!(parse_body(&w.into_bytes(), &signature, false).unwrap(), values);
    }

    #[test]
    fn basic_types_are_aligned_as_the_spec_says() {
        let mut w = Writer::default();
        w.value(&Value::Byte(7));
        w.value(&Value::U32(1));
        w.value(&Value::Byte(8));
        w.value(&Value::U64(2));
        assert_eq!(
            w.into_bytes(),
            [7, 0, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]
        );
        let mut w = Writer::default();
        w.value(&Value::str("ab"));
        w.value(&Value::Signature("s".into()));
        w.value(&Value::Bool(true));
        assert_eq!(w.into_bytes(), [2, 0, 0, 0, b'a', b'b', 0, 1, b's', 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn array_length_excludes_padding_before_the_first_element() {
        let mut w = Writer::default();
        w.value(&Value::Array("t".into(), vec![Value::U64(5)]));
        // length 8, then 4 bytes of padding to the u64, then the u64.
        assert_eq!(w.into_bytes(), [8, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
        let mut w = Writer::default();
        w.value(&Value::Array("(sv)".into(), vec![]));
        assert_eq!(w.into_bytes(), [0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn systemd_argument_shapes_round_trip() {
        let prop = |name: &str, v: Value| {
            Value::Struct(vec![Value::str(name), Value::Variant(Box::new(v))])
        };
        let props = Value::Array(
            "(sv)".into(),
            vec![
                prop("Delegate", Value::Bool(true)),
                prop("PIDs", Value::Array("u".into(), vec![Value::U32(42)])),
                prop("MemoryMax", Value::U64(u64::MAX)),
                prop("AllowedCPUs", Value::bytes(&[0b101])),
                prop("CPUWeight", Value::U64(39)),
                prop(
                    "DeviceAllow",
                    Value::Array(
                        "(ss)".into(),
                        vec![Value::Struct(vec![Value::str("/dev/null"), Value::str("rwm")])],
                    ),
                ),
            ],
        );
        assert_eq!(props.signature(), "a(sv)");
        let aux = Value::Array("(sa(sv))".into(), vec![]);
        assert_eq!(aux.signature(), "a(sa(sv))");
        round_trip(vec![Value::str("x.scope"), Value::str("replace"), props, aux]);
        round_trip(vec![
            Value::U32(3),
            Value::Path("/org/freedesktop/systemd1/job/3".into()),
            Value::str("x.scope"),
            Value::str("done"),
        ]);
        round_trip(vec![
            Value::I32(-5),
            Value::I64(-6),
            Value::I16(-7),
            Value::U16(8),
            Value::Double(0.5),
            Value::strings(&["a", "bc"]),
            Value::Array(
                "{sv}".into(),
                vec![Value::DictEntry(
                    Box::new(Value::str("k")),
                    Box::new(Value::Variant(Box::new(Value::Struct(vec![
                        Value::Byte(1),
                        Value::U64(2),
                    ])))),
                )],
            ),
        ]);
    }

    #[test]
    fn big_endian_bodies_are_read() {
        let body = [0, 0, 0, 2, b'h', b'i', 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        let values = parse_body(&body, "st", true).unwrap();
        assert_eq!(values, [Value::str("hi"), Value::U64(9)]);
    }

    #[test]
    fn malformed_bodies_are_refused() {
        assert!(parse_body(&[5, 0, 0, 0, b'a'], "s", false).is_err());
        assert!(parse_body(&[2, 0, 0, 0], "b", false).is_err());
        assert!(parse_body(&[100, 0, 0, 0], "ay", false).is_err());
        assert!(parse_body(&[], "(s", false).is_err());
        assert!(parse_body(&[1, 0, 0, 0, 9], "u", false).is_err(), "bytes left over");
    }

    #[test]
    fn messages_encode_and_decode() {
        let mut msg = Message::call(BUS_NAME, BUS_PATH, BUS_NAME, "GetNameOwner");
        msg.body = vec![Value::str("org.example")];
        let bytes = msg.encode(7);
        let head: [u8; 16] = bytes[..16].try_into().unwrap();
        assert_eq!(message_len(&head).unwrap(), bytes.len());
        let back = Message::decode(&bytes).unwrap();
        assert_eq!(back, Message { serial: 7, ..msg });
    }

    #[test]
    fn addresses_unescape() {
        assert_eq!(unescape_address("/tmp/a%20b"), "/tmp/a b");
        assert_eq!(unescape_address("/run/x%2"), "/run/x%2");
    }

    /// A private `dbus-daemon` on a socket in a temp dir, killed (by its pid) when dropped.
    struct Daemon {
        child: std::process::Child,
        dir: PathBuf,
        address: String,
    }

    use std::path::PathBuf;

    impl Daemon {
        /// A daemon in a temp dir of its own (`tag`: tests run in parallel in one process).
        fn start(tag: &str) -> Option<Daemon> {
            let name = format!("berth-dbus-{tag}-{}", std::process::id());
            let dir = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&dir).ok()?;
            let mut child = std::process::Command::new("dbus-daemon")
                .args(["--session", "--nofork", "--nopidfile", "--print-address=1"])
                .arg(format!("--address=unix:path={}", dir.join("bus").display()))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .ok()?;
            let mut line = String::new();
            let stdout = child.stdout.take()?;
            io::BufRead::read_line(&mut io::BufReader::new(stdout), &mut line).ok()?;
            Some(Daemon { child, dir, address: line.trim().to_owned() })
        }
    }

    impl Drop for Daemon {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Against a real dbus-daemon (skipped when it is not installed): Hello, ListNames,
    /// GetNameOwner, an error reply, and a NameOwnerChanged signal after AddMatch.
    #[test]
    fn talks_to_a_real_dbus_daemon() {
        let Some(daemon) = Daemon::start("names") else {
            eprintln!("skipped: no dbus-daemon");
            return;
        };
        let mut conn = Connection::open_address(&daemon.address).unwrap();
        let me = conn.unique_name().unwrap().to_owned();
        assert!(me.starts_with(':'), "{me}");
        let names = conn.call_bus("ListNames", vec![]).unwrap();
        let Value::Array(_, names) = &names.body[0] else { panic!("{names:?}") };
        assert!(names.contains(&Value::str(&me)));
        assert!(names.contains(&Value::str(BUS_NAME)));
        let owner = conn.call_bus("GetNameOwner", vec![Value::str(&me)]).unwrap();
        assert_eq!(owner.arg_str(0), Some(me.as_str()));
        match conn.call_bus("GetNameOwner", vec![Value::str("org.example.Nobody")]) {
            Err(DbusError::Remote { name, message }) => {
                assert_eq!(name, "org.freedesktop.DBus.Error.NameHasNoOwner");
                assert!(!message.is_empty());
            }
            other => panic!("{other:?}"),
        }
        conn.add_match("type='signal',interface='org.freedesktop.DBus',member='NameOwnerChanged'");
        // Another client's leaving is routed to us only once the bus has the match.
        conn.confirm().unwrap();
        let mut other = Connection::open_address(&daemon.address).unwrap();
        let other_name = other.unique_name().unwrap().to_owned();
        drop(other);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut seen = Vec::new();
        while let Some(signal) = conn.next_signal(deadline).unwrap() {
            // NameAcquired comes to us unasked; only the matched signal matters here.
            if signal.member.as_deref() != Some("NameOwnerChanged") {
                continue;
            }
            let args: Vec<_> =
                (0..3).map(|i| signal.arg_str(i).unwrap_or("?").to_owned()).collect();
            seen.push(args.clone());
            if args == [other_name.clone(), other_name.clone(), String::new()] {
                return;
            }
        }
        panic!("no NameOwnerChanged for {other_name} leaving: {seen:?}");
    }

    /// A wait for a signal that never comes ends at its deadline, and the connection stays
    /// usable.
    #[test]
    fn signal_wait_ends_at_the_deadline() {
        let Some(daemon) = Daemon::start("deadline") else {
            eprintln!("skipped: no dbus-daemon");
            return;
        };
        let mut conn = Connection::open_address(&daemon.address).unwrap();
        conn.add_match("type='signal',interface='org.example.Never'");
        let deadline = Instant::now() + Duration::from_millis(200);
        while let Some(signal) = conn.next_signal(deadline).unwrap() {
            assert_ne!(signal.interface.as_deref(), Some("org.example.Never"));
        }
        assert!(Instant::now() >= deadline);
        assert!(conn.call_bus("ListNames", vec![]).is_ok());
    }

    /// A refused match rule fails the next call, which otherwise would wait for a signal the
    /// bus never routes.
    #[test]
    fn a_refused_match_fails_the_next_call() {
        let Some(daemon) = Daemon::start("badmatch") else {
            eprintln!("skipped: no dbus-daemon");
            return;
        };
        let mut conn = Connection::open_address(&daemon.address).unwrap();
        conn.add_match("type='nonsense'");
        match conn.call_bus("ListNames", vec![]) {
            Err(DbusError::Remote { name, .. }) => {
                assert_eq!(name, "org.freedesktop.DBus.Error.MatchRuleInvalid")
            }
            other => panic!("{other:?}"),
        }
        assert!(conn.call_bus("ListNames", vec![]).is_ok());
    }

    /// The handshake, a match and a call reach the bus before the client waits for anything:
    /// this peer answers only once it has read all three messages, so a client that waited
    /// for the OK or for Hello's reply first would never get its answer.
    #[test]
    fn open_match_and_call_cost_one_round_trip() {
        let dir = std::env::temp_dir().join(format!("berth-dbus-pipe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket = dir.join("bus");
        let _ = std::fs::remove_file(&socket);
        let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let peer = std::thread::spawn(move || answer_three_calls(listener));
        let mut conn = Connection::open(&socket).unwrap();
        conn.add_match("type='signal'");
        let reply = conn.call_bus("ListNames", vec![]).unwrap();
        assert_eq!(reply.arg_str(0), Some("listed"));
        assert_eq!(conn.unique_name().unwrap(), ":1.7");
        let members = peer.join().unwrap();
        assert_eq!(members, ["Hello", "AddMatch", "ListNames"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A minimal bus for one client: reads the authentication and three calls before it
    /// writes anything, then answers them all; returns the members called.
    fn answer_three_calls(listener: std::os::unix::net::UnixListener) -> Vec<String> {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut seen = Vec::new();
        let mut byte = [0u8];
        while !seen.ends_with(b"BEGIN\r\n") {
            stream.read_exact(&mut byte).unwrap();
            seen.push(byte[0]);
        }
        let mut calls = Vec::new();
        for _ in 0..3 {
            let mut head = [0u8; 16];
            stream.read_exact(&mut head).unwrap();
            let mut bytes = head.to_vec();
            bytes.resize(message_len(&head).unwrap(), 0);
            stream.read_exact(&mut bytes[16..]).unwrap();
            calls.push(Message::decode(&bytes).unwrap());
        }
        let mut out = b"OK 0123456789abcdef0123456789abcdef\r\n".to_vec();
        let answers = [":1.7", "", "listed"];
        for (serial, (call, answer)) in (1..).zip(calls.iter().zip(answers)) {
            let mut reply = Message {
                kind: Some(Kind::Return),
                reply_serial: Some(call.serial),
                ..Message::default()
            };
            if !answer.is_empty() {
                reply.body = vec![Value::str(answer)];
            }
            out.extend(reply.encode(serial));
        }
        stream.write_all(&out).unwrap();
        calls.into_iter().map(|c| c.member.unwrap_or_default()).collect()
    }
}
