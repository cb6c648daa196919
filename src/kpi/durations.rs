//! The duration values of a frame (first response, resolution, first resolution), kept flat:
//! each value with the slot (a group's bucket) it counts in, appended as it comes. One list per
//! measure is cheap to append to, where thousands of small per-bucket lists would each grow and
//! miss the cache. At the end one counting pass groups the values by slot, and each slot's mean
//! and continuous percentiles are taken by selection.

use super::DurationStats;
use super::facts::Micros;

/// Values as microsecond spans: exact, so that a mean does not depend on the order values came
/// in (two passes share the rows).
#[derive(Default)]
pub struct Durations {
    slots: Vec<u32>,
    spans: Vec<Micros>,
}

impl Durations {
    pub fn push(&mut self, slot: usize, span: Micros) {
        self.slots.push(u32::try_from(slot).unwrap_or(u32::MAX));
        self.spans.push(span);
    }

    /// Takes over `other`'s values, their slots renumbered.
    pub fn absorb(&mut self, other: Durations, renumber: impl Fn(usize) -> usize) {
        self.slots.extend(other.slots.iter().map(|slot| u32::try_from(renumber(*slot as usize)).unwrap_or(u32::MAX)));
        self.spans.extend(other.spans);
    }

    /// The values grouped by slot, for `slot_count` slots.
    pub fn by_slot(self, slot_count: usize) -> BySlot {
        let mut offsets = vec![0usize; slot_count + 1];
        for slot in &self.slots {
            if let Some(count) = offsets.get_mut(*slot as usize + 1) {
                *count += 1;
            }
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut next = offsets.clone();
        let mut spans = vec![0; offsets[slot_count]];
        for (slot, span) in self.slots.into_iter().zip(self.spans) {
            if let Some(at) = next.get_mut(slot as usize) {
                spans[*at] = span;
                *at += 1;
            }
        }
        BySlot { offsets, spans }
    }
}

pub struct BySlot {
    offsets: Vec<usize>,
    spans: Vec<Micros>,
}

impl BySlot {
    /// The mean and percentiles of one slot's values (reordering them).
    pub fn stats(&mut self, slot: usize) -> DurationStats {
        match (self.offsets.get(slot), self.offsets.get(slot + 1)) {
            (Some(&start), Some(&end)) => duration_stats(&mut self.spans[start..end]),
            _ => DurationStats::default(),
        }
    }
}

/// Mean and percentiles of microsecond spans, in seconds. The mean is taken from the exact sum.
fn duration_stats(spans: &mut [Micros]) -> DurationStats {
    if spans.is_empty() {
        return DurationStats::default();
    }
    let total: i128 = spans.iter().map(|span| i128::from(*span)).sum();
    let mean = total as f64 / 1_000_000.0 / spans.len() as f64;
    DurationStats {
        mean: Some(mean),
        median: Some(percentile_cont(spans, 0.5)),
        p90: Some(percentile_cont(spans, 0.9)),
    }
}

/// PostgreSQL's `percentile_cont(fraction)` over the spans in seconds: the value at position
/// fraction x (n - 1) of the sorted values, interpolated linearly between its neighbours. Found
/// by selection, not by sorting; `spans` is reordered. (Seconds grow with spans, so the order
/// of spans is the order of their seconds.)
pub fn percentile_cont(spans: &mut [Micros], fraction: f64) -> f64 {
    let position = fraction * (spans.len() - 1) as f64;
    let (lower, upper) = (position.floor(), position.ceil());
    let (_, low, above) = spans.select_nth_unstable(lower as usize);
    let low = seconds(*low);
    if upper == lower {
        return low;
    }
    let high = above.iter().copied().min().map_or(f64::INFINITY, seconds);
    low + (high - low) * (position - lower)
}

/// Seconds of a span as PostgreSQL's `date_part('epoch', later - earlier)` computes them (whole
/// days and the rest apart), so that figures agree with SQL to the last bit.
pub fn seconds(span: Micros) -> f64 {
    const DAY: i64 = 86_400_000_000;
    (span % DAY) as f64 / 1_000_000.0 + 86_400.0 * (span / DAY) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_postgres() {
        let mut spans = vec![40_000_000, 10_000_000, 30_000_000, 20_000_000];
        assert_eq!(percentile_cont(&mut spans, 0.5), 25.0);
        assert_eq!(percentile_cont(&mut spans, 0.9), 37.0);
        assert_eq!(percentile_cont(&mut [7_000_000], 0.9), 7.0);
    }

    #[test]
    fn seconds_match_date_part_of_an_interval() {
        assert_eq!(seconds(90_061_500_000), 90_061.5);
        assert_eq!(seconds(3_000_000), 3.0);
    }

    #[test]
    fn values_are_grouped_by_slot_whatever_their_order() {
        let mut durations = Durations::default();
        for (slot, seconds) in [(2, 30), (0, 10), (2, 10), (0, 20)] {
            durations.push(slot, seconds * 1_000_000);
        }
        let mut other = Durations::default();
        other.push(0, 50_000_000);
        durations.absorb(other, |slot| slot + 1);
        let mut by_slot = durations.by_slot(3);
        let medians: Vec<Option<f64>> = (0..3).map(|slot| by_slot.stats(slot).median).collect();
        assert_eq!(medians, [Some(15.0), Some(50.0), Some(20.0)]);
        assert_eq!(by_slot.stats(2).mean, Some(20.0));
    }
}
