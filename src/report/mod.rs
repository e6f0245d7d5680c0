//! Views of an audit record: HTML (minijinja templates from templates/), JUnit XML, CycloneDX ML-BOM and
//! the terminal summary. Views format what the record says; none of them decides anything.

pub mod compare;
pub mod cyclonedx;
pub mod diff;
pub mod html;
pub mod junit;
pub mod text;
pub mod view;

/// `unix` seconds as an RFC 3339 UTC timestamp (`2025-01-31T12:00:00Z`), without a date crate: the
/// machine views need exactly this one format.
pub fn rfc3339_utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        // `date -u -d @1709210096` (a leap day).
        assert_eq!(rfc3339_utc(1_709_210_096), "2024-02-29T12:34:56Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }
}
