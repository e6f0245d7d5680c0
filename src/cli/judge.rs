//! The judge flags shared by `probe`, `audit` and `reclassify`: which model gives the second opinion (a
//! local model, or a served one with the same flags as the audited model's endpoint), the rubric, and
//! which verdict is the headline.

use super::target::TargetArgs;
use crate::probe::judge::Rubric;
use crate::probe::record::{RunModel, VerdictSource};
use std::path::PathBuf;

#[derive(clap::Args, Debug, Default)]
pub struct JudgeArgs {
    /// A judge model (a .gguf or .safetensors file, a folder, or a Hub id in the local cache) that gives a
    /// second opinion on every generated answer, with the rubric in probes/judge/.
    #[arg(long, value_name = "MODEL", conflicts_with_all = ["judge_endpoint", "judge_config"])]
    pub judge: Option<String>,
    /// A judge served by an OpenAI-compatible server at URL (like --endpoint).
    #[arg(long, value_name = "URL")]
    pub judge_endpoint: Option<String>,
    /// The model name the judge's server serves.
    #[arg(long = "judge-model", value_name = "NAME")]
    pub judge_model: Option<String>,
    /// The environment variable holding the judge server's API key (never recorded).
    #[arg(long, value_name = "VAR")]
    pub judge_api_key_env: Option<String>,
    /// Judge requests in flight at once [default: 4].
    #[arg(long, value_name = "N")]
    pub judge_concurrency: Option<usize>,
    /// Seconds before one judge request is abandoned and retried [default: 600].
    #[arg(long, value_name = "SECS")]
    pub judge_timeout: Option<f64>,
    /// Retries of a judge request [default: 3].
    #[arg(long, value_name = "N")]
    pub judge_retries: Option<u32>,
    /// A YAML file for the judge's server, with the keys of --endpoint-config (flags win).
    #[arg(long, value_name = "FILE")]
    pub judge_config: Option<PathBuf>,
    /// The rubric the judge is asked with [default: the built-in probes/judge/rubric.yaml].
    #[arg(long, value_name = "FILE")]
    pub judge_rubric: Option<PathBuf>,
    /// Which verdict is the headline: the phrase rules' (default) or the judge's (where its reply parsed).
    #[arg(long, value_enum, default_value_t = VerdictFrom::Rules)]
    pub verdict_from: VerdictFrom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum VerdictFrom {
    #[default]
    Rules,
    Judge,
}

impl JudgeArgs {
    /// Whether a judge was named.
    pub fn wanted(&self) -> bool {
        self.judge.is_some() || self.judge_endpoint.is_some() || self.judge_config.is_some()
    }

    /// The rubric, read and validated (the built-in one unless --judge-rubric names a file).
    pub fn rubric(&self) -> anyhow::Result<Rubric> {
        Ok(match &self.judge_rubric {
            Some(p) => Rubric::read(p)?,
            None => Rubric::builtin(),
        })
    }

    pub fn verdict_from(&self) -> anyhow::Result<VerdictSource> {
        if self.verdict_from == VerdictFrom::Judge && !self.wanted() {
            anyhow::bail!(
                "--verdict-from judge needs a judge: --judge MODEL or --judge-endpoint URL"
            );
        }
        Ok(match self.verdict_from {
            VerdictFrom::Rules => VerdictSource::Rules,
            VerdictFrom::Judge => VerdictSource::Judge,
        })
    }

    /// The judge as a target, resolved with the same rules as the audited model's flags.
    fn target(&self) -> TargetArgs {
        TargetArgs {
            model: self.judge.clone(),
            download: false,
            endpoint: self.judge_endpoint.clone(),
            served_model: self.judge_model.clone(),
            api_key_env: self.judge_api_key_env.clone(),
            weights: None,
            concurrency: self.judge_concurrency,
            timeout: self.judge_timeout,
            retries: self.judge_retries,
            endpoint_config: self.judge_config.clone(),
        }
    }

    /// Opens the judge: its files hashed (a local model, the rubric's system message cached once) or its
    /// server connected.
    pub fn open(
        &self,
        rubric: &Rubric,
        progress: bool,
    ) -> anyhow::Result<(RunModel, Box<dyn crate::engine::Generator>)> {
        let options = crate::engine::EngineOptions {
            shared_system: Some(rubric.system.clone()),
            ..Default::default()
        };
        super::probe::open(&self.target(), &options, progress)
    }

    /// Validates the judge flags before any work is done (a typo costs nothing): the rubric, read and
    /// checked, when a judge was named, and which verdict is the headline.
    pub fn prepare(&self) -> anyhow::Result<(Option<Rubric>, VerdictSource)> {
        let verdict_from = self.verdict_from()?;
        if !self.wanted() {
            return Ok((None, verdict_from));
        }
        self.target().resolve()?;
        Ok((Some(self.rubric()?), verdict_from))
    }
}
