//! The collector's data model, on the ground floor: what an accepted point
//! is once the write API has read it. Ingest makes these; the alarm state,
//! the trends and the reports read them, and none of those import `ingest`.

/// An accepted point, owned: what the alarm state and the trends read.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    pub measurement: String,
    /// Tags, with `site`/`host` as forwarded.
    pub tags: Vec<(String, String)>,
    pub fields: Vec<(String, ObsValue)>,
    pub ts: i64,
}

/// A field's value.
#[derive(Debug, Clone, PartialEq)]
pub enum ObsValue {
    Num(f64),
    Bool(bool),
    Str(String),
}

impl Observation {
    pub fn tag(&self, k: &str) -> Option<&str> {
        self.tags.iter().find(|(t, _)| t == k).map(|(_, v)| v.as_str())
    }
}
