//! Chat templates rendered by modelvet against the reference table `tests/data/chat-refs.json`, which
//! `scripts/gen-chat-refs.py` wrote with Python Jinja2 set up as transformers' `apply_chat_template`.
//! Every case must match byte for byte; all mismatches are reported at once with the first differing
//! position. The table's copies of the SmolLM2 and Qwen2.5-Coder templates are also checked against the
//! real GGUF files, so the table cannot drift from the models it claims to cover.

use crate::support::{real_model, QWEN, SMOLLM2};
use modelvet::engine::chat::{ChatError, ChatTemplate, Message, Prompt};
use modelvet::provenance::gguf::GgufFile;

const REFS: &str = include_str!("data/chat-refs.json");

/// The day `strftime_now` is pinned to in the table (scripts/gen-chat-refs.py: FIXED_NOW).
const FIXED_DATE: (i32, u32, u32) = (2026, 11, 23);

#[derive(serde::Deserialize)]
struct Case {
    name: String,
    template_source: String,
    template: String,
    bos_token: Option<String>,
    eos_token: Option<String>,
    messages: serde_json::Value,
    add_generation_prompt: bool,
    extra: Option<serde_json::Value>,
    expected: Option<String>,
    #[serde(default)]
    expected_error: bool,
    error_kind: Option<String>,
    error_message: Option<String>,
}

fn cases() -> Vec<Case> {
    serde_json::from_str(REFS).expect("tests/data/chat-refs.json is valid")
}

/// Messages that are plain `{role, content}` strings go through `render`, the others through
/// `render_json`, so both entry points are covered.
fn plain_messages(v: &serde_json::Value) -> Option<Vec<Message>> {
    v.as_array()?
        .iter()
        .map(|m| {
            let o = m.as_object()?;
            if o.len() != 2 {
                return None;
            }
            Some(Message {
                role: o.get("role")?.as_str()?.to_owned(),
                content: o.get("content")?.as_str()?.to_owned(),
            })
        })
        .collect()
}

fn render(case: &Case) -> Result<String, ChatError> {
    let (y, m, d) = FIXED_DATE;
    let t = ChatTemplate::new(
        &case.template_source,
        &case.template,
        case.bos_token.as_deref(),
        case.eos_token.as_deref(),
    )?
    .with_date(y, m, d)?;
    match plain_messages(&case.messages) {
        Some(msgs) => t.render(&msgs, case.add_generation_prompt, case.extra.as_ref()),
        None => t.render_json(
            &case.messages,
            case.add_generation_prompt,
            case.extra.as_ref(),
        ),
    }
}

/// Where two strings first differ, with some context from each.
fn short_diff(want: &str, got: &str) -> String {
    let at = want
        .char_indices()
        .zip(got.chars())
        .find(|((_, a), b)| a != b)
        .map(|((i, _), _)| i)
        .unwrap_or_else(|| want.len().min(got.len()));
    let context = |s: &str| -> String {
        let mut start = at.saturating_sub(40);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (at + 40).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        format!("{:?}", &s[start..end])
    };
    format!(
        "first difference at byte {at} (expected {} bytes, got {})\n      expected: …{}…\n      got:      …{}…",
        want.len(),
        got.len(),
        context(want),
        context(got)
    )
}

#[test]
fn every_reference_rendering_matches_transformers() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let got = render(case);
        let problem = match (&case.expected, case.expected_error, got) {
            (Some(want), false, Ok(got)) if *want == got => None,
            (Some(want), false, Ok(got)) => Some(short_diff(want, &got)),
            (Some(_), false, Err(e)) => Some(format!("failed: {e}")),
            (_, true, Ok(got)) => Some(format!(
                "expected an error ({:?}), rendered {} bytes",
                case.error_message,
                got.len()
            )),
            (_, true, Err(e)) => match (case.error_kind.as_deref(), &e) {
                (Some("raised"), ChatError::Raised { message, template })
                    if Some(message) == case.error_message.as_ref()
                        && *template == case.template_source =>
                {
                    None
                }
                (Some("raised"), _) => Some(format!(
                    "expected raise_exception({:?}), got: {e}",
                    case.error_message
                )),
                (_, ChatError::Render { .. }) => None,
                _ => Some(format!("expected a render error, got: {e}")),
            },
            (None, false, _) => Some("table entry has neither expected nor expected_error".into()),
        };
        if let Some(p) = problem {
            failures.push(format!("  {}: {p}", case.name));
        }
    }
    let matched = cases.len() - failures.len();
    eprintln!(
        "chat-refs: {matched}/{} cases match the Python Jinja2 reference",
        cases.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} chat-template cases differ from the reference:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_template_family_and_error_cases() {
    let cases = cases();
    let names: std::collections::BTreeSet<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), cases.len(), "case names are unique");
    for family in [
        "smollm2",
        "qwen2.5-coder",
        "llama3",
        "llama3.1",
        "gemma3-it",
        "mistral",
        "phi3",
        "deepseek-r1",
        "qwen3",
    ] {
        for case in [
            "user_only",
            "system_user",
            "multi_turn",
            "chinese",
            "tricky_content",
        ] {
            let name = format!("{family}/{case}");
            assert!(names.contains(name.as_str()), "missing {name}");
        }
    }
    assert!(names.contains("qwen2.5-coder/tools"));
    let raised = cases
        .iter()
        .filter(|c| c.error_kind.as_deref() == Some("raised"))
        .count();
    assert!(raised >= 3, "only {raised} raise_exception cases");
    assert!(cases
        .iter()
        .any(|c| c.name == "gemma3-it/assistant_first_raises" && c.expected_error));
}

#[test]
fn real_gguf_templates_equal_the_table() {
    let cases = cases();
    for (rel, family) in [(SMOLLM2, "smollm2/"), (QWEN, "qwen2.5-coder/")] {
        let Some(path) = real_model(rel) else {
            continue;
        };
        let gguf = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let text = gguf
            .get_str("tokenizer.chat_template")
            .unwrap_or_else(|| panic!("{rel} has no tokenizer.chat_template"));
        let Prompt::Template(t) = Prompt::from_gguf(&gguf, rel).expect("compiles") else {
            panic!("{rel}: expected a chat template");
        };
        let ours: Vec<&Case> = cases
            .iter()
            .filter(|c| c.name.starts_with(family))
            .collect();
        assert!(!ours.is_empty(), "no {family} cases in the table");
        for case in ours {
            assert_eq!(
                case.template, text,
                "{}: the table's template differs from {rel}",
                case.name
            );
            assert_eq!(case.template_source, t.source(), "{}", case.name);
            assert_eq!(case.bos_token.as_deref(), t.bos_token(), "{}", case.name);
            assert_eq!(case.eos_token.as_deref(), t.eos_token(), "{}", case.name);
        }
    }
}

#[test]
fn gemma3_base_has_no_template_and_gets_the_fallback() {
    let Some(dir) = real_model(crate::support::GEMMA_DIR) else {
        return;
    };
    let file = dir.join("gemma-3-270m-q4_k_m.gguf");
    let gguf = GgufFile::open(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let prompt = Prompt::from_gguf(&gguf, "gemma-3-270m-q4_k_m.gguf").expect("no template is fine");
    assert!(matches!(prompt, Prompt::Fallback));
    assert_eq!(
        prompt.chat(Some("Be brief."), "What is 2 + 2?").unwrap(),
        "Be brief.\n\nQuestion: What is 2 + 2?\nAnswer:"
    );
}
