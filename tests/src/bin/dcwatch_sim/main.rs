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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("snmp-ups") => snmp_ups::run().await,
        Some("modbus-site") => modbus_site::run().await,
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2)
        }
    }
}
