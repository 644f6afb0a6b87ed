//! Accepting connections without spinning when the process runs out of file descriptors.
//!
//! `accept` fails at once, again and again, while the process is at its open-file limit
//! (EMFILE) and a connection waits in the backlog: a loop that simply tries again burns a
//! core (and floods the log) exactly when the machine is under the most load. A short pause
//! gives in-flight requests the time to finish and close theirs.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

/// How long to wait after a failed accept before the caller tries again.
const PAUSE_AFTER_FAILED_ACCEPT: Duration = Duration::from_millis(50);

/// The next connection; a failure is returned only after a short pause, so that a caller that
/// loops on it (logging the error, say) does not spin.
pub async fn accept_or_pause(listener: &TcpListener) -> std::io::Result<(TcpStream, SocketAddr)> {
    let accepted = listener.accept().await;
    if accepted.is_err() {
        tokio::time::sleep(PAUSE_AFTER_FAILED_ACCEPT).await;
    }
    accepted
}
