//! Test servers run as child processes that print `listening <port>` once
//! they accept connections.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Spawns `cmd` and waits up to 30 s for the port it reports; `what` names
/// the server in the panic messages. The child stops when its stdin, which
/// is returned to be kept open, closes.
pub(crate) fn spawn_listening(cmd: &mut Command, what: &str) -> (Child, ChildStdin, u16) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{what} starts: {e}"));
    let stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(port) = line.strip_prefix("listening ") {
                let _ = tx.send(port.trim().parse::<u16>().ok());
            }
        }
    });
    match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(Some(port)) => (child, stdin, port),
        _ => {
            let _ = child.kill();
            panic!("{what} did not report its port");
        }
    }
}
