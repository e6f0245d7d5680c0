//! Helpers for the integration tests: running the binary, finding the real models, and writing tiny
//! model files (safetensors and GGUF through candle's own writers, pickles as raw bytes).

#![allow(dead_code)]

pub mod server;
pub mod tiny;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The result of one `modelvet` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The stdout parsed as JSON (panics with the run's output when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// The finding codes of a provenance JSON record.
    pub fn codes(&self) -> Vec<String> {
        self.json()["findings"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| f["code"].as_str().unwrap_or("").to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Runs `modelvet` with `args` (progress bars off), optionally under a virtual-memory limit in KiB.
pub fn modelvet_limited(args: &[&str], env: &[(&str, &str)], mem_kib: Option<u64>) -> Run {
    let bin = env!("CARGO_BIN_EXE_modelvet");
    let mut cmd = match mem_kib {
        Some(kib) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -v {kib} && exec \"$0\" \"$@\""))
                .arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.args(args).arg("--quiet");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out: Output = cmd.output().expect("modelvet runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn modelvet(args: &[&str]) -> Run {
    modelvet_limited(args, &[], None)
}

/// `modelvet provenance PATH --format json`.
pub fn provenance(path: &Path) -> Run {
    modelvet(&["provenance", path.to_str().unwrap(), "--format", "json"])
}

/// Where scripts/fetch-models.sh put the real models.
pub fn models_dir() -> PathBuf {
    std::env::var_os("MODELVET_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/modelvet/models")
        })
}

/// A real model by its path under the models folder. Absent models skip the test with a note, unless
/// MODELVET_REQUIRE_MODELS is set (CI sets it), where absence fails.
/// Runs `scripts/<script>` (which derives test models from the real ones into `$MODELVET_DERIVED`,
/// default `~/.cache/modelvet/derived`, and is a no-op when they exist) and returns that folder; `None`
/// (skip, with a note) when it fails, unless MODELVET_REQUIRE_MODELS is set, where it panics. Callers keep
/// the result in a `OnceLock` so the script runs once per test run.
pub fn derived_models(script: &str) -> Option<PathBuf> {
    let out = std::env::var_os("MODELVET_DERIVED")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/modelvet/derived")
        });
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(script);
    let status = std::process::Command::new("bash")
        .arg(&script)
        .env("MODELVET_DERIVED", &out)
        .env("MODELVET_MODELS", models_dir())
        .status();
    match status {
        Ok(s) if s.success() => Some(out),
        other => {
            let msg = format!("{} failed: {other:?}", script.display());
            if std::env::var_os("MODELVET_REQUIRE_MODELS").is_some() {
                panic!("{msg}");
            }
            eprintln!("note: skipping, {msg}");
            None
        }
    }
}

pub fn real_model(rel: &str) -> Option<PathBuf> {
    let p = models_dir().join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var_os("MODELVET_REQUIRE_MODELS").is_some() {
        panic!("{} is missing: run scripts/fetch-models.sh", p.display());
    }
    eprintln!(
        "note: skipping, {} is absent (run scripts/fetch-models.sh)",
        p.display()
    );
    None
}

pub const SMOLLM2: &str = "smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf";
pub const QWEN: &str = "qwen2.5-coder-0.5b-instruct/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf";
pub const GEMMA_DIR: &str = "gemma-3-270m";
pub const MINILM_DIR: &str = "all-minilm-l6-v2";

/// A tiny safetensors file written by candle (the format's reference writer on the Rust side).
pub fn write_safetensors(path: &Path) {
    use candle_core::{DType, Device, Tensor};
    let dev = Device::Cpu;
    let mut tensors = std::collections::HashMap::new();
    tensors.insert(
        "model.embed_tokens.weight".to_owned(),
        Tensor::zeros((8, 4), DType::F32, &dev).unwrap(),
    );
    tensors.insert(
        "model.norm.weight".to_owned(),
        Tensor::ones(4, DType::BF16, &dev).unwrap(),
    );
    tensors.insert(
        "lm_head.weight".to_owned(),
        Tensor::zeros((8, 4), DType::F16, &dev).unwrap(),
    );
    candle_core::safetensors::save(&tensors, path).unwrap();
}

/// A tiny GGUF written with candle's gguf writer: llama architecture, a 5-token BPE vocabulary, a chat
/// template, one F32 and one Q8_0 tensor.
pub fn write_gguf(path: &Path, license: Option<&str>, template: Option<&str>) {
    use candle_core::quantized::gguf_file::Value;
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    let dev = Device::Cpu;
    let mut meta: Vec<(String, Value)> = vec![
        ("general.architecture".into(), Value::String("llama".into())),
        ("general.name".into(), Value::String("Tiny Test".into())),
        ("llama.block_count".into(), Value::U32(1)),
        ("llama.embedding_length".into(), Value::U32(32)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String("default".into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(
                ["<s>", "a", "b", "ab", "Ġa"]
                    .iter()
                    .map(|t| Value::String(t.to_string()))
                    .collect(),
            ),
        ),
        (
            "tokenizer.ggml.token_type".into(),
            Value::Array([3, 1, 1, 1, 1].iter().map(|&t| Value::I32(t)).collect()),
        ),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(vec![Value::String("a b".into())]),
        ),
    ];
    if let Some(l) = license {
        meta.push(("general.license".into(), Value::String(l.into())));
    }
    if let Some(t) = template {
        meta.push(("tokenizer.chat_template".into(), Value::String(t.into())));
    }
    let a = QTensor::quantize(
        &Tensor::ones((2, 32), candle_core::DType::F32, &dev).unwrap(),
        GgmlDType::F32,
    )
    .unwrap();
    let b = QTensor::quantize(
        &Tensor::ones((4, 64), candle_core::DType::F32, &dev).unwrap(),
        GgmlDType::Q8_0,
    )
    .unwrap();
    let meta_refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path).unwrap();
    candle_core::quantized::gguf_file::write(
        &mut f,
        &meta_refs,
        &[("token_embd.weight", &a), ("blk.0.ffn.weight", &b)],
    )
    .unwrap();
}

/// Raw GGUF header bytes, for forging fields candle's writer would never produce.
pub struct GgufBytes(pub Vec<u8>);

impl GgufBytes {
    pub fn new(version: u32, tensors: u64, kvs: u64) -> GgufBytes {
        let mut b = b"GGUF".to_vec();
        b.extend(version.to_le_bytes());
        b.extend(tensors.to_le_bytes());
        b.extend(kvs.to_le_bytes());
        GgufBytes(b)
    }
    pub fn str(mut self, s: &str) -> Self {
        self.0.extend((s.len() as u64).to_le_bytes());
        self.0.extend(s.as_bytes());
        self
    }
    pub fn u32(mut self, v: u32) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    pub fn u64(mut self, v: u64) -> Self {
        self.0.extend(v.to_le_bytes());
        self
    }
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend(b);
        self
    }
    pub fn pad(mut self, n: usize) -> Self {
        let aligned = self.0.len().div_ceil(32) * 32;
        self.0.resize(aligned + n, 0);
        self
    }
}

/// A safetensors file from a header string and a data section of `data_len` zero bytes.
pub fn safetensors_bytes(header: &str, data_len: usize) -> Vec<u8> {
    let mut b = (header.len() as u64).to_le_bytes().to_vec();
    b.extend(header.as_bytes());
    b.resize(b.len() + data_len, 0);
    b
}

/// A protocol-2 pickle that calls `os.system("echo pwned")` when loaded, built as bytes.
pub fn os_system_pickle() -> Vec<u8> {
    let mut b = vec![0x80, 2];
    b.extend(b"cos\nsystem\n");
    b.push(b'X');
    let arg = b"echo pwned";
    b.extend((arg.len() as u32).to_le_bytes());
    b.extend(arg);
    b.push(0x85); // TUPLE1
    b.push(b'R'); // REDUCE
    b.push(b'.'); // STOP
    b
}

/// A PyTorch-style zip checkpoint with one pickle member named `name` holding `pickle`.
pub fn torch_zip(path: &Path, members: &[(&str, &[u8])]) {
    use std::io::Write;
    let f = std::fs::File::create(path).unwrap();
    let mut z = zip::ZipWriter::new(f);
    for (name, data) in members {
        z.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}
