"""Tokens and dollars per agent, and the limits that stop a run before it overspends.

Prices are list prices per million tokens by model family, as published by Anthropic when this was written;
cache writes (5-minute) cost 1.25x the input price and cache reads 0.1x. A model whose family is not in the
table is priced as the most expensive family, and the report says the price was assumed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


# USD per million tokens: (input, output).
PRICES: dict[str, tuple[float, float]] = {
    "opus": (5.0, 25.0),
    "sonnet": (3.0, 15.0),
    "haiku": (1.0, 5.0),
}
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1
_FALLBACK_FAMILY = "opus"


def price_of(model: str) -> tuple[float, float, bool]:
    """(input, output) USD per million tokens for `model`, and whether the price was assumed."""
    for family, price in PRICES.items():
        if family in model.lower():
            return (*price, False)
    return (*PRICES[_FALLBACK_FAMILY], True)


class AgentUsage(BaseModel):
    """What one agent used over the run (all its delegations together)."""

    requests: int = 0
    input_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    price_assumed: bool = Field(default=False, description="The model's family has no price in the table.")

    def add(self, usage: Any, model: str) -> float:
        """Counts one reply's `usage`; returns what it cost."""
        price_in, price_out, assumed = price_of(model)
        fresh = int(getattr(usage, "input_tokens", 0) or 0)
        written = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
        read = int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        out = int(getattr(usage, "output_tokens", 0) or 0)
        cost = (
            fresh * price_in
            + written * price_in * CACHE_WRITE_FACTOR
            + read * price_in * CACHE_READ_FACTOR
            + out * price_out
        ) / 1_000_000
        self.requests += 1
        self.input_tokens += fresh
        self.cache_write_tokens += written
        self.cache_read_tokens += read
        self.output_tokens += out
        self.cost_usd += cost
        self.price_assumed = self.price_assumed or assumed
        return cost


def usage_table(agents: dict[str, AgentUsage]) -> str:
    """The per-agent table printed at the end of a run."""
    header = (
        f"{'agent':<8} {'requests':>8} {'input':>10} {'cache write':>12} {'cache read':>11} {'output':>9} {'cost':>9}"
    )
    lines = [header, "-" * len(header)]
    total = AgentUsage()
    for name, used in agents.items():
        lines.append(_row(name, used))
        for field in ("requests", "input_tokens", "cache_write_tokens", "cache_read_tokens", "output_tokens"):
            setattr(total, field, getattr(total, field) + getattr(used, field))
        total.cost_usd += used.cost_usd
        total.price_assumed = total.price_assumed or used.price_assumed
    lines.append(_row("total", total))
    if total.price_assumed:
        lines.append(f"(price assumed: the model's family is not in the table; priced as {_FALLBACK_FAMILY})")
    return "\n".join(lines)


def _row(name: str, used: AgentUsage) -> str:
    return (
        f"{name:<8} {used.requests:>8} {used.input_tokens:>10,} {used.cache_write_tokens:>12,} "
        f"{used.cache_read_tokens:>11,} {used.output_tokens:>9,} {'$' + format(used.cost_usd, '.4f'):>9}"
    )
