//! Logging through `tracing`, to standard error so that commands printing to standard output
//! (`token`, `export-schema`) stay clean.

use tracing_subscriber::EnvFilter;

use crate::config::{ConfigError, LogFormat, LogSettings};

pub fn init(settings: &LogSettings) -> Result<(), ConfigError> {
    let filter = EnvFilter::try_new(&settings.filter)
        .map_err(|err| ConfigError::new("DESKPULSE_LOG", format!("not a valid log filter: {err}")))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let installed = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    // A second init (several tests in one process) keeps the first subscriber.
    drop(installed);
    Ok(())
}
