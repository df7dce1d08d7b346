//! Several strings in one allocation.
//!
//! The core keeps a dozen short strings of every pod of the cluster (names,
//! uid, node, phase, labels). Boxed one by one, each costs a heap block of
//! at least 32 bytes (the allocator's header and rounding) plus 16 inline,
//! and a hundred thousand pods' blocks, made while a burst of pods is
//! decoded, end up spread over pages that glibc cannot give back. Kept as
//! spans of one text, a pod's strings are two blocks.

/// Strings, each present or absent, as spans of one text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Texts {
    text: Box<str>,
    /// Where each string ends in `text`, with [`ABSENT`] set for a string
    /// that is absent (it then ends where the one before it does).
    ends: Box<[u32]>,
}

/// The bit of an end that marks an absent string.
const ABSENT: u32 = 1 << 31;

impl Texts {
    /// The strings, in order. The API server refuses objects over a few
    /// MiB, so the whole text stays far below the 2 GiB an end can mark;
    /// a string that would pass it is kept absent rather than cut.
    pub fn new<'a>(strings: impl IntoIterator<Item = Option<&'a str>>) -> Self {
        let mut text = String::new();
        let mut ends = Vec::new();
        for s in strings {
            let fits = s.filter(|s| text.len() + s.len() < ABSENT as usize);
            let end = match fits {
                Some(s) => {
                    text.push_str(s);
                    text.len() as u32
                }
                None => text.len() as u32 | ABSENT,
            };
            ends.push(end);
        }
        Texts {
            text: text.into_boxed_str(),
            ends: ends.into_boxed_slice(),
        }
    }

    /// String `i`; `None` when absent or past the last.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        if end & ABSENT != 0 {
            return None;
        }
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1] & !ABSENT,
        };
        self.text.get(start as usize..end as usize)
    }

    /// How many strings, present or absent.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no strings at all.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_string_comes_back_and_absent_ones_stay_absent() {
        let t = Texts::new([Some("web"), None, Some(""), Some("default"), None]);
        assert_eq!(t.len(), 5);
        assert_eq!(t.get(0), Some("web"));
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(2), Some(""));
        assert_eq!(t.get(3), Some("default"));
        assert_eq!(t.get(4), None);
        assert_eq!(t.get(5), None);
        assert!(Texts::new([]).is_empty());
        assert_eq!(Texts::default().get(0), None);
    }

    #[test]
    fn multibyte_strings_keep_their_boundaries() {
        let t = Texts::new([Some("ünï"), Some("コード"), None, Some("x")]);
        assert_eq!(t.get(0), Some("ünï"));
        assert_eq!(t.get(1), Some("コード"));
        assert_eq!(t.get(3), Some("x"));
    }
}
