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
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::business::BusinessClocks;
use super::calendar::{self, Span};
use super::durations::{BySlot, Durations};
use super::facts::{DecodedFacts, InteractionFact, Micros, SlaFact, TicketFact, micros};
use super::{Bucket, Grouping, InteractionTotal, KpiFilter, KpiPoint, KpiValues, SlaClockValues};

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

/// The counts and sums of one bucket of one group (its durations are in the frame's
/// [`Durations`]).
#[derive(Default, Clone, Copy)]
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
    /// Count and seconds per channel and direction ([`InteractionFact::kind_index`]).
    interactions: [(i64, i64); 6],
    /// The first-response and the resolution clock.
    sla: [SlaTotals; 2],
}

/// One SLA clock's counts in a bucket.
#[derive(Default, Clone, Copy)]
struct SlaTotals {
    stopped: i64,
    met: i64,
    /// Stopped clocks whose business time is known (their calendar copy was read), and its sum
    /// in microseconds: an exact integer, whatever order the passes met the rows in.
    timed: i64,
    business_micros: i64,
    breaches: i64,
}

impl SlaTotals {
    fn add(&mut self, other: SlaTotals) {
        self.stopped += other.stopped;
        self.met += other.met;
        self.timed += other.timed;
        self.business_micros += other.business_micros;
        self.breaches += other.breaches;
    }

    fn values(&self) -> SlaClockValues {
        SlaClockValues {
            stopped: self.stopped,
            met: self.met,
            business_seconds_mean: (self.timed > 0)
                .then(|| self.business_micros as f64 / self.timed as f64 / 1_000_000.0),
            breaches: self.breaches,
        }
    }
}

/// Clock indexes into [`BucketTotals::sla`].
const FIRST_RESPONSE: usize = 0;
const RESOLUTION: usize = 1;

struct GroupTotals {
    buckets: Vec<BucketTotals>,
    /// Backlog steps: entry k changes the backlog at bucket k's end and every later one.
    backlog_steps: Vec<i64>,
}

impl GroupTotals {
    fn new(buckets: usize) -> GroupTotals {
        GroupTotals { buckets: vec![BucketTotals::default(); buckets], backlog_steps: vec![0; buckets + 1] }
    }

    fn add(&mut self, other: GroupTotals) {
        for (mine, theirs) in self.buckets.iter_mut().zip(other.buckets) {
            mine.add(theirs);
        }
        for (mine, theirs) in self.backlog_steps.iter_mut().zip(other.backlog_steps) {
            *mine += theirs;
        }
    }
}

impl BucketTotals {
    fn add(&mut self, other: BucketTotals) {
        self.opened += other.opened;
        self.awaiting += other.awaiting;
        self.opened_now_resolved += other.opened_now_resolved;
        self.resolved += other.resolved;
        self.resolved_reopened += other.resolved_reopened;
        self.closed += other.closed;
        self.csat_count += other.csat_count;
        self.csat_sum += other.csat_sum;
        self.csat_satisfied += other.csat_satisfied;
        for (mine, theirs) in self.interactions.iter_mut().zip(other.interactions) {
            mine.0 += theirs.0;
            mine.1 += theirs.1;
        }
        for (mine, theirs) in self.sla.iter_mut().zip(other.sla) {
            mine.add(theirs);
        }
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
    /// The bucket of the start of each [`CELL`] of the period, so that finding an instant's
    /// bucket takes a look-up and a step or two instead of a binary search.
    cell_buckets: Vec<u32>,
    cell: Micros,
    grouping: Grouping,
    filter: CompiledFilter,
    groups: Vec<GroupTotals>,
    group_keys: Vec<GroupKey>,
    /// Slot of a value: its group's index times the number of buckets, plus its bucket's.
    first_response: Durations,
    resolution: Durations,
    first_resolution: Durations,
    group_index: IdMap<GroupKey, usize>,
    /// The group used last: a ticket's records and interactions mostly share it.
    last_group: Option<(GroupKey, usize)>,
    count_customers: bool,
    opened_by_customer: IdMap<i64, i64>,
}

/// The finest cell of a frame's bucket look-up table: no bucket is shorter (the shortest is a
/// local day, 23 hours), and zones' offsets are whole quarter hours.
const CELL: Micros = 15 * 60 * 1_000_000;
/// Cells per frame at most (a long period gets coarser cells and a few more steps).
const MAX_CELLS: i64 = 1 << 18;

impl Frame {
    /// The bucket holding instant `at`, if it is in the period.
    fn bucket(&self, at: Micros) -> Option<usize> {
        if at < self.from || at >= self.to {
            return None;
        }
        let cell = usize::try_from((at - self.from) / self.cell).ok()?;
        let mut bucket = *self.cell_buckets.get(cell)? as usize;
        while self.starts.get(bucket + 1).is_some_and(|next| *next <= at) {
            bucket += 1;
        }
        Some(bucket)
    }

    fn group_index(&mut self, key: GroupKey) -> usize {
        match self.last_group {
            Some((last, index)) if last == key => index,
            _ => {
                let next = self.groups.len();
                let index = *self.group_index.entry(key).or_insert(next);
                if index == next {
                    self.groups.push(GroupTotals::new(self.spans.len()));
                    self.group_keys.push(key);
                }
                self.last_group = Some((key, index));
                index
            }
        }
    }

    fn group(&mut self, key: GroupKey) -> &mut GroupTotals {
        let index = self.group_index(key);
        &mut self.groups[index]
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
    teams: TeamOf,
    /// Whether any frame groups or filters by team (else nobody's team is looked up).
    needs_teams: bool,
    stints: Vec<Stint>,
    interaction_teams: Vec<Option<i64>>,
    /// The calendar copies SLA clocks count in, and the instant breaches are counted up to.
    clocks: Arc<BusinessClocks>,
    now: Micros,
}

impl Engine {
    /// `teams`: every technician's current team; `clocks`: the SLA calendar copies; `now`: the
    /// instant of the answer (a breach counts once it has happened).
    pub fn new(
        specs: &[FrameSpec<'_>],
        teams: impl IntoIterator<Item = (i64, String)>,
        clocks: Arc<BusinessClocks>,
        now: DateTime<Utc>,
    ) -> Engine {
        let mut names = Names::default();
        let teams = TeamOf::new(teams.into_iter().map(|(id, team)| (id, names.id(team.as_bytes()))).collect());
        let frames: Vec<Frame> = specs
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
                let (from, to) = (micros(spec.from), micros(spec.to));
                let starts: Vec<Micros> = spans.iter().map(|span| micros(span.starts)).collect();
                let cell = CELL.max((to - from) / MAX_CELLS + 1);
                let cells = usize::try_from((to - from) / cell + 1).unwrap_or(0);
                let cell_buckets = (0..cells)
                    .scan(0usize, |bucket, n| {
                        let at = from + n as i64 * cell;
                        while starts.get(*bucket + 1).is_some_and(|next| *next <= at) {
                            *bucket += 1;
                        }
                        Some(u32::try_from(*bucket).unwrap_or(u32::MAX))
                    })
                    .collect();
                let mut frame = Frame {
                    from,
                    to,
                    ends: spans.iter().map(|span| micros(span.ends)).collect(),
                    starts,
                    cell_buckets,
                    cell,
                    spans,
                    grouping: spec.grouping,
                    filter,
                    groups: Vec::new(),
                    group_keys: Vec::new(),
                    first_response: Durations::default(),
                    resolution: Durations::default(),
                    first_resolution: Durations::default(),
                    group_index: IdMap::default(),
                    last_group: None,
                    count_customers: spec.count_customers,
                    opened_by_customer: IdMap::default(),
                };
                if frame.grouping == Grouping::None {
                    frame.group(None);
                }
                frame
            })
            .collect();
        let needs_teams = frames.iter().any(|frame| frame.grouping == Grouping::Team || frame.filter.teams.is_some());
        Engine {
            frames,
            names,
            teams,
            needs_teams,
            stints: Vec::new(),
            interaction_teams: Vec::new(),
            clocks,
            now: micros(now),
        }
    }

    fn team_of(&self, technician: Option<i64>) -> Option<i64> {
        if self.needs_teams { technician.and_then(|id| self.teams.get(id)) } else { None }
    }

    /// Adds every ticket (with its interactions) and every loose interaction of a decoded value
    /// to every frame.
    pub fn facts(&mut self, facts: &DecodedFacts) {
        // The value's names as this engine's numbers, looked up once per value.
        let names: Vec<i64> = facts.names.iter().map(|name| self.names.id(name)).collect();
        let name = |number: u32| names.get(number as usize).copied().unwrap_or(-1);
        for fact in &facts.tickets {
            let keys = TicketKeys {
                technician: fact.assignee_id,
                team: self.team_of(fact.assignee_id),
                category: name(fact.category),
                priority: name(fact.priority),
                channel: name(fact.channel),
            };
            self.ticket(fact, &keys, facts.status_changes_of(fact), facts.interactions_of(fact), facts.sla_of(fact));
        }
        for interaction in &facts.loose_interactions {
            self.loose_interaction(interaction);
        }
    }

    /// Adds one ticket's records (and its interactions') to every frame it can count in.
    fn ticket(
        &mut self,
        fact: &TicketFact,
        keys: &TicketKeys,
        status_changes: &[(Micros, i16)],
        interactions: &[InteractionFact],
        sla: Option<&SlaFact>,
    ) {
        // Scratch lists kept across tickets: no allocation per ticket.
        let mut stints = std::mem::take(&mut self.stints);
        backlog_stints(fact, status_changes, &mut stints);
        let mut teams = std::mem::take(&mut self.interaction_teams);
        teams.clear();
        teams.extend(interactions.iter().map(|interaction| self.team_of(interaction.technician_id)));
        let mut reach = Reach::of(fact, status_changes, interactions, &stints);
        let sla = sla.map(|sla| {
            for at in [sla.first_response_due_at, sla.resolution_breach_at].into_iter().flatten() {
                reach.take(at);
            }
            SlaClocks::of(fact, sla, &stints, &self.clocks, self.now)
        });
        for frame in &mut self.frames {
            if !reach.touches(frame.from, frame.to) {
                continue;
            }
            if frame.filter.passes_ticket(keys) {
                let key = ticket_group(frame.grouping, keys);
                add_ticket(frame, key, fact, status_changes, &stints);
                if let Some(sla) = &sla {
                    add_sla(frame, key, sla);
                }
            }
            for (interaction, team) in interactions.iter().zip(&teams) {
                add_interaction(frame, interaction, *team, Some(keys));
            }
        }
        self.stints = stints;
        self.interaction_teams = teams;
    }

    /// Adds an interaction that has no ticket.
    fn loose_interaction(&mut self, interaction: &InteractionFact) {
        let team = self.team_of(interaction.technician_id);
        for frame in &mut self.frames {
            add_interaction(frame, interaction, team, None);
        }
    }

    /// Adds what `other` (an engine of the same frames, fed other rows) has counted.
    pub fn absorb(&mut self, other: Engine) {
        // Names other numbered on its own: renumber them as this engine's.
        let renumbered: Vec<i64> = other.names.names.iter().map(|name| self.names.id(name.as_bytes())).collect();
        let rename =
            |key: GroupKey| key.and_then(|key| usize::try_from(key).ok()).and_then(|i| renumbered.get(i).copied());
        for (frame, theirs) in self.frames.iter_mut().zip(other.frames) {
            let by_name = !matches!(frame.grouping, Grouping::None | Grouping::Technician);
            let mut our_index = Vec::with_capacity(theirs.groups.len());
            for (key, totals) in theirs.group_keys.into_iter().zip(theirs.groups) {
                let index = frame.group_index(if by_name { rename(key) } else { key });
                frame.groups[index].add(totals);
                our_index.push(index);
            }
            let buckets = frame.spans.len();
            let renumber = |slot: usize| {
                our_index.get(slot / buckets).map_or(usize::MAX, |group| group * buckets + slot % buckets)
            };
            frame.first_response.absorb(theirs.first_response, renumber);
            frame.resolution.absorb(theirs.resolution, renumber);
            frame.first_resolution.absorb(theirs.first_resolution, renumber);
            for (customer, opened) in theirs.opened_by_customer {
                *frame.opened_by_customer.entry(customer).or_default() += opened;
            }
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
                let buckets = frame.spans.len();
                let slots = frame.groups.len() * buckets;
                let mut durations = DurationsBySlot {
                    first_response: frame.first_response.by_slot(slots),
                    resolution: frame.resolution.by_slot(slots),
                    first_resolution: frame.first_resolution.by_slot(slots),
                };
                let mut groups: Vec<(Option<String>, usize, GroupTotals)> = frame
                    .group_keys
                    .into_iter()
                    .map(label)
                    .zip(frame.groups)
                    .enumerate()
                    .map(|(index, (label, totals))| (label, index, totals))
                    .collect();
                groups.sort_by(|a, b| a.0.cmp(&b.0));
                let mut points = Vec::with_capacity(groups.len() * buckets);
                for (group, index, totals) in groups {
                    let mut backlog = 0;
                    for (bucket, (span, (counts, step))) in
                        frame.spans.iter().zip(totals.buckets.iter().zip(&totals.backlog_steps)).enumerate()
                    {
                        backlog += step;
                        points.push(KpiPoint {
                            starts: span.starts,
                            ends: span.ends,
                            group: group.clone(),
                            values: values_of(counts, backlog, &mut durations, index * buckets + bucket),
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

/// The instants over which a ticket can count in a frame: from its earliest record to its
/// latest, or for ever while it is in the backlog. A frame outside them gets nothing from it:
/// no record in its period, no backlog at its bucket ends, and not even an empty group.
struct Reach {
    earliest: Micros,
    latest: Micros,
}

impl Reach {
    fn of(
        fact: &TicketFact,
        status_changes: &[(Micros, i16)],
        interactions: &[InteractionFact],
        stints: &[Stint],
    ) -> Reach {
        let mut reach = Reach { earliest: fact.opened_at, latest: fact.opened_at };
        for at in
            [fact.first_response_at, fact.first_resolved_at, fact.resolved_at, fact.closed_at].into_iter().flatten()
        {
            reach.take(at);
        }
        if let Some((_, at)) = fact.rating {
            reach.take(at);
        }
        for &(at, _) in status_changes {
            reach.take(at);
        }
        for interaction in interactions {
            reach.take(interaction.occurred_at);
        }
        if stints.last().is_some_and(|stint| stint.leaves.is_none()) {
            reach.latest = Micros::MAX;
        }
        reach
    }

    fn take(&mut self, at: Micros) {
        self.earliest = self.earliest.min(at);
        self.latest = self.latest.max(at);
    }

    /// Whether anything of the ticket can count in `[from, to]` (a reopen at `to` itself counts
    /// in the backlog at the last bucket's end).
    fn touches(&self, from: Micros, to: Micros) -> bool {
        self.earliest <= to && self.latest >= from
    }
}

/// The ticket's backlog stints by its status history: opened (it counts from just after its
/// opening), then each resolution and reopen. A ticket never reopened has one resolution, its
/// first; a reopened one replays its status changes.
fn backlog_stints(fact: &TicketFact, status_changes: &[(Micros, i16)], stints: &mut Vec<Stint>) {
    stints.clear();
    stints.push(Stint { enters: fact.opened_at, enters_inclusive: false, leaves: None });
    if !fact.reopened {
        stints[0].leaves = fact.first_resolved_at;
        return;
    }
    let mut in_backlog = true;
    for &(at, change) in status_changes {
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

fn add_ticket(frame: &mut Frame, key: GroupKey, fact: &TicketFact, status_changes: &[(Micros, i16)], stints: &[Stint]) {
    let opened = frame.bucket(fact.opened_at);
    let resolved = fact.resolved_at.and_then(|at| frame.bucket(at));
    let first_resolved = fact.first_resolved_at.and_then(|at| frame.bucket(at));
    let closed = fact.closed_at.and_then(|at| frame.bucket(at));
    let rated = fact.rating.and_then(|(rating, at)| Some((rating, frame.bucket(at)?)));
    if opened.is_some() && frame.count_customers {
        *frame.opened_by_customer.entry(fact.customer_id).or_default() += 1;
    }
    if opened.is_some() || resolved.is_some() || first_resolved.is_some() || closed.is_some() || rated.is_some() {
        let group = frame.group_index(key);
        let slot = |bucket: usize| group * frame.spans.len() + bucket;
        let buckets = &mut frame.groups[group].buckets;
        if let Some(bucket) = opened {
            let totals = &mut buckets[bucket];
            totals.opened += 1;
            totals.opened_now_resolved += i64::from(fact.now_resolved);
            match fact.first_response_at {
                Some(at) => frame.first_response.push(slot(bucket), at - fact.opened_at),
                None => totals.awaiting += 1,
            }
        }
        if let (Some(bucket), Some(at)) = (resolved, fact.resolved_at) {
            let totals = &mut buckets[bucket];
            totals.resolved += 1;
            totals.resolved_reopened += i64::from(fact.reopened);
            frame.resolution.push(slot(bucket), at - fact.opened_at);
        }
        if let (Some(bucket), Some(at)) = (first_resolved, fact.first_resolved_at) {
            frame.first_resolution.push(slot(bucket), at - fact.opened_at);
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
    add_backlog(frame, key, fact, status_changes, stints);
}

/// Adds the ticket's stints to the backlog at each bucket end: +1 at the first end it holds,
/// -1 at the first end after that it no longer holds. A ticket in the backlog at the period's
/// start, or whose status changes in the period, makes its group seen.
fn add_backlog(
    frame: &mut Frame,
    key: GroupKey,
    fact: &TicketFact,
    status_changes: &[(Micros, i16)],
    stints: &[Stint],
) {
    let (from, to) = (frame.from, frame.to);
    let changes_in_period = status_changes.iter().any(|&(at, _)| at > from && at <= to)
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

/// Where a ticket's SLA clocks count: each stop (with whether it met the target and the
/// business time run by then) and each breach that has happened.
struct SlaClocks {
    /// Per clock: the stop instant, whether it was within target, the business microseconds.
    stops: [Option<(Micros, bool, Option<i64>)>; 2],
    breaches: [Option<Micros>; 2],
}

impl SlaClocks {
    /// The first-response clock stops at the first response (met when not after its due
    /// instant); the resolution clock runs over the backlog stints and stops at the latest
    /// resolution (met when it has not run past its target). A breach counts at its instant,
    /// once that is past: the first response's due instant when no response came by then, the
    /// resolution clock's breach instant. As `Ticket.sla`'s states decide (docs/sla.md).
    fn of(fact: &TicketFact, sla: &SlaFact, stints: &[Stint], clocks: &BusinessClocks, now: Micros) -> SlaClocks {
        let clock = clocks.get(sla.calendar);
        let due = sla.first_response_due_at;
        let first_response = fact.first_response_at.map(|at| {
            let business = clock.map(|clock| clock.between(fact.opened_at, at));
            (at, due.is_none_or(|due| at <= due), business)
        });
        let resolution = fact.resolved_at.map(|at| {
            let business = clock.map(|clock| {
                stints.iter().map(|stint| clock.between(stint.enters, stint.leaves.unwrap_or(at).min(at))).sum()
            });
            (at, sla.resolution_breach_at.is_none_or(|breach| breach >= now), business)
        });
        let first_response_breach =
            due.filter(|due| *due < now && fact.first_response_at.is_none_or(|answered| answered > *due));
        let resolution_breach = sla.resolution_breach_at.filter(|breach| *breach < now);
        SlaClocks { stops: [first_response, resolution], breaches: [first_response_breach, resolution_breach] }
    }
}

fn add_sla(frame: &mut Frame, key: GroupKey, clocks: &SlaClocks) {
    for clock in [FIRST_RESPONSE, RESOLUTION] {
        if let Some((at, met, business)) = clocks.stops[clock]
            && let Some(totals) = frame.in_bucket(key, Some(at))
        {
            let totals = &mut totals.sla[clock];
            totals.stopped += 1;
            totals.met += i64::from(met);
            if let Some(business) = business {
                totals.timed += 1;
                totals.business_micros += business;
            }
        }
        if let Some(totals) = frame.in_bucket(key, clocks.breaches[clock]) {
            totals.sla[clock].breaches += 1;
        }
    }
}

/// A frame's durations, grouped by slot.
struct DurationsBySlot {
    first_response: BySlot,
    resolution: BySlot,
    first_resolution: BySlot,
}

fn values_of(bucket: &BucketTotals, backlog: i64, durations: &mut DurationsBySlot, slot: usize) -> KpiValues {
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
        first_response: durations.first_response.stats(slot),
        awaiting_first_response: bucket.awaiting,
        resolution: durations.resolution.stats(slot),
        first_resolution: durations.first_resolution.stats(slot),
        opened_now_resolved: bucket.opened_now_resolved,
        resolved_reopened: bucket.resolved_reopened,
        csat_average: (bucket.csat_count > 0).then(|| bucket.csat_sum as f64 / bucket.csat_count as f64),
        csat_count: bucket.csat_count,
        csat_satisfied: bucket.csat_satisfied,
        interactions,
        sla_first_response: bucket.sla[FIRST_RESPONSE].values(),
        sla_resolution: bucket.sla[RESOLUTION].values(),
    }
}

/// Each technician's team: a table by id where ids are small (as they are: a sequence), a map
/// otherwise.
enum TeamOf {
    Table(Vec<Option<i64>>),
    Map(IdMap<i64, i64>),
}

impl TeamOf {
    /// Ids up to this are looked up in a table.
    const TABLE_IDS: i64 = 1 << 20;

    fn new(teams: Vec<(i64, i64)>) -> TeamOf {
        if teams.iter().all(|(id, _)| (0..Self::TABLE_IDS).contains(id)) {
            let size = teams.iter().map(|(id, _)| *id as usize + 1).max().unwrap_or(0);
            let mut table = vec![None; size];
            for (id, team) in teams {
                table[id as usize] = Some(team);
            }
            TeamOf::Table(table)
        } else {
            TeamOf::Map(teams.into_iter().collect())
        }
    }

    fn get(&self, technician: i64) -> Option<i64> {
        match self {
            TeamOf::Table(table) => usize::try_from(technician).ok().and_then(|id| table.get(id).copied().flatten()),
            TeamOf::Map(map) => map.get(&technician).copied(),
        }
    }
}
