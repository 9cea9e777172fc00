//! Request planning: the fewest reads that fetch every field of a poll.
//!
//! The rule, per function: the fields' ranges are sorted by address; a range
//! joins the current read when the registers between them (the gap) are at
//! most `max_gap` and the read stays within Modbus's limit (125 registers,
//! 2000 bits); otherwise it starts a new read. A boundary remembered after a
//! device refused a merged read (exception 02, illegal data address: often a
//! hole in its map) is never crossed. Greedy packing of sorted intervals
//! under these constraints gives the minimum number of reads.

use std::collections::BTreeSet;

use super::profile::{FieldSpec, Function};

/// One read: function, first address, count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Read {
    pub function: Function,
    pub start: u16,
    pub count: u16,
}

impl Read {
    pub fn end(&self) -> u32 {
        u32::from(self.start) + u32::from(self.count)
    }
}

/// What a device taught the planner: addresses no read may span across
/// (a read may start there, not run into it), and ranges the device does
/// not have.
#[derive(Debug, Clone, Default)]
pub struct Learned {
    pub boundaries: BTreeSet<(Function, u16)>,
    pub missing: BTreeSet<(Function, u16, u16)>,
}

/// The distinct ranges the fields need, sorted.
pub fn ranges<'a>(fields: impl Iterator<Item = &'a FieldSpec>) -> Vec<Read> {
    let mut v: Vec<Read> = fields.map(|f| Read { function: f.function, start: f.addr(), count: f.count() }).collect();
    v.sort();
    v.dedup();
    v
}

/// Reads for `ranges`; with `merge` false, one read per range (for devices
/// that answer only single-value reads).
pub fn plan_for(ranges: &[Read], merge: bool, max_gap: u16, learned: &Learned) -> Vec<Read> {
    if merge {
        plan(ranges, max_gap, learned)
    } else {
        ranges.iter().filter(|r| !learned.missing.contains(&(r.function, r.start, r.count))).copied().collect()
    }
}

pub fn plan(ranges: &[Read], max_gap: u16, learned: &Learned) -> Vec<Read> {
    let mut out: Vec<Read> = Vec::new();
    for r in ranges {
        if learned.missing.contains(&(r.function, r.start, r.count)) {
            continue;
        }
        if let Some(cur) = out.last_mut()
            && cur.function == r.function
        {
            let end = cur.end();
            let r_end = r.end();
            let gap = u32::from(r.start).saturating_sub(end);
            let new_end = end.max(r_end);
            let crosses = learned
                .boundaries
                .range((r.function, cur.start.saturating_add(1))..=(r.function, r.start))
                .next()
                .is_some();
            if gap <= u32::from(max_gap)
                && new_end - u32::from(cur.start) <= u32::from(r.function.max_read())
                && !crosses
            {
                cur.count = (new_end - u32::from(cur.start)) as u16;
                continue;
            }
        }
        out.push(*r);
    }
    out
}

/// A device refused `read` with exception 02. If it merged several ranges,
/// remember a boundary that splits it in two at the widest gap between its
/// ranges (its likely hole) and return true: plan again. If it was one range,
/// that range is missing on this device: remember it and return false.
pub fn refused(read: &Read, ranges: &[Read], learned: &mut Learned) -> bool {
    let inside: Vec<&Read> = ranges
        .iter()
        .filter(|r| r.function == read.function && r.start >= read.start && r.end() <= read.end())
        .collect();
    if inside.len() <= 1 {
        for r in inside {
            learned.missing.insert((r.function, r.start, r.count));
        }
        return false;
    }
    // The widest gap between consecutive ranges; ties: the first.
    let mut best = (0u32, inside[1].start);
    let mut end = inside[0].end();
    for r in &inside[1..] {
        let gap = u32::from(r.start).saturating_sub(end);
        if gap > best.0 {
            best = (gap, r.start);
        }
        end = end.max(r.end());
    }
    if best.0 == 0 {
        // No gap: split in the middle of the ranges.
        best.1 = inside[inside.len() / 2].start;
    }
    learned.boundaries.insert((read.function, best.1));
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(function: Function, start: u16, count: u16) -> Read {
        Read { function, start, count }
    }

    #[test]
    fn near_ranges_merge_far_ones_do_not_and_functions_never_mix() {
        let ranges = vec![
            r(Function::Holding, 0, 2),
            r(Function::Holding, 5, 1),   // gap 3: merges with max_gap 10
            r(Function::Holding, 100, 2), // gap 94: new read
            r(Function::Input, 0, 2),
        ];
        let p = plan(&ranges, 10, &Learned::default());
        assert_eq!(p, vec![r(Function::Holding, 0, 6), r(Function::Holding, 100, 2), r(Function::Input, 0, 2)]);
        let p = plan(&ranges, 0, &Learned::default());
        assert_eq!(p.len(), 4);
    }

    #[test]
    fn each_shipped_profile_takes_the_fewest_reads() {
        // (profile, distinct ranges = reads without planning, reads with max_gap 16).
        // apc-smartups: 0–18 and 128–151; sdm630: 0x00–0x11, 0x34–0x4B, 0x156;
        // dse-gencomm: 772, 1024–1049, 1408, 1536–1537, 1798–1809, 2049–2058;
        // meter-3phase: 0–17; ats-contacts: discrete 0–2.
        let expect = [
            ("apc-smartups", 11, 2),
            ("sdm630", 17, 3),
            ("dse-gencomm", 18, 6),
            ("meter-3phase", 9, 1),
            ("ats-contacts", 3, 1),
        ];
        let profiles = crate::sources::modbus::profile::load(crate::sources::modbus::profile::BUILT_IN).unwrap();
        for (name, distinct, reads) in expect {
            let p = profiles.iter().find(|p| p.name == name).unwrap();
            let r = ranges(p.fields());
            assert_eq!(r.len(), distinct, "{name}");
            assert_eq!(plan(&r, 16, &Learned::default()).len(), reads, "{name}");
            assert_eq!(
                plan(
                    &r,
                    u16::MAX,
                    &Learned { boundaries: r.iter().map(|x| (x.function, x.start)).collect(), ..Default::default() }
                )
                .len(),
                distinct
            );
        }
    }

    #[test]
    fn a_read_never_exceeds_125_registers() {
        let ranges: Vec<Read> = (0..130).map(|a| r(Function::Input, a, 1)).collect();
        let p = plan(&ranges, 10, &Learned::default());
        assert_eq!(p, vec![r(Function::Input, 0, 125), r(Function::Input, 125, 5)]);
    }

    #[test]
    fn a_refused_merge_splits_at_the_widest_gap_and_is_remembered() {
        let ranges = vec![r(Function::Holding, 0, 2), r(Function::Holding, 3, 1), r(Function::Holding, 10, 2)];
        let mut learned = Learned::default();
        let p = plan(&ranges, 10, &learned);
        assert_eq!(p, vec![r(Function::Holding, 0, 12)]);
        assert!(refused(&p[0], &ranges, &mut learned));
        let p = plan(&ranges, 10, &learned);
        assert_eq!(p, vec![r(Function::Holding, 0, 4), r(Function::Holding, 10, 2)]);
        // One range refused on its own: the device lacks it; it is not asked for again.
        assert!(!refused(&p[1], &ranges, &mut learned));
        assert_eq!(plan(&ranges, 10, &learned), vec![r(Function::Holding, 0, 4)]);
    }
}
