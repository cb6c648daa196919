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

    /// PostgreSQL statement_timeout for every pooled connection.
    #[arg(long = "statement-timeout", env = "DESKPULSE_STATEMENT_TIMEOUT", value_name = "DURATION",
          default_value = "30s", value_parser = parse_duration)]
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
