"""Checks the index math of kernels/gemm_tc.cuh without a GPU.

Re-implements, line for line, the tile loader (cp.async chunks with zero fill),
the ldmatrix / ldmatrix.trans addresses, the TF32 fragment loads and the
accumulator staging of the tensor-core GEMM, feeds them through the fragment
layouts of mma.m16n8k16 / mma.m16n8k8 as the PTX ISA defines them, and
compares the staged tile with A . B^T for every layout pair, both tile
configurations and ragged edges.  Shared memory starts as NaN, so reading a
slot no copy wrote also fails.  Keep it in sync with gemm_tc.cuh when the
kernel's indexing changes.   python scripts/check_tc_indexing.py
"""
import numpy as np, itertools

def emulate(BM, BN, WARPS_M, WARPS_N, AK, BKL, tf32, M, N, K, m0=0, n0=0, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.integers(-3, 4, size=(M, K)).astype(np.float64)
    B = rng.integers(-3, 4, size=(N, K)).astype(np.float64)
    THREADS = 32 * WARPS_M * WARPS_N
    WM, WN = BM // WARPS_M, BN // WARPS_N
    MI, NI = WM // 16, WN // 8
    esize = 4 if tf32 else 2
    BKE = 16 if tf32 else 32
    VEC = 16 // esize
    PAD_K, PAD_MN = VEC, 8
    LDA = BKE + PAD_K if AK else BM + PAD_MN
    LDB = BKE + PAD_K if BKL else BN + PAD_MN
    acc = np.zeros((WARPS_M * WARPS_N, 32, MI, NI, 4))
    KT = -(-K // BKE)

    def load_tile(KMAJ, ROWS, LD, G, row0, R, k0):
        size = (ROWS * LD if KMAJ else BKE * LD)
        s = np.full(size, np.nan)
        CHUNKS = ROWS * BKE // VEC
        assert CHUNKS % THREADS == 0
        for tid in range(THREADS):
            for i in range(CHUNKS // THREADS):
                c = tid + i * THREADS
                if KMAJ:
                    CPR = BKE // VEC; sr = c // CPR; sc = (c % CPR) * VEC
                    gr = row0 + sr; gk = k0 + sc; inside = gr < R; rem = K - gk
                else:
                    CPR = ROWS // VEC; sr = c // CPR; sc = (c % CPR) * VEC
                    gk = k0 + sr; gr = row0 + sc; inside = gk < K; rem = R - gr
                valid = 0 if (not inside or rem <= 0) else min(rem, VEC)
                for e in range(VEC):
                    if e < valid:
                        v = G[gr, gk + e] if KMAJ else G[gr + e, gk]
                    else:
                        v = 0.0
                    s[sr * LD + sc + e] = v
        return s

    def ldsm(s, addrs, trans):
        # addrs[lane] = element offset of a row of 8 elements; returns regs[lane][i] = (lo, hi)
        mats = [np.array([s[addrs[8 * i + r]: addrs[8 * i + r] + 8] for r in range(8)]) for i in range(4)]
        regs = [[None] * 4 for _ in range(32)]
        for lane in range(32):
            g, t = lane // 4, lane % 4
            for i in range(4):
                Mx = mats[i].T if trans else mats[i]
                regs[lane][i] = (Mx[g, 2 * t], Mx[g, 2 * t + 1])
        return regs

    for kt in range(KT):
        k0 = kt * BKE
        sA = load_tile(AK, BM, LDA, A, m0, M, k0)
        sB = load_tile(BKL, BN, LDB, B, n0, N, k0)
        for warp in range(WARPS_M * WARPS_N):
            wm, wn = warp % WARPS_M, warp // WARPS_M
            if not tf32:
                for ks in range(BKE // 16):
                    af = []
                    for mi in range(MI):
                        rb = wm * WM + mi * 16
                        if AK:
                            addrs = [(rb + (l & 15)) * LDA + ks * 16 + (l >> 4) * 8 for l in range(32)]
                        else:
                            addrs = [(ks * 16 + (l & 7) + (l >> 4) * 8) * LDA + rb + ((l >> 3) & 1) * 8 for l in range(32)]
                        af.append(ldsm(sA, addrs, not AK))
                    bf = [None] * NI
                    for nj in range(NI // 2):
                        nb = wn * WN + nj * 16
                        if BKL:
                            addrs = [(nb + (l & 7) + (l >> 4) * 8) * LDB + ks * 16 + ((l >> 3) & 1) * 8 for l in range(32)]
                        else:
                            addrs = [(ks * 16 + (l & 7) + ((l >> 3) & 1) * 8) * LDB + nb + (l >> 4) * 8 for l in range(32)]
                        r = ldsm(sB, addrs, not BKL)
                        bf[2 * nj] = [(r[l][0], r[l][1]) for l in range(32)]
                        bf[2 * nj + 1] = [(r[l][2], r[l][3]) for l in range(32)]
                    for mi in range(MI):
                        for ni in range(NI):
                            # reconstruct the mma operands per PTX m16n8k16
                            Am = np.zeros((16, 16)); Bm = np.zeros((16, 8))
                            for l in range(32):
                                g, t = l // 4, l % 4
                                a = af[mi][l]
                                Am[g, 2*t], Am[g, 2*t+1] = a[0]
                                Am[g+8, 2*t], Am[g+8, 2*t+1] = a[1]
                                Am[g, 2*t+8], Am[g, 2*t+9] = a[2]
                                Am[g+8, 2*t+8], Am[g+8, 2*t+9] = a[3]
                                b = bf[ni][l]
                                Bm[2*t, g], Bm[2*t+1, g] = b[0]
                                Bm[2*t+8, g], Bm[2*t+9, g] = b[1]
                            Cm = Am @ Bm
                            for l in range(32):
                                g, t = l // 4, l % 4
                                acc[warp, l, mi, ni] += [Cm[g, 2*t], Cm[g, 2*t+1], Cm[g+8, 2*t], Cm[g+8, 2*t+1]]
            else:
                at = lambda r, k: sA[r * LDA + k] if AK else sA[k * LDA + r]
                bt = lambda n, k: sB[n * LDB + k] if BKL else sB[k * LDB + n]
                for ks in range(BKE // 8):
                    for mi in range(MI):
                        for ni in range(NI):
                            Am = np.zeros((16, 8)); Bm = np.zeros((8, 8))
                            for l in range(32):
                                g, t = l // 4, l % 4
                                kb = ks * 8 + t
                                r = wm * WM + mi * 16 + g
                                a = [at(r, kb), at(r + 8, kb), at(r, kb + 4), at(r + 8, kb + 4)]
                                # PTX m16n8k8 tf32: a0 (g,t) a1 (g+8,t) a2 (g,t+4) a3 (g+8,t+4)
                                Am[g, t], Am[g+8, t], Am[g, t+4], Am[g+8, t+4] = a
                                n = wn * WN + ni * 8 + g
                                Bm[t, g], Bm[t+4, g] = bt(n, kb), bt(n, kb + 4)
                            Cm = Am @ Bm
                            for l in range(32):
                                g, t = l // 4, l % 4
                                acc[warp, l, mi, ni] += [Cm[g, 2*t], Cm[g, 2*t+1], Cm[g+8, 2*t], Cm[g+8, 2*t+1]]
    LDS = BN + 8
    stage = np.full(BM * LDS, np.nan)
    for warp in range(WARPS_M * WARPS_N):
        wm, wn = warp % WARPS_M, warp // WARPS_M
        for l in range(32):
            g, t = l // 4, l % 4
            for mi in range(MI):
                for ni in range(NI):
                    r = wm * WM + mi * 16 + g; c = wn * WN + ni * 8 + 2 * t
                    stage[r * LDS + c: r * LDS + c + 2] = acc[warp, l, mi, ni, 0:2]
                    stage[(r + 8) * LDS + c: (r + 8) * LDS + c + 2] = acc[warp, l, mi, ni, 2:4]
    tile = stage.reshape(BM, LDS)[:, :BN]
    ref = np.zeros((BM, BN))
    rr = (A @ B.T)[m0:m0 + BM, n0:n0 + BN]
    ref[:rr.shape[0], :rr.shape[1]] = rr
    ok = np.array_equal(tile, ref)
    return ok

bad = 0
for tf32 in (False, True):
    for (BM, BN, WMm, WNn) in [(128, 128, 2, 4), (64, 64, 2, 2)]:
        for AK, BKL in itertools.product((True, False), repeat=2):
            for (M, N, K, m0, n0) in [(BM, BN, 40, 0, 0), (BM + 20, BN + 3, 37, BM, 0), (70, 2 * BN, 70, 0, BN)]:
                ok = emulate(BM, BN, WMm, WNn, AK, BKL, tf32, M, N, K, m0, n0)
                bad += not ok
                print("tf32" if tf32 else "f16 ", BM, BN, "A:K-major" if AK else "A:MN-major",
                      "B:K-major" if BKL else "B:MN-major", (M, N, K, m0, n0), "OK" if ok else "MISMATCH")
raise SystemExit(1 if bad else 0)
