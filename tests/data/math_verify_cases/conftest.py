"""The `test_*.py` files here are upstream math-verify test sources kept verbatim as data.

They are read with `ast` by tests/tasks/test_math_verify_cases.py and must never be
collected or imported by pytest (they import `tests.test_all`, which does not exist here).
"""

collect_ignore_glob = ["*.py"]
