"""Ordered parallel map where this process works too.

``ordered_map(task, items, jobs)`` yields ``task(item)`` for every item, in the order of the items,
computed by this process and ``jobs - 1`` worker processes that take the next item from a shared
counter.  On a 2-core office PC a pool of two workers beside a waiting parent puts three processes
on two cores and sends every result across; here half the results never cross, and the parent's
share of the work is not taken by anything.

A worker sends ``(index, encode(result))`` as bytes; the parent turns them back with
``decode(bytes, item)`` (by default pickle).  When a worker fails on an item, or dies, the parent
computes that item itself — a caller sees exactly what one process gives.  The parent holds at
most ``ahead`` results that are waiting for an earlier one.

``task`` must be picklable (a module-level function or an instance of a module-level class) when
the platform starts processes by spawning (Windows); with fork nothing is pickled but the results.
"""

from __future__ import annotations

import pickle
from typing import Any, Callable, Iterator, Sequence

AHEAD = 256


def _claim(counter) -> int:
    with counter.get_lock():
        i = counter.value
        counter.value = i + 1
    return i


def _encode_pickle(result: Any) -> bytes:
    return pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)


def _decode_pickle(blob, _item) -> Any:
    return pickle.loads(blob)


def _worker(task: Callable, items: Sequence, encode: Callable[[Any], bytes], counter, conn) -> None:
    n = len(items)
    try:
        while (i := _claim(counter)) < n:
            try:
                blob = encode(task(items[i]))
            except Exception:  # noqa: BLE001 - the parent computes this item itself and reports as it would
                blob = b""
            conn.send_bytes(i.to_bytes(4, "little") + blob)
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
    mpc = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else None)
    counter = mpc.Value("q", 0)
    procs, conns = [], []
    ready: dict[int, Any] = {}  # index -> ("", result computed here) or bytes from a worker

    def receive(block: bool) -> None:
        for c in wait(conns) if block else [c for c in conns if c.poll()]:
            try:
                b = c.recv_bytes()
            except (EOFError, OSError):  # finished, or gone: what it claimed and did not send is computed here
                conns.remove(c)
                continue
            ready[int.from_bytes(b[:4], "little")] = b

    try:
        for _ in range(jobs - 1):
            r, w = mpc.Pipe(duplex=False)
            proc = mpc.Process(target=_worker, args=(task, items, encode, counter, w), daemon=True)
            proc.start()
            w.close()
            procs.append(proc)
            conns.append(r)
        nxt = 0
        while nxt < n:
            if conns:
                receive(False)
            got = ready.pop(nxt, None)
            if got is None:
                if len(ready) < ahead and (i := _claim(counter)) < n:
                    ready[i] = ("", task(items[i]))
                    continue
                if conns:
                    receive(True)
                    continue
                result = task(items[nxt])  # claimed by a worker that is gone
            elif type(got) is bytes:
                result = decode(memoryview(got)[4:], items[nxt]) if len(got) > 4 else task(items[nxt])
            else:
                result = got[1]
            nxt += 1
            yield result
    finally:
        for c in conns:
            c.close()
        for proc in procs:
            proc.join(timeout=0.5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
