"""The status page's pure parts and the board: Prometheus text, the PNG of the QR, /healthz, the token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from botconfig import BotConfig, ConfigError
from botmetrics import Histogram, Metric, png_1bit, png_matrix, qr_matrix, render
from botstatus import QR_FILE, StatusBoard, StatusServer, probe
from whatsapp import events

SAMPLE = re.compile(r'^[a-z_]+(\{le="[^"]+"\})? (\d+(\.\d+)?(e-?\d+)?|\+Inf)$')


def test_prometheus_text_has_help_type_and_cumulative_buckets() -> None:
    histogram = Histogram(buckets=(0.1, 1.0))
    for value in (0.05, 0.5, 2.0):
        histogram.observe(value)
    text = render([Metric("a_total", "counter", "things\nseen", 3), Metric("h_seconds", "histogram", "x", histogram)])
    assert text.endswith("\n")
    lines = text.splitlines()
    assert lines[:3] == ["# HELP a_total things\\nseen", "# TYPE a_total counter", "a_total 3"]
    assert 'h_seconds_bucket{le="0.1"} 1' in lines and 'h_seconds_bucket{le="1"} 2' in lines
    assert 'h_seconds_bucket{le="+Inf"} 3' in lines and "h_seconds_count 3" in lines
    assert "h_seconds_sum 2.55" in lines
    assert all(SAMPLE.match(line) for line in lines if not line.startswith("#"))


def test_qr_png_round_trips_to_the_qr_matrix() -> None:
    matrix = qr_matrix("2@abc,def,ghi,jkl")
    data = png_1bit(matrix, scale=4)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert png_matrix(data, scale=4) == matrix


@pytest.mark.parametrize(("env", "problem"), [({"PORT": "99999"}, "PORT"), ({"STATUS_PORT": "http"}, "STATUS_PORT"),
                                              ({"STATUS_TOKEN": "short"}, "STATUS_TOKEN"),
                                              ({"OWNER_NUMBERS": "12ab"}, "OWNER_NUMBERS"),
                                              ({"BOT_OWNERS": "12ab"}, "BOT_OWNERS")])
def test_status_configuration_errors_name_the_variable(env: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        BotConfig.from_env(env)
    assert caught.value.variable == problem


def test_status_port_prefers_status_port_and_token_is_not_in_repr() -> None:
    config = BotConfig.from_env({"PORT": "80", "STATUS_PORT": "8081", "STATUS_TOKEN": "s3cret-token",
                                 "OWNER_NUMBERS": "+1 555 000 1111, 15550002222", "BOT_ERROR_REPLY": "off"})
    assert config.status_port == 8081 and config.status_token == "s3cret-token"
    assert config.owners == ("15550001111", "15550002222") and config.error_reply is None
    assert "s3cret" not in repr(config) and config.deprecated_variables == ()


def test_bot_owners_is_the_deprecated_alias_of_owner_numbers() -> None:
    alias = BotConfig.from_env({"BOT_OWNERS": "15550001111"})
    assert alias.owners == ("15550001111",) and alias.deprecated_variables == (("BOT_OWNERS", "OWNER_NUMBERS"),)
    assert "BOT_OWNERS" not in alias.unknown_variables
    both = BotConfig.from_env({"BOT_OWNERS": "15550001111", "OWNER_NUMBERS": "15550002222"})
    assert both.owners == ("15550002222",) and both.deprecated_variables == (("BOT_OWNERS", "OWNER_NUMBERS"),)


async def test_board_pairing_then_connected_and_token(tmp_path: Path) -> None:
    board = StatusBoard("test", tmp_path / "test")
    server = StatusServer(board, 0, token="s3cret-token")
    async with TestClient(TestServer(server.app())) as http:
        assert (await http.get("/healthz")).status == 401
        assert (await http.get("/healthz", headers={"Authorization": "Bearer wrong-token"})).status == 401
        response = await http.get("/healthz?token=s3cret-token")
        assert response.status == 503 and (await response.json())["status"] == "starting"
        board.on_event(events.QR("2@qr-string", 0, 6, 60.0))
        assert (tmp_path / "test" / QR_FILE).is_file()
        assert png_matrix((tmp_path / "test" / QR_FILE).read_bytes()) == qr_matrix("2@qr-string")
        auth = {"Authorization": "Bearer s3cret-token"}
        page = await (await http.get("/", headers=auth)).text()
        assert 'data-code="2@qr-string"' in page and 'http-equiv="refresh"' in page and "image/png" in page
        image = await http.get("/qr.png", headers=auth)
        assert image.content_type == "image/png"
        assert png_matrix(await image.read()) == qr_matrix("2@qr-string")
        health = await http.get("/healthz", headers=auth)
        assert health.status == 200 and (await health.json())["status"] == "pairing"
        board.on_event(events.PairSuccess.__new__(events.PairSuccess))
        assert not (tmp_path / "test" / QR_FILE).exists()
        metrics = await (await http.get("/metrics", headers=auth)).text()
        assert "wabot_messages_received_total 0" in metrics


def test_probe_without_a_port_is_healthy_and_with_a_closed_port_is_not() -> None:
    assert probe({}) == 0
    assert probe({"STATUS_PORT": "1"}, timeout=1) == 1
