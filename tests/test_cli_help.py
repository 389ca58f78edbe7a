"""Every command's --help reads as plain text and exits 0."""

from __future__ import annotations

import pytest

from selfinstruct.cli import COMMANDS, main


@pytest.mark.parametrize("command", [pytest.param(name, id=name) for name in COMMANDS])
def test_help_is_plain_text(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--help exits 0, names the command, and shows no reStructuredText markup."""
    with pytest.raises(SystemExit) as caught:
        main([command, "--help"])
    assert caught.value.code == 0
    text = capsys.readouterr().out
    assert f"selfinstruct {command}" in text
    assert "``" not in text
