//! Evidence highlighting: an answer split into plain and highlighted pieces at the character spans the
//! detectors recorded, so the templates can mark what matched without building HTML. Spans come from the
//! record and are not trusted: they are clamped, dropped or capped ([`MAX_SPANS`]), trading a complete
//! highlight of a hostile record for a split that stays fast and never loses text.

use crate::probe::detect::Evidence;
use serde::Serialize;
use std::collections::BTreeSet;

/// A piece of an answer: plain text, or text an evidence span covers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextPiece {
    pub text: String,
    /// The detectors whose spans cover this piece (empty: plain text); the first is the CSS class.
    pub detectors: Vec<&'static str>,
    /// What matched, for the `title` tooltip: `refusal: i'm sorry, but; candid: fact 2`.
    pub title: String,
}

/// Most evidence spans highlighted in one answer: real answers have a few dozen; a hostile record with
/// millions would make the split quadratic. Spans past this many are left unmarked (the text stays).
pub const MAX_SPANS: usize = 2048;

/// Splits an answer into pieces at every evidence boundary. Spans are character offsets (start
/// inclusive, end exclusive); they may overlap (a fact inside a narrative line) and a hostile record may
/// hold spans past the end or reversed: those are clamped or dropped, never trusted.
pub fn highlight(answer: &str, evidence: &[Evidence]) -> Vec<TextPiece> {
    let chars: Vec<char> = answer.chars().collect();
    let len = chars.len();
    let spans: Vec<&Evidence> = evidence
        .iter()
        .filter(|e| e.start < e.end.min(len))
        .take(MAX_SPANS)
        .collect();
    let mut cuts: BTreeSet<usize> = BTreeSet::from([0, len]);
    for e in &spans {
        cuts.insert(e.start);
        cuts.insert(e.end.min(len));
    }
    let cuts: Vec<usize> = cuts.into_iter().collect();
    let mut out: Vec<TextPiece> = Vec::new();
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a >= b {
            continue;
        }
        let covering: Vec<&&Evidence> = spans
            .iter()
            .filter(|e| e.start <= a && e.end.min(len) >= b)
            .collect();
        let mut detectors: Vec<&'static str> =
            covering.iter().map(|e| e.detector.as_str()).collect();
        detectors.dedup();
        let title = covering
            .iter()
            .map(|e| format!("{}: {}", e.detector.as_str(), e.rule))
            .collect::<Vec<_>>()
            .join("; ");
        let text: String = chars[a..b].iter().collect();
        match out.last_mut() {
            Some(last) if last.detectors == detectors && last.title == title => {
                last.text.push_str(&text)
            }
            _ => out.push(TextPiece {
                text,
                detectors,
                title,
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::suite::Detector;

    fn ev(detector: Detector, start: usize, end: usize) -> Evidence {
        Evidence {
            detector,
            start,
            end,
            text: String::new(),
            rule: "r".into(),
        }
    }

    fn pieces(p: &[TextPiece]) -> Vec<(String, Vec<&'static str>)> {
        p.iter()
            .map(|p| (p.text.clone(), p.detectors.clone()))
            .collect()
    }

    #[test]
    fn spans_are_character_offsets_not_bytes() {
        // "抱歉" is two characters but six bytes: a byte-indexed split would cut inside a character.
        let p = highlight("抱歉，我不能回答。", &[ev(Detector::Refusal, 0, 2)]);
        assert_eq!(
            pieces(&p),
            vec![
                ("抱歉".to_owned(), vec!["refusal"]),
                ("，我不能回答。".to_owned(), vec![]),
            ]
        );
    }

    #[test]
    fn overlapping_spans_split_into_pieces_covered_by_both() {
        let p = highlight(
            "abcdefgh",
            &[ev(Detector::Narrative, 1, 6), ev(Detector::Candid, 3, 8)],
        );
        assert_eq!(
            pieces(&p),
            vec![
                ("a".to_owned(), vec![]),
                ("bc".to_owned(), vec!["narrative"]),
                ("def".to_owned(), vec!["narrative", "candid"]),
                ("gh".to_owned(), vec!["candid"]),
            ]
        );
    }

    #[test]
    fn hostile_spans_are_clamped_or_dropped_and_no_text_is_lost() {
        let answer = "short";
        let p = highlight(
            answer,
            &[
                ev(Detector::Refusal, 3, 999),
                ev(Detector::Deflection, 4, 2),
                ev(Detector::Candid, 50, 60),
            ],
        );
        let joined: String = p.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, answer);
        assert_eq!(
            pieces(&p),
            vec![
                ("sho".to_owned(), vec![]),
                ("rt".to_owned(), vec!["refusal"])
            ]
        );
    }

    #[test]
    fn a_flood_of_spans_is_capped_and_stays_fast() {
        let answer = "x".repeat(200_000);
        let spans: Vec<Evidence> = (0..100_000)
            .map(|i| ev(Detector::Candid, i * 2, i * 2 + 1))
            .collect();
        let t = std::time::Instant::now();
        let p = highlight(&answer, &spans);
        assert!(t.elapsed().as_secs() < 5, "{:?}", t.elapsed());
        assert_eq!(
            p.iter().filter(|p| !p.detectors.is_empty()).count(),
            MAX_SPANS
        );
        assert_eq!(p.iter().map(|p| p.text.len()).sum::<usize>(), answer.len());
    }
}
