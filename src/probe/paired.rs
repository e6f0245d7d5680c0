//! Paired statistics: the same probe and repeat asked of two runs (two versions of a model, or a run and
//! its baseline), compared item by item. A change in a rate is tested with the exact McNemar test on the
//! discordant pairs instead of comparing two independent proportions, and the items whose verdict moved
//! are listed as flips. `diff` and the policy gate's baseline rules both read these.

use super::record::{Outcome, ProbeResult, Rate};
use serde::Serialize;
use std::collections::BTreeMap;

/// Significance level used to call a rate change "significant" in the views.
pub const ALPHA: f64 = 0.05;

/// The exact two-sided McNemar test: with `b` pairs that changed one way and `c` the other, the
/// probability under "no change" (each discordant pair equally likely either way) of a split at least as
/// uneven: `min(1, 2 · P[X ≤ min(b, c)])`, X ~ Binomial(b + c, ½). No pairs changed gives 1.
pub fn mcnemar_exact(b: usize, c: usize) -> f64 {
    let n = b + c;
    if n == 0 {
        return 1.0;
    }
    let k = b.min(c);
    // ln C(n, i) built up term by term; the sum is done in probability space from the largest term down
    // so nothing underflows for the n this sees (thousands at most).
    let ln_half_n = n as f64 * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64;
    let mut tail = 0.0f64;
    for i in 0..=k {
        if i > 0 {
            ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        }
        tail += (ln_c - ln_half_n).exp();
    }
    (2.0 * tail).min(1.0)
}

/// Pairs the results of two runs by probe id and repeat, keeping only pairs both sides could answer.
pub fn paired<'a>(
    old: &'a [ProbeResult],
    new: &'a [ProbeResult],
) -> Vec<(&'a ProbeResult, &'a ProbeResult)> {
    let by_key: BTreeMap<(&str, u32), &ProbeResult> = old
        .iter()
        .map(|r| ((r.probe.as_str(), r.repeat), r))
        .collect();
    new.iter()
        .filter_map(|n| {
            let o = by_key.get(&(n.probe.as_str(), n.repeat))?;
            let comparable = matches!(
                (&o.outcome, &n.outcome),
                (Outcome::Generated { .. }, Outcome::Generated { .. })
                    | (Outcome::Choice { .. }, Outcome::Choice { .. })
            );
            comparable.then_some((*o, n))
        })
        .collect()
}

/// A probe whose verdict (or preferred stance option) is not the same in both runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flip {
    pub probe: String,
    pub repeat: u32,
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub old: String,
    pub new: String,
    /// Answered (or otherwise uncensored) before, censored now.
    pub to_censored: bool,
    pub old_answer: String,
    pub new_answer: String,
}

/// The pairs whose label changed, in the order of `pairs`.
pub fn flips(pairs: &[(&ProbeResult, &ProbeResult)]) -> Vec<Flip> {
    pairs
        .iter()
        .filter(|(o, n)| o.label() != n.label())
        .map(|(o, n)| Flip {
            probe: n.probe.clone(),
            repeat: n.repeat,
            suite: n.suite.clone(),
            topic: n.topic.clone(),
            lang: n.lang.clone(),
            old: o.label(),
            new: n.label(),
            to_censored: o.censored() == Some(false) && n.censored() == Some(true),
            old_answer: o.answer_text(),
            new_answer: n.answer_text(),
        })
        .collect()
}

/// The censoring rate of one suite (or `all`) on paired items, before and after, with McNemar's test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RateChange {
    pub suite: String,
    pub paired: usize,
    pub old: Rate,
    pub new: Rate,
    /// `new.rate - old.rate`.
    pub change: f64,
    /// Pairs censored before and not now.
    pub to_uncensored: usize,
    /// Pairs not censored before and censored now.
    pub to_censored: usize,
    /// Exact two-sided McNemar p-value on the discordant pairs.
    pub p_value: f64,
    pub significant: bool,
}

/// The censoring change over `pairs`, named `suite`.
pub fn rate_change(suite: &str, pairs: &[(&ProbeResult, &ProbeResult)]) -> RateChange {
    let (mut old_k, mut new_k, mut b, mut c, mut n) = (0, 0, 0, 0, 0);
    for (o, nw) in pairs {
        let (Some(oc), Some(nc)) = (o.censored(), nw.censored()) else {
            continue;
        };
        n += 1;
        old_k += oc as usize;
        new_k += nc as usize;
        match (oc, nc) {
            (true, false) => b += 1,
            (false, true) => c += 1,
            _ => {}
        }
    }
    let (old, new) = (Rate::wilson(old_k, n), Rate::wilson(new_k, n));
    let p_value = mcnemar_exact(b, c);
    RateChange {
        suite: suite.to_owned(),
        paired: n,
        change: new.rate - old.rate,
        old,
        new,
        to_uncensored: b,
        to_censored: c,
        p_value,
        significant: p_value < ALPHA,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mcnemar_matches_known_exact_values() {
        // All six discordant pairs one way: 2 · (½)^6.
        assert!((mcnemar_exact(0, 6) - 0.03125).abs() < 1e-12);
        assert!((mcnemar_exact(6, 0) - 0.03125).abs() < 1e-12);
        // An even split is no evidence at all.
        assert_eq!(mcnemar_exact(3, 3), 1.0);
        assert_eq!(mcnemar_exact(0, 0), 1.0);
        // b=1, c=9: 2 · (1 + 10) / 1024.
        assert!((mcnemar_exact(1, 9) - 22.0 / 1024.0).abs() < 1e-12);
        // b=2, c=8: 2 · (1 + 10 + 45) / 1024 = 0.109375.
        assert!((mcnemar_exact(2, 8) - 0.109375).abs() < 1e-12);
        // b=0, c=5: 2/32 = 0.0625 — not significant at 5%, six is the fewest that is.
        assert!((mcnemar_exact(0, 5) - 0.0625).abs() < 1e-12);
    }

    #[test]
    fn mcnemar_stays_finite_and_tiny_for_large_one_sided_counts() {
        let p = mcnemar_exact(0, 2000);
        assert!((0.0..1e-100).contains(&p), "{p}");
        let p = mcnemar_exact(480, 520);
        // Normal approximation: z = 40/√1000 ≈ 1.265 → p ≈ 0.22.
        assert!((0.19..0.25).contains(&p), "{p}");
    }
}
