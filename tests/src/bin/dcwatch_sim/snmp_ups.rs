//! `dcwatch-sim snmp-ups` serves one UPS over SNMP v1/v2c (RFC 1628
//! UPS-MIB) whose state follows a scenario — a mains failure with the charge
//! falling, low battery, the mains coming back — and sends the matching
//! UPS-MIB traps. It is not the tests' oracle (snmpsim and Net-SNMP are); it
//! lets the demo show a power event without Python.
//!
//! A scenario is a text file, one step per line, `<second> <what> [value]`:
//!
//! ```text
//! 0   online
//! 10  on_battery        # mains fail: upsTrapOnBattery
//! 10  charge_rate -2    # % per second
//! 30  low_battery       # upsTrapAlarmEntryAdded (upsAlarmLowBattery)
//! 45  online            # mains back: upsTrapAlarmEntryRemoved (upsAlarmOnBattery)
//! 45  charge_rate 0.5
//! 45  load 45           # output load, %
//! ```

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_snmp::agent::Agent;
use async_snmp::handler::{BoxFuture, GetNextResult, GetResult, HandlerResult, MibHandler, RequestContext};
use async_snmp::{Auth, Client, Oid, Value, VarBind};

const OUTAGE: &str = "0 online\n10 on_battery\n10 charge_rate -2\n30 low_battery\n45 online\n45 charge_rate 0.5\n";
const STEADY: &str = "0 online\n";

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Online,
    OnBattery,
    LowBattery,
    ChargeRate(f64),
    Load(f64),
}

fn parse_scenario(text: &str) -> Result<Vec<(f64, Step)>, String> {
    super::parse_steps(text, |parts, bad| {
        let num = || -> Result<f64, String> {
            parts.get(2).and_then(|v| v.parse().ok()).ok_or_else(|| bad("needs a number"))
        };
        Ok(match parts.get(1).copied() {
            Some("online") => Step::Online,
            Some("on_battery") => Step::OnBattery,
            Some("low_battery") => Step::LowBattery,
            Some("charge_rate") => Step::ChargeRate(num()?),
            Some("load") => Step::Load(num()?),
            _ => return Err(bad("expected online, on_battery, low_battery, charge_rate N or load N")),
        })
    })
}

/// The simulated UPS.
#[derive(Debug, Clone)]
struct Ups {
    started: Instant,
    on_battery_since: Option<Instant>,
    low: bool,
    charge: f64,
    charge_rate: f64,
    load: f64,
    line_bads: u32,
}

impl Ups {
    fn uptime_ticks(&self) -> u32 {
        (self.started.elapsed().as_millis() / 10) as u32
    }

    /// The UPS-MIB objects, by OID.
    fn mib(&self) -> BTreeMap<Oid, Value> {
        let mut m = BTreeMap::new();
        let mut put = |oid: &str, v: Value| {
            m.insert(Oid::parse(oid).expect("valid OID"), v);
        };
        let on_batt = self.on_battery_since.is_some();
        let charge = self.charge.round().clamp(0.0, 100.0) as i32;
        // 40 minutes at full charge and 45 % load, shorter with more load.
        let runtime_min = (self.charge / 100.0 * 40.0 * 45.0 / self.load.max(1.0)).round() as i32;
        let out_w = (self.load / 100.0 * 2200.0).round() as i32;
        put("1.3.6.1.2.1.1.1.0", Value::OctetString("dcwatch-sim UPS (RFC 1628 UPS-MIB)".into()));
        put("1.3.6.1.2.1.1.2.0", Value::ObjectIdentifier(Oid::parse("1.3.6.1.4.1.8072.3.2.10").expect("oid")));
        put("1.3.6.1.2.1.1.3.0", Value::TimeTicks(self.uptime_ticks()));
        put("1.3.6.1.2.1.1.5.0", Value::OctetString("sim-ups".into()));
        put("1.3.6.1.2.1.33.1.1.1.0", Value::OctetString("dcwatch-sim".into()));
        put("1.3.6.1.2.1.33.1.1.2.0", Value::OctetString("SIM-3000".into()));
        put("1.3.6.1.2.1.33.1.2.1.0", Value::Integer(if self.low { 3 } else { 2 }));
        let secs_on_batt = self.on_battery_since.map_or(0, |t| t.elapsed().as_secs() as i32);
        put("1.3.6.1.2.1.33.1.2.2.0", Value::Integer(secs_on_batt));
        put("1.3.6.1.2.1.33.1.2.3.0", Value::Integer(runtime_min));
        put("1.3.6.1.2.1.33.1.2.4.0", Value::Integer(charge));
        put("1.3.6.1.2.1.33.1.2.5.0", Value::Integer(480 + charge / 2)); // 0.1 V DC
        put("1.3.6.1.2.1.33.1.2.7.0", Value::Integer(27));
        put("1.3.6.1.2.1.33.1.3.1.0", Value::Counter32(self.line_bads));
        put("1.3.6.1.2.1.33.1.3.2.0", Value::Integer(1));
        put("1.3.6.1.2.1.33.1.3.3.1.1.1", Value::Integer(1));
        put("1.3.6.1.2.1.33.1.3.3.1.2.1", Value::Integer(if on_batt { 0 } else { 500 }));
        put("1.3.6.1.2.1.33.1.3.3.1.3.1", Value::Integer(if on_batt { 0 } else { 231 }));
        put("1.3.6.1.2.1.33.1.4.1.0", Value::Integer(if on_batt { 5 } else { 3 }));
        put("1.3.6.1.2.1.33.1.4.2.0", Value::Integer(500));
        put("1.3.6.1.2.1.33.1.4.3.0", Value::Integer(1));
        put("1.3.6.1.2.1.33.1.4.4.1.1.1", Value::Integer(1));
        put("1.3.6.1.2.1.33.1.4.4.1.2.1", Value::Integer(230));
        put("1.3.6.1.2.1.33.1.4.4.1.3.1", Value::Integer((f64::from(out_w) / 230.0 * 10.0).round() as i32));
        put("1.3.6.1.2.1.33.1.4.4.1.4.1", Value::Integer(out_w));
        put("1.3.6.1.2.1.33.1.4.4.1.5.1", Value::Integer(self.load.round() as i32));
        put("1.3.6.1.2.1.33.1.6.1.0", Value::Gauge32(u32::from(on_batt) + u32::from(self.low)));
        m
    }
}

/// Serves the UPS's objects under one prefix (a handler answers only for
/// its own subtree).
struct Handler(Arc<Mutex<Ups>>, Oid);

impl Handler {
    fn mib(&self) -> BTreeMap<Oid, Value> {
        let mut m = self.0.lock().expect("lock").mib();
        m.retain(|o, _| o.starts_with(&self.1));
        m
    }
}

impl MibHandler for Handler {
    fn get<'a>(&'a self, _ctx: &'a RequestContext, oid: &'a Oid) -> BoxFuture<'a, HandlerResult<GetResult>> {
        let mib = self.mib();
        Box::pin(async move { Ok(mib.get(oid).cloned().map_or(GetResult::NoSuchObject, GetResult::Value)) })
    }

    fn get_next<'a>(&'a self, _ctx: &'a RequestContext, oid: &'a Oid) -> BoxFuture<'a, HandlerResult<GetNextResult>> {
        let mib = self.mib();
        Box::pin(async move {
            let next = mib.range((std::ops::Bound::Excluded(oid.clone()), std::ops::Bound::Unbounded)).next();
            Ok(next
                .map_or(GetNextResult::EndOfMibView, |(o, v)| GetNextResult::Value(VarBind::new(o.clone(), v.clone()))))
        })
    }
}

struct Args {
    listen: String,
    community: String,
    scenario: String,
    repeat: bool,
    trap_to: Option<String>,
    trap_community: String,
}

fn args() -> Args {
    let mut a = Args {
        listen: "127.0.0.1:11161".into(),
        community: "public".into(),
        scenario: "outage".into(),
        repeat: false,
        trap_to: None,
        trap_community: "public".into(),
    };
    let mut it = std::env::args().skip(1);
    if it.next().as_deref() != Some("snmp-ups") {
        super::usage();
    }
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| super::usage());
        match k.as_str() {
            "--listen" => a.listen = v(),
            "--community" => a.community = v(),
            "--scenario" => a.scenario = v(),
            "--loop" => a.repeat = true,
            "--trap-to" => a.trap_to = Some(v()),
            "--trap-community" => a.trap_community = v(),
            _ => super::usage(),
        }
    }
    a
}

fn oid(s: &str) -> Oid {
    Oid::parse(s).expect("valid OID")
}

pub async fn run() {
    let a = args();
    let text = match a.scenario.as_str() {
        "outage" => OUTAGE.to_string(),
        "steady" => STEADY.to_string(),
        path => std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("dcwatch-sim: cannot read scenario {path}: {e}");
            std::process::exit(2)
        }),
    };
    let steps = parse_scenario(&text).unwrap_or_else(|e| {
        eprintln!("dcwatch-sim: {e}");
        std::process::exit(2)
    });
    let ups = Arc::new(Mutex::new(Ups {
        started: Instant::now(),
        on_battery_since: None,
        low: false,
        charge: 100.0,
        charge_rate: 0.0,
        load: 45.0,
        line_bads: 0,
    }));
    let agent = Agent::builder()
        .bind(a.listen.clone())
        .community(a.community.clone().into_bytes())
        .handler(oid("1.3.6.1.2.1.1"), Arc::new(Handler(ups.clone(), oid("1.3.6.1.2.1.1"))))
        .handler(oid("1.3.6.1.2.1.33"), Arc::new(Handler(ups.clone(), oid("1.3.6.1.2.1.33"))))
        .allow_all_access()
        .build()
        .await
        .unwrap_or_else(|e| {
            eprintln!("dcwatch-sim: cannot serve SNMP on {}: {e}", a.listen);
            std::process::exit(1)
        });
    println!("dcwatch-sim: UPS on {} (community {}), scenario {}", agent.local_addr(), a.community, a.scenario);
    let trapper = match &a.trap_to {
        Some(t) => {
            let target: SocketAddr = t.parse().unwrap_or_else(|_| super::usage());
            Some(Client::builder(target, Auth::v2c(a.trap_community.clone())).connect().await.expect("trap client"))
        }
        None => None,
    };
    tokio::spawn(async move {
        if let Err(e) = agent.run().await {
            eprintln!("dcwatch-sim: SNMP agent stopped: {e}");
            std::process::exit(1);
        }
    });
    loop {
        run_scenario(&steps, &ups, trapper.as_ref()).await;
        if !a.repeat {
            // Keep serving the final state.
            loop {
                tick(&ups, 1.0);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tokio::time::sleep(Duration::from_secs(20)).await;
    }
}

fn tick(ups: &Mutex<Ups>, secs: f64) {
    let mut u = ups.lock().expect("lock");
    u.charge = (u.charge + u.charge_rate * secs).clamp(0.0, 100.0);
}

async fn run_scenario(steps: &[(f64, Step)], ups: &Arc<Mutex<Ups>>, trapper: Option<&Client>) {
    let start = Instant::now();
    let mut last = Instant::now();
    for (at, step) in steps {
        loop {
            let due = start + Duration::from_secs_f64(*at);
            let now = Instant::now();
            if now >= due {
                break;
            }
            tokio::time::sleep((due - now).min(Duration::from_millis(250))).await;
            tick(ups, last.elapsed().as_secs_f64());
            last = Instant::now();
        }
        let (trap, state) = {
            let mut u = ups.lock().expect("lock");
            let trap = match step {
                Step::OnBattery if u.on_battery_since.is_none() => {
                    u.on_battery_since = Some(Instant::now());
                    u.line_bads += 1;
                    Some(("1.3.6.1.2.1.33.2.1", None))
                }
                Step::Online if u.on_battery_since.is_some() => {
                    u.on_battery_since = None;
                    u.low = false;
                    // upsTrapAlarmEntryRemoved, upsAlarmDescr = upsAlarmOnBattery
                    Some(("1.3.6.1.2.1.33.2.4", Some("1.3.6.1.2.1.33.1.6.3.2")))
                }
                Step::LowBattery if !u.low => {
                    u.low = true;
                    // upsTrapAlarmEntryAdded, upsAlarmDescr = upsAlarmLowBattery
                    Some(("1.3.6.1.2.1.33.2.3", Some("1.3.6.1.2.1.33.1.6.3.3")))
                }
                Step::ChargeRate(r) => {
                    u.charge_rate = *r;
                    None
                }
                Step::Load(l) => {
                    u.load = *l;
                    None
                }
                _ => None,
            };
            (trap, u.clone())
        };
        println!("dcwatch-sim: t={at}s {step:?} (charge {:.0} %)", state.charge);
        if let (Some((trap_oid, alarm)), Some(c)) = (trap, trapper) {
            let mib = state.mib();
            let mut vbs = Vec::new();
            for o in ["1.3.6.1.2.1.33.1.2.3.0", "1.3.6.1.2.1.33.1.2.2.0"] {
                let o = oid(o);
                if let Some(v) = mib.get(&o) {
                    vbs.push(VarBind::new(o, v.clone()));
                }
            }
            if let Some(descr) = alarm {
                vbs.push(VarBind::new(oid("1.3.6.1.2.1.33.1.6.2.1.2.1"), Value::ObjectIdentifier(oid(descr))));
            }
            if let Err(e) = c.send_trap(&oid(trap_oid), state.uptime_ticks(), vbs).await {
                eprintln!("dcwatch-sim: cannot send trap {trap_oid}: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_outage_reads_as_steps() {
        let s = parse_scenario(OUTAGE).unwrap();
        assert_eq!(s[1], (10.0, Step::OnBattery));
        assert_eq!(s[2], (10.0, Step::ChargeRate(-2.0)));
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn a_bad_line_is_named() {
        assert_eq!(
            parse_scenario("0 online\nx on_battery\n").unwrap_err(),
            "scenario line 2: the first word must be a second: `x on_battery`"
        );
    }

    #[test]
    fn on_battery_the_input_is_zero_and_the_source_is_battery() {
        let ups = Ups {
            started: Instant::now(),
            on_battery_since: Some(Instant::now()),
            low: true,
            charge: 20.4,
            charge_rate: -2.0,
            load: 45.0,
            line_bads: 1,
        };
        let m = ups.mib();
        assert_eq!(m[&oid("1.3.6.1.2.1.33.1.4.1.0")], Value::Integer(5));
        assert_eq!(m[&oid("1.3.6.1.2.1.33.1.2.1.0")], Value::Integer(3));
        assert_eq!(m[&oid("1.3.6.1.2.1.33.1.2.4.0")], Value::Integer(20));
        // 20.4 % of 40 min at the reference load: 8.16 → 8 min.
        assert_eq!(m[&oid("1.3.6.1.2.1.33.1.2.3.0")], Value::Integer(8));
        assert_eq!(m[&oid("1.3.6.1.2.1.33.1.3.3.1.3.1")], Value::Integer(0));
    }
}
