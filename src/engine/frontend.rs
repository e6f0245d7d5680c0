//! Everything about a model except its weights: how a prompt is rendered with the model's own chat template
//! and tokenized, where the shared chat head ends, and which tokens end a turn. One `Frontend` is shared
//! (behind an `Arc`) by a local generator and every handle of its batch server, so a prompt is rendered the
//! same way whichever path answers it.

use super::chat::{self, ChatTemplate, Message};
use super::tokenizer::ModelTokenizer;
use super::{EngineError, EngineInfo, Prompt, RenderedPrompt};

/// Everything about a model except its weights: how prompts are rendered and tokenized, when a turn
/// ends, what the engine is. Shared with the batch server's handles.
pub(super) struct Frontend {
    pub(super) tokenizer: ModelTokenizer,
    template: Option<ChatTemplate>,
    /// Token ids of the chat prompt head shared by every user message (system prompt + template head).
    pub(super) head_ids: Vec<u32>,
    pub(super) stop_ids: Vec<u32>,
    pub(super) info: EngineInfo,
}

impl Frontend {
    /// A front end for `tokenizer` and `template`, with the chat head every prompt shares computed once.
    pub(super) fn new(
        tokenizer: ModelTokenizer,
        template: Option<ChatTemplate>,
        stop_ids: Vec<u32>,
        info: EngineInfo,
    ) -> Result<Frontend, EngineError> {
        let mut front = Frontend {
            tokenizer,
            template,
            head_ids: Vec::new(),
            stop_ids,
            info,
        };
        front.head_ids = front.chat_head(None)?;
        let tok = &front.tokenizer;
        front.info.reasoning =
            super::reasoning::detect(front.template.as_ref(), &|t| tok.token_id(t).is_some());
        Ok(front)
    }

    /// Makes the cached head the one of prompts with this system message (a judge asks every question
    /// under the same long system message: computed once, then reused).
    pub(super) fn share_system_head(&mut self, system: &str) -> Result<(), EngineError> {
        self.head_ids = self.chat_head(Some(system))?;
        Ok(())
    }

    /// A prompt the model can take: not empty, and shorter than its context.
    pub(super) fn check_prompt(&self, ids: &[u32]) -> Result<(), EngineError> {
        if ids.is_empty() {
            return Err(EngineError::Backend("empty prompt".into()));
        }
        if ids.len() >= self.info.context_length {
            return Err(EngineError::ContextOverflow {
                prompt: ids.len(),
                context: self.info.context_length,
            });
        }
        Ok(())
    }

    /// True when `ids` start with the shared chat head and go on past it: the head's cache serves them.
    pub(super) fn extends_head(&self, ids: &[u32]) -> bool {
        let h = &self.head_ids;
        h.len() > 1 && ids.len() > h.len() && ids.starts_with(h)
    }

    /// The ids of a continuation after a rendered prompt. Prompt and continuation are tokenized
    /// together, so a merge across the boundary is what the model would really see; when the prompt's
    /// ids are then not a prefix, the continuation is encoded on its own.
    pub(super) fn continuation_ids(
        &self,
        rendered: &RenderedPrompt,
        cont: &str,
    ) -> Result<Vec<u32>, EngineError> {
        let whole = self.tokenizer.encode(
            &(rendered.text.clone() + cont),
            rendered.format != "template",
        )?;
        Ok(if whole.starts_with(&rendered.ids) {
            whole[rendered.ids.len()..].to_vec()
        } else {
            self.tokenizer.encode(cont, false)?
        })
    }

    /// The token ids every chat prompt with this system message starts with.
    fn chat_head(&self, system: Option<&str>) -> Result<Vec<u32>, EngineError> {
        let a = self
            .render(&Prompt::Chat {
                system: system.map(str::to_owned),
                user: "Alpha".into(),
                thinking: None,
            })?
            .ids;
        let b = self
            .render(&Prompt::Chat {
                system: system.map(str::to_owned),
                user: "Zulu".into(),
                thinking: None,
            })?
            .ids;
        Ok(a.iter()
            .zip(&b)
            .take_while(|(x, y)| x == y)
            .map(|(x, _)| *x)
            .collect())
    }

    pub(super) fn render(&self, prompt: &Prompt) -> Result<RenderedPrompt, EngineError> {
        let (text, format) = match prompt {
            Prompt::Raw { text } => (text.clone(), "raw"),
            Prompt::Chat {
                system,
                user,
                thinking,
            } => {
                let mut messages = Vec::new();
                if let Some(s) = system {
                    messages.push(Message {
                        role: "system".into(),
                        content: s.clone(),
                    });
                }
                messages.push(Message {
                    role: "user".into(),
                    content: user.clone(),
                });
                match &self.template {
                    Some(t) => {
                        let extra = super::reasoning::thinking_context(*thinking);
                        (t.render(&messages, true, extra.as_ref())?, "template")
                    }
                    None => (chat::fallback_render(&messages, true), "fallback"),
                }
            }
        };
        // A rendered template already carries its BOS text when the model wants one (and so does raw text
        // that continues a rendered prompt, as a reasoning block closed by its budget does); other raw
        // text and the fallback get the model's special tokens from the tokenizer.
        let bos = self.tokenizer.bos_token();
        let starts_with_bos = bos.as_deref().is_some_and(|b| text.starts_with(b));
        let add_special = match format {
            "template" => self.tokenizer.add_bos() && !starts_with_bos,
            "raw" => !starts_with_bos,
            _ => true,
        };
        let ids = self.tokenizer.encode(&text, add_special)?;
        Ok(RenderedPrompt {
            text,
            ids,
            format: format.into(),
        })
    }
}
