"""mfsim.store.atomic: whole-or-nothing writes, overwrite that keeps the old store until the new
one is complete, full disks (injected and on a real tmpfs), readers that refuse partial stores."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from mfsim import cli
from mfsim.execute import run_chunk
from mfsim.plan.grid import make_chunks
from mfsim.store import chunk_store_path
from mfsim.store.atomic import (
    MARKER,
    DiskFullError,
    IncompleteStoreError,
    atomic_store,
    is_complete,
    open_store,
    read_marker,
)
from tests.helpers import store_tiny
from tests.tmpfs import mounted_tmpfs, tree_snapshot


def run_args(out: Path, seeds: str = "0-1", steps: int = 100, *extra: str) -> list[str]:
    return [
        "run", "--family", "linear", "--kappa", "5", "--d", "50", "--r", "2",
        "--steps", str(steps), "--seeds", seeds, "--quiet", "--out", str(out), *extra,
    ]  # fmt: skip


def leftovers(directory: Path, name: str) -> list[str]:
    """Entries next to the store other than the store itself."""
    return sorted(p.name for p in directory.iterdir() if p.name != name)


def fail_after(count: int):
    """A replacement of a writing function: calls the original `count` times, then raises
    ENOSPC (a disk that fills up part way through a store)."""
    calls = []

    def wrap(original):
        def write(*args, **kwargs):
            calls.append(1)
            if len(calls) > count:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return original(*args, **kwargs)

        return write

    return wrap, calls


def test_full_disk_mid_chunk_store_leaves_the_old_one_byte_identical(tmp_path, monkeypatch):
    config = store_tiny(target_seconds=1e-9)
    chunk = make_chunks(config)[0]
    out = chunk_store_path(tmp_path, chunk)
    run_chunk(chunk, config, out, threads=1)
    before = tree_snapshot(out)
    wrap, calls = fail_after(5)
    monkeypatch.setattr(Path, "write_bytes", wrap(Path.write_bytes))
    with pytest.raises(DiskFullError) as caught:
        run_chunk(chunk, config, out, threads=1)
    assert len(calls) == 6  # it failed part way, after writing 5 files of the new store
    message = str(caught.value)
    assert str(out.parent) in message and "bytes" in message and "free in" in message
    assert "estimated" in message and "previous" in message
    assert tree_snapshot(out) == before
    assert leftovers(out.parent, out.name) == []


def test_overwrite_with_a_failing_zarr_write_keeps_the_old_output(tmp_path, monkeypatch, capsys):
    import zarr.storage

    out = tmp_path / "one.zarr"
    assert cli.main(run_args(out)) == 0
    before = tree_snapshot(out)
    wrap, calls = fail_after(10)
    monkeypatch.setattr(zarr.storage.LocalStore, "set", _async(wrap, zarr.storage.LocalStore.set))
    capsys.readouterr()
    assert cli.main(run_args(out, "0-3", 150, "--overwrite")) == 1
    assert len(calls) > 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mfsim run: error: ") and str(tmp_path) in err[0]
    assert tree_snapshot(out) == before
    assert leftovers(tmp_path, out.name) == []
    assert open_store(out).sizes["seed"] == 2


def _async(wrap, original):
    checked = wrap(lambda: None)

    async def write(self, *args, **kwargs):
        checked()
        return await original(self, *args, **kwargs)

    return write


def test_overwrite_of_a_netcdf_file_with_a_failing_write_keeps_the_old_file(
    tmp_path, monkeypatch, capsys
):
    pytest.importorskip(cli.NETCDF_ENGINE)
    out = tmp_path / "one.nc"
    assert cli.main(run_args(out)) == 0
    before = out.read_bytes()

    def partial_then_full(self, path, *args, **kwargs):
        Path(path).write_bytes(b"CDF partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(xr.Dataset, "to_netcdf", partial_then_full)
    assert cli.main(run_args(out, "0-3", 150, "--overwrite")) == 1
    assert "no space left on device" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert leftovers(tmp_path, out.name) == []


def test_overwrite_replaces_the_store_whole(tmp_path):
    out = tmp_path / "one.zarr"
    assert cli.main(run_args(out)) == 0
    assert cli.main(run_args(out, "0-2", 120, "--overwrite")) == 0
    ds = open_store(out)
    assert ds.sizes["seed"] == 3 and ds.sizes["step"] == 121
    marker = read_marker(out)
    assert marker["kind"] == "run" and marker["n_runs"] == 3
    # the marker lists every file with its size
    files = {p.relative_to(out).as_posix(): p.stat().st_size for p in out.rglob("*") if p.is_file()}
    del files[MARKER]
    assert marker["files"] == files
    assert leftovers(tmp_path, out.name) == []


# ---- a real full disk: a small tmpfs --------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 1.2 MB tmpfs: one `mfsim run` store of 2 seeds (about 0.8 MB with its 4 KiB blocks)
    fits, a second one beside it does not."""
    with mounted_tmpfs(tmp_path / "disk", "1200k") as disk:
        yield disk


def test_overwrite_on_a_full_tmpfs_is_refused_before_writing(small_disk, capsys):
    out = small_disk / "one.zarr"
    assert cli.main(run_args(out)) == 0
    before = tree_snapshot(out)
    capsys.readouterr()
    assert cli.main(run_args(out, "0-7", 300, "--overwrite")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"are free in {small_disk}" in err[0] and "needs an estimated" in err[0]
    assert tree_snapshot(out) == before
    assert leftovers(small_disk, out.name) == []


def test_enospc_while_overwriting_on_a_tmpfs_keeps_the_old_store(small_disk, monkeypatch, capsys):
    out = small_disk / "one.zarr"
    assert cli.main(run_args(out)) == 0
    before = tree_snapshot(out)
    # let the write itself hit the full disk (the estimate-based refusal is tested above)
    monkeypatch.setattr(cli, "_check_space", lambda ds, out: None)
    capsys.readouterr()
    assert cli.main(run_args(out, "0-7", 300, "--overwrite")) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    line = err[0]
    assert "no space left on device" in line and f"free in {small_disk}" in line
    assert "needs an estimated" in line and "previous one.zarr is unchanged" in line
    assert tree_snapshot(out) == before
    assert leftovers(small_disk, out.name) == []
    assert open_store(out).sizes["seed"] == 2


# ---- readers ---------------------------------------------------------------------------------


def small_store(path: Path) -> Path:
    ds = xr.Dataset({"x": (("a",), np.arange(10.0))})
    with atomic_store(path, {"kind": "test"}) as tmp:
        ds.to_zarr(tmp, zarr_format=2, consolidated=True)
    return path


def test_readers_refuse_a_store_without_marker_or_with_missing_files(tmp_path):
    store = small_store(tmp_path / "a.zarr")
    assert open_store(store)["x"].values.tolist() == list(range(10))
    (store / "x" / "0").unlink()
    with pytest.raises(
        IncompleteStoreError, match=rf"{store}: not a complete store: x/0 is missing"
    ):
        open_store(store)
    (store / MARKER).unlink()
    with pytest.raises(IncompleteStoreError, match="no completion marker .* delete it"):
        open_store(store, "sweep store")


# ---- what dead writers leave behind --------------------------------------------------------


def test_temporaries_of_dead_writers_are_removed_and_of_live_ones_kept(tmp_path):
    out = tmp_path / "a.zarr"
    host = socket.gethostname()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], text=True,
                          capture_output=True, check=True)  # fmt: skip
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        names = {
            "dead": f"a.zarr.tmp-{host}-{int(dead.stdout)}-0123abcd",
            "live": f"a.zarr.tmp-{host}-{live.pid}-0123abcd",
            "other-host": "a.zarr.tmp-elsewhere-1-0123abcd",
            "old-version": "a.zarr.tmp-" + "ab" * 16,
        }
        for name in names.values():
            (tmp_path / name).mkdir()
        small_store(out)
        assert leftovers(tmp_path, "a.zarr") == sorted([names["live"], names["other-host"]])
    finally:
        live.kill()
        live.wait()


def test_a_store_moved_aside_by_a_dead_writer_is_restored(tmp_path):
    # a writer killed between its two renames: the old store is aside, nothing at the path
    out = small_store(tmp_path / "a.zarr")
    before = tree_snapshot(out)
    aside = tmp_path / f"a.zarr.old-{socket.gethostname()}-999999999-0123abcd"
    os.rename(out, aside)
    with pytest.raises(RuntimeError, match="writer failed"):
        with atomic_store(out, {"kind": "test"}):
            raise RuntimeError("writer failed")
    assert is_complete(out) and tree_snapshot(out) == before
    assert leftovers(tmp_path, "a.zarr") == []
