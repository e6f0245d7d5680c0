//! Chat templates: a model's own Jinja template rendered the way Hugging Face transformers'
//! `apply_chat_template` renders it, with limits, because templates are untrusted input.
//!
//! # Why
//!
//! An instruct model only behaves as documented when its prompt is laid out exactly as in training; the
//! layout is the Jinja template shipped in `tokenizer_config.json`, `chat_template.jinja` or the GGUF key
//! `tokenizer.chat_template`. transformers is the reference renderer (Python Jinja2 in an
//! `ImmutableSandboxedEnvironment` with `trim_blocks`, `lstrip_blocks`, `loopcontrols`, its own `tojson`,
//! `raise_exception` and `strftime_now`). modelvet renders with minijinja set up the same way, and
//! `tests/data/chat-refs.json` (written by `scripts/gen-chat-refs.py` with Python Jinja2) pins that the bytes
//! agree, for the real SmolLM2 and Qwen2.5-Coder templates and for reproductions of Llama 3/3.1, Gemma 3,
//! Mistral, Phi-3, DeepSeek-R1 and Qwen3 templates.
//!
//! # What is matched
//!
//! * Context: `messages`, `add_generation_prompt`, `tools` and `documents` (both `None` unless given, as
//!   transformers passes them), `bos_token`/`eos_token` when the model has them, and any extra JSON keys
//!   (`tools`, `enable_thinking`, `date_string`…).
//! * Python string and dict methods through minijinja-contrib's `pycompat` (`startswith`, `strip`,
//!   `split`, `items`, `get`…), `namespace()`, loop variables and `break`/`continue`.
//! * `tojson` is transformers' `json.dumps(x, ensure_ascii=False, indent=…, separators=…, sort_keys=…)`:
//!   no HTML escaping, keys in insertion order, Python's `", "`/`": "` separators and float spelling.
//! * Printing follows Python's `str()`: `None`, `True`, `['a', 1]`, `{'k': 'v'}`, `1e-07` (minijinja
//!   would print `none`, `true`, `["a", 1]`); the `string` filter does the same.
//! * Undefined values are Jinja2's default `Undefined`: printing gives `""`, iterating gives nothing,
//!   `| length` is 0, `is defined` works, and an attribute of an undefined value is an error.
//! * transformers' `{% generation %}…{% endgeneration %}` tag renders its body.
//! * `raise_exception(msg)` becomes [`ChatError::Raised`] carrying the template's own message.
//! * `strftime_now(fmt)` formats the current UTC time (transformers uses local time; servers run in
//!   UTC) with the C/glibc directives; [`ChatTemplate::with_date`] pins it for reproducible renders.
//!
//! Known differences, none of them used by the templates above: `~` and `join` print `none`/`true` the
//! minijinja way; `range()` refuses more than 100 000 items; `tojson` serialises lazy sequences
//! (`map`, `select` results) that Python's `json` refuses; a repr of non-printable characters uses an
//! approximation of Python's `isprintable`; Python-only operators such as `%` string formatting are
//! absent.
//!
//! # Safety
//!
//! A template is a program written by whoever published the model. Rendering is bounded:
//! * fuel ([`DEFAULT_FUEL`]): minijinja charges one unit per instruction and about one per 64 bytes of
//!   data built, so `{% for i in range(10**5) %}{% for j in range(10**5) %}…` or string doubling stops
//!   within about 0.1 s (release build) with [`ChatError::OutOfFuel`], and memory stays under about
//!   `fuel × 64` bytes; modelvet's `tojson` and Python-style printing charge the same fuel per item;
//! * a recursion limit ([`RECURSION_LIMIT`]) for recursive macros and self-includes;
//! * an output cap ([`MAX_OUTPUT_BYTES`]) on the prompt itself, checked as it is written;
//! * no loader: `include`/`import`/`extends` cannot reach the filesystem.
//!
//! Known gap (minijinja 3.1.0): list concatenation is lazy and uncharged, and once 33 concatenations are
//! chained minijinja materialises the whole list without fuel, so a template that doubles a list 33 times
//! (`{% set ns.l = ns.l + ns.l %}` in a loop) spins and grows memory (about 45 MB/s) until killed. Nothing
//! outside minijinja can interrupt that loop; the fix belongs in minijinja's `ops::add`.
//!
//! Trade-off: a template that needs more than the budget (tens of thousands of messages) is refused rather
//! than rendered; real templates use a few thousand units per message.
//!
//! # Fallback
//!
//! Base models (Gemma 3 270M) ship no template. They get [`fallback_render`], a plain-text
//! question/answer layout described by [`FALLBACK_FORMAT_DOC`]:
//!
//! ```text
//! {system text}
//!
//! Question: {user}
//! Answer: {assistant}
//!
//! Question: {user}
//! Answer:
//! ```
//!
//! The system paragraph appears only when there is a system message; the prompt ends right after
//! `Answer:` (no trailing space) when a generation prompt is requested, so the model continues with the
//! answer.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::{Kwargs, ValueKind};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use std::borrow::Cow;
use std::fmt::Write as _;
use std::io;

/// Fuel for one render: about this many minijinja instructions (or 64 times as many bytes of data built),
/// which bounds a render to roughly 100 ms and 64 MB. The Qwen2.5 template needs about 2 000 for a 40-turn
/// conversation with two tools and about 150 000 for 2 000 turns (685 KB, near [`MAX_OUTPUT_BYTES`]).
pub const DEFAULT_FUEL: u64 = 1_000_000;
/// Longest rendered prompt accepted, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// minijinja's recursion budget (a macro call costs several levels); its own safe maximum.
pub const RECURSION_LIMIT: usize = 500;
/// Longest intermediate string `tojson` or a Python-style `repr` may build.
const MAX_VALUE_BYTES: usize = 8 << 20;
/// Deepest value nesting `tojson`/`repr` will walk (Python stops at its own recursion limit).
const MAX_VALUE_DEPTH: usize = 256;

/// The fallback format, for the README and reports.
pub const FALLBACK_FORMAT_DOC: &str = "Models without a chat template get a plain-text prompt: each system \
message as its own paragraph, then every user turn as `Question: {user}` followed on the next line by \
`Answer: {assistant}`, turns separated by a blank line; a generation prompt ends the text right after \
`Answer:` (no trailing space) so the model writes the answer.";

/// One chat message (the common `role`/`content` form; richer messages go through
/// [`ChatTemplate::render_json`]).
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Message {
    pub role: String,
    pub content: String,
}

impl Message {
    /// A message with `role` and `content`.
    pub fn new(role: &str, content: &str) -> Message {
        Message {
            role: role.to_owned(),
            content: content.to_owned(),
        }
    }
}

/// Why a chat template could not be compiled or rendered. Every variant names the template's source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("chat template `{template}` does not compile{}: {message}", at_line(*line))]
    Syntax {
        template: String,
        line: Option<usize>,
        message: String,
    },
    #[error("chat template `{template}` failed{}: {message}", at_line(*line))]
    Render {
        template: String,
        line: Option<usize>,
        message: String,
    },
    #[error("chat template `{template}` raised an exception: {message}")]
    Raised { template: String, message: String },
    #[error(
        "chat template `{template}` exceeded the fuel limit of {fuel} (it loops or builds data without end)"
    )]
    OutOfFuel { template: String, fuel: u64 },
    #[error("chat template `{template}` exceeded the recursion limit{}", at_line(*line))]
    TooDeep {
        template: String,
        line: Option<usize>,
    },
    #[error("chat template `{template}` rendered more than {limit} bytes")]
    OutputTooLarge { template: String, limit: usize },
    #[error("chat template `{template}`: {message}")]
    BadContext { template: String, message: String },
    #[error("invalid date {0}")]
    BadDate(String),
}

fn at_line(line: Option<usize>) -> String {
    line.map(|l| format!(" at line {l}")).unwrap_or_default()
}

/// Where `strftime_now` reads the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Clock {
    System,
    /// Seconds since the Unix epoch, UTC.
    Fixed(i64),
}

impl Clock {
    fn now(self) -> i64 {
        match self {
            Clock::Fixed(t) => t,
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        }
    }
}

/// A compiled chat template with its source name and the model's BOS/EOS strings.
#[derive(Clone)]
pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    text: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
    clock: Clock,
    fuel: u64,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("source", &self.source)
            .field("bytes", &self.text.len())
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .field("clock", &self.clock)
            .field("fuel", &self.fuel)
            .finish()
    }
}

impl ChatTemplate {
    /// Compiles `template` (from `source`, e.g. `"model.gguf:tokenizer.chat_template"`); `bos_token` and
    /// `eos_token` are exposed to the template under those names when present (absent tokens are undefined,
    /// as in transformers).
    pub fn new(
        source: &str,
        template: &str,
        bos_token: Option<&str>,
        eos_token: Option<&str>,
    ) -> Result<ChatTemplate, ChatError> {
        let mut t = ChatTemplate {
            env: Environment::new(),
            source: source.to_owned(),
            text: template.to_owned(),
            bos_token: bos_token.map(str::to_owned),
            eos_token: eos_token.map(str::to_owned),
            clock: Clock::System,
            fuel: DEFAULT_FUEL,
        };
        t.env = t.build_env()?;
        Ok(t)
    }

    /// The same template with `strftime_now` pinned to midnight UTC of the given day (for reproducible
    /// renders and tests).
    pub fn with_date(self, year: i32, month: u32, day: u32) -> Result<ChatTemplate, ChatError> {
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
            return Err(ChatError::BadDate(format!("{year:04}-{month:02}-{day:02}")));
        }
        self.with_time(days_from_civil(year, month, day) * 86_400)
    }

    /// The same template with `strftime_now` pinned to `unix_seconds` (UTC).
    pub fn with_time(mut self, unix_seconds: i64) -> Result<ChatTemplate, ChatError> {
        self.clock = Clock::Fixed(unix_seconds);
        self.env = self.build_env()?;
        Ok(self)
    }

    /// The same template with another fuel budget (see [`DEFAULT_FUEL`]).
    pub fn with_fuel(mut self, fuel: u64) -> Result<ChatTemplate, ChatError> {
        self.fuel = fuel;
        self.env = self.build_env()?;
        Ok(self)
    }

    /// Where the template came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The template text as given.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The BOS string exposed as `bos_token`.
    pub fn bos_token(&self) -> Option<&str> {
        self.bos_token.as_deref()
    }

    /// The EOS string exposed as `eos_token`.
    pub fn eos_token(&self) -> Option<&str> {
        self.eos_token.as_deref()
    }

    /// Renders `messages` with `add_generation_prompt`; `extra` is a JSON object of further context
    /// variables (e.g. `tools`, `enable_thinking`), as transformers' `**kwargs`.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
        extra: Option<&serde_json::Value>,
    ) -> Result<String, ChatError> {
        let messages = serde_json::Value::Array(
            messages
                .iter()
                .map(|m| {
                    let mut o = serde_json::Map::new();
                    o.insert("role".into(), m.role.clone().into());
                    o.insert("content".into(), m.content.clone().into());
                    serde_json::Value::Object(o)
                })
                .collect(),
        );
        self.render_json(&messages, add_generation_prompt, extra)
    }

    /// Like [`render`](Self::render) with messages given as JSON: tool calls, `reasoning_content`, content
    /// given as a list of parts, `None` content…
    pub fn render_json(
        &self,
        messages: &serde_json::Value,
        add_generation_prompt: bool,
        extra: Option<&serde_json::Value>,
    ) -> Result<String, ChatError> {
        let mut ctx = serde_json::Map::new();
        ctx.insert("messages".into(), messages.clone());
        ctx.insert("tools".into(), serde_json::Value::Null);
        ctx.insert("documents".into(), serde_json::Value::Null);
        ctx.insert(
            "add_generation_prompt".into(),
            serde_json::Value::Bool(add_generation_prompt),
        );
        if let Some(b) = &self.bos_token {
            ctx.insert("bos_token".into(), b.clone().into());
        }
        if let Some(e) = &self.eos_token {
            ctx.insert("eos_token".into(), e.clone().into());
        }
        match extra {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::Object(extra)) => {
                for (k, v) in extra {
                    if k == "messages" || k == "add_generation_prompt" {
                        return Err(ChatError::BadContext {
                            template: self.source.clone(),
                            message: format!("extra context may not set `{k}`"),
                        });
                    }
                    ctx.insert(k.clone(), v.clone());
                }
            }
            Some(other) => {
                return Err(ChatError::BadContext {
                    template: self.source.clone(),
                    message: format!(
                        "extra context must be a JSON object, not {}",
                        json_kind(other)
                    ),
                })
            }
        }
        let ctx = Value::from(minijinja::value::Serde(serde_json::Value::Object(ctx)));
        let tmpl = self
            .env
            .get_template(&self.source)
            .map_err(|e| self.classify(&e))?;
        let mut out = LimitedWriter {
            buf: Vec::with_capacity(self.text.len().min(64 << 10) * 2),
            limit: MAX_OUTPUT_BYTES,
            exceeded: false,
        };
        let result = tmpl.render_captured_to(ctx, &mut out).map(|_| ());
        if out.exceeded {
            return Err(ChatError::OutputTooLarge {
                template: self.source.clone(),
                limit: MAX_OUTPUT_BYTES,
            });
        }
        result.map_err(|e| self.classify(&e))?;
        String::from_utf8(out.buf).map_err(|_| ChatError::Render {
            template: self.source.clone(),
            line: None,
            message: "rendered text is not UTF-8".into(),
        })
    }

    fn build_env(&self) -> Result<Environment<'static>, ChatError> {
        let mut env = Environment::new();
        let syntax = SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .keep_trailing_newline(false)
            .build()
            .map_err(|e| self.syntax_error(&e))?;
        env.set_syntax(syntax);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_fuel(Some(self.fuel));
        env.set_recursion_limit(RECURSION_LIMIT);
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
        let clock = self.clock;
        env.add_function("strftime_now", move |format: &str| {
            strftime(format, clock.now())
        });
        env.add_template_owned(self.source.clone(), rewrite_generation_tags(&self.text))
            .map_err(|e| self.syntax_error(&e))?;
        Ok(env)
    }

    fn syntax_error(&self, e: &Error) -> ChatError {
        ChatError::Syntax {
            template: self.source.clone(),
            line: e.line(),
            message: describe(e),
        }
    }

    fn classify(&self, e: &Error) -> ChatError {
        let template = self.source.clone();
        let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(r) = err.downcast_ref::<Raised>() {
                return ChatError::Raised {
                    template,
                    message: r.0.clone(),
                };
            }
            if let Some(me) = err.downcast_ref::<Error>() {
                if me.kind() == ErrorKind::OutOfFuel {
                    return ChatError::OutOfFuel {
                        template,
                        fuel: self.fuel,
                    };
                }
                if me.kind() == ErrorKind::SyntaxError {
                    return ChatError::Syntax {
                        template,
                        line: me.line(),
                        message: describe(me),
                    };
                }
                if me.detail() == Some("recursion limit exceeded") {
                    return ChatError::TooDeep {
                        template,
                        line: e.line(),
                    };
                }
            }
            cur = err.source();
        }
        ChatError::Render {
            template,
            line: e.line(),
            message: describe(e),
        }
    }
}

fn describe(e: &Error) -> String {
    match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    }
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The prompt builder for a chat request: the model's template, or the fallback when it has none.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one per loaded model; boxing would only add an indirection
pub enum Prompt {
    Template(ChatTemplate),
    Fallback,
}

impl Prompt {
    /// The template when there is one, else the fallback.
    pub fn new(
        source: &str,
        template: Option<&str>,
        bos_token: Option<&str>,
        eos_token: Option<&str>,
    ) -> Result<Prompt, ChatError> {
        match template {
            Some(t) => Ok(Prompt::Template(ChatTemplate::new(
                source, t, bos_token, eos_token,
            )?)),
            None => Ok(Prompt::Fallback),
        }
    }

    /// From a GGUF header: `tokenizer.chat_template`, with BOS/EOS looked up in `tokenizer.ggml.tokens`.
    /// `file` names the model file in messages.
    pub fn from_gguf(
        gguf: &crate::provenance::gguf::GgufFile,
        file: &str,
    ) -> Result<Prompt, ChatError> {
        let token = |key: &str| -> Option<String> {
            let id = usize::try_from(gguf.get_u64(key)?).ok()?;
            match gguf.get_array("tokenizer.ggml.tokens")? {
                crate::provenance::gguf::Array::Str(v) => v.get(id).cloned(),
                _ => None,
            }
        };
        let bos = token("tokenizer.ggml.bos_token_id");
        let eos = token("tokenizer.ggml.eos_token_id");
        Prompt::new(
            &format!("{file}:tokenizer.chat_template"),
            gguf.get_str("tokenizer.chat_template"),
            bos.as_deref(),
            eos.as_deref(),
        )
    }

    /// Renders an optional system message and one user message, ending with the generation prompt.
    pub fn chat(&self, system: Option<&str>, user: &str) -> Result<String, ChatError> {
        let mut messages = Vec::with_capacity(2);
        if let Some(s) = system {
            messages.push(Message::new("system", s));
        }
        messages.push(Message::new("user", user));
        self.render(&messages, true)
    }

    /// Renders `messages` through the template or the fallback.
    pub fn render(
        &self,
        messages: &[Message],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        match self {
            Prompt::Template(t) => t.render(messages, add_generation_prompt, None),
            Prompt::Fallback => Ok(fallback_render(messages, add_generation_prompt)),
        }
    }

    /// A one-line description for reports: the template's source or the fallback.
    pub fn describe(&self) -> String {
        match self {
            Prompt::Template(t) => format!("chat template from {}", t.source()),
            Prompt::Fallback => "no chat template: plain-text Question/Answer fallback".to_owned(),
        }
    }
}

/// The documented plain-text format for models without a template (see [`FALLBACK_FORMAT_DOC`]).
/// System messages become paragraphs; a user turn is `Question: …` and the assistant's reply follows on
/// the next line as `Answer: …`; blocks are separated by a blank line. Other roles become
/// `{role}: {content}` paragraphs. With `add_generation_prompt` the text ends with `Answer:`.
pub fn fallback_render(messages: &[Message], add_generation_prompt: bool) -> String {
    let mut blocks: Vec<String> = Vec::new();
    let mut pending: Option<&str> = None;
    for m in messages {
        match m.role.as_str() {
            "user" => {
                if let Some(q) = pending.take() {
                    blocks.push(format!("Question: {q}"));
                }
                pending = Some(&m.content);
            }
            "assistant" => match pending.take() {
                Some(q) => blocks.push(format!("Question: {q}\nAnswer: {}", m.content)),
                None => blocks.push(format!("Answer: {}", m.content)),
            },
            role => {
                if let Some(q) = pending.take() {
                    blocks.push(format!("Question: {q}"));
                }
                if role == "system" {
                    blocks.push(m.content.clone());
                } else {
                    blocks.push(format!("{role}: {}", m.content));
                }
            }
        }
    }
    match (pending, add_generation_prompt) {
        (Some(q), true) => blocks.push(format!("Question: {q}\nAnswer:")),
        (None, true) => blocks.push("Answer:".to_owned()),
        (Some(q), false) => blocks.push(format!("Question: {q}")),
        (None, false) => {}
    }
    blocks.join("\n\n")
}

// ---------------------------------------------------------------------------------------------------------
// Output cap.

struct LimitedWriter {
    buf: Vec<u8>,
    limit: usize,
    exceeded: bool,
}

impl io::Write for LimitedWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if self.buf.len() + data.len() > self.limit {
            self.exceeded = true;
            return Err(io::Error::other("output limit reached"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------------------
// transformers' globals.

/// The marker carried by the error `raise_exception` returns, so it can be told from engine errors.
#[derive(Debug)]
struct Raised(String);

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
fn rewrite_generation_tags(text: &str) -> String {
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

// ---------------------------------------------------------------------------------------------------------
// strftime_now.

fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(i64::from(y)) => 29,
        _ => 28,
    }
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// C `strftime` in the C locale for a UTC time, with glibc's `-` (no padding) flag; unknown directives
/// are copied through.
fn strftime(format: &str, unix: i64) -> Result<String, Error> {
    if format.len() > 4096 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "strftime_now format is too long",
        ));
    }
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (secs / 3600, secs / 60 % 60, secs % 60);
    let weekday = (days + 4).rem_euclid(7) as usize; // 1970-01-01 was a Thursday
    let yday = days - days_from_civil(year as i32, 1, 1) + 1;
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = String::with_capacity(format.len() * 2);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let no_pad = chars.peek() == Some(&'-');
        if no_pad {
            chars.next();
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let num = |out: &mut String, v: i64, width: usize, pad: char| {
            if no_pad {
                let _ = write!(out, "{v}");
            } else if pad == ' ' {
                let _ = write!(out, "{v:>width$}");
            } else {
                let _ = write!(out, "{v:0width$}");
            }
        };
        let month_name = MONTHS[(month as usize).saturating_sub(1) % 12];
        match d {
            '%' => out.push('%'),
            'a' => out.push_str(&WEEKDAYS[weekday][..3]),
            'A' => out.push_str(WEEKDAYS[weekday]),
            'b' | 'h' => out.push_str(&month_name[..3]),
            'B' => out.push_str(month_name),
            'C' => num(&mut out, year.div_euclid(100), 2, '0'),
            'd' => num(&mut out, i64::from(day), 2, '0'),
            'e' => num(&mut out, i64::from(day), 2, ' '),
            'H' => num(&mut out, hour, 2, '0'),
            'k' => num(&mut out, hour, 2, ' '),
            'I' => num(&mut out, hour12, 2, '0'),
            'l' => num(&mut out, hour12, 2, ' '),
            'j' => num(&mut out, yday, 3, '0'),
            'm' => num(&mut out, i64::from(month), 2, '0'),
            'M' => num(&mut out, minute, 2, '0'),
            'S' => num(&mut out, second, 2, '0'),
            'p' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'P' => out.push_str(if hour < 12 { "am" } else { "pm" }),
            'y' => num(&mut out, year.rem_euclid(100), 2, '0'),
            'Y' => {
                let _ = write!(out, "{year}");
            }
            'u' => {
                let _ = write!(out, "{}", if weekday == 0 { 7 } else { weekday });
            }
            'w' => {
                let _ = write!(out, "{weekday}");
            }
            's' => {
                let _ = write!(out, "{unix}");
            }
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'z' | 'Z' => {} // naive datetime, as Python's datetime.now()
            'F' => {
                let _ = write!(out, "{year}-{month:02}-{day:02}");
            }
            'D' | 'x' => {
                let _ = write!(out, "{month:02}/{day:02}/{:02}", year.rem_euclid(100));
            }
            'T' | 'X' => {
                let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
            }
            'R' => {
                let _ = write!(out, "{hour:02}:{minute:02}");
            }
            'c' => {
                let _ = write!(
                    out,
                    "{} {} {day:>2} {hour:02}:{minute:02}:{second:02} {year}",
                    &WEEKDAYS[weekday][..3],
                    &month_name[..3]
                );
            }
            other => {
                out.push('%');
                if no_pad {
                    out.push('-');
                }
                out.push(other);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    fn t(src: &str) -> ChatTemplate {
        ChatTemplate::new("test.jinja", src, Some("<s>"), Some("</s>")).unwrap()
    }

    fn user(s: &str) -> Vec<Message> {
        vec![Message::new("user", s)]
    }

    /// Renders and returns the error with the time it took.
    fn fails(src: &str) -> (ChatError, Duration) {
        let start = Instant::now();
        let r = t(src).render(&user("hi"), true, None);
        let took = start.elapsed();
        match r {
            Ok(s) => panic!("rendered {} bytes instead of failing", s.len()),
            Err(e) => (e, took),
        }
    }

    #[test]
    fn huge_range_errors_quickly() {
        let (e, took) = fails("{% for i in range(1000000000) %}x{% endfor %}");
        assert!(matches!(e, ChatError::Render { .. }), "{e}");
        assert!(e.to_string().contains("range has too many elements"), "{e}");
        assert!(took < HANG_GUARD, "{took:?}");
    }

    /// Hostile templates must stop by hitting a limit (the error kind proves which), not by a timeout; this
    /// generous bound only turns a hang into a failure instead of a stuck test run. It is not a speed goal.
    const HANG_GUARD: Duration = Duration::from_secs(60);

    #[test]
    fn nested_loops_run_out_of_fuel_quickly() {
        let (e, took) = fails(
            "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        );
        assert!(matches!(e, ChatError::OutOfFuel { .. }), "{e}");
        assert!(e.to_string().contains("exceeded the fuel limit"), "{e}");
        assert!(took < HANG_GUARD, "{took:?}");
    }

    #[test]
    fn string_bombs_do_not_allocate() {
        for src in [
            "{{ 'x' * 10**9 }}",
            "{{ 'x' * 100000000 }}",
            "{% set ns = namespace(s='x' * 16) %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
            "{{ ['x'] * 10**9 }}",
            "{{ [[[[[[1]]]]]] | tojson(indent=100000000) }}",
            "{% set ns = namespace(l=['x'] * 16) %}{% for i in range(30) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | tojson }}",
            "{% set ns = namespace(l=['x'] * 16) %}{% for i in range(30) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l }}",
            "{% set ns = namespace(l=[1]) %}{% for i in range(30) %}{% set ns.l = [ns.l, ns.l] %}{% endfor %}{{ ns.l | tojson }}",
        ] {
            let (e, took) = fails(src);
            assert!(
                matches!(
                    e,
                    ChatError::OutOfFuel { .. }
                        | ChatError::Render { .. }
                        | ChatError::OutputTooLarge { .. }
                ),
                "{src}: {e}"
            );
            assert!(took < HANG_GUARD, "{src}: {took:?}");
        }
    }

    #[test]
    fn recursive_macros_and_self_includes_hit_the_recursion_limit() {
        let (e, took) = fails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
        assert!(matches!(e, ChatError::TooDeep { .. }), "{e}");
        assert!(took < HANG_GUARD, "{took:?}");
        let (e, _) = fails("{% include 'test.jinja' %}");
        assert!(
            matches!(e, ChatError::TooDeep { .. } | ChatError::Render { .. }),
            "{e}"
        );
    }

    #[test]
    fn files_cannot_be_included() {
        let (e, _) = fails("{% include '/etc/passwd' %}");
        assert!(e.to_string().contains("template not found"), "{e}");
        let (e, _) = fails("{% import '/etc/hostname' as x %}");
        assert!(matches!(e, ChatError::Render { .. }), "{e}");
    }

    #[test]
    fn output_is_capped() {
        let (e, _) = fails("{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}");
        assert!(
            matches!(
                e,
                ChatError::OutputTooLarge {
                    limit: MAX_OUTPUT_BYTES,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn raise_exception_surfaces_the_template_message() {
        let (e, _) = fails("{% if messages[0].role != 'system' %}{{ raise_exception('System first, please!') }}{% endif %}");
        assert_eq!(
            e,
            ChatError::Raised {
                template: "test.jinja".into(),
                message: "System first, please!".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "chat template `test.jinja` raised an exception: System first, please!"
        );
        // Also from inside a macro.
        let (e, _) = fails("{% macro m() %}{{ raise_exception('deep') }}{% endmacro %}{{ m() }}");
        assert!(
            matches!(&e, ChatError::Raised { message, .. } if message == "deep"),
            "{e}"
        );
    }

    #[test]
    fn syntax_and_runtime_errors_name_the_source_and_line() {
        let e = ChatTemplate::new("m.gguf:tokenizer.chat_template", "ok\n{% if %}", None, None)
            .unwrap_err();
        assert!(
            matches!(e, ChatError::Syntax { line: Some(2), .. }),
            "{e:?}"
        );
        assert!(
            e.to_string().starts_with(
                "chat template `m.gguf:tokenizer.chat_template` does not compile at line 2"
            ),
            "{e}"
        );
        let (e, _) = fails("line1\n{{ nope.attr }}");
        assert!(
            matches!(e, ChatError::Render { line: Some(2), .. }),
            "{e:?}"
        );
        assert!(e.to_string().contains("undefined"), "{e}");
    }

    #[test]
    fn undefined_behaves_like_jinja2() {
        let out = t("[{{ nope }}][{{ nope | length }}][{% for x in nope %}x{% endfor %}][{{ messages[0].tool_calls is defined }}][{{ nope is not none }}][{% if nope %}t{% else %}f{% endif %}][{{ messages[0].nope | default('d') }}]")
            .render(&user("hi"), false, None)
            .unwrap();
        assert_eq!(out, "[][0][][False][True][f][d]");
    }

    #[test]
    fn python_printing_and_tojson() {
        let out = t("{{ none }} {{ true }} {{ [1, 'a', none] }} {{ {'k': 'v'} }} {{ 1e-7 }} {{ 1e20 }} {{ 0.5 }} {{ (1,) }}")
            .render(&[], false, None)
            .unwrap();
        assert_eq!(
            out,
            "None True [1, 'a', None] {'k': 'v'} 1e-07 1e+20 0.5 (1,)"
        );
        let extra = serde_json::json!({"x": {"b": "<&'>", "a": [1.5, null]}});
        let out = t("{{ x | tojson }}|{{ x | tojson(sort_keys=true, separators=(',', ':')) }}|{{ x.b | tojson(true) }}")
            .render(&[], false, Some(&extra))
            .unwrap();
        assert_eq!(
            out,
            r#"{"b": "<&'>", "a": [1.5, null]}|{"a":[1.5,null],"b":"<&'>"}|"<&'>""#
        );
        let (e, _) = fails("{{ messages | tojson(bogus=1) }}");
        assert!(matches!(e, ChatError::Render { .. }), "{e}");
    }

    #[test]
    fn strftime_now_uses_the_pinned_date() {
        let tmpl = t("{{ strftime_now('%d %b %Y|%A|%-d/%-m|%j|%H:%M|%F') }}")
            .with_date(2024, 2, 29)
            .unwrap();
        assert_eq!(
            tmpl.render(&[], false, None).unwrap(),
            "29 Feb 2024|Thursday|29/2|060|00:00|2024-02-29"
        );
        assert!(t("").with_date(2023, 2, 29).is_err());
        let now = t("{{ strftime_now('%Y') }}")
            .render(&[], false, None)
            .unwrap();
        assert!(now.parse::<u32>().is_ok_and(|y| y >= 2025), "{now}");
    }

    #[test]
    fn generation_tags_render_their_body() {
        let out =
            t("a{%- generation -%} b {%- endgeneration %}c{% generation %}d{% endgeneration %}")
                .render(&[], false, None)
                .unwrap();
        assert_eq!(out, "abcd");
    }

    #[test]
    fn extra_context_must_be_an_object_without_reserved_keys() {
        let tmpl = t("{{ messages | length }}");
        for extra in [serde_json::json!([1]), serde_json::json!({"messages": []})] {
            let e = tmpl.render(&user("x"), true, Some(&extra)).unwrap_err();
            assert!(matches!(e, ChatError::BadContext { .. }), "{e}");
        }
    }

    #[test]
    fn fallback_format() {
        let m = |r: &str, c: &str| Message::new(r, c);
        assert_eq!(
            fallback_render(&[m("user", "Hi?")], true),
            "Question: Hi?\nAnswer:"
        );
        assert_eq!(
            fallback_render(&[m("system", "Be brief."), m("user", "Hi?")], true),
            "Be brief.\n\nQuestion: Hi?\nAnswer:"
        );
        assert_eq!(
            fallback_render(
                &[m("user", "A?"), m("assistant", "a."), m("user", "B?")],
                true
            ),
            "Question: A?\nAnswer: a.\n\nQuestion: B?\nAnswer:"
        );
        assert_eq!(
            fallback_render(&[m("user", "A?"), m("assistant", "a.")], false),
            "Question: A?\nAnswer: a."
        );
        assert_eq!(fallback_render(&[m("user", "A?")], false), "Question: A?");
        assert_eq!(fallback_render(&[], true), "Answer:");
        let p = Prompt::Fallback;
        assert_eq!(p.chat(Some("S"), "U").unwrap(), "S\n\nQuestion: U\nAnswer:");
        assert!(FALLBACK_FORMAT_DOC.contains("Answer:"));
    }

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

    #[test]
    fn dates_round_trip() {
        for (y, m, d) in [(1970, 1, 1), (2000, 2, 29), (2026, 11, 23), (1969, 12, 31)] {
            let days = days_from_civil(y, m, d);
            assert_eq!(civil_from_days(days), (i64::from(y), m, d));
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
    }
}
