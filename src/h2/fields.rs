//! Header fields: [`Field`], a borrowed name/value pair for sending, and
//! [`HeaderList`], a decoded header list kept in one buffer (two
//! allocations per list instead of two per field).

/// One header field to send: name and value bytes.
pub type Field<'a> = (&'a [u8], &'a [u8]);

/// A decoded header list, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderList {
    bytes: Vec<u8>,
    /// (start, name length, value length) of each field in `bytes`.
    spans: Vec<(usize, usize, usize)>,
}

impl HeaderList {
    /// An empty list.
    pub fn new() -> HeaderList {
        HeaderList::default()
    }

    /// A list holding `fields`.
    pub fn from_fields(fields: &[Field<'_>]) -> HeaderList {
        let mut list = HeaderList::new();
        for (n, v) in fields {
            list.push(n, v);
        }
        list
    }

    /// Appends a field.
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        self.spans.push((self.bytes.len(), name.len(), value.len()));
        self.bytes.extend_from_slice(name);
        self.bytes.extend_from_slice(value);
    }

    /// The fields in order.
    pub fn iter(&self) -> impl Iterator<Item = Field<'_>> {
        self.spans.iter().map(|&(start, n, v)| {
            let name = self.bytes.get(start..start + n).unwrap_or_default();
            let value = self.bytes.get(start + n..start + n + v).unwrap_or_default();
            (name, value)
        })
    }

    /// The value of the first field called `name`.
    pub fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The fields as borrowed pairs (to send them on).
    pub(crate) fn to_fields(&self) -> Vec<Field<'_>> {
        self.iter().collect()
    }

    /// The memory the list holds, in bytes: its buffers' capacities.
    pub(crate) fn held_bytes(&self) -> usize {
        self.bytes.capacity().saturating_add(
            self.spans
                .capacity()
                .saturating_mul(std::mem::size_of::<(usize, usize, usize)>()),
        )
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_finds_the_first() {
        let list = HeaderList::from_fields(&[
            (b":status", b"200"),
            (b"x", b"1"),
            (b"x", b"2"),
            (b"", b""),
        ]);
        assert_eq!(list.len(), 4);
        assert_eq!(list.get(b"x"), Some(&b"1"[..]));
        assert_eq!(list.get(b"y"), None);
        let names: Vec<&[u8]> = list.iter().map(|(n, _)| n).collect();
        assert_eq!(names, [&b":status"[..], b"x", b"x", b""]);
    }
}
