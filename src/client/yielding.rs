//! The websocket's TCP stream, made to step aside before each read that follows data: whatever
//! the data just read set going (the engine, the runs it started, their requests) runs before
//! the reader asks the socket for more. On a single-threaded runtime the reader would otherwise
//! go straight back to the socket, and in the common case (one frame, then silence) spend a
//! system call that finds nothing before the accept goes out. Stepping aside per read rather than
//! per event costs nothing while frames arrive in bursts, when each read brings many.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that yields to the runtime before a read that follows a read that returned data.
pub struct YieldingStream<S> {
    inner: S,
    /// The last read returned data: the next one yields first.
    yield_first: bool,
}

impl<S> YieldingStream<S> {
    /// Wraps `inner`.
    pub fn new(inner: S) -> YieldingStream<S> {
        YieldingStream {
            inner,
            yield_first: false,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for YieldingStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.yield_first {
            this.yield_first = false;
            // Tokio's yield wakes the task only after every task already woken has run and the
            // driver has been polled: exactly "let everything else go first".
            let mut yielded = std::pin::pin!(tokio::task::yield_now());
            if yielded.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.yield_first = true;
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for YieldingStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// After a read that brought data, a task woken meanwhile runs before the next read is
    /// attempted, though the data for it is already there; reads still see every byte.
    #[tokio::test(flavor = "current_thread")]
    async fn others_go_first_after_data() {
        let (mut writer, reader) = tokio::io::duplex(64);
        let mut reader = YieldingStream::new(reader);
        writer.write_all(b"ab").await.unwrap();
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut byte = [0u8; 1];
        reader.read_exact(&mut byte).await.unwrap();
        order.lock().unwrap().push(byte[0]);
        let other = tokio::spawn({
            let order = order.clone();
            async move { order.lock().unwrap().push(b'-') }
        });
        reader.read_exact(&mut byte).await.unwrap();
        order.lock().unwrap().push(byte[0]);
        other.await.unwrap();
        assert_eq!(*order.lock().unwrap(), b"a-b");
    }
}
