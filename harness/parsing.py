"""Think-tag parsing for the harness: a re-export of `thinkgate.tasks.thinkparse`.

The parser lives in tasks/ (scorers and rewards use it without importing the harness);
its module docstring states the rules. Every import from here keeps working.
"""

from thinkgate.tasks.thinkparse import CLOSE, OPEN, Parsed, ThinkState, parse_completion, split_think

__all__ = ["CLOSE", "OPEN", "Parsed", "ThinkState", "parse_completion", "split_think"]
