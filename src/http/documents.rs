//! Parsed GraphQL documents by their text. Dashboards, frontends and scripts send the same few
//! operations all day, and parsing one (a PEG parser) costs more than the rest of a small
//! request's work in the server. A document is the same whoever sends it, so the cache holds no
//! caller's data; only the text is the key.
//!
//! Bounded in entries and in the size of a document kept: when full it is emptied and refills
//! with what is sent from then on, so a caller sending endless distinct documents costs only the
//! parsing it would have cost anyway.

use std::collections::HashMap;
use std::sync::Mutex;

use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, ServerError};

/// Documents kept at most.
const CAPACITY: usize = 256;
/// Longer documents are parsed every time (operations sent all day are short).
const MAX_CACHED_TEXT_BYTES: usize = 16 * 1024;

#[derive(Default)]
pub struct DocumentCache {
    parsed: Mutex<HashMap<String, ExecutableDocument>>,
}

impl DocumentCache {
    /// `request`'s document, parsed once per distinct text: taken from the cache, or parsed and
    /// kept. The request holds it afterwards, so the schema does not parse it again.
    pub fn parse<'r>(&self, request: &'r mut Request) -> Result<&'r ExecutableDocument, ServerError> {
        let cacheable = request.query.len() <= MAX_CACHED_TEXT_BYTES;
        if cacheable && let Some(document) = self.lock().get(&request.query) {
            request.set_parsed_query(document.clone());
            return request.parsed_query();
        }
        let query = cacheable.then(|| request.query.clone());
        let document = request.parsed_query()?;
        if let Some(query) = query {
            let mut parsed = self.lock();
            if parsed.len() >= CAPACITY {
                parsed.clear();
            }
            parsed.insert(query, document.clone());
        }
        Ok(document)
    }

    /// A poisoned lock only means a panic while holding it; the map is still whole.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ExecutableDocument>> {
        self.parsed.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn operation_names(document: &ExecutableDocument) -> Vec<String> {
        document.operations.iter().map(|(name, _)| name.map(|name| name.to_string()).unwrap_or_default()).collect()
    }

    #[test]
    fn a_document_is_parsed_once_and_served_to_every_request_with_its_text() {
        let cache = DocumentCache::default();
        let text = "query Q { a b }";
        assert_eq!(operation_names(cache.parse(&mut Request::new(text)).unwrap()), ["Q"]);
        assert_eq!(cache.lock().len(), 1);

        // What the cache holds is what the next request with that text gets, unparsed.
        let stand_in = async_graphql::parser::parse_query("query R { a }").unwrap();
        cache.lock().insert(text.to_owned(), stand_in);
        assert_eq!(operation_names(cache.parse(&mut Request::new(text)).unwrap()), ["R"]);
        assert_eq!(cache.lock().len(), 1);
    }

    #[test]
    fn a_document_that_does_not_parse_is_not_kept() {
        let cache = DocumentCache::default();
        assert!(cache.parse(&mut Request::new("query {")).is_err());
        assert!(cache.lock().is_empty());
    }

    #[test]
    fn a_full_cache_starts_again_and_long_documents_are_never_kept() {
        let cache = DocumentCache::default();
        for n in 0..CAPACITY + 1 {
            cache.parse(&mut Request::new(format!("{{ f{n} }}"))).unwrap();
        }
        assert_eq!(cache.lock().len(), 1);
        let long = format!("{{ a{} }}", " ".repeat(MAX_CACHED_TEXT_BYTES));
        cache.parse(&mut Request::new(long)).unwrap();
        assert_eq!(cache.lock().len(), 1);
    }
}
