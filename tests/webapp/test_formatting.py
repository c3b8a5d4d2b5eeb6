"""The display helpers: UK dates and NHS numbers, safe Markdown, the QR code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from quill.webapp.formatting import markdown, nhs_number, qr_svg, uk_date, uk_datetime


def test_dates_are_shown_in_uk_local_time() -> None:
    assert uk_datetime(datetime(2026, 3, 12, 14, 5, tzinfo=UTC)) == "12 Mar 2026 14:05"
    # British Summer Time: one hour ahead of UTC.
    assert uk_datetime(datetime(2026, 7, 2, 9, 5, tzinfo=UTC)) == "2 Jul 2026 10:05"
    # Naive values are stored UTC.
    assert uk_datetime(datetime(2026, 12, 25, 23, 30)) == "25 Dec 2026 23:30"  # noqa: DTZ001
    plus_five = timezone(timedelta(hours=5))
    assert uk_datetime(datetime(2026, 1, 1, 3, 0, tzinfo=plus_five)) == "31 Dec 2025 22:00"
    assert uk_date(datetime(2026, 3, 12, 14, 5, tzinfo=UTC)) == "12 Mar 2026"
    assert uk_datetime(None) == uk_date(None) == ""


def test_nhs_numbers_are_grouped_three_three_four() -> None:
    assert nhs_number("9434765919") == "943 476 5919"
    assert nhs_number("943 476 5919") == "943 476 5919"
    assert nhs_number("12345") == "12345"
    assert nhs_number("94347659AB") == "94347659AB"
    assert nhs_number(None) == ""


def test_markdown_keeps_formatting_and_drops_anything_active() -> None:
    html = str(markdown("**Plan**: review in *2 weeks*\n\n- bloods\n- ECG"))
    assert "<strong>Plan</strong>" in html
    assert "<em>2 weeks</em>" in html
    assert "<li>bloods</li>" in html
    hostile = str(markdown(
        '<script>alert(1)</script> <img src=x onerror=alert(1)> [x](javascript:alert(1)) '
        '<a href="https://example.org" style="color:red">ok</a>'))
    # Raw HTML is shown as text, never parsed into elements.
    assert "<script" not in hostile
    assert "<img" not in hostile
    assert 'href="javascript' not in hostile
    assert '<a href="https://example.org" style' not in hostile
    assert "&lt;a href=" in hostile
    linked = str(markdown("[guide](https://example.org/guide)"))
    assert 'href="https://example.org/guide"' in linked
    assert 'rel="noopener noreferrer"' in linked
    assert str(markdown("")) == ""


def test_qr_code_is_inline_svg_without_style_attributes() -> None:
    svg = str(qr_svg("otpauth://totp/Quill:ann?secret=ABC&issuer=Quill", title="Scan me"))
    assert svg.startswith("<svg")
    assert "<title>Scan me</title>" in svg
    assert "style" not in svg
    assert "<script" not in svg
