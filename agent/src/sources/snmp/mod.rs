//! The SNMP source (in progress): device profiles as data, and the
//! normaliser that turns a device's values into `ups`, `ups_phase`, … points.
//! Polling, traps and `probe` build on these.
#![allow(dead_code)] // Used by the poller, which comes next; tested now.

pub mod normalize;
pub mod profile;
pub mod value;
