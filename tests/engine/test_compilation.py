"""The kernel cache: numba's NUMBA_CACHE_DIR pointed at one directory per mfsim version, a
read-only fallback, the user's choice honoured, one compilation for concurrent processes
(mfsim.engine.compilation)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# the per-version directory, spelled out independently of mfsim.engine.compilation
TAG = (
    f"{version('mfsim')}-py{sys.version_info.major}{sys.version_info.minor}-numba{version('numba')}"
)
# a small kernel of the engine: compiles in about a second and writes one index file
CODE = textwrap.dedent(
    """
    import json, os, warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        import mfsim
        from mfsim.engine import compilation, kernels
        root = compilation.cache_dir()
    kernels._exponent(3.0)
    print(json.dumps({
        "root": str(root),
        "environ": os.environ.get("NUMBA_CACHE_DIR"),
        "warnings": [str(w.message) for w in caught if "mfsim" in str(w.message)],
    }))
    """
)


def _env(**extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT)
    env.pop("NUMBA_CACHE_DIR", None)
    env.update(extra)
    return env


def _run(code, env, cwd=None):
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _index_files(directory: Path) -> list[Path]:
    return sorted(directory.rglob("kernels._exponent-*.nbi"))


def test_cache_lives_in_one_directory_per_version_under_xdg_cache_home(tmp_path):
    home = tmp_path / "home"
    for cwd in (tmp_path, ROOT):  # whatever the working directory
        info = _run(CODE, _env(XDG_CACHE_HOME=str(home)), cwd=cwd)
        assert info["environ"] == info["root"] == str(home / "mfsim" / TAG)
        assert info["warnings"] == []
    (index,) = _index_files(tmp_path)  # the second process loaded what the first compiled
    assert index.is_relative_to(home / "mfsim" / TAG)
    assert str(ROOT) not in str(index.relative_to(tmp_path))


def test_a_numba_cache_dir_set_by_the_user_is_honoured_as_given(tmp_path):
    given = tmp_path / "given"
    info = _run(CODE, _env(NUMBA_CACHE_DIR=str(given), XDG_CACHE_HOME=str(tmp_path / "home")))
    assert info["environ"] == info["root"] == str(given)
    (index,) = _index_files(tmp_path)
    assert index.is_relative_to(given) and not index.is_relative_to(given / "mfsim")
    assert not (tmp_path / "home").exists()


def test_unwritable_cache_home_falls_back_to_a_temporary_cache_with_one_warning(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache home should be")
    temp = tmp_path / "tmp"
    temp.mkdir()
    info = _run(CODE, _env(XDG_CACHE_HOME=str(blocker / "cache"), TMPDIR=str(temp)))
    assert info["environ"] == info["root"]
    assert Path(info["root"]).is_relative_to(temp) and Path(info["root"]).name == TAG
    assert len(info["warnings"]) == 1 and "not writable" in info["warnings"][0]
    (index,) = _index_files(tmp_path)
    assert index.is_relative_to(Path(info["root"]))


def test_numba_imported_before_mfsim_keeps_its_default_silently(tmp_path):
    code = textwrap.dedent(
        """
        import json, os, warnings
        import numba
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from mfsim.engine import compilation, kernels
            compilation.cache_dir()
        print(json.dumps({
            "environ": os.environ.get("NUMBA_CACHE_DIR"),
            "numba": numba.config.CACHE_DIR,
            "warnings": [str(w.message) for w in caught if "mfsim" in str(w.message)],
        }))
        """
    )
    info = _run(code, _env(XDG_CACHE_HOME=str(tmp_path / "home")))
    assert info == {"environ": None, "numba": "", "warnings": []}


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
    indexes = sorted((tmp_path / "shared").rglob("kernels.*.nbi"))
    assert indexes and not (tmp_path / "shared" / "mfsim").exists()
