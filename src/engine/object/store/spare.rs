//! Spare buffers for the read path: the buffers chunks are read into and decoded into are handed back when their
//! bytes have been used, and the next read takes one rather than allocating (and faulting in, and zeroing) a fresh
//! one. A streamed get of the 1.3 GB benchmark stream took about 18,000 page faults without them.
//!
//! The spares are only ever buffers that were in use at once, so they never raise the peak memory of a read;
//! an idle store keeps at most [`BUDGET`] bytes of them.

use std::sync::Mutex;

/// Bytes the spare buffers may hold in all: about what a streamed read has in flight.
const BUDGET: usize = 32 << 20;
/// A buffer larger than this is dropped rather than kept (a data chunk is at most a few MiB; a rare large one
/// should not pin its memory).
const KEEP_MAX: usize = 9 << 20;

#[derive(Default)]
pub(crate) struct Spares {
    /// The buffers, and their capacities summed.
    free: Mutex<(Vec<Vec<u8>>, usize)>,
}

impl Spares {
    /// A buffer with room for `len` bytes if a spare one has it, else a new, empty one with room for the next power
    /// of two (so that it serves chunks of other sizes later). It holds whatever it held: only its allocation is
    /// meant to be reused.
    pub(crate) fn take_any(&self, len: usize) -> Vec<u8> {
        let mut guard = self.free.lock().expect("spare lock");
        let (free, held) = &mut *guard;
        // The smallest that fits, so that large buffers stay for large chunks.
        let best = (0..free.len()).filter(|&i| free[i].capacity() >= len).min_by_key(|&i| free[i].capacity());
        best.map(|i| {
            let v = free.swap_remove(i);
            *held -= v.capacity();
            v
        })
        .unwrap_or_else(|| Vec::with_capacity(len.next_power_of_two()))
    }

    /// Keep `v` for a later [`Spares::take_any`], within the budget.
    pub(crate) fn give(&self, v: Vec<u8>) {
        let cap = v.capacity();
        if cap == 0 || cap > KEEP_MAX {
            return;
        }
        let mut guard = self.free.lock().expect("spare lock");
        let (free, held) = &mut *guard;
        if *held + cap <= BUDGET {
            *held += cap;
            free.push(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_spare_that_fits_is_reused_within_the_budget() {
        let s = Spares::default();
        let small = vec![1u8; 1000];
        let large = vec![2u8; 5000];
        let (at_small, at_large) = (small.as_ptr(), large.as_ptr());
        s.give(large);
        s.give(small);
        // The smallest that fits, as it was; none that fits: a new, empty one.
        let sm = s.take_any(800);
        assert_eq!((sm.as_ptr(), sm.len()), (at_small, 1000));
        let l = s.take_any(800);
        assert_eq!((l.as_ptr(), l.len()), (at_large, 5000));
        let new = s.take_any(800);
        assert_eq!((new.len(), new.capacity()), (0, 1024));
        // Too large to keep, and nothing beyond the budget.
        s.give(vec![0; KEEP_MAX + 1]);
        assert_eq!(*s.free.lock().unwrap(), (vec![], 0));
        for _ in 0..(BUDGET / (8 << 20)) + 2 {
            s.give(Vec::with_capacity(8 << 20));
        }
        let (free, held) = &*s.free.lock().unwrap();
        assert_eq!(*held, free.iter().map(Vec::capacity).sum::<usize>());
        assert!(*held <= BUDGET && free.len() == BUDGET / (8 << 20));
    }
}
