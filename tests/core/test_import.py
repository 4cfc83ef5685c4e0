"""``import companion`` has no side effects: no heavy modules, no torch globals changed, no warning filters."""
import json
import subprocess
import sys

PROBE = r"""
import json, sys, warnings, torch
before = {"threads": torch.get_num_threads(), "rng": torch.random.get_rng_state().sum().item(),
          "engine": torch.backends.quantized.engine, "dtype": str(torch.get_default_dtype()),
          "filters": len(warnings.filters), "interop": torch.get_num_interop_threads()}
import companion
import companion.{sub}
after = {"threads": torch.get_num_threads(), "rng": torch.random.get_rng_state().sum().item(),
         "engine": torch.backends.quantized.engine, "dtype": str(torch.get_default_dtype()),
         "filters": len(warnings.filters), "interop": torch.get_num_interop_threads()}
heavy = [m for m in ("matplotlib.pyplot", "pandas") if m in sys.modules]
print(json.dumps({"before": before, "after": after, "heavy": heavy}))
"""


def probe(sub: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE.replace("{sub}", sub)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_companion_is_light_and_changes_nothing():
    r = probe("measure")
    assert r["heavy"] == [], f"import companion imported {r['heavy']}"
    assert r["before"] == r["after"], "import companion changed a torch global or a warnings filter"
