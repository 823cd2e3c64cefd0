"""Every bundled dataset keeps its license and attribution, and every suite declares them."""

from importlib import resources

import pytest

from thinkgate.tasks import get_suite, suite_names

DATA = resources.files("thinkgate.tasks") / "data"
FOLDERS = sorted(p.name for p in DATA.iterdir() if p.is_dir() and not p.name.startswith("__"))


@pytest.mark.parametrize("folder", FOLDERS)
def test_folder_has_license_and_attribution(folder):
    names = {p.name for p in (DATA / folder).iterdir()}
    assert "LICENSE" in names and "ATTRIBUTION.md" in names, names
    assert (DATA / folder / "ATTRIBUTION.md").read_text(encoding="utf-8").strip()


def test_flores_keeps_its_notice():
    assert (DATA / "flores_en_ms" / "NOTICE").is_file()


def test_all_six_domains_have_suites_and_every_suite_declares_a_license():
    suites = [get_suite(n) for n in suite_names()]
    assert {s.domain for s in suites} == {"math", "code", "summary", "translation", "writing", "longtail"}
    assert all(s.license for s in suites)
    assert {s.name for s in suites if s.verifiable} == {"gsm8k", "humaneval", "arith"}
