//! The dynamic table of RFC 7541 §2.3.2 and §4: a FIFO of fields, newest at
//! index 62, with the size accounting and eviction of §4.1–§4.4. Decoder and
//! encoder each own one.
//!
//! Storage avoids an allocation per entry: the bytes of all entries (name then
//! value) sit in one `Vec<u8>`, oldest first. Evicting an entry only moves
//! `data_start`; the dead prefix is dropped (one `memmove`) when the buffer
//! would otherwise grow and at least half of it is dead, so the buffer stays
//! below six times the table size.

use std::collections::VecDeque;
use std::fmt;

use super::limits::ENTRY_OVERHEAD_BYTES;

/// Where one entry's bytes are: at logical offset `start` (see `Table::base`).
#[derive(Debug, Clone, Copy)]
struct Slot {
    start: usize,
    name_len: usize,
    value_len: usize,
}

impl Slot {
    fn size(&self) -> usize {
        self.name_len + self.value_len + ENTRY_OVERHEAD_BYTES
    }
}

/// A dynamic table. Invariant: `size <= max_size`, and `size` is the sum of
/// the entries' RFC 7541 §4.1 sizes. Its `Debug` shows sizes only: entries
/// may hold credentials a peer chose to index.
pub(crate) struct Table {
    /// Entry bytes; `data[data_start..]` are live.
    data: Vec<u8>,
    data_start: usize,
    /// Logical offset of `data[0]`: slot offsets are logical so that dropping
    /// the dead prefix does not touch the slots.
    base: usize,
    /// Oldest entry at the front, newest at the back.
    slots: VecDeque<Slot>,
    size: usize,
    max_size: usize,
}

impl Table {
    /// An empty table whose maximum size is `max_size` bytes.
    pub(crate) fn new(max_size: usize) -> Self {
        Table {
            data: Vec::new(),
            data_start: 0,
            base: 0,
            slots: VecDeque::new(),
            size: 0,
            max_size,
        }
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// Current size in bytes (RFC 7541 §4.1).
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// Maximum size in bytes.
    pub(crate) fn max_size(&self) -> usize {
        self.max_size
    }

    /// The entry at 0-based position `i` counted from the newest, i.e. HPACK
    /// index `62 + i`.
    pub(crate) fn get(&self, i: usize) -> Option<(&[u8], &[u8])> {
        let pos = self.slots.len().checked_sub(1)?.checked_sub(i)?;
        Some(self.entry(&self.slots[pos]))
    }

    /// The bytes of a live slot. Slots only ever point inside `data`
    /// (`insert` appends before recording them, compaction moves `base`).
    fn entry(&self, slot: &Slot) -> (&[u8], &[u8]) {
        let start = slot.start - self.base;
        let (name, rest) = self.data[start..].split_at(slot.name_len);
        (name, &rest[..slot.value_len])
    }

    /// Iterates over entries from the newest (position 0) to the oldest.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.slots.iter().rev().map(move |slot| self.entry(slot))
    }

    /// Sets the maximum size and evicts down to it (RFC 7541 §4.3).
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds a field as the newest entry, evicting old ones first (§4.4). An
    /// entry larger than the maximum size empties the table and is not added.
    pub(crate) fn insert(&mut self, name: &[u8], value: &[u8]) {
        let entry_size = name.len() + value.len() + ENTRY_OVERHEAD_BYTES;
        if entry_size > self.max_size {
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max_size - entry_size);
        let bytes = name.len() + value.len();
        if self.data.len() + bytes > self.data.capacity() && self.data_start >= self.data.len() / 2
        {
            self.data.drain(..self.data_start);
            self.base += self.data_start;
            self.data_start = 0;
        }
        let start = self.base + self.data.len();
        self.data.extend_from_slice(name);
        self.data.extend_from_slice(value);
        self.slots.push_back(Slot {
            start,
            name_len: name.len(),
            value_len: value.len(),
        });
        self.size += entry_size;
        debug_assert!(self.size <= self.max_size);
    }

    /// Evicts the oldest entries until `size <= target`.
    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(slot) = self.slots.pop_front() else {
                break;
            };
            self.size -= slot.size();
        }
        match self.slots.front() {
            Some(oldest) => self.data_start = oldest.start - self.base,
            None => {
                // Empty: restart the buffer from scratch, keeping its capacity.
                self.base += self.data.len();
                self.data.clear();
                self.data_start = 0;
            }
        }
        debug_assert!(self.size <= target || self.slots.is_empty());
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("entries", &self.slots.len())
            .field("size", &self.size)
            .field("max_size", &self.max_size)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_entry_comes_first() {
        let mut t = Table::new(4096);
        t.insert(b"a", b"1");
        t.insert(b"b", b"2");
        assert_eq!(t.get(0), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(t.get(1), Some((&b"a"[..], &b"1"[..])));
        assert_eq!(t.get(2), None);
        assert_eq!(t.size(), 2 * 34);
    }

    #[test]
    fn evicts_oldest_to_fit_a_new_entry() {
        // Room for exactly two 34-byte entries.
        let mut t = Table::new(68);
        t.insert(b"a", b"1");
        t.insert(b"b", b"2");
        t.insert(b"c", b"3");
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(1), Some((&b"b"[..], &b"2"[..])));
        assert_eq!(t.size(), 68);
    }

    #[test]
    fn entry_of_exactly_max_size_fits_and_one_more_byte_empties() {
        let mut t = Table::new(40);
        t.insert(b"abcd", b"efgh");
        assert_eq!(t.size(), 40);
        t.insert(b"abcd", b"efghi");
        assert_eq!(t.len(), 0);
        assert_eq!(t.size(), 0);
    }

    #[test]
    fn shrinking_evicts_and_zero_empties() {
        let mut t = Table::new(4096);
        for i in 0..10u8 {
            t.insert(&[b'a' + i], b"v");
        }
        t.set_max_size(34 * 3);
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(0).unwrap().0, b"j");
        t.set_max_size(0);
        assert_eq!(t.len(), 0);
        t.insert(b"x", b"y");
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn buffer_stays_bounded_under_churn() {
        let mut t = Table::new(256);
        for i in 0..10_000usize {
            let value = vec![b'v'; i % 100];
            t.insert(b"name", &value);
            let (name, got) = t.get(0).unwrap();
            assert_eq!(name, b"name");
            assert_eq!(got, &value[..]);
        }
        // Growth happens only while under half is dead, so the needed length
        // is below 3 * max, and doubling keeps capacity below 6 * max.
        assert!(
            t.data.capacity() < 6 * 256,
            "capacity {}",
            t.data.capacity()
        );
    }

    #[test]
    fn debug_shows_no_field_bytes() {
        let mut t = Table::new(4096);
        t.insert(b"authorization", b"Bearer hunter2");
        let shown = format!("{t:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("size: 59"), "{shown}");
    }
}
