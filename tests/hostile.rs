//! Model files are hostile until proven otherwise. Each crafted input below must give its finding (or a
//! clear error) under a 1.5 GB address-space limit: no panic, no crash, no unbounded allocation.

use crate::support::*;

/// A crafted file: its name, its bytes, and the finding code it must produce.
struct Case {
    what: &'static str,
    file: &'static str,
    bytes: Vec<u8>,
    expect: &'static str,
}

fn gguf_cases() -> Vec<Case> {
    let g = || GgufBytes::new(3, 0, 1);
    vec![
        Case {
            what: "GGUF cut after the magic",
            file: "m.gguf",
            bytes: b"GGUF\x03\0".to_vec(),
            expect: "gguf-truncated",
        },
        Case {
            what: "GGUF key length of 2^63",
            file: "m.gguf",
            bytes: g().u64(1 << 63).raw(&[0; 32]).0,
            expect: "gguf-length-cap",
        },
        Case {
            what: "GGUF array of four billion strings",
            file: "m.gguf",
            bytes: g()
                .str("tokenizer.ggml.tokens")
                .u32(9)
                .u32(8)
                .u64(4_000_000_000)
                .0,
            expect: "gguf-length-cap",
        },
        Case {
            what: "GGUF array longer than the file",
            file: "m.gguf",
            bytes: g()
                .str("tokenizer.ggml.scores")
                .u32(9)
                .u32(6)
                .u64(1_000_000)
                .0,
            expect: "gguf-truncated",
        },
        Case {
            what: "GGUF metadata count of 2^40",
            file: "m.gguf",
            bytes: GgufBytes::new(3, 0, 1 << 40).0,
            expect: "gguf-length-cap",
        },
        Case {
            what: "GGUF unknown value type",
            file: "m.gguf",
            bytes: g().str("k").u32(99).0,
            expect: "gguf-value-invalid",
        },
        Case {
            what: "GGUF string that is not UTF-8",
            file: "m.gguf",
            bytes: g().str("general.name").u32(8).u64(2).raw(&[0xc3, 0x28]).0,
            expect: "gguf-value-invalid",
        },
        Case {
            what: "GGUF alignment zero",
            file: "m.gguf",
            bytes: g().str("general.alignment").u32(4).u32(0).0,
            expect: "gguf-alignment-invalid",
        },
        Case {
            what: "GGUF duplicate keys",
            file: "m.gguf",
            bytes: GgufBytes::new(3, 0, 2)
                .str("general.name")
                .u32(8)
                .str("a")
                .str("general.name")
                .u32(8)
                .str("b")
                .0,
            expect: "gguf-duplicate-key",
        },
        Case {
            what: "GGUF tensor past the end of the file",
            file: "m.gguf",
            bytes: GgufBytes::new(3, 1, 0)
                .str("w")
                .u32(1)
                .u64(1 << 20)
                .u32(0)
                .u64(0)
                .pad(64)
                .0,
            expect: "gguf-tensor-out-of-bounds",
        },
        Case {
            what: "GGUF overlapping tensors",
            file: "m.gguf",
            bytes: GgufBytes::new(3, 2, 0)
                .str("a")
                .u32(1)
                .u64(64)
                .u32(0)
                .u64(0)
                .str("b")
                .u32(1)
                .u64(64)
                .u32(0)
                .u64(128)
                .pad(512)
                .0,
            expect: "gguf-tensor-overlap",
        },
        Case {
            what: "a .gguf that is not GGUF",
            file: "m.gguf",
            bytes: b"PK\x03\x04not gguf".to_vec(),
            expect: "gguf-invalid",
        },
        Case {
            what: "GGUF arrays nested five deep",
            file: "m.gguf",
            bytes: g()
                .str("n")
                .u32(9)
                .u32(9)
                .u64(1)
                .u32(9)
                .u64(1)
                .u32(9)
                .u64(1)
                .u32(9)
                .u64(1)
                .u32(4)
                .u64(0)
                .0,
            expect: "gguf-value-invalid",
        },
        Case {
            what: "GGUF tensor with 100 dimensions",
            file: "m.gguf",
            bytes: GgufBytes::new(3, 1, 0).str("w").u32(100).raw(&[0; 64]).0,
            expect: "gguf-length-cap",
        },
    ]
}

fn safetensors_cases() -> Vec<Case> {
    vec![
        Case {
            what: "safetensors header length 2^64-1",
            file: "m.safetensors",
            bytes: u64::MAX.to_le_bytes().to_vec(),
            expect: "safetensors-header-too-large",
        },
        Case {
            what: "safetensors header longer than the file",
            file: "m.safetensors",
            bytes: [1000u64.to_le_bytes().as_slice(), b"{}"].concat(),
            expect: "safetensors-header-too-large",
        },
        Case {
            what: "safetensors header that is not JSON",
            file: "m.safetensors",
            bytes: safetensors_bytes("{\"a\": [", 0),
            expect: "safetensors-header-invalid",
        },
        Case {
            what: "safetensors header that is not UTF-8",
            file: "m.safetensors",
            bytes: [2u64.to_le_bytes().as_slice(), &[0xff, 0xfe]].concat(),
            expect: "safetensors-header-invalid",
        },
        Case {
            what: "safetensors overlapping offsets",
            file: "m.safetensors",
            bytes: safetensors_bytes(
                r#"{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}"#,
                12,
            ),
            expect: "safetensors-overlap",
        },
        Case {
            what: "safetensors offsets past the end",
            file: "m.safetensors",
            bytes: safetensors_bytes(
                r#"{"a":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}"#,
                16,
            ),
            expect: "safetensors-out-of-bounds",
        },
        Case {
            what: "safetensors size not shape x dtype",
            file: "m.safetensors",
            bytes: safetensors_bytes(
                r#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                8,
            ),
            expect: "safetensors-size-mismatch",
        },
        Case {
            what: "safetensors file of three bytes",
            file: "m.safetensors",
            bytes: vec![1, 2, 3],
            expect: "safetensors-header-invalid",
        },
    ]
}

fn pickle_cases() -> Vec<Case> {
    let mut huge_string = vec![0x80, 4, b'X'];
    huge_string.extend(0xFFFF_FFF0u32.to_le_bytes());
    huge_string.extend(b"tiny");
    let dir = tempfile::tempdir().unwrap();
    let traversal = dir.path().join("t.bin");
    torch_zip(
        &traversal,
        &[
            ("archive/data.pkl", &[0x80, 2, b'}', b'.']),
            ("../../etc/cron.d/evil.pkl", &[0x80, 2, b'N', b'.']),
        ],
    );
    vec![
        Case {
            what: "zip member climbing out with ..",
            file: "pytorch_model.bin",
            bytes: std::fs::read(&traversal).unwrap(),
            expect: "zip-path-traversal",
        },
        Case {
            what: "pickle string length of 4 GiB",
            file: "model.pkl",
            bytes: huge_string,
            expect: "pickle-invalid",
        },
        Case {
            what: "pickle unknown opcode",
            file: "model.pkl",
            bytes: vec![0x80, 2, 0xff, b'.'],
            expect: "pickle-invalid",
        },
        Case {
            what: "pickle calling os.system",
            file: "model.pkl",
            bytes: os_system_pickle(),
            expect: "pickle-global-unsafe",
        },
        Case {
            what: "zip with a broken central directory",
            file: "model.pt",
            bytes: b"PK\x03\x04garbage that is not a zip".to_vec(),
            expect: "zip-invalid",
        },
    ]
}

/// A folder case: what it is, the files written beside a valid safetensors file, the expected code.
type FolderCase = (&'static str, Vec<(&'static str, Vec<u8>)>, &'static str);

fn folder_cases() -> Vec<FolderCase> {
    let laughs = "---\na: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nh: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\ni: [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n---\n";
    vec![
        (
            "card with broken YAML",
            vec![("README.md", b"---\nlicense: [mit\n---\n".to_vec())],
            "card-invalid",
        ),
        (
            "card with a billion-laughs alias bomb",
            vec![("README.md", laughs.as_bytes().to_vec())],
            "card-invalid",
        ),
        (
            "config.json that is not JSON",
            vec![("config.json", b"{\"architectures\": [".to_vec())],
            "config-invalid",
        ),
    ]
}

#[test]
fn every_crafted_bad_input_gives_its_finding_without_panicking_or_exhausting_memory() {
    let mut failures = Vec::new();
    let mut count = 0;
    let dir = tempfile::tempdir().unwrap();
    let check = |what: &str, path: &std::path::Path, expect: &str, failures: &mut Vec<String>| {
        let run = modelvet_limited(
            &["provenance", path.to_str().unwrap(), "--format", "json"],
            &[],
            Some(1_500_000),
        );
        if run.code != 0 && run.code != 1 {
            failures.push(format!(
                "{what}: exit {} (stderr: {})",
                run.code,
                run.stderr.trim()
            ));
            return;
        }
        let codes = run.codes();
        if !codes.iter().any(|c| c == expect) {
            failures.push(format!("{what}: expected `{expect}`, got {codes:?}"));
        }
    };
    for (i, case) in gguf_cases()
        .into_iter()
        .chain(safetensors_cases())
        .chain(pickle_cases())
        .enumerate()
    {
        let sub = dir.path().join(format!("case{i}"));
        std::fs::create_dir(&sub).unwrap();
        let path = sub.join(case.file);
        std::fs::write(&path, &case.bytes).unwrap();
        check(case.what, &path, case.expect, &mut failures);
        count += 1;
    }
    for (i, (what, files, expect)) in folder_cases().into_iter().enumerate() {
        let sub = dir.path().join(format!("folder{i}"));
        std::fs::create_dir(&sub).unwrap();
        write_safetensors(&sub.join("model.safetensors"));
        for (name, bytes) in files {
            std::fs::write(sub.join(name), bytes).unwrap();
        }
        check(what, &sub, expect, &mut failures);
        count += 1;
    }
    assert!(count >= 20, "only {count} crafted inputs");
    assert!(
        failures.is_empty(),
        "{} of {count} crafted inputs misbehaved:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
