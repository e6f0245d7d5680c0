//! `strftime_now(format)`, the clock transformers exposes to chat templates (Llama 3.x and others print
//! today's date in the system prompt): C `strftime` in the C locale, with glibc's `-` (no padding) flag.
//!
//! Trade-offs: the time is UTC, where transformers uses local time (servers run in UTC), and `%z`/`%Z`
//! print nothing, as for Python's naive `datetime.now()`; unknown directives are copied through rather
//! than refused. The calendar arithmetic is `crate::util::time`'s. A template reads the system clock
//! unless [`ChatTemplate::with_date`](super::ChatTemplate::with_date) pins it, for reproducible renders.

use crate::util::time::Civil;
use minijinja::{Error, ErrorKind};
use std::fmt::Write as _;

/// Where `strftime_now` reads the time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Clock {
    System,
    /// Seconds since the Unix epoch, UTC.
    Fixed(i64),
}

impl Clock {
    pub(super) fn now(self) -> i64 {
        match self {
            Clock::Fixed(t) => t,
            Clock::System => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0),
        }
    }
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// C `strftime` in the C locale for a UTC time, with glibc's `-` (no padding) flag; unknown directives
/// are copied through.
pub(super) fn strftime(format: &str, unix: i64) -> Result<String, Error> {
    if format.len() > 4096 {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "strftime_now format is too long",
        ));
    }
    let t = Civil::of(unix);
    let (year, month, day) = (t.year, t.month, t.day);
    let (hour, minute, second) = (i64::from(t.hour), i64::from(t.minute), i64::from(t.second));
    let weekday = t.weekday as usize;
    let yday = i64::from(t.yday);
    let hour12 = if hour % 12 == 0 { 12 } else { hour % 12 };
    let mut out = String::with_capacity(format.len() * 2);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let no_pad = chars.peek() == Some(&'-');
        if no_pad {
            chars.next();
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let num = |out: &mut String, v: i64, width: usize, pad: char| {
            if no_pad {
                let _ = write!(out, "{v}");
            } else if pad == ' ' {
                let _ = write!(out, "{v:>width$}");
            } else {
                let _ = write!(out, "{v:0width$}");
            }
        };
        let month_name = MONTHS[(month as usize).saturating_sub(1) % 12];
        match d {
            '%' => out.push('%'),
            'a' => out.push_str(&WEEKDAYS[weekday][..3]),
            'A' => out.push_str(WEEKDAYS[weekday]),
            'b' | 'h' => out.push_str(&month_name[..3]),
            'B' => out.push_str(month_name),
            'C' => num(&mut out, year.div_euclid(100), 2, '0'),
            'd' => num(&mut out, i64::from(day), 2, '0'),
            'e' => num(&mut out, i64::from(day), 2, ' '),
            'H' => num(&mut out, hour, 2, '0'),
            'k' => num(&mut out, hour, 2, ' '),
            'I' => num(&mut out, hour12, 2, '0'),
            'l' => num(&mut out, hour12, 2, ' '),
            'j' => num(&mut out, yday, 3, '0'),
            'm' => num(&mut out, i64::from(month), 2, '0'),
            'M' => num(&mut out, minute, 2, '0'),
            'S' => num(&mut out, second, 2, '0'),
            'p' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'P' => out.push_str(if hour < 12 { "am" } else { "pm" }),
            'y' => num(&mut out, year.rem_euclid(100), 2, '0'),
            'Y' => {
                let _ = write!(out, "{year}");
            }
            'u' => {
                let _ = write!(out, "{}", if weekday == 0 { 7 } else { weekday });
            }
            'w' => {
                let _ = write!(out, "{weekday}");
            }
            's' => {
                let _ = write!(out, "{unix}");
            }
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'z' | 'Z' => {} // naive datetime, as Python's datetime.now()
            'F' => {
                let _ = write!(out, "{year}-{month:02}-{day:02}");
            }
            'D' | 'x' => {
                let _ = write!(out, "{month:02}/{day:02}/{:02}", year.rem_euclid(100));
            }
            'T' | 'X' => {
                let _ = write!(out, "{hour:02}:{minute:02}:{second:02}");
            }
            'R' => {
                let _ = write!(out, "{hour:02}:{minute:02}");
            }
            'c' => {
                let _ = write!(
                    out,
                    "{} {} {day:>2} {hour:02}:{minute:02}:{second:02} {year}",
                    &WEEKDAYS[weekday][..3],
                    &month_name[..3]
                );
            }
            other => {
                out.push('%');
                if no_pad {
                    out.push('-');
                }
                out.push(other);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every directive against glibc: `LC_ALL=C date -u -d @T '+…'` printed these lines.
    #[test]
    fn directives_match_glibc() {
        let format =
            "%a %A %b %h %B %C %d %e %H %k %I %l %j %m %M %S %p %P %y %Y %u %w %s %F %D %x %T \
                      %X %R %c %-d %-m %-H %-j|%%";
        for (unix, glibc) in [
            (
                1_709_210_096,
                "Thu Thursday Feb Feb February 20 29 29 12 12 12 12 060 02 34 56 PM pm 24 2024 4 4 \
                 1709210096 2024-02-29 02/29/24 02/29/24 12:34:56 12:34:56 12:34 Thu Feb 29 12:34:56 \
                 2024 29 2 12 60|%",
            ),
            (
                -86_401,
                "Tue Tuesday Dec Dec December 19 30 30 23 23 11 11 364 12 59 59 PM pm 69 1969 2 2 \
                 -86401 1969-12-30 12/30/69 12/30/69 23:59:59 23:59:59 23:59 Tue Dec 30 23:59:59 1969 \
                 30 12 23 364|%",
            ),
        ] {
            assert_eq!(strftime(format, unix).unwrap(), glibc, "{unix}");
        }
    }

    #[test]
    fn zones_print_nothing_and_unknown_directives_are_copied() {
        assert_eq!(strftime("[%z%Z] %q %-q %", 0).unwrap(), "[] %q %-q %");
        assert!(strftime(&"%Y".repeat(2049), 0).is_err());
    }
}
