//! The deterministic generator: staff, customers, a calendar of ticket volumes, and each ticket's
//! whole history (events, interactions, ratings), simulated forward from when it was opened and
//! cut off at "now", so recent tickets are still open and old ones are closed.
//!
//! Everything here is plain data (times are Unix seconds, people are indices); `copy.rs` turns it
//! into rows. Every ticket has its own random stream, so the output does not depend on chunking.

use std::collections::HashSet;

use chrono::{DateTime, Datelike};

use super::rng::Rng;
use crate::domain::{Direction, EventKind, InteractionChannel, Priority, RatingSource, TicketChannel, TicketStatus};

pub const MINUTE: i64 = 60;
pub const HOUR: i64 = 3_600;
pub const DAY: i64 = 86_400;
const DAYS_PER_MONTH: f64 = 30.44;

/// Resolved tickets close themselves this long after the (last) resolution unless staff close
/// them sooner.
const AUTO_CLOSE: i64 = 5 * DAY;
/// Tickets triage closes as duplicates or spam without ever assigning them.
const NEVER_ASSIGNED: f64 = 0.02;
const REOPEN_BASE: f64 = 0.09;
const RATING_SHARE: f64 = 0.36;
/// The share of a category's tickets its own team takes; the service desk (first line) takes
/// the rest.
const HOME_TEAM_SHARE: f64 = 0.7;

// Random streams: tickets use their index; the rest sit far above any ticket index.
const STREAM_DAYS: u64 = 1 << 62;
const STREAM_STAFF: u64 = (1 << 62) + (1 << 40);
const STREAM_CUSTOMERS: u64 = (1 << 62) + (2 << 40);
const STREAM_OPENINGS: u64 = (1 << 62) + (3 << 40);

/// The subjects (token `sub`) recorded as actors besides the technicians.
pub const DISPATCH_SUBJECT: &str = "dispatch@helpdesk.example";
pub const INTAKE_SUBJECT: &str = "intake-bot";
pub const SURVEY_SUBJECT: &str = "survey";

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub seed: u64,
    pub tickets: u64,
    pub months: u32,
    pub technicians: usize,
    pub teams: usize,
    pub customers: usize,
    /// The end of the data (Unix seconds): nothing is dated after it.
    pub now: i64,
}

impl Plan {
    /// The small set the demo runs on: readable lists, every feature represented.
    pub fn demo(seed: u64, now: i64, months: Option<u32>) -> Plan {
        Plan { seed, tickets: 400, months: months.unwrap_or(3), technicians: 6, teams: 2, customers: 40, now }
    }

    /// A large set sized like a real help desk handling `tickets` over the period: roughly 20
    /// tickets a working day per technician and 25 tickets per customer on average.
    pub fn sized(seed: u64, now: i64, tickets: u64, months: Option<u32>) -> Plan {
        let months = months.unwrap_or(24);
        let per_working_day = tickets as f64 / (f64::from(months) * 21.7);
        let technicians = ((per_working_day / 20.0).ceil() as usize).clamp(6, 300);
        Plan {
            seed,
            tickets,
            months,
            technicians,
            teams: (technicians / 8).clamp(2, TEAMS.len()),
            customers: (tickets / 25).clamp(40, 200_000) as usize,
            now,
        }
    }

    /// Midnight (UTC) of the first day with tickets.
    pub fn start(&self) -> i64 {
        let start = self.now - (f64::from(self.months) * DAYS_PER_MONTH * DAY as f64) as i64;
        start.div_euclid(DAY) * DAY
    }
}

// ---------------------------------------------------------------------------------------------
// Reference data

struct CategorySpec {
    name: &'static str,
    weight: f64,
    /// Multiplies the priority's median resolution time.
    resolution: f64,
    /// Multiplies the reopen probability.
    reopen: f64,
    /// Teams (indices into TEAMS) that own it, best first; the first one that exists is used.
    teams: &'static [usize],
    subjects: &'static [&'static str],
    descriptions: &'static [&'static str],
}

const TEAMS: &[&str] = &[
    "Service Desk",
    "Field Support",
    "Network & Infrastructure",
    "Applications",
    "Identity & Access",
    "Messaging",
    "Billing Support",
    "Endpoint Services",
];

const NETWORK: usize = 3;

const CATEGORIES: &[CategorySpec] = &[
    CategorySpec {
        name: "software",
        weight: 24.0,
        resolution: 1.1,
        reopen: 1.0,
        teams: &[3, 0],
        subjects: &[
            "Application crashes on start-up",
            "Cannot install the accounting client",
            "Licence expired for the design suite",
            "Spreadsheet macros stopped working",
            "Browser keeps freezing",
            "Update failed with error 0x80070005",
            "CRM very slow since the last update",
            "Request to install a PDF editor",
        ],
        descriptions: &[
            "The application closes without an error message a few seconds after it starts.",
            "Started after this morning's update; colleagues on the same team see it too.",
            "Needed for a client deliverable this week.",
        ],
    },
    CategorySpec {
        name: "hardware",
        weight: 16.0,
        resolution: 1.6,
        reopen: 1.3,
        teams: &[7, 1],
        subjects: &[
            "Laptop does not power on",
            "Monitor flickering",
            "Docking station not detected",
            "Keyboard keys not responding",
            "Battery drains within an hour",
            "Replacement mouse needed",
            "Laptop overheats and shuts down",
            "Webcam not working in meetings",
        ],
        descriptions: &[
            "Tried another power outlet and a different cable; no change.",
            "The device is about three years old and still under warranty.",
            "Happens several times a day, mostly in the afternoon.",
        ],
    },
    CategorySpec {
        name: "access",
        weight: 15.0,
        resolution: 0.45,
        reopen: 0.6,
        teams: &[4, 0],
        subjects: &[
            "Password reset",
            "Account locked out",
            "Access to the finance share",
            "MFA token lost",
            "New starter account set-up",
            "Permissions for the project folder",
            "Leaver account to be disabled",
            "Cannot log in to the VPN portal",
        ],
        descriptions: &[
            "Locked out after the password change; needs access before the end of the day.",
            "Approved by the line manager, approval attached.",
            "The sign-in page says the account is disabled.",
        ],
    },
    CategorySpec {
        name: "network",
        weight: 11.0,
        resolution: 1.2,
        reopen: 1.2,
        teams: &[2, 1],
        subjects: &[
            "No internet connection on floor 3",
            "VPN disconnects every few minutes",
            "Wi-Fi very slow in the meeting room",
            "Cannot reach the file server",
            "Website blocked by the proxy",
            "Network drive not mapped",
            "Intermittent packet loss",
            "Branch office offline",
        ],
        descriptions: &[
            "Several people in the same area are affected.",
            "Wired connection works, wireless does not.",
            "Started around nine this morning.",
        ],
    },
    CategorySpec {
        name: "email",
        weight: 10.0,
        resolution: 0.8,
        reopen: 0.9,
        teams: &[5, 0],
        subjects: &[
            "Mailbox full",
            "Emails stuck in the outbox",
            "Shared mailbox missing in Outlook",
            "Phishing e-mail reported",
            "Calendar invites not arriving",
            "Out-of-office reply not working",
            "Distribution list change",
            "Cannot send attachments",
        ],
        descriptions: &[
            "External recipients do not receive anything since yesterday.",
            "Screenshot of the error attached.",
            "Works on the phone but not on the laptop.",
        ],
    },
    CategorySpec {
        name: "printing",
        weight: 8.0,
        resolution: 0.9,
        reopen: 1.1,
        teams: &[1, 7],
        subjects: &[
            "Printer offline",
            "Paper jam on the second-floor printer",
            "Prints come out blank",
            "Cannot add the network printer",
            "Scanner does not send to e-mail",
            "Toner replacement",
            "Print queue stuck",
            "Colour printing not available",
        ],
        descriptions: &[
            "The printer shows a ready status but nothing comes out.",
            "Affects everyone printing to this device.",
            "Needed for a board meeting tomorrow.",
        ],
    },
    CategorySpec {
        name: "billing",
        weight: 6.0,
        resolution: 1.3,
        reopen: 0.8,
        teams: &[6, 0],
        subjects: &[
            "Question about the last invoice",
            "Update the billing address",
            "Duplicate charge on the account",
            "Credit note request",
            "Change of payment method",
            "Licence renewal quote",
        ],
        descriptions: &[
            "Invoice number in the attachment; the amount differs from the quote.",
            "Please confirm once the change is made.",
            "Needed before the end of the quarter.",
        ],
    },
    CategorySpec {
        name: "other",
        weight: 10.0,
        resolution: 1.0,
        reopen: 0.8,
        teams: &[0],
        subjects: &[
            "General question",
            "Training material request",
            "Feedback on the support portal",
            "Meeting room equipment",
            "Phone extension change",
            "Data export request",
        ],
        descriptions: &[
            "See the subject.",
            "Not urgent, whenever someone has time.",
            "Details in the first interaction.",
        ],
    },
];

const PRIORITIES: [Priority; 4] = [Priority::Low, Priority::Normal, Priority::High, Priority::Urgent];
const PRIORITY_WEIGHTS: [f64; 4] = [20.0, 50.0, 22.0, 8.0];
/// Tickets about an outage on an incident day are more urgent.
const INCIDENT_PRIORITY_WEIGHTS: [f64; 4] = [5.0, 30.0, 40.0, 25.0];
/// Median time to first response and to resolution (after the first response), by priority.
const RESPONSE_MEDIAN: [f64; 4] = [6.0 * HOUR as f64, 2.5 * HOUR as f64, 45.0 * MINUTE as f64, 15.0 * MINUTE as f64];
const RESOLUTION_MEDIAN: [f64; 4] = [72.0 * HOUR as f64, 30.0 * HOUR as f64, 12.0 * HOUR as f64, 4.0 * HOUR as f64];

const CHANNELS: [TicketChannel; 4] =
    [TicketChannel::Email, TicketChannel::Phone, TicketChannel::Web, TicketChannel::Chat];
const CHANNEL_WEIGHTS: [f64; 4] = [38.0, 27.0, 22.0, 13.0];

const WEEKDAY_WEIGHTS: [f64; 7] = [1.12, 1.05, 1.0, 0.98, 0.88, 0.2, 0.12]; // Monday first
const HOUR_WEIGHTS: [f64; 24] = [
    0.08, 0.05, 0.04, 0.04, 0.05, 0.1, 0.25, 0.6, 1.2, 1.6, 1.7, 1.55, 1.05, 1.35, 1.5, 1.4, 1.15, 0.8, 0.45, 0.3,
    0.25, 0.2, 0.15, 0.1,
];

const FIRST_NAMES: &[&str] = &[
    "Anna", "Ben", "Chloe", "David", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maria",
    "Noah", "Olga", "Pedro", "Qian", "Rosa", "Samir", "Tara", "Umar", "Vera", "Wei", "Xenia", "Yusuf", "Zoe", "Aisha",
    "Bruno", "Carmen", "Dmitri", "Emma", "Felix", "Gita", "Hannah", "Ivan", "Julia", "Kofi", "Lena", "Mateo", "Nadia",
];
const LAST_NAMES: &[&str] = &[
    "Adams", "Becker", "Chen", "Dubois", "Evans", "Fischer", "Garcia", "Haddad", "Ito", "Jensen", "Kowalski", "Lopez",
    "Murphy", "Nakamura", "Okafor", "Petrov", "Quinn", "Rossi", "Schmidt", "Tanaka", "Usman", "Varga", "Weber", "Xu",
    "Yilmaz", "Zeller", "Andersen", "Bianchi", "Costa", "Dang", "Eriksson", "Ferreira", "Gupta", "Horvat", "Iqbal",
    "Jovic", "Kim", "Larsen", "Moreau", "Novak",
];
const ORG_NAMES: &[&str] = &[
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Litware",
    "Adatum",
    "Proseware",
    "Wingtip",
    "Woodgrove",
    "Blue Yonder",
    "Coho",
    "Lucerne",
    "Margie's",
    "Alpine",
    "Fourth Street",
    "Humongous",
    "Wide World",
];
const ORG_KINDS: &[&str] = &[
    "Logistics",
    "Health",
    "Foods",
    "Legal",
    "Consulting",
    "Manufacturing",
    "Bank",
    "Retail",
    "Labs",
    "Energy",
    "Insurance",
    "Hotels",
    "Publishing",
    "Engineering",
    "Travel",
    "Media",
];
const ORG_REGIONS: &[&str] = &["North", "South", "East", "West", "Europe", "Americas", "Asia", "Nordics"];
const PERSONAL_DOMAINS: &[&str] = &["mail.example", "inbox.example", "post.example"];

const NOTES: &[&str] = &[
    "Waiting for the customer to confirm.",
    "Escalated to second line.",
    "Replacement part ordered.",
    "Vendor case opened.",
    "Remote session scheduled.",
    "Known issue; workaround sent.",
];
const TRIAGE_NOTE: &str = "Duplicate or not a support request; closed in triage.";

const SUMMARY_INBOUND_FIRST: &[&str] =
    &["Customer reported the problem", "Customer described the issue and its impact", "Customer asked for help"];
const SUMMARY_FIRST_REPLY: &[&str] = &[
    "Acknowledged and asked for details",
    "Called back to start troubleshooting",
    "Sent the first troubleshooting steps",
];
const SUMMARY_FIX_ON_CONTACT: &[&str] = &["Solved during the first contact", "Walked the customer through the fix"];
const SUMMARY_FOLLOW_UP_OUT: &[&str] =
    &["Sent an update on progress", "Asked the customer to test the fix", "Scheduled a remote session"];
const SUMMARY_FOLLOW_UP_IN: &[&str] =
    &["Customer sent the requested details", "Customer asked for an update", "Customer confirmed the steps were done"];
const SUMMARY_RESOLUTION: &[&str] = &["Confirmed the fix with the customer", "Explained the solution"];
const SUMMARY_REOPEN: &[&str] = &["Customer reports the problem is back", "Customer says the fix did not work"];
const SUMMARY_STANDALONE: &[&str] = &[
    "Quick question answered without a ticket",
    "Customer asked about service hours",
    "Status question about an earlier request",
];

const COMMENTS_GOOD: &[&str] = &["Quick and friendly, thanks!", "Solved on the first call.", "Great help."];
const COMMENTS_MIXED: &[&str] = &["Fixed, but it took a while.", "OK.", "Had to explain the problem twice."];
const COMMENTS_BAD: &[&str] = &["Took far too long.", "Had to chase several times.", "The problem came back."];

// ---------------------------------------------------------------------------------------------
// Records

#[derive(Debug, Clone, PartialEq)]
pub struct Technician {
    pub name: String,
    pub email: String,
    pub team: &'static str,
    pub active: bool,
    pub created_at: i64,
    /// Multiplies response and resolution times (below 1: faster than the median).
    speed: f64,
    /// Better technicians get fewer reopens and better ratings.
    quality: f64,
    /// Relative share of the team's tickets.
    load: f64,
    /// Employed from..until (Unix seconds); `until` is i64::MAX while still employed.
    from: i64,
    until: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub organization: Option<String>,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Population {
    pub technicians: Vec<Technician>,
    pub customers: Vec<Customer>,
    team_members: Vec<Vec<usize>>,
}

/// Who did something: a technician (by index) or one of the service subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Technician(usize),
    Dispatch,
    Intake,
    Survey,
}

/// An event's from/to value before it becomes text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    None,
    Status(TicketStatus),
    Technician(usize),
    Priority(Priority),
    Rating(u8),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    /// Position in the data set (0-based, in `opened_at` order); ids and numbers derive from it.
    pub index: u64,
    pub customer: usize,
    pub subject: &'static str,
    pub description: &'static str,
    pub category: &'static str,
    pub priority: Priority,
    pub channel: TicketChannel,
    pub status: TicketStatus,
    pub assignee: Option<usize>,
    pub opened_at: i64,
    pub first_response_at: Option<i64>,
    pub first_resolved_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub reopen_count: i32,
    pub version: i32,
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub at: i64,
    pub actor: Actor,
    pub kind: EventKind,
    pub from: Value,
    pub to: Value,
    pub note: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interaction {
    pub customer: usize,
    /// Linked to the history's ticket (false: a contact that never became a ticket).
    pub on_ticket: bool,
    pub technician: Option<usize>,
    pub channel: InteractionChannel,
    pub direction: Direction,
    pub at: i64,
    pub duration_seconds: Option<i32>,
    pub summary: &'static str,
    pub logged_by: Actor,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub rating: u8,
    pub comment: Option<&'static str>,
    pub source: RatingSource,
    pub submitted_by: Actor,
    pub submitted_at: i64,
    pub superseded_at: Option<i64>,
}

/// One ticket with everything that happened to it up to "now".
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub ticket: TicketRow,
    pub events: Vec<Event>,
    pub interactions: Vec<Interaction>,
    pub ratings: Vec<Rating>,
}

// ---------------------------------------------------------------------------------------------
// Staff and customers

pub fn population(plan: &Plan) -> Population {
    let start = plan.start();
    let span = (plan.now - start).max(DAY);
    let teams = plan.teams.clamp(1, TEAMS.len());

    let mut rng = Rng::new(plan.seed, STREAM_STAFF);
    let mut emails = HashSet::new();
    let mut technicians = Vec::with_capacity(plan.technicians);
    let mut team_members = vec![Vec::new(); teams];
    // Staff each team in proportion to the tickets it gets (every team has someone), so a
    // technician's load does not depend on which team they are in.
    let shares = team_shares(teams);
    for index in 0..plan.technicians {
        let team = if index < teams {
            index
        } else {
            let deficit = |t: usize| shares[t] * (index + 1) as f64 - team_members[t].len() as f64;
            (0..teams).max_by(|a, b| deficit(*a).total_cmp(&deficit(*b))).unwrap_or(0)
        };
        let (first, last) = (rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        let email = unique_email(&mut emails, &format!("{}.{}", slug(first), slug(last)), "helpdesk.example");
        // Larger teams have people who left (deactivated) and people who joined during the period.
        let (mut from, mut until) = (start - DAY, i64::MAX);
        if plan.technicians >= 10 && index >= teams {
            if rng.chance(0.08) {
                until = start + (span as f64 * rng.uniform(0.3, 0.9)) as i64;
            } else if rng.chance(0.1) {
                from = start + (span as f64 * rng.uniform(0.15, 0.8)) as i64;
            }
        }
        let created_at = if from < start { start - DAY - rng.below(400) as i64 * DAY } else { from };
        team_members[team].push(index);
        technicians.push(Technician {
            name: format!("{first} {last}"),
            email,
            team: TEAMS[team],
            active: until == i64::MAX,
            created_at,
            speed: rng.lognormal(1.0, 0.35).clamp(0.45, 2.5),
            quality: rng.normal().clamp(-2.0, 2.0),
            load: rng.uniform(0.6, 1.4),
            from,
            until,
        });
    }

    let mut rng = Rng::new(plan.seed, STREAM_CUSTOMERS);
    let organizations = (plan.customers / 12).max(4);
    let mut emails = HashSet::new();
    let customers = (0..plan.customers)
        .map(|_| {
            let (first, last) = (rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
            // A few organizations have many contacts, most have a handful; some customers are
            // private individuals.
            let organization = (!rng.chance(0.15)).then(|| organization_name(power_law(&mut rng, organizations, 1.8)));
            let domain = match &organization {
                Some(name) => format!("{}.example", slug(name)),
                None => rng.pick(PERSONAL_DOMAINS).to_owned(),
            };
            let email = (!rng.chance(0.08))
                .then(|| unique_email(&mut emails, &format!("{}.{}", slug(first), slug(last)), &domain));
            let phone = rng.chance(0.7).then(|| format!("+1 555 {:03} {:04}", rng.below(1000), rng.below(10_000)));
            Customer {
                name: format!("{first} {last}"),
                email,
                phone,
                organization,
                created_at: start - DAY - rng.below(180) as i64 * DAY,
            }
        })
        .collect();
    Population { technicians, customers, team_members }
}

/// The team that owns a category when `teams` teams exist (the service desk takes the rest).
fn home_team(category: usize, teams: usize) -> usize {
    CATEGORIES[category].teams.iter().copied().find(|team| *team < teams).unwrap_or(0)
}

/// Each team's expected share of the tickets.
fn team_shares(teams: usize) -> Vec<f64> {
    let mut shares = vec![0.0; teams];
    let total: f64 = CATEGORIES.iter().map(|c| c.weight).sum();
    for (category, spec) in CATEGORIES.iter().enumerate() {
        shares[home_team(category, teams)] += HOME_TEAM_SHARE * spec.weight / total;
        shares[0] += (1.0 - HOME_TEAM_SHARE) * spec.weight / total;
    }
    shares
}

fn organization_name(index: usize) -> String {
    let (names, kinds) = (ORG_NAMES.len(), ORG_KINDS.len());
    // Stepping the kind with the name keeps neighbouring organizations in different trades.
    let base = format!("{} {}", ORG_NAMES[index % names], ORG_KINDS[(index * 7 + index / names) % kinds]);
    let round = index / (names * kinds);
    match round {
        0 => base,
        _ if round <= ORG_REGIONS.len() => format!("{base} {}", ORG_REGIONS[round - 1]),
        _ => format!("{base} {round}"),
    }
}

fn slug(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() && c != '\'' {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn unique_email(seen: &mut HashSet<String>, local: &str, domain: &str) -> String {
    let mut email = format!("{local}@{domain}");
    let mut n = 2;
    while !seen.insert(email.clone()) {
        email = format!("{local}{n}@{domain}");
        n += 1;
    }
    email
}

/// An index in [0, n) skewed towards 0: the few heavy customers and big organizations.
fn power_law(rng: &mut Rng, n: usize, exponent: f64) -> usize {
    ((rng.f64().powf(exponent) * n as f64) as usize).min(n.saturating_sub(1))
}

// ---------------------------------------------------------------------------------------------
// Calendar

/// One day of the period and how many tickets were opened on it.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// Midnight UTC.
    pub start: i64,
    /// Seconds of the day that are not in the future (less than a day only for today).
    pub limit: i64,
    pub tickets: u64,
    /// An outage day: more tickets, mostly about the network.
    pub incident: bool,
}

/// Spreads the plan's tickets over its days: weekdays busier than weekends, slow growth over the
/// period, holiday dips, day-to-day noise and the odd outage.
pub fn calendar(plan: &Plan) -> Vec<Day> {
    let start = plan.start();
    let day_count = ((plan.now - start) / DAY + 1).max(1);
    let hour_total: f64 = HOUR_WEIGHTS.iter().sum();
    let mut days = Vec::with_capacity(day_count as usize);
    let mut weights = Vec::with_capacity(day_count as usize);
    for d in 0..day_count {
        let mut rng = Rng::new(plan.seed, STREAM_DAYS + d as u64);
        let day_start = start + d * DAY;
        let limit = (plan.now - day_start).clamp(0, DAY);
        let weekday = ((day_start / DAY + 3) % 7) as usize; // 1970-01-01 was a Thursday
        let trend = 0.85 + 0.3 * d as f64 / day_count as f64;
        let incident = weekday < 5 && rng.chance(1.0 / 45.0);
        let covered: f64 = (0..24).map(|h| HOUR_WEIGHTS[h] * covered_fraction(limit, h)).sum::<f64>() / hour_total;
        let weight = WEEKDAY_WEIGHTS[weekday]
            * trend
            * season(day_start)
            * rng.lognormal(1.0, 0.12)
            * if incident { 1.8 } else { 1.0 }
            * covered;
        days.push(Day { start: day_start, limit, tickets: 0, incident });
        weights.push(weight);
    }
    // Cumulative rounding: the counts add up to exactly the plan's tickets.
    let total: f64 = weights.iter().sum();
    let (mut cumulative, mut assigned) = (0.0, 0u64);
    for (day, weight) in days.iter_mut().zip(&weights) {
        cumulative += weight;
        let target = if total > 0.0 { (cumulative / total * plan.tickets as f64).round() as u64 } else { 0 };
        let target = target.min(plan.tickets);
        day.tickets = target.saturating_sub(assigned);
        assigned = assigned.max(target);
    }
    if let Some(last) = days.iter_mut().rev().find(|day| day.limit > 0) {
        last.tickets += plan.tickets - assigned;
    }
    days
}

fn covered_fraction(limit: i64, hour: usize) -> f64 {
    ((limit - hour as i64 * HOUR) as f64 / HOUR as f64).clamp(0.0, 1.0)
}

/// Fewer tickets over the year-end holidays and in August.
fn season(day_start: i64) -> f64 {
    let Some(date) = DateTime::from_timestamp(day_start, 0) else { return 1.0 };
    match (date.month(), date.day()) {
        (12, d) if d >= 22 => 0.55,
        (1, d) if d <= 2 => 0.55,
        (8, _) => 0.85,
        _ => 1.0,
    }
}

/// The opening times of a day's tickets, sorted, business hours heavier.
pub fn opening_times(plan: &Plan, day_index: usize, day: &Day) -> Vec<i64> {
    let mut rng = Rng::new(plan.seed, STREAM_OPENINGS + day_index as u64);
    let weights: Vec<f64> = (0..24).map(|h| HOUR_WEIGHTS[h] * covered_fraction(day.limit, h)).collect();
    let mut times: Vec<i64> = (0..day.tickets)
        .map(|_| {
            let hour = rng.weighted(&weights) as i64;
            let span = (day.limit - hour * HOUR).clamp(1, HOUR);
            // Strictly before `now` on today's partial day.
            (day.start + hour * HOUR + rng.below(span as u64) as i64).min(plan.now.max(day.start))
        })
        .collect();
    times.sort_unstable();
    times
}

fn in_business_hours(at: i64) -> bool {
    let weekday = (at.div_euclid(DAY) + 3) % 7;
    let hour = at.rem_euclid(DAY) / HOUR;
    weekday < 5 && (8..18).contains(&hour)
}

/// The next instant inside business hours (Monday to Friday, 08:00-18:00 UTC).
fn next_business_start(at: i64) -> i64 {
    let mut day = at.div_euclid(DAY) * DAY;
    for _ in 0..8 {
        let opening = day + 8 * HOUR;
        let weekday = (day / DAY + 3) % 7;
        if weekday < 5 && at < day + 18 * HOUR {
            return opening.max(at);
        }
        day += DAY;
    }
    at
}

// ---------------------------------------------------------------------------------------------
// Ticket histories

/// Seconds from a float duration, kept within [low, high].
fn secs(value: f64, low: i64, high: i64) -> i64 {
    (value as i64).clamp(low, high)
}

fn call_duration(rng: &mut Rng, channel: InteractionChannel) -> Option<i32> {
    match channel {
        InteractionChannel::Call => Some(secs(rng.lognormal(360.0, 0.7), 20, 4 * HOUR) as i32),
        InteractionChannel::Chat => Some(secs(rng.lognormal(540.0, 0.6), 30, 2 * HOUR) as i32),
        InteractionChannel::Email => None,
    }
}

fn priority_index(priority: Priority) -> usize {
    PRIORITIES.iter().position(|p| *p == priority).unwrap_or(1)
}

pub struct Generator<'a> {
    plan: &'a Plan,
    people: &'a Population,
    category_weights: Vec<f64>,
    max_load: f64,
}

/// The history being built for one ticket.
struct Draft {
    events: Vec<Event>,
    interactions: Vec<Interaction>,
    ratings: Vec<Rating>,
    customer: usize,
}

impl Draft {
    fn event(&mut self, at: i64, actor: Actor, kind: EventKind, from: Value, to: Value) {
        self.events.push(Event { at, actor, kind, from, to, note: None });
    }

    fn status(&mut self, at: i64, actor: Actor, from: TicketStatus, to: TicketStatus) {
        let kind = if (from, to) == (TicketStatus::Resolved, TicketStatus::InProgress) {
            EventKind::Reopened
        } else {
            EventKind::StatusChanged
        };
        self.event(at, actor, kind, Value::Status(from), Value::Status(to));
    }

    #[allow(clippy::too_many_arguments)]
    fn contact(
        &mut self,
        rng: &mut Rng,
        at: i64,
        technician: Option<usize>,
        channel: InteractionChannel,
        direction: Direction,
        summaries: &[&'static str],
        logged_by: Actor,
    ) {
        let duration_seconds = call_duration(rng, channel);
        let summary = rng.pick(summaries);
        self.interactions.push(Interaction {
            customer: self.customer,
            on_ticket: true,
            technician,
            channel,
            direction,
            at,
            duration_seconds,
            summary,
            logged_by,
        });
    }
}

impl<'a> Generator<'a> {
    pub fn new(plan: &'a Plan, people: &'a Population) -> Generator<'a> {
        Generator {
            plan,
            people,
            category_weights: CATEGORIES.iter().map(|c| c.weight).collect(),
            max_load: people.technicians.iter().map(|t| t.load).fold(0.0, f64::max),
        }
    }

    /// A technician available at `at` from the category's team (sometimes the service desk), by
    /// their share of the load; any technician employed then when the team has nobody.
    fn pick_technician(&self, rng: &mut Rng, category: usize, at: i64) -> Option<usize> {
        let technicians = &self.people.technicians;
        let teams = &self.people.team_members;
        let members = &teams[if rng.chance(HOME_TEAM_SHARE) { home_team(category, teams.len()) } else { 0 }];
        if !members.is_empty() {
            for _ in 0..12 {
                let index = rng.pick(members);
                let technician = &technicians[index];
                if technician.from <= at && at < technician.until && rng.chance(technician.load / self.max_load) {
                    return Some(index);
                }
            }
        }
        let offset = rng.below(technicians.len() as u64) as usize;
        (0..technicians.len())
            .map(|i| (i + offset) % technicians.len())
            .find(|&i| technicians[i].from <= at && at < technicians[i].until)
    }

    /// The whole history of ticket `index`, opened at `opened_at`, as it stands at the plan's now.
    pub fn ticket(&self, index: u64, opened_at: i64, incident: bool) -> History {
        let mut rng = Rng::new(self.plan.seed, index);
        let category = if incident && rng.chance(0.6) { NETWORK } else { rng.weighted(&self.category_weights) };
        let spec = &CATEGORIES[category];
        let priority_weights =
            if category == NETWORK && incident { &INCIDENT_PRIORITY_WEIGHTS } else { &PRIORITY_WEIGHTS };
        let initial_priority = PRIORITIES[rng.weighted(priority_weights)];
        let channel = CHANNELS[rng.weighted(&CHANNEL_WEIGHTS)];
        let customer = power_law(&mut rng, self.people.customers.len(), 1.6);
        let subject = rng.pick(spec.subjects);
        let description = rng.pick(spec.descriptions);

        let mut draft =
            Draft { events: Vec::with_capacity(8), interactions: Vec::with_capacity(6), ratings: Vec::new(), customer };
        self.simulate(&mut rng, &mut draft, category, initial_priority, channel, opened_at);

        let ticket = TicketRow {
            index,
            customer,
            subject,
            description,
            category: spec.name,
            priority: initial_priority,
            channel,
            status: TicketStatus::Open,
            assignee: None,
            opened_at,
            first_response_at: None,
            first_resolved_at: None,
            resolved_at: None,
            closed_at: None,
            reopen_count: 0,
            version: 1,
            updated_at: opened_at,
        };
        let mut history =
            History { ticket, events: draft.events, interactions: draft.interactions, ratings: draft.ratings };
        cut_and_replay(&mut history, self.plan.now);
        history
    }

    /// Simulates the ticket's life forward, ignoring "now" (the cut comes after).
    fn simulate(
        &self,
        rng: &mut Rng,
        draft: &mut Draft,
        category: usize,
        priority: Priority,
        channel: TicketChannel,
        t0: i64,
    ) {
        use TicketStatus::*;
        let spec = &CATEGORIES[category];
        let live = matches!(channel, TicketChannel::Phone | TicketChannel::Chat);
        let inbound_channel = match channel {
            TicketChannel::Phone => Some(InteractionChannel::Call),
            TicketChannel::Email => Some(InteractionChannel::Email),
            TicketChannel::Chat => Some(InteractionChannel::Chat),
            TicketChannel::Web => None, // a web form: the ticket itself is the contact
        };
        let reply_channel = match channel {
            TicketChannel::Phone => InteractionChannel::Call,
            TicketChannel::Chat => InteractionChannel::Chat,
            TicketChannel::Email | TicketChannel::Web => InteractionChannel::Email,
        };

        let assignee = if rng.chance(NEVER_ASSIGNED) { None } else { self.pick_technician(rng, category, t0) };
        // On the phone or in a chat, whoever answers usually takes the ticket there and then.
        let immediate = live && assignee.is_some() && rng.chance(0.75);
        let intake_actor = match (immediate, assignee) {
            (true, Some(tech)) => Actor::Technician(tech),
            _ => Actor::Intake,
        };
        if let Some(inbound) = inbound_channel {
            let technician = if immediate { assignee } else { None };
            draft.contact(rng, t0, technician, inbound, Direction::Inbound, SUMMARY_INBOUND_FIRST, intake_actor);
        }
        draft.event(t0, intake_actor, EventKind::Created, Value::None, Value::Status(Open));

        let Some(first_tech) = assignee else {
            // Triage resolves duplicates and spam without assigning them; they close later.
            let resolved = t0 + secs(rng.lognormal(3.0 * HOUR as f64, 1.0), MINUTE, 5 * DAY);
            draft.status(resolved, Actor::Dispatch, Open, Resolved);
            if let Some(event) = draft.events.last_mut() {
                event.note = Some(TRIAGE_NOTE);
            }
            draft.status(resolved + AUTO_CLOSE + rng.below(HOUR as u64) as i64, Actor::Dispatch, Resolved, Closed);
            return;
        };
        let tech = &self.people.technicians[first_tech];
        let p = priority_index(priority);
        let channel_factor = match channel {
            TicketChannel::Phone => 0.2,
            TicketChannel::Chat => 0.35,
            TicketChannel::Email => 1.0,
            TicketChannel::Web => 1.15,
        };
        let response_median = RESPONSE_MEDIAN[p] * channel_factor * tech.speed.sqrt();
        let resolution_median = RESOLUTION_MEDIAN[p] * spec.resolution * tech.speed;

        let responded = if immediate {
            t0 + secs(rng.lognormal(2.0 * MINUTE as f64, 0.6), 20, HOUR)
        } else {
            // Outside business hours only urgent tickets are picked up (by whoever is on call).
            let clock =
                if priority == Priority::Urgent || in_business_hours(t0) { t0 } else { next_business_start(t0) };
            clock + secs(rng.lognormal(response_median, 0.9), MINUTE, 10 * DAY)
        };
        let assigned = if immediate { t0 } else { t0 + ((responded - t0) as f64 * rng.uniform(0.05, 0.9)) as i64 };
        let assigner = if immediate || rng.chance(0.4) { Actor::Technician(first_tech) } else { Actor::Dispatch };
        draft.event(assigned, assigner, EventKind::Assigned, Value::None, Value::Technician(first_tech));

        // Solved on first contact: straight from OPEN to RESOLVED.
        let fcr_share = match channel {
            TicketChannel::Phone => 0.3,
            TicketChannel::Chat => 0.25,
            TicketChannel::Email => 0.08,
            TicketChannel::Web => 0.06,
        } * if priority == Priority::Urgent { 0.4 } else { 1.0 }
            / spec.resolution.max(0.5);
        let first_contact_fix = rng.chance(fcr_share);
        let mut handover: Option<(i64, usize)> = None;
        let owner = |handover: Option<(i64, usize)>, at: i64| match handover {
            Some((when, next)) if at >= when => next,
            _ => first_tech,
        };
        let mut resolved;
        if first_contact_fix {
            let by = Actor::Technician(first_tech);
            draft.contact(
                rng,
                responded,
                Some(first_tech),
                reply_channel,
                Direction::Outbound,
                SUMMARY_FIX_ON_CONTACT,
                by,
            );
            resolved = responded + secs(rng.lognormal(8.0 * MINUTE as f64, 0.6), MINUTE, 2 * HOUR);
            draft.status(resolved, by, Open, Resolved);
        } else {
            let by = Actor::Technician(first_tech);
            let mode = rng.f64();
            let started = if mode < 0.55 {
                // A reply first, then the ticket is moved to IN_PROGRESS.
                draft.contact(
                    rng,
                    responded,
                    Some(first_tech),
                    reply_channel,
                    Direction::Outbound,
                    SUMMARY_FIRST_REPLY,
                    by,
                );
                responded + secs(rng.lognormal(15.0 * MINUTE as f64, 1.0), MINUTE, 2 * DAY)
            } else {
                if mode < 0.9 {
                    let at = responded + secs(rng.lognormal(30.0 * MINUTE as f64, 1.0), MINUTE, 3 * DAY);
                    draft.contact(
                        rng,
                        at,
                        Some(first_tech),
                        reply_channel,
                        Direction::Outbound,
                        SUMMARY_FIRST_REPLY,
                        by,
                    );
                }
                responded
            };
            draft.status(started, by, Open, InProgress);
            let mut work = rng.lognormal(resolution_median, 1.0);
            if rng.chance(0.02) {
                work *= 6.0; // waiting on a vendor or a part
            }
            resolved = started + secs(work, 5 * MINUTE, 120 * DAY);
            let between = |rng: &mut Rng| started + ((resolved - started) as f64 * rng.f64()) as i64;

            if rng.chance(0.04) {
                let at = between(rng);
                if let Some(next) = self.pick_technician(rng, category, at).filter(|next| *next != first_tech) {
                    handover = Some((at, next));
                    let (from, to) = (Value::Technician(first_tech), Value::Technician(next));
                    draft.event(at, Actor::Dispatch, EventKind::Assigned, from, to);
                }
            }
            if priority != Priority::Urgent && rng.chance(0.04) {
                let at = between(rng);
                let raised = PRIORITIES[p + 1];
                let actor = Actor::Technician(owner(handover, at));
                draft.event(at, actor, EventKind::PriorityChanged, Value::Priority(priority), Value::Priority(raised));
            }
            if rng.chance(0.12) {
                let at = between(rng);
                draft.event(at, Actor::Technician(owner(handover, at)), EventKind::NoteAdded, Value::None, Value::None);
                if let Some(event) = draft.events.last_mut() {
                    event.note = Some(rng.pick(NOTES));
                }
            }
            let follow_ups = rng.below(1 + ((resolved - started) / (12 * HOUR)).min(4) as u64);
            for _ in 0..follow_ups {
                let at = between(rng);
                let tech = owner(handover, at);
                let (direction, summaries) = if rng.chance(0.6) {
                    (Direction::Outbound, SUMMARY_FOLLOW_UP_OUT)
                } else {
                    (Direction::Inbound, SUMMARY_FOLLOW_UP_IN)
                };
                let channel = if reply_channel == InteractionChannel::Call && rng.chance(0.5) {
                    InteractionChannel::Email
                } else {
                    reply_channel
                };
                draft.contact(rng, at, Some(tech), channel, direction, summaries, Actor::Technician(tech));
            }
            let closer = owner(handover, resolved);
            draft.status(resolved, Actor::Technician(closer), InProgress, Resolved);
            if rng.chance(0.5) {
                let by = Actor::Technician(closer);
                draft.contact(rng, resolved, Some(closer), reply_channel, Direction::Outbound, SUMMARY_RESOLUTION, by);
            }
        }

        // Reopens: the customer comes back before the ticket closes.
        let mut reopens = 0;
        let closed = loop {
            let close_at = resolved
                + if rng.chance(0.35) {
                    secs(rng.lognormal(3.0 * HOUR as f64, 1.0), MINUTE, 4 * DAY)
                } else {
                    AUTO_CLOSE + rng.below(HOUR as u64) as i64
                };
            let reopen_chance = if reopens == 0 {
                REOPEN_BASE * (-0.35 * tech.quality).exp() * spec.reopen * if first_contact_fix { 1.5 } else { 1.0 }
            } else {
                0.15
            };
            if reopens < 2 && rng.chance(reopen_chance) {
                let reopened = resolved + secs(rng.lognormal(18.0 * HOUR as f64, 0.9), 10 * MINUTE, 20 * DAY);
                if reopened < close_at {
                    let tech = owner(handover, reopened);
                    let by = Actor::Technician(tech);
                    if rng.chance(0.85) {
                        let channel = inbound_channel.unwrap_or(InteractionChannel::Email);
                        draft.contact(rng, reopened, Some(tech), channel, Direction::Inbound, SUMMARY_REOPEN, by);
                    }
                    draft.status(reopened, by, Resolved, InProgress);
                    let rework = secs(rng.lognormal(0.4 * resolution_median, 1.0), 5 * MINUTE, 30 * DAY);
                    if rng.chance(0.5) {
                        let at = reopened + (rework as f64 * rng.f64()) as i64;
                        let out = Direction::Outbound;
                        draft.contact(rng, at, Some(tech), reply_channel, out, SUMMARY_FOLLOW_UP_OUT, by);
                    }
                    resolved = reopened + rework;
                    draft.status(resolved, by, InProgress, Resolved);
                    reopens += 1;
                    continue;
                }
            }
            break close_at;
        };
        let final_owner = owner(handover, resolved);
        draft.status(closed, Actor::Technician(final_owner), Resolved, Closed);

        // Satisfaction survey after the (last) resolution, skewed to 4 and 5; worse after reopens,
        // slow handling or from a weaker technician.
        if rng.chance(RATING_SHARE) {
            let submitted = resolved + secs(rng.lognormal(5.0 * HOUR as f64, 1.2), MINUTE, 30 * DAY);
            let slow = (resolved - t0) as f64 > 3.0 * (response_median + resolution_median);
            let score = rng.normal() + 0.1 + 0.3 * tech.quality - 0.8 * f64::from(reopens)
                + if slow { -0.5 } else { 0.0 }
                + if first_contact_fix { 0.3 } else { 0.0 };
            let rating = rating_from_score(score);
            let (source, by) = if rng.chance(0.15) {
                (RatingSource::Staff, Actor::Technician(final_owner))
            } else {
                (RatingSource::Survey, Actor::Survey)
            };
            let comment = rng.chance(0.25).then(|| rng.pick(comments_for(rating)));
            draft.ratings.push(Rating {
                rating,
                comment,
                source,
                submitted_by: by,
                submitted_at: submitted,
                superseded_at: None,
            });
            draft.event(submitted, by, EventKind::Rated, Value::None, Value::Rating(rating));
            // Now and then a customer changes their mind after a follow-up.
            if rng.chance(0.03) {
                let changed = submitted + secs(rng.lognormal(DAY as f64, 1.0), HOUR, 30 * DAY);
                let revised = if rating < 5 { rating + 1 } else { 4 };
                if let Some(first) = draft.ratings.last_mut() {
                    first.superseded_at = Some(changed);
                }
                draft.ratings.push(Rating {
                    rating: revised,
                    comment: None,
                    source: RatingSource::Survey,
                    submitted_by: Actor::Survey,
                    submitted_at: changed,
                    superseded_at: None,
                });
                let (from, to) = (Value::Rating(rating), Value::Rating(revised));
                draft.event(changed, Actor::Survey, EventKind::Rated, from, to);
            }
        }

        // Some contacts are answered without a ticket (the KPIs' "no ticket" group).
        if rng.chance(0.06) {
            let at = t0 + secs(rng.lognormal(3.0 * DAY as f64, 1.0), HOUR, 60 * DAY);
            if let Some(tech) = self.pick_technician(rng, category, at) {
                let channel = if rng.chance(0.5) { InteractionChannel::Call } else { InteractionChannel::Email };
                let duration_seconds = call_duration(rng, channel);
                draft.interactions.push(Interaction {
                    customer: draft.customer,
                    on_ticket: false,
                    technician: Some(tech),
                    channel,
                    direction: Direction::Inbound,
                    at,
                    duration_seconds,
                    summary: rng.pick(SUMMARY_STANDALONE),
                    logged_by: Actor::Technician(tech),
                });
            }
        }
    }
}

/// Maps a standard-normal score to 1..5 so that an average score gives about 5% ones, 5% twos,
/// 11% threes, 27% fours and 52% fives.
fn rating_from_score(score: f64) -> u8 {
    match score {
        s if s < -1.645 => 1,
        s if s < -1.28 => 2,
        s if s < -0.8 => 3,
        s if s < -0.05 => 4,
        _ => 5,
    }
}

fn comments_for(rating: u8) -> &'static [&'static str] {
    match rating {
        5 | 4 => COMMENTS_GOOD,
        3 => COMMENTS_MIXED,
        _ => COMMENTS_BAD,
    }
}

/// Drops everything after `now`, orders the rest, and derives the ticket's fields from the events
/// the way the API would have set them (PRODUCT.md's lifecycle): the first response is the
/// earliest of leaving OPEN and the first outbound interaction on the ticket.
fn cut_and_replay(history: &mut History, now: i64) {
    history.events.retain(|event| event.at <= now);
    history.events.sort_by_key(|event| event.at); // stable: same-instant events keep their order
    history.interactions.retain(|interaction| interaction.at <= now);
    history.interactions.sort_by_key(|interaction| interaction.at);
    history.ratings.retain(|rating| rating.submitted_at <= now);
    for rating in &mut history.ratings {
        rating.superseded_at = rating.superseded_at.filter(|at| *at <= now);
    }

    let ticket = &mut history.ticket;
    let mut left_open = None;
    for event in &history.events {
        match (event.kind, event.to) {
            (EventKind::Created | EventKind::Rated, _) => continue,
            (EventKind::Assigned, Value::Technician(tech)) => ticket.assignee = Some(tech),
            (EventKind::PriorityChanged, Value::Priority(priority)) => ticket.priority = priority,
            (EventKind::StatusChanged | EventKind::Reopened, Value::Status(to)) => {
                if ticket.status == TicketStatus::Open {
                    left_open.get_or_insert(event.at);
                }
                match to {
                    TicketStatus::Resolved => {
                        ticket.resolved_at = Some(event.at);
                        ticket.first_resolved_at.get_or_insert(event.at);
                    }
                    TicketStatus::Closed => ticket.closed_at = Some(event.at),
                    TicketStatus::InProgress if event.kind == EventKind::Reopened => {
                        ticket.resolved_at = None;
                        ticket.reopen_count += 1;
                    }
                    _ => {}
                }
                ticket.status = to;
            }
            _ => {}
        }
        ticket.version += 1;
        ticket.updated_at = ticket.updated_at.max(event.at);
    }
    let first_reply = history
        .interactions
        .iter()
        .find(|interaction| interaction.on_ticket && interaction.direction == Direction::Outbound)
        .map(|interaction| interaction.at);
    ticket.first_response_at = match (left_open, first_reply) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
}

/// The human ticket number, as `next_ticket_number()` in the migrations formats it.
pub fn ticket_number(n: i64) -> String {
    if n < 1_000_000 { format!("TS-{n:06}") } else { format!("TS-{n}") }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::domain::lifecycle::{LifecycleState, transition};

    fn now() -> i64 {
        Utc.with_ymd_and_hms(2026, 11, 27, 14, 30, 0).unwrap().timestamp()
    }

    fn histories(plan: &Plan) -> Vec<History> {
        let people = population(plan);
        let generator = Generator::new(plan, &people);
        let mut index = 0;
        let mut out = Vec::new();
        for (d, day) in calendar(plan).iter().enumerate() {
            for opened in opening_times(plan, d, day) {
                out.push(generator.ticket(index, opened, day.incident));
                index += 1;
            }
        }
        out
    }

    fn to_utc(at: Option<i64>) -> Option<chrono::DateTime<Utc>> {
        at.map(|at| Utc.timestamp_opt(at, 0).unwrap())
    }

    /// Checks one history against the migrations' CHECK constraints and the lifecycle rules.
    fn check(history: &History, now: i64) {
        let t = &history.ticket;
        let ctx = format!("ticket {}: {t:?}\n{:#?}", t.index, history.events);
        assert!(t.opened_at <= now, "{ctx}");
        for at in [t.first_response_at, t.first_resolved_at, t.resolved_at, t.closed_at].into_iter().flatten() {
            assert!(t.opened_at <= at && at <= now, "{ctx}");
        }
        match t.status {
            TicketStatus::Open | TicketStatus::InProgress => {
                assert!(t.resolved_at.is_none() && t.closed_at.is_none(), "{ctx}")
            }
            TicketStatus::Resolved => assert!(t.resolved_at.is_some() && t.closed_at.is_none(), "{ctx}"),
            TicketStatus::Closed => assert!(t.resolved_at.is_some() && t.closed_at.is_some(), "{ctx}"),
        }
        if let Some(resolved) = t.resolved_at {
            assert!(t.first_resolved_at.is_some_and(|first| first <= resolved), "{ctx}");
        }
        if let (Some(resolved), Some(closed)) = (t.resolved_at, t.closed_at) {
            assert!(closed >= resolved, "{ctx}");
        }
        assert!(t.reopen_count == 0 || t.first_resolved_at.is_some(), "{ctx}");

        // The event log replays through the domain's own lifecycle to the same state.
        let first = history.events.first().expect("every ticket has its CREATED event");
        assert_eq!(
            (first.kind, first.at, first.to),
            (EventKind::Created, t.opened_at, Value::Status(TicketStatus::Open))
        );
        assert!(history.events.windows(2).all(|w| w[0].at <= w[1].at), "{ctx}");
        let mut state = LifecycleState::opened();
        let mut assignee = None;
        for event in &history.events[1..] {
            assert!(event.at >= t.opened_at && event.at <= now, "{ctx}");
            match (event.kind, event.from, event.to) {
                (EventKind::StatusChanged | EventKind::Reopened, Value::Status(from), Value::Status(to)) => {
                    assert_eq!(from, state.status, "{ctx}");
                    let (next, kind) = transition(&state, to, Utc.timestamp_opt(event.at, 0).unwrap())
                        .unwrap_or_else(|err| panic!("{err}: {ctx}"));
                    assert_eq!(kind, event.kind, "{ctx}");
                    state = next;
                }
                (EventKind::Assigned, from, Value::Technician(to)) => {
                    assert_eq!(from, assignee.map_or(Value::None, Value::Technician), "{ctx}");
                    assignee = Some(to);
                }
                (EventKind::PriorityChanged, Value::Priority(_), Value::Priority(_)) => {}
                (EventKind::NoteAdded, Value::None, Value::None) => assert!(event.note.is_some(), "{ctx}"),
                (EventKind::Rated, _, Value::Rating(rating)) => assert!((1..=5).contains(&rating), "{ctx}"),
                other => panic!("unexpected event {other:?}: {ctx}"),
            }
        }
        assert_eq!(state.status, t.status, "{ctx}");
        assert_eq!(
            (state.first_resolved_at, state.resolved_at, state.closed_at, state.reopen_count),
            (to_utc(t.first_resolved_at), to_utc(t.resolved_at), to_utc(t.closed_at), t.reopen_count),
            "{ctx}"
        );
        assert_eq!(assignee, t.assignee, "{ctx}");
        let first_reply = history
            .interactions
            .iter()
            .filter(|i| i.on_ticket && i.direction == Direction::Outbound)
            .map(|i| i.at)
            .min();
        let expected = match (state.first_response_at.map(|at| at.timestamp()), first_reply) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        assert_eq!(t.first_response_at, expected, "{ctx}");

        for interaction in &history.interactions {
            assert!(interaction.at <= now, "{ctx}");
            assert!(!interaction.on_ticket || interaction.at >= t.opened_at, "{ctx}");
            if interaction.channel == InteractionChannel::Call {
                assert!(interaction.duration_seconds.is_some(), "{ctx}");
            }
            assert!(interaction.duration_seconds.is_none_or(|d| d >= 0), "{ctx}");
            assert!(!interaction.summary.trim().is_empty());
        }

        let current = history.ratings.iter().filter(|r| r.superseded_at.is_none()).count();
        assert!(current <= 1, "{ctx}");
        assert_eq!(current == 1, !history.ratings.is_empty(), "{ctx}");
        let rated = history.events.iter().filter(|e| e.kind == EventKind::Rated).count();
        assert_eq!(rated, history.ratings.len(), "{ctx}");
        for rating in &history.ratings {
            assert!((1..=5).contains(&rating.rating), "{ctx}");
            assert!(t.first_resolved_at.is_some_and(|first| rating.submitted_at > first), "{ctx}");
            assert!(rating.submitted_at <= now, "{ctx}");
            assert!(rating.superseded_at.is_none_or(|at| at >= rating.submitted_at && at <= now), "{ctx}");
        }
    }

    #[test]
    fn histories_keep_every_constraint_and_the_lifecycle() {
        let plan = Plan::sized(42, now(), 6_000, Some(24));
        let all = histories(&plan);
        assert_eq!(all.len(), 6_000);
        assert!(all.windows(2).all(|w| w[0].ticket.opened_at <= w[1].ticket.opened_at));
        for history in &all {
            check(history, plan.now);
        }
    }

    #[test]
    fn the_demo_set_keeps_every_constraint_too() {
        let plan = Plan::demo(7, now(), None);
        let all = histories(&plan);
        assert_eq!(all.len(), 400);
        for history in &all {
            check(history, plan.now);
        }
        let people = population(&plan);
        assert_eq!((people.technicians.len(), people.customers.len()), (6, 40));
        assert!(people.technicians.iter().all(|t| t.active));
        assert_eq!(people.technicians.iter().map(|t| t.team).collect::<HashSet<_>>().len(), 2);
    }

    #[test]
    fn generation_is_deterministic_for_a_seed() {
        let plan = Plan::sized(9, now(), 2_000, Some(6));
        assert_eq!(histories(&plan), histories(&plan));
        assert_eq!(population(&plan), population(&plan));
        let other = Plan { seed: 10, ..plan.clone() };
        assert_ne!(histories(&plan), histories(&other));
    }

    #[test]
    fn the_mix_looks_like_a_real_help_desk() {
        let plan = Plan::sized(1, now(), 20_000, Some(24));
        let all = histories(&plan);
        let share = |f: &dyn Fn(&History) -> bool, of: &[&History]| {
            of.iter().filter(|h| f(h)).count() as f64 / of.len().max(1) as f64
        };
        let every: Vec<&History> = all.iter().collect();
        let old: Vec<&History> = all.iter().filter(|h| h.ticket.opened_at < plan.now - 30 * DAY).collect();
        let recent: Vec<&History> = all.iter().filter(|h| h.ticket.opened_at > plan.now - DAY).collect();
        assert!(share(&|h| h.ticket.status == TicketStatus::Closed, &old) > 0.97);
        assert!(share(&|h| matches!(h.ticket.status, TicketStatus::Open | TicketStatus::InProgress), &recent) > 0.3);
        let resolved: Vec<&History> = all.iter().filter(|h| h.ticket.first_resolved_at.is_some()).collect();
        let reopened = share(&|h| h.ticket.reopen_count > 0, &resolved);
        assert!((0.04..0.10).contains(&reopened), "reopen share {reopened}");
        let rated = share(&|h| !h.ratings.is_empty(), &resolved);
        assert!((0.28..0.42).contains(&rated), "rated share {rated}");
        let ratings: Vec<u8> =
            all.iter().flat_map(|h| h.ratings.iter()).filter(|r| r.superseded_at.is_none()).map(|r| r.rating).collect();
        let mean = ratings.iter().map(|r| f64::from(*r)).sum::<f64>() / ratings.len() as f64;
        assert!((3.9..4.5).contains(&mean), "mean rating {mean}");
        let urgent = share(&|h| h.ticket.priority == Priority::Urgent, &every);
        assert!((0.06..0.12).contains(&urgent), "urgent share {urgent}");
        let unassigned = share(&|h| h.ticket.assignee.is_none(), &every);
        assert!((0.01..0.05).contains(&unassigned), "unassigned share {unassigned}");
        let weekend = share(&|h| (h.ticket.opened_at.div_euclid(DAY) + 3) % 7 >= 5, &every);
        assert!(weekend < 0.1, "weekend share {weekend}");
        // Teams are staffed to their volume: nobody carries several times a colleague's load.
        let mut per_technician = vec![0u32; plan.technicians];
        for history in &all {
            if let Some(tech) = history.ticket.assignee {
                per_technician[tech] += 1;
            }
        }
        per_technician.sort_unstable();
        let (median, busiest) = (per_technician[per_technician.len() / 2], per_technician[per_technician.len() - 1]);
        assert!(f64::from(busiest) < 2.5 * f64::from(median), "{per_technician:?}");
    }

    #[test]
    fn the_calendar_spreads_exactly_the_planned_tickets_up_to_now() {
        for tickets in [1, 400, 12_345] {
            let plan = Plan::sized(3, now(), tickets, Some(3));
            let days = calendar(&plan);
            assert_eq!(days.iter().map(|d| d.tickets).sum::<u64>(), tickets);
            for (d, day) in days.iter().enumerate() {
                let times = opening_times(&plan, d, day);
                assert!(times.iter().all(|t| *t >= day.start && *t <= plan.now));
            }
        }
    }

    #[test]
    fn ticket_numbers_match_the_migration() {
        assert_eq!(ticket_number(1), "TS-000001");
        assert_eq!(ticket_number(999_999), "TS-999999");
        assert_eq!(ticket_number(1_000_000), "TS-1000000");
    }

    #[test]
    fn business_hours_move_to_the_next_working_morning() {
        let friday_evening = Utc.with_ymd_and_hms(2026, 11, 27, 19, 0, 0).unwrap().timestamp();
        let monday_morning = Utc.with_ymd_and_hms(2026, 11, 30, 8, 0, 0).unwrap().timestamp();
        assert!(!in_business_hours(friday_evening));
        assert_eq!(next_business_start(friday_evening), monday_morning);
        let tuesday_noon = Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0).unwrap().timestamp();
        assert_eq!(next_business_start(tuesday_noon), tuesday_noon);
    }
}
