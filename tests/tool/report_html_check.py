#!/usr/bin/env python3
"""Checks for tests/tool/report_html.sh: `p0fshim report --html` against `--json`.

  report_html_check.py static PAGE                       the page as written: self-contained, inert
  report_html_check.py dom DOM JSON JSON_ALL WIDTH [SIGS] the page as the browser built it
  report_html_check.py png SCREENSHOT                    the screenshot shows the page and its charts

Prints one line per problem and exits 1 when there is any (0 when there is none)."""
import html.parser
import ipaddress
import json
import re
import struct
import sys
import zlib

problems = []


def problem(text):
    problems.append(text)
    print("# " + text)


def shown(value):
    """What the page shows of a string from the log (put_html, once the browser decoded it)."""
    out = []
    for ch in value:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif o < 0x20 or o >= 0x7F:
            out.append("\\x%02x" % o)
        else:
            out.append(ch)
    return "".join(out)


def at(doc, path):
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


# ---- the page as the browser built it ----

# The rows of a ranked table: the page is made with the default --top.
TOP = 10

ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "time", "section", "div", "b",
                "table", "thead", "tbody", "tr", "th", "td", "i", "em", "small", "figure", "figcaption", "svg", "line",
                "text", "path", "rect", "ul", "li", "span"}


VOID_TAGS = {"meta", "br", "hr", "img", "input", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class Dom(html.parser.HTMLParser):
    """Every element's tag and attributes, and the text of those with data-json, data-net or in a table."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.elements = []      # [tag, attrs, text] (text of the element and its descendants)
        self.open = []          # indexes into elements of the elements still open

    def handle_starttag(self, tag, attrs):
        e = [tag, dict(attrs), ""]
        self.elements.append(e)
        if tag not in VOID_TAGS:
            self.open.append(len(self.elements) - 1)

    def handle_startendtag(self, tag, attrs):
        self.elements.append([tag, dict(attrs), ""])

    def handle_endtag(self, tag):
        for k in range(len(self.open) - 1, -1, -1):
            if self.elements[self.open[k]][0] == tag:
                del self.open[k:]
                break

    def handle_data(self, data):
        for i in self.open:
            self.elements[i][2] += data


def check_elements(els):
    """Only the elements the page writes, none with a handler or anything that loads."""
    for tag, attrs, _ in els:
        if tag not in ALLOWED_TAGS:
            problem("an element the page never writes: <%s %s>" % (tag, attrs))
        for a in attrs:
            if a.startswith("on") or a in ("src", "href", "srcset", "action", "formaction", "xlink:href", "style"):
                problem("<%s> has the attribute %s=%r" % (tag, a, attrs[a]))


def number_shown(text):
    return text.replace(",", "").strip()


# ---- the page as written ----

def check_static(page_path):
    raw = open(page_path, "rb").read()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as e:
        problem("the page is not ASCII: %s" % e)
        text = raw.decode("latin-1")
    if not text.startswith("<!DOCTYPE html>"):
        problem("no <!DOCTYPE html> at the start")
    if "Content-Security-Policy" not in text or "default-src 'none'" not in text:
        problem("no Content-Security-Policy forbidding outside resources")
    # a raw "<" is markup: text from the log has it as &lt;
    m = re.search(r"<script", text, re.I)
    if m:
        problem("the page has a script element: ...%s..." % text[max(0, m.start() - 40):m.end() + 40])
    d = Dom()
    d.feed(text)
    check_elements(d.elements)
    for tag, attrs, content in d.elements:
        if tag == "style" and re.search(r"url\(|@import|https?:", content):
            problem("the style sheet loads something: %s" % content)
        for a, v in attrs.items():
            if re.search(r"https?:", v or "") and (tag, a, v) != ("svg", "xmlns", "http://www.w3.org/2000/svg"):
                problem("<%s %s=%r> names an outside resource" % (tag, a, v))


def check_dom(dom_path, json_path, json_all_path, width, sigs_path=None):
    doc = json.load(open(json_path))
    doc_all = json.load(open(json_all_path))
    d = Dom()
    d.feed(open(dom_path, encoding="utf-8", errors="replace").read())
    els = d.elements
    if not els:
        problem("the browser gave no DOM")
        return

    # nothing injected: only the page's own elements, no handler, two charts
    check_elements(els)
    svgs = [e for e in els if e[0] == "svg"]
    if len(svgs) != 2 and doc["connections"] - doc["undated"] > 0:
        problem("%d svg elements, not the 2 charts" % len(svgs))

    # every number and string the JSON report also gives
    checked = set()
    for tag, attrs, text in els:
        p = attrs.get("data-json")
        if p is None:
            continue
        try:
            want = at(doc, p)
        except (KeyError, IndexError, ValueError):
            problem("data-json=%s is not in the JSON report" % p)
            continue
        checked.add(p)
        if "data-n" in attrs:
            if str(want) != attrs["data-n"]:
                problem("%s: the page says %s, the JSON report %s" % (p, attrs["data-n"], want))
            if number_shown(text) != attrs["data-n"]:
                problem("%s: shown as %r, its data-n is %s" % (p, text, attrs["data-n"]))
        elif "data-empty" in attrs:
            if want != "":
                problem("%s: shown as empty, the JSON report has %r" % (p, want))
        elif text != shown(want):
            problem("%s: shown as %r, the JSON report has %r (shown %r)" % (p, text, want, shown(want)))
    required = ["connections", "first", "last", "unparsable", "genre.distinct", "ms.median",
                "karma.sum"] + ["verdicts." + v for v in doc["verdicts"]]
    if "cutoff" in doc:
        required += ["cutoff." + k for k in doc["cutoff"]]
    for section, members in [("genre", ["value", "count", "block"]), ("rules", ["rule", "at", "count"]),
                             ("karma_ips", ["ip", "karma", "lines"])]:
        for i in range(len(doc[section]["top"])):
            required += ["%s.top.%d.%s" % (section, i, m) for m in members]
    for p in required:
        if p not in checked:
            problem("the page does not show %s (data-json)" % p)
    print("# %d values held to the JSON report" % len(checked))

    # the charts: their bars add up to the connections with a timestamp, series by series
    dated = doc["connections"] - doc["undated"]
    figures = {e[1].get("id"): e for e in els if e[0] == "figure"}
    outside = sum(int(e[1]["data-outside"]) for e in els if "data-outside" in e[1])
    for fid in ("chart-genres", "chart-verdicts"):
        f = figures.get(fid)
        if f is None:
            if dated:
                problem("no figure %s" % fid)
            continue
        if f[1].get("data-width") != width:
            problem("%s: one bar per %s, expected %s" % (fid, f[1].get("data-width"), width))
        if int(f[1]["data-drawn"]) != dated - outside:
            problem("%s: %s connections drawn, %d dated ones (%d outside)" % (fid, f[1]["data-drawn"], dated, outside))
    legend = {}
    current = None
    for tag, attrs, text in els:
        if tag == "figure":
            current = attrs.get("id")
        if tag == "li" and "data-series" in attrs:
            legend.setdefault(current, []).append((attrs["data-series"], int(attrs["data-sum"])))
    for fid, items in legend.items():
        total = sum(n for _, n in items)
        if total != int(figures[fid][1]["data-drawn"]):
            problem("%s: the legend adds up to %d, not %s" % (fid, total, figures[fid][1]["data-drawn"]))
    if doc["undated"] == 0 and outside == 0:
        got = dict(legend.get("chart-verdicts", []))
        for v, n in doc["verdicts"].items():
            if got.get(v, 0) != n:
                problem("verdict chart: %s %d, the JSON report %d" % (v, got.get(v, 0), n))
        genres = legend.get("chart-genres", [])
        for i, g in enumerate(doc["genre"]["top"][:8]):
            if i >= len(genres) or genres[i] != (shown(g["value"]), g["count"]):
                problem("genre chart: series %d is %r, the JSON report has %r" %
                        (i, genres[i] if i < len(genres) else None, (shown(g["value"]), g["count"])))

    # blocked networks: the JSON report's blocked addresses (all of them) summed by /24 and /64
    nets = {}
    for e in doc_all["blocked_ips"]["top"]:
        ip = ipaddress.ip_address(e["ip"])
        net = ipaddress.ip_network("%s/%d" % (ip, 24 if ip.version == 4 else 64), strict=False)
        b, a = nets.get(net, (0, 0))
        nets[net] = (b + e["blocks"], a + 1)
    want = sorted(nets.items(), key=lambda kv: (-kv[1][0], kv[0].version, kv[0].network_address.packed))
    rows = []
    for k, (tag, attrs, text) in enumerate(els):
        if "data-net" in attrs:
            counts = [int(e[1]["data-n"]) for e in els[k + 1:k + 3]]
            rows.append((attrs["data-net"], counts[0], counts[1]))
    want_rows = [(str(n), b, a) for n, (b, a) in want][:TOP]
    if rows != want_rows:
        problem("blocked networks: the page has %s, the JSON report's addresses give %s" % (rows, want_rows))

    # signatures no OS was named for, as the test expects them
    if sigs_path:
        want_sigs = [(shown(s), n) for s, n in json.load(open(sigs_path))]
        got = [(text, int(els[k + 1][1]["data-n"])) for k, (tag, attrs, text) in enumerate(els) if "data-sig" in attrs]
        if got != want_sigs:
            problem("signatures: the page has %s, expected %s" % (got, want_sigs))


# ---- the screenshot ----

def png_pixels(path):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, w = 8, b"", 0
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise ValueError("PNG depth %d colour type %d interlace %d: not read here" % (depth, ctype, interlace))
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride = w * bpp
    prev = bytearray(stride)
    pixels = []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        pixels.extend(tuple(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return w, h, pixels


def check_png(path):
    try:
        w, h, pixels = png_pixels(path)
    except (OSError, ValueError, zlib.error) as e:
        problem("screenshot %s: %s" % (path, e))
        return
    inked = sum(1 for p in pixels if p != (255, 255, 255))
    print("# screenshot %dx%d, %.1f%% not white, %d colours" % (w, h, 100.0 * inked / len(pixels), len(set(pixels))))
    if inked < len(pixels) * 0.02:
        problem("the screenshot is (almost) blank: %d of %d pixels not white" % (inked, len(pixels)))

    def near(colour):
        return sum(1 for p in pixels if all(abs(p[i] - colour[i]) <= 3 for i in range(3)))
    for name, colour in [("block red", (0xE1, 0x57, 0x59)), ("allow green", (0x59, 0xA1, 0x4F)),
                         ("genre blue", (0x4E, 0x79, 0xA7))]:
        n = near(colour)
        # the swatches of the tables and legends alone make a few hundred; a month's bars, tens of thousands
        if n < 2000:
            problem("the screenshot shows %d pixels of the charts' %s: the bars are not drawn" % (n, name))


if __name__ == "__main__":
    what, args = sys.argv[1], sys.argv[2:]
    {"static": check_static, "dom": check_dom, "png": check_png}[what](*args)
    sys.exit(1 if problems else 0)
