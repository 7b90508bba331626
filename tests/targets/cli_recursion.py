"""cli_recursion: recurses until RecursionError, at the default recursion
limit and then at a lowered one, and prints how many frames deep each got.
The numbers are python's own for the way the program was started, which
python -m pyusdt must not change."""

import sys
import traceback


def down(n: int) -> int:
    return down(n + 1)


def frames_in(exc: BaseException) -> int:
    return len(traceback.extract_tb(exc.__traceback__))


def attempt(name: str) -> None:
    try:
        down(0)
    except RecursionError as exc:
        print(name, "RecursionError", frames_in(exc), exc, flush=True)


attempt("default limit")
sys.setrecursionlimit(97)
attempt("limit 97")
