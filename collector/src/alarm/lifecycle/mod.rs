//! Stages of the alarm lifecycle that `Engine::evaluate_at` runs in turn.
//! Each is a small unit over its inputs, with its own tests:
//! - `transition`: pending → firing → resolved, `for`;
//! - `inhibit`: which active condition explains another, as data;
//! - `flap`: flap damping of the firing and resolved notices.
//!
//! Silences, the settle wait, repeats, escalation, routing and the one store
//! write are still inline in `evaluate_at`.

pub mod flap;
pub mod inhibit;
pub mod transition;

/// A history entry: the alarm as it is, the event, its detail.
pub type Event = (super::store::Alarm, &'static str, String);
