//! The HTML views: one self-contained page per audit (`index.html`) and a side-by-side page for several
//! (`compare.html`), rendered from the minijinja templates in `templates/` (embedded in the binary).
//!
//! Every string of a record — answers, card fields, finding messages, file names — is untrusted: the
//! environment auto-escapes *every* template as HTML, and the view models ([`super::view`], [`super::compare`]) hand the
//! templates plain text only. The pages make no network request (no fonts, scripts or images by URL, and
//! a CSP meta tag that forbids them) and use no JavaScript. Undefined variables are errors, so a typo in
//! a template fails a test instead of rendering blank.

use super::compare::CompareView;
use super::view::{ReportView, BAR_W, BAR_X, CHART_WIDTH, ROW_H, TOP};
use super::RenderError;
use crate::record::Audit;
use crate::util::fmt::human_bytes;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../../templates/base.html")),
    ("charts.html", include_str!("../../templates/charts.html")),
    ("report.html", include_str!("../../templates/report.html")),
    ("compare.html", include_str!("../../templates/compare.html")),
];

/// Template loop budget: generous for a full run with repeats, finite for a hostile record.
const FUEL: u64 = 200_000_000;

fn env() -> Result<Environment<'static>, RenderError> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_fuel(Some(FUEL));
    for (name, src) in TEMPLATES {
        env.add_template(name, src).map_err(RenderError::of(name))?;
    }
    // Formatting only: numbers to text.
    env.add_filter("pct", |x: f64| crate::util::fmt::pct(x, 0));
    env.add_filter("points", |x: f64| format!("{:+.0} pts", x * 100.0));
    env.add_filter("fixed", |x: f64, digits: Option<usize>| {
        format!("{:.*}", digits.unwrap_or(1), x)
    });
    env.add_filter("signed", |x: f64, digits: Option<usize>| {
        format!("{:+.*}", digits.unwrap_or(3), x)
    });
    env.add_filter("bytes", |n: u64| human_bytes(n));
    env.add_global("W", CHART_WIDTH);
    env.add_global("BAR_X", BAR_X);
    env.add_global("BAR_W", BAR_W);
    env.add_global("ROW_H", ROW_H);
    env.add_global("TOP", TOP);
    Ok(env)
}

/// The single-model report.
pub fn render(audit: &Audit) -> Result<String, RenderError> {
    let env = env()?;
    let view = ReportView::of(audit);
    env.get_template("report.html")
        .and_then(|t| t.render(Value::from(Serde(&view))))
        .map_err(RenderError::of("report.html"))
}

/// The side-by-side view of several audits.
pub fn render_compare(audits: &[Audit]) -> Result<String, RenderError> {
    let env = env()?;
    let view = CompareView::of(audits);
    env.get_template("compare.html")
        .and_then(|t| t.render(Value::from(Serde(&view))))
        .map_err(RenderError::of("compare.html"))
}
