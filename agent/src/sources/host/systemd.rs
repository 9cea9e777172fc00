//! State of named systemd units, from `systemctl show` (one call for all
//! units per tick, bounded by a timeout).

use std::time::Duration;

use dcwatch_common::lp::Point;

/// One unit's state as systemd reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UnitState {
    pub id: String,
    pub load_state: String,
    pub active_state: String,
    pub sub_state: String,
}

/// Parses `systemctl show --property=Id,LoadState,ActiveState,SubState u1 u2 …`:
/// one block per unit, in argument order, separated by blank lines.
pub fn parse_show(text: &str) -> Vec<UnitState> {
    let mut out = Vec::new();
    let mut cur = UnitState::default();
    let mut any = false;
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if any {
                out.push(std::mem::take(&mut cur));
                any = false;
            }
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        any = true;
        match k {
            "Id" => cur.id = v.to_string(),
            "LoadState" => cur.load_state = v.to_string(),
            "ActiveState" => cur.active_state = v.to_string(),
            "SubState" => cur.sub_state = v.to_string(),
            _ => {}
        }
    }
    out
}

/// Asks systemd for the units' states. Errors are returned as text for the log.
pub async fn query(units: &[String], timeout: Duration) -> Result<Vec<UnitState>, String> {
    let mut cmd = tokio::process::Command::new("systemctl");
    cmd.arg("show").arg("--property=Id,LoadState,ActiveState,SubState").arg("--").args(units);
    cmd.kill_on_drop(true).stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| format!("systemctl did not answer within {} s", timeout.as_secs()))?
        .map_err(|e| format!("cannot run systemctl: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "systemctl show failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim().replace('\n', "; ")
        ));
    }
    let states = parse_show(&String::from_utf8_lossy(&output.stdout));
    if states.len() != units.len() {
        return Err(format!("systemctl show returned {} units for {} asked", states.len(), units.len()));
    }
    Ok(states)
}

/// Points for the units, tagged with the name as configured (systemd's `Id`
/// may differ, e.g. for aliases).
pub fn points(units: &[String], states: &[UnitState], base: &Point, out: &mut Vec<Point>) {
    for (name, s) in units.iter().zip(states) {
        let state = if s.load_state == "not-found" { "not-found" } else { s.active_state.as_str() };
        out.push(
            base.clone()
                .tag("unit", name.as_str())
                .bool("active", s.active_state == "active")
                .str("state", state)
                .str("sub_state", s.sub_state.as_str()),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOW: &str = "Id=nginx.service\nLoadState=loaded\nActiveState=active\nSubState=running\n\n\
                        Id=backup.service\nLoadState=loaded\nActiveState=failed\nSubState=failed\n\n\
                        Id=nosuch.service\nLoadState=not-found\nActiveState=inactive\nSubState=dead\n";

    #[test]
    fn show_output_is_split_into_one_state_per_unit() {
        let states = parse_show(SHOW);
        assert_eq!(states.len(), 3);
        assert_eq!(
            states[1],
            UnitState {
                id: "backup.service".into(),
                load_state: "loaded".into(),
                active_state: "failed".into(),
                sub_state: "failed".into()
            }
        );
    }

    #[test]
    fn a_missing_unit_is_reported_as_not_found_and_inactive() {
        let units: Vec<String> = ["nginx.service", "backup.service", "nosuch.service"].map(String::from).into();
        let mut out = Vec::new();
        points(&units, &parse_show(SHOW), &Point::new("host_service", 1), &mut out);
        let mut buf = Vec::new();
        for p in &out {
            p.write_to(&mut buf);
        }
        assert_eq!(
            String::from_utf8(buf).unwrap(),
            "host_service,unit=nginx.service active=true,state=\"active\",sub_state=\"running\" 1\n\
             host_service,unit=backup.service active=false,state=\"failed\",sub_state=\"failed\" 1\n\
             host_service,unit=nosuch.service active=false,state=\"not-found\",sub_state=\"dead\" 1\n"
        );
    }
}
