//! [`Key`]: typed keys of the ordered fields, encoded so that the byte order of encodings is the key order.
//!
//! # Encodings (part of the on-disk format)
//!
//! | type | encoding | nested (inside a tuple) |
//! | --- | --- | --- |
//! | `u8`, `u16`, `u32`, `u64`, `u128` | big-endian, fixed width | same |
//! | `usize` | as `u64`: 8 bytes big-endian, on every host | same |
//! | `i8` … `i128` | big-endian with the sign bit flipped (two's complement + 2^(bits-1)) | same |
//! | `isize` | as `i64` | same |
//! | `bool` | one byte, `0` or `1` | same |
//! | `[u8; N]` | the N bytes | same |
//! | `String`, `Vec<u8>` | the bytes | each `0x00` written `0x00 0xff`, then `0x00 0x00` |
//! | `(A, B, …)` | every element nested except the last, which is plain | every element nested |
//!
//! The nested form is self-delimiting and keeps order: the terminator `0x00 0x00` sorts below any continuation
//! (`0x00 0xff` or a non-zero byte), so `"a" < "a\0" < "ab"` holds for the encodings too, whatever follows them in a
//! composite key. Fixed-width encodings are self-delimiting already.
//!
//! ```
//! use infini::fields::Key;
//! // Negative numbers sort before positive ones.
//! assert!((-5i64).encode() < 3i64.encode());
//! // Tuples sort element by element, and strings inside them are delimited.
//! let a = ("a".to_string(), 9u32).encode();
//! let b = ("a\0".to_string(), 0u32).encode();
//! assert!(a < b);
//! assert_eq!(<(String, u32)>::decode(&b), Some(("a\0".to_string(), 0)));
//! ```

/// Keys of the ordered fields: encoded so that the byte order of encodings is the order of keys (`Ord`).
///
/// Implemented for unsigned and signed integers (`usize` and `isize` stored as 64-bit), `bool`, `String`, `Vec<u8>`, `[u8; N]` and tuples of up to four
/// keys. Implement it for your own type by mapping it onto one of these (keep `Ord` and the encoding's byte order
/// in agreement: range queries and merges rely on it).
pub trait Key: Ord + Clone + Send + Sync + 'static {
    /// Encode as a whole key.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_nested(&mut out);
        out
    }
    /// Decode a whole key; `None` if the bytes are not a valid key.
    fn decode(b: &[u8]) -> Option<Self> {
        let mut rest = b;
        let k = Self::decode_nested(&mut rest)?;
        rest.is_empty().then_some(k)
    }
    /// Append the self-delimiting, order-preserving encoding used inside composite keys.
    fn encode_nested(&self, out: &mut Vec<u8>);
    /// Decode a nested encoding from the front of `b`, advancing it.
    fn decode_nested(b: &mut &[u8]) -> Option<Self>;
}

fn take<'b>(b: &mut &'b [u8], n: usize) -> Option<&'b [u8]> {
    if b.len() < n {
        return None;
    }
    let (head, tail) = b.split_at(n);
    *b = tail;
    Some(head)
}

macro_rules! unsigned_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn encode_nested(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode_nested(b: &mut &[u8]) -> Option<Self> {
                let bytes = take(b, std::mem::size_of::<$t>())?;
                Some(<$t>::from_be_bytes(bytes.try_into().ok()?))
            }
        }
    )*};
}
unsigned_key!(u8, u16, u32, u64, u128);

macro_rules! signed_key {
    ($($t:ty => $u:ty),*) => {$(
        impl Key for $t {
            fn encode_nested(&self, out: &mut Vec<u8>) {
                // Flipping the sign bit maps MIN..=MAX onto 0..=u::MAX in order.
                let flipped = (*self as $u) ^ (1 << (<$u>::BITS - 1));
                out.extend_from_slice(&flipped.to_be_bytes());
            }
            fn decode_nested(b: &mut &[u8]) -> Option<Self> {
                let bytes = take(b, std::mem::size_of::<$u>())?;
                let flipped = <$u>::from_be_bytes(bytes.try_into().ok()?);
                Some((flipped ^ (1 << (<$u>::BITS - 1))) as $t)
            }
        }
    )*};
}
signed_key!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

/// `usize` is stored as a `u64` (big-endian, 8 bytes) whatever the host's width, so the same repository reads the
/// same on every machine. A stored key above `usize::MAX` (written on a 64-bit host, read on a 32-bit one) does
/// not decode.
impl Key for usize {
    fn encode_nested(&self, out: &mut Vec<u8>) {
        (*self as u64).encode_nested(out)
    }
    fn decode_nested(b: &mut &[u8]) -> Option<Self> {
        usize::try_from(u64::decode_nested(b)?).ok()
    }
}

/// `isize` is stored as an `i64` (big-endian with the sign bit flipped, 8 bytes) whatever the host's width.
impl Key for isize {
    fn encode_nested(&self, out: &mut Vec<u8>) {
        (*self as i64).encode_nested(out)
    }
    fn decode_nested(b: &mut &[u8]) -> Option<Self> {
        isize::try_from(i64::decode_nested(b)?).ok()
    }
}

impl Key for bool {
    fn encode_nested(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
    fn decode_nested(b: &mut &[u8]) -> Option<Self> {
        match take(b, 1)? {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }
}

impl<const N: usize> Key for [u8; N] {
    fn encode_nested(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn decode_nested(b: &mut &[u8]) -> Option<Self> {
        take(b, N)?.try_into().ok()
    }
}

/// Escape `0x00` as `0x00 0xff` and terminate with `0x00 0x00`.
fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    for &c in bytes {
        out.push(c);
        if c == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

fn unescape(b: &mut &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        let c = *b.get(i)?;
        if c == 0 {
            match *b.get(i + 1)? {
                0 => {
                    *b = &b[i + 2..];
                    return Some(out);
                }
                0xff => {
                    out.push(0);
                    i += 2;
                }
                _ => return None,
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
}

impl Key for Vec<u8> {
    fn encode(&self) -> Vec<u8> {
        self.clone()
    }
    fn decode(b: &[u8]) -> Option<Self> {
        Some(b.to_vec())
    }
    fn encode_nested(&self, out: &mut Vec<u8>) {
        escape_into(self, out)
    }
    fn decode_nested(b: &mut &[u8]) -> Option<Self> {
        unescape(b)
    }
}

impl Key for String {
    fn encode(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
    fn decode(b: &[u8]) -> Option<Self> {
        String::from_utf8(b.to_vec()).ok()
    }
    fn encode_nested(&self, out: &mut Vec<u8>) {
        escape_into(self.as_bytes(), out)
    }
    fn decode_nested(b: &mut &[u8]) -> Option<Self> {
        String::from_utf8(unescape(b)?).ok()
    }
}

macro_rules! tuple_key {
    ($($t:ident),* ; $last:ident) => {
        #[allow(non_snake_case)]
        impl<$($t: Key,)* $last: Key> Key for ($($t,)* $last,) {
            fn encode(&self) -> Vec<u8> {
                let ($($t,)* $last,) = self;
                let mut out = Vec::new();
                $($t.encode_nested(&mut out);)*
                out.extend_from_slice(&$last.encode());
                out
            }
            #[allow(unused_mut)]
            fn decode(b: &[u8]) -> Option<Self> {
                let mut rest = b;
                $(let $t = $t::decode_nested(&mut rest)?;)*
                let $last = $last::decode(rest)?;
                Some(($($t,)* $last,))
            }
            fn encode_nested(&self, out: &mut Vec<u8>) {
                let ($($t,)* $last,) = self;
                $($t.encode_nested(out);)*
                $last.encode_nested(out);
            }
            fn decode_nested(b: &mut &[u8]) -> Option<Self> {
                $(let $t = $t::decode_nested(b)?;)*
                let $last = $last::decode_nested(b)?;
                Some(($($t,)* $last,))
            }
        }
    };
}
tuple_key!(; A);
tuple_key!(A; B);
tuple_key!(A, B; C);
tuple_key!(A, B, C; D);

/// The encoded prefix shared by every tuple key whose leading elements are `prefix` (nested encoding): pass it to
/// a prefix scan to list, say, every `(user, time)` key of one user.
pub fn nested_prefix<P: Key>(prefix: &P) -> Vec<u8> {
    let mut out = Vec::new();
    prefix.encode_nested(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_order<K: Key + std::fmt::Debug>(a: &K, b: &K) {
        assert_eq!(a.cmp(b), a.encode().cmp(&b.encode()), "{a:?} vs {b:?}");
        assert_eq!(K::decode(&a.encode()).as_ref(), Some(a));
        let mut n = Vec::new();
        a.encode_nested(&mut n);
        n.push(7);
        let mut rest = n.as_slice();
        assert_eq!(K::decode_nested(&mut rest).as_ref(), Some(a));
        assert_eq!(rest, &[7]);
    }

    #[test]
    fn usize_keys_are_stored_as_u64_big_endian_on_every_host() {
        assert_eq!(1234usize.encode(), 1234u64.to_be_bytes());
        assert_eq!(usize::decode(&7u64.to_be_bytes()), Some(7));
        assert_eq!((-2isize).encode(), (-2i64).encode());
        assert_eq!(usize::decode(&[0, 1]), None);
    }

    #[test]
    fn edges() {
        check_order(&i64::MIN, &-1i64);
        check_order(&-1i64, &0i64);
        check_order(&0i64, &i64::MAX);
        check_order(&i32::MIN, &i32::MAX);
        check_order(&false, &true);
        check_order(&("a".to_string(), 5u8), &("a\0".to_string(), 0u8));
        check_order(&(String::new(), 255u8), &("\0".to_string(), 0u8));
        check_order(&(vec![0u8], 1u64), &(vec![0u8, 0], 0u64));
        check_order(&[1u8, 2, 3], &[1u8, 2, 4]);
        assert_eq!(<(String, u32)>::decode(b"a\0\0\0\0\0"), None);
        assert_eq!(bool::decode(&[2]), None);
        assert_eq!(u32::decode(&[1, 2, 3]), None);
        assert_eq!(String::decode_nested(&mut &b"ab\0\x01"[..]), None);
    }

    proptest! {
        #[test]
        fn order_preserved_i64(a: i64, b: i64) { check_order(&a, &b); }
        #[test]
        fn order_preserved_i32(a: i32, b: i32) { check_order(&a, &b); }
        #[test]
        fn order_preserved_u32(a: u32, b: u32) { check_order(&a, &b); }
        #[test]
        fn order_preserved_usize(a: usize, b: usize) { check_order(&a, &b); }
        #[test]
        fn order_preserved_isize(a: isize, b: isize) { check_order(&a, &b); }
        #[test]
        fn order_preserved_tuples(a: (String, i64, Vec<u8>), b: (String, i64, Vec<u8>)) { check_order(&a, &b); }
        #[test]
        fn order_preserved_short_strings(a in "[\\x00ab]{0,4}", x: u8, b in "[\\x00ab]{0,4}", y: u8) {
            check_order(&(a.clone(), x), &(b.clone(), y));
            check_order(&((a, x), true), &((b, y), false));
        }
        #[test]
        fn order_preserved_bytes(a: (Vec<u8>, [u8; 3], bool), b: (Vec<u8>, [u8; 3], bool)) { check_order(&a, &b); }
    }
}
