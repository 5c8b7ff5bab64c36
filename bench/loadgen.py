"""Closed-loop HTTP load generator, run in its own process.

``concurrency`` clients each keep one HTTP/1.1 connection open and send their
next request as soon as the previous answer has arrived, until the requests
run out or ``max_seconds`` have passed. Requests come prepared in a spec file
(method, path, headers, body each), so one generator drives any endpoint the
same way. It speaks HTTP/1.1 over raw asyncio streams rather than through an
HTTP client library: on a two-core machine shared with the servers under
test, every microsecond the generator spends per request is taken from them.

    python -m bench.loadgen spec.json > result.json

Spec: ``{"host", "port", "concurrency", "max_seconds", "warmup": [Request],
"requests": [Request], "rate"?, "outcomes"?}`` with ``Request = {"method", "path",
"headers", "body", "keep_body"?}``. With ``rate`` (requests per second) the
measured phase is open loop instead: requests are due at a fixed pace whatever
the answers do. With ``outcomes`` the result also lists, for every measured
request, ``[index, status, latency_ms, body]`` (the body only for requests
marked ``keep_body`` and for errors), for callers that check answers one by one.
Loopback only: the host must be 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ERROR_SAMPLES = 5
IDLE_EXPIRY_S = 3.0


def _encode(request: dict[str, Any], host: str, port: int) -> bytes:
    body = request.get("body", "").encode()
    lines = [f"{request.get('method', 'POST')} {request['path']} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in request.get("headers", {}).items()]
    if body:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status, body and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            body += chunk[:-2]
    else:
        body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


async def run_phase(
    host: str,
    port: int,
    requests: list[dict[str, Any]],
    concurrency: int,
    max_seconds: float,
    rate: float | None = None,
    outcomes: bool = False,
) -> dict[str, Any]:
    """Closed loop by default; with ``rate``, open loop: request i is due at
    ``i / rate`` seconds and its latency counts from then, so time spent
    waiting for a free connection is part of it (no coordinated omission)."""
    encoded = [_encode(r, host, port) for r in requests]
    latencies_ms: list[float] = []
    statuses: dict[int, int] = {}
    samples: list[dict[str, Any]] = []
    answers: list[list[Any]] = []
    next_index = 0
    started = time.perf_counter()
    deadline = started + max_seconds
    finished_at = started
    due: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()

    async def schedule() -> None:
        assert rate is not None
        for i in range(len(encoded)):
            at = started + i / rate
            if at >= deadline:
                break
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            due.put_nowait((i, at))
        for _ in range(concurrency):
            due.put_nowait(None)

    async def take() -> tuple[int, float | None] | None:
        nonlocal next_index
        if rate is not None:
            return await due.get()
        if next_index >= len(encoded) or time.perf_counter() >= deadline:
            return None
        next_index += 1
        return next_index - 1, None

    async def client() -> None:
        nonlocal finished_at
        reader = writer = None
        last_used = 0.0
        try:
            while (job := await take()) is not None:
                index, scheduled = job
                payload = encoded[index]
                # Servers close idle keep-alive connections (uvicorn after 5 s);
                # like an HTTP client's pool, do not reuse one idle that long.
                if writer is not None and time.perf_counter() - last_used > IDLE_EXPIRY_S:
                    writer.close()
                    reader = writer = None
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                assert reader is not None
                t0 = time.perf_counter() if scheduled is None else scheduled
                try:
                    writer.write(payload)
                    status, body, keep = await _read_response(reader)
                except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                    status, body, keep = 0, repr(exc).encode(), False
                t1 = last_used = time.perf_counter()
                latencies_ms.append((t1 - t0) * 1000)
                finished_at = max(finished_at, t1)
                statuses[status] = statuses.get(status, 0) + 1
                if outcomes:
                    keep_body = requests[index].get("keep_body") or not 200 <= status < 400
                    kept = body[:2000].decode(errors="replace") if keep_body else None
                    answers.append([index, status, round((t1 - t0) * 1000, 3), kept])
                if not 200 <= status < 300 and len(samples) < ERROR_SAMPLES:
                    samples.append({"status": status, "body": body[:400].decode(errors="replace")})
                if not keep:
                    writer.close()
                    reader = writer = None
        finally:
            if writer is not None:
                writer.close()

    scheduler = [schedule()] if rate is not None else []
    await asyncio.gather(*scheduler, *[client() for _ in range(concurrency)])
    elapsed = finished_at - started
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    result = {
        "requests": len(latencies_ms),
        "ok": ok,
        "errors": len(latencies_ms) - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "error_samples": samples,
        "elapsed_s": round(elapsed, 3),
        "throughput_rps": round(len(latencies_ms) / elapsed, 1) if elapsed > 0 else None,
        "latencies_ms": latencies_ms,
        "stopped_by_time": len(latencies_ms) < len(encoded),
        "offered_rate_rps": rate,
    }
    if outcomes:
        result["outcomes"] = answers
    return result


async def main_async(spec: dict[str, Any]) -> dict[str, Any]:
    host, port = spec.get("host", HOST), int(spec["port"])
    if host != HOST:
        raise SystemExit("the load generator only sends to 127.0.0.1")
    concurrency = int(spec["concurrency"])
    warmup = None
    if spec.get("warmup"):
        warmup = await run_phase(host, port, spec["warmup"], concurrency, spec["max_seconds"])
        warmup.pop("latencies_ms")
    measured = await run_phase(
        host,
        port,
        spec["requests"],
        concurrency,
        spec["max_seconds"],
        spec.get("rate"),
        outcomes=bool(spec.get("outcomes")),
    )
    return {"warmup": warmup, "measured": measured}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    spec = json.loads(Path(args[0]).read_text())
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # plain asyncio works, at a higher cost per request
        runner = asyncio.run
    result = runner(main_async(spec))
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
