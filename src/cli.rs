//! The `deskpulse` command line: one sub-command per job.

use std::time::Duration;

use chrono::NaiveDate;
use chrono_tz::Tz;
use clap::{Parser, Subcommand};

use crate::auth::{Role, TokenKeys};
use crate::config::{DatabaseSettings, JwtSettings, LogSettings, parse_duration};
use crate::db;
use crate::domain::limits::IMPORT_BATCH_MAX;
use crate::domain::report::{ReportKind, ReportPeriod};
use crate::error::BoxError;
use crate::schedule::parse_time_zone;
use crate::startup::{Application, ServeSettings};

#[derive(Parser, Debug)]
#[command(
    name = "deskpulse",
    version,
    about = "GraphQL back end for technical-support records and performance reporting",
    long_about = "GraphQL back end for technical-support records and performance reporting.\n\n\
                  Every setting can be given as a flag or as the environment variable shown beside it."
)]
pub struct Cli {
    #[command(flatten)]
    pub log: LogSettings,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the GraphQL API; pending migrations are applied at start-up.
    Serve(Box<ServeSettings>),
    /// Apply pending database migrations and exit.
    Migrate {
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Print a signed staff token, for scripts and tests.
    Token {
        /// The token's role.
        #[arg(long, value_enum)]
        role: Role,
        /// The token's subject: who the actions are recorded as.
        #[arg(long)]
        sub: String,
        /// The technician id the token acts as.
        #[arg(long)]
        technician: Option<i64>,
        /// How long the token is valid, e.g. 30m, 12h, 90days.
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        ttl: Duration,
        #[command(flatten)]
        jwt: JwtSettings,
    },
    /// Print the GraphQL schema (SDL) the server serves.
    ExportSchema,
    /// Load the demo data set, or a large realistic one with --tickets N; migrates first.
    Seed(crate::seed::SeedOptions),
    /// Import historical tickets from a CSV file (header: see docs/import.md), 1,000 per
    /// transaction, through the same code as the importTickets mutation. Re-running a file
    /// imports nothing twice.
    Import {
        /// The CSV file.
        file: std::path::PathBuf,
        /// Recorded as the actor of the imported events no technician is named for (the `_by`
        /// columns).
        #[arg(long, default_value = "import-cli")]
        actor: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Generate and read stored performance reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Check or rebuild the KPI fact rows the KPI engine reads (docs/kpis.md).
    #[command(subcommand)]
    Kpi(KpiCommand),
    /// Remove the records past their retention periods (docs/retention.md).
    Retention {
        #[command(subcommand)]
        command: crate::retention::RetentionCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum ReportCommand {
    /// Compute the report of one week or month and store it (a new version when the period has
    /// one already), as the generateReport mutation does; prints its id and version.
    Generate {
        /// week or month.
        #[arg(long, value_parser = parse_report_kind)]
        kind: ReportKind,
        /// The local date the period starts on: a Monday for a week, the 1st for a month.
        #[arg(long, value_name = "YYYY-MM-DD")]
        start: NaiveDate,
        /// The IANA time zone the period is cut in.
        #[arg(long, value_name = "ZONE", default_value = "UTC", value_parser = parse_time_zone)]
        time_zone: Tz,
        /// Recorded as the report's generatedBy.
        #[arg(long, default_value = "cli")]
        actor: String,
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Print a stored report: as JSON (GET /export/reports/ID.json), as long-format CSV
    /// (GET /export/reports/ID.csv), or as the report page in one self-contained HTML file that
    /// opens offline and prints (docs/ui.md).
    Show {
        id: i64,
        /// json, csv or html.
        #[arg(long = "format", id = "report_format", value_name = "FORMAT", value_enum, default_value_t = ReportFormat::Json)]
        format: ReportFormat,
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

/// What `report show` writes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportFormat {
    Json,
    Csv,
    Html,
}

#[derive(Subcommand, Debug)]
pub enum KpiCommand {
    /// Recompute every KPI fact row from the raw records and compare, and every fresh sealed
    /// block with its day's rows; exits 1 when any differs (and names up to ten), 0 when they
    /// all agree.
    Verify {
        #[command(flatten)]
        database: DatabaseSettings,
    },
    /// Rewrite every KPI fact row from the raw records, online: in id ranges, each its own
    /// short transaction, while the server keeps serving. Rows already right are left alone.
    /// Then reseal every day's block from the rows.
    Rebuild {
        /// Tickets (and interactions) per transaction.
        #[arg(long, default_value_t = 10_000)]
        batch_size: i64,
        #[command(flatten)]
        database: DatabaseSettings,
    },
}

fn parse_report_kind(value: &str) -> Result<ReportKind, String> {
    value.to_ascii_uppercase().parse().map_err(|_| format!("{value:?} is not week or month"))
}

pub async fn run(command: Command) -> Result<(), BoxError> {
    match command {
        Command::Serve(settings) => {
            let application = Application::build(&settings)?;
            tracing::info!(address = %settings.server.bind, port = application.port(), "deskpulse listening");
            if let Some(port) = application.metrics_port() {
                tracing::info!(address = %settings.server.metrics_bind, port, "metrics listening");
            }
            application.run_until_stopped().await?;
            tracing::info!("deskpulse stopped");
            Ok(())
        }
        Command::Migrate { database } => {
            let applied = tokio::task::spawn_blocking(move || {
                let mut conn = db::connect(database.url.expose())?;
                db::run_migrations(&mut conn)
            })
            .await??;
            if applied.is_empty() {
                println!("database schema is current");
            } else {
                for version in applied {
                    println!("applied {version}");
                }
            }
            Ok(())
        }
        Command::Token { role, sub, technician, ttl, jwt } => {
            if sub.trim().is_empty() {
                return Err("--sub must not be empty".into());
            }
            let keys = TokenKeys::from_settings(&jwt)?;
            println!("{}", keys.issue(&sub, role, technician, ttl)?);
            Ok(())
        }
        Command::ExportSchema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Command::Seed(options) => tokio::task::spawn_blocking(move || crate::seed::run(&options)).await?,
        Command::Report(ReportCommand::Generate { kind, start, time_zone, actor, database }) => {
            let actor = crate::domain::limits::required_text("--actor", &actor, crate::domain::limits::NAME_MAX)?;
            let period = ReportPeriod::starting(kind, start, time_zone)?;
            let report = tokio::task::spawn_blocking(move || -> Result<_, BoxError> {
                let mut conn = db::connect(database.url.expose())?;
                db::run_migrations(&mut conn)?;
                Ok(crate::store::reports::generate_on_demand(&mut conn, &period, &actor)?)
            })
            .await??;
            println!(
                "stored report {} (version {}) of the {} starting {start} in {time_zone}: {} to {}",
                report.id,
                report.version,
                kind.as_str().to_lowercase(),
                report.period_start.to_rfc3339(),
                report.period_end.to_rfc3339(),
            );
            Ok(())
        }
        Command::Report(ReportCommand::Show { id, format, output, database }) => {
            let text = match format {
                ReportFormat::Html => {
                    let document = crate::ui::report_document(&database, id, "cli").await?;
                    crate::ui::self_contained_page(&document)
                }
                ReportFormat::Json | ReportFormat::Csv => {
                    tokio::task::spawn_blocking(move || -> Result<String, BoxError> {
                        let mut conn = db::connect(database.url.expose())?;
                        let report = crate::store::reports::find(&mut conn, id)?;
                        if format == ReportFormat::Json {
                            Ok(format!("{}\n", serde_json::to_string_pretty(&crate::export::report_json(&report))?))
                        } else {
                            report_csv(&report)
                        }
                    })
                    .await??
                }
            };
            match output {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|err| format!("cannot write {}: {err}", path.display()))?
                }
                None => {
                    use std::io::Write;
                    std::io::stdout().write_all(text.as_bytes())?;
                }
            }
            Ok(())
        }
        Command::Import { file, actor, database } => {
            let summary = tokio::task::spawn_blocking(move || import_csv(&file, &actor, &database)).await??;
            println!("{summary}");
            Ok(())
        }
        Command::Kpi(KpiCommand::Verify { database }) => {
            let drift = tokio::task::spawn_blocking(move || -> Result<_, BoxError> {
                let mut conn = db::connect(database.url.expose())?;
                Ok(crate::store::kpi_facts::verify(&mut conn)?)
            })
            .await??;
            println!(
                "checked the facts of {} tickets, {} interactions without a ticket and {} sealed blocks",
                drift.tickets_checked, drift.loose_interactions_checked, drift.blocks.blocks_checked
            );
            if drift.is_clean() {
                println!("no drift: every KPI fact row agrees with the raw records");
                return Ok(());
            }
            println!("{} ticket fact rows drifted (tickets {:?})", drift.ticket_rows_drifted, drift.ticket_sample);
            println!("{} sealed blocks drifted (days {:?})", drift.blocks.blocks_drifted, drift.blocks.sample);
            println!(
                "{} interaction fact rows drifted (interactions {:?})",
                drift.loose_rows_drifted, drift.loose_sample
            );
            println!("run `deskpulse kpi rebuild` to rewrite them");
            std::process::exit(1);
        }
        Command::Kpi(KpiCommand::Rebuild { batch_size, database }) => {
            let started = std::time::Instant::now();
            let rebuilt = tokio::task::spawn_blocking(move || -> Result<_, BoxError> {
                let mut conn = db::connect(database.url.expose())?;
                Ok(crate::store::kpi_facts::rebuild(&mut conn, batch_size, |batches, up_to| {
                    if batches.is_multiple_of(20) {
                        println!("  rebuilt the facts of tickets up to id {up_to}");
                    }
                })?)
            })
            .await??;
            println!(
                "rebuilt the KPI fact rows of tickets {} to {} in {} batches and resealed {} days ({:.1}s)",
                rebuilt.ticket_ids.0,
                rebuilt.ticket_ids.1,
                rebuilt.batches,
                rebuilt.blocks_sealed,
                started.elapsed().as_secs_f64()
            );
            Ok(())
        }
        Command::Retention { command } => crate::retention::run_command(command).await,
    }
}

/// A stored report as the CSV that GET /export/reports/ID.csv serves.
fn report_csv(report: &crate::models::PerformanceReport) -> Result<String, BoxError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(crate::export::REPORT_COLUMNS)?;
    for record in crate::export::report_records(report)? {
        writer.write_record(&record)?;
    }
    Ok(String::from_utf8(writer.into_inner().map_err(|err| err.to_string())?)?)
}

/// Reads `file` in batches of [`IMPORT_BATCH_MAX`] rows, each imported in its own transaction.
fn import_csv(file: &std::path::Path, actor: &str, database: &DatabaseSettings) -> Result<String, BoxError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::Headers)
        .from_path(file)
        .map_err(|err| format!("cannot read {}: {err}", file.display()))?;
    let headers = reader.headers()?.clone();
    let missing: Vec<&str> =
        crate::import::CSV_COLUMNS.iter().copied().filter(|column| !headers.iter().any(|h| h == *column)).collect();
    if !missing.is_empty() {
        return Err(format!("{}: the header lacks the columns {}", file.display(), missing.join(", ")).into());
    }
    let mut conn = db::connect(database.url.expose())?;
    let (mut created, mut skipped) = (0usize, 0usize);
    let mut batch = Vec::with_capacity(IMPORT_BATCH_MAX);
    let mut first_line = 2;
    let mut rows = reader.deserialize::<crate::import::CsvRow>();
    loop {
        let next = rows.next();
        if let Some(row) = next.as_ref() {
            let line = first_line + batch.len() as u64;
            let row = row.as_ref().map_err(|err| format!("line {line}: {err}"))?;
            batch.push(row.clone().into_record(line).map_err(|err| format!("{}: {err}", file.display()))?);
        }
        if batch.len() == IMPORT_BATCH_MAX || (next.is_none() && !batch.is_empty()) {
            let lines = format!("lines {first_line}-{}", first_line + batch.len() as u64 - 1);
            let rows =
                crate::import::validate_batch(std::mem::take(&mut batch)).map_err(|err| format!("{lines}: {err}"))?;
            let outcomes = crate::store::import::import_batch(&mut conn, rows, actor, chrono::Utc::now())
                .map_err(|err| format!("{lines}: {err} (nothing of these lines was imported)"))?;
            for outcome in outcomes {
                match outcome {
                    crate::store::import::RowOutcome::Created(_) => created += 1,
                    crate::store::import::RowOutcome::AlreadyImported(_) => skipped += 1,
                }
            }
            first_line += IMPORT_BATCH_MAX as u64;
        }
        if next.is_none() {
            break;
        }
    }
    Ok(format!("imported {created} tickets; {skipped} were imported before and left unchanged"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// clap checks a command's definition (unique argument names, say) only when it is built.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
