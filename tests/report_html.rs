//! The HTML report and the compare page, as a reader receives them: every string of a record is
//! untrusted and must render as text, the page must fetch nothing and run nothing, and compare must point
//! at the probes the models judged differently. The last test opens a real audit's page in headless
//! Chromium (scripts/setup-browser.sh installs it) and checks what a browser actually does with it.

use crate::support::modelvet;
use crate::support::tiny::{write_tiny_gguf, TinyGguf};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

const SCRIPT: &str = "<script>alert(1)</script>";
const IMG: &str = "<img src=x onerror=alert(1)>";
/// The same payloads as minijinja's HTML escaping writes them.
const SCRIPT_ESCAPED: &str = "&lt;script&gt;alert(1)&lt;&#x2f;script&gt;";
const IMG_ESCAPED: &str = "&lt;img src=x onerror=alert(1)&gt;";

/// Runs a real audit (tiny random Llama, two probes of each built-in suite) into `dir/out` and returns
/// the record's path.
fn tiny_audit(dir: &Path) -> PathBuf {
    let model = dir.join("m.gguf");
    write_tiny_gguf(TinyGguf::Llama, &model);
    let out = dir.join("out");
    let run = modelvet(&[
        "audit",
        model.to_str().unwrap(),
        "--limit",
        "2",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(
        run.code == 0 || run.code == 1,
        "audit failed: {}",
        run.stderr
    );
    out.join("audit.json")
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

fn write_json(p: &Path, v: &Value) {
    std::fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

/// The first probe result of a record with a generated answer.
fn first_generated(record: &mut Value) -> &mut Value {
    record["behavior"]["results"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["outcome"]["kind"] == "generated")
        .expect("the record has a generated answer")
}

/// Puts both payloads into the places a model or a card author controls: an answer (with an evidence span
/// inside the payload, so the highlighted path is exercised too), the model's name, a finding, the card.
fn poison(record: &mut Value) -> String {
    let answer = format!("Before {SCRIPT} middle {IMG} after");
    let r = first_generated(record);
    r["outcome"]["answer"] = json!(answer);
    r["outcome"]["classification"]["evidence"] = json!([{
        "detector": "refusal", "start": 7, "end": 20, "text": "<script>alert", "rule": IMG
    }]);
    r["outcome"]["classification"]["reason"] = json!(SCRIPT);
    let probe = r["probe"].as_str().unwrap().to_owned();
    record["summary"]["name"] = json!(format!("{SCRIPT}{IMG}"));
    record["summary"]["key_points"][0]["text"] = json!(IMG);
    record["provenance"]["findings"]
        .as_array_mut()
        .unwrap()
        .push(json!({
            "code": "checksum-mismatch", "severity": "error", "message": SCRIPT, "file": IMG
        }));
    record["provenance"]["card"] = json!({
        "file": "README.md", "has_front_matter": true, "license": [SCRIPT],
        "extra": { "model_name": IMG }
    });
    probe
}

/// Text as minijinja's HTML escaping writes it.
fn escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

/// A poisoned record rendered by `modelvet report`.
fn poisoned_report(dir: &Path) -> (PathBuf, String) {
    let rec = tiny_audit(dir);
    let mut v = read_json(&rec);
    let probe = poison(&mut v);
    let poisoned = dir.join("poisoned.json");
    write_json(&poisoned, &v);
    let html = dir.join("poisoned.html");
    let run = modelvet(&[
        "report",
        poisoned.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    (html, probe)
}

/// Every attribute value or CSS `url(` that could make a browser load something. Tags are read with their
/// attributes (quoted values may hold `>`-free escaped text such as `src=x`, which is not an attribute);
/// CSS is read in `<style>` blocks and `style` attributes.
fn references(html: &str) -> Vec<String> {
    const LOADING: [&str; 8] = [
        "src",
        "href",
        "srcset",
        "action",
        "formaction",
        "poster",
        "data",
        "xlink:href",
    ];
    let mut out = Vec::new();
    let css = |text: &str, out: &mut Vec<String>| {
        for part in text.split("url(").skip(1) {
            let v = part.split(')').next().unwrap_or("");
            out.push(v.trim_matches(['"', '\'', ' ']).to_owned());
        }
    };
    let mut rest = html;
    while let Some(i) = rest.find('<') {
        let after = &rest[i + 1..];
        let end = after.find('>').unwrap_or(after.len());
        let tag = &after[..end];
        rest = &after[(end + 1).min(after.len())..];
        let name_end = tag.find(|c: char| c.is_whitespace()).unwrap_or(tag.len());
        let name = tag[..name_end].to_ascii_lowercase();
        let mut attrs = &tag[name_end..];
        loop {
            attrs = attrs.trim_start();
            if attrs.is_empty() {
                break;
            }
            let n_end = attrs
                .find(|c: char| c.is_whitespace() || c == '=')
                .unwrap_or(attrs.len());
            let attr = attrs[..n_end].to_ascii_lowercase();
            attrs = attrs[n_end..].trim_start();
            let mut value = "";
            if let Some(v) = attrs.strip_prefix('=') {
                let v = v.trim_start();
                let (val, tail) = match v.chars().next() {
                    Some(q @ ('"' | '\'')) => {
                        let close = v[1..].find(q).map(|j| j + 1).unwrap_or(v.len());
                        (&v[1..close], &v[(close + 1).min(v.len())..])
                    }
                    _ => {
                        let e = v.find(char::is_whitespace).unwrap_or(v.len());
                        (&v[..e], &v[e..])
                    }
                };
                value = val;
                attrs = tail;
            }
            if LOADING.contains(&attr.as_str()) {
                out.push(value.to_owned());
            } else if attr == "style" {
                css(value, &mut out);
            }
        }
        if name == "style" {
            let close = rest.find("</style>").unwrap_or(rest.len());
            css(&rest[..close], &mut out);
        }
    }
    out
}

#[test]
fn hostile_strings_in_answers_card_and_findings_render_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let (html, probe) = poisoned_report(dir.path());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(!page.contains(SCRIPT), "a raw <script> reached the page");
    assert!(!page.contains(IMG), "a raw <img> reached the page");
    assert!(!page.to_ascii_lowercase().contains("<img"));
    // Escaped, and in every place it was put: name (title, heading, identity), answer, reason, finding,
    // card, key point.
    assert!(
        page.matches(SCRIPT_ESCAPED).count() >= 6,
        "{}",
        page.matches(SCRIPT_ESCAPED).count()
    );
    assert!(page.matches(IMG_ESCAPED).count() >= 5);
    // The answer is in its transcript, with the evidence mark inside the payload.
    assert!(page.contains(&format!("id=\"t-{probe}-0\"")));
    assert!(page.contains("<mark class=\"refusal\" title=\"refusal: &lt;img src=x onerror=alert(1)&gt;\">&lt;script&gt;alert</mark>"));
}

#[test]
fn the_pages_load_nothing_from_outside_and_contain_no_script() {
    let dir = tempfile::tempdir().unwrap();
    let (html, _) = poisoned_report(dir.path());
    let compare = dir.path().join("compare.html");
    let rec = dir.path().join("out/audit.json");
    let run = modelvet(&[
        "compare",
        rec.to_str().unwrap(),
        dir.path().join("poisoned.json").to_str().unwrap(),
        "-o",
        compare.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for path in [html, compare] {
        let page = std::fs::read_to_string(&path).unwrap();
        assert!(!page.to_ascii_lowercase().contains("<script"), "{path:?}");
        assert!(page.contains(
            "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
        ), "{path:?} lacks the CSP");
        let refs = references(&page);
        assert!(!refs.is_empty(), "the table of contents links are anchors");
        for r in refs {
            assert!(
                r.starts_with('#') || r.starts_with("data:"),
                "{path:?} refers to `{r}`"
            );
        }
    }
}

#[test]
fn the_reference_finder_sees_an_external_link() {
    // The check above must be able to fail.
    let refs = references(concat!(
        "<a href=\"https://x.example/\">x</a><p style=\"background:url(http://y)\">&lt;img src=x&gt;</p>",
        "<mark title=\"&lt;img src=z&gt;\">t</mark><style>b { background: url('//w') }</style><img src=data:x>"
    ));
    assert_eq!(
        refs,
        vec!["https://x.example/", "http://y", "//w", "data:x"]
    );
}

#[test]
fn compare_lists_the_probe_whose_verdicts_disagree_with_each_answer() {
    let dir = tempfile::tempdir().unwrap();
    let a = tiny_audit(dir.path());
    let mut v = read_json(&a);
    v["summary"]["name"] = json!("Model B");
    let r = first_generated(&mut v);
    let probe = r["probe"].as_str().unwrap().to_owned();
    let was = r["outcome"]["classification"]["verdict"]
        .as_str()
        .unwrap()
        .to_owned();
    let now = if was == "refused" {
        "answered"
    } else {
        "refused"
    };
    r["outcome"]["classification"]["verdict"] = json!(now);
    r["outcome"]["answer"] = json!(format!("I cannot answer that. {SCRIPT}"));
    let b = dir.path().join("b.json");
    write_json(&b, &v);
    let out = dir.path().join("compare.html");
    let run = modelvet(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = std::fs::read_to_string(&out).unwrap();
    let section = &page[page.find("id=\"disagreements\"").unwrap()..];
    let shared = v["behavior"]["results"].as_array().unwrap().len();
    assert!(
        section.contains(&format!("1 of {shared} probes")),
        "one disagreement among {shared} shared probes"
    );
    assert!(section.contains(&format!("<span class=\"id\">{probe}</span>")));
    assert_eq!(section.matches("<span class=\"id\">").count(), 1);
    assert!(section.contains(&was) && section.contains(now));
    assert!(section.contains(&format!("I cannot answer that. {SCRIPT_ESCAPED}")));
    assert!(page.contains("Model B"));
}

#[test]
fn an_engine_error_shows_in_its_transcript_expanded_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let rec = tiny_audit(dir.path());
    let mut v = read_json(&rec);
    let r = first_generated(&mut v);
    r["outcome"] = json!({ "kind": "error", "message": "out of memory <b>at</b> layer 3" });
    let probe = r["probe"].as_str().unwrap().to_owned();
    let prompt = r["prompt"].as_str().unwrap().to_owned();
    write_json(&rec, &v);
    let html = dir.path().join("e.html");
    let run = modelvet(&[
        "report",
        rec.to_str().unwrap(),
        "-o",
        html.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let page = std::fs::read_to_string(&html).unwrap();
    let at = page
        .find(&format!("id=\"t-{probe}-0\" open>"))
        .expect("expanded");
    let transcript = &page[at..at + page[at..].find("</details>").unwrap()];
    assert!(transcript.contains("<span class=\"badge error\">error</span>"));
    assert!(transcript.contains("out of memory &lt;b&gt;at&lt;&#x2f;b&gt; layer 3"));
    // The exact prompt the model was fed, chat-template markup and all, as text.
    assert!(prompt.contains('<') || prompt.contains('\n'), "{prompt:?}");
    assert!(transcript.contains(&format!("<pre>{}</pre>", escaped(&prompt))));
}

#[test]
fn a_record_without_behavior_says_so_in_the_summary() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.gguf");
    write_tiny_gguf(TinyGguf::Llama, &model);
    let out = dir.path().join("out");
    let run = modelvet(&[
        "audit",
        model.to_str().unwrap(),
        "--no-probes",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(run.code == 0 || run.code == 1, "{}", run.stderr);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    let summary = &page[..page.find("id=\"provenance\"").unwrap()];
    assert!(summary.contains("Behavior not audited:</strong> probes were not run (--no-probes)"));
}

/// Where the browser check lives and whether it can run; `None` skips with a note unless
/// MODELVET_REQUIRE_BROWSER=1, where a missing browser fails.
fn browser() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/check.mjs");
    let chromium = std::env::var_os("MODELVET_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    let missing: Vec<String> = [
        (chromium.exists(), chromium.display().to_string()),
        (
            root.join("tests/browser/node_modules/playwright-core")
                .exists(),
            "tests/browser/node_modules".into(),
        ),
        (
            std::process::Command::new("node")
                .arg("--version")
                .output()
                .is_ok(),
            "node".into(),
        ),
    ]
    .into_iter()
    .filter(|(ok, _)| !ok)
    .map(|(_, what)| what)
    .collect();
    if missing.is_empty() {
        return Some(script);
    }
    let msg = format!(
        "{} missing: run scripts/setup-browser.sh",
        missing.join(", ")
    );
    if std::env::var("MODELVET_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    eprintln!("note: skipping the browser check, {msg}");
    None
}

#[test]
fn in_a_real_browser_the_report_runs_nothing_fetches_nothing_and_shows_the_payload_as_text() {
    let Some(script) = browser() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (html, _) = poisoned_report(dir.path());
    let shot = std::env::var_os("MODELVET_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().join("report.png"));
    let out = std::process::Command::new("node")
        .arg(&script)
        .arg(&html)
        .arg(&shot)
        .arg(SCRIPT)
        .arg(IMG)
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser check failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(v["dialogs"], json!([]), "a payload ran: {v}");
    assert_eq!(v["page_errors"], json!([]), "{v}");
    assert_eq!(v["console_errors"], json!([]), "{v}");
    assert_eq!(v["requests"], json!([]), "the page fetched something: {v}");
    assert_eq!(v["scripts"], 0, "{v}");
    assert_eq!(v["injected_images"], 0, "{v}");
    assert_eq!(
        v["texts"][SCRIPT], true,
        "the payload is not shown as text: {v}"
    );
    assert_eq!(v["texts"][IMG], true, "{v}");
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
}
