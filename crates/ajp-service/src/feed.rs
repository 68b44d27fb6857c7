//! Feeds the client's request body to the container, exactly as AJP requires: never more
//! than asked for, never more than a packet holds, and exactly the Content-Length bytes.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use http_body::Body;

use crate::error::{BoxError, Error, Kind};

/// The client body and what has been sent of it.
pub(crate) struct BodyFeeder<B> {
    body: Option<Pin<Box<B>>>,
    /// Received from the client, not yet sent.
    pending: Bytes,
    content_length: Option<u64>,
    sent: u64,
}

impl<B> BodyFeeder<B>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    pub(crate) fn new(body: B, content_length: Option<u64>) -> Self {
        Self {
            body: Some(Box::pin(body)),
            pending: Bytes::new(),
            content_length,
            sent: 0,
        }
    }

    /// Whether any body bytes went to the container (then the request cannot be replayed).
    pub(crate) fn sent_data(&self) -> bool {
        self.sent > 0
    }

    /// The data for the next body packet: at most `max` bytes, and empty exactly when the
    /// body is complete. Polls the client body only when called, so `Expect: 100-continue`
    /// is answered only once the container wants the body.
    pub(crate) fn poll_chunk(
        &mut self,
        cx: &mut Context<'_>,
        max: usize,
    ) -> Poll<Result<Bytes, Error>> {
        loop {
            if !self.pending.is_empty() {
                let n = max.min(self.pending.len());
                self.sent += n as u64;
                return Poll::Ready(Ok(self.pending.split_to(n)));
            }
            let Some(body) = self.body.as_mut() else {
                if let Some(cl) = self.content_length
                    && self.sent != cl
                {
                    return Poll::Ready(Err(
                        Error::new(Kind::Body).with("client body ended before its Content-Length")
                    ));
                }
                return Poll::Ready(Ok(Bytes::new()));
            };
            match ready!(body.as_mut().poll_frame(cx)) {
                Some(Ok(frame)) => {
                    if let Ok(mut data) = frame.into_data() {
                        let len = data.remaining();
                        let total = self.sent + len as u64;
                        if self.content_length.is_some_and(|cl| total > cl) {
                            return Poll::Ready(Err(Error::new(Kind::Body)
                                .with("client body longer than its Content-Length")));
                        }
                        self.pending = data.copy_to_bytes(len);
                    }
                    // Trailers have no AJP form; they are dropped.
                }
                Some(Err(e)) => return Poll::Ready(Err(Error::new(Kind::Body).with(e))),
                None => self.body = None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;
    use std::future::poll_fn;

    async fn chunks<B: Body + Unpin>(feeder: &mut BodyFeeder<B>, max: usize) -> Vec<usize>
    where
        B::Error: Into<BoxError>,
    {
        let mut out = Vec::new();
        loop {
            let c = poll_fn(|cx| feeder.poll_chunk(cx, max)).await.unwrap();
            out.push(c.len());
            if c.is_empty() {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn never_more_than_asked() {
        let body = Full::new(Bytes::from(vec![7u8; 20000]));
        let mut f = BodyFeeder::new(body, Some(20000));
        assert_eq!(chunks(&mut f, 8186).await, [8186, 8186, 3628, 0]);
        let body = Full::new(Bytes::from(vec![7u8; 10]));
        let mut f = BodyFeeder::new(body, Some(10));
        assert_eq!(chunks(&mut f, 3).await, [3, 3, 3, 1, 0]);
    }

    #[tokio::test]
    async fn short_and_long_bodies_are_errors() {
        let mut f = BodyFeeder::new(Full::new(Bytes::from_static(b"abc")), Some(5));
        assert_eq!(poll_fn(|cx| f.poll_chunk(cx, 100)).await.unwrap().len(), 3);
        assert!(
            poll_fn(|cx| f.poll_chunk(cx, 100))
                .await
                .unwrap_err()
                .is_body()
        );
        let mut f = BodyFeeder::new(Full::new(Bytes::from_static(b"abcdef")), Some(5));
        assert!(
            poll_fn(|cx| f.poll_chunk(cx, 100))
                .await
                .unwrap_err()
                .is_body()
        );
    }

    #[tokio::test]
    async fn unknown_length_and_errors() {
        let frames = futures_frames(vec![
            Ok(Bytes::from_static(b"ab")),
            Ok(Bytes::from_static(b"cd")),
        ]);
        let mut f = BodyFeeder::new(frames, None);
        assert_eq!(chunks(&mut f, 100).await, [2, 2, 0]);
        let frames = futures_frames(vec![Ok(Bytes::from_static(b"ab")), Err("reset")]);
        let mut f = BodyFeeder::new(frames, None);
        assert_eq!(poll_fn(|cx| f.poll_chunk(cx, 100)).await.unwrap().len(), 2);
        assert!(
            poll_fn(|cx| f.poll_chunk(cx, 100))
                .await
                .unwrap_err()
                .is_body()
        );
    }

    /// A body that yields the given frames, then ends.
    struct Frames(std::collections::VecDeque<Result<Bytes, &'static str>>);

    impl Body for Frames {
        type Data = Bytes;
        type Error = BoxError;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
            Poll::Ready(
                self.0
                    .pop_front()
                    .map(|r| r.map(http_body::Frame::data).map_err(Into::into)),
            )
        }
    }

    fn futures_frames(items: Vec<Result<Bytes, &'static str>>) -> Frames {
        Frames(items.into())
    }
}
