//! A stable 64-bit hash (FNV-1a with a splitmix finish) for tie-breaks and sampling offsets:
//! the same on every machine and every release, unlike the standard library's hasher.

use std::hash::{BuildHasherDefault, Hasher};

/// Hash of a string and a number under a seed.
pub(crate) fn mix(seed: u64, text: &str, n: u64) -> u64 {
    let mut h = Stable::default();
    h.write_u64(seed);
    h.write(text.as_bytes());
    h.write_u64(n);
    h.finish()
}

/// FNV-1a over the bytes written, finished with splitmix64 so that close inputs spread.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stable(u64);

impl Default for Stable {
    fn default() -> Stable {
        Stable(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Stable {
    fn finish(&self) -> u64 {
        let mut z = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n).wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// Hash maps keyed by small integers, hashed with [`Stable`].
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Stable>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_of_an_input_never_changes() {
        assert_eq!(mix(0, "web-0", 3), mix(0, "web-0", 3));
        assert_ne!(mix(0, "web-0", 3), mix(0, "web-0", 4));
        assert_ne!(mix(1, "web-0", 3), mix(0, "web-0", 3));
    }
}
