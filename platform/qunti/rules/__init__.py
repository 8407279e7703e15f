"""JSON Logic rules: the public API plugins may use is ``compile`` and ``evaluate``."""
from qunti.rules.engine import CompiledRule, DataLogicError, check, compile, evaluate, truthy

__all__ = ["CompiledRule", "DataLogicError", "check", "compile", "evaluate", "truthy"]
