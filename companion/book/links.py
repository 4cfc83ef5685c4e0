"""Whether a link of the built book resolves: the file exists in the site, and so does its ``#fragment``."""
from __future__ import annotations

import functools
import html.parser
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit


class _Ids(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@functools.lru_cache(maxsize=None)
def page_ids(path: Path) -> frozenset[str]:
    """Every ``id`` (and ``name``) attribute of an HTML file: the fragments a link to it may name."""
    parser = _Ids()
    parser.feed(Path(path).read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def html_pages(site: Path) -> list[Path]:
    """Every HTML page of the built site, relative to it, sorted (``index.html`` first)."""
    pages = sorted(p.relative_to(site) for p in Path(site).rglob("*.html"))
    return sorted(pages, key=lambda p: (p.as_posix() != "index.html", p.as_posix()))


def is_internal(href: str, base_url: str) -> bool:
    """A link into the site (same scheme, host and port as ``base_url``)."""
    return href.startswith(base_url)


def broken(href: str, base_url: str, site: Path) -> str | None:
    """Why the internal link ``href`` does not resolve in ``site`` (``None`` when it does)."""
    url, fragment = urldefrag(href)
    rel = unquote(urlsplit(url).path)[len(urlsplit(base_url).path):]
    target = Path(site) / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"{href}: no file {target.relative_to(site)} in the site"
    if fragment and target.suffix == ".html" and unquote(fragment) not in page_ids(target.resolve()):
        return f"{href}: {target.relative_to(site)} has no element with id {fragment!r}"
    return None
