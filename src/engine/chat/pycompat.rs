//! What makes minijinja render like transformers' Jinja2 environment: Python's `str()` and `repr()` for
//! printing, Python's string methods, transformers' `tojson`, `raise_exception` and `{% generation %}` tag.
//!
//! Templates are written against Python Jinja2, so a value prints as Python prints it: `None`, `True`,
//! `['a', 1]`, `{'k': 'v'}`, `1e-07` (minijinja would print `none`, `true`, `["a", 1]`), and the `string`
//! filter does the same. String and dict methods (`startswith`, `strip`, `split`, `items`, `get`…) come from
//! minijinja-contrib's `pycompat`, except `str.title()`. `tojson` is transformers'
//! `json.dumps(x, ensure_ascii=False, indent=…, separators=…, sort_keys=…)`: no HTML escaping, keys in
//! insertion order, Python's `", "`/`": "` separators and float spelling.
//!
//! Trade-offs: printing and `tojson` walk values themselves, so they charge the render's fuel per item as
//! minijinja does and stop at [`MAX_VALUE_BYTES`] and [`MAX_VALUE_DEPTH`]. Known differences: `~` and
//! `join` print `none`/`true` the minijinja way; `tojson` serialises lazy sequences (`map`, `select`
//! results) that Python's `json` refuses; a repr of non-printable characters uses an approximation of
//! Python's `isprintable` (no Unicode tables here).

use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, Value};
use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest intermediate string `tojson` or a Python-style `repr` may build.
const MAX_VALUE_BYTES: usize = 8 << 20;
/// Deepest value nesting `tojson`/`repr` will walk (Python stops at its own recursion limit).
const MAX_VALUE_DEPTH: usize = 256;

/// Installs Python's printing, string methods, transformers' `tojson` and `raise_exception` in `env`.
pub(super) fn install(env: &mut Environment<'static>) {
    env.set_unknown_method_callback(python_method);
    env.set_formatter(|out, state, value| {
        let s = py_str(value, Some(state))?;
        out.write_str(&s)
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "could not write the output"))
    });
    env.add_filter("tojson", tojson);
    env.add_filter("string", |state: &State, v: &Value| {
        py_str(v, Some(state)).map(|s| s.into_owned())
    });
    env.add_function("raise_exception", raise_exception);
}

// ---------------------------------------------------------------------------------------------------------
// transformers' globals.

/// The marker carried by the error `raise_exception` returns, so it can be told from engine errors.
#[derive(Debug)]
pub(super) struct Raised(pub(super) String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

fn raise_exception(message: Value) -> Result<Value, Error> {
    let message = py_str(&message, None)?.into_owned();
    Err(Error::new(ErrorKind::InvalidOperation, message.clone()).with_source(Raised(message)))
}

/// Python methods on values: minijinja-contrib's `pycompat`, except `str.title()`, which pycompat
/// implements as Jinja2's `title` filter (words split at spaces and brackets) rather than Python's rule
/// (a word starts after any uncased character: `"'single'".title() == "'Single'"`).
fn python_method(
    state: &mut State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, Error> {
    if let (Some(s), "title", true) = (value.as_str(), method, args.is_empty()) {
        let mut out = String::with_capacity(s.len());
        let mut previous_cased = false;
        for c in s.chars() {
            if previous_cased {
                out.extend(c.to_lowercase());
            } else {
                out.extend(c.to_uppercase());
            }
            previous_cased = c.is_lowercase() || c.is_uppercase();
        }
        return Ok(Value::from(out));
    }
    minijinja_contrib::pycompat::unknown_method_callback(state, value, method, args)
}

/// transformers' `{% generation %}` tag (assistant-mask tracking) renders its body unchanged outside
/// training; minijinja does not know the tag, so it becomes an always-true `if` with the same delimiters
/// and whitespace modifiers.
pub(super) fn rewrite_generation_tags(text: &str) -> String {
    if !text.contains("generation") {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(i) = rest.find("{%") {
        out.push_str(&rest[..i]);
        let tag = &rest[i..];
        let Some(end) = tag.find("%}") else {
            out.push_str(tag);
            return out;
        };
        let inner = &tag[2..end];
        let (lead, body) = match inner.strip_prefix(['-', '+']) {
            Some(b) => (&inner[..1], b),
            None => ("", inner),
        };
        let (body, trail) = match body.strip_suffix(['-', '+']) {
            Some(b) => (b, &body[body.len() - 1..]),
            None => (body, ""),
        };
        let replacement = match body.trim() {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(r) => {
                let _ = write!(out, "{{%{lead} {r} {trail}%}}");
            }
            None => out.push_str(&tag[..end + 2]),
        }
        rest = &tag[end + 2..];
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------------------------------------
// Python's str(), repr() and json.dumps().

/// Python's `str(value)`: what Jinja2 prints for `{{ value }}`.
/// Work is charged to the render's fuel when `state` is given.
fn py_str<'v>(v: &'v Value, state: Option<&State>) -> Result<Cow<'v, str>, Error> {
    Ok(match v.kind() {
        ValueKind::Undefined => Cow::Borrowed(""),
        ValueKind::String => match v.as_str() {
            Some(s) => Cow::Borrowed(s),
            None => Cow::Owned(v.to_string()),
        },
        _ => {
            let mut out = String::new();
            py_repr(v, &mut out, 0, state)?;
            Cow::Owned(out)
        }
    })
}

fn too_big() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        "value is too large or too deeply nested to print",
    )
}

/// Python's `repr(value)` for the types JSON and templates build; other objects use minijinja's display.
fn py_repr(v: &Value, out: &mut String, depth: usize, state: Option<&State>) -> Result<(), Error> {
    if depth > MAX_VALUE_DEPTH || out.len() > MAX_VALUE_BYTES {
        return Err(too_big());
    }
    if let Some(state) = state {
        state.consume_fuel(1 + v.as_str().map_or(0, |s| s.len() as u64 / 64))?;
    }
    match v.kind() {
        ValueKind::Undefined => {}
        ValueKind::None => out.push_str("None"),
        ValueKind::Bool => out.push_str(if v.is_true() { "True" } else { "False" }),
        ValueKind::Number => py_number(v, out, false),
        ValueKind::String => match v.as_str() {
            Some(s) if depth > 0 => py_repr_str(s, out),
            Some(s) => out.push_str(s),
            None => out.push_str(&v.to_string()),
        },
        ValueKind::Seq | ValueKind::Iterable => {
            let tuple = v.is_tuple();
            out.push(if tuple { '(' } else { '[' });
            let mut n = 0;
            for (i, item) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(&item, out, depth + 1, state)?;
                n += 1;
            }
            if tuple && n == 1 {
                out.push(',');
            }
            out.push(if tuple { ')' } else { ']' });
        }
        ValueKind::Map => {
            out.push('{');
            for (i, key) in v.try_iter()?.enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                py_repr(&key, out, depth + 1, state)?;
                out.push_str(": ");
                py_repr(&v.get_item(&key)?, out, depth + 1, state)?;
            }
            out.push('}');
        }
        _ => {
            let _ = write!(out, "{v}");
        }
    }
    Ok(())
}

fn py_repr_str(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !py_printable(c) => {
                let n = c as u32;
                let _ = if n < 0x100 {
                    write!(out, "\\x{n:02x}")
                } else if n < 0x10000 {
                    write!(out, "\\u{n:04x}")
                } else {
                    write!(out, "\\U{n:08x}")
                };
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// An approximation of Python's `str.isprintable` (no Unicode tables here): control characters,
/// separators other than the space, format characters and private-use code points are not printable.
fn py_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    !matches!(c as u32,
        0xA0 | 0xAD | 0x34F | 0x61C | 0x1680 | 0x180E | 0x2000..=0x200F | 0x2028..=0x202F
        | 0x205F..=0x206F | 0x3000 | 0xFEFF | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF
        | 0xE0000..=0xE007F | 0xF0000..)
}

/// Appends a number as Python prints it (`json` spells non-finite floats as JavaScript does).
fn py_number(v: &Value, out: &mut String, json: bool) {
    if v.is_integer() {
        let _ = write!(out, "{v}");
        return;
    }
    match f64::try_from(v.clone()) {
        Ok(f) => py_float(f, out, json),
        Err(_) => {
            let _ = write!(out, "{v}");
        }
    }
}

/// Python's `repr(float)`: shortest round-trip digits, scientific below 1e-4 and from 1e16.
fn py_float(f: f64, out: &mut String, json: bool) {
    if f.is_nan() {
        out.push_str(if json { "NaN" } else { "nan" });
        return;
    }
    if f.is_infinite() {
        out.push_str(match (f > 0.0, json) {
            (true, true) => "Infinity",
            (false, true) => "-Infinity",
            (true, false) => "inf",
            (false, false) => "-inf",
        });
        return;
    }
    if f.is_sign_negative() {
        out.push('-');
    }
    let f = f.abs();
    if f == 0.0 {
        out.push_str("0.0");
        return;
    }
    // `{:e}` gives the shortest round-trip digits: "1.2345e-7".
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
}

struct JsonOptions {
    ensure_ascii: bool,
    indent: Option<String>,
    item_sep: String,
    key_sep: String,
    sort_keys: bool,
}

/// transformers' `tojson`: `json.dumps(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`, positional arguments in that order.
fn tojson(state: &State, value: &Value, args: &[Value], kwargs: Kwargs) -> Result<Value, Error> {
    let names = ["ensure_ascii", "indent", "separators", "sort_keys"];
    if args.len() > names.len() {
        return Err(Error::new(
            ErrorKind::TooManyArguments,
            "tojson takes at most 4 arguments",
        ));
    }
    let mut given: [Option<Value>; 4] = Default::default();
    for (i, a) in args.iter().enumerate() {
        given[i] = Some(a.clone());
    }
    for (i, name) in names.iter().enumerate() {
        if let Some(v) = kwargs.get::<Option<Value>>(name)? {
            if given[i].is_some() {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!("tojson got multiple values for argument '{name}'"),
                ));
            }
            given[i] = Some(v);
        }
    }
    kwargs.assert_all_used()?;
    let [ensure_ascii, indent, separators, sort_keys] = given;
    let indent = match indent {
        None => None,
        Some(v) if v.is_none() || v.is_undefined() => None,
        Some(v) => Some(match v.kind() {
            ValueKind::String => v.as_str().unwrap_or("").to_owned(),
            ValueKind::Bool => " ".repeat(usize::from(v.is_true())),
            ValueKind::Number if v.is_integer() => {
                let n = v.as_i64().unwrap_or(i64::MAX).max(0);
                if n > MAX_VALUE_BYTES as i64 {
                    return Err(too_big());
                }
                " ".repeat(n as usize)
            }
            _ => {
                return Err(Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "tojson indent must be an integer or a string, not {}",
                        v.kind()
                    ),
                ))
            }
        }),
    };
    let (item_sep, key_sep) = match separators {
        Some(v) if !v.is_none() && !v.is_undefined() => {
            let parts: Vec<Value> = v.try_iter()?.take(3).collect();
            match parts.as_slice() {
                [a, b] if a.as_str().is_some() && b.as_str().is_some() => (
                    a.as_str().unwrap_or_default().to_owned(),
                    b.as_str().unwrap_or_default().to_owned(),
                ),
                _ => {
                    return Err(Error::new(
                        ErrorKind::InvalidOperation,
                        "tojson separators must be two strings",
                    ))
                }
            }
        }
        _ if indent.is_some() => (",".to_owned(), ": ".to_owned()),
        _ => (", ".to_owned(), ": ".to_owned()),
    };
    let opts = JsonOptions {
        ensure_ascii: ensure_ascii.is_some_and(|v| v.is_true()),
        indent,
        item_sep,
        key_sep,
        sort_keys: sort_keys.is_some_and(|v| v.is_true()),
    };
    let mut out = String::new();
    dump_json(value, &opts, 0, &mut out, state)?;
    Ok(Value::from(out))
}

fn not_serializable(v: &Value) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!(
            "tojson: a value of type {} is not JSON serializable",
            v.kind()
        ),
    )
}

fn json_newline(opts: &JsonOptions, level: usize, out: &mut String) -> Result<(), Error> {
    if let Some(ind) = &opts.indent {
        out.push('\n');
        if out.len() + ind.len().saturating_mul(level) > MAX_VALUE_BYTES {
            return Err(too_big());
        }
        for _ in 0..level {
            out.push_str(ind);
        }
    }
    Ok(())
}

fn dump_json(
    v: &Value,
    opts: &JsonOptions,
    level: usize,
    out: &mut String,
    state: &State,
) -> Result<(), Error> {
    if level > MAX_VALUE_DEPTH || out.len() > MAX_VALUE_BYTES {
        return Err(too_big());
    }
    state.consume_fuel(1 + v.as_str().map_or(0, |s| s.len() as u64 / 64))?;
    match v.kind() {
        ValueKind::None => out.push_str("null"),
        ValueKind::Bool => out.push_str(if v.is_true() { "true" } else { "false" }),
        ValueKind::Number => py_number(v, out, true),
        ValueKind::String => json_str(v.as_str().unwrap_or_default(), opts.ensure_ascii, out),
        // Iterables are what slices and `+` on lists give in minijinja: lists in Python.
        ValueKind::Seq | ValueKind::Iterable => {
            let mut items = v.try_iter()?.peekable();
            if items.peek().is_none() {
                out.push_str("[]");
                return Ok(());
            }
            out.push('[');
            for (i, item) in items.enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                json_newline(opts, level + 1, out)?;
                dump_json(&item, opts, level + 1, out, state)?;
            }
            json_newline(opts, level, out)?;
            out.push(']');
        }
        ValueKind::Map => {
            let mut entries = Vec::new();
            for key in v.try_iter()? {
                state.consume_fuel(1)?;
                let value = v.get_item(&key)?;
                let name = match key.kind() {
                    ValueKind::String => key.as_str().unwrap_or_default().to_owned(),
                    ValueKind::None => "null".to_owned(),
                    ValueKind::Bool => (if key.is_true() { "true" } else { "false" }).to_owned(),
                    ValueKind::Number => {
                        let mut s = String::new();
                        py_number(&key, &mut s, true);
                        s
                    }
                    _ => {
                        return Err(Error::new(
                            ErrorKind::InvalidOperation,
                            format!(
                                "tojson: keys must be str, int, float, bool or None, not {}",
                                key.kind()
                            ),
                        ))
                    }
                };
                entries.push((name, value));
            }
            if opts.sort_keys {
                entries.sort_by(|a, b| a.0.cmp(&b.0));
            }
            if entries.is_empty() {
                out.push_str("{}");
                return Ok(());
            }
            out.push('{');
            for (i, (name, value)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(&opts.item_sep);
                }
                json_newline(opts, level + 1, out)?;
                json_str(name, opts.ensure_ascii, out);
                out.push_str(&opts.key_sep);
                dump_json(value, opts, level + 1, out, state)?;
            }
            json_newline(opts, level, out)?;
            out.push('}');
        }
        _ => return Err(not_serializable(v)),
    }
    Ok(())
}

/// A JSON string as Python's `json` writes it.
fn json_str(s: &str, ensure_ascii: bool, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if ensure_ascii && (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{:04x}", u);
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_float_repr() {
        let cases = [
            (0.1, "0.1"),
            (100.0, "100.0"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (-2.5, "-2.5"),
            (123456.789, "123456.789"),
        ];
        for (f, want) in cases {
            let mut s = String::new();
            py_float(f, &mut s, false);
            assert_eq!(s, want, "{f}");
        }
    }
}
