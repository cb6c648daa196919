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

use std::borrow::Cow;

use async_graphql::indexmap::IndexMap;
use async_graphql::parser::types::{Field, Selection, SelectionSet};
use async_graphql::registry::Registry;
use async_graphql::resolver_utils::resolve_container_serial;
use async_graphql::{ContainerType, ContextSelectionSet, Name, OutputType, Positioned, ServerResult, Value};
use futures_util::future::BoxFuture;

/// A record type's plain fields: scalars and enums read from the record, taking no argument,
/// behind no guard and no permission check (a plain field is answered without its resolver).
pub trait PlainFields: ContainerType {
    /// What the field `name` resolves to when it is plain, exactly as `T`'s own resolver would
    /// answer it; `None` for every other field.
    fn plain_field(&self, name: &str) -> Option<Value>;

    /// The records the field `name` resolves to when the record holds them already (read with
    /// its page), exactly as `T`'s own resolver would find them, taking no argument and behind no
    /// guard; each is answered by its own direct path. `None` for every other field.
    fn held_field(&self, _name: &str) -> Option<Held<'_>> {
        None
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
    /// The record under the selection `ctx`, whose fields `fields` has read already when given
    /// (the records of one list share one reading); `T`'s own path when the selection is not
    /// only fields.
    fn resolve_direct<'a>(
        &'a self,
        ctx: &'a ContextSelectionSet<'a>,
        fields: Option<&'a SelectedFields<'a>>,
    ) -> BoxFuture<'a, ServerResult<Value>>;
}

impl<T: PlainFields + Send + Sync> DirectObject for T {
    fn resolve_direct<'a>(
        &'a self,
        ctx: &'a ContextSelectionSet<'a>,
        fields: Option<&'a SelectedFields<'a>>,
    ) -> BoxFuture<'a, ServerResult<Value>> {
        Box::pin(async move {
            match fields {
                Some(fields) => write_fields(self, ctx, fields).await,
                None => resolve_container_serial(ctx, self).await,
            }
        })
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
        self.0.resolve_direct(ctx, fields.as_ref()).await
    }
}

/// A selection that is only fields, each under its own response key and without custom
/// directives (`@skip` and `@include` are applied before execution starts, so they are gone from
/// the document here), read once for every record it is answered for.
///
/// Each response key is a name of this request's own: the document is shared by every worker
/// (the document cache), and cloning its names for every record bounced their reference counts
/// between the cores (docs/benchmarks.md).
pub struct SelectedFields<'a>(Vec<SelectedField<'a>>);

struct SelectedField<'a> {
    key: Name,
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
            if !field.node.directives.is_empty() || fields.iter().any(|seen| seen.key.as_str() == key) {
                return None;
            }
            let nested = SelectedFields::of(&field.node.selection_set.node);
            fields.push(SelectedField { key: Name::new(key), field, nested });
        }
        Some(SelectedFields(fields))
    }
}

/// The object `record` under the selection `ctx`, whose fields are `fields`.
async fn write_fields<T: PlainFields + Send + Sync>(
    record: &T,
    ctx: &ContextSelectionSet<'_>,
    fields: &SelectedFields<'_>,
) -> ServerResult<Value> {
    let mut object = IndexMap::with_capacity(fields.0.len());
    for selected in &fields.0 {
        let field = selected.field;
        let name = field.node.name.node.as_str();
        let plain = field.node.arguments.is_empty();
        if let Some(value) = plain.then(|| record.plain_field(name)).flatten() {
            object.insert(selected.key.clone(), value);
            continue;
        }
        if name == "__typename" {
            object.insert(selected.key.clone(), Value::String(record.introspection_type_name().into_owned()));
            continue;
        }
        let field_ctx = ctx.with_field(field);
        // As async-graphql's own objects do: a field that fails is reported and left out.
        let resolved = match plain.then(|| record.held_field(name)).flatten() {
            Some(held) => {
                let held_ctx = field_ctx.with_selection_set(&field.node.selection_set);
                resolve_held(held, &held_ctx, selected.nested.as_ref()).await
            }
            None => record.resolve_field(&field_ctx).await.map(Option::unwrap_or_default),
        };
        match resolved {
            Ok(value) => {
                object.insert(selected.key.clone(), value);
            }
            Err(error) => ctx.add_error(error),
        }
    }
    Ok(if object.is_empty() { Value::Null } else { Value::Object(object) })
}

/// A held field's records under the field's selection `ctx`, whose fields are `fields`.
async fn resolve_held(
    held: Held<'_>,
    ctx: &ContextSelectionSet<'_>,
    fields: Option<&SelectedFields<'_>>,
) -> ServerResult<Value> {
    match held {
        Held::One(None) => Ok(Value::Null),
        Held::One(Some(record)) => record.resolve_direct(ctx, fields).await,
        Held::Many(records) => {
            let mut values = Vec::with_capacity(records.len());
            for (index, record) in records.into_iter().enumerate() {
                let item = ctx.with_index(index);
                values.push(record.resolve_direct(&item, fields).await.map_err(|error| item.set_error_path(error))?);
            }
            Ok(Value::List(values))
        }
    }
}

/// A plain field's value, as the field's type resolves it.
pub fn plain<T: async_graphql::InputType>(value: &T) -> Value {
    value.to_value()
}

/// A text column's value.
pub fn text(value: &str) -> Value {
    Value::String(value.to_owned())
}

/// An optional text column's value.
pub fn optional_text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, text)
}

/// A record id, as an `ID`.
pub fn id(value: i64) -> Value {
    Value::String(value.to_string())
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

    fn run(full: bool, query: &str) -> Json {
        let schema = Schema::new(Records(full), EmptyMutation, EmptySubscription);
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let response = runtime.block_on(schema.execute(query));
        assert!(response.errors.is_empty(), "{query}: {:?}", response.errors);
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
}
