//! Label values the runner learns while it runs (the images of the exec
//! config, the images in the pod cache), bounded: each value gets a row
//! once, on a cold path (start-up, a pod cache entry), and the caller keeps
//! the row (`Arc<T>`) so that each event is atomics on it, never a lookup.
//! Beyond the cap every new value shares one row labelled [`OTHER`].

use std::sync::{Arc, Mutex, MutexGuard};

/// The label value of the row that values beyond a table's cap share.
pub const OTHER: &str = "other";

/// Rows of `T` keyed by a label value; at most `cap` values, then [`OTHER`].
#[derive(Debug)]
pub struct LabelTable<T> {
    cap: usize,
    /// In the order the values were first seen; `OTHER` last once used.
    rows: Mutex<Vec<(Box<str>, Arc<T>)>>,
}

impl<T> LabelTable<T> {
    /// An empty table that names at most `cap` values.
    pub const fn new(cap: usize) -> Self {
        LabelTable {
            cap,
            rows: Mutex::new(Vec::new()),
        }
    }

    /// The row of `value`, made by `make` when it is new: its own while
    /// fewer than `cap` values have one, else the shared [`OTHER`] row.
    /// Takes the table's lock: call it once per value and keep the row.
    pub fn row(&self, value: &str, make: impl FnOnce() -> T) -> Arc<T> {
        let mut rows = self.lock();
        if let Some((_, row)) = rows.iter().find(|(v, _)| &**v == value) {
            return Arc::clone(row);
        }
        let named = rows.iter().filter(|(v, _)| &**v != OTHER).count();
        let key = if named < self.cap { value } else { OTHER };
        if let Some((_, row)) = rows.iter().find(|(v, _)| &**v == key) {
            return Arc::clone(row);
        }
        let row = Arc::new(make());
        rows.push((key.into(), Arc::clone(&row)));
        row
    }

    /// The label `value` has in this table: its own while it has a row
    /// or fewer than `cap` values have one, else [`OTHER`]. Makes no row.
    pub(crate) fn label_of<'v>(&self, value: &'v str) -> &'v str {
        let rows = self.lock();
        let named = rows.iter().filter(|(v, _)| &**v != OTHER).count();
        if named < self.cap || rows.iter().any(|(v, _)| &**v == value) {
            value
        } else {
            OTHER
        }
    }

    /// Every (value, row), for a scrape (copied out: the lock is not held
    /// while the caller writes).
    pub fn rows(&self) -> Vec<(Box<str>, Arc<T>)> {
        self.lock()
            .iter()
            .map(|(v, row)| (v.clone(), Arc::clone(row)))
            .collect()
    }

    fn lock(&self) -> MutexGuard<'_, Vec<(Box<str>, Arc<T>)>> {
        self.rows.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Counter;

    #[test]
    fn a_value_keeps_its_row() {
        let table: LabelTable<Counter> = LabelTable::new(4);
        table.row("a", Counter::new).inc();
        table.row("a", Counter::new).inc();
        let rows = table.rows();
        assert_eq!(rows.len(), 1);
        assert_eq!(&*rows[0].0, "a");
        assert_eq!(rows[0].1.get(), 2);
    }

    #[test]
    fn a_label_is_the_value_until_the_table_is_full() {
        let table: LabelTable<Counter> = LabelTable::new(1);
        assert_eq!(table.label_of("a"), "a");
        table.row("a", Counter::new);
        assert_eq!(table.label_of("a"), "a");
        assert_eq!(table.label_of("b"), OTHER);
    }

    #[test]
    fn values_beyond_the_cap_share_the_other_row() {
        let table: LabelTable<Counter> = LabelTable::new(2);
        for value in ["a", "b", "c", "d", "a"] {
            table.row(value, Counter::new).inc();
        }
        let rows: Vec<(String, u64)> = table
            .rows()
            .iter()
            .map(|(v, c)| (v.to_string(), c.get()))
            .collect();
        assert_eq!(rows, [("a".into(), 2), ("b".into(), 1), (OTHER.into(), 2)]);
    }
}
