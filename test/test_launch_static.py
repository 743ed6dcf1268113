"""Static checks of launch/*.launch.py and config/*.yaml (launch_ros is not installable here):
they parse, name only installed console scripts and existing share files, set only parameters
the nodes declare, and use the topics the nodes publish and subscribe to."""

import ast
import dataclasses
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
EXTERNAL_EXECUTABLES = {("rviz2", "rviz2")}  # (package, executable) from other ROS packages
EXTERNAL_COMMANDS = {"ros2"}  # ExecuteProcess commands that come with a ROS install


def _console_scripts() -> set[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and " = " in node.value and ":" in node.value:
            names.add(node.value.split("=")[0].strip())
    return names


def _calls(tree, name):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
            yield node


def _kw(call, name):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _const(node):
    return node.value if isinstance(node, ast.Constant) else None


def _node_params():
    from camposer_core.fusion import FusionConfig
    from camposer_ros.fusion_node import FusionNodeConfig
    from camposer_ros.localizer_node import LocalizerNodeConfig
    from camposer_ros.map_node import MapNodeConfig

    return {
        "localizer_node": {f.name for f in dataclasses.fields(LocalizerNodeConfig)},
        "fusion_node": {f.name for f in dataclasses.fields(FusionNodeConfig) + dataclasses.fields(FusionConfig)},
        "map_node": {f.name for f in dataclasses.fields(MapNodeConfig)} | {"autostart"},
    }


def _our_topics():
    pytest.importorskip("rclpy")
    from camposer_core.bags import BagTopics
    from camposer_ros.fusion_node import published_topics as fusion_pub
    from camposer_ros.fusion_node import subscribed_topics as fusion_sub
    from camposer_ros.localizer_node import published_topics as loc_pub
    from camposer_ros.localizer_node import subscribed_topics
    from camposer_ros.map_node import published_topics as map_pub

    t = BagTopics()
    return (
        set(loc_pub())
        | set(map_pub())
        | set(fusion_pub())
        | set(fusion_sub())
        | set(subscribed_topics())
        | {t.image, t.compressed, t.camera_info, t.ground_truth}
    )


def test_there_are_launch_files():
    assert {p.name for p in LAUNCH_FILES} >= {"localization.launch.py", "bag_eval.launch.py"}


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_file_parses_and_defines_generate_launch_description(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert "generate_launch_description" in funcs
    compile(tree, str(path), "exec")


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_executables_are_installed_console_scripts(path):
    from camposer_ros.process import executable

    tree = ast.parse(path.read_text())
    scripts = _console_scripts()
    nodes = list(_calls(tree, "Node"))
    assert nodes
    for call in nodes:
        package, exe = _const(_kw(call, "package")), _const(_kw(call, "executable"))
        if package == "camposer":
            assert exe in scripts, f"{path.name}: {exe} is not a console script in setup.py"
            assert Path(executable(exe)).is_file()
        else:
            assert (package, exe) in EXTERNAL_EXECUTABLES, f"{path.name}: unknown executable {package}/{exe}"
    for call in _calls(tree, "ExecuteProcess"):
        cmd = _kw(call, "cmd")
        first = _const(cmd.elts[0])
        assert first == "camposer" or first in EXTERNAL_COMMANDS, f"{path.name}: unknown command {first}"
        if first == "camposer":
            assert Path(executable("camposer")).is_file()


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_share_files_named_exist_in_repo_and_installed_share(path):
    from ament_index_python.packages import get_package_share_directory

    share = Path(get_package_share_directory("camposer"))
    tree = ast.parse(path.read_text())
    named = []
    for call in _calls(tree, "PathJoinSubstitution"):
        parts = call.args[0].elts
        if getattr(parts[0], "id", None) == "share":
            rel = Path(*[_const(p) for p in parts[1:]])
            named.append(rel)
            assert (ROOT / rel).is_file(), f"{path.name} names {rel}, which does not exist"
            assert (share / rel).is_file(), f"{rel} is not installed under {share}"
    assert Path("config/localization.yaml") in named


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_parameters_and_arguments_are_declared(path):
    tree = ast.parse(path.read_text())
    declared_params = _node_params()
    for call in _calls(tree, "Node"):
        exe = _const(_kw(call, "executable"))
        if exe not in declared_params:
            continue
        for item in _kw(call, "parameters").elts:
            if isinstance(item, ast.Dict):
                for key in item.keys:
                    assert _const(key) in declared_params[exe], f"{path.name}: {exe} has no parameter {_const(key)}"
    declared_args = {_const(c.args[0]) for c in _calls(tree, "DeclareLaunchArgument")}
    used_args = {_const(c.args[0]) for c in _calls(tree, "LaunchConfiguration")}
    assert used_args <= declared_args, f"{path.name}: undeclared launch arguments {used_args - declared_args}"


def test_localization_launch_arguments_and_topics():
    tree = ast.parse((ROOT / "launch" / "localization.launch.py").read_text())
    args = {_const(c.args[0]): c for c in _calls(tree, "DeclareLaunchArgument")}
    assert {"model", "dataset", "image_topic", "use_rviz"} <= set(args)
    from camposer_ros.localizer_node import LocalizerNodeConfig

    assert _const(_kw(args["image_topic"], "default_value")) == LocalizerNodeConfig().image_topic
    topics = _our_topics()
    for path in LAUNCH_FILES:
        for node in ast.walk(ast.parse(path.read_text())):
            value = _const(node)
            if (
                isinstance(value, str)
                and value.startswith("/camera")
                or (isinstance(value, str) and value.startswith("/camposer"))
            ):
                assert value in topics, f"{path.name}: topic {value} is not one the nodes use"


def test_config_yaml_matches_the_nodes_parameters():
    from camposer_ros.localizer_node import LocalizerNodeConfig
    from camposer_ros.map_node import MapNodeConfig

    cfg = yaml.safe_load((ROOT / "config" / "localization.yaml").read_text())
    loc = cfg["camposer_localizer"]["ros__parameters"]
    defaults = dataclasses.asdict(LocalizerNodeConfig())
    assert set(loc) == set(defaults)
    for k, v in loc.items():
        assert v == defaults[k] and type(v) is type(defaults[k]), f"localization.yaml {k}: {v!r} != {defaults[k]!r}"
    mp = cfg["camposer_map"]["ros__parameters"]
    map_defaults = dataclasses.asdict(MapNodeConfig(dataset="")) | {"autostart": True}
    assert set(mp) == set(map_defaults)
    for k, v in mp.items():
        assert v == map_defaults[k] and type(v) is type(map_defaults[k]), k


def test_config_yaml_matches_the_fusion_node_parameters():
    pytest.importorskip("rclpy")
    from camposer_core.fusion import FusionConfig
    from camposer_ros.fusion_node import FusionNodeConfig

    cfg = yaml.safe_load((ROOT / "config" / "localization.yaml").read_text())
    fu = cfg["camposer_fusion"]["ros__parameters"]
    defaults = dataclasses.asdict(FusionNodeConfig()) | dataclasses.asdict(FusionConfig())
    defaults = {k: list(v) if isinstance(v, tuple) else v for k, v in defaults.items()}
    assert set(fu) == set(defaults)
    for k, v in fu.items():
        assert v == defaults[k] and type(v) is type(defaults[k]), f"localization.yaml {k}: {v!r} != {defaults[k]!r}"
