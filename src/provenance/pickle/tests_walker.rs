//! Tests of the opcode walker: each builds a stream opcode by opcode (or takes bytes CPython wrote) and
//! checks which globals the walker names and where and why it stops. A few also scan the same bytes as a
//! file, to pin the finding a walker error becomes.

use super::*;
use crate::diag::Code;
use crate::provenance::pickle::test_support::*;
use crate::provenance::pickle::{classify, Safety};

#[test]
fn truncated_stream_is_reported_with_its_offset() {
    let bytes = P::proto(2)
        .op(op::BINUNICODE)
        .arg(&10u32.to_le_bytes())
        .arg(b"abc")
        .0;
    let scan = scan_stream(&bytes);
    assert_eq!(
        scan.error,
        Some(PickleError {
            offset: 2,
            kind: PickleErrorKind::Truncated {
                opcode: "BINUNICODE",
                missing: 7
            }
        })
    );

    let no_stop = scan_stream(&P::proto(2).op(op::NONE).0);
    assert_eq!(
        no_stop.error,
        Some(PickleError {
            offset: 3,
            kind: PickleErrorKind::MissingStop
        })
    );

    let (scan, findings) = scan_bytes(&bytes);
    assert!(!scan.complete);
    assert_eq!(
        codes(&findings),
        vec![Code::PickleSerialization, Code::PickleInvalid]
    );
}

#[test]
fn forged_huge_lengths_fail_without_allocating() {
    let binunicode = P::proto(2)
        .op(op::BINUNICODE)
        .arg(&0xFFFF_FFF0u32.to_le_bytes())
        .arg(b"abc")
        .0;
    let scan = scan_stream(&binunicode);
    assert_eq!(
        scan.error.map(|e| e.kind),
        Some(PickleErrorKind::Truncated {
            opcode: "BINUNICODE",
            missing: 0xFFFF_FFF0 - 3
        })
    );

    for code in [op::BINUNICODE8, op::BINBYTES8, op::BYTEARRAY8, op::FRAME] {
        let bytes = P::proto(5)
            .op(code)
            .arg(&u64::MAX.to_le_bytes())
            .op(op::STOP)
            .0;
        let error = scan_stream(&bytes).error.expect("length past the end");
        assert!(error.is_truncation(), "{error}");
    }

    let (_, findings) = scan_bytes(&binunicode);
    assert_eq!(
        codes(&findings),
        vec![Code::PickleSerialization, Code::PickleInvalid]
    );
}

#[test]
fn unknown_opcode_is_invalid() {
    let bytes = P::proto(2).op(op::NONE).op(0xff).stop();
    assert_eq!(
        scan_stream(&bytes).error,
        Some(PickleError {
            offset: 3,
            kind: PickleErrorKind::UnknownOpcode(0xff)
        })
    );
    let (_, findings) = scan_bytes(&bytes);
    assert!(
        only(&findings, Code::PickleInvalid)[0]
            .message
            .contains("unknown opcode 0xff at byte 3")
            || only(&findings, Code::PickleInvalid)[0]
                .message
                .contains("byte 3: unknown opcode 0xff")
    );
}

#[test]
fn pop_mark_without_a_mark_is_invalid() {
    let scan = scan_stream(&P::proto(2).op(op::NONE).op(op::POP_MARK).stop());
    assert_eq!(
        scan.error.map(|e| e.kind),
        Some(PickleErrorKind::NoMark { opcode: "POP_MARK" })
    );
}

#[test]
fn stack_rules_follow_cpython() {
    // POP on an empty frame removes the mark itself.
    assert_eq!(
        scan_stream(&P::proto(2).op(op::MARK).op(op::POP).op(op::NONE).stop()).error,
        None
    );
    // Values below a mark are out of reach of the frame above it.
    let underflow = scan_stream(&P::proto(2).op(op::NONE).op(op::MARK).op(op::TUPLE1).stop());
    assert_eq!(
        underflow.error.map(|e| e.kind),
        Some(PickleErrorKind::StackUnderflow { opcode: "TUPLE1" })
    );
    // APPENDS needs its list below the mark.
    let no_list = scan_stream(
        &P::proto(2)
            .op(op::MARK)
            .op(op::NONE)
            .op(op::APPENDS)
            .op(op::NONE)
            .stop(),
    );
    assert_eq!(
        no_list.error.map(|e| e.kind),
        Some(PickleErrorKind::StackUnderflow { opcode: "APPENDS" })
    );
    // SETITEMS takes key/value pairs.
    let odd = scan_stream(
        &P::proto(2)
            .op(op::EMPTY_DICT)
            .op(op::MARK)
            .op(op::NONE)
            .op(op::SETITEMS)
            .stop(),
    );
    assert!(matches!(
        odd.error.map(|e| e.kind),
        Some(PickleErrorKind::InvalidArgument {
            opcode: "SETITEMS",
            ..
        })
    ));
    // STOP needs the result on the stack.
    let empty = scan_stream(&P::proto(2).stop());
    assert_eq!(
        empty.error.map(|e| e.kind),
        Some(PickleErrorKind::StackUnderflow { opcode: "STOP" })
    );
    // GET of a key never PUT fails like CPython's unpickler.
    let missing = scan_stream(&P::proto(2).binget(5).stop());
    assert_eq!(
        missing.error.map(|e| e.kind),
        Some(PickleErrorKind::MemoMissing {
            opcode: "BINGET",
            key: 5
        })
    );
    // Protocols above 5 do not exist.
    let proto = scan_stream(&P::proto(6).op(op::NONE).stop());
    assert!(matches!(
        proto.error.map(|e| e.kind),
        Some(PickleErrorKind::InvalidArgument {
            opcode: "PROTO",
            ..
        })
    ));
}

#[test]
fn every_protocol_opcode_is_walked() {
    let bytes = P::proto(5)
        .op(op::EMPTY_LIST)
        .op(op::MARK)
        .op(op::INT)
        .arg(b"42\n")
        .op(op::LONG)
        .arg(b"42L\n")
        .op(op::FLOAT)
        .arg(b"1.5\n")
        .op(op::BININT)
        .arg(&[1, 2, 3, 4])
        .op(op::BININT2)
        .arg(&[1, 2])
        .op(op::BINFLOAT)
        .arg(&[0; 8])
        .op(op::LONG1)
        .arg(&[1, 7])
        .op(op::LONG4)
        .arg(&1i32.to_le_bytes())
        .arg(&[7])
        .op(op::STRING)
        .arg(b"'a\\'b'\n")
        .op(op::BINSTRING)
        .arg(&2i32.to_le_bytes())
        .arg(b"ab")
        .op(op::SHORT_BINSTRING)
        .arg(&[2])
        .arg(b"ab")
        .op(op::UNICODE)
        .arg(b"caf\xe9\\u00e9\n")
        .op(op::BINUNICODE8)
        .arg(&2u64.to_le_bytes())
        .arg(b"ab")
        .op(op::BINBYTES)
        .arg(&1u32.to_le_bytes())
        .arg(b"x")
        .op(op::SHORT_BINBYTES)
        .arg(&[1])
        .arg(b"x")
        .op(op::BINBYTES8)
        .arg(&1u64.to_le_bytes())
        .arg(b"x")
        .op(op::BYTEARRAY8)
        .arg(&1u64.to_le_bytes())
        .arg(b"x")
        .op(op::NEXT_BUFFER)
        .op(op::READONLY_BUFFER)
        .op(op::PERSID)
        .arg(b"pid\n")
        .op(op::EMPTY_SET)
        .op(op::MARK)
        .op(op::NONE)
        .op(op::ADDITEMS)
        .op(op::MARK)
        .op(op::NEWTRUE)
        .op(op::FROZENSET)
        .op(op::MARK)
        .op(op::NEWFALSE)
        .op(op::NONE)
        .op(op::DICT)
        .op(op::MARK)
        .op(op::LIST)
        .op(op::DUP)
        .op(op::PUT)
        .arg(b"7\n")
        .op(op::GET)
        .arg(b"7\n")
        .op(op::LONG_BINPUT)
        .arg(&8u32.to_le_bytes())
        .op(op::LONG_BINGET)
        .arg(&8u32.to_le_bytes())
        .op(op::POP)
        .op(op::MARK)
        .op(op::NONE)
        .op(op::POP_MARK)
        .global("collections", "OrderedDict")
        .op(op::EMPTY_TUPLE)
        .op(op::EMPTY_DICT)
        .op(op::NEWOBJ_EX)
        .global("collections", "OrderedDict")
        .op(op::EMPTY_TUPLE)
        .op(op::NEWOBJ)
        .op(op::EMPTY_DICT)
        .op(op::BUILD)
        .op(op::MARK)
        .global("collections", "OrderedDict")
        .op(op::OBJ)
        .op(op::MARK)
        .op(op::INST)
        .arg(b"collections\nOrderedDict\n")
        .op(op::EXT2)
        .arg(&300u16.to_le_bytes())
        .op(op::EXT4)
        .arg(&70_000i32.to_le_bytes())
        .op(op::TUPLE3)
        .op(op::APPENDS)
        .op(op::EMPTY_DICT)
        .op(op::NONE)
        .op(op::NONE)
        .op(op::SETITEM)
        .op(op::APPEND)
        .stop();
    let scan = scan_stream(&bytes);
    assert_eq!(scan.error, None);
    assert_eq!(scan.consumed, bytes.len());
    assert_eq!(scan.opcodes, 69);
    assert_eq!(
        names(&scan),
        vec![
            "collections.OrderedDict",
            "copyreg.extension[300]",
            "copyreg.extension[70000]"
        ]
    );
    assert_eq!(scan.globals[0].count, 4);
}

#[test]
fn cpython_generated_pickles_are_walked_exactly() {
    // `pickle.dumps([OrderedDict(a=[1, 2.5, "x", b"y", {1}, frozenset()]), E()], protocol=…)` where
    // `E.__reduce__` returns `(os.system, ("id",))`, from CPython 3.11 on Linux; the opcode counts are
    // those of `pickletools.genops`.
    let protocol_4: &[u8] = b"\x80\x04\x95g\x00\x00\x00\x00\x00\x00\x00]\x94(\x8c\x0bcollections\x94\
        \x8c\x0bOrderedDict\x94\x93\x94)R\x94\x8c\x01a\x94]\x94(K\x01G@\x04\x00\x00\x00\x00\x00\x00\
        \x8c\x01x\x94C\x01y\x94\x8f\x94(K\x01\x90(\x91\x94es\x8c\x05posix\x94\x8c\x06system\x94\x93\x94\
        \x8c\x02id\x94\x85\x94R\x94e.";
    let protocol_0: &[u8] = b"(lp0\nccollections\nOrderedDict\np1\n(tRp2\nVa\np3\n(lp4\nI1\naF2.5\naVx\n\
        p5\nac_codecs\nencode\np6\n(Vy\np7\nVlatin1\np8\ntp9\nRp10\nac__builtin__\nset\np11\n((lp12\nI1\n\
        atp13\nRp14\nac__builtin__\nfrozenset\np15\n((lp16\ntp17\nRp18\nasacposix\nsystem\np19\n(Vid\n\
        p20\ntp21\nRp22\na.";
    assert_eq!(
        (protocol_4.len(), protocol_0.len()),
        (114, 243),
        "fixture bytes"
    );

    let scan = scan_stream(protocol_4);
    assert_eq!((&scan.error, scan.opcodes, scan.consumed), (&None, 49, 114));
    assert_eq!(
        names(&scan),
        vec!["collections.OrderedDict", "posix.system"]
    );

    let scan = scan_stream(protocol_0);
    assert_eq!((&scan.error, scan.opcodes, scan.consumed), (&None, 70, 243));
    assert_eq!(
        names(&scan),
        vec![
            "collections.OrderedDict",
            "_codecs.encode",
            "__builtin__.set",
            "__builtin__.frozenset",
            "posix.system"
        ]
    );
    let verdicts: Vec<Safety> = scan
        .globals
        .iter()
        .map(|g| classify(&g.module, &g.name).safety)
        .collect();
    assert_eq!(
        verdicts,
        [vec![Safety::Allowed; 4], vec![Safety::Unsafe]].concat()
    );
}

#[test]
fn consumed_stops_just_after_stop() {
    let stream = P::proto(2).op(op::NONE).stop();
    let bytes = [stream.clone(), b"trailing tensor bytes".to_vec()].concat();
    let scan = scan_stream(&bytes);
    assert_eq!(
        (scan.consumed, scan.opcodes, scan.error),
        (stream.len(), 3, None)
    );
}

#[test]
fn protocol_0_inst_and_text_strings_name_their_globals() {
    let inst = P::raw()
        .op(op::MARK)
        .op(op::STRING)
        .arg(b"'id'\n")
        .op(op::INST)
        .arg(b"os\nsystem\n")
        .stop();
    assert_eq!(names(&scan_stream(&inst)), vec!["os.system"]);

    // STACK_GLOBAL operands may come from any string opcode, including protocol-0 text ones.
    let text = P::raw()
        .op(op::STRING)
        .arg(b"\"built\\x69ns\"\n")
        .op(op::UNICODE)
        .arg(b"ex\\u0065c\n")
        .op(op::STACK_GLOBAL)
        .stop();
    assert_eq!(names(&scan_stream(&text)), vec!["builtins.exec"]);

    let unquoted = scan_stream(&P::raw().op(op::STRING).arg(b"abc\n").stop());
    assert!(matches!(
        unquoted.error.map(|e| e.kind),
        Some(PickleErrorKind::InvalidArgument {
            opcode: "STRING",
            ..
        })
    ));
}

#[test]
fn unresolvable_stack_global_is_reported_as_unsafe() {
    let bytes = P::proto(4)
        .op(op::NONE)
        .op(op::NONE)
        .op(op::STACK_GLOBAL)
        .stop();
    let (scan, findings) = scan_bytes(&bytes);
    assert_eq!(
        (
            scan.globals[0].module.as_str(),
            scan.globals[0].name.as_str()
        ),
        ("?", "?")
    );
    assert_eq!(scan.globals[0].safety, Safety::Unsafe);
    let unsafe_findings = only(&findings, Code::PickleGlobalUnsafe);
    assert!(
        unsafe_findings[0]
            .message
            .contains("computed while loading"),
        "{}",
        unsafe_findings[0].message
    );

    let half = P::proto(4)
        .short_unicode("posix")
        .op(op::NONE)
        .op(op::STACK_GLOBAL)
        .stop();
    assert_eq!(names(&scan_stream(&half)), vec!["posix.?"]);
}

#[test]
fn extension_registry_import_is_unknown() {
    let bytes = P::proto(2)
        .op(op::EXT1)
        .arg(&[7])
        .op(op::EMPTY_TUPLE)
        .op(op::REDUCE)
        .stop();
    let (scan, findings) = scan_bytes(&bytes);
    assert_eq!(
        (
            scan.globals[0].module.as_str(),
            scan.globals[0].name.as_str()
        ),
        ("copyreg", "extension[7]")
    );
    assert_eq!(scan.globals[0].safety, Safety::Unknown);
    assert!(only(&findings, Code::PickleGlobalUnknown)[0]
        .message
        .contains("`copyreg.extension[7]`"));

    let zero = scan_stream(&P::proto(2).op(op::EXT1).arg(&[0]).stop());
    assert!(matches!(
        zero.error.map(|e| e.kind),
        Some(PickleErrorKind::InvalidArgument { opcode: "EXT1", .. })
    ));
}

#[test]
fn global_lines_must_be_utf8_and_bounded() {
    let bad = P::proto(2).op(op::GLOBAL).arg(b"o\xffs\nsystem\n").stop();
    assert_eq!(
        scan_stream(&bad).error.map(|e| e.kind),
        Some(PickleErrorKind::InvalidUtf8 { opcode: "GLOBAL" })
    );

    let long = P::proto(2)
        .op(op::GLOBAL)
        .arg(&vec![b'a'; MAX_LINE_LEN + 10])
        .arg(b"\nx\n")
        .stop();
    assert_eq!(
        scan_stream(&long).error.map(|e| e.kind),
        Some(PickleErrorKind::LineTooLong { opcode: "GLOBAL" })
    );

    let unterminated = P::proto(2).op(op::GLOBAL).arg(b"os").0;
    assert!(scan_stream(&unterminated)
        .error
        .is_some_and(|e| e.is_truncation()));
}

#[test]
fn stack_depth_is_capped() {
    let bytes = vec![op::MARK; MAX_STACK_DEPTH + 1];
    let scan = scan_stream(&bytes);
    assert!(matches!(
        scan.error.map(|e| e.kind),
        Some(PickleErrorKind::LimitExceeded {
            what: "stack depth",
            ..
        })
    ));
}
