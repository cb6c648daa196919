use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use deskpulse::cli::{Cli, run};
use deskpulse::telemetry;

// The server allocates a little per field and row of every answer; mimalloc's per-thread free
// lists make that cheaper than glibc's malloc (see docs/benchmarks.md, ninth session). It is
// built with `no_thp`: asking for transparent huge pages backs its arenas in 2 MiB steps, which
// took the loaded server from 65 to 160 MB of RSS for no measurable speed.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long the process waits for blocking work after the server has stopped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

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
    let outcome = runtime.block_on(run(cli.command));
    // Blocking work still running (one retention batch, say) gets this long to end; dropping the
    // runtime instead would wait for it without a limit.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("deskpulse: {err}");
            ExitCode::FAILURE
        }
    }
}
