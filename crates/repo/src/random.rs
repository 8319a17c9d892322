//! A deterministic xorshift generator for the crate's randomised tests: each replays the same
//! sequence every run.

pub(crate) struct Random(pub(crate) u64);

impl Random {
    /// The next number below `n`.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}
