use std::process::ExitCode;

use clap::Parser;
use deskpulse::cli::{Cli, run};
use deskpulse::telemetry;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = telemetry::init(&cli.log) {
        eprintln!("deskpulse: {err}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("deskpulse: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deskpulse: {err}");
            ExitCode::FAILURE
        }
    }
}
