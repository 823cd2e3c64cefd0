"""Throughput of `--backend openai` against a fixed-latency loopback server.

A fake OpenAI server (raw asyncio HTTP/1.1, keep-alive, uvloop when installed) answers
every chat request after a fixed latency (default 50 ms), no faults; it runs in its own
process. In the same run, for each concurrency, three clients send the same number of
requests, in turn, `--repeats` times each (the best run counts):

- raw: the ceiling this machine allows: no HTTP library, one keep-alive connection per
  worker on asyncio streams, the request bytes written and Content-Length bytes read;
- httpx: a bare httpx.AsyncClient with `concurrency` workers (the naive client);
- thinkgate: `OpenAIBackend.generate` (aiohttp, retries, endpoint choice, the queue to
  the runner's thread).
All three run on the backend's event loop (uvloop when installed). Prints req/s, Little's
bound (concurrency / latency) and thinkgate's ratios (goal: >= 0.95 of raw at every
concurrency).

    python bench/http_throughput.py --concurrency 8 32 64 --latency-ms 50

Measured on a 2-core box (server and clients share it), best of 3, req/s:

     conc   little      raw    httpx  thinkgate  tg/raw tg/httpx tg/little
        8      160      158      149        153   0.969    1.029     0.955
       32      640      624      416        597   0.957    1.437     0.933
       64     1280     1223      118       1197   0.979   10.167     0.935

One httpx pool collapses at 64 in flight (~100 req/s): httpcore scans every connection on
each request. The backend used httpx first, sharded into pools of 8: 0.61 of raw at 64
on the default loop; aiohttp brought it to 0.93, uvloop to 0.98.
"""

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time

import httpx

from thinkgate.harness.backends.openai_backend import run_async  # the backend's event loop, for a fair ceiling

HERE = os.path.abspath(__file__)
ANSWER = json.dumps({"choices": [{"message": {"content": "answer: 42", "reasoning_content": None},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 20, "completion_tokens": 4}}).encode()


def serve(port: int, latency: float) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    response = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(ANSWER)}\r\n\r\n"
                .encode() + ANSWER)

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                n = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        n = int(line[15:])
                await reader.readexactly(n)
                await asyncio.sleep(latency)
                writer.write(response)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_requests(n: int):
    from thinkgate.harness.backends.base import EngineRequest
    from thinkgate.harness.profiles import Sampling

    return [EngineRequest(f"k{i}", "q", tuple(range(20)), Sampling(0.6, 0.95, 20, 0.0, 64, i),
                          messages=({"role": "user", "content": f"What is {i} + 1?"},), prefill="<think>\n",
                          template_kwargs=(("enable_thinking", True),)) for i in range(n)]


def run_thinkgate(url: str, concurrency: int, n: int) -> float:
    from thinkgate.harness.backends.openai_backend import OpenAIConfig, make_openai_backend

    backend = make_openai_backend("m", OpenAIConfig(base_urls=(url,), concurrency=concurrency, timeout_s=30,
                                                    api_key_env=None))
    requests = make_requests(n)
    t0 = time.perf_counter()
    got = sum(len(b) for b in backend.generate(requests) if all(g.finish_reason == "stop" for g in b))
    dt = time.perf_counter() - t0
    assert got == n, f"thinkgate: {got}/{n} ok"
    return n / dt


def run_bare(url: str, concurrency: int, n: int) -> float:
    body = {"model": "m", "messages": [{"role": "user", "content": "What is 1 + 1?"},
                                       {"role": "assistant", "content": "<think>\n"}],
            "temperature": 0.6, "top_p": 0.95, "max_tokens": 64, "seed": 1, "top_k": 20,
            "continue_final_message": True, "add_generation_prompt": False,
            "chat_template_kwargs": {"enable_thinking": True}}

    async def main() -> float:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=url + "/v1", limits=limits, timeout=30) as client:
            left = n

            async def worker():
                nonlocal left
                while left > 0:
                    left -= 1
                    r = await client.post("/chat/completions", json=body)
                    r.raise_for_status()
                    r.json()["choices"][0]["message"]["content"]

            t0 = time.perf_counter()
            await asyncio.gather(*[worker() for _ in range(concurrency)])
            return n / (time.perf_counter() - t0)

    return run_async(main())


def run_raw(url: str, concurrency: int, n: int) -> float:
    """The ceiling: no HTTP library at all. Each worker keeps one connection (asyncio
    streams), writes the same request bytes and reads exactly Content-Length back."""
    host, port = url.rsplit("//", 1)[1].split(":")
    payload = json.dumps({"model": "m", "messages": [{"role": "user", "content": "What is 1 + 1?"}],
                          "max_tokens": 64}).encode()
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(payload)}\r\n\r\n").encode() + payload

    async def main() -> float:
        left = n

        async def worker():
            nonlocal left
            reader, writer = await asyncio.open_connection(host, int(port))
            while left > 0:
                left -= 1
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                size = next(int(h.split(b":")[1]) for h in head.split(b"\r\n")
                            if h.lower().startswith(b"content-length:"))
                json.loads(await reader.readexactly(size))["choices"][0]["message"]["content"]
            writer.close()

        t0 = time.perf_counter()
        await asyncio.gather(*[worker() for _ in range(concurrency)])
        return n / (time.perf_counter() - t0)

    return run_async(main())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--seconds", type=float, default=2.5, help="target length of one run at Little's bound")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--serve", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    latency = args.latency_ms / 1000
    if args.serve is not None:
        serve(args.serve, latency)
        return
    port = free_port()
    proc = subprocess.Popen([sys.executable, HERE, "--serve", str(port), "--latency-ms", str(args.latency_ms)])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        run_bare(url, 8, 50)
        run_thinkgate(url, 8, 50)  # warm-up (imports, connections)
        print(f"latency {args.latency_ms:g} ms, best of {args.repeats}; req/s")
        bench = []
        print(f"{'conc':>5} {'little':>8} {'raw':>8} {'httpx':>8} {'thinkgate':>10} {'tg/raw':>7} "
              f"{'tg/httpx':>8} {'tg/little':>9}")
        for c in args.concurrency:
            little = c / latency
            n = max(200, int(little * args.seconds))
            raw, bare, tg = [], [], []
            for _ in range(args.repeats):
                raw.append(run_raw(url, c, n))
                bare.append(run_bare(url, c, n))
                tg.append(run_thinkgate(url, c, n))
            r, b, t = max(raw), max(bare), max(tg)
            print(f"{c:>5} {little:>8.0f} {r:>8.0f} {b:>8.0f} {t:>10.0f} {t / r:>7.3f} {t / b:>8.3f} "
                  f"{t / little:>9.3f}", flush=True)
            bench.append(json.dumps({
                "figure": f"--backend openai throughput / raw-socket ceiling, {c} in flight", "goal": ">= 0.95",
                "value": round(t / r, 3), "unit": "x raw req/s", "pass": bool(t / r >= 0.95),
                "detail": (f"{args.latency_ms:g} ms server latency, best of {args.repeats}: thinkgate {t:.0f}, "
                           f"raw {r:.0f}, httpx {b:.0f} req/s")}))
        for line in bench:
            print("BENCH " + line, flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
