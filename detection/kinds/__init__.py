"""The built-in detector kinds. Importing this package registers each in ``engine.KINDS``."""

from detection.engine import KINDS

__all__ = ["KINDS"]
