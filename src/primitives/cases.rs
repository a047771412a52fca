//! A small deterministic generator (xorshift64) for the property tests, so each runs the same
//! cases on every machine and a failure names a round that can be run again.

pub struct Cases(u64);

impl Cases {
    /// A generator from a nonzero seed.
    pub fn new(seed: u64) -> Cases {
        Cases(seed.max(1))
    }

    pub fn number(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.number() % n as u64) as usize
    }

    /// True one time in `n`.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}
