"""crawler.dedup's own MinHash is datasketch's "affine32" MinHash value for value (stored signatures stay valid)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from datasketch import MinHash

from crawler.dedup import NUM_PERM, SCHEME, SEED, minhash, permutations, shingles, signature
from storage.near_duplicates import decode_signature
from tests.conftest import shared_fixture

ROOT = Path(__file__).resolve().parents[2]
# Words of seven scripts, accents and case included: the fold and the shingles see what real pages hold.
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyzéèàçñüö",
    "абвгдежзийклмнопрстуфхцчшщыэюя",
    "αβγδεζηθικλμνξοπρστυφχψω",
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي",
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可也你对",
    "가나다라마바사아자차카타파하거너더러머버서어저처커터퍼허",
    "あいうえおかきくけこさしすせそたちつてとなにぬねのアイウエオカキクケコ",
]


def reference(grams: set[bytes]) -> np.ndarray:
    sketch = MinHash(num_perm=NUM_PERM, scheme=SCHEME, seed=SEED)
    sketch.update_batch(list(grams))
    return np.asarray(sketch.hashvalues)


def synthetic_text(rng: random.Random) -> str:
    alphabet = rng.choice(ALPHABETS)
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(5, 400))]
    if rng.random() < 0.5:
        words = [w.upper() if rng.random() < 0.2 else w for w in words]
    return " ".join(words)


def test_the_permutations_are_datasketchs() -> None:
    a, b = permutations()
    theirs = MinHash(num_perm=NUM_PERM, scheme=SCHEME, seed=SEED).permutations
    assert a.dtype == b.dtype == np.uint32 and len(a) == NUM_PERM
    assert np.array_equal(a, theirs[0]) and np.array_equal(b, theirs[1])
    assert (a % 2 == 1).all()  # odd multipliers: each permutation is a bijection
    assert not a.flags.writeable  # shared by every signature of the process


def test_signatures_of_many_texts_in_seven_scripts_equal_datasketchs() -> None:
    rng = random.Random(14)
    signed = 0
    for _ in range(420):
        text = synthetic_text(rng)
        grams = shingles(text)
        assert np.array_equal(minhash(grams), reference(grams))
        sig = signature(text)
        if sig:
            signed += 1
            values = decode_signature(sig)
            assert values is not None and np.array_equal(values, reference(grams).astype(np.uint64))
    assert signed > 350


def test_an_empty_set_gives_datasketchs_empty_sketch_and_a_short_text_no_signature() -> None:
    assert np.array_equal(minhash([]), MinHash(num_perm=NUM_PERM, scheme=SCHEME).hashvalues)
    assert signature("too short to compare") == b""


def test_the_signatures_of_real_multilingual_texts_equal_datasketchs() -> None:
    rows = [json.loads(line) for line in shared_fixture("relevance-dev-v2.jsonl").read_text("utf-8").splitlines()]
    compared = 0
    for row in rows:
        text = f"{row['title']}\n{row['text']}"
        grams = shingles(text)
        assert np.array_equal(minhash(grams), reference(grams)), row["id"]
        compared += bool(signature(text))
    assert len({row["lang"] for row in rows}) >= 8 and compared >= 20


@pytest.mark.slow
def test_storing_a_page_imports_neither_datasketch_nor_scipy() -> None:
    """The crawl process and its extraction workers: signing and storing a page must not pay scipy's import."""
    code = (
        "import sys\n"
        "import crawler.dedup, crawler.pipelines, crawler.pipelines_pool, storage.items, storage.near_duplicates\n"
        "from crawler.dedup import signature\n"
        "from storage.near_duplicates import band_ranges, signature_bands\n"
        "sig = signature(' '.join(f'word{n}' for n in range(200)))\n"
        "assert sig and len(signature_bands(sig)) == 25 and band_ranges()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('datasketch', 'scipy')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         check=True)
    assert out.stdout.strip() == "[]", out.stdout
