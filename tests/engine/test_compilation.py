"""The kernel cache: one directory per mfsim version, a read-only fallback, one compilation for
concurrent processes (mfsim.engine.compilation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("NUMBA_CACHE_DIR", None)
    env.update(extra)
    return env


def test_unwritable_cache_home_falls_back_to_a_temporary_cache_with_one_warning(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache home should be")
    temp = tmp_path / "tmp"
    temp.mkdir()
    code = textwrap.dedent(
        """
        import json, warnings
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            import mfsim  # decorating the kernels picks the cache directory
            from mfsim.engine import compilation, kernels
            root = compilation.cache_dir()
        print(json.dumps({
            "root": str(root),
            "warnings": [str(w.message) for w in caught if "mfsim" in str(w.message)],
            "kernel_cache": kernels.run_seed_parallel._cache._cache_path,
        }))
        """
    )
    env = _env(XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(temp))
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(info["root"]).is_relative_to(temp)
    assert len(info["warnings"]) == 1 and "not writable" in info["warnings"][0]
    assert Path(info["kernel_cache"]).is_relative_to(Path(info["root"]))


def test_cache_directory_does_not_depend_on_the_checkout(tmp_path):
    code = "from mfsim.engine import kernels; print(kernels.run_seed_parallel._cache._cache_path)"
    paths = set()
    for cwd in (tmp_path, ROOT):
        out = subprocess.run(
            [sys.executable, "-c", code],
            env=_env(XDG_CACHE_HOME=str(tmp_path / "home")),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        paths.add(out.stdout.strip())
    (path,) = paths
    assert Path(path).is_relative_to(tmp_path / "home" / "mfsim")
    assert str(ROOT) not in path


@pytest.mark.scenario  # two cold compilations: ~30 s of CPU (issue 22 item 7)
def test_two_processes_on_a_cold_cache_compile_once(tmp_path):
    """Both start at once on an empty cache: one compiles, the other waits on the lock and
    loads the compiled kernel (no cache miss)."""
    code = textwrap.dedent(
        """
        import json, time
        import mfsim
        from mfsim.engine import kernels
        t = time.perf_counter()
        spec = mfsim.spectrum("flat", 40, r=1, kappa=2)
        mfsim.simulate(spec, steps=3, seeds=[0], kernel="seed")
        print(json.dumps({
            "misses": sum(kernels.run_seed_parallel._cache_misses.values()),
            "hits": sum(kernels.run_seed_parallel._cache_hits.values()),
            "seconds": time.perf_counter() - t,
        }))
        """
    )
    env = _env(NUMBA_CACHE_DIR=str(tmp_path / "shared"))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results, messages = [], []
    for p in procs:
        stdout, stderr = p.communicate(timeout=1800)
        assert p.returncode == 0, stderr
        results.append(json.loads(stdout.strip().splitlines()[-1]))
        messages.append(stderr)
    # the empty cache is announced once, before compiling starts, by the process that compiles;
    # the other one says that it waits (or nothing, if it came after the compilation)
    assert sum(text.count("mfsim: compiling the numba kernels") for text in messages) == 1
    assert sum(text.count("mfsim: waiting for another process") for text in messages) <= 1
    # and says when the kernels are ready, after the announcement
    compiler = next(text for text in messages if "mfsim: compiling the numba kernels" in text)
    ready = compiler.index("mfsim: numba kernels ready after ")
    assert compiler.index("mfsim: compiling the numba kernels") < ready
    misses = sorted(r["misses"] for r in results)
    assert misses == [0, 1], results
    loaded = next(r for r in results if r["misses"] == 0)
    assert loaded["hits"] == 1
    assert (tmp_path / "shared" / "mfsim").is_dir()
