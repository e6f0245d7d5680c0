//! Chart geometry: every bar, whisker, tick and row offset the SVG charts draw, computed here in the
//! viewBox's own units so the templates only place what they are given. The layout is one fixed grid
//! (`BAR_X`/`BAR_W`, `ROW_H`, `TOP`) shared by the report and the compare page: simple and aligned across
//! charts, at the price of labels cut to fit ([`short`]) instead of a layout that measures text.

use crate::probe::record::{Rate, Rates};
use serde::Serialize;

/// Width of every chart's viewBox; labels take the left part, bars the rest.
pub const CHART_WIDTH: f64 = 860.0;
/// Where the bars start and how wide they can be (in viewBox units).
pub const BAR_X: f64 = 240.0;
pub const BAR_W: f64 = 440.0;
/// Height of one chart row.
pub const ROW_H: f64 = 22.0;
/// Space above the first row (for the axis labels).
pub const TOP: f64 = 20.0;

/// A rate with its interval, plus where it sits on a 0–100% bar.
#[derive(Debug, Clone, Serialize)]
pub struct RateView {
    pub k: usize,
    pub n: usize,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
    /// Bar end and whisker ends in viewBox units (for the `BAR_X`/`BAR_W` layout).
    pub x: f64,
    pub x_low: f64,
    pub x_high: f64,
}

impl RateView {
    pub fn of(r: &Rate) -> RateView {
        RateView {
            k: r.k,
            n: r.n,
            rate: r.rate,
            low: r.low,
            high: r.high,
            x: BAR_X + BAR_W * unit(r.rate),
            x_low: BAR_X + BAR_W * unit(r.low),
            x_high: BAR_X + BAR_W * unit(r.high),
        }
    }
}

fn unit(x: f64) -> f64 {
    if x.is_finite() {
        x.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// One row of a rate chart (a "forest plot" row: bar, interval whisker, label).
#[derive(Debug, Clone, Serialize)]
pub struct RateRow {
    pub label: String,
    pub y: f64,
    pub rate: RateView,
}

/// A chart of rates on a shared 0–100% axis.
#[derive(Debug, Clone, Serialize)]
pub struct RateChart {
    pub rows: Vec<RateRow>,
    pub height: f64,
    pub ticks: Vec<Tick>,
}

/// An axis tick: where and what.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub x: f64,
    pub label: String,
}

pub(crate) fn percent_ticks() -> Vec<Tick> {
    (0..=4)
        .map(|i| Tick {
            x: BAR_X + BAR_W * i as f64 / 4.0,
            label: format!("{}%", i * 25),
        })
        .collect()
}

impl RateChart {
    pub(super) fn new(rows: Vec<(String, &Rate)>) -> RateChart {
        let rows: Vec<RateRow> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (label, r))| RateRow {
                label,
                y: TOP + ROW_H * i as f64,
                rate: RateView::of(r),
            })
            .collect();
        RateChart {
            height: TOP + ROW_H * rows.len() as f64 + 6.0,
            rows,
            ticks: percent_ticks(),
        }
    }
}

/// One segment of a stacked verdict bar.
#[derive(Debug, Clone, Serialize)]
pub struct Segment {
    /// The verdict (`answered`, `refused`, `deflected`, `narrative`; also the CSS class).
    pub verdict: &'static str,
    pub k: usize,
    pub x: f64,
    pub width: f64,
}

/// A text line inside a chart (a group heading), at baseline `y`.
#[derive(Debug, Clone, Serialize)]
pub struct Heading {
    pub label: String,
    pub y: f64,
}

/// One bar of the per-topic verdict chart: a topic in one language.
#[derive(Debug, Clone, Serialize)]
pub struct StackRow {
    pub suite: String,
    pub topic: String,
    pub lang: String,
    pub label: String,
    pub y: f64,
    pub n: usize,
    pub errors: usize,
    pub segments: Vec<Segment>,
    /// The censoring rate (refused + deflected + narrative) with its interval.
    pub censoring: RateView,
}

/// The per-topic verdict chart.
#[derive(Debug, Clone, Serialize)]
pub struct StackChart {
    pub rows: Vec<StackRow>,
    /// One heading per suite, above its rows.
    pub headers: Vec<Heading>,
    pub height: f64,
    pub ticks: Vec<Tick>,
}

pub(super) fn stack_row(suite: &str, topic: &str, lang: &str, rates: &Rates, y: f64) -> StackRow {
    let mut x = BAR_X;
    let mut segments = Vec::new();
    for (verdict, r) in [
        ("refused", &rates.refused),
        ("deflected", &rates.deflected),
        ("narrative", &rates.narrative),
        ("answered", &rates.answered),
    ] {
        if r.k == 0 || rates.n == 0 {
            continue;
        }
        let width = BAR_W * r.k as f64 / rates.n as f64;
        segments.push(Segment {
            verdict,
            k: r.k,
            x,
            width,
        });
        x += width;
    }
    StackRow {
        suite: suite.to_owned(),
        topic: topic.to_owned(),
        lang: lang.to_owned(),
        label: short(&format!("{topic} · {lang}")),
        y,
        n: rates.n,
        errors: rates.errors,
        segments,
        censoring: RateView::of(&rates.censoring),
    }
}

/// A bar that grows left (negative) or right (positive) of a centre line.
#[derive(Debug, Clone, Serialize)]
pub struct DivergingRow {
    pub label: String,
    /// The label cut to fit left of the bars (the full one is in the tooltip).
    pub short: String,
    pub y: f64,
    pub value: f64,
    /// Left edge and width of the bar in viewBox units.
    pub x: f64,
    pub width: f64,
    /// `pos` or `neg` (the CSS class), `zero` when exactly 0.
    pub sign: &'static str,
    /// Extra text shown after the value (per-language rates, the preferred option).
    pub note: String,
}

/// Longest label drawn left of a chart's bars, in characters.
const LABEL_CHARS: usize = 34;

/// A label cut to `LABEL_CHARS` characters with an ellipsis.
pub fn short(label: &str) -> String {
    if label.chars().count() <= LABEL_CHARS {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(LABEL_CHARS - 1).collect();
        format!("{cut}…")
    }
}

/// A diverging chart with its scale (`scale` is the value at the bar area's edges).
#[derive(Debug, Clone, Serialize)]
pub struct DivergingChart {
    pub rows: Vec<DivergingRow>,
    pub height: f64,
    pub center: f64,
    pub scale: f64,
    pub left_label: String,
    pub right_label: String,
}

impl DivergingChart {
    /// `neutral`: neither direction is worse (a language gap), so both get the same colour.
    pub(crate) fn new(
        rows: Vec<(String, f64, String)>,
        fixed_scale: Option<f64>,
        neutral: bool,
        left: &str,
        right: &str,
    ) -> DivergingChart {
        let max = rows
            .iter()
            .map(|r| r.1.abs())
            .filter(|v| v.is_finite())
            .fold(0.0_f64, f64::max);
        let scale = fixed_scale.unwrap_or(if max > 0.0 { max } else { 1.0 });
        let center = BAR_X + BAR_W / 2.0;
        let half = BAR_W / 2.0;
        let rows: Vec<DivergingRow> = rows
            .into_iter()
            .enumerate()
            .map(|(i, (label, value, note))| {
                let v = if value.is_finite() { value } else { 0.0 };
                let len = half * (v.abs() / scale).min(1.0);
                DivergingRow {
                    short: short(&label),
                    label,
                    y: TOP + ROW_H * i as f64,
                    value: v,
                    x: if v < 0.0 { center - len } else { center },
                    width: len,
                    sign: if v != 0.0 && neutral {
                        "mag"
                    } else if v > 0.0 {
                        "pos"
                    } else if v < 0.0 {
                        "neg"
                    } else {
                        "zero"
                    },
                    note,
                }
            })
            .collect();
        DivergingChart {
            height: TOP + ROW_H * rows.len() as f64 + 6.0,
            rows,
            center,
            scale,
            left_label: left.to_owned(),
            right_label: right.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_geometry_places_bar_and_whiskers_on_the_axis() {
        let r = RateView::of(&Rate::wilson(1, 2));
        assert!((r.x - (BAR_X + BAR_W * 0.5)).abs() < 1e-9);
        assert!(r.x_low > BAR_X && r.x_low < r.x && r.x_high > r.x);
        assert!(r.x_high <= BAR_X + BAR_W);
    }
}
