"""Compiled loops (numba) of the service areas: reachable intervals, and the pieces' vertices joined into lines.

``ditan.spatial.engine.service_areas`` states the rule; these loops compute the same values as its
vectorised description, one edge or one piece at a time, without the temporary arrays (a whole city's
network is a few million edges, for each of ~18 groups). Every loop releases the GIL (groups run on
threads) and is compiled on first use, cached beside this file (``__pycache__``).

- :func:`intervals`: one group's reachable intervals ``(edge, lo, hi)``, sorted by edge then ``lo``, the
  overlapping ones merged (an interval starts where its ``lo`` is above every earlier ``hi`` of its edge).
- :func:`node_ends`: the edge ends at each node (``2·edge + side``, side 0 at node u, 1 at v) and the
  direction each leaves the node in, modulo a half turn.
- :func:`piece_lines`: the vertices of each piece clipped from its edge's straight segments (the line's own
  vertices kept exactly; positions inside a segment by linear interpolation), written piece after piece
  or, with ``join``, joined into lines: at each node the reached edge ends are paired two at a time, the
  straightest pair first (a street going straight on), two pieces are joined where a pair's vertices are equal, and the
  joined pieces are walked from the end of each path (then around each ring), the shared vertex written
  once.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

__all__ = ["intervals", "node_ends", "piece_lines"]


@njit(nogil=True, cache=True)
def intervals(d, u, v, length, dmax, src_edge, src_pos, src_acc):  # pragma: no cover
    """Reachable (edge, lo, hi) of one group: node distances ``d``, sources sorted by edge (edge, position, access)."""
    m = len(u)
    n_src = len(src_edge)
    cap = 0
    for e in range(m):
        cap += (d[u[e]] <= dmax) + (d[v[e]] <= dmax)
    cap += n_src
    out_e = np.empty(cap, np.int64)
    out_lo = np.empty(cap)
    out_hi = np.empty(cap)
    lo_c = np.empty(n_src + 2)
    hi_c = np.empty(n_src + 2)
    k = 0
    s = 0
    for e in range(m):
        c = 0
        du = d[u[e]]
        dv = d[v[e]]
        L = length[e]
        if du <= dmax:
            lo_c[c] = 0.0
            hi_c[c] = min(dmax - du, L)
            c += 1
        if dv <= dmax:
            lo_c[c] = max(L - (dmax - dv), 0.0)
            hi_c[c] = L
            c += 1
        while s < n_src and src_edge[s] < e:
            s += 1
        while s < n_src and src_edge[s] == e:
            if src_acc[s] <= dmax:
                left = dmax - src_acc[s]
                lo_c[c] = max(src_pos[s] - left, 0.0)
                hi_c[c] = min(src_pos[s] + left, L)
                c += 1
            s += 1
        if c == 0:
            continue
        for i in range(1, c):  # by lo (insertion sort: a handful at most)
            x, y = lo_c[i], hi_c[i]
            j = i - 1
            while j >= 0 and lo_c[j] > x:
                lo_c[j + 1] = lo_c[j]
                hi_c[j + 1] = hi_c[j]
                j -= 1
            lo_c[j + 1] = x
            hi_c[j + 1] = y
        run = hi_c[0]
        out_e[k] = e
        out_lo[k] = lo_c[0]
        out_hi[k] = hi_c[0]
        for i in range(1, c):
            if lo_c[i] > run:
                k += 1
                out_e[k] = e
                out_lo[k] = lo_c[i]
                out_hi[k] = hi_c[i]
            else:
                out_hi[k] = max(out_hi[k], hi_c[i])
            run = max(run, hi_c[i])
        k += 1
    return out_e[:k], out_lo[:k], out_hi[:k]


@njit(nogil=True, cache=True)
def node_ends(n_nodes, u, v, start, count, a, b):  # pragma: no cover
    """(ptr, ends, angle): the ends ``2·edge + side`` at node ``i`` are ``ends[ptr[i]:ptr[i + 1]]``.

    ``angle``: the direction each end leaves its node along its first segment, modulo a half turn.
    """
    m = len(u)
    ptr = np.zeros(n_nodes + 1, np.int64)
    for e in range(m):
        if count[e] > 0:
            ptr[u[e] + 1] += 1
            ptr[v[e] + 1] += 1
    for i in range(n_nodes):
        ptr[i + 1] += ptr[i]
    fill = ptr[:-1].copy()
    ends = np.empty(ptr[-1], np.int64)
    ang = np.empty(ptr[-1])
    for e in range(m):
        if count[e] > 0:
            j0 = start[e]
            j1 = start[e] + count[e] - 1
            t = fill[u[e]]
            ends[t] = 2 * e
            ang[t] = math.atan2(b[j0, 1] - a[j0, 1], b[j0, 0] - a[j0, 0]) % math.pi
            fill[u[e]] += 1
            t = fill[v[e]]
            ends[t] = 2 * e + 1
            ang[t] = math.atan2(a[j1, 1] - b[j1, 1], a[j1, 0] - b[j1, 0]) % math.pi
            fill[v[e]] += 1
    return ptr, ends, ang


@njit(nogil=True, cache=True)
def _emit(e, lo, hi, reverse, start, count, s0, s1, a, b, xy, pos):  # pragma: no cover
    """Write the piece [lo, hi] of edge e from ``pos`` (reversed: from v to u); return the position after it."""
    p = pos
    last = -1
    for j in range(start[e], start[e] + count[e]):
        a_s = max(lo, s0[j])
        b_s = min(hi, s1[j])
        if b_s > a_s:
            if a_s <= s0[j]:
                xy[p, 0] = a[j, 0]
                xy[p, 1] = a[j, 1]
            else:
                f = min(max((a_s - s0[j]) / (s1[j] - s0[j]), 0.0), 1.0)
                xy[p, 0] = a[j, 0] + (b[j, 0] - a[j, 0]) * f
                xy[p, 1] = a[j, 1] + (b[j, 1] - a[j, 1]) * f
            p += 1
            last = j
    if last < 0:
        return pos
    j = last
    b_s = min(hi, s1[j])
    if b_s >= s1[j]:
        xy[p, 0] = b[j, 0]
        xy[p, 1] = b[j, 1]
    else:
        f = min(max((b_s - s0[j]) / (s1[j] - s0[j]), 0.0), 1.0)
        xy[p, 0] = a[j, 0] + (b[j, 0] - a[j, 0]) * f
        xy[p, 1] = a[j, 1] + (b[j, 1] - a[j, 1]) * f
    p += 1
    if reverse:
        i, k = pos, p - 1
        while i < k:
            x0, y0 = xy[i, 0], xy[i, 1]
            xy[i, 0], xy[i, 1] = xy[k, 0], xy[k, 1]
            xy[k, 0], xy[k, 1] = x0, y0
            i += 1
            k -= 1
    return p


@njit(nogil=True, cache=True)
def piece_lines(
    edge, lo, hi, length, start, count, s0, s1, a, b, ptr, ends, ang, join
):  # pragma: no cover
    """(xy, vertices per line, first piece of each line): the pieces' vertices, joined into lines with ``join``.

    Without ``join`` each piece with vertices is one line, in piece order (a piece with ``hi <= lo`` or on an
    edge without segments has none and makes no line).
    """
    k = len(edge)
    nv = np.zeros(k, np.int64)
    for i in range(k):
        if hi[i] > lo[i]:
            e = edge[i]
            c = 0
            for j in range(start[e], start[e] + count[e]):
                if min(hi[i], s1[j]) > max(lo[i], s0[j]):
                    c += 1
            nv[i] = c + 1 if c > 0 else 0
    link = np.full(2 * k, -1, np.int64)
    if join:
        at = np.full(2 * len(start), -1, np.int64)  # the piece holding each edge end
        for i in range(k):
            if nv[i] > 0:
                e = edge[i]
                if lo[i] <= 0.0:
                    at[2 * e] = i
                if hi[i] >= length[e]:
                    at[2 * e + 1] = i
        deg = 0
        for nd in range(len(ptr) - 1):
            deg = max(deg, ptr[nd + 1] - ptr[nd])
        here = np.empty(deg, np.int64)
        for nd in range(len(ptr) - 1):
            h = 0
            for t in range(ptr[nd], ptr[nd + 1]):
                if at[ends[t]] >= 0:
                    here[h] = t
                    h += 1
            while h >= 2:  # the straightest pair first (directions closest modulo a half turn)
                bi, bj, best = 0, 1, 10.0
                for i in range(h):
                    for j in range(i + 1, h):
                        d = abs(ang[here[i]] - ang[here[j]])
                        d = min(d, math.pi - d)
                        if d < best:
                            bi, bj, best = i, j, d
                prev, c = ends[here[bi]], ends[here[bj]]
                # the ends' vertices: a segment's start at side 0, the last segment's end at side 1
                ep, ec = prev // 2, c // 2
                jp = start[ep] if prev % 2 == 0 else start[ep] + count[ep] - 1
                jc = start[ec] if c % 2 == 0 else start[ec] + count[ec] - 1
                xp = a[jp, 0] if prev % 2 == 0 else b[jp, 0]
                yp = a[jp, 1] if prev % 2 == 0 else b[jp, 1]
                xc = a[jc, 0] if c % 2 == 0 else b[jc, 0]
                yc = a[jc, 1] if c % 2 == 0 else b[jc, 1]
                if xp == xc and yp == yc:
                    link[2 * at[prev] + prev % 2] = 2 * at[c] + c % 2
                    link[2 * at[c] + c % 2] = 2 * at[prev] + prev % 2
                w = 0  # the pair leaves the node's list
                for i in range(h):
                    if i != bi and i != bj:
                        here[w] = here[i]
                        w += 1
                h = w
    xy = np.empty((nv.sum(), 2))
    line_n = np.empty(k, np.int64)
    line_first = np.empty(k, np.int64)
    seen = np.zeros(k, np.bool_)
    nl = 0
    pos = 0
    for phase in range(2):  # paths from an end first, then rings
        for i in range(k):
            if nv[i] == 0 or seen[i]:
                continue
            if phase == 0 and link[2 * i] >= 0 and link[2 * i + 1] >= 0:
                continue
            ent = 1 if phase == 0 and link[2 * i] >= 0 else 0
            begin = pos
            cur = i
            while True:
                seen[cur] = True
                if pos > begin:
                    pos -= 1  # the joint: equal to the vertex just written
                pos = _emit(
                    edge[cur], lo[cur], hi[cur], ent == 1, start, count, s0, s1, a, b, xy, pos
                )
                nxt = link[2 * cur + 1 - ent]
                if nxt < 0 or seen[nxt // 2]:
                    break
                cur = nxt // 2
                ent = nxt % 2
            line_n[nl] = pos - begin
            line_first[nl] = i
            nl += 1
    return xy[:pos], line_n[:nl], line_first[:nl]
