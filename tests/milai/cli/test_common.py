"""setup_logging: our own stderr handler, never someone else's."""

import logging

import pytest

from milai.cli.common import LOG_HANDLER, setup_logging


def test_a_command_leaves_handlers_it_did_not_install_alone(caplog: pytest.LogCaptureFixture):
    before = {id(handler): handler.level for handler in logging.getLogger().handlers}
    setup_logging("CRITICAL")  # what `milai crawl` without --verbose asks for
    assert {id(handler): handler.level for handler in logging.getLogger().handlers} == before
    logging.getLogger("milai.test").warning("still captured")
    assert "still captured" in caplog.text


def test_a_fresh_process_gets_one_stderr_handler_at_the_asked_level():
    root = logging.getLogger()
    saved, saved_level = root.handlers[:], root.level
    root.handlers = []  # as in a fresh `milai` process (pytest's capture handlers are put back below)
    try:
        setup_logging("WARNING")
        setup_logging("error")
        handlers = root.handlers[:]
        level = root.level
    finally:
        root.handlers = saved
        root.setLevel(saved_level)
    (handler,) = handlers
    assert handler.get_name() == LOG_HANDLER
    assert isinstance(handler, logging.StreamHandler)
    assert handler.level == logging.ERROR
    assert level == logging.ERROR
