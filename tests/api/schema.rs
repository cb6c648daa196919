//! schema.graphql is exactly what the server serves.

use std::process::Command;

#[test]
fn schema_graphql_is_the_served_schema() {
    let output = Command::new(env!("CARGO_BIN_EXE_deskpulse")).arg("export-schema").output().unwrap();
    assert!(output.status.success(), "export-schema failed: {}", String::from_utf8_lossy(&output.stderr));
    let exported = String::from_utf8(output.stdout).unwrap();
    assert_eq!(exported, deskpulse::graphql::sdl(), "the binary prints the library's schema");

    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        committed == exported,
        "schema.graphql is out of date: run `cargo run -- export-schema > schema.graphql` and commit it"
    );
}
