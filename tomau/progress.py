"""Progress bars for every command: shown only where asked for and on a terminal (a log file, a pipe or a job
array's output gets none; tqdm's ``disable=None`` checks stderr)."""
from __future__ import annotations


def progress_bar(iterable=None, *, show: bool = True, **kwargs):
    """A tqdm bar over ``iterable`` (or with ``total=``) that draws only when ``show`` and stderr is a terminal."""
    from tqdm import tqdm

    return tqdm(iterable, disable=None if show else True, **kwargs)
