//! Store functions: the diesel queries. They take a connection, return row structs or plain
//! values, and know nothing about GraphQL.

pub mod system;
