"""A drop folder: files put in DIR are imported, then moved to DIR/done (every order in,
or already there) or DIR/failed (the file refused, or some order in it), each with a
`<name>.report.json` next to it saying what happened. A fixed file can simply be dropped
again: imports are idempotent, so what went in the first time stays unchanged.

The format is taken from the file: `.json` is JSON, a CSV with Shopify's `Lineitem
quantity` column a Shopify export, any other CSV the generic format. Files still being
written (changed in the last `settle` seconds), hidden files, `*.part`/`*.tmp` and the
reports themselves are left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.errors import InvalidInput
from services.imports import ImportService, detect_format

SKIP_SUFFIXES = (".part", ".tmp", ".crdownload", ".report.json")


@dataclass(frozen=True)
class DropResult:
    file: str  # where it was dropped
    moved_to: str
    report_file: str
    ok: bool
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "moved_to": self.moved_to,
            "report": self.report_file,
            "ok": self.ok,
            "summary": self.summary,
        }


def _free_name(folder: Path, name: str) -> Path:
    """`name` in `folder`, or `name` with a counter when one is already there."""
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    n = 1
    while target.exists() or target.with_name(target.name + ".report.json").exists():
        target = folder / f"{stem}.{n}{suffix}"
        n += 1
    return target


class DropFolder:
    def __init__(self, imports: ImportService, folder: str | Path, *, settle: float = 2.0) -> None:
        self.imports = imports
        self.folder = Path(folder)
        self.settle = settle

    def _check(self) -> None:
        if not self.folder.is_dir():
            raise InvalidInput(f"no folder {self.folder}")
        for sub in ("done", "failed"):
            try:
                (self.folder / sub).mkdir(exist_ok=True)
            except OSError as exc:
                raise InvalidInput(f"cannot create {self.folder / sub}: {exc.strerror}") from None

    def pending(self) -> list[Path]:
        """Files ready to import, oldest first."""
        now = time.time()
        ready = []
        for path in self.folder.iterdir():
            name = path.name
            if name.startswith(".") or name.endswith(SKIP_SUFFIXES) or not path.is_file():
                continue
            if now - path.stat().st_mtime < self.settle:
                continue  # still being written
            ready.append(path)
        return sorted(ready, key=lambda p: (p.stat().st_mtime, p.name))

    async def run_once(self) -> list[DropResult]:
        """Import every file waiting now, one after the other."""
        await asyncio.to_thread(self._check)
        results = []
        for path in await asyncio.to_thread(self.pending):
            results.append(await self.take(path))
        return results

    async def take(self, path: Path) -> DropResult:
        fmt = await asyncio.to_thread(detect_format, path)
        report: dict[str, Any]
        try:
            done = await self.imports.import_file(path, fmt)
            ok, summary, report = done.ok, done.summary(), done.to_json()
        except InvalidInput as exc:
            ok, summary = False, f"{path.name}: refused: {exc}"
            report = {"file": str(path), "format": fmt, "error": str(exc), "ok": False}
        where = self.folder / ("done" if ok else "failed")

        def move() -> tuple[Path, Path]:
            target = _free_name(where, path.name)
            path.rename(target)
            report["file"] = str(target)
            report_file = target.with_name(target.name + ".report.json")
            report_file.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
            return target, report_file

        target, report_file = await asyncio.to_thread(move)
        return DropResult(str(path), str(target), str(report_file), ok, summary)

    async def run(
        self,
        stop: asyncio.Event,
        *,
        interval: float = 2.0,
        on_result: Callable[[DropResult], None] | None = None,
    ) -> None:
        """Watch until `stop` is set, importing files as they arrive."""
        while not stop.is_set():
            for result in await self.run_once():
                if on_result is not None:
                    on_result(result)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
