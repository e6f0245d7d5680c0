//! The HTML view of a [`Diff`]: one self-contained page (inline CSS, no scripts, no external URLs) rendered
//! from `templates/diff.html`, which is embedded in the binary.
//!
//! minijinja auto-escapes `.html` templates, so every model-supplied string (answers, file names, license
//! text) is escaped; undefined variables are errors, so a typo in the template fails a test instead of
//! rendering blank.

use crate::diff::Diff;
use minijinja::{context, Environment, UndefinedBehavior};

const TEMPLATE: &str = include_str!("../../templates/diff.html");

fn pct(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn points(x: f64) -> String {
    format!("{:+.0}", x * 100.0)
}

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
pub fn render(d: &Diff) -> anyhow::Result<String> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_filter("pct", pct);
    env.add_filter("points", points);
    env.add_filter("pvalue", pvalue);
    env.add_filter("short", short);
    env.add_template("diff.html", TEMPLATE)?;
    Ok(env
        .get_template("diff.html")?
        .render(context! { d => minijinja::value::Serde(d) })?)
}
