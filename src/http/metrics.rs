//! Prometheus metrics, kept in memory and rendered in the text exposition format at GET /metrics:
//! GraphQL requests and their latency by operation name, errors by code, HTTP responses by route
//! and status, and the database pool's connections.
//!
//! Operation names come from clients, so they are bounded before they become label values: a
//! name must look like a GraphQL name of at most 64 characters, and only the first
//! [`MAX_OPERATION_NAMES`] distinct ones get their own series; the rest count as `(other)`. The
//! fixed labels are in parentheses, which no GraphQL name can hold.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the latency histogram's buckets.
const LATENCY_BUCKETS: [f64; 13] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// Most operation names with a series of their own.
pub const MAX_OPERATION_NAMES: usize = 100;
const MAX_LABEL_LENGTH: usize = 64;

/// The label of an operation without a name.
pub const ANONYMOUS: &str = "(anonymous)";
/// The label of operation names beyond the bound or not shaped like a name.
pub const OTHER: &str = "(other)";
/// The label of requests refused before they were read as GraphQL (wrong content type,
/// malformed JSON, batches, oversized bodies).
pub const INVALID: &str = "(invalid)";

/// What a GraphQL request is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperationLabel<'a> {
    Named(&'a str),
    Anonymous,
    Invalid,
}

/// The database pool at the moment of a scrape.
#[derive(Debug, Clone, Copy)]
pub struct PoolUsage {
    pub max_size: u32,
    pub connections: u32,
    pub idle: u32,
}

#[derive(Default)]
struct Latencies {
    count: u64,
    sum_seconds: f64,
    /// Per bucket, the requests at or below its bound (not yet cumulative).
    buckets: [u64; LATENCY_BUCKETS.len()],
}

#[derive(Default)]
struct Recorded {
    operations: BTreeMap<String, Latencies>,
    /// How many of `operations` are client-given names.
    named_operations: usize,
    errors: BTreeMap<String, u64>,
    http: BTreeMap<(String, u16), u64>,
}

#[derive(Default)]
pub struct Metrics {
    recorded: Mutex<Recorded>,
}

/// A client-given value fit to be a label: a GraphQL name of bounded length.
fn is_label_safe(value: &str) -> bool {
    let mut chars = value.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && value.len() <= MAX_LABEL_LENGTH
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Metrics {
    fn recorded(&self) -> std::sync::MutexGuard<'_, Recorded> {
        // A panic while holding the lock leaves counters that are still worth reporting.
        self.recorded.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts one GraphQL request: its latency under its operation, and each of its errors.
    pub fn record_graphql<'a>(
        &self,
        operation: OperationLabel<'_>,
        elapsed: Duration,
        error_codes: impl IntoIterator<Item = &'a str>,
    ) {
        let mut recorded = self.recorded();
        let label = match operation {
            OperationLabel::Named(name) if is_label_safe(name) && recorded.operations.contains_key(name) => name,
            OperationLabel::Named(name) if is_label_safe(name) && recorded.named_operations < MAX_OPERATION_NAMES => {
                recorded.named_operations += 1;
                name
            }
            OperationLabel::Named(_) => OTHER,
            OperationLabel::Anonymous => ANONYMOUS,
            OperationLabel::Invalid => INVALID,
        };
        let latencies = recorded.operations.entry(label.to_owned()).or_default();
        let seconds = elapsed.as_secs_f64();
        latencies.count += 1;
        latencies.sum_seconds += seconds;
        if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
            latencies.buckets[bucket] += 1;
        }
        for code in error_codes {
            let code = if is_label_safe(code) { code } else { OTHER };
            *recorded.errors.entry(code.to_owned()).or_default() += 1;
        }
    }

    /// Counts one HTTP response. `route` is the matched route pattern, never the raw path.
    pub fn record_http(&self, route: &str, status: u16) {
        *self.recorded().http.entry((route.to_owned(), status)).or_default() += 1;
    }

    /// Everything in Prometheus's text format.
    pub fn render(&self, pool: PoolUsage) -> String {
        let recorded = self.recorded();
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = render_into(&mut out, &recorded, pool);
        out
    }
}

fn render_into(out: &mut String, recorded: &Recorded, pool: PoolUsage) -> std::fmt::Result {
    writeln!(out, "# HELP deskpulse_build_info The running version.")?;
    writeln!(out, "# TYPE deskpulse_build_info gauge")?;
    writeln!(out, "deskpulse_build_info{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))?;

    writeln!(out, "# HELP deskpulse_graphql_requests_total GraphQL requests by operation name.")?;
    writeln!(out, "# TYPE deskpulse_graphql_requests_total counter")?;
    for (operation, latencies) in &recorded.operations {
        writeln!(out, "deskpulse_graphql_requests_total{{operation=\"{operation}\"}} {}", latencies.count)?;
    }

    writeln!(out, "# HELP deskpulse_graphql_request_duration_seconds Time to answer a GraphQL request.")?;
    writeln!(out, "# TYPE deskpulse_graphql_request_duration_seconds histogram")?;
    for (operation, latencies) in &recorded.operations {
        let mut cumulative = 0;
        for (bound, count) in LATENCY_BUCKETS.iter().zip(latencies.buckets) {
            cumulative += count;
            writeln!(
                out,
                "deskpulse_graphql_request_duration_seconds_bucket{{operation=\"{operation}\",le=\"{bound}\"}} {cumulative}"
            )?;
        }
        let name = "deskpulse_graphql_request_duration_seconds";
        writeln!(out, "{name}_bucket{{operation=\"{operation}\",le=\"+Inf\"}} {}", latencies.count)?;
        writeln!(out, "{name}_sum{{operation=\"{operation}\"}} {}", latencies.sum_seconds)?;
        writeln!(out, "{name}_count{{operation=\"{operation}\"}} {}", latencies.count)?;
    }

    writeln!(out, "# HELP deskpulse_graphql_errors_total GraphQL errors answered, by extensions.code.")?;
    writeln!(out, "# TYPE deskpulse_graphql_errors_total counter")?;
    for (code, count) in &recorded.errors {
        writeln!(out, "deskpulse_graphql_errors_total{{code=\"{code}\"}} {count}")?;
    }

    writeln!(out, "# HELP deskpulse_http_responses_total HTTP responses by route and status.")?;
    writeln!(out, "# TYPE deskpulse_http_responses_total counter")?;
    for ((route, status), count) in &recorded.http {
        writeln!(out, "deskpulse_http_responses_total{{route=\"{route}\",status=\"{status}\"}} {count}")?;
    }

    writeln!(out, "# HELP deskpulse_db_pool_connections Pooled database connections by state.")?;
    writeln!(out, "# TYPE deskpulse_db_pool_connections gauge")?;
    let in_use = pool.connections.saturating_sub(pool.idle);
    writeln!(out, "deskpulse_db_pool_connections{{state=\"idle\"}} {}", pool.idle)?;
    writeln!(out, "deskpulse_db_pool_connections{{state=\"in_use\"}} {in_use}")?;
    writeln!(out, "# HELP deskpulse_db_pool_max_connections The pool's size limit.")?;
    writeln!(out, "# TYPE deskpulse_db_pool_max_connections gauge")?;
    writeln!(out, "deskpulse_db_pool_max_connections {}", pool.max_size)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const POOL: PoolUsage = PoolUsage { max_size: 10, connections: 3, idle: 1 };

    #[test]
    fn latencies_fall_into_cumulative_buckets_and_errors_count_by_code() {
        let metrics = Metrics::default();
        metrics.record_graphql(OperationLabel::Named("Dashboard"), Duration::from_millis(3), ["FORBIDDEN"]);
        metrics.record_graphql(OperationLabel::Named("Dashboard"), Duration::from_millis(700), []);
        metrics.record_graphql(OperationLabel::Anonymous, Duration::from_secs(90), ["TIMEOUT", "FORBIDDEN"]);
        let text = metrics.render(POOL);
        for line in [
            "deskpulse_graphql_requests_total{operation=\"Dashboard\"} 2",
            "deskpulse_graphql_request_duration_seconds_bucket{operation=\"Dashboard\",le=\"0.005\"} 1",
            "deskpulse_graphql_request_duration_seconds_bucket{operation=\"Dashboard\",le=\"0.5\"} 1",
            "deskpulse_graphql_request_duration_seconds_bucket{operation=\"Dashboard\",le=\"1\"} 2",
            "deskpulse_graphql_request_duration_seconds_bucket{operation=\"(anonymous)\",le=\"60\"} 0",
            "deskpulse_graphql_request_duration_seconds_bucket{operation=\"(anonymous)\",le=\"+Inf\"} 1",
            "deskpulse_graphql_request_duration_seconds_count{operation=\"(anonymous)\"} 1",
            "deskpulse_graphql_errors_total{code=\"FORBIDDEN\"} 2",
            "deskpulse_graphql_errors_total{code=\"TIMEOUT\"} 1",
            "deskpulse_db_pool_connections{state=\"in_use\"} 2",
            "deskpulse_db_pool_max_connections 10",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
    }

    #[test]
    fn operation_names_are_bounded_in_shape_and_number() {
        let metrics = Metrics::default();
        for name in ["bad name\"} 1\n", "9starts_with_a_digit", &"x".repeat(65)] {
            metrics.record_graphql(OperationLabel::Named(name), Duration::ZERO, []);
        }
        for n in 0..MAX_OPERATION_NAMES + 10 {
            metrics.record_graphql(OperationLabel::Named(&format!("Op{n}")), Duration::ZERO, []);
        }
        let text = metrics.render(POOL);
        let series = text.lines().filter(|l| l.starts_with("deskpulse_graphql_requests_total{")).count();
        assert_eq!(series, MAX_OPERATION_NAMES + 1, "the bound plus `other`");
        assert!(text.contains("deskpulse_graphql_requests_total{operation=\"(other)\"} 13"), "{text}");
    }
}
