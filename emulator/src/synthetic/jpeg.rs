//! Deterministic placeholder JPEGs: baseline, YCbCr 4:4:4, one solid colour.
//!
//! Every 8 × 8 block of a solid image has the same DC coefficient and no AC energy, so after
//! the first block of each component the entropy-coded data is "DC difference 0, end of block"
//! per component and block: three bits (2048 × 2048: 72 KiB). The quantisation tables are all 8, so a block's quantised DC is its
//! level-shifted sample value itself (-128 … 127).

/// Longest side written (JPEG allows 65,535; Bedrock's image models stop at 4096).
pub const MAX_SIDE: u32 = 4096;

/// A JPEG of `width` × `height` pixels (each 1..=[`MAX_SIDE`]) filled with `rgb`.
pub fn solid_rgb(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let (width, height) = (width.clamp(1, MAX_SIDE), height.clamp(1, MAX_SIDE));
    let ycc = to_ycbcr(rgb);
    let mut out = vec![0xFF, 0xD8];
    // APP0 (JFIF 1.01, no thumbnail).
    segment(&mut out, 0xE0, &[b'J', b'F', b'I', b'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0]);
    // One quantisation table (id 0), every entry 8.
    let mut dqt = vec![0u8];
    dqt.extend_from_slice(&[8u8; 64]);
    segment(&mut out, 0xDB, &dqt);
    // Baseline frame: 8-bit samples, 3 components, no subsampling, all on table 0.
    let mut sof = vec![8];
    sof.extend_from_slice(&(height as u16).to_be_bytes());
    sof.extend_from_slice(&(width as u16).to_be_bytes());
    sof.push(3);
    for id in 1..=3u8 {
        sof.extend_from_slice(&[id, 0x11, 0]);
    }
    segment(&mut out, 0xC0, &sof);
    // DC table 0: the standard luminance table (categories 0–11). AC table 0: one symbol,
    // end-of-block (0x00), coded `0`.
    let mut dht = vec![0x00];
    dht.extend_from_slice(&DC_BITS);
    dht.extend(0u8..=11);
    dht.push(0x10);
    let mut ac_bits = [0u8; 16];
    ac_bits[0] = 1;
    dht.extend_from_slice(&ac_bits);
    dht.push(0x00);
    segment(&mut out, 0xC4, &dht);
    segment(&mut out, 0xDA, &[3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);
    let blocks = width.div_ceil(8) as usize * height.div_ceil(8) as usize;
    let mut bits = Bits::default();
    for block in 0..blocks {
        for &sample in &ycc {
            let diff = if block == 0 { i32::from(sample) - 128 } else { 0 };
            bits.dc(diff);
            bits.put(0, 1); // end of block
        }
    }
    bits.flush();
    out.extend_from_slice(&bits.out);
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// JFIF's RGB → YCbCr, rounded.
fn to_ycbcr([r, g, b]: [u8; 3]) -> [u8; 3] {
    let (r, g, b) = (f64::from(r), f64::from(g), f64::from(b));
    let y = 0.299 * r + 0.587 * g + 0.114 * b;
    let cb = 128.0 - 0.168_736 * r - 0.331_264 * g + 0.5 * b;
    let cr = 128.0 + 0.5 * r - 0.418_688 * g - 0.081_312 * b;
    [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as u8)
}

fn segment(out: &mut Vec<u8>, marker: u8, data: &[u8]) {
    out.extend_from_slice(&[0xFF, marker]);
    out.extend_from_slice(&((data.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(data);
}

/// Codes per length (1–16 bits) of the standard DC luminance table (ITU T.81, K.3).
const DC_BITS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];

/// (code, length) of each DC category in that table.
const DC_CODES: [(u32, u32); 12] = [
    (0b00, 2),
    (0b010, 3),
    (0b011, 3),
    (0b100, 3),
    (0b101, 3),
    (0b110, 3),
    (0b1110, 4),
    (0b11110, 5),
    (0b111110, 6),
    (0b1111110, 7),
    (0b11111110, 8),
    (0b111111110, 9),
];

/// Entropy-coded bits, most significant first, with 0xFF bytes stuffed.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        for i in (0..count).rev() {
            self.acc = (self.acc << 1) | ((value >> i) & 1);
            self.n += 1;
            if self.n == 8 {
                self.byte();
            }
        }
    }

    fn byte(&mut self) {
        let b = self.acc as u8;
        self.out.push(b);
        if b == 0xFF {
            self.out.push(0x00);
        }
        self.acc = 0;
        self.n = 0;
    }

    /// A DC difference: its category's code, then its bits (negative values one's complement).
    fn dc(&mut self, diff: i32) {
        let category = 32 - diff.unsigned_abs().leading_zeros();
        let (code, len) = DC_CODES[category as usize];
        self.put(code, len);
        if category > 0 {
            let v = if diff < 0 { diff - 1 } else { diff };
            self.put((v as u32) & ((1 << category) - 1), category);
        }
    }

    /// Pads the last byte with 1 bits.
    fn flush(&mut self) {
        while self.n > 0 {
            self.put(1, 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solid_jpeg_is_framed_and_sized() {
        let jpeg = solid_rgb(100, 37, [200, 30, 60]);
        assert!(jpeg.starts_with(&[0xFF, 0xD8, 0xFF, 0xE0]));
        assert!(jpeg.ends_with(&[0xFF, 0xD9]));
        assert_eq!(super::super::png::dimensions(&jpeg), Some((100, 37)));
        // 13 × 5 blocks of three components: ~3 bits each after the first.
        assert!(jpeg.len() < 400, "{} bytes", jpeg.len());
        let big = solid_rgb(2048, 2048, [1, 2, 3]);
        // 256 × 256 blocks × 3 components × 3 bits.
        assert!(big.len() < 80_000, "{} bytes", big.len());
    }

    #[test]
    fn dc_differences_use_their_category_and_ones_complement() {
        let mut b = Bits::default();
        b.dc(-3); // category 2 (011), bits 00
        b.dc(5); // category 3 (100), bits 101
        b.flush();
        assert_eq!(b.out, vec![0b0110_0100, 0b1011_1111]);
    }
}
