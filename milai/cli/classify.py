"""`milai classify`: JSON lines in, relevance verdicts out."""

from __future__ import annotations

import sys


def classify_cmd() -> None:
    """Read JSON lines {"id","title","text","lang"?} on stdin; write {"id","relevant","score","matches","why","codes"}.

    `matches`: the phrases that fired, in the text's words; `why`: the same by group (topic, ai,
    military); `codes`: the classifier's rule codes, for debugging."""
    from crawler.relevance import classify_jsonl

    for line in classify_jsonl(sys.stdin):
        sys.stdout.write(line.rstrip("\n") + "\n")
        sys.stdout.flush()
