""""""

from __future__ import annotations

from typer.testing import CliRunner

from milai.cli.main import app
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.support.receiver import WebhookReceiver
from tests.support.smtp import SmtpServer

runner = CliRunner()


def test_subscribe_list_pause_resume_delete_and_send(smtp_server: SmtpServer, receiver: WebhookReceiver) -> None:
    result = runner.invoke(
        app, ["subscribe", "email", "analyst@example.org", "--frequency", "weekly", "--hour", "8",
              "--timezone", "Europe/Berlin", "--publisher", "United Nations", "--lang", "en"],
    )
    assert result.exit_code == 0, result.output
    email_id = int(result.stdout.strip())
    result = runner.invoke(app, ["subscribe", "webhook", receiver.url, "--secret", SECRET])
    assert result.exit_code == 0, result.output
    hook_id = int(result.stdout.strip())

    result = runner.invoke(app, ["subscriptions", "list"])
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
