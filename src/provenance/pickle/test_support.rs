//! Fixtures shared by the walker and scan tests: a builder that writes a pickle opcode by opcode, so a
//! test reads like the stream it builds, and helpers that scan bytes as a file and pick findings apart.
//! Test-only; each test module keeps the fixtures only it uses.

use super::walker::op;
use super::{scan_file, PickleScan, StreamScan};
use crate::diag::{Code, Finding};
use std::io::Write;

/// Builds a pickle byte stream opcode by opcode.
pub(super) struct P(pub(super) Vec<u8>);

impl P {
    /// A stream opening with `PROTO version`.
    pub(super) fn proto(version: u8) -> P {
        P(vec![op::PROTO, version])
    }

    /// A protocol-0/1 stream (no PROTO opcode).
    pub(super) fn raw() -> P {
        P(Vec::new())
    }

    pub(super) fn op(mut self, code: u8) -> P {
        self.0.push(code);
        self
    }

    pub(super) fn arg(mut self, bytes: &[u8]) -> P {
        self.0.extend_from_slice(bytes);
        self
    }

    pub(super) fn global(self, module: &str, name: &str) -> P {
        self.op(op::GLOBAL)
            .arg(format!("{module}\n{name}\n").as_bytes())
    }

    pub(super) fn short_unicode(self, s: &str) -> P {
        let len = u8::try_from(s.len()).expect("test string under 256 bytes");
        self.op(op::SHORT_BINUNICODE).arg(&[len]).arg(s.as_bytes())
    }

    pub(super) fn unicode(self, s: &str) -> P {
        let len = u32::try_from(s.len()).expect("test string under 4 GiB");
        self.op(op::BINUNICODE)
            .arg(&len.to_le_bytes())
            .arg(s.as_bytes())
    }

    pub(super) fn int1(self, v: u8) -> P {
        self.op(op::BININT1).arg(&[v])
    }

    pub(super) fn binput(self, key: u8) -> P {
        self.op(op::BINPUT).arg(&[key])
    }

    pub(super) fn binget(self, key: u8) -> P {
        self.op(op::BINGET).arg(&[key])
    }

    pub(super) fn stop(self) -> Vec<u8> {
        self.op(op::STOP).0
    }
}

pub(super) fn write_temp(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write temp file");
    file.flush().expect("flush temp file");
    file
}

pub(super) fn scan_bytes(bytes: &[u8]) -> (PickleScan, Vec<Finding>) {
    let file = write_temp(bytes);
    scan_file(file.path(), "model.bin")
}

pub(super) fn codes(findings: &[Finding]) -> Vec<Code> {
    findings.iter().map(|f| f.code).collect()
}

pub(super) fn only(findings: &[Finding], code: Code) -> Vec<&Finding> {
    findings.iter().filter(|f| f.code == code).collect()
}

pub(super) fn names(scan: &StreamScan) -> Vec<String> {
    scan.globals
        .iter()
        .map(|g| format!("{}.{}", g.module, g.name))
        .collect()
}
