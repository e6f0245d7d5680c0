//! `modelvet lineage A B` and `modelvet fingerprint MODEL`: weight-level lineage from the command line.
//!
//! The work is `provenance::weights`; this file opens the models, prints the evidence and maps the
//! verdict to the exit status (0 whatever the verdict; 2 when a model cannot be read).

use super::{emit, Format, Status};
use crate::provenance::weights::{self, fingerprint::Fingerprint, reader::WeightFile, Comparison};
use anyhow::Context;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct LineageArgs {
    /// The first model: a .gguf or .safetensors file, a model folder, or a Hugging Face id in the local cache.
    #[arg(value_name = "A")]
    pub a: String,
    /// The second model (same forms), or a weight fingerprint (`modelvet fingerprint`, a .json file).
    #[arg(value_name = "B")]
    pub b: String,
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
    /// Write to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct FingerprintArgs {
    /// The model to fingerprint (same forms as for `lineage`).
    #[arg(value_name = "MODEL")]
    pub model: String,
    /// The family name a match reports (default: the GGUF `general.basename` or the file name).
    #[arg(long)]
    pub family: Option<String>,
    /// Words that, in a model's declared names or base model, mean it declares this family (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub keywords: Vec<String>,
    /// Where to write the fingerprint (JSON, at most 64 KB).
    #[arg(long, short)]
    pub output: PathBuf,
}

/// Opens what the user named: a path as is, else a Hub id through the local cache.
pub fn open_weights(spec: &str) -> anyhow::Result<WeightFile> {
    let path = Path::new(spec);
    let path = if path.exists() {
        path.to_owned()
    } else {
        let opts = crate::model::ResolveOptions {
            download: false,
            hub_cache: None,
        };
        crate::model::resolve(spec, &opts)?.root
    };
    Ok(WeightFile::open(&path)?)
}

/// A fingerprint file named instead of a model (`*.json` that reads as one).
fn as_fingerprint(spec: &str) -> Option<anyhow::Result<Fingerprint>> {
    spec.ends_with(".json")
        .then(|| Fingerprint::read(Path::new(spec)).map_err(Into::into))
}

pub fn run_lineage(args: LineageArgs) -> anyhow::Result<Status> {
    let c = match (as_fingerprint(&args.a), as_fingerprint(&args.b)) {
        (Some(_), Some(_)) => {
            anyhow::bail!("name at least one model; two fingerprints cannot be compared")
        }
        (Some(fp), None) | (None, Some(fp)) => {
            let fp = fp?;
            let model = if args.a.ends_with(".json") {
                &args.b
            } else {
                &args.a
            };
            let w = open_weights(model)?;
            weights::fingerprint::match_all(&w, std::slice::from_ref(&fp))
                .pop()
                .map(|m| m.comparison)
                .ok_or_else(|| anyhow::anyhow!("the fingerprint's vectors do not decode"))?
        }
        (None, None) => {
            let (a, b) = rayon::join(|| open_weights(&args.a), || open_weights(&args.b));
            let (a, b) = (a?, b?);
            weights::compare_files(&a, &b, weights::sketch::PAIRWISE)
        }
    };
    let text = match args.format {
        Format::Json => {
            let v = serde_json::json!({ "a": args.a, "b": args.b, "comparison": c });
            serde_json::to_string_pretty(&v)? + "\n"
        }
        Format::Human => render(&args.a, &args.b, &c),
    };
    emit(args.output.as_ref(), &text)?;
    Ok(Status::Success)
}

pub fn run_fingerprint(args: FingerprintArgs) -> anyhow::Result<Status> {
    let w = open_weights(&args.model)?;
    let name = w
        .path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let family = args.family.clone().unwrap_or_else(|| name.clone());
    let mut fp = Fingerprint::make(&w, &family, &name, None);
    fp.keywords = args.keywords.clone();
    let text = serde_json::to_string(&fp)? + "\n";
    emit(Some(&args.output), &text)
        .with_context(|| format!("writing `{}`", args.output.display()))?;
    eprintln!(
        "fingerprint of `{name}` ({} bytes, {} anchors, {} matrices) written to `{}`",
        text.len(),
        fp.anchors.len(),
        fp.direct.len(),
        args.output.display()
    );
    Ok(Status::Success)
}

fn opt(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.4}"))
}

/// The human view of one comparison.
pub fn render(a: &str, b: &str, c: &Comparison) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "lineage    `{a}` vs `{b}`");
    let _ = writeln!(
        s,
        "verdict    {} (score {:.4}, {})",
        c.verdict.label(),
        c.score,
        c.method
    );
    let _ = writeln!(s, "           {}", c.reason);
    let m = |m: &Option<weights::Measure>| {
        m.as_ref().map_or_else(
            || "not comparable (no matching shapes)".to_owned(),
            |m| {
                format!(
                    "median {:.4}, min {:.4}, max {:.4} over {}",
                    m.median, m.min, m.max, m.compared
                )
            },
        )
    };
    let _ = writeln!(
        s,
        "direct     {} matrices (centred correlation at seeded positions)",
        m(&c.direct)
    );
    let _ = writeln!(
        s,
        "invariant  {} layer matrices (seen through shared-token embeddings)",
        m(&c.invariant)
    );
    let e = &c.embedding;
    let _ = writeln!(
        s,
        "embedding  {} shared anchor tokens; Gram correlation {}; dimension alignment {} (independent: {})",
        e.shared_anchors,
        opt(e.gram),
        opt(e.alignment),
        opt(e.alignment_null)
    );
    match &c.null {
        Some(n) => {
            let _ = writeln!(
                s,
                "null       median {:.4}, max {:.4}: {}",
                n.median, n.max, n.source
            );
        }
        None => {
            let _ = writeln!(
                s,
                "null       none: no two layers of the same shape to pair"
            );
        }
    }
    if !c.layers.is_empty() {
        let _ = writeln!(s, "layers     layer  direct   invariant");
        for l in &c.layers {
            let _ = writeln!(
                s,
                "           {:>5}  {:>7}  {:>9}",
                l.layer,
                opt(l.direct),
                opt(l.invariant)
            );
        }
    }
    s
}
