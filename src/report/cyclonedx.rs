//! CycloneDX ML-BOM (placeholder).

use crate::audit::Audit;

pub fn render(_audit: &Audit) -> String {
    String::new()
}
