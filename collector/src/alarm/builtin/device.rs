//! The device family: a polled device (UPS card, meter, ATS, PDU) that does
//! not answer.

use dcwatch_common::schema::{f, m};

use super::{Ctx, Def, cond, labels};
use crate::alarm::conditions::Cond;
use crate::alarm::config::Severity::Warning;
use crate::i18n::alarms::{self as words, Texts};

pub const DEFS: &[Def] = &[Def {
    name: "device_unreachable",
    severity: Warning,
    reads: &[m::DEVICE],
    explained_by: &["power_lost"],
    uncapped: false,
}];

pub fn conditions(ctx: &Ctx, out: &mut Vec<Cond>) {
    if !ctx.on("device_unreachable") {
        return;
    }
    for s in ctx.latest.series.values().filter(|s| s.measurement == m::DEVICE) {
        let Some(up) = s.flag(f::UP) else { continue };
        let (site, dev) = (s.tag("site"), s.tag("device"));
        let summary = Texts::new(|l| words::device_unreachable(l, s.tag("kind"), dev, site, s.tag("protocol")));
        out.push(cond("device_unreachable", labels(&[("site", site), ("device", dev)]), summary, None, !up));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_support::{cfg, obs, row, run};
    use crate::model::ObsValue::{Bool, Num};

    #[test]
    fn a_device_that_does_not_answer_is_unreachable() {
        let c = cfg("");
        let tags = [("site", "hn"), ("device", "pdu1"), ("kind", "pdu"), ("protocol", "snmp")];
        let l = "device=pdu1,site=hn";
        let table = [
            (vec![("up", Bool(false))], vec![row("device_unreachable", l, "warning", None, true)]),
            (vec![("up", Bool(true))], vec![row("device_unreachable", l, "warning", None, false)]),
            (vec![("latency_ms", Num(3.0))], vec![]),
        ];
        for (fields, want) in table {
            assert_eq!(run(super::conditions, &c, &[obs("device", &tags, &fields)], Instant::now(), 0), want);
        }
        let off = cfg("builtin: {disabled: [device_unreachable]}\n");
        assert_eq!(
            run(super::conditions, &off, &[obs("device", &tags, &[("up", Bool(false))])], Instant::now(), 0),
            []
        );
    }
}
