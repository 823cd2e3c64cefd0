"""The one place where think tags are parsed (DESIGN.md, "Parsing policy").

`parse_completion` sees the assistant prefill plus the completion, so a template that
put `<think>` in the prompt is handled (the completion then holds only `</think>`).
A server's `reasoning_content`, when given, is the reasoning.

Rules, in order:
- A `<think>` … `</think>` block is reasoning; all blocks are joined (models that think
  twice), and the answer is the text outside the blocks.
- Tags inside a fenced code block (```) of the answer are text, not tags.
- A `</think>` with no opening tag (R1 templates that prefill `<think>` elsewhere):
  what precedes it is reasoning.
- Thinking still open at the end (`think_state="unclosed"`, usually finish_reason
  "length"): the answer is EMPTY. The trace is never handed to a scorer as an answer.

    >>> p = parse_completion("<think>\\n", "2+2 is 4.\\n</think>\\n\\nThe answer is 4.")
    >>> (p.reasoning, p.answer, p.think_state)
    ('2+2 is 4.', 'The answer is 4.', 'closed')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ThinkState = Literal["closed", "unclosed", "absent"]

OPEN, CLOSE, FENCE = "<think>", "</think>", "```"
_TOKENS = re.compile(r"```|<think>|</think>")


@dataclass(frozen=True)
class Parsed:
    reasoning: str
    answer: str
    think_state: ThinkState
    think_blocks: int  # how many think blocks (prefill included); >1 or text between = odd


def parse_completion(
    prefill: str,
    completion: str,
    reasoning_content: str | None = None,
    finish_reason: str | None = None,
) -> Parsed:
    """Split prefill + completion into reasoning and answer (see the module docstring)."""
    if reasoning_content is not None:
        return _parse_with_server_reasoning(completion, reasoning_content, finish_reason)
    return _parse_text(prefill + completion)


def _parse_with_server_reasoning(content: str, reasoning: str, finish_reason: str | None) -> Parsed:
    # The server already split it. Its content may still hold tags (a parser that missed).
    inner = _parse_text(content)
    parts = [p for p in (reasoning.strip(), inner.reasoning) if p]
    if inner.think_state == "unclosed" or (finish_reason == "length" and not content.strip()):
        return Parsed("\n\n".join(parts) or content.strip(), "", "unclosed", inner.think_blocks + 1)
    blocks = inner.think_blocks + (1 if reasoning.strip() else 0)
    return Parsed("\n\n".join(parts), inner.answer, "closed" if blocks else "absent", blocks)


def _parse_text(text: str) -> Parsed:
    reasoning: list[str] = []
    answer: list[str] = []
    in_think = in_fence = False
    blocks = 0
    pos = 0  # start of the not-yet-assigned text
    think_start = 0
    for m in _TOKENS.finditer(text):
        tok = m.group()
        if in_think:
            if tok == CLOSE:
                reasoning.append(text[think_start:m.start()])
                in_think, pos = False, m.end()
            continue
        if tok == FENCE:
            in_fence = not in_fence
        elif in_fence:
            continue  # a tag inside a code block of the answer is text
        elif tok == OPEN:
            answer.append(text[pos:m.start()])
            in_think, think_start, blocks = True, m.end(), blocks + 1
        elif tok == CLOSE and blocks == 0 and not "".join(answer).strip():
            # `</think>` with no opening tag before any answer: what precedes is reasoning
            reasoning.append(text[pos:m.start()])
            blocks, pos = 1, m.end()
    if in_think:
        reasoning.append(text[think_start:])
        return Parsed(_join(reasoning), "", "unclosed", blocks)
    answer.append(text[pos:])
    return Parsed(_join(reasoning), "".join(answer).strip(), "closed" if blocks else "absent", blocks)


def _join(parts: list[str]) -> str:
    return "\n\n".join(p.strip() for p in parts if p.strip())
