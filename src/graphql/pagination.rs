//! What every cursor-paginated list shares: opaque cursors and a lazily counted `totalCount`.

use std::sync::Arc;

use async_graphql::connection::{CursorType, OpaqueCursor};
use async_graphql::{Context, Object};
use chrono::{DateTime, Utc};
use diesel::PgConnection;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::db;
use crate::error::AppError;

type CountQuery = Arc<dyn Fn(&mut PgConnection) -> Result<i64, AppError> + Send + Sync>;

/// The `totalCount` of a connection: counted only when a query selects it.
pub enum TotalCount {
    Lazy {
        count: CountQuery,
        /// Counted where reporting reads go (a usable read replica), not on the primary.
        reporting: bool,
    },
    /// Counted already, with the page (the query was known to select it).
    Known(i64),
}

impl TotalCount {
    pub fn new(count: impl Fn(&mut PgConnection) -> Result<i64, AppError> + Send + Sync + 'static) -> TotalCount {
        TotalCount::Lazy { count: Arc::new(count), reporting: false }
    }

    /// The count of a reporting list, read where its page was.
    pub fn reporting(count: impl Fn(&mut PgConnection) -> Result<i64, AppError> + Send + Sync + 'static) -> TotalCount {
        TotalCount::Lazy { count: Arc::new(count), reporting: true }
    }
}

#[Object]
impl TotalCount {
    /// How many items match the filter, over all pages.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64, AppError> {
        let (count, reporting) = match self {
            TotalCount::Known(count) => return Ok(*count),
            TotalCount::Lazy { count, reporting } => (count.clone(), *reporting),
        };
        let work = move |conn: &mut PgConnection| count(conn);
        if reporting { Ok(db(ctx)?.run_reporting(work).await?.0) } else { db(ctx)?.run(work).await }
    }
}

/// The earliest instant PostgreSQL stores (4714-11-24 00:00 UTC BC), in Unix microseconds; the
/// latest is beyond chrono's range.
const POSTGRES_EARLIEST_MICROS: i64 = -210_866_803_200_000_000;

/// Longest text a cursor may carry: the longest sort key a list hands out (a customer's name).
const CURSOR_TEXT_MAX: usize = crate::domain::limits::NAME_MAX;

/// The position a list's cursor holds. A cursor is only base64 JSON that a client can forge, so
/// its key is checked against what a row of the list can hold before it reaches SQL: a NUL
/// character or an instant PostgreSQL cannot store would otherwise fail there as an internal
/// error.
pub trait CursorKey: Serialize + DeserializeOwned + Send + Sync {
    /// Whether some row of the list could have this key.
    fn is_possible(&self) -> bool;
}

impl CursorKey for i64 {
    /// Row ids start at 1.
    fn is_possible(&self) -> bool {
        *self >= 1
    }
}

impl CursorKey for DateTime<Utc> {
    fn is_possible(&self) -> bool {
        self.timestamp_micros() >= POSTGRES_EARLIEST_MICROS
    }
}

impl CursorKey for String {
    fn is_possible(&self) -> bool {
        !self.contains('\0') && self.chars().count() <= CURSOR_TEXT_MAX
    }
}

impl<T: CursorKey> CursorKey for Option<T> {
    fn is_possible(&self) -> bool {
        self.as_ref().is_none_or(CursorKey::is_possible)
    }
}

impl<A: CursorKey, B: CursorKey> CursorKey for (A, B) {
    fn is_possible(&self) -> bool {
        self.0.is_possible() && self.1.is_possible()
    }
}

/// A row's cursor, encoded only when a query selects it (an edge's `cursor`, `endCursor`): a page
/// of 50 rows whose query asks for `pageInfo { endCursor }` encodes one cursor, not 50.
pub type ListCursor<T> = OpaqueCursor<T>;

pub fn cursor_at<T: CursorKey>(position: T) -> ListCursor<T> {
    OpaqueCursor(position)
}

/// Decodes an `after` argument, refusing anything this list did not hand out.
pub fn decode_cursor<T: CursorKey>(field: &str, cursor: Option<&str>) -> Result<Option<T>, AppError> {
    cursor
        .map(|cursor| {
            OpaqueCursor::<T>::decode_cursor(cursor)
                .ok()
                .map(|decoded| decoded.0)
                .filter(CursorKey::is_possible)
                .ok_or_else(|| AppError::bad_input(field, "not a cursor of this list"))
        })
        .transpose()
}

/// Cuts a page fetched with one row more than `limit` back to `limit` rows and tells whether a
/// next page exists.
pub fn trim_page<T>(rows: &mut Vec<T>, limit: i64) -> bool {
    let has_next = rows.len() as i64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    has_next
}

#[cfg(test)]
pub(super) mod tests {
    use chrono::{NaiveDate, TimeZone};

    use super::*;

    /// The cursor text of `bytes`, encoded the way async-graphql's `OpaqueCursor` decodes it.
    fn base64url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// splitmix64: a reproducible stream of test inputs.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
    }

    /// JSON texts near the lists' keys: each list's shape with ordinary and hostile values, other
    /// lists' shapes, and junk.
    fn crafted_json(rng: &mut Rng) -> String {
        const INSTANTS: &[&str] = &[
            "\"2026-01-01T00:00:00Z\"",
            "\"2026-12-02T08:00:00.123456Z\"",
            "\"1970-01-01T00:00:00+02:00\"",
            "\"-262143-01-01T00:00:00Z\"",
            "\"-4713-11-24T00:00:00Z\"",
            "\"-4713-11-23T23:59:59Z\"",
            "\"+262142-12-31T23:59:59Z\"",
            "\"9999-12-31T23:59:59.999999999Z\"",
            "\"2026-02-30T00:00:00Z\"",
            "\"a\\u0000\"",
        ];
        const TEXTS: &[&str] = &[
            "\"a\\u0000\"",
            "\"\\u0000\"",
            "\"Ann\"",
            "\"\"",
            "\"\\ud800\"",
            "\"Zoë \\\"quoted\\\"\"",
            "\"OpenedAt:desc\"",
            "\"UpdatedAt:asc\"",
            "\"Priority:asc\"",
            "\"Priority:desc\\u0000\"",
        ];
        const IDS: &[&str] = &[
            "1",
            "42",
            "0",
            "-1",
            "9223372036854775807",
            "-9223372036854775808",
            "9223372036854775808",
            "1e400",
            "1.5",
        ];
        const RANKS: &[&str] = &["0", "1", "3", "4", "-1", "32768", "null"];
        let pick = |rng: &mut Rng, from: &[&str]| from[rng.below(from.len())].to_owned();
        let long_text = |rng: &mut Rng| format!("\"{}\"", "x".repeat(190 + rng.below(20)));
        let junk = |rng: &mut Rng| pick(rng, &["null", "true", "[]", "{}", "\"x\"", "[1]", "[1,2,3]"]);
        match rng.below(6) {
            0 => pick(rng, IDS),
            1 => format!("[{},{}]", pick(rng, INSTANTS), pick(rng, IDS)),
            2 => {
                let name = if rng.below(4) == 0 { long_text(rng) } else { pick(rng, TEXTS) };
                format!("[{name},{}]", pick(rng, IDS))
            }
            3 => {
                let (at, rank) = match rng.below(3) {
                    0 => (pick(rng, INSTANTS), "null".to_owned()),
                    1 => ("null".to_owned(), pick(rng, RANKS)),
                    _ => (pick(rng, INSTANTS), pick(rng, RANKS)),
                };
                format!("{{\"sort\":{},\"at\":{at},\"rank\":{rank},\"id\":{}}}", pick(rng, TEXTS), pick(rng, IDS))
            }
            4 => format!("[{},{}]", junk(rng), junk(rng)),
            _ => junk(rng),
        }
    }

    /// What the database can take, checked independently of `CursorKey`.
    pub(in crate::graphql) fn storable_text(text: &str) -> bool {
        !text.contains('\0') && text.chars().count() <= 200
    }

    pub(in crate::graphql) fn storable_instant(at: &DateTime<Utc>) -> bool {
        let earliest =
            Utc.from_utc_datetime(&NaiveDate::from_ymd_opt(-4713, 11, 24).unwrap().and_hms_opt(0, 0, 0).unwrap());
        *at >= earliest
    }

    /// Decodes `cursor` as a `K` cursor: either a key the database can take (and that encodes back
    /// to a cursor decoding to the same key) or BAD_USER_INPUT naming `after`.
    pub(in crate::graphql) fn check<K: CursorKey + Clone + PartialEq + std::fmt::Debug>(
        cursor: &str,
        storable: impl Fn(&K) -> bool,
    ) -> bool {
        match decode_cursor::<K>("after", Some(cursor)) {
            Ok(Some(key)) => {
                assert!(storable(&key), "{cursor:?} decoded to {key:?}, which the database cannot take");
                let again = decode_cursor::<K>("after", Some(&cursor_at(key.clone()).encode_cursor())).unwrap();
                assert_eq!(again.as_ref(), Some(&key));
                true
            }
            Ok(None) => panic!("{cursor:?} decoded to nothing"),
            Err(AppError::BadUserInput { field, .. }) => {
                assert_eq!(field, "after");
                false
            }
            Err(other) => panic!("{cursor:?}: {other:?}"),
        }
    }

    /// How many of the shapes `cursor` decodes to a key of, per shape.
    fn check_every_key_shape(cursor: &str) -> [usize; 3] {
        [
            check::<i64>(cursor, |id| *id >= 1),
            check::<(DateTime<Utc>, i64)>(cursor, |(at, id)| storable_instant(at) && *id >= 1),
            check::<(String, i64)>(cursor, |(name, id)| storable_text(name) && *id >= 1),
        ]
        .map(usize::from)
    }

    #[test]
    fn a_cursor_holding_a_nul_character_is_bad_input_naming_after() {
        let cursor = base64url(br#"["a\u0000",1]"#);
        let error = decode_cursor::<(String, i64)>("after", Some(&cursor)).unwrap_err();
        assert!(matches!(error, AppError::BadUserInput { ref field, .. } if field == "after"), "{error:?}");
        let before_postgres = base64url(br#"["-5000-01-01T00:00:00Z",1]"#);
        assert!(decode_cursor::<(DateTime<Utc>, i64)>("after", Some(&before_postgres)).is_err());
    }

    #[test]
    fn the_cursors_a_list_hands_out_decode_to_their_keys() {
        let name = ("Ünïcode name, with \"quotes\"".to_owned(), 42_i64);
        assert_eq!(decode_cursor("after", Some(&cursor_at(name.clone()).encode_cursor())).unwrap(), Some(name));
        let at = (Utc.with_ymd_and_hms(2026, 12, 2, 8, 0, 0).unwrap(), 7_i64);
        assert_eq!(decode_cursor("after", Some(&cursor_at(at).encode_cursor())).unwrap(), Some(at));
        assert_eq!(decode_cursor::<i64>("after", None).unwrap(), None);
    }

    /// `rounds` x 5 cursor texts: crafted JSON near the lists' keys, the same with a byte changed,
    /// cut short, or not base64 at all, and random bytes.
    pub(in crate::graphql) fn fuzz_cursors(seed: u64, rounds: usize) -> Vec<String> {
        let mut rng = Rng(seed);
        let mut cursors = Vec::with_capacity(rounds * 5);
        for _ in 0..rounds {
            let json = crafted_json(&mut rng);
            cursors.push(base64url(json.as_bytes()));
            let mut bytes = json.into_bytes();
            let at = rng.below(bytes.len());
            bytes[at] = rng.next() as u8;
            cursors.push(base64url(&bytes));
            cursors.push(base64url(&bytes[..at]));
            cursors.push(String::from_utf8_lossy(&bytes).into_owned());
            let random: Vec<u8> = (0..rng.below(64)).map(|_| rng.next() as u8).collect();
            cursors.push(base64url(&random));
        }
        cursors
    }

    #[test]
    fn random_and_crafted_cursors_decode_to_storable_keys_or_bad_input() {
        let mut keys = [0; 3];
        for cursor in fuzz_cursors(0x6375_7273_6f72, 20_000) {
            let decoded = check_every_key_shape(&cursor);
            keys.iter_mut().zip(decoded).for_each(|(keys, decoded)| *keys += decoded);
        }
        // The inputs reach the checks past decoding, for every shape.
        assert!(keys.iter().all(|keys| *keys > 100), "keys decoded per shape: {keys:?}");
    }
}
