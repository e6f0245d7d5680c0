//! File and zip scanning: finds the pickle streams in a file, walks each, and turns the results into
//! one [`PickleScan`] and its findings.
//!
//! A file is a PyTorch zip checkpoint (every `.pkl` member is a stream), a legacy checkpoint (consecutive
//! streams at the front of the file, then raw tensor bytes), a raw pickle, or not a pickle at all; the
//! first bytes decide, never the file name.
//!
//! Trade-offs:
//! - Reads are bounded: zip members are read through `.take()`, and non-zip files are read incrementally
//!   up to a cap (the pickles of a legacy checkpoint sit at its front, so a multi-gigabyte file usually
//!   costs one small read).
//! - Zip archives are read with the `zip` crate. Loaders with other zip parsers may disagree about a
//!   malformed archive, so any archive the crate rejects is reported as `zip-invalid` and the scan is
//!   marked incomplete rather than guessed at.
//! - Findings per kind are capped with an "… and N more" summary, so a hostile file cannot flood the
//!   report; the full list of globals stays in the [`PickleScan`].

use super::classify::DYNAMIC_REASON;
use super::walker::looks_like_pickle_start;
use super::{
    classify, scan_stream, CheckpointFormat, Classification, ImportedGlobal, PickleError,
    PickleScan, Safety, StreamScan,
};
use crate::diag::{Code, Finding};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Largest decompressed zip member scanned.
pub const MAX_ZIP_MEMBER_BYTES: u64 = 256 * 1024 * 1024;
/// Largest number of `.pkl` members scanned in one archive.
pub const MAX_ZIP_PICKLES: usize = 10_000;
/// How much of a non-zip file is read at most.
pub const MAX_RAW_READ_BYTES: usize = 512 * 1024 * 1024;
/// How many consecutive pickle streams are scanned in a non-zip file (a legacy checkpoint has five).
pub const MAX_STREAMS: usize = 5;

/// First read of a non-zip file; grown by doubling while a stream runs past the end of what was read.
const INITIAL_READ_BYTES: usize = 16 * 1024 * 1024;
const MAX_TRAVERSAL_FINDINGS: usize = 20;
const MAX_UNSAFE_FINDINGS: usize = 100;
const MAX_UNKNOWN_FINDINGS: usize = 50;
const MIB: u64 = 1024 * 1024;

/// Caps used by [`scan_file`]; tests shrink them.
#[derive(Debug, Clone, Copy)]
struct Limits {
    zip_member_bytes: u64,
    zip_pickles: usize,
    raw_read_bytes: usize,
    initial_read_bytes: usize,
}

impl Limits {
    const DEFAULT: Limits = Limits {
        zip_member_bytes: MAX_ZIP_MEMBER_BYTES,
        zip_pickles: MAX_ZIP_PICKLES,
        raw_read_bytes: MAX_RAW_READ_BYTES,
        initial_read_bytes: INITIAL_READ_BYTES,
    };
}

const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";
/// Bytes [`looks_like_pickle_start`] may look at.
const SNIFF_BYTES: usize = 258;

/// Scans the file at `path` (reported as `rel`): detects a zip checkpoint, a legacy multi-pickle
/// checkpoint or a raw pickle, walks every pickle stream, classifies every imported global, and returns
/// the findings. Never panics, never executes anything, and reads a bounded amount of the file.
pub fn scan_file(path: &Path, rel: &str) -> (PickleScan, Vec<Finding>) {
    scan_file_with(path, rel, &Limits::DEFAULT)
}

fn scan_file_with(path: &Path, rel: &str, limits: &Limits) -> (PickleScan, Vec<Finding>) {
    let mut acc = Accumulator::new(rel);
    let format = match File::open(path) {
        Ok(file) => match scan_opened(file, &mut acc, limits) {
            Ok(format) => format,
            Err(e) => {
                acc.unreadable(&e);
                acc.format_hint
            }
        },
        Err(e) => {
            acc.unreadable(&e);
            CheckpointFormat::NotPickle
        }
    };
    acc.finish(format)
}

fn scan_opened(
    mut file: File,
    acc: &mut Accumulator,
    limits: &Limits,
) -> io::Result<CheckpointFormat> {
    let mut magic = Vec::with_capacity(4);
    (&mut file).take(4).read_to_end(&mut magic)?;
    file.rewind()?;
    if magic.as_slice() == ZIP_MAGIC {
        acc.format_hint = CheckpointFormat::TorchZip;
        Ok(scan_zip(file, acc, limits))
    } else {
        scan_raw(file, acc, limits)
    }
}

/// A PyTorch zip checkpoint: check every member name, scan every `.pkl` member.
fn scan_zip(mut file: File, acc: &mut Accumulator, limits: &Limits) -> CheckpointFormat {
    // An unreadable tail surfaces again, with a better message, when the zip crate parses the archive.
    let declared = declared_zip_entries(&mut file).ok().flatten();
    let mut archive = match zip::ZipArchive::new(BufReader::new(file)) {
        Ok(archive) => archive,
        Err(e) => {
            acc.structural(
                Code::ZipInvalid,
                format!("zip archive is malformed ({e}); its pickles were not scanned"),
            );
            return CheckpointFormat::TorchZip;
        }
    };

    if let Some(declared) = declared.filter(|&d| d != archive.len() as u64) {
        acc.structural(
            Code::ZipInvalid,
            format!(
                "zip central directory declares {declared} entries but holds {} distinct names; \
                 with duplicate member names, loaders disagree on which copy they read",
                archive.len()
            ),
        );
    }

    let mut traversals = 0usize;
    let mut pickle_members = Vec::new();
    let mut skipped_pickles = 0usize;
    for index in 0..archive.len() {
        let Some(name) = archive.name_for_index(index) else {
            continue;
        };
        if escapes_extraction_root(name) {
            traversals += 1;
            if traversals <= MAX_TRAVERSAL_FINDINGS {
                acc.structural(
                    Code::ZipPathTraversal,
                    format!("zip member name `{name}` escapes the extraction folder"),
                );
            }
        }
        if name.ends_with(".pkl") && !name.ends_with('/') {
            if pickle_members.len() < limits.zip_pickles {
                pickle_members.push((index, name.to_owned()));
            } else {
                skipped_pickles += 1;
            }
        }
    }
    if traversals > MAX_TRAVERSAL_FINDINGS {
        acc.structural(
            Code::ZipPathTraversal,
            format!(
                "… and {} more zip member names that escape the extraction folder",
                traversals - MAX_TRAVERSAL_FINDINGS
            ),
        );
    }
    if skipped_pickles > 0 {
        acc.structural(
            Code::ZipInvalid,
            format!(
                "zip archive holds more than {} `.pkl` members; {skipped_pickles} were not scanned",
                limits.zip_pickles
            ),
        );
    }
    if pickle_members.is_empty() {
        return CheckpointFormat::NotPickle;
    }

    for (index, name) in pickle_members {
        let mut member = match archive.by_index(index) {
            Ok(member) => member,
            Err(e) => {
                acc.structural(
                    Code::ZipInvalid,
                    format!("zip member `{name}` cannot be read ({e}); it was not scanned"),
                );
                continue;
            }
        };
        let mut data = Vec::new();
        let read = (&mut member)
            .take(limits.zip_member_bytes + 1)
            .read_to_end(&mut data);
        if data.len() as u64 > limits.zip_member_bytes {
            acc.structural(
                Code::ZipInvalid,
                format!(
                    "zip member `{name}` decompresses to more than {}; it was not scanned",
                    human_size(limits.zip_member_bytes)
                ),
            );
            continue;
        }
        if let Err(e) = read {
            // Whatever was decompressed before the error (often a checksum mismatch at the end) is still
            // worth scanning: a loader with a laxer zip reader may run it.
            acc.structural(
                Code::ZipInvalid,
                format!("zip member `{name}` is corrupt ({e}); it may not be fully scanned"),
            );
        }
        let scan = scan_stream(&data);
        acc.add_stream(name, scan, StreamOrigin::ZipMember);
    }
    CheckpointFormat::TorchZip
}

/// The entry count declared by the end-of-central-directory record, unless it is the zip64 placeholder.
/// The `zip` crate keeps one entry per name, so a larger declared count reveals duplicate names.
fn declared_zip_entries<R: Read + Seek>(reader: &mut R) -> io::Result<Option<u64>> {
    const EOCD_SIGNATURE: &[u8] = b"PK\x05\x06";
    const EOCD_LEN: u64 = 22;
    let len = reader.seek(SeekFrom::End(0))?;
    let tail_len = len.min(EOCD_LEN + u64::from(u16::MAX));
    reader.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = Vec::new();
    reader.take(tail_len).read_to_end(&mut tail)?;
    reader.rewind()?;
    let Some(at) = tail.windows(4).rposition(|w| w == EOCD_SIGNATURE) else {
        return Ok(None);
    };
    let Some(&[lo, hi]) = tail.get(at + 10..at + 12) else {
        return Ok(None);
    };
    let total = u16::from_le_bytes([lo, hi]);
    Ok((total != u16::MAX).then_some(u64::from(total)))
}

/// Whether a zip member name is absolute, carries a drive letter, or climbs out with `..`.
fn escapes_extraction_root(name: &str) -> bool {
    let bytes = name.as_bytes();
    let absolute = name.starts_with('/') || name.starts_with('\\');
    let drive = bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':';
    absolute || drive || name.split(['/', '\\']).any(|component| component == "..")
}

/// A non-zip file read incrementally up to a cap: pickles sit at the front of a legacy checkpoint.
struct Prefix<R> {
    reader: R,
    buf: Vec<u8>,
    eof: bool,
    cap: usize,
}

impl<R: Read> Prefix<R> {
    /// Reads until `want` bytes (at most the cap) are buffered or the file ends.
    fn fill_to(&mut self, want: usize) -> io::Result<()> {
        let want = want.min(self.cap);
        if self.eof || self.buf.len() >= want {
            return Ok(());
        }
        let need = want - self.buf.len();
        let got = (&mut self.reader)
            .take(need as u64)
            .read_to_end(&mut self.buf)?;
        if got < need {
            self.eof = true;
        }
        Ok(())
    }

    /// Whether more of the file could be read.
    fn can_grow(&self) -> bool {
        !self.eof && self.buf.len() < self.cap
    }
}

/// A legacy checkpoint or raw pickle: consecutive pickle streams from the start of the file.
fn scan_raw<R: Read>(
    reader: R,
    acc: &mut Accumulator,
    limits: &Limits,
) -> io::Result<CheckpointFormat> {
    let mut prefix = Prefix {
        reader,
        buf: Vec::new(),
        eof: false,
        cap: limits.raw_read_bytes,
    };
    prefix.fill_to(SNIFF_BYTES)?;
    if !looks_like_pickle_start(&prefix.buf) {
        return Ok(CheckpointFormat::NotPickle);
    }
    acc.format_hint = CheckpointFormat::Pickle;

    let mut start = 0usize;
    let mut streams = 0usize;
    while streams < MAX_STREAMS {
        prefix.fill_to(start.saturating_add(SNIFF_BYTES))?;
        if start >= prefix.buf.len() || !looks_like_pickle_start(&prefix.buf[start..]) {
            break;
        }
        let mut want = limits.initial_read_bytes;
        let scan = loop {
            prefix.fill_to(want)?;
            let scan = scan_stream(&prefix.buf[start..]);
            match &scan.error {
                Some(error) if error.is_truncation() && prefix.can_grow() => {
                    want = prefix
                        .buf
                        .len()
                        .saturating_mul(2)
                        .max(limits.initial_read_bytes);
                }
                _ => break scan,
            }
        };
        let hit_cap = scan.error.as_ref().is_some_and(PickleError::is_truncation) && !prefix.eof;
        let failed = scan.error.is_some();
        let consumed = scan.consumed;
        let origin = if hit_cap {
            StreamOrigin::RawCapped(start, limits.raw_read_bytes)
        } else {
            StreamOrigin::Raw(start)
        };
        acc.add_stream(format!("stream {streams}"), scan, origin);
        streams += 1;
        if failed {
            break;
        }
        start += consumed;
    }
    Ok(if streams >= 3 {
        CheckpointFormat::TorchLegacy
    } else {
        CheckpointFormat::Pickle
    })
}

/// Where a stream came from, for error messages.
#[derive(Debug, Clone, Copy)]
enum StreamOrigin {
    /// A zip member: offsets are within the member.
    ZipMember,
    /// A stream at this file offset.
    Raw(usize),
    /// A stream at this file offset that ran past the read cap (in bytes).
    RawCapped(usize, usize),
}

/// Collects streams and structural findings of one file, then builds the [`PickleScan`] and findings.
struct Accumulator {
    rel: String,
    pickles: Vec<String>,
    opcodes: u64,
    globals: BTreeMap<(String, String, String), u64>,
    structural: Vec<Finding>,
    complete: bool,
    /// The format to report if reading fails midway.
    format_hint: CheckpointFormat,
}

impl Accumulator {
    fn new(rel: &str) -> Accumulator {
        Accumulator {
            rel: rel.to_owned(),
            pickles: Vec::new(),
            opcodes: 0,
            globals: BTreeMap::new(),
            structural: Vec::new(),
            complete: true,
            format_hint: CheckpointFormat::NotPickle,
        }
    }

    /// Records a finding about the container or a stream; all but path traversal mean the file was not
    /// fully scanned.
    fn structural(&mut self, code: Code, message: String) {
        if code != Code::ZipPathTraversal {
            self.complete = false;
        }
        self.structural
            .push(Finding::new(code, message).in_file(&self.rel));
    }

    fn unreadable(&mut self, error: &io::Error) {
        self.structural(
            Code::FileUnreadable,
            format!("file cannot be read ({error}); it was not scanned for pickles"),
        );
    }

    fn add_stream(&mut self, pickle: String, scan: StreamScan, origin: StreamOrigin) {
        self.opcodes += scan.opcodes;
        for global in scan.globals {
            *self
                .globals
                .entry((pickle.clone(), global.module, global.name))
                .or_insert(0) += global.count;
        }
        if let Some(error) = scan.error {
            let message = match origin {
                StreamOrigin::ZipMember => format!(
                    "pickle `{pickle}` is malformed at byte {} of the member: {}; the rest was not scanned",
                    error.offset, error.kind
                ),
                StreamOrigin::Raw(base) => format!(
                    "pickle `{pickle}` is malformed at byte {}: {}; the rest was not scanned",
                    base.saturating_add(error.offset),
                    error.kind
                ),
                StreamOrigin::RawCapped(base, cap) => format!(
                    "pickle `{pickle}` starting at byte {base} runs past the first {} modelvet reads; \
                     the rest was not scanned",
                    human_size(cap as u64)
                ),
            };
            self.structural(Code::PickleInvalid, message);
        }
        self.pickles.push(pickle);
    }

    fn finish(self, format: CheckpointFormat) -> (PickleScan, Vec<Finding>) {
        let rel = self.rel;
        let mut findings = Vec::new();
        if format != CheckpointFormat::NotPickle && !self.pickles.is_empty() {
            findings.push(
                Finding::new(
                    Code::PickleSerialization,
                    "file uses Python pickle, which can run arbitrary code when loaded; prefer safetensors or GGUF",
                )
                .in_file(&rel),
            );
        }
        findings.extend(self.structural);

        let name_pickles = self.pickles.len() > 1 || format == CheckpointFormat::TorchZip;
        let mut globals = Vec::with_capacity(self.globals.len());
        // Distinct (module, name) over the whole file → first pickle and verdict.
        let mut distinct: BTreeMap<(String, String), (String, Classification)> = BTreeMap::new();
        for ((pickle, module, name), count) in self.globals {
            let verdict = classify(&module, &name);
            distinct
                .entry((module.clone(), name.clone()))
                .or_insert_with(|| (pickle.clone(), verdict));
            globals.push(ImportedGlobal {
                module,
                name,
                safety: verdict.safety,
                count,
                pickle,
            });
        }

        let (mut unsafe_count, mut unknown_count) = (0usize, 0usize);
        let mut unknown_findings = Vec::new();
        for ((module, name), (pickle, verdict)) in &distinct {
            let subject = if name_pickles {
                format!("pickle `{pickle}`")
            } else {
                "pickle".to_owned()
            };
            let global = format!("{module}.{name}");
            match verdict.safety {
                Safety::Allowed => {}
                Safety::Unsafe => {
                    unsafe_count += 1;
                    if unsafe_count <= MAX_UNSAFE_FINDINGS {
                        let message = if verdict.reason == DYNAMIC_REASON {
                            format!("{subject} imports `{global}`, a global whose name {DYNAMIC_REASON}")
                        } else {
                            format!(
                                "{subject} imports `{global}`, which {} when the file is loaded",
                                verdict.reason
                            )
                        };
                        findings
                            .push(Finding::new(Code::PickleGlobalUnsafe, message).in_file(&rel));
                    }
                }
                Safety::Unknown => {
                    unknown_count += 1;
                    if unknown_count <= MAX_UNKNOWN_FINDINGS {
                        let message =
                            format!("{subject} imports `{global}`, which {}", verdict.reason);
                        unknown_findings
                            .push(Finding::new(Code::PickleGlobalUnknown, message).in_file(&rel));
                    }
                }
            }
        }
        if unsafe_count > MAX_UNSAFE_FINDINGS {
            let more = unsafe_count - MAX_UNSAFE_FINDINGS;
            findings.push(
                Finding::new(
                    Code::PickleGlobalUnsafe,
                    format!("… and {more} more unsafe globals not listed"),
                )
                .in_file(&rel),
            );
        }
        findings.extend(unknown_findings);
        if unknown_count > MAX_UNKNOWN_FINDINGS {
            let more = unknown_count - MAX_UNKNOWN_FINDINGS;
            findings.push(
                Finding::new(
                    Code::PickleGlobalUnknown,
                    format!("… and {more} more unknown globals not listed"),
                )
                .in_file(&rel),
            );
        }

        let scan = PickleScan {
            file: rel,
            format,
            pickles: self.pickles,
            opcodes: self.opcodes,
            globals,
            complete: self.complete,
        };
        (scan, findings)
    }
}

fn human_size(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
#[path = "tests_scan.rs"]
mod tests;
