"""A second process that holds a SQLite file's write lock: `python -m tests.storage.lock_holder DB [SECONDS]`.

It takes the lock with BEGIN IMMEDIATE (waiting up to a minute for it), prints "locked", holds it
for SECONDS or, without SECONDS, until a line arrives on stdin, then commits and prints "released".
"""

from __future__ import annotations

import sqlite3
import sys
import time


def main(argv: list[str]) -> int:
    path = argv[0]
    conn = sqlite3.connect(path, isolation_level=None, timeout=60)
    conn.execute("BEGIN IMMEDIATE")
    print("locked", flush=True)
    if len(argv) > 1:
        time.sleep(float(argv[1]))
    else:
        sys.stdin.readline()
    conn.execute("COMMIT")
    conn.close()
    print("released", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
