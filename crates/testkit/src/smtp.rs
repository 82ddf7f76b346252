//! A real SMTP server for tests, and certificates for it.
//!
//! [`SmtpServer`] runs `smtp/server.py` (aiosmtpd, installed by
//! `smtp/setup.sh` into a virtualenv beside it) on a free loopback port; each
//! message it accepts can be read back as a [`ReceivedMail`]. [`TestPki`]
//! makes a private CA and a server certificate for `127.0.0.1` and
//! `localhost` with the `openssl` command line tool.
//!
//! Blocking by design: a test starts the server, sends, then reads what came.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::process::spawn_listening;

fn smtp_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("smtp")
}

/// Runs `smtp/setup.sh`, which installs aiosmtpd and openssl when missing.
pub fn install_smtp_server() {
    let status = Command::new("bash")
        .arg(smtp_dir().join("setup.sh"))
        .status()
        .expect("bash runs");
    assert!(status.success(), "crates/testkit/smtp/setup.sh failed");
}

/// How the test server speaks TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTls {
    /// No TLS, and STARTTLS is not offered.
    None,
    /// STARTTLS offered, and required before MAIL FROM.
    StartTls,
    /// TLS from the first byte (the port 465 style).
    Implicit,
}

/// What the server is started with.
#[derive(Debug, Clone)]
pub struct SmtpServerOptions<'a> {
    pub tls: ServerTls,
    /// Needed unless `tls` is [`ServerTls::None`].
    pub pki: Option<&'a TestPki>,
    /// `(username, password)`: AUTH is offered and required.
    pub auth: Option<(&'a str, &'a str)>,
}

impl Default for SmtpServerOptions<'_> {
    fn default() -> Self {
        Self {
            tls: ServerTls::None,
            pki: None,
            auth: None,
        }
    }
}

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The envelope sender (MAIL FROM).
    pub mail_from: String,
    /// The envelope recipients (RCPT TO).
    pub rcpt_tos: Vec<String>,
    /// Header values, as the server's parser read them.
    pub from: String,
    pub to: String,
    pub subject: String,
    pub content_type: String,
    /// The decoded text body.
    pub body: String,
    /// Whether the connection was under TLS when the message came.
    pub encrypted: bool,
    /// The user that authenticated on the connection, if any.
    pub authenticated_as: Option<String>,
    /// The message as sent, headers and body.
    pub raw: String,
}

impl ReceivedMail {
    fn from_json(doc: &Value) -> Self {
        let text = |key: &str| doc[key].as_str().unwrap_or_default().to_owned();
        Self {
            mail_from: text("mail_from"),
            rcpt_tos: doc["rcpt_tos"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default(),
            from: text("from"),
            to: text("to"),
            subject: text("subject"),
            content_type: text("content_type"),
            body: text("body"),
            encrypted: doc["encrypted"].as_bool().unwrap_or(false),
            authenticated_as: doc["authenticated_as"].as_str().map(str::to_owned),
            raw: text("raw"),
        }
    }
}

/// A running aiosmtpd on `127.0.0.1`; stopped when dropped.
pub struct SmtpServer {
    child: Child,
    // Held open: the server stops when its standard input closes.
    _stdin: ChildStdin,
    port: u16,
    spool: tempfile::TempDir,
}

impl SmtpServer {
    /// Installs the server if needed, starts it and waits until it listens.
    pub fn start(options: SmtpServerOptions<'_>) -> Self {
        install_smtp_server();
        let spool = tempfile::tempdir().unwrap();
        let dir = smtp_dir();
        let mut cmd = Command::new(dir.join(".venv/bin/python"));
        cmd.arg(dir.join("server.py"))
            .arg("--spool")
            .arg(spool.path());
        let tls = match options.tls {
            ServerTls::None => "none",
            ServerTls::StartTls => "starttls",
            ServerTls::Implicit => "implicit",
        };
        cmd.args(["--tls", tls]);
        if options.tls != ServerTls::None {
            let pki = options.pki.expect("a TLS server needs a TestPki");
            cmd.arg("--cert").arg(&pki.server_cert);
            cmd.arg("--key").arg(&pki.server_key);
        }
        if let Some((user, password)) = options.auth {
            cmd.arg("--auth").arg(format!("{user}:{password}"));
        }
        let (child, stdin, port) = spawn_listening(&mut cmd, "the SMTP test server");
        Self {
            child,
            _stdin: stdin,
            port,
            spool,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.spool.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| {
                let doc: Value = serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap();
                ReceivedMail::from_json(&doc)
            })
            .collect()
    }

    /// The `n`th message (from 1), waiting up to `within` for it.
    pub fn wait_for_message(&self, n: usize, within: Duration) -> ReceivedMail {
        let deadline = Instant::now() + within;
        loop {
            if let Some(mail) = self.messages().into_iter().nth(n - 1) {
                return mail;
            }
            assert!(
                Instant::now() < deadline,
                "the SMTP test server got no message {n} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A private CA and a server certificate it signed, for `127.0.0.1` and
/// `localhost`, as PEM files in a temporary directory.
#[derive(Debug)]
pub struct TestPki {
    /// The CA certificate: what a client must trust.
    pub ca_cert: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestPki {
    /// Makes fresh keys and certificates (EC P-256, valid for a day).
    pub fn generate() -> Self {
        install_smtp_server();
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        openssl(
            dir.path(),
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "1",
                "-subj",
                "/CN=Latch test CA",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            dir.path(),
            &[
                "req",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ],
        );
        std::fs::write(
            p("server.ext"),
            "basicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature\n\
             extendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(
            dir.path(),
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "server.ext",
                "-out",
                "server.pem",
            ],
        );
        Self {
            ca_cert: p("ca.pem"),
            server_cert: p("server.pem"),
            server_key: p("server.key"),
            _dir: dir,
        }
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}
