//! Measurements and their summaries (median, nearest-rank p99).

use std::time::Duration;

/// One measured quantity at one scale: a list of samples in `unit`.
#[derive(Clone, Debug)]
pub struct Metric {
    pub name: String,
    pub unit: Unit,
    pub samples: Vec<f64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    Millis,
    OpsPerSecond,
    MiB,
    Count,
}

#[derive(Clone, Copy, Debug)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

impl Metric {
    pub fn new(name: &str, unit: Unit) -> Metric {
        Metric { name: name.into(), unit, samples: Vec::new() }
    }

    pub fn one(name: &str, unit: Unit, value: f64) -> Metric {
        Metric { name: name.into(), unit, samples: vec![value] }
    }

    pub fn push(&mut self, duration: Duration) {
        self.samples.push(duration.as_secs_f64() * 1000.0);
    }

    pub fn summary(&self) -> Option<Summary> {
        summarize(&self.samples)
    }
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Millis => "ms",
            Unit::OpsPerSecond => "ops/s",
            Unit::MiB => "MiB",
            Unit::Count => "count",
        }
    }
}

pub fn summarize(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let median = if n % 2 == 1 { sorted[n / 2] } else { (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0 };
    // Nearest rank: with fewer than 100 samples this is the maximum.
    let rank = ((0.99 * n as f64).ceil() as usize).clamp(1, n);
    Some(Summary { n, median, p99: sorted[rank - 1], min: sorted[0], max: sorted[n - 1] })
}
