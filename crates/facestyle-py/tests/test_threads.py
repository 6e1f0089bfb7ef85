"""Calls from several Python threads: the GIL is released while the engine computes, and
threads sharing one engine get the answers one thread gets."""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import facestyle
from conftest import BUSH, GUL_1, GUL_8, POWELL

IMAGES = [GUL_1, GUL_8, POWELL, BUSH]


def test_threads_sharing_an_engine_get_the_same_embeddings(engine):
    expected = [engine.embed(p) for p in IMAGES]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(engine.embed, IMAGES * 4))
    for i, e in enumerate(got):
        assert np.array_equal(e, expected[i % 4])


def test_python_runs_while_the_engine_computes(engine):
    pictures = [facestyle.load_image(p) for p in IMAGES] * 6
    ticks = 0
    worker = threading.Thread(target=engine.embed_batch, args=(pictures,))
    worker.start()
    while worker.is_alive():
        ticks += 1
    worker.join()
    # With the GIL held for the whole call the loop above could not run while it computes:
    # it would count a handful of iterations at most.
    assert ticks > 10_000, ticks


def test_the_default_engine_is_made_once_across_threads():
    with ThreadPoolExecutor(8) as pool:
        engines = list(pool.map(lambda _: facestyle.default_engine(), range(8)))
    assert all(e is engines[0] for e in engines)
