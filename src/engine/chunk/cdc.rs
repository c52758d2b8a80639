//! Content-defined cut points of a stream that arrives in pieces: FastCDC (the 2020 variant, normalization level
//! 1, the gear table keyed by the repository's seed) giving exactly the cut points the `fastcdc` crate gives for
//! the whole stream at once, while scanning every byte once. The crate's chunker over a buffer has to stop at its
//! end and start the last, undecided chunk over when more bytes come (about a tenth of a put's chunking work);
//! [`Cutter`] keeps how far that chunk's scan got and goes on from there.

use fastcdc::v2020::{get_gear_with_seed, logarithm2, Normalization, MASKS};

/// Cut points of one stream, fed as a buffer that keeps its undecided tail at the front (see [`Cutter::cut`]).
pub(crate) struct Cutter {
    gear: Box<[u64; 256]>,
    gear_ls: Box<[u64; 256]>,
    min: usize,
    avg: usize,
    max: usize,
    mask_s: u64,
    mask_l: u64,
    /// The scan of the chunk at the start of the next buffer: pairs of bytes scanned from its start, and the hash.
    resume: Option<(usize, u64)>,
}

impl Cutter {
    /// A cutter of chunks of `min..=max` bytes, `avg` on average, with the gear table keyed by `seed`.
    pub(crate) fn new(seed: u64, min: u32, avg: u32, max: u32) -> Self {
        let (gear, gear_ls) = get_gear_with_seed(seed);
        let bits = logarithm2(avg);
        let norm = Normalization::Level1.bits();
        Self {
            gear,
            gear_ls,
            min: min as usize,
            avg: avg as usize,
            max: max as usize,
            mask_s: MASKS[(bits + norm) as usize],
            mask_l: MASKS[(bits - norm) as usize],
            resume: None,
        }
    }

    /// The chunks of `buf` whose end is decided, as `(offset, length)` from its start; with `last` (the end of the
    /// stream), all of it. Without `last`, the chunks end where the undecided tail starts: the next call's `buf`
    /// must start with that tail, followed by the stream's next bytes.
    pub(crate) fn cut(&mut self, buf: &[u8], last: bool) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < buf.len() {
            let from = self.resume.take();
            match self.scan(&buf[at..], from, last) {
                Ok(len) => {
                    out.push((at, len));
                    at += len;
                }
                Err(state) => {
                    self.resume = state;
                    break;
                }
            }
        }
        out
    }

    /// The length of the chunk at the start of `src`, scanning on from `from`; or, when `src` ends before that is
    /// decided, the state to go on from. The same steps as `fastcdc::v2020::cut_gear`: a cut found before the
    /// bytes run out is the cut that more bytes would give too, since each position is tested with the mask its
    /// distance from the chunk's start says.
    fn scan(&self, src: &[u8], from: Option<(usize, u64)>, last: bool) -> Result<usize, Option<(usize, u64)>> {
        let avail = src.len();
        let decided = last || avail >= self.max;
        if avail <= self.min {
            return if decided { Ok(avail) } else { Err(None) };
        }
        let (mut remaining, mut center) = (avail, self.avg);
        if remaining > self.max {
            remaining = self.max;
        } else if remaining < center {
            center = remaining;
        }
        let src = &src[..remaining];
        let (gear, gear_ls) = (&*self.gear, &*self.gear_ls);
        let (mut index, mut hash) = from.unwrap_or((self.min / 2, 0));
        for (limit, mask) in [(center / 2, self.mask_s), (remaining / 2, self.mask_l)] {
            let mask_ls = mask << 1;
            while index < limit {
                let a = index * 2;
                hash = (hash << 2).wrapping_add(gear_ls[src[a] as usize]);
                if hash & mask_ls == 0 {
                    return Ok(a);
                }
                hash = hash.wrapping_add(gear[src[a + 1] as usize]);
                if hash & mask == 0 {
                    return Ok(a + 1);
                }
                index += 1;
            }
        }
        if decided {
            Ok(remaining)
        } else {
            Err(Some((index, hash)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fastcdc::v2020::FastCDC;
    use rand::{Rng, RngCore, SeedableRng};

    /// Bytes with the kinds of content cuts meet: random, long runs of one byte (cut at the maximum), and a
    /// short repeated pattern.
    fn sample(rng: &mut impl RngCore, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        rng.fill_bytes(&mut v);
        let third = len / 3;
        v[third..third + len / 5].fill(0);
        for (i, b) in v[2 * third..2 * third + len / 8].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        v
    }

    /// Feed `data` in pieces of random size, cutting whenever the buffer holds at least `high` bytes, as the
    /// stream writer does; the chunks' absolute offsets and lengths.
    fn pieces(c: &mut Cutter, data: &[u8], high: usize, rng: &mut impl Rng) -> Vec<(usize, usize)> {
        let (mut buf, mut base, mut fed, mut out) = (Vec::new(), 0, 0, Vec::new());
        while fed < data.len() {
            let n = rng.gen_range(1..=high).min(data.len() - fed);
            buf.extend_from_slice(&data[fed..fed + n]);
            fed += n;
            if buf.len() >= high {
                let cuts = c.cut(&buf, false);
                let used = cuts.last().map(|(o, l)| o + l).unwrap_or(0);
                out.extend(cuts.into_iter().map(|(o, l)| (base + o, l)));
                buf.drain(..used);
                base += used;
            }
        }
        out.extend(c.cut(&buf, true).into_iter().map(|(o, l)| (base + o, l)));
        out
    }

    #[test]
    fn cuts_of_a_stream_fed_in_pieces_are_those_of_the_whole_stream() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        // Chunks of the writer's shape, and the smallest the crate allows (many cuts near where a scan goes on).
        let shapes = [(16 << 10, 64 << 10, 256 << 10, 3 << 20), (64, 256, 1024, 300_000)];
        let sizes = |n: usize| [(0u64, n), (0x5eed, n * 2 / 3), (u64::MAX, n / 3), (7, n / 30), (9, 5000), (3, 0)];
        for (seed, len, (min, avg, max)) in
            shapes.iter().flat_map(|&(a, b, c, n)| sizes(n).map(|(s, l)| (s, l, (a, b, c))))
        {
            let data = sample(&mut rng, len);
            let want: Vec<(usize, usize)> =
                FastCDC::with_level_and_seed(&data, min, avg, max, Normalization::Level1, seed)
                    .map(|c| (c.offset, c.length))
                    .collect();
            assert_eq!(want.iter().map(|c| c.1).sum::<usize>(), len);
            for high in [max as usize, max as usize + 12345, 3 * max as usize] {
                let mut c = Cutter::new(seed, min, avg, max);
                assert_eq!(pieces(&mut c, &data, high, &mut rng), want, "seed {seed}, {len} bytes, cut at {high}");
            }
            // All at once.
            assert_eq!(Cutter::new(seed, min, avg, max).cut(&data, true), want);
        }
    }
}
