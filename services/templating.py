"""E-mail templates: jinja2, the package's own set under `services/templates/`, each file
overridable by a shop's `templates_dir` (same relative path wins).

Every event has three files, `email/<event>.subject.txt`, `email/<event>.txt` and
`email/<event>.html`. HTML is autoescaped; text and subject are not (they are plain text,
and the subject is flattened to one line before it becomes a header). Customer text
(names, comments, addresses) only ever reaches a template as data, so braces or tags in
it are printed, never evaluated. The sandbox keeps a shop's template from reaching into
Python objects. Templates are reloaded when their file changes, so a shop that fixes a
broken template does not need to restart the worker. jinja2 is imported on first use,
so a CLI command that sends nothing does not pay for it.

A template that fails (syntax, an undefined name, a runtime error) raises
`TemplateFailure` whose message names the template and line: it is stored on the
notification so staff can see which file to fix.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

PACKAGE_TEMPLATES = Path(__file__).parent / "templates"

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


class TemplateFailure(Exception):
    """A template could not be loaded or rendered; the message names the file and line."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def one_line(value: object) -> str:
    """Header-safe text: CR, LF and every other control character become one space."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())


def _nl2br(value: object) -> Markup:
    """Escape, then keep the customer's line breaks in HTML."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    return Markup("<br>\n").join(escape(part) for part in text.split("\n"))


class Templates:
    """The template set for one shop: its own directory first, the package's as fallback."""

    def __init__(self, templates_dir: str | Path | None = None) -> None:
        self.search_path: list[Path] = []
        if templates_dir:
            self.search_path.append(Path(templates_dir).expanduser())
        self.search_path.append(PACKAGE_TEMPLATES)
        self._env: ImmutableSandboxedEnvironment | None = None

    @property
    def env(self) -> ImmutableSandboxedEnvironment:
        if self._env is None:
            self._env = self._build()
        return self._env

    def _build(self) -> ImmutableSandboxedEnvironment:
        import jinja2
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader([str(p) for p in self.search_path]),
            autoescape=jinja2.select_autoescape(
                enabled_extensions=("html", "htm"), default_for_string=False, default=False
            ),
            undefined=jinja2.StrictUndefined,
            auto_reload=True,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["nl2br"] = _nl2br
        env.filters["one_line"] = one_line
        return env

    def render_email(self, event: str, context: Mapping[str, Any]) -> RenderedEmail:
        subject = self.render(f"email/{event}.subject.txt", context)
        text = self.render(f"email/{event}.txt", context)
        html = self.render(f"email/{event}.html", context)
        return RenderedEmail(subject=one_line(subject), text=text, html=html)

    def render(self, name: str, context: Mapping[str, Any]) -> str:
        import jinja2

        try:
            return self.env.get_template(name).render(context)
        except jinja2.TemplateNotFound as exc:
            raise TemplateFailure(f"template {exc.name} not found") from exc
        except jinja2.TemplateSyntaxError as exc:
            where = self._relative(exc.filename) if exc.filename else (exc.name or name)
            raise TemplateFailure(
                f"template {where} line {exc.lineno}: {one_line(exc.message or exc)}"
            ) from exc
        except Exception as exc:  # UndefinedError, SecurityError, TypeError in a filter...
            where, line = self._location(exc, name)
            raise TemplateFailure(
                f"template {where} line {line}: {one_line(exc) or type(exc).__name__}"
            ) from exc

    def _relative(self, filename: str) -> str:
        path = Path(filename)
        for root in self.search_path:
            try:
                return path.relative_to(root).as_posix()
            except ValueError:
                continue
        return filename

    def _location(self, exc: BaseException, fallback: str) -> tuple[str, int | str]:
        """The innermost template frame in the traceback (jinja2 rewrites it to the file)."""
        found: tuple[str, int | str] = (fallback, "?")
        for frame in traceback.extract_tb(exc.__traceback__):
            if frame.filename.endswith(".py") or frame.filename.startswith("<"):
                continue
            found = (self._relative(frame.filename), frame.lineno or "?")
        return found
