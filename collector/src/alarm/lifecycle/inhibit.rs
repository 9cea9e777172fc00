//! The inhibition stage, as data: the active conditions that explain others
//! (`Cond::inhibits`, from the built-ins' `explained_by`), and which of them
//! explains a given condition.

use std::collections::HashMap;

use crate::alarm::conditions::Cond;

/// The active conditions that explain others, by fingerprint.
pub struct Inhibitors<'a>(Vec<(String, &'a Cond)>);

impl<'a> Inhibitors<'a> {
    pub fn new(by_fp: &HashMap<String, &'a Cond>) -> Self {
        let mut v: Vec<(String, &'a Cond)> =
            by_fp.iter().filter(|(_, c)| c.active && !c.inhibits.is_empty()).map(|(fp, c)| (fp.clone(), *c)).collect();
        // The first by name (then labels) explains: not whichever the map gives first.
        v.sort_by(|(_, a), (_, b)| a.name.cmp(&b.name).then_with(|| a.labels.cmp(&b.labels)));
        Self(v)
    }

    /// The fingerprint of the condition that explains `c`: the first by
    /// name at its site that names it, for its host when the explainer
    /// lists hosts.
    pub fn of(&self, c: &Cond) -> Option<String> {
        self.0
            .iter()
            .find(|(_, i)| {
                i.inhibits.contains(&c.name.as_str())
                    && i.labels.get("site") == c.labels.get("site")
                    && (i.inhibit_hosts.is_empty() || c.labels.get("host").is_some_and(|h| i.inhibit_hosts.contains(h)))
            })
            .map(|(fp, _)| fp.clone())
    }

    /// What inhibits a firing alarm now, given its condition (if any) and
    /// what inhibited it `before`: a restored alarm without a condition yet
    /// keeps its inhibition.
    pub fn held(&self, cond: Option<&Cond>, before: Option<String>) -> Option<String> {
        match cond {
            Some(c) => self.of(c),
            None => before,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alarm::builtin::{self, labels};
    use crate::i18n::alarms::Texts;

    fn c(name: &'static str, pairs: &[(&str, &str)], active: bool) -> Cond {
        builtin::cond(name, labels(pairs), Texts::new(|_| String::new()), None, active)
    }

    #[test]
    fn a_condition_is_explained_by_an_active_one_at_its_site_that_names_it() {
        let mut ups = c("ups_output_off", &[("site", "hn"), ("device", "ups1")], true);
        ups.inhibits = builtin::EXPLAINED_BY_UPS;
        ups.inhibit_hosts = vec!["web1".into()];
        let explainers = [
            ("lost", c("power_lost", &[("site", "hn")], true)),
            ("ups", ups),
            ("idle", c("power_lost", &[("site", "hcm")], false)),
        ];
        let by_fp: HashMap<String, &Cond> = explainers.iter().map(|(fp, c)| (fp.to_string(), c)).collect();
        let inh = Inhibitors::new(&by_fp);
        let table = [
            (c("feed_lost", &[("site", "hn"), ("feed", "A")], true), Some("lost")),
            (c("feed_lost", &[("site", "hcm"), ("feed", "A")], true), None),
            (c("disk_full", &[("site", "hn"), ("host", "web1")], true), None),
            // Not fed by the UPS: only the power alarm explains it.
            (c("agent_silent", &[("site", "hn"), ("host", "db1")], true), Some("lost")),
        ];
        for (cond, want) in table {
            assert_eq!(inh.of(&cond).as_deref(), want, "{}", cond.name);
        }
        // Without the site's power alarm, the UPS explains only its own hosts.
        let by_fp: HashMap<String, &Cond> = [("ups".to_string(), &explainers[1].1)].into();
        let inh = Inhibitors::new(&by_fp);
        let silent = |h| c("agent_silent", &[("site", "hn"), ("host", h)], true);
        assert_eq!((inh.of(&silent("web1")).as_deref(), inh.of(&silent("db1"))), (Some("ups"), None));
    }

    #[test]
    fn of_two_explainers_the_first_by_name_is_chosen_whatever_the_maps_order() {
        let mut ups = c("ups_on_battery", &[("site", "hn"), ("device", "ups1")], true);
        ups.inhibits = builtin::EXPLAINED_BY_UPS;
        ups.inhibit_hosts = vec!["web1".into()];
        let lost = c("power_lost", &[("site", "hn")], true);
        let silent = c("agent_silent", &[("site", "hn"), ("host", "web1")], true);
        // Each map has its own hash seed: many maps, many orders.
        for _ in 0..50 {
            let by_fp: HashMap<String, &Cond> = [("ups".to_string(), &ups), ("lost".to_string(), &lost)].into();
            assert_eq!(Inhibitors::new(&by_fp).of(&silent).as_deref(), Some("lost"));
        }
    }
}
