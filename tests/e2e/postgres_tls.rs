//! `storage.postgres_tls = "verify"` against a PostgreSQL that speaks TLS
//! with a certificate from a private CA.

use latch_testkit::smtp::TestPki;

use crate::cluster::{Cluster, Shared};
use crate::private::PrivatePostgres;
use crate::support::run;

#[test]
fn verified_tls_connects_only_with_the_trusted_ca_and_every_connection_is_encrypted() {
    let pki = TestPki::generate();
    let pg = PrivatePostgres::start_with_tls(&pki.server_cert, &pki.server_key);
    let shared = Shared {
        postgres_port: pg.port,
        ..Shared::machine()
    };
    let ca = pki.ca_cert.display().to_string();
    let cluster = Cluster::start(
        &shared,
        1,
        &[
            ("LATCH_STORAGE__POSTGRES_TLS", "verify"),
            ("LATCH_STORAGE__POSTGRES_CA_FILE", &ca),
        ],
    );
    let (status, body) = cluster.bapi(
        0,
        "POST",
        "/v1/users",
        r#"{"email_address":["tia@example.com"],"password":"an encrypted password"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let sessions = |encrypted: bool| {
        cluster.sql(&format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = current_database() AND s.ssl = {encrypted} AND a.pid <> pg_backend_pid()"
        ))
    };
    assert_ne!(sessions(true), "0", "the replica's connections use TLS");
    assert_eq!(sessions(false), "0", "and none is plain");

    // Without the private CA, the certificate is not trusted: start-up
    // stops and names the setting.
    let mut untrusted = cluster.command();
    untrusted
        .env("LATCH_STORAGE__POSTGRES_CA_FILE", "")
        .arg("migrate");
    let out = run(&mut untrusted);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "an untrusted certificate was accepted"
    );
    assert!(stderr.contains("storage.postgres_url"), "{stderr}");
    assert!(stderr.contains("certificate verify failed"), "{stderr}");
}
