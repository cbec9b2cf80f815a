//! A guest's stdout or stderr: kept in memory up to a cap, the rest
//! silently dropped, so a chatty guest neither grows the host without bound
//! nor fails (wasmtime's MemoryOutputPipe closes the stream when full).

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

#[derive(Clone)]
pub struct Capture {
    buf: Arc<Mutex<Vec<u8>>>,
    cap: usize,
}

impl Capture {
    pub fn new(cap: usize) -> Capture {
        Capture {
            buf: Arc::default(),
            cap,
        }
    }

    /// What was kept, as text.
    pub fn contents(&self) -> String {
        String::from_utf8_lossy(&self.buf.lock().expect("output lock")).into_owned()
    }
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl AsyncWrite for Capture {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut buf = self.buf.lock().expect("output lock");
        let room = self.cap.saturating_sub(buf.len());
        buf.extend_from_slice(&data[..room.min(data.len())]);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
