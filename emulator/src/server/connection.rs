//! The connection wrapper that lets a request drop its TCP connection with an RST (the
//! `reset` fault, `StreamAction::Reset`): hyper owns the socket, so the request flips a
//! shared switch and the wrapper fails every later read or write and closes with
//! `SO_LINGER` 0, which makes the kernel send RST instead of FIN.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The switch a request uses to reset its connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectionControl {
    reset: Arc<AtomicBool>,
}

impl ConnectionControl {
    /// Asks for the connection to be reset at the next read, write or close.
    pub fn request_reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
    }

    fn reset_requested(&self) -> bool {
        self.reset.load(Ordering::SeqCst)
    }
}

/// A TCP stream that can be reset from a request handler.
#[derive(Debug)]
pub struct ResettableStream {
    inner: TcpStream,
    control: ConnectionControl,
}

impl ResettableStream {
    /// Wraps `inner`; `control` is handed to the connection's requests.
    pub fn new(inner: TcpStream, control: ConnectionControl) -> Self {
        ResettableStream { inner, control }
    }

    fn reset_error(&self) -> Option<io::Error> {
        self.control.reset_requested().then(|| {
            let _ = self.inner.set_zero_linger();
            io::Error::new(io::ErrorKind::ConnectionReset, "connection reset by fault")
        })
    }
}

impl Drop for ResettableStream {
    fn drop(&mut self) {
        if self.control.reset_requested() {
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for ResettableStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.reset_error() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ResettableStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if let Some(e) = self.reset_error() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.reset_error() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // No FIN before the RST: the client must see a reset, not an orderly end.
        if self.reset_error().is_some() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if let Some(e) = self.reset_error() {
            return Poll::Ready(Err(e));
        }
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
