"""`ethoprism --help`, every command's --help and an argument error import no heavy library:
the answer comes at once (timings: benchmarks/cli_startup.py, never a timed test)."""

import subprocess
import sys

HELP_ALL = """
import sys
from typer.testing import CliRunner
from ethoprism.cli import app
commands = [["--help"], ["train", "--bogus-option"], ["localize", "train", "--help"]]
commands += [[name, "--help"] for name in sys.argv[1:]]
for command in commands:
    result = CliRunner().invoke(app, command)
    assert result.exit_code in (0, 2), (command, result.output)
    assert "Traceback" not in result.output, command
heavy = ("torch", "faiss", "transformers", "sklearn", "av", "h5py", "pandas")
print(" ".join(m for m in heavy if m in sys.modules))
"""

COMMANDS = [
    "extract",
    "info",
    "backbones",
    "train",
    "predict",
    "evaluate",
    "fewshot",
    "demo",
    "suggest",
    "export-nwb",
    "index",
    "search",
    "evaluate-retrieval",
    "app",
    "render",
    "localize",
]


def test_help_and_argument_errors_import_no_heavy_library():
    run = subprocess.run(
        [sys.executable, "-c", HELP_ALL, *COMMANDS], capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "", f"imported for --help: {run.stdout.strip()}"


def test_the_package_imports_torch_only_when_a_model_is_needed():
    code = (
        "import sys, ethoprism; assert 'torch' not in sys.modules; "
        "from ethoprism import load_backbone, BACKBONES; assert 'effnet-lite0' in BACKBONES; "
        "from ethoprism.backbones import Backbone, DEFAULT_BACKBONE; print('torch' in sys.modules)"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "True"  # Backbone is the torch class: imported when asked for
