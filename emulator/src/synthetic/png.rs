//! Deterministic placeholder images: valid PNGs of the requested size in one solid colour.
//!
//! A 1024 × 1024 RGB image is 3 MiB of pixels; stored uncompressed it would make every
//! image answer megabytes of base64. The pixel data of a solid image repeats exactly: written
//! as matches of 258 bytes (one pixel back in the first row, one byte back after) in deflate's
//! fixed Huffman codes, 13 bits each, it compresses about 160 to 1 without a compression crate:
//! 1024 × 1024 comes to ~22 KiB, 2048 × 2048 to ~83 KiB.

/// Longest image side accepted (Bedrock's image models stop at 4096).
pub const MAX_SIDE: u32 = 4096;

/// A PNG of `width` × `height` pixels (each 1..=[`MAX_SIDE`]) filled with `rgb`.
pub fn solid_rgb(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    solid(width, height, &rgb)
}

/// The same with an alpha channel (8-bit RGBA): `rgba[3]` 0 is fully transparent.
pub fn solid_rgba(width: u32, height: u32, rgba: [u8; 4]) -> Vec<u8> {
    solid(width, height, &rgba)
}

fn solid(width: u32, height: u32, pixel: &[u8]) -> Vec<u8> {
    let (width, height) = (width.clamp(1, MAX_SIDE), height.clamp(1, MAX_SIDE));
    let bpp = pixel.len();
    let mut out = Vec::new();
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // 8 bits a channel, RGB (2) or RGBA (6), deflate, adaptive filters, no interlace.
    ihdr.extend_from_slice(&[8, if bpp == 4 { 6 } else { 2 }, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &solid_zlib(width as usize, height as usize, pixel));
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The zlib stream of a solid image's scanlines, written straight from their structure: the
/// first row is filter "None" and the pixel repeated (matches one pixel back), every other row
/// filter "Up" and zeros (matches one byte back). Linear in the output (a few KiB), not in the
/// pixels: materialising and searching 2048 × 2048 pixels took 60 ms an image.
fn solid_zlib(width: usize, height: usize, pixel: &[u8]) -> Vec<u8> {
    let bpp = pixel.len();
    let row = bpp * width;
    let mut bits = Bits::default();
    bits.out.extend_from_slice(&[0x78, 0x01]);
    bits.put(1, 1); // the final block
    bits.put(1, 2); // fixed Huffman codes
    let mut adler = Adler::default();
    bits.literal(0);
    adler.byte(0);
    for &b in pixel {
        bits.literal(u16::from(b));
    }
    bits.repeat(row - bpp, bpp, |i| pixel[i % bpp]);
    for i in 0..row {
        adler.byte(pixel[i % bpp]);
    }
    for _ in 1..height {
        bits.literal(2);
        adler.byte(2);
        bits.literal(0);
        bits.repeat(row - 1, 1, |_| 0);
        adler.zeros(row);
    }
    bits.literal(256); // end of block
    bits.flush();
    let mut out = bits.out;
    out.extend_from_slice(&adler.value().to_be_bytes());
    out
}

/// The width and height of a PNG or JPEG image, read from its header; None for anything else.
pub fn dimensions(image: &[u8]) -> Option<(u32, u32)> {
    if image.starts_with(b"\x89PNG\r\n\x1a\n") && image.len() >= 24 && &image[12..16] == b"IHDR" {
        let be = |i: usize| u32::from_be_bytes([image[i], image[i + 1], image[i + 2], image[i + 3]]);
        return Some((be(16), be(20))).filter(|&(w, h)| w > 0 && h > 0);
    }
    if !image.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    // JPEG: walk the marker segments to the first start-of-frame.
    let mut i = 2;
    while i + 4 <= image.len() {
        if image[i] != 0xFF {
            return None;
        }
        let marker = image[i + 1];
        if marker == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([image[i + 2], image[i + 3]]));
        let start_of_frame = (0xC0..=0xCF).contains(&marker) && !matches!(marker, 0xC4 | 0xC8 | 0xCC);
        if start_of_frame && i + 9 <= image.len() {
            let h = u32::from(u16::from_be_bytes([image[i + 5], image[i + 6]]));
            let w = u32::from(u16::from_be_bytes([image[i + 7], image[i + 8]]));
            return Some((w, h)).filter(|&(w, h)| w > 0 && h > 0);
        }
        if len < 2 {
            return None;
        }
        i += 2 + len;
    }
    None
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32fast::hash(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// Adler-32 of the scanlines, fed byte by byte or by runs of zeros.
struct Adler {
    a: u64,
    b: u64,
}

impl Default for Adler {
    fn default() -> Self {
        Adler { a: 1, b: 0 }
    }
}

const ADLER_MOD: u64 = 65_521;

impl Adler {
    fn byte(&mut self, byte: u8) {
        self.a = (self.a + u64::from(byte)) % ADLER_MOD;
        self.b = (self.b + self.a) % ADLER_MOD;
    }

    /// `n` zero bytes: `a` stays, `b` grows by `a` each.
    fn zeros(&mut self, n: usize) {
        self.b = (self.b + self.a * (n as u64 % ADLER_MOD)) % ADLER_MOD;
    }

    fn value(&self) -> u32 {
        ((self.b << 16) | self.a) as u32
    }
}

/// Deflate's bit order: values least significant bit first, Huffman codes most significant
/// bit first.
#[derive(Default)]
struct Bits {
    out: Vec<u8>,
    acc: u32,
    n: u32,
}

const LENGTH_BASE: [u16; 29] =
    [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA: [u32; 29] = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DISTANCE_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
    8193, 12289, 16385, 24577,
];
const DISTANCE_EXTRA: [u32; 30] =
    [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];

impl Bits {
    /// `count` bits of `value`, least significant first.
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= value << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code of `len` bits, most significant first.
    fn code(&mut self, code: u32, len: u32) {
        let reversed = code.reverse_bits() >> (32 - len);
        self.put(reversed, len);
    }

    /// A literal/length symbol (0..=287) in the fixed code.
    fn literal(&mut self, symbol: u16) {
        let s = u32::from(symbol);
        match s {
            0..=143 => self.code(0x30 + s, 8),
            144..=255 => self.code(0x190 + s - 144, 9),
            256..=279 => self.code(s - 256, 7),
            _ => self.code(0xC0 + s - 280, 8),
        }
    }

    fn length(&mut self, len: usize) {
        let len = len as u16;
        let i = LENGTH_BASE.iter().rposition(|&b| b <= len).unwrap_or(0);
        self.literal(257 + i as u16);
        self.put(u32::from(len - LENGTH_BASE[i]), LENGTH_EXTRA[i]);
    }

    fn distance(&mut self, distance: usize) {
        let d = distance as u16;
        let i = DISTANCE_BASE.iter().rposition(|&b| b <= d).unwrap_or(0);
        self.code(i as u32, 5);
        self.put(u32::from(d - DISTANCE_BASE[i]), DISTANCE_EXTRA[i]);
    }

    /// `len` bytes repeating those `distance` back, as matches of 3 to 258 bytes (a tail that
    /// would be shorter is split off the match before it; `byte(i)`, the `i`-th repeated byte,
    /// is written as literals when `len` itself is under 3).
    fn repeat(&mut self, len: usize, distance: usize, byte: impl Fn(usize) -> u8) {
        let mut done = 0;
        while len - done >= 3 {
            let left = len - done;
            let take = if left > 258 && left - 258 < 3 { 256 } else { left.min(258) };
            self.length(take);
            self.distance(distance);
            done += take;
        }
        for i in done..len {
            self.literal(u16::from(byte(i)));
        }
    }

    fn flush(&mut self) {
        if self.n > 0 {
            self.out.push(self.acc as u8);
            self.acc = 0;
            self.n = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inflates a fixed-Huffman deflate stream (the only kind [`zlib`] writes): an independent
    /// decoder for the round trip.
    fn inflate_fixed(data: &[u8]) -> Vec<u8> {
        struct Reader<'a> {
            data: &'a [u8],
            pos: usize,
        }
        impl Reader<'_> {
            fn bit(&mut self) -> u32 {
                let b = (self.data[self.pos / 8] >> (self.pos % 8)) & 1;
                self.pos += 1;
                u32::from(b)
            }
            fn bits(&mut self, n: u32) -> u32 {
                (0..n).map(|i| self.bit() << i).sum()
            }
            fn code(&mut self, n: u32) -> u32 {
                (0..n).fold(0, |acc, _| (acc << 1) | self.bit())
            }
            fn symbol(&mut self) -> u32 {
                let c7 = self.code(7);
                if c7 <= 0x17 {
                    return 256 + c7;
                }
                let c8 = (c7 << 1) | self.bit();
                if (0x30..=0xBF).contains(&c8) {
                    return c8 - 0x30;
                }
                if (0xC0..=0xC7).contains(&c8) {
                    return 280 + c8 - 0xC0;
                }
                let c9 = (c8 << 1) | self.bit();
                144 + c9 - 0x190
            }
        }
        let mut r = Reader { data, pos: 0 };
        assert_eq!(r.bits(1), 1, "final block");
        assert_eq!(r.bits(2), 1, "fixed codes");
        let mut out: Vec<u8> = Vec::new();
        loop {
            let s = r.symbol();
            match s {
                0..=255 => out.push(s as u8),
                256 => return out,
                _ => {
                    let i = (s - 257) as usize;
                    let len = usize::from(LENGTH_BASE[i]) + r.bits(LENGTH_EXTRA[i]) as usize;
                    let d = r.code(5) as usize;
                    let dist = usize::from(DISTANCE_BASE[d]) + r.bits(DISTANCE_EXTRA[d]) as usize;
                    for _ in 0..len {
                        out.push(out[out.len() - dist]);
                    }
                }
            }
        }
    }

    /// The scanlines of a solid image, built the slow way.
    fn scanlines(width: usize, height: usize, pixel: &[u8]) -> Vec<u8> {
        let mut raw = vec![0u8];
        for _ in 0..width {
            raw.extend_from_slice(pixel);
        }
        for _ in 1..height {
            raw.push(2);
            raw.resize(raw.len() + pixel.len() * width, 0);
        }
        raw
    }

    fn adler32(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in data {
            a = (a + u32::from(byte)) % 65_521;
            b = (b + a) % 65_521;
        }
        (b << 16) | a
    }

    #[test]
    fn the_zlib_stream_inflates_to_the_scanlines() {
        for (w, h) in [(1, 1), (1, 7), (2, 1), (3, 2), (86, 3), (87, 2), (88, 2), (300, 5), (4096, 3)] {
            for pixel in [&[9u8, 8, 7][..], &[1, 2, 3, 4][..], &[0, 0, 0][..]] {
                let z = solid_zlib(w, h, pixel);
                assert_eq!(&z[..2], &[0x78, 0x01]);
                assert_eq!(((u32::from(z[0]) << 8) | u32::from(z[1])) % 31, 0, "zlib header check");
                let raw = scanlines(w, h, pixel);
                assert_eq!(inflate_fixed(&z[2..z.len() - 4]), raw, "{w}x{h} {pixel:?}");
                assert_eq!(&z[z.len() - 4..], &adler32(&raw).to_be_bytes(), "{w}x{h}");
            }
        }
    }

    #[test]
    fn a_solid_png_has_its_size_and_colour_and_stays_small() {
        let png = solid_rgb(1024, 768, [10, 200, 30]);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        assert_eq!(u32::from_be_bytes([png[16], png[17], png[18], png[19]]), 1024);
        assert_eq!(u32::from_be_bytes([png[20], png[21], png[22], png[23]]), 768);
        assert!(png.len() < 20_000, "{} bytes", png.len());
        let idat_len = u32::from_be_bytes([png[33], png[34], png[35], png[36]]) as usize;
        assert_eq!(&png[37..41], b"IDAT");
        let idat = &png[41..41 + idat_len];
        let raw = inflate_fixed(&idat[2..idat.len() - 4]);
        assert_eq!(raw.len(), 768 * (1 + 3 * 1024));
        assert_eq!(&raw[..4], &[0, 10, 200, 30]);
        assert_eq!(raw[1 + 3 * 1024], 2, "second row filtered Up");
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]));
        assert_eq!(dimensions(&png), Some((1024, 768)));
        let rgba = solid_rgba(5, 3, [0, 0, 0, 0]);
        assert_eq!(rgba[25], 6, "colour type RGBA");
        assert_eq!(dimensions(&rgba), Some((5, 3)));
    }

    #[test]
    fn jpeg_dimensions_come_from_the_start_of_frame() {
        // SOI, an APP0 segment, then SOF0 of 640 x 480.
        let mut jpeg = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x04, 0x00, 0x00];
        jpeg.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 0x08, 0x01, 0xE0, 0x02, 0x80, 0x03]);
        assert_eq!(dimensions(&jpeg), Some((640, 480)));
        assert_eq!(dimensions(b"GIF89a"), None);
        assert_eq!(dimensions(&[0xFF, 0xD8, 0xFF]), None);
    }
}
