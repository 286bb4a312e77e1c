"""The demo shop's orders database, first used by several workers at the same moment (each
process creates and seeds it on first use): every one of them finds the order."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

CHILD = """
import asyncio, sys, time
from actions.orders_db import find_order
start = float(sys.argv[1])
time.sleep(max(0.0, start - time.time()))  # every process at the same moment
order = asyncio.run(find_order("NW-10002"))
print(order["status"] if order else "missing")
"""


def test_workers_creating_the_shop_database_at_once_all_find_the_order(tmp_path: Path) -> None:
    for round_ in range(3):
        env = {**os.environ, "SHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / f'shop{round_}.db'}"}
        start = time.time() + 3.0  # after every child has imported SQLAlchemy
        children = [subprocess.Popen([sys.executable, "-c", CHILD, str(start)], env=env, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True) for _ in range(4)]
        results = [child.communicate(timeout=60) for child in children]
        for child, (out, err) in zip(children, results):
            assert child.returncode == 0 and out.strip() == "shipped", err[-2000:]
