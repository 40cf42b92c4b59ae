"""The user's diffusers tree: find and validate it, confine every path to it, write atomically, read git.

`Checkout` (in `tree`) is what every core function takes; `offers` reads which upstream helpers the tree has.
"""

from .tree import STATE_DIR_NAME, Checkout, FileChange, GitFacts, atomic_write, unified_diff


__all__ = ["STATE_DIR_NAME", "Checkout", "FileChange", "GitFacts", "atomic_write", "unified_diff"]
