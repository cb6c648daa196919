//! `deskpulse retention ...`

use chrono::{DateTime, Utc};
use clap::Subcommand;

use super::{CLI_TRIGGER, RetentionRunStatus, RetentionSettings, run};
use crate::config::DatabaseSettings;
use crate::db;
use crate::error::BoxError;
use crate::models::RetentionRun;

#[derive(Subcommand, Debug)]
pub enum RetentionCommand {
    /// Remove every record past its retention period, in batches of --retention-batch-size, each
    /// batch its own transaction; with --dry-run, only count them. The run is recorded (see
    /// retentionRuns) and its counts per record kind are printed. Refused while another run is in
    /// progress.
    Run {
        /// Count what would be removed; remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        database: DatabaseSettings,
        #[command(flatten)]
        settings: RetentionSettings,
    },
}

pub async fn run_command(command: RetentionCommand) -> Result<(), BoxError> {
    match command {
        RetentionCommand::Run { dry_run, settings, database } => {
            let finished = tokio::task::spawn_blocking(move || {
                // A connection of its own: the run's lock lives in its session.
                let mut conn = db::connect(database.url.expose())?;
                run(&mut conn, &settings, CLI_TRIGGER, dry_run, Utc::now()).map_err(BoxError::from)
            })
            .await??;
            print!("{}", summary(&finished));
            if finished.status == RetentionRunStatus::Failed {
                return Err(
                    format!("retention run {} failed (what it removed before is counted above)", finished.id).into()
                );
            }
            Ok(())
        }
    }
}

/// What `deskpulse retention run` prints: the run, its cut-offs and its counts.
fn summary(run: &RetentionRun) -> String {
    let heading = if run.dry_run { "would remove" } else { "removed" };
    let at = |instant: DateTime<Utc>| instant.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut text = format!(
        "retention run {} ({}, started {}): {}\n",
        run.id,
        if run.dry_run { "dry run: nothing was removed" } else { "records were removed" },
        at(run.started_at),
        run.status
    );
    let rows = [
        ("tickets", format!("closed before {}", at(run.tickets_closed_before)), run.tickets_removed),
        ("ticket events", "of those tickets".to_owned(), run.ticket_events_removed),
        ("satisfaction ratings", "of those tickets".to_owned(), run.ratings_removed),
        (
            "interactions",
            format!("before {}, or of those tickets", at(run.interactions_before)),
            run.interactions_removed,
        ),
        ("performance reports", format!("generated before {}", at(run.reports_generated_before)), run.reports_removed),
        (
            "improvement actions",
            format!("ended before {}", at(run.actions_ended_before)),
            run.improvement_actions_removed,
        ),
    ];
    text.push_str(&format!("{:<22}{:<52}{heading}\n", "record", "expired when"));
    for (kind, rule, count) in rows {
        text.push_str(&format!("{kind:<22}{rule:<52}{count}\n"));
    }
    if let Some(error) = &run.error {
        text.push_str(&format!("error: {error}\n"));
    }
    text
}
