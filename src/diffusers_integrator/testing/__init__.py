"""A worked example: a research-style DiT, its diffusers port, the conversion between them, and a tiny pipeline.

The reference (`research_dit`) is written the way research repos are: a fused `qkv`, `[shift, scale]`
modulation, a patch projection on hand-made patches, complex-number RoPE, its own RMSNorm with a `scale`
parameter. The port (`diffusers_dit`) follows diffusers' conventions (`ModelMixin`, `ConfigMixin`,
`@register_to_config`, an attention processor calling `dispatch_attention_fn`, an attention module with
`AttentionModuleMixin`). `convert` maps one state dict to the other with a `KeyMap`. Used by the tests, the
mutation benchmark, the demo and the skill as the canonical parity exercise.
"""
