"""How much latency does the routing proxy add?

A fake OpenAI upstream with a fixed small latency runs in its own process; the proxy
(`serve()`, the same code as `thinkgate router serve`, profile `generic`, a stand-in
router that scores by digits) runs in another. One client sends the same chat request
sequentially, alternating between the upstream directly and the proxy, on kept-alive
connections, after a warm-up. Prints p50/p99 per path and the overhead (goal: <= 5 ms p50).

    python bench/proxy_overhead.py --requests 300 --latency-ms 2 [--quick]
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import httpx
import numpy as np

HERE = os.path.abspath(__file__)


class DigitRouter:
    threshold = 0.5
    meta = {"name": "digits (bench stand-in)"}

    def score(self, texts):
        return np.array([0.9 if any(c.isdigit() for c in t) else 0.1 for t in texts])


def run_upstream(port: int, latency: float) -> None:
    import uvicorn
    from fastapi import FastAPI, Request
    from fastapi.responses import StreamingResponse

    app = FastAPI()
    answer = {"id": "c1", "object": "chat.completion", "created": 0, "model": "fake",
              "choices": [{"index": 0, "message": {"role": "assistant", "content": "4"},
                           "finish_reason": "stop"}],
              "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11}}

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        body = await request.json()
        await asyncio.sleep(latency)
        if body.get("stream"):
            async def gen():
                for piece in ("The", " answer", " is", " 4"):
                    chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "fake",
                             "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
                    yield f"data: {json.dumps(chunk)}\n\n"
                yield "data: [DONE]\n\n"
            return StreamingResponse(gen(), media_type="text/event-stream")
        return answer

    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": "fake", "object": "model", "created": 0, "owned_by": "b"}]}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def run_proxy(port: int, upstream: str) -> None:
    from thinkgate.harness.proxy import ProxyConfig, serve

    serve(ProxyConfig(upstream=upstream, profile="generic"), port=port, router=DigitRouter())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            sys.exit(f"{url} exited with {proc.returncode}")
        try:
            httpx.get(url + "/v1/models", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    sys.exit(f"{url} did not start in 60 s")


def percentiles(ms: list[float]) -> str:
    a = np.array(ms)
    return f"p50 {np.percentile(a, 50):6.2f} ms   p99 {np.percentile(a, 99):6.2f} ms   mean {a.mean():6.2f} ms"


def measure(direct: str, proxied: str, n: int, stream: bool) -> str:
    """Print both paths' latencies and the overhead; return the BENCH line."""
    body = {"model": "fake", "max_tokens": 16, "stream": stream,
            "messages": [{"role": "user", "content": "What is 2+2? Answer with a number."}]}
    times = {direct: [], proxied: []}
    with httpx.Client(timeout=30) as client:
        def once(base: str) -> float:
            t0 = time.perf_counter()
            with client.stream("POST", base + "/v1/chat/completions", json=body) as r:
                r.read()
                assert r.status_code == 200, r.text
            return 1000 * (time.perf_counter() - t0)

        for _ in range(30):  # warm-up: connections, imports, JIT-free but cache-warm paths
            once(direct), once(proxied)
        for i in range(n):
            order = (direct, proxied) if i % 2 == 0 else (proxied, direct)
            for base in order:
                times[base].append(once(base))
    d, p = times[direct], times[proxied]
    diffs = [b - a for a, b in zip(d, p)]
    label = "stream" if stream else "json  "
    over = float(np.percentile(p, 50) - np.percentile(d, 50))
    print(f"[{label}] direct : {percentiles(d)}")
    print(f"[{label}] proxied: {percentiles(p)}")
    print(f"[{label}] overhead: p50 {over:.2f} ms, "
          f"p99 {np.percentile(p, 99) - np.percentile(d, 99):.2f} ms, "
          f"median paired difference {statistics.median(diffs):.2f} ms  (goal: <= 5 ms p50)")
    return "BENCH " + json.dumps({
        "figure": f"routing proxy overhead p50 ({label.strip()})", "goal": "<= 5 ms", "value": round(over, 3),
        "unit": "ms", "pass": bool(over <= 5.0),
        "detail": (f"{n} sequential requests per path; direct p50 {np.percentile(d, 50):.2f} ms, proxied "
                   f"{np.percentile(p, 50):.2f} ms; median paired difference {statistics.median(diffs):.2f} ms")})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--latency-ms", type=float, default=2.0, help="the fake upstream's fixed latency")
    ap.add_argument("--quick", action="store_true", help="smoke sizes: 30 requests per path")
    ap.add_argument("--role", choices=["bench", "upstream", "proxy"], default="bench", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--upstream", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.requests = 30
    if args.role == "upstream":
        return run_upstream(args.port, args.latency_ms / 1000)
    if args.role == "proxy":
        return run_proxy(args.port, args.upstream)

    up_port, proxy_port = free_port(), free_port()
    direct, proxied = f"http://127.0.0.1:{up_port}", f"http://127.0.0.1:{proxy_port}"
    procs = []
    try:
        procs.append(subprocess.Popen([sys.executable, HERE, "--role", "upstream", "--port", str(up_port),
                                       "--latency-ms", str(args.latency_ms)]))
        wait_ready(direct, procs[-1])
        procs.append(subprocess.Popen([sys.executable, HERE, "--role", "proxy", "--port", str(proxy_port),
                                       "--upstream", direct + "/v1"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_ready(proxied, procs[-1])
        print(f"{args.requests} sequential requests per path, upstream latency {args.latency_ms:g} ms, "
              f"{os.cpu_count()} CPUs")
        lines = [measure(direct, proxied, args.requests, stream) for stream in (False, True)]
        for line in lines:
            print(line, flush=True)
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


if __name__ == "__main__":
    main()
