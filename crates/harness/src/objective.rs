//! A latency objective, and a run's requests read against it window by
//! window: what `overload`, `scale-in` and `capacity` report.
//!
//! A window meets the objective when the 99th percentile of its served
//! requests (answered below 500) is at most the objective *and* at most 1 %
//! of its requests were refused (503) or failed: a node that refuses fast
//! would otherwise look fast. A window with fewer than [`MIN_REQUESTS`]
//! requests says nothing either way and is skipped.

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::metrics::{Sample, new_histogram};

/// Width of one window.
pub const WINDOW_MS: u64 = 500;
/// Fewest requests a window needs to count.
pub const MIN_REQUESTS: u64 = 20;
/// Largest share of refused or failed requests a window may have and
/// still meet the objective.
pub const MAX_BAD_SHARE: f64 = 0.01;

/// One window of a run.
#[derive(Clone, Debug, Serialize)]
pub struct Window {
    /// Start of the window.
    pub t_ms: u64,
    /// Requests that started in it.
    pub requests: u64,
    /// Of those, refused by a node at capacity (503).
    pub refused: u64,
    /// Of those, other failures (no answer, other 5xx).
    pub failed: u64,
    /// Median latency of the served ones, ms.
    pub p50_ms: f64,
    /// 99th percentile of the served ones, ms.
    pub p99_ms: f64,
}

impl Window {
    /// Whether it meets `objective_ms`; `None` when it has too few requests.
    pub fn meets(&self, objective_ms: f64) -> Option<bool> {
        if self.requests < MIN_REQUESTS {
            return None;
        }
        let bad = (self.refused + self.failed) as f64 / self.requests as f64;
        Some(self.p99_ms <= objective_ms && bad <= MAX_BAD_SHARE)
    }
}

/// `samples` cut into windows from 0 to `duration_ms`.
pub fn windows<'a>(samples: impl IntoIterator<Item = &'a Sample>, duration_ms: u64) -> Vec<Window> {
    let count = duration_ms.div_ceil(WINDOW_MS).max(1) as usize;
    let mut hists: Vec<Histogram<u64>> = (0..count).map(|_| new_histogram()).collect();
    let mut windows: Vec<Window> = (0..count)
        .map(|i| Window { t_ms: i as u64 * WINDOW_MS, requests: 0, refused: 0, failed: 0, p50_ms: 0.0, p99_ms: 0.0 })
        .collect();
    for sample in samples {
        let Some(window) = windows.get_mut((sample.t_ms / WINDOW_MS) as usize) else { continue };
        window.requests += 1;
        if sample.refused() {
            window.refused += 1;
        } else if sample.served() {
            hists[(sample.t_ms / WINDOW_MS) as usize].saturating_record(sample.latency_us.max(1));
        } else {
            window.failed += 1;
        }
    }
    for (window, hist) in windows.iter_mut().zip(&hists) {
        if !hist.is_empty() {
            window.p50_ms = ms(hist.value_at_quantile(0.5));
            window.p99_ms = ms(hist.value_at_quantile(0.99));
        }
    }
    windows
}

/// Milliseconds after `from_ms` until the windows meet `objective_ms` and
/// keep meeting it to the end (0 if they already did); `None` if the last
/// window that counts misses it, or none counts.
pub fn recovery_ms(windows: &[Window], from_ms: u64, objective_ms: f64) -> Option<u64> {
    let counted: Vec<(u64, bool)> = windows
        .iter()
        .filter(|w| w.t_ms + WINDOW_MS > from_ms)
        .filter_map(|w| w.meets(objective_ms).map(|ok| (w.t_ms, ok)))
        .collect();
    if !counted.last()?.1 {
        return None;
    }
    let last_miss = counted.iter().rposition(|(_, ok)| !ok);
    let start = match last_miss {
        Some(i) => counted[i + 1].0,
        None => counted[0].0,
    };
    Some(start.max(from_ms) - from_ms)
}

/// The 99th percentile of the served requests among `samples`, ms.
pub fn p99_ms<'a>(samples: impl IntoIterator<Item = &'a Sample>) -> Option<f64> {
    let mut hist = new_histogram();
    for sample in samples.into_iter().filter(|s| s.served()) {
        hist.saturating_record(sample.latency_us.max(1));
    }
    (!hist.is_empty()).then(|| ms(hist.value_at_quantile(0.99)))
}

fn ms(us: u64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(t_ms: u64, status: u16, latency_ms: u64) -> Sample {
        Sample { t_ms, status, latency_us: latency_ms * 1000 }
    }

    #[test]
    fn recovery_counts_from_the_change_to_the_last_window_that_missed() {
        let mut samples = Vec::new();
        for t in (0..5000).step_by(10) {
            // Slow until 2.5 s, fast afterwards.
            samples.push(sample(t, 200, if t < 2500 { 600 } else { 20 }));
        }
        let w = windows(&samples, 5000);
        assert_eq!(w.len(), 10);
        assert_eq!(w[0].meets(250.0), Some(false));
        assert_eq!(w[9].meets(250.0), Some(true));
        assert_eq!(recovery_ms(&w, 1000, 250.0), Some(1500));
        assert_eq!(recovery_ms(&w, 3000, 250.0), Some(0), "already met at the change");
    }

    #[test]
    fn refusals_miss_the_objective_and_a_late_miss_means_no_recovery() {
        let mut samples: Vec<Sample> = (0..100).map(|i| sample(i * 10, 200, 5)).collect();
        samples.extend((0..5).map(|i| sample(i * 10, 503, 1)));
        let w = windows(&samples, 1000);
        assert_eq!(w[0].refused, 5);
        assert_eq!(w[0].meets(250.0), Some(false), "fast refusals are not fast service");
        assert_eq!(w[1].meets(250.0), Some(true));
        let fast_then_slow: Vec<Sample> = (0..100).map(|i| sample(i * 10, 200, if i < 50 { 5 } else { 900 })).collect();
        assert_eq!(recovery_ms(&windows(&fast_then_slow, 1000), 0, 250.0), None);
        let p99 = p99_ms(&fast_then_slow).unwrap();
        assert!((p99 - 900.0).abs() < 1.0, "{p99}");
        assert_eq!(p99_ms(&[sample(0, 503, 1)]), None, "a refusal is not a served request");
    }
}
