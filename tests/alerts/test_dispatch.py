"""The dispatch loop: channels one after another, webhooks first, so a stalled SMTP server holds up
no webhook.
"""

from __future__ import annotations

from collections.abc import Callable

from alerts.dispatch import send_due
from milai.config import Settings
from tests.alerts.conftest import SECRET, add_item, subscribe
from tests.alerts.servers import WAIT, RawSmtp, run_in_thread
from tests.support.receiver import WebhookReceiver


def test_stalled_smtp_does_not_delay_webhooks(
    env: dict[str, str], use_smtp: Callable[[str | None], None], receiver: WebhookReceiver,
) -> None:
    with RawSmtp(hold=True) as smtp:
        use_smtp(smtp.url())
        subscribe(frequency="immediate")  # the email batch is the older one
        subscribe(channel="webhook", target=receiver.url, secret=SECRET, frequency="immediate")
        add_item()
        run, out = run_in_thread(lambda: send_due(Settings()))
        assert smtp.data_started.wait(WAIT)  # the sender is stuck in the SMTP transaction...
        assert len(receiver.accepted) == 1  # ...and the webhook already went out
        smtp.release.set()
        run.join(WAIT)
    assert out[0].batches_sent == 2 and len(smtp.raw) == 1
