//! Number formats every view shares (percentages, point differences, byte sizes), written once so the
//! terminal, the HTML and the summary sentences print the same figure the same way.

/// A fraction as a percentage with `decimals` places (`0.125` → `13%` or `12.5%`); infinities print as
/// `+∞` / `−∞`.
pub fn pct(x: f64, decimals: usize) -> String {
    if x.is_infinite() {
        return if x > 0.0 {
            "+∞".into()
        } else {
            "−∞".into()
        };
    }
    format!("{:.*}%", decimals, x * 100.0)
}

/// A difference of two fractions in signed percentage points, without a unit (`0.1` → `+10`).
pub fn points(x: f64) -> String {
    format!("{:+.0}", x * 100.0)
}

/// A byte count in binary units with one decimal (`1536` → `1.5 KiB`; below 1 KiB, exact bytes).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A count with a metric suffix (`134_515_008` → `134.5 M`; below a thousand, exact).
pub fn human_count(n: u64) -> String {
    match n {
        0..1_000 => n.to_string(),
        1_000..1_000_000 => format!("{:.1} K", n as f64 / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} M", n as f64 / 1e6),
        _ => format!("{:.2} B", n as f64 / 1e9),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_round_and_keep_infinity_signs() {
        assert_eq!(pct(0.125, 0), "12%");
        assert_eq!(pct(0.125, 1), "12.5%");
        assert_eq!(pct(f64::INFINITY, 1), "+∞");
        assert_eq!(pct(f64::NEG_INFINITY, 0), "−∞");
        assert_eq!(points(-0.59), "-59");
    }

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(102_938_464), "98.2 MiB");
        assert_eq!(human_count(999), "999");
        assert_eq!(human_count(134_515_008), "134.5 M");
        assert_eq!(human_count(7_615_616_512), "7.62 B");
    }
}
