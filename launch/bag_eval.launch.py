"""Evaluate a model on a rosbag2 with the ROS tools: localizer node + ``ros2 bag play`` + the
camposer recorder, which matches the published poses to the bag's ground truth and writes the
report (the same one as ``camposer bag eval BAG --model CKPT``, which needs no ROS install).

    ros2 launch camposer bag_eval.launch.py bag:=/path/bag model:=/path/model.pt \
        [walkable_map:=/path/walkable.yaml] [rate:=1.0] [out:=/path/report] [use_rviz:=false]
"""

from launch.actions import DeclareLaunchArgument, ExecuteProcess, TimerAction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    share = FindPackageShare("camposer")
    params = PathJoinSubstitution([share, "config", "localization.yaml"])
    rviz_config = PathJoinSubstitution([share, "rviz", "localization.rviz"])
    bag = LaunchConfiguration("bag")
    model = LaunchConfiguration("model")

    arguments = [
        DeclareLaunchArgument("bag", description="rosbag2 folder written by `camposer bag write`"),
        DeclareLaunchArgument("model", description="model checkpoint"),
        DeclareLaunchArgument("walkable_map", default_value="", description="walkable map YAML for snapping"),
        DeclareLaunchArgument("rate", default_value="1.0", description="replay speed factor"),
        DeclareLaunchArgument("out", default_value="bag_eval_report", description="report folder"),
        DeclareLaunchArgument("use_rviz", default_value="false", description="start RViz"),
    ]
    localizer_node = Node(
        package="camposer",
        executable="localizer_node",
        name="camposer_localizer",
        output="screen",
        parameters=[
            params,
            {
                "model_path": model,
                "walkable_map": LaunchConfiguration("walkable_map"),
                "image_topic": "/camera/image_raw",
                "image_qos": "reliable",
            },
        ],
    )
    recorder = ExecuteProcess(
        cmd=[
            "camposer",
            "bag",
            "eval",
            bag,
            "--model",
            model,
            "--external-player",
            "--no-start-node",
            "--map",
            LaunchConfiguration("walkable_map"),
            "--out",
            LaunchConfiguration("out"),
            "--force",
        ],
        output="screen",
    )
    player = TimerAction(  # give the node and the recorder time to discover each other
        period=5.0,
        actions=[
            ExecuteProcess(
                cmd=[
                    "ros2",
                    "bag",
                    "play",
                    bag,
                    "--rate",
                    LaunchConfiguration("rate"),
                    "--topics",
                    "/camera/image_raw",
                ],
                output="screen",
            )
        ],
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", rviz_config],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
    )
    return LaunchDescription(arguments + [localizer_node, recorder, player, rviz])
