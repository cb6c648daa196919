//! Integration tests: a real server on a free port, a fresh PostgreSQL database per test (cloned
//! from a migrated template), real HTTP requests with real tokens. One test binary, so it links
//! once.

mod helpers;
mod processes;

mod auth;
mod cli;
mod concurrency;
mod cursors;
mod export;
mod faults;
mod gate;
mod headers;
mod health;
mod hostile;
mod import;
mod improvement;
mod interactions;
mod kpi_engine;
mod kpi_equivalence;
mod kpis;
mod limits;
mod metrics;
mod migrations;
mod replicas;
mod reports;
mod retention;
mod satisfaction;
mod schema;
mod seed;
mod shutdown;
mod sla;
mod staff;
mod subscriptions;
mod tickets;
mod ui;
