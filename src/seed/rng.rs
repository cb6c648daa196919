//! A small deterministic PRNG (splitmix64) with the few distributions the generator needs.
//!
//! Written here rather than taken from a crate: the data set must be reproducible from `--seed`
//! across versions, which a dependency's algorithm changes could silently break.

/// splitmix64: fast, statistically good enough for synthetic data, and trivially seedable per
/// stream, so every ticket gets its own generator and chunking never changes the output.
#[derive(Debug, Clone)]
pub struct Rng {
    state: u64,
}

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    /// The generator of one stream (a ticket, a day, the staff list) of the data set `seed`.
    pub fn new(seed: u64, stream: u64) -> Rng {
        Rng { state: mix(seed.wrapping_add(GOLDEN_GAMMA)) ^ mix(stream.wrapping_mul(GOLDEN_GAMMA).wrapping_add(1)) }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in [low, high).
    pub fn uniform(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.f64()
    }

    /// Uniform in [0, n); 0 when n is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn chance(&mut self, probability: f64) -> bool {
        self.f64() < probability
    }

    /// Standard normal (Box-Muller; the second value is dropped to keep the state simple).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.f64(); // (0, 1]: ln never sees 0
        let u2 = self.f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Log-normal with the given median and shape (sigma of the underlying normal).
    pub fn lognormal(&mut self, median: f64, sigma: f64) -> f64 {
        median * (sigma * self.normal()).exp()
    }

    /// One of `items` (which must not be empty), uniformly.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }

    /// An index drawn with the given relative weights (all weights zero: the last index).
    pub fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().sum();
        let mut target = self.f64() * total;
        for (index, weight) in weights.iter().enumerate() {
            if target < *weight {
                return index;
            }
            target -= weight;
        }
        weights.len().saturating_sub(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7, 1).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::new(7, 1).next_u64(), Rng::new(7, 2).next_u64());
        assert_ne!(Rng::new(7, 1).next_u64(), Rng::new(8, 1).next_u64());
    }

    #[test]
    fn distributions_have_the_expected_shape() {
        let mut rng = Rng::new(1, 0);
        let n = 200_000;
        let mean = (0..n).map(|_| rng.normal()).sum::<f64>() / f64::from(n);
        assert!(mean.abs() < 0.02, "normal mean {mean}");
        let mut samples: Vec<f64> = (0..n).map(|_| rng.lognormal(100.0, 1.0)).collect();
        samples.sort_by(f64::total_cmp);
        let median = samples[samples.len() / 2];
        assert!((95.0..105.0).contains(&median), "log-normal median {median}");
        let hits = (0..n).filter(|_| rng.weighted(&[1.0, 3.0]) == 1).count();
        let share = hits as f64 / f64::from(n);
        assert!((0.74..0.76).contains(&share), "weighted share {share}");
        assert!((0..1000).all(|_| rng.below(3) < 3));
    }
}
