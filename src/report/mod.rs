//! Views of an audit record: HTML (minijinja templates from templates/), JUnit XML, CycloneDX ML-BOM and
//! the terminal summary. Views format what the record says; none of them decides anything.

pub mod compare;
pub mod cyclonedx;
pub mod html;
pub mod junit;
pub mod text;
pub mod view;
