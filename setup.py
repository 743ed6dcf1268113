"""camposer: camera pose localization in a known building, as a ROS 2 (ament_python) package.

Builds with ``colcon build`` on a ROS 2 Jazzy/Kilted machine and installs with ``pip install .``
in a virtualenv (extras: ``ros`` = PyPI ROS 2 Kilted wheels for machines without ROS,
``dev`` = test tools).
"""

from pathlib import Path

from setuptools import find_packages, setup

PACKAGE = "camposer"


def files(folder: str, pattern: str = "*") -> list[str]:
    """Files (not folders) of ``folder`` matching ``pattern``, relative to this setup.py, sorted."""
    here = Path(__file__).resolve().parent
    return sorted(str(p.relative_to(here)) for p in (here / folder).glob(pattern) if p.is_file())


# The PyPI ROS 2 Kilted wheels, all from one release. Not needed on a machine with a ROS install.
ROS_WHEELS = [
    "ros-rclpy[fastrtps]==9.1.2",
    "ros-rmw-fastrtps-cpp==9.3.3",
    "ros-std-msgs==5.5.1",
    "ros-sensor-msgs==5.5.1",
    "ros-geometry-msgs==5.5.1",
    "ros-nav-msgs==5.5.1",
    "ros-visualization-msgs==5.5.1",
    "ros-std-srvs==5.5.1",
    "ros-diagnostic-msgs==5.5.1",
    # imported directly by camposer_ros; same Kilted release as rclpy 9.1.2 requires
    "ros-builtin-interfaces==2.3.0",
    "ros-lifecycle-msgs==2.3.0",
]

setup(
    name=PACKAGE,
    version="0.1.0",
    description="Camera localization in a known building: SfM mapping, pose regression, ROS 2 nodes",
    license="Apache-2.0",
    python_requires=">=3.10",
    packages=find_packages(include=["camposer_core", "camposer_core.*", "camposer_ros", "camposer_ros.*"]),
    package_data={"camposer_core.web": ["static/*"]},  # the dashboard page, served by the app
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", files("launch", "*.launch.*")),
        (f"share/{PACKAGE}/config", files("config")),
        (f"share/{PACKAGE}/rviz", files("rviz", "*.rviz")),
    ],
    install_requires=[
        "numpy>=1.26",
        "scipy>=1.11",
        "opencv-python-headless>=4.8",
        "pyyaml>=6",
        "matplotlib>=3.8",
        "tqdm>=4.66",
        "pillow>=10",
        "imageio-ffmpeg>=0.5",
        "pycolmap==4.2.1",
        # CUDA builds from the registry run on CPU; pinned so pip never mixes a torch with a
        # torchvision built for another release.
        "torch==2.14.1",
        "torchvision==0.29.2",
        "rosbags==0.11.9",
        "threadpoolctl==3.6.0",  # one BLAS thread for PnP matching (see camposer_core/localization/refiner.py)
        "gtsam==4.3.0",  # fixed-lag smoother of the pose fusion (camposer_core.fusion)
        # camposer serve (web dashboard + JSON API)
        "fastapi==0.163.2",
        "uvicorn==0.54.0",
        "python-multipart==0.0.34",
    ],
    extras_require={
        "ros": ROS_WHEELS,
        "dev": [
            "pytest>=8",
            "pytest-timeout>=2.3",
            "pytest-xdist>=3.5",
            "hypothesis>=6.100",
            "filelock>=3.12",  # test fixtures built once per session across xdist workers
            "evo==1.38.1",
            "ruff==0.17.6",  # lint + format checks (test/test_lint.py, ruff.toml)
            "colcon-common-extensions==0.3.0",  # the real `colcon build` test (test/test_packaging.py)
            # browser test of camposer serve; drives Debian's chromium (make test apt-installs it)
            "playwright==1.65.2",
        ],
    },
    entry_points={
        "console_scripts": [
            "camposer = camposer_core.cli:main",
            "localizer_node = camposer_ros.localizer_node:main",
            "map_node = camposer_ros.map_node:main",
            "fusion_node = camposer_ros.fusion_node:main",
        ],
        # optional parts of the `camposer` command that need ROS 2 (see camposer_core/plugins.py)
        "camposer.plugins": ["ros = camposer_ros.plugin"],
    },
    zip_safe=False,
)
