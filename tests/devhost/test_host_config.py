import json

import azure.functions as func
import pytest

from devhost.host import (
    ROOT,
    HostConfig,
    HostError,
    QueueOptions,
    RouteTemplate,
    load_settings,
    parse_timespan,
    registrations,
    resolve,
)


def test_route_parameters_are_extracted_and_decoded():
    route = RouteTemplate.parse("transfers/{id}/plan")
    assert route.match("/transfers/a%20b/plan") == {"id": "a b"}
    assert route.match("/transfers/a/b/plan") is None


def test_literals_match_case_insensitively_as_in_asp_net_routing():
    assert RouteTemplate.parse("Transfers/{id}").match("transfers/7") == {"id": "7"}


def test_typed_constraint_rejects_other_values():
    route = RouteTemplate.parse("items/{n:int}")
    assert route.match("items/42") == {"n": "42"}
    assert route.match("items/forty") is None


def test_optional_and_catch_all_parameters():
    assert RouteTemplate.parse("files/{name?}").match("files") == {}
    assert RouteTemplate.parse("files/{name?}").match("files/a") == {"name": "a"}
    assert RouteTemplate.parse("static/{*rest}").match("static/a/b.css") == {"rest": "a/b.css"}


def test_parameters_inside_a_segment():
    assert RouteTemplate.parse("files/{name}.{ext}").match("files/report.csv") == {
        "name": "report",
        "ext": "csv",
    }


def test_binding_expressions_come_from_settings():
    assert resolve("%SCHEDULE%", {"SCHEDULE": "0 */5 * * * *"}) == "0 */5 * * * *"
    assert resolve("q-%ENV%-events", {"ENV": "dev"}) == "q-dev-events"


def test_missing_setting_is_named():
    with pytest.raises(HostError, match="TRANSFER_SCAN_SCHEDULE"):
        resolve("%TRANSFER_SCAN_SCHEDULE%", {})


def test_environment_wins_over_local_settings(tmp_path):
    local = tmp_path / "local.settings.json"
    local.write_text(json.dumps({"IsEncrypted": False, "Values": {"A": "file", "B": "file"}}))
    assert load_settings({"A": "env"}, local) == {"A": "env", "B": "file"}
    assert load_settings({"A": "env"}, tmp_path / "absent.json") == {"A": "env"}


def test_timespans_as_host_json_writes_them():
    assert parse_timespan("00:00:30") == 30
    assert parse_timespan("00:00:00.500") == 0.5
    assert parse_timespan("1.02:00:00") == 93600
    with pytest.raises(HostError):
        parse_timespan("30s")


def test_queue_options_follow_host_json_and_default_like_the_extension():
    assert QueueOptions.from_json({}) == QueueOptions()
    options = QueueOptions.from_json(
        {"batchSize": 64, "visibilityTimeout": "00:00:30", "maxDequeueCount": 3, "messageEncoding": "none"}
    )
    assert (options.batch_size, options.new_batch_threshold) == (32, 16)
    assert (options.visibility_timeout_s, options.max_dequeue_count, options.base64) == (30, 3, False)


def test_project_host_json_is_read():
    config = HostConfig.load(ROOT / "host.json")
    assert config.route_prefix == "api"
    assert config.queues.max_dequeue_count >= 1


def test_literal_route_outranks_a_parameter_in_the_same_place():
    routes = [
        RouteTemplate.parse(t)
        for t in ("transfers/{*rest}", "transfers/{id}", "transfers/{id:guid}", "transfers/search")
    ]
    assert [r.template for r in sorted(routes, key=lambda r: r.precedence)] == [
        "transfers/search",
        "transfers/{id:guid}",
        "transfers/{id}",
        "transfers/{*rest}",
    ]


def test_function_needing_an_argument_the_host_cannot_give_is_refused_at_start():
    app = func.FunctionApp()

    @app.timer_trigger(arg_name="timer", schedule="0 * * * * *")
    def needs_context(timer: func.TimerRequest, context: func.Context) -> None:
        raise AssertionError("never called")

    with pytest.raises(HostError, match="nothing to pass for context"):
        registrations(app, {})
