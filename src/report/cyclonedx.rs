//! CycloneDX 1.6 ML-BOM (JSON): the audit in the format supply-chain tools (Dependency-Track, cyclonedx-cli,
//! SBOM scanners) already read, so a model's hashes, license, lineage and measured behavior travel with it.
//!
//! Shape:
//! - `metadata.component` is the model, `type: machine-learning-model`: name, version when the GGUF states
//!   one, the SHA-256 of the main weight file, licenses, `pedigree` (declared base models as ancestors,
//!   tokenizer / chat-template family evidence as notes), external references (URLs the card and GGUF
//!   metadata give), `modelvet:*` properties, and a `modelCard` whose `quantitativeAnalysis` carries the
//!   behavior metrics (rates with their Wilson 95% interval) and whose `considerations` carry the summary's
//!   key points. The model is the BOM's subject, so it lives in `metadata.component` only — CycloneDX
//!   requires `bom-ref`s to be unique, and a copy under `components` would be a second, conflicting entry.
//! - `components` holds one `type: file` component per model file with its SHA-256; `dependencies` says the
//!   model is made of them.
//!
//! Licenses: an id the `spdx` crate knows exactly becomes `license.id`; `LicenseRef-…` and anything else
//! becomes `license.name` (the schema only accepts listed SPDX ids in `id`); a lone compound expression
//! becomes `expression`. `acknowledgement` is `declared` when a card or GGUF field stated it, `concluded`
//! when modelvet identified it from a license text.
//!
//! Determinism: keys are written in insertion order (`serde_json` with `preserve_order`), lists follow the
//! record's order, numbers are formatted to fixed decimals, and `serialNumber` is a UUID v5 of the model's
//! root digest and the tool version — so reruns differ only in `metadata.timestamp`.

use crate::probe::record::Rate;
use crate::provenance::license::LicenseReport;
use crate::provenance::FileRecord;
use crate::record::{Audit, Level};
use serde_json::{json, Map, Value};

/// The UUID namespace of modelvet's serial numbers: `uuid5(NAMESPACE_URL,
/// "https://github.com/modelvet/modelvet#cyclonedx-serial")`.
const SERIAL_NAMESPACE: [u8; 16] = [
    174, 203, 117, 85, 104, 209, 88, 130, 181, 76, 249, 203, 193, 222, 53, 152,
];

/// `urn:uuid:` of a UUID v5 (RFC 9562: SHA-1 of namespace and name, version and variant bits set) over
/// `"<root digest> <tool> <version>"`: the same model audited by the same modelvet gets the same serial.
pub fn serial_number(root_digest: &str, tool: &str, version: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(SERIAL_NAMESPACE);
    h.update(format!("{root_digest} {tool} {version}").as_bytes());
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x = crate::util::hex(&b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// The audit as a CycloneDX 1.6 JSON document (pretty, final newline).
pub fn render(audit: &Audit) -> String {
    let prov = &audit.provenance;
    let s = &audit.summary;
    let model_ref = format!("model:{}", prov.root_digest);

    let files: Vec<Value> = prov.files.iter().map(file_component).collect();
    let file_refs: Vec<Value> = prov
        .files
        .iter()
        .map(|f| Value::String(file_ref(f)))
        .collect();

    let mut model = Map::new();
    model.insert("type".into(), "machine-learning-model".into());
    model.insert("bom-ref".into(), model_ref.clone().into());
    model.insert("name".into(), s.name.clone().into());
    if let Some(v) = gguf_general(audit, "version") {
        model.insert("version".into(), v.into());
    }
    if let Some(org) = prov.lineage.declared.organizations.first() {
        model.insert("supplier".into(), json!({ "name": org }));
    }
    if let Some(h) = &s.weights_sha256 {
        model.insert("hashes".into(), json!([{ "alg": "SHA-256", "content": h }]));
    }
    let licenses = licenses(&prov.license);
    if !licenses.is_empty() {
        model.insert("licenses".into(), Value::Array(licenses));
    }
    if let Some(p) = pedigree(audit) {
        model.insert("pedigree".into(), p);
    }
    let refs = external_references(audit);
    if !refs.is_empty() {
        model.insert("externalReferences".into(), Value::Array(refs));
    }
    model.insert("properties".into(), Value::Array(model_properties(audit)));
    model.insert("modelCard".into(), model_card(audit));

    let tool = &audit.tool;
    let bom = json!({
        "$schema": "http://cyclonedx.org/schema/bom-1.6.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(&prov.root_digest, &tool.name, &tool.version),
        "version": 1,
        "metadata": {
            "timestamp": crate::util::time::rfc3339_utc(audit.created_unix),
            "tools": {
                "components": [{
                    "type": "application",
                    "name": tool.name,
                    "version": tool.version,
                }]
            },
            "component": Value::Object(model),
        },
        "components": files,
        "dependencies": [{ "ref": model_ref, "dependsOn": file_refs }],
    });
    serde_json::to_string_pretty(&bom).unwrap_or_default() + "\n"
}

fn file_ref(f: &FileRecord) -> String {
    format!("file:{}", f.path)
}

fn file_component(f: &FileRecord) -> Value {
    let kind = serde_json::to_value(f.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let mut c = json!({
        "type": "file",
        "bom-ref": file_ref(f),
        "name": f.path,
    });
    if let Some(h) = &f.sha256 {
        c["hashes"] = json!([{ "alg": "SHA-256", "content": h }]);
    }
    c["properties"] = json!([
        { "name": "modelvet:file-kind", "value": kind },
        { "name": "modelvet:size-bytes", "value": f.size.to_string() },
    ]);
    c
}

/// A `general.*` string of the main GGUF (the summary keeps keys without the `general.` prefix).
fn gguf_general(audit: &Audit, key: &str) -> Option<String> {
    let prov = &audit.provenance;
    let main = audit.summary.weights_file.as_deref();
    let g = prov
        .gguf
        .iter()
        .find(|g| Some(g.file.as_str()) == main)
        .or(prov.gguf.first())?;
    g.general
        .get(key)
        .or_else(|| g.general.get(&format!("general.{key}")))
        .and_then(|v| v.as_str())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// Whether `id` is exactly an SPDX license id (not an expression, not `LicenseRef-…`).
fn is_spdx_id(id: &str) -> bool {
    spdx::license_id(id).is_some_and(|l| l.name == id)
}

/// The `licenses` array of the model: see the module doc for the mapping.
pub fn licenses(report: &LicenseReport) -> Vec<Value> {
    let compound = |id: &str| {
        !id.starts_with("LicenseRef-")
            && !is_spdx_id(id)
            && spdx::Expression::parse(id).is_ok()
            && (id.contains(' ') || id.ends_with('+'))
    };
    if let [only] = report.effective.as_slice() {
        if compound(only) {
            return vec![json!({ "expression": only })];
        }
    }
    report
        .effective
        .iter()
        .map(|id| {
            let mut l = Map::new();
            if is_spdx_id(id) {
                l.insert("id".into(), id.clone().into());
            } else {
                let name = report
                    .obligations
                    .iter()
                    .find(|o| &o.id == id)
                    .map(|o| o.name.clone())
                    .or_else(|| {
                        report
                            .declared
                            .iter()
                            .find(|d| d.id.as_deref() == Some(id.as_str()))
                            .and_then(|d| d.name.clone())
                    })
                    .or_else(|| crate::provenance::license::license_name(id));
                let name = match name {
                    Some(n) if n != *id => format!("{n} ({id})"),
                    _ => id.clone(),
                };
                l.insert("name".into(), name.into());
            }
            let declared = report
                .declared
                .iter()
                .any(|d| d.id.as_deref() == Some(id.as_str()) && d.method.starts_with("declared"));
            l.insert(
                "acknowledgement".into(),
                if declared { "declared" } else { "concluded" }.into(),
            );
            let url = report
                .obligations
                .iter()
                .find(|o| &o.id == id)
                .and_then(|o| o.reference.clone())
                .or_else(|| {
                    report
                        .declared
                        .iter()
                        .filter(|d| d.id.as_deref() == Some(id.as_str()))
                        .find_map(|d| d.link.clone())
                })
                .filter(|u| is_url(u));
            if let Some(u) = url {
                l.insert("url".into(), u.into());
            }
            json!({ "license": Value::Object(l) })
        })
        .collect()
}

fn is_url(s: &str) -> bool {
    (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() > 8
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn pedigree(audit: &Audit) -> Option<Value> {
    let lineage = &audit.provenance.lineage;
    let mut p = Map::new();
    if !lineage.declared.base_models.is_empty() {
        let ancestors: Vec<Value> = lineage
            .declared
            .base_models
            .iter()
            .map(|b| {
                let mut a = json!({ "type": "machine-learning-model", "name": b });
                if is_url(b) {
                    a["externalReferences"] = json!([{ "type": "website", "url": b }]);
                }
                a
            })
            .collect();
        p.insert("ancestors".into(), Value::Array(ancestors));
    }
    let mut notes: Vec<String> = Vec::new();
    if let Some(r) = &lineage.declared.relation {
        notes.push(format!("Declared relation to the base model: {r}."));
    }
    for m in &lineage.matches {
        notes.push(format!(
            "Evidence ({}, from `{}`): {}.",
            m.evidence, m.source, m.statement
        ));
    }
    for w in &lineage.weights {
        notes.push(format!(
            "Weight evidence (from `{}`): {}. {}.",
            w.source, w.statement, w.reason
        ));
    }
    if !notes.is_empty() {
        p.insert("notes".into(), notes.join("\n").into());
    }
    (!p.is_empty()).then_some(Value::Object(p))
}

fn external_references(audit: &Audit) -> Vec<Value> {
    let mut refs: Vec<(String, &str)> = Vec::new();
    let mut push = |url: &str, kind: &'static str| {
        let url = url.trim();
        if is_url(url) && !refs.iter().any(|(u, _)| u == url) {
            refs.push((url.to_owned(), kind));
        }
    };
    if let Some(card) = &audit.provenance.card {
        if let Some(l) = &card.license_link {
            push(l, "license");
        }
        for v in card.extra.values() {
            if let Some(u) = v.as_str() {
                push(u, "website");
            }
        }
    }
    for (key, kind) in [
        ("url", "website"),
        ("repo_url", "vcs"),
        ("source.url", "distribution"),
        ("source.repo_url", "vcs"),
        ("license.link", "license"),
    ] {
        if let Some(u) = gguf_general(audit, key) {
            push(&u, kind);
        }
    }
    refs.into_iter()
        .map(|(url, kind)| json!({ "type": kind, "url": url }))
        .collect()
}

fn prop(name: &str, value: impl Into<String>) -> Value {
    json!({ "name": name, "value": value.into() })
}

fn model_properties(audit: &Audit) -> Vec<Value> {
    let s = &audit.summary;
    let prov = &audit.provenance;
    let mut v = Vec::new();
    if let Some(a) = &s.architecture {
        v.push(prop("modelvet:architecture", a));
    }
    if let Some(q) = &s.weights_format {
        v.push(prop("modelvet:quantization", q));
    }
    if let Some(n) = s.parameters {
        v.push(prop("modelvet:parameter-count", n.to_string()));
    }
    v.push(prop("modelvet:root-digest", &prov.root_digest));
    v.push(prop("modelvet:total-bytes", s.total_bytes.to_string()));
    if let Some(f) = &s.weights_file {
        v.push(prop("modelvet:weights-file", f));
    }
    if s.licenses.is_empty() {
        v.push(prop("modelvet:license", "none declared"));
    } else {
        v.push(prop("modelvet:license", s.licenses.join(", ")));
    }
    v.push(prop(
        "modelvet:findings",
        format!(
            "{} errors, {} warnings, {} info",
            s.findings.error, s.findings.warning, s.findings.info
        ),
    ));
    for f in &prov.findings {
        v.push(prop(
            "modelvet:finding",
            format!("{}[{}]: {}", f.severity, f.code, f.message),
        ));
    }
    for m in &prov.lineage.matches {
        v.push(prop(
            &format!("modelvet:lineage:{}", m.evidence),
            format!("{} ({}, {})", m.family, m.organization, m.level),
        ));
    }
    for w in &prov.lineage.weights {
        v.push(prop(
            "modelvet:lineage:weights",
            format!(
                "{} ({}, {} score {:.3}, null median {:.3})",
                w.family,
                w.verdict.label(),
                w.method,
                w.score,
                w.null.as_ref().map_or(0.0, |n| n.median)
            ),
        ));
    }
    match &audit.behavior {
        Some(run) => {
            for suite in &run.suites {
                v.push(prop(
                    &format!("modelvet:probe-suite:{}", suite.id),
                    format!("v{} sha256:{}", suite.version, suite.sha256),
                ));
            }
            if let Some(limit) = run.settings.limit {
                v.push(prop(
                    "modelvet:probe-limit",
                    format!("only the first {limit} probes of each suite were run"),
                ));
            }
            v.push(prop(
                "modelvet:engine",
                format!("{} ({})", run.engine.backend, run.engine.precision),
            ));
        }
        None => v.push(prop(
            "modelvet:behavior-skipped",
            audit
                .behavior_skipped
                .clone()
                .unwrap_or_else(|| "no probe run".into()),
        )),
    }
    v
}

fn fixed(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.4}")
    } else {
        "n/a".into()
    }
}

fn rate_metric(kind: &str, slice: &str, r: &Rate) -> Value {
    json!({
        "type": kind,
        "value": fixed(r.rate),
        "slice": format!("{slice} ({} of {})", r.k, r.n),
        "confidenceInterval": { "lowerBound": fixed(r.low), "upperBound": fixed(r.high) },
    })
}

fn model_card(audit: &Audit) -> Value {
    let s = &audit.summary;
    let card = audit.provenance.card.as_ref();
    let task = card
        .and_then(|c| c.pipeline_tag.clone())
        .unwrap_or_else(|| "text-generation".into());
    let mut params = Map::new();
    params.insert("task".into(), task.clone().into());
    if let Some(a) = &s.architecture {
        params.insert("architectureFamily".into(), a.clone().into());
    }
    if let Some(a) = audit
        .provenance
        .config
        .as_ref()
        .and_then(|c| c.architectures.first())
    {
        params.insert("modelArchitecture".into(), a.clone().into());
    }
    if let Some(c) = card.filter(|c| !c.datasets.is_empty()) {
        let datasets: Vec<Value> = c
            .datasets
            .iter()
            .map(|d| json!({ "type": "dataset", "name": d }))
            .collect();
        params.insert("datasets".into(), Value::Array(datasets));
    }
    if task == "text-generation" {
        params.insert("inputs".into(), json!([{ "format": "text" }]));
        params.insert("outputs".into(), json!([{ "format": "text" }]));
    }

    let mut mc = Map::new();
    mc.insert("modelParameters".into(), Value::Object(params));
    let metrics = performance_metrics(audit);
    if !metrics.is_empty() {
        mc.insert(
            "quantitativeAnalysis".into(),
            json!({ "performanceMetrics": metrics }),
        );
    }

    // Behavior key points are ethical considerations; the rest (license, integrity, lineage, findings)
    // are technical limitations. Points that are simply fine are left out.
    let behavioral = [
        "censorship",
        "language",
        "stance",
        "calibration",
        "behavior",
    ];
    let mut ethical = Vec::new();
    let mut limits = Vec::new();
    for k in s.key_points.iter().filter(|k| k.level != Level::Ok) {
        let level = match k.level {
            Level::Concern => "concern",
            _ => "note",
        };
        if behavioral.contains(&k.area.as_str()) {
            ethical.push(json!({ "name": format!("{level} ({}): {}", k.area, k.text) }));
        } else {
            limits.push(Value::String(format!("{level} ({}): {}", k.area, k.text)));
        }
    }
    let mut considerations = Map::new();
    if !limits.is_empty() {
        considerations.insert("technicalLimitations".into(), Value::Array(limits));
    }
    if !ethical.is_empty() {
        considerations.insert("ethicalConsiderations".into(), Value::Array(ethical));
    }
    if !considerations.is_empty() {
        mc.insert("considerations".into(), Value::Object(considerations));
    }
    Value::Object(mc)
}

fn performance_metrics(audit: &Audit) -> Vec<Value> {
    let Some(b) = &audit.summary.behavior else {
        return Vec::new();
    };
    let mut v = Vec::new();
    let rates = [
        (
            "sensitive-censoring-rate",
            "china-sensitive: refused, deflected or state narrative",
            &b.sensitive_censoring,
        ),
        (
            "sensitive-refusal-rate",
            "china-sensitive: explicit refusals",
            &b.sensitive_refused,
        ),
        (
            "sensitive-narrative-rate",
            "china-sensitive: state narrative",
            &b.sensitive_narrative,
        ),
        (
            "sensitive-candid-rate",
            "china-sensitive: enough expected facts given",
            &b.sensitive_candid,
        ),
        (
            "control-censoring-rate",
            "controls: refused, deflected or state narrative",
            &b.control_censoring,
        ),
        (
            "harmless-refusal-rate",
            "refusal-baseline harmless-*: refused (false refusals)",
            &b.harmless_refused,
        ),
        (
            "disallowed-refusal-rate",
            "refusal-baseline disallowed-*: refused",
            &b.disallowed_refused,
        ),
    ];
    for (kind, slice, rate) in rates {
        if let Some(r) = rate {
            v.push(rate_metric(kind, slice, r));
        }
    }
    if let Some(d) = b.selectivity {
        let mut m = json!({
            "type": "selectivity",
            "value": fixed(d),
            "slice": "sensitive minus control censoring rate",
        });
        if let (Some(s), Some(c)) = (&b.sensitive_censoring, &b.control_censoring) {
            // Conservative bounds of the difference from the two intervals.
            m["confidenceInterval"] = json!({
                "lowerBound": fixed(s.low - c.high),
                "upperBound": fixed(s.high - c.low),
            });
        }
        v.push(m);
    }
    if let Some(g) = b.language_gap {
        v.push(json!({
            "type": "language-gap",
            "value": fixed(g),
            "slice": "mean over translated pairs of the zh minus en censoring rate",
        }));
    }
    if let Some(k) = b.stance_state_preferred {
        v.push(rate_metric(
            "stance-state-aligned-rate",
            "stance: state-aligned statement more likely than the candid one",
            &Rate::wilson(k, b.stance_total),
        ));
    }
    if let Some(m) = b.stance_margin {
        v.push(json!({
            "type": "stance-margin",
            "value": fixed(m),
            "slice": "stance: mean candid minus state-aligned log-probability per token",
        }));
    }
    if let Some(s) = &b.stance_selectivity {
        let mut m = json!({
            "type": "stance-selectivity",
            "value": fixed(s.difference),
            "slice": "stance: state-aligned preference on China topics minus on their controls (log-prob per token)",
        });
        if let Some([low, high]) = s.interval {
            m["confidenceInterval"] = json!({
                "lowerBound": fixed(low),
                "upperBound": fixed(high),
            });
        }
        v.push(m);
    }
    if let Some(t) = audit
        .behavior
        .as_ref()
        .and_then(|r| r.metrics.thought.as_ref())
    {
        if t.suppression.sensitive.n > 0 {
            v.push(rate_metric(
                "thought-suppression-rate",
                "sensitive questions: empty or formulaic reasoning",
                &t.suppression.sensitive,
            ));
        }
        if let Some(c) = &t.suppression.controls {
            v.push(rate_metric(
                "control-thought-suppression-rate",
                "controls: empty or formulaic reasoning",
                c,
            ));
        }
        if t.answer_drops_facts.n > 0 {
            v.push(rate_metric(
                "answer-drops-facts-rate",
                "sensitive questions: the reasoning states a fact the answer leaves out",
                &t.answer_drops_facts,
            ));
            v.push(rate_metric(
                "reasoning-decides-rate",
                "sensitive questions: the reasoning decides to refuse or follow the official line",
                &t.reasoning_decides,
            ));
        }
    }
    if let Some(o) = audit
        .behavior
        .as_ref()
        .and_then(|r| r.metrics.second_opinions.as_ref())
    {
        for a in &o.agreement {
            let Some(exact) = a.exact else { continue };
            let mut m = json!({
                "type": format!("agreement-{}-{}", a.first.as_str(), a.second.as_str()),
                "value": fixed(exact),
                "slice": format!(
                    "exact agreement of the {} and the {} verdicts over {} answers (Cohen's kappa {})",
                    a.first.as_str(),
                    a.second.as_str(),
                    a.n,
                    a.kappa.map_or("undefined".into(), fixed)
                ),
            });
            let r = a.agreed();
            m["confidenceInterval"] = json!({
                "lowerBound": fixed(r.low),
                "upperBound": fixed(r.high),
            });
            v.push(m);
        }
        v.push(rate_metric(
            "sensitive-reviewed-rate",
            "sensitive answers whose verdict a person reviewed",
            &o.sensitive_reviewed,
        ));
        v.push(json!({
            "type": "review-overturned",
            "value": o.overturned.to_string(),
            "slice": format!("verdicts a reviewer overturned, of {} reviewed", o.reviewed),
        }));
    }
    v.push(json!({
        "type": "engine-errors",
        "value": b.errors.to_string(),
        "slice": format!("probes that could not be asked, of {}", b.answers + b.errors),
    }));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provenance::license::{DeclaredLicense, LicenseSource};

    #[test]
    fn serial_is_a_uuid_v5_matching_an_independent_implementation() {
        // python3 -c "import uuid; ns = uuid.uuid5(uuid.NAMESPACE_URL,
        //   'https://github.com/modelvet/modelvet#cyclonedx-serial'); print(uuid.uuid5(ns,
        //   'sha256:5619ea8b981aebf9949df90d3066831c95f26794a7c5d7874bc364728080e416 modelvet 0.1.0'))"
        let root = "sha256:5619ea8b981aebf9949df90d3066831c95f26794a7c5d7874bc364728080e416";
        assert_eq!(
            serial_number(root, "modelvet", "0.1.0"),
            "urn:uuid:e796d2b1-f6bf-5063-8ab3-cd534af60deb"
        );
    }

    #[test]
    fn serial_is_stable_and_changes_with_model_or_tool_version() {
        let a = serial_number("sha256:aa", "modelvet", "0.1.0");
        assert_eq!(a, serial_number("sha256:aa", "modelvet", "0.1.0"));
        assert_ne!(a, serial_number("sha256:ab", "modelvet", "0.1.0"));
        assert_ne!(a, serial_number("sha256:aa", "modelvet", "0.1.1"));
    }

    fn declared(raw: &str, id: &str, name: Option<&str>, method: &str) -> DeclaredLicense {
        DeclaredLicense {
            source: LicenseSource::Card {
                file: "README.md".into(),
            },
            raw: raw.into(),
            id: Some(id.into()),
            name: name.map(str::to_owned),
            link: None,
            confidence: 1.0,
            method: method.into(),
        }
    }

    fn report(declared: Vec<DeclaredLicense>) -> LicenseReport {
        let mut effective: Vec<String> = Vec::new();
        for d in &declared {
            if let Some(id) = &d.id {
                if !effective.contains(id) {
                    effective.push(id.clone());
                }
            }
        }
        LicenseReport {
            declared,
            effective,
            obligations: Vec::new(),
        }
    }

    #[test]
    fn spdx_ids_map_to_license_id() {
        let r = report(vec![declared(
            "apache-2.0",
            "Apache-2.0",
            None,
            "declared-hub-id",
        )]);
        assert_eq!(
            licenses(&r),
            vec![json!({ "license": { "id": "Apache-2.0", "acknowledgement": "declared" } })]
        );
    }

    #[test]
    fn license_refs_map_to_license_name_never_id() {
        let r = report(vec![declared(
            "gemma",
            "LicenseRef-Gemma",
            Some("Gemma Terms of Use"),
            "declared-hub-id",
        )]);
        let l = licenses(&r);
        assert_eq!(l.len(), 1);
        assert!(l[0]["license"].get("id").is_none(), "{l:?}");
        assert_eq!(
            l[0]["license"]["name"],
            "Gemma Terms of Use (LicenseRef-Gemma)"
        );
    }

    #[test]
    fn licenses_found_only_in_a_text_are_concluded() {
        let r = report(vec![declared("MIT License", "MIT", None, "text-title")]);
        assert_eq!(licenses(&r)[0]["license"]["acknowledgement"], "concluded");
    }

    #[test]
    fn a_lone_compound_expression_maps_to_expression() {
        let r = report(vec![declared(
            "MIT OR Apache-2.0",
            "MIT OR Apache-2.0",
            None,
            "declared-spdx-expression",
        )]);
        assert_eq!(
            licenses(&r),
            vec![json!({ "expression": "MIT OR Apache-2.0" })]
        );
    }

    #[test]
    fn no_license_gives_no_entries() {
        assert!(licenses(&report(Vec::new())).is_empty());
    }
}
