//! The command line: tokens for scripts, refused settings.

use std::process::Command;

use serde_json::json;

use crate::helpers::{TEST_SECRET, spawn_app};

fn deskpulse() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_deskpulse"));
    for variable in ["DATABASE_URL", "DESKPULSE_JWT_SECRET", "DESKPULSE_JWT_PUBLIC_KEY", "DESKPULSE_JWT_PRIVATE_KEY"] {
        command.env_remove(variable);
    }
    command
}

#[tokio::test]
async fn a_token_printed_by_the_cli_is_accepted_by_the_server() {
    let app = spawn_app().await;
    let output = deskpulse()
        .args(["token", "--role", "SUPERVISOR", "--sub", "report-bot", "--technician", "12", "--ttl", "10m"])
        .env("DESKPULSE_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let token = String::from_utf8(output.stdout).unwrap();
    let data = app.query_ok(token.trim(), "{ me { subject role technicianId } }", json!({})).await;
    assert_eq!(data["me"], json!({ "subject": "report-bot", "role": "SUPERVISOR", "technicianId": "12" }));
}

#[test]
fn a_short_secret_is_refused_at_start_up_naming_the_setting() {
    let output = deskpulse()
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("DESKPULSE_JWT_SECRET", "too-short")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DESKPULSE_JWT_SECRET") && stderr.contains("32 bytes"), "{stderr}");
}

#[test]
fn a_missing_database_url_or_a_bad_value_is_refused_naming_the_setting() {
    let output = deskpulse().args(["serve"]).env("DESKPULSE_JWT_SECRET", TEST_SECRET).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("DATABASE_URL"));

    let output = deskpulse()
        .args(["serve"])
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .env("DESKPULSE_JWT_SECRET", TEST_SECRET)
        .env("DESKPULSE_DB_POOL_SIZE", "many")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("pool-size") && stderr.contains("many"), "{stderr}");

    let output = deskpulse()
        .args(["token", "--role", "ROOT", "--sub", "x"])
        .env("DESKPULSE_JWT_SECRET", TEST_SECRET)
        .output()
        .unwrap();
    assert!(!output.status.success(), "an unknown role is refused");
}
