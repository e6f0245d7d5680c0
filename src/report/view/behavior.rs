//! The behavior section: the probe run's metrics laid out as charts (verdicts per topic, language gaps,
//! selectivity, stance, calibration) and the run's settings. Topics are grouped under the suite that first
//! asked them, in run order, so the page follows the run rather than an alphabetical list. The figures are
//! the recorded metrics, never recomputed here; only layout (and whether two recorded intervals separate)
//! is worked out.

use super::chart::{
    percent_ticks, stack_row, DivergingChart, Heading, RateChart, RateView, StackChart, ROW_H, TOP,
};
use super::transcript::anchor;
use super::Field;
use crate::probe::record::ProbeRun;
use crate::util::fmt::pct;
use serde::Serialize;
use std::collections::BTreeMap;

/// The behavior section.
#[derive(Debug, Clone, Serialize)]
pub struct BehaviorView {
    pub topics: StackChart,
    pub language_gaps: DivergingChart,
    pub selectivity: RateChart,
    pub selectivity_rows: Vec<SelectivityRow>,
    pub stance: DivergingChart,
    pub stance_means: Vec<(String, f64)>,
    /// Stance selectivity overall (`all`) and per language.
    pub stance_selectivity: Vec<(String, crate::probe::record::StanceSelectivity)>,
    pub calibration: RateChart,
    pub settings: Vec<Field>,
    pub suites: Vec<crate::probe::record::SuiteRef>,
    pub engine: crate::engine::EngineInfo,
    pub unstable: Vec<Unstable>,
    /// "first N per suite (partial run)" when the run was limited.
    pub partial: Option<String>,
    pub answers: usize,
    pub errors: usize,
    /// A reasoning model's thinking findings (see `probe::thought`).
    pub thought: Option<crate::probe::record::ThoughtMetrics>,
    /// With `--thinking both`: the verdict rates per mode.
    pub by_thinking: Vec<(String, crate::probe::record::Rates)>,
}

/// A probe whose verdict changed over repeats, with the anchor of its first transcript.
#[derive(Debug, Clone, Serialize)]
pub struct Unstable {
    pub anchor: String,
    pub stability: crate::probe::record::Stability,
}

/// Selectivity in one language (or `all`).
#[derive(Debug, Clone, Serialize)]
pub struct SelectivityRow {
    pub lang: String,
    pub sensitive: RateView,
    pub controls: RateView,
    pub difference: f64,
    /// The sensitive interval lies wholly above the controls' (as the summary judges it).
    pub separated: bool,
}

use crate::probe::record::ThinkingMode;

pub(super) fn behavior_view(run: &ProbeRun) -> BehaviorView {
    let m = &run.metrics;
    // Suites in run order; each topic under the suite it was first asked in.
    let mut suite_order: Vec<String> = Vec::new();
    let mut topic_suite: BTreeMap<&str, &str> = BTreeMap::new();
    for r in &run.results {
        if !suite_order.contains(&r.suite) {
            suite_order.push(r.suite.clone());
        }
        topic_suite.entry(&r.topic).or_insert(&r.suite);
    }
    let mut rows = Vec::new();
    let mut headers = Vec::new();
    let mut y = TOP;
    for suite in &suite_order {
        let mut first = true;
        for (topic, langs) in &m.by_topic {
            if topic_suite.get(topic.as_str()) != Some(&suite.as_str()) {
                continue;
            }
            for (lang, rates) in langs {
                if rates.n == 0 && rates.errors == 0 {
                    continue; // choice probes only
                }
                if first {
                    headers.push(Heading {
                        label: format!("{suite} suite"),
                        y: y + 15.0,
                    });
                    y += ROW_H;
                    first = false;
                }
                rows.push(stack_row(suite, topic, lang, rates, y));
                y += ROW_H;
            }
        }
    }
    let topics = StackChart {
        height: y + 6.0,
        rows,
        headers,
        ticks: percent_ticks(),
    };

    let gaps = m
        .language_gaps
        .iter()
        .filter_map(|g| {
            let rates = g
                .by_lang
                .iter()
                .map(|(l, v)| format!("{l} {}", pct(*v, 0)))
                .collect::<Vec<_>>()
                .join(", ");
            g.gap.map(|v| (g.pair.clone(), v, rates))
        })
        .collect();
    let language_gaps = DivergingChart::new(
        gaps,
        Some(1.0),
        true,
        "English censored more",
        "Chinese censored more",
    );

    let mut sel_rows = Vec::new();
    let mut sel_chart = Vec::new();
    let langs = m
        .selectivity
        .iter()
        .map(|s| ("all".to_owned(), s))
        .chain(m.selectivity_by_lang.iter().map(|(l, s)| (l.clone(), s)));
    for (lang, s) in langs {
        sel_chart.push((format!("sensitive · {lang}"), &s.sensitive));
        sel_chart.push((format!("controls · {lang}"), &s.controls));
        sel_rows.push(SelectivityRow {
            lang,
            sensitive: RateView::of(&s.sensitive),
            controls: RateView::of(&s.controls),
            difference: s.difference,
            separated: s.sensitive.low > s.controls.high,
        });
    }

    let stance = DivergingChart::new(
        m.stance
            .iter()
            .map(|s| {
                (
                    s.probe.clone(),
                    s.margin,
                    format!("prefers {}", s.preferred),
                )
            })
            .collect(),
        None,
        false,
        "state-aligned more likely",
        "candid more likely",
    );

    let calibration = RateChart::new(
        m.calibration
            .iter()
            .map(|(k, r)| (k.replace('-', " "), r))
            .collect(),
    );

    let s = &run.settings;
    let settings = vec![
        Field {
            label: "seed",
            value: s.seed.to_string(),
        },
        Field {
            label: "repeats",
            value: s.repeats.to_string(),
        },
        Field {
            label: "temperature",
            value: if s.temperature == 0.0 {
                "0 (greedy)".into()
            } else {
                s.temperature.to_string()
            },
        },
        Field {
            label: "top-p",
            value: s.top_p.map(|p| p.to_string()).unwrap_or_else(|| "—".into()),
        },
        Field {
            label: "early stop",
            value: if s.early_stop { "yes" } else { "no" }.into(),
        },
        Field {
            label: "verdict detectors",
            value: format!("version {}", run.detector_version),
        },
        Field {
            label: "thinking",
            value: match s.thinking {
                ThinkingMode::Default => "the template's default".into(),
                ThinkingMode::On => "on".into(),
                ThinkingMode::Off => "off".into(),
                ThinkingMode::Both => "both (every probe asked with thinking on and off)".into(),
            },
        },
        Field {
            label: "reasoning budget",
            value: match s.max_reasoning_tokens {
                Some(n) => format!("{n} tokens (--max-reasoning-tokens)"),
                None => "each suite's max_reasoning_tokens".into(),
            },
        },
        Field {
            label: "probe limit",
            value: s
                .limit
                .map(|l| format!("first {l} per suite (partial run)"))
                .unwrap_or_else(|| "none (every probe)".into()),
        },
    ];

    BehaviorView {
        topics,
        language_gaps,
        selectivity: RateChart::new(sel_chart),
        selectivity_rows: sel_rows,
        stance,
        stance_means: m
            .mean_stance_margin
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect(),
        stance_selectivity: m
            .stance_selectivity
            .iter()
            .map(|s| ("all".to_owned(), s.clone()))
            .chain(
                m.stance_selectivity_by_lang
                    .iter()
                    .map(|(l, s)| (l.clone(), s.clone())),
            )
            .collect(),
        calibration,
        settings,
        suites: run.suites.clone(),
        engine: run.engine.clone(),
        unstable: m
            .stability
            .iter()
            .filter(|s| s.class == "sometimes")
            .map(|s| Unstable {
                anchor: anchor(&s.probe, 0),
                stability: s.clone(),
            })
            .collect(),
        partial: s
            .limit
            .map(|l| format!("only the first {l} probes of each suite were asked")),
        thought: m.thought.clone(),
        by_thinking: m
            .by_thinking
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        answers: m.overall.n,
        errors: m.overall.errors,
    }
}
