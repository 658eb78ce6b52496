//! Lenient reading of RFC 5322 `Date:` values.
//!
//! It owns turning the date text that real mailers write into a point in
//! time with the sender's offset. It accepts what RFC 5322 section 4.3 calls
//! obsolete syntax and a few common deviations (double spaces, trailing
//! comments, missing seconds or weekday, two-digit years, `+02:00` offsets,
//! asctime order, ISO 8601, no time at all, read as midnight). It never
//! invents a date: text it cannot read
//! gives None, never the epoch and never "now".

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, TimeZone};

/// Parse an RFC 5322 date leniently (double spaces, trailing comments like
/// "(GMT+02:00)", obsolete zones, missing seconds/weekday). None when it
/// cannot be read; never 1970.
pub fn parse_date(raw: &str) -> Option<DateTime<FixedOffset>> {
    let text = strip_comments(raw);
    if let Ok(date) = DateTime::parse_from_rfc3339(text.trim()) {
        return Some(date).filter(|d| plausible_year(d.year()));
    }

    let tokens = tokenize(&text);
    let mut fields = DateFields::default();
    for token in &tokens {
        fields.take(token);
    }
    fields.build()
}

/// Years before 1971 are almost always a zero timestamp in disguise.
fn plausible_year(year: i32) -> bool {
    (1971..=9999).contains(&year)
}

/// Remove parenthesised comments, which may nest.
fn strip_comments(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut depth = 0usize;
    for c in raw.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Split on whitespace and commas; keep a sign attached to its zone digits
/// and split a `-` between date parts (`6-Jun-2024`).
fn tokenize(text: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    for word in text.split(|c: char| c.is_whitespace() || c == ',') {
        if word.is_empty() {
            continue;
        }
        let looks_like_dashed_date = !word.starts_with(['+', '-'])
            && word.contains('-')
            && word.chars().any(|c| c.is_ascii_alphabetic());
        if looks_like_dashed_date {
            tokens.extend(
                word.split('-')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string),
            );
        } else {
            tokens.push(word.to_string());
        }
    }
    tokens
}

#[derive(Default)]
struct DateFields {
    day: Option<u32>,
    month: Option<u32>,
    year: Option<i32>,
    time: Option<NaiveTime>,
    offset_seconds: Option<i32>,
}

impl DateFields {
    /// Assign one token to the first field it can fill.
    fn take(&mut self, token: &str) {
        // A zone glued to the time: `12:27:13+0200`.
        if let Some(sign) = token
            .find(['+', '-'])
            .filter(|&i| i > 0 && token.contains(':'))
        {
            if token[..sign].contains(':') {
                self.take(&token[..sign]);
                self.take(&token[sign..]);
                return;
            }
        }
        if let Some((year, month, day)) = iso_date(token) {
            self.year.get_or_insert(year);
            self.month.get_or_insert(month);
            self.day.get_or_insert(day);
            return;
        }

        let lower = token.to_ascii_lowercase();
        if let Some(month) = month_number(&lower) {
            self.month.get_or_insert(month);
            return;
        }
        if token.contains(':') && self.time.is_none() && !token.starts_with(['+', '-']) {
            self.time = parse_time(token);
            return;
        }
        if let Some(offset) = parse_zone(token) {
            if self.time.is_some() || self.year.is_some() {
                self.offset_seconds.get_or_insert(offset);
                return;
            }
        }

        let Ok(number) = token.trim_end_matches('.').parse::<u32>() else {
            return;
        };
        let digits = token.trim_end_matches('.').len();
        if self.day.is_none() && digits <= 2 && (1..=31).contains(&number) {
            self.day = Some(number);
        } else if self.year.is_none() {
            self.year = Some(full_year(number, digits));
        }
    }

    fn build(self) -> Option<DateTime<FixedOffset>> {
        let year = self.year.filter(|y| plausible_year(*y))?;
        let date = NaiveDate::from_ymd_opt(year, self.month?, self.day?)?;
        let time = self.time.unwrap_or(NaiveTime::MIN);
        let offset = FixedOffset::east_opt(self.offset_seconds.unwrap_or(0))?;
        offset.from_local_datetime(&date.and_time(time)).single()
    }
}

/// `2024-06-06` as year, month and day.
fn iso_date(token: &str) -> Option<(i32, u32, u32)> {
    let mut parts = token.split('-');
    let year = parts.next().filter(|y| y.len() == 4)?.parse().ok()?;
    let month = parts.next()?.parse().ok()?;
    let day = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((year, month, day))
}

/// RFC 5322 section 4.3: two-digit years below 50 are 20xx, others 19xx;
/// three-digit years add 1900.
fn full_year(number: u32, digits: usize) -> i32 {
    let number = number as i32;
    match digits {
        1 | 2 if number < 50 => 2000 + number,
        1 | 2 => 1900 + number,
        3 => 1900 + number,
        _ => number,
    }
}

fn month_number(lower: &str) -> Option<u32> {
    const MONTHS: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    let prefix = lower.get(..3)?;
    if lower.len() > 3 && !lower.chars().all(|c| c.is_ascii_alphabetic() || c == '.') {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| *m == prefix)
        .map(|i| i as u32 + 1)
}

/// `HH:MM`, `HH:MM:SS`, `HH:MM:SS.fff`; a leap second reads as :59.
fn parse_time(token: &str) -> Option<NaiveTime> {
    let mut parts = token.split(':');
    let hour: u32 = parts.next()?.parse().ok()?;
    let minute: u32 = parts.next()?.parse().ok()?;
    let second: u32 = match parts.next() {
        Some(s) => s.split('.').next()?.parse().ok()?,
        None => 0,
    };
    NaiveTime::from_hms_opt(hour, minute, second.min(59))
}

/// Numeric offsets (`+0200`, `-05:30`, `+2`) and named zones. Military
/// letters other than Z are read as +0000, as RFC 5322 section 4.3 advises.
fn parse_zone(token: &str) -> Option<i32> {
    if let Some(sign) = token
        .strip_prefix('+')
        .map(|_| 1)
        .or(token.strip_prefix('-').map(|_| -1))
    {
        let digits: String = token[1..].chars().filter(|c| *c != ':').collect();
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let (hours, minutes) = match digits.len() {
            1 | 2 => (digits.parse::<i32>().ok()?, 0),
            3 | 4 => {
                let split = digits.len() - 2;
                (digits[..split].parse().ok()?, digits[split..].parse().ok()?)
            }
            _ => return None,
        };
        if hours > 14 || minutes > 59 {
            return None;
        }
        return Some(sign * (hours * 3600 + minutes * 60));
    }

    let hours = match token.to_ascii_uppercase().as_str() {
        "UT" | "UTC" | "GMT" | "Z" | "WET" => 0,
        "BST" | "CET" | "MET" | "WEST" => 1,
        "CEST" | "MEST" | "EET" => 2,
        "EEST" | "MSK" => 3,
        "EDT" => -4,
        "EST" | "CDT" => -5,
        "CST" | "MDT" => -6,
        "MST" | "PDT" => -7,
        "PST" => -8,
        "JST" | "KST" => 9,
        z if z.len() == 1 && z.chars().all(|c| c.is_ascii_alphabetic()) => 0,
        _ => return None,
    };
    Some(hours * 3600)
}

#[cfg(test)]
mod tests {
    use super::parse_date;

    fn utc(raw: &str) -> Option<String> {
        parse_date(raw).map(|d| d.to_utc().format("%Y-%m-%dT%H:%M:%SZ").to_string())
    }

    #[test]
    fn standard_date_parses_with_its_offset() {
        let date = parse_date("Mon, 10 Jun 2024 09:12:44 +0200").unwrap();
        assert_eq!(date.to_rfc3339(), "2024-06-10T09:12:44+02:00");
    }

    #[test]
    fn double_space_and_trailing_zone_comment_are_ignored() {
        let raw = "Thu,  6 Jun 2024 12:27:13 +0200 (GMT+02:00)";
        assert_eq!(utc(raw).as_deref(), Some("2024-06-06T10:27:13Z"));
    }

    #[test]
    fn missing_weekday_and_seconds_are_accepted() {
        assert_eq!(
            utc("6 Jun 2024 12:27 +0000").as_deref(),
            Some("2024-06-06T12:27:00Z")
        );
    }

    #[test]
    fn obsolete_named_zones_apply_their_offset() {
        assert_eq!(
            utc("Fri, 3 Dec 2004 10:00:00 EST").as_deref(),
            Some("2004-12-03T15:00:00Z")
        );
        assert_eq!(
            utc("Fri, 3 Dec 2004 10:00:00 GMT").as_deref(),
            Some("2004-12-03T10:00:00Z")
        );
    }

    #[test]
    fn two_digit_years_follow_rfc_5322() {
        assert_eq!(
            utc("3 Dec 04 10:00:00 +0000").as_deref(),
            Some("2004-12-03T10:00:00Z")
        );
        assert_eq!(
            utc("3 Dec 99 10:00:00 +0000").as_deref(),
            Some("1999-12-03T10:00:00Z")
        );
    }

    #[test]
    fn asctime_order_parses() {
        assert_eq!(
            utc("Thu Jun  6 12:27:13 2024").as_deref(),
            Some("2024-06-06T12:27:13Z")
        );
    }

    #[test]
    fn colon_in_offset_and_iso_format_parse() {
        assert_eq!(
            utc("6 Jun 2024 12:27:13 +02:00").as_deref(),
            Some("2024-06-06T10:27:13Z")
        );
        assert_eq!(
            utc("2024-06-06T10:27:13Z").as_deref(),
            Some("2024-06-06T10:27:13Z")
        );
    }

    #[test]
    fn zone_glued_to_the_time_and_iso_date_with_space_parse() {
        assert_eq!(
            utc("6 Jun 2024 12:27:13+0200").as_deref(),
            Some("2024-06-06T10:27:13Z")
        );
        assert_eq!(
            utc("2024-06-06 12:27:13 -0100").as_deref(),
            Some("2024-06-06T13:27:13Z")
        );
    }

    #[test]
    fn dashed_date_parses() {
        assert_eq!(
            utc("6-Jun-2024 10:27:13 -0000").as_deref(),
            Some("2024-06-06T10:27:13Z")
        );
    }

    #[test]
    fn date_without_time_reads_as_midnight() {
        assert_eq!(utc("6 Jun 2024").as_deref(), Some("2024-06-06T00:00:00Z"));
    }

    #[test]
    fn unreadable_dates_give_none_never_the_epoch() {
        assert_eq!(parse_date(""), None);
        assert_eq!(parse_date("yesterday"), None);
        assert_eq!(parse_date("Thu, 1 Jan 1970 00:00:00 +0000"), None);
        assert_eq!(parse_date("31 Feb 2024 10:00:00 +0000"), None);
        assert_eq!(parse_date("Jun 2024 10:00"), None);
    }
}
