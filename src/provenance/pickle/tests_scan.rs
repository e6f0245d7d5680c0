//! Tests of file and zip scanning: each writes a tiny file (raw pickle, legacy checkpoint, zip archive) to
//! a temporary path, scans it, and checks the format, completeness, globals and findings.

use super::*;
use crate::provenance::pickle::test_support::*;
use crate::provenance::pickle::walker::op;
use std::io::Write;

/// What `torch.save(model.state_dict())` writes as `data.pkl` for one float tensor (protocol 2).
fn torch_state_dict() -> Vec<u8> {
    P::proto(2)
        .global("collections", "OrderedDict")
        .binput(0)
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE)
        .binput(1)
        .unicode("weight")
        .binput(2)
        .global("torch._utils", "_rebuild_tensor_v2")
        .binput(3)
        .op(op::MARK)
        .op(op::MARK)
        .unicode("storage")
        .binput(4)
        .global("torch", "FloatStorage")
        .binput(5)
        .unicode("0")
        .binput(6)
        .unicode("cpu")
        .binput(7)
        .int1(4)
        .op(op::TUPLE)
        .binput(8)
        .op(op::BINPERSID)
        .int1(0)
        .int1(2)
        .int1(2)
        .op(op::TUPLE2)
        .int1(2)
        .int1(1)
        .op(op::TUPLE2)
        .op(op::NEWFALSE)
        .global("collections", "OrderedDict")
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE)
        .op(op::TUPLE)
        .op(op::REDUCE)
        .binput(9)
        .op(op::SETITEM)
        .stop()
}

fn scan_bytes_with(bytes: &[u8], limits: &Limits) -> (PickleScan, Vec<Finding>) {
    let file = write_temp(bytes);
    scan_file_with(file.path(), "model.bin", limits)
}

fn zip_file(members: &[(&str, &[u8])]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let mut writer = zip::ZipWriter::new(file.reopen().expect("reopen temp file"));
    let options =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        writer.start_file(*name, options).expect("start zip member");
        writer.write_all(data).expect("write zip member");
    }
    writer.finish().expect("finish zip");
    file
}

#[test]
fn protocol_2_global_os_system_gives_one_unsafe_finding() {
    let bytes = P::proto(2)
        .global("os", "system")
        .unicode("echo pwned")
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    let (scan, findings) = scan_bytes(&bytes);

    assert_eq!(scan.format, CheckpointFormat::Pickle);
    assert!(scan.complete);
    assert_eq!(
        scan.globals,
        vec![ImportedGlobal {
            module: "os".into(),
            name: "system".into(),
            safety: Safety::Unsafe,
            count: 1,
            pickle: "stream 0".into(),
        }]
    );
    assert_eq!(
        codes(&findings),
        vec![Code::PickleSerialization, Code::PickleGlobalUnsafe]
    );
    let unsafe_finding = only(&findings, Code::PickleGlobalUnsafe)[0];
    assert!(
        unsafe_finding.message.contains("`os.system`"),
        "{}",
        unsafe_finding.message
    );
    assert!(
        unsafe_finding.message.contains("shell commands"),
        "{}",
        unsafe_finding.message
    );
    assert_eq!(unsafe_finding.file.as_deref(), Some("model.bin"));
}

#[test]
fn protocol_4_stack_global_resolved_through_memo_is_unsafe_builtins_eval() {
    // The operands are popped and fetched back from the memo, as pickletools-optimized streams do.
    let body = P::raw()
        .short_unicode("builtins")
        .op(op::MEMOIZE)
        .short_unicode("eval")
        .op(op::MEMOIZE)
        .op(op::POP)
        .op(op::POP)
        .binget(0)
        .binget(1)
        .op(op::STACK_GLOBAL)
        .short_unicode("__import__('os').system('id')")
        .op(op::TUPLE1)
        .op(op::REDUCE)
        .stop();
    let bytes = P::proto(4)
        .op(op::FRAME)
        .arg(&(body.len() as u64).to_le_bytes())
        .arg(&body)
        .0;

    let stream = scan_stream(&bytes);
    assert_eq!(stream.error, None);
    assert_eq!(stream.protocol, Some(4));
    assert_eq!(names(&stream), vec!["builtins.eval"]);

    let (_, findings) = scan_bytes(&bytes);
    let unsafe_findings = only(&findings, Code::PickleGlobalUnsafe);
    assert_eq!(unsafe_findings.len(), 1);
    assert!(unsafe_findings[0].message.contains("`builtins.eval`"));
    assert!(unsafe_findings[0].message.contains("evaluates Python code"));
}

#[test]
fn benign_torch_state_dict_has_only_allowed_globals_and_the_pickle_warning() {
    let (scan, findings) = scan_bytes(&torch_state_dict());

    assert_eq!(codes(&findings), vec![Code::PickleSerialization]);
    assert!(scan.complete);
    let found: Vec<(String, String, Safety, u64)> = scan
        .globals
        .iter()
        .map(|g| (g.module.clone(), g.name.clone(), g.safety, g.count))
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "collections".into(),
                "OrderedDict".into(),
                Safety::Allowed,
                2
            ),
            ("torch".into(), "FloatStorage".into(), Safety::Allowed, 1),
            (
                "torch._utils".into(),
                "_rebuild_tensor_v2".into(),
                Safety::Allowed,
                1
            ),
        ]
    );
}

#[test]
fn unknown_global_gives_an_unknown_finding() {
    let bytes = P::proto(2)
        .global("mylib", "Thing")
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE)
        .stop();
    let (scan, findings) = scan_bytes(&bytes);

    assert_eq!(scan.globals.len(), 1);
    assert_eq!(scan.globals[0].safety, Safety::Unknown);
    assert_eq!(
        codes(&findings),
        vec![Code::PickleSerialization, Code::PickleGlobalUnknown]
    );
    assert!(findings[1].message.contains("`mylib.Thing`"));
}

#[test]
fn unknown_global_findings_are_capped_with_a_summary() {
    let mut p = P::proto(2).op(op::EMPTY_LIST).op(op::MARK);
    for i in 0..MAX_UNKNOWN_FINDINGS + 10 {
        p = p.global("mylib", &format!("Thing{i:03}"));
    }
    let bytes = p.op(op::APPENDS).stop();
    let (scan, findings) = scan_bytes(&bytes);

    assert_eq!(scan.globals.len(), MAX_UNKNOWN_FINDINGS + 10);
    let unknown = only(&findings, Code::PickleGlobalUnknown);
    assert_eq!(unknown.len(), MAX_UNKNOWN_FINDINGS + 1);
    assert!(
        unknown[MAX_UNKNOWN_FINDINGS].message.contains("10 more"),
        "{}",
        unknown[MAX_UNKNOWN_FINDINGS].message
    );
}

#[test]
fn zip_checkpoint_with_traversing_member_name_is_flagged() {
    let evil = P::proto(2).op(op::NONE).stop();
    let file = zip_file(&[
        ("archive/data.pkl", &torch_state_dict()),
        ("archive/data/0", &[0u8; 16]),
        ("archive/version", b"3\n"),
        ("../../etc/evil.pkl", &evil),
    ]);
    let (scan, findings) = scan_file(file.path(), "pytorch_model.bin");

    assert_eq!(scan.format, CheckpointFormat::TorchZip);
    assert_eq!(scan.pickles, vec!["archive/data.pkl", "../../etc/evil.pkl"]);
    assert!(scan.complete, "a traversal name does not stop the scan");
    assert_eq!(
        codes(&findings),
        vec![Code::PickleSerialization, Code::ZipPathTraversal]
    );
    assert!(findings[1].message.contains("`../../etc/evil.pkl`"));
    assert!(scan
        .globals
        .iter()
        .all(|g| g.safety == Safety::Allowed && g.pickle == "archive/data.pkl"));
}

#[test]
fn zip_unsafe_finding_names_the_member() {
    let payload = P::proto(2)
        .global("subprocess", "Popen")
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE)
        .stop();
    let file = zip_file(&[
        ("archive/data.pkl", &torch_state_dict()),
        ("archive/constants.pkl", &payload),
    ]);
    let (scan, findings) = scan_file(file.path(), "model.pt");

    assert_eq!(
        scan.pickles,
        vec!["archive/data.pkl", "archive/constants.pkl"]
    );
    let unsafe_findings = only(&findings, Code::PickleGlobalUnsafe);
    assert_eq!(unsafe_findings.len(), 1);
    assert!(unsafe_findings[0]
        .message
        .starts_with("pickle `archive/constants.pkl` imports `subprocess.Popen`"));
}

#[test]
fn zip_traversal_findings_are_capped_with_a_summary() {
    let names: Vec<String> = (0..MAX_TRAVERSAL_FINDINGS + 5)
        .map(|i| format!("/abs/{i}"))
        .collect();
    let members: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    let file = zip_file(&members);
    let (scan, findings) = scan_file(file.path(), "model.bin");

    assert_eq!(scan.format, CheckpointFormat::NotPickle, "no .pkl member");
    let traversal = only(&findings, Code::ZipPathTraversal);
    assert_eq!(traversal.len(), MAX_TRAVERSAL_FINDINGS + 1);
    assert!(traversal[MAX_TRAVERSAL_FINDINGS].message.contains("5 more"));
}

#[test]
fn zip_with_duplicate_member_names_is_zip_invalid() {
    // The zip writer refuses duplicates, so write two names and rename one in place.
    let payload = P::proto(2).global("os", "system").stop();
    let file = zip_file(&[
        ("archive/data.pkl", &torch_state_dict()),
        ("archive/data.pkX", &payload),
    ]);
    let bytes = std::fs::read(file.path()).expect("read zip");
    let mut patched = Vec::with_capacity(bytes.len());
    let mut rest = &bytes[..];
    while let Some(at) = rest.windows(8).position(|w| w == b"data.pkX") {
        patched.extend_from_slice(&rest[..at]);
        patched.extend_from_slice(b"data.pkl");
        rest = &rest[at + 8..];
    }
    patched.extend_from_slice(rest);

    let (scan, findings) = scan_bytes(&patched);
    assert!(!scan.complete);
    let invalid = only(&findings, Code::ZipInvalid);
    assert_eq!(invalid.len(), 1, "{findings:?}");
    assert!(
        invalid[0].message.contains("declares 2 entries"),
        "{}",
        invalid[0].message
    );
}

#[test]
fn zip_member_over_the_size_cap_is_not_scanned() {
    let file = zip_file(&[("archive/data.pkl", &torch_state_dict())]);
    let limits = Limits {
        zip_member_bytes: 16,
        ..Limits::DEFAULT
    };
    let (scan, findings) = scan_file_with(file.path(), "model.bin", &limits);

    assert!(!scan.complete);
    assert!(scan.globals.is_empty());
    let invalid = only(&findings, Code::ZipInvalid);
    assert_eq!(invalid.len(), 1);
    assert!(
        invalid[0].message.contains("more than 16 bytes"),
        "{}",
        invalid[0].message
    );
}

#[test]
fn malformed_zip_is_zip_invalid_and_incomplete() {
    let (scan, findings) = scan_bytes(b"PK\x03\x04this is not really a zip archive at all");
    assert_eq!(scan.format, CheckpointFormat::TorchZip);
    assert!(!scan.complete);
    assert_eq!(codes(&findings), vec![Code::ZipInvalid]);
}

#[test]
fn member_names_that_escape_the_extraction_root() {
    for name in [
        "../x.pkl",
        "a/../../x",
        "/etc/passwd",
        "\\windows\\x",
        "C:/x",
        "c:x",
        "a\\..\\b",
    ] {
        assert!(escapes_extraction_root(name), "{name} should escape");
    }
    for name in ["archive/data.pkl", "a/..b/c", "..foo", "archive/data/0"] {
        assert!(!escapes_extraction_root(name), "{name} should not escape");
    }
}

#[test]
fn legacy_checkpoint_is_five_streams_then_raw_tensor_bytes() {
    let magic = P::proto(2)
        .op(op::LONG1)
        .arg(&[
            10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19,
        ])
        .stop();
    let protocol = P::proto(2)
        .op(op::BININT2)
        .arg(&1001u16.to_le_bytes())
        .stop();
    let sys_info = P::proto(2)
        .op(op::EMPTY_DICT)
        .op(op::MARK)
        .unicode("little_endian")
        .op(op::NEWTRUE)
        .unicode("type_sizes")
        .op(op::EMPTY_DICT)
        .op(op::SETITEMS)
        .stop();
    let keys = P::proto(2)
        .op(op::EMPTY_LIST)
        .op(op::MARK)
        .unicode("0")
        .op(op::APPENDS)
        .stop();
    let mut bytes = [magic, protocol, sys_info, torch_state_dict(), keys].concat();
    // Raw storage data follows: an 8-byte element count whose first byte happens to read as PROTO 0.
    bytes.extend_from_slice(&128u64.to_le_bytes());
    bytes.extend_from_slice(&[0x80; 64]);

    for limits in [
        Limits::DEFAULT,
        Limits {
            initial_read_bytes: 8,
            ..Limits::DEFAULT
        },
    ] {
        let (scan, findings) = scan_bytes_with(&bytes, &limits);
        assert_eq!(scan.format, CheckpointFormat::TorchLegacy);
        assert_eq!(
            scan.pickles,
            vec!["stream 0", "stream 1", "stream 2", "stream 3", "stream 4"]
        );
        assert!(scan.complete);
        assert_eq!(codes(&findings), vec![Code::PickleSerialization]);
        assert!(scan.globals.iter().all(|g| g.pickle == "stream 3"));
    }
}

#[test]
fn two_consecutive_pickles_are_a_plain_pickle() {
    let bytes = [
        P::proto(2).op(op::NONE).stop(),
        P::proto(2).global("os", "getcwd").stop(),
    ]
    .concat();
    let (scan, findings) = scan_bytes(&bytes);
    assert_eq!(scan.format, CheckpointFormat::Pickle);
    assert_eq!(scan.pickles, vec!["stream 0", "stream 1"]);
    assert_eq!(scan.globals[0].pickle, "stream 1");
    assert!(only(&findings, Code::PickleGlobalUnsafe)[0]
        .message
        .contains("`stream 1`"));
}

#[test]
fn stream_running_past_the_read_cap_is_incomplete() {
    let bytes = P::proto(3)
        .op(op::BINBYTES)
        .arg(&200u32.to_le_bytes())
        .arg(&[0; 200])
        .stop();
    let limits = Limits {
        raw_read_bytes: 64,
        initial_read_bytes: 16,
        ..Limits::DEFAULT
    };
    let (scan, findings) = scan_bytes_with(&bytes, &limits);

    assert!(!scan.complete);
    let invalid = only(&findings, Code::PickleInvalid);
    assert_eq!(invalid.len(), 1);
    assert!(
        invalid[0].message.contains("first 64 bytes"),
        "{}",
        invalid[0].message
    );
}

#[test]
fn non_pickle_files_are_not_pickle_and_have_no_findings() {
    let gguf = [&b"GGUF"[..], &3u32.to_le_bytes(), &[0u8; 32]].concat();
    for bytes in [
        gguf,
        b"hello world\n".to_vec(),
        Vec::new(),
        b"c not a module\n".to_vec(),
    ] {
        let (scan, findings) = scan_bytes(&bytes);
        assert_eq!(scan.format, CheckpointFormat::NotPickle, "{bytes:?}");
        assert!(findings.is_empty(), "{findings:?}");
        assert!(scan.pickles.is_empty() && scan.globals.is_empty() && scan.complete);
    }
}

#[test]
fn missing_file_is_unreadable() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (scan, findings) = scan_file(&dir.path().join("absent.bin"), "absent.bin");
    assert_eq!(codes(&findings), vec![Code::FileUnreadable]);
    assert!(!scan.complete);
}

#[test]
fn malformed_stream_keeps_globals_found_before_the_error() {
    let bytes = P::proto(2)
        .global("os", "system")
        .op(op::POP)
        .op(op::POP)
        .stop();
    let (scan, findings) = scan_bytes(&bytes);

    assert!(!scan.complete);
    assert_eq!(scan.globals[0].name, "system");
    assert_eq!(
        codes(&findings),
        vec![
            Code::PickleSerialization,
            Code::PickleInvalid,
            Code::PickleGlobalUnsafe
        ]
    );
    assert!(
        findings[1].message.contains("byte 14"),
        "{}",
        findings[1].message
    );
}
