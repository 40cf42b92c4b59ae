"""Planted bugs from the pitfall catalogue, for measuring detection and localisation.

Each `Case` is a reference/candidate pair at a tiny random config. A clean case is a correct port; a mutated
case plants one catalogue bug in the candidate — in its conversion (a state-dict transform) or in its code (a
module swapped for a subclass with the bug, an attribute changed, an input cast at the model's entry) — and
names the candidate modules a correct localisation may blame. Two families:

* `research`: our research-style DiT against its diffusers port (different names: alignment by values);
* `flux`: diffusers' `FluxTransformer2DModel` against a copy of itself (identical names: alignment by name,
  mismatches explained by where the candidate's weights come from);
* `wan`: diffusers' `WanTransformer3DModel` the same way; its expectations were written before the localiser
  was ever run on it (a held-out family).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn

from . import dit_conversion as research_convert
from .research_dit import ResearchDiTConfig, build_reference, example_inputs, randomize_


@dataclass
class Case:
    name: str
    family: str
    pitfall: str
    reference: Callable[[], nn.Module]
    candidate: Callable[[], nn.Module]
    inputs: Callable[[], dict[str, Any]]
    call_reference: Callable[[nn.Module, dict[str, Any]], Any]
    call_candidate: Callable[[nn.Module, dict[str, Any]], Any]
    expected: set[str] = field(default_factory=set)  # acceptable culprits; empty for a clean port

    @property
    def clean(self) -> bool:
        return not self.expected


# --- research family --------------------------------------------------------------------------------------------

RESEARCH_CONFIG = ResearchDiTConfig(depth=2)


def _research_inputs() -> dict[str, Any]:
    return example_inputs(RESEARCH_CONFIG)


def _call_research_ref(model: nn.Module, inputs: dict[str, Any]) -> Any:
    return model(**inputs)


def _call_research_cand(model: nn.Module, inputs: dict[str, Any]) -> Any:
    return model(hidden_states=inputs["x"], timestep=inputs["t"], encoder_hidden_states=inputs["context"])


def _research_port() -> nn.Module:
    """The diffusers port of the research DiT, with the reference's weights converted into it."""
    from .diffusers_dit import TinyDiTTransformer2DModel

    ref_state = build_reference(RESEARCH_CONFIG).state_dict()
    model = TinyDiTTransformer2DModel(**research_convert.convert_config(RESEARCH_CONFIG))
    conversion = research_convert.convert_state_dict(ref_state, RESEARCH_CONFIG, target=model)
    model.load_state_dict(conversion.state_dict, strict=True)
    return model


def _planted(
    port: Callable[[], nn.Module],
    mutate_state: Callable[[dict[str, torch.Tensor]], None] | None = None,
    mutate_model: Callable[[nn.Module], None] | None = None,
) -> Callable[[], nn.Module]:
    """The port with one pitfall planted in its weights (`mutate_state`) or its modules (`mutate_model`)."""

    def build() -> nn.Module:
        model = port()
        if mutate_state is not None:
            state = {k: v.clone() for k, v in model.state_dict().items()}
            mutate_state(state)
            model.load_state_dict(state, strict=True)
        if mutate_model is not None:
            mutate_model(model)
        return model.eval()

    return build


def _research(name: str, pitfall: str, expected: set[str], **mutation: Any) -> Case:
    return Case(
        name=name,
        family="research",
        pitfall=pitfall,
        reference=lambda: build_reference(RESEARCH_CONFIG),
        candidate=_planted(_research_port, **mutation),
        inputs=_research_inputs,
        call_reference=_call_research_ref,
        call_candidate=_call_research_cand,
        expected=expected,
    )


def _self_port_cases(
    family: str, reference: Callable[[], nn.Module], inputs: Callable[[], dict]
) -> Callable[..., Case]:
    """Cases whose reference is a diffusers model and whose port is that model with a pitfall planted."""

    def make(name: str, pitfall: str, expected: set[str], **mutation: Any) -> Case:
        return Case(
            name=name,
            family=family,
            pitfall=pitfall,
            reference=reference,
            candidate=_planted(reference, **mutation),
            inputs=inputs,
            call_reference=_call_diffusers,
            call_candidate=_call_diffusers,
            expected=expected,
        )

    return make


def _call_diffusers(model: nn.Module, inputs: dict[str, Any]) -> Any:
    return model(**inputs)


def _blocks(state: dict[str, torch.Tensor], suffix: str) -> list[str]:
    return [k for k in state if k.endswith(suffix)]


def _reorder(state: dict[str, torch.Tensor], suffix: str, order: list[int]) -> None:
    from ..parity.convert import reorder_chunks

    for key in _blocks(state, suffix):
        state[key] = reorder_chunks(state[key], order)


def _swap_keys(state: dict[str, torch.Tensor], a: str, b: str) -> None:
    for key in list(state):
        if a in key:
            other = key.replace(a, b)
            state[key], state[other] = state[other], state[key]


def _transpose(state: dict[str, torch.Tensor], suffix: str) -> None:
    for key in _blocks(state, suffix):
        state[key] = state[key].t().contiguous()


def _interleave_heads(state: dict[str, torch.Tensor], names: tuple[str, ...], heads: int) -> None:
    """Rows laid out (head_dim, heads) where the model expects (heads, head_dim)."""
    for key in list(state):
        if any(n in key for n in names) and key.endswith(("weight", "bias")):
            t = state[key]
            rows = t.shape[0]
            state[key] = t.reshape(heads, rows // heads, *t.shape[1:]).transpose(0, 1).reshape(t.shape).contiguous()


def _drop_bias(model: nn.Module, path: str) -> None:
    parent_path, _, leaf = path.rpartition(".")
    parent = model.get_submodule(parent_path)
    old = getattr(parent, leaf) if not leaf.isdigit() else parent[int(leaf)]
    new = nn.Linear(old.in_features, old.out_features, bias=False)
    with torch.no_grad():
        new.weight.copy_(old.weight)
    if leaf.isdigit():
        parent[int(leaf)] = new
    else:
        setattr(parent, leaf, new)


def _for_each(model: nn.Module, suffix: str, fn: Callable[[nn.Module], None]) -> None:
    for name, module in list(model.named_modules()):
        if name.endswith(suffix):
            fn(module)


def _set_eps(eps: float) -> Callable[[nn.Module], None]:
    def apply(module: nn.Module) -> None:
        module.eps = eps

    return apply


def _quantise_input(arg: str) -> Callable[[nn.Module], None]:
    """The port casts its latent input to bf16 (noise drawn or kept in the low dtype)."""

    def apply(model: nn.Module) -> None:
        def hook(module, args, kwargs):
            if arg in kwargs:
                kwargs[arg] = kwargs[arg].to(torch.bfloat16).to(kwargs[arg].dtype)
            return args, kwargs

        model.register_forward_pre_hook(hook, with_kwargs=True)

    return apply


def _truncate_timesteps(module: nn.Module) -> None:
    """An int cast of the timestep before the sinusoidal embedding."""

    def hook(mod, args):
        return (args[0].long().to(args[0].dtype),) + tuple(args[1:])

    module.register_forward_pre_hook(hook)


class _LowPrecisionRope(nn.Module):
    """The port's RoPE computed in bf16 (positions and angles), cast back."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, *args: Any) -> Any:
        out = self.inner(*args)
        return tuple(t.to(torch.bfloat16).to(t.dtype) for t in out)


def _research_rope_bf16(model: nn.Module) -> None:
    rope = model.pos_embed
    freqs_dtype_bug = _LowPrecisionRope(rope)
    model.pos_embed = freqs_dtype_bug


def _missing_qk_norm(model: nn.Module) -> None:
    for module in model.modules():
        if hasattr(module, "norm_q") and hasattr(module, "norm_k"):
            module.norm_q = None
            module.norm_k = None


def _wrong_activation(model: nn.Module) -> None:
    for name, module in model.named_modules():
        if name.endswith("net.0") and getattr(module, "approximate", None) == "tanh":
            module.approximate = "none"


def research_cases() -> list[Case]:
    heads = RESEARCH_CONFIG.num_heads
    b0 = "transformer_blocks.0"
    return [
        _research("research/clean", "clean port", set()),
        _research(
            "research/shift_scale_swap",
            "`[shift, scale]` vs `[scale, shift]` in the final modulation",
            {"norm_out"},
            mutate_state=lambda s: (
                _reorder(s, "norm_out.linear.weight", [1, 0]) or _reorder(s, "norm_out.linear.bias", [1, 0])
            ),
        ),
        _research(
            "research/qkv_split_order",
            "fused-QKV split order",
            {f"{b0}.attn"},
            mutate_state=lambda s: _swap_keys(s, "attn.to_q.", "attn.to_k."),
        ),
        _research("research/missing_qk_norm", "missing qk-norm", {f"{b0}.attn"}, mutate_model=_missing_qk_norm),
        _research(
            "research/rope_dtype",
            "RoPE in another dtype",
            {"pos_embed", f"{b0}.attn"},
            mutate_model=_research_rope_bf16,
        ),
        _research(
            "research/timestep_cast",
            "timestep cast to int before the sinusoidal embedding",
            {"time_proj", ""},
            mutate_model=lambda m: _truncate_timesteps(m.time_proj),
        ),
        _research(
            "research/noise_dtype",
            "latents quantised to bf16 at the model's entry",
            {""},
            mutate_model=_quantise_input("hidden_states"),
        ),
        _research(
            "research/norm_eps",
            "norm eps 1e-6 vs 1e-5",
            {f"{b0}.norm2"},
            mutate_model=lambda m: _for_each(m, "norm2", _set_eps(1e-5)),
        ),
        _research(
            "research/transposed_weight",
            "transposed (square) weight",
            {f"{b0}.attn.to_out.0"},
            mutate_state=lambda s: _transpose(s, "attn.to_out.0.weight"),
        ),
        _research(
            "research/dropped_bias",
            "bias dropped in the port",
            {f"{b0}.attn.to_out.0"},
            mutate_model=lambda m: [
                _drop_bias(m, f"transformer_blocks.{i}.attn.to_out.0") for i in range(RESEARCH_CONFIG.depth)
            ],
        ),
        _research(
            "research/wrong_activation",
            "exact GELU instead of tanh",
            {f"{b0}.ff.net.0"},
            mutate_model=_wrong_activation,
        ),
        _research(
            "research/head_interleave",
            "interleaved heads in the q/k/v rows",
            {f"{b0}.attn", f"{b0}.attn.to_q"},
            mutate_state=lambda s: _interleave_heads(s, ("attn.to_q.", "attn.to_k.", "attn.to_v."), heads),
        ),
    ]


# --- flux family ------------------------------------------------------------------------------------------------

FLUX_CONFIG = {
    "patch_size": 1,
    "in_channels": 8,
    "num_layers": 1,
    "num_single_layers": 1,
    "attention_head_dim": 16,
    "num_attention_heads": 4,
    "joint_attention_dim": 32,
    "pooled_projection_dim": 32,
    "axes_dims_rope": [4, 4, 8],
    "guidance_embeds": True,
}


def _flux_reference() -> nn.Module:
    from diffusers import FluxTransformer2DModel

    torch.manual_seed(0)
    return randomize_(FluxTransformer2DModel(**FLUX_CONFIG), seed=1).eval()


def _flux_inputs() -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    h = w = 4
    txt = 6
    img_ids = torch.zeros(h, w, 3)
    img_ids[..., 1] = torch.arange(h)[:, None]
    img_ids[..., 2] = torch.arange(w)[None, :]
    return {
        "hidden_states": torch.randn(1, h * w, FLUX_CONFIG["in_channels"], generator=gen),
        "encoder_hidden_states": torch.randn(1, txt, FLUX_CONFIG["joint_attention_dim"], generator=gen),
        "pooled_projections": torch.randn(1, FLUX_CONFIG["pooled_projection_dim"], generator=gen),
        "timestep": torch.rand(1, generator=gen),
        "guidance": torch.tensor([3.5]),
        "img_ids": img_ids.reshape(h * w, 3),
        "txt_ids": torch.zeros(txt, 3),
    }


_flux = _self_port_cases("flux", _flux_reference, _flux_inputs)


def _identity_qk_norm(model: nn.Module) -> None:
    for module in model.modules():
        if hasattr(module, "norm_q") and hasattr(module, "norm_k"):
            module.norm_q = nn.Identity()
            module.norm_k = nn.Identity()


def _flux_rope_bf16(model: nn.Module) -> None:
    from diffusers.models.transformers.transformer_flux import FluxPosEmbed

    class LowPrecisionFluxPosEmbed(FluxPosEmbed):
        """The port's RoPE tables rounded through bf16."""

        def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            cos, sin = super().forward(ids.to(torch.bfloat16))
            return cos.to(torch.bfloat16).float(), sin.to(torch.bfloat16).float()

    old = model.pos_embed
    model.pos_embed = LowPrecisionFluxPosEmbed(theta=old.theta, axes_dim=old.axes_dim)


def _guidance_off_by_one(model: nn.Module) -> None:
    def hook(module, args, kwargs):
        if kwargs.get("guidance") is not None:
            kwargs["guidance"] = kwargs["guidance"] - 1.0
        return args, kwargs

    model.register_forward_pre_hook(hook, with_kwargs=True)


def flux_cases() -> list[Case]:
    # first block, its attention, norm, feed-forward; the RoPE module, the timestep projection
    anatomy = DiffusersAnatomy(
        "flux", "transformer_blocks.0", "attn", "norm2", "ff", "pos_embed", "time_text_embed.time_proj"
    )
    return [
        _flux("flux/clean", "clean port", set()),
        _flux(
            "flux/shift_scale_swap",
            "`[shift, scale]` chunk order in the adaLN-Zero modulation",
            {"transformer_blocks.0.norm1.linear", "transformer_blocks.0.norm1"},
            mutate_state=lambda s: (
                _reorder(s, "norm1.linear.weight", [1, 0, 2, 3, 4, 5])
                or _reorder(s, "norm1.linear.bias", [1, 0, 2, 3, 4, 5])
            ),
        ),
        *diffusers_port_cases(_flux, anatomy, FLUX_CONFIG["num_attention_heads"], _flux_rope_bf16),
        _flux(
            "flux/guidance_off_by_one",
            "guidance passed as g - 1",
            {"", "time_text_embed"},
            mutate_model=_guidance_off_by_one,
        ),
    ]


@dataclass(frozen=True)
class DiffusersAnatomy:
    """Where a diffusers transformer keeps what the shared mutations break: names under its first block."""

    family: str
    block: str  # the first block, e.g. `transformer_blocks.0`
    attention: str  # its self-attention module
    norm: str  # the block norm whose eps is changed
    feed_forward: str  # its feed-forward (`net.0` activation, `net.2` output projection)
    rope: str  # the model's RoPE module
    time_projection: str  # the sinusoidal timestep projection


def diffusers_port_cases(
    make: Callable[..., Case], anatomy: DiffusersAnatomy, heads: int, rope_bf16: Callable[[nn.Module], None]
) -> list[Case]:
    """The pitfalls every diffusers-layout port can fall into, each expected where the anatomy says."""
    family, attn = anatomy.family, f"{anatomy.block}.{anatomy.attention}"
    ff = f"{anatomy.block}.{anatomy.feed_forward}"
    norm = f"{anatomy.block}.{anatomy.norm}"
    qkv = tuple(f"{anatomy.attention}.to_{name}." for name in "qkv")
    # The cast sits between the caller and the embedding: either is the right place to look.
    time_modules = {anatomy.time_projection, anatomy.time_projection.rpartition(".")[0]}
    return [
        make(
            f"{family}/qkv_split_order",
            "fused-QKV split order",
            {f"{attn}.to_q"},
            mutate_state=lambda s: _swap_keys(s, qkv[0], qkv[1]),
        ),
        make(f"{family}/missing_qk_norm", "missing qk-norm", {attn, f"{attn}.norm_q"}, mutate_model=_identity_qk_norm),
        make(f"{family}/rope_dtype", "RoPE in another dtype", {anatomy.rope}, mutate_model=rope_bf16),
        make(
            f"{family}/timestep_cast",
            "timestep cast to int before the sinusoidal embedding",
            time_modules,
            mutate_model=lambda m: _truncate_timesteps(m.get_submodule(anatomy.time_projection)),
        ),
        make(
            f"{family}/noise_dtype",
            "latents quantised to bf16 at the model's entry",
            {""},
            mutate_model=_quantise_input("hidden_states"),
        ),
        make(
            f"{family}/norm_eps",
            "norm eps 1e-6 vs 1e-5",
            {norm},
            mutate_model=lambda m: _for_each(m, norm, _set_eps(1e-5)),
        ),
        make(
            f"{family}/transposed_weight",
            "transposed (square) weight",
            {f"{attn}.to_out.0"},
            mutate_state=lambda s: _transpose(s, f"{attn}.to_out.0.weight"),
        ),
        make(
            f"{family}/dropped_bias",
            "bias dropped in the port",
            {f"{ff}.net.2"},
            mutate_model=lambda m: _drop_bias(m, f"{ff}.net.2"),
        ),
        make(
            f"{family}/wrong_activation",
            "exact GELU instead of tanh",
            {f"{ff}.net.0"},
            mutate_model=_wrong_activation,
        ),
        make(
            f"{family}/head_interleave",
            "interleaved heads in the q/k/v rows",
            {f"{attn}.to_q"},
            mutate_state=lambda s: _interleave_heads(s, qkv, heads),
        ),
    ]


# --- wan family -------------------------------------------------------------------------------------------------

WAN_CONFIG = {
    "patch_size": (1, 2, 2),
    "num_attention_heads": 2,
    "attention_head_dim": 12,
    "in_channels": 4,
    "out_channels": 4,
    "text_dim": 16,
    "freq_dim": 32,
    "ffn_dim": 32,
    "num_layers": 2,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "rope_max_seq_len": 32,
}


def _wan_reference() -> nn.Module:
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    return randomize_(WanTransformer3DModel(**WAN_CONFIG), seed=2).eval()


def _wan_inputs() -> dict[str, Any]:
    gen = torch.Generator().manual_seed(0)
    return {
        "hidden_states": torch.randn(1, 4, 2, 8, 8, generator=gen),
        "timestep": torch.rand(1, generator=gen) * 1000.0,
        "encoder_hidden_states": torch.randn(1, 6, WAN_CONFIG["text_dim"], generator=gen),
    }


_wan = _self_port_cases("wan", _wan_reference, _wan_inputs)


def _wan_rope_bf16(model: nn.Module) -> None:
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    class LowPrecisionWanRotaryPosEmbed(WanRotaryPosEmbed):
        """The port's RoPE tables rounded through bf16."""

        def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            cos, sin = super().forward(hidden_states)
            return cos.to(torch.bfloat16).to(cos.dtype), sin.to(torch.bfloat16).to(sin.dtype)

    old = model.rope
    model.rope = LowPrecisionWanRotaryPosEmbed(old.attention_head_dim, old.patch_size, old.max_seq_len)


def _swap_modulation_table(state: dict[str, torch.Tensor]) -> None:
    for key in _blocks(state, "scale_shift_table"):
        if key.startswith("blocks."):
            t = state[key]
            state[key] = torch.cat([t[:, 1:2], t[:, 0:1], t[:, 2:]], dim=1)


def wan_cases() -> list[Case]:
    """Held out: these expectations were written before the localiser was run on Wan."""
    anatomy = DiffusersAnatomy("wan", "blocks.0", "attn1", "norm1", "ffn", "rope", "condition_embedder.timesteps_proj")
    return [
        _wan("wan/clean", "clean port", set()),
        _wan(
            "wan/shift_scale_swap",
            "`[shift, scale]` order in the block's modulation table",
            {"blocks.0"},
            mutate_state=_swap_modulation_table,
        ),
        *diffusers_port_cases(_wan, anatomy, WAN_CONFIG["num_attention_heads"], _wan_rope_bf16),
    ]


def all_cases() -> list[Case]:
    return research_cases() + flux_cases() + wan_cases()


# --- scoring ----------------------------------------------------------------------------------------------------


@dataclass
class CaseResult:
    name: str
    pitfall: str
    clean: bool
    output_max_abs: float
    detected_by_outputs: bool  # an output over the dtype tolerance (max abs 1e-3 in float32)
    detected: bool  # the report's verdict: outputs, or a module diverging beyond float noise
    culprit: str | None
    where: str | None
    localized: bool
    seconds: float

    @property
    def correct(self) -> bool:
        return (not self.detected) if self.clean else (self.detected and self.localized)


def evaluate(case: Case) -> CaseResult:
    """Run one case as the runner would (reference recorded and freed, candidate compared) and score it."""
    import time

    from ..parity.compare import compare_outputs
    from ..parity.diagnose import diagnose
    from ..parity.localize import localize_models

    start = time.perf_counter()
    inputs = case.inputs()
    ref_out, cand_out, run = localize_models(
        case.reference,
        case.candidate,
        lambda m: case.call_reference(m, inputs),
        call_candidate=lambda m: case.call_candidate(m, inputs),
    )
    diffs = compare_outputs(ref_out, cand_out)
    loc = diagnose(run)
    fd = loc.first_divergence
    by_outputs = not all(d.passed for d in diffs)
    culprit = None if fd is None else ("" if fd.culprit == "(top level)" else fd.culprit)
    return CaseResult(
        name=case.name,
        pitfall=case.pitfall,
        clean=case.clean,
        output_max_abs=max((d.max_abs or 0.0) for d in diffs),
        detected_by_outputs=by_outputs,
        detected=by_outputs or fd is not None,
        culprit=culprit,
        where=None if fd is None else fd.where,
        localized=culprit in case.expected if culprit is not None else False,
        seconds=time.perf_counter() - start,
    )
