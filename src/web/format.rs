//! How values read on a page: dates in the configured time zone, sizes in
//! bytes, kB and MB, and the words shown for missing values.

use chrono::{DateTime, FixedOffset};

/// A short date for the message list, e.g. `6 Jun 2024 12:27`.
pub fn list_date(date: Option<DateTime<FixedOffset>>, zone: FixedOffset) -> String {
    match date {
        Some(date) => date
            .with_timezone(&zone)
            .format("%-d %b %Y %H:%M")
            .to_string(),
        None => "(no date)".to_owned(),
    }
}

/// A full date with its offset, e.g. `Thu, 6 Jun 2024 12:27 +02:00`.
pub fn full_date(date: Option<DateTime<FixedOffset>>, zone: FixedOffset) -> String {
    match date {
        Some(date) => date
            .with_timezone(&zone)
            .format("%a, %-d %b %Y %H:%M %:z")
            .to_string(),
        None => "(no date)".to_owned(),
    }
}

/// A machine-readable date for `<time datetime=...>`.
pub fn iso_date(date: Option<DateTime<FixedOffset>>, zone: FixedOffset) -> String {
    date.map(|d| d.with_timezone(&zone).to_rfc3339())
        .unwrap_or_default()
}

/// The zone as people write it: `UTC` or `UTC+02:00`.
pub fn zone_label(zone: FixedOffset) -> String {
    if zone.local_minus_utc() == 0 {
        "UTC".to_owned()
    } else {
        format!("UTC{zone}")
    }
}

/// A size such as `812 B`, `2.5 kB`, `1.2 MB`.
pub fn size(bytes: u64) -> String {
    const KB: f64 = 1000.0;
    let value = bytes as f64;
    if value < KB {
        format!("{bytes} B")
    } else if value < KB * KB {
        format!("{:.1} kB", value / KB)
    } else {
        format!("{:.1} MB", value / (KB * KB))
    }
}

/// Text made safe to place inside HTML.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn dates_show_in_the_configured_zone() {
        let utc = FixedOffset::east_opt(0).unwrap();
        let plus_two = FixedOffset::east_opt(7200).unwrap();
        let date = utc.with_ymd_and_hms(2024, 6, 6, 10, 27, 0).unwrap();
        assert_eq!(list_date(Some(date), plus_two), "6 Jun 2024 12:27");
        assert_eq!(
            full_date(Some(date), plus_two),
            "Thu, 6 Jun 2024 12:27 +02:00"
        );
        assert_eq!(list_date(None, utc), "(no date)");
        assert_eq!(zone_label(plus_two), "UTC+02:00");
    }

    #[test]
    fn sizes_read_in_round_units() {
        assert_eq!(size(812), "812 B");
        assert_eq!(size(2_500), "2.5 kB");
        assert_eq!(size(1_200_000), "1.2 MB");
    }
}
