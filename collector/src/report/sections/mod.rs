//! The report's sections, each computed from the [`Ctx`](super::context::Ctx)
//! in its own file: hosts (availability, CPU, memory, disks and what to act
//! on first), sites, services, incidents, power (UPS, feeds, generators)
//! and backups.

pub mod backups;
pub mod hosts;
pub mod incidents;
pub mod power;
pub mod services;
pub mod sites;

#[cfg(test)]
pub(crate) mod testing {
    //! The generated month of `report::sample`, as a section test reads it.

    use rusqlite::Connection;

    use crate::report::{Inputs, Period, parse_period, sample};

    pub struct Sample {
        _dir: tempfile::TempDir,
        pub trends: Connection,
        pub alarms: Connection,
        pub period: Period,
    }

    impl Sample {
        pub fn october() -> Sample {
            let dir = tempfile::tempdir().unwrap();
            sample::generate(dir.path(), 0, 1).unwrap();
            let trends = Connection::open(dir.path().join("trends.db")).unwrap();
            let alarms = Connection::open(dir.path().join("alarms.db")).unwrap();
            let period = parse_period("2026-10", &sample::tz()).unwrap();
            Sample { _dir: dir, trends, alarms, period }
        }

        pub fn inputs(&self) -> Inputs<'_> {
            Inputs {
                trends: &self.trends,
                alarms: Some(&self.alarms),
                tz: sample::tz(),
                services: vec!["portal".into()],
            }
        }
    }

    /// Runs `f` on the generated October, as seen on 1 November at 12:00.
    pub fn october(f: impl FnOnce(&crate::report::context::Ctx<'_>)) {
        let s = Sample::october();
        let inputs = s.inputs();
        let c = crate::report::context::Ctx::new(&inputs, &s.period, None, sample::at(31, 12, 0) + 86_400).unwrap();
        f(&c);
    }
}
