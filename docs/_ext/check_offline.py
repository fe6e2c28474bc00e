"""Check that a built HTML site is self-contained: run by ``make docs`` after sphinx-build.

Fails (exit 1, one line per problem naming the page) when a page loads a script, a style
sheet, a font, an image or an iframe from another host (``http://``, ``https://`` or
``//host``), or refers to a local asset that is not in the build.  Links (``<a href>``) to
papers and other projects are allowed: they are navigation, not assets.

Usage: ``python docs/_ext/check_offline.py docs/_build/html``
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# (tag, attribute) pairs that make the browser fetch something when the page loads.
ASSET_ATTRS = {
    ("script", "src"),
    ("img", "src"),
    ("iframe", "src"),
    ("source", "src"),
    ("video", "src"),
    ("audio", "src"),
    ("embed", "src"),
    ("object", "data"),
}
LINK_RELS_FETCHED = {"stylesheet", "preload", "icon", "shortcut icon", "modulepreload", "prefetch", "manifest"}
CSS_URL = re.compile(r"""(?:@import\s+(?:url\()?|url\()\s*['"]?([^'")\s;]+)""")


def _remote(url: str) -> bool:
    return url.startswith(("http://", "https://", "//"))


class _Assets(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.assets: list[tuple[str, str]] = []  # (what, url)
        self._in_style = False
        self.inline_css: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        for t, attr in ASSET_ATTRS:
            if tag == t and a.get(attr):
                self.assets.append((f"<{tag} {attr}>", a[attr]))
        if tag == "link" and a.get("href") and a.get("rel", "").lower() in LINK_RELS_FETCHED:
            self.assets.append((f"<link rel={a['rel']}>", a["href"]))
        if tag == "style":
            self._in_style = True
        if a.get("style"):
            self.inline_css.append(a["style"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.inline_css.append(data)


def check(site: Path) -> list[str]:
    problems: list[str] = []
    pages = sorted(site.rglob("*.html"))
    if not pages:
        return [f"{site}: no HTML pages (did the build run?)"]
    for page in pages:
        rel = page.relative_to(site)
        parser = _Assets()
        parser.feed(page.read_text(encoding="utf-8", errors="replace"))
        found = list(parser.assets)
        for css in parser.inline_css:
            found += [("inline CSS url()", u) for u in CSS_URL.findall(css)]
        for what, url in found:
            if url.startswith(("data:", "#", "mailto:", "javascript:")):
                continue
            if _remote(url):
                problems.append(f"{rel}: {what} loads {url} from another host (the site must work offline)")
                continue
            path = unquote(urlsplit(url).path)
            if path and not (page.parent / path).resolve().exists():
                problems.append(f"{rel}: {what} refers to {url}, which is not in the build (missing file)")
    for css in sorted(site.rglob("*.css")):
        for url in CSS_URL.findall(css.read_text(encoding="utf-8", errors="replace")):
            if _remote(url):
                problems.append(f"{css.relative_to(site)}: CSS loads {url} from another host")
    return problems


def main(argv: list[str]) -> int:
    site = Path(argv[1] if len(argv) > 1 else "docs/_build/html")
    problems = check(site)
    for p in problems:
        print(f"check_offline: {p}", file=sys.stderr)
    n = len(list(site.rglob("*.html")))
    if problems:
        print(f"check_offline: {len(problems)} problem(s) in {site}", file=sys.stderr)
        return 1
    print(f"check_offline: {n} pages, every script, style sheet, font and image is served locally")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
