//! Records whose plain fields are written straight from the row.
//!
//! async-graphql resolves each field of an object through a boxed future of its own, a dispatch
//! on the field's name and a map lookup before the insert. Under a page of 50 tickets that is
//! most of the server's GraphQL time (docs/benchmarks.md), spent on fields that only copy a
//! column. [`Direct<T>`] is the same GraphQL type as `T` (same name, same fields, same schema):
//! it writes the fields `T` names plain (see [`PlainFields`]) in one pass, answers the fields
//! whose records `T` holds already (a page's edges and nodes, a ticket's people and timeline
//! read with its page: [`PlainFields::held_field`]) by their own direct path, and hands each
//! other field to `T`'s own resolver, one after the other, as `T`'s `serial` objects do. A
//! record of a held list that fails fails the list, as in async-graphql's lists. A selection it
//! does not read this way (a fragment, a response key given twice, a custom directive) takes `T`'s
//! own path whole. The schema has no extensions: one that watched resolvers would not see the
//! plain fields.
//!
//! A `Direct` record is written as its JSON text straight from the row, held records with it,
//! and handed up as one [`Value::Binary`]: no `Value` per field, no second pass to serialize the
//! tree, none to drop it. Its bytes are what serializing the record's `Value`s would give. The
//! HTTP endpoint, whose response [`write_response`] writes (it marks the request with
//! [`WritesJson`]), splices them into the body; a response with errors is read back into
//! `Value`s first ([`unsplice`]), so that its failed fields can be nulled by path. Any other
//! caller (a subscription, the report page) gets the values read back at once.

use std::borrow::Cow;
use std::io::Write;

use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::{EnumType, resolve_container_serial};
use async_graphql::{ContainerType, ContextSelectionSet, InputType, OutputType, Positioned, ServerResult, Value};
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

/// A record type's plain fields: scalars and enums read from the record, taking no argument,
/// behind no guard and no permission check (a plain field is answered without its resolver).
pub trait PlainFields: ContainerType {
    /// What the field `name` resolves to when it is plain, exactly as `T`'s own resolver would
    /// answer it; `None` for every other field.
    fn plain_field(&self, name: &str) -> Option<Plain<'_>>;

    /// The records the field `name` resolves to when the record holds them already (read with
    /// its page), exactly as `T`'s own resolver would find them, taking no argument and behind no
    /// guard; each is answered by its own direct path. `None` for every other field.
    fn held_field(&self, _name: &str) -> Option<Held<'_>> {
        None
    }
}

/// A plain field's value, borrowed from its record where it can be: written as JSON without a
/// `Value` in between, or made the `Value` the field's type resolves to.
pub enum Plain<'a> {
    /// A `String`.
    Text(&'a str),
    /// A nullable `String`.
    OptionalText(Option<&'a str>),
    /// A record id: an `ID`, the id's decimal digits.
    Id(i64),
    /// An enum value, by its GraphQL name.
    Enum(&'static str),
    /// A `DateTime`.
    Instant(DateTime<Utc>),
    /// A nullable `DateTime`.
    OptionalInstant(Option<DateTime<Utc>>),
    /// Anything else, as the field's type resolves it.
    Value(Value),
}

impl Plain<'_> {
    /// The value's JSON, as serializing the value the field's type resolves to writes it.
    fn write_json(&self, out: &mut Vec<u8>) {
        match self {
            Plain::Text(text) | Plain::OptionalText(Some(text)) => write_string(out, text),
            Plain::OptionalText(None) | Plain::OptionalInstant(None) => out.extend_from_slice(b"null"),
            Plain::Id(id) => write!(out, "\"{id}\"").expect("a Vec takes every write"),
            Plain::Enum(name) => write_string(out, name),
            // DateTime<Utc>'s own `to_value`: RFC 3339.
            Plain::Instant(at) | Plain::OptionalInstant(Some(at)) => write_string(out, &at.to_rfc3339()),
            Plain::Value(value) => write_value(out, value),
        }
    }
}

/// What a held field resolves to.
pub enum Held<'a> {
    /// A nullable object: null when `None`.
    One(Option<&'a dyn DirectObject>),
    /// A list of objects.
    Many(Vec<&'a dyn DirectObject>),
}

/// A record answered with its plain and held fields written directly, behind a reference.
pub trait DirectObject: Send + Sync {
    /// The record's JSON under the selection `ctx`, appended to `out`, as serializing its value
    /// would write it: `fields` is the selection read already when given (the records of one list
    /// share one reading), and `T`'s own path answers when the selection is not only fields. On
    /// an error, `out` is as it was.
    fn write_direct<'a>(
        &'a self,
        ctx: &'a ContextSelectionSet<'a>,
        fields: Option<&'a SelectedFields<'a>>,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, ServerResult<()>>;

    /// [`DirectObject::write_direct`] without a future, when every field of the selection and of
    /// the held records' selections is plain or held; `false`, and `out` as it was, otherwise.
    fn write_plain_only(&self, fields: &SelectedFields<'_>, out: &mut Vec<u8>) -> bool;
}

impl<T: PlainFields + Send + Sync> DirectObject for T {
    fn write_direct<'a>(
        &'a self,
        ctx: &'a ContextSelectionSet<'a>,
        fields: Option<&'a SelectedFields<'a>>,
        out: &'a mut Vec<u8>,
    ) -> BoxFuture<'a, ServerResult<()>> {
        Box::pin(async move {
            match fields {
                Some(fields) => write_fields(self, ctx, fields, out).await,
                None => {
                    write_value(out, &resolve_container_serial(ctx, self).await?);
                    Ok(())
                }
            }
        })
    }

    fn write_plain_only(&self, fields: &SelectedFields<'_>, out: &mut Vec<u8>) -> bool {
        let start = out.len();
        let written = write_plain_fields(self, fields, out);
        if !written {
            out.truncate(start);
        }
        written
    }
}

/// `T`, answered with its plain fields written directly.
#[derive(Clone)]
pub struct Direct<T>(pub T);

impl<T: PlainFields + Send + Sync> Direct<T> {
    /// The record, as a held field hands it out.
    pub fn as_object(&self) -> &dyn DirectObject {
        &self.0
    }
}

impl<T: PlainFields + Send + Sync> OutputType for Direct<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        T::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, _field: &Positioned<Field>) -> ServerResult<Value> {
        // Boxed: a record may hold records that hold its own type (a customer's tickets).
        let fields = SelectedFields::of(&ctx.item.node);
        // A page of 50 tickets is some 20 KB: start where a few doublings get there.
        let mut out = Vec::with_capacity(WRITE_CAPACITY);
        self.0.write_direct(ctx, fields.as_ref(), &mut out).await?;
        let mut value = Value::Binary(out.into());
        // A response not written by `write_response` (a subscription's, the report page's) gets
        // the values read back.
        if ctx.data_opt::<WritesJson>().is_none() {
            unsplice(&mut value);
        }
        Ok(value)
    }
}

/// Where a record's JSON text starts, in bytes.
const WRITE_CAPACITY: usize = 4096;

/// Request data: the request's response is written by [`write_response`], so `Direct` records
/// may be handed up as their JSON text.
pub struct WritesJson;

/// A selection that is only fields, each under its own response key and without custom
/// directives (`@skip` and `@include` are applied before execution starts, so they are gone from
/// the document here), read once for every record it is answered for.
///
/// Each response key is escaped once, for every record the selection is written for.
pub struct SelectedFields<'a>(Vec<SelectedField<'a>>);

struct SelectedField<'a> {
    key: &'a str,
    /// The key as JSON, with its colon.
    json_key: Box<[u8]>,
    field: &'a Positioned<Field>,
    /// The field's own selection, for the records it holds.
    nested: Option<SelectedFields<'a>>,
}

impl<'a> SelectedFields<'a> {
    /// `None` when the selection is not only fields under keys of their own.
    fn of(selection: &'a SelectionSet) -> Option<Self> {
        let mut fields: Vec<SelectedField<'a>> = Vec::with_capacity(selection.items.len());
        for item in &selection.items {
            let Selection::Field(field) = &item.node else { return None };
            let key = field.node.response_key().node.as_str();
            if !field.node.directives.is_empty() || fields.iter().any(|seen| seen.key == key) {
                return None;
            }
            let nested = SelectedFields::of(&field.node.selection_set.node);
            let mut json_key = Vec::with_capacity(key.len() + 3);
            write_string(&mut json_key, key);
            json_key.push(b':');
            fields.push(SelectedField { key, json_key: json_key.into(), field, nested });
        }
        Some(SelectedFields(fields))
    }
}

impl SelectedField<'_> {
    fn name(&self) -> &str {
        self.field.node.name.node.as_str()
    }

    /// Whether the field takes no argument, as plain and held fields do.
    fn bare(&self) -> bool {
        self.field.node.arguments.is_empty()
    }
}

/// The object `record` under the selection `ctx`, whose fields are `fields`, written as JSON
/// into `out`. As async-graphql's own objects do, a field that fails is reported and left out.
async fn write_fields<T: PlainFields + Send + Sync>(
    record: &T,
    ctx: &ContextSelectionSet<'_>,
    fields: &SelectedFields<'_>,
    out: &mut Vec<u8>,
) -> ServerResult<()> {
    let start = out.len();
    out.push(b'{');
    let mut written = 0;
    for selected in &fields.0 {
        let (field, name) = (selected.field, selected.name());
        let field_start = out.len();
        if written > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&selected.json_key);
        if write_plain_field(record, selected, out) {
            written += 1;
            continue;
        }
        let field_ctx = ctx.with_field(field);
        let resolved = match selected.bare().then(|| record.held_field(name)).flatten() {
            Some(held) => {
                let held_ctx = field_ctx.with_selection_set(&field.node.selection_set);
                write_held(held, &held_ctx, selected.nested.as_ref(), out).await
            }
            None => record.resolve_field(&field_ctx).await.map(|value| write_value(out, &value.unwrap_or_default())),
        };
        match resolved {
            Ok(()) => written += 1,
            Err(error) => {
                out.truncate(field_start);
                ctx.add_error(error);
            }
        }
    }
    close_object(out, start, written);
    Ok(())
}

/// A held field's records under the field's selection `ctx`, whose fields are `fields`, written
/// as JSON into `out`; a record that fails fails the list (on an error, `out` is left to the
/// caller to cut back).
async fn write_held(
    held: Held<'_>,
    ctx: &ContextSelectionSet<'_>,
    fields: Option<&SelectedFields<'_>>,
    out: &mut Vec<u8>,
) -> ServerResult<()> {
    match held {
        Held::One(None) => out.extend_from_slice(b"null"),
        Held::One(Some(record)) => {
            if !fields.is_some_and(|fields| record.write_plain_only(fields, out)) {
                record.write_direct(ctx, fields, out).await?;
            }
        }
        Held::Many(records) => {
            // The records of a list are of one type under one selection: once one is not plain
            // only, the others are not tried.
            let mut plain_only = fields;
            out.push(b'[');
            for (index, record) in records.into_iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                if plain_only.is_some_and(|fields| record.write_plain_only(fields, out)) {
                    continue;
                }
                plain_only = None;
                let item = ctx.with_index(index);
                record.write_direct(&item, fields, out).await.map_err(|error| item.set_error_path(error))?;
            }
            out.push(b']');
        }
    }
    Ok(())
}

/// The object `record` under `fields` when all of them are plain or held by records that are
/// plain only; `false` at the first field that is not (`out` is then to be cut back).
fn write_plain_fields<T: PlainFields>(record: &T, fields: &SelectedFields<'_>, out: &mut Vec<u8>) -> bool {
    let start = out.len();
    out.push(b'{');
    for (index, selected) in fields.0.iter().enumerate() {
        if index > 0 {
            out.push(b',');
        }
        out.extend_from_slice(&selected.json_key);
        if write_plain_field(record, selected, out) {
            continue;
        }
        let Some(held) = selected.bare().then(|| record.held_field(selected.name())).flatten() else { return false };
        let Some(nested) = &selected.nested else { return false };
        match held {
            Held::One(None) => out.extend_from_slice(b"null"),
            Held::One(Some(one)) => {
                if !one.write_plain_only(nested, out) {
                    return false;
                }
            }
            Held::Many(records) => {
                out.push(b'[');
                for (index, one) in records.into_iter().enumerate() {
                    if index > 0 {
                        out.push(b',');
                    }
                    if !one.write_plain_only(nested, out) {
                        return false;
                    }
                }
                out.push(b']');
            }
        }
    }
    close_object(out, start, fields.0.len());
    true
}

/// The field's value when it is plain or `__typename`: written, and `true`.
fn write_plain_field<T: PlainFields>(record: &T, selected: &SelectedField<'_>, out: &mut Vec<u8>) -> bool {
    let name = selected.name();
    if let Some(value) = selected.bare().then(|| record.plain_field(name)).flatten() {
        value.write_json(out);
        return true;
    }
    if name == "__typename" {
        write_string(out, &record.introspection_type_name());
        return true;
    }
    false
}

/// Ends an object begun at `start`: an object of no field is null.
fn close_object(out: &mut Vec<u8>, start: usize, written: usize) {
    if written == 0 {
        out.truncate(start);
        out.extend_from_slice(b"null");
    } else {
        out.push(b'}');
    }
}

/// A JSON string, as serde_json writes it.
fn write_string(out: &mut Vec<u8>, text: &str) {
    // serde_json escapes the control characters, the quote and the backslash, nothing else; most
    // text has none, and a scan without early exit is cheaper than its escaping loop.
    let bytes = text.as_bytes();
    let escapes = bytes.iter().fold(false, |any, &byte| any | (byte < 0x20) | (byte == b'"') | (byte == b'\\'));
    if escapes {
        serde_json::to_writer(out, text).expect("a string serializes");
    } else {
        out.reserve(bytes.len() + 2);
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    }
}

/// A value's JSON, with the JSON of the `Direct` records in it spliced in as it is.
fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Binary(json) => out.extend_from_slice(json),
        Value::List(items) => {
            out.push(b'[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(object) => {
            out.push(b'{');
            for (index, (key, item)) in object.iter().enumerate() {
                if index > 0 {
                    out.push(b',');
                }
                write_string(out, key);
                out.push(b':');
                write_value(out, item);
            }
            out.push(b'}');
        }
        leaf => serde_json::to_writer(out, leaf).expect("a value serializes"),
    }
}

/// The JSON of a response that has neither errors nor extensions, whose data is `data`, as
/// serializing the response writes it. A response with either is serialized whole, after
/// [`unsplice`].
pub fn write_response(data: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(spliced_len(data) + WRITE_CAPACITY);
    out.extend_from_slice(b"{\"data\":");
    write_value(&mut out, data);
    out.push(b'}');
    out
}

/// The length of the JSON text spliced into `value`.
fn spliced_len(value: &Value) -> usize {
    match value {
        Value::Binary(json) => json.len(),
        Value::List(items) => items.iter().map(spliced_len).sum(),
        Value::Object(object) => object.values().map(spliced_len).sum(),
        _ => 0,
    }
}

/// `value` with the JSON of its `Direct` records read back into `Value`s.
pub fn unsplice(value: &mut Value) {
    match value {
        Value::Binary(json) => {
            // Written by this module from values that serialize, so it reads back.
            let read = serde_json::from_slice(json).expect("Direct writes JSON");
            *value = read;
        }
        Value::List(items) => items.iter_mut().for_each(unsplice),
        Value::Object(object) => object.values_mut().for_each(unsplice),
        _ => {}
    }
}

/// A plain field's value, as the field's type resolves it.
pub fn plain<T: InputType>(value: &T) -> Plain<'static> {
    Plain::Value(value.to_value())
}

/// An enum column's value.
pub fn enumerated<T: EnumType>(value: T) -> Plain<'static> {
    let item = T::items().iter().find(|item| item.value == value).expect("every value is an item of its enum");
    Plain::Enum(item.name)
}

/// A text column's value.
pub fn text(value: &str) -> Plain<'_> {
    Plain::Text(value)
}

/// An optional text column's value.
pub fn optional_text(value: Option<&str>) -> Plain<'_> {
    Plain::OptionalText(value)
}

/// An instant column's value.
pub fn instant(value: DateTime<Utc>) -> Plain<'static> {
    Plain::Instant(value)
}

/// An optional instant column's value.
pub fn optional_instant(value: Option<DateTime<Utc>>) -> Plain<'static> {
    Plain::OptionalInstant(value)
}

/// A record id, as an `ID`.
pub fn id(value: i64) -> Plain<'static> {
    Plain::Id(value)
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};
    use chrono::{DateTime, TimeZone, Utc};
    use serde_json::{Value as Json, json};

    use super::*;
    use crate::domain::{EventKind, Priority, TicketChannel, TicketStatus};
    use crate::graphql::staff::{CustomerNode, TechnicianNode};
    use crate::graphql::tickets::{TicketEventNode, TicketNode};
    use crate::models::{Customer, Technician, Ticket, TicketEvent};

    /// Fields a record type's own resolver must answer although they are scalars without
    /// arguments (a guard, a permission check, a computed value). None today.
    const NOT_PLAIN: &[(&str, &str)] = &[];

    fn at(seconds: i64, nanos: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(seconds, nanos).unwrap()
    }

    /// Every column set, or every optional column empty.
    fn ticket(full: bool) -> Ticket {
        let maybe = |value: DateTime<Utc>| full.then_some(value);
        Ticket {
            id: 41,
            number: "TS-000041".into(),
            customer_id: 7,
            subject: "Printer \"jams\"\n".into(),
            description: "tray 2 — since Monday".into(),
            category: "hardware".into(),
            priority: Priority::High,
            channel: TicketChannel::Email,
            status: if full { TicketStatus::Resolved } else { TicketStatus::Open },
            assignee_id: full.then_some(3),
            opened_at: at(1_764_000_000, 0),
            first_response_at: maybe(at(1_764_000_061, 120_000_000)),
            first_resolved_at: maybe(at(1_764_003_600, 123_456_000)),
            resolved_at: maybe(at(1_764_003_600, 123_456_789)),
            closed_at: maybe(at(1_764_090_000, 1_000)),
            reopen_count: i32::from(full),
            version: 5,
            external_ref: full.then(|| "legacy-9".into()),
            created_at: at(1_764_000_000, 500_000),
            updated_at: at(1_764_090_000, 0),
        }
    }

    fn customer(full: bool) -> Customer {
        Customer {
            id: 7,
            name: "Ada Ltd".into(),
            email: full.then(|| "ada@example.com".into()),
            phone: full.then(|| "+44 20 7946 0000".into()),
            organization: full.then(|| "Ada".into()),
            created_at: at(1_700_000_000, 0),
            updated_at: at(1_700_000_001, 10),
        }
    }

    fn technician(full: bool) -> Technician {
        Technician {
            id: 3,
            name: "Grace".into(),
            email: "grace@example.com".into(),
            team: "L2".into(),
            active: full,
            created_at: at(1_690_000_000, 0),
            updated_at: at(1_690_000_000, 999_999_999),
        }
    }

    fn event(full: bool) -> TicketEvent {
        TicketEvent {
            id: 99,
            ticket_id: 41,
            at: at(1_764_000_061, 120_000_000),
            actor: "sub-3".into(),
            kind: if full { EventKind::StatusChanged } else { EventKind::Created },
            from_value: full.then(|| "OPEN".into()),
            to_value: full.then(|| "IN_PROGRESS".into()),
            note: full.then(|| "on it".into()),
        }
    }

    /// Each record twice: as its own object and as a `Direct` one.
    struct Records(bool);

    #[Object]
    impl Records {
        async fn ticket(&self) -> TicketNode {
            TicketNode::new(ticket(self.0))
        }
        async fn direct_ticket(&self) -> Direct<TicketNode> {
            Direct(TicketNode::new(ticket(self.0)))
        }
        async fn customer(&self) -> CustomerNode {
            CustomerNode(customer(self.0))
        }
        async fn direct_customer(&self) -> Direct<CustomerNode> {
            Direct(CustomerNode(customer(self.0)))
        }
        async fn technician(&self) -> TechnicianNode {
            TechnicianNode(technician(self.0))
        }
        async fn direct_technician(&self) -> Direct<TechnicianNode> {
            Direct(TechnicianNode(technician(self.0)))
        }
        async fn event(&self) -> TicketEventNode {
            TicketEventNode(event(self.0))
        }
        async fn direct_event(&self) -> Direct<TicketEventNode> {
            Direct(TicketEventNode(event(self.0)))
        }
    }

    /// The query's data; it must be answered byte for byte the same with `Value`s and as JSON
    /// text (`WritesJson`), spliced into the response.
    fn run(full: bool, query: &str) -> Json {
        let schema = Schema::new(Records(full), EmptyMutation, EmptySubscription);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let response = runtime.block_on(schema.execute(query));
        assert!(response.errors.is_empty(), "{query}: {:?}", response.errors);
        let spliced = runtime.block_on(schema.execute(async_graphql::Request::new(query).data(WritesJson)));
        assert!(spliced.errors.is_empty(), "{query}: {:?}", spliced.errors);
        let written = String::from_utf8(write_response(&spliced.data)).unwrap();
        assert_eq!(written, serde_json::to_string(&response).unwrap(), "{query}");
        let mut read_back = spliced.data;
        unsplice(&mut read_back);
        assert_eq!(read_back, response.data, "{query}");
        response.data.into_json().unwrap()
    }

    /// The type's fields that take no argument and are scalars or enums (or lists of them).
    fn scalar_fields(type_name: &str) -> Vec<String> {
        let query = format!(
            r#"{{ __type(name: "{type_name}") {{ fields {{ name args {{ name }}
                type {{ kind ofType {{ kind ofType {{ kind ofType {{ kind }} }} }} }} }} }} }}"#
        );
        let data = run(true, &query);
        let leaf = |mut ty: &Json| loop {
            match ty["kind"].as_str() {
                Some("NON_NULL" | "LIST") => ty = &ty["ofType"],
                kind => return matches!(kind, Some("SCALAR" | "ENUM")),
            }
        };
        data["__type"]["fields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|field| field["args"].as_array().unwrap().is_empty() && leaf(&field["type"]))
            .map(|field| field["name"].as_str().unwrap().to_owned())
            .filter(|name| !NOT_PLAIN.contains(&(type_name, name.as_str())))
            .collect()
    }

    fn plain_names(record: &impl PlainFields, fields: &[String]) -> Vec<String> {
        fields.iter().filter(|name| record.plain_field(name).is_some()).cloned().collect()
    }

    #[test]
    fn plain_fields_are_every_scalar_field_and_answer_as_the_resolvers_do() {
        let cases: [(&str, &str, Vec<String>); 4] = [
            ("Ticket", "ticket", plain_names(&TicketNode::new(ticket(true)), &scalar_fields("Ticket"))),
            ("Customer", "customer", plain_names(&CustomerNode(customer(true)), &scalar_fields("Customer"))),
            ("Technician", "technician", plain_names(&TechnicianNode(technician(true)), &scalar_fields("Technician"))),
            ("TicketEvent", "event", plain_names(&TicketEventNode(event(true)), &scalar_fields("TicketEvent"))),
        ];
        for (type_name, field, plain) in cases {
            assert_eq!(plain, scalar_fields(type_name), "{type_name}: every scalar field is plain");
            let selection = plain.join(" ");
            let direct = format!("direct{}{}", field[..1].to_uppercase(), &field[1..]);
            for full in [true, false] {
                let data = run(full, &format!("{{ {field} {{ {selection} }} {direct} {{ {selection} }} }}"));
                assert_eq!(data[field], data[direct.as_str()], "{type_name}, full: {full}");
                assert_eq!(data[field].as_object().unwrap().len(), plain.len());
            }
        }
    }

    #[test]
    fn aliases_typename_fragments_and_repeated_keys_answer_as_the_resolvers_do() {
        let selections = [
            "n: number id __typename kind: status",
            "id ... on Ticket { status number } ...Parts",
            "id id number",
            "a: id a: id",
            "id number @skip(if: true) status @include(if: false) subject",
        ];
        for selection in selections {
            let fragment =
                if selection.contains("...Parts") { " fragment Parts on Ticket { openedAt id }" } else { "" };
            let data = run(true, &format!("{{ ticket {{ {selection} }} directTicket {{ {selection} }} }}{fragment}"));
            assert_eq!(data["ticket"], data["directTicket"], "{selection}");
            // Same keys in the same order.
            let keys = |value: &Json| value.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&data["ticket"]), keys(&data["directTicket"]), "{selection}");
        }
        assert_eq!(
            run(true, "{ directTicket { n: number t: __typename } }"),
            json!({"directTicket": {"n": "TS-000041", "t": "Ticket"}})
        );
    }

    #[test]
    fn strings_are_written_as_serde_json_writes_them() {
        let texts =
            ["", "plain", "quote \" and \\ backslash", "tab\tnew\nline", "\u{0}\u{1f}\u{7f}", "é — 😀", "\u{2028}"];
        for text in texts {
            let mut written = Vec::new();
            write_string(&mut written, text);
            assert_eq!(String::from_utf8(written).unwrap(), serde_json::to_string(text).unwrap(), "{text:?}");
        }
    }
}
