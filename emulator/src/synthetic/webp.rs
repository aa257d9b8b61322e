//! Deterministic placeholder WebP images: lossless (VP8L), one solid colour.
//!
//! In VP8L every pixel is read through five prefix codes (green, red, blue, alpha,
//! distance). A "simple" prefix code with a single symbol takes zero bits to read, so an image
//! whose five codes each hold one symbol is the headers alone, whatever its size: 13 bytes of
//! bitstream.

/// Longest side written (VP8L allows 16,384).
pub const MAX_SIDE: u32 = 4096;

/// A lossless WebP of `width` × `height` pixels (each 1..=[`MAX_SIDE`]) filled with `rgb`.
pub fn solid_rgb(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let (width, height) = (width.clamp(1, MAX_SIDE), height.clamp(1, MAX_SIDE));
    let mut bits = Bits::default();
    bits.put(0x2F, 8); // the VP8L signature
    bits.put(width - 1, 14);
    bits.put(height - 1, 14);
    bits.put(0, 1); // no alpha used
    bits.put(0, 3); // version 0
    bits.put(0, 1); // no transform
    bits.put(0, 1); // no colour cache
    bits.put(0, 1); // one prefix-code group
    let [r, g, b] = rgb;
    // Green (with lengths), red, blue, alpha, distance: each a one-symbol simple code.
    for symbol in [g, r, b, 0xFF, 0] {
        bits.put(1, 1); // simple code
        bits.put(0, 1); // one symbol
        bits.put(1, 1); // written in 8 bits
        bits.put(u32::from(symbol), 8);
    }
    let mut data = bits.finish();
    let chunk_len = data.len() as u32;
    if data.len() % 2 == 1 {
        data.push(0); // RIFF chunks are padded to an even size
    }
    let mut out = Vec::with_capacity(20 + data.len());
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(4 + 8 + data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"WEBP");
    out.extend_from_slice(b"VP8L");
    out.extend_from_slice(&chunk_len.to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// Bits least significant first, as VP8L reads them.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// The width and height of a WebP image (VP8L, VP8 or VP8X), read from its header.
pub fn dimensions(image: &[u8]) -> Option<(u32, u32)> {
    if image.len() < 30 || &image[..4] != b"RIFF" || &image[8..12] != b"WEBP" {
        return None;
    }
    let le24 = |i: usize| u32::from(image[i]) | u32::from(image[i + 1]) << 8 | u32::from(image[i + 2]) << 16;
    match &image[12..16] {
        b"VP8L" if image[20] == 0x2F => {
            let v = u32::from_le_bytes([image[21], image[22], image[23], image[24]]);
            Some(((v & 0x3FFF) + 1, ((v >> 14) & 0x3FFF) + 1))
        }
        b"VP8X" => Some((le24(24) + 1, le24(27) + 1)),
        b"VP8 " => {
            let w = u32::from(u16::from_le_bytes([image[26], image[27]]) & 0x3FFF);
            let h = u32::from(u16::from_le_bytes([image[28], image[29]]) & 0x3FFF);
            Some((w, h))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_solid_webp_is_a_riff_vp8l_of_its_size() {
        let webp = solid_rgb(1536, 640, [10, 20, 30]);
        assert_eq!(&webp[..4], b"RIFF");
        assert_eq!(u32::from_le_bytes([webp[4], webp[5], webp[6], webp[7]]) as usize, webp.len() - 8);
        assert_eq!(&webp[8..16], b"WEBPVP8L");
        assert_eq!(u32::from_le_bytes([webp[16], webp[17], webp[18], webp[19]]), 13);
        assert_eq!(webp.len() % 2, 0);
        assert_eq!(dimensions(&webp), Some((1536, 640)));
        assert_eq!(dimensions(b"RIFF"), None);
    }
}
