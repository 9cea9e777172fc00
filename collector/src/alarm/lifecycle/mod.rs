//! Stages of the alarm lifecycle that `Engine::evaluate_at` runs in turn,
//! each a small unit over its inputs with its own tests, passing a
//! [`Round`] from one to the next:
//! - `transition`: pending → firing → resolved, `for`;
//! - `expiry`: alarms nothing reports on any more are closed;
//! - `silence`: which silence keeps an alarm quiet now;
//! - `inhibit`: which active condition explains another, as data;
//! - `dispatch`: the settle wait, first notice, repeats and escalation;
//! - `flap`: flap damping of the firing and resolved notices;
//! - `route`: notices to receivers, most severe first, storms folded;
//! - `write`: the one store write, then the engine's alarms.

pub mod dispatch;
pub mod expiry;
pub mod flap;
pub mod inhibit;
pub mod route;
pub mod silence;
pub mod transition;
pub mod write;

use super::store::Alarm;

/// A history entry: the alarm as it is, the event, its detail.
pub type Event = (Alarm, &'static str, String);

/// What one evaluation changes, filled stage by stage.
#[derive(Debug, Default)]
pub struct Round {
    /// The alarms to write (new, changed).
    pub updated: Vec<Alarm>,
    /// The alarms to remove (resolved, expired).
    pub removed: Vec<Alarm>,
    pub history: Vec<Event>,
    pub notices: Vec<flap::Notice>,
    /// Every alarm as the round leaves it, the removed ones left out (from `dispatch`).
    pub alarms: Vec<Alarm>,
}

impl Round {
    /// Whether nothing is to be written.
    pub fn is_empty(&self) -> bool {
        self.updated.is_empty() && self.removed.is_empty() && self.notices.is_empty()
    }
}
