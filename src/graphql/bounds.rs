//! Bounds checked on a parsed document before the schema sees it: how many fields, aliases,
//! root fields and directives each operation holds once its fragments are expanded.
//!
//! async-graphql expands fragments again for every spread when it checks recursion depth and
//! complexity, so a few nested fragments that each spread the next twice cost it exponential
//! time (a 2 kB document kept a worker busy for half a minute). Here every fragment is counted
//! once and its counts reused, so the check is linear in the document's size and refuses such a
//! document before async-graphql walks it.

use std::collections::{BTreeSet, HashMap};

use async_graphql::Positioned;
use async_graphql::parser::types::{ExecutableDocument, OperationType, Selection, SelectionSet};

use crate::config::LimitSettings;

/// Nesting (selection sets and fragment spreads together) beyond which a document is refused
/// without looking further; well above any depth limit, it only keeps the walk's stack small.
const MAX_NESTING: usize = 64;

/// Root fields that answer introspection.
const INTROSPECTION_FIELDS: [&str; 2] = ["__schema", "__type"];

/// What the operation a request runs selects, with its fragments expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationShape {
    pub kind: OperationType,
    /// The operation's own name (`query Name { ... }`), when it has one.
    pub name: Option<String>,
    /// The distinct names of the root fields.
    pub root_field_names: BTreeSet<String>,
}

impl OperationShape {
    /// True for an operation that asks for the schema itself (`__schema` or `__type`).
    pub fn introspects(&self) -> bool {
        INTROSPECTION_FIELDS.iter().any(|field| self.root_field_names.contains(*field))
    }

    /// True for a mutation whose root fields are all among `allowed`.
    pub fn is_mutation_of_only(&self, allowed: &[&str]) -> bool {
        self.kind == OperationType::Mutation
            && self.root_field_names.iter().all(|name| allowed.contains(&name.as_str()))
    }
}

/// A document over one of the limits; the message names the limit and its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LimitExceeded(pub String);

/// The limits a document is held to (the others, depth and complexity, async-graphql checks).
#[derive(Debug, Clone, Copy)]
pub struct DocumentLimits {
    pub fields: u64,
    pub aliases: u64,
    pub root_fields: u64,
    pub directives: u64,
}

impl From<&LimitSettings> for DocumentLimits {
    fn from(settings: &LimitSettings) -> Self {
        DocumentLimits {
            fields: u64::from(settings.max_fields),
            aliases: u64::from(settings.max_aliases),
            root_fields: u64::from(settings.max_root_fields),
            directives: u64::from(settings.max_directives),
        }
    }
}

/// Sizes of a selection set with its fragments expanded; saturating, so a fragment bomb's
/// astronomically large counts stay representable.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    fields: u64,
    aliases: u64,
    directives: u64,
    /// Fields at the selection set's own level (through fragments, not into sub-selections).
    top_fields: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.fields = self.fields.saturating_add(other.fields);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.directives = self.directives.saturating_add(other.directives);
        self.top_fields = self.top_fields.saturating_add(other.top_fields);
    }
}

enum FragmentState {
    Counting,
    Counted(Counts),
}

struct Counter<'a> {
    document: &'a ExecutableDocument,
    fragments: HashMap<&'a str, FragmentState>,
}

impl<'a> Counter<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>, nesting: usize) -> Result<Counts, LimitExceeded> {
        if nesting > MAX_NESTING {
            return Err(LimitExceeded(format!("the query nests deeper than {MAX_NESTING} levels")));
        }
        let mut counts = Counts::default();
        for item in &set.node.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    let inner = self.selection_set(&field.selection_set, nesting + 1)?;
                    counts.add(Counts {
                        fields: 1u64.saturating_add(inner.fields),
                        aliases: u64::from(field.alias.is_some()).saturating_add(inner.aliases),
                        directives: (field.directives.len() as u64).saturating_add(inner.directives),
                        top_fields: 1,
                    });
                }
                Selection::FragmentSpread(spread) => {
                    counts.directives = counts.directives.saturating_add(spread.node.directives.len() as u64);
                    counts.add(self.fragment(spread.node.fragment_name.node.as_str(), nesting + 1)?);
                }
                Selection::InlineFragment(inline) => {
                    counts.directives = counts.directives.saturating_add(inline.node.directives.len() as u64);
                    counts.add(self.selection_set(&inline.node.selection_set, nesting + 1)?);
                }
            }
        }
        Ok(counts)
    }

    /// A fragment's counts, computed once however often it is spread.
    fn fragment(&mut self, name: &'a str, nesting: usize) -> Result<Counts, LimitExceeded> {
        match self.fragments.get(name) {
            Some(FragmentState::Counted(counts)) => return Ok(*counts),
            Some(FragmentState::Counting) => {
                return Err(LimitExceeded(format!("fragment {name} spreads itself")));
            }
            None => {}
        }
        // An unknown fragment counts nothing here; validation reports it.
        let Some((key, definition)) = self.document.fragments.get_key_value(name) else {
            return Ok(Counts::default());
        };
        let key = key.as_str();
        self.fragments.insert(key, FragmentState::Counting);
        let counts = self.selection_set(&definition.node.selection_set, nesting)?;
        self.fragments.insert(key, FragmentState::Counted(counts));
        Ok(counts)
    }
}

/// The names of the fields at a selection set's own level, through its fragments (each fragment
/// visited once).
fn root_field_names<'a>(
    document: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    visited: &mut BTreeSet<&'a str>,
    names: &mut BTreeSet<String>,
) {
    for item in &set.node.items {
        match &item.node {
            Selection::Field(field) => {
                names.insert(field.node.name.node.to_string());
            }
            Selection::FragmentSpread(spread) => {
                let name = spread.node.fragment_name.node.as_str();
                if let Some((key, fragment)) = document.fragments.get_key_value(name)
                    && visited.insert(key.as_str())
                {
                    root_field_names(document, &fragment.node.selection_set, visited, names);
                }
            }
            Selection::InlineFragment(inline) => root_field_names(document, &inline.node.selection_set, visited, names),
        }
    }
}

/// Checks every operation of `document` against `limits` (async-graphql walks all of them, not
/// only the one that runs), and returns the shape of the one `operation_name` selects, or `None`
/// when none can be selected (the schema then answers why).
pub fn check(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    limits: &DocumentLimits,
) -> Result<Option<OperationShape>, LimitExceeded> {
    let mut counter = Counter { document, fragments: HashMap::new() };
    let mut selected = None;
    for (name, operation) in document.operations.iter() {
        let counts = counter.selection_set(&operation.node.selection_set, 0)?;
        let over = |what: &str, count: u64, limit: u64| {
            (count > limit).then(|| LimitExceeded(format!("the operation selects more than {limit} {what}")))
        };
        if let Some(exceeded) = over("fields", counts.fields, limits.fields)
            .or_else(|| over("aliased fields", counts.aliases, limits.aliases))
            .or_else(|| over("root fields", counts.top_fields, limits.root_fields))
            .or_else(|| over("directives", counts.directives, limits.directives))
        {
            return Err(exceeded);
        }
        let is_selected = match (name, operation_name) {
            (None, None) => true,
            (Some(name), Some(wanted)) => name.as_str() == wanted,
            // With no name asked for, a document of one named operation runs that one.
            (Some(_), None) => document.operations.iter().count() == 1,
            (None, Some(_)) => false,
        };
        if is_selected {
            let mut names = BTreeSet::new();
            root_field_names(document, &operation.node.selection_set, &mut BTreeSet::new(), &mut names);
            selected = Some(OperationShape {
                kind: operation.node.ty,
                name: name.map(|name| name.to_string()),
                root_field_names: names,
            });
        }
    }
    Ok(selected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DocumentLimits = DocumentLimits { fields: 100, aliases: 5, root_fields: 4, directives: 3 };

    fn run(query: &str, operation: Option<&str>) -> Result<Option<OperationShape>, LimitExceeded> {
        check(&async_graphql::parser::parse_query(query).unwrap(), operation, &LIMITS)
    }

    fn refused(query: &str) -> String {
        run(query, None).expect_err("the document is refused").0
    }

    #[test]
    fn a_plain_query_passes_and_reports_its_root_fields() {
        let shape =
            run("query Mine { me { subject } t: ticket(id: 1) { id } ...F } fragment F on Query { me { role } }", None)
                .unwrap()
                .unwrap();
        assert_eq!(shape.kind, OperationType::Query);
        assert_eq!(shape.name.as_deref(), Some("Mine"));
        assert_eq!(shape.root_field_names.iter().map(String::as_str).collect::<Vec<_>>(), ["me", "ticket"]);
        assert!(!shape.introspects());
    }

    #[test]
    fn each_limit_is_enforced_with_fragments_expanded() {
        assert!(
            refused("{ a: me { s } b: me { s } c: me { s } d: me { s } e: me { s } f: me { s } }")
                .contains("5 aliased")
        );
        // Two aliases in a fragment spread three times are six.
        assert!(refused("{ me { ...F ...F ...F } } fragment F on Me { a: subject b: role }").contains("5 aliased"));
        assert!(refused("{ a { x } b { x } c { x } d { x } e { x } }").contains("4 root fields"));
        assert!(refused("{ ...R ...R ...R } fragment R on Query { a b }").contains("4 root fields"));
        assert!(
            refused("{ me @skip(if: false) @include(if: true) { a @skip(if: false) b @skip(if: false) } }")
                .contains("3 directives")
        );
        assert!(
            refused("{ me { ...F @skip(if: false) ...F @skip(if: false) } } fragment F on Me { a @skip(if: false) }")
                .contains("3 directives")
        );
    }

    #[test]
    fn a_fragment_bomb_is_refused_in_linear_time() {
        // Each fragment spreads the next twice: 2^40 fields once expanded.
        let mut query = String::from("{ ...F0 }\n");
        for level in 0..40 {
            query.push_str(&format!("fragment F{level} on Query {{ ...F{next} ...F{next} }}\n", next = level + 1));
        }
        query.push_str("fragment F40 on Query { me { subject } }\n");
        let message = refused(&query);
        assert!(message.contains("100 fields") || message.contains("root fields"), "{message}");
    }

    #[test]
    fn fragment_cycles_and_runaway_nesting_are_refused() {
        assert!(
            refused("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").contains("spreads itself")
        );
        let mut query = String::from("{ ...F0 }\n");
        for level in 0..100 {
            query.push_str(&format!("fragment F{level} on Query {{ ...F{} }}\n", level + 1));
        }
        query.push_str("fragment F100 on Query { me }\n");
        assert!(refused(&query).contains("deeper than"));
    }

    #[test]
    fn every_operation_is_checked_and_the_named_one_is_described() {
        let query = "query Small { me { subject } } query Big { a: me { s } b: me { s } c: me { s } d: me { s } e: me { s } f: me { s } }";
        assert!(run(query, Some("Small")).is_err(), "the other operation is over the limit");
        let query = "query Small { me { subject } } mutation Rate { submitSatisfaction(x: 1) { rating } }";
        let shape = run(query, Some("Rate")).unwrap().unwrap();
        assert!(shape.is_mutation_of_only(&["submitSatisfaction", "__typename"]));
        assert_eq!(run(query, None).unwrap(), None, "two operations and no name: none is selected");
        assert_eq!(run(query, Some("Nope")).unwrap(), None);
    }

    #[test]
    fn introspection_is_recognised_also_through_fragments() {
        assert!(run("{ __schema { types { name } } }", None).unwrap().unwrap().introspects());
        assert!(
            run("{ ...I } fragment I on Query { __type(name: \"Ticket\") { name } }", None)
                .unwrap()
                .unwrap()
                .introspects()
        );
        assert!(!run("{ __typename }", None).unwrap().unwrap().introspects());
    }
}
