//! A JSON list written as the client reads it: a head, the items' shared JSON texts between
//! commas, and a tail, copied into chunks of [`CHUNK`] bytes one at a time. A list of 10,000
//! package revisions is about 7.5 MB; built whole, every list in flight would hold its own copy
//! of it. Written this way, a list in flight holds one chunk and references to texts the index
//! keeps anyway. The length is known before the first byte, so the response has a
//! `Content-Length` like one written whole.

use std::{
    convert::Infallible,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

/// The size of the chunks written (a chunk may be bigger when one item is).
pub(crate) const CHUNK: usize = 64 << 10;

/// `head`, then `items` separated by commas, then `tail`.
pub(crate) struct JsonList {
    head: Option<Vec<u8>>,
    items: std::vec::IntoIter<Arc<str>>,
    first: bool,
    tail: Option<&'static [u8]>,
    remaining: u64,
}

impl JsonList {
    pub(crate) fn new(head: Vec<u8>, items: Vec<Arc<str>>, tail: &'static [u8]) -> JsonList {
        let separators = items.len().saturating_sub(1);
        let length = head.len()
            + items.iter().map(|item| item.len()).sum::<usize>()
            + separators
            + tail.len();
        JsonList {
            head: Some(head),
            items: items.into_iter(),
            first: true,
            tail: Some(tail),
            remaining: length as u64,
        }
    }

    /// The next chunk, or `None` once everything is written.
    fn chunk(&mut self) -> Option<Vec<u8>> {
        let mut chunk = self.head.take().unwrap_or_default();
        chunk.reserve(CHUNK.saturating_sub(chunk.len()));
        while chunk.len() < CHUNK {
            let Some(item) = self.items.next() else {
                if let Some(tail) = self.tail.take() {
                    chunk.extend_from_slice(tail);
                }
                break;
            };
            if !std::mem::take(&mut self.first) {
                chunk.push(b',');
            }
            chunk.extend_from_slice(item.as_bytes());
        }
        self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
        (!chunk.is_empty()).then_some(chunk)
    }
}

impl Body for JsonList {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().chunk().map(|chunk| Ok(Frame::data(Bytes::from(chunk)))))
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0 && self.head.is_none() && self.tail.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(mut list: JsonList) -> (Vec<u8>, Vec<usize>) {
        let announced = list.size_hint().exact();
        let (mut all, mut sizes) = (Vec::new(), Vec::new());
        while let Some(chunk) = list.chunk() {
            sizes.push(chunk.len());
            all.extend_from_slice(&chunk);
        }
        assert_eq!(announced, Some(all.len() as u64), "the length announced is the length written");
        assert!(list.is_end_stream());
        (all, sizes)
    }

    #[test]
    fn an_empty_list_is_head_and_tail() {
        let (all, _) = written(JsonList::new(b"{\"items\":[".to_vec(), Vec::new(), b"]}"));
        assert_eq!(all, b"{\"items\":[]}");
    }

    #[test]
    fn items_are_separated_by_commas_across_chunks() {
        let items: Vec<Arc<str>> = (0..5_000)
            .map(|i| Arc::from(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 97))))
            .collect();
        let (all, sizes) = written(JsonList::new(b"{\"items\":[".to_vec(), items.clone(), b"]}"));
        let value: serde_json::Value = serde_json::from_slice(&all).expect("valid JSON");
        let parsed = value["items"].as_array().expect("items");
        assert_eq!(parsed.len(), items.len());
        for (i, item) in parsed.iter().enumerate() {
            assert_eq!(item["n"], i);
        }
        assert!(sizes.len() > 1, "more than one chunk: {sizes:?}");
        assert!(sizes.iter().all(|&size| size < CHUNK + 200), "{sizes:?}");
    }

    #[test]
    fn an_item_bigger_than_a_chunk_is_written_whole() {
        let big: Arc<str> = Arc::from(format!("\"{}\"", "y".repeat(3 * CHUNK)));
        let items = vec![Arc::from("1"), big.clone(), Arc::from("2")];
        let (all, _) = written(JsonList::new(b"[".to_vec(), items, b"]"));
        assert_eq!(all, format!("[1,{big},2]").into_bytes());
    }
}
