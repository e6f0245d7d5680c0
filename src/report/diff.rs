//! The HTML view of a [`Diff`]: one self-contained page (inline CSS, no scripts, no external URLs) rendered
//! from `templates/diff.html`, which is embedded in the binary.
//!
//! minijinja auto-escapes `.html` templates, so every model-supplied string (answers, file names, license
//! text) is escaped; undefined variables are errors, so a typo in the template fails a test instead of
//! rendering blank.

use super::RenderError;
use crate::diff::Diff;
use crate::util::fmt::points;
use minijinja::{context, Environment, UndefinedBehavior};

const TEMPLATE: &str = include_str!("../../templates/diff.html");

fn pvalue(x: f64) -> String {
    if x < 0.0001 {
        "< 0.0001".to_owned()
    } else {
        format!("{x:.4}")
    }
}

fn short(s: Option<String>) -> String {
    s.map(|h| h.chars().take(16).collect())
        .unwrap_or_else(|| "—".into())
}

/// Renders the diff page.
pub fn render(d: &Diff) -> Result<String, RenderError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("pct", |x: f64| crate::util::fmt::pct(x, 0));
    env.add_filter("points", points);
    env.add_filter("pvalue", pvalue);
    env.add_filter("short", short);
    let err = RenderError::of("diff.html");
    env.add_template("diff.html", TEMPLATE).map_err(&err)?;
    env.get_template("diff.html")
        .and_then(|t| t.render(context! { d => minijinja::value::Serde(d) }))
        .map_err(err)
}
