"""The alerts commands as a user runs them (`milai subscribe`, `milai subscriptions`, `milai digest send`): on the
alerts fixtures (aiosmtpd, a loopback webhook receiver), with their output and exit statuses."""

from __future__ import annotations

import re

from typer.testing import CliRunner

from milai.cli.main import app
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

runner = CliRunner()


def test_subscribe_list_pause_resume_delete_and_send(smtp_server: SmtpServer, receiver: WebhookReceiver) -> None:
    result = runner.invoke(
        app, ["subscribe", "email", "analyst@example.org", "--frequency", "weekly", "--hour", "8",
              "--timezone", "Europe/Berlin", "--publisher", "United Nations", "--lang", "en", "--quiet"],
    )
    assert result.exit_code == 0, result.output
    email_id = int(result.stdout.strip())  # --quiet: the id alone
    result = runner.invoke(app, ["subscribe", "webhook", receiver.url, "--secret", SECRET])
    assert result.exit_code == 0, result.output
    hook_id = int(re.search(r"\(id (\d+)\)", result.stdout)[1])  # type: ignore[index]

    result = runner.invoke(app, ["subscriptions", "list"], env={"COLUMNS": "250"})  # wide: whole cells
    assert result.exit_code == 0
    assert "analyst@example.org" in result.stdout and "webhook" in result.stdout

    assert runner.invoke(app, ["subscriptions", "pause", str(hook_id)]).exit_code == 0
    result = runner.invoke(app, ["subscriptions", "list"], env={"COLUMNS": "250"})
    assert "paused by user" in result.stdout

    add_item(title="Autonomous weapons at the UN")
    result = runner.invoke(app, ["digest", "send", "--now"])
    assert result.exit_code == 0, result.output
    assert "1 sent (1 items)" in result.stdout
    assert len(smtp_server.messages) == 1 and receiver.accepted == []

    assert runner.invoke(app, ["subscriptions", "resume", str(hook_id)]).exit_code == 0
    result = runner.invoke(app, ["digest", "send", "--now"])
    assert "1 sent (1 items)" in result.stdout, result.output
    assert len(receiver.accepted) == 1
    result = runner.invoke(app, ["digest", "send", "--now"])
    assert "0 sent (0 items)" in result.stdout

    assert runner.invoke(app, ["subscriptions", "delete", str(email_id)]).exit_code == 0
    result = runner.invoke(app, ["subscriptions", "delete", str(email_id)])
    assert result.exit_code == 1 and "no subscription" in result.output  # not found: 1 (README exit statuses)


def test_bad_input_exits_2_without_traceback(env: dict[str, str]) -> None:
    for args in (
        ["subscribe", "email", "nobody"],
        ["subscribe", "email", "a@b.org", "--timezone", "Nowhere/Land"],
        ["subscribe", "email", "a@b.org", "--hour", "25"],
        ["subscribe", "email", "a@b.org", "--frequency", "hourly"],
        ["subscribe", "webhook", "http://127.0.0.1:9/h", "--secret", "plain"],
        ["subscribe", "webhook", "gopher://x/h", "--secret", SECRET],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "Traceback" not in result.output
    # an id that names nothing is "not found" (exit 1), not a usage error
    result = runner.invoke(app, ["subscriptions", "pause", "999"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output


def test_webhook_refused_without_private_setting(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["subscribe", "webhook", "http://169.254.169.254/latest", "--secret", SECRET],
                           env={"MILAI_ALLOW_PRIVATE_WEBHOOKS": "false"})
    assert result.exit_code == 2 and "metadata" in result.output


def test_digest_send_exits_1_when_any_delivery_failed(env: dict[str, str]) -> None:
    with WebhookReceiver(SECRET) as good, WebhookReceiver(SECRET, fail_times=5) as bad:
        subscribe(channel="webhook", target=good.url, secret=SECRET, frequency="immediate")
        subscribe(channel="webhook", target=bad.url, secret=SECRET, frequency="immediate")
        add_item()
        result = runner.invoke(app, ["digest", "send"])
    assert result.exit_code == 1, result.output
    assert "1 sent (1 items), 1 failed" in result.output
    assert result.output.count("HTTP 500") == 1  # reported once, not also as a log line


def test_subscribe_says_in_one_sentence_what_will_happen(env: dict[str, str]) -> None:
    result = runner.invoke(app, ["subscribe", "email", "reader@example.org", "--query", '"autonomous weapons"',
                                 "--hour", "8", "--timezone", "Europe/Paris"])
    assert result.exit_code == 0, result.output
    sub_id = int(re.search(r"\(id (\d+)\)", result.stdout)[1])  # type: ignore[index]
    assert result.stdout == (
        f'Subscribed reader@example.org (id {sub_id}) to "autonomous weapons": a daily digest at 08:00 '
        "Europe/Paris; active now, no confirmation needed (made by the operator).\n"
    )
    result = runner.invoke(app, ["subscribe", "email", "a@b.org", "--label", "LAWS", "--query", "drone",
                                 "--frequency", "weekly", "--publisher", "United Nations", "--lang", "fr"])
    assert result.stdout.startswith(f"Subscribed a@b.org (id {sub_id + 1}) to \"LAWS\" (drone) published by "
                                    "United Nations in fr: a weekly digest on Mondays at 07:00 UTC;"), result.stdout
    result = runner.invoke(app, ["subscribe", "webhook", "http://127.0.0.1:9/h", "--secret", SECRET])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Subscribed http://127.0.0.1:9/h (id {sub_id + 2}) to every on-topic item: "
                                    "a signed JSON POST for each new item"), result.stdout
    assert result.stdout.count("\n") == 1
    result = runner.invoke(app, ["subscribe", "webhook", "http://127.0.0.1:9/h", "--secret", SECRET, "--quiet"])
    assert result.stdout == f"{sub_id + 3}\n"
