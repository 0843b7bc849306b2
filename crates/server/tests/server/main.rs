//! End-to-end tests of `hyalto serve`: each test starts the real server on a random port with
//! a temporary data dir, and a ConnectWise sandbox in this process, and talks HTTP to both.

mod access;
mod api;
mod helpers;
mod pages;
mod schedule;
mod screens;
mod sync;
