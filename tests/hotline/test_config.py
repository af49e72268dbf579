"""Settings: defaults, the file, the environment over the file, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.config import ConfigError, load_settings


def test_defaults_are_the_embedded_sqlite_and_loopback_listeners(tmp_path: Path) -> None:
    settings = load_settings(environ={}, cwd=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'hotline.db'}"
    assert settings.agi_listen == "tcp:4573:interface=127.0.0.1"
    assert settings.web_listen == "tcp:8080:interface=127.0.0.1"
    assert settings.ami is None
    assert settings.recordings_dir == tmp_path / "recordings"
    assert [str(n) for n in settings.agi_allow] == ["127.0.0.0/8", "::1/128"]


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    config = tmp_path / "hotline.yaml"
    config.write_text(
        "agi_listen: tcp:4600:interface=127.0.0.1\nweb_listen: tcp:9000\n"
        "recordings_dir: /srv/rec\n",
        encoding="utf-8",
    )
    settings = load_settings(
        environ={"HOTLINE_CONFIG": str(config), "HOTLINE_WEB_LISTEN": "tcp:9100"}, cwd=tmp_path
    )
    assert settings.agi_listen == "tcp:4600:interface=127.0.0.1"
    assert settings.web_listen == "tcp:9100"
    assert settings.recordings_dir == Path("/srv/rec")


def test_ami_url_is_parsed_and_the_secret_is_not_shown(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"HOTLINE_AMI_URL": "ami://hotline:s%40cret@10.0.0.5:5039"}, cwd=tmp_path
    )
    assert settings.ami is not None
    assert (settings.ami.host, settings.ami.port, settings.ami.username) == (
        "10.0.0.5",
        5039,
        "hotline",
    )
    assert settings.ami.secret == "s@cret"
    assert "s@cret" not in repr(settings)


def test_allow_list_adds_remote_asterisk_hosts_to_loopback(tmp_path: Path) -> None:
    settings = load_settings(
        environ={"HOTLINE_AGI_ALLOW": "192.0.2.10, 198.51.100.0/24"}, cwd=tmp_path
    )
    assert [str(n) for n in settings.agi_allow] == [
        "127.0.0.0/8",
        "::1/128",
        "192.0.2.10/32",
        "198.51.100.0/24",
    ]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("HOTLINE_AGI_LISTEN", "4573", "HOTLINE_AGI_LISTEN: '4573' is not a listening endpoint"),
        ("HOTLINE_WEB_LISTEN", "tcp:99999", "HOTLINE_WEB_LISTEN: port 99999 is out of range"),
        ("HOTLINE_DATABASE_URL", "mysql://x/y", "HOTLINE_DATABASE_URL: 'mysql://x/y' is not a"),
        ("HOTLINE_AMI_URL", "http://u:p@host", "HOTLINE_AMI_URL: expected ami://user:secret@"),
        ("HOTLINE_AMI_URL", "ami://host:5038", "HOTLINE_AMI_URL: expected ami://user:secret@"),
        ("HOTLINE_AMI_URL", "ami://u:p@host:port", "HOTLINE_AMI_URL: "),
        ("HOTLINE_AGI_ALLOW", "10.0.0.300", "HOTLINE_AGI_ALLOW: '10.0.0.300' is not an IP"),
        # Host bits set: never silently widened to 10.0.0.0/8.
        ("HOTLINE_AGI_ALLOW", "10.9.9.9/8", "HOTLINE_AGI_ALLOW: '10.9.9.9/8' has host bits set"),
        ("HOTLINE_TRUSTED_PROXIES", "10.9.9.9/8", "HOTLINE_TRUSTED_PROXIES: '10.9.9.9/8' has"),
        ("HOTLINE_TRUSTED_PROXIES", "proxy", "HOTLINE_TRUSTED_PROXIES: 'proxy' is not an IP"),
        ("HOTLINE_TIME_ZONE", "Mars/Olympus", "HOTLINE_TIME_ZONE: 'Mars/Olympus' is not a known"),
        ("HOTLINE_SMTP_URL", "mail.example", "HOTLINE_SMTP_URL: expected smtp://"),
    ],
)
def test_a_wrong_value_is_one_line_naming_the_setting(
    tmp_path: Path, name: str, value: str, says: str
) -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(environ={name: value}, cwd=tmp_path)
    message = str(error.value)
    assert message.startswith(says)
    assert "\n" not in message


def test_a_bad_config_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "hotline.yaml"
    config.write_text("agi_listen: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^HOTLINE_CONFIG: .*hotline.yaml is not valid YAML"):
        load_settings(environ={"HOTLINE_CONFIG": str(config)}, cwd=tmp_path)
    config.write_text("agi_lisen: tcp:4573\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown setting.*agi_lisen"):
        load_settings(environ={"HOTLINE_CONFIG": str(config)}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(environ={"HOTLINE_CONFIG": str(tmp_path / "missing.yaml")}, cwd=tmp_path)


def test_the_sounds_directory_is_asterisks_unless_set(tmp_path: Path) -> None:
    """R-6.4: where ``hotline prompts`` writes; a relative one is under the working dir."""
    assert load_settings(environ={}, cwd=tmp_path).sounds_dir == Path("/var/lib/asterisk/sounds")
    relative = load_settings(environ={"HOTLINE_SOUNDS_DIR": "sounds"}, cwd=tmp_path)
    assert relative.sounds_dir == tmp_path / "sounds"
    config = tmp_path / "hotline.yaml"
    config.write_text("sounds_dir: /usr/share/asterisk/sounds\n", encoding="utf-8")
    from_file = load_settings(environ={}, config_file=config, cwd=tmp_path)
    assert from_file.sounds_dir == Path("/usr/share/asterisk/sounds")


def test_trusted_proxies_are_none_unless_set(tmp_path: Path) -> None:
    """Forwarded headers are believed only from these (web.server, R-7.4)."""
    assert load_settings(environ={}, cwd=tmp_path).trusted_proxies == ()
    settings = load_settings(
        environ={"HOTLINE_TRUSTED_PROXIES": "10.0.0.5, 192.0.2.0/28"}, cwd=tmp_path
    )
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.5/32", "192.0.2.0/28"]


def test_a_network_with_host_bits_names_the_network_meant(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"write the network '10\.0\.0\.0/8'"):
        load_settings(environ={"HOTLINE_AGI_ALLOW": "10.9.9.9/8"}, cwd=tmp_path)
