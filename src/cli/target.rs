//! What `probe` and `audit` run on: a local model, or a model served by an OpenAI-compatible server
//! (`--endpoint`, or `--endpoint-config FILE` for CI), optionally with the weights it loaded (`--weights`)
//! so provenance can still hash and parse them.

use crate::engine::remote::{
    Endpoint, EndpointFile, RemoteGenerator, DEFAULT_CONCURRENCY, DEFAULT_RETRIES,
    DEFAULT_TIMEOUT_SECS,
};
use crate::model::ResolvedModel;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct TargetArgs {
    /// A .gguf or .safetensors file, a model folder, or a Hugging Face id `org/name[@revision]` in the local
    /// cache. With --endpoint it is optional and means the same as --weights.
    #[arg(value_name = "MODEL", required_unless_present_any = ["endpoint", "endpoint_config"])]
    pub model: Option<String>,
    /// Fetch a Hub id through hf-hub when it is not in the local cache.
    #[arg(long)]
    pub download: bool,
    /// Ask a model served by an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, Ollama) at URL
    /// (`http://host:8000` or `http://host:8000/v1`).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// The model name the server serves (as listed by `/v1/models`).
    #[arg(long, value_name = "NAME")]
    pub served_model: Option<String>,
    /// The environment variable holding the API key (sent as a bearer token, never recorded).
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// The weights the server loaded (file, folder or Hub id): hashed and parsed for provenance. Without
    /// it the record says the weights behind the endpoint were not verified.
    #[arg(long, value_name = "PATH")]
    pub weights: Option<String>,
    /// Requests in flight at once (the server batches them) [default: 4].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Seconds before one request is abandoned and retried [default: 600].
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Retries of a request after 429, 5xx, a timeout or a refused connection [default: 3].
    #[arg(long, value_name = "N")]
    pub retries: Option<u32>,
    /// A YAML file with any of: endpoint, served_model, api_key_env, weights, concurrency, timeout,
    /// retries (flags win).
    #[arg(long, value_name = "FILE")]
    pub endpoint_config: Option<PathBuf>,
}

/// A resolved target: the library's audit subject.
pub use crate::audit::Subject as Target;

impl TargetArgs {
    pub fn resolve(&self) -> anyhow::Result<Target> {
        let resolve = |name: &str| -> anyhow::Result<ResolvedModel> {
            let opts = crate::model::ResolveOptions {
                download: self.download,
                hub_cache: None,
            };
            Ok(crate::model::resolve(name, &opts)?)
        };
        let file = match &self.endpoint_config {
            Some(p) => EndpointFile::read(p)?,
            None => EndpointFile::default(),
        };
        let Some(url) = self.endpoint.clone().or(file.endpoint) else {
            let name = self
                .model
                .as_deref()
                .ok_or_else(|| anyhow::anyhow!("name a MODEL or an --endpoint"))?;
            return Ok(Target::Local(resolve(name)?));
        };
        let served_model = self
            .served_model
            .clone()
            .or(file.served_model)
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--endpoint needs --served-model NAME\nhint: `curl {}/models` lists the names",
                    Endpoint::base_url(&url)
                )
            })?;
        let timeout = self
            .timeout
            .or(file.timeout)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        if !(timeout > 0.0 && timeout.is_finite()) {
            anyhow::bail!("the timeout must be a positive number of seconds, not `{timeout}`");
        }
        let weights = match (&self.weights, &self.model, &file.weights) {
            (Some(w), Some(m), _) if w != m => {
                anyhow::bail!("MODEL `{m}` and --weights `{w}` differ; name the weights once")
            }
            (Some(w), _, _) | (None, Some(w), _) => Some(resolve(w)?),
            (None, None, Some(w)) => Some(resolve(&w.display().to_string())?),
            (None, None, None) => None,
        };
        Ok(Target::Remote {
            endpoint: Endpoint {
                base: Endpoint::base_url(&url),
                served_model,
                api_key_env: self.api_key_env.clone().or(file.api_key_env),
                concurrency: self
                    .concurrency
                    .or(file.concurrency)
                    .unwrap_or(DEFAULT_CONCURRENCY),
                timeout: Duration::from_secs_f64(timeout),
                retries: self.retries.or(file.retries).unwrap_or(DEFAULT_RETRIES),
            },
            weights,
        })
    }
}

/// Connects to a served model, with progress on stderr.
pub fn connect(endpoint: &Endpoint) -> anyhow::Result<RemoteGenerator> {
    Ok(crate::audit::connect(
        endpoint,
        &mut super::probe::Bar::new(false),
    )?)
}
