//! `dcwatch-sim`: simulated equipment for demos, scenarios and load. It is not
//! the tests' oracle (snmpsim, Net-SNMP and pymodbus are); it lets the demo
//! show a power event with nothing installed.
//!
//! - `dcwatch-sim snmp-ups`: one UPS over SNMP (UPS-MIB) with traps.
//! - `dcwatch-sim modbus-site`: a site over Modbus TCP — two utility feed
//!   meters, a generator, an ATS and a UPS behind one gateway — whose mains
//!   fail and come back.

mod modbus_site;
mod snmp_ups;

const USAGE: &str = "usage: dcwatch-sim snmp-ups [--listen ADDR] [--community C] [--scenario outage|steady|FILE] [--loop]\n\
\x20                           [--trap-to HOST:PORT] [--trap-community C]\n\
\x20      dcwatch-sim modbus-site [--listen ADDR] [--scenario site-outage|steady|FILE] [--loop] [--meters N]";

/// Parses a scenario: one `SECOND WORDS…` a line, `#` comments, sorted by
/// time. `step` reads the words after the second; its error is said with
/// the line: `bad(reason)`.
fn parse_steps<S>(
    text: &str,
    step: impl Fn(&[&str], &dyn Fn(&str) -> String) -> Result<S, String>,
) -> Result<Vec<(f64, S)>, String> {
    let mut steps = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = |m: &str| format!("scenario line {}: {m}: `{line}`", i + 1);
        let at: f64 = words[0].parse().map_err(|_| bad("the first word must be a second"))?;
        steps.push((at, step(&words, &bad)?));
    }
    steps.sort_by(|a, b| a.0.total_cmp(&b.0));
    Ok(steps)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("snmp-ups") => snmp_ups::run().await,
        Some("modbus-site") => modbus_site::run().await,
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("{USAGE}");
    std::process::exit(2)
}
