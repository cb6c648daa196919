//! Every migration goes up, down and up again.

use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;
use diesel_migrations::MigrationHarness;

use crate::helpers::TestDatabase;

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    count: i64,
}

fn user_tables(conn: &mut diesel::PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS count FROM information_schema.tables \
         WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'",
    )
    .get_result::<Count>(conn)
    .unwrap()
    .count
}

#[test]
fn migrations_go_up_down_and_up_again() {
    let database = TestDatabase::empty();
    let mut conn = database.connect();

    let applied = deskpulse::db::run_migrations(&mut conn).unwrap();
    assert!(applied.len() >= 5);
    let tables = user_tables(&mut conn);
    assert!(tables >= 9, "every record has its table, found {tables}");

    conn.revert_all_migrations(deskpulse::db::MIGRATIONS).unwrap();
    assert_eq!(user_tables(&mut conn), 0, "down.sql removes everything up.sql made");

    let again = deskpulse::db::run_migrations(&mut conn).unwrap();
    assert_eq!(again, applied);
    assert_eq!(user_tables(&mut conn), tables);
    assert!(deskpulse::db::run_migrations(&mut conn).unwrap().is_empty(), "a second run applies nothing");
}

/// The record rules the database holds on tickets and their events, whether a table constraint
/// or a domain keeps them (migration 000025): each statement breaks one rule and is refused as a
/// check violation, and the valid ticket they start from is still accepted.
#[test]
fn the_database_refuses_tickets_and_events_that_break_a_record_rule() {
    use diesel::connection::SimpleConnection;
    use diesel::result::{DatabaseErrorKind, Error};

    let database = TestDatabase::migrated();
    let mut conn = database.connect();
    conn.batch_execute(
        "INSERT INTO customers (name) VALUES ('Ada'); \
         INSERT INTO tickets (customer_id, subject, category, priority, channel, opened_at) \
         SELECT id, 'Printer', 'hardware', 'NORMAL', 'WEB', now() FROM customers; \
         INSERT INTO ticket_events (ticket_id, at, actor, kind, to_value) \
         SELECT id, now(), 'ada', 'CREATED', 'OPEN' FROM tickets",
    )
    .expect("a valid ticket and event are accepted");

    let event = |column: &str, value: &str| {
        format!(
            "INSERT INTO ticket_events (ticket_id, at, actor, kind, {column}) \
             SELECT id, now(), 'ada', 'NOTE_ADDED', {value} FROM tickets"
        )
    };
    let refused = [
        "UPDATE tickets SET category = '  '".to_owned(),
        format!("UPDATE tickets SET category = '{}'", "c".repeat(65)),
        "UPDATE tickets SET status = 'PARKED', resolved_at = now(), first_resolved_at = now()".to_owned(),
        "UPDATE tickets SET channel = 'FAX'".to_owned(),
        "UPDATE tickets SET priority = 'SOMEDAY'".to_owned(),
        "UPDATE tickets SET external_ref = ''".to_owned(),
        format!("UPDATE tickets SET external_ref = '{}'", "r".repeat(201)),
        "UPDATE tickets SET reopen_count = -1".to_owned(),
        "UPDATE tickets SET version = 0".to_owned(),
        "UPDATE tickets SET subject = ' '".to_owned(),
        // The status and its instants agree.
        "UPDATE tickets SET status = 'RESOLVED'".to_owned(),
        "UPDATE tickets SET resolved_at = now(), first_resolved_at = now()".to_owned(),
        "UPDATE tickets SET status = 'CLOSED', resolved_at = now(), first_resolved_at = now()".to_owned(),
        "UPDATE tickets SET status = 'RESOLVED', resolved_at = now(), first_resolved_at = now(), closed_at = now()"
            .to_owned(),
        "INSERT INTO tickets (customer_id, subject, category, priority, channel, opened_at, status) \
         SELECT id, 'Printer', 'hardware', 'NORMAL', 'WEB', now(), 'open' FROM customers"
            .to_owned(),
        event("to_value", "'CREATED'").replace("'NOTE_ADDED'", "'DELETED'"),
        event("note", "'x'").replace("'ada'", "''"),
        event("from_value", &format!("'{}'", "f".repeat(201))),
        event("to_value", &format!("'{}'", "t".repeat(201))),
        event("note", &format!("'{}'", "n".repeat(20_001))),
    ];
    for statement in &refused {
        match diesel::sql_query(statement).execute(&mut conn) {
            Err(Error::DatabaseError(DatabaseErrorKind::CheckViolation, _)) => {}
            other => panic!("{statement:.120}: expected a check violation, got {other:?}"),
        }
    }

    // Every lifecycle state with its instants is accepted.
    for valid in [
        "UPDATE tickets SET status = 'IN_PROGRESS', first_response_at = opened_at",
        "UPDATE tickets SET status = 'RESOLVED', resolved_at = opened_at, first_resolved_at = opened_at",
        "UPDATE tickets SET status = 'CLOSED', closed_at = opened_at",
        "UPDATE tickets SET external_ref = 'CRM-1', reopen_count = 1, version = 2",
    ] {
        diesel::sql_query(valid).execute(&mut conn).unwrap_or_else(|err| panic!("{valid}: {err}"));
    }
}
