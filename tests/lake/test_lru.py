"""The lake's caches: least recently used first out, bounded by weight, the newest kept."""

from __future__ import annotations

from supplylake.lake.lru import Lru


def test_the_least_recently_used_go_first() -> None:
    cache: Lru[str, int] = Lru(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now "b" is the least recently used
    cache.put("c", 3)
    assert "b" not in cache and cache.get("a") == 1 and cache.get("c") == 3
    assert cache.get("b") is None


def test_weights_bound_the_total_and_the_newest_entry_stays() -> None:
    cache: Lru[str, list[int]] = Lru(5, weight=len)
    cache.put("a", [1, 2])
    cache.put("b", [1, 2, 3])
    assert len(cache) == 2
    cache.put("a", [1, 2, 3])  # replacing an entry replaces its weight
    assert len(cache) == 1 and "a" in cache
    cache.put("huge", list(range(10)))
    assert len(cache) == 1 and cache.get("huge") == list(range(10))
    cache.put("c", [1])  # the heavy one goes, so the total fits again
    assert "huge" not in cache and cache.get("c") == [1]


def test_discard_and_clear() -> None:
    cache: Lru[tuple[str, int], str] = Lru(10)
    for path in ("x", "y"):
        for n in range(3):
            cache.put((path, n), f"{path}{n}")
    cache.discard(lambda key: key[0] != "x")
    assert len(cache) == 3 and ("x", 0) not in cache and ("y", 2) in cache
    cache.put(("z", 0), "z0")
    cache.clear()
    assert len(cache) == 0 and cache.get(("y", 2)) is None
