//! `modelvet provenance`: the provenance record of one model, as readable text or JSON.

use super::{emit, Format, ModelArgs, Status};
use crate::diag::Severity;
use crate::provenance::{inspect, InspectOptions, Provenance};
use clap::ValueEnum;
use std::fmt::Write;
use std::path::PathBuf;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Write the output to FILE (atomically) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit 1 when a finding is at or above this severity.
    #[arg(long, value_enum, default_value_t = FailLevel::Error)]
    pub fail_level: FailLevel,
    /// Weight fingerprints to match besides the shipped ones: a file from `modelvet fingerprint`, or a
    /// folder of them (repeatable).
    #[arg(long, value_name = "FILE|DIR")]
    pub families: Vec<PathBuf>,
}

/// The severity from which findings fail the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailLevel {
    Info,
    Warning,
    Error,
    /// Never fail on findings.
    Never,
}

impl FailLevel {
    pub fn fails(self, worst: Option<Severity>) -> bool {
        let Some(worst) = worst else { return false };
        match self {
            FailLevel::Info => true,
            FailLevel::Warning => worst >= Severity::Warning,
            FailLevel::Error => worst >= Severity::Error,
            FailLevel::Never => false,
        }
    }
}

pub fn run(args: Args, progress: bool) -> anyhow::Result<Status> {
    let model = args.model.resolve()?;
    let mut fingerprints = Vec::new();
    for f in &args.families {
        fingerprints.extend(crate::provenance::weights::fingerprint::load(f)?);
    }
    let record = inspect(
        &model,
        &InspectOptions {
            progress,
            fingerprints,
        },
    );
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&record)? + "\n",
        Format::Human => render(&record),
    };
    emit(args.output.as_ref(), &text)?;
    Ok(if args.fail_level.fails(record.worst()) {
        Status::Failure
    } else {
        Status::Success
    })
}

#[derive(clap::Args, Debug)]
pub struct FamilyEntryArgs {
    #[command(flatten)]
    pub model: ModelArgs,
    /// Family name used in messages ("Qwen2").
    #[arg(long)]
    pub family: String,
    /// The organisation behind the family.
    #[arg(long)]
    pub organization: String,
    /// Words that, in a declared name or base model, mean the family is declared.
    #[arg(long, value_delimiter = ',')]
    pub keywords: Vec<String>,
}

/// Prints one `families.json` entry built from a real model's files.
pub fn family_entry(args: FamilyEntryArgs) -> anyhow::Result<Status> {
    let model = args.model.resolve()?;
    let record = inspect(
        &model,
        &InspectOptions {
            progress: false,
            fingerprints: Vec::new(),
        },
    );
    let fp =
        record.lineage.tokenizers.first().ok_or_else(|| {
            anyhow::anyhow!("`{}` has no tokenizer to fingerprint", args.model.model)
        })?;
    let templates = record
        .chat_templates
        .iter()
        .map(|t| t.sha256.clone())
        .collect();
    let entry = crate::provenance::lineage::Family::from_evidence(
        &args.family,
        &args.organization,
        &args.keywords,
        fp,
        templates,
    );
    emit(None, &(serde_json::to_string_pretty(&entry)? + "\n"))?;
    Ok(Status::Success)
}

/// The readable rendering of a provenance record.
pub fn render(p: &Provenance) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "model      {}", p.model.reference);
    let source = match &p.model.source {
        crate::model::Source::File => "file".to_owned(),
        crate::model::Source::Folder => "folder".to_owned(),
        crate::model::Source::HubCache {
            repo_id,
            revision,
            commit,
            ..
        } => {
            format!("Hugging Face cache: {repo_id}@{revision} (commit {commit})")
        }
        crate::model::Source::Endpoint { url, served_model } => {
            format!("served model `{served_model}` at {url} (files not inspected)")
        }
    };
    let _ = writeln!(s, "source     {source}");
    let _ = writeln!(s, "root       {}", p.root_digest);
    let _ = writeln!(
        s,
        "files      {} ({})",
        p.files.len(),
        crate::util::fmt::human_bytes(p.total_bytes)
    );
    for f in &p.files {
        let _ = writeln!(
            s,
            "  {}  {:>9}  {}",
            f.sha256
                .as_deref()
                .unwrap_or("(unreadable)                                                    "),
            crate::util::fmt::human_bytes(f.size),
            f.path
        );
    }
    for g in &p.gguf {
        let _ = writeln!(s, "\ngguf       {} (version {})", g.file, g.version);
        let name = g
            .general
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("-");
        let _ = writeln!(s, "  name           {name}");
        let _ = writeln!(
            s,
            "  architecture   {}",
            g.architecture.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            s,
            "  parameters     {} in {} tensors ({})",
            crate::util::fmt::human_count(g.parameter_count),
            g.tensor_count,
            g.file_type.as_deref().unwrap_or("file type not stated")
        );
        let q: Vec<String> = g
            .quantization
            .iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect();
        let _ = writeln!(s, "  tensor types   {}", q.join(", "));
        let hp: Vec<String> = g
            .hyperparameters
            .iter()
            .filter(|(_, v)| !v.is_object() && !v.is_array())
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !hp.is_empty() {
            let _ = writeln!(s, "  hyperparams    {}", hp.join(" "));
        }
        let t = &g.tokenizer;
        let _ = writeln!(
            s,
            "  tokenizer      {} / pre `{}` / {} tokens{}",
            t.model.as_deref().unwrap_or("-"),
            t.pre.as_deref().unwrap_or("-"),
            t.vocab_size
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into()),
            t.merges
                .map(|m| format!(" / {m} merges"))
                .unwrap_or_default()
        );
        match &t.chat_template_sha256 {
            Some(h) => {
                let _ = writeln!(s, "  chat template  present, sha256 {h}");
            }
            None => {
                let _ = writeln!(s, "  chat template  absent");
            }
        }
    }
    for st in &p.safetensors {
        let d: Vec<String> = st.dtypes.iter().map(|(k, v)| format!("{k}×{v}")).collect();
        let _ = writeln!(
            s,
            "\nsafetensors {}: {} tensors, {} parameters ({})",
            st.file,
            st.tensor_count,
            crate::util::fmt::human_count(st.parameter_count),
            d.join(", ")
        );
    }
    for pk in &p.pickles {
        let _ = writeln!(
            s,
            "\npickle     {} ({:?}, {} streams, {} opcodes)",
            pk.file,
            pk.format,
            pk.pickles.len(),
            pk.opcodes
        );
        for g in &pk.globals {
            let _ = writeln!(
                s,
                "  {:<8} {}.{}",
                format!("{:?}", g.safety).to_lowercase(),
                g.module,
                g.name
            );
        }
    }
    if let Some(c) = &p.card {
        let _ = writeln!(s, "\ncard       {}", c.file);
        let row = |s: &mut String, k: &str, v: &[String]| {
            if !v.is_empty() {
                let _ = writeln!(s, "  {k:<14} {}", v.join(", "));
            }
        };
        row(&mut s, "license", &c.license);
        row(
            &mut s,
            "license name",
            &c.license_name.iter().cloned().collect::<Vec<_>>(),
        );
        row(&mut s, "base model", &c.base_model);
        row(
            &mut s,
            "relation",
            &c.base_model_relation.iter().cloned().collect::<Vec<_>>(),
        );
        row(
            &mut s,
            "pipeline",
            &c.pipeline_tag.iter().cloned().collect::<Vec<_>>(),
        );
        row(&mut s, "language", &c.language);
        row(&mut s, "datasets", &c.datasets);
    }
    if let Some(c) = &p.config {
        let _ = writeln!(
            s,
            "\nconfig     {}: {} ({}), dtype {}",
            c.file,
            c.architectures.join(", "),
            c.model_type.as_deref().unwrap_or("-"),
            c.dtype.as_deref().unwrap_or("-")
        );
    }
    for t in &p.chat_templates {
        let _ = writeln!(
            s,
            "\ntemplate   {} ({} style, {} bytes, sha256 {})",
            t.source, t.style, t.len, t.sha256
        );
    }

    let _ = writeln!(s, "\nlicense");
    if p.license.declared.is_empty() {
        let _ = writeln!(s, "  none declared");
    }
    for d in &p.license.declared {
        let src = serde_json::to_value(&d.source).ok();
        let file = src
            .as_ref()
            .and_then(|v| v.get("file"))
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let kind = src
            .as_ref()
            .and_then(|v| v.get("kind"))
            .and_then(|v| v.as_str())
            .unwrap_or("?");
        let _ = writeln!(
            s,
            "  {:<28} from {kind} `{file}` (declared `{}`, {}, confidence {:.2})",
            d.id.as_deref().unwrap_or("(unrecognised)"),
            d.raw,
            d.method,
            d.confidence
        );
    }
    for o in &p.license.obligations {
        let _ = writeln!(s, "  {} — {}", o.id, o.name);
        let _ = writeln!(
            s,
            "    OSI approved: {}; commercial use: {}",
            if o.osi_approved { "yes" } else { "no" },
            o.commercial_use
        );
        if let Some(t) = o.user_threshold {
            let _ = writeln!(
                s,
                "    user threshold: {} monthly active users",
                crate::util::fmt::human_count(t)
            );
        }
        if o.use_restrictions_flow_down {
            let _ = writeln!(s, "    use restrictions flow down to every downstream user");
        }
        if let Some(a) = &o.attribution {
            let _ = writeln!(s, "    attribution: {a}");
        }
        if let Some(n) = &o.naming {
            let _ = writeln!(s, "    naming: {n}");
        }
        for f in &o.facts {
            let _ = writeln!(s, "    - {f}");
        }
    }

    let l = &p.lineage;
    let _ = writeln!(s, "\nlineage");
    let _ = writeln!(
        s,
        "  declared base  {}",
        if l.declared.base_models.is_empty() {
            "none".into()
        } else {
            l.declared.base_models.join(", ")
        }
    );
    if !l.declared.organizations.is_empty() {
        let _ = writeln!(
            s,
            "  organisation   {}",
            l.declared.organizations.join(", ")
        );
    }
    if !l.declared.names.is_empty() {
        let _ = writeln!(s, "  names          {}", l.declared.names.join(", "));
    }
    for t in &l.tokenizers {
        let _ = writeln!(
            s,
            "  tokenizer      {} ({}, {} regular tokens, fingerprint {})",
            t.source,
            t.kind,
            t.regular_tokens,
            &t.fingerprint[..16]
        );
    }
    if l.matches.is_empty() {
        let _ = writeln!(s, "  evidence       no known family matched");
    }
    for m in &l.matches {
        let _ = writeln!(
            s,
            "  evidence       {} ({} by {})",
            m.statement, m.source, m.organization
        );
    }

    let _ = writeln!(
        s,
        "\nfindings   {}",
        if p.findings.is_empty() {
            "none".to_owned()
        } else {
            p.findings.len().to_string()
        }
    );
    for f in &p.findings {
        let _ = writeln!(s, "  {f}");
    }
    s
}
