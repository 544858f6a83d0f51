"""`make promote`: copy the digest and version FROM deployed into TO's stack file, keeping everything else.

Every test works on copies of the stack files in a tmp directory; the real ones are never edited.
"""

# Over 300 lines on purpose: the specification of one command, `make promote`, case by case.

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from tools.promote import main

ROOT = Path(__file__).resolve().parents[2]
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64

# A TO stack file with the things a round trip could lose: comments everywhere, quoting, flow style, odd order.
PROD = (
    """\
# The prod stack.
config:
  ml-platform:environment: production   # judged as production
  ml-platform:namespace: "ml-prod"
  ml-platform:defaults:
    replicas: {min: 3, max: 10}
    resources:
      cpu: '1'
      memory: 1Gi
  ml-platform:models:
    # Iris: promoted from dev.
    breast-cancer:
      version: "1.0.0"   # set by make promote
      image: registry.example.com/ml/breast-cancer@sha256:"""
    + "0" * 64
    + """
      env:
        LOG_LEVEL: warning
    cancer:
      version: 0.9.0
      image: registry.example.com/ml/cancer@sha256:1111111111111111111111111111111111111111111111111111111111111111
"""
)

# A stack that still builds one model from source, as dev does: promotion switches it to the image.
STAGING = """\
config:
  ml-platform:environment: development
  ml-platform:namespace: ml-staging
  ml-platform:registry:
    server: localhost:5001
  ml-platform:models:
    # Built here until its first promotion.
    cancer:
      version: 0.9.0
      build:
        context: ./model
        args:
          MODEL: cancer
      # Kept: a comment after the build block.
      env:
        LOG_LEVEL: warning
"""


def outputs(**models: tuple[str, str]) -> dict:
    """Stack outputs of the given models; `breast_cancer=` stands for `breast-cancer` (a name has no `_`)."""
    models = {name.replace("_", "-"): release for name, release in models.items()}
    return {
        "namespace": "ml-dev",
        "models": {
            name: {
                "image": image,
                "version": version,
                "service": name,
                "endpoint": f"http://{name}.ml-dev.svc.cluster.local:8080",
            }
            for name, (version, image) in models.items()
        },
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project copy: Pulumi.yaml, the real dev stack file and the PROD text above."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    (tmp_path / "Pulumi.prod.yaml").write_text(PROD, encoding="utf-8")
    (tmp_path / "Pulumi.staging.yaml").write_text(STAGING, encoding="utf-8")
    return tmp_path


def run(project: Path, out: dict | str, *extra: str, to: str = "prod") -> int:
    path = project / "dev-outputs.json"
    path.write_text(out if isinstance(out, str) else json.dumps(out), encoding="utf-8")
    return main(["--from", "dev", "--to", to, "--outputs", str(path), "--project-dir", str(project), *extra])


def prod(project: Path) -> str:
    return (project / "Pulumi.prod.yaml").read_text(encoding="utf-8")


def models(project: Path) -> dict:
    return YAML(typ="safe").load(prod(project))["config"]["ml-platform:models"]


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    old, new = before.splitlines(), after.splitlines()
    return [line for line in old if line not in new], [line for line in new if line not in old]


def test_digest_and_version_are_copied(project):
    image = f"localhost:5001/breast-cancer@{DIGEST_A}"
    assert run(project, outputs(breast_cancer=("1.1.0", image)), "--model", "breast-cancer") == 0
    assert models(project)["breast-cancer"]["image"] == image
    assert models(project)["breast-cancer"]["version"] == "1.1.0"


@pytest.mark.parametrize(
    "image",
    [
        f"localhost:5001/breast-cancer@{DIGEST_A}",
        f"127.0.0.1:5000/ml/breast-cancer@{DIGEST_A}",
    ],
)
def test_an_image_in_a_registry_only_the_pushing_machine_reaches_is_promoted_with_a_warning(project, capsys, image):
    assert run(project, outputs(breast_cancer=("1.1.0", image))) == 0
    assert models(project)["breast-cancer"]["image"] == image
    warning = capsys.readouterr().err
    assert warning.startswith(f"warning: breast-cancer: {image.split('/')[0]} is a registry on the machine that pushed")
    assert "copy the image by digest" in warning


def test_an_image_in_a_shared_registry_is_promoted_without_a_warning(project, capsys):
    assert run(project, outputs(breast_cancer=("1.1.0", f"ghcr.io/acme/breast-cancer@{DIGEST_A}"))) == 0
    assert capsys.readouterr().err == ""


def test_everything_outside_the_changed_lines_is_kept_byte_for_byte(project):
    image = f"localhost:5001/breast-cancer@{DIGEST_A}"
    run(project, outputs(breast_cancer=("1.1.0", image)), "--model", "breast-cancer")
    removed, added = changed_lines(PROD, prod(project))
    assert removed == [
        '      version: "1.0.0"   # set by make promote',
        "      image: registry.example.com/ml/breast-cancer@sha256:" + "0" * 64,
    ]
    # The version keeps its quotes and its comment.
    assert added == ['      version: "1.1.0"   # set by make promote', f"      image: {image}"]


def test_build_is_replaced_by_the_image_in_place(project):
    image = f"localhost:5001/cancer@{DIGEST_B}"
    assert run(project, outputs(cancer=("1.0.0", image)), to="staging") == 0
    after = (project / "Pulumi.staging.yaml").read_text(encoding="utf-8")
    entry = YAML(typ="safe").load(after)["config"]["ml-platform:models"]["cancer"]
    assert list(entry) == ["version", "image", "env"]
    assert entry["image"] == image
    removed, added = changed_lines(STAGING, after)
    assert removed == [
        "      version: 0.9.0",
        "      build:",
        "        context: ./model",
        "        args:",
        "          MODEL: cancer",
    ]
    assert added == ["      version: 1.0.0", f"      image: {image}"]
    assert "    # Built here until its first promotion.\n" in after
    assert "      # Kept: a comment after the build block.\n      env:\n" in after


def test_every_model_is_promoted_without_model(project):
    run(
        project,
        outputs(breast_cancer=("1.1.0", f"r/breast-cancer@{DIGEST_A}"), cancer=("1.0.0", f"r/cancer@{DIGEST_B}")),
    )
    assert {name: entry["image"] for name, entry in models(project).items()} == {
        "breast-cancer": f"r/breast-cancer@{DIGEST_A}",
        "cancer": f"r/cancer@{DIGEST_B}",
    }


def test_model_filter_leaves_the_other_models_alone(project):
    run(
        project,
        outputs(breast_cancer=("1.1.0", f"r/breast-cancer@{DIGEST_A}"), cancer=("1.0.0", f"r/cancer@{DIGEST_B}")),
        "--model",
        "breast-cancer",
    )
    assert models(project)["cancer"]["image"].endswith("1" * 64)
    assert models(project)["cancer"]["version"] == "0.9.0"


def test_promotion_is_idempotent(project, capsys):
    release = outputs(breast_cancer=("1.1.0", f"r/breast-cancer@{DIGEST_A}"))
    run(project, release, "--model", "breast-cancer")
    once = prod(project)
    capsys.readouterr()
    assert run(project, release, "--model", "breast-cancer") == 0
    assert prod(project) == once
    assert "already promoted" in capsys.readouterr().out


def test_the_change_is_printed_as_a_diff(project, capsys):
    run(project, outputs(breast_cancer=("1.1.0", f"r/breast-cancer@{DIGEST_A}")), "--model", "breast-cancer")
    out = capsys.readouterr().out
    assert "--- a/Pulumi.prod.yaml\n+++ b/Pulumi.prod.yaml\n" in out
    assert f"+      image: r/breast-cancer@{DIGEST_A}\n" in out


def test_models_only_in_from_are_skipped_and_named(project, capsys):
    run(
        project,
        outputs(breast_cancer=("1.1.0", f"r/breast-cancer@{DIGEST_A}"), newcomer=("0.1.0", f"r/new@{DIGEST_B}")),
    )
    assert "skipped newcomer: not in Pulumi.prod.yaml" in capsys.readouterr().out
    assert "newcomer" not in models(project)


# --- refusals: one line, non-zero exit, the file byte-identical ------------------------------------------------


@pytest.mark.parametrize(
    "case,out,extra,message",
    [
        (
            "tag only",
            outputs(breast_cancer=("1.1.0", "r/breast-cancer:1.1.0")),
            ["--model", "breast-cancer"],
            "is not pinned by digest",
        ),
        ("short digest", outputs(breast_cancer=("1.1.0", "r/breast-cancer@sha256:abc")), [], "is not pinned by digest"),
        ("secret output", outputs(breast_cancer=("1.1.0", "[secret]")), [], "is not pinned by digest"),
        (
            "model not in FROM",
            outputs(breast_cancer=("1.1.0", f"r/breast-cancer@{DIGEST_A}")),
            ["--model", "cancer"],
            "unknown model 'cancer'",
        ),
        ("model not in TO", outputs(other=("1.1.0", f"r/o@{DIGEST_A}")), ["--model", "other"], "unknown model 'other'"),
        ("nothing in common", outputs(other=("1.1.0", f"r/o@{DIGEST_A}")), [], "nothing in common"),
        ("not JSON", "{not json", [], "malformed outputs file"),
        ("no models", {"namespace": "ml-dev"}, [], "malformed outputs"),
        (
            "no version",
            {"models": {"breast-cancer": {"image": f"r/breast-cancer@{DIGEST_A}"}}},
            [],
            "models.breast-cancer.version is missing",
        ),
        (
            "invalid result",
            outputs(breast_cancer=("not a version!", f"r/breast-cancer@{DIGEST_A}")),
            [],
            "would be invalid",
        ),
    ],
)
def test_refusal_leaves_the_file_untouched(project, capsys, case, out, extra, message):
    assert run(project, out, *extra) == 1, case
    assert prod(project) == PROD
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_stack_file_is_refused(project, capsys):
    (project / "Pulumi.prod.yaml").unlink()
    assert run(project, outputs(breast_cancer=("1.1.0", f"r/breast-cancer@{DIGEST_A}"))) == 1
    assert capsys.readouterr().err.strip() == "promote: Pulumi.prod.yaml: no such stack file"


def test_missing_outputs_file_is_refused(project, capsys):
    code = main(
        ["--from", "dev", "--to", "prod", "--outputs", str(project / "nope.json"), "--project-dir", str(project)]
    )
    assert code == 1
    assert "cannot read outputs file" in capsys.readouterr().err
    assert prod(project) == PROD


def test_promoting_a_stack_into_itself_is_refused(project, capsys):
    assert main(["--from", "prod", "--to", "prod", "--outputs", str(project / "x"), "--project-dir", str(project)]) == 1
    assert prod(project) == PROD


def promote_command(project_dir: Path, *extra: str) -> list[str]:
    """`make promote FROM=dev TO=prod`'s command line, run as a user would, for the project at `project_dir`."""
    return [
        sys.executable,
        "-m",
        "tools.promote",
        "--from",
        "dev",
        "--to",
        "prod",
        "--project-dir",
        str(project_dir),
        *extra,
    ]


def test_real_dev_outputs_promote_into_a_copy_of_the_real_prod_file(tmp_path):
    """End to end with the program's own outputs (the harness) and the real stack files, copied."""
    from tools.stack_run import run_stack

    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    dev_outputs = run_stack("dev").outputs
    (tmp_path / "outputs.json").write_text(json.dumps(dev_outputs), encoding="utf-8")
    result = subprocess.run(
        promote_command(tmp_path, "--outputs", str(tmp_path / "outputs.json")),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    promoted_config = YAML(typ="safe").load((tmp_path / "Pulumi.prod.yaml").read_text())["config"]
    promoted = promoted_config["ml-platform:models"]
    for name, release in dev_outputs["models"].items():
        if name in promoted:
            # Both digests moved: the model image into the model, the runtime into the stack's runtime.
            assert promoted[name]["model"]["image"] == release["modelImage"]
            assert promoted_config["ml-platform:runtime"]["image"] == release["image"]
    # The promoted prod stack still runs, and deploys exactly those digests.
    prod_outputs = run_stack("prod", config=promoted_config).outputs
    for name, release in prod_outputs["models"].items():
        assert release["image"] == dev_outputs["models"][name]["image"]
        assert release["modelImage"] == dev_outputs["models"][name]["modelImage"]


def test_without_pulumi_and_outputs_the_command_says_what_to_do(project, tmp_path):
    # No CLI anywhere: none on PATH but the interpreter's own folder, an empty toolchain.
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "ML_PLATFORM_TOOLCHAIN_BIN": str(tmp_path)}
    result = subprocess.run(
        promote_command(project),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )
    assert result.returncode == 1
    assert "OUTPUTS=build/dev/outputs.json" in result.stderr
    assert "Traceback" not in result.stderr
    assert prod(project) == PROD


def _limit_file_size() -> None:
    """In the child: no file may grow past 64 bytes, a limit that binds root too (the tests run as root)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG instead of killing the process
    resource.setrlimit(resource.RLIMIT_FSIZE, (64, 64))


def test_a_stack_file_that_cannot_be_written_gets_one_line_and_stays_unchanged(project):
    path = project / "dev-outputs.json"
    path.write_text(json.dumps(outputs(breast_cancer=("1.1.0", f"localhost:5001/breast-cancer@{DIGEST_A}"))))
    command = promote_command(project, "--outputs", str(path))
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False, preexec_fn=_limit_file_size)
    assert result.returncode == 1
    assert result.stderr.startswith(f"promote: cannot write {project / 'Pulumi.prod.yaml'}: File too large")
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert prod(project) == PROD
    assert sorted(p.name for p in project.iterdir() if p.name.startswith(".")) == []  # no temporary file left
