//! Which writer's token wrote each spool record, so that a line a sink's
//! target refuses can be logged with the writer to ask about it.
//!
//! In memory only, and bounded: a spool record holds no writer name (adding
//! one would change the spool's file format), so after a restart, or for a
//! sink more than [`Origins::MAX_RECORDS`] records behind, the writer of a
//! refused line is unknown and logged as such.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Spool sequence number → the token name that wrote the record.
#[derive(Default)]
pub struct Origins {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    by_seq: BTreeMap<u64, Arc<str>>,
    /// One shared copy of each token name.
    names: HashMap<String, Arc<str>>,
}

impl std::fmt::Debug for Origins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.inner.lock().map(|g| g.by_seq.len()).unwrap_or(0);
        f.debug_struct("Origins").field("records", &n).finish()
    }
}

impl Origins {
    /// Records remembered; older ones are forgotten first (a few MiB).
    pub const MAX_RECORDS: usize = 200_000;

    /// Remembers that `writer` wrote record `seq`.
    pub fn record(&self, seq: u64, writer: &str) {
        let mut g = self.inner.lock().expect("not poisoned");
        let name = match g.names.get(writer) {
            Some(n) => n.clone(),
            None => {
                let n: Arc<str> = Arc::from(writer);
                g.names.insert(writer.to_string(), n.clone());
                n
            }
        };
        g.by_seq.insert(seq, name);
        while g.by_seq.len() > Self::MAX_RECORDS {
            g.by_seq.pop_first();
        }
    }

    /// The writer of record `seq`, if remembered.
    pub fn of(&self, seq: u64) -> Option<Arc<str>> {
        self.inner.lock().expect("not poisoned").by_seq.get(&seq).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_records_are_forgotten_past_the_bound() {
        let o = Origins::default();
        for seq in 0..=Origins::MAX_RECORDS as u64 {
            o.record(seq, if seq % 2 == 0 { "even" } else { "odd" });
        }
        assert_eq!(o.of(0), None);
        assert_eq!(o.of(1).as_deref(), Some("odd"));
        assert_eq!(o.of(Origins::MAX_RECORDS as u64).as_deref(), Some("even"));
    }
}
