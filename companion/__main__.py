"""Command line: ``python -m companion run | notebooks | book | lab | data build-mini | sweep ...``."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_notebooks(notebooks: list[Path], out: Path, parameters: dict | None = None) -> int:
    """Execute ``notebooks`` with papermill at their defaults, with progress; write results under ``out``.

    A failing notebook keeps its partial executed notebook and does not stop the others; the summary lists
    it and the exit status is 1.
    """
    import pandas as pd

    from .execution import print_summary
    from .execution import run_notebooks as run_all
    from .results import collect

    out = Path(out).resolve()
    outcomes = run_all(notebooks, out, parameters)
    jsons = sorted(out.glob("*.json"))
    if jsons:
        df = pd.concat([collect(p) for p in jsons], ignore_index=True)
        df.to_csv(out / "results.csv", index=False)
        cols = ["section", "method", "accuracy", "params", "size_bytes", "macs", "latency_ms"]
        with pd.option_context("display.width", 160, "display.max_rows", 200):
            print(df[cols].to_string(index=False))
        print(f"\n{len(df)} rows -> {out / 'results.csv'}; figures in {out / 'figures'}")
    print_summary(outcomes)
    return 0 if all(o.ok for o in outcomes) else 1


def sweep_command(parser: argparse.ArgumentParser, args) -> int:
    """``python -m companion sweep``: parse the grid, run it, exit 0 (all finished), 1 (failures), 130 (Ctrl-C)."""
    from .sweep import SweepError, load_grid, parse_value, sweep

    try:
        values = load_grid(args.grid) if args.grid else {}
        given = set()
        for name, *vals in args.params:
            if not vals:
                raise SweepError(f"-p {name} needs at least one value")
            if name in given:
                raise SweepError(f"parameter {name} given twice; list all its values after one -p")
            given.add(name)
            values[name] = [parse_value(v) for v in vals]  # -p overrides the grid file
        result = sweep(args.notebook, values, seeds=args.seeds, workers=args.workers, scheduler=args.scheduler,
                       out=args.out, timeout=args.timeout, metric=args.metric)
    except (SweepError, ConnectionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m companion", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_run = sub.add_parser("run", help="execute notebooks at their defaults and collect results")
    p_run.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    p_run.add_argument("--out", type=Path, default=ROOT / "results")
    p_run.add_argument("--smoke", action="store_true", help="run with SMOKE=True")

    p_nbs = sub.add_parser(
        "notebooks", help="re-execute the committed notebooks in place (quiet machine only)",
        description="Re-execute every committed notebook in place, serially, at its default parameters, from one "
                    "model cache; refuse to start while other processes keep the CPU busy. Each notebook's rows "
                    "are copied to notebooks/results/<stem>.json.")
    p_nbs.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/[0-9]*.ipynb, in order")

    sub.add_parser("book", help="build the static HTML book of the committed notebooks into results/book/")
    sub.add_parser("lab", help="open JupyterLab on notebooks/ with the project's kernel (127.0.0.1)")

    p_nas = sub.add_parser("nas", help="the NAS tabular benchmark of 08_nas")
    nas_sub = p_nas.add_subparsers(dest="nas_command", required=True)
    p_build = nas_sub.add_parser(
        "build-table", help="train every architecture of the search space into data/nas-bench-fmnist-mini/",
        description="Train every architecture of companion.nas's search space with the table's protocol, through the "
                    "sweep engine (local pool or Dask cluster); re-running with the same --work-dir resumes.")
    from .nas.build import add_build_arguments
    add_build_arguments(p_build)

    p_data = sub.add_parser("data", help="data utilities")
    p_data.add_argument("action", choices=["build-mini", "verify"])
    p_data.add_argument("--source", type=Path, default=None, help="folder with the full Fashion-MNIST IDX files")

    p_sweep = sub.add_parser(
        "sweep", help="run a notebook over a grid of parameters (local pool or Dask cluster)",
        description="Run NOTEBOOK at every point of the grid (the Cartesian product of the values), each "
                    "with papermill into DIR/<point-id>/; re-running the same command resumes.")
    p_sweep.add_argument("notebook", type=Path)
    p_sweep.add_argument("-p", "--param", dest="params", nargs="+", action="append", default=[],
                         metavar=("NAME", "VALUE"), help="a parameter and its values, parsed as Python literals")
    p_sweep.add_argument("--grid", type=Path, help="YAML file mapping parameter names to lists of values")
    p_sweep.add_argument("--seeds", type=int, help="also sweep SEED over 0 .. N-1")
    p_sweep.add_argument("--workers", type=int, help="local processes at once (default: number of cores)")
    p_sweep.add_argument("--scheduler", help="Dask scheduler address, tcp://host:port "
                                             "(default: $DASK_SCHEDULER_ADDRESS; none: local pool)")
    p_sweep.add_argument("--out", type=Path, help="output folder (default: results/sweeps/<notebook>)")
    p_sweep.add_argument("--timeout", type=float, default=3600, help="seconds per point (default: 3600)")
    p_sweep.add_argument("--metric", nargs="+", default=["accuracy"],
                         help="result columns plotted against each swept parameter (default: accuracy)")

    args = parser.parse_args(argv)
    if args.command == "sweep":
        return sweep_command(parser, args)
    if args.command in ("run", "notebooks"):
        from .book.taxonomy import find_notebooks

        notebooks = args.notebooks or find_notebooks(ROOT / "notebooks")
        missing = [str(n) for n in notebooks if not Path(n).exists()]
        if missing:
            parser.error(f"no such notebook: {', '.join(missing)}")
        if args.command == "notebooks":
            from .execution import refresh

            return refresh([Path(n) for n in notebooks], ROOT)
        return run_notebooks([Path(n) for n in notebooks], args.out, {"SMOKE": True} if args.smoke else None)
    if args.command == "book":
        from .book import BookError, build

        try:
            build(ROOT)
        except BookError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    if args.command == "lab":
        import subprocess

        from .execution import lab_command, lab_environment

        try:
            return subprocess.call(lab_command(ROOT / "notebooks"), env=lab_environment())
        except KeyboardInterrupt:
            return 130
    if args.command == "nas":
        from .nas.build import build_from_args
        return build_from_args(args)
    if args.command == "data":
        from . import data
        if args.action == "build-mini":
            digests = data.build_mini(args.source or data.DEBIAN_FASHION_DIR)
            for name, digest in digests.items():
                print(f"{digest}  {name}")
        else:
            data.verify_checksums(data.MINI_DIR)
            print(f"{data.MINI_DIR}: all checksums match")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
