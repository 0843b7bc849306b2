//! Integration tests of the SQLite store, one module per area. Every test opens a fresh store
//! in its own temporary data dir.

mod audit;
mod connection;
mod cw_cache;
mod helpers;
mod inventory;
mod lease;
mod links;
mod mappings;
mod runs;
mod users;
