//! Views of an audit record: HTML (minijinja templates from templates/), JUnit XML, CycloneDX ML-BOM and
//! the terminal summary. Views format what the record says; none of them decides anything.

pub mod compare;
pub mod cyclonedx;
pub mod diff;
pub mod html;
pub mod junit;
pub mod text;
pub mod view;

/// Why a page could not be rendered: a template error (a bug in modelvet's own templates, or a record so
/// large it exhausted the template's loop budget), named by template.
#[derive(Debug, thiserror::Error)]
#[error("cannot render `{template}`: {source}")]
pub struct RenderError {
    pub template: &'static str,
    #[source]
    pub source: minijinja::Error,
}

impl RenderError {
    /// A closure that wraps a minijinja error of `template`.
    pub(crate) fn of(template: &'static str) -> impl Fn(minijinja::Error) -> RenderError {
        move |source| RenderError { template, source }
    }
}
