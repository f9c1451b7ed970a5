import logging

from tracker.ops.logs import PRODUCT_LOGGERS, configure_logging


def test_log_level_applies_to_the_product_loggers():
    before = {name: logging.getLogger(name).level for name in PRODUCT_LOGGERS}
    try:
        configure_logging("warning")
        assert all(logging.getLogger(n).level == logging.WARNING for n in PRODUCT_LOGGERS)
        configure_logging("nonsense")
        assert logging.getLogger("tracker").level == logging.INFO
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)
