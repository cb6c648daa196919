//! `deskpulse retention ...`

use clap::Subcommand;

use super::{CLI_TRIGGER, RetentionRunStatus, RetentionSettings, run, summary};
use crate::config::DatabaseSettings;
use crate::db;
use crate::error::BoxError;

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
                run(&mut conn, &settings, CLI_TRIGGER, dry_run, chrono::Utc::now()).map_err(BoxError::from)
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
