"""The table `make render` prints, read from the rendered objects."""

from tools import summary_table


def deployment(name, version="1.0.0", track=None, **spec):
    labels = {"app.kubernetes.io/name": "breast-cancer", "app.kubernetes.io/version": version}
    if track:
        labels["ml-platform/track"] = track
    container = {
        "name": "model-server",
        "image": f"reg/breast-cancer:{version}",
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
    }
    return {
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "ml", "labels": labels},
        "spec": {"template": {"spec": {"containers": [container]}}, **spec},
    }


def hpa(target, low, high):
    return {
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": "ml"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": target}, "minReplicas": low, "maxReplicas": high},
    }


def test_each_track_gets_a_row_with_its_own_hpa_bounds():
    objects = [
        deployment("breast-cancer", track="stable"),
        deployment("breast-cancer-canary", "1.1.0", track="canary"),
        hpa("breast-cancer", 2, 8),
        hpa("breast-cancer-canary", 1, 2),
    ]

    rows = summary_table.summary_rows(objects)

    assert rows == [
        ("breast-cancer", "1.0.0", "reg/breast-cancer:1.0.0", "-", "2-8", "250m", "256Mi"),
        ("breast-cancer (canary)", "1.1.0", "reg/breast-cancer:1.1.0", "-", "1-2", "250m", "256Mi"),
    ]


def test_a_deployment_without_hpa_shows_its_replicas():
    [row] = summary_table.summary_rows([deployment("breast-cancer", replicas=2)])

    assert row[4] == "2"


def test_a_malformed_deployment_is_shown_not_crashed_on():
    broken = {"kind": "Deployment", "metadata": {"name": "breast-cancer"}, "spec": {"template": {}}}

    [row] = summary_table.summary_rows([broken, {"kind": "HorizontalPodAutoscaler", "spec": {}}])

    assert row[:3] == ("breast-cancer", "?", "?")


def test_the_table_is_aligned_under_its_header():
    text = summary_table.format_table(
        [("breast-cancer", "1.0.0", "reg/breast-cancer:1.0.0", "-", "1-3", "250m", "256Mi")]
    )

    header, row = text.splitlines()
    assert header.split("  ")[0] == "MODEL" and "MODEL IMAGE" in header
    assert header.index("IMAGE") == row.index("reg/breast-cancer")


def test_the_model_image_comes_from_the_image_volume_or_the_copier():
    by_volume = deployment("iris")
    by_volume["spec"]["template"]["spec"]["volumes"] = [
        {"name": "model", "image": {"reference": "reg/models/iris@sha256:aa", "pullPolicy": "IfNotPresent"}}
    ]
    by_copier = deployment("diabetes")
    by_copier["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "copy-model", "image": "reg/models/diabetes@sha256:bb"}
    ]

    rows = summary_table.summary_rows([by_volume, by_copier])

    assert [row[3] for row in rows] == ["reg/models/iris@sha256:aa", "reg/models/diabetes@sha256:bb"]
