//! A mergeable quantile sketch: counts in logarithmic buckets (each 2 %
//! wider than the one before), so any quantile is known to within 1 % of
//! its value, and an hour's sketches merge into a month's by adding counts.
//! This is the DDSketch idea (Masson et al., VLDB 2019) in the few lines the
//! trend store needs, with a compact sparse encoding: an hour of CPU samples
//! is typically 20–40 buckets, 40–100 bytes.

use std::collections::BTreeMap;

/// Bucket growth: a value `x > 0` lands in bucket `ceil(ln x / ln GAMMA)`.
const GAMMA: f64 = 1.02;
/// Values closer to zero than this count as zero.
const MIN_ABS: f64 = 1e-9;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    zero: u64,
    pos: BTreeMap<i32, u64>,
    neg: BTreeMap<i32, u64>,
}

fn index(x: f64) -> i32 {
    (x.ln() / GAMMA.ln()).ceil() as i32
}

/// The value a bucket stands for: the middle of its range, within 1 % of
/// every value in it.
fn value(i: i32) -> f64 {
    2.0 * GAMMA.powi(i) / (1.0 + GAMMA)
}

impl Sketch {
    pub fn add(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if x.abs() < MIN_ABS {
            self.zero += 1;
        } else if x > 0.0 {
            *self.pos.entry(index(x)).or_default() += 1;
        } else {
            *self.neg.entry(index(-x)).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: &Sketch) {
        self.zero += other.zero;
        for (i, c) in &other.pos {
            *self.pos.entry(*i).or_default() += c;
        }
        for (i, c) in &other.neg {
            *self.neg.entry(*i).or_default() += c;
        }
    }

    pub fn count(&self) -> u64 {
        let sum = |m: &BTreeMap<i32, u64>| m.values().fold(0u64, |a, c| a.saturating_add(*c));
        self.zero.saturating_add(sum(&self.pos)).saturating_add(sum(&self.neg))
    }

    /// The `q` quantile (0–1), or None when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        // The rank of the quantile, 0-based, as the "lower" definition.
        let rank = ((q.clamp(0.0, 1.0) * (n - 1) as f64).floor()) as u64;
        let mut seen = 0u64;
        for (i, c) in self.neg.iter().rev() {
            seen = seen.saturating_add(*c);
            if seen > rank {
                return Some(-value(*i));
            }
        }
        seen = seen.saturating_add(self.zero);
        if seen > rank {
            return Some(0.0);
        }
        for (i, c) in &self.pos {
            seen = seen.saturating_add(*c);
            if seen > rank {
                return Some(value(*i));
            }
        }
        None
    }

    /// Sparse encoding: zero count, then per sign the bucket count and
    /// (index delta, count) pairs, all as LEB128 varints (zigzag for signed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 3 * (self.pos.len() + self.neg.len()));
        put(&mut out, self.zero);
        for store in [&self.pos, &self.neg] {
            put(&mut out, store.len() as u64);
            let mut prev = 0i64;
            for (i, c) in store {
                let d = i64::from(*i) - prev;
                put(&mut out, ((d << 1) ^ (d >> 63)) as u64);
                put(&mut out, *c);
                prev = i64::from(*i);
            }
        }
        out
    }

    pub fn decode(mut b: &[u8]) -> Result<Sketch, String> {
        let mut s = Sketch { zero: get(&mut b)?, ..Sketch::default() };
        for neg in [false, true] {
            let n = get(&mut b)?;
            let mut prev = 0i64;
            for _ in 0..n {
                let z = get(&mut b)?;
                let d = ((z >> 1) as i64) ^ -((z & 1) as i64);
                let i = prev.checked_add(d).ok_or("bucket index out of range")?;
                let c = get(&mut b)?;
                let i32i = i32::try_from(i).map_err(|_| "bucket index out of range".to_string())?;
                if neg {
                    s.neg.insert(i32i, c)
                } else {
                    s.pos.insert(i32i, c)
                };
                prev = i;
            }
        }
        if !b.is_empty() {
            return Err("trailing bytes after a sketch".into());
        }
        Ok(s)
    }
}

fn put(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn get(b: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = b.split_first().ok_or("a sketch ends early")?;
        *b = rest;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("a varint too long in a sketch".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_one_percent_and_survive_merge_and_encoding() {
        let mut a = Sketch::default();
        let mut b = Sketch::default();
        // 1..=1000 split over two sketches; p95 of the whole is 950 (lower rank 949.05 → 950).
        for x in 1..=500 {
            a.add(f64::from(x));
        }
        for x in 501..=1000 {
            b.add(f64::from(x));
        }
        a.merge(&b);
        assert_eq!(a.count(), 1000);
        let p95 = a.quantile(0.95).unwrap();
        assert!((p95 - 950.0).abs() / 950.0 <= 0.01, "{p95}");
        let p50 = a.quantile(0.5).unwrap();
        assert!((p50 - 500.0).abs() / 500.0 <= 0.01, "{p50}");
        let back = Sketch::decode(&a.encode()).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.quantile(0.95), Some(p95));
    }

    #[test]
    fn zeros_negatives_and_a_constant() {
        let mut s = Sketch::default();
        for _ in 0..90 {
            s.add(0.0);
        }
        for _ in 0..10 {
            s.add(-5.0);
        }
        let low = s.quantile(0.05).unwrap();
        assert!((low + 5.0).abs() <= 0.05, "{low}");
        assert_eq!(s.quantile(0.95), Some(0.0));
        let mut c = Sketch::default();
        for _ in 0..360 {
            c.add(42.5);
        }
        let p = c.quantile(0.95).unwrap();
        assert!((p - 42.5).abs() / 42.5 <= 0.01, "{p}");
        assert_eq!(c.encode().len(), 7, "one bucket: zero count, two lengths, index and count");
        assert_eq!(Sketch::default().quantile(0.5), None);
        assert!(Sketch::decode(&[1, 2]).is_err());
        // A corrupt blob: an index delta that overflows, counts at u64::MAX.
        let mut bad = vec![0, 2];
        put(&mut bad, u64::MAX - 1);
        put(&mut bad, 1);
        put(&mut bad, u64::MAX - 1);
        put(&mut bad, 1);
        assert!(Sketch::decode(&bad).is_err());
        let mut big = Sketch::default();
        big.pos.insert(1, u64::MAX);
        big.pos.insert(2, u64::MAX);
        assert_eq!(big.count(), u64::MAX);
    }
}
