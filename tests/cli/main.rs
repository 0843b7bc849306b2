//! End-to-end tests of the `hyalto` binary: each test starts a ConnectWise sandbox in this
//! process, gives the binary a fresh data dir, and runs it as a child process the way a user
//! would.

mod bench;
mod config;
mod configure;
mod demo;
mod helpers;
mod inventory;
mod mapping;
mod output;
mod products;
mod serve;
mod sync;
mod vsphere;
