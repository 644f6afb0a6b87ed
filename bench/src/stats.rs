//! Order statistics over measured durations.

use std::time::Duration;

/// Sorted samples of one measurement.
#[derive(Debug, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Samples {
        samples.sort_unstable();
        Samples(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The median (the lower middle of an even count, so it is always a measured value).
    pub fn median(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The nearest-rank percentile: the smallest sample with at least `p` % of samples at or
    /// below it.
    pub fn percentile(&self, p: f64) -> Duration {
        assert!(!self.0.is_empty(), "no samples");
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }
}

/// The median of `values` (the lower middle of an even count, as [`Samples::median`]).
pub fn median_f64(values: impl IntoIterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.into_iter().collect();
    assert!(!values.is_empty(), "no values");
    values.sort_unstable_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

/// Milliseconds with two decimals, as the tables print them.
pub fn ms(duration: Duration) -> String {
    format!("{:.2}", duration.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(ms: &[u64]) -> Samples {
        Samples::new(ms.iter().map(|&m| Duration::from_millis(m)).collect())
    }

    #[test]
    fn the_median_is_a_measured_middle_value() {
        assert_eq!(samples(&[5, 1, 3]).median(), Duration::from_millis(3));
        assert_eq!(samples(&[4, 1, 3, 2]).median(), Duration::from_millis(2));
    }

    #[test]
    fn the_median_of_numbers_is_a_given_middle_value() {
        assert_eq!(median_f64([0.9, 1.4, 1.1]), 1.1);
        assert_eq!(median_f64([2.0, 1.0, 4.0, 3.0]), 2.0);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let hundred = samples(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(hundred.percentile(99.0), Duration::from_millis(99));
        assert_eq!(hundred.percentile(100.0), Duration::from_millis(100));
        assert_eq!(hundred.percentile(0.0), Duration::from_millis(1));
        assert_eq!(samples(&[7]).percentile(99.0), Duration::from_millis(7));
    }

    #[test]
    fn milliseconds_print_with_two_decimals() {
        assert_eq!(ms(Duration::from_micros(1234)), "1.23");
    }
}
