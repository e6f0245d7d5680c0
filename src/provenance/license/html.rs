//! HTML to plain text, for license terms saved as web pages (the Gemma terms, a Hub license page).
//!
//! Title matching and the `spdx` detector need the words and the paragraph breaks, not the markup, and a
//! navigation menu or an inline script must not be read as the license. This is a small scanner rather
//! than an HTML parser (no dependency, linear, never fails): comments and `script`/`style`/`svg`-like
//! elements are dropped whole, inline tags become a space and every other tag a line break, and the common
//! named and all numeric entities are decoded. It does not build a tree, so a `>` inside an attribute
//! value ends the tag early and unknown named entities stay as written; both only cost a few stray words.

/// Whether a text is a web page: a doctype, `<html>`, `<head>` or `<body>` in its first 2,048 characters.
pub(super) fn looks_like_html(text: &str) -> bool {
    let head: String = text
        .chars()
        .take(2048)
        .collect::<String>()
        .to_ascii_lowercase();
    head.contains("<!doctype html")
        || head.contains("<html")
        || head.contains("<head>")
        || head.contains("<body")
}

/// Removes tags, comments, scripts and styles, and decodes common entities. Block-level tags become line
/// breaks so the detector still sees paragraphs.
pub(super) fn strip_html(html: &str) -> String {
    const SKIP: &[&str] = &["script", "style", "noscript", "svg", "template"];
    const INLINE: &[&str] = &[
        "a", "b", "i", "em", "strong", "span", "code", "sup", "sub", "small", "u", "abbr", "mark",
    ];
    let lower = html.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let mut out = String::with_capacity(html.len() / 2);
    let mut i = 0;
    while i < bytes.len() {
        let Some(rel) = lower[i..].find('<') else {
            out.push_str(&html[i..]);
            break;
        };
        out.push_str(&html[i..i + rel]);
        i += rel;
        if lower[i..].starts_with("<!--") {
            i = lower[i + 4..]
                .find("-->")
                .map_or(bytes.len(), |e| i + 4 + e + 3);
            continue;
        }
        let name_start = i + 1 + usize::from(bytes.get(i + 1) == Some(&b'/'));
        let name_len = lower[name_start..]
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let name = &lower[name_start..name_start + name_len];
        if name.is_empty() && bytes.get(i + 1) != Some(&b'!') && bytes.get(i + 1) != Some(&b'?') {
            // A bare `<` in text, not a tag.
            out.push('<');
            i += 1;
            continue;
        }
        let tag_end = lower[i..].find('>').map_or(bytes.len(), |e| i + e + 1);
        let closing = bytes.get(i + 1) == Some(&b'/');
        if !closing && SKIP.contains(&name) {
            let close = format!("</{name}");
            i = match lower[tag_end..].find(&close) {
                Some(e) => lower[tag_end + e..]
                    .find('>')
                    .map_or(bytes.len(), |g| tag_end + e + g + 1),
                None => bytes.len(),
            };
            out.push('\n');
            continue;
        }
        out.push(if INLINE.contains(&name) { ' ' } else { '\n' });
        i = tag_end;
    }
    decode_entities(&out)
}

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest[..rest.len().min(12)].find(';');
        let decoded = semi.and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "rsquo" | "lsquo" | "#39" => Some('\''),
                "ldquo" | "rdquo" => Some('"'),
                "nbsp" => Some(' '),
                "ndash" => Some('–'),
                "mdash" => Some('—'),
                "copy" => Some('©'),
                _ => entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_stripping_and_entities() {
        let plain = strip_html(
            "<p>A&amp;B &lt;x&gt; caf&#233; &#x41;<!-- hidden --><script>no()</script>ok</p>",
        );
        assert_eq!(
            plain.split_whitespace().collect::<Vec<_>>().join(" "),
            "A&B <x> café A ok"
        );
        assert_eq!(
            decode_entities("AT&T & more &unknown; &"),
            "AT&T & more &unknown; &"
        );
        // Unterminated markup does not panic.
        let _ = strip_html("<html><script>never closed");
        let _ = strip_html("<html><!-- never closed");
        let _ = strip_html("<html>a < b <");
    }
}
