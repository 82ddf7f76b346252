#!/usr/bin/env python3
"""Prints password digests made by reference implementations, in the formats
Clerk's `password_hasher` values name, for Latch's import tests.

Needs `bcrypt`, `django` and `cryptography` from PyPI (in a virtualenv:
`python3 -m venv /tmp/hv && /tmp/hv/bin/pip install bcrypt django cryptography`).
Salts are fixed so the output is the same on every run (bcrypt's excepted:
its library draws the salt itself).
"""

import base64
import hashlib

import bcrypt
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django.conf import settings

settings.configure()
from django.contrib.auth.hashers import PBKDF2PasswordHasher  # noqa: E402

PASSWORD = "correct horse battery"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def firebase(password: str, salt: bytes, signer_key: bytes, separator: bytes,
             rounds: int, mem_cost: int) -> str:
    """Clerk's scrypt_firebase digest: hash$salt$signer key$separator$rounds$mem cost."""
    derived = hashlib.scrypt(password.encode(), salt=salt + separator,
                             n=2**mem_cost, r=rounds, p=1, dklen=64,
                             maxmem=2**28)
    encryptor = Cipher(algorithms.AES(derived[:32]), modes.CTR(bytes(16))).encryptor()
    hashed = encryptor.update(signer_key) + encryptor.finalize()
    return "$".join([b64(hashed), b64(salt), b64(signer_key), b64(separator),
                     str(rounds), str(mem_cost)])


def main() -> None:
    pw = PASSWORD.encode()
    vectors = {
        "bcrypt_2b": bcrypt.hashpw(pw, bcrypt.gensalt(4)).decode(),
        "bcrypt_2a": bcrypt.hashpw(pw, bcrypt.gensalt(5, prefix=b"2a")).decode(),
        # bcrypt reads at most 72 bytes; 72 "a"s, the longest it takes whole.
        "bcrypt_72": bcrypt.hashpw(b"a" * 72, bcrypt.gensalt(4)).decode(),
        "pbkdf2_sha256_django": PBKDF2PasswordHasher().encode(
            PASSWORD, "ImportedSalt2024", iterations=1000),
        "pbkdf2_sha256": "pbkdf2_sha256$1000${}${}".format(
            b64(b"\x00salt\xffbytes"),
            b64(hashlib.pbkdf2_hmac("sha256", pw, b"\x00salt\xffbytes", 1000))),
        "pbkdf2_sha512": "pbkdf2_sha512$1000$plainsalt${}".format(
            hashlib.pbkdf2_hmac("sha512", pw, b"plainsalt", 1000).hex()),
        "pbkdf2_sha512_hex": "pbkdf2_sha512_hex$1000${}${}".format(
            bytes(range(16)).hex(),
            hashlib.pbkdf2_hmac("sha512", pw, bytes(range(16)), 1000).hex()),
        "scrypt_firebase": firebase(PASSWORD, b"user salt!", bytes(range(64)),
                                    b"\x07", 8, 10),
        "sha256": hashlib.sha256(pw).hexdigest(),
    }
    # Firebase's own published example (github.com/firebase/scrypt README),
    # checked here against the same computation.
    published = ("lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+"
                 "VHjoZilo78198JAdRuid5lQ==")
    example = firebase(
        "user1password", base64.b64decode("42xEC+ixf3L2lw=="),
        base64.b64decode("jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wj"
                         "LNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="),
        base64.b64decode("Bw=="), 8, 14)
    assert example.split("$")[0] == published, example
    print(f"password: {PASSWORD}")
    for name, digest in vectors.items():
        print(f"{name}: {digest}")


if __name__ == "__main__":
    main()
