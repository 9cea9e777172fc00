//! `dcwatch-sim modbus-site`: a site's power equipment over Modbus TCP, all
//! behind one address as behind an RS-485 gateway, with the register maps of
//! the shipped profiles:
//!
//! | unit | device | profile |
//! |---|---|---|
//! | 1 | UPS, fed through the ATS | apc-smartups |
//! | 2 | meter on utility feed A | sdm630 |
//! | 3 | meter on utility feed B | sdm630 |
//! | 4 | generator | dse-gencomm |
//! | 5 | ATS: source A = feed A, source B = the generator | ats-contacts |
//! | 10… | `--meters N` more meters, for load | sdm630 |
//! | 247 | holding 0–1: requests answered so far (u32), for benchmarks | |
//!
//! A scenario is a text file, one step per line, `<second> <what>`:
//! `feed_a off|on`, `feed_b off|on`, `generator start|stop`. The rest
//! follows: the ATS moves to the generator when feed A is dead and the
//! generator runs (pre-start 2 s, warming up 3 s, then running; cooling down
//! 5 s after a stop); the UPS is on battery while its ATS output is dead, its
//! charge falling 0.5 %/s, and recharges after.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio_modbus::server::tcp::{Server, accept_tcp_connection};
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};

const SITE_OUTAGE: &str = "30 feed_a off\n40 generator start\n100 feed_a on\n110 generator stop\n";

#[derive(Debug, Clone, PartialEq)]
enum Step {
    FeedA(bool),
    FeedB(bool),
    Generator(bool),
}

fn parse_scenario(text: &str) -> Result<Vec<(f64, Step)>, String> {
    super::parse_steps(text, |w, bad| {
        Ok(match (w.get(1).copied(), w.get(2).copied()) {
            (Some("feed_a"), Some(s @ ("on" | "off"))) => Step::FeedA(s == "on"),
            (Some("feed_b"), Some(s @ ("on" | "off"))) => Step::FeedB(s == "on"),
            (Some("generator"), Some(s @ ("start" | "stop"))) => Step::Generator(s == "start"),
            _ => return Err(bad("expected feed_a on|off, feed_b on|off or generator start|stop")),
        })
    })
}

#[derive(Debug)]
struct Site {
    feed_a: bool,
    feed_b: bool,
    /// Generator: commanded to run, and the state it is in since when.
    gen_cmd: bool,
    gen_state: u16,
    gen_since: Instant,
    run_secs: f64,
    starts: u32,
    fuel: f64,
    charge: f64,
    energy_a: f64,
    energy_b: f64,
    last: Instant,
    meters: u8,
    /// Requests answered (unit 247, holding 0–1, reads it: for benchmarks).
    served: u32,
}

impl Site {
    fn new(meters: u8) -> Site {
        let now = Instant::now();
        Site {
            feed_a: true,
            feed_b: true,
            gen_cmd: false,
            gen_state: 0,
            gen_since: now,
            run_secs: 3600.0 * 412.0,
            starts: 57,
            fuel: 92.0,
            charge: 100.0,
            energy_a: 81_234.5,
            energy_b: 79_876.25,
            last: now,
            meters,
            served: 0,
        }
    }

    fn gen_running(&self) -> bool {
        self.gen_state == 3
    }

    fn ats_on_b(&self) -> bool {
        !self.feed_a && self.gen_running()
    }

    fn ups_fed(&self) -> bool {
        self.feed_a || self.ats_on_b()
    }

    /// Advances time: the generator's states, fuel, charge, energy.
    fn tick(&mut self) {
        let now = Instant::now();
        let dt = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        let in_state = now.duration_since(self.gen_since).as_secs_f64();
        let next = match (self.gen_cmd, self.gen_state) {
            (true, 0) => Some(1),
            (true, 1) if in_state >= 2.0 => Some(2),
            (true, 2) if in_state >= 3.0 => Some(3),
            (true, 4) => Some(3),
            (false, 1 | 2) => Some(0),
            (false, 3) => Some(4),
            (false, 4) if in_state >= 5.0 => Some(0),
            _ => None,
        };
        if let Some(s) = next {
            if s == 1 {
                self.starts += 1;
            }
            self.gen_state = s;
            self.gen_since = now;
        }
        if matches!(self.gen_state, 2..=4) {
            self.run_secs += dt;
            self.fuel = (self.fuel - dt * 0.01).max(0.0);
        }
        self.charge =
            if self.ups_fed() { (self.charge + dt * 0.2).min(100.0) } else { (self.charge - dt * 0.5).max(0.0) };
        if self.feed_a {
            self.energy_a += dt * 6.9 / 3600.0;
        }
        if self.feed_b {
            self.energy_b += dt * 5.1 / 3600.0;
        }
    }

    fn apply(&mut self, step: &Step) {
        match step {
            Step::FeedA(on) => self.feed_a = *on,
            Step::FeedB(on) => self.feed_b = *on,
            Step::Generator(run) => self.gen_cmd = *run,
        }
    }

    /// The registers of one unit: (function code, address) → value.
    fn registers(&self, unit: u8) -> Option<BTreeMap<(u8, u16), u16>> {
        let mut m = BTreeMap::new();
        let mut put = |fc: u8, addr: u16, words: &[u16]| {
            for (i, w) in words.iter().enumerate() {
                m.insert((fc, addr + i as u16), *w);
            }
        };
        match unit {
            1 => {
                for a in (0..27).chain(128..172) {
                    put(3, a, &[0]);
                }
                let on_batt = !self.ups_fed();
                let status: u32 = if on_batt { 1 << 2 | 1 << 6 } else { 1 << 1 };
                put(3, 0, &[(status >> 16) as u16, status as u16]);
                put(3, 18, &[if on_batt && self.charge < 20.0 { 0b10 } else { 0 }]);
                let runtime = (self.charge / 100.0 * 1800.0) as u32;
                put(3, 128, &[(runtime >> 16) as u16, runtime as u16]);
                put(3, 130, &[(self.charge * 512.0) as u16]);
                put(3, 131, &[(54.2 * 32.0) as u16]);
                put(3, 135, &[(27.5 * 128.0) as u16]);
                put(3, 136, &[(46.0 * 256.0) as u16]);
                put(3, 140, &[(9.6 * 32.0) as u16]);
                put(3, 142, &[(230.0 * 64.0) as u16]);
                put(3, 144, &[(50.0 * 128.0) as u16]);
                put(3, 151, &[if on_batt { 0 } else { (229.5 * 64.0) as u16 }]);
            }
            2 | 3 => self.meter(&mut put, if unit == 2 { self.feed_a } else { self.feed_b }, unit),
            10..=255 if unit - 10 < self.meters => self.meter(&mut put, true, unit),
            4 => {
                let run = self.gen_running() || self.gen_state == 4;
                put(3, 772, &[1]);
                for a in 1024..1050 {
                    put(3, a, &[0]);
                }
                put(3, 1024, &[if run { 420 } else { 0 }, if run { 78 } else { 31 }, 0, self.fuel as u16, 0, 272]);
                put(3, 1030, &[if run { 1500 } else { 0 }, if run { 500 } else { 0 }]);
                let (v, a) = if run { (2305u32, if self.ats_on_b() { 96u32 } else { 0 }) } else { (0, 0) };
                for (i, ph) in [0u32, 6, 3].iter().enumerate() {
                    let vv = if v > 0 { v + ph } else { 0 };
                    put(3, 1032 + 2 * i as u16, &[(vv >> 16) as u16, vv as u16]);
                    put(3, 1044 + 2 * i as u16, &[0, a as u16]);
                }
                put(3, 1408, &[self.gen_state]);
                let w = if self.ats_on_b() { 6600u32 } else { 0 };
                put(3, 1536, &[(w >> 16) as u16, w as u16]);
                for a in 1798..1810 {
                    put(3, a, &[0]);
                }
                let rs = self.run_secs as u32;
                put(3, 1798, &[(rs >> 16) as u16, rs as u16]);
                put(3, 1808, &[(self.starts >> 16) as u16, self.starts as u16]);
                put(3, 2048, &[40]);
                for a in 2049..2059 {
                    put(3, a, &[if a < 2052 { 0x1111 } else { 0xFFFF }]);
                }
            }
            5 => {
                put(2, 0, &[u16::from(self.feed_a), u16::from(self.gen_running()), u16::from(self.ats_on_b())]);
            }
            247 => put(3, 0, &[(self.served >> 16) as u16, self.served as u16]),
            _ => return None,
        }
        Some(m)
    }

    fn meter(&self, put: &mut impl FnMut(u8, u16, &[u16]), live: bool, unit: u8) {
        let f = |x: f32| -> [u16; 2] {
            let b = x.to_bits();
            [(b >> 16) as u16, b as u16]
        };
        for a in 0..0x4C {
            put(4, a, &[0]);
        }
        let k = if live { 1.0f32 } else { 0.0 };
        let amps = [10.4f32, 9.8, 11.1].map(|a| a * k * if unit == 3 { 0.75 } else { 1.0 });
        for (i, v) in [230.4f32, 231.1, 229.6].iter().enumerate() {
            put(4, 2 * i as u16, &f(v * k));
            put(4, 6 + 2 * i as u16, &f(amps[i]));
            put(4, 12 + 2 * i as u16, &f(v * amps[i] * 0.97));
        }
        let total: f32 = [230.4f32, 231.1, 229.6].iter().zip(amps).map(|(v, a)| v * a * 0.97).sum();
        put(4, 0x34, &f(total));
        put(4, 0x38, &f(total / 0.97));
        put(4, 0x3E, &f(if live { 0.97 } else { 0.0 }));
        put(4, 0x46, &f(50.0 * k));
        let e = if unit == 3 { self.energy_b } else { self.energy_a } as f32;
        put(4, 0x48, &f(e));
        put(4, 0x156, &f(e));
    }
}

#[derive(Clone)]
struct Service(Arc<Mutex<Site>>);

fn read(site: &Site, unit: u8, fc: u8, addr: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
    let regs = site.registers(unit).ok_or(ExceptionCode::GatewayTargetDevice)?;
    (0..count)
        .map(|i| addr.checked_add(i).and_then(|a| regs.get(&(fc, a)).copied()).ok_or(ExceptionCode::IllegalDataAddress))
        .collect()
}

impl tokio_modbus::server::Service for Service {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::future::Ready<Result<Response, ExceptionCode>>;

    fn call(&self, req: Self::Request) -> Self::Future {
        let mut site = self.0.lock().expect("lock");
        site.tick();
        let unit = req.slave;
        if unit != 247 {
            site.served += 1;
        }
        let bits = |v: Vec<u16>| v.into_iter().map(|w| w != 0).collect::<Vec<bool>>();
        let r = match req.request {
            Request::ReadHoldingRegisters(a, n) => read(&site, unit, 3, a, n).map(Response::ReadHoldingRegisters),
            Request::ReadInputRegisters(a, n) => read(&site, unit, 4, a, n).map(Response::ReadInputRegisters),
            Request::ReadDiscreteInputs(a, n) => {
                read(&site, unit, 2, a, n).map(|v| Response::ReadDiscreteInputs(bits(v)))
            }
            Request::ReadCoils(a, n) => read(&site, unit, 1, a, n).map(|v| Response::ReadCoils(bits(v))),
            _ => Err(ExceptionCode::IllegalFunction),
        };
        std::future::ready(r)
    }
}

pub async fn run() {
    let mut listen = "127.0.0.1:1502".to_string();
    let mut scenario = "site-outage".to_string();
    let mut repeat = false;
    let mut meters: u8 = 0;
    let mut it = std::env::args().skip(2);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| super::usage());
        match k.as_str() {
            "--listen" => listen = v(),
            "--scenario" => scenario = v(),
            "--loop" => repeat = true,
            "--meters" => meters = v().parse().ok().filter(|n| *n <= 200).unwrap_or_else(|| super::usage()),
            _ => super::usage(),
        }
    }
    let text = match scenario.as_str() {
        "site-outage" => SITE_OUTAGE.to_string(),
        "steady" => String::new(),
        path => std::fs::read_to_string(path).unwrap_or_else(|e| {
            eprintln!("dcwatch-sim: cannot read scenario {path}: {e}");
            std::process::exit(2)
        }),
    };
    let steps = parse_scenario(&text).unwrap_or_else(|e| {
        eprintln!("dcwatch-sim: {e}");
        std::process::exit(2)
    });
    let site = Arc::new(Mutex::new(Site::new(meters)));
    let listener = tokio::net::TcpListener::bind(&listen).await.unwrap_or_else(|e| {
        eprintln!("dcwatch-sim: cannot listen on {listen}: {e}");
        std::process::exit(1)
    });
    println!(
        "dcwatch-sim: site on {} (Modbus TCP; units 1 UPS, 2 feed A, 3 feed B, 4 generator, 5 ATS{}), scenario {scenario}",
        listener.local_addr().expect("bound"),
        if meters > 0 { format!(", 10–{} meters", 9 + u32::from(meters)) } else { String::new() }
    );
    let server = Server::new(listener);
    let s = site.clone();
    let new_service = move |_addr| Ok(Some(Service(s.clone())));
    let on_connected = move |stream, addr| {
        let new_service = new_service.clone();
        async move { accept_tcp_connection(stream, addr, new_service) }
    };
    tokio::spawn(async move {
        if let Err(e) = server.serve(&on_connected, |e| eprintln!("dcwatch-sim: {e}")).await {
            eprintln!("dcwatch-sim: server stopped: {e}");
            std::process::exit(1);
        }
    });
    loop {
        let start = Instant::now();
        for (at, step) in &steps {
            tokio::time::sleep_until((start + Duration::from_secs_f64(*at)).into()).await;
            let mut s = site.lock().expect("lock");
            s.tick();
            s.apply(step);
            println!("dcwatch-sim: t={at}s {step:?}");
        }
        if !repeat {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outage_runs_the_site_on_the_generator() {
        let mut s = Site::new(0);
        assert!(s.ups_fed());
        s.apply(&Step::FeedA(false));
        s.tick();
        assert!(!s.ups_fed(), "no mains, generator stopped: the UPS is on battery");
        s.apply(&Step::Generator(true));
        s.tick();
        assert_eq!(s.gen_state, 1);
        s.gen_since -= Duration::from_secs(2);
        s.tick();
        s.gen_since -= Duration::from_secs(3);
        s.tick();
        assert_eq!(s.gen_state, 3);
        assert!(s.ats_on_b() && s.ups_fed());
        assert_eq!(read(&s, 5, 2, 0, 3), Ok(vec![0, 1, 1]));
        assert_eq!(read(&s, 1, 3, 2, 30), Err(ExceptionCode::IllegalDataAddress));
        assert_eq!(read(&s, 9, 3, 0, 1), Err(ExceptionCode::GatewayTargetDevice));
        assert_eq!(parse_scenario(SITE_OUTAGE).unwrap()[1], (40.0, Step::Generator(true)));
    }
}
