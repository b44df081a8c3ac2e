"""Independent check of a kpipress .eml (used by test_email): parses it with Python's
standard email package (policy=email.policy.default) and compares what a mail reader
would see with the expected values the C test wrote beside it as files:
to_name, to_addr, from_name, from_addr, subject, body, date, and optionally
attachment (the original bytes) and attachment_name.  Usage: check_email.py EML DIR"""
import datetime, email, email.policy, os, re, sys

eml, d = sys.argv[1], sys.argv[2]
def want(name, default=None):
    p = os.path.join(d, name)
    if not os.path.exists(p):
        return default
    with open(p, "rb") as f:
        return f.read().decode("utf-8")

errors = []
def check(what, got, exp):
    if got != exp:
        errors.append("%s: got %r, want %r" % (what, got, exp))

raw = open(eml, "rb").read()
msg = email.message_from_bytes(raw, policy=email.policy.default)

# Wire format: CRLF everywhere, header lines folded under 78 columns, body lines <= 76.
lines = raw.split(b"\r\n")
if b"\n" in b"".join(lines) or b"\r" in b"".join(lines):
    errors.append("bare LF or CR in the message")
head_end = lines.index(b"")
for l in lines[:head_end]:
    if len(l) > 78:
        errors.append("header line of %d columns: %r" % (len(l), l))
for l in lines[head_end:]:
    if len(l) > 78:
        errors.append("body line of %d columns: %r" % (len(l), l[:40]))
if any(b >= 0x80 for b in raw):
    errors.append("message is not 7-bit")

for who in ("to", "from"):
    hdr = msg[who.capitalize()]
    if hdr is None or len(hdr.addresses) != 1:
        errors.append("%s: not one address: %r" % (who, hdr))
        continue
    check(who + " display name", hdr.addresses[0].display_name, want(who + "_name", ""))
    check(who + " address", hdr.addresses[0].addr_spec, want(who + "_addr"))
check("subject", str(msg["Subject"]), want("subject", ""))
check("MIME-Version", str(msg["MIME-Version"]), "1.0")

y, m, dd = map(int, want("date").split("-"))
exp_date = datetime.datetime(y, m, dd, 6, 0, 0, tzinfo=datetime.timezone.utc)
check("Date", msg["Date"].datetime, exp_date)
check("Date text", str(msg["Date"]), exp_date.strftime("%a, %d %b %Y 06:00:00 +0000"))
domain = want("from_addr").split("@")[1]
if not re.fullmatch(r"<kpipress\.[0-9a-f]{32}@" + re.escape(domain) + ">", str(msg["Message-ID"])):
    errors.append("Message-ID %r" % str(msg["Message-ID"]))

for part in msg.walk():
    if part.defects:
        errors.append("defects in %s: %r" % (part.get_content_type(), part.defects))

body = msg.get_body(("plain",))
if body is None:
    errors.append("no text/plain body")
else:
    check("body charset", body.get_content_charset(), "utf-8")
    check("body", body.get_content().replace("\r\n", "\n"), want("body", "").replace("\r\n", "\n"))

att_path = os.path.join(d, "attachment")
atts = list(msg.iter_attachments())
if os.path.exists(att_path):
    check("multipart", msg.get_content_type(), "multipart/mixed")
    if len(atts) != 1:
        errors.append("%d attachments" % len(atts))
    else:
        a = atts[0]
        check("attachment type", a.get_content_type(), "application/pdf")
        check("attachment name", a.get_filename(), want("attachment_name"))
        data = a.get_content()
        if data != open(att_path, "rb").read():
            errors.append("attachment bytes differ (%d bytes)" % len(data))
else:
    check("attachments", len(atts), 0)

for e in errors:
    print(e)
sys.exit(1 if errors else 0)
