"""Throughput of POST /model/parse under load (wrk, loopback, bounded), side by side, each on
a fresh server: micro-batching off (max_batch 1) and on (32), float32 and int8 weights, one
and two torch threads.

    python bench/parse_throughput.py --project bot/templates/shop --out bench/results
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LUA_TEMPLATE = """wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local bodies = {
%s
}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, bodies[(n %% #bodies) + 1])
end
"""


def messages(project: Path, data: Path, limit: int = 2000) -> list[str]:
    """Distinct messages, so no cache or repeated text flatters the numbers: the project's
    held-out tests, then BANKING77's test questions when ../shared/data is there."""
    from training.data import load_csv, load_nlu

    tests = project / "tests"
    texts = [e.text for e in load_nlu([tests / "held_out.yml"]).examples] if (tests / "held_out.yml").exists() else []
    if (tests / "out_of_scope.txt").exists():
        texts += [t.strip() for t in (tests / "out_of_scope.txt").read_text().splitlines() if t.strip()]
    if (data / "banking77" / "test.csv").exists():
        texts += [e.text for e in load_csv(data / "banking77" / "test.csv").examples]
    return list(dict.fromkeys(texts))[:limit]


def lua_script(texts: list[str]) -> str:
    bodies = ",\n".join("[==[" + json.dumps({"text": t}) + "]==]" for t in texts if "]==]" not in t)
    return LUA_TEMPLATE % bodies


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            body = json.loads(exc.read() or b"{}")
            if body.get("error"):
                raise RuntimeError(f"the server cannot load its models: {body['error']}") from None
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(url)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run_one(project: Path, max_batch: int, quantize: str, threads: int, connections: int, seconds: int,
            script: Path) -> dict[str, object]:
    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="sb-parse-"))
    env = {**os.environ, "SWITCHBOARD_MAX_BATCH": str(max_batch), "SWITCHBOARD_NLU_QUANTIZE": quantize,
           "SWITCHBOARD_TORCH_THREADS": str(threads), "SWITCHBOARD_RATE_LIMIT": "0",  # wrk: one address
           "SWITCHBOARD_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bot.db'}",
           "SHOP_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'shop.db'}"}
    proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "--project", str(project), "run", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health", proc)
        base = f"http://127.0.0.1:{port}/model/parse"
        subprocess.run(["wrk", "-t1", "-c4", "-d3s", "-s", str(script), base], capture_output=True, check=True)
        out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
        errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
        return {
            "max_batch": max_batch, "quantize": quantize, "torch_threads": threads,
            "connections": connections, "requests_per_s": rps,
            "latency_ms_p50": round(float(p50.group(1)) * scale[p50.group(2)], 2) if p50 else None,
            "non_2xx": int(errors.group(1)) if errors else 0, "server_peak_rss_mb": rss_mb(proc.pid),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--project", default=str(REPO / "bot" / "templates" / "shop"))
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk); skipping the throughput bench", file=sys.stderr)
        return 0
    texts = messages(Path(args.project), Path(args.data))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua_script(texts))
    configurations = [(1, "int8", 1), (32, "none", 1), (32, "int8", 1), (32, "int8", 2)]
    runs = [run_one(Path(args.project), b, q, t, args.connections, args.seconds, Path(fh.name))
            for b, q, t in configurations]
    report = {"endpoint": "POST /model/parse", "runs": runs, "cpus": os.cpu_count(), "distinct_messages": len(texts),
              "batching_speedup": round(runs[2]["requests_per_s"] / runs[0]["requests_per_s"], 2),  # type: ignore[operator]
              "int8_speedup": round(runs[2]["requests_per_s"] / runs[1]["requests_per_s"], 2),  # type: ignore[operator]
              "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "parse_throughput.json").write_text(json.dumps(report, indent=2))
    lines = ["# /model/parse throughput (wrk, loopback)", "",
             f"{len(texts)} distinct messages in rotation; wrk with 2 threads on the same {os.cpu_count()}-core machine.", "",
             "| max_batch | weights | torch threads | connections | requests/s | p50 ms | non-2xx | server peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['max_batch']} | {r['quantize'] if r['quantize'] == 'int8' else 'float32'} | {r['torch_threads']} "
              f"| {r['connections']} | {r['requests_per_s']} | {r['latency_ms_p50']} | {r['non_2xx']} "
              f"| {r['server_peak_rss_mb']} |" for r in runs]
    lines += ["", f"Micro-batching speed-up (int8, 1 thread): x{report['batching_speedup']}; "
              f"int8 over float32 (batching on): x{report['int8_speedup']}"]
    (out / "parse_throughput.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
