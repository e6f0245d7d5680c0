//! modelvet: vets open-weight language models before anyone adopts them.
//!
//! The library does the work; `src/main.rs` and `cli/` only parse arguments and render. Modules follow the
//! three questions a reviewer asks: what the files are (`model`, `provenance`, `lock`), what the model
//! does (`engine`, `probe`), and what evidence to keep (`audit`, the record; `report`, its views).

pub mod audit;
pub mod cli;
pub mod diag;
pub mod diff;
pub mod engine;
pub mod lock;
pub mod model;
pub mod policy;
pub mod probe;
pub mod provenance;
pub mod record;
pub mod report;
pub mod util;
