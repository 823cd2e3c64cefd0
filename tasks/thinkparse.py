"""The one place where think tags are parsed (DESIGN.md, "Parsing policy").

It lives in tasks/ so scorers and rewards can split a completion without the harness;
`thinkgate.harness.parsing` re-exports it. It imports nothing from another room.

`parse_completion` sees the assistant prefill plus the completion, so a template that
put `<think>` in the prompt is handled (the completion then holds only `</think>`).

Rules:
- Tags are the exact, case-sensitive strings `<think>` and `</think>`; `<THINK>` and
  `<think type="x">` are text.
- A server's `reasoning_content` counts only when it is a non-blank string; `None`, `""`
  and whitespace mean "absent", and the text is parsed instead. When it counts, it is the
  reasoning and the server's content is the answer (verbatim, tags and all); content blank
  while reasoning is not is `unclosed` whatever the finish reason (a server's reasoning
  parser puts an unterminated trace wholly into `reasoning_content`). One exception: when
  the prefill already closed the thinking (no-think prefill `<think>\\n\\n</think>\\n\\n`),
  the server never saw a block, so its reasoning field is answer text misfiled (vLLM's
  R1 parser files all of a tagless output there) and the text is parsed instead.
- Only a block that opens the text (after optional whitespace) is reasoning, and the
  first `</think>` after its opening tag closes it: a `<think>` inside does not nest.
- A `</think>` with no `<think>` anywhere before it: the template put the opening tag in
  the prompt, and the text before it is reasoning.
- Everything after that first close is the answer, verbatim: later tags, a second block
  (closed or not), code about tags all stay answer text.
- An opened block that never closes (`unclosed`, usually finish_reason "length"): the
  answer is EMPTY. The trace is never handed to a scorer as an answer.
- Reasoning and answer lose their surrounding whitespace (`str.strip()`), nothing else.
  `finish_reason` never changes the split.

Mode compliance is a separate flag: in mode "no_think", `leaked_think` is True when the
answer holds a tag outside code (``` fenced blocks, inline `code`): it opens a new block
or closes one it never opened. In any other mode, or with no mode, it is False.

    >>> p = parse_completion("<think>\\n", "2+2 is 4.\\n</think>\\n\\nThe answer is 4.")
    >>> (p.reasoning, p.answer, p.think_state, p.leaked_think)
    ('2+2 is 4.', 'The answer is 4.', 'closed', False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ThinkState = Literal["closed", "unclosed", "absent"]

OPEN, CLOSE = "<think>", "</think>"
_FENCED = re.compile(r"```.*?(?:```|\Z)", re.DOTALL)  # an unclosed fence runs to the end
_INLINE = re.compile(r"``[^\n]+?``|`[^`\n]+`")


@dataclass(frozen=True)
class Parsed:
    reasoning: str
    answer: str
    think_state: ThinkState
    think_blocks: int  # the reasoning block (0 or 1) + blocks the answer opens outside code
    leaked_think: bool = False  # no_think mode: the answer holds a think tag outside code


def parse_completion(
    prefill: str,
    completion: str,
    reasoning_content: str | None = None,
    finish_reason: str | None = None,
    mode: str | None = None,
) -> Parsed:
    """Split prefill + completion into reasoning and answer (see the module docstring).

    `finish_reason` is accepted for the record; the split never depends on it. `mode` is
    the think mode the request was made in ("think", "no_think", "budget:N", "default").
    """
    server = isinstance(reasoning_content, str) and reasoning_content.strip()
    if server and split_think(prefill)[2] == "closed":  # the prefill closed the thinking
        server, completion = False, reasoning_content + completion
    if server:
        reasoning, answer = reasoning_content, completion
        state: ThinkState = "closed" if completion.strip() else "unclosed"
    else:
        reasoning, answer, state = split_think(prefill + completion)
    answer = answer.strip()
    outside = outside_code(answer)
    opened = outside.count(OPEN)
    leaked = mode == "no_think" and (opened > 0 or CLOSE in outside)
    return Parsed(reasoning.strip(), answer, state, int(state != "absent") + opened, leaked)


def split_think(text: str) -> tuple[str, str, ThinkState]:
    """`(reasoning, answer, think_state)` of one text, whitespace left as it was.

    >>> split_think("<think>a <think> b</think>c</think>")
    ('a <think> b', 'c</think>', 'closed')
    >>> split_think("r</think>a")
    ('r', 'a', 'closed')
    >>> split_think("a <think>r</think>")
    ('', 'a <think>r</think>', 'absent')
    """
    body = text.lstrip()
    if body.startswith(OPEN):
        body = body[len(OPEN):]
        end = body.find(CLOSE)
        if end < 0:
            return body, "", "unclosed"
        return body[:end], body[end + len(CLOSE):], "closed"
    end = text.find(CLOSE)
    if end >= 0 and OPEN not in text[:end]:
        return text[:end], text[end + len(CLOSE):], "closed"
    return "", text, "absent"


def outside_code(text: str) -> str:
    """The text with ``` fenced blocks and inline `code` spans cut out.

    >>> outside_code("a `<think>` b\\n```\\n</think>\\n```\\nc")
    'a  b\\n\\nc'
    """
    return _INLINE.sub("", _FENCED.sub("", text))
