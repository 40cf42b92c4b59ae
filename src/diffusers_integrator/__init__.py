"""diffusers-integrator: skills, MCP tools and evals for integrating new models into Hugging Face diffusers."""

__version__ = "0.1.0"
