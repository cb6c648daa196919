//! Integration tests: a real server on a free port, a fresh PostgreSQL database per test (cloned
//! from a migrated template), real HTTP requests with real tokens. One test binary, so it links
//! once.

mod helpers;

mod auth;
mod cli;
mod health;
mod import;
mod interactions;
mod kpis;
mod migrations;
mod retention;
mod satisfaction;
mod schema;
mod seed;
mod staff;
mod tickets;
