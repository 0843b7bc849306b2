//! The client against the real hyalto ConnectWise sandbox, started in-process on a free port.
//!
//! One test binary; each test starts its own sandbox so faults and data never leak between
//! tests.

mod errors;
mod faults;
mod helpers;
mod logging;
mod mock;
mod queries;
mod redaction;
mod tls;
mod wire;
mod writes;
