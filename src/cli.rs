//! The `deskpulse` command line: one sub-command per job.

use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::auth::{Role, TokenKeys};
use crate::config::{DatabaseSettings, JwtSettings, LogSettings, parse_duration};
use crate::db;
use crate::error::BoxError;
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
    Serve(ServeSettings),
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
}

pub async fn run(command: Command) -> Result<(), BoxError> {
    match command {
        Command::Serve(settings) => {
            let application = Application::build(&settings)?;
            tracing::info!(address = %settings.server.bind, port = application.port(), "deskpulse listening");
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
    }
}
