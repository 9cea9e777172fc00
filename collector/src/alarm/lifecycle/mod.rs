//! Stages of the alarm lifecycle that `Engine::evaluate_at` runs in turn.
//! Each is a small unit over its inputs, with its own tests:
//! - `transition`: pending → firing → resolved, `for`;
//! - `inhibit`: which active condition explains another, as data;
//! - `dispatch`: the settle wait, first notice, repeats and escalation;
//! - `flap`: flap damping of the firing and resolved notices.
//!
//! Silences (matched in `silence.rs`), routing with storm folding
//! (`notify.rs`) and the one store write are still inline in `evaluate_at`.

pub mod dispatch;
pub mod flap;
pub mod inhibit;
pub mod transition;

/// A history entry: the alarm as it is, the event, its detail.
pub type Event = (super::store::Alarm, &'static str, String);
