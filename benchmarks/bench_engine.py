"""Engine benchmark: site updates per second of the mesoscale engine, against the memory roofline and NumPy.

Usage: ``python benchmarks/bench_engine.py [--quick | --standard | --large]``; the last line of stdout is one JSON
object (figures, config, versions, device).

* Workload: a cubic MIL-53(Al) crystal of n³ sites (open faces), float32, with every term of the model on:
  anisotropic neighbour coupling, per-phase surface energy on the exposed faces, 2 % point defects with a
  defect shift, thermal noise, guest (CO2) diffusion with exchange through the surface, and fragmentation
  (a finite cohesion, so links are tested and rewritten every step). 5 bar CO2 at 303 K, held. Time step:
  half the stability limit.
* Figure of merit: site updates per second (sites × steps / time of one compiled ``lax.scan`` chunk,
  ``block_until_ready``), median and range over repeats; the compile time is reported on its own.
* Roofline: bytes of state moved per site update, counted from the state arrays each step reads and writes
  (η and the loading read and written, the link byte read and, with fragmentation, written), divided into
  the bandwidth of a plain copy measured in the same run (the faster of a NumPy ``copyto`` and a jitted,
  buffer-donating JAX copy of 256 MiB; bandwidth = bytes read + written per second).
* Baseline: the same update written in plain NumPy (float32, the same equations, the same padded-halo
  stencil and counter-based noise), one step at a time, in the same run; its agreement with the engine
  after one step is reported (it is not bit-identical: different operation order).
* Breakdown (``--standard`` and ``--large``, at the largest size ≤ 256³): the same chunk with terms switched
  off one at a time, and XLA's own account of the compiled loop (number of fused kernels per step and the
  bytes they read and write per site, parsed from the optimised HLO).
* Kernels (every tier, at its largest size, everything on): the wall time of each XLA kernel of one chunk per
  site update, from a ``jax.profiler`` trace, with the divisions, square roots and logarithms it contains:
  where the time of a step goes.

Setup (geometry, compilation) is untimed; fixed seeds (geometry 0, noise 0).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.engine import EngineConfig, Geometry, make_engine, stability_limit_s  # noqa: E402
from twin.engine.dynamics import TwinState, step_coefficients  # noqa: E402
from twin.engine.lattice import DIRECTIONS, crystal_mask, pack_links  # noqa: E402
from twin.engine.model import inside, step_keys  # noqa: E402
from twin.engine.params import mesoscale_from_material  # noqa: E402
from twin.material import load_material  # noqa: E402
from twin.protocol import compile_protocol  # noqa: E402
from twin.scenario import parse_scenario  # noqa: E402

EDGES = {"1e4": 22, "1e5": 46, "1e6": 100, "1e7": 215, "256^3": 256, "1e8": 464}
TIERS = {
    "quick": {"sizes": ["1e4", "1e5", "1e6"], "repeats": 3, "numpy_max_edge": 100, "breakdown": False},
    "standard": {"sizes": ["1e4", "1e5", "1e6", "1e7", "256^3"], "repeats": 5, "numpy_max_edge": 256,
                 "breakdown": True},
    "large": {"sizes": ["1e4", "1e5", "1e6", "1e7", "256^3", "1e8"], "repeats": 3, "numpy_max_edge": 256,
              "breakdown": True},
}
FULL = {"noise": True, "guest_diffusion": True, "fracture": True}
BREAKDOWN = {  # terms switched off one at a time (coupling, surface and defect terms are always on)
    "stencil only (coupling, surface, defects)": {"noise": False, "guest_diffusion": False, "fracture": False},
    "+ noise": {"noise": True, "guest_diffusion": False, "fracture": False},
    "+ noise + fragmentation": {"noise": True, "guest_diffusion": False, "fracture": True},
    "+ noise + guest diffusion": {"noise": True, "guest_diffusion": True, "fracture": False},
    "everything": FULL,
}
PROTOCOL = """
material = "mil53-al"
[crystal]
size_cells = 4
[protocol]
gases = { CO2 = 1.0 }
temperature = "303 K"
pressure = "5 bar"
[[protocol.segments]]
type = "hold"
duration = "1 h"
"""


# ------------------------------------------------------------------------------------------------ setup
def build(edge: int, terms: dict, material):
    """Engine and initial state of an edge³ crystal with ``terms`` on (untimed)."""
    rng = np.random.default_rng(0)
    shape = (edge,) * 3
    links = pack_links(crystal_mask("cuboid", shape), rng.random(shape, dtype=np.float32) < 0.02)
    a = material.phases[-1]
    geo = Geometry(links, (a.a_A, a.b_A, a.c_A), False, 1, np.asarray(shape, float) * (a.a_A, a.b_A, a.c_A))
    meso = mesoscale_from_material(material)
    meso = replace(meso, surface_energy_kj_mol=jnp.asarray([0.5, 0.0], jnp.float32),
                   defect_shift_kj_mol=jnp.asarray([2.0, 0.0], jnp.float32),
                   cohesion_kj_mol=jnp.asarray(40.0 if terms["fracture"] else np.inf, jnp.float32))
    table = compile_protocol(parse_scenario(PROTOCOL).protocol)
    dt = 0.5 * stability_limit_s(material.thermo, meso, geo, table, terms["guest_diffusion"])[0]
    cfg = EngineConfig(dt_s=dt, noise=terms["noise"], guest_diffusion=terms["guest_diffusion"])
    eng = make_engine(material.thermo, meso, geo, table, cfg, eta0=0.0)
    state = eng.init(0)
    # start from a rough η field (a mixture of both phases) so that every branch of the update is exercised
    eta = jnp.asarray(rng.uniform(0.0, 1.0, shape).astype(np.float32)) * inside(jnp.asarray(links), jnp.float32)
    return eng, replace(state, eta=eta)


def state_bytes_per_site(state: TwinState, fracture: bool) -> int:
    """Bytes of state read and written per site update: every per-site leaf is read; η and the loading are
    written; the link byte is written only when links can break."""
    total = 0
    for name in ("eta", "loading", "links"):
        leaf = getattr(state, name)
        if leaf is None:
            continue
        size = jnp.dtype(leaf.dtype).itemsize
        written = name != "links" or fracture
        total += size * (2 if written else 1)
    return total


# ------------------------------------------------------------------------------------------------ timing
def median_range(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), (min(times), max(times))


def copy_bandwidth(repeats: int) -> dict:
    """Bytes read + written per second by a plain copy of 256 MiB (NumPy, and a jitted donating JAX copy)."""
    n = 64 * 2**20  # float32 elements
    src = np.random.default_rng(0).random(n, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    t_np, _ = median_range(lambda: np.copyto(dst, src), repeats + 2)
    copy = jax.jit(lambda x: x * jnp.float32(1.0000001), donate_argnums=0)
    box = [jax.block_until_ready(copy(jnp.asarray(src)))]

    def run():
        box[0] = jax.block_until_ready(copy(box[0]))

    run()
    t_jax, _ = median_range(run, repeats + 2)
    return {"numpy_copy_GBps": 8 * n / t_np / 1e9, "jax_copy_GBps": 8 * n / t_jax / 1e9,
            "bytes_per_copy": 8 * n}


def steps_for(sites: int) -> int:
    """Steps per timed chunk: about 4·10⁸ site updates per call, between 4 and 200 steps (24 at 256³).

    A chunk is one frame interval of a real run (``twin run``), usually hundreds of steps. Each call also pays
    a fixed cost that a short chunk would time as if it were part of a step: XLA allocates the chunk's
    temporary buffers afresh (≈ 1 GB at 256³, first touched page by page) and the error check reads the state.
    At 256³ on the 2-core box that cost is ≈ 0.1 s per call, 6 steps per call read 1.0·10⁸ updates/s where
    24 read 1.3·10⁸.
    """
    return int(min(200, max(4, round(4e8 / sites))))


def bench_engine(edge: int, terms: dict, material, repeats: int, with_hlo: bool = False,
                 with_kernels: bool = False) -> dict:
    eng, state = build(edge, terms, material)
    sites = edge**3
    n_steps = steps_for(sites)
    t0 = time.perf_counter()
    compiled = eng.compile_chunk(state, n_steps)
    compile_s = time.perf_counter() - t0
    args = eng.chunk_arguments()
    mem = compiled.memory_analysis()
    box = [jax.block_until_ready(compiled(*args, state))]  # warm-up call (first call allocations)

    def run():
        box[0] = jax.block_until_ready(compiled(*args, box[0]))

    t, (lo, hi) = median_range(run, repeats)
    eng.raise_on_error(box[0], 0)
    out = {
        "edge": edge, "sites": sites, "n_steps": n_steps, "compile_s": compile_s, "median_s": t,
        "range_s": [lo, hi], "updates_per_s": sites * n_steps / t,
        "updates_per_s_range": [sites * n_steps / hi, sites * n_steps / lo],
        "state_bytes_per_update": state_bytes_per_site(state, terms["fracture"]),
        "dt_s": eng.config.dt_s,
    }
    if mem is not None:
        out["xla_bytes_per_site"] = (mem.argument_size_in_bytes + mem.output_size_in_bytes
                                     + mem.temp_size_in_bytes) / sites
    if with_hlo:
        out["hlo_loop"] = loop_traffic(compiled.as_text(), sites)
    if with_kernels:
        out["kernels"] = kernel_times(compiled, args, box, sites * n_steps)
    return out


EXPENSIVE_OPS = ("divide", "sqrt", "rsqrt", "log", "log-plus-one", "exponential", "power", "tanh")


def kernel_times(compiled, args, box, updates: int) -> list[dict] | None:
    """Wall time of each XLA kernel of one call, per site update, from a ``jax.profiler`` trace (the CPU
    runtime records one event per kernel), with the expensive elementwise operations each one contains.

    Kernels of the per-step loop appear once per step; times are summed over the call. Returns the kernels
    that take ≥ 1 % of the call, slowest first (``None`` if the trace cannot be read: its format is not an API).
    """
    try:
        with tempfile.TemporaryDirectory() as tmp:
            with jax.profiler.trace(tmp, create_perfetto_trace=True):
                box[0] = jax.block_until_ready(compiled(*args, box[0]))
            trace = json.load(gzip.open(next(Path(tmp).rglob("*.trace.json.gz"))))
        totals, calls = {}, {}
        for e in trace["traceEvents"]:
            name = e.get("name", "")
            if e.get("ph") != "X" or name.startswith(("$", "ThunkExecutor", "PjitFunction", "while", "cond")):
                continue
            totals[name] = totals.get(name, 0.0) + e["dur"] * 1e3  # µs -> ns
            calls[name] = calls.get(name, 0) + 1
        hlo = compiled.as_text()
        called = dict(re.findall(r"%(\S+) = [^\n]*? fusion\([^\n]*?calls=%([\w.\-]+)", hlo))
        total = sum(totals.values())
        out = []
        for name, ns in sorted(totals.items(), key=lambda kv: -kv[1]):
            if ns < 0.01 * total:
                break
            body = re.search(rf"^%{re.escape(called.get(name, name))} .*?^}}", hlo, re.S | re.M)
            ops = {}
            for op in re.findall(r" ([a-z\-]+)\(", body.group(0)) if body else []:
                if op in EXPENSIVE_OPS:
                    ops[op] = ops.get(op, 0) + 1
            out.append({"kernel": name, "calls": calls[name], "ns_per_update": ns / updates, "expensive_ops": ops})
        return out
    except Exception:  # noqa: BLE001 - the trace and HLO text formats are not APIs; the figure is optional
        return None


def loop_traffic(hlo: str, sites: int) -> dict | None:
    """Fused kernels per step in the time loop and the bytes they read and write per site (from the HLO).

    Counts every array-sized fusion of the ``while`` body with the largest trip count, and of the costliest
    branch of each conditional in it: operand bytes (each operand once) plus output bytes. An estimate
    (slices of a padded operand count in full).
    """
    try:
        comps, cur = {}, None
        for line in hlo.splitlines():
            m = re.match(r"^(?:ENTRY )?%(\S+) ", line)
            if m and line.rstrip().endswith("{"):
                cur = m.group(1)
                comps[cur] = []
            elif cur is not None:
                comps[cur].append(line)
        itemsize = {"f32": 4, "u32": 4, "s32": 4, "u8": 1, "pred": 1, "f64": 8, "s8": 1}

        def traffic(name: str) -> tuple[int, int]:
            shapes = {}
            for line in comps.get(name, []):
                m = re.match(r"\s*(?:ROOT )?%(\S+) = (\w+)\[([\d,]*)\]", line)
                if m:
                    dims = [int(d) for d in m.group(3).split(",") if d]
                    elements = int(np.prod(dims)) if dims else 1
                    shapes[m.group(1)] = (itemsize.get(m.group(2), 4) * elements, elements)
            kernels, moved = 0, 0
            for line in comps.get(name, []):
                branches = re.search(r"conditional\(.*branch_computations=\{([^}]*)\}", line)
                if branches:
                    k, b = max(traffic(c.strip().lstrip("%")) for c in branches.group(1).split(","))
                    kernels, moved = kernels + k, moved + b
                    continue
                m = re.match(r"\s*(?:ROOT )?%(\S+) = \S+ fusion\(([^)]*)\)", line)
                if not m or shapes.get(m.group(1), (0, 0))[1] < sites:
                    continue
                kernels += 1
                operands = {o.strip().lstrip("%") for o in m.group(2).split(",")}
                moved += shapes[m.group(1)][0] + sum(shapes.get(o, (0, 0))[0] for o in operands)
            return kernels, moved

        best = None
        for body in set(re.findall(r"body=%([\w.\-]+)", hlo)):
            kernels, moved = traffic(body)
            if kernels and (best is None or kernels > best["kernels_per_step"]):  # the loop over lattice steps
                best = {"kernels_per_step": kernels, "bytes_per_site_update": moved / sites}
        return best
    except Exception:  # noqa: BLE001 - the HLO text format is not an API; the figure is optional
        return None


# ------------------------------------------------------------------------------------------------ NumPy
def _hash32(x):
    x = x ^ (x >> np.uint32(16))
    x = x * np.uint32(0x7FEB352D)
    x = x ^ (x >> np.uint32(15))
    x = x * np.uint32(0x846CA68B)
    return x ^ (x >> np.uint32(16))


def _halo(x):
    return np.pad(x, 1)


def _nb(p, axis, offset):
    index = [slice(1, -1)] * 3
    index[axis] = slice(1 + offset, p.shape[axis] - 1 + offset)
    return p[tuple(index)]


def _log_mean(a, la, b, lb):
    d = la - lb
    small = np.abs(d) < 0.5
    x2 = np.float32(0.25) * d * d
    series = np.float32(0.5) * (a + b) * (1 + x2 * (np.float32(-1 / 3) + x2 * (np.float32(2 / 15) + x2 * (
        np.float32(-17 / 315) + x2 * np.float32(62 / 2835)))))
    with np.errstate(divide="ignore", invalid="ignore"):
        direct = (a - b) / np.where(small, np.float32(1.0), d)
    return np.where(small, series, direct)


def numpy_step(eta, loading, links, step, c, meso, spacing, terms):
    """One step of the engine's update (``twin.engine.dynamics._update``) in plain NumPy float32."""
    f32 = np.float32
    inside = ((links >> 6) & 1).astype(f32)
    bits = [((links >> k) & 1).astype(f32) for k in range(6)]
    exposed = (f32(6) - sum(bits)) * inside
    defect = ((links >> 7) & 1).astype(f32)
    g, d = np.asarray(meso.surface_energy_kj_mol), np.asarray(meso.defect_shift_kj_mol)
    local = (g[-1] - g[0]) * exposed + (d[-1] - d[0]) * defect
    nmax = np.asarray(c.n_max)
    aff = np.exp(np.float32(c.log_affinity)) * np.asarray([c.affinity_ratio, 1.0], np.float32)  # (K_c, K_o)
    h = np.clip(eta, 0, 1)
    h = h * h * (3 - 2 * h)
    if terms["guest_diffusion"]:
        a, b = (1 - h) * nmax[0], h * nmax[-1]
        nbar = a + b
        n = np.clip(loading, f32(1e-30) * nbar, f32(1 - 1e-6) * nbar)
        r = aff[0] / aff[-1]
        q2 = r * (nbar - n)
        q1 = r * (n - a) + (n - b)
        s = np.sqrt(q1 * q1 + 4 * q2 * n)
        with np.errstate(divide="ignore", invalid="ignore"):
            x = np.where(q1 <= 0, 2 * n / (s - q1), (q1 + s) / (2 * q2))
        f = x / aff[-1]
        kfc, kfo = aff[0] * f, aff[-1] * f
        ads = np.asarray(c.ads_scale)
        d_omega = f32(c.d_host_pv) - (ads[-1] * np.log(1 + kfo) - ads[0] * np.log(1 + kfc)) + local
    else:
        d_omega = f32(c.d_omega) + local
    w = f32(c.barrier)
    force = -2 * eta * (1 - eta) * (3 * d_omega + w * (1 - 2 * eta)) * inside
    coupling = np.asarray(meso.coupling_kj_mol)
    pe = _halo(eta)
    for k, (axis, off) in enumerate(DIRECTIONS):
        force = force - coupling[axis] * bits[k] * (eta - _nb(pe, axis, off))
    new_eta = eta + f32(c.eta_rate) * force
    if terms["noise"]:
        nx, ny, nz = eta.shape
        index = np.arange(nx * ny * nz, dtype=np.uint32).reshape(eta.shape)
        u = (_hash32(_hash32(index ^ np.uint32(c.key1)) + np.uint32(c.key2)) >> np.uint32(8)).astype(f32)
        xi = (u * f32(2.0**-24) + f32(2.0**-25) - f32(0.5)) * f32(np.sqrt(12.0))
        new_eta = new_eta + f32(c.noise_amplitude) * inside * xi
    if terms["guest_diffusion"]:
        tc, to = kfc / (1 + kfc), kfo / (1 + kfo)
        m = np.maximum((1 - h) * nmax[0] * tc * (1 - tc) + h * nmax[-1] * to * (1 - to), f32(1e-30))
        gm = np.asarray(c.gas_mobility)
        mg = np.maximum((1 - h) * gm[0] + h * gm[-1], f32(1e-30))
        dif = np.asarray(meso.diffusivity_A2_s)
        D = (1 - h) * dif[0] + h * dif[-1]
        log_f = np.log(f)
        lm = np.log(m)
        pads = [_halo(v) for v in (log_f, m, lm, D)]
        inflow = np.zeros_like(eta)
        gas_rate = np.zeros_like(eta)
        for k, (axis, off) in enumerate(DIRECTIONS):
            rate = f32(1.0 / spacing[axis] ** 2)
            nlf, nm, nlm, nd = (_nb(p, axis, off) for p in pads)
            inflow += rate * bits[k] * f32(0.5) * (D + nd) * _log_mean(m, lm, nm, nlm) * (nlf - log_f)
            gas_rate += rate * (1 - bits[k])
        inflow += gas_rate * D * _log_mean(m, lm, mg, np.log(mg)) * (f32(c.log_f_gas) - log_f)
        loading = loading + f32(c.dt_s) * inflow * inside
    if terms["fracture"]:
        keep = np.zeros_like(links)
        coh = f32(meso.cohesion_kj_mol)
        for k, (axis, off) in enumerate(DIRECTIONS):
            diff = eta - _nb(pe, axis, off)
            keep |= ((f32(0.5) * coupling[axis] * diff * diff <= coh).astype(np.uint8) << np.uint8(k))
        links = links & (keep | np.uint8(0b1100_0000))
    return new_eta, loading, links


def bench_numpy(edge: int, terms: dict, material, repeats: int) -> dict:
    eng, state = build(edge, terms, material)
    drive = eng.drive_at(jnp.asarray(0.0, jnp.float32))
    k1, k2 = step_keys(state.key, state.step)
    c = step_coefficients(drive, eng.meso, eng.config, eng.block_volume, k1, k2)
    c = SimpleNamespace(dt_s=eng.config.dt_s, **{k: np.asarray(v) for k, v in vars(c).items()})
    eta, links = np.asarray(state.eta), np.asarray(state.links)
    loading = np.asarray(state.loading) if state.loading is not None else None
    with np.errstate(over="ignore"):
        one = numpy_step(eta, loading, links, 0, c, eng.meso, eng.spacing_A, terms)
        t, (lo, hi) = median_range(lambda: numpy_step(eta, loading, links, 0, c, eng.meso, eng.spacing_A, terms),
                                   repeats)
    ref = eng.run_chunk(state, 1)
    agree = {"max_abs_diff_eta": float(np.max(np.abs(one[0] - np.asarray(ref.eta))))}
    if loading is not None:
        scale = float(np.max(np.abs(np.asarray(ref.loading))))
        agree["max_rel_diff_loading"] = float(np.max(np.abs(one[1] - np.asarray(ref.loading)))) / scale
    agree["links_equal"] = bool(np.array_equal(one[2], np.asarray(ref.links)))
    return {"edge": edge, "sites": edge**3, "median_s": t, "range_s": [lo, hi],
            "updates_per_s": edge**3 / t, "agreement_after_one_step": agree}


# ------------------------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    tier = parser.add_mutually_exclusive_group()
    for name in TIERS:
        tier.add_argument(f"--{name}", dest="tier", action="store_const", const=name)
    args = parser.parse_args()
    name = args.tier or "quick"
    cfg = TIERS[name]
    material = load_material("mil53-al")
    bw = copy_bandwidth(cfg["repeats"])
    bandwidth = max(bw["numpy_copy_GBps"], bw["jax_copy_GBps"]) * 1e9
    print(f"copy bandwidth: NumPy {bw['numpy_copy_GBps']:.1f} GB/s, JAX {bw['jax_copy_GBps']:.1f} GB/s",
          file=sys.stderr)
    results = []
    for size in cfg["sizes"]:
        edge = EDGES[size]
        r = bench_engine(edge, FULL, material, cfg["repeats"], with_hlo=True, with_kernels=size == cfg["sizes"][-1])
        r["roofline_updates_per_s"] = bandwidth / r["state_bytes_per_update"]
        r["roofline_fraction"] = r["updates_per_s"] / r["roofline_updates_per_s"]
        if edge <= cfg["numpy_max_edge"]:
            n = bench_numpy(edge, FULL, material, max(1, min(cfg["repeats"], 3)))
            r["numpy"] = n
            r["speedup_vs_numpy"] = r["updates_per_s"] / n["updates_per_s"]
        results.append(r)
        print(f"{edge}^3 = {edge**3:.3g} sites: {r['updates_per_s']:.3g} updates/s "
              f"({100 * r['roofline_fraction']:.1f} % of roofline), compile {r['compile_s']:.1f} s"
              + (f", {r['speedup_vs_numpy']:.1f}x NumPy" if "numpy" in r else ""), file=sys.stderr)
    breakdown = []
    if cfg["breakdown"]:
        edge = max(EDGES[s] for s in cfg["sizes"] if EDGES[s] <= 256)
        for label, terms in BREAKDOWN.items():
            r = bench_engine(edge, terms, material, cfg["repeats"], with_hlo=True)
            r["terms"] = label
            r["roofline_fraction"] = r["updates_per_s"] * r["state_bytes_per_update"] / bandwidth
            breakdown.append(r)
            print(f"  {label}: {r['updates_per_s']:.3g} updates/s", file=sys.stderr)
    from importlib.metadata import version

    result = {
        "benchmark": "engine", "tier": name, "device": str(jax.devices()[0]), "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "versions": {"python": platform.python_version(), "jax": jax.__version__, "jaxlib": version("jaxlib"),
                     "numpy": np.__version__},
        "config": {"material": material.name, "dtype": "float32", "lattice": "cubic, open faces",
                   "terms": ["coupling", "surface", "defects (2 %)", "noise", "guest diffusion", "fragmentation"],
                   "conditions": "CO2 5 bar, 303 K", "seeds": {"geometry": 0, "noise": 0},
                   "repeats": cfg["repeats"]},
        "copy_bandwidth": bw, "roofline_bandwidth_GBps": bandwidth / 1e9,
        "results": results, "breakdown": breakdown,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
