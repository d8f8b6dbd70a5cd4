"""The one place for Numba options. Every kernel in cnnkit.ops is decorated from here.

Imported only by commands that compute: ``cnnkit --help`` never loads Numba.
"""

from __future__ import annotations

import os
from pathlib import Path


def _ensure_writable_cache() -> None:
    """Point Numba's on-disk cache at a per-user directory when the package is read-only.

    Must run before numba is imported: Numba reads NUMBA_CACHE_DIR once.
    """
    if "NUMBA_CACHE_DIR" in os.environ:
        return
    package_dir = Path(__file__).resolve().parent
    if os.access(package_dir, os.W_OK):
        return  # the default (__pycache__ beside the source) works
    home = os.environ.get("CNNKIT_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cnnkit"
    )
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(home, "numba")


_ensure_writable_cache()
# OpenMP workers that spin after a parallel loop starve the matmul threads that run next
# (ops/matmul.py): a training step measured 9.8 ms spinning, 8.3 ms passive.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import sys  # noqa: E402
import threading  # noqa: E402


class _Hidden:
    """An import hook that answers "not installed" for a package, briefly (see below)."""

    def __init__(self, package: str):
        self.package = package

    def find_spec(self, name, path=None, target=None):
        if name == self.package or name.startswith(self.package + "."):
            raise ImportError(f"{self.package} is not needed by cnnkit's kernels")
        return None

    def __enter__(self):
        sys.meta_path.insert(0, self)

    def __exit__(self, *exc):
        sys.meta_path.remove(self)


# Numba imports scipy, when installed, only to check its version (61 of the 1510 ms
# ``import numba`` took under load, ``-X importtime``); cnnkit's kernels use no scipy. Left
# alone if already imported.
if "scipy" in sys.modules:
    import numba  # noqa: E402
else:
    with _Hidden("scipy"):
        import numba  # noqa: E402, F811
import numba.core.event  # noqa: E402

from cnnkit.ops import compiling, pending  # noqa: E402


def _load_numba_registries() -> None:
    """Import numba's array implementations without its BLAS probe; run before compiling.

    Numba's registries import numba.np.arraymath, which probes for BLAS by importing
    scipy.linalg when scipy is installed: 0.19 of the 0.39 s a first registry load took
    (measured with cProfile). cnnkit's kernels call no BLAS (matrix products run in numpy,
    outside the kernels), so the probe is answered "no" while that module loads. If
    scipy.linalg is already imported, nothing changes. Kernels loaded from the cache need
    no registries (``_cheap_cache_loads``), so this waits for the first compilation.
    """
    if "scipy.linalg" in sys.modules or "numba.np.arraymath" in sys.modules:
        return
    with _Hidden("scipy.linalg"):
        import numba.np.arraymath  # noqa: F401


def _cheap_cache_loads() -> None:
    """Load cached kernels without installing Numba's typing and lowering registries.

    Before loading a kernel from the on-disk cache, Numba refreshes its contexts: it imports
    and installs some 250 registries (0.11-0.13 s of a command's start on a quiet machine,
    most of what loading the first kernel costs). Machine code from the cache needs none of
    them, only the runtime that allocates arrays; the compiler refreshes the contexts itself
    before any compilation. Should a load fail without them, it is retried Numba's own way.
    """
    try:
        from numba.core import caching
        from numba.core.runtime import rtsys
    except ImportError:  # another Numba's layout: load its own way
        return
    numba_load = caching.Cache.load_overload

    def load_overload(self, sig, target_context):
        try:
            rtsys.initialize(target_context)
            # A kernel using array methods (``mask.any()``) rebuilds its environment by
            # importing numba.np.arraymath, whose BLAS probe imports scipy.linalg: answered
            # "no" here as in _load_numba_registries (0.1-0.3 s of `predict one.jpg`).
            with _Hidden("scipy.linalg"), self._guard_against_spurious_io_errors():
                return self._load_overload(sig, target_context)
        except Exception:  # noqa: BLE001
            return numba_load(self, sig, target_context)

    if getattr(caching.Cache, "_load_overload", None) is not None:
        caching.Cache.load_overload = load_overload


_cheap_cache_loads()


def _symbols_looked_up() -> None:
    """Answer "is this symbol defined?" by looking the name up, not by listing every symbol.

    Numba's JIT engine keeps a set of every function and global variable of each module it
    loads, made by walking the module through llvmlite: thousands of FFI calls, about 0.12 s
    of the 14 kernels `predict one.jpg` loads (cProfile). The set only answers
    ``is_symbol_defined``; here the modules are kept and the name is looked up in them when
    asked, which gives the same answer.
    """
    try:
        from numba.core.codegen import JitEngine
    except ImportError:  # another Numba's layout: its own way
        return
    if not all(callable(getattr(JitEngine, name, None))
               for name in ("_load_defined_symbols", "is_symbol_defined")):
        return

    def load_defined_symbols(self, module):
        self.__dict__.setdefault("_cnnkit_modules", []).append(module)

    def is_symbol_defined(self, name):
        if name in self._defined_symbols:  # added one by one (global mappings) or found
            return True
        for module in self.__dict__.get("_cnnkit_modules", ()):
            for find in (module.get_function, module.get_global_variable):
                try:
                    symbol = find(name)
                except NameError:
                    continue
                if not symbol.is_declaration:
                    self._defined_symbols.add(name)
                    return True
        return False

    JitEngine._load_defined_symbols = load_defined_symbols
    JitEngine.is_symbol_defined = is_symbol_defined


_symbols_looked_up()

# fastmath lets LLVM reassociate the float32 sums into SIMD lanes; error_model="numpy"
# keeps division free of Python's ZeroDivisionError checks inside hot loops.
_OPTIONS = dict(cache=True, fastmath=True, error_model="numpy", nogil=True)

njit = numba.njit(**_OPTIONS)
njit_parallel = numba.njit(parallel=True, **_OPTIONS)
# Without fastmath: for kernels whose every rounding must match numpy's (no fused
# multiply-add, no reassociation), e.g. mapping filter output to pixels bit-exactly.
_EXACT = dict(_OPTIONS, fastmath=False)
njit_exact = numba.njit(**_EXACT)
njit_exact_parallel = numba.njit(parallel=True, **_EXACT)
prange = numba.prange


def set_threads(n: int | None) -> int:
    """Set the Numba thread count (None: all cores) and return the count in force."""
    limit = numba.config.NUMBA_NUM_THREADS
    numba.set_num_threads(limit if n is None else max(1, min(int(n), limit)))
    return numba.get_num_threads()


if pending.threads is not None:  # chosen by the command before Numba started (None: the
    set_threads(pending.threads)  # default, already in force; setting it starts the pool)


@njit_parallel
def _touch(values):
    for i in prange(values.shape[0]):
        values[i] = 0


def threads_may_share() -> bool:
    """Whether parallel kernels may run from several Python threads at once.

    True for the OpenMP and TBB threading layers; Numba's fallback, workqueue, allows one
    caller at a time. Starts the threading layer if no parallel kernel has run yet.
    """
    try:
        layer = numba.threading_layer()
    except ValueError:  # not started yet
        import numpy as np

        _touch(np.zeros(1, np.int64))
        layer = numba.threading_layer()
    return layer != "workqueue"


class _CompileWatch(numba.core.event.Listener):
    """Tells ``compiling`` when compiler passes start running (a cache load runs none) and
    when the outermost compilation that ran them ends."""

    def __init__(self):
        self.depth = threading.local()

    def on_start(self, event):
        if event.kind == "numba:compile":
            if getattr(self.depth, "value", 0) == 0:
                _load_numba_registries()  # before the compiler installs the registries
            self.depth.value = getattr(self.depth, "value", 0) + 1
        else:
            compiling.started()

    def on_end(self, event):
        if event.kind == "numba:compile":
            self.depth.value = getattr(self.depth, "value", 1) - 1
            if self.depth.value == 0:
                compiling.finished()


_watch = _CompileWatch()
numba.core.event.register("numba:compile", _watch)
numba.core.event.register("numba:run_pass", _watch)
