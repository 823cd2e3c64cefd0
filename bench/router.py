"""The router's speed goals in one command (issue 5): decision latency per feature set
(goal <= 1 ms TF-IDF, <= 15 ms MiniLM, p50 on CPU) and the routing proxy's overhead over
calling the same upstream directly (goal <= 5 ms p50).

    python bench/router.py

Runs bench/router_latency.py, then bench/proxy_overhead.py, each in its own process.
"""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for script in ("router_latency.py", "proxy_overhead.py"):
        print(f"== {script}", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / script), *sys.argv[1:]])
        if rc:
            sys.exit(rc)
