"""Compiled inner loops of funnel attempt matching (metrics.funnels), one pass per user.

The events arrive sorted by (user, time) as plain arrays. Each kernel walks a user's rows once,
keeps a few integers of state per step and writes one row per attempt; nothing here allocates per
attempt. The rules are metrics.funnels' (docs/funnels.md); these functions only make them fast:

- ``ordered_attempts``: each step at its earliest possible event (a per-user "next event of this
  kind" table makes every step one lookup), with Hall's condition deciding whether steps sharing
  one instant can each get their own event there.
- ``strict_attempts``: the same with the user's very next instant only, as a small exact search
  over (instant, first step placed at that instant) states, the earliest history kept per state.
- ``unordered_attempts``: a sliding window per anchor (two pointers per kind of event), the
  maximum matching size by Kőnig's deficiency formula.
- ``best_attempts``: per group of attempts (user, breakdown value, period), the furthest one with
  the earliest times, and whether any is still open.

Kinds of event are "atoms": the distinct sets of steps an event matches (a bit signature). The
Hall/Kőnig checks need, per connected component of steps, every subset of its atoms with the steps
it covers; metrics.funnels.matching builds those tables once per query and passes them as arrays.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_INF = np.iinfo(np.int64).max
_loaded = False


def load() -> None:
    """Load the compiled passes now (once per process).

    Numba's first call in a process costs about half a second whatever the data (its compiler
    starts and the cached machine code is read); metrics.funnels calls this while Polars reads
    the events, so that the two overlap instead of adding up.
    """
    global _loaded
    if not _loaded:
        _popcount(np.uint64(0))
        _loaded = True


def loaded() -> bool:
    return _loaded


@njit(cache=True, nogil=True)
def _atom_of(sig: np.uint64, atom_sigs: np.ndarray) -> int:
    """Index of ``sig`` among the sorted atom signatures (-1: the event matches no step)."""
    lo, hi = 0, atom_sigs.size
    while lo < hi:
        mid = (lo + hi) // 2
        if atom_sigs[mid] < sig:
            lo = mid + 1
        else:
            hi = mid
    if lo < atom_sigs.size and atom_sigs[lo] == sig:
        return lo
    return -1


@njit(cache=True, nogil=True)
def _popcount(x: np.uint64) -> int:
    n = 0
    while x:
        x &= x - np.uint64(1)
        n += 1
    return n


@njit(cache=True, nogil=True)
def _block_fits(
    j, block, first_atom, counts, comp, comp_ptr, sub_ptr, sub_atoms, sub_covered
) -> bool:
    """Whether steps ``block..j`` can each get their own event among those at one instant.

    ``counts`` holds, per atom, the events at the instant. When the block holds step 0 (block 0),
    that step is the attempt's own first event, of atom ``first_atom``: it is set aside with it.
    Hall's condition over every subset of the component's atoms.
    """
    lo = block if block > 0 else 1
    steps = np.uint64(0)
    for s in range(lo, j + 1):
        steps |= np.uint64(1) << np.uint64(s)
    for q in range(comp_ptr[comp], comp_ptr[comp + 1]):
        need = _popcount(sub_covered[q] & steps)
        have = 0
        for p in range(sub_ptr[q], sub_ptr[q + 1]):
            a = sub_atoms[p]
            have += counts[a]
            if block == 0 and a == first_atom:
                have -= 1
        if need > have:
            return False
    return True


@njit(cache=True, nogil=True)
def _count_instant(g_start, g_end, sig, atom_sigs, counts) -> None:
    counts[:] = 0
    for i in range(g_start, g_end):
        a = _atom_of(sig[i], atom_sigs)
        if a >= 0:
            counts[a] += 1


@njit(cache=True, nogil=True)
def _fill_next(s, e, sig, atom_sigs, nxt) -> None:
    """nxt[a, i - s]: the first row at or after row i (of rows s..e) of atom a, -1 when none."""
    n_atoms = atom_sigs.size
    for a in range(n_atoms):
        nxt[a, e - s] = -1
    for i in range(e - 1, s - 1, -1):
        own = _atom_of(sig[i], atom_sigs)
        for a in range(n_atoms):
            nxt[a, i - s] = i if a == own else nxt[a, i + 1 - s]


@njit(cache=True, nogil=True)
def _clear_attempts(reached, times, ties, least) -> None:
    """Start each output attempt at ``least`` steps reached, no times, no tie ends."""
    reached[:] = least
    times[:] = _INF
    ties[:] = -1


@njit(cache=True, nogil=True)
def count_starts(sig, mask, start_row, end_row) -> int:
    """How many rows of ``start_row..end_row`` match a step in ``mask``: the attempts they start."""
    count = 0
    for i in range(start_row, end_row):
        if sig[i] & mask:
            count += 1
    return count


@njit(cache=True, nogil=True)
def _longest_user(user_end, lo, hi) -> int:
    longest, r = 0, lo
    while r < hi:
        longest = max(longest, user_end[r] - r)
        r = user_end[r]
    return longest


@njit(cache=True, nogil=True)
def ordered_attempts(
    ts,
    sig,
    tie_start,
    tie_end,
    user_end,
    start_row,
    end_row,
    n_steps,
    window,
    atom_sigs,
    step_ptr,
    step_atoms,
    comp_of,
    comp_ptr,
    sub_ptr,
    sub_atoms,
    sub_covered,
    with_ties,
    rows,
    reached,
    times,
    ties,
):
    """Every step-1 event of rows ``start_row..end_row`` (whole users) is an attempt; each later
    step at the earliest event that can fill it.

    Fills, one row per attempt: the start row, the steps reached, the times (attempts x steps, INF
    past reached) and the tie ends (the row after each step's instant; only when ``with_ties``,
    for exclusions; else ``ties`` has no rows).
    """
    _clear_attempts(reached, times, ties, 1)
    n_atoms = atom_sigs.size
    nxt = np.empty((n_atoms, _longest_user(user_end, start_row, end_row) + 1), dtype=np.int64)
    counts = np.zeros(n_atoms, dtype=np.int64)
    k = 0
    s = start_row
    while s < end_row:
        e = user_end[s]
        has_start = False
        for r in range(s, e):
            if sig[r] & np.uint64(1):
                has_start = True
                break
        if has_start:
            _fill_next(s, e, sig, atom_sigs, nxt)
        for r in range(s, e):
            if not sig[r] & np.uint64(1):
                continue
            t1 = ts[r]
            rows[k] = r
            times[k, 0] = t1
            first_atom = _atom_of(sig[r], atom_sigs)
            g_start, g_end, block, at = tie_start[r], tie_end[r], 0, t1
            if with_ties:
                ties[k, 0] = g_end
            for j in range(1, n_steps):
                # An instant of one event holds the step already placed there and no other.
                stay = False
                if g_end - g_start > 1:
                    _count_instant(g_start, g_end, sig, atom_sigs, counts)
                    stay = _block_fits(
                        j, block, first_atom, counts, comp_of[j], comp_ptr, sub_ptr, sub_atoms,
                        sub_covered,
                    )  # fmt: skip
                if not stay:
                    row = -1
                    for p in range(step_ptr[j], step_ptr[j + 1]):
                        cand = nxt[step_atoms[p], g_end - s] if g_end < e else -1
                        if cand >= 0 and (row < 0 or ts[cand] < ts[row]):
                            row = cand
                    if row < 0 or ts[row] - t1 > window:
                        break
                    at = ts[row]
                    g_start, g_end, block = tie_start[row], tie_end[row], j
                times[k, j] = at
                if with_ties:
                    ties[k, j] = g_end
                reached[k] = j + 1
            k += 1
        s = e


@njit(cache=True, nogil=True)
def _earlier(hist, a, b, upto) -> bool:
    """Whether history row a is lexicographically before row b over steps 1..upto."""
    for c in range(1, upto + 1):
        if hist[a, c] != hist[b, c]:
            return hist[a, c] < hist[b, c]
    return False


@njit(cache=True, nogil=True)
def strict_attempts(
    ts,
    sig,
    tie_start,
    tie_end,
    user_end,
    start_row,
    end_row,
    n_steps,
    window,
    atom_sigs,
    step_ptr,
    step_atoms,
    comp_of,
    comp_ptr,
    sub_ptr,
    sub_atoms,
    sub_covered,
    with_ties,
    rows,
    reached,
    times,
    ties,
):
    """Strict order: from a state (instant, first step placed there) the next step either joins
    the instant (if the steps there can still each get their own event) or takes the user's very
    next instant (any event). One state per (instant, block), the earliest history kept; the
    attempt takes the earliest history among the states that got furthest. Rows
    ``start_row..end_row`` (whole users); fills the outputs as :func:`ordered_attempts` does."""
    _clear_attempts(reached, times, ties, 1)
    n_atoms = atom_sigs.size
    counts = np.zeros(n_atoms, dtype=np.int64)
    cap = 2 * (n_steps + 1) * (n_steps + 1) + 4
    # Two generations of states: instant start/end, block, history of times and tie ends.
    st_gs = np.empty((2, cap), dtype=np.int64)
    st_ge = np.empty((2, cap), dtype=np.int64)
    st_bl = np.empty((2, cap), dtype=np.int64)
    st_h = np.empty((2 * cap, n_steps), dtype=np.int64)
    st_t = np.empty((2 * cap, n_steps), dtype=np.int64)
    k = 0
    for r in range(start_row, end_row):
        if not sig[r] & np.uint64(1):
            continue
        e = user_end[r]
        t1 = ts[r]
        rows[k] = r
        times[k, 0] = t1
        if with_ties:
            ties[k, 0] = tie_end[r]
        first_atom = _atom_of(sig[r], atom_sigs)
        cur, live = 0, 1
        st_gs[0, 0], st_ge[0, 0], st_bl[0, 0] = tie_start[r], tie_end[r], 0
        st_h[0, 0], st_t[0, 0] = t1, tie_end[r]
        for j in range(1, n_steps):
            new = 1 - cur
            made = 0
            for q in range(live):
                src = cur * cap + q
                g_start, g_end, block = st_gs[cur, q], st_ge[cur, q], st_bl[cur, q]
                at = st_h[src, j - 1]
                for branch in range(2):
                    if branch == 0:
                        if at - t1 > window:
                            continue
                        _count_instant(g_start, g_end, sig, atom_sigs, counts)
                        if not _block_fits(
                            j, block, first_atom, counts, comp_of[j], comp_ptr, sub_ptr,
                            sub_atoms, sub_covered,
                        ):  # fmt: skip
                            continue
                        n_gs, n_ge, n_bl, n_at = g_start, g_end, block, at
                    else:
                        if g_end >= e or ts[g_end] - t1 > window:
                            continue
                        n_gs, n_ge = g_end, tie_end[g_end]
                        there = False
                        for i in range(n_gs, n_ge):
                            a = _atom_of(sig[i], atom_sigs)
                            if a >= 0:
                                for p in range(step_ptr[j], step_ptr[j + 1]):
                                    if step_atoms[p] == a:
                                        there = True
                        if not there:
                            continue
                        n_bl, n_at = j, ts[n_gs]
                    dst = new * cap + made
                    for c in range(j):
                        st_h[dst, c] = st_h[src, c]
                        st_t[dst, c] = st_t[src, c]
                    st_h[dst, j] = n_at
                    st_t[dst, j] = n_ge
                    # One state per (instant, block): keep the earliest history.
                    dup = -1
                    for o in range(made):
                        if st_gs[new, o] == n_gs and st_bl[new, o] == n_bl:
                            dup = o
                            break
                    if dup >= 0:
                        if _earlier(st_h, dst, new * cap + dup, j):
                            for c in range(j + 1):
                                st_h[new * cap + dup, c] = st_h[dst, c]
                                st_t[new * cap + dup, c] = st_t[dst, c]
                            st_ge[new, dup] = n_ge
                        continue
                    st_gs[new, made], st_ge[new, made], st_bl[new, made] = n_gs, n_ge, n_bl
                    made += 1
            if made == 0:
                break
            lead = new * cap
            for o in range(1, made):
                if _earlier(st_h, new * cap + o, lead, j):
                    lead = new * cap + o
            for c in range(1, j + 1):
                times[k, c] = st_h[lead, c]
                if with_ties:
                    ties[k, c] = st_t[lead, c]
            reached[k] = j + 1
            cur, live = new, made
        k += 1


@njit(cache=True, nogil=True)
def _matching_size(counts, comp_ptr, sub_ptr, sub_atoms, sub_covered, comp_steps) -> int:
    """How many steps can each get their own event among the counted ones (Kőnig: the deficiency
    form of Hall's theorem, the worst closed step set per component)."""
    total = 0
    for c in range(comp_ptr.size - 1):
        worst = 0
        for q in range(comp_ptr[c], comp_ptr[c + 1]):
            deficiency = _popcount(sub_covered[q])
            for p in range(sub_ptr[q], sub_ptr[q + 1]):
                deficiency -= counts[sub_atoms[p]]
            worst = max(worst, deficiency)
        total += comp_steps[c] - worst
    return total


@njit(cache=True, nogil=True)
def unordered_attempts(
    ts,
    sig,
    tie_start,
    user_end,
    start_row,
    end_row,
    n_steps,
    window,
    atom_sigs,
    atom_steps,
    comp_ptr,
    sub_ptr,
    sub_atoms,
    sub_covered,
    comp_steps,
    rows,
    reached,
    times,
):
    """Every step event anchors an attempt covering [its instant, + window]: the number of distinct
    steps that can each get their own event there, and the instants by which 1, 2, ... were done.
    Per user, two pointers per atom slide with the anchors (both window ends only move forward).
    Rows ``start_row..end_row`` (whole users); fills one output row per anchor."""
    _clear_attempts(reached, times, times[:0], 0)
    n_atoms = atom_sigs.size
    mask = np.uint64((1 << n_steps) - 1)
    # Per user: the rows of each atom, in order (CSR over atoms).
    occ = np.empty(_longest_user(user_end, start_row, end_row), dtype=np.int64)
    occ_ptr = np.zeros(n_atoms + 1, dtype=np.int64)
    lo = np.zeros(n_atoms, dtype=np.int64)
    hi = np.zeros(n_atoms, dtype=np.int64)
    counts = np.zeros(n_atoms, dtype=np.int64)
    n_cand = 0
    for a in range(n_atoms):
        n_cand += atom_steps[a]
    cand_t = np.empty(n_cand, dtype=np.int64)
    cand_a = np.empty(n_cand, dtype=np.int64)
    k = 0
    s = start_row
    while s < end_row:
        e = user_end[s]
        occ_ptr[:] = 0
        for i in range(s, e):
            a = _atom_of(sig[i], atom_sigs)
            if a >= 0:
                occ_ptr[a + 1] += 1
        for a in range(n_atoms):
            occ_ptr[a + 1] += occ_ptr[a]
            lo[a] = occ_ptr[a]
            hi[a] = occ_ptr[a]
        fill = occ_ptr[:n_atoms].copy()
        for i in range(s, e):
            a = _atom_of(sig[i], atom_sigs)
            if a >= 0:
                occ[fill[a]] = i
                fill[a] += 1
        for r in range(s, e):
            if not sig[r] & mask:
                continue
            g_start = tie_start[r]
            limit = ts[r] + window
            m = 0
            for a in range(n_atoms):
                while lo[a] < occ_ptr[a + 1] and occ[lo[a]] < g_start:
                    lo[a] += 1
                if hi[a] < lo[a]:
                    hi[a] = lo[a]
                while hi[a] < occ_ptr[a + 1] and ts[occ[hi[a]]] <= limit:
                    hi[a] += 1
                counts[a] = hi[a] - lo[a]
                # No more than one event per step it matches can be used. Candidates are kept in
                # time order (insertion: a handful of them).
                for p in range(lo[a], min(hi[a], lo[a] + atom_steps[a])):
                    t = ts[occ[p]]
                    q = m
                    while q > 0 and cand_t[q - 1] > t:
                        cand_t[q] = cand_t[q - 1]
                        cand_a[q] = cand_a[q - 1]
                        q -= 1
                    cand_t[q] = t
                    cand_a[q] = a
                    m += 1
            rows[k] = r
            got = _matching_size(counts, comp_ptr, sub_ptr, sub_atoms, sub_covered, comp_steps)
            reached[k] = got
            # The k-th distinct step is done at the first candidate instant by which a matching of
            # size k exists among the candidates up to it.
            counts[:] = 0
            done = 0
            p = 0
            while p < m and done < got:
                t = cand_t[p]
                while p < m and cand_t[p] == t:
                    counts[cand_a[p]] += 1
                    p += 1
                size = _matching_size(counts, comp_ptr, sub_ptr, sub_atoms, sub_covered, comp_steps)
                while done < min(size, got):
                    times[k, done] = t
                    done += 1
            k += 1
        s = e


@njit(cache=True, nogil=True)
def best_attempts(order, group, reached, times, window, horizon):
    """Per run of equal ``group[order]`` (``order`` lists the attempts group by group, each group's
    in time order): the furthest-reaching attempt with the earliest times (its position in
    ``order``), and whether any attempt of the group is still in its window at ``horizon``."""
    n = order.size
    n_steps = times.shape[1]
    groups = 0
    for i in range(n):
        if i == 0 or group[order[i]] != group[order[i - 1]]:
            groups += 1
    pick = np.empty(groups, dtype=np.int64)
    is_open = np.zeros(groups, dtype=np.bool_)
    g = -1
    for i in range(n):
        x = order[i]
        if i == 0 or group[x] != group[order[i - 1]]:
            g += 1
            pick[g] = i
        else:
            b = order[pick[g]]
            if reached[x] > reached[b]:
                pick[g] = i
            elif reached[x] == reached[b]:
                for c in range(n_steps):
                    if times[x, c] != times[b, c]:
                        if times[x, c] < times[b, c]:
                            pick[g] = i
                        break
        if times[x, 0] + window > horizon:
            is_open[g] = True
    return pick, is_open


@njit(cache=True, nogil=True)
def within_attempts(new_user, ts, sig, window):
    """Ordered and strict funnels: the rows that can matter, those from a user's first step-1 event
    to their last one's window end (users without a step-1 event have none)."""
    n = ts.size
    keep = np.zeros(n, dtype=np.bool_)
    s = 0
    while s < n:
        e = s + 1
        while e < n and not new_user[e]:
            e += 1
        first, last = -1, -1
        for i in range(s, e):
            if sig[i] & np.uint64(1):
                if first < 0:
                    first = i
                last = i
        if first >= 0:
            lo, hi = ts[first], ts[last] + window
            for i in range(s, e):
                keep[i] = lo <= ts[i] <= hi
        s = e
    return keep


@njit(cache=True, nogil=True)
def _slot(key, mask) -> int:
    return np.int64((key * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(32)) & mask


@njit(cache=True, nogil=True)
def _user_codes(h, part, parts, size):
    """A dense code per distinct hash among the ``size`` rows of the part (in order of first
    appearance), by open addressing; each slot holds its key and code side by side (one cache
    line per probe)."""
    cap = 1 << 12
    table = np.full(2 * cap, -1, dtype=np.int64)  # (key bits, code) per slot; code -1: empty
    codes = np.empty(size, dtype=np.int32)  # users of one part: fewer than 2**31
    used = 0
    j = 0
    for i in range(h.size):
        if _part_of(h[i], parts) != part:
            continue
        if 2 * (used + 1) > cap:
            # Grow: re-insert every key into a table twice the size.
            cap *= 2
            grown = np.full(2 * cap, -1, dtype=np.int64)
            for old in range(cap // 2):
                if table[2 * old + 1] >= 0:
                    p = _slot(np.uint64(table[2 * old]), cap - 1)
                    while grown[2 * p + 1] >= 0:
                        p = (p + 1) & (cap - 1)
                    grown[2 * p] = table[2 * old]
                    grown[2 * p + 1] = table[2 * old + 1]
            table = grown
        key = np.int64(h[i])
        p = _slot(h[i], cap - 1)
        while table[2 * p + 1] >= 0 and table[2 * p] != key:
            p = (p + 1) & (cap - 1)
        if table[2 * p + 1] < 0:
            table[2 * p] = key
            table[2 * p + 1] = used
            used += 1
        codes[j] = table[2 * p + 1]
        j += 1
    return codes, used


@njit(cache=True, nogil=True)
def _part_of(key, parts):
    """The part of the work a user's rows belong to (by the top bits of their id's hash, scaled
    to ``0..parts - 1`` by a multiply: cheaper than a remainder in the passes' inner loops)."""
    return np.int64(((key >> np.uint64(32)) * np.uint64(parts)) >> np.uint64(32))


@njit(cache=True, nogil=True)
def part_sizes(h, parts):
    """How many rows each part of the work holds (see :func:`group_sort`)."""
    sizes = np.zeros(parts, dtype=np.int64)
    for i in range(h.size):
        sizes[_part_of(h[i], parts)] += 1
    return sizes


@njit(cache=True, nogil=True)
def _sort_run(key, row, n, key_buf, row_buf) -> None:
    """Sort ``key[:n]`` (stable), moving ``row[:n]`` along: insertion sort in runs of 16, then a
    bottom-up merge through the scratch buffers."""
    width = 16
    for lo in range(0, n, width):
        hi = min(lo + width, n)
        for p in range(lo + 1, hi):
            k, r = key[p], row[p]
            q = p
            while q > lo and key[q - 1] > k:
                key[q] = key[q - 1]
                row[q] = row[q - 1]
                q -= 1
            key[q] = k
            row[q] = r
    src_k, src_r, dst_k, dst_r = key, row, key_buf, row_buf
    in_buf = False
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            a, b = lo, mid
            for o in range(lo, hi):
                if b < hi and (a >= mid or src_k[b] < src_k[a]):
                    dst_k[o] = src_k[b]
                    dst_r[o] = src_r[b]
                    b += 1
                else:
                    dst_k[o] = src_k[a]
                    dst_r[o] = src_r[a]
                    a += 1
        src_k, dst_k = dst_k, src_k
        src_r, dst_r = dst_r, src_r
        in_buf = not in_buf
        width *= 2
    if in_buf:
        key[:n] = key_buf[:n]
        row[:n] = row_buf[:n]


@njit(cache=True, nogil=True)
def group_sort(h, h2, ts, sig, part, parts, order, ts_out, sig_out, new_user):
    """The rows of one part of the work (:func:`part_sizes`; a user's rows are all in one part)
    grouped by user (``h``, a hash of the id; users in order of first appearance), each user's
    rows in time order (stable). Fills the part's rows in that order (their row numbers, times and
    signatures) and where each user's rows start; returns whether two users share a hash (``h2``,
    a second hash, differs inside a group). Parts are independent: threads sort them at once.

    A counting sort by user that carries each row's time and signature along, in two passes (by
    a block of users, then by user) so that each pass writes to a few hundred places at once,
    which stay in cache; then each user's times sorted where they are not already. Far cheaper
    than sorting all rows by (user, time), and no lookup per comparison.
    """
    n = order.size
    codes, users = _user_codes(h, part, parts, n)
    start = np.zeros(users + 1, dtype=np.int64)
    seen = np.empty(users, dtype=np.uint64)
    collided = False
    j = 0
    for i in range(h.size):
        if _part_of(h[i], parts) != part:
            continue
        c = codes[j]
        j += 1
        if start[c + 1] == 0:
            seen[c] = h2[i]
        elif seen[c] != h2[i]:
            collided = True
        start[c + 1] += 1
    longest = 1
    for u in range(users):
        longest = max(longest, start[u + 1])
        start[u + 1] += start[u]
    # Pass 1: by block of users (at most 512 blocks), in the order read.
    shift = 0
    while users > 0 and (users - 1) >> shift >= 512:
        shift += 1
    blocks = ((users - 1) >> shift) + 1 if users > 0 else 0
    block_fill = np.empty(blocks, dtype=np.int64)
    for b in range(blocks):
        block_fill[b] = start[b << shift]
    code_1 = np.empty(n, dtype=np.int32)
    row_1 = np.empty(n, dtype=np.int64)
    ts_1 = np.empty(n, dtype=np.int64)
    sig_1 = np.empty(n, dtype=np.uint64)
    j = 0
    for i in range(h.size):
        if _part_of(h[i], parts) != part:
            continue
        c = codes[j]
        j += 1
        f = block_fill[c >> shift]
        code_1[f], row_1[f], ts_1[f], sig_1[f] = c, i, ts[i], sig[i]
        block_fill[c >> shift] = f + 1
    # Pass 2: by user, inside each block.
    fill = start[:users].copy()
    for i in range(n):
        c = code_1[i]
        f = fill[c]
        order[f], ts_out[f], sig_out[f] = row_1[i], ts_1[i], sig_1[i]
        fill[c] = f + 1
    # Each user's rows are contiguous now: out-of-order ones are sorted in small local arrays
    # (their times, and their positions to carry the rows and signatures along).
    key = np.empty(longest, dtype=np.int64)
    pos = np.empty(longest, dtype=np.int64)
    key_buf = np.empty(longest, dtype=np.int64)
    pos_buf = np.empty(longest, dtype=np.int64)
    row_tmp = np.empty(longest, dtype=np.int64)
    sig_tmp = np.empty(longest, dtype=np.uint64)
    for u in range(users):
        s, e = start[u], start[u + 1]
        in_order = True
        for p in range(s + 1, e):
            if ts_out[p] < ts_out[p - 1]:
                in_order = False
                break
        if in_order:
            continue
        m = e - s
        for p in range(m):
            key[p] = ts_out[s + p]
            pos[p] = p
        _sort_run(key, pos, m, key_buf, pos_buf)
        for p in range(m):
            row_tmp[p] = order[s + pos[p]]
            sig_tmp[p] = sig_out[s + pos[p]]
        for p in range(m):
            ts_out[s + p] = key[p]
            order[s + p] = row_tmp[p]
            sig_out[s + p] = sig_tmp[p]
    new_user[:] = False
    for u in range(users):
        new_user[start[u]] = True
    return collided


@njit(cache=True, nogil=True)
def kept_starts(new_user, keep):
    """Where each user's rows start among the kept rows (``new_user`` for all rows)."""
    out = np.zeros(int(keep.sum()), dtype=np.bool_)
    k = 0
    pending = False
    for i in range(new_user.size):
        if new_user[i]:
            pending = True
        if keep[i]:
            out[k] = pending
            pending = False
            k += 1
    return out


@njit(cache=True, nogil=True)
def layout(new_user, ts, start_row, end_row, first_user, user, user_end, tie_start, tie_end):
    """Per row of ``start_row..end_row`` (whole users, the first numbered ``first_user``): its
    user's index, one past the user's last row, and the first and one past the last row sharing
    its (user, time)."""
    u = first_user - 1
    for i in range(start_row, end_row):
        if new_user[i]:
            u += 1
            tie_start[i] = i
        elif ts[i] != ts[i - 1]:
            tie_start[i] = i
        else:
            tie_start[i] = tie_start[i - 1]
        user[i] = u
    for i in range(end_row - 1, start_row - 1, -1):
        if i == end_row - 1 or new_user[i + 1]:
            user_end[i] = i + 1
            tie_end[i] = i + 1
        else:
            user_end[i] = user_end[i + 1]
            tie_end[i] = tie_end[i + 1] if ts[i + 1] == ts[i] else i + 1
