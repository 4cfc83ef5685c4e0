import subprocess
import sys

import pytest

from companion.__main__ import main


def test_data_verify(capsys):
    assert main(["data", "verify"]) == 0
    assert "all checksums match" in capsys.readouterr().out


def test_run_rejects_a_missing_notebook(capsys):
    with pytest.raises(SystemExit):
        main(["run", "notebooks/nope.ipynb"])
    assert "no such notebook" in capsys.readouterr().err


def test_module_entry_point_help():
    out = subprocess.run([sys.executable, "-m", "companion", "--help"], capture_output=True, text=True, check=True)
    assert "run" in out.stdout and "data" in out.stdout


def test_import_has_no_side_effects():
    code = ("import torch; torch.manual_seed(123); a = torch.rand(1); torch.manual_seed(123); "
            "import companion; b = torch.rand(1); assert torch.equal(a, b), 'import changed the RNG'; "
            "import matplotlib; assert matplotlib.get_backend() is not None")
    subprocess.run([sys.executable, "-c", code], check=True)
