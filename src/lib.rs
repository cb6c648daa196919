//! deskpulse: a GraphQL API over PostgreSQL for technical-support records and performance
//! reporting.
//!
//! Data flows one way: `http` (actix-web) -> `graphql` (async-graphql resolvers) -> `store`
//! (diesel queries) -> PostgreSQL. `db` holds the pool and the one blocking helper every query
//! goes through.

pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod export;
pub mod graphql;
pub mod http;
pub mod import;
pub mod kpi;
pub mod live;
pub mod models;
pub mod rate_limit;
pub mod replicas;
pub mod retention;
pub mod schedule;
pub mod schema;
pub mod sealer;
pub mod seed;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod ui;
