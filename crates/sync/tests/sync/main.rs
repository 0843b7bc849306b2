//! End-to-end tests of the sync engine against the in-process ConnectWise sandbox, with a
//! store in a temporary directory. One test binary; each file is one area.

mod helpers;

mod changes;
mod faults;
mod lifecycle;
mod policies;
