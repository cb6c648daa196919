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
