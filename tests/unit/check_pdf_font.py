#!/usr/bin/python3
"""Check the embedded fonts of a PDF against the TrueType file they were made from.

usage: check_pdf_font.py DOC.qdf.pdf FONT.ttf BASENAME TEXT

DOC.qdf.pdf is the PDF after `qpdf --qdf --object-streams=disable` (streams
uncompressed). For the Type0 font whose BaseFont ends in "+BASENAME": every character
of TEXT must be in its ToUnicode map; for every character of that map, the CIDToGIDMap
must lead to a glyph of the embedded subset with the advance and bounding box of the
character's glyph in FONT.ttf, and the /W width (or /DW) must be that advance in 1/1000
em, truncated. The glyph map must stop at the highest character. Prints "ok" or the
first difference. The TrueType tables are read here, independently of kpipress and
libharu."""
import re
import struct
import sys


def tables(font):
    n = struct.unpack(">H", font[4:6])[0]
    out = {}
    for i in range(n):
        tag, _, off, ln = struct.unpack(">4sIII", font[12 + 16 * i:28 + 16 * i])
        out[tag.decode("latin-1")] = font[off:off + ln]
    return out


def cmap4(t):
    """code point -> glyph id from the format 4 subtable (the BMP)."""
    cmap = t["cmap"]
    n = struct.unpack(">H", cmap[2:4])[0]
    for i in range(n):
        pid, eid, off = struct.unpack(">HHI", cmap[4 + 8 * i:12 + 8 * i])
        if struct.unpack(">H", cmap[off:off + 2])[0] == 4 and (pid, eid) in ((3, 1), (0, 3), (0, 4)):
            break
    else:
        raise SystemExit("no format 4 cmap")
    sub = cmap[off:]
    segx2 = struct.unpack(">H", sub[6:8])[0]
    seg = segx2 // 2
    ends = struct.unpack(">%dH" % seg, sub[14:14 + segx2])
    starts = struct.unpack(">%dH" % seg, sub[16 + segx2:16 + 2 * segx2])
    deltas = struct.unpack(">%dh" % seg, sub[16 + 2 * segx2:16 + 3 * segx2])
    ro_at = 16 + 3 * segx2
    ros = struct.unpack(">%dH" % seg, sub[ro_at:ro_at + segx2])
    m = {}
    for k in range(seg):
        for c in range(starts[k], ends[k] + 1):
            if c == 0xFFFF:
                continue
            if ros[k] == 0:
                g = (c + deltas[k]) & 0xFFFF
            else:
                at = ro_at + 2 * k + ros[k] + 2 * (c - starts[k])
                g = struct.unpack(">H", sub[at:at + 2])[0]
                g = (g + deltas[k]) & 0xFFFF if g else 0
            if g:
                m[c] = g
    return m


def glyph_info(t, gid):
    """(advance, bbox) of a glyph; bbox None for an empty glyph."""
    upem = struct.unpack(">H", t["head"][18:20])[0]
    nhm = struct.unpack(">H", t["hhea"][34:36])[0]
    hmtx = t["hmtx"]
    adv = struct.unpack(">H", hmtx[4 * min(gid, nhm - 1):4 * min(gid, nhm - 1) + 2])[0]
    long_loca = struct.unpack(">h", t["head"][50:52])[0] == 1
    loca = t["loca"]
    if long_loca:
        a, b = struct.unpack(">II", loca[4 * gid:4 * gid + 8])
    else:
        a, b = (2 * x for x in struct.unpack(">HH", loca[2 * gid:2 * gid + 4]))
    box = struct.unpack(">5h", t["glyf"][a:a + 10])[1:] if b > a else None
    return adv, box, upem


def objects(pdf):
    """object number -> (dictionary text, stream bytes or None)"""
    out = {}
    for m in re.finditer(rb"\n(\d+) 0 obj\n(.*?)\nendobj", pdf, re.S):
        body = m.group(2)
        s = body.find(b"\nstream\n")
        if s >= 0:
            out[int(m.group(1))] = (body[:s], body[s + 8:body.rfind(b"\nendstream")])
        else:
            out[int(m.group(1))] = (body, None)
    return out


def ref(d, key):
    m = re.search(rb"/" + key + rb" (\d+) 0 R", d)
    return int(m.group(1)) if m else None


def main():
    pdf = open(sys.argv[1], "rb").read()
    orig = tables(open(sys.argv[2], "rb").read())
    base = sys.argv[3].encode()
    text = sys.argv[4]
    objs = objects(pdf)
    font = next((d for d, _ in objs.values()
                 if b"/Subtype /Type0" in d and re.search(rb"/BaseFont /[A-Z]{6}\+" + re.escape(base) + rb"\s", d)),
                None)
    if font is None:
        return "no Type0 font " + sys.argv[3]
    if b"/Encoding /Identity-H" not in font:
        return "not Identity-H"
    tu = objs[ref(font, b"ToUnicode")][1].decode("latin-1")
    chars = {}
    for block in re.findall(r"beginbfchar\n(.*?)endbfchar", tu, re.S):
        for cid, uni in re.findall(r"<([0-9A-F]{4})> <([0-9A-F]{4})>", block):
            chars[int(cid, 16)] = int(uni, 16)
    for ch in text:
        if ord(ch) not in chars.values():
            return "U+%04X not in ToUnicode" % ord(ch)
    cidfont = objs[int(re.search(rb"/DescendantFonts \[\s*(\d+) 0 R", font).group(1))][0]
    gidmap = objs[ref(cidfont, b"CIDToGIDMap")][1]
    if len(gidmap) != 2 * (max(chars) + 1):
        return "glyph map has %d bytes for highest character U+%04X" % (len(gidmap), max(chars))
    dw = int(re.search(rb"/DW (\d+)", cidfont).group(1))
    widths = {}
    at = cidfont.find(b"/W [")
    if at >= 0:  # the array up to its matching bracket: "c [w w ...] c [w ...]"
        depth, i = 0, at + 3
        while True:
            depth += {ord("["): 1, ord("]"): -1}.get(cidfont[i], 0)
            i += 1
            if depth == 0:
                break
        for start, run in re.findall(rb"(\d+)\s*\[([\d\s]*)\]", cidfont[at + 4:i - 1]):
            for k, v in enumerate(run.split()):
                widths[int(start) + k] = int(v)
    desc = objs[ref(cidfont, b"FontDescriptor")][0]
    sub = tables(objs[ref(desc, b"FontFile2")][1])
    ocmap = cmap4(orig)
    for cid, uni in sorted(chars.items()):
        if cid != uni:
            return "CID %d is not its code point U+%04X" % (cid, uni)
        gid = struct.unpack(">H", gidmap[2 * cid:2 * cid + 2])[0]
        adv, box, upem = glyph_info(orig, ocmap[uni])
        sadv, sbox, _ = glyph_info(sub, gid)
        if (sadv, sbox) != (adv, box):
            return "U+%04X: subset glyph %d has advance %d box %s, font %d %s" % (
                uni, gid, sadv, sbox, adv, box)
        want = adv * 1000 // upem
        if widths.get(cid, dw) != want:
            return "U+%04X: width %d, font %d" % (uni, widths.get(cid, dw), want)
    return "ok"


print(main())
