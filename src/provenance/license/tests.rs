//! Scenarios of [`assess`](super::assess): what a caller found (card, GGUF metadata, configs, license
//! files) in, the license report and its findings out. The parts have their own unit tests beside them.

use super::text::tests::MIT_TEXT;
use super::*;

fn inputs<'a>() -> LicenseInputs<'a> {
    LicenseInputs {
        card: None,
        gguf: Vec::new(),
        config: Vec::new(),
        texts: Vec::new(),
    }
}

fn card<'a>(licenses: Vec<&'a str>, name: Option<&'a str>) -> CardLicense<'a> {
    CardLicense {
        file: "README.md",
        licenses,
        license_name: name,
        license_link: None,
    }
}

fn gguf<'a>(file: &'a str, license: &'a str) -> GgufLicense<'a> {
    GgufLicense {
        file,
        license,
        name: None,
        link: None,
    }
}

fn codes(findings: &[Finding]) -> Vec<Code> {
    findings.iter().map(|f| f.code).collect()
}

fn id_of(raw: &str, name: Option<&str>) -> Option<String> {
    normalize(raw, name).map(|(id, _)| id)
}

#[test]
fn other_without_a_name_is_unrecognized_but_declared() {
    let mut i = inputs();
    i.card = Some(card(vec!["other"], None));
    let (report, findings) = assess(&i);
    assert_eq!(codes(&findings), vec![Code::LicenseUnrecognized]);
    assert!(
        findings[0].message.contains("`other`"),
        "{}",
        findings[0].message
    );
    assert_eq!(report.declared.len(), 1);
    assert_eq!(report.declared[0].id, None);
    assert!(report.effective.is_empty());
}

#[test]
fn expressions_are_normalised_and_validated() {
    assert_eq!(
        normalize("apache-2.0 OR mit", None),
        Some((
            "Apache-2.0 OR MIT".into(),
            "declared-spdx-expression".into()
        ))
    );
    assert_eq!(
        id_of("(mit and bsd-3-clause)", None).as_deref(),
        Some("(MIT AND BSD-3-Clause)")
    );
    assert_eq!(
        id_of("MIT/Apache-2.0", None).as_deref(),
        Some("MIT OR Apache-2.0")
    );
    assert_eq!(
        id_of("gpl-2.0 WITH classpath-exception-2.0", None).as_deref(),
        Some("GPL-2.0-only WITH Classpath-exception-2.0")
    );
    assert_eq!(id_of("mit OR nonsense-license", None), None);
    assert_eq!(id_of("mit OR", None), None);

    // An expression that contains the other id agrees with it.
    let mut i = inputs();
    i.card = Some(card(vec!["apache-2.0 OR mit"], None));
    i.gguf = vec![gguf("m.gguf", "mit")];
    let (report, findings) = assess(&i);
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(
        report.effective,
        vec!["Apache-2.0 OR MIT".to_string(), "MIT".to_string()]
    );
    let ids: Vec<&str> = report.obligations.iter().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, vec!["Apache-2.0", "MIT"]);
}

#[test]
fn card_and_gguf_disagree() {
    let mut i = inputs();
    i.card = Some(card(vec!["apache-2.0"], None));
    i.gguf = vec![gguf("a.gguf", "mit"), gguf("b.gguf", "mit")];
    let (_, findings) = assess(&i);
    assert_eq!(
        codes(&findings),
        vec![Code::LicenseMismatch],
        "one finding per distinct pair"
    );
    let message = &findings[0].message;
    assert!(
        message.contains("the card declares `apache-2.0`"),
        "{message}"
    );
    assert!(
        message.contains("`a.gguf`") && message.contains("`mit`"),
        "{message}"
    );
    assert_eq!(findings[0].file.as_deref(), Some("a.gguf"));
}

#[test]
fn card_and_license_text_disagree() {
    let mut i = inputs();
    i.card = Some(card(vec!["apache-2.0"], None));
    i.texts = vec![("LICENSE", MIT_TEXT)];
    let (report, findings) = assess(&i);
    assert_eq!(codes(&findings), vec![Code::LicenseMismatch]);
    let message = &findings[0].message;
    assert!(
        message
            .starts_with("the card declares `apache-2.0` but `LICENSE` reads as `MIT` (confidence"),
        "{message}"
    );
    assert_eq!(
        report.effective,
        vec!["Apache-2.0".to_string(), "MIT".to_string()]
    );
}

#[test]
fn qwen_family_and_case_do_not_mismatch() {
    let mut i = inputs();
    i.card = Some(card(vec!["other"], Some("tongyi-qianwen")));
    i.gguf = vec![GgufLicense {
        file: "q.gguf",
        license: "other",
        name: Some("qwen"),
        link: None,
    }];
    i.config = vec![("config.json", "OTHER")];
    i.texts = vec![(
        "LICENSE",
        "Qwen LICENSE AGREEMENT\n\nRelease Date: September 19, 2024",
    )];
    let (report, findings) = assess(&i);
    // config.json says only `other`: unrecognised, but no mismatch anywhere.
    assert_eq!(codes(&findings), vec![Code::LicenseUnrecognized]);
    assert_eq!(
        report.effective,
        vec![
            "LicenseRef-Tongyi-Qianwen".to_string(),
            "LicenseRef-Qwen".to_string()
        ]
    );
    assert_eq!(report.obligations.len(), 2);
    assert!(report
        .obligations
        .iter()
        .all(|o| o.user_threshold == Some(100_000_000)));
}

#[test]
fn nothing_declared_is_missing() {
    let (report, findings) = assess(&inputs());
    assert_eq!(codes(&findings), vec![Code::LicenseMissing]);
    assert_eq!(
        findings[0].message,
        "no license is declared in the card, the GGUF metadata or a license file"
    );
    assert!(report.declared.is_empty() && report.effective.is_empty());
}

#[test]
fn short_notice_is_skipped_and_weak_texts_never_mismatch() {
    let mut i = inputs();
    i.card = Some(card(vec!["gemma"], None));
    i.texts = vec![(
        "NOTICE.md",
        "# NOTICE\n\nThis package reassembles a public GGUF file.\n",
    )];
    let (report, findings) = assess(&i);
    assert!(findings.is_empty(), "{findings:?}");
    assert_eq!(report.declared.len(), 1);

    let prose = "The weights in this folder were trained by a small team over several months on rented \
                 hardware, and we hope they are useful to somebody. Please be kind when you report bugs. "
        .repeat(20);
    i.texts = vec![("LICENSE.txt", prose.as_str())];
    let (report, findings) = assess(&i);
    assert_eq!(codes(&findings), vec![Code::LicenseTextUnidentified]);
    assert_eq!(findings[0].severity, crate::diag::Severity::Info);
    assert_eq!(report.effective, vec!["LicenseRef-Gemma".to_string()]);

    // Only an unidentified text: still missing, and the message says why.
    i.card = None;
    let (_, findings) = assess(&i);
    assert_eq!(
        codes(&findings),
        vec![Code::LicenseTextUnidentified, Code::LicenseMissing]
    );
    assert!(
        findings[1].message.contains("`LICENSE.txt`"),
        "{}",
        findings[1].message
    );
}

#[test]
fn sources_serialize_with_a_kind_tag() {
    let json = serde_json::to_value(LicenseSource::Card {
        file: "README.md".into(),
    })
    .expect("json");
    assert_eq!(
        json,
        serde_json::json!({ "kind": "card", "file": "README.md" })
    );
}
