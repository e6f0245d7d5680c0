//! Where things are in a YAML file, for error messages.
//!
//! serde_yaml reports line:col for syntax and type errors, but validation happens after
//! deserialisation (duplicate ids, dangling links), when the positions are gone. This walks the same text
//! with saphyr-parser's event stream once and records where each node starts, keyed by a path such as
//! `probes[3].control_for`, so a validation error can point at the exact line and column.

use saphyr_parser::{Event, Parser};
use std::collections::HashMap;

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

/// Start positions of every mapping key and sequence item, by path.
#[derive(Debug, Default)]
pub struct Positions(HashMap<String, Pos>);

enum Frame {
    Map { path: String, key: Option<String> },
    Seq { path: String, index: usize },
}

impl Positions {
    /// Indexes `text`; on a syntax error the index holds what was read before it.
    pub fn index(text: &str) -> Positions {
        let mut out = HashMap::new();
        let mut stack: Vec<Frame> = Vec::new();
        for item in Parser::new_from_str(text) {
            let Ok((event, span)) = item else { break };
            let pos = Pos {
                line: span.start.line(),
                col: span.start.col() + 1,
            };
            let starts_node = matches!(
                event,
                Event::Scalar(..)
                    | Event::Alias(_)
                    | Event::MappingStart(..)
                    | Event::SequenceStart(..)
            );
            let mut node_path = None;
            if starts_node {
                match stack.last_mut() {
                    Some(Frame::Map { path, key }) => match key.take() {
                        None => {
                            // This node is a key.
                            if let Event::Scalar(k, ..) = &event {
                                let p = if path.is_empty() {
                                    k.to_string()
                                } else {
                                    format!("{path}.{k}")
                                };
                                out.entry(p).or_insert(pos);
                                *key = Some(k.to_string());
                            } else {
                                *key = Some("?".into());
                            }
                            continue;
                        }
                        Some(k) => {
                            node_path = Some(if path.is_empty() {
                                k
                            } else {
                                format!("{path}.{k}")
                            });
                        }
                    },
                    Some(Frame::Seq { path, index }) => {
                        let p = format!("{path}[{index}]");
                        out.entry(p.clone()).or_insert(pos);
                        *index += 1;
                        node_path = Some(p);
                    }
                    None => node_path = Some(String::new()),
                }
            }
            match event {
                Event::MappingStart(..) => stack.push(Frame::Map {
                    path: node_path.unwrap_or_default(),
                    key: None,
                }),
                Event::SequenceStart(..) => stack.push(Frame::Seq {
                    path: node_path.unwrap_or_default(),
                    index: 0,
                }),
                Event::MappingEnd | Event::SequenceEnd => {
                    stack.pop();
                }
                _ => {}
            }
        }
        Positions(out)
    }

    /// The position of `path`, or of its nearest recorded ancestor.
    pub fn find(&self, path: &str) -> Option<Pos> {
        let mut p = path;
        loop {
            if let Some(pos) = self.0.get(p) {
                return Some(*pos);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_are_found_by_path() {
        let text = "id: s\nprobes:\n  - id: a\n    lang: en\n  - id: b\n    control_for: a\n";
        let p = Positions::index(text);
        assert_eq!(p.find("id"), Some(Pos { line: 1, col: 1 }));
        assert_eq!(p.find("probes[1]"), Some(Pos { line: 5, col: 5 }));
        assert_eq!(
            p.find("probes[1].control_for"),
            Some(Pos { line: 6, col: 5 })
        );
        assert_eq!(p.find("probes[0].lang"), Some(Pos { line: 4, col: 5 }));
        assert_eq!(
            p.find("probes[1].missing"),
            Some(Pos { line: 5, col: 5 }),
            "falls back to the parent"
        );
    }

    #[test]
    fn flow_style_and_nested_sequences_are_indexed() {
        let p = Positions::index("a: {b: [x, {c: 1}]}\n");
        assert_eq!(p.find("a.b[1].c"), Some(Pos { line: 1, col: 13 }));
    }
}
