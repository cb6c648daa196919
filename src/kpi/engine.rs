//! One pass over fact rows computes every KPI of every bucket and group of several frames.
//!
//! A frame is one question: a period, its buckets in a time zone, a grouping and a filter. The
//! loader feeds each fact row once ([`Engine::ticket`], [`Engine::loose_interaction`]); every
//! frame places each of the row's records by its instant into its one bucket. Counts and sums
//! add up; duration values are kept so that [`Engine::finish`] takes exact means and continuous
//! percentiles (`percentile_cont`) by selection. The backlog at each bucket's clipped end comes
//! from each ticket's backlog stints, added as +1/-1 steps over the bucket ends.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::calendar::{self, Span};
use super::facts::{InteractionFact, Micros, TicketFact, micros};
use super::{Bucket, DurationStats, Grouping, InteractionTotal, KpiFilter, KpiPoint, KpiValues};

/// One question the engine answers.
pub struct FrameSpec<'a> {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub zone: Tz,
    /// None: one bucket, the whole period.
    pub bucket: Option<Bucket>,
    pub grouping: Grouping,
    pub filter: &'a KpiFilter,
    pub count_customers: bool,
}

/// What a frame's answer holds.
pub struct FrameResult {
    pub points: Vec<KpiPoint>,
    /// Tickets opened in the period per customer (those that pass the filter), when asked.
    pub opened_by_customer: HashMap<i64, i64>,
}

/// A group: a technician id, or an interned name (team, category, priority, channel); None
/// for "no group" and for unassigned tickets.
type GroupKey = Option<i64>;

type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// Names seen in the rows, numbered, so that groups and filters compare integers. Looked up by
/// their bytes: only a name not seen before is checked and copied.
#[derive(Default)]
struct Names {
    index: IdMap<Box<[u8]>, i64>,
    names: Vec<String>,
}

impl Names {
    fn id(&mut self, name: &[u8]) -> i64 {
        if let Some(id) = self.index.get(name) {
            return *id;
        }
        let id = self.names.len() as i64;
        self.names.push(String::from_utf8_lossy(name).into_owned());
        self.index.insert(name.into(), id);
        id
    }
}

/// A multiplicative hash for the small integer keys of groups and customers.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
            self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
        let mut tail = [0u8; 8];
        tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
        self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(tail)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, value: usize) {
        self.write_i64(value as i64);
    }
    fn write_i64(&mut self, value: i64) {
        self.0 = (self.0 ^ value as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u8(&mut self, value: u8) {
        self.0 = (self.0 ^ u64::from(value)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_isize(&mut self, value: isize) {
        self.write_i64(value as i64);
    }
}

#[derive(Default, Clone)]
struct BucketTotals {
    opened: i64,
    awaiting: i64,
    opened_now_resolved: i64,
    resolved: i64,
    resolved_reopened: i64,
    closed: i64,
    csat_count: i64,
    csat_sum: i64,
    csat_satisfied: i64,
    first_response: Vec<f64>,
    resolution: Vec<f64>,
    first_resolution: Vec<f64>,
    /// Count and seconds per channel and direction ([`InteractionFact::kind_index`]).
    interactions: [(i64, i64); 6],
}

struct GroupTotals {
    buckets: Vec<BucketTotals>,
    /// Backlog steps: entry k changes the backlog at bucket k's end and every later one.
    backlog_steps: Vec<i64>,
}

impl GroupTotals {
    fn new(buckets: usize) -> GroupTotals {
        GroupTotals { buckets: vec![BucketTotals::default(); buckets], backlog_steps: vec![0; buckets + 1] }
    }
}

/// A filter with names as numbers; None where the filter does not constrain.
struct CompiledFilter {
    technicians: Option<Vec<i64>>,
    teams: Option<Vec<i64>>,
    categories: Option<Vec<i64>>,
    priorities: Option<Vec<i64>>,
    channels: Option<Vec<i64>>,
}

fn listed(values: &Option<Vec<i64>>, value: Option<i64>) -> bool {
    values.as_ref().is_none_or(|values| value.is_some_and(|value| values.contains(&value)))
}

impl CompiledFilter {
    fn passes_ticket(&self, keys: &TicketKeys) -> bool {
        listed(&self.technicians, keys.technician) && listed(&self.teams, keys.team) && self.attributes_pass(Some(keys))
    }

    /// Whether the category, priority and channel filters let a ticket (or an interaction's
    /// ticket; none fails any of them) through.
    fn attributes_pass(&self, keys: Option<&TicketKeys>) -> bool {
        listed(&self.categories, keys.map(|k| k.category))
            && listed(&self.priorities, keys.map(|k| k.priority))
            && listed(&self.channels, keys.map(|k| k.channel))
    }
}

/// Interactions count for the technician who logged them (and that technician's `team`) and
/// for their ticket's attributes.
fn add_interaction(frame: &mut Frame, interaction: &InteractionFact, team: Option<i64>, ticket: Option<&TicketKeys>) {
    let filter = &frame.filter;
    if !(listed(&filter.technicians, interaction.technician_id)
        && listed(&filter.teams, team)
        && filter.attributes_pass(ticket))
    {
        return;
    }
    let key = match frame.grouping {
        Grouping::Technician => interaction.technician_id,
        Grouping::Team => team,
        _ => ticket.and_then(|keys| ticket_group(frame.grouping, keys)),
    };
    if let Some(totals) = frame.in_bucket(key, Some(interaction.occurred_at)) {
        let slot = &mut totals.interactions[interaction.kind_index()];
        slot.0 += 1;
        slot.1 += interaction.duration_seconds;
    }
}

struct Frame {
    from: Micros,
    to: Micros,
    spans: Vec<Span>,
    starts: Vec<Micros>,
    ends: Vec<Micros>,
    grouping: Grouping,
    filter: CompiledFilter,
    groups: IdMap<GroupKey, GroupTotals>,
    count_customers: bool,
    opened_by_customer: IdMap<i64, i64>,
}

impl Frame {
    /// The bucket holding instant `at`, if it is in the period.
    fn bucket(&self, at: Micros) -> Option<usize> {
        if at < self.from || at >= self.to {
            return None;
        }
        Some(self.starts.partition_point(|start| *start <= at) - 1)
    }

    fn group(&mut self, key: GroupKey) -> &mut GroupTotals {
        let buckets = self.spans.len();
        self.groups.entry(key).or_insert_with(|| GroupTotals::new(buckets))
    }

    fn in_bucket(&mut self, key: GroupKey, at: Option<Micros>) -> Option<&mut BucketTotals> {
        let bucket = self.bucket(at?)?;
        Some(&mut self.group(key).buckets[bucket])
    }
}

/// The attributes of a ticket as numbers, for groups and filters.
struct TicketKeys {
    technician: Option<i64>,
    team: Option<i64>,
    category: i64,
    priority: i64,
    channel: i64,
}

pub struct Engine {
    frames: Vec<Frame>,
    names: Names,
    /// Each technician's team, as a name number.
    teams: IdMap<i64, i64>,
    stints: Vec<Stint>,
    interactions: Vec<(InteractionFact, Option<i64>)>,
}

impl Engine {
    /// `teams`: every technician's current team.
    pub fn new(specs: &[FrameSpec<'_>], teams: impl IntoIterator<Item = (i64, String)>) -> Engine {
        let mut names = Names::default();
        let teams = teams.into_iter().map(|(id, team)| (id, names.id(team.as_bytes()))).collect();
        let frames = specs
            .iter()
            .map(|spec| {
                let spans = calendar::buckets(spec.from, spec.to, spec.zone, spec.bucket);
                let mut compile = |values: &[String]| {
                    (!values.is_empty()).then(|| values.iter().map(|value| names.id(value.as_bytes())).collect())
                };
                let filter = CompiledFilter {
                    technicians: (!spec.filter.technician_ids.is_empty()).then(|| spec.filter.technician_ids.clone()),
                    teams: compile(&spec.filter.teams),
                    categories: compile(&spec.filter.categories),
                    priorities: compile(&spec.filter.priorities),
                    channels: compile(&spec.filter.channels),
                };
                let mut frame = Frame {
                    from: micros(spec.from),
                    to: micros(spec.to),
                    starts: spans.iter().map(|span| micros(span.starts)).collect(),
                    ends: spans.iter().map(|span| micros(span.ends)).collect(),
                    spans,
                    grouping: spec.grouping,
                    filter,
                    groups: IdMap::default(),
                    count_customers: spec.count_customers,
                    opened_by_customer: IdMap::default(),
                };
                if frame.grouping == Grouping::None {
                    frame.group(None);
                }
                frame
            })
            .collect();
        Engine { frames, names, teams, stints: Vec::new(), interactions: Vec::new() }
    }

    fn team_of(&self, technician: Option<i64>) -> Option<i64> {
        technician.and_then(|id| self.teams.get(&id).copied())
    }

    /// Adds one ticket's records (and its interactions') to every frame.
    pub fn ticket(&mut self, fact: &TicketFact<'_>) {
        let keys = TicketKeys {
            technician: fact.assignee_id,
            team: self.team_of(fact.assignee_id),
            category: self.names.id(fact.category),
            priority: self.names.id(fact.priority),
            channel: self.names.id(fact.channel),
        };
        // Scratch lists kept across tickets: no allocation per ticket.
        let mut stints = std::mem::take(&mut self.stints);
        backlog_stints(fact, &mut stints);
        let mut interactions = std::mem::take(&mut self.interactions);
        interactions.clear();
        interactions
            .extend(fact.interactions.iter().map(|interaction| (interaction, self.team_of(interaction.technician_id))));
        for frame in &mut self.frames {
            if frame.filter.passes_ticket(&keys) {
                let key = ticket_group(frame.grouping, &keys);
                add_ticket(frame, key, fact, &stints);
            }
            for (interaction, team) in &interactions {
                add_interaction(frame, interaction, *team, Some(&keys));
            }
        }
        self.stints = stints;
        self.interactions = interactions;
    }

    /// Adds an interaction that has no ticket.
    pub fn loose_interaction(&mut self, interaction: &InteractionFact) {
        let team = self.team_of(interaction.technician_id);
        for frame in &mut self.frames {
            add_interaction(frame, interaction, team, None);
        }
    }

    /// Every frame's points: each group seen has every bucket (empty ones with counts 0 and
    /// averages null), groups ordered by their key's text, "no group" first.
    pub fn finish(self) -> Vec<FrameResult> {
        let names = self.names.names;
        self.frames
            .into_iter()
            .map(|frame| {
                let grouping = frame.grouping;
                let label = |key: GroupKey| -> Option<String> {
                    key.map(|key| match grouping {
                        Grouping::Technician => key.to_string(),
                        _ => usize::try_from(key).ok().and_then(|i| names.get(i)).cloned().unwrap_or_default(),
                    })
                };
                let mut groups: Vec<(Option<String>, GroupTotals)> =
                    frame.groups.into_iter().map(|(key, totals)| (label(key), totals)).collect();
                groups.sort_by(|a, b| a.0.cmp(&b.0));
                let mut points = Vec::with_capacity(groups.len() * frame.spans.len());
                for (group, totals) in groups {
                    let mut backlog = 0;
                    for ((span, bucket), step) in frame.spans.iter().zip(totals.buckets).zip(&totals.backlog_steps) {
                        backlog += step;
                        points.push(KpiPoint {
                            starts: span.starts,
                            ends: span.ends,
                            group: group.clone(),
                            values: values_of(bucket, backlog),
                        });
                    }
                }
                FrameResult { points, opened_by_customer: frame.opened_by_customer.into_iter().collect() }
            })
            .collect()
    }
}

fn ticket_group(grouping: Grouping, keys: &TicketKeys) -> GroupKey {
    match grouping {
        Grouping::None => None,
        Grouping::Technician => keys.technician,
        Grouping::Team => keys.team,
        Grouping::Category => Some(keys.category),
        Grouping::Priority => Some(keys.priority),
        Grouping::Channel => Some(keys.channel),
    }
}

/// A stretch of time a ticket spends in the backlog: from `enters` (after it, for the opening;
/// at it, for a reopen) until `leaves` (a resolution; None while it is still in the backlog).
struct Stint {
    enters: Micros,
    enters_inclusive: bool,
    leaves: Option<Micros>,
}

impl Stint {
    fn holds(&self, at: Micros) -> bool {
        (if self.enters_inclusive { at >= self.enters } else { at > self.enters })
            && self.leaves.is_none_or(|leaves| at < leaves)
    }
}

/// The ticket's backlog stints by its status history: opened (it counts from just after its
/// opening), then each resolution and reopen. A ticket never reopened has one resolution, its
/// first; a reopened one replays its status changes.
fn backlog_stints(fact: &TicketFact<'_>, stints: &mut Vec<Stint>) {
    stints.clear();
    stints.push(Stint { enters: fact.opened_at, enters_inclusive: false, leaves: None });
    if !fact.reopened {
        stints[0].leaves = fact.first_resolved_at;
        return;
    }
    let mut in_backlog = true;
    for (at, change) in fact.status_changes.iter() {
        match (in_backlog, change < 0) {
            (true, true) => {
                if let Some(stint) = stints.last_mut() {
                    stint.leaves = Some(at);
                }
                in_backlog = false;
            }
            (false, false) => {
                stints.push(Stint { enters: at, enters_inclusive: true, leaves: None });
                in_backlog = true;
            }
            _ => {}
        }
    }
}

fn add_ticket(frame: &mut Frame, key: GroupKey, fact: &TicketFact<'_>, stints: &[Stint]) {
    let opened = frame.bucket(fact.opened_at);
    let resolved = fact.resolved_at.and_then(|at| frame.bucket(at));
    let first_resolved = fact.first_resolved_at.and_then(|at| frame.bucket(at));
    let closed = fact.closed_at.and_then(|at| frame.bucket(at));
    let rated = fact.rating.and_then(|(rating, at)| Some((rating, frame.bucket(at)?)));
    if opened.is_some() && frame.count_customers {
        *frame.opened_by_customer.entry(fact.customer_id).or_default() += 1;
    }
    if opened.is_some() || resolved.is_some() || first_resolved.is_some() || closed.is_some() || rated.is_some() {
        let buckets = &mut frame.group(key).buckets;
        if let Some(bucket) = opened {
            let totals = &mut buckets[bucket];
            totals.opened += 1;
            totals.opened_now_resolved += i64::from(fact.now_resolved);
            match fact.first_response_at {
                Some(at) => totals.first_response.push(seconds_between(at, fact.opened_at)),
                None => totals.awaiting += 1,
            }
        }
        if let (Some(bucket), Some(at)) = (resolved, fact.resolved_at) {
            let totals = &mut buckets[bucket];
            totals.resolved += 1;
            totals.resolved_reopened += i64::from(fact.reopened);
            totals.resolution.push(seconds_between(at, fact.opened_at));
        }
        if let (Some(bucket), Some(at)) = (first_resolved, fact.first_resolved_at) {
            buckets[bucket].first_resolution.push(seconds_between(at, fact.opened_at));
        }
        if let Some(bucket) = closed {
            buckets[bucket].closed += 1;
        }
        if let Some((rating, bucket)) = rated {
            let totals = &mut buckets[bucket];
            totals.csat_count += 1;
            totals.csat_sum += i64::from(rating);
            totals.csat_satisfied += i64::from(rating >= 4);
        }
    }
    add_backlog(frame, key, fact, stints);
}

/// Adds the ticket's stints to the backlog at each bucket end: +1 at the first end it holds,
/// -1 at the first end after that it no longer holds. A ticket in the backlog at the period's
/// start, or whose status changes in the period, makes its group seen.
fn add_backlog(frame: &mut Frame, key: GroupKey, fact: &TicketFact<'_>, stints: &[Stint]) {
    let (from, to) = (frame.from, frame.to);
    let changes_in_period = fact.status_changes.iter().any(|(at, _)| at > from && at <= to)
        || fact.first_resolved_at.is_some_and(|at| at > from && at <= to);
    let mut seen = changes_in_period;
    for stint in stints {
        // The first bucket end the stint holds, and the first after that it does not.
        let first_in = if stint.enters_inclusive {
            frame.ends.partition_point(|end| *end < stint.enters)
        } else {
            frame.ends.partition_point(|end| *end <= stint.enters)
        };
        let first_out = stint.leaves.map_or(frame.ends.len(), |leaves| frame.ends.partition_point(|end| *end < leaves));
        let holds_somewhere = first_in < first_out;
        seen |= holds_somewhere || stint.holds(from);
        if holds_somewhere {
            let steps = &mut frame.group(key).backlog_steps;
            steps[first_in] += 1;
            steps[first_out] -= 1;
        }
    }
    if seen {
        frame.group(key);
    }
}

/// Seconds between two instants as PostgreSQL's `date_part('epoch', later - earlier)` computes
/// them (whole days and the rest apart), so that figures agree with SQL to the last bit.
pub fn seconds_between(later: Micros, earlier: Micros) -> f64 {
    const DAY: i64 = 86_400_000_000;
    let span = later - earlier;
    (span % DAY) as f64 / 1_000_000.0 + 86_400.0 * (span / DAY) as f64
}

fn values_of(bucket: BucketTotals, backlog: i64) -> KpiValues {
    let interactions = [0usize, 1, 4, 5, 2, 3] // CALL, CHAT, EMAIL: the order of their names
        .iter()
        .filter_map(|&index| {
            let (count, seconds) = bucket.interactions[index];
            let (channel, direction) = InteractionFact::from_kind_index(index);
            (count > 0).then_some(InteractionTotal { channel, direction, count, duration_seconds: seconds })
        })
        .collect();
    KpiValues {
        tickets_opened: bucket.opened,
        tickets_resolved: bucket.resolved,
        tickets_closed: bucket.closed,
        backlog,
        first_response: duration_stats(bucket.first_response),
        awaiting_first_response: bucket.awaiting,
        resolution: duration_stats(bucket.resolution),
        first_resolution: duration_stats(bucket.first_resolution),
        opened_now_resolved: bucket.opened_now_resolved,
        resolved_reopened: bucket.resolved_reopened,
        csat_average: (bucket.csat_count > 0).then(|| bucket.csat_sum as f64 / bucket.csat_count as f64),
        csat_count: bucket.csat_count,
        csat_satisfied: bucket.csat_satisfied,
        interactions,
    }
}

fn duration_stats(mut values: Vec<f64>) -> DurationStats {
    if values.is_empty() {
        return DurationStats::default();
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    DurationStats {
        mean: Some(mean),
        median: Some(percentile_cont(&mut values, 0.5)),
        p90: Some(percentile_cont(&mut values, 0.9)),
    }
}

/// PostgreSQL's `percentile_cont(fraction)`: the value at position fraction x (n - 1) of the
/// sorted values, interpolated linearly between its neighbours. Found by selection, not by
/// sorting; `values` is reordered.
pub fn percentile_cont(values: &mut [f64], fraction: f64) -> f64 {
    let position = fraction * (values.len() - 1) as f64;
    let (lower, upper) = (position.floor(), position.ceil());
    let (_, low, above) = values.select_nth_unstable_by(lower as usize, f64::total_cmp);
    let low = *low;
    if upper == lower {
        return low;
    }
    let high = above.iter().copied().fold(f64::INFINITY, f64::min);
    low + (high - low) * (position - lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_postgres() {
        let mut values = vec![40.0, 10.0, 30.0, 20.0];
        assert_eq!(percentile_cont(&mut values, 0.5), 25.0);
        assert_eq!(percentile_cont(&mut values, 0.9), 37.0);
        assert_eq!(percentile_cont(&mut [7.0], 0.9), 7.0);
    }

    #[test]
    fn seconds_match_date_part_of_an_interval() {
        assert_eq!(seconds_between(90_061_500_000, 0), 90_061.5);
        assert_eq!(seconds_between(5_000_000, 2_000_000), 3.0);
    }
}
