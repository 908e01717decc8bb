//! A small, fast, seeded hasher for the dataplane's hash tables.
//!
//! Contract: hashing a key costs a few multiplications and never allocates.
//! It is not a cryptographic or DoS-proof hash: keys in a lab come from
//! instances the lab's user controls. Tables that hold packet-derived keys
//! (conntrack) take a seed so the runtime can randomise it per table.

use core::hash::{BuildHasher, Hasher};

/// An odd 64-bit constant (2^64 / golden ratio).
const MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// Multiplies into 128 bits and folds the halves: good mixing in both the
/// low bits (bucket index) and the high bits (hashbrown's control bytes).
const fn folded_multiply(a: u64, b: u64) -> u64 {
    let full = (a as u128).wrapping_mul(b as u128);
    (full as u64) ^ ((full >> 64) as u64)
}

/// The hasher state; see the module docs.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastHasher {
    state: u64,
}

impl FastHasher {
    fn mix(&mut self, v: u64) {
        self.state = folded_multiply(self.state ^ v, MUL);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    fn write_u16(&mut self, i: u16) {
        self.mix(u64::from(i));
    }

    fn write_u32(&mut self, i: u32) {
        self.mix(u64::from(i));
    }

    fn write_u64(&mut self, i: u64) {
        self.mix(i);
    }

    fn write_u128(&mut self, i: u128) {
        self.mix(i as u64);
        self.mix((i >> 64) as u64);
    }

    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    fn finish(&self) -> u64 {
        folded_multiply(self.state, MUL ^ 0x5851_F42D_4C95_7F2D)
    }
}

/// Builds [`FastHasher`]s from a seed.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastState {
    seed: u64,
}

impl FastState {
    /// A builder whose hashers start from `seed`.
    pub(crate) const fn with_seed(seed: u64) -> FastState {
        FastState { seed }
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    fn build_hasher(&self) -> FastHasher {
        FastHasher { state: self.seed }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_and_key_change_the_hash() {
        let a = FastState::with_seed(1);
        let b = FastState::with_seed(2);
        assert_eq!(a.hash_one(42u32), a.hash_one(42u32));
        assert_ne!(a.hash_one(42u32), a.hash_one(43u32));
        assert_ne!(a.hash_one(42u32), b.hash_one(42u32));
        assert_ne!(a.hash_one([1u8, 2, 3]), a.hash_one([1u8, 2, 3, 0]));
    }

    #[test]
    fn low_bits_spread_for_sequential_keys() {
        let s = FastState::with_seed(7);
        let mut buckets = [0u32; 16];
        for k in 0u32..16_000 {
            buckets[(s.hash_one(k) & 15) as usize] += 1;
        }
        assert!(
            buckets.iter().all(|&n| (800..1200).contains(&n)),
            "{buckets:?}"
        );
    }
}
