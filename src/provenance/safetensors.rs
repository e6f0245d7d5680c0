//! safetensors headers, read without touching tensor data, and checked the way a careful loader should.
//!
//! The format is an 8-byte little-endian header length, a JSON object, then the data. We read at most
//! 100 MB of header, keep every entry even when a name repeats (a JSON map would silently keep one), and
//! check each tensor: known dtype, byte length equal to shape × dtype size, range inside the file,
//! ranges in order, no overlap, no unindexed bytes. Every violation is a finding; none stops the record.

use crate::diag::{Code, Finding};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// Largest header accepted (the reference implementation's own limit).
pub const MAX_HEADER: u64 = 100_000_000;

/// Header summary for the provenance record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SafetensorsSummary {
    pub file: String,
    pub header_len: u64,
    pub tensor_count: usize,
    pub parameter_count: u64,
    /// Tensor count per dtype.
    pub dtypes: BTreeMap<String, usize>,
    /// The free-form `__metadata__` map (string to string).
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub metadata: BTreeMap<String, String>,
}

/// Bytes per element of a safetensors dtype (bits for sub-byte types are rounded per tensor below).
fn dtype_bits(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" | "F8_E8M0" => 8,
        "I16" | "U16" | "F16" | "BF16" => 16,
        "I32" | "U32" | "F32" => 32,
        "I64" | "U64" | "F64" | "C64" => 64,
        "F4" => 4,
        "F6_E2M3" | "F6_E3M2" => 6,
        _ => return None,
    })
}

/// The header's top-level entries in file order, duplicates kept.
struct Entries(Vec<(String, serde_json::Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTensor {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

/// Reads and checks the header of the safetensors file at `path` (reported as `rel`).
pub fn inspect(path: &Path, rel: &str) -> (Option<SafetensorsSummary>, Vec<Finding>) {
    let mut findings = Vec::new();
    let f = |code, msg: String| Finding::new(code, msg).in_file(rel);
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) => {
            return (
                None,
                vec![f(Code::FileUnreadable, format!("cannot open `{rel}`: {e}"))],
            )
        }
    };
    let file_len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut len_bytes = [0u8; 8];
    if let Err(e) = file.read_exact(&mut len_bytes) {
        return (
            None,
            vec![f(
                Code::SafetensorsHeaderInvalid,
                format!("file is too short for a header length ({file_len} bytes): {e}"),
            )],
        );
    }
    let header_len = u64::from_le_bytes(len_bytes);
    if header_len > MAX_HEADER || header_len > file_len.saturating_sub(8) {
        return (
            None,
            vec![f(
                Code::SafetensorsHeaderTooLarge,
                format!("header claims {header_len} bytes; the cap is {MAX_HEADER} and the file has {} after the length", file_len.saturating_sub(8)),
            )],
        );
    }
    let mut header = vec![0u8; header_len as usize];
    if let Err(e) = file.read_exact(&mut header) {
        return (
            None,
            vec![f(
                Code::FileUnreadable,
                format!("cannot read the header: {e}"),
            )],
        );
    }
    let data_len = file_len - 8 - header_len;
    let (summary, mut found) = check_header(&header, data_len, rel);
    findings.append(&mut found);
    (
        summary.map(|mut s| {
            s.header_len = header_len;
            s
        }),
        findings,
    )
}

/// Checks a header already read; `data_len` is the size of the data section.
pub fn check_header(
    header: &[u8],
    data_len: u64,
    rel: &str,
) -> (Option<SafetensorsSummary>, Vec<Finding>) {
    let mut findings = Vec::new();
    let f = |code, msg: String| Finding::new(code, msg).in_file(rel);
    let text = match std::str::from_utf8(header) {
        Ok(t) => t,
        Err(e) => {
            return (
                None,
                vec![f(
                    Code::SafetensorsHeaderInvalid,
                    format!("header is not UTF-8: {e}"),
                )],
            )
        }
    };
    // The reference writer pads the header with spaces; trailing whitespace is fine.
    let entries: Entries = match serde_json::from_str(text.trim_end()) {
        Ok(e) => e,
        Err(e) => {
            return (
                None,
                vec![f(
                    Code::SafetensorsHeaderInvalid,
                    format!("header is not a JSON object: {e}"),
                )],
            )
        }
    };
    let mut s = SafetensorsSummary {
        file: rel.to_owned(),
        ..Default::default()
    };
    let mut spans: Vec<(u64, u64, String)> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut previous_end = 0u64;
    let mut unsorted_reported = false;
    for (name, value) in entries.0 {
        if name == "__metadata__" {
            match serde_json::from_value::<BTreeMap<String, String>>(value) {
                Ok(m) => s.metadata = m,
                Err(e) => findings.push(f(
                    Code::SafetensorsHeaderInvalid,
                    format!("`__metadata__` must map strings to strings: {e}"),
                )),
            }
            continue;
        }
        if !seen.insert(name.clone()) {
            findings.push(f(
                Code::SafetensorsDuplicate,
                format!("tensor `{name}` is declared more than once"),
            ));
        }
        let t: RawTensor = match serde_json::from_value(value) {
            Ok(t) => t,
            Err(e) => {
                findings.push(f(
                    Code::SafetensorsHeaderInvalid,
                    format!("tensor `{name}`: {e}"),
                ));
                continue;
            }
        };
        s.tensor_count += 1;
        *s.dtypes.entry(t.dtype.clone()).or_insert(0) += 1;
        let elements = t.shape.iter().try_fold(1u64, |a, &d| a.checked_mul(d));
        s.parameter_count = s.parameter_count.saturating_add(elements.unwrap_or(0));
        let [begin, end] = t.data_offsets;
        if end < begin {
            findings.push(f(
                Code::SafetensorsOutOfBounds,
                format!("tensor `{name}` ends ({end}) before it begins ({begin})"),
            ));
            continue;
        }
        if end > data_len {
            findings.push(f(
                Code::SafetensorsOutOfBounds,
                format!("tensor `{name}` spans bytes {begin}..{end} but the data section has {data_len}"),
            ));
        }
        match dtype_bits(&t.dtype) {
            None => findings.push(f(
                Code::SafetensorsDtypeUnknown,
                format!("tensor `{name}` has unknown dtype `{}`", t.dtype),
            )),
            Some(bits) => {
                let want = elements
                    .and_then(|n| n.checked_mul(bits))
                    .map(|b| b.div_ceil(8));
                if want != Some(end - begin) {
                    findings.push(f(
                        Code::SafetensorsSizeMismatch,
                        format!(
                            "tensor `{name}` holds {} bytes but shape {:?} of `{}` needs {}",
                            end - begin,
                            t.shape,
                            t.dtype,
                            want.map(|w| w.to_string())
                                .unwrap_or_else(|| "more than 2^64".into())
                        ),
                    ));
                }
            }
        }
        if begin < previous_end && !unsorted_reported {
            unsorted_reported = true;
            findings.push(f(
                Code::SafetensorsUnsorted,
                format!("tensor `{name}` is stored before the tensor listed ahead of it"),
            ));
        }
        previous_end = previous_end.max(end);
        spans.push((begin, end, name));
    }
    spans.sort();
    let mut covered = 0u64;
    for w in spans.windows(2) {
        if w[1].0 < w[0].1 {
            findings.push(f(
                Code::SafetensorsOverlap,
                format!(
                    "tensors `{}` and `{}` share bytes {}..{}",
                    w[0].2,
                    w[1].2,
                    w[1].0,
                    w[0].1.min(w[1].1)
                ),
            ));
        }
    }
    let mut gaps = 0u64;
    for (begin, end, _) in &spans {
        if *begin > covered {
            gaps += begin - covered;
        }
        covered = covered.max(*end);
    }
    if covered < data_len {
        gaps += data_len - covered;
    }
    if gaps > 0 {
        findings.push(f(
            Code::SafetensorsUnindexed,
            format!("{gaps} bytes of the data section belong to no tensor"),
        ));
    }
    (Some(s), findings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(header: &str, data_len: u64) -> Vec<Code> {
        check_header(header.as_bytes(), data_len, "m.safetensors")
            .1
            .iter()
            .map(|f| f.code)
            .collect()
    }

    #[test]
    fn a_well_formed_header_is_summarised_without_findings() {
        let h = r#"{"__metadata__":{"format":"pt"},"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"b":{"dtype":"BF16","shape":[3],"data_offsets":[16,22]}}"#;
        let (s, f) = check_header(h.as_bytes(), 22, "m.safetensors");
        assert!(f.is_empty(), "{f:?}");
        let s = s.unwrap();
        assert_eq!((s.tensor_count, s.parameter_count), (2, 7));
        assert_eq!(s.metadata.get("format").map(String::as_str), Some("pt"));
        assert_eq!(s.dtypes.get("BF16"), Some(&1));
    }

    #[test]
    fn overlapping_offsets_are_found() {
        let h = r#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}"#;
        assert!(codes(h, 12).contains(&Code::SafetensorsOverlap));
    }

    #[test]
    fn a_size_that_disagrees_with_the_shape_is_found() {
        let h = r#"{"a":{"dtype":"F16","shape":[4],"data_offsets":[0,6]}}"#;
        assert_eq!(codes(h, 6), vec![Code::SafetensorsSizeMismatch]);
    }

    #[test]
    fn offsets_past_the_data_and_reversed_ranges_are_out_of_bounds() {
        let h = r#"{"a":{"dtype":"U8","shape":[100],"data_offsets":[0,100]}}"#;
        assert!(codes(h, 10).contains(&Code::SafetensorsOutOfBounds));
        let h = r#"{"a":{"dtype":"U8","shape":[1],"data_offsets":[9,1]}}"#;
        assert!(codes(h, 10).contains(&Code::SafetensorsOutOfBounds));
    }

    #[test]
    fn duplicate_names_unknown_dtypes_unsorted_and_unindexed_bytes_are_found() {
        let h = r#"{"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]},"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}"#;
        let c = codes(h, 6);
        assert!(c.contains(&Code::SafetensorsDuplicate), "{c:?}");
        assert!(c.contains(&Code::SafetensorsUnsorted), "{c:?}");
        assert!(c.contains(&Code::SafetensorsUnindexed), "{c:?}");
        let h = r#"{"a":{"dtype":"Q4","shape":[2],"data_offsets":[0,2]}}"#;
        assert_eq!(codes(h, 2), vec![Code::SafetensorsDtypeUnknown]);
    }

    #[test]
    fn shapes_whose_product_overflows_are_a_size_mismatch_not_a_panic() {
        let h = r#"{"a":{"dtype":"F64","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}}"#;
        assert_eq!(codes(h, 8), vec![Code::SafetensorsSizeMismatch]);
    }

    #[test]
    fn malformed_json_bad_utf8_and_wrong_types_are_invalid_headers() {
        assert_eq!(codes("{\"a\":", 0), vec![Code::SafetensorsHeaderInvalid]);
        assert_eq!(codes("[1,2]", 0), vec![Code::SafetensorsHeaderInvalid]);
        assert_eq!(
            codes(
                r#"{"a":{"dtype":"U8","shape":"x","data_offsets":[0,1]}}"#,
                0
            ),
            vec![Code::SafetensorsHeaderInvalid]
        );
        let (_, f) = check_header(&[b'{', 0xff, b'}'], 0, "m");
        assert_eq!(f[0].code, Code::SafetensorsHeaderInvalid);
    }
}
