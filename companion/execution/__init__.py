"""Running notebooks: kernel settings, progress, ``make run``, ``make notebooks`` and ``make lab``."""
from .kernel import KERNEL, execute, kernel_config, server_options
from .lab import lab_command, lab_environment, lab_server
from .progress import CellProgress, clock, code_cells
from .refresh import BusyMachine, check_quiet, default_results_path, refresh, refresh_one
from .run import Outcome, finish, partial_path, print_summary, run_notebooks, run_one

__all__ = ["KERNEL", "execute", "kernel_config", "server_options", "lab_command", "lab_environment", "lab_server",
           "CellProgress", "clock", "code_cells", "BusyMachine", "check_quiet", "default_results_path", "refresh",
           "refresh_one", "Outcome", "finish", "partial_path", "print_summary", "run_notebooks", "run_one"]
