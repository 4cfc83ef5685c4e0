"""The set-up files agree: pyproject ranges, constraints pins, environment.yml."""
import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]


def pins():
    out = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            out[re.sub(r"[-_.]+", "-", name.lower())] = version
    return out


def deps():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]


def test_every_dependency_is_pinned_within_its_range():
    p = pins()
    for req in deps():
        name = re.sub(r"[-_.]+", "-", req.name.lower())
        assert name in p, f"{req.name} is in pyproject.toml but not pinned in constraints.txt"
        assert req.specifier.contains(p[name], prereleases=True), f"{name}=={p[name]} is outside {req.specifier}"


def test_torch_pins_are_the_local_wheels():
    assert pins()["torch"] == "2.14.1" and pins()["torchvision"] == "0.29.1"


def test_environment_yml_agrees_with_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    from packaging.specifiers import SpecifierSet
    assert SpecifierSet(requires).contains(python.split("=")[1] + ".0")
    pip = next(d for d in env["dependencies"] if isinstance(d, dict))["pip"]
    assert "-c constraints.txt" in pip and any(p.startswith("-e .") for p in pip)
    for line in pip:
        if "==" in line:
            name, version = line.split("==")
            assert pins()[name] == version, f"environment.yml pins {line}, constraints.txt {pins()[name]}"


def test_a_built_wheel_holds_every_subpackage(tmp_path):
    """A non-editable install must not silently drop the section packages (setuptools finds them)."""
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("companion-*.whl"))
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    packages = sorted(str(p.parent.relative_to(ROOT)).replace("/", ".") for p in (ROOT / "companion").rglob("__init__.py"))
    assert len(packages) >= 7, packages
    probe = ("import sys; sys.meta_path = [f for f in sys.meta_path if 'editable' not in repr(f)]; "
             f"sys.path.insert(0, {str(tmp_path / 'site')!r}); import importlib; "
             f"mods = [importlib.import_module(m) for m in {packages!r}]; "
             "print(all(m.__file__.startswith(sys.path[0]) for m in mods))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True", out.stdout + out.stderr
    assert (tmp_path / "site" / "companion" / "nas" / "table_chunk.ipynb").exists(), "package data is in the wheel"
