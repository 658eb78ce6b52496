//! Latency samples and the few figures the tables show of them.
//!
//! It owns the arithmetic: the median and the 99th percentile by nearest
//! rank, rates and ratios. It never measures anything itself. A figure of
//! an empty sample set is `None`, shown as a dash, never as zero.

use std::time::Duration;

/// Durations of one kind of request, in the order they were taken.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<Duration>,
}

impl Samples {
    pub fn push(&mut self, value: Duration) {
        self.values.push(value);
    }

    pub fn extend(&mut self, other: Samples) {
        self.values.extend(other.values);
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// The 50th percentile.
    pub fn median(&self) -> Option<Duration> {
        self.percentile(50.0)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Option<Duration> {
        self.percentile(99.0)
    }

    /// The nearest-rank percentile: the smallest sample that at least `p`
    /// percent of the samples do not exceed.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.values.is_empty() {
            return None;
        }
        let mut sorted = self.values.clone();
        sorted.sort_unstable();

        let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
        Some(sorted[rank.clamp(1, sorted.len()) - 1])
    }
}

/// Milliseconds with a precision that suits the value, or a dash.
pub fn ms(value: Option<Duration>) -> String {
    match value {
        None => "–".to_owned(),
        Some(d) => {
            let ms = d.as_secs_f64() * 1000.0;
            if ms < 10.0 {
                format!("{ms:.2}")
            } else if ms < 100.0 {
                format!("{ms:.1}")
            } else {
                format!("{ms:.0}")
            }
        }
    }
}

/// `part / whole` scaled by `per`, or `None` when `whole` is zero.
pub fn rate(part: u64, whole: u64, per: f64) -> Option<f64> {
    (whole > 0).then(|| part as f64 * per / whole as f64)
}

/// A number with `digits` decimals, or a dash.
pub fn fixed(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "–".to_owned(), |v| format!("{v:.digits$}"))
}
