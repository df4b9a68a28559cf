"""The config models: defaults, fixed keys, clear errors, and the example that cannot drift."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edge.cli import main
from edge.core.config import ConfigError, load_config, parse_config
from edge.core.config.example import render_example

ROOT = Path(__file__).resolve().parents[2]
RECIPIENT = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    return info.value.problems


def test_file_with_only_recipients_and_storage_path_works() -> None:
    config = parse_config(f'[owner]\nrecipients = ["{RECIPIENT}"]\n[storage]\npath = "/srv/db"\n')
    assert config.owner.recipients == [RECIPIENT]
    assert str(config.storage.path) == "/srv/db"
    assert config.privacy.style == "mosaic"
    assert config.motion.zones == []


def test_fixed_keys_are_accepted() -> None:
    config = parse_config(
        f"""
        [device]
        id = "front-door"
        [camera]
        source = "v4l2:/dev/video0"
        [storage]
        path = "/var/lib/doorbell"
        [owner]
        recipients = ["{RECIPIENT}"]
        [privacy]
        public_areas = [[[0, 0], [1, 0], [1, 0.3], [0, 0.3]]]
        [motion]
        zones = [[[0.2, 0.4], [0.8, 0.4], [0.5, 1.0]]]
        [mqtt]
        enabled = true
        host = "192.0.2.10"
        port = 8883
        """
    )
    assert config.camera.source == "v4l2:/dev/video0"
    assert config.privacy.public_areas[0][2] == (1.0, 0.3)
    assert config.mqtt.port == 8883


@pytest.mark.parametrize(
    "source", ["picamera2", "v4l2:/dev/video2", "rtsp://cam.local/stream", "file:/tmp/a.mp4"]
)
def test_every_camera_source_form_is_valid(source: str) -> None:
    assert parse_config(f'[camera]\nsource = "{source}"\n').camera.source == source


def test_bad_value_names_key_value_and_allowed_range() -> None:
    (problem,) = problems_of("[camera]\nfps = 200\n")
    assert problem.startswith("camera.fps = 200")
    assert "60" in problem


def test_bad_choice_lists_the_allowed_values() -> None:
    (problem,) = problems_of('[privacy]\nstyle = "pixelate"\n')
    assert "privacy.style = 'pixelate'" in problem
    assert all(word in problem for word in ("'mosaic'", "'fill'", "'blur'"))


def test_unknown_key_is_an_error_listing_the_allowed_keys() -> None:
    (problem,) = problems_of("[recording]\npre_second = 3\n")
    assert problem.startswith("recording.pre_second: unknown key")
    assert "pre_seconds" in problem


def test_unknown_section_is_an_error() -> None:
    (problem,) = problems_of("[cloud]\nupload = true\n")
    assert problem.startswith("cloud: unknown key")


def test_polygon_point_outside_the_frame_names_its_index() -> None:
    (problem,) = problems_of("[motion]\nzones = [[[0, 0], [1.5, 0], [1, 1]]]\n")
    assert problem.startswith("motion.zones[0][1][0] = 1.5")


def test_polygon_with_two_points_is_refused() -> None:
    (problem,) = problems_of("[privacy]\npublic_areas = [[[0, 0], [1, 0]]]\n")
    assert "at least 3 points" in problem


def test_malformed_recipient_is_refused() -> None:
    (problem,) = problems_of('[owner]\nrecipients = ["age1notakey"]\n')
    assert "owner.recipients" in problem and "age1notakey" in problem


def test_every_problem_is_reported_at_once() -> None:
    assert len(problems_of('[camera]\nfps = 0\nwidth = 1\n[privacy]\nstyle = "x"\n')) == 3


def test_invalid_toml_is_a_config_error() -> None:
    assert "not valid TOML" in problems_of("[camera\n")[0]


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_example_config_is_generated_from_the_models() -> None:
    committed = (ROOT / "firmware_configs" / "doorbell.toml").read_text()
    assert committed == render_example(), (
        "run: doorbell config example > firmware_configs/doorbell.toml"
    )


def test_example_config_with_its_examples_filled_in_is_valid() -> None:
    text = render_example()
    text = re.sub(r"^(\w+) = .*\n# for example: \1 = ", r"\1 = ", text, flags=re.M)
    text = re.sub(r"^# (\w+) = (?=\S)", r"\1 = ", text, flags=re.M)
    config = parse_config(text)
    assert config.owner.recipients == [RECIPIENT]
    assert config.privacy.public_areas and config.motion.zones


def test_config_check_reports_each_problem(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "doorbell.toml"
    path.write_text('[camera]\nfps = 99\n[privacy]\nstyle = "x"\n')
    assert main(["config", "check", str(path)]) == 1
    err = capsys.readouterr().err
    assert "2 problem(s)" in err and "camera.fps = 99" in err and "privacy.style" in err


def test_config_check_refuses_a_config_without_recipients(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "doorbell.toml"
    path.write_text('[storage]\npath = "/tmp/x"\n')
    assert main(["config", "check", str(path)]) == 1
    assert "owner.recipients is empty" in capsys.readouterr().err


def test_config_check_accepts_a_good_config(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "doorbell.toml"
    path.write_text(f'[owner]\nrecipients = ["{RECIPIENT}"]\n')
    assert main(["config", "check", str(path)]) == 0
    assert "ok" in capsys.readouterr().out


def test_config_schema_is_json_with_every_section(capsys: pytest.CaptureFixture) -> None:
    assert main(["config", "schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert set(schema["properties"]) == {
        "device",
        "camera",
        "motion",
        "privacy",
        "faces",
        "recording",
        "storage",
        "owner",
        "mqtt",
        "mirror",
    }


def test_camera_profile_with_a_non_pi_source_is_refused() -> None:
    (problem,) = problems_of('[camera]\nsource = "v4l2:/dev/video0"\nprofile = "/etc/x.toml"\n')
    assert problem.startswith("camera: profile is for the picamera2 source only")


def test_config_check_reports_a_broken_camera_profile(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    profile = tmp_path / "cm3.toml"
    profile.write_text("[controls]\nWarpDrive = 9\n")
    path = tmp_path / "doorbell.toml"
    path.write_text(f'[camera]\nprofile = "{profile}"\n[owner]\nrecipients = ["{RECIPIENT}"]\n')
    assert main(["config", "check", str(path)]) == 1
    assert "camera.profile" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("[faces]\nenabled = false\n", True),
        ("[faces]\nenabled = false\nstore_faces_unobscured = true\n", False),
        ('[mqtt]\nhost = "broker.lan"\nusername = "d"\npassword_file = "/p"\n', True),
        ('[mqtt]\nhost = "broker.lan"\nusername = "d"\npassword_file = "/p"\ntls = true\n', False),
        (
            '[mqtt]\nhost = "broker.lan"\nusername = "d"\npassword_file = "/p"\n'
            "password_in_clear = true\n",
            False,
        ),
        ('[mqtt]\nhost = "127.0.0.1"\nusername = "d"\npassword_file = "/p"\n', False),
    ],
)
def test_unsafe_choices_need_the_owner_to_say_so(
    tmp_path: Path, capsys: pytest.CaptureFixture, text: str, refused: bool
) -> None:
    path = tmp_path / "doorbell.toml"
    path.write_text(f'[owner]\nrecipients = ["{RECIPIENT}"]\n' + text)
    assert main(["config", "check", "--config", str(path)]) == (1 if refused else 0)
    err = capsys.readouterr().err
    if refused:
        assert "store_faces_unobscured = true" in err or "password_in_clear = true" in err


def test_mirror_needs_mqtt() -> None:
    with pytest.raises(ConfigError, match=r"mirror\.enabled needs mqtt\.enabled"):
        parse_config("[mirror]\nenabled = true\n")
