//! The overview: one panel per site with its power chain drawn from the
//! topology (feeds → ATS → generator → each UPS → the hosts it powers),
//! its redundancy in words, and its alarms firing by severity, agents
//! silent, devices down and backups late. The wall display shows the same.

use std::collections::BTreeMap;

use maud::{Markup, html};

use super::Web;
use crate::alarm::chain::{Redundancy, Site, Ups};
use crate::alarm::config::Severity;
use crate::alarm::store::{Alarm, State as AlarmState};
use crate::i18n::Lang;
use crate::i18n::web::Text;

/// Firing alarms per site (None: labels without `site`) and severity.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct SiteCounts {
    /// [critical, warning, info]
    pub by_site: BTreeMap<Option<String>, [usize; 3]>,
}

pub fn slot(s: Severity) -> usize {
    match s {
        Severity::Critical => 0,
        Severity::Warning => 1,
        Severity::Info => 2,
    }
}

/// The configured sites (each listed, even with nothing firing) and what fires.
pub fn counts(sites: &[String], alarms: &[Alarm]) -> SiteCounts {
    let mut by_site: BTreeMap<Option<String>, [usize; 3]> = sites.iter().map(|s| (Some(s.clone()), [0; 3])).collect();
    for a in alarms.iter().filter(|a| a.state == AlarmState::Firing) {
        by_site.entry(a.labels.get("site").cloned()).or_default()[slot(a.severity)] += 1;
    }
    SiteCounts { by_site }
}

/// The site's redundancy, as a sentence.
pub fn redundancy_text(t: &Text, r: &Redundancy) -> String {
    match r {
        Redundancy::Full { live } => (t.redundancy_full)(&live.join(", ")),
        Redundancy::Single { live } => (t.redundancy_single)(live),
        Redundancy::Degraded { live, lost } => (t.redundancy_degraded)(&lost.join(", "), &live.join(", ")),
        Redundancy::Lost { generator: Some(true) } => t.redundancy_lost_generator.to_string(),
        Redundancy::Lost { generator: Some(false) } => t.redundancy_lost_battery.to_string(),
        Redundancy::Lost { generator: None } => t.redundancy_lost_no_generator.to_string(),
        Redundancy::Unknown => t.redundancy_unknown.to_string(),
    }
}

/// `ok`, `bad` or `unknown`: the class a state is drawn with.
fn class(good: Option<bool>) -> &'static str {
    match good {
        Some(true) => "ok",
        Some(false) => "bad",
        None => "unknown",
    }
}

pub fn ups_state<'a>(t: &'a Text, u: &Ups) -> (&'static str, &'a str) {
    if u.unreachable {
        ("bad", t.ups_unreachable)
    } else {
        match u.on_battery {
            Some(true) => ("bad", t.ups_on_battery),
            Some(false) => ("ok", t.ups_on_mains),
            None => ("unknown", t.no_data),
        }
    }
}

/// `name` as a link to `href` (the console's pages), or as text (the wall display).
fn named(name: &str, href: Option<String>) -> Markup {
    html! {
        @match href {
            Some(h) => a href=(h) { (name) },
            None => (name),
        }
    }
}

fn chain(lang: Lang, s: &Site, links: bool) -> Markup {
    let t = lang.web();
    let device = |d: &str| links.then(|| super::devices::device_link(&s.name, d));
    html! {
        ol.chain aria-label=(t.power_chain) {
            li.stage.feeds {
                ul {
                    @for f in &s.feeds {
                        li.node.(class(f.live)) data-feed=(f.name) {
                            span.what { ((t.feed)(&f.name)) }
                            span.state { (match f.live { Some(true) => t.feed_live, Some(false) => t.feed_lost, None => t.no_data }) }
                            @if let Some(v) = f.voltage_v { span.detail { (lang.num(v, 0)) " V" } }
                        }
                    }
                }
            }
            @if !s.ats.is_empty() {
                li.stage.ats {
                    ul {
                        @for a in &s.ats {
                            // On its secondary source, or not redundant: amber, as `ats_on_secondary` fires.
                            @let c = match (a.on_source_b, a.redundant, &a.active_source) {
                                (Some(true), _, _) | (_, Some(false), _) => "warn",
                                (None, None, None) => "unknown",
                                _ => "ok",
                            };
                            li.node.(c) data-device=(a.device) {
                                span.what { (named(&format!("{} {}", t.ats, a.device), device(&a.device))) }
                                span.state {
                                    @match (&a.active_source, a.on_source_b) {
                                        (Some(src), _) => ((t.ats_on)(src)),
                                        (None, Some(b)) => ((t.ats_on)(if b { "B" } else { "A" })),
                                        (None, None) => (t.no_data),
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !s.generators.is_empty() {
                li.stage.generators {
                    ul {
                        @for g in &s.generators {
                            // A running generator is drawn as a warning: the site is off the grid.
                            li.node.(match g.running { Some(true) => "warn", Some(false) => "ok", None => "unknown" }) data-device=(g.device) {
                                span.what { (named(&format!("{} {}", t.generator, g.device), device(&g.device))) }
                                span.state { (match g.running { Some(true) => t.gen_running, Some(false) => t.gen_stopped, None => t.no_data }) }
                                @if let Some(p) = g.fuel_pct { span.detail { ((t.fuel)(&lang.pct(p, 0))) } }
                            }
                        }
                    }
                }
            }
            li.stage.ups {
                ul {
                    @for u in &s.ups {
                        @let (c, word) = ups_state(t, u);
                        li.node.(c) data-device=(u.device) {
                            span.what { (named(&(t.ups_named)(&u.device), device(&u.device))) }
                            span.state { (word) }
                            @if let Some(p) = u.charge_pct { span.detail { ((t.charge)(&lang.pct(p, 0))) } }
                            @if let Some(r) = u.runtime_s { span.detail { ((t.runtime)((r / 60.0).floor().max(0.0) as u64)) } }
                            @if let Some(p) = u.load_pct { span.detail { ((t.load)(&lang.pct(p, 0))) } }
                            @if !u.hosts.is_empty() {
                                ul.hosts aria-label=(t.hosts_powered) {
                                    @for h in &u.hosts {
                                        li.host.(class(h.silent.map(|s| !s))) data-host=(h.name) {
                                            span.what { (named(&h.name, links.then(|| super::hosts::host_link(&s.name, &h.name)))) }
                                            " "
                                            span.state { (match h.silent { Some(false) => t.host_up, Some(true) => t.host_silent, None => t.no_data }) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The alarms page filtered to a site's alarms of one severity.
fn alarms_link(site: &str, severity: &str) -> String {
    let q = serde_urlencoded::to_string([("site", site), ("severity", severity)]).unwrap_or_default();
    format!("/ui/alarms?{q}")
}

const WORDS: [(&str, usize); 3] = [("critical", 0), ("warning", 1), ("info", 2)];

fn severity_word(t: &Text, i: usize) -> &'static str {
    [t.critical, t.warning, t.info][i]
}

fn panel(lang: Lang, name: Option<&str>, chain_of: Option<&Site>, n: &[usize; 3], links: bool) -> Markup {
    let t = lang.web();
    html! {
        article.site data-site=(name.unwrap_or("")) {
            h2 { (name.unwrap_or(t.no_site)) }
            @if let Some(s) = chain_of {
                @let r = s.redundancy();
                p.redundancy.(match r { Redundancy::Full { .. } | Redundancy::Single { .. } => "ok", Redundancy::Unknown => "unknown", _ => "bad" }) {
                    (redundancy_text(t, &r))
                }
                (chain(lang, s, links))
            }
            h3.sr { (t.firing_alarms) }
            @if n.iter().all(|x| *x == 0) {
                p.quiet { (t.all_quiet) }
            } @else {
                ul.counts {
                    @for (class, i) in WORDS {
                        li.(class).zero[n[i] == 0] {
                            // Alarms without a site cannot be filtered to: the count only.
                            @if let Some(site) = name {
                                a href=(alarms_link(site, class)) { (severity_word(t, i)) ": " strong { (n[i]) } }
                            } @else {
                                (severity_word(t, i)) ": " strong { (n[i]) }
                            }
                        }
                    }
                }
            }
            @if let Some(s) = chain_of {
                ul.facts {
                    li.(if s.agents_silent > 0 { "bad" } else { "ok" }) { ((t.agents_silent)(s.agents_silent, s.agents)) }
                    @if !s.devices_down.is_empty() {
                        li.bad { ((t.devices_down)(s.devices_down.len(), &s.devices_down.join(", "))) }
                    }
                    li.(if s.backups_late > 0 { "bad" } else { "ok" }) { ((t.backups_late)(s.backups_late)) }
                }
            }
        }
    }
}

/// The overview's body, for the logged-in page and the wall display
/// (`links`: its hosts and devices link to their pages; not on the wall).
pub async fn body(web: &Web, lang: Lang, links: bool) -> Markup {
    let t = lang.web();
    let now = crate::alarm::now_ms();
    let read = match web.app.alarms.clone() {
        None => None,
        Some(e) => {
            let read = tokio::task::spawn_blocking(move || {
                let cfg = e.config();
                let sites: Vec<String> = cfg.sites.iter().map(|s| s.name.clone()).collect();
                (counts(&sites, &e.alarms()), e.chains(std::time::Instant::now()))
            });
            read.await.ok()
        }
    };
    html! {
        h1 { (t.overview) }
        @match &read {
            None => p.notice { (t.alarms_off) },
            Some((c, chains)) => {
                section.sites aria-label=(t.sites) {
                    @for (site, n) in &c.by_site {
                        @let s = site.as_ref().and_then(|name| chains.iter().find(|s| &s.name == name));
                        (panel(lang, site.as_deref(), s, n, links))
                    }
                    // Sites only reported (no `sites:` entry) but with a chain.
                    @for s in chains.iter().filter(|s| !c.by_site.contains_key(&Some(s.name.clone()))) {
                        (panel(lang, Some(&s.name), Some(s), &[0; 3], links))
                    }
                }
            }
        }
        @if let Some(p) = &web.app.peering {
            (super::peer::panel(lang, &web.tz, &p.status(now)))
        }
        p.updated { ((t.updated_at)(&lang.time(now, &web.tz))) }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::alarm::chain::{Ats, Feed, Generator, Host};

    pub fn alarm(site: Option<&str>, severity: Severity, state: AlarmState) -> Alarm {
        Alarm {
            fingerprint: "f".into(),
            name: "feed_lost".into(),
            labels: site.map(|s| ("site".to_string(), s.to_string())).into_iter().collect(),
            severity,
            state,
            summary: crate::i18n::alarms::Texts { vi: String::new(), en: String::new() },
            value: None,
            since_ms: 0,
            fired_ms: None,
            sent_ms: None,
            ack: None,
            inhibited_by: None,
            escalated_ms: None,
            silenced_by: None,
        }
    }

    #[test]
    fn web_the_overview_counts_firing_alarms_per_site_and_severity_and_lists_quiet_sites() {
        let alarms = [
            alarm(Some("hn"), Severity::Critical, AlarmState::Firing),
            alarm(Some("hn"), Severity::Critical, AlarmState::Firing),
            alarm(Some("hn"), Severity::Warning, AlarmState::Firing),
            alarm(Some("hn"), Severity::Info, AlarmState::Pending),
            alarm(None, Severity::Info, AlarmState::Firing),
        ];
        let c = counts(&["hn".into(), "hcm".into()], &alarms);
        let want: BTreeMap<Option<String>, [usize; 3]> =
            [(None, [0, 0, 1]), (Some("hcm".into()), [0, 0, 0]), (Some("hn".into()), [2, 1, 0])].into_iter().collect();
        assert_eq!(c.by_site, want);
    }

    fn site() -> Site {
        Site {
            name: "hn".into(),
            feeds: vec![
                Feed { name: "A".into(), live: Some(false), voltage_v: Some(0.0) },
                Feed { name: "B".into(), live: Some(true), voltage_v: Some(229.6) },
            ],
            feeds_expected: 2,
            ats: vec![Ats {
                device: "ats1".into(),
                active_source: Some("B".into()),
                on_source_b: Some(true),
                redundant: Some(false),
            }],
            generators: vec![Generator {
                device: "gen1".into(),
                running: Some(true),
                state: None,
                fuel_pct: Some(80.0),
            }],
            ups: vec![Ups {
                device: "ups1".into(),
                status: Some("on_battery".into()),
                on_battery: Some(true),
                charge_pct: Some(91.5),
                runtime_s: Some(1530.0),
                load_pct: Some(35.0),
                unreachable: false,
                hosts: vec![Host { name: "<img src=x onerror=alert(1)>".into(), silent: Some(true) }],
            }],
            agents_silent: 1,
            agents: 3,
            devices_down: vec![],
            backups_late: 0,
        }
    }

    #[test]
    fn the_power_chain_says_each_stages_state_in_vietnamese_numbers_and_escapes_names() {
        let html = panel(Lang::Vi, Some("hn"), Some(&site()), &[1, 0, 0], true).into_string();
        for want in [
            r#"<p class="redundancy bad">Mất lộ A: chỉ còn chạy trên lộ B.</p>"#,
            r#"<li class="node bad" data-feed="A"><span class="what">Lộ A</span><span class="state">Mất điện</span><span class="detail">0 V</span></li>"#,
            r#"<span class="detail">230 V</span>"#,
            r#"<span class="state">Đang dùng nguồn B</span>"#,
            r#"<li class="node warn" data-device="gen1"><span class="what"><a href="/ui/devices/hn/gen1">Máy phát điện gen1</a></span><span class="state">Đang chạy</span><span class="detail">Nhiên liệu 80 %</span></li>"#,
            r#"<span class="state">Đang chạy pin</span><span class="detail">Pin 92 %</span><span class="detail">Còn 25 phút</span><span class="detail">Tải 35 %</span>"#,
            r#"<li class="host bad" data-host="&lt;img src=x onerror=alert(1)&gt;"><span class="what"><a href="/ui/hosts/hn/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E">&lt;img src=x onerror=alert(1)&gt;</a></span> <span class="state">Mất liên lạc</span></li>"#,
            r#"<span class="what"><a href="/ui/devices/hn/ups1">UPS ups1</a></span>"#,
            r#"<li class="bad">Agent mất liên lạc: 1/3</li>"#,
            r#"<a href="/ui/alarms?site=hn&amp;severity=critical">Nghiêm trọng: <strong>1</strong></a>"#,
        ] {
            assert!(html.contains(want), "{want}\nnot in\n{html}");
        }
        assert!(!html.contains("<img"), "{html}");
        // The wall display links nowhere: nobody logs in there.
        let wall = panel(Lang::Vi, Some("hn"), Some(&site()), &[1, 0, 0], false).into_string();
        assert!(wall.contains(r#"<span class="what">Máy phát điện gen1</span>"#), "{wall}");
        assert!(!wall.contains("/ui/hosts/") && !wall.contains("/ui/devices/"), "{wall}");
    }

    #[test]
    fn the_redundancy_is_said_for_each_state_in_english() {
        let t = Lang::En.web();
        let cases = [
            (Redundancy::Full { live: vec!["A".into(), "B".into()] }, "Fully redundant: feeds A, B live."),
            (Redundancy::Single { live: "A".into() }, "One feed only (A): no redundancy."),
            (
                Redundancy::Degraded { live: vec!["A".into()], lost: vec!["B".into()] },
                "Feed B lost: running on feed A only.",
            ),
            (Redundancy::Lost { generator: Some(true) }, "All feeds lost: running on the generator."),
            (
                Redundancy::Lost { generator: Some(false) },
                "All feeds lost and the generator is not running: on UPS batteries.",
            ),
            (Redundancy::Lost { generator: None }, "All feeds lost: on UPS batteries."),
            (Redundancy::Unknown, "No power data yet."),
        ];
        for (r, want) in cases {
            assert_eq!(redundancy_text(t, &r), want);
        }
    }
}
