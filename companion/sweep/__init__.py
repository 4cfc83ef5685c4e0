"""Parameter sweeps: any notebook as a benchmark grid, run by papermill on a local pool or a Dask cluster.

``grid`` (the notebook's parameters, checked values, points and their ids), ``executors`` (one point in
its own papermill process; the local pool and the Dask executor), ``report`` (results.csv, summary,
figures), ``engine`` (:func:`sweep`, resumable).
"""
from .engine import SweepResult, sweep
from .executors import DONE, ERROR, KERNEL, RESULTS, DaskExecutor, LocalExecutor, is_finished, run_point
from .grid import (SEED_PARAM, NotebookParameter, SweepError, build_grid, check_value, load_grid, notebook_parameters,
                   parse_value, point_id)
from .report import report, results_table, summary_table, sweep_figure

__all__ = ["SweepResult", "sweep", "DONE", "ERROR", "KERNEL", "RESULTS", "DaskExecutor", "LocalExecutor",
           "is_finished", "run_point", "SEED_PARAM", "NotebookParameter", "SweepError", "build_grid", "check_value",
           "load_grid", "notebook_parameters", "parse_value", "point_id", "report", "results_table", "summary_table",
           "sweep_figure"]
