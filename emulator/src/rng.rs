//! Deterministic randomness: a SplitMix64 generator and a stable string hash.
//!
//! Hand-rolled rather than `rand` because the emulator needs exactly two things — a stable
//! hash of a request and a seedable stream of numbers that never changes across crate
//! versions (a `rand` upgrade may change its algorithms and with them every recorded reply).

/// SplitMix64: tiny, fast, and stable forever.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`; returns 0 for `n == 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// `n` characters from `alphabet`.
    pub fn string_from(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[self.below(alphabet.len() as u64) as usize] as char).collect()
    }

    /// The 16 bytes of a version-4 UUID: the next two numbers, with the version and variant
    /// bits set.
    fn uuid_bytes(&mut self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        bytes
    }

    /// A version-4-shaped UUID string.
    pub fn uuid(&mut self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let bytes = self.uuid_bytes();
        // Filled as bytes, not pushed as 36 chars (each a UTF-8 encoding and a capacity
        // check): every request makes at least one of these.
        // Where each byte's two digits go, between the dashes of 8-4-4-4-12.
        const AT: [usize; 16] = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
        let mut out = [b'-'; 36];
        for (&at, b) in AT.iter().zip(bytes) {
            out[at] = HEX[usize::from(b >> 4)];
            out[at + 1] = HEX[usize::from(b & 0xf)];
        }
        // Only ASCII hex digits and dashes were written, so this never falls back. (The
        // lossy conversion walked the bytes one by one: a third of the function's cost.)
        std::str::from_utf8(&out).map(str::to_owned).unwrap_or_default()
    }
}

/// FNV-1a over bytes, mixed with a seed: stable across runs, platforms and releases.
pub fn stable_hash(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = StableHasher::new(seed);
    h.write(bytes);
    h.finish()
}

/// [`stable_hash`] over text written piece by piece (`write!(hasher, …)`): the same value as
/// hashing the formatted string, without building it.
#[derive(Debug, Clone)]
pub struct StableHasher(u64);

impl StableHasher {
    /// A hasher mixed with `seed`.
    pub fn new(seed: u64) -> Self {
        StableHasher(0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x100_0000_01b3))
    }

    /// Feeds `bytes`.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }

    /// The hash of everything written.
    pub fn finish(&self) -> u64 {
        SplitMix64::new(self.0).next_u64()
    }
}

impl std::fmt::Write for StableHasher {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.write(s.as_bytes());
        Ok(())
    }
}

/// Lower-case letters and digits, the alphabet of Bedrock's 12-character resource ids.
pub const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// The base64url alphabet used in `tooluse_…` ids.
pub const BASE64URL_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        assert_eq!((a.next_u64(), a.next_u64()), (b.next_u64(), b.next_u64()));
    }

    #[test]
    fn uuids_are_the_usual_text_of_their_sixteen_bytes() {
        for seed in [0, 1, 7, u64::MAX, 0x9E37_79B9_7F4A_7C15] {
            let hex: String = SplitMix64::new(seed).uuid_bytes().iter().map(|b| format!("{b:02x}")).collect();
            let expected = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]);
            assert_eq!(SplitMix64::new(seed).uuid(), expected);
        }
    }

    #[test]
    fn uuids_have_the_v4_shape() {
        let mut g = SplitMix64::new(1);
        let u = g.uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert!(matches!(&u[19..20], "8" | "9" | "a" | "b"), "{u}");
    }

    #[test]
    fn hashing_written_pieces_equals_hashing_the_string() {
        use std::fmt::Write as _;
        let mut h = StableHasher::new(7);
        let model = "model";
        let _ = write!(h, "{model}\u{1f}{:?}", ["a", "b"]);
        assert_eq!(h.finish(), stable_hash(7, format!("{model}\u{1f}{:?}", ["a", "b"]).as_bytes()));
    }

    #[test]
    fn stable_hash_depends_on_seed_and_input() {
        assert_eq!(stable_hash(1, b"x"), stable_hash(1, b"x"));
        assert_ne!(stable_hash(1, b"x"), stable_hash(2, b"x"));
        assert_ne!(stable_hash(1, b"x"), stable_hash(1, b"y"));
    }
}
