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
//! * Python string and dict methods (`startswith`, `strip`, `split`, `items`, `get`…), `namespace()`, loop
//!   variables and `break`/`continue`.
//! * `tojson` is transformers' `json.dumps(…)`, and printing follows Python's `str()` (`None`, `True`,
//!   `['a', 1]`): see `pycompat.rs`.
//! * Undefined values are Jinja2's default `Undefined`: printing gives `""`, iterating gives nothing,
//!   `| length` is 0, `is defined` works, and an attribute of an undefined value is an error.
//! * transformers' `{% generation %}…{% endgeneration %}` tag renders its body.
//! * `raise_exception(msg)` becomes [`ChatError::Raised`] carrying the template's own message.
//! * `strftime_now(fmt)` formats the current UTC time with the C/glibc directives (see `strftime.rs`);
//!   [`ChatTemplate::with_date`] pins it for reproducible renders.
//!
//! Known differences, none of them used by the templates above: `range()` refuses more than 100 000
//! items; Python-only operators such as `%` string formatting are absent; `pycompat.rs` lists those of
//! printing and `tojson`.
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

mod pycompat;
mod strftime;

use crate::util::time::{days_from_civil, days_in_month};
use minijinja::syntax::SyntaxConfig;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use pycompat::{rewrite_generation_tags, Raised};
use std::io;
use strftime::{strftime, Clock};

/// Fuel for one render: about this many minijinja instructions (or 64 times as many bytes of data built),
/// which bounds a render to roughly 100 ms and 64 MB. The Qwen2.5 template needs about 2 000 for a 40-turn
/// conversation with two tools and about 150 000 for 2 000 turns (685 KB, near [`MAX_OUTPUT_BYTES`]).
pub const DEFAULT_FUEL: u64 = 1_000_000;
/// Longest rendered prompt accepted, in bytes.
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;
/// minijinja's recursion budget (a macro call costs several levels); its own safe maximum.
pub const RECURSION_LIMIT: usize = 500;

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
        let y = i64::from(year);
        if !(1..=12).contains(&month) || day < 1 || day > days_in_month(y, month) {
            return Err(ChatError::BadDate(format!("{year:04}-{month:02}-{day:02}")));
        }
        self.with_time(days_from_civil(y, month, day) * 86_400)
    }

    /// The same template with `strftime_now` pinned to `unix_seconds` (UTC).
    pub fn with_time(mut self, unix_seconds: i64) -> Result<ChatTemplate, ChatError> {
        self.clock = Clock::Fixed(unix_seconds);
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
        pycompat::install(&mut env);
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
}
