//! JSON bodies for the errors hyper answers by itself.
//!
//! A request hyper cannot parse (a URL over 64 KiB, a head over its buffer, a malformed
//! request line or header) never reaches the router: hyper answers 400, 414 or 431 on its own,
//! with an empty body, and closes the connection. Every error of ours is JSON in
//! ConnectyCube's shape, so the connection's writes pass through this filter, which gives
//! those bodiless answers a JSON body. It recognises them by what our router never sends: an
//! error status with `content-length: 0` and no `content-type`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose writes turn hyper's bodiless error answers into JSON ones.
pub struct JsonBareErrors<S> {
    inner: S,
    /// A rewritten answer still to be written, and how much of it is.
    pending: Vec<u8>,
    written: usize,
}

impl<S> JsonBareErrors<S> {
    pub fn new(inner: S) -> Self {
        JsonBareErrors { inner, pending: Vec::new(), written: 0 }
    }
}

/// The JSON answer for a bodiless error head that hyper wrote, if `head` is one.
pub fn rewrite(head: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(head).ok()?;
    let (status_line, rest) = text.split_once("\r\n")?;
    let status: u16 = status_line.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let lower = rest.to_ascii_lowercase();
    let bare = lower.contains("content-length: 0\r\n") && !lower.contains("content-type:");
    if !bare || !rest.ends_with("\r\n\r\n") {
        return None;
    }
    let message = match status {
        400 => "The request could not be read",
        414 => "The request URL is too long",
        431 => "The request headers are too large",
        _ => return None,
    };
    let body = serde_json::json!({ "errors": { "base": [message] } }).to_string();
    let date = rest.lines().find(|l| l.to_ascii_lowercase().starts_with("date:"));
    let mut answer = format!(
        "{status_line}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n",
        body.len()
    );
    if let Some(date) = date {
        answer.push_str(date);
        answer.push_str("\r\n");
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    Some(answer.into_bytes())
}

impl<S: AsyncWrite + Unpin> JsonBareErrors<S> {
    /// Writes what is pending; ready once all of it is written.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonBareErrors<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonBareErrors<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(answer) = rewrite(buf) {
            self.pending = answer;
            // The rest goes out on the next write, flush or shutdown if not now.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_bodiless_errors_get_json_bodies() {
        let head = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n";
        let answer = String::from_utf8(rewrite(head).expect("rewritten")).unwrap();
        let (head, body) = answer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("content-type: application/json") && head.contains("date: Tue"), "{head}");
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        assert_eq!(body, r#"{"errors":{"base":["The request URL is too long"]}}"#);
        for status in ["400 Bad Request", "431 Request Header Fields Too Large"] {
            let head = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n");
            assert!(rewrite(head.as_bytes()).is_some(), "{status}");
        }
    }

    #[test]
    fn our_own_answers_pass_untouched() {
        for head in [
            "HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 414 URI Too Long\r\ncontent-length: 12\r\n\r\n",
            "HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n",
        ] {
            assert_eq!(rewrite(head.as_bytes()), None, "{head}");
        }
    }
}
