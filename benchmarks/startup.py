"""Cold start to an answered `tools/list`: our server vs a bare MCPServer with one tool.

Each run spawns a fresh interpreter over stdio, connects the SDK client, lists the tools and disconnects.
Runs alternate between the two servers so machine noise hits both alike; medians and their ratio are printed.
Target: ratio <= 1.3.  Run: `.venv/bin/python benchmarks/startup.py [--runs N]`
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters


BARE_SERVER = """
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")
@server.tool()
def echo(text: str) -> str:
    return text
server.run("stdio")
"""


async def _time_to_tools_list(params: StdioServerParameters) -> float:
    started = time.perf_counter()
    async with Client(params, mode="legacy") as client:
        await client.list_tools()
        elapsed = time.perf_counter() - started
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        bare_script = Path(temp) / "bare_server.py"
        bare_script.write_text(BARE_SERVER)
        ours = StdioServerParameters(command=sys.executable, args=["-m", "diffusers_integrator.cli", "serve"])
        bare = StdioServerParameters(command=sys.executable, args=[str(bare_script)])
        anyio.run(_time_to_tools_list, bare)  # warm the OS file cache for both
        anyio.run(_time_to_tools_list, ours)
        ours_times, bare_times = [], []
        for _ in range(args.runs):
            bare_times.append(anyio.run(_time_to_tools_list, bare))
            ours_times.append(anyio.run(_time_to_tools_list, ours))
    ours_median, bare_median = statistics.median(ours_times), statistics.median(bare_times)
    print(f"bare MCPServer, one tool : median {bare_median * 1000:.0f} ms over {args.runs} runs")
    print(f"diffusers-integrator     : median {ours_median * 1000:.0f} ms over {args.runs} runs")
    print(f"ratio                    : {ours_median / bare_median:.2f} (target <= 1.30)")


if __name__ == "__main__":
    main()
