//! Redis and PostgreSQL processes of a test's own, on free ports, so a test
//! can stop and start them without disturbing any other test.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::run;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `ready` holds, for at most `within`.
pub fn wait_for(within: Duration, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ready() {
        assert!(Instant::now() < deadline, "{what} within {within:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A Redis server of the test's own on a free port, keeping nothing on disk.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            child: None,
        };
        redis.up();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let mut buf = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
    }

    pub fn up(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs");
        self.child = Some(child);
        wait_for(Duration::from_secs(10), "Redis answers", || self.answers());
    }

    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.down();
    }
}

/// A PostgreSQL cluster of the test's own, run as the `postgres` user.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    pub port: u16,
    /// Server settings beyond the defaults (`-c name=value ...`).
    settings: String,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        Self::start_with(|_| String::new())
    }

    /// A server that speaks TLS (and plain TCP) with `cert` and `key` (PEM).
    pub fn start_with_tls(cert: &std::path::Path, key: &std::path::Path) -> Self {
        Self::start_with(|dir| {
            for (from, to) in [(cert, "server.pem"), (key, "server.key")] {
                std::fs::copy(from, dir.join(to)).unwrap();
            }
            let key = dir.join("server.key");
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
            format!(
                "-c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                dir.join("server.pem").display(),
                key.display()
            )
        })
    }

    /// Initialises a cluster in a fresh directory; `settings` may put files
    /// there and returns extra server settings (`-c name=value ...`).
    pub fn start_with(settings: impl FnOnce(&std::path::Path) -> String) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let settings = settings(dir.path());
        let owned = run(Command::new("chown")
            .args(["-R", "postgres"])
            .arg(dir.path()));
        assert!(owned.status.success());
        let pg = Self {
            dir,
            port: free_port(),
            settings,
        };
        let init = run(pg.as_postgres("initdb").args([
            "-D",
            &pg.data(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
        ]));
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        pg.up();
        pg
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, program: &str) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--", program]);
        cmd
    }

    fn pg_ctl(&self, args: &[&str]) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off {}",
            self.port,
            self.dir.path().display(),
            self.settings
        );
        let log = self.dir.path().join("log").display().to_string();
        let out = run(self
            .as_postgres("pg_ctl")
            .args(["-D", &self.data(), "-o", &options, "-l", &log, "-w"])
            .args(args));
        assert!(
            out.status.success(),
            "pg_ctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn up(&self) {
        self.pg_ctl(&["start"]);
    }

    /// Stops the server at once, dropping every connection, as a crash would.
    pub fn down(&self) {
        self.pg_ctl(&["-m", "immediate", "stop"]);
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--", "pg_ctl", "-D", &self.data()])
            .args(["-m", "immediate", "stop"])
            .output();
    }
}
