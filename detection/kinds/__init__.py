"""The built-in detector kinds. Importing this package registers each in ``engine.KINDS``."""

from detection.engine import KINDS
from detection.kinds import llm_judge  # noqa: F401 (registers llm_judge)

__all__ = ["KINDS"]
