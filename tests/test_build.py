"""The build: generated material is reproducible, and committed copies equal a fresh build."""

import zipfile

from dlcourse.build import build, check


def test_committed_generated_files_equal_a_fresh_build(course):
    drifted = check(course)
    assert drifted == [], f"regenerate with `dlcourse build`: {drifted}"


def test_two_builds_give_identical_bytes(course, tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    build(course, ["dense-mnist"], first)
    build(course, ["dense-mnist"], second)
    for path in sorted(p for p in first.rglob("*") if p.is_file()):
        assert path.read_bytes() == (second / path.relative_to(first)).read_bytes(), path


def test_autograder_zip_has_gradescope_layout(course):
    for lesson_id in course.lesson_ids():
        with zipfile.ZipFile(course.autograder_zip(lesson_id)) as archive:
            names = set(archive.namelist())
            assert {"setup.sh", "run_autograder", "requirements.txt", "manifest.json",
                    "files/lesson.yaml", "dlcourse-src/pyproject.toml", "dlcourse-src/dlcourse/__init__.py"} <= names
            assert any(n.startswith("tests/") for n in names)
            mode = archive.getinfo("run_autograder").external_attr >> 16
            assert mode & 0o111, "run_autograder must be executable"
            assert not any("sample_data" in n for n in names)
            assert "otter_config.json" not in names, "nothing in the zip reads Otter's config"
