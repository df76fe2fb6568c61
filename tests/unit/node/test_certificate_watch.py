"""certificate.expiring: once per certificate, when it enters the warning window."""

from __future__ import annotations

from structlog.testing import capture_logs

from gateway.node.certificate_watch import CertificateWatch

DAY = 86_400.0


def test_each_certificate_is_reported_once_when_its_window_opens() -> None:
    now = [0.0]
    watch = CertificateWatch(
        {"tls": 40 * DAY, "signing": 90 * DAY}, warn_before_s=30 * DAY, clock=lambda: now[0]
    )
    with capture_logs() as logs:
        assert watch.check() == []
        now[0] = 10 * DAY
        assert watch.check() == ["tls"]
        now[0] = 11 * DAY
        assert watch.check() == []
        now[0] = 70 * DAY
        assert watch.check() == ["signing"]
    assert logs == [
        {
            "event": "certificate.expiring",
            "log_level": "warning",
            "certificate": "tls",
            "not_after": "1970-02-10T00:00:00+00:00",
            "days_left": 30.0,
        },
        {
            "event": "certificate.expiring",
            "log_level": "warning",
            "certificate": "signing",
            "not_after": "1970-04-01T00:00:00+00:00",
            "days_left": 20.0,
        },
    ]
