//! A small deterministic mutator for the short pass of the test suite:
//! bit flips, byte changes, insertions of bytes that matter to our decoders
//! (digits, newlines, huge numbers, JSON and protobuf punctuation),
//! deletions, duplications and splices with another seed. It is no
//! substitute for coverage guidance; it gives CI a few thousand varied
//! inputs per target in a second.

/// xorshift64*: a seedable generator, so a failing case is reproducible
/// from the seed printed by the test.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Byte strings worth inserting.
const TOKENS: &[&[u8]] = &[
    b"9223372036854775808",
    b"18446744073709551615",
    b"99999999999999999999999",
    b"-1",
    b"0",
    b"\n",
    b"\x00",
    b"\xff\xff\xff\xff\x0f",
    b"e2147483647",
    b"E-2147483648",
    b"Ei",
    b"m",
    b"\"",
    b"{}",
    b"[]",
    b"null",
    b"\"\xc3\xa9\"",
    b",",
    b"(",
    b")",
    b"!",
    b"in",
    b"Gt",
];

/// One mutation of `input` (`other` is a second seed to splice from).
pub fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = out.len();
        match rng.below(8) {
            0 if len > 0 => {
                let i = rng.below(len);
                out[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                out[i] = rng.next_u64() as u8;
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                let at = rng.below(len + 1);
                out.splice(at..at, token.iter().copied());
            }
            3 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(16)).min(len);
                out.drain(from..to);
            }
            4 if len > 0 => {
                let from = rng.below(len);
                let to = (from + 1 + rng.below(64)).min(len);
                let piece = out[from..to].to_vec();
                let at = rng.below(len + 1);
                out.splice(at..at, piece);
            }
            5 if !other.is_empty() => {
                let cut = rng.below(len + 1);
                let from = rng.below(other.len());
                out.truncate(cut);
                out.extend_from_slice(&other[from..]);
            }
            6 => out.truncate(rng.below(len + 1)),
            _ => {
                let at = rng.below(len + 1);
                out.insert(at, rng.next_u64() as u8);
            }
        }
    }
    out
}
