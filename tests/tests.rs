//! One integration test binary (ripgrep's layout): each module is a topic, each test a spec that runs the
//! real `modelvet` binary on files it makes itself, or on the real models fetched by
//! `scripts/fetch-models.sh`.

mod support;

mod chat_refs;
mod cli;
mod engine_backends;
mod engine_hf;
mod engine_real;
mod gate;
mod hf_real;
mod hostile;
mod hub_cache;
mod judge_real;
mod layers;
mod lineage;
mod lock;
mod machine_reports;
mod native_moe;
mod probe_cli;
mod prompts_import;
mod provenance_fixtures;
mod real_models;
mod reasoning;
mod remote;
mod report_html;
mod review_cli;
mod snapshots;
mod tokenizer_refs;
mod verdict_corpus;
