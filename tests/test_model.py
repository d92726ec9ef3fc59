from pathlib import Path

from builder.cli import main
from builder.model import BuildError, SourceLoc


def test_error_prints_as_path_line_message() -> None:
    error = BuildError(SourceLoc(Path("sheets/cnn.md"), 42), 'card "Conv": expected 3, got 6')
    assert str(error) == 'sheets/cnn.md:42: card "Conv": expected 3, got 6'


def test_unknown_option_is_bad_input(capsys) -> None:  # type: ignore[no-untyped-def]
    try:
        main(["build", "--to", "docx", "x.md"])
    except SystemExit as exit_:
        assert exit_.code == 2
    assert "invalid choice: 'docx'" in capsys.readouterr().err
