"""SQLite connections close and let the process end, however their work was cancelled.

Each case runs in its own Python process, because what failed was the process itself:
it printed its last words and then never exited (the console hung on quit).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A query that runs for seconds, so cancellations land while SQLite is busy with it.
PRELUDE = """
import asyncio, sys
from sqlalchemy import text
from services.db import Database

LONG = ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 8000000)"
        " SELECT count(*) FROM c")


async def cancel_twice(db: Database) -> asyncio.Task[None]:
    # A long query cancelled, then cancelled again while its connection is being closed.
    async def query() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(text(LONG))
    task = asyncio.create_task(query())
    await asyncio.sleep(0.3)
    task.cancel()
    await asyncio.sleep(0.05)
    task.cancel()
    return task
"""


def run(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "case.py"
    script.write_text(PRELUDE + textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script), str(tmp_path / "shop.sqlite")],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_query_cancelled_twice_still_closes_its_connection(tmp_path: Path) -> None:
    """Cancelled once, SQLAlchemy closes the connection in a shielded task; cancelled again
    while that waits, it also stops the connection's thread. The close must still end."""
    done = run(
        tmp_path,
        """
        async def main() -> None:
            db = Database(sys.argv[1])
            task = await cancel_twice(db)
            try:
                await task
            except asyncio.CancelledError:
                pass
            await db.dispose()
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            # What is left is the shielded close, waiting for SQLite to finish the query.
            await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 30)
            print("closed", len(others))

        asyncio.run(main())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("closed"), done.stderr


def test_quitting_while_a_close_waits_for_a_query_ends_the_process(tmp_path: Path) -> None:
    """The app quitting cancels the pending close as asyncio.run winds down: it must not
    wait for the query (nor for a stop message nobody reads) before the process exits."""
    done = run(
        tmp_path,
        """
        async def main() -> None:
            await cancel_twice(Database(sys.argv[1]))
            print("quitting")

        asyncio.run(main())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "quitting"


def test_a_connection_never_closed_does_not_keep_the_process_alive(tmp_path: Path) -> None:
    done = run(
        tmp_path,
        """
        async def main() -> None:
            db = Database(sys.argv[1])
            conn = await db.engine.connect()  # never closed, never disposed
            await conn.execute(text("SELECT 1"))
            print("leaving")

        asyncio.run(main())
        """,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "leaving"
