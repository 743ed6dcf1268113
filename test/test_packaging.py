"""Packaging: the repository installs as the ROS 2 package ``camposer`` both the pip way and the
colcon (``setup.py install``) way, with console scripts, share files and the ament index marker.

The two layouts differ only in where console scripts go:

* ``pip install .`` → ``<prefix>/bin/camposer`` (pip writes entry-point scripts itself and ignores
  setup.cfg's ``[install] install_scripts``);
* ``colcon build`` (``setup.py install``/``develop``, which read setup.cfg) →
  ``<prefix>/lib/camposer/camposer``, where ``ros2 run camposer <exe>`` looks, with the shebang
  ``#!/usr/bin/env python3`` (setup.cfg ``[build_scripts]``) so that an activated virtualenv
  holding the pip-only dependencies (torch, pycolmap, ...) is used at run time.
"""

from __future__ import annotations

import ast
import configparser
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARE_DIRS = ("launch", "config", "rviz")
# What an ament_python package source tree consists of (copied so builds never touch the
# shared working tree's build/ and *.egg-info).
SOURCE_ITEMS = ("setup.py", "setup.cfg", "package.xml", "resource", "camposer_core", "camposer_ros") + SHARE_DIRS

# Python import name -> rosdep key, for non-ROS modules the ROS side may import.
ROSDEP_KEYS = {
    "numpy": "python3-numpy",
    "scipy": "python3-scipy",
    "cv2": "python3-opencv",
    "yaml": "python3-yaml",
    "matplotlib": "python3-matplotlib",
    "tqdm": "python3-tqdm",
    "PIL": "python3-pil",
}
# Python modules without rosdep keys: installed with pip (setup.py install_requires).
PIP_ONLY = {
    "torch": "torch",
    "torchvision": "torchvision",
    "pycolmap": "pycolmap",
    "rosbags": "rosbags",
    "imageio_ffmpeg": "imageio-ffmpeg",
    "gtsam": "gtsam",
}


def _copy_source(dst: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build")
    dst.mkdir(parents=True)
    for name in SOURCE_ITEMS:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dst / name, ignore=ignore)
        elif src.exists():
            shutil.copy2(src, dst / name)
        else:
            (dst / name).mkdir()  # an empty share folder is not tracked by git
    return dst


def _purelib(prefix: Path) -> Path:
    return Path(sysconfig.get_path("purelib", vars={"base": str(prefix), "platbase": str(prefix)}))


def _env_for(prefix: Path) -> dict:
    env = dict(os.environ)
    # colcon-style scripts start with `#!/usr/bin/env python3`: the active environment's python
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = str(_purelib(prefix))
    env["AMENT_PREFIX_PATH"] = str(prefix)
    return env


def _run(cmd, cwd, **kw) -> subprocess.CompletedProcess:
    """Run ``cmd`` in ``cwd`` (never the repository: ``python -c`` would import from the checkout)."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120, **kw)
    assert proc.returncode == 0, f"{cmd} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc


def _console_scripts() -> list[str]:
    """Names of the console scripts declared in setup.py (parsed, not imported)."""
    text = (REPO / "setup.py").read_text()
    block = re.search(r'"console_scripts"\s*:\s*\[(.*?)\]', text, re.S)
    assert block, "setup.py declares no console_scripts"
    return re.findall(r'"\s*([\w.-]+)\s*=', block.group(1))


def _expected_share_files() -> dict[str, list[str]]:
    """Files of launch/, config/, rviz/ that setup.py must install (its glob patterns)."""
    patterns = {"launch": "*.launch.*", "config": "*", "rviz": "*.rviz"}
    return {d: sorted(p.name for p in (REPO / d).glob(patterns[d]) if p.is_file()) for d in SHARE_DIRS}


def _check_share(prefix: Path):
    share = prefix / "share" / "camposer"
    assert (share / "package.xml").read_text() == (REPO / "package.xml").read_text()
    assert (prefix / "share/ament_index/resource_index/packages/camposer").is_file()
    for d, names in _expected_share_files().items():
        for name in names:
            assert (share / d / name).is_file(), f"{d}/{name} not installed under {share}"
    # ament_index_python finds the package through AMENT_PREFIX_PATH (in a clean subprocess)
    code = (
        "from ament_index_python.packages import get_package_share_directory, get_package_prefix;"
        "print(get_package_share_directory('camposer')); print(get_package_prefix('camposer'))"
    )
    out = _run([sys.executable, "-c", code], prefix, env=_env_for(prefix)).stdout.split()
    assert Path(out[0]) == share and Path(out[1]) == prefix


@pytest.fixture(scope="module")
def version() -> str:
    return re.search(r'version="([^"]+)"', (REPO / "setup.py").read_text()).group(1)


def _installed_record() -> list[str]:
    """The running environment's own camposer install (its dist-info / editable hooks)."""
    site = _purelib(Path(sys.prefix))
    return sorted(p.name for p in site.glob("*") if "camposer" in p.name.lower())


def test_pip_install_gives_console_script_share_files_and_ament_index(tmp_path, version):
    src = _copy_source(tmp_path / "src")
    prefix = tmp_path / "prefix"
    before = _installed_record()
    # --ignore-installed: without it pip *uninstalls* the environment's own camposer before
    # installing into --prefix (pip treats --prefix as an upgrade of the installed copy).
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-compile",
            "--ignore-installed",
            "--disable-pip-version-check",
            "--quiet",
            "--prefix",
            str(prefix),
            ".",
        ],
        src,
    )
    assert _installed_record() == before, "installing into a prefix touched the environment's install"
    for name in _console_scripts():
        exe = prefix / "bin" / name
        assert exe.is_file(), f"pip did not install console script {name} in bin/"
        assert exe.read_text().splitlines()[0] == f"#!{sys.executable}"  # setup.cfg does not leak into pip
    env = _env_for(prefix)
    # the package imported is the one just installed, not the development checkout
    where = _run(
        [sys.executable, "-c", "import camposer_core; print(camposer_core.__file__)"], tmp_path, env=env
    ).stdout
    assert Path(where.strip()).is_relative_to(_purelib(prefix))
    exe = str(prefix / "bin" / "camposer")
    help_text = _run([exe, "--help"], tmp_path, env=env).stdout
    assert "usage: camposer" in help_text
    assert _run([exe, "--version"], tmp_path, env=env).stdout.strip() == f"camposer {version}"
    _check_share(prefix)
    for page in ("index.html", "app.js", "style.css"):  # camposer serve's page ships in the wheel
        assert (_purelib(prefix) / "camposer_core" / "web" / "static" / page).is_file(), page


def test_colcon_style_install_puts_executables_where_ros2_run_looks(tmp_path):
    """What colcon's ament_python build runs (``setup.py ... install --prefix``)."""
    src = _copy_source(tmp_path / "src")
    prefix, build = tmp_path / "install", tmp_path / "build"
    build.mkdir()
    _run(
        [
            sys.executable,
            "setup.py",
            "-q",
            "egg_info",
            "--egg-base",
            str(build),
            "build",
            "--build-base",
            str(build / "build"),
            "install",
            "--prefix",
            str(prefix),
            "--record",
            str(build / "files.txt"),
            "--single-version-externally-managed",
            "--no-compile",
        ],
        src,
    )
    for name in _console_scripts():
        exe = prefix / "lib" / "camposer" / name
        assert exe.is_file(), f"{name} not in lib/camposer (ros2 run)"
        # runs with the python on PATH, so an activated venv with the pip-only deps works
        assert exe.read_text().splitlines()[0] == "#!/usr/bin/env python3"
    env = _env_for(prefix)
    assert "usage: camposer" in _run([str(prefix / "lib/camposer/camposer"), "--help"], tmp_path, env=env).stdout
    _check_share(prefix)


def test_real_colcon_build_installs_where_ros2_run_and_launch_look(tmp_path):
    """``colcon build --packages-select camposer`` in a fresh workspace (the package copied under
    ``src/``), with the colcon of the dev extra: executables in ``lib/camposer``, share files,
    the ament index marker, and the installed ``camposer`` finds its ROS plugin (``bag eval``)."""
    try:
        import colcon_core  # noqa: F401
    except ImportError:
        pytest.skip("colcon is not importable: pip install colcon-common-extensions (the dev extra)")
    ws = tmp_path / "ws"
    _copy_source(ws / "src" / "camposer")
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the build must not see a checkout
    proc = subprocess.run(
        [sys.executable, "-m", "colcon", "build", "--packages-select", "camposer"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert proc.returncode == 0, f"colcon build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    prefix = ws / "install" / "camposer"
    for name in ("localizer_node", "map_node", "camposer"):
        exe = prefix / "lib" / "camposer" / name
        assert exe.is_file() and os.access(exe, os.X_OK), f"{name} not installed in lib/camposer (ros2 run)"
    share = prefix / "share" / "camposer"
    assert (share / "package.xml").is_file()
    for d in SHARE_DIRS:
        assert (share / d).is_dir() and any((share / d).iterdir()), f"share/camposer/{d} missing or empty"
    assert (prefix / "share/ament_index/resource_index/packages/camposer").is_file()
    assert (ws / "install" / "setup.bash").is_file()
    env = _env_for(prefix)
    bag_help = _run([str(prefix / "lib/camposer/camposer"), "bag", "--help"], tmp_path, env=env).stdout
    assert "write" in bag_help and "eval" in bag_help  # eval comes from the installed ROS plugin
    _check_share(prefix)


def test_setup_cfg_sends_colcon_scripts_to_lib_package():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    assert cfg["develop"]["script_dir"] == "$base/lib/camposer"  # colcon --symlink-install
    assert cfg["install"]["install_scripts"] == "$base/lib/camposer"  # colcon build
    assert cfg["build_scripts"]["executable"] == "/usr/bin/env python3"  # venv-friendly ros2 run


def test_versions_agree(version):
    import camposer_core

    tree = ET.parse(REPO / "package.xml")
    assert tree.getroot().findtext("version") == version == camposer_core.__version__


# ----------------------------------------------------------------- package.xml


def _package_xml():
    root = ET.parse(REPO / "package.xml").getroot()
    deps = {
        e.text.strip()
        for tag in ("depend", "exec_depend", "build_depend", "build_export_depend")
        for e in root.findall(tag)
    }
    return root, deps


def _top_level_imports(path: Path) -> set[str]:
    """Absolute top-level module names imported anywhere in a Python file."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_package_xml_is_format3_ament_python():
    root, _ = _package_xml()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "camposer"
    assert root.findtext("export/build_type") == "ament_python"
    assert "ament_python" in {e.text for e in root.findall("buildtool_depend")}
    assert root.find("maintainer").get("email") and root.findtext("license")
    # the schema's element order matters to ROS tooling: name, version, description first
    assert [c.tag for c in root][:3] == ["name", "version", "description"]


def test_package_xml_declares_what_the_ros_side_imports():
    """Every third-party module imported by camposer_ros/ and launch/ is a declared dependency:
    a ROS package by its own name, a Python module by its rosdep key, or (no rosdep key) a
    pip requirement of setup.py."""
    _, deps = _package_xml()
    setup_text = (REPO / "setup.py").read_text()
    files = sorted((REPO / "camposer_ros").rglob("*.py")) + sorted((REPO / "launch").glob("*.py"))
    problems = []
    for f in files:
        for name in sorted(_top_level_imports(f)):
            if name in sys.stdlib_module_names or name.startswith("camposer"):
                continue
            if name in PIP_ONLY:
                if f'"{PIP_ONLY[name]}' not in setup_text:
                    problems.append(f"{f.relative_to(REPO)}: {name} is in neither package.xml nor setup.py")
                continue
            key = ROSDEP_KEYS.get(name, name)
            if key not in deps:
                problems.append(f"{f.relative_to(REPO)} imports {name}: add <exec_depend>{key}</exec_depend>")
    assert not problems, "\n".join(problems)


def test_ros_messages_imported_by_nodes_exist_in_the_venv():
    """Message packages the nodes import are provided by the `ros` extra (PyPI wheels)."""
    import importlib.util

    missing = []
    for f in sorted((REPO / "camposer_ros").rglob("*.py")):
        for name in _top_level_imports(f):
            if (name.endswith(("_msgs", "_srvs", "_interfaces")) or name == "rclpy") and (
                importlib.util.find_spec(name) is None
            ):
                missing.append(f"{f.relative_to(REPO)}: {name}")
    assert not missing, f"not installed by the 'ros' extra: {missing}"


# ----------------------------------------------------------------- Makefile


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_makefile_reinstalls_only_when_packaging_files_change(tmp_path):
    """`make test` twice must not reinstall; editing setup.py/setup.cfg/package.xml must."""
    import time

    for name in ("Makefile", "setup.py", "setup.cfg", "package.xml"):
        shutil.copy2(REPO / name, tmp_path / name)
    (tmp_path / ".venv/bin").mkdir(parents=True)

    def up_to_date() -> bool:
        # make -q: exit 0 when the target is up to date, 1 when its recipe would run
        proc = subprocess.run(["make", "-q", "install"], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode in (0, 1), proc.stderr
        return proc.returncode == 0

    assert not up_to_date()  # fresh clone: no stamp
    dry = subprocess.run(["make", "-n", "test"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert 'pip install --quiet -e ".[ros,dev]"' in dry and "-m pytest -n 2" in dry
    time.sleep(0.01)
    (tmp_path / ".venv/.camposer-installed").touch()
    assert up_to_date()
    dry = subprocess.run(["make", "-n", "test"], cwd=tmp_path, capture_output=True, text=True).stdout
    assert "pip" not in dry and "-m pytest -n 2" in dry
    for i, name in enumerate(("setup.py", "setup.cfg", "package.xml")):
        future = time.time() + 10 * (i + 1)
        os.utime(tmp_path / name, (future, future))
        assert not up_to_date(), f"editing {name} must reinstall"
        os.utime(tmp_path / ".venv/.camposer-installed", (future + 1, future + 1))
        assert up_to_date()


def test_requirements_pip_matches_setup_py():
    """README tells ROS users to `pip install -r requirements-pip.txt` for what rosdep cannot
    install: the same pins as setup.py, and every setup.py requirement lacking a rosdep key."""
    text = (REPO / "setup.py").read_text()
    block = re.search(r"install_requires=\[(.*?)\]", text, re.S).group(1)
    setup_reqs = {re.split(r"[=<>!~\[]", r)[0]: r for r in re.findall(r'"([^"]+)"', block)}
    lines = [ln.strip() for ln in (REPO / "requirements-pip.txt").read_text().splitlines()]
    pip_reqs = {re.split(r"[=<>!~\[]", r)[0]: r for r in lines if r and not r.startswith("#")}
    for name, spec in pip_reqs.items():
        assert setup_reqs.get(name) == spec, f"requirements-pip.txt {spec!r} != setup.py {setup_reqs.get(name)!r}"
    covered_by_rosdep = {"numpy", "scipy", "opencv-python-headless", "pyyaml", "matplotlib", "tqdm", "pillow"}
    _, deps = _package_xml()
    assert {"python3-numpy", "python3-scipy", "python3-opencv", "python3-yaml", "python3-matplotlib"} <= deps
    missing = set(setup_reqs) - covered_by_rosdep - set(pip_reqs)
    assert not missing, f"setup.py requirements neither in package.xml (rosdep) nor requirements-pip.txt: {missing}"
