"""A tiny browser for tests: reads rendered HTML the way a browser with JavaScript off would."""
from __future__ import annotations

from html.parser import HTMLParser

from werkzeug.datastructures import MultiDict


class _Page(HTMLParser):
    """Start tags with their attributes, and what a browser would send for the form."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.sent: list[tuple[str, str]] = []
        self._select: dict | None = None
        self._textarea: dict | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "input" and "name" in a and "disabled" not in a:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.sent.append((a["name"], a.get("value", "on")))
            elif kind not in ("submit", "button"):
                self.sent.append((a["name"], a.get("value", "")))
        elif tag == "select" and "disabled" not in a:
            self._select = {"name": a.get("name"), "first": None, "chosen": None}
        elif tag == "option" and self._select is not None:
            if self._select["first"] is None:
                self._select["first"] = a.get("value", "")
            if "selected" in a:
                self._select["chosen"] = a.get("value", "")
        elif tag == "textarea" and "disabled" not in a:
            self._textarea, self._text = a, []

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            chosen = self._select["chosen"] if self._select["chosen"] is not None else self._select["first"]
            self.sent.append((self._select["name"], chosen or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            text = "".join(self._text)
            text = text[2:] if text.startswith("\r\n") else text[1:] if text.startswith("\n") else text
            self.sent.append((self._textarea["name"], text))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)


def page(html: str) -> _Page:
    parsed = _Page()
    parsed.feed(html)
    return parsed


def elements(html: str, tag: str, **match) -> list[dict]:
    want = {k.replace("_", "-"): v for k, v in match.items()}
    return [a for t, a in page(html).tags if t == tag and all(a.get(k) == v for k, v in want.items())]


def one(html: str, tag: str, **match) -> dict:
    found = elements(html, tag, **match)
    assert len(found) == 1, f"{len(found)} <{tag} {match}> in:\n{html}"
    return found[0]


def browser_post(html: str, fill: dict | None = None, **pressed) -> MultiDict:
    """What a browser with JavaScript off sends for the rendered form: the values on the page,
    with ``fill`` typed over them, and the button ``pressed`` (name=value)."""
    posted = MultiDict(page(html).sent)
    for name, value in (fill or {}).items():
        assert name in posted, f"no input {name} on the page"
        posted.setlist(name, [value])
    for name, value in pressed.items():
        posted.add(name, value)
    return posted
