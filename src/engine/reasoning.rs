//! Whether a model reasons before it answers, told from its chat template and vocabulary, and how its
//! output splits into the reasoning and the answer. Reasoning models (DeepSeek-R1 and its distills, QwQ,
//! Qwen3, Kimi-K2-Thinking, GLM-4.5) write `<think>…</think>` first; verdicts must come from what follows.
//!
//! Three template shapes are told apart, because each puts the opening tag somewhere else:
//! * the template opens the block itself at the end of the generation prompt (R1 distills, QwQ): the
//!   output starts inside the reasoning and only `</think>` appears in it;
//! * the model writes `<think>` itself (Qwen3 with thinking on);
//! * a hybrid template with Qwen3's `enable_thinking` switch: off, it closes an empty block in the prompt
//!   (`<think>\n\n</think>\n\n`) and the output is all answer.

use super::chat::{ChatTemplate, Message};
use serde::{Deserialize, Serialize};

/// Tag pairs reasoning models use, most common first.
const TAGS: &[(&str, &str)] = &[
    ("<think>", "</think>"),
    ("<thinking>", "</thinking>"),
    ("◁think▷", "◁/think▷"),
];

/// How a model reasons, for the engine record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReasoningStyle {
    /// The tag that opens the reasoning (`<think>`).
    pub open: String,
    /// The tag that closes it (`</think>`).
    pub close: String,
    /// The chat template opens the reasoning block at the end of the generation prompt (DeepSeek-R1
    /// distills, QwQ): the model's output starts inside it.
    pub forced_open: bool,
    /// The template has a thinking switch (Qwen3's `enable_thinking`): `--thinking on|off|both` apply.
    pub switchable: bool,
    /// Whether the model thinks when nothing is asked (the template's own default).
    pub default_on: bool,
    /// What this was told from, in words.
    pub evidence: Vec<String>,
}

impl ReasoningStyle {
    /// What a server-rendered model is assumed to do: think tags when it reasons, read from a
    /// `reasoning_content` field or from the text (the server's template is not seen).
    pub fn remote() -> ReasoningStyle {
        ReasoningStyle {
            open: TAGS[0].0.into(),
            close: TAGS[0].1.into(),
            forced_open: false,
            switchable: true,
            default_on: true,
            evidence: vec![
                "served model: reasoning read from the `reasoning_content` field, or from inline \
                 <think> tags"
                    .into(),
            ],
        }
    }
}

/// The template's context for a thinking mode: `None` leaves the template's default.
pub fn thinking_context(thinking: Option<bool>) -> Option<serde_json::Value> {
    thinking.map(|on| serde_json::json!({ "enable_thinking": on }))
}

/// Tells from the template and the vocabulary whether a model reasons. `has_token` says whether a text
/// is one token of the vocabulary.
pub fn detect(
    template: Option<&ChatTemplate>,
    has_token: &dyn Fn(&str) -> bool,
) -> Option<ReasoningStyle> {
    let source = template.map(ChatTemplate::source).unwrap_or("");
    let text = template.map(ChatTemplate::text).unwrap_or("");
    let (open, close) = TAGS
        .iter()
        .copied()
        .find(|(o, c)| (has_token(o) && has_token(c)) || text.contains(c) || text.contains(o))?;
    let mut evidence = Vec::new();
    if has_token(open) && has_token(close) {
        evidence.push(format!("the vocabulary has `{open}` and `{close}` tokens"));
    }
    if text.contains(close) {
        evidence.push(format!("the chat template ({source}) handles `{close}`"));
    }
    let render = |extra: Option<serde_json::Value>| -> Option<String> {
        let t = template?;
        t.render(&[Message::new("user", "Q")], true, extra.as_ref())
            .ok()
    };
    let default = render(None);
    let forced_open = default
        .as_deref()
        .is_some_and(|r| r.trim_end().ends_with(open));
    if forced_open {
        evidence.push(format!(
            "the template ends the generation prompt with `{open}`: the output starts inside the reasoning"
        ));
    }
    let on = render(thinking_context(Some(true)));
    let off = render(thinking_context(Some(false)));
    let switchable = text.contains("enable_thinking") && on.is_some() && on != off;
    let default_on = if switchable { default == on } else { true };
    if switchable {
        evidence.push(format!(
            "the template has an `enable_thinking` switch (thinking {} by default)",
            if default_on { "on" } else { "off" }
        ));
    }
    Some(ReasoningStyle {
        open: open.into(),
        close: close.into(),
        forced_open,
        switchable,
        default_on,
        evidence,
    })
}

/// A generated text split at its reasoning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Split {
    /// The reasoning, without its tags and outer blank lines; `None` when the output has no reasoning
    /// block.
    pub reasoning: Option<String>,
    /// Everything after the closing tag (or the whole text when there is no reasoning).
    pub answer: String,
    /// Whether the reasoning block was closed (false: the output ended inside it).
    pub closed: bool,
}

/// Splits `text` (what the model generated after its prompt) into reasoning and answer. A closing tag
/// with no opening one before it means the template opened the block; so does `style.forced_open`.
pub fn split(style: &ReasoningStyle, text: &str) -> Split {
    let lead = text.trim_start();
    let inside = match lead.strip_prefix(style.open.as_str()) {
        Some(rest) => Some(rest),
        None if style.forced_open || text.contains(&style.close) => Some(text),
        None => None,
    };
    let Some(inside) = inside else {
        return Split {
            reasoning: None,
            answer: text.to_owned(),
            closed: true,
        };
    };
    let clean = |s: &str| {
        s.trim_matches(|c: char| c == '\n' || c == '\r')
            .trim()
            .to_owned()
    };
    match inside.find(&style.close) {
        Some(i) => Split {
            reasoning: Some(clean(&inside[..i])),
            answer: inside[i + style.close.len()..].trim_start().to_owned(),
            closed: true,
        },
        None => Split {
            reasoning: Some(clean(inside)),
            answer: String::new(),
            closed: false,
        },
    }
}

/// Whether the text so far has closed its reasoning (or never opened one): the answer has begun. `None`
/// while it cannot be told yet (a few characters that may still become the opening tag).
pub fn answer_started(style: &ReasoningStyle, text: &str) -> Option<usize> {
    if let Some(i) = text.find(&style.close) {
        return Some(i + style.close.len());
    }
    if style.forced_open {
        return None;
    }
    let lead = text.trim_start();
    if lead.starts_with(style.open.as_str()) {
        return None;
    }
    if style.open.starts_with(lead) {
        // "", "<", "<thi": may still be the tag.
        return None;
    }
    Some(0)
}

/// The text that closes a reasoning block the budget cut short, as the template writes a finished one
/// (`…\n</think>\n\n`), so the model goes on to answer.
pub fn closing(style: &ReasoningStyle, reasoning_so_far: &str) -> String {
    let nl = if reasoning_so_far.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    format!("{nl}{}\n\n", style.close)
}

#[cfg(test)]
mod tests {
    use super::*;

    const R1: &str = include_str!(
        "../../tests/data/chat-templates/deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"
    );
    const QWEN3: &str = include_str!("../../tests/data/chat-templates/Qwen-Qwen3-0.6B.jinja");
    const QWQ: &str = include_str!("../../tests/data/chat-templates/Qwen-QwQ-32B.jinja");

    fn style(src: &str, vocab: bool) -> Option<ReasoningStyle> {
        let t = ChatTemplate::new("t", src, Some("<s>"), Some("</s>")).unwrap();
        detect(Some(&t), &|s| vocab && (s == "<think>" || s == "</think>"))
    }

    #[test]
    fn r1_distills_and_qwq_open_the_block_in_the_prompt() {
        for src in [R1, QWQ] {
            let s = style(src, true).expect("a reasoning model");
            assert!(s.forced_open && !s.switchable && s.default_on, "{s:?}");
            assert_eq!((s.open.as_str(), s.close.as_str()), ("<think>", "</think>"));
        }
    }

    #[test]
    fn qwen3_is_a_hybrid_thinking_by_default() {
        let s = style(QWEN3, true).unwrap();
        assert!(s.switchable && s.default_on && !s.forced_open, "{s:?}");
        assert!(s.evidence.iter().any(|e| e.contains("enable_thinking")));
    }

    #[test]
    fn models_without_think_tags_do_not_reason() {
        let plain = "{% for m in messages %}{{ m.content }}{% endfor %}";
        assert_eq!(style(plain, false), None);
        assert!(detect(None, &|_| false).is_none());
        // The vocabulary alone is enough (a template-less GGUF of a reasoning model).
        let s = detect(None, &|s| s == "<think>" || s == "</think>").unwrap();
        assert!(!s.forced_open && !s.switchable);
    }

    fn think(forced: bool) -> ReasoningStyle {
        ReasoningStyle {
            forced_open: forced,
            switchable: false,
            ..ReasoningStyle::remote()
        }
    }

    #[test]
    fn output_splits_at_the_closing_tag() {
        let s = split(
            &think(false),
            "<think>\nThe user asks.\n</think>\n\nTanks fired.",
        );
        assert_eq!(s.reasoning.as_deref(), Some("The user asks."));
        assert_eq!(s.answer, "Tanks fired.");
        assert!(s.closed);
        // Forced open: the text starts inside the block.
        let s = split(&think(true), "Let me think.\n</think>\n\nAnswer.");
        assert_eq!(
            (s.reasoning.as_deref(), s.answer.as_str()),
            (Some("Let me think."), "Answer.")
        );
        // A closing tag without an opening one: a server whose template opened the block.
        let s = split(&think(false), "reasoning</think>answer");
        assert_eq!(
            (s.reasoning.as_deref(), s.answer.as_str()),
            (Some("reasoning"), "answer")
        );
    }

    #[test]
    fn an_empty_block_is_empty_reasoning_and_no_block_is_none() {
        let s = split(
            &think(false),
            "<think>\n\n</think>\n\nI cannot discuss that.",
        );
        assert_eq!(s.reasoning.as_deref(), Some(""));
        assert_eq!(s.answer, "I cannot discuss that.");
        let s = split(&think(false), "Just an answer.");
        assert_eq!((s.reasoning, s.answer.as_str()), (None, "Just an answer."));
    }

    #[test]
    fn an_unclosed_block_is_all_reasoning() {
        let s = split(&think(true), "Step one. Step two");
        assert_eq!(
            (s.reasoning.as_deref(), s.answer.as_str(), s.closed),
            (Some("Step one. Step two"), "", false)
        );
    }

    #[test]
    fn the_answer_start_is_known_once_the_tag_is_decided() {
        let st = think(false);
        assert_eq!(answer_started(&st, ""), None);
        assert_eq!(answer_started(&st, "<th"), None);
        assert_eq!(answer_started(&st, "<think>\nhm"), None);
        assert_eq!(answer_started(&st, "<think>a</think>\n"), Some(16));
        assert_eq!(answer_started(&st, "Hello"), Some(0));
        assert_eq!(answer_started(&think(true), "Hello"), None);
    }

    #[test]
    fn the_budget_closes_the_block_as_the_template_writes_one() {
        let st = think(true);
        assert_eq!(closing(&st, "so far"), "\n</think>\n\n");
        assert_eq!(closing(&st, "so far\n"), "</think>\n\n");
    }
}
