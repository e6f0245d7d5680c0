//! The behavior audit: probe suites (YAML, validated, or imported from a plain prompt list), the detectors
//! that classify each answer, and the runner that asks the model and aggregates verdicts into rates with
//! confidence intervals.

mod answer;
pub mod detect;
pub mod echo;
pub mod eval;
pub mod hant;
pub mod import;
pub mod judge;
pub mod narrative;
pub mod paired;
pub mod pool;
pub mod record;
pub mod review;
pub mod runner;
pub mod stats;
pub mod suite;
pub mod thought;
pub(crate) mod yamlpos;
pub mod yesno;
