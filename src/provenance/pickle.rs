//! Pickle and PyTorch checkpoint scanning: which Python globals would loading this file import?
//!
//! `torch.load` (without `weights_only`) and `pickle.load` execute whatever a pickle tells them to: a
//! `GLOBAL os system` followed by `REDUCE` runs a shell command. The only safe way to vet such a file is to
//! read it *without* unpickling it. This module walks the opcode stream the way CPython's unpickler would,
//! simulating just enough of the value stack and memo to name every global the stream imports (including
//! protocol-4 `STACK_GLOBAL`, whose operands are strings built on the stack), and classifies each one
//! against an allowlist mirroring PyTorch's `weights_only` unpickler and a denylist of modules and
//! functions that run code or touch the system.
//!
//! Trade-offs:
//! - The walk is static. A global is reported when it is *imported*, whether or not it is later called;
//!   that over-approximates on purpose. A `STACK_GLOBAL` whose operands are not literal strings (they would
//!   have to be computed by calling something at load time) cannot be named and is reported as `?.?`,
//!   classified unsafe, because ordinary picklers never produce it.
//! - Everything is bounded: lengths are checked against the bytes actually present before anything is
//!   sliced or allocated, the stack, memo, opcode count and line lengths are capped, zip members are read
//!   through `.take()`, and non-zip files are read incrementally up to a cap (the pickles of a legacy
//!   checkpoint sit at its front, so a multi-gigabyte file usually costs one small read).
//! - Zip archives are read with the `zip` crate. Loaders with other zip parsers may disagree about a
//!   malformed archive, so any archive the crate rejects is reported as `zip-invalid` and the scan is
//!   marked incomplete rather than guessed at.

use crate::diag::{Code, Finding};
use serde::{Deserialize, Serialize};
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::rc::Rc;

/// Largest value stack (plus open marks) the walker simulates before giving up on a stream.
pub const MAX_STACK_DEPTH: usize = 1_000_000;
/// Largest number of memo entries the walker keeps before giving up on a stream.
pub const MAX_MEMO_ENTRIES: usize = 1_000_000;
/// Largest number of opcodes walked in one stream.
pub const MAX_OPCODES: u64 = 100_000_000;
/// Longest newline-terminated argument (protocol 0/1 text opcodes), newline excluded.
pub const MAX_LINE_LEN: usize = 64 * 1024;
/// Largest decompressed zip member scanned.
pub const MAX_ZIP_MEMBER_BYTES: u64 = 256 * 1024 * 1024;
/// Largest number of `.pkl` members scanned in one archive.
pub const MAX_ZIP_PICKLES: usize = 10_000;
/// How much of a non-zip file is read at most.
pub const MAX_RAW_READ_BYTES: usize = 512 * 1024 * 1024;
/// How many consecutive pickle streams are scanned in a non-zip file (a legacy checkpoint has five).
pub const MAX_STREAMS: usize = 5;

/// Strings longer than this are not kept on the simulated stack: no module or attribute name is that long.
const MAX_KEPT_STRING: usize = 1024;
/// First read of a non-zip file; grown by doubling while a stream runs past the end of what was read.
const INITIAL_READ_BYTES: usize = 16 * 1024 * 1024;
const MAX_TRAVERSAL_FINDINGS: usize = 20;
const MAX_UNSAFE_FINDINGS: usize = 100;
const MAX_UNKNOWN_FINDINGS: usize = 50;
const MIB: u64 = 1024 * 1024;

/// How a global imported by a pickle is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Safety {
    /// A known tensor or plain-container rebuild helper (PyTorch's `weights_only` allowlist).
    Allowed,
    /// Runs code, imports modules, or touches files, processes or the network.
    Unsafe,
    /// Neither: it may be harmless or not; loading the file imports it and may call it.
    Unknown,
}

/// One distinct global imported by one pickle stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportedGlobal {
    /// The module, as written in the pickle (`?` when computed at load time).
    pub module: String,
    /// The attribute looked up in the module, possibly dotted (`?` when computed at load time).
    pub name: String,
    pub safety: Safety,
    /// How many times the stream imports it.
    pub count: u64,
    /// The pickle (zip member or `stream N`) it appeared in.
    pub pickle: String,
}

/// What kind of pickle container a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CheckpointFormat {
    /// A zip archive holding `.pkl` members (PyTorch ≥ 1.6 `torch.save`, TorchScript).
    TorchZip,
    /// Three or more consecutive pickles at the front of the file (PyTorch < 1.6 `torch.save`).
    TorchLegacy,
    /// One or two consecutive pickles (plain `pickle.dump`).
    Pickle,
    /// Neither a pickle nor a zip of pickles.
    NotPickle,
}

/// The result of scanning one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PickleScan {
    /// The path as given to [`scan_file`] (relative to the model root).
    pub file: String,
    pub format: CheckpointFormat,
    /// Names of the pickle streams scanned: zip member names, or `stream 0`, `stream 1`… for raw files.
    pub pickles: Vec<String>,
    /// Total opcodes walked over all streams.
    pub opcodes: u64,
    /// Deduplicated per (pickle, module, name), sorted by (pickle, module, name).
    pub globals: Vec<ImportedGlobal>,
    /// False when any stream or member could not be fully scanned.
    pub complete: bool,
}

/// One distinct global found in one stream, with how often it was imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamGlobal {
    pub module: String,
    pub name: String,
    pub count: u64,
}

/// The result of walking one pickle stream with [`scan_stream`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamScan {
    /// Distinct globals, in order of first import.
    pub globals: Vec<StreamGlobal>,
    /// Opcodes walked, including the one that failed, if any.
    pub opcodes: u64,
    /// Bytes consumed: the position just after STOP, or where the walk stopped on error.
    pub consumed: usize,
    /// The protocol announced by the first PROTO opcode, if any.
    pub protocol: Option<u8>,
    /// Why the walk stopped before STOP; the fields above then describe the partial walk.
    pub error: Option<PickleError>,
}

/// Why a pickle stream could not be walked to its STOP opcode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct PickleError {
    /// Offset of the failing opcode from the start of the stream.
    pub offset: usize,
    pub kind: PickleErrorKind,
}

impl PickleError {
    /// True when the stream merely ran out of bytes (more input could let the walk continue).
    pub fn is_truncation(&self) -> bool {
        matches!(
            self.kind,
            PickleErrorKind::Truncated { .. } | PickleErrorKind::MissingStop
        )
    }
}

/// The ways a pickle stream can be malformed or exceed a limit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickleErrorKind {
    #[error("the stream ends inside `{opcode}`, which needs {missing} more byte(s)")]
    Truncated { opcode: &'static str, missing: u64 },
    #[error("the stream ends without a STOP opcode")]
    MissingStop,
    #[error("unknown opcode 0x{0:02x}")]
    UnknownOpcode(u8),
    #[error("`{opcode}` pops from an empty stack")]
    StackUnderflow { opcode: &'static str },
    #[error("`{opcode}` needs a MARK and none is open")]
    NoMark { opcode: &'static str },
    #[error("the argument of `{opcode}` has no line end within {MAX_LINE_LEN} bytes")]
    LineTooLong { opcode: &'static str },
    #[error("the argument of `{opcode}` is not valid UTF-8")]
    InvalidUtf8 { opcode: &'static str },
    #[error("`{opcode}` has an invalid argument: {detail}")]
    InvalidArgument {
        opcode: &'static str,
        detail: String,
    },
    #[error("`{opcode}` reads memo entry {key}, which was never stored")]
    MemoMissing { opcode: &'static str, key: u64 },
    #[error("the {what} exceeds modelvet's limit of {limit}")]
    LimitExceeded { what: &'static str, limit: u64 },
}

macro_rules! opcodes {
    ($($name:ident = $byte:literal,)*) => {
        /// Pickle opcode bytes, protocols 0 to 5 (CPython's `pickle.py` names).
        #[allow(dead_code)]
        mod op {
            $(pub const $name: u8 = $byte;)*
        }

        /// The name of an opcode byte, or `None` when no protocol defines it.
        fn opcode_name(byte: u8) -> Option<&'static str> {
            match byte {
                $($byte => Some(stringify!($name)),)*
                _ => None,
            }
        }
    };
}

opcodes! {
    MARK = b'(', STOP = b'.', POP = b'0', POP_MARK = b'1', DUP = b'2', FLOAT = b'F', INT = b'I',
    BININT = b'J', BININT1 = b'K', LONG = b'L', BININT2 = b'M', NONE = b'N', PERSID = b'P',
    BINPERSID = b'Q', REDUCE = b'R', STRING = b'S', BINSTRING = b'T', SHORT_BINSTRING = b'U',
    UNICODE = b'V', BINUNICODE = b'X', APPEND = b'a', BUILD = b'b', GLOBAL = b'c', DICT = b'd',
    EMPTY_DICT = b'}', APPENDS = b'e', GET = b'g', BINGET = b'h', INST = b'i', LONG_BINGET = b'j',
    LIST = b'l', EMPTY_LIST = b']', OBJ = b'o', PUT = b'p', BINPUT = b'q', LONG_BINPUT = b'r',
    SETITEM = b's', TUPLE = b't', EMPTY_TUPLE = b')', SETITEMS = b'u', BINFLOAT = b'G',
    PROTO = 0x80, NEWOBJ = 0x81, EXT1 = 0x82, EXT2 = 0x83, EXT4 = 0x84, TUPLE1 = 0x85, TUPLE2 = 0x86,
    TUPLE3 = 0x87, NEWTRUE = 0x88, NEWFALSE = 0x89, LONG1 = 0x8a, LONG4 = 0x8b,
    BINBYTES = b'B', SHORT_BINBYTES = b'C',
    SHORT_BINUNICODE = 0x8c, BINUNICODE8 = 0x8d, BINBYTES8 = 0x8e, EMPTY_SET = 0x8f, ADDITEMS = 0x90,
    FROZENSET = 0x91, NEWOBJ_EX = 0x92, STACK_GLOBAL = 0x93, MEMOIZE = 0x94, FRAME = 0x95,
    BYTEARRAY8 = 0x96, NEXT_BUFFER = 0x97, READONLY_BUFFER = 0x98,
}

/// The highest pickle protocol CPython defines (and therefore accepts).
const HIGHEST_PROTOCOL: u8 = 5;

// ---------------------------------------------------------------------------------------------------------
// Opcode walker
// ---------------------------------------------------------------------------------------------------------

/// A simulated stack or memo value: a short string (a candidate `STACK_GLOBAL` operand) or anything else.
#[derive(Debug, Clone)]
enum Value {
    Str(Rc<str>),
    Other,
}

impl Value {
    fn from_str_bytes(bytes: &[u8]) -> Value {
        if bytes.len() > MAX_KEPT_STRING {
            return Value::Other;
        }
        match std::str::from_utf8(bytes) {
            Ok(s) => Value::Str(Rc::from(s)),
            Err(_) => Value::Other,
        }
    }

    fn from_string(s: String) -> Value {
        if s.len() > MAX_KEPT_STRING {
            Value::Other
        } else {
            Value::Str(Rc::from(s))
        }
    }

    fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            Value::Other => None,
        }
    }
}

type StepResult<T> = Result<T, PickleErrorKind>;

struct Walker<'a> {
    data: &'a [u8],
    pos: usize,
    /// The value stack, all frames flattened; `marks` holds the stack length at each open MARK.
    stack: Vec<Value>,
    marks: Vec<usize>,
    memo: HashMap<u64, Value>,
    globals: Vec<StreamGlobal>,
    global_index: HashMap<(String, String), usize>,
    opcodes: u64,
    protocol: Option<u8>,
}

/// Walks one pickle stream starting at `data[0]` without executing anything, and names the globals it
/// imports. Stops at the first STOP (see [`StreamScan::consumed`]) or at the first error, keeping what it
/// found so far. Never allocates more than the input can justify.
pub fn scan_stream(data: &[u8]) -> StreamScan {
    let mut walker = Walker {
        data,
        pos: 0,
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        globals: Vec::new(),
        global_index: HashMap::new(),
        opcodes: 0,
        protocol: None,
    };
    let error = walker.run().err();
    StreamScan {
        globals: walker.globals,
        opcodes: walker.opcodes,
        consumed: walker.pos,
        protocol: walker.protocol,
        error,
    }
}

impl<'a> Walker<'a> {
    fn run(&mut self) -> Result<(), PickleError> {
        loop {
            let offset = self.pos;
            let Some(&code) = self.data.get(offset) else {
                return Err(PickleError {
                    offset,
                    kind: PickleErrorKind::MissingStop,
                });
            };
            let Some(name) = opcode_name(code) else {
                return Err(PickleError {
                    offset,
                    kind: PickleErrorKind::UnknownOpcode(code),
                });
            };
            self.pos += 1;
            self.opcodes += 1;
            let step = if self.opcodes > MAX_OPCODES {
                Err(PickleErrorKind::LimitExceeded {
                    what: "opcode count",
                    limit: MAX_OPCODES,
                })
            } else {
                self.step(code, name)
            };
            match step {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(kind) => {
                    self.pos = offset;
                    return Err(PickleError { offset, kind });
                }
            }
        }
    }

    /// Executes one opcode symbolically; `Ok(true)` on STOP.
    fn step(&mut self, code: u8, name: &'static str) -> StepResult<bool> {
        match code {
            op::MARK => {
                self.check_depth()?;
                self.marks.push(self.stack.len());
            }
            op::STOP => {
                self.pop(name)?;
                return Ok(true);
            }
            op::POP => {
                // CPython pops the innermost mark when the stack above it is empty.
                if self.marks.last() == Some(&self.stack.len()) {
                    self.marks.pop();
                } else {
                    self.pop(name)?;
                }
            }
            op::POP_MARK => {
                self.pop_mark(name)?;
            }
            op::DUP => {
                let top = self.top(name)?.clone();
                self.push(top)?;
            }
            op::FLOAT | op::INT | op::LONG | op::PERSID => {
                self.data_line(name)?;
                self.push(Value::Other)?;
            }
            op::BININT => self.skip_and_push(4, name)?,
            op::BININT1 => self.skip_and_push(1, name)?,
            op::BININT2 => self.skip_and_push(2, name)?,
            op::BINFLOAT => self.skip_and_push(8, name)?,
            op::NONE
            | op::NEWTRUE
            | op::NEWFALSE
            | op::EMPTY_DICT
            | op::EMPTY_LIST
            | op::EMPTY_TUPLE
            | op::EMPTY_SET
            | op::NEXT_BUFFER => self.push(Value::Other)?,
            op::BINPERSID | op::TUPLE1 => {
                self.pop(name)?;
                self.push(Value::Other)?;
            }
            op::REDUCE | op::NEWOBJ | op::TUPLE2 => {
                self.pop_n(2, name)?;
                self.push(Value::Other)?;
            }
            op::NEWOBJ_EX | op::TUPLE3 => {
                self.pop_n(3, name)?;
                self.push(Value::Other)?;
            }
            op::STRING => {
                let line = self.data_line(name)?;
                let value =
                    parse_quoted_string(line).ok_or_else(|| PickleErrorKind::InvalidArgument {
                        opcode: name,
                        detail: "the STRING argument must be quoted".into(),
                    })?;
                self.push(value)?;
            }
            op::BINSTRING => {
                let len = i32::from_le_bytes(self.take_array(name)?);
                let len = u64::try_from(len).map_err(|_| PickleErrorKind::InvalidArgument {
                    opcode: name,
                    detail: format!("negative length {len}"),
                })?;
                let bytes = self.take(len, name)?;
                self.push(ascii_value(bytes))?;
            }
            op::SHORT_BINSTRING => {
                let len = self.take_array::<1>(name)?[0];
                let bytes = self.take(u64::from(len), name)?;
                self.push(ascii_value(bytes))?;
            }
            op::UNICODE => {
                let line = self.data_line(name)?;
                let value =
                    decode_raw_unicode_escape(line).map_or(Value::Other, Value::from_string);
                self.push(value)?;
            }
            op::SHORT_BINUNICODE => {
                let len = u64::from(self.take_array::<1>(name)?[0]);
                self.push_unicode(len, name)?;
            }
            op::BINUNICODE => {
                let len = u64::from(u32::from_le_bytes(self.take_array(name)?));
                self.push_unicode(len, name)?;
            }
            op::BINUNICODE8 => {
                let len = u64::from_le_bytes(self.take_array(name)?);
                self.push_unicode(len, name)?;
            }
            op::SHORT_BINBYTES => {
                let len = u64::from(self.take_array::<1>(name)?[0]);
                self.skip_and_push(len, name)?;
            }
            op::BINBYTES => {
                let len = u64::from(u32::from_le_bytes(self.take_array(name)?));
                self.skip_and_push(len, name)?;
            }
            op::BINBYTES8 | op::BYTEARRAY8 => {
                let len = u64::from_le_bytes(self.take_array(name)?);
                self.skip_and_push(len, name)?;
            }
            op::LONG1 => {
                let len = u64::from(self.take_array::<1>(name)?[0]);
                self.skip_and_push(len, name)?;
            }
            op::LONG4 => {
                let len = i32::from_le_bytes(self.take_array(name)?);
                let len = u64::try_from(len).map_err(|_| PickleErrorKind::InvalidArgument {
                    opcode: name,
                    detail: format!("negative length {len}"),
                })?;
                self.skip_and_push(len, name)?;
            }
            op::APPEND | op::SETITEM | op::BUILD => {
                // APPEND and BUILD pop one value, SETITEM a key and a value; the target stays.
                let popped = if code == op::SETITEM { 2 } else { 1 };
                self.pop_n(popped, name)?;
                self.top(name)?;
            }
            op::APPENDS | op::SETITEMS | op::ADDITEMS => {
                let mark = self
                    .marks
                    .pop()
                    .ok_or(PickleErrorKind::NoMark { opcode: name })?;
                let items = self.stack.len() - mark;
                if code == op::SETITEMS && items % 2 != 0 {
                    return Err(PickleErrorKind::InvalidArgument {
                        opcode: name,
                        detail: format!("odd number of items ({items})"),
                    });
                }
                self.stack.truncate(mark);
                // The container being extended sits below the mark, inside the enclosing frame.
                self.top(name)?;
            }
            op::DICT | op::LIST | op::TUPLE | op::FROZENSET => {
                self.pop_mark(name)?;
                self.push(Value::Other)?;
            }
            op::OBJ => {
                let mark = self
                    .marks
                    .last()
                    .copied()
                    .ok_or(PickleErrorKind::NoMark { opcode: name })?;
                if self.stack.len() == mark {
                    return Err(PickleErrorKind::StackUnderflow { opcode: name });
                }
                self.pop_mark(name)?;
                self.push(Value::Other)?;
            }
            op::GLOBAL => {
                let module = self.text_line(name)?;
                let attr = self.text_line(name)?;
                self.record(module, attr);
                self.push(Value::Other)?;
            }
            op::INST => {
                let module = self.text_line(name)?;
                let attr = self.text_line(name)?;
                self.record(module, attr);
                self.pop_mark(name)?;
                self.push(Value::Other)?;
            }
            op::STACK_GLOBAL => {
                let attr = self.pop(name)?;
                let module = self.pop(name)?;
                let module = module.as_str().unwrap_or(DYNAMIC).to_owned();
                let attr = attr.as_str().unwrap_or(DYNAMIC).to_owned();
                self.record(module, attr);
                self.push(Value::Other)?;
            }
            op::EXT1 => {
                let ext = i32::from(self.take_array::<1>(name)?[0]);
                self.extension(ext, name)?;
            }
            op::EXT2 => {
                let ext = i32::from(u16::from_le_bytes(self.take_array(name)?));
                self.extension(ext, name)?;
            }
            op::EXT4 => {
                let ext = i32::from_le_bytes(self.take_array(name)?);
                self.extension(ext, name)?;
            }
            op::GET => {
                let key = self.line(name)?;
                let key = parse_memo_key(key, name)?;
                self.get(key, name)?;
            }
            op::BINGET => {
                let key = u64::from(self.take_array::<1>(name)?[0]);
                self.get(key, name)?;
            }
            op::LONG_BINGET => {
                let key = u64::from(u32::from_le_bytes(self.take_array(name)?));
                self.get(key, name)?;
            }
            op::PUT => {
                let key = self.line(name)?;
                let key = parse_memo_key(key, name)?;
                self.put(key, name)?;
            }
            op::BINPUT => {
                let key = u64::from(self.take_array::<1>(name)?[0]);
                self.put(key, name)?;
            }
            op::LONG_BINPUT => {
                let key = u64::from(u32::from_le_bytes(self.take_array(name)?));
                self.put(key, name)?;
            }
            op::MEMOIZE => {
                let key = self.memo.len() as u64;
                self.put(key, name)?;
            }
            op::PROTO => {
                let proto = self.take_array::<1>(name)?[0];
                if proto > HIGHEST_PROTOCOL {
                    return Err(PickleErrorKind::InvalidArgument {
                        opcode: name,
                        detail: format!("unsupported protocol {proto}"),
                    });
                }
                self.protocol.get_or_insert(proto);
            }
            op::FRAME => {
                // Framing only groups opcodes for buffered reads; check the frame exists and walk on.
                let len = u64::from_le_bytes(self.take_array(name)?);
                let remaining = (self.data.len() - self.pos) as u64;
                if len > remaining {
                    return Err(PickleErrorKind::Truncated {
                        opcode: name,
                        missing: len - remaining,
                    });
                }
            }
            op::READONLY_BUFFER => {
                self.top(name)?;
            }
            _ => return Err(PickleErrorKind::UnknownOpcode(code)),
        }
        Ok(false)
    }

    /// The innermost open mark, or 0: values below it belong to an enclosing frame.
    fn fence(&self) -> usize {
        self.marks.last().copied().unwrap_or(0)
    }

    fn check_depth(&self) -> StepResult<()> {
        if self.stack.len() + self.marks.len() >= MAX_STACK_DEPTH {
            return Err(PickleErrorKind::LimitExceeded {
                what: "stack depth",
                limit: MAX_STACK_DEPTH as u64,
            });
        }
        Ok(())
    }

    fn push(&mut self, value: Value) -> StepResult<()> {
        self.check_depth()?;
        self.stack.push(value);
        Ok(())
    }

    fn pop(&mut self, opcode: &'static str) -> StepResult<Value> {
        if self.stack.len() <= self.fence() {
            return Err(PickleErrorKind::StackUnderflow { opcode });
        }
        self.stack
            .pop()
            .ok_or(PickleErrorKind::StackUnderflow { opcode })
    }

    fn pop_n(&mut self, n: usize, opcode: &'static str) -> StepResult<()> {
        for _ in 0..n {
            self.pop(opcode)?;
        }
        Ok(())
    }

    fn top(&self, opcode: &'static str) -> StepResult<&Value> {
        if self.stack.len() <= self.fence() {
            return Err(PickleErrorKind::StackUnderflow { opcode });
        }
        self.stack
            .last()
            .ok_or(PickleErrorKind::StackUnderflow { opcode })
    }

    /// Closes the innermost mark, discarding the values above it.
    fn pop_mark(&mut self, opcode: &'static str) -> StepResult<()> {
        let mark = self.marks.pop().ok_or(PickleErrorKind::NoMark { opcode })?;
        self.stack.truncate(mark);
        Ok(())
    }

    /// The next `n` bytes, after checking they exist (so a forged length never allocates or overruns).
    fn take(&mut self, n: u64, opcode: &'static str) -> StepResult<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos..];
        match usize::try_from(n) {
            Ok(n) if n <= rest.len() => {
                self.pos += n;
                Ok(&rest[..n])
            }
            _ => Err(PickleErrorKind::Truncated {
                opcode,
                missing: n.saturating_sub(rest.len() as u64),
            }),
        }
    }

    fn take_array<const N: usize>(&mut self, opcode: &'static str) -> StepResult<[u8; N]> {
        let bytes = self.take(N as u64, opcode)?;
        let mut array = [0u8; N];
        array.copy_from_slice(bytes);
        Ok(array)
    }

    /// A newline-terminated argument of at most `max_len` bytes, without its newline.
    fn line_within(&mut self, opcode: &'static str, max_len: usize) -> StepResult<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let rest = &data[self.pos..];
        let window = &rest[..rest.len().min(max_len.saturating_add(1))];
        match window.iter().position(|&b| b == b'\n') {
            Some(end) => {
                self.pos += end + 1;
                Ok(&rest[..end])
            }
            None if rest.len() <= max_len => Err(PickleErrorKind::Truncated { opcode, missing: 1 }),
            None => Err(PickleErrorKind::LineTooLong { opcode }),
        }
    }

    /// A newline-terminated name or memo key, capped at [`MAX_LINE_LEN`].
    fn line(&mut self, opcode: &'static str) -> StepResult<&'a [u8]> {
        self.line_within(opcode, MAX_LINE_LEN)
    }

    /// A newline-terminated data value (INT, LONG, FLOAT, STRING, UNICODE, PERSID). Protocol 0 writes
    /// strings and big integers this way, so these may be as long as the stream; they are sliced from the
    /// input, never copied.
    fn data_line(&mut self, opcode: &'static str) -> StepResult<&'a [u8]> {
        self.line_within(opcode, usize::MAX)
    }

    fn text_line(&mut self, opcode: &'static str) -> StepResult<String> {
        let line = self.line(opcode)?;
        std::str::from_utf8(line)
            .map(str::to_owned)
            .map_err(|_| PickleErrorKind::InvalidUtf8 { opcode })
    }

    fn skip_and_push(&mut self, n: u64, opcode: &'static str) -> StepResult<()> {
        self.take(n, opcode)?;
        self.push(Value::Other)
    }

    fn push_unicode(&mut self, len: u64, opcode: &'static str) -> StepResult<()> {
        let bytes = self.take(len, opcode)?;
        self.push(Value::from_str_bytes(bytes))
    }

    fn extension(&mut self, code: i32, opcode: &'static str) -> StepResult<()> {
        if code <= 0 {
            return Err(PickleErrorKind::InvalidArgument {
                opcode,
                detail: format!("extension code {code} is not positive"),
            });
        }
        self.record(EXTENSION_MODULE.to_owned(), format!("extension[{code}]"));
        self.push(Value::Other)
    }

    fn get(&mut self, key: u64, opcode: &'static str) -> StepResult<()> {
        let value = self
            .memo
            .get(&key)
            .cloned()
            .ok_or(PickleErrorKind::MemoMissing { opcode, key })?;
        self.push(value)
    }

    fn put(&mut self, key: u64, opcode: &'static str) -> StepResult<()> {
        let value = self.top(opcode)?.clone();
        if self.memo.len() >= MAX_MEMO_ENTRIES && !self.memo.contains_key(&key) {
            return Err(PickleErrorKind::LimitExceeded {
                what: "memo size",
                limit: MAX_MEMO_ENTRIES as u64,
            });
        }
        self.memo.insert(key, value);
        Ok(())
    }

    fn record(&mut self, module: String, name: String) {
        match self.global_index.entry((module, name)) {
            Entry::Occupied(entry) => {
                if let Some(global) = self.globals.get_mut(*entry.get()) {
                    global.count += 1;
                }
            }
            Entry::Vacant(entry) => {
                let (module, name) = entry.key().clone();
                entry.insert(self.globals.len());
                self.globals.push(StreamGlobal {
                    module,
                    name,
                    count: 1,
                });
            }
        }
    }
}

/// A memo key written in decimal (GET, PUT).
fn parse_memo_key(line: &[u8], opcode: &'static str) -> StepResult<u64> {
    let text = std::str::from_utf8(line).unwrap_or("").trim();
    let digits = text.strip_prefix('+').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(PickleErrorKind::InvalidArgument {
            opcode,
            detail: format!(
                "memo key `{}` is not a non-negative integer",
                String::from_utf8_lossy(line)
            ),
        });
    }
    digits
        .parse()
        .map_err(|_| PickleErrorKind::InvalidArgument {
            opcode,
            detail: format!("memo key `{digits}` is too large"),
        })
}

/// A protocol-0/1 byte string (decoded as ASCII, as Python 3's default `encoding="ASCII"` does).
fn ascii_value(bytes: &[u8]) -> Value {
    if bytes.is_ascii() {
        Value::from_str_bytes(bytes)
    } else {
        Value::Other
    }
}

/// The argument of STRING: a Python bytes repr in matching quotes. `None` when it is not quoted.
fn parse_quoted_string(line: &[u8]) -> Option<Value> {
    let (&first, rest) = line.split_first()?;
    let (&last, inner) = rest.split_last()?;
    if first != last || !(first == b'\'' || first == b'"') {
        return None;
    }
    if inner.len() > MAX_KEPT_STRING {
        return Some(Value::Other);
    }
    Some(unescape_bytes(inner).map_or(Value::Other, |bytes| ascii_value(&bytes)))
}

/// Decodes the backslash escapes of a bytes repr; `None` on an escape this scanner does not model.
fn unescape_bytes(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        i += 1;
        if b != b'\\' {
            out.push(b);
            continue;
        }
        let e = *s.get(i)?;
        i += 1;
        match e {
            b'\\' | b'\'' | b'"' => out.push(e),
            b'n' => out.push(b'\n'),
            b't' => out.push(b'\t'),
            b'r' => out.push(b'\r'),
            b'x' => {
                let hex = std::str::from_utf8(s.get(i..i + 2)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Python's `raw-unicode-escape`: bytes are Latin-1 except `\uXXXX` and `\UXXXXXXXX`.
/// `None` as well for arguments too long to be a name (at most 10 input bytes make one character).
fn decode_raw_unicode_escape(s: &[u8]) -> Option<String> {
    if s.len() > 10 * MAX_KEPT_STRING {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        let digits = match (b, s.get(i + 1)) {
            (b'\\', Some(b'u')) => 4,
            (b'\\', Some(b'U')) => 8,
            _ => {
                out.push(char::from(b));
                i += 1;
                continue;
            }
        };
        let hex = std::str::from_utf8(s.get(i + 2..i + 2 + digits)?).ok()?;
        out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
        i += 2 + digits;
    }
    Some(out)
}

/// Whether `data` plausibly starts a pickle stream: PROTO with a known protocol, or a protocol-0/1 opening
/// opcode (`(`, `}`, `]`, or `c` followed by a dotted module name).
fn looks_like_pickle_start(data: &[u8]) -> bool {
    match data {
        [op::PROTO, proto, ..] => *proto <= HIGHEST_PROTOCOL,
        [op::MARK | op::EMPTY_DICT | op::EMPTY_LIST, next, ..] => opcode_name(*next).is_some(),
        [op::GLOBAL, rest @ ..] => {
            let window = &rest[..rest.len().min(256)];
            match window.iter().position(|&b| b == b'\n') {
                Some(end) if end > 0 => window[..end]
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.'),
                _ => false,
            }
        }
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Classification
// ---------------------------------------------------------------------------------------------------------

/// The module name reported for a `STACK_GLOBAL` operand that is not a literal string.
pub const DYNAMIC: &str = "?";
/// The module name reported for EXT1/EXT2/EXT4 (copyreg extension registry) imports.
pub const EXTENSION_MODULE: &str = "copyreg";

/// The verdict on one global, with a short reason usable after "which" in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classification {
    pub safety: Safety,
    pub reason: &'static str,
}

impl Classification {
    const fn new(safety: Safety, reason: &'static str) -> Classification {
        Classification { safety, reason }
    }
}

/// Modules (matched on whole dotted components, so `os.path` is under `os` and `osmosis` is not) whose
/// every attribute is treated as unsafe.
const UNSAFE_MODULES: &[(&str, &str)] = &[
    ("os", "can run shell commands and change files"),
    ("posix", "can run shell commands and change files"),
    ("nt", "can run shell commands and change files"),
    ("subprocess", "runs shell commands"),
    ("_posixsubprocess", "spawns processes"),
    ("commands", "runs shell commands"),
    ("pty", "spawns processes"),
    ("sys", "alters the Python interpreter"),
    ("shutil", "copies, moves and deletes files"),
    ("socket", "opens network connections"),
    ("_socket", "opens network connections"),
    ("runpy", "runs Python modules"),
    ("webbrowser", "opens URLs"),
    ("importlib", "imports arbitrary modules"),
    ("zipimport", "imports arbitrary modules"),
    (
        "pickle",
        "loads nested pickles, which run code of their own",
    ),
    (
        "_pickle",
        "loads nested pickles, which run code of their own",
    ),
    (
        "cPickle",
        "loads nested pickles, which run code of their own",
    ),
    ("marshal", "loads compiled code objects"),
    ("dill", "loads nested pickles and code objects"),
    ("ctypes", "calls native code"),
    ("_ctypes", "calls native code"),
    ("code", "compiles and runs Python code"),
    ("codeop", "compiles Python code"),
    ("multiprocessing", "spawns processes"),
    ("asyncio", "spawns processes and opens network connections"),
    ("requests", "makes network requests"),
    ("urllib", "makes network requests"),
    ("urllib2", "makes network requests"),
    ("http", "makes network requests"),
    ("httplib", "makes network requests"),
    ("ftplib", "makes network requests"),
    ("telnetlib", "makes network requests"),
    ("smtplib", "sends mail over the network"),
    ("pdb", "opens a debugger that runs code"),
    ("bdb", "opens a debugger that runs code"),
    ("timeit", "evaluates Python code"),
    ("pip", "installs packages"),
    ("venv", "creates environments and runs installers"),
    ("platform", "runs system commands"),
    ("signal", "changes signal handling"),
    ("threading", "starts threads"),
    ("_thread", "starts threads"),
    ("tempfile", "creates files"),
    ("glob", "lists files"),
    ("io", "opens files"),
    ("_io", "opens files"),
    ("pathlib", "reads and writes files"),
    ("torch.hub", "downloads and runs code from the internet"),
];

const BUILTIN_MODULES: &[&str] = &["builtins", "__builtin__", "__builtins__"];

/// Unsafe names of the builtins module (any of its spellings).
const UNSAFE_BUILTINS: &[(&str, &str)] = &[
    ("eval", "evaluates Python code"),
    ("exec", "executes Python code"),
    ("execfile", "executes a Python file"),
    ("compile", "compiles Python code"),
    ("open", "opens files"),
    ("file", "opens files"),
    (
        "getattr",
        "reaches any attribute, such as `os.system` through an imported module",
    ),
    ("setattr", "modifies objects and modules"),
    ("delattr", "modifies objects and modules"),
    ("__import__", "imports arbitrary modules"),
    ("reload", "re-imports modules"),
    ("globals", "exposes and modifies interpreter namespaces"),
    ("locals", "exposes and modifies interpreter namespaces"),
    ("vars", "exposes and modifies interpreter namespaces"),
    ("input", "reads from the terminal"),
    ("breakpoint", "opens a debugger that runs code"),
    ("apply", "calls arbitrary callables"),
];

/// Unsafe (module, name) pairs outside the unsafe modules.
const UNSAFE_NAMES: &[(&str, &str, &str)] = &[
    ("operator", "attrgetter", "reaches arbitrary attributes"),
    ("_operator", "attrgetter", "reaches arbitrary attributes"),
    ("operator", "methodcaller", "calls arbitrary methods"),
    ("_operator", "methodcaller", "calls arbitrary methods"),
    ("functools", "partial", "composes arbitrary calls"),
    ("_functools", "partial", "composes arbitrary calls"),
    ("functools", "reduce", "composes arbitrary calls"),
    ("_functools", "reduce", "composes arbitrary calls"),
    (
        "torch",
        "load",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch.serialization",
        "load",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch.serialization",
        "_load",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch.storage",
        "_load_from_bytes",
        "loads a nested checkpoint, itself a pickle",
    ),
    (
        "torch._inductor.codecache",
        "compile_file",
        "compiles and loads native code",
    ),
    ("numpy", "load", "loads files, including nested pickles"),
    (
        "numpy.testing._private.utils",
        "runstring",
        "evaluates Python code",
    ),
];

const ALLOWED_REASON: &str = "is a known tensor or container rebuild helper";
const UNKNOWN_REASON: &str =
    "is not a known tensor-rebuild helper; loading the file imports it and may call it";
const EXTENSION_REASON: &str =
    "is resolved through the copyreg extension registry, which cannot be checked statically";
const DYNAMIC_REASON: &str =
    "is computed while loading and can hide any import, such as `os.system`";

const TORCH_STORAGE_KINDS: &[&str] = &[
    "Float",
    "Half",
    "BFloat16",
    "Double",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexFloat",
    "ComplexDouble",
    "QUInt8",
    "QInt8",
    "QInt32",
    "QUInt4x2",
    "QUInt2x4",
];

const TORCH_DTYPES: &[&str] = &[
    "float32",
    "float",
    "float16",
    "half",
    "bfloat16",
    "float64",
    "double",
    "int64",
    "long",
    "int32",
    "int",
    "int16",
    "short",
    "int8",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
    "complex32",
    "chalf",
    "complex64",
    "cfloat",
    "complex128",
    "cdouble",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
];

const TORCH_QSCHEMES: &[&str] = &[
    "per_tensor_affine",
    "per_tensor_symmetric",
    "per_channel_affine",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
];

const TORCH_REBUILD_HELPERS: &[&str] = &[
    "_rebuild_tensor",
    "_rebuild_tensor_v2",
    "_rebuild_tensor_v3",
    "_rebuild_parameter",
    "_rebuild_parameter_with_state",
    "_rebuild_qtensor",
    "_rebuild_sparse_tensor",
    "_rebuild_nested_tensor",
    "_rebuild_device_tensor_from_numpy",
    "_rebuild_device_tensor_from_cpu_tensor",
    "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass",
];

const SAFE_BUILTINS: &[&str] = &[
    "set",
    "frozenset",
    "slice",
    "bytearray",
    "complex",
    "dict",
    "list",
    "tuple",
    "int",
    "float",
    "str",
    "bytes",
    "bool",
    "range",
];

/// Whether `module` is `prefix` or a submodule of it (whole dotted components only).
fn is_under(module: &str, prefix: &str) -> bool {
    module
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
}

/// `FloatStorage`, `BFloat16Storage`… (legacy typed storages).
fn is_torch_storage_class(name: &str) -> bool {
    name.strip_suffix("Storage")
        .is_some_and(|kind| TORCH_STORAGE_KINDS.contains(&kind))
}

/// `FloatTensor`, `BFloat16Tensor`… (legacy tensor classes).
fn is_torch_tensor_class(name: &str) -> bool {
    name.strip_suffix("Tensor")
        .is_some_and(|kind| TORCH_STORAGE_KINDS.contains(&kind))
}

/// The allowlist: PyTorch's `weights_only` globals plus the numpy and builtins rebuild helpers.
fn is_allowed(module: &str, name: &str) -> bool {
    match module {
        "collections" => matches!(name, "OrderedDict" | "Counter"),
        "torch._utils" => TORCH_REBUILD_HELPERS.contains(&name),
        "torch._tensor" => name == "_rebuild_from_type_v2",
        "torch" => {
            matches!(name, "Size" | "device" | "Tensor")
                || is_torch_storage_class(name)
                || is_torch_tensor_class(name)
                || TORCH_DTYPES.contains(&name)
                || TORCH_QSCHEMES.contains(&name)
        }
        "torch.cuda" => is_torch_storage_class(name) || is_torch_tensor_class(name),
        "torch.storage" => matches!(name, "UntypedStorage" | "TypedStorage"),
        "torch.serialization" => name == "_get_layout",
        "torch.nn.parameter" => name == "Parameter",
        "numpy.core.multiarray" | "numpy._core.multiarray" => {
            matches!(name, "_reconstruct" | "scalar")
        }
        "numpy.core.numeric" | "numpy._core.numeric" => name == "_frombuffer",
        "numpy" => matches!(name, "ndarray" | "dtype"),
        "numpy.dtypes" => name.strip_suffix("DType").is_some_and(|kind| {
            !kind.is_empty() && kind.bytes().all(|b| b.is_ascii_alphanumeric())
        }),
        "_codecs" => name == "encode",
        "builtins" => SAFE_BUILTINS.contains(&name),
        // Python 2 spellings, which CPython maps to `builtins` when loading protocol 0–2 pickles.
        "__builtin__" => SAFE_BUILTINS.contains(&name) || name == "xrange",
        _ => false,
    }
}

/// The denylist, applied to one (module, name) reading of a global.
fn unsafe_reason(module: &str, name: &str) -> Option<&'static str> {
    if let Some((_, reason)) = UNSAFE_MODULES
        .iter()
        .find(|(prefix, _)| is_under(module, prefix))
    {
        return Some(reason);
    }
    if BUILTIN_MODULES.contains(&module) {
        if let Some((_, reason)) = UNSAFE_BUILTINS.iter().find(|(n, _)| *n == name) {
            return Some(reason);
        }
    }
    UNSAFE_NAMES
        .iter()
        .find(|(m, n, _)| *m == module && *n == name)
        .map(|(_, _, reason)| *reason)
}

/// Classifies a global imported by a pickle.
///
/// A dotted `name` is resolved by CPython (protocol ≥ 4) as an attribute chain, so `torch.serialization`
/// + `os.system` reaches `os.system`; every reading of such a chain is checked against the denylist.
pub fn classify(module: &str, name: &str) -> Classification {
    if let Some(reason) = unsafe_reason(module, name) {
        return Classification::new(Safety::Unsafe, reason);
    }
    if module == DYNAMIC || name == DYNAMIC {
        return Classification::new(Safety::Unsafe, DYNAMIC_REASON);
    }
    let parts: Vec<&str> = name.split('.').collect();
    for split in 1..parts.len() {
        let inner_module = parts[..split].join(".");
        let inner_name = parts[split..].join(".");
        if let Some(reason) = unsafe_reason(&inner_module, &inner_name) {
            return Classification::new(Safety::Unsafe, reason);
        }
    }
    if is_allowed(module, name) {
        return Classification::new(Safety::Allowed, ALLOWED_REASON);
    }
    if module == EXTENSION_MODULE && name.starts_with("extension[") {
        return Classification::new(Safety::Unknown, EXTENSION_REASON);
    }
    Classification::new(Safety::Unknown, UNKNOWN_REASON)
}

// ---------------------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------------------

/// Caps used by [`scan_file`]; tests shrink them.
#[derive(Debug, Clone, Copy)]
struct Limits {
    zip_member_bytes: u64,
    zip_pickles: usize,
    raw_read_bytes: usize,
    initial_read_bytes: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        zip_member_bytes: MAX_ZIP_MEMBER_BYTES,
        zip_pickles: MAX_ZIP_PICKLES,
        raw_read_bytes: MAX_RAW_READ_BYTES,
        initial_read_bytes: INITIAL_READ_BYTES,
    };
}

const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";
/// Bytes [`looks_like_pickle_start`] may look at.
const SNIFF_BYTES: usize = 258;

/// Scans the file at `path` (reported as `rel`): detects a zip checkpoint, a legacy multi-pickle
/// checkpoint or a raw pickle, walks every pickle stream, classifies every imported global, and returns
/// the findings. Never panics, never executes anything, and reads a bounded amount of the file.
pub fn scan_file(path: &Path, rel: &str) -> (PickleScan, Vec<Finding>) {
    scan_file_with(path, rel, &Limits::DEFAULT)
}

fn scan_file_with(path: &Path, rel: &str, limits: &Limits) -> (PickleScan, Vec<Finding>) {
    let mut acc = Accumulator::new(rel);
    let format = match File::open(path) {
        Ok(file) => match scan_opened(file, &mut acc, limits) {
            Ok(format) => format,
            Err(e) => {
                acc.unreadable(&e);
                acc.format_hint
            }
        },
        Err(e) => {
            acc.unreadable(&e);
            CheckpointFormat::NotPickle
        }
    };
    acc.finish(format)
}

fn scan_opened(
    mut file: File,
    acc: &mut Accumulator,
    limits: &Limits,
) -> io::Result<CheckpointFormat> {
    let mut magic = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut magic)?;
    file.rewind()?;
    if magic.as_slice() == ZIP_MAGIC {
        acc.format_hint = CheckpointFormat::TorchZip;
        Ok(scan_zip(file, acc, limits))
    } else {
        scan_raw(file, acc, limits)
    }
}

/// A PyTorch zip checkpoint: check every member name, scan every `.pkl` member.
fn scan_zip(mut file: File, acc: &mut Accumulator, limits: &Limits) -> CheckpointFormat {
    // An unreadable tail surfaces again, with a better message, when the zip crate parses the archive.
    let declared = declared_zip_entries(&mut file).ok().flatten();
    let mut archive = match zip::ZipArchive::new(BufReader::new(file)) {
        Ok(archive) => archive,
        Err(e) => {
            acc.structural(
                Code::ZipInvalid,
                format!("zip archive is malformed ({e}); its pickles were not scanned"),
            );
            return CheckpointFormat::TorchZip;
        }
    };

    if let Some(declared) = declared.filter(|&d| d != archive.len() as u64) {
        acc.structural(
            Code::ZipInvalid,
            format!(
                "zip central directory declares {declared} entries but holds {} distinct names; \
                 with duplicate member names, loaders disagree on which copy they read",
                archive.len()
            ),
        );
    }

    let mut traversals = 0usize;
    let mut pickle_members = Vec::new();
    let mut skipped_pickles = 0usize;
    for index in 0..archive.len() {
        let Some(name) = archive.name_for_index(index) else {
            continue;
        };
        if escapes_extraction_root(name) {
            traversals += 1;
            if traversals <= MAX_TRAVERSAL_FINDINGS {
                acc.structural(
                    Code::ZipPathTraversal,
                    format!("zip member name `{name}` escapes the extraction folder"),
                );
            }
        }
        if name.ends_with(".pkl") && !name.ends_with('/') {
            if pickle_members.len() < limits.zip_pickles {
                pickle_members.push((index, name.to_owned()));
            } else {
                skipped_pickles += 1;
            }
        }
    }
    if traversals > MAX_TRAVERSAL_FINDINGS {
        acc.structural(
            Code::ZipPathTraversal,
            format!(
                "… and {} more zip member names that escape the extraction folder",
                traversals - MAX_TRAVERSAL_FINDINGS
            ),
        );
    }
    if skipped_pickles > 0 {
        acc.structural(
            Code::ZipInvalid,
            format!(
                "zip archive holds more than {} `.pkl` members; {skipped_pickles} were not scanned",
                limits.zip_pickles
            ),
        );
    }
    if pickle_members.is_empty() {
        return CheckpointFormat::NotPickle;
    }

    for (index, name) in pickle_members {
        let mut member = match archive.by_index(index) {
            Ok(member) => member,
            Err(e) => {
                acc.structural(
                    Code::ZipInvalid,
                    format!("zip member `{name}` cannot be read ({e}); it was not scanned"),
                );
                continue;
            }
        };
        let mut data = Vec::new();
        let read = (&mut member)
            .take(limits.zip_member_bytes + 1)
            .read_to_end(&mut data);
        if data.len() as u64 > limits.zip_member_bytes {
            acc.structural(
                Code::ZipInvalid,
                format!(
                    "zip member `{name}` decompresses to more than {}; it was not scanned",
                    human_size(limits.zip_member_bytes)
                ),
            );
            continue;
        }
        if let Err(e) = read {
            // Whatever was decompressed before the error (often a checksum mismatch at the end) is still
            // worth scanning: a loader with a laxer zip reader may run it.
            acc.structural(
                Code::ZipInvalid,
                format!("zip member `{name}` is corrupt ({e}); it may not be fully scanned"),
            );
        }
        let scan = scan_stream(&data);
        acc.add_stream(name, scan, StreamOrigin::ZipMember);
    }
    CheckpointFormat::TorchZip
}

/// The entry count declared by the end-of-central-directory record, unless it is the zip64 placeholder.
/// The `zip` crate keeps one entry per name, so a larger declared count reveals duplicate names.
fn declared_zip_entries<R: Read + Seek>(reader: &mut R) -> io::Result<Option<u64>> {
    const EOCD_SIGNATURE: &[u8] = b"PK\x05\x06";
    const EOCD_LEN: u64 = 22;
    let len = reader.seek(SeekFrom::End(0))?;
    let tail_len = len.min(EOCD_LEN + u64::from(u16::MAX));
    reader.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::new();
    reader.take(tail_len).read_to_end(&mut tail)?;
    reader.rewind()?;
    let Some(at) = tail.windows(4).rposition(|w| w == EOCD_SIGNATURE) else {
        return Ok(None);
    };
    let Some(&[lo, hi]) = tail.get(at + 10..at + 12) else {
        return Ok(None);
    };
    let total = u16::from_le_bytes([lo, hi]);
    Ok((total != u16::MAX).then_some(u64::from(total)))
}

/// Whether a zip member name is absolute, carries a drive letter, or climbs out with `..`.
fn escapes_extraction_root(name: &str) -> bool {
    let bytes = name.as_bytes();
    let absolute = name.starts_with('/') || name.starts_with('\\');
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    absolute || drive || name.split(['/', '\\']).any(|component| component == "..")
}

/// A non-zip file read incrementally up to a cap: pickles sit at the front of a legacy checkpoint.
struct Prefix<R> {
    reader: R,
    buf: Vec<u8>,
    eof: bool,
    cap: usize,
}

impl<R: Read> Prefix<R> {
    /// Reads until `want` bytes (at most the cap) are buffered or the file ends.
    fn fill_to(&mut self, want: usize) -> io::Result<()> {
        let want = want.min(self.cap);
        if self.eof || self.buf.len() >= want {
            return Ok(());
        }
        let need = want - self.buf.len();
        let got = (&mut self.reader)
            .take(need as u64)
            .read_to_end(&mut self.buf)?;
        if got < need {
            self.eof = true;
        }
        Ok(())
    }

    /// Whether more of the file could be read.
    fn can_grow(&self) -> bool {
        !self.eof && self.buf.len() < self.cap
    }
}

/// A legacy checkpoint or raw pickle: consecutive pickle streams from the start of the file.
fn scan_raw<R: Read>(
    reader: R,
    acc: &mut Accumulator,
    limits: &Limits,
) -> io::Result<CheckpointFormat> {
    let mut prefix = Prefix {
        reader,
        buf: Vec::new(),
        eof: false,
        cap: limits.raw_read_bytes,
    };
    prefix.fill_to(SNIFF_BYTES)?;
    if !looks_like_pickle_start(&prefix.buf) {
        return Ok(CheckpointFormat::NotPickle);
    }
    acc.format_hint = CheckpointFormat::Pickle;

    let mut start = 0usize;
    let mut streams = 0usize;
    while streams < MAX_STREAMS {
        prefix.fill_to(start.saturating_add(SNIFF_BYTES))?;
        if start >= prefix.buf.len() || !looks_like_pickle_start(&prefix.buf[start..]) {
            break;
        }
        let mut want = limits.initial_read_bytes;
        let scan = loop {
            prefix.fill_to(want)?;
            let scan = scan_stream(&prefix.buf[start..]);
            match &scan.error {
                Some(error) if error.is_truncation() && prefix.can_grow() => {
                    want = prefix
                        .buf
                        .len()
                        .saturating_mul(2)
                        .max(limits.initial_read_bytes);
                }
                _ => break scan,
            }
        };
        let hit_cap = scan.error.as_ref().is_some_and(PickleError::is_truncation) && !prefix.eof;
        let failed = scan.error.is_some();
        let consumed = scan.consumed;
        let origin = if hit_cap {
            StreamOrigin::RawCapped(start, limits.raw_read_bytes)
        } else {
            StreamOrigin::Raw(start)
        };
        acc.add_stream(format!("stream {streams}"), scan, origin);
        streams += 1;
        if failed {
            break;
        }
        start += consumed;
    }
    Ok(if streams >= 3 {
        CheckpointFormat::TorchLegacy
    } else {
        CheckpointFormat::Pickle
    })
}

/// Where a stream came from, for error messages.
#[derive(Debug, Clone, Copy)]
enum StreamOrigin {
    /// A zip member: offsets are within the member.
    ZipMember,
    /// A stream at this file offset.
    Raw(usize),
    /// A stream at this file offset that ran past the read cap (in bytes).
    RawCapped(usize, usize),
}

/// Collects streams and structural findings of one file, then builds the [`PickleScan`] and findings.
struct Accumulator {
    rel: String,
    pickles: Vec<String>,
    opcodes: u64,
    globals: BTreeMap<(String, String, String), u64>,
    structural: Vec<Finding>,
    complete: bool,
    /// The format to report if reading fails midway.
    format_hint: CheckpointFormat,
}

impl Accumulator {
    fn new(rel: &str) -> Accumulator {
        Accumulator {
            rel: rel.to_owned(),
            pickles: Vec::new(),
            opcodes: 0,
            globals: BTreeMap::new(),
            structural: Vec::new(),
            complete: true,
            format_hint: CheckpointFormat::NotPickle,
        }
    }

    /// Records a finding about the container or a stream; all but path traversal mean the file was not
    /// fully scanned.
    fn structural(&mut self, code: Code, message: String) {
        if code != Code::ZipPathTraversal {
            self.complete = false;
        }
        self.structural
            .push(Finding::new(code, message).in_file(&self.rel));
    }

    fn unreadable(&mut self, error: &io::Error) {
        self.structural(
            Code::FileUnreadable,
            format!("file cannot be read ({error}); it was not scanned for pickles"),
        );
    }

    fn add_stream(&mut self, pickle: String, scan: StreamScan, origin: StreamOrigin) {
        self.opcodes += scan.opcodes;
        for global in scan.globals {
            *self
                .globals
                .entry((pickle.clone(), global.module, global.name))
                .or_insert(0) += global.count;
        }
        if let Some(error) = scan.error {
            let message = match origin {
                StreamOrigin::ZipMember => format!(
                    "pickle `{pickle}` is malformed at byte {} of the member: {}; the rest was not scanned",
                    error.offset, error.kind
                ),
                StreamOrigin::Raw(base) => format!(
                    "pickle `{pickle}` is malformed at byte {}: {}; the rest was not scanned",
                    base.saturating_add(error.offset),
                    error.kind
                ),
                StreamOrigin::RawCapped(base, cap) => format!(
                    "pickle `{pickle}` starting at byte {base} runs past the first {} modelvet reads; \
                     the rest was not scanned",
                    human_size(cap as u64)
                ),
            };
            self.structural(Code::PickleInvalid, message);
        }
        self.pickles.push(pickle);
    }

    fn finish(self, format: CheckpointFormat) -> (PickleScan, Vec<Finding>) {
        let rel = self.rel;
        let mut findings = Vec::new();
        if format != CheckpointFormat::NotPickle && !self.pickles.is_empty() {
            findings.push(
                Finding::new(
                    Code::PickleSerialization,
                    "file uses Python pickle, which can run arbitrary code when loaded; prefer safetensors or GGUF",
                )
                .in_file(&rel),
            );
        }
        findings.extend(self.structural);

        let name_pickles = self.pickles.len() > 1 || format == CheckpointFormat::TorchZip;
        let mut globals = Vec::with_capacity(self.globals.len());
        // Distinct (module, name) over the whole file → first pickle and verdict.
        let mut distinct: BTreeMap<(String, String), (String, Classification)> = BTreeMap::new();
        for ((pickle, module, name), count) in self.globals {
            let verdict = classify(&module, &name);
            distinct
                .entry((module.clone(), name.clone()))
                .or_insert_with(|| (pickle.clone(), verdict));
            globals.push(ImportedGlobal {
                module,
                name,
                safety: verdict.safety,
                count,
                pickle,
            });
        }

        let (mut unsafe_count, mut unknown_count) = (0usize, 0usize);
        let mut unknown_findings = Vec::new();
        for ((module, name), (pickle, verdict)) in &distinct {
            let subject = if name_pickles {
                format!("pickle `{pickle}`")
            } else {
                "pickle".to_owned()
            };
            let global = format!("{module}.{name}");
            match verdict.safety {
                Safety::Allowed => {}
                Safety::Unsafe => {
                    unsafe_count += 1;
                    if unsafe_count <= MAX_UNSAFE_FINDINGS {
                        let message = if verdict.reason == DYNAMIC_REASON {
                            format!("{subject} imports `{global}`, a global whose name {DYNAMIC_REASON}")
                        } else {
                            format!(
                                "{subject} imports `{global}`, which {} when the file is loaded",
                                verdict.reason
                            )
                        };
                        findings
                            .push(Finding::new(Code::PickleGlobalUnsafe, message).in_file(&rel));
                    }
                }
                Safety::Unknown => {
                    unknown_count += 1;
                    if unknown_count <= MAX_UNKNOWN_FINDINGS {
                        let message =
                            format!("{subject} imports `{global}`, which {}", verdict.reason);
                        unknown_findings
                            .push(Finding::new(Code::PickleGlobalUnknown, message).in_file(&rel));
                    }
                }
            }
        }
        if unsafe_count > MAX_UNSAFE_FINDINGS {
            let more = unsafe_count - MAX_UNSAFE_FINDINGS;
            findings.push(
                Finding::new(
                    Code::PickleGlobalUnsafe,
                    format!("… and {more} more unsafe globals not listed"),
                )
                .in_file(&rel),
            );
        }
        findings.extend(unknown_findings);
        if unknown_count > MAX_UNKNOWN_FINDINGS {
            let more = unknown_count - MAX_UNKNOWN_FINDINGS;
            findings.push(
                Finding::new(
                    Code::PickleGlobalUnknown,
                    format!("… and {more} more unknown globals not listed"),
                )
                .in_file(&rel),
            );
        }

        let scan = PickleScan {
            file: rel,
            format,
            pickles: self.pickles,
            opcodes: self.opcodes,
            globals,
            complete: self.complete,
        };
        (scan, findings)
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= MIB && bytes % MIB == 0 {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// Builds a pickle byte stream opcode by opcode.
    struct P(Vec<u8>);

    impl P {
        /// A stream opening with `PROTO version`.
        fn proto(version: u8) -> P {
            P(vec![op::PROTO, version])
        }

        /// A protocol-0/1 stream (no PROTO opcode).
        fn raw() -> P {
            P(Vec::new())
        }

        fn op(mut self, code: u8) -> P {
            self.0.push(code);
            self
        }

        fn arg(mut self, bytes: &[u8]) -> P {
            self.0.extend_from_slice(bytes);
            self
        }

        fn global(self, module: &str, name: &str) -> P {
            self.op(op::GLOBAL)
                .arg(format!("{module}\n{name}\n").as_bytes())
        }

        fn short_unicode(self, s: &str) -> P {
            let len = u8::try_from(s.len()).expect("test string under 256 bytes");
            self.op(op::SHORT_BINUNICODE).arg(&[len]).arg(s.as_bytes())
        }

        fn unicode(self, s: &str) -> P {
            let len = u32::try_from(s.len()).expect("test string under 4 GiB");
            self.op(op::BINUNICODE)
                .arg(&len.to_le_bytes())
                .arg(s.as_bytes())
        }

        fn int1(self, v: u8) -> P {
            self.op(op::BININT1).arg(&[v])
        }

        fn binput(self, key: u8) -> P {
            self.op(op::BINPUT).arg(&[key])
        }

        fn binget(self, key: u8) -> P {
            self.op(op::BINGET).arg(&[key])
        }

        fn stop(self) -> Vec<u8> {
            self.op(op::STOP).0
        }
    }

    /// What `torch.save(model.state_dict())` writes as `data.pkl` for one float tensor (protocol 2).
    fn torch_state_dict() -> Vec<u8> {
        P::proto(2)
            .global("collections", "OrderedDict")
            .binput(0)
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .binput(1)
            .unicode("weight")
            .binput(2)
            .global("torch._utils", "_rebuild_tensor_v2")
            .binput(3)
            .op(op::MARK)
            .op(op::MARK)
            .unicode("storage")
            .binput(4)
            .global("torch", "FloatStorage")
            .binput(5)
            .unicode("0")
            .binput(6)
            .unicode("cpu")
            .binput(7)
            .int1(4)
            .op(op::TUPLE)
            .binput(8)
            .op(op::BINPERSID)
            .int1(0)
            .int1(2)
            .int1(2)
            .op(op::TUPLE2)
            .int1(2)
            .int1(1)
            .op(op::TUPLE2)
            .op(op::NEWFALSE)
            .global("collections", "OrderedDict")
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .op(op::TUPLE)
            .op(op::REDUCE)
            .binput(9)
            .op(op::SETITEM)
            .stop()
    }

    fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(bytes).expect("write temp file");
        file.flush().expect("flush temp file");
        file
    }

    fn scan_bytes(bytes: &[u8]) -> (PickleScan, Vec<Finding>) {
        let file = write_temp(bytes);
        scan_file(file.path(), "model.bin")
    }

    fn scan_bytes_with(bytes: &[u8], limits: &Limits) -> (PickleScan, Vec<Finding>) {
        let file = write_temp(bytes);
        scan_file_with(file.path(), "model.bin", limits)
    }

    fn zip_file(members: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let mut writer = zip::ZipWriter::new(file.reopen().expect("reopen temp file"));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, data) in members {
            writer.start_file(*name, options).expect("start zip member");
            writer.write_all(data).expect("write zip member");
        }
        writer.finish().expect("finish zip");
        file
    }

    fn codes(findings: &[Finding]) -> Vec<Code> {
        findings.iter().map(|f| f.code).collect()
    }

    fn only(findings: &[Finding], code: Code) -> Vec<&Finding> {
        findings.iter().filter(|f| f.code == code).collect()
    }

    fn names(scan: &StreamScan) -> Vec<String> {
        scan.globals
            .iter()
            .map(|g| format!("{}.{}", g.module, g.name))
            .collect()
    }

    // --- file-level behaviour -----------------------------------------------------------------------------

    #[test]
    fn protocol_2_global_os_system_gives_one_unsafe_finding() {
        let bytes = P::proto(2)
            .global("os", "system")
            .unicode("echo pwned")
            .op(op::TUPLE1)
            .op(op::REDUCE)
            .stop();
        let (scan, findings) = scan_bytes(&bytes);

        assert_eq!(scan.format, CheckpointFormat::Pickle);
        assert!(scan.complete);
        assert_eq!(
            scan.globals,
            vec![ImportedGlobal {
                module: "os".into(),
                name: "system".into(),
                safety: Safety::Unsafe,
                count: 1,
                pickle: "stream 0".into(),
            }]
        );
        assert_eq!(
            codes(&findings),
            vec![Code::PickleSerialization, Code::PickleGlobalUnsafe]
        );
        let unsafe_finding = only(&findings, Code::PickleGlobalUnsafe)[0];
        assert!(
            unsafe_finding.message.contains("`os.system`"),
            "{}",
            unsafe_finding.message
        );
        assert!(
            unsafe_finding.message.contains("shell commands"),
            "{}",
            unsafe_finding.message
        );
        assert_eq!(unsafe_finding.file.as_deref(), Some("model.bin"));
    }

    #[test]
    fn protocol_4_stack_global_resolved_through_memo_is_unsafe_builtins_eval() {
        // The operands are popped and fetched back from the memo, as pickletools-optimized streams do.
        let body = P::raw()
            .short_unicode("builtins")
            .op(op::MEMOIZE)
            .short_unicode("eval")
            .op(op::MEMOIZE)
            .op(op::POP)
            .op(op::POP)
            .binget(0)
            .binget(1)
            .op(op::STACK_GLOBAL)
            .short_unicode("__import__('os').system('id')")
            .op(op::TUPLE1)
            .op(op::REDUCE)
            .stop();
        let bytes = P::proto(4)
            .op(op::FRAME)
            .arg(&(body.len() as u64).to_le_bytes())
            .arg(&body)
            .0;

        let stream = scan_stream(&bytes);
        assert_eq!(stream.error, None);
        assert_eq!(stream.protocol, Some(4));
        assert_eq!(names(&stream), vec!["builtins.eval"]);

        let (_, findings) = scan_bytes(&bytes);
        let unsafe_findings = only(&findings, Code::PickleGlobalUnsafe);
        assert_eq!(unsafe_findings.len(), 1);
        assert!(unsafe_findings[0].message.contains("`builtins.eval`"));
        assert!(unsafe_findings[0].message.contains("evaluates Python code"));
    }

    #[test]
    fn benign_torch_state_dict_has_only_allowed_globals_and_the_pickle_warning() {
        let (scan, findings) = scan_bytes(&torch_state_dict());

        assert_eq!(codes(&findings), vec![Code::PickleSerialization]);
        assert!(scan.complete);
        let found: Vec<(String, String, Safety, u64)> = scan
            .globals
            .iter()
            .map(|g| (g.module.clone(), g.name.clone(), g.safety, g.count))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    "collections".into(),
                    "OrderedDict".into(),
                    Safety::Allowed,
                    2
                ),
                ("torch".into(), "FloatStorage".into(), Safety::Allowed, 1),
                (
                    "torch._utils".into(),
                    "_rebuild_tensor_v2".into(),
                    Safety::Allowed,
                    1
                ),
            ]
        );
    }

    #[test]
    fn unknown_global_gives_an_unknown_finding() {
        let bytes = P::proto(2)
            .global("mylib", "Thing")
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .stop();
        let (scan, findings) = scan_bytes(&bytes);

        assert_eq!(scan.globals.len(), 1);
        assert_eq!(scan.globals[0].safety, Safety::Unknown);
        assert_eq!(
            codes(&findings),
            vec![Code::PickleSerialization, Code::PickleGlobalUnknown]
        );
        assert!(findings[1].message.contains("`mylib.Thing`"));
    }

    #[test]
    fn unknown_global_findings_are_capped_with_a_summary() {
        let mut p = P::proto(2).op(op::EMPTY_LIST).op(op::MARK);
        for i in 0..MAX_UNKNOWN_FINDINGS + 10 {
            p = p.global("mylib", &format!("Thing{i:03}"));
        }
        let bytes = p.op(op::APPENDS).stop();
        let (scan, findings) = scan_bytes(&bytes);

        assert_eq!(scan.globals.len(), MAX_UNKNOWN_FINDINGS + 10);
        let unknown = only(&findings, Code::PickleGlobalUnknown);
        assert_eq!(unknown.len(), MAX_UNKNOWN_FINDINGS + 1);
        assert!(
            unknown[MAX_UNKNOWN_FINDINGS].message.contains("10 more"),
            "{}",
            unknown[MAX_UNKNOWN_FINDINGS].message
        );
    }

    #[test]
    fn zip_checkpoint_with_traversing_member_name_is_flagged() {
        let evil = P::proto(2).op(op::NONE).stop();
        let file = zip_file(&[
            ("archive/data.pkl", &torch_state_dict()),
            ("archive/data/0", &[0u8; 16]),
            ("archive/version", b"3\n"),
            ("../../etc/evil.pkl", &evil),
        ]);
        let (scan, findings) = scan_file(file.path(), "pytorch_model.bin");

        assert_eq!(scan.format, CheckpointFormat::TorchZip);
        assert_eq!(scan.pickles, vec!["archive/data.pkl", "../../etc/evil.pkl"]);
        assert!(scan.complete, "a traversal name does not stop the scan");
        assert_eq!(
            codes(&findings),
            vec![Code::PickleSerialization, Code::ZipPathTraversal]
        );
        assert!(findings[1].message.contains("`../../etc/evil.pkl`"));
        assert!(scan
            .globals
            .iter()
            .all(|g| g.safety == Safety::Allowed && g.pickle == "archive/data.pkl"));
    }

    #[test]
    fn zip_unsafe_finding_names_the_member() {
        let payload = P::proto(2)
            .global("subprocess", "Popen")
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .stop();
        let file = zip_file(&[
            ("archive/data.pkl", &torch_state_dict()),
            ("archive/constants.pkl", &payload),
        ]);
        let (scan, findings) = scan_file(file.path(), "model.pt");

        assert_eq!(
            scan.pickles,
            vec!["archive/data.pkl", "archive/constants.pkl"]
        );
        let unsafe_findings = only(&findings, Code::PickleGlobalUnsafe);
        assert_eq!(unsafe_findings.len(), 1);
        assert!(unsafe_findings[0]
            .message
            .starts_with("pickle `archive/constants.pkl` imports `subprocess.Popen`"));
    }

    #[test]
    fn zip_traversal_findings_are_capped_with_a_summary() {
        let names: Vec<String> = (0..MAX_TRAVERSAL_FINDINGS + 5)
            .map(|i| format!("/abs/{i}"))
            .collect();
        let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
        let file = zip_file(&members);
        let (scan, findings) = scan_file(file.path(), "model.bin");

        assert_eq!(scan.format, CheckpointFormat::NotPickle, "no .pkl member");
        let traversal = only(&findings, Code::ZipPathTraversal);
        assert_eq!(traversal.len(), MAX_TRAVERSAL_FINDINGS + 1);
        assert!(traversal[MAX_TRAVERSAL_FINDINGS].message.contains("5 more"));
    }

    #[test]
    fn zip_with_duplicate_member_names_is_zip_invalid() {
        // The zip writer refuses duplicates, so write two names and rename one in place.
        let payload = P::proto(2).global("os", "system").stop();
        let file = zip_file(&[
            ("archive/data.pkl", &torch_state_dict()),
            ("archive/data.pkX", &payload),
        ]);
        let bytes = std::fs::read(file.path()).expect("read zip");
        let mut patched = Vec::with_capacity(bytes.len());
        let mut rest = &bytes[..];
        while let Some(at) = rest.windows(8).position(|w| w == b"data.pkX") {
            patched.extend_from_slice(&rest[..at]);
            patched.extend_from_slice(b"data.pkl");
            rest = &rest[at + 8..];
        }
        patched.extend_from_slice(rest);

        let (scan, findings) = scan_bytes(&patched);
        assert!(!scan.complete);
        let invalid = only(&findings, Code::ZipInvalid);
        assert_eq!(invalid.len(), 1, "{findings:?}");
        assert!(
            invalid[0].message.contains("declares 2 entries"),
            "{}",
            invalid[0].message
        );
    }

    #[test]
    fn zip_member_over_the_size_cap_is_not_scanned() {
        let file = zip_file(&[("archive/data.pkl", &torch_state_dict())]);
        let limits = Limits {
            zip_member_bytes: 16,
            ..Limits::DEFAULT
        };
        let (scan, findings) = scan_file_with(file.path(), "model.bin", &limits);

        assert!(!scan.complete);
        assert!(scan.globals.is_empty());
        let invalid = only(&findings, Code::ZipInvalid);
        assert_eq!(invalid.len(), 1);
        assert!(
            invalid[0].message.contains("more than 16 bytes"),
            "{}",
            invalid[0].message
        );
    }

    #[test]
    fn malformed_zip_is_zip_invalid_and_incomplete() {
        let (scan, findings) = scan_bytes(b"PK\x03\x04this is not really a zip archive at all");
        assert_eq!(scan.format, CheckpointFormat::TorchZip);
        assert!(!scan.complete);
        assert_eq!(codes(&findings), vec![Code::ZipInvalid]);
    }

    #[test]
    fn member_names_that_escape_the_extraction_root() {
        for name in [
            "../x.pkl",
            "a/../../x",
            "/etc/passwd",
            "\\windows\\x",
            "C:/x",
            "c:x",
            "a\\..\\b",
        ] {
            assert!(escapes_extraction_root(name), "{name} should escape");
        }
        for name in ["archive/data.pkl", "a/..b/c", "..foo", "archive/data/0"] {
            assert!(!escapes_extraction_root(name), "{name} should not escape");
        }
    }

    #[test]
    fn legacy_checkpoint_is_five_streams_then_raw_tensor_bytes() {
        let magic = P::proto(2)
            .op(op::LONG1)
            .arg(&[
                10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
            ])
            .stop();
        let protocol = P::proto(2)
            .op(op::BININT2)
            .arg(&1001u16.to_le_bytes())
            .stop();
        let sys_info = P::proto(2)
            .op(op::EMPTY_DICT)
            .op(op::MARK)
            .unicode("little_endian")
            .op(op::NEWTRUE)
            .unicode("type_sizes")
            .op(op::EMPTY_DICT)
            .op(op::SETITEMS)
            .stop();
        let keys = P::proto(2)
            .op(op::EMPTY_LIST)
            .op(op::MARK)
            .unicode("0")
            .op(op::APPENDS)
            .stop();
        let mut bytes = [magic, protocol, sys_info, torch_state_dict(), keys].concat();
        // Raw storage data follows: an 8-byte element count whose first byte happens to read as PROTO 0.
        bytes.extend_from_slice(&128u64.to_le_bytes());
        bytes.extend_from_slice(&[0x80; 64]);

        for limits in [
            Limits::DEFAULT,
            Limits {
                initial_read_bytes: 8,
                ..Limits::DEFAULT
            },
        ] {
            let (scan, findings) = scan_bytes_with(&bytes, &limits);
            assert_eq!(scan.format, CheckpointFormat::TorchLegacy);
            assert_eq!(
                scan.pickles,
                vec!["stream 0", "stream 1", "stream 2", "stream 3", "stream 4"]
            );
            assert!(scan.complete);
            assert_eq!(codes(&findings), vec![Code::PickleSerialization]);
            assert!(scan.globals.iter().all(|g| g.pickle == "stream 3"));
        }
    }

    #[test]
    fn two_consecutive_pickles_are_a_plain_pickle() {
        let bytes = [
            P::proto(2).op(op::NONE).stop(),
            P::proto(2).global("os", "getcwd").stop(),
        ]
        .concat();
        let (scan, findings) = scan_bytes(&bytes);
        assert_eq!(scan.format, CheckpointFormat::Pickle);
        assert_eq!(scan.pickles, vec!["stream 0", "stream 1"]);
        assert_eq!(scan.globals[0].pickle, "stream 1");
        assert!(only(&findings, Code::PickleGlobalUnsafe)[0]
            .message
            .contains("`stream 1`"));
    }

    #[test]
    fn stream_running_past_the_read_cap_is_incomplete() {
        let bytes = P::proto(3)
            .op(op::BINBYTES)
            .arg(&200u32.to_le_bytes())
            .arg(&[0; 200])
            .stop();
        let limits = Limits {
            raw_read_bytes: 64,
            initial_read_bytes: 16,
            ..Limits::DEFAULT
        };
        let (scan, findings) = scan_bytes_with(&bytes, &limits);

        assert!(!scan.complete);
        let invalid = only(&findings, Code::PickleInvalid);
        assert_eq!(invalid.len(), 1);
        assert!(
            invalid[0].message.contains("first 64 bytes"),
            "{}",
            invalid[0].message
        );
    }

    #[test]
    fn non_pickle_files_are_not_pickle_and_have_no_findings() {
        let gguf = [&b"GGUF"[..], &3u32.to_le_bytes(), &[0u8; 32]].concat();
        for bytes in [
            gguf,
            b"hello world\n".to_vec(),
            Vec::new(),
            b"c not a module\n".to_vec(),
        ] {
            let (scan, findings) = scan_bytes(&bytes);
            assert_eq!(scan.format, CheckpointFormat::NotPickle, "{bytes:?}");
            assert!(findings.is_empty(), "{findings:?}");
            assert!(scan.pickles.is_empty() && scan.globals.is_empty() && scan.complete);
        }
    }

    #[test]
    fn missing_file_is_unreadable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (scan, findings) = scan_file(&dir.path().join("absent.bin"), "absent.bin");
        assert_eq!(codes(&findings), vec![Code::FileUnreadable]);
        assert!(!scan.complete);
    }

    #[test]
    fn malformed_stream_keeps_globals_found_before_the_error() {
        let bytes = P::proto(2)
            .global("os", "system")
            .op(op::POP)
            .op(op::POP)
            .stop();
        let (scan, findings) = scan_bytes(&bytes);

        assert!(!scan.complete);
        assert_eq!(scan.globals[0].name, "system");
        assert_eq!(
            codes(&findings),
            vec![
                Code::PickleSerialization,
                Code::PickleInvalid,
                Code::PickleGlobalUnsafe
            ]
        );
        assert!(
            findings[1].message.contains("byte 14"),
            "{}",
            findings[1].message
        );
    }

    // --- the opcode walker --------------------------------------------------------------------------------

    #[test]
    fn truncated_stream_is_reported_with_its_offset() {
        let bytes = P::proto(2)
            .op(op::BINUNICODE)
            .arg(&10u32.to_le_bytes())
            .arg(b"abc")
            .0;
        let scan = scan_stream(&bytes);
        assert_eq!(
            scan.error,
            Some(PickleError {
                offset: 2,
                kind: PickleErrorKind::Truncated {
                    opcode: "BINUNICODE",
                    missing: 7
                }
            })
        );

        let no_stop = scan_stream(&P::proto(2).op(op::NONE).0);
        assert_eq!(
            no_stop.error,
            Some(PickleError {
                offset: 3,
                kind: PickleErrorKind::MissingStop
            })
        );

        let (scan, findings) = scan_bytes(&bytes);
        assert!(!scan.complete);
        assert_eq!(
            codes(&findings),
            vec![Code::PickleSerialization, Code::PickleInvalid]
        );
    }

    #[test]
    fn forged_huge_lengths_fail_without_allocating() {
        let binunicode = P::proto(2)
            .op(op::BINUNICODE)
            .arg(&0xFFFF_FFF0u32.to_le_bytes())
            .arg(b"abc")
            .0;
        let scan = scan_stream(&binunicode);
        assert_eq!(
            scan.error.map(|e| e.kind),
            Some(PickleErrorKind::Truncated {
                opcode: "BINUNICODE",
                missing: 0xFFFF_FFF0 - 3
            })
        );

        for code in [op::BINUNICODE8, op::BINBYTES8, op::BYTEARRAY8, op::FRAME] {
            let bytes = P::proto(5)
                .op(code)
                .arg(&u64::MAX.to_le_bytes())
                .op(op::STOP)
                .0;
            let error = scan_stream(&bytes).error.expect("length past the end");
            assert!(error.is_truncation(), "{error}");
        }

        let (_, findings) = scan_bytes(&binunicode);
        assert_eq!(
            codes(&findings),
            vec![Code::PickleSerialization, Code::PickleInvalid]
        );
    }

    #[test]
    fn unknown_opcode_is_invalid() {
        let bytes = P::proto(2).op(op::NONE).op(0xff).stop();
        assert_eq!(
            scan_stream(&bytes).error,
            Some(PickleError {
                offset: 3,
                kind: PickleErrorKind::UnknownOpcode(0xff)
            })
        );
        let (_, findings) = scan_bytes(&bytes);
        assert!(
            only(&findings, Code::PickleInvalid)[0]
                .message
                .contains("unknown opcode 0xff at byte 3")
                || only(&findings, Code::PickleInvalid)[0]
                    .message
                    .contains("byte 3: unknown opcode 0xff")
        );
    }

    #[test]
    fn pop_mark_without_a_mark_is_invalid() {
        let scan = scan_stream(&P::proto(2).op(op::NONE).op(op::POP_MARK).stop());
        assert_eq!(
            scan.error.map(|e| e.kind),
            Some(PickleErrorKind::NoMark { opcode: "POP_MARK" })
        );
    }

    #[test]
    fn stack_rules_follow_cpython() {
        // POP on an empty frame removes the mark itself.
        assert_eq!(
            scan_stream(&P::proto(2).op(op::MARK).op(op::POP).op(op::NONE).stop()).error,
            None
        );
        // Values below a mark are out of reach of the frame above it.
        let underflow = scan_stream(&P::proto(2).op(op::NONE).op(op::MARK).op(op::TUPLE1).stop());
        assert_eq!(
            underflow.error.map(|e| e.kind),
            Some(PickleErrorKind::StackUnderflow { opcode: "TUPLE1" })
        );
        // APPENDS needs its list below the mark.
        let no_list = scan_stream(
            &P::proto(2)
                .op(op::MARK)
                .op(op::NONE)
                .op(op::APPENDS)
                .op(op::NONE)
                .stop(),
        );
        assert_eq!(
            no_list.error.map(|e| e.kind),
            Some(PickleErrorKind::StackUnderflow { opcode: "APPENDS" })
        );
        // SETITEMS takes key/value pairs.
        let odd = scan_stream(
            &P::proto(2)
                .op(op::EMPTY_DICT)
                .op(op::MARK)
                .op(op::NONE)
                .op(op::SETITEMS)
                .stop(),
        );
        assert!(matches!(
            odd.error.map(|e| e.kind),
            Some(PickleErrorKind::InvalidArgument {
                opcode: "SETITEMS",
                ..
            })
        ));
        // STOP needs the result on the stack.
        let empty = scan_stream(&P::proto(2).stop());
        assert_eq!(
            empty.error.map(|e| e.kind),
            Some(PickleErrorKind::StackUnderflow { opcode: "STOP" })
        );
        // GET of a key never PUT fails like CPython's unpickler.
        let missing = scan_stream(&P::proto(2).binget(5).stop());
        assert_eq!(
            missing.error.map(|e| e.kind),
            Some(PickleErrorKind::MemoMissing {
                opcode: "BINGET",
                key: 5
            })
        );
        // Protocols above 5 do not exist.
        let proto = scan_stream(&P::proto(6).op(op::NONE).stop());
        assert!(matches!(
            proto.error.map(|e| e.kind),
            Some(PickleErrorKind::InvalidArgument {
                opcode: "PROTO",
                ..
            })
        ));
    }

    #[test]
    fn every_protocol_opcode_is_walked() {
        let bytes = P::proto(5)
            .op(op::EMPTY_LIST)
            .op(op::MARK)
            .op(op::INT)
            .arg(b"42\n")
            .op(op::LONG)
            .arg(b"42L\n")
            .op(op::FLOAT)
            .arg(b"1.5\n")
            .op(op::BININT)
            .arg(&[1, 2, 3, 4])
            .op(op::BININT2)
            .arg(&[1, 2])
            .op(op::BINFLOAT)
            .arg(&[0; 8])
            .op(op::LONG1)
            .arg(&[1, 7])
            .op(op::LONG4)
            .arg(&1i32.to_le_bytes())
            .arg(&[7])
            .op(op::STRING)
            .arg(b"'a\\'b'\n")
            .op(op::BINSTRING)
            .arg(&2i32.to_le_bytes())
            .arg(b"ab")
            .op(op::SHORT_BINSTRING)
            .arg(&[2])
            .arg(b"ab")
            .op(op::UNICODE)
            .arg(b"caf\xe9\\u00e9\n")
            .op(op::BINUNICODE8)
            .arg(&2u64.to_le_bytes())
            .arg(b"ab")
            .op(op::BINBYTES)
            .arg(&1u32.to_le_bytes())
            .arg(b"x")
            .op(op::SHORT_BINBYTES)
            .arg(&[1])
            .arg(b"x")
            .op(op::BINBYTES8)
            .arg(&1u64.to_le_bytes())
            .arg(b"x")
            .op(op::BYTEARRAY8)
            .arg(&1u64.to_le_bytes())
            .arg(b"x")
            .op(op::NEXT_BUFFER)
            .op(op::READONLY_BUFFER)
            .op(op::PERSID)
            .arg(b"pid\n")
            .op(op::EMPTY_SET)
            .op(op::MARK)
            .op(op::NONE)
            .op(op::ADDITEMS)
            .op(op::MARK)
            .op(op::NEWTRUE)
            .op(op::FROZENSET)
            .op(op::MARK)
            .op(op::NEWFALSE)
            .op(op::NONE)
            .op(op::DICT)
            .op(op::MARK)
            .op(op::LIST)
            .op(op::DUP)
            .op(op::PUT)
            .arg(b"7\n")
            .op(op::GET)
            .arg(b"7\n")
            .op(op::LONG_BINPUT)
            .arg(&8u32.to_le_bytes())
            .op(op::LONG_BINGET)
            .arg(&8u32.to_le_bytes())
            .op(op::POP)
            .op(op::MARK)
            .op(op::NONE)
            .op(op::POP_MARK)
            .global("collections", "OrderedDict")
            .op(op::EMPTY_TUPLE)
            .op(op::EMPTY_DICT)
            .op(op::NEWOBJ_EX)
            .global("collections", "OrderedDict")
            .op(op::EMPTY_TUPLE)
            .op(op::NEWOBJ)
            .op(op::EMPTY_DICT)
            .op(op::BUILD)
            .op(op::MARK)
            .global("collections", "OrderedDict")
            .op(op::OBJ)
            .op(op::MARK)
            .op(op::INST)
            .arg(b"collections\nOrderedDict\n")
            .op(op::EXT2)
            .arg(&300u16.to_le_bytes())
            .op(op::EXT4)
            .arg(&70_000i32.to_le_bytes())
            .op(op::TUPLE3)
            .op(op::APPENDS)
            .op(op::EMPTY_DICT)
            .op(op::NONE)
            .op(op::NONE)
            .op(op::SETITEM)
            .op(op::APPEND)
            .stop();
        let scan = scan_stream(&bytes);
        assert_eq!(scan.error, None);
        assert_eq!(scan.consumed, bytes.len());
        assert_eq!(scan.opcodes, 69);
        assert_eq!(
            names(&scan),
            vec![
                "collections.OrderedDict",
                "copyreg.extension[300]",
                "copyreg.extension[70000]"
            ]
        );
        assert_eq!(scan.globals[0].count, 4);
    }

    #[test]
    fn cpython_generated_pickles_are_walked_exactly() {
        // `pickle.dumps([OrderedDict(a=[1, 2.5, "x", b"y", {1}, frozenset()]), E()], protocol=…)` where
        // `E.__reduce__` returns `(os.system, ("id",))`, from CPython 3.11 on Linux; the opcode counts are
        // those of `pickletools.genops`.
        let protocol_4: &[u8] = b"\x80\x04\x95g\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x0bcollections\x94\
            \x8c\x0bOrderedDict\x94\x93\x94)R\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\
            \x8c\x01x\x94C\x01y\x94\x8f\x94(K\x01\x90(\x91\x94es\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\
            \x8c\x02id\x94\x85\x94R\x94e.";
        let protocol_0: &[u8] = b"(lp0\nccollections\nOrderedDict\np1\n(tRp2\nVa\np3\n(lp4\nI1\naF2.5\naVx\n\
            p5\nac_codecs\nencode\np6\n(Vy\np7\nVlatin1\np8\ntp9\nRp10\nac__builtin__\nset\np11\n((lp12\nI1\n\
            atp13\nRp14\nac__builtin__\nfrozenset\np15\n((lp16\ntp17\nRp18\nasacposix\nsystem\np19\n(Vid\n\
            p20\ntp21\nRp22\na.";
        assert_eq!(
            (protocol_4.len(), protocol_0.len()),
            (114, 243),
            "fixture bytes"
        );

        let scan = scan_stream(protocol_4);
        assert_eq!((&scan.error, scan.opcodes, scan.consumed), (&None, 49, 114));
        assert_eq!(
            names(&scan),
            vec!["collections.OrderedDict", "posix.system"]
        );

        let scan = scan_stream(protocol_0);
        assert_eq!((&scan.error, scan.opcodes, scan.consumed), (&None, 70, 243));
        assert_eq!(
            names(&scan),
            vec![
                "collections.OrderedDict",
                "_codecs.encode",
                "__builtin__.set",
                "__builtin__.frozenset",
                "posix.system"
            ]
        );
        let verdicts: Vec<Safety> = scan
            .globals
            .iter()
            .map(|g| classify(&g.module, &g.name).safety)
            .collect();
        assert_eq!(
            verdicts,
            [vec![Safety::Allowed; 4], vec![Safety::Unsafe]].concat()
        );
    }

    #[test]
    fn consumed_stops_just_after_stop() {
        let stream = P::proto(2).op(op::NONE).stop();
        let bytes = [stream.clone(), b"trailing tensor bytes".to_vec()].concat();
        let scan = scan_stream(&bytes);
        assert_eq!(
            (scan.consumed, scan.opcodes, scan.error),
            (stream.len(), 3, None)
        );
    }

    #[test]
    fn protocol_0_inst_and_text_strings_name_their_globals() {
        let inst = P::raw()
            .op(op::MARK)
            .op(op::STRING)
            .arg(b"'id'\n")
            .op(op::INST)
            .arg(b"os\nsystem\n")
            .stop();
        assert_eq!(names(&scan_stream(&inst)), vec!["os.system"]);

        // STACK_GLOBAL operands may come from any string opcode, including protocol-0 text ones.
        let text = P::raw()
            .op(op::STRING)
            .arg(b"\"built\\x69ns\"\n")
            .op(op::UNICODE)
            .arg(b"ex\\u0065c\n")
            .op(op::STACK_GLOBAL)
            .stop();
        assert_eq!(names(&scan_stream(&text)), vec!["builtins.exec"]);

        let unquoted = scan_stream(&P::raw().op(op::STRING).arg(b"abc\n").stop());
        assert!(matches!(
            unquoted.error.map(|e| e.kind),
            Some(PickleErrorKind::InvalidArgument {
                opcode: "STRING",
                ..
            })
        ));
    }

    #[test]
    fn unresolvable_stack_global_is_reported_as_unsafe() {
        let bytes = P::proto(4)
            .op(op::NONE)
            .op(op::NONE)
            .op(op::STACK_GLOBAL)
            .stop();
        let (scan, findings) = scan_bytes(&bytes);
        assert_eq!(
            (
                scan.globals[0].module.as_str(),
                scan.globals[0].name.as_str()
            ),
            ("?", "?")
        );
        assert_eq!(scan.globals[0].safety, Safety::Unsafe);
        let unsafe_findings = only(&findings, Code::PickleGlobalUnsafe);
        assert!(
            unsafe_findings[0]
                .message
                .contains("computed while loading"),
            "{}",
            unsafe_findings[0].message
        );

        let half = P::proto(4)
            .short_unicode("posix")
            .op(op::NONE)
            .op(op::STACK_GLOBAL)
            .stop();
        assert_eq!(names(&scan_stream(&half)), vec!["posix.?"]);
    }

    #[test]
    fn extension_registry_import_is_unknown() {
        let bytes = P::proto(2)
            .op(op::EXT1)
            .arg(&[7])
            .op(op::EMPTY_TUPLE)
            .op(op::REDUCE)
            .stop();
        let (scan, findings) = scan_bytes(&bytes);
        assert_eq!(
            (
                scan.globals[0].module.as_str(),
                scan.globals[0].name.as_str()
            ),
            ("copyreg", "extension[7]")
        );
        assert_eq!(scan.globals[0].safety, Safety::Unknown);
        assert!(only(&findings, Code::PickleGlobalUnknown)[0]
            .message
            .contains("`copyreg.extension[7]`"));

        let zero = scan_stream(&P::proto(2).op(op::EXT1).arg(&[0]).stop());
        assert!(matches!(
            zero.error.map(|e| e.kind),
            Some(PickleErrorKind::InvalidArgument { opcode: "EXT1", .. })
        ));
    }

    #[test]
    fn global_lines_must_be_utf8_and_bounded() {
        let bad = P::proto(2).op(op::GLOBAL).arg(b"o\xffs\nsystem\n").stop();
        assert_eq!(
            scan_stream(&bad).error.map(|e| e.kind),
            Some(PickleErrorKind::InvalidUtf8 { opcode: "GLOBAL" })
        );

        let long = P::proto(2)
            .op(op::GLOBAL)
            .arg(&vec![b'a'; MAX_LINE_LEN + 10])
            .arg(b"\nx\n")
            .stop();
        assert_eq!(
            scan_stream(&long).error.map(|e| e.kind),
            Some(PickleErrorKind::LineTooLong { opcode: "GLOBAL" })
        );

        let unterminated = P::proto(2).op(op::GLOBAL).arg(b"os").0;
        assert!(scan_stream(&unterminated)
            .error
            .is_some_and(|e| e.is_truncation()));
    }

    #[test]
    fn stack_depth_is_capped() {
        let bytes = vec![op::MARK; MAX_STACK_DEPTH + 1];
        let scan = scan_stream(&bytes);
        assert!(matches!(
            scan.error.map(|e| e.kind),
            Some(PickleErrorKind::LimitExceeded {
                what: "stack depth",
                ..
            })
        ));
    }

    // --- classification -----------------------------------------------------------------------------------

    #[test]
    fn classification_matches_whole_module_components() {
        let cases = [
            ("os", "system", Safety::Unsafe),
            ("os.path", "join", Safety::Unsafe),
            ("osmosis", "flow", Safety::Unknown),
            ("posix", "system", Safety::Unsafe),
            ("nt", "system", Safety::Unsafe),
            ("subprocess", "check_output", Safety::Unsafe),
            ("subprocessing", "x", Safety::Unknown),
            ("torch.hub", "load", Safety::Unsafe),
            ("torch.hubris", "load", Safety::Unknown),
            ("dill._dill", "loads", Safety::Unsafe),
            ("urllib.request", "urlopen", Safety::Unsafe),
            ("io", "open", Safety::Unsafe),
            ("iox", "open", Safety::Unknown),
        ];
        for (module, name, expected) in cases {
            assert_eq!(classify(module, name).safety, expected, "{module}.{name}");
        }
    }

    #[test]
    fn classification_of_builtins_and_known_callables() {
        let cases = [
            ("builtins", "eval", Safety::Unsafe),
            ("builtins", "exec", Safety::Unsafe),
            ("__builtin__", "eval", Safety::Unsafe),
            ("__builtins__", "__import__", Safety::Unsafe),
            ("builtins", "getattr", Safety::Unsafe),
            ("builtins", "open", Safety::Unsafe),
            ("builtins", "set", Safety::Allowed),
            ("__builtin__", "set", Safety::Allowed),
            ("builtins", "memoryview", Safety::Unknown),
            ("builtins", "object", Safety::Unknown),
            ("operator", "attrgetter", Safety::Unsafe),
            ("operator", "add", Safety::Unknown),
            ("functools", "partial", Safety::Unsafe),
            ("torch", "load", Safety::Unsafe),
            ("torch.storage", "_load_from_bytes", Safety::Unsafe),
            ("torch.jit", "load", Safety::Unknown),
            ("numpy", "load", Safety::Unsafe),
            ("numpy.testing._private.utils", "runstring", Safety::Unsafe),
            ("torch._inductor.codecache", "compile_file", Safety::Unsafe),
            ("joblib", "load", Safety::Unknown),
            ("collections", "defaultdict", Safety::Unknown),
        ];
        for (module, name, expected) in cases {
            assert_eq!(classify(module, name).safety, expected, "{module}.{name}");
        }
    }

    #[test]
    fn classification_allows_the_tensor_rebuild_set() {
        let allowed = [
            ("collections", "OrderedDict"),
            ("torch._utils", "_rebuild_tensor_v2"),
            ("torch._utils", "_rebuild_parameter"),
            ("torch._tensor", "_rebuild_from_type_v2"),
            ("torch", "FloatStorage"),
            ("torch", "BFloat16Storage"),
            ("torch.storage", "UntypedStorage"),
            ("torch", "Size"),
            ("torch", "device"),
            ("torch", "bfloat16"),
            ("torch", "float32"),
            ("torch.nn.parameter", "Parameter"),
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy._core.multiarray", "scalar"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
            ("numpy.dtypes", "Float32DType"),
            ("_codecs", "encode"),
        ];
        for (module, name) in allowed {
            assert_eq!(
                classify(module, name).safety,
                Safety::Allowed,
                "{module}.{name}"
            );
        }
        assert_eq!(classify("torch", "NotAStorage").safety, Safety::Unknown);
        assert_eq!(
            classify("torch._utils", "_rebuild_anything").safety,
            Safety::Unknown
        );
    }

    #[test]
    fn dotted_names_are_checked_as_attribute_chains() {
        // Protocol 4 resolves `torch.serialization` + `os.system` to the `os` module torch imported.
        assert_eq!(
            classify("torch.serialization", "os.system").safety,
            Safety::Unsafe
        );
        assert_eq!(classify("mylib", "builtins.eval").safety, Safety::Unsafe);
        assert_eq!(classify("torch", "Size.__new__").safety, Safety::Unknown);
    }

    #[test]
    fn safety_and_format_serialize_in_kebab_case() {
        assert_eq!(
            serde_json::to_string(&Safety::Unsafe).ok().as_deref(),
            Some("\"unsafe\"")
        );
        assert_eq!(
            serde_json::to_string(&CheckpointFormat::TorchLegacy)
                .ok()
                .as_deref(),
            Some("\"torch-legacy\"")
        );
    }
}
