"""Cold start to an answered `tools/list`: our server vs a bare MCPServer with one tool.

Each run spawns a fresh interpreter over stdio (`python -m diffusers_integrator.cli serve`, as a client's config
starts it, vs a script holding `MCPServer("bare")` and one `echo` tool), connects the SDK client, lists the tools
and disconnects. Runs alternate between the two servers so machine noise hits both alike; wall-clock medians and
their ratio are printed, with the servers' own CPU time (less sensitive to other jobs on the machine).

Our server lists its tools from the manifest a previous start wrote (`server/manifest.py`): the first start after
an install or upgrade builds every tool and writes it; that first start is timed apart (an empty cache folder),
every later one uses it. A start that rewrote the manifest (a file of the package was edited while the benchmark
ran, as happens in a shared working tree) is left out and counted. Target: ratio of medians <= 1.15. Exits 1
when missed.

Run: `.venv/bin/python benchmarks/startup.py [--runs N]`
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters
from support.clone import machine_load


TARGET = 1.15
BARE_SERVER = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")
@server.tool()
def echo(text: str) -> str:
    return text
server.run("stdio")
"""


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _time_to_tools_list(params: StdioServerParameters) -> tuple[float, int]:
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        tools = (await client.list_tools()).tools
        elapsed = time.perf_counter() - started
    return elapsed, len(tools)


def _run(params: StdioServerParameters) -> tuple[float, float, int]:
    """(wall seconds to the answered tools/list, the server process's CPU seconds, tools listed)."""
    before = _children_cpu()
    elapsed, count = anyio.run(_time_to_tools_list, params)
    return elapsed, _children_cpu() - before, count


def _manifest_stamp(cache: Path) -> list[tuple[str, int]]:
    return sorted((path.name, path.stat().st_mtime_ns) for path in cache.glob("tool-manifest-*.json"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        bare_script = Path(temp) / "bare_server.py"
        bare_script.write_text(BARE_SERVER)
        env = {**os.environ, "DIFFUSERS_INTEGRATOR_CACHE": str(Path(temp) / "cache")}
        command = [sys.executable, "-m", "diffusers_integrator.cli", "serve"]
        ours = StdioServerParameters(command=command[0], args=command[1:], env=env)
        bare = StdioServerParameters(command=sys.executable, args=[str(bare_script)], env=env)
        _run(bare)  # warm the OS file cache for both
        first, first_cpu, count = _run(ours)  # no manifest yet: every tool built, the manifest written
        ours_wall, ours_cpu, bare_wall, bare_cpu = [], [], [], []
        rebuilt = 0
        for _ in range(args.runs):
            wall, cpu, _ = _run(bare)
            bare_wall.append(wall)
            bare_cpu.append(cpu)
            before = _manifest_stamp(Path(temp) / "cache")
            wall, cpu, listed = _run(ours)
            assert listed == count, (listed, count)
            if _manifest_stamp(Path(temp) / "cache") != before:
                # A file of the package changed since the manifest was written (someone editing this tree while
                # the benchmark runs): that start rebuilt every tool, which an installed copy never does.
                rebuilt += 1
                continue
            ours_wall.append(wall)
            ours_cpu.append(cpu)
    if len(ours_wall) < max(3, args.runs // 2):
        print(f"{rebuilt} of {args.runs} starts found the package edited meanwhile and rebuilt: rerun on a quiet tree")
        return 1
    ours_median, bare_median = statistics.median(ours_wall), statistics.median(bare_wall)
    ratio = ours_median / bare_median
    cpu_ratio = statistics.median(ours_cpu) / statistics.median(bare_cpu)
    print(f"machine: {machine_load()}")
    print(
        f"bare MCPServer, one tool       : median {bare_median * 1000:.0f} ms wall, "
        f"{statistics.median(bare_cpu) * 1000:.0f} ms CPU, over {args.runs} runs"
    )
    print(
        f"diffusers-integrator, {count} tools : median {ours_median * 1000:.0f} ms wall, "
        f"{statistics.median(ours_cpu) * 1000:.0f} ms CPU, over {len(ours_wall)} runs"
        + (
            f" ({rebuilt} more left out: the package was edited meanwhile, so they rebuilt every tool)"
            if rebuilt
            else ""
        )
    )
    print(
        f"  its first start (no manifest yet: every tool built): {first * 1000:.0f} ms wall, "
        f"{first_cpu * 1000:.0f} ms CPU ({first / bare_median:.2f}x)"
    )
    print(
        f"ratio of medians: {ratio:.3f} wall, {cpu_ratio:.3f} CPU (target <= {TARGET}) -> "
        f"{'met' if ratio <= TARGET else 'MISSED'}"
    )
    print(f"commands: {' '.join(command)}  vs  python bare_server.py (MCPServer + one tool)")
    print("command: .venv/bin/python benchmarks/startup.py " + " ".join(sys.argv[1:]))
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
