//! `modelvet generate` and `modelvet template`: run a model locally, and show exactly what it is fed.

use super::{emit, Format, ModelArgs, Status};
use crate::engine::{Flow, GenParams, Prompt, StopReason};
use std::fmt::Write as _;
use std::io::Write as _;

#[derive(clap::Args, Debug)]
pub struct PromptArgs {
    /// The user message (or, with --raw, the whole text).
    #[arg(long)]
    pub prompt: String,
    /// A system message, placed as the model's chat template places it.
    #[arg(long)]
    pub system: Option<String>,
    /// Send the prompt as is, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// How quantized weights are computed: `auto` (f32 when the f32 weights fit in 2 GiB), `f32`, `quantized`.
    #[arg(long, value_enum, default_value_t)]
    pub precision: crate::engine::Precision,
}

impl PromptArgs {
    fn prompt(&self) -> anyhow::Result<Prompt> {
        if self.raw {
            if self.system.is_some() {
                anyhow::bail!(
                    "`--system` has no meaning with `--raw` (there is no template to place it)"
                );
            }
            return Ok(Prompt::Raw {
                text: self.prompt.clone(),
            });
        }
        Ok(Prompt::Chat {
            system: self.system.clone(),
            user: self.prompt.clone(),
            thinking: None,
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy (deterministic).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches P.
    #[arg(long)]
    pub top_p: Option<f64>,
    /// Seed for sampling (the same seed gives the same text).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

#[derive(clap::Args, Debug)]
pub struct TemplateArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub prompt: PromptArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run_generate(args: GenerateArgs) -> anyhow::Result<Status> {
    if !(args.temperature >= 0.0 && args.temperature.is_finite()) {
        anyhow::bail!(
            "`--temperature` must be 0 or more, got {}",
            args.temperature
        );
    }
    if let Some(p) = args.top_p {
        if !(p > 0.0 && p <= 1.0) {
            anyhow::bail!("`--top-p` must be in (0, 1], got {p}");
        }
    }
    let prompt = args.prompt.prompt()?;
    let model = args.model.resolve()?;
    let mut engine = crate::engine::load_with(
        &model,
        &crate::engine::EngineOptions {
            precision: args.prompt.precision,
            ..Default::default()
        },
    )?;
    let params = GenParams {
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        top_p: args.top_p,
        seed: args.seed,
    };
    let mut stdout = std::io::stdout().lock();
    let mut broken = false;
    let g = engine.generate(&prompt, &params, &mut |piece| {
        if stdout
            .write_all(piece.as_bytes())
            .and_then(|_| stdout.flush())
            .is_err()
        {
            broken = true;
            return Flow::Stop;
        }
        Flow::Continue
    })?;
    if !broken {
        let _ = writeln!(stdout).and_then(|_| stdout.flush());
    }
    let stop = match &g.stop {
        StopReason::EndOfTurn { token } => format!("end of turn `{token}`"),
        StopReason::MaxTokens => "max tokens".into(),
        StopReason::Callback => "stopped".into(),
        StopReason::Context => "context full".into(),
    };
    let info = engine.info();
    eprintln!(
        "{} prompt tokens ({} cached) in {:.4}s, {} tokens in {:.4}s ({:.1} tok/s), stop: {stop} [{} {} {}, {} threads]",
        g.prompt_tokens,
        g.cached_tokens,
        g.prompt_seconds,
        g.ids.len(),
        g.decode_seconds,
        g.ids.len() as f64 / g.decode_seconds.max(1e-9),
        info.backend,
        info.architecture,
        info.precision,
        info.threads
    );
    Ok(Status::Success)
}

pub fn run_template(args: TemplateArgs) -> anyhow::Result<Status> {
    let prompt = args.prompt.prompt()?;
    let model = args.model.resolve()?;
    let engine = crate::engine::load_with(
        &model,
        &crate::engine::EngineOptions {
            precision: args.prompt.precision,
            ..Default::default()
        },
    )?;
    let r = engine.render(&prompt)?;
    let info = engine.info();
    let text = match args.format {
        Format::Json => {
            let v = serde_json::json!({
                "format": r.format,
                "chat_template": info.chat_template,
                "tokenizer": info.tokenizer,
                "text": r.text,
                "ids": r.ids,
            });
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Human => {
            let mut s = String::new();
            let how = match r.format.as_str() {
                "template" => format!("the model's chat template ({})", info.chat_template),
                "fallback" => "the plain-text fallback (the model has no chat template)".into(),
                _ => "raw text, no template".into(),
            };
            let _ = writeln!(s, "rendered with {how}; tokenizer {}", info.tokenizer);
            let _ = writeln!(s, "--- text ({} bytes) ---", r.text.len());
            let _ = writeln!(s, "{}", r.text);
            let _ = writeln!(s, "--- {} token ids ---", r.ids.len());
            let _ = writeln!(
                s,
                "{}",
                r.ids
                    .iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            s
        }
    };
    emit(None, &text)?;
    Ok(Status::Success)
}
