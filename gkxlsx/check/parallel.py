"""Ordered parallel map where this process works too.

``ordered_map(task, items, jobs)`` yields ``task(item)`` for every item, in the order of the items,
computed by this process and ``jobs - 1`` worker processes that take the next item from a shared
counter.  On a 2-core office PC a pool of two workers beside a waiting parent puts three processes
on two cores and sends every result across; here half the results never cross, and the parent's
share of the work is not taken by anything.

A worker sends ``(index, encode(result))`` as bytes; the parent turns them back with
``decode(bytes, item)`` (by default pickle).  Each worker's claim is recorded beside the counter,
so when a worker fails on an item, or dies, the parent knows which item and computes it itself —
a caller sees exactly what one process gives, exceptions included, at the same place.  Memory is
bounded: the parent holds at most ``ahead`` results waiting for an earlier one, and past that it
reads only from the worker holding the next item (the others wait on their pipes).  If a worker
dies inside the counter's lock (killed at that instant), the rest is computed here.

``task`` must be picklable (a module-level function or an instance of a module-level class) when
the platform starts processes by spawning (Windows); with fork nothing is pickled but the results.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator, Sequence
from typing import Any

AHEAD = 256
LOCK_PATIENCE_S = 2.0  # waiting this long for the counter's lock, the parent looks for a dead holder


class _Stuck(Exception):
    """The counter's lock is held by a process that is gone."""


def _encode_pickle(result: Any) -> bytes:
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def _decode_pickle(blob, _item) -> Any:
    return pickle.loads(blob)


def _take(counter, claims=None, w: int = 0) -> int:
    """The next item's index (the caller holds the counter's lock), recorded as worker w's claim."""
    i = counter.value
    counter.value = i + 1
    if claims is not None:
        claims[w] = i
    return i


def _worker(
    task: Callable, items: Sequence, encode: Callable[[Any], bytes], counter, claims, w: int, conn, inherited
) -> None:
    for c in inherited:  # read ends forked along with this process: without them a parent that stops reading is seen
        c.close()
    n = len(items)
    lock = counter.get_lock()
    try:
        while True:
            with lock:
                i = _take(counter, claims, w)
            if i >= n:
                break
            try:
                blob = encode(task(items[i]))
            except Exception:  # noqa: BLE001 - the parent computes this item itself and reports as it would
                blob = b""
            conn.send_bytes(i.to_bytes(8, "little") + blob)
    except (BrokenPipeError, EOFError, KeyboardInterrupt):  # the parent stopped reading
        pass
    finally:
        conn.close()


def ordered_map(
    task: Callable[[Any], Any],
    items: Sequence,
    jobs: int,
    *,
    encode: Callable[[Any], bytes] = _encode_pickle,
    decode: Callable[[Any, Any], Any] = _decode_pickle,
    ahead: int | None = None,
) -> Iterator[Any]:
    import multiprocessing as mp
    from multiprocessing.connection import wait

    n = len(items)
    if jobs <= 1 or n < 2:
        for it in items:
            yield task(it)
        return
    ahead = AHEAD if ahead is None else ahead
    fork = "fork" in mp.get_all_start_methods()
    mpc = mp.get_context("fork" if fork else None)
    counter = mpc.Value("q", 0)
    claims = mpc.Array("q", [-1] * (jobs - 1), lock=False)  # the item each worker took last
    procs: list = []
    conns: dict[Any, int] = {}  # a worker's pipe (read end) -> its number, while it may still send
    ready: dict[int, Any] = {}  # index -> bytes from a worker, or ("", result) / ("!", exception) from here
    redo: set[int] = set()  # items a worker took and will not send

    def run_here(i: int) -> None:
        try:
            ready[i] = ("", task(items[i]))
        except Exception as e:  # noqa: BLE001 - raised when its turn comes, as one process would (Ctrl-C: at once)
            ready[i] = ("!", e)

    def receive(ws) -> None:
        for c in ws:
            try:
                b = c.recv_bytes()
            except (EOFError, OSError):  # finished, or gone
                lost = claims[conns.pop(c)]
                if nxt <= lost < n and lost not in ready:
                    redo.add(lost)
                continue
            i = int.from_bytes(b[:8], "little")
            ready[i] = b
            if len(b) == 8:  # the task failed there
                redo.add(i)

    def claim() -> int:
        lock = counter.get_lock()
        while not lock.acquire(timeout=LOCK_PATIENCE_S):
            if any(not p.is_alive() for p in procs):
                raise _Stuck
        try:
            return _take(counter)
        finally:
            lock.release()

    nxt = 0
    stuck = False
    try:
        for w in range(jobs - 1):
            r, wr = mpc.Pipe(duplex=False)
            inherited = [*conns, r] if fork else []
            proc = mpc.Process(
                target=_worker, args=(task, items, encode, counter, claims, w, wr, inherited), daemon=True
            )
            proc.start()
            wr.close()
            procs.append(proc)
            conns[r] = w
        while nxt < n:
            if conns and len(ready) < ahead:
                receive([c for c in conns if c.poll()])
            if redo:
                for i in sorted(redo):
                    run_here(i)
                redo.clear()
            got = ready.pop(nxt, None)
            if got is None:
                if not stuck and len(ready) < ahead:
                    try:
                        i = claim()
                    except _Stuck:
                        stuck = True
                        for p in procs:
                            p.terminate()
                        i = n
                    if i < n:
                        run_here(i)
                        continue
                if conns:
                    holder = [c for c, w in conns.items() if claims[w] == nxt]
                    receive(wait(holder or list(conns)))
                    continue
                run_here(nxt)  # claimed by a worker that is gone, or left when the counter was stuck
                continue
            nxt += 1
            if type(got) is bytes:
                yield decode(memoryview(got)[8:], items[nxt - 1])
            elif got[0] == "!":
                raise got[1]
            else:
                yield got[1]
    finally:
        try:  # workers stop claiming
            lock = counter.get_lock()
            if lock.acquire(timeout=0.5):
                counter.value = n
                lock.release()
        except (OSError, ValueError):
            pass
        for c in conns:
            c.close()
        for proc in procs:
            proc.join(timeout=0.5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
