"""Localize a camera in a mapped building: map node + localizer node + fusion node (+ RViz).

    ros2 launch camposer localization.launch.py model:=/path/model.pt dataset:=/path/dataset \
        image_topic:=/camera/image_raw [image_transport:=compressed] [walkable_map:=...] [use_rviz:=false] \
        [refine:=false] [relative_model:=/path/relative.pt] [use_fusion:=true] [odom_topic:=/odom]

The fusion node fuses the camera fixes with ``odom_topic`` and publishes the base_link pose and
``map -> odom`` (REP-105); set its extrinsics (``extrinsics_xyz`` / ``extrinsics_qwxyz``) in
``config/localization.yaml`` or a copy of it.

Parameters come from ``config/localization.yaml``; the arguments above override them. The
``walkable_map`` argument defaults to the dataset's ``walkable.yaml``; with ``refine`` (default
true) the localizer verifies every pose against the dataset's ``localization_map.npz`` (PnP);
``relative_model`` (a relative regressor from ``config/train_relative_demo.yaml``) corrects the
model's poses against the training images near them first.
"""

from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

from launch import LaunchDescription


def generate_launch_description():
    share = FindPackageShare("camposer")
    params = PathJoinSubstitution([share, "config", "localization.yaml"])
    rviz_config = PathJoinSubstitution([share, "rviz", "localization.rviz"])
    model = LaunchConfiguration("model")
    dataset = LaunchConfiguration("dataset")
    walkable_map = LaunchConfiguration("walkable_map")

    arguments = [
        DeclareLaunchArgument("model", description="model checkpoint written by `camposer train`"),
        DeclareLaunchArgument("dataset", description="dataset folder (SfM points, mapping path, walkable map)"),
        DeclareLaunchArgument("image_topic", default_value="/camera/image_raw", description="camera topic"),
        DeclareLaunchArgument(
            "image_transport",
            default_value="raw",
            description="raw | compressed (reads <image_topic>/compressed, the image_transport convention)",
        ),
        DeclareLaunchArgument(
            "walkable_map",
            default_value=PathJoinSubstitution([dataset, "walkable.yaml"]),
            description="nav2 map_server YAML used for snapping",
        ),
        DeclareLaunchArgument("device", default_value="cpu", description="torch device"),
        DeclareLaunchArgument("use_rviz", default_value="true", description="start RViz"),
        DeclareLaunchArgument("refine", default_value="true", description="PnP refinement against the SfM map"),
        DeclareLaunchArgument(
            "relative_model",
            default_value="",
            description="relative regressor checkpoint ('' = off): corrects the model's poses against nearby training images",
        ),
        DeclareLaunchArgument("use_fusion", default_value="true", description="start the fusion node"),
        DeclareLaunchArgument("odom_topic", default_value="/odom", description="nav_msgs/Odometry for the fusion"),
    ]

    map_node = Node(
        package="camposer",
        executable="map_node",
        name="camposer_map",
        output="screen",
        parameters=[params, {"dataset": dataset, "walkable_map": walkable_map}],
    )
    localizer_node = Node(
        package="camposer",
        executable="localizer_node",
        name="camposer_localizer",
        output="screen",
        parameters=[
            params,
            {
                "model_path": model,
                "image_topic": LaunchConfiguration("image_topic"),
                "image_transport": LaunchConfiguration("image_transport"),
                "walkable_map": walkable_map,
                "device": LaunchConfiguration("device"),
                "refine": LaunchConfiguration("refine"),
                "localization_map": dataset,
                "relative_model": LaunchConfiguration("relative_model"),
            },
        ],
    )
    fusion_node = Node(
        package="camposer",
        executable="fusion_node",
        name="camposer_fusion",
        output="screen",
        parameters=[params, {"odom_topic": LaunchConfiguration("odom_topic")}],
        condition=IfCondition(LaunchConfiguration("use_fusion")),
    )
    rviz = Node(
        package="rviz2",
        executable="rviz2",
        name="rviz2",
        arguments=["-d", rviz_config],
        condition=IfCondition(LaunchConfiguration("use_rviz")),
    )
    return LaunchDescription(arguments + [map_node, localizer_node, fusion_node, rviz])
