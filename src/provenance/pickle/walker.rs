//! The opcode walker: names every global a pickle stream imports, without executing anything.
//!
//! It steps through the stream the way CPython's unpickler would, simulating just enough of the value
//! stack and memo to name every global imported, including protocol-4 `STACK_GLOBAL`, whose operands are
//! strings built on the stack (possibly fetched back from the memo). Values other than short strings are
//! tracked only as "something is here", which is all the stack discipline needs.
//!
//! Trade-offs:
//! - The walk is static. A global is reported when it is *imported*, whether or not it is later called;
//!   that over-approximates on purpose. A `STACK_GLOBAL` whose operands are not literal strings (they would
//!   have to be computed by calling something at load time) cannot be named and is reported as `?.?`,
//!   which `classify` judges unsafe, because ordinary picklers never produce it.
//! - Everything is bounded: lengths are checked against the bytes actually present before anything is
//!   sliced or allocated, and the stack, memo, opcode count and line lengths are capped. The walker only
//!   ever sees a byte slice; how much of a file to read is `scan`'s decision.

use super::{PickleError, PickleErrorKind, StreamGlobal, StreamScan, DYNAMIC, EXTENSION_MODULE};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::rc::Rc;

/// Largest value stack (plus open marks) the walker simulates before giving up on a stream.
pub const MAX_STACK_DEPTH: usize = 1_000_000;
/// Largest number of memo entries the walker keeps before giving up on a stream.
pub const MAX_MEMO_ENTRIES: usize = 1_000_000;
/// Largest number of opcodes walked in one stream.
pub const MAX_OPCODES: u64 = 100_000_000;
/// Longest newline-terminated argument (protocol 0/1 text opcodes), newline excluded.
pub const MAX_LINE_LEN: usize = 64 * 1024;

/// Strings longer than this are not kept on the simulated stack: no module or attribute name is that long.
const MAX_KEPT_STRING: usize = 1024;

macro_rules! opcodes {
    ($($name:ident = $byte:literal,)*) => {
        /// Pickle opcode bytes, protocols 0 to 5 (CPython's `pickle.py` names).
        #[allow(dead_code)]
        pub(super) mod op {
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
                if code == op::SETITEMS && !items.is_multiple_of(2) {
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
pub(super) fn looks_like_pickle_start(data: &[u8]) -> bool {
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

#[cfg(test)]
#[path = "tests_walker.rs"]
mod tests;
