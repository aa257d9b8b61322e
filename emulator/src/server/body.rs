//! Reading request bodies within two bounds: each body at most [`MAX_BODY_BYTES`], and all
//! the bodies being read or handled at once at most [`MAX_INFLIGHT_BODY_BYTES`] beyond their
//! first [`FREE_BYTES`] each, so that many clients uploading large bodies together cannot
//! exhaust memory. A request that would pass the shared budget is answered
//! `ServiceUnavailableException` (503), which the SDKs retry with backoff.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use super::MAX_BODY_BYTES;

/// Most request-body bytes held at once, across connections, beyond each body's first
/// [`FREE_BYTES`].
pub const MAX_INFLIGHT_BODY_BYTES: usize = 1024 * 1024 * 1024;

/// The part of every body that needs no share of the budget (and its unit of account), so
/// that ordinary requests never wait on or fail for it.
pub const FREE_BYTES: usize = 64 * 1024;

/// The shared budget, in units of [`FREE_BYTES`].
pub fn budget() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(MAX_INFLIGHT_BODY_BYTES / FREE_BYTES))
}

/// Why a body was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Longer than [`MAX_BODY_BYTES`].
    TooLarge,
    /// The server already holds [`MAX_INFLIGHT_BODY_BYTES`] of bodies.
    Busy,
    /// The connection failed while the body was read.
    Failed,
}

/// A body read whole, with its share of the budget (returned when dropped: keep it for as
/// long as the request is handled).
#[derive(Debug)]
pub struct ReadBody {
    /// The bytes.
    pub bytes: Bytes,
    /// The budget it holds.
    pub share: Option<OwnedSemaphorePermit>,
}

/// Reads `body` frame by frame, taking budget as it grows.
pub async fn read<B>(mut body: B, budget: &Arc<Semaphore>) -> Result<ReadBody, BodyError>
where
    B: http_body::Body<Data = Bytes> + Unpin,
{
    let mut buf = BytesMut::new();
    let mut share: Option<OwnedSemaphorePermit> = None;
    let mut held = 0usize;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| BodyError::Failed)?.into_data() else { continue };
        if buf.len() + data.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        buf.extend_from_slice(&data);
        let needed = buf.len() / FREE_BYTES;
        if needed > held {
            let more = u32::try_from(needed - held).map_err(|_| BodyError::TooLarge)?;
            let permit = budget.clone().try_acquire_many_owned(more).map_err(|_| BodyError::Busy)?;
            match &mut share {
                Some(s) => s.merge(permit),
                None => share = Some(permit),
            }
            held = needed;
        }
    }
    Ok(ReadBody { bytes: buf.freeze(), share })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    fn body(n: usize) -> Full<Bytes> {
        Full::new(Bytes::from(vec![b'x'; n]))
    }

    #[tokio::test]
    async fn small_bodies_take_no_budget_and_large_ones_take_their_size() {
        let budget = Arc::new(Semaphore::new(4));
        let small = read(body(FREE_BYTES - 1), &budget).await.expect("read");
        assert!(small.share.is_none());
        let large = read(body(3 * FREE_BYTES), &budget).await.expect("read");
        assert_eq!(large.bytes.len(), 3 * FREE_BYTES);
        assert_eq!(budget.available_permits(), 1);
        assert_eq!(read(body(2 * FREE_BYTES), &budget).await.map(|_| ()), Err(BodyError::Busy));
        drop(large);
        assert_eq!(budget.available_permits(), 4, "a handled body returns its share");
        assert!(read(body(2 * FREE_BYTES), &budget).await.is_ok());
    }

    #[tokio::test]
    async fn a_body_past_the_request_limit_is_refused() {
        let budget = budget();
        assert_eq!(read(body(MAX_BODY_BYTES + 1), &budget).await.map(|_| ()), Err(BodyError::TooLarge));
    }
}
