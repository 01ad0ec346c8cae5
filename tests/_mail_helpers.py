"""Helpers shared by the mail tests: a small campaign with test addresses, returned workbooks,
a self-signed certificate, and mails written the way common clients write them."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass
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


# -- hostile mail (issue 15, item 6) ---------------------------------------------------------------

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# charsets a hostile or broken client declares: real ones (UTF-7 can carry a lone surrogate), codecs
# that are not character sets, and names nobody knows
TEXT_CHARSETS = ["utf-8", "gbk", "gb2312", "utf-7", "UTF-16", "utf-8*zh-cn"]
NOT_CHARSETS = [
    "unicode_escape",
    "raw_unicode_escape",
    "rot13",
    "base64_codec",
    "zlib_codec",
    "bz2_codec",
    "hex_codec",
    "uu_codec",
    "quopri_codec",
    "idna",
    "punycode",
    "undefined",
    "x-no-such-charset",
    "utf-8\x00",
    "c" * 300,
]
LONE_SURROGATE_UTF7 = b"+2AA-"  # decodes to U+D800 in Python's UTF-7
STEMS = [
    "城关镇2021年年报",
    "长" * 85,  # 255 bytes and more as a file name
    "报" * 300,
    "../../../etc/年报",
    "C:\\Users\\填报人\\桌面\\年报",
    "年报\x1b[31m红色\x00",
    "年报\r\n第二行",
    "\u202exslx.exe年报",
    'a"b:c*d?e<f>g|h',
    "CON",
    "..",
    "",
    " 前后有空格 ",
    "年报" + "\u0301" * 50,
]


def _words(payload: bytes, charset: str, enc: str = "B") -> str:
    if enc == "B":
        return f"=?{charset}?B?{base64.b64encode(payload).decode()}?="
    from urllib.parse import quote

    return f"=?{charset}?Q?{quote(payload, safe='').replace('%', '=')}?="


def _payload(rng, text: str, charset: str, *, surrogate_last: bool = True) -> bytes:
    """Bytes of ``text`` as a client declaring ``charset`` might send them (for a codec that is
    not a character set: the UTF-8 text, or bytes that codec would turn into something else)."""
    if charset in TEXT_CHARSETS:
        cs = charset.split("*")[0]
        data = text.encode("utf-7") if cs == "utf-7" else text.encode("gb18030" if cs.startswith("gb") else cs)
        if cs == "utf-7" and rng.random() < 0.7:
            data = data + LONE_SURROGATE_UTF7 if surrogate_last and rng.random() < 0.5 else LONE_SURROGATE_UTF7 + data
        return data
    tricks = {
        "unicode_escape": b"\\ud800\\x00\\N{BOM}",
        "raw_unicode_escape": b"\\udfff",
        "zlib_codec": __import__("zlib").compress(text.encode("utf-8")),
        "idna": b"xn--a..b." + b"x" * 70,
        "punycode": b"\xff\xfe-",
    }
    if charset in tricks and rng.random() < 0.5:
        return tricks[charset] + text.encode("utf-8")
    return text.encode("utf-8")


def hostile_header_text(rng, text: str, *, suffix: str = "") -> str:
    """``text`` (then ``suffix`` as plain ASCII) as a header value, encoded in one of many ways."""
    how = rng.choice(["plain", "words", "words", "bad_words", "raw8"])
    if how in ("plain", "raw8"):  # no line break inside a raw header: it would end the header
        text = text.replace("\r", " ").replace("\n", " ")
    if how == "plain" and text.isascii():
        return text + suffix
    if how == "raw8" or how == "plain":
        return (text + suffix).encode("utf-8", "surrogatepass").decode("ascii", "surrogateescape")
    if how == "bad_words":
        return rng.choice(["=?utf-8?B?!!!?=", "=?utf-8?Q?", "=??B??=", "=?utf-8?X?abc?=", "=?" * 40]) + suffix
    cs = rng.choice(TEXT_CHARSETS + NOT_CHARSETS)
    return _words(_payload(rng, text, cs), cs, rng.choice("BQ")) + suffix


def hostile_name_params(rng, stem: str) -> str:
    """Content-Disposition parameters naming ``stem`` + ``.xlsx`` in a hostile way."""
    from urllib.parse import quote

    how = rng.choice(["2047", "2047", "2231", "2231_cont", "raw8", "plain"])
    if how in ("2231", "2231_cont"):
        cs = rng.choice(TEXT_CHARSETS + NOT_CHARSETS)
        if "\x00" in cs or len(cs) > 100:
            cs = "x-bad"
        if cs in TEXT_CHARSETS:  # the whole name in that charset
            enc = quote(_payload(rng, stem + ".xlsx", cs, surrogate_last=False), safe="")
        else:
            enc = quote(_payload(rng, stem, cs) + b".xlsx", safe="")
        if how == "2231":
            return f"filename*={cs}''{enc}"
        chunks = re.findall(r"(?:%[0-9A-F]{2}|[^%]){1,10}", enc)  # never inside a %XX (RFC 2231 §3)
        return ";\r\n ".join(f"filename*{i}*={cs + chr(39) * 2 if i == 0 else ''}{c}" for i, c in enumerate(chunks))
    if how in ("raw8", "plain"):
        stem = stem.replace("\r", " ").replace("\n", " ")
    if how == "raw8":
        raw = (stem + ".xlsx").encode(rng.choice(["utf-8", "gb18030"]), "replace")
        return 'filename="' + raw.decode("ascii", "surrogateescape").replace('"', "'") + '"'
    if how == "plain":
        return 'filename="' + stem.encode("ascii", "replace").decode().replace('"', "'") + '.xlsx"'
    return 'filename="' + hostile_header_text(rng, stem, suffix=".xlsx").replace('"', "'") + '"'


@dataclass
class FuzzMail:
    data: bytes
    good: list[tuple[str, bytes]]  # (unit code, workbook) of the attachments that must be imported
    traits: list[str]


def fuzz_mails(seed: int, n: int, workbooks: dict[str, list[bytes]], senders: dict[str, str]):
    """``n`` random mails mixing hostile subjects, senders, charsets (in headers and MIME parts),
    attachment names (too long, UTF-7 with lone surrogates, path parts, control characters …), junk
    and empty attachments, each with 0-3 good workbooks (from ``workbooks``, unit code → variants)
    that an importer must still take.  Deterministic for a seed."""
    import random

    rng = random.Random(seed)
    codes = sorted(workbooks)
    for i in range(n):
        traits: list[str] = []
        b = f"==fz{seed}.{i}=="
        sender = rng.choice([senders[rng.choice(codes)], "stranger@else.test", "", "<<>>@@", "x" * 500 + "@a.test"])
        from_name = rng.choice(["填报人", "", "=?utf-7?B?" + base64.b64encode(LONE_SURROGATE_UTF7).decode() + "?="])
        lines = []
        if sender or rng.random() < 0.5:
            lines.append(f"From: {hostile_header_text(rng, from_name) if from_name else ''} <{sender}>")
        subject = rng.choice(["城关镇年报", "年报" * 2000, "\x1b]0;标题\x07", "", "Re: 关于报送年报"])
        if rng.random() < 0.9:
            lines.append(f"Subject: {hostile_header_text(rng, subject)}")
        mid = rng.choice([f"<fz{seed}.{i}@fuzz.test>"] * 3 + ["", f"<{'m' * 3000}{i}@fuzz>", f"<a\x01{i}\x7f@fuzz>"])
        if mid:
            lines.append(f"Message-ID: {mid}")
        lines += [
            f"Date: {rng.choice(['Tue, 18 Jan 2022 10:30:00 +0800', 'yesterday', '', 'Mon, 99 Foo 99999 99:99:99 +9999'])}",
            f"X-Fuzz: {seed}.{i}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/mixed; boundary="{b}"',
            "",
        ]
        parts: list[str] = []
        if rng.random() < 0.8:
            cs = rng.choice(TEXT_CHARSETS + NOT_CHARSETS).replace("\x00", "")
            body = base64.b64encode("您好，报告见附件。\\ud800".encode()).decode()
            parts.append(f'Content-Type: text/plain; charset="{cs}"\r\nContent-Transfer-Encoding: base64\r\n\r\n{body}')
        good: list[tuple[str, bytes]] = []
        for _ in range(rng.randint(0, 3)):
            kind = rng.choices(["good", "junk", "word", "empty"], [6, 2, 1, 1])[0]
            if kind == "good":
                code = rng.choice(codes)
                wb = rng.choice(workbooks[code])
                good.append((code, wb))
                stem = rng.choice(STEMS)
                traits.append("name:" + (stem[:6] or "empty"))
                data = base64.encodebytes(wb).decode().replace("\n", "\r\n")
                parts.append(
                    f"Content-Type: {XLSX_MIME}\r\nContent-Transfer-Encoding: base64\r\n"
                    f"Content-Disposition: attachment; {hostile_name_params(rng, stem)}\r\n\r\n{data}"
                )
            elif kind == "junk":
                junk = base64.b64encode(rng.randbytes(rng.randint(1, 400))).decode()
                parts.append(
                    f"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
                    f"Content-Disposition: attachment; {hostile_name_params(rng, rng.choice(STEMS))}\r\n\r\n{junk}"
                )
            elif kind == "word":
                parts.append(
                    "Content-Type: application/msword\r\nContent-Transfer-Encoding: base64\r\n"
                    f'Content-Disposition: attachment; filename="{hostile_header_text(rng, "说明")}.doc"\r\n\r\nAAAA'
                )
            else:
                parts.append(
                    f'Content-Type: {XLSX_MIME}; name="{hostile_header_text(rng, "空")}.xlsx"\r\n'
                    "Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n"
                )
        rng.shuffle(parts)
        text = "\r\n".join(lines) + "\r\n" + "".join(f"--{b}\r\n{p}\r\n" for p in parts)
        if rng.random() < 0.9:
            text += f"--{b}--\r\n"  # else: the closing boundary is missing
        yield FuzzMail(text.encode("utf-8", "surrogateescape"), good, traits)


def fuzz_problems(camp: Campaign, mails: list[FuzzMail], report) -> tuple[dict[str, int], list[str]]:
    """(outcome counts, problems) of ``report`` — the :func:`~gkxlsx.mail.mail.process_messages` of
    ``mails``: a mail that could not be processed (an exception inside), a good workbook not taken,
    a saved name over 200 bytes, a line or summary that is not valid UTF-8, a workbook not in the
    ledger are problems."""
    import hashlib
    import json
    from collections import Counter

    from gkxlsx.mail.mail import FetchReport

    counts: Counter[str] = Counter()
    problems: list[str] = []
    if len(report.mails) != len(mails):
        problems.append(f"{len(mails)} mails, {len(report.mails)} results")
    for i, (fm, mr) in enumerate(zip(mails, report.mails)):
        counts["mail " + mr.kind] += 1
        for a in mr.attachments:
            counts["attachment " + (a.outcome.kind if a.outcome else "none")] += 1
            if len(a.saved_as.encode("utf-8", "surrogatepass")) > 200:
                problems.append(f"mail {i}: saved name of {len(a.saved_as.encode())} bytes")
        if mr.kind == "failed":
            problems.append(f"mail {i} ({fm.traits}): not processed: {mr.note}")
        taken = [a for a in mr.attachments if a.outcome is not None and a.outcome.kind in ("new", "duplicate")]
        if len(taken) != len(fm.good):
            got = [(a.filename, a.outcome.kind if a.outcome else None) for a in mr.attachments]
            problems.append(f"mail {i} ({fm.traits}): {len(fm.good)} good workbooks, {len(taken)} taken: {got}")
        try:
            "\n".join(FetchReport([mr]).lines()).encode("utf-8")
            json.dumps(mr.summary(), ensure_ascii=False).encode("utf-8")
        except Exception as e:  # noqa: BLE001 - reported as a problem
            problems.append(f"mail {i}: cannot be printed: {e!r}")
    known = {r[0] for r in camp.ledger.conn.execute("SELECT sha256 FROM submissions")}
    for i, fm in enumerate(mails):
        for code, wb in fm.good:
            if hashlib.sha256(wb).hexdigest() not in known:
                problems.append(f"mail {i}: the workbook of {code} is not in the ledger")
    return dict(counts), problems
