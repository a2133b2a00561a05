"""Build the book: execute every chapter, then render the executed copy to HTML.

    python scripts/build_book.py            # full profile (the chapters' defaults)
    python scripts/build_book.py --quick    # CI profile: papermill `-p quick True`

Steps
1. Read ``_toc.yml``; every ``.ipynb`` it lists is a chapter (nothing is
   hard-coded here: add a chapter by adding it to ``_toc.yml``).
2. Fetch the pinned JavaScript (require.js, the ipywidgets HTML manager,
   MathJax 3) from the npm registry into the git-ignored ``vendor/`` so the
   HTML renders with no internet (see ``scripts/vendor.py``). Without npm the
   pages fall back to the CDNs, with a warning.
   Find Tang & Ha's published weights (``anpolicy.store.authors.resolve``); when they
   are missing, fetch them (pinned URL, SHA-256 checked; ``--no-fetch`` skips it).
   Without them the build goes on, with a banner here and on every page that
   measures them.
3. Copy the book sources to ``_build/executed/`` and execute each chapter there
   with a fresh ``python3`` kernel whose working directory is the repository
   root (so ``data/...`` paths work). Chapters run in parallel, except those
   whose notebook metadata holds ``"anpolicy": {"run_last": true}`` (the
   conclusions, which read the results the others save with
   ``anpolicy.store.results.save_results``): they start once every other chapter has
   finished. Results go to ``<path-output>/_build/results/`` (``ANPOLICY_RESULTS``
   overrides). Parameters are injected by papermill
   exactly as ``papermill book/<chapter>.ipynb out.ipynb -p quick True`` does;
   cells run through nbclient, which keeps the widget state in the notebook's
   metadata so the static HTML shows the widgets. ``book/`` is never written.
4. ``jupyter-book build`` (its own execution is off) on ``_build/executed/``,
   giving ``_build/html/``.

Robustness
- A cell that raises fails the build with the chapter, the cell (index and first
  source line) and the error.
- Each chapter runs in its own worker process with a per-cell timeout and a
  chapter timeout. The worker writes the executed notebook (with widget state)
  as soon as the last cell has replied, before shutting the kernel down, and
  shuts it down with an immediate kill; a hang after that point (kernel
  shutdown, late IOPub traffic) cannot lose the result: the parent sees the
  worker's "done" record and kills the worker after a short grace period. A
  timeout before the last cell is retried (``--retries``, default 1), since
  papermill/nbclient executing widget notebooks was measured to stall
  occasionally with all outputs complete.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))

import vendor  # noqa: E402  (scripts/vendor.py)

# Keys of `sphinx: config:` in _config.yml that point at vendor/.
VENDOR_KEYS = ("html_extra_path", "mathjax_path", "nb_ipywidgets_js")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class BuildError(RuntimeError):
    """A build failure with a message meant for the person running the build."""


# --------------------------------------------------------------------------- toc


def toc_files(toc_path: Path = ROOT / "_toc.yml") -> list[Path]:
    """Every document listed in the table of contents, in order, as paths
    relative to the repository root (with their extension resolved)."""
    import yaml

    toc = yaml.safe_load(toc_path.read_text(encoding="utf8"))
    entries: list[str] = []

    def walk(node):
        if isinstance(node, list):
            for item in node:
                walk(item)
        elif isinstance(node, dict):
            if "glob" in node:
                raise BuildError(f"{toc_path.name}: `glob:` entries are not supported; list files")
            if "file" in node:
                entries.append(str(node["file"]))
            for key in ("parts", "chapters", "sections", "subtrees", "entries"):
                if key in node:
                    walk(node[key])

    if "root" not in toc:
        raise BuildError(f"{toc_path.name} has no `root:`")
    entries.append(str(toc["root"]))
    walk(toc)

    files: list[Path] = []
    for entry in entries:
        base = toc_path.parent / entry
        candidates = [base] if base.suffix in (".ipynb", ".md") else []
        candidates += [base.with_name(base.name + ext) for ext in (".ipynb", ".md")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise BuildError(f"{toc_path.name} lists `{entry}` but no such .ipynb/.md exists")
        rel = found.relative_to(toc_path.parent)
        if rel not in files:
            files.append(rel)
    return files


def toc_chapters(toc_path: Path = ROOT / "_toc.yml") -> list[Path]:
    """The notebooks listed in the table of contents (the ones to execute)."""
    return [p for p in toc_files(toc_path) if p.suffix == ".ipynb"]


def runs_last(notebook: Path) -> bool:
    """True if the notebook's metadata asks to execute after every other chapter:
    ``{"anpolicy": {"run_last": true}}``."""
    try:
        meta = json.loads(notebook.read_text(encoding="utf8")).get("metadata", {})
    except (OSError, ValueError) as exc:
        raise BuildError(f"cannot read notebook {notebook}: {exc}") from None
    flag = (meta.get("anpolicy") or {}).get("run_last", False)
    if not isinstance(flag, bool):
        raise BuildError(f"{notebook}: metadata anpolicy.run_last must be true or false")
    return flag


def execution_groups(chapters: list[Path], root: Path = ROOT) -> list[list[Path]]:
    """Chapters in the order of execution: a group runs (in parallel) only after the
    previous group has finished. Chapters flagged `runs_last` form the last group;
    the toc order is kept within each group. Empty groups are dropped."""
    first = [c for c in chapters if not runs_last(root / c)]
    last = [c for c in chapters if runs_last(root / c)]
    return [g for g in (first, last) if g]


# ---------------------------------------------------------------- the worker


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()
    return "<empty cell>"


def _cell_label(nb, index: int) -> dict:
    """Describe cell `index` of the executed notebook in terms of the source
    notebook (papermill's injected-parameters cell is not counted)."""
    injected = [
        i
        for i, c in enumerate(nb.cells)
        if "injected-parameters" in c.get("metadata", {}).get("tags", [])
    ]
    src_index = index - sum(1 for i in injected if i < index)
    cell = nb.cells[index]
    return {
        "cell_index": src_index,
        "injected": index in injected,
        "first_line": _first_line(cell.source),
    }


def _error_from_outputs(cell) -> tuple[str, str, str]:
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            tb = ANSI.sub("", "\n".join(out.get("traceback", [])))
            return out.get("ename", "Error"), out.get("evalue", ""), tb
    return "Error", "", ""


async def _execute(args, result: dict) -> None:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    nb = load_notebook_node(args.src)  # as papermill reads it (adds empty tag lists)
    params = json.loads(args.params)
    if params:
        from anpolicy.study.chapter_params import check  # an unknown name or a bad value: one line

        check(args.src, params)
        nb = parameterize_notebook(nb, params, kernel_name="python3", language="python")
    client = NotebookClient(
        nb,
        timeout=args.cell_timeout,
        startup_timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(ROOT)}},
        allow_errors=False,
        store_widget_state=True,
        record_timing=True,
        shutdown_kernel="immediate",
        iopub_timeout=15,
        raise_on_iopub_timeout=False,
    )
    client.reset_execution_trackers()
    cell_times: list[float] = []
    result["cell_times"] = cell_times
    t_kernel = time.monotonic()
    async with client.async_setup_kernel(cwd=str(ROOT)):
        result["kernel_start_s"] = round(time.monotonic() - t_kernel, 3)
        kc = client.kc
        kernel_pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
        if kernel_pid:
            Path(args.result).with_suffix(".kernelpid").write_text(str(kernel_pid))
        try:
            reply = await asyncio.wait_for(
                client.async_wait_for_reply(await _maybe_await(kc.kernel_info())), 60
            )
            if reply and "language_info" in reply.get("content", {}):
                nb.metadata["language_info"] = reply["content"]["language_info"]
        except (asyncio.TimeoutError, CellTimeoutError):
            pass  # only cosmetic metadata; the cells below will tell if the kernel is alive
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            result["running"] = _cell_label(nb, index)
            t0 = time.monotonic()
            try:
                await client.async_execute_cell(
                    cell, index, execution_count=client.code_cells_executed + 1
                )
            except CellTimeoutError:
                result.update(status="timeout", where=_cell_label(nb, index))
                result["detail"] = f"no reply within the per-cell timeout of {args.cell_timeout} s"
                nbformat.write(nb, args.dst)
                return
            except CellExecutionError as exc:
                ename, evalue, tb = _error_from_outputs(cell)
                if not tb:
                    ename, evalue, tb = type(exc).__name__, str(exc), ANSI.sub("", str(exc))
                result.update(
                    status="error",
                    where=_cell_label(nb, index),
                    ename=ename,
                    evalue=evalue,
                    traceback=tb,
                )
                nbformat.write(nb, args.dst)
                return
            cell_times.append(round(time.monotonic() - t0, 3))
        # Every cell has replied: save everything *before* the kernel goes away,
        # so nothing that happens during shutdown can lose the result.
        result.pop("running", None)
        client.set_widgets_metadata()
        nbformat.write(nb, args.dst)
        result["status"] = "ok"
        result["cells_done_s"] = round(time.monotonic() - t_kernel, 3)
        _write_result(args.result, result)
        # Fault injection for tests/test_book.py: a blocking hang after the last
        # cell, like the measured post-completion stalls.
        hang = os.environ.get("ANPOLICY_BUILD_TEST_HANG_AFTER_CELLS")
        if hang:
            time.sleep(float(hang))
    result["kernel_stopped_s"] = round(time.monotonic() - t_kernel, 3)


async def _maybe_await(x):
    if asyncio.iscoroutine(x) or isinstance(x, asyncio.Future):
        return await x
    return x


def _write_result(path: str, result: dict) -> None:
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)


def worker_main(argv: list[str]) -> int:
    """Execute one notebook (run by the parent in its own process)."""
    p = argparse.ArgumentParser(prog="build_book.py _execute")
    p.add_argument("--src", required=True)
    p.add_argument("--dst", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--params", default="{}")
    p.add_argument("--cell-timeout", type=float, required=True)
    p.add_argument("--chapter-timeout", type=float, required=True)
    args = p.parse_args(argv)
    os.chdir(ROOT)
    result: dict = {"status": "started", "pid": os.getpid()}
    t0 = time.monotonic()
    try:
        asyncio.run(asyncio.wait_for(_execute(args, result), args.chapter_timeout))
    except asyncio.TimeoutError:
        if result.get("status") != "ok":
            result.update(status="timeout", where=result.get("running"))
            result["detail"] = f"chapter timeout of {args.chapter_timeout} s reached"
    except Exception as exc:  # kernel died, could not start, ...
        traceback.print_exc()
        if result.get("status") != "ok":
            result.update(status="crash", where=result.get("running"))
            result["detail"] = f"{type(exc).__name__}: {ANSI.sub('', str(exc))}"
    result["seconds"] = round(time.monotonic() - t0, 2)
    _write_result(args.result, result)
    return 0 if result["status"] == "ok" else 1


# ---------------------------------------------------------------- the parent


@dataclass
class ChapterRun:
    chapter: Path
    status: str = "pending"
    seconds: float = 0.0
    attempts: int = 0
    result: dict = field(default_factory=dict)
    log: Path | None = None
    notes: list[str] = field(default_factory=list)


def _kill_group(proc: subprocess.Popen) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            continue


def _kill_kernel_leftovers(result_path: Path) -> None:
    """ipykernel starts in its own session; nbclient kills it on shutdown, but a
    worker killed from outside may leave it behind: kill it by the pid the
    kernel wrote next to the result."""
    pid_file = result_path.with_suffix(".kernelpid")
    try:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        pass


def _read_result(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def run_chapter(chapter: Path, staging: Path, logs: Path, opts) -> ChapterRun:
    run = ChapterRun(chapter)
    src = opts.toc.parent / chapter
    dst = staging / chapter
    dst.parent.mkdir(parents=True, exist_ok=True)
    log = logs / (chapter.as_posix().replace("/", "__") + ".log")
    run.log = log
    params = {"quick": True} if opts.quick else {}
    t_start = time.monotonic()
    for attempt in range(1, opts.retries + 2):
        run.attempts = attempt
        result_path = logs / (chapter.as_posix().replace("/", "__") + f".{attempt}.json")
        result_path.unlink(missing_ok=True)
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "_execute",
            "--src", str(src),
            "--dst", str(dst),
            "--result", str(result_path),
            "--params", json.dumps(params),
            "--cell-timeout", str(opts.cell_timeout),
            "--chapter-timeout", str(opts.chapter_timeout),
        ]  # fmt: skip
        with open(log, "a") as fh:
            fh.write(f"=== attempt {attempt}: {' '.join(cmd)}\n")
            fh.flush()
            proc = subprocess.Popen(
                cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
            )
            deadline = time.monotonic() + opts.chapter_timeout + 60
            done_seen_at = None
            while proc.poll() is None:
                time.sleep(0.2)
                now = time.monotonic()
                if done_seen_at is None and _read_result(result_path).get("status") == "ok":
                    done_seen_at = now
                if done_seen_at is not None and now - done_seen_at > opts.shutdown_grace:
                    run.notes.append(
                        f"worker still shutting down {opts.shutdown_grace:.0f} s after the last "
                        "cell finished; its results are complete, so it was killed"
                    )
                    _kill_group(proc)
                    _kill_kernel_leftovers(result_path)
                    break
                if now > deadline:
                    run.notes.append("worker passed the chapter timeout; killed")
                    _kill_group(proc)
                    _kill_kernel_leftovers(result_path)
                    break
        res = _read_result(result_path)
        run.result = res
        status = res.get("status", "crash")
        if status == "ok":
            run.status = "ok"
            break
        run.status = status
        if status == "error":
            break  # a real exception in a cell: retrying would not help
        if attempt <= opts.retries:
            where = res.get("where") or {}
            run.notes.append(
                f"attempt {attempt} {status} at cell {where.get('cell_index', '?')} "
                f"({res.get('detail', 'no detail')}); retrying"
            )
    run.seconds = time.monotonic() - t_start
    return run


def _describe_failure(run: ChapterRun) -> str:
    res = run.result
    where = res.get("where") or {}
    if where:
        cell = f"cell {where.get('cell_index')} (`{where.get('first_line')}`)"
        if where.get("injected"):
            cell = "the injected-parameters cell"
    else:
        cell = "before the first cell ran"
    head = f"chapter {run.chapter.as_posix()}, {cell}"
    if run.status == "error":
        tb = res.get("traceback", "").rstrip()
        tb_lines = tb.splitlines()
        if len(tb_lines) > 40:
            tb = "\n".join(["  ..."] + tb_lines[-40:])
        return f"{head}: {res.get('ename')}: {res.get('evalue')}\n{tb}"
    detail = res.get("detail") or "the worker ended without a result"
    tail = ""
    if run.log and run.log.exists():
        lines = run.log.read_text(errors="replace").splitlines()[-15:]
        tail = "\n  worker log (tail):\n" + "\n".join("    " + ANSI.sub("", ln) for ln in lines)
    return f"{head}: {run.status} after {run.attempts} attempt(s): {detail}{tail}"


def _banner(msg: str) -> None:
    bar = "!" * 78
    print(f"\n{bar}\n{msg}\n{bar}\n", flush=True)


def _ensure_authors_weights(no_fetch: bool) -> str:
    """Find Tang & Ha's weights (`anpolicy.store.authors.resolve`), fetching them (pinned URL,
    SHA-256 checked) when missing; returns "" or the reason they are missing, which the
    build prints in a banner and the chapters print on their pages."""
    sys.path.insert(0, str(ROOT))
    from anpolicy.store import authors

    path, why = authors.ensure(try_fetch=not no_fetch, timeout=20)
    if path is not None:
        print(f"Authors' weights: {path} ({why}, SHA-256 verified)", flush=True)
        return ""
    _banner(
        "WARNING: Tang & Ha's published agent is MISSING, so every claim is judged on our\n"
        f"agent only and the authors' column reads 'not measured'.\n{why}"
    )
    return why


def stage_sources(toc: Path, staging: Path, have_vendor: bool) -> None:
    """Copy what jupyter-book needs into the staging folder: the config, the toc
    and every folder holding a toc entry (book/), minus the notebooks, which
    execution writes there. Files at the top level are copied only if listed."""
    import yaml

    src_root = toc.parent
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    top_dirs = sorted({f.parts[0] for f in toc_files(toc) if len(f.parts) > 1})
    for name in top_dirs:
        shutil.copytree(
            src_root / name,
            staging / name,
            ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__", ".*"),
        )
    for f in toc_files(toc):
        if len(f.parts) == 1 and f.suffix != ".ipynb":
            shutil.copy2(src_root / f, staging / f)
    shutil.copy2(toc, staging / "_toc.yml")
    config = yaml.safe_load((src_root / "_config.yml").read_text(encoding="utf8")) or {}
    config.setdefault("sphinx", {})
    sphinx_cfg = config["sphinx"].get("config") or {}
    config["sphinx"]["config"] = sphinx_cfg
    if have_vendor:
        sphinx_cfg["html_extra_path"] = [str(vendor.HTML_EXTRA)]
    else:
        for key in VENDOR_KEYS:
            sphinx_cfg.pop(key, None)
    extra = list(sphinx_cfg.get("bibtex_bibfiles", []) or [])
    extra += [config[k] for k in ("logo",) if config.get(k)]
    for rel in extra:
        (staging / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src_root / rel, staging / rel)
    (staging / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))


def parse_args(argv: list[str]):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI profile: inject `quick = True`")
    p.add_argument(
        "--toc",
        type=Path,
        default=ROOT / "_toc.yml",
        help="table of contents; _config.yml and the sources sit beside it (default: repo's)",
    )
    p.add_argument(
        "--path-output",
        type=Path,
        default=ROOT,
        help="folder under which _build/{executed,html} are written (default: repo root)",
    )
    p.add_argument("--jobs", type=int, default=0, help="chapters executed at once (0: cores)")
    p.add_argument(
        "--cell-timeout", type=float, default=None, help="seconds per cell (300 quick, 1800 full)"
    )
    p.add_argument(
        "--chapter-timeout",
        type=float,
        default=None,
        help="seconds per chapter (900 quick, 10800 full)",
    )
    p.add_argument("--retries", type=int, default=1, help="re-runs of a chapter that timed out")
    p.add_argument(
        "--shutdown-grace",
        type=float,
        default=20.0,
        help="seconds a worker may take to exit after its last cell finished",
    )
    p.add_argument("--no-vendor", action="store_true", help="use the CDNs for JavaScript")
    p.add_argument(
        "--no-fetch",
        action="store_true",
        help="do not download the authors' weights when they are missing",
    )
    p.add_argument(
        "--allow-warnings", action="store_true", help="do not turn Sphinx warnings into errors"
    )
    p.add_argument(
        "--execute-only", action="store_true", help="execute the chapters, skip the HTML"
    )
    opts = p.parse_args(argv)
    opts.toc = opts.toc.resolve()
    if opts.cell_timeout is None:
        opts.cell_timeout = 300.0 if opts.quick else 1800.0
    if opts.chapter_timeout is None:
        opts.chapter_timeout = 900.0 if opts.quick else 3 * 3600.0
    return opts


def main(argv: list[str]) -> int:
    if argv[:1] == ["_execute"]:
        return worker_main(argv[1:])
    opts = parse_args(argv)
    t_total = time.monotonic()
    # Headless matplotlib. Not plain "Agg": in a kernel that backend makes
    # plt.show() a no-op and the figures vanish from the book; the inline
    # backend renders with Agg and sends the PNG to the notebook.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    )

    try:
        chapters = toc_chapters(opts.toc)
        groups = execution_groups(chapters, opts.toc.parent)
    except BuildError as exc:
        print(f"BUILD FAILED: {exc}", file=sys.stderr)
        return 1
    build = opts.path_output.resolve() / "_build"
    # chapters share their measured results through this folder (anpolicy.store.results)
    os.environ.setdefault("ANPOLICY_RESULTS", str(build / "results"))
    staging = build / "executed"
    logs = build / "logs"

    have_vendor = False
    if not opts.no_vendor:
        have_vendor = vendor.fetch_vendor()
        if not have_vendor:
            _banner(
                "WARNING: could not vendor require.js / the ipywidgets HTML manager / MathJax\n"
                "(is npm installed and the npm registry reachable?). The pages will load\n"
                "them from public CDNs: maths and widgets will be blank offline."
            )
    authors_missing = _ensure_authors_weights(opts.no_fetch)
    stage_sources(opts.toc, staging, have_vendor)
    if logs.exists():
        shutil.rmtree(logs)
    logs.mkdir(parents=True)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cores = cores or 1
    jobs = max(1, min(opts.jobs or cores, max(len(g) for g in groups)))
    if jobs > 1:
        # share the cores between simultaneous kernels instead of oversubscribing
        per = str(max(1, cores // jobs))
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ.setdefault(var, per)
    profile = "quick" if opts.quick else "full"
    print(
        f"Executing {len(chapters)} chapter(s), {profile} profile, {jobs} at a time "
        f"(cell timeout {opts.cell_timeout:.0f} s, chapter timeout {opts.chapter_timeout:.0f} s)",
        flush=True,
    )
    if len(groups) > 1:
        names = ", ".join(c.as_posix() for c in groups[-1])
        print(f"  after all others (run_last): {names}", flush=True)
    t_exec = time.monotonic()
    runs = []
    for group in groups:
        with ThreadPoolExecutor(max_workers=min(jobs, len(group))) as pool:
            futures = [pool.submit(run_chapter, ch, staging, logs, opts) for ch in group]
            for fut in futures:
                run = fut.result()
                runs.append(run)
                extra = f" ({run.attempts} attempts)" if run.attempts > 1 else ""
                print(f"  {run.status:>7}  {run.seconds:7.1f} s  {run.chapter.as_posix()}{extra}")
                for note in run.notes:
                    print(f"           note: {note}")
    t_exec = time.monotonic() - t_exec
    print(f"Execution: {t_exec:.1f} s", flush=True)
    failed = [r for r in runs if r.status != "ok"]
    if failed:
        for run in failed:
            print(f"\nBUILD FAILED: {_describe_failure(run)}", file=sys.stderr)
        print(f"\nExecuted notebooks and logs: {staging}  {logs}", file=sys.stderr)
        return 1
    if opts.execute_only:
        print(f"Executed notebooks: {staging}")
        return 0

    t_html = time.monotonic()
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [
        str(jb) if jb.exists() else "jupyter-book", "build", str(staging),
        "--path-output", str(build.parent), "--builder", "html", "--keep-going",
    ]  # fmt: skip
    if not opts.allow_warnings:
        cmd.append("-W")
    html = build / "html"
    if html.exists():
        shutil.rmtree(html)
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        out.seek(0)
        text = out.read()
    (logs / "jupyter-book.log").write_text(text)
    t_html = time.monotonic() - t_html
    if proc.returncode != 0 or not (html / "index.html").is_file():
        problems = [ln for ln in text.splitlines() if "WARNING" in ln or "ERROR" in ln]
        print("\n".join(problems[-30:]) or text[-4000:], file=sys.stderr)
        print(
            f"\nBUILD FAILED: jupyter-book exited with {proc.returncode} "
            f"(full log: {logs / 'jupyter-book.log'})",
            file=sys.stderr,
        )
        return 1
    print(f"HTML: {t_html:.1f} s")
    print(f"Total: {time.monotonic() - t_total:.1f} s")
    if not have_vendor:
        print("NOTE: the pages load JavaScript from CDNs (vendoring failed or was disabled).")
    if authors_missing:
        print(f"NOTE: built WITHOUT the authors' agent: {authors_missing}")
    print(f"The book: {html / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
