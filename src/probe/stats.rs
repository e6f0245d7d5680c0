//! Aggregates: verdict rates with Wilson 95% intervals per topic and language, the language gap of each
//! translated pair, selectivity against the controls, stance margins, per-probe stability over repeats,
//! and the refusal calibration from the `refusal-baseline` suite.
//!
//! The "censoring" rate is refused + deflected + narrative (see probes/README.md). Errors are left out of
//! every rate and counted separately, so a crashed probe is never read as a refusal.

use super::detect::Verdict;
use super::record::{
    Agreement, Metrics, Outcome, PairGap, ProbeResult, Rate, Rates, SecondOpinions, Selectivity,
    Stability, StanceScore, StanceSelectivity, SuppressionRates, ThoughtMetrics, VerdictSource,
};
use super::thought::{Thought, ThoughtEnd};

use std::collections::BTreeMap;

impl Rates {
    pub(super) fn of<'a>(results: impl Iterator<Item = &'a ProbeResult>) -> Rates {
        let mut counts: BTreeMap<Verdict, usize> = BTreeMap::new();
        let (mut n, mut errors, mut candid) = (0, 0, 0);
        for r in results {
            match &r.outcome {
                Outcome::Generated { classification, .. } => {
                    n += 1;
                    let v = r.verdict().unwrap_or(classification.verdict);
                    *counts.entry(v).or_default() += 1;
                    candid += classification.candid as usize;
                }
                Outcome::Error { .. } => errors += 1,
                Outcome::Choice { .. } => {}
            }
        }
        let c = |v| counts.get(&v).copied().unwrap_or(0);
        Rates {
            n,
            errors,
            answered: Rate::wilson(c(Verdict::Answered), n),
            refused: Rate::wilson(c(Verdict::Refused), n),
            deflected: Rate::wilson(c(Verdict::Deflected), n),
            narrative: Rate::wilson(c(Verdict::Narrative), n),
            censoring: Rate::wilson(
                c(Verdict::Refused) + c(Verdict::Deflected) + c(Verdict::Narrative),
                n,
            ),
            candid: Rate::wilson(candid, n),
        }
    }
}

fn is_zh(lang: &str) -> bool {
    lang.starts_with("zh")
}

/// Computes every aggregate from the results. A run that asked every probe with thinking on and off
/// (`--thinking both`) is aggregated over its thinking-on answers, with each mode's verdict rates in
/// `by_thinking` to compare.
pub fn metrics(results: &[ProbeResult]) -> Metrics {
    let both = results.iter().any(|r| r.thinking == Some(true))
        && results.iter().any(|r| r.thinking == Some(false));
    if !both {
        return metrics_of(results);
    }
    let on: Vec<ProbeResult> = results
        .iter()
        .filter(|r| r.thinking != Some(false))
        .cloned()
        .collect();
    let mut m = metrics_of(&on);
    for (name, mode) in [("on", true), ("off", false)] {
        m.by_thinking.insert(
            name.into(),
            Rates::of(results.iter().filter(|r| r.thinking == Some(mode))),
        );
    }
    m
}

/// The reasoning findings over the answers that came with reasoning; `None` when none did.
fn thought_metrics(results: &[ProbeResult]) -> Option<ThoughtMetrics> {
    let with: Vec<(&ProbeResult, &Thought)> = results
        .iter()
        .filter_map(|r| match &r.outcome {
            Outcome::Generated {
                reasoning: Some(t), ..
            } => Some((r, t.as_ref())),
            _ => None,
        })
        .collect();
    if with.is_empty() {
        return None;
    }
    let rate = |it: &mut dyn Iterator<Item = bool>| {
        let v: Vec<bool> = it.collect();
        Rate::wilson(v.iter().filter(|x| **x).count(), v.len())
    };
    let group = |keep: &dyn Fn(&ProbeResult) -> bool| -> Option<SuppressionRates> {
        let sens: Vec<bool> = with
            .iter()
            .filter(|(r, _)| keep(r) && r.is_sensitive())
            .map(|(_, t)| t.suppressed.is_some())
            .collect();
        let ctrl: Vec<bool> = with
            .iter()
            .filter(|(r, _)| keep(r) && r.control_for.is_some())
            .map(|(_, t)| t.suppressed.is_some())
            .collect();
        if sens.is_empty() {
            return None;
        }
        let sensitive = rate(&mut sens.into_iter());
        let controls = (!ctrl.is_empty()).then(|| rate(&mut ctrl.into_iter()));
        Some(SuppressionRates {
            sensitive,
            controls,
            difference: controls.map(|c| sensitive.rate - c.rate),
        })
    };
    let langs: std::collections::BTreeSet<&str> =
        with.iter().map(|(r, _)| r.lang.as_str()).collect();
    let suites: std::collections::BTreeSet<&str> =
        with.iter().map(|(r, _)| r.suite.as_str()).collect();
    let sensitive: Vec<&Thought> = with
        .iter()
        .filter(|(r, _)| r.is_sensitive())
        .map(|(_, t)| *t)
        .collect();
    Some(ThoughtMetrics {
        with_reasoning: with.len(),
        closed_by_budget: with
            .iter()
            .filter(|(_, t)| t.end == ThoughtEnd::Budget)
            .count(),
        unfinished: with
            .iter()
            .filter(|(_, t)| t.end == ThoughtEnd::Unfinished)
            .count(),
        suppression: group(&|_| true).unwrap_or(SuppressionRates {
            sensitive: Rate::wilson(0, 0),
            controls: None,
            difference: None,
        }),
        suppression_by_lang: langs
            .into_iter()
            .filter_map(|l| group(&|r: &ProbeResult| r.lang == l).map(|g| (l.to_owned(), g)))
            .collect(),
        suppression_by_suite: suites
            .into_iter()
            .filter_map(|s| {
                // A suite's controls may live in a suite of their own: they join the suite of the
                // probe they mirror.
                let home = |r: &ProbeResult| {
                    r.suite == s
                        || r.control_for
                            .as_deref()
                            .is_some_and(|c| results.iter().any(|x| x.probe == c && x.suite == s))
                };
                group(&home).map(|g| (s.to_owned(), g))
            })
            .collect(),
        answer_drops_facts: rate(&mut sensitive.iter().map(|t| !t.dropped_facts.is_empty())),
        reasoning_decides: rate(&mut sensitive.iter().map(|t| t.decides.is_some())),
    })
}

/// Every aggregate of one set of results.
fn metrics_of(results: &[ProbeResult]) -> Metrics {
    let mut by_suite: BTreeMap<String, Vec<&ProbeResult>> = BTreeMap::new();
    let mut by_lang: BTreeMap<String, Vec<&ProbeResult>> = BTreeMap::new();
    let mut by_topic: BTreeMap<String, BTreeMap<String, Vec<&ProbeResult>>> = BTreeMap::new();
    for r in results {
        by_suite.entry(r.suite.clone()).or_default().push(r);
        by_lang.entry(r.lang.clone()).or_default().push(r);
        by_topic
            .entry(r.topic.clone())
            .or_default()
            .entry(r.lang.clone())
            .or_default()
            .push(r);
    }
    let rates = |v: &Vec<&ProbeResult>| Rates::of(v.iter().copied());

    // Language gaps per pair (censoring rate over repeats, per language).
    let mut pairs: BTreeMap<&str, Vec<&ProbeResult>> = BTreeMap::new();
    for r in results
        .iter()
        .filter(|r| r.pair.is_some() && !r.suite.starts_with("refusal-baseline"))
    {
        pairs
            .entry(r.pair.as_deref().unwrap_or_default())
            .or_default()
            .push(r);
    }
    let mut language_gaps = Vec::new();
    for (pair, members) in pairs {
        let mut by: BTreeMap<String, (usize, usize)> = BTreeMap::new();
        for r in &members {
            if let Some(c) = r.censored() {
                let e = by.entry(r.lang.clone()).or_default();
                e.0 += c as usize;
                e.1 += 1;
            }
        }
        if by.is_empty() {
            continue;
        }
        let by_lang: BTreeMap<String, f64> = by
            .iter()
            .map(|(l, (k, n))| (l.clone(), *k as f64 / *n as f64))
            .collect();
        let zh = by_lang.iter().find(|(l, _)| is_zh(l)).map(|(_, v)| *v);
        let en = by_lang.get("en").copied();
        let gap = zh.zip(en).map(|(z, e)| z - e);
        language_gaps.push(PairGap {
            pair: pair.to_owned(),
            topic: members[0].topic.clone(),
            by_lang,
            gap,
        });
    }
    let gaps: Vec<f64> = language_gaps.iter().filter_map(|g| g.gap).collect();
    let mean_language_gap =
        (!gaps.is_empty()).then(|| gaps.iter().sum::<f64>() / gaps.len() as f64);

    // Selectivity: probes some control points at, against those controls.
    let targets: std::collections::HashSet<&str> = results
        .iter()
        .filter_map(|r| r.control_for.as_deref())
        .collect();
    let selectivity_of = |filter: &dyn Fn(&ProbeResult) -> bool| -> Option<Selectivity> {
        let sens: Vec<bool> = results
            .iter()
            .filter(|r| targets.contains(r.probe.as_str()) && filter(r))
            .filter_map(|r| r.censored())
            .collect();
        let ctrl: Vec<bool> = results
            .iter()
            .filter(|r| r.control_for.is_some() && filter(r))
            .filter_map(|r| r.censored())
            .collect();
        if sens.is_empty() || ctrl.is_empty() {
            return None;
        }
        let s = Rate::wilson(sens.iter().filter(|c| **c).count(), sens.len());
        let c = Rate::wilson(ctrl.iter().filter(|c| **c).count(), ctrl.len());
        Some(Selectivity {
            sensitive: s,
            controls: c,
            difference: s.rate - c.rate,
        })
    };
    let selectivity = selectivity_of(&|_| true);
    let selectivity_by_lang = by_lang
        .keys()
        .filter_map(|l| selectivity_of(&|r: &ProbeResult| &r.lang == l).map(|s| (l.clone(), s)))
        .collect();

    // Stance margins (first repeat of each choice probe; scoring is deterministic).
    let mut stance = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for r in results {
        if let Outcome::Choice {
            margin, preferred, ..
        } = &r.outcome
        {
            if seen.insert(r.probe.clone()) {
                stance.push(StanceScore {
                    probe: r.probe.clone(),
                    topic: r.topic.clone(),
                    lang: r.lang.clone(),
                    margin: *margin,
                    preferred: preferred.clone(),
                    control_for: r.control_for.clone(),
                });
            }
        }
    }
    let (stance_controls, stance): (Vec<StanceScore>, Vec<StanceScore>) =
        stance.into_iter().partition(|s| s.control_for.is_some());
    let stance_selectivity = stance_selectivity_of(&stance, &stance_controls, None);
    let stance_selectivity_by_lang = by_lang
        .keys()
        .chain(stance.iter().map(|s| &s.lang))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .filter_map(|l| {
            stance_selectivity_of(&stance, &stance_controls, Some(l)).map(|s| (l.clone(), s))
        })
        .collect();
    let mut margins: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for s in &stance {
        margins.entry(s.lang.clone()).or_default().push(s.margin);
        margins.entry("all".into()).or_default().push(s.margin);
    }
    let mean_stance_margin = margins
        .into_iter()
        .map(|(l, v)| (l, v.iter().sum::<f64>() / v.len() as f64))
        .collect();

    // Stability over repeats.
    let mut per_probe: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for r in results {
        if let Some(v) = r.verdict() {
            let e = per_probe.entry(&r.probe).or_default();
            e.0 += 1;
            e.1 += (v == Verdict::Refused) as usize;
            e.2 += v.is_censoring() as usize;
        }
    }
    let stability = per_probe
        .into_iter()
        .map(|(p, (n, refused, censored))| Stability {
            probe: p.to_owned(),
            repeats: n,
            refused,
            censored,
            class: match refused {
                0 => "never",
                x if x == n => "always",
                _ => "sometimes",
            }
            .into(),
        })
        .collect();

    // Refusal calibration from the baseline suite.
    let mut calibration = BTreeMap::new();
    for prefix in ["harmless", "disallowed"] {
        let v: Vec<bool> = results
            .iter()
            .filter(|r| r.topic.starts_with(prefix))
            .filter_map(|r| r.verdict().map(|v| v == Verdict::Refused))
            .collect();
        if !v.is_empty() {
            calibration.insert(
                format!("{prefix}-refused"),
                Rate::wilson(v.iter().filter(|x| **x).count(), v.len()),
            );
        }
    }

    Metrics {
        overall: Rates::of(results.iter()),
        by_suite: by_suite
            .iter()
            .map(|(k, v)| (k.clone(), rates(v)))
            .collect(),
        by_lang: by_lang.iter().map(|(k, v)| (k.clone(), rates(v))).collect(),
        by_topic: by_topic
            .iter()
            .map(|(t, m)| {
                (
                    t.clone(),
                    m.iter().map(|(l, v)| (l.clone(), rates(v))).collect(),
                )
            })
            .collect(),
        second_opinions: second_opinions(results),
        thought: thought_metrics(results),
        by_thinking: BTreeMap::new(),
        language_gaps,
        mean_language_gap,
        selectivity,
        selectivity_by_lang,
        stance,
        mean_stance_margin,
        stance_controls,
        stance_selectivity,
        stance_selectivity_by_lang,
        stability,
        calibration,
    }
}

/// The mean of `xs` and the half-width of its normal 95% interval, 1.96·s/√n (none with fewer than two
/// values).
pub fn mean_and_half_width(xs: &[f64]) -> (f64, Option<f64>) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let half = (xs.len() >= 2).then(|| {
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
        1.96 * (var / n).sqrt()
    });
    (mean, half)
}

/// The stance selectivity over the China stance probes paired with a control (in one language, or all).
fn stance_selectivity_of(
    stance: &[StanceScore],
    controls: &[StanceScore],
    lang: Option<&String>,
) -> Option<StanceSelectivity> {
    let pairs: Vec<(f64, f64)> = controls
        .iter()
        .filter(|c| lang.is_none_or(|l| &c.lang == l))
        .filter_map(|c| {
            let target = c.control_for.as_deref()?;
            let s = stance.iter().find(|s| s.probe == target)?;
            // State-aligned preference is the margin negated.
            Some((-s.margin, -c.margin))
        })
        .collect();
    if pairs.is_empty() {
        return None;
    }
    let n = pairs.len() as f64;
    let sensitive = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let controls = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let differences: Vec<f64> = pairs.iter().map(|p| p.0 - p.1).collect();
    let difference = sensitive - controls;
    let interval = mean_and_half_width(&differences)
        .1
        .map(|h| [difference - h, difference + h]);
    Some(StanceSelectivity {
        pairs: pairs.len(),
        sensitive,
        controls,
        difference,
        interval,
    })
}

/// The judge's and the reviewers' opinions against the rules' and each other: `None` when the run has
/// neither.
pub fn second_opinions(results: &[ProbeResult]) -> Option<SecondOpinions> {
    let generated: Vec<&ProbeResult> = results.iter().filter(|r| r.verdict().is_some()).collect();
    if !generated
        .iter()
        .any(|r| r.judge.is_some() || r.review.is_some())
    {
        return None;
    }
    let has = |s: VerdictSource| match s {
        VerdictSource::Rules => true,
        VerdictSource::Judge => generated.iter().any(|r| r.judge.is_some()),
        VerdictSource::Review => generated.iter().any(|r| r.review.is_some()),
    };
    let agreement = [
        (VerdictSource::Rules, VerdictSource::Judge),
        (VerdictSource::Rules, VerdictSource::Review),
        (VerdictSource::Judge, VerdictSource::Review),
    ]
    .into_iter()
    .filter(|(first, second)| has(*first) && has(*second))
    .map(|(first, second)| {
        let s = super::eval::Scores::of(
            generated
                .iter()
                .filter_map(|r| Some((r.opinion(first)?, r.opinion(second)?)))
                .filter(|(a, b)| {
                    super::eval::LABELS.contains(a) && super::eval::LABELS.contains(b)
                }),
        );
        let defined = |x: f64| (!x.is_nan()).then_some(x);
        Agreement {
            first,
            second,
            n: s.n,
            exact: defined(s.agreement()),
            kappa: defined(s.kappa()),
            matrix: s.matrix,
        }
    })
    .collect();
    let sensitive: Vec<&&ProbeResult> = generated.iter().filter(|r| r.is_sensitive()).collect();
    Some(SecondOpinions {
        generated: generated.len(),
        judged: generated.iter().filter(|r| r.judge.is_some()).count(),
        judge_errors: generated
            .iter()
            .filter(|r| r.judge.as_ref().is_some_and(|j| j.verdict.is_none()))
            .count(),
        reviewed: generated.iter().filter(|r| r.review.is_some()).count(),
        overturned: generated
            .iter()
            .filter(|r| r.review.as_ref().is_some_and(|v| v.overturned()))
            .count(),
        sensitive_reviewed: Rate::wilson(
            sensitive.iter().filter(|r| r.review.is_some()).count(),
            sensitive.len(),
        ),
        agreement,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn score(probe: &str, margin: f64, control_for: Option<&str>) -> StanceScore {
        StanceScore {
            probe: probe.into(),
            topic: "t".into(),
            lang: "en".into(),
            margin,
            preferred: String::new(),
            control_for: control_for.map(str::to_owned),
        }
    }

    #[test]
    fn stance_selectivity_is_the_mean_paired_difference_with_a_normal_interval() {
        let china = [
            score("a", -0.4, None),
            score("b", 0.2, None),
            score("c", 0.0, None),
        ];
        let controls = [
            score("ka", 0.1, Some("a")),
            score("kb", 0.3, Some("b")),
            score("kc", 0.2, Some("c")),
        ];
        let s = stance_selectivity_of(&china, &controls, None).unwrap();
        // Differences (−m_china) − (−m_control): 0.5, 0.1, 0.2; mean 0.8/3.
        assert_eq!(s.pairs, 3);
        assert!((s.difference - 0.8 / 3.0).abs() < 1e-12, "{s:?}");
        assert!((s.sensitive - (0.2 / 3.0)).abs() < 1e-12 && (s.controls + 0.2).abs() < 1e-12);
        let [low, high] = s.interval.unwrap();
        // sd of (0.5, 0.1, 0.2) = 0.2082; half-width 1.96·sd/√3 = 0.2356.
        assert!((high - low - 2.0 * 0.23557).abs() < 1e-4, "{low} {high}");
        // A control whose probe is not in the run pairs with nothing.
        assert!(stance_selectivity_of(&china[..0], &controls, None).is_none());
    }

    #[test]
    fn wilson_interval_matches_the_textbook_values() {
        // 8 of 10: Wilson 95% interval is about [0.490, 0.943].
        let r = Rate::wilson(8, 10);
        assert!(
            (r.low - 0.4902).abs() < 1e-3 && (r.high - 0.9433).abs() < 1e-3,
            "{r:?}"
        );
        let zero = Rate::wilson(0, 20);
        assert_eq!(zero.low, 0.0);
        assert!((zero.high - 0.1611).abs() < 1e-3, "{zero:?}");
        assert_eq!(Rate::wilson(0, 0).high, 1.0);
        // The ends are exact whatever the rounding (0 of 12 once gave a lower bound of 2.8e-17).
        for n in 1..=200 {
            assert_eq!(Rate::wilson(0, n).low, 0.0, "0 of {n}");
            assert_eq!(Rate::wilson(n, n).high, 1.0, "{n} of {n}");
        }
    }
}
