"""Helpers shared by the mail tests: a small campaign with test addresses, returned workbooks,
a self-signed certificate, and mails written the way common clients write them."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import shutil
import socket
import subprocess
from pathlib import Path

from gkxlsx.campaign.campaign import Campaign, generate_for_campaign, init_campaign

EXAMPLE_ROSTER = Path(__file__).resolve().parent.parent / "examples" / "roster.csv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_campaign(root: Path, emails: dict[str, str] | None = None, n: int = 4, generate: bool = True) -> Campaign:
    """A 2021 campaign with the first ``n`` units of the example roster; unit i gets the address
    ``u<i>@test.example`` unless ``emails`` (code -> cell text) says otherwise."""
    with open(EXAMPLE_ROSTER, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1 : n + 1]
    ei = header.index("邮箱")
    for i, r in enumerate(body, start=1):
        r[ei] = (emails or {}).get(r[0], f"u{i}@test.example")
    roster = root / "roster_in.csv"
    root.mkdir(parents=True, exist_ok=True)
    with open(roster, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([header, *body])
    camp = init_campaign(
        root / "camp", year=2021, roster=roster, office="示例县政务公开办", contact="政务公开办 0000-1234567"
    )
    if generate:
        generate_for_campaign(camp)
    return camp


def returned_workbook(camp: Campaign, code: str, edit=None, seed: int = 3) -> bytes:
    """The unit's workbook as it comes back filled in (the generator with the unit's values)."""
    from gkxlsx.demo.samples import sample_values
    from gkxlsx.workbook.generate import build_workbook

    u = camp.unit(code)
    values = sample_values(camp.form, u.name, u.type, camp.year, seed=seed)
    if edit:
        edit(values)
    data, _ = build_workbook(camp.form, u, camp.year, prefill=values)
    return data


def self_signed_cert(d: Path) -> tuple[Path, Path] | None:
    """(cert.pem, key.pem) for CN=127.0.0.1 / SAN IP 127.0.0.1, via `cryptography` or the openssl
    command; None when neither is available."""
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.timezone.utc)
        c = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(k.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=2))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(k, hashes.SHA256())
        )
        key.write_bytes(
            k.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
        cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
        return cert, key
    except ImportError:
        pass
    if shutil.which("openssl"):
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
            ],
            check=True,
            capture_output=True,
        )
        return cert, key
    return None


def _b64_words(text: str, charset: str) -> str:
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode()}?="


def client_mail(
    sender: str,
    subject: str,
    attachments: list[tuple[str, bytes]] = (),
    *,
    style: str = "foxmail",
    message_id: str | None = None,
    date: str = "Tue, 18 Jan 2022 10:30:00 +0800",
    to: str = "office@test.example",
) -> bytes:
    """A mail as a unit's client would write it, built by hand (not with gkxlsx.mail.mail):

    * ``foxmail``: GB2312/GBK subject, attachment names only as RFC 2047 inside quotes (name= and filename=);
    * ``thunderbird``: UTF-8 subject, RFC 2231 filename*= with continuations only;
    * ``raw8bit``: the file name as raw UTF-8 bytes in the quotes (some webmail and phone clients);
    * ``octet``: application/octet-stream with a plain name (type not given by the client).
    """
    boundary = "----=_NextPart_test_0001"
    if style == "foxmail":
        subj = _b64_words(subject, "gbk")
    else:
        subj = _b64_words(subject, "utf-8")
    lines = [
        f"From: =?gbk?B?{base64.b64encode('填报人'.encode('gbk')).decode()}?= <{sender}>",
        f"To: {to}",
        f"Subject: {subj}",
        f"Date: {date}",
    ]
    if message_id is not None:
        lines.append(f"Message-ID: {message_id}")
    lines += [
        "MIME-Version: 1.0",
        f'Content-Type: multipart/mixed; boundary="{boundary}"',
        "",
        "This is a multi-part message in MIME format.",
        "",
    ]
    body = base64.encodebytes("您好，报告已填好，请查收。".encode("gbk")).decode().strip()
    lines += [
        f"--{boundary}",
        'Content-Type: text/plain; charset="gb2312"',
        "Content-Transfer-Encoding: base64",
        "",
        body,
        "",
    ]
    raw_parts: list[bytes] = []
    for name, data in attachments:
        b64 = base64.encodebytes(data).decode().strip().replace("\n", "\r\n")
        if style == "foxmail":
            ew = _b64_words(name, "gbk")
            hdr = [
                f'Content-Type: application/octet-stream;\r\n\tname="{ew}"',
                "Content-Transfer-Encoding: base64",
                f'Content-Disposition: attachment;\r\n\tfilename="{ew}"',
            ]
        elif style == "thunderbird":
            from urllib.parse import quote

            enc = quote(name.encode("utf-8"), safe="")
            chunks = [enc[i : i + 45] for i in range(0, len(enc), 45)]
            # never split a %XX triplet
            fixed, carry = [], ""
            for c in chunks:
                c = carry + c
                cut = c.rfind("%", max(0, len(c) - 2))
                if cut != -1 and len(c) - cut < 3:
                    c, carry = c[:cut], c[cut:]
                else:
                    carry = ""
                fixed.append(c)
            if carry:
                fixed.append(carry)
            params = ";\r\n ".join(
                f"filename*{i}*={'utf-8' + chr(39) * 2 if i == 0 else ''}{c}" for i, c in enumerate(fixed)
            )
            hdr = [
                "Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                "Content-Transfer-Encoding: base64",
                f"Content-Disposition: attachment;\r\n {params}",
            ]
        elif style == "raw8bit":
            hdr = [
                "Content-Type: application/vnd.ms-excel",
                "Content-Transfer-Encoding: base64",
                f'Content-Disposition: attachment; filename="{name}"',
            ]
        elif style == "octet":
            hdr = [
                f'Content-Type: application/octet-stream; name="{name}"',
                "Content-Transfer-Encoding: base64",
                "Content-Disposition: attachment",
            ]
        else:
            raise ValueError(style)
        part = "\r\n".join([f"--{boundary}", *hdr, "", b64, ""])
        raw_parts.append(part.encode("utf-8"))
    head = "\r\n".join(lines).encode("ascii")
    tail = f"--{boundary}--\r\n".encode("ascii")
    return head + b"\r\n" + b"".join(raw_parts) + tail
