//! Provenance on tiny models the tests write themselves: what each kind of file contributes to the record.

use crate::support::*;

#[test]
fn a_candle_written_safetensors_file_is_summarised_without_findings() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("model.safetensors");
    write_safetensors(&p);
    let run = provenance(&p);
    let j = run.json();
    let st = &j["safetensors"][0];
    assert_eq!(st["tensor_count"], 3);
    assert_eq!(st["parameter_count"], 8 * 4 + 4 + 8 * 4);
    assert_eq!(
        st["dtypes"],
        serde_json::json!({"BF16": 1, "F16": 1, "F32": 1})
    );
    assert_eq!(
        run.codes(),
        ["license-missing"],
        "a bare weight file declares no license; nothing else is wrong"
    );
    assert_eq!(run.code, 1);
}

#[test]
fn a_candle_written_gguf_file_is_summarised() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tiny.gguf");
    write_gguf(
        &p,
        Some("mit"),
        Some("{% for m in messages %}<|im_start|>{{ m.content }}{% endfor %}"),
    );
    let run = provenance(&p);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let g = &run.json()["gguf"][0];
    assert_eq!(g["version"], 2);
    assert_eq!(g["architecture"], "llama");
    assert_eq!(g["tensor_count"], 2);
    assert_eq!(g["parameter_count"], 2 * 32 + 4 * 64);
    assert_eq!(g["quantization"], serde_json::json!({"F32": 1, "Q8_0": 1}));
    assert_eq!(g["hyperparameters"]["block_count"], 1);
    assert_eq!(g["tokenizer"]["vocab_size"], 5);
    assert_eq!(g["tokenizer"]["merges"], 1);
    assert_eq!(g["general"]["license"], "mit");
}

#[test]
fn a_folder_gets_card_config_template_and_license_disagreement() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_safetensors(&d.join("model.safetensors"));
    std::fs::write(d.join("README.md"), "---\nlicense: apache-2.0\nbase_model: Qwen/Qwen2.5-0.5B\nbase_model_relation: finetune\n---\n# Tiny\n").unwrap();
    std::fs::write(
        d.join("config.json"),
        r#"{"architectures":["Qwen2ForCausalLM"],"model_type":"qwen2","torch_dtype":"bfloat16"}"#,
    )
    .unwrap();
    std::fs::write(
        d.join("tokenizer_config.json"),
        r#"{"chat_template":"{{ '<|im_start|>' }}","eos_token":"<|im_end|>"}"#,
    )
    .unwrap();
    std::fs::write(d.join("LICENSE"), MIT_TEXT).unwrap();
    let run = provenance(d);
    let j = run.json();
    assert_eq!(
        j["card"]["base_model"],
        serde_json::json!(["Qwen/Qwen2.5-0.5B"])
    );
    assert_eq!(
        j["config"]["architectures"],
        serde_json::json!(["Qwen2ForCausalLM"])
    );
    assert_eq!(j["config"]["dtype"], "bfloat16");
    assert_eq!(j["chat_templates"][0]["style"], "chatml");
    assert_eq!(j["lineage"]["declared"]["relation"], "finetune");
    assert_eq!(
        run.codes(),
        ["license-mismatch"],
        "card says Apache-2.0, LICENSE is MIT"
    );
    assert_eq!(run.code, 1);
}

#[test]
fn a_pickle_checkpoint_that_runs_os_system_fails_with_an_unsafe_global() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("pytorch_model.bin");
    torch_zip(
        &p,
        &[
            ("archive/data.pkl", &os_system_pickle()),
            ("archive/version", b"3\n"),
        ],
    );
    let run = provenance(&p);
    assert_eq!(run.code, 1);
    let codes = run.codes();
    assert!(
        codes.contains(&"pickle-global-unsafe".to_owned()),
        "{codes:?}"
    );
    assert!(
        codes.contains(&"pickle-serialization".to_owned()),
        "{codes:?}"
    );
    let j = run.json();
    let g = &j["pickles"][0]["globals"][0];
    assert_eq!(
        (
            g["module"].as_str(),
            g["name"].as_str(),
            g["safety"].as_str()
        ),
        (Some("os"), Some("system"), Some("unsafe"))
    );
}

#[test]
fn a_checksum_list_that_disagrees_with_a_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_safetensors(&d.join("model.safetensors"));
    std::fs::write(d.join("README.md"), "---\nlicense: mit\n---\n").unwrap();
    std::fs::write(
        d.join("SHA256SUMS"),
        format!("{}  model.safetensors\n", "0".repeat(64)),
    )
    .unwrap();
    let run = provenance(d);
    assert_eq!(run.codes(), ["checksum-mismatch"]);
}

#[test]
fn a_renamed_model_with_the_qwen_tokenizer_is_flagged_as_undeclared_lineage() {
    // "Is this secretly a Qwen fine-tune?": a tiny GGUF calling itself SuperChat, carrying the real
    // Qwen2.5 vocabulary and merges (copied with candle's reader) and declaring no base model.
    let Some(q) = real_model(QWEN) else { return };
    use candle_core::quantized::gguf_file::{Content, Value};
    use candle_core::quantized::{GgmlDType, QTensor};
    let mut f = std::fs::File::open(&q).unwrap();
    let content = Content::read(&mut f).unwrap();
    let copy = |k: &str| (k.to_owned(), content.metadata[k].clone());
    let meta = [
        (
            "general.architecture".to_owned(),
            Value::String("qwen2".into()),
        ),
        (
            "general.name".to_owned(),
            Value::String("SuperChat 1B".into()),
        ),
        copy("tokenizer.ggml.model"),
        copy("tokenizer.ggml.tokens"),
        copy("tokenizer.ggml.token_type"),
        copy("tokenizer.ggml.merges"),
    ];
    let refs: Vec<(&str, &Value)> = meta.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let t = QTensor::quantize(
        &candle_core::Tensor::ones((2, 32), candle_core::DType::F32, &candle_core::Device::Cpu)
            .unwrap(),
        GgmlDType::F32,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("superchat.gguf");
    candle_core::quantized::gguf_file::write(
        &mut std::fs::File::create(&p).unwrap(),
        &refs,
        &[("w", &t)],
    )
    .unwrap();
    let run = provenance(&p);
    let j = run.json();
    let finding = j["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "lineage-undeclared")
        .cloned();
    let finding =
        finding.unwrap_or_else(|| panic!("no lineage-undeclared finding: {:?}", run.codes()));
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .starts_with("tokenizer matches the Qwen2 family"),
        "{finding}"
    );
    assert_eq!(finding["severity"], "warning");
}

pub const MIT_TEXT: &str = "MIT License\n\nCopyright (c) 2024 Someone\n\nPermission is hereby granted, free of charge, to any person obtaining a copy\nof this software and associated documentation files (the \"Software\"), to deal\nin the Software without restriction, including without limitation the rights\nto use, copy, modify, merge, publish, distribute, sublicense, and/or sell\ncopies of the Software, and to permit persons to whom the Software is\nfurnished to do so, subject to the following conditions:\n\nThe above copyright notice and this permission notice shall be included in all\ncopies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR\nIMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,\nFITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE\nAUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER\nLIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,\nOUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE\nSOFTWARE.\n";
