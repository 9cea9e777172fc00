//! Registers → values: data types, byte and word order. Pure functions, so
//! every combination is tested without a device.
//!
//! Byte/word order names the position on the wire of the value's bytes, most
//! significant first, as vendors' manuals and Telegraf do: `ABCD` is
//! big-endian (Modbus's own order: high word first, high byte first), `CDAB`
//! swaps the words (low word first — the most common "wrong" order), `BADC`
//! swaps the bytes in each word, `DCBA` is little-endian. For 64-bit values
//! the rule extends (`CDAB`: the four words reversed).

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    /// One bit of a register (`bit: 0…15`), or a coil / discrete input.
    Bit,
    U16,
    I16,
    U32,
    I32,
    U64,
    I64,
    F32,
    F64,
    /// ASCII, two characters per register (`length` registers).
    String,
    /// 4-bit codes, four per register (`length` registers), most significant
    /// first, as alarm tables have them: the value is the highest code in
    /// 1–14 (0 and 15, "unimplemented", are skipped), or 0 if there is none.
    Nibbles,
}

impl DataType {
    /// Registers the type takes (strings: their `length`).
    pub fn registers(self, length: u16) -> u16 {
        match self {
            DataType::Bit | DataType::U16 | DataType::I16 => 1,
            DataType::U32 | DataType::I32 | DataType::F32 => 2,
            DataType::U64 | DataType::I64 | DataType::F64 => 4,
            DataType::String | DataType::Nibbles => length,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::Bit => "bit",
            DataType::U16 => "u16",
            DataType::I16 => "i16",
            DataType::U32 => "u32",
            DataType::I32 => "i32",
            DataType::U64 => "u64",
            DataType::I64 => "i64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::String => "string",
            DataType::Nibbles => "nibbles",
        }
    }
}

/// Named as manuals write them.
#[allow(clippy::upper_case_acronyms)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum Order {
    #[default]
    ABCD,
    CDAB,
    BADC,
    DCBA,
}

impl Order {
    pub const ALL: [Order; 4] = [Order::ABCD, Order::CDAB, Order::BADC, Order::DCBA];

    fn swaps(self) -> (bool, bool) {
        // (bytes within each word, order of the words)
        match self {
            Order::ABCD => (false, false),
            Order::CDAB => (false, true),
            Order::BADC => (true, false),
            Order::DCBA => (true, true),
        }
    }
}

/// A decoded raw value, before scale and offset.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw {
    Int(i128),
    Float(f64),
    Bool(bool),
    Str(String),
}

/// The value's bytes, most significant first, from the registers as they
/// came off the wire.
fn value_bytes(regs: &[u16], order: Order) -> Vec<u8> {
    let (byte_swap, word_swap) = order.swaps();
    let mut words: Vec<u16> = regs.iter().map(|w| if byte_swap { w.swap_bytes() } else { *w }).collect();
    if word_swap {
        words.reverse();
    }
    words.iter().flat_map(|w| w.to_be_bytes()).collect()
}

/// Decodes `regs` (exactly the type's registers) as `t` in `order`; `bit`
/// picks a bit of a one-register value.
pub fn decode(regs: &[u16], t: DataType, order: Order, bit: Option<u8>) -> Option<Raw> {
    if regs.len() != usize::from(t.registers(regs.len() as u16)) || regs.is_empty() {
        return None;
    }
    let b = value_bytes(regs, order);
    let arr = |n: usize| -> [u8; 8] {
        let mut a = [0u8; 8];
        a[8 - n..].copy_from_slice(&b[..n]);
        a
    };
    Some(match t {
        DataType::Bit => Raw::Bool((u16::from_be_bytes([b[0], b[1]]) >> bit.unwrap_or(0)) & 1 == 1),
        DataType::U16 => Raw::Int(i128::from(u16::from_be_bytes([b[0], b[1]]))),
        DataType::I16 => Raw::Int(i128::from(i16::from_be_bytes([b[0], b[1]]))),
        DataType::U32 => Raw::Int(i128::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        DataType::I32 => Raw::Int(i128::from(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        DataType::U64 => Raw::Int(i128::from(u64::from_be_bytes(arr(8)))),
        DataType::I64 => Raw::Int(i128::from(i64::from_be_bytes(arr(8)))),
        DataType::F32 => Raw::Float(f32_decimal(f32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
        DataType::F64 => Raw::Float(f64::from_be_bytes(arr(8))),
        DataType::Nibbles => Raw::Int(
            b.iter().flat_map(|c| [c >> 4, c & 0x0F]).filter(|n| (1..=14).contains(n)).max().map_or(0, i128::from),
        ),
        DataType::String => {
            let s: String =
                b.iter().take_while(|c| **c != 0).map(|c| if c.is_ascii() { *c as char } else { '?' }).collect();
            Raw::Str(s.trim().to_string())
        }
    })
}

/// A float32 as the f64 nearest its shortest decimal form: a meter's 230.4
/// (stored as 230.399993896…) is written 230.4, as the meter shows it, not
/// 230.39999389648438.
fn f32_decimal(x: f32) -> f64 {
    if x.is_finite() { x.to_string().parse().unwrap_or(f64::from(x)) } else { f64::from(x) }
}

/// The bit pattern of a raw integer as the type's unsigned value, for
/// comparing with sentinels written in hex (0xFFFF is -1 as an i16).
pub fn unsigned_bits(raw: i128, t: DataType) -> u64 {
    match t {
        DataType::I16 => u64::from(raw as i16 as u16),
        DataType::I32 => u64::from(raw as i32 as u32),
        DataType::I64 => raw as i64 as u64,
        _ => raw as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_float_in_every_order() {
        // 231.5 as an IEEE-754 float is 0x43678000: bytes A=43 B=67 C=80 D=00.
        let cases = [
            (Order::ABCD, [0x4367, 0x8000]),
            (Order::CDAB, [0x8000, 0x4367]),
            (Order::BADC, [0x6743, 0x0080]),
            (Order::DCBA, [0x0080, 0x6743]),
        ];
        for (order, regs) in cases {
            assert_eq!(decode(&regs, DataType::F32, order, None), Some(Raw::Float(231.5)), "{order:?}");
        }
    }

    #[test]
    fn a_float32_reads_as_its_decimal() {
        let b = 230.4f32.to_bits();
        assert_eq!(decode(&[(b >> 16) as u16, b as u16], DataType::F32, Order::ABCD, None), Some(Raw::Float(230.4)));
        let nan = f32::NAN.to_bits();
        assert!(
            matches!(decode(&[(nan >> 16) as u16, nan as u16], DataType::F32, Order::ABCD, None), Some(Raw::Float(x)) if x.is_nan())
        );
    }

    #[test]
    fn integers_and_their_signs() {
        assert_eq!(decode(&[0xFFFF], DataType::U16, Order::ABCD, None), Some(Raw::Int(65535)));
        assert_eq!(decode(&[0xFFFF], DataType::I16, Order::ABCD, None), Some(Raw::Int(-1)));
        // 0x0001_86A0 = 100000
        assert_eq!(decode(&[0x0001, 0x86A0], DataType::U32, Order::ABCD, None), Some(Raw::Int(100_000)));
        assert_eq!(decode(&[0x86A0, 0x0001], DataType::U32, Order::CDAB, None), Some(Raw::Int(100_000)));
        assert_eq!(decode(&[0xFFFE, 0x7960], DataType::I32, Order::ABCD, None), Some(Raw::Int(-100_000)));
        // u64 0x0000_0001_0000_0002 = 4294967298, and words reversed for CDAB.
        assert_eq!(decode(&[0, 1, 0, 2], DataType::U64, Order::ABCD, None), Some(Raw::Int(4_294_967_298)));
        assert_eq!(decode(&[2, 0, 1, 0], DataType::U64, Order::CDAB, None), Some(Raw::Int(4_294_967_298)));
        assert_eq!(decode(&[0xFFFF; 4], DataType::I64, Order::ABCD, None), Some(Raw::Int(-1)));
        // 1.0 as f64: 0x3FF0_0000_0000_0000
        assert_eq!(decode(&[0x3FF0, 0, 0, 0], DataType::F64, Order::ABCD, None), Some(Raw::Float(1.0)));
        assert_eq!(decode(&[0, 0, 0, 0xF03F], DataType::F64, Order::DCBA, None), Some(Raw::Float(1.0)));
        // A 16-bit value byte-swapped: 0x3412 read BADC is 0x1234.
        assert_eq!(decode(&[0x3412], DataType::U16, Order::BADC, None), Some(Raw::Int(0x1234)));
    }

    #[test]
    fn bits_strings_and_sentinel_patterns() {
        assert_eq!(decode(&[0b0100], DataType::Bit, Order::ABCD, Some(2)), Some(Raw::Bool(true)));
        assert_eq!(decode(&[0b0100], DataType::Bit, Order::ABCD, Some(1)), Some(Raw::Bool(false)));
        // "SMT1500" padded with NUL: 'S''M' 'T''1' '5''0' '0'\0
        assert_eq!(
            decode(&[0x534D, 0x5431, 0x3530, 0x3000], DataType::String, Order::ABCD, None),
            Some(Raw::Str("SMT1500".into()))
        );
        // Alarm codes: 1 inactive ×3 and 15 unimplemented, then a 3 (shutdown) among 1s.
        assert_eq!(decode(&[0x111F, 0x1311], DataType::Nibbles, Order::ABCD, None), Some(Raw::Int(3)));
        assert_eq!(decode(&[0xFFFF, 0x0000], DataType::Nibbles, Order::ABCD, None), Some(Raw::Int(0)));
        assert_eq!(unsigned_bits(-1, DataType::I16), 0xFFFF);
        assert_eq!(unsigned_bits(-2, DataType::I32), 0xFFFF_FFFE);
        assert_eq!(decode(&[1, 2, 3], DataType::U32, Order::ABCD, None), None);
    }
}
