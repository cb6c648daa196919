//! Typed settings, read from environment variables and command-line flags (flags win).
//!
//! Every setting is validated when the process starts: a bad or missing one stops it with a message
//! that names the setting. Secrets never print, not even in `Debug` output.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// A value that must never reach a log line or an error message.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Secret(value.to_owned()))
    }
}

/// A setting that could not be used, named the way an operator sets it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {setting}: {reason}")]
pub struct ConfigError {
    pub setting: &'static str,
    pub reason: String,
}

impl ConfigError {
    pub fn new(setting: &'static str, reason: impl Into<String>) -> Self {
        ConfigError { setting, reason: reason.into() }
    }
}

/// Parses human durations such as `30s`, `500ms`, `12h` or `7days`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    humantime::parse_duration(value).map_err(|err| format!("{err} (examples: 30s, 500ms, 12h)"))
}

#[derive(Args, Debug, Clone)]
pub struct DatabaseSettings {
    /// PostgreSQL connection URL (PostgreSQL 13 or newer).
    #[arg(long = "database-url", env = "DATABASE_URL", value_name = "DATABASE_URL", hide_env_values = true)]
    pub url: Secret,

    /// Largest number of pooled database connections.
    #[arg(long = "db-pool-size", env = "DESKPULSE_DB_POOL_SIZE", value_name = "N", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=500))]
    pub pool_size: u32,

    /// How long a request waits for a free pooled connection before it fails.
    #[arg(long = "db-pool-timeout", env = "DESKPULSE_DB_POOL_TIMEOUT", value_name = "DURATION",
          default_value = "5s", value_parser = parse_duration)]
    pub pool_timeout: Duration,

    /// PostgreSQL statement_timeout for every pooled connection. Keep it below the request timeout,
    /// so that a statement is cancelled in the database before its request gives up on it.
    #[arg(long = "statement-timeout", env = "DESKPULSE_STATEMENT_TIMEOUT", value_name = "DURATION",
          default_value = "20s", value_parser = parse_duration)]
    pub statement_timeout: Duration,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
#[value(rename_all = "UPPER")]
pub enum JwtAlgorithm {
    HS256,
    RS256,
}

#[derive(Args, Debug, Clone, Default)]
pub struct JwtSettings {
    /// The only signature algorithm accepted. Defaults to HS256 when only a secret is configured and
    /// to RS256 when only key files are; it must be given when both are.
    #[arg(long = "jwt-algorithm", env = "DESKPULSE_JWT_ALGORITHM", value_name = "ALG", ignore_case = true)]
    pub algorithm: Option<JwtAlgorithm>,

    /// HS256 shared secret, at least 32 bytes.
    #[arg(long = "jwt-secret", env = "DESKPULSE_JWT_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub secret: Option<Secret>,

    /// RS256 public key (PEM file) that verifies tokens.
    #[arg(long = "jwt-public-key", env = "DESKPULSE_JWT_PUBLIC_KEY", value_name = "PEM_FILE")]
    pub public_key: Option<PathBuf>,

    /// RS256 private key (PEM file) that signs tokens (`deskpulse token`, survey links).
    #[arg(long = "jwt-private-key", env = "DESKPULSE_JWT_PRIVATE_KEY", value_name = "PEM_FILE")]
    pub private_key: Option<PathBuf>,

    /// Expected `iss` claim; when set, tokens without it are refused.
    #[arg(long = "jwt-issuer", env = "DESKPULSE_JWT_ISSUER", value_name = "ISSUER")]
    pub issuer: Option<String>,

    /// Expected `aud` claim; when set, tokens without it are refused.
    #[arg(long = "jwt-audience", env = "DESKPULSE_JWT_AUDIENCE", value_name = "AUDIENCE")]
    pub audience: Option<String>,
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`) for boolean settings.
pub fn parse_bool(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

#[derive(Args, Debug, Clone)]
pub struct ServerSettings {
    /// Address and port the HTTP server listens on.
    #[arg(long = "bind", env = "DESKPULSE_BIND", value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Serve the GraphiQL IDE at GET /graphiql.
    #[arg(long = "graphiql", env = "DESKPULSE_GRAPHIQL", value_name = "BOOL", default_value = "true",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub graphiql: bool,

    /// Largest accepted request body, in bytes.
    #[arg(long = "max-body-bytes", env = "DESKPULSE_MAX_BODY_BYTES", value_name = "BYTES",
          default_value_t = 1_048_576, value_parser = clap::value_parser!(u64).range(1024..=104_857_600))]
    pub max_body_bytes: u64,

    /// Add an `X-Db-Statements` header to GraphQL responses with the number of SQL statements the
    /// operation ran (for finding N+1 queries from a frontend).
    #[arg(long = "expose-statement-count", env = "DESKPULSE_EXPOSE_STATEMENT_COUNT", value_name = "BOOL",
          default_value = "false", value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub expose_statement_count: bool,

    /// How long a satisfaction survey link stays valid.
    #[arg(long = "survey-token-ttl", env = "DESKPULSE_SURVEY_TOKEN_TTL", value_name = "DURATION",
          default_value = "14days", value_parser = parse_duration)]
    pub survey_token_ttl: Duration,

    /// HTTP worker threads (default: one per core).
    #[arg(long = "workers", env = "DESKPULSE_WORKERS", value_name = "N",
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: Option<u16>,

    /// Serve Prometheus metrics at GET /metrics on the metrics listener (`--metrics-bind`).
    #[arg(long = "metrics", env = "DESKPULSE_METRICS", value_name = "BOOL", default_value = "true",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub metrics: bool,

    /// Address and port of the metrics listener, which serves GET /metrics and nothing else,
    /// without authentication: keep it on loopback or a private network only Prometheus reaches.
    #[arg(
        long = "metrics-bind",
        env = "DESKPULSE_METRICS_BIND",
        value_name = "ADDR",
        default_value = "127.0.0.1:9464"
    )]
    pub metrics_bind: SocketAddr,

    /// Most `submitSatisfaction` requests without a staff token from one client address (an IPv6
    /// client counts by its /64), as `COUNT/PERIOD`: the whole budget at once, then one more every
    /// PERIOD/COUNT.
    #[arg(
        long = "survey-rate-per-address",
        env = "DESKPULSE_SURVEY_RATE_PER_ADDRESS",
        value_name = "COUNT/PERIOD",
        default_value = "30/1m"
    )]
    pub survey_rate_per_address: RateLimit,

    /// Most submissions through one survey link (one token), as `COUNT/PERIOD`.
    #[arg(
        long = "survey-rate-per-link",
        env = "DESKPULSE_SURVEY_RATE_PER_LINK",
        value_name = "COUNT/PERIOD",
        default_value = "5/1h"
    )]
    pub survey_rate_per_link: RateLimit,
}

/// A rate: at most `count` events per `period`, e.g. `30/1m` or `5/1h`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub count: std::num::NonZeroU32,
    pub period: Duration,
}

/// Most events a rate may allow per period; beyond it a limit protects nothing.
const RATE_COUNT_MAX: u32 = 1_000_000;

impl FromStr for RateLimit {
    type Err = String;
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let shape = "expected COUNT/PERIOD, e.g. 30/1m or 5/1h";
        let (count, period) = value.split_once('/').ok_or_else(|| shape.to_owned())?;
        let count: u32 = count.trim().parse().map_err(|_| format!("{shape}: the count is not a whole number"))?;
        let count = std::num::NonZeroU32::new(count)
            .filter(|count| count.get() <= RATE_COUNT_MAX)
            .ok_or_else(|| format!("the count must be 1 to {RATE_COUNT_MAX}"))?;
        let period = parse_duration(period.trim())?;
        if period < Duration::from_secs(1) || period > Duration::from_secs(7 * 86_400) {
            return Err("the period must be 1s to 7days".into());
        }
        Ok(RateLimit { count, period })
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} per {}", self.count, humantime::format_duration(self.period))
    }
}

/// The bounds every GraphQL request is held to. The README's "Limits" table lists them; the
/// defaults are the constants below, shared by the command line and [`LimitSettings::default`].
#[derive(Args, Debug, Clone, PartialEq, Eq)]
pub struct LimitSettings {
    /// Longest a GraphQL request may run before it is answered with a TIMEOUT error.
    #[arg(long = "request-timeout", env = "DESKPULSE_REQUEST_TIMEOUT", value_name = "DURATION",
          default_value = DEFAULT_REQUEST_TIMEOUT, value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Deepest selection nesting a query may use.
    #[arg(long = "max-query-depth", env = "DESKPULSE_MAX_QUERY_DEPTH", value_name = "N",
          default_value_t = DEFAULT_MAX_DEPTH, value_parser = clap::value_parser!(u32).range(2..=64))]
    pub max_depth: u32,

    /// Largest estimated cost of a query: each field costs 1, a list field its page size times
    /// its selection, a KPI field the aggregation it runs.
    #[arg(long = "max-query-complexity", env = "DESKPULSE_MAX_QUERY_COMPLEXITY", value_name = "N",
          default_value_t = DEFAULT_MAX_COMPLEXITY, value_parser = clap::value_parser!(u32).range(100..=10_000_000))]
    pub max_complexity: u32,

    /// Most fields an operation may select, counted after fragments are expanded.
    #[arg(long = "max-query-fields", env = "DESKPULSE_MAX_QUERY_FIELDS", value_name = "N",
          default_value_t = DEFAULT_MAX_FIELDS, value_parser = clap::value_parser!(u32).range(10..=100_000))]
    pub max_fields: u32,

    /// Most aliased fields an operation may hold (after fragment expansion).
    #[arg(long = "max-query-aliases", env = "DESKPULSE_MAX_QUERY_ALIASES", value_name = "N",
          default_value_t = DEFAULT_MAX_ALIASES, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub max_aliases: u32,

    /// Most fields an operation may select at its root.
    #[arg(long = "max-root-fields", env = "DESKPULSE_MAX_ROOT_FIELDS", value_name = "N",
          default_value_t = DEFAULT_MAX_ROOT_FIELDS, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub max_root_fields: u32,

    /// Most directives (`@include`, `@skip`, ...) an operation may use (after fragment expansion).
    #[arg(long = "max-query-directives", env = "DESKPULSE_MAX_QUERY_DIRECTIVES", value_name = "N",
          default_value_t = DEFAULT_MAX_DIRECTIVES, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub max_directives: u32,

    /// Answer introspection (`__schema`, `__type`) to authenticated staff. `false` refuses it to
    /// everyone; anonymous callers never get it.
    #[arg(long = "introspection", env = "DESKPULSE_INTROSPECTION", value_name = "BOOL", default_value = "true",
          value_parser = parse_bool, action = clap::ArgAction::Set)]
    pub introspection: bool,

    /// Most CSV exports streaming at once; each holds a pooled connection while it runs, so keep
    /// it below the pool size. Beyond it, an export answers 503 at once.
    #[arg(long = "max-concurrent-exports", env = "DESKPULSE_MAX_CONCURRENT_EXPORTS", value_name = "N",
          default_value_t = DEFAULT_MAX_CONCURRENT_EXPORTS, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_concurrent_exports: u32,

    /// How long an export waits for a client that stops reading before it gives up and frees
    /// its connection.
    #[arg(long = "export-stall-timeout", env = "DESKPULSE_EXPORT_STALL_TIMEOUT", value_name = "DURATION",
          default_value = "60s", value_parser = parse_duration)]
    pub export_stall_timeout: Duration,
}

pub const DEFAULT_MAX_CONCURRENT_EXPORTS: u32 = 2;
pub const DEFAULT_REQUEST_TIMEOUT: &str = "30s";
pub const DEFAULT_MAX_DEPTH: u32 = 16;
pub const DEFAULT_MAX_COMPLEXITY: u32 = 20_000;
pub const DEFAULT_MAX_FIELDS: u32 = 1_000;
pub const DEFAULT_MAX_ALIASES: u32 = 30;
pub const DEFAULT_MAX_ROOT_FIELDS: u32 = 20;
pub const DEFAULT_MAX_DIRECTIVES: u32 = 30;

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            request_timeout: Duration::from_secs(30),
            max_depth: DEFAULT_MAX_DEPTH,
            max_complexity: DEFAULT_MAX_COMPLEXITY,
            max_fields: DEFAULT_MAX_FIELDS,
            max_aliases: DEFAULT_MAX_ALIASES,
            max_root_fields: DEFAULT_MAX_ROOT_FIELDS,
            max_directives: DEFAULT_MAX_DIRECTIVES,
            introspection: true,
            max_concurrent_exports: DEFAULT_MAX_CONCURRENT_EXPORTS,
            export_stall_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Args, Debug, Clone)]
pub struct LogSettings {
    /// Log filter in tracing's EnvFilter syntax, e.g. `info` or `deskpulse=debug,info`.
    #[arg(long = "log", env = "DESKPULSE_LOG", value_name = "FILTER", default_value = "info", global = true)]
    pub filter: String,

    /// Log line format.
    #[arg(
        long = "log-format",
        env = "DESKPULSE_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text",
        global = true
    )]
    pub format: LogFormat,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Limits {
        #[command(flatten)]
        limits: LimitSettings,
    }

    #[test]
    fn rates_read_as_count_per_period() {
        let rate: RateLimit = "30/1m".parse().unwrap();
        assert_eq!((rate.count.get(), rate.period), (30, Duration::from_secs(60)));
        assert_eq!(rate.to_string(), "30 per 1m");
        assert_eq!(" 5 / 1h ".parse::<RateLimit>().unwrap().to_string(), "5 per 1h");
        for bad in ["30", "0/1m", "-1/1m", "x/1m", "30/0s", "30/500ms", "30/30days", "2000000/1m", "30/soon"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_default_limits_are_the_command_lines_defaults() {
        let parsed = Limits::try_parse_from(["deskpulse"]).unwrap();
        assert_eq!(parsed.limits, LimitSettings::default());
    }
}
