//! A model served by an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp's server, Ollama) as a
//! [`Generator`], so a model too large for this machine is audited by the same runner, detectors and
//! reports as a local one.
//!
//! Parity with the local engine: chat probes go to `/v1/chat/completions`, so the server applies its own
//! chat template (the record's prompt is the messages as JSON, not the rendered text); decoding is greedy
//! (temperature 0) with the probe's seed. Answers are streamed (SSE) so the runner's early stop works: the
//! connection is dropped once the verdict is settled. Choice probes are scored from the prompt-token
//! log-probabilities `/v1/completions` returns with `echo` and `logprobs`; before trusting them,
//! [`RemoteGenerator::connect`] checks they are aligned (llama-cpp-python ≤ 0.3 reads each echoed token's
//! log-probability from the position after it when the model adds no BOS token). A server that does not
//! expose them, or exposes them shifted, makes every choice probe an explicit "not scorable" outcome.
//!
//! Robustness: `concurrency` requests are kept in flight (the server batches them); 429, 5xx, timeouts and
//! refused connections are retried with exponential backoff; once retries are spent the error is
//! [`EngineError::Unavailable`], which stops the run (its journal keeps every finished probe for
//! `--resume`) instead of recording an error for every remaining probe.
//!
//! The server returns no token ids: a [`Generation`]'s `ids` holds one `0` per streamed chunk (one token
//! per chunk on llama.cpp, vLLM and SGLang) so token counts stay comparable.

use super::{
    EngineError, EngineInfo, Flow, GenParams, Generation, Generator, Prompt, RenderedPrompt,
    Scored, StopReason,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The endpoint settings as written in an `--endpoint-config` YAML file (every key optional; command-line
/// flags win).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointFile {
    pub endpoint: Option<String>,
    pub served_model: Option<String>,
    pub api_key_env: Option<String>,
    pub weights: Option<PathBuf>,
    pub concurrency: Option<usize>,
    /// Seconds per request.
    pub timeout: Option<f64>,
    pub retries: Option<u32>,
}

impl EndpointFile {
    pub fn read(path: &Path) -> Result<EndpointFile, RemoteError> {
        let bad = |message: String| RemoteError::Config {
            path: path.display().to_string(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        serde_yaml::from_str(&text).map_err(|e| bad(e.to_string()))
    }
}

/// A validated endpoint.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// The API base, ending in `/v1`.
    pub base: String,
    pub served_model: String,
    /// The name of the environment variable holding the API key (the key itself is never recorded).
    pub api_key_env: Option<String>,
    pub concurrency: usize,
    pub timeout: Duration,
    pub retries: u32,
}

pub const DEFAULT_CONCURRENCY: usize = 4;
pub const DEFAULT_TIMEOUT_SECS: f64 = 600.0;
pub const DEFAULT_RETRIES: u32 = 3;

impl Endpoint {
    /// The API base for what the user typed: `http://host:8000`, `…/v1` and `…/v1/` are the same.
    pub fn base_url(url: &str) -> String {
        let u = url.trim().trim_end_matches('/');
        if u.ends_with("/v1") {
            u.to_owned()
        } else {
            format!("{u}/v1")
        }
    }

    /// How the record names the model: `endpoint:<base>#<served model>`.
    pub fn reference(&self) -> String {
        format!("endpoint:{}#{}", self.base, self.served_model)
    }
}

/// What the record says about the server, fixed at connection time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RemoteInfo {
    /// The API base, ending in `/v1`.
    pub endpoint: String,
    pub served_model: String,
    /// Every name `/v1/models` listed.
    pub served_models: Vec<String>,
    /// How chat probes are sent; the server applies its own chat template, so the recorded prompt of a
    /// chat probe is the messages as JSON.
    pub chat: String,
    /// Parameters sent with every chat request.
    pub parameters_sent: Vec<String>,
    /// Whether the server's answer echoed the seed it was sent (few do; absent does not mean ignored).
    pub seed_echoed: bool,
    /// The server's `system_fingerprint`, when it sends one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_fingerprint: Option<String>,
    /// `echo-logprobs` when choice probes are scored, else `unavailable: <why>`.
    pub scoring: String,
    /// Answers are streamed and the connection dropped once the verdict is settled.
    pub streaming: bool,
    pub concurrency: usize,
    pub timeout_seconds: f64,
    pub retries: u32,
}

/// Why a server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    #[error("`{path}`: {message}")]
    Config { path: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("the environment variable `{0}` (named by --api-key-env) is not set")]
    ApiKeyMissing(String),
    #[error("cannot reach `{url}`: {message}\nhint: is the server running and listening on that address?")]
    Unreachable { url: String, message: String },
    #[error("the server at `{url}` does not serve a model named `{name}`; it serves: {}\nhint: pass one of these to --served-model", served.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "))]
    UnknownModel {
        url: String,
        name: String,
        served: Vec<String>,
    },
    #[error("`{url}` answered {status}: {body}")]
    Http {
        url: String,
        status: u16,
        body: String,
    },
    #[error(transparent)]
    Engine(#[from] EngineError),
}

struct Shared {
    agent: ureq::Agent,
    endpoint: Endpoint,
    api_key: Option<String>,
    info: EngineInfo,
    /// Why choice probes cannot be scored, when they cannot.
    unscorable: Option<String>,
}

/// A served model. Cloning is cheap: clones share the connection pool (that is how parallel workers get
/// their handle).
#[derive(Clone)]
pub struct RemoteGenerator {
    inner: Arc<Shared>,
}

/// A response body as text, capped (an error page can be large).
fn snippet(s: &str) -> String {
    let s = s.trim();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

impl RemoteGenerator {
    /// Connects: lists `/v1/models` (a wrong name is an error that lists the served ones), asks one tiny
    /// chat turn (to fail early and note what the server echoes) and checks whether prompt
    /// log-probabilities are available and aligned.
    pub fn connect(endpoint: Endpoint) -> Result<RemoteGenerator, RemoteError> {
        if endpoint.concurrency == 0 {
            return Err(RemoteError::Invalid(
                "the concurrency must be at least 1".into(),
            ));
        }
        if endpoint.timeout.is_zero() {
            return Err(RemoteError::Invalid("the timeout must be positive".into()));
        }
        let api_key = match &endpoint.api_key_env {
            None => None,
            Some(var) => Some(
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| RemoteError::ApiKeyMissing(var.clone()))?,
            ),
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(endpoint.timeout))
            .max_idle_connections_per_host(endpoint.concurrency.max(2))
            .build()
            .into();
        let mut shared = Shared {
            agent,
            api_key,
            info: EngineInfo {
                backend: "remote-openai".into(),
                architecture: "unknown (served)".into(),
                weights: vec![],
                tokenizer: "the server's".into(),
                chat_template: "the server's own (prompts recorded as the chat messages in JSON)"
                    .into(),
                context_length: 0,
                stop_ids: vec![],
                prefix_cache: false,
                precision: "server".into(),
                threads: 0,
                batch: 1,
                reasoning: None,
                remote: None,
            },
            unscorable: None,
            endpoint,
        };

        // 1. The model list.
        let url = format!("{}/models", shared.endpoint.base);
        let models = match shared.request("GET", "/models", None) {
            Ok(v) => v,
            Err(EngineError::Unavailable(message)) => {
                return Err(RemoteError::Unreachable { url, message })
            }
            Err(e) => return Err(e.into()),
        };
        let served: Vec<String> = models["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !served.contains(&shared.endpoint.served_model) {
            return Err(RemoteError::UnknownModel {
                url,
                name: shared.endpoint.served_model.clone(),
                served,
            });
        }

        // 2. One chat turn: the chat endpoint works, and what the answer echoes.
        let seed = 0u64;
        let chat = shared.request(
            "POST",
            "/chat/completions",
            Some(&json!({
                "model": shared.endpoint.served_model,
                "messages": [{"role": "user", "content": "Say OK."}],
                "max_tokens": 1,
                "temperature": 0.0,
                "seed": seed,
            })),
        )?;
        let system_fingerprint = chat["system_fingerprint"].as_str().map(str::to_owned);
        let seed_echoed = chat.get("seed").is_some();

        // 3. Prompt log-probabilities: available, and aligned?
        let unscorable = shared.echo_check().err();
        shared.unscorable = unscorable.clone();
        let e = &shared.endpoint;
        shared.info.remote = Some(RemoteInfo {
            endpoint: e.base.clone(),
            served_model: e.served_model.clone(),
            served_models: served,
            chat: "/v1/chat/completions (the server's chat template)".into(),
            parameters_sent: [
                "temperature",
                "top_p (with a temperature)",
                "seed",
                "max_tokens",
                "chat_template_kwargs.enable_thinking (with --thinking on|off|both)",
            ]
            .map(str::to_owned)
            .to_vec(),
            seed_echoed,
            system_fingerprint,
            scoring: match &unscorable {
                None => "echo-logprobs".into(),
                Some(why) => format!("unavailable: {why}"),
            },
            streaming: true,
            concurrency: e.concurrency,
            timeout_seconds: e.timeout.as_secs_f64(),
            retries: e.retries,
        });
        Ok(RemoteGenerator {
            inner: Arc::new(shared),
        })
    }
}

/// What a finished (or failed) attempt means for the retry loop.
enum Attempt<T> {
    Done(T),
    Retry(String),
    Fail(EngineError),
}

impl Shared {
    /// Sends one request, retrying 429/5xx/timeouts/refused connections with exponential backoff
    /// (0.5 s, 1 s, 2 s, … capped at 8 s). Returns the open response for the caller to read.
    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<ureq::http::Response<ureq::Body>, EngineError> {
        let url = format!("{}{path}", self.endpoint.base);
        let mut last = String::new();
        for attempt in 0..=self.endpoint.retries {
            if attempt > 0 {
                let wait = 0.5 * 2f64.powi(attempt as i32 - 1);
                std::thread::sleep(Duration::from_secs_f64(wait.min(8.0)));
            }
            let result = match (method, body) {
                ("GET", _) => {
                    let mut r = self.agent.get(&url);
                    if let Some(k) = &self.api_key {
                        r = r.header("Authorization", &format!("Bearer {k}"));
                    }
                    r.call()
                }
                (_, b) => {
                    let mut r = self.agent.post(&url);
                    if let Some(k) = &self.api_key {
                        r = r.header("Authorization", &format!("Bearer {k}"));
                    }
                    r.send_json(b.unwrap_or(&Value::Null))
                }
            };
            let outcome = match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if status < 300 {
                        Attempt::Done(resp)
                    } else {
                        let text = resp
                            .into_body()
                            .read_to_string()
                            .map(|t| snippet(&t))
                            .unwrap_or_default();
                        let msg = format!("`{url}` answered {status}: {text}");
                        if status == 429 || status >= 500 {
                            Attempt::Retry(msg)
                        } else {
                            Attempt::Fail(EngineError::Backend(msg))
                        }
                    }
                }
                Err(ureq::Error::Timeout(_)) => Attempt::Retry(format!(
                    "`{url}` did not answer within {}s",
                    self.endpoint.timeout.as_secs_f64()
                )),
                Err(
                    e @ (ureq::Error::Io(_)
                    | ureq::Error::ConnectionFailed
                    | ureq::Error::HostNotFound),
                ) => Attempt::Retry(format!("`{url}`: {e}")),
                Err(e) => Attempt::Fail(EngineError::Backend(format!("`{url}`: {e}"))),
            };
            match outcome {
                Attempt::Done(r) => return Ok(r),
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry(m) => last = m,
            }
        }
        Err(EngineError::Unavailable(format!(
            "{last} (after {} attempts)",
            self.endpoint.retries + 1
        )))
    }

    /// A request whose whole answer is JSON.
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, EngineError> {
        let resp = self.send(method, path, body)?;
        let text = resp
            .into_body()
            .with_config()
            .limit(256 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| {
                EngineError::Unavailable(format!("reading the answer to `{path}`: {e}"))
            })?;
        serde_json::from_str(&text).map_err(|e| {
            EngineError::Backend(format!(
                "`{path}` answered something that is not JSON ({e}): {}",
                snippet(&text)
            ))
        })
    }

    /// `/v1/completions` of `text` with `echo` and `logprobs`: the prompt tokens, their char offsets
    /// and log-probabilities (`None` for the first), without the generated tokens.
    fn echo(&self, text: &str) -> Result<Echoed, String> {
        let v = self
            .request(
                "POST",
                "/completions",
                Some(&json!({
                    "model": self.endpoint.served_model,
                    "prompt": text,
                    "max_tokens": 1,
                    "temperature": 0.0,
                    "echo": true,
                    "logprobs": 1,
                })),
            )
            .map_err(|e| format!("the server gives no prompt log-probabilities ({e})"))?;
        let lp = &v["choices"][0]["logprobs"];
        let tokens: Vec<String> = lp["tokens"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|t| t.as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default();
        let offsets: Vec<usize> = lp["text_offset"]
            .as_array()
            .map(|a| a.iter().map(|o| o.as_u64().unwrap_or(0) as usize).collect())
            .unwrap_or_default();
        let logprobs: Vec<Option<f64>> = lp["token_logprobs"]
            .as_array()
            .map(|a| a.iter().map(Value::as_f64).collect())
            .unwrap_or_default();
        if tokens.is_empty() || offsets.len() != tokens.len() || logprobs.len() != tokens.len() {
            return Err(
                "the server's `/v1/completions` answer has no echoed prompt log-probabilities"
                    .into(),
            );
        }
        // Prompt tokens start before the prompt's end; some servers list the generated token after them.
        let chars = text.chars().count();
        let n = offsets.iter().take_while(|o| **o < chars).count();
        let generated = v["choices"][0]["text"]
            .as_str()
            .map(|t| t.chars().skip(chars).collect::<String>());
        let top: Vec<Option<String>> = lp["top_logprobs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|m| {
                        m.as_object().and_then(|o| {
                            o.iter()
                                .filter_map(|(k, v)| Some((k, v.as_f64()?)))
                                .max_by(|a, b| a.1.total_cmp(&b.1))
                                .map(|(k, _)| k.clone())
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Echoed {
            generated,
            top,
            tokens,
            offsets,
            logprobs,
            n,
        })
    }

    /// Whether echoed log-probabilities can be trusted: greedy after "one … six" is " seven"; an aligned
    /// server's distribution at the last prompt token predicts that token (" six"), a shifted one's
    /// predicts the next (" seven").
    fn echo_check(&self) -> Result<(), String> {
        let e = self.echo("one two three four five six")?;
        let last =
            e.n.checked_sub(1)
                .ok_or("the server echoed no prompt tokens")?;
        let top = e.top.get(last).cloned().flatten();
        if top.is_some() && top == e.generated && top.as_ref() != Some(&e.tokens[last]) {
            return Err("the server's echoed prompt log-probabilities are shifted by one token \
                 (llama-cpp-python reads each token's log-probability from the position after it when \
                 the model adds no BOS token), so they are not the model's"
                .into());
        }
        Ok(())
    }
}

struct Echoed {
    tokens: Vec<String>,
    offsets: Vec<usize>,
    logprobs: Vec<Option<f64>>,
    /// The argmax of each position's top log-probabilities.
    top: Vec<Option<String>>,
    /// The generated text (one token).
    generated: Option<String>,
    /// How many of `tokens` are the prompt's.
    n: usize,
}

fn messages(prompt: &Prompt) -> Value {
    match prompt {
        Prompt::Chat { system, user, .. } => {
            let mut m = Vec::new();
            if let Some(s) = system {
                m.push(json!({"role": "system", "content": s}));
            }
            m.push(json!({"role": "user", "content": user}));
            Value::Array(m)
        }
        Prompt::Raw { text } => json!([{"role": "user", "content": text}]),
    }
}

impl Generator for RemoteGenerator {
    fn info(&self) -> &EngineInfo {
        &self.inner.info
    }

    /// The server renders chat prompts itself: the record gets the messages as JSON and no token ids.
    fn render(&self, prompt: &Prompt) -> Result<RenderedPrompt, EngineError> {
        Ok(match prompt {
            Prompt::Chat { .. } => RenderedPrompt {
                text: messages(prompt).to_string(),
                ids: vec![],
                format: "server-template".into(),
            },
            Prompt::Raw { text } => RenderedPrompt {
                text: text.clone(),
                ids: vec![],
                format: "raw".into(),
            },
        })
    }

    fn generate(
        &mut self,
        prompt: &Prompt,
        params: &GenParams,
        on_text: &mut dyn FnMut(&str) -> Flow,
    ) -> Result<Generation, EngineError> {
        let s = &self.inner;
        let mut body = json!({
            "model": s.endpoint.served_model,
            "messages": messages(prompt),
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            // 31 bits: llama.cpp keeps seeds in 32 bits and some servers parse them as signed.
            "seed": params.seed & 0x7fff_ffff,
            "stream": true,
        });
        if let (Some(p), true) = (params.top_p, params.temperature > 0.0) {
            body["top_p"] = json!(p);
        }
        // vLLM and SGLang pass these to the chat template (Qwen3's thinking switch).
        if let Prompt::Chat {
            thinking: Some(on), ..
        } = prompt
        {
            body["chat_template_kwargs"] = json!({ "enable_thinking": on });
        }
        let t = Instant::now();
        let resp = s.send("POST", "/chat/completions", Some(&body))?;
        let mut reader = std::io::BufReader::new(resp.into_body().into_reader());
        let mut text = String::new();
        let mut chunks = 0usize;
        let mut stop = None;
        let mut first = None;
        let mut line = String::new();
        let mut done = false;
        let mut in_thought = false;
        loop {
            line.clear();
            // A stream cut midway cannot be retried (its pieces were already handed out): the run stops
            // and `--resume` asks this probe again.
            let n = reader.read_line(&mut line).map_err(|e| {
                EngineError::Unavailable(format!(
                    "the answer stream from `{}` broke: {e}",
                    s.endpoint.base
                ))
            })?;
            if n == 0 {
                break;
            }
            let Some(data) = line.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if data == "[DONE]" {
                done = true;
                break;
            }
            let v: Value = serde_json::from_str(data).map_err(|e| {
                EngineError::Backend(format!(
                    "a streamed chunk is not JSON ({e}): {}",
                    snippet(data)
                ))
            })?;
            if let Some(err) = v.get("error") {
                return Err(EngineError::Backend(format!("the server reported: {err}")));
            }
            let choice = &v["choices"][0];
            let delta = &choice["delta"];
            // A server's reasoning parser (vLLM, SGLang, llama.cpp) sends the thinking apart from the
            // answer, as `reasoning_content` (or `reasoning`): it is put back between think tags, so the
            // text reads as a local model's would and splits the same way.
            let thought = delta["reasoning_content"]
                .as_str()
                .or_else(|| delta["reasoning"].as_str())
                .filter(|p| !p.is_empty());
            let content = delta["content"].as_str().filter(|p| !p.is_empty());
            let mut pieces: Vec<String> = Vec::new();
            if let Some(r) = thought {
                if !in_thought {
                    in_thought = true;
                    pieces.push(format!("<think>\n{r}"));
                } else {
                    pieces.push(r.to_owned());
                }
            }
            if let Some(c) = content {
                if in_thought {
                    in_thought = false;
                    pieces.push(format!("\n</think>\n\n{c}"));
                } else {
                    pieces.push(c.to_owned());
                }
            }
            let mut stopped = false;
            for piece in &pieces {
                first.get_or_insert_with(|| t.elapsed().as_secs_f64());
                chunks += 1;
                text.push_str(piece);
                if on_text(piece) == Flow::Stop {
                    stop = Some(StopReason::Callback);
                    stopped = true;
                    break;
                }
            }
            if stopped {
                break;
            }
            match choice["finish_reason"].as_str() {
                Some("length") => stop = Some(StopReason::MaxTokens),
                Some(other) => {
                    stop = Some(StopReason::EndOfTurn {
                        token: format!("server finish_reason `{other}`"),
                    })
                }
                None => {}
            }
        }
        if stop.is_none() && !done {
            return Err(EngineError::Backend(format!(
                "the answer stream from `{}` ended without a finish reason after {chunks} pieces (did \
                 the server interrupt it for another request? llama-cpp-python does unless started \
                 with `--interrupt_requests False`)",
                s.endpoint.base
            )));
        }
        let prompt_seconds = first.unwrap_or_else(|| t.elapsed().as_secs_f64());
        Ok(Generation {
            text,
            ids: vec![0; chunks],
            prompt_tokens: 0,
            cached_tokens: 0,
            stop: stop.unwrap_or(StopReason::MaxTokens),
            prompt_seconds,
            decode_seconds: t.elapsed().as_secs_f64() - prompt_seconds,
        })
    }

    /// Each continuation is echoed after the prompt; its tokens are those starting at or after the
    /// prompt's end (a token merging across the boundary belongs to the prompt, where the local engine
    /// would re-encode the continuation alone).
    fn score(
        &mut self,
        prompt: &Prompt,
        continuations: &[String],
    ) -> Result<Vec<Scored>, EngineError> {
        let s = &self.inner;
        if let Some(why) = &s.unscorable {
            return Err(EngineError::NotScorable(why.clone()));
        }
        let head = match prompt {
            Prompt::Raw { text } => text.clone(),
            Prompt::Chat { .. } => return Err(EngineError::NotScorable(
                "chat prompts are rendered by the server, so their continuations cannot be echoed"
                    .into(),
            )),
        };
        let start = head.chars().count();
        let mut out = Vec::with_capacity(continuations.len());
        for cont in continuations {
            let e = s.echo(&(head.clone() + cont)).map_err(|why| {
                EngineError::Backend(format!("scoring `{}`: {why}", snippet(cont)))
            })?;
            let mut logprobs = Vec::new();
            for i in 0..e.n {
                if e.offsets[i] >= start {
                    logprobs.push(e.logprobs[i].ok_or_else(|| {
                        EngineError::NotScorable(format!(
                            "the server gave no log-probability for token `{}`",
                            e.tokens[i]
                        ))
                    })?);
                }
            }
            // The server's token ids are not the model's own: placeholders, one per token.
            out.push(Scored::new(cont, vec![0; logprobs.len()], logprobs));
        }
        Ok(out)
    }

    fn max_concurrency(&self) -> usize {
        self.inner.endpoint.concurrency
    }

    fn handle(&self) -> Option<Box<dyn Generator + Send>> {
        Some(Box::new(self.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_api_base_always_ends_in_v1() {
        for u in [
            "http://h:8000",
            "http://h:8000/",
            "http://h:8000/v1",
            "http://h:8000/v1/",
        ] {
            assert_eq!(Endpoint::base_url(u), "http://h:8000/v1", "{u}");
        }
    }

    #[test]
    fn an_endpoint_file_rejects_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("e.yaml");
        std::fs::write(&p, "endpoint: http://h\nserved_modle: x\n").unwrap();
        let e = EndpointFile::read(&p).unwrap_err().to_string();
        assert!(e.contains("served_modle"), "{e}");
    }
}
