"""A real SMTP server on loopback for Latch's tests (aiosmtpd).

Listens on 127.0.0.1 at a port the system picks and prints `listening <port>`
once it accepts connections. Each message it accepts is written to the spool
directory as one JSON file (written whole, then renamed into place), with the
envelope, the parsed headers, the decoded text body, whether the connection
was encrypted and who authenticated. It stops when its standard input closes,
so it never outlives the test that started it.

    server.py --spool DIR [--tls none|starttls|implicit] [--cert PEM --key PEM]
              [--auth USER:PASSWORD]

With `--tls none` the server does not offer STARTTLS at all. With `--auth`,
AUTH PLAIN and LOGIN are offered (also without TLS: the tests run on loopback)
and a sender must authenticate before MAIL FROM.
"""

import argparse
import asyncio
import email
import email.policy
import json
import logging
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Spool:
    def __init__(self, directory):
        self.directory = directory
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message.get("From", "")),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "content_type": message.get_content_type(),
            "body": body.get_content() if body is not None else "",
            "encrypted": server.transport.get_extra_info("ssl_object") is not None,
            "authenticated_as": session.auth_data if session.authenticated else None,
            "raw": envelope.original_content.decode("utf-8", "replace"),
        }
        self.count += 1
        name = os.path.join(self.directory, f"{self.count:04d}.json")
        with open(name + ".tmp", "w", encoding="utf-8") as f:
            json.dump(record, f)
        os.replace(name + ".tmp", name)
        return "250 OK"


def authenticator(expected_user, expected_password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == expected_user
            and auth_data.password.decode() == expected_password
        )
        if ok:
            return AuthResult(success=True, auth_data=expected_user)
        # Not handled here: aiosmtpd then answers 535 itself.
        return AuthResult(success=False, handled=False)

    return check


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spool", required=True)
    parser.add_argument("--tls", choices=["none", "starttls", "implicit"], default="none")
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--auth")
    args = parser.parse_args()

    context = None
    if args.tls != "none":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)

    options = {"hostname": "localhost", "timeout": 30}
    if args.tls == "starttls":
        options["tls_context"] = context
        options["require_starttls"] = True
    if args.auth:
        user, password = args.auth.split(":", 1)
        options["authenticator"] = authenticator(user, password)
        options["auth_required"] = True
        options["auth_require_tls"] = False

    handler = Spool(args.spool)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, loop=loop, **options),
        host="127.0.0.1",
        port=0,
        ssl=context if args.tls == "implicit" else None,
    )
    port = server.sockets[0].getsockname()[1]
    print(f"listening {port}", flush=True)

    # Standing down when stdin closes: the test process is gone or done.
    await loop.run_in_executor(None, sys.stdin.buffer.read)
    server.close()


if __name__ == "__main__":
    import warnings

    # Requiring AUTH without TLS is what the plain-mode tests want; aiosmtpd
    # warns about it, and logs every session, which is noise in test output.
    warnings.simplefilter("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    asyncio.run(main())
