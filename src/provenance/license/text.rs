//! License texts: which license a LICENSE, NOTICE or terms file is, and how sure we are.
//!
//! Texts are first matched on the titles of known model licenses (the Llama, Gemma, Qwen, DeepSeek and
//! RAIL texts are not in the SPDX corpus), then on the `spdx` crate's n-gram detector. Title matching is
//! cheap and exact but trusts a heading; the detector is robust to formatting but costs a store load (done
//! lazily, once, only when a text needs it) and only knows SPDX texts. A license body wrapped in a preamble
//! or a long trailer is still found, by scoring the best-matching line range on its own.

use super::html::{looks_like_html, strip_html};
use super::normalize::{canonical_spdx, license_name, MODEL_LICENSES};
use super::{TextMatch, TextVerdict, TEXT_ACCEPT};
use spdx::detection::{LicenseType, Store, TextData};
use std::sync::OnceLock;

/// A title found within this many bytes of the start of the (normalised) text is "the heading".
const TITLE_HEAD_BYTES: usize = 4096;

/// The detection store, loaded on first use (it decompresses and parses the whole SPDX corpus).
fn store() -> Option<&'static Store> {
    static STORE: OnceLock<Option<Store>> = OnceLock::new();
    STORE.get_or_init(|| Store::load_inline().ok()).as_ref()
}

/// Identifies a license text: known model-license titles first, then the `spdx` detector. `None` when
/// nothing matches with confidence [`TEXT_ACCEPT`] or more.
pub fn identify_text(text: &str) -> Option<TextMatch> {
    match examine_text(text) {
        TextVerdict::Identified(m) => Some(m),
        TextVerdict::Unidentified { .. } => None,
    }
}

/// Like [`identify_text`], but says what the closest candidate was when nothing matched.
pub fn examine_text(text: &str) -> TextVerdict {
    let prepared = Prepared::new(text);
    if let Some(m) = prepared.title_match() {
        return TextVerdict::Identified(m);
    }
    prepared.detect()
}

/// A text made ready for matching: markup removed, and a whitespace-normalised copy for title search.
pub(super) struct Prepared {
    html: bool,
    /// Markup removed, line structure kept.
    pub(super) plain: String,
    /// Whitespace runs collapsed to one space (same case as `plain`).
    flat: String,
}

impl Prepared {
    pub(super) fn new(text: &str) -> Prepared {
        let html = looks_like_html(text);
        let plain = if html {
            strip_html(text)
        } else {
            text.to_string()
        };
        let flat = plain.split_whitespace().collect::<Vec<_>>().join(" ");
        Prepared { html, plain, flat }
    }

    /// The earliest known title in the text.
    pub(super) fn title_match(&self) -> Option<TextMatch> {
        // ASCII lowering keeps byte offsets, so a position in `lower` is a position in `flat`.
        let lower = self.flat.to_ascii_lowercase();
        let (pos, title, license) = MODEL_LICENSES
            .iter()
            .flat_map(|m| m.titles.iter().map(move |t| (t, m)))
            .filter_map(|(t, m)| lower.find(t).map(|p| (p, *t, m)))
            .min_by_key(|(p, t, _)| (*p, usize::MAX - t.len()))?;
        let near_start = pos < TITLE_HEAD_BYTES;
        let confidence = match (near_start, self.html) {
            (true, _) => 0.95,
            (false, true) => 0.9,
            (false, false) => 0.8,
        };
        let heading = self
            .flat
            .get(pos..pos + title.len())
            .unwrap_or(title)
            .to_string();
        Some(TextMatch {
            id: license.id.to_string(),
            name: Some(license.name.to_string()),
            confidence,
            method: "text-title".to_string(),
            heading,
        })
    }

    /// The `spdx` crate's detector on the whole text, then on the best-matching line range.
    pub(super) fn detect(&self) -> TextVerdict {
        let heading = first_heading(&self.plain);
        let unidentified = |best: Option<String>, score: f32| TextVerdict::Unidentified {
            heading: heading.clone(),
            best,
            score,
        };
        if self.plain.trim().is_empty() {
            return unidentified(None, 0.0);
        }
        let Some(store) = store() else {
            return unidentified(None, 0.0);
        };
        let data = TextData::new(&self.plain);
        let found = store.analyze(&data);
        let mut score = found.score;
        let mut method = match found.license_type {
            LicenseType::Header => "text-spdx-detection-header",
            _ => "text-spdx-detection",
        };
        if (0.5..TEXT_ACCEPT).contains(&score) {
            // A license body with a preamble or a trailer (a copyright line, a third-party section) scores
            // low as a whole; accept it when the matching range is strong and covers most of the file.
            let (view, contained) = data.optimize_bounds(found.data);
            let (start, end) = view.lines_view();
            let total = data.lines().len().max(1);
            if contained >= 0.9 && (end.saturating_sub(start)) * 2 >= total {
                score = contained;
                method = "text-spdx-detection-contained";
            }
        }
        let id = spdx::license_id(found.name)
            .map(|l| canonical_spdx(l, false))
            .unwrap_or_else(|| found.name.to_string());
        if score >= TEXT_ACCEPT {
            TextVerdict::Identified(TextMatch {
                name: license_name(&id),
                id,
                confidence: score,
                method: method.to_string(),
                heading,
            })
        } else {
            unidentified(Some(id), score)
        }
    }
}

/// The first non-empty line, without Markdown heading marks, at most 120 characters.
fn first_heading(plain: &str) -> String {
    let line = plain
        .lines()
        .map(|l| {
            l.trim()
                .trim_matches(|c: char| c == '#' || c == '*' || c == '=' || c == '_')
                .trim()
        })
        .find(|l| !l.is_empty())
        .unwrap_or("");
    line.chars().take(120).collect()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Also the license text of the assessment scenarios.
    pub(in crate::provenance::license) const MIT_TEXT: &str = "MIT License

Copyright (c) 2024 Example Labs

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the \"Software\"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
";

    fn home_file(rel: &str) -> Option<std::path::PathBuf> {
        let path = std::path::Path::new(&std::env::var_os("HOME")?).join(rel);
        path.is_file().then_some(path)
    }

    #[test]
    fn mit_text_is_identified() {
        let m = identify_text(MIT_TEXT).expect("the MIT text is identified");
        assert_eq!(m.id, "MIT");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);
        assert!(m.method.starts_with("text-spdx-detection"), "{}", m.method);
    }

    #[test]
    fn apache_text_is_identified() {
        let path = std::path::Path::new("/usr/share/common-licenses/Apache-2.0");
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("skipped: {} is absent", path.display());
            return;
        };
        let started = std::time::Instant::now();
        let m = identify_text(&text).expect("the Apache text is identified");
        println!(
            "Apache-2.0 identified in {:?} (includes the store load on first use)",
            started.elapsed()
        );
        assert_eq!(m.id, "Apache-2.0");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);

        // With a preamble the file still reads as Apache-2.0.
        let prefixed = format!(
            "Copyright 2024 Example Labs\nAll model weights are released as follows.\n\n{text}"
        );
        let m = identify_text(&prefixed).expect("the prefixed Apache text is identified");
        println!("prefixed Apache text: {m:?}");
        assert_eq!(m.id, "Apache-2.0");
    }

    #[test]
    fn license_body_with_a_long_trailer_is_found_inside_the_file() {
        let path = std::path::Path::new("/usr/share/common-licenses/Apache-2.0");
        let Ok(text) = std::fs::read_to_string(path) else {
            println!("skipped: {} is absent", path.display());
            return;
        };
        let trailer: String = (0..150)
            .map(|i| {
                format!("Third-party component number {i} was fetched from an upstream mirror.\n")
            })
            .collect();
        let combined = format!("{text}\n\nTHIRD-PARTY COMPONENTS\n\n{trailer}");
        let m = identify_text(&combined).expect("the Apache body is found");
        println!("Apache with trailer: {m:?}");
        assert_eq!(m.id, "Apache-2.0");
        assert_eq!(m.method, "text-spdx-detection-contained");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);
    }

    #[test]
    fn store_load_time() {
        let started = std::time::Instant::now();
        let store = Store::load_inline().expect("the inline store loads");
        println!(
            "Store::load_inline() took {:?} for {} licenses",
            started.elapsed(),
            store.len()
        );
        assert!(store.len() > 100);
    }

    #[test]
    fn html_page_with_navigation_reads_as_gemma() {
        let nav: String = (0..300)
            .map(|i| format!("<li><a href=\"/x/{i}\">Menu entry {i}</a></li>\n"))
            .collect();
        let html = format!(
            "<!DOCTYPE html><html><head><style>body {{ color: red }}</style>\
             <script>var t = \"Llama 2 Community License Agreement\";</script></head><body>\
             <nav><ul>{nav}</ul></nav><main><h1 class=\"title\">Gemma Terms of Use</h1>\
             <p>By using, reproducing, modifying, distributing &amp; performing Gemma&hellip;</p></main></body></html>"
        );
        let m = identify_text(&html).expect("the page is identified");
        assert_eq!(m.id, "LicenseRef-Gemma");
        assert_eq!(m.method, "text-title");
        assert!(m.confidence >= 0.9);
        assert_eq!(m.heading, "Gemma Terms of Use");
    }

    #[test]
    fn real_gemma_terms_page_reads_as_gemma() {
        let Some(path) = home_file(".cache/modelvet/models/gemma-3-270m/GEMMA_TERMS.html") else {
            println!(
                "skipped: the Gemma terms page is not in ~/.cache/modelvet/models/gemma-3-270m"
            );
            return;
        };
        let text = std::fs::read_to_string(&path).expect("readable");
        let m = identify_text(&text).expect("the Gemma page is identified");
        println!("{}: {m:?}", path.display());
        assert_eq!(m.id, "LicenseRef-Gemma");
        assert!(m.confidence >= 0.9, "confidence {}", m.confidence);
    }

    #[test]
    fn titles_pick_the_right_model_license() {
        let cases = [
            ("LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024", "LicenseRef-Llama-3.1"),
            ("META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date: April 18, 2024", "LicenseRef-Llama-3"),
            ("Qwen LICENSE AGREEMENT\n\nQwen LICENSE AGREEMENT Release Date: September 19, 2024", "LicenseRef-Qwen"),
            ("Qwen RESEARCH LICENSE AGREEMENT\n\nRelease Date: September 19, 2024", "LicenseRef-Qwen-Research"),
            ("Tongyi Qianwen LICENSE AGREEMENT\n\nTongyi Qianwen Release Date: August 3, 2023", "LicenseRef-Tongyi-Qianwen"),
            ("# DEEPSEEK LICENSE AGREEMENT\n\nVersion 1.0, 23 October 2023", "LicenseRef-DeepSeek"),
            ("CreativeML Open RAIL++-M License\ndated July 26, 2023", "LicenseRef-OpenRAIL-plusplus-M"),
        ];
        for (text, id) in cases {
            let m = identify_text(text).unwrap_or_else(|| panic!("{text:?} is identified"));
            assert_eq!(m.id, id, "{text:?}");
            assert_eq!(m.confidence, 0.95);
        }
        let deep = format!(
            "{}\nLLAMA 2 COMMUNITY LICENSE AGREEMENT",
            "filler words here. ".repeat(400)
        );
        assert_eq!(identify_text(&deep).map(|m| m.confidence), Some(0.8));
    }
}
