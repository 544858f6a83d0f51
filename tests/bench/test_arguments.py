"""`make bench` arguments: a bad one stops the bench with argparse's one-line error and exit 2, before any server."""

from __future__ import annotations

import pytest

from bench.run import main


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--starts", "0"], "argument --starts: '0' must be at least 1"),
        (["--duration", "0"], "argument --duration: '0' must be at least 1"),
        (["--duration", "five"], "argument --duration: 'five' is not a whole number"),
    ],
)
def test_a_count_below_one_or_not_a_number_is_refused_in_one_line(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
