//! The HTML report (placeholder until the templates land).

use crate::audit::Audit;

pub fn render(audit: &Audit) -> anyhow::Result<String> {
    Ok(format!(
        "<!doctype html><title>{}</title>",
        audit.summary.name.replace('<', "&lt;")
    ))
}

pub fn render_compare(audits: &[Audit]) -> anyhow::Result<String> {
    Ok(format!(
        "<!doctype html><title>{} audits</title>",
        audits.len()
    ))
}
