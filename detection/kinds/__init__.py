"""The built-in detector kinds. Importing this package registers each in ``engine.KINDS``."""

from detection.engine import KINDS
from detection.kinds import (  # noqa: F401 (each registers its kind)
    claim_vs_result,
    classifier,
    code,
    llm_judge,
    pattern,
    tool_action,
)

__all__ = ["KINDS"]
