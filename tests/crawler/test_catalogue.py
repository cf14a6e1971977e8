"""The source catalogue: validation names file, entry and field; the bundled catalogue is valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from crawler.catalogue import (
    BUNDLED_CATALOGUE,
    CatalogueError,
    Problem,
    SourceConfig,
    catalogue_path,
    load_catalogue,
    validate_file,
)
from milai.config import Settings

GOOD = """
sources:
  - name: un-news-all
    publisher: United Nations
    kind: feed
    url: https://news.un.org/feed/subscribe/en/news/all/rss.xml
    language: en
    schedule: "0 */2 * * *"
  - name: mofa-kr
    publisher: MOFA Korea
    kind: html
    url: https://www.mofa.go.kr/eng/brd/m_5676/list.do
    item_selector: table tbody tr
    links: "a::attr(onclick)"
    link_regex: "f_view\\\\('(\\\\d+)'\\\\)"
    link_template: "view.do?seq={}"
    language: en
"""

BAD = """
sources:
  - name: ok-source
    publisher: United Nations
    kind: feed
    url: https://news.un.org/feed/subscribe/en/news/all/rss.xml
  - name: broken-html
    publisher: Somebody
    kind: html
    url: ftp://example.org/list
    language: english
    schedule: "every hour"
    next_page: "a[rel=next"
  - name: broken-json
    publisher: Somebody
    kind: json
    url: https://example.org/api
    pattern: "(unclosed"
  - name: ok-source
    publisher: Again
    kind: sitemap
    url: https://example.org/sitemap.xml
    colour: blue
  - name: Bad Name
    kind: rss
    url: https://example.org/feed
"""


def write(tmp_path: Path, text: str, name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def where(problems: list[Problem]) -> set[tuple[str, str]]:
    return {(p.entry, p.field) for p in problems}


def test_good_catalogue_loads(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert validate_file(path) == []
    sources = load_catalogue(path)
    assert [s.name for s in sources] == ["un-news-all", "mofa-kr"]
    assert all(isinstance(s, SourceConfig) for s in sources)
    assert sources[1].link_template == "view.do?seq={}"


def test_every_problem_names_file_entry_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    problems = validate_file(path)
    assert all(p.file == str(path) for p in problems)
    found = where(problems)
    expected = {
        ("#1 broken-html", "url"),
        ("#1 broken-html", "language"),
        ("#1 broken-html", "schedule"),
        ("#1 broken-html", "next_page"),
        ("#1 broken-html", "links"),
        ("#2 broken-json", "items"),
        ("#2 broken-json", "link_field"),
        ("#2 broken-json", "pattern"),
        ("#3 ok-source", "name"),  # duplicate
        ("#3 ok-source", "colour"),  # unknown field
        ("#4 Bad Name", "name"),
        ("#4 Bad Name", "publisher"),
        ("#4 Bad Name", "kind"),
    }
    assert expected <= found, expected - found
    assert not any(p.entry.startswith("#0") for p in problems)
    duplicate = next(p for p in problems if p.entry == "#3 ok-source" and p.field == "name")
    assert "duplicate" in duplicate.message and "#0" in duplicate.message


def test_load_catalogue_raises_with_everything_in_the_message(tmp_path: Path) -> None:
    path = write(tmp_path, BAD, "bad-catalogue.yaml")
    with pytest.raises(CatalogueError) as info:
        load_catalogue(path)
    message = str(info.value)
    assert str(path) in message
    assert "entry #1 broken-html: field schedule" in message
    assert "entry #2 broken-json: field link_field" in message
    assert "entry #4 Bad Name: field kind" in message
    assert len(info.value.problems) >= 13


def test_yaml_syntax_error_reports_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - name: a\n    url: [unclosed\n  - name: b\n")
    problems = validate_file(path)
    assert len(problems) == 1
    assert problems[0].file == str(path)
    assert "line" in problems[0].message and "column" in problems[0].message


def test_duplicate_yaml_key_is_reported_with_its_line(tmp_path: Path) -> None:
    text = "sources:\n  - name: a\n    publisher: P\n    kind: feed\n    url: https://e.org/f\n    url: https://e.org/g\n"
    problems = validate_file(write(tmp_path, text))
    assert len(problems) == 1
    assert "duplicate key 'url'" in problems[0].message and "line 6" in problems[0].message


def test_structural_problems(tmp_path: Path) -> None:
    assert where(validate_file(write(tmp_path, "just: a mapping\n"))) == {("-", "sources")}
    assert where(validate_file(write(tmp_path, "sources: []\n"))) == {("-", "sources")}
    assert where(validate_file(write(tmp_path, "sources:\n  - just a string\n"))) == {("#0", "-")}
    missing = validate_file(tmp_path / "nope.yaml")
    assert len(missing) == 1 and "cannot read" in missing[0].message


def test_kind_specific_rules(tmp_path: Path) -> None:
    text = """
sources:
  - {name: listing, publisher: P, kind: html, url: "https://e.org/", follow: false, links: "a"}
  - {name: template, publisher: P, kind: html, url: "https://e.org/", links: "a", link_template: "x",
     link_regex: "("}
  - {name: post-feed, publisher: P, kind: feed, url: "https://e.org/f", method: POST, max_pages: 0}
"""
    found = where(validate_file(write(tmp_path, text)))
    assert {("#0 listing", "item_selector"), ("#1 template", "link_template"), ("#1 template", "link_regex"),
            ("#2 post-feed", "method"), ("#2 post-feed", "max_pages")} <= found


def test_default_path_comes_from_settings(tmp_path: Path) -> None:
    settings = Settings(sources=write(tmp_path, GOOD))  # MILAI_SOURCES, read by the caller
    assert [s.name for s in load_catalogue(catalogue_path(settings.sources))] == ["un-news-all", "mofa-kr"]


def test_without_a_configured_catalogue_the_bundled_one_is_read() -> None:
    assert catalogue_path(None) == catalogue_path("") == BUNDLED_CATALOGUE
    assert BUNDLED_CATALOGUE.is_file() and BUNDLED_CATALOGUE.parent.name == "crawler"


def test_bundled_catalogue_is_valid_and_broad() -> None:
    assert validate_file(BUNDLED_CATALOGUE) == []
    sources = load_catalogue(BUNDLED_CATALOGUE)
    assert len(sources) >= 40
    assert {"en", "nl", "fr", "de", "es", "ko"} <= {s.language for s in sources}
    assert {s.kind for s in sources} == {"feed", "sitemap", "html", "json"}
    assert all(s.publisher and s.schedule and s.language for s in sources)
    assert not any("feeds.rijksoverheid.nl" in s.url for s in sources)
    names = {s.name for s in sources}
    for expected in ("un-news-all-en", "un-press-releases", "nato-news", "war-gov-releases",
                     "gov-uk-mod-search-api", "rijksoverheid-search-api-ai-militair", "mofa-kr-press-releases-en"):
        assert expected in names
    publishers = " ".join(s.publisher for s in sources)
    for org in ("United Nations", "NATO", "Red Cross", "UNIDIR", "European External Action Service",
                "Ministry of Defence", "Department of State", "Rijksoverheid", "Auswärtiges Amt",
                "Ministerio de Defensa", "Ministère des Armées", "Japan", "Canada", "Austral", "REAIM"):
        assert org in publishers, org


def test_catalogue_accepts_follow_pdfs(tmp_path: Path):
    path = tmp_path / "sources.yaml"
    path.write_text("sources:\n  - name: unoda-docs\n    publisher: UNODA\n    kind: feed\n"
                    "    url: https://example.org/feed.xml\n    follow_pdfs: true\n", encoding="utf-8")
    assert validate_file(path) == []
    assert SourceConfig(name="x1", publisher="P", kind="feed", url="https://e.org/").follow_pdfs is False


def test_typos_get_plain_words_and_the_nearest_valid_field(tmp_path: Path) -> None:
    path = tmp_path / "typos.yaml"
    path.write_text(
        "sources:\n"
        "  - name: Bad_Name\n    publisher: P\n    kind: htlm\n    url: https://example.org/news\n    lnks: a.news\n"
        "  - name: no-url\n    publisher: P\n    kind: feed\n    langauge: en\n    xyzzy: 1\n",
        encoding="utf-8",
    )
    messages = {(p.entry, p.field): p.message for p in validate_file(path)}
    assert messages[("#0 Bad_Name", "lnks")] == "unknown field 'lnks'; did you mean 'links'?"
    assert messages[("#0 Bad_Name", "kind")] == (
        "unknown kind 'htlm': use one of feed, sitemap, html, json; did you mean 'html'?")
    assert "lower-case letters, digits and hyphens" in messages[("#0 Bad_Name", "name")]
    assert messages[("#1 no-url", "langauge")] == "unknown field 'langauge'; did you mean 'language'?"
    assert messages[("#1 no-url", "xyzzy")] == "unknown field 'xyzzy'; see docs/sources.md for the fields"
    assert messages[("#1 no-url", "url")] == "the field 'url' is required"
    assert not any("Extra inputs" in m for m in messages.values())


def test_a_user_catalogue_adds_overrides_and_disables_bundled_sources_by_name(tmp_path: Path) -> None:
    bundled = tmp_path / "bundled.yaml"
    bundled.write_text(GOOD, encoding="utf-8")
    user = tmp_path / "mine.yaml"
    user.write_text(
        "sources:\n"
        "  - name: mofa-kr\n    enabled: false\n"  # disable a bundled source by name
        "  - name: un-news-all\n    schedule: '5 * * * *'\n"  # override one field
        "  - name: my-ministry\n    publisher: Mine\n    kind: feed\n    url: https://example.org/rss.xml\n",
        encoding="utf-8",
    )
    sources = {s.name: s for s in load_catalogue(bundled, user=user)}
    assert list(sources) == ["un-news-all", "mofa-kr", "my-ministry"]
    assert sources["mofa-kr"].enabled is False and sources["mofa-kr"].item_selector == "table tbody tr"
    assert sources["un-news-all"].schedule == "5 * * * *" and sources["un-news-all"].language == "en"
    assert validate_file(user, base=bundled) == []
    # an entry naming no bundled source must be complete, and its problems name the user's file
    user.write_text("sources:\n  - name: half-done\n    enabled: false\n", encoding="utf-8")
    problems = validate_file(user, base=bundled)
    assert {(p.file, p.field) for p in problems} >= {(str(user), "url"), (str(user), "kind")}
    with pytest.raises(CatalogueError):
        load_catalogue(bundled, user=user)


def test_every_example_in_the_user_docs_is_a_valid_entry(tmp_path: Path) -> None:
    import re as _re

    docs = (Path(__file__).resolve().parents[2] / "docs" / "sources.md").read_text(encoding="utf-8")
    blocks = _re.findall(r"```yaml\n(.*?)```", docs, _re.S)
    assert len(blocks) >= 6
    for n, block in enumerate(blocks):
        path = tmp_path / f"example-{n}.yaml"
        whole = block.lstrip().startswith("sources:")
        path.write_text(block if whole else "sources:\n" + block, encoding="utf-8")
        # whole files may be user catalogues: entries naming bundled sources are merged over them
        assert validate_file(path, base=BUNDLED_CATALOGUE if whole else None) == [], block


def test_sources_validate_covers_the_bundled_and_the_user_catalogue(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from milai.cli.main import app

    bundled = tmp_path / "bundled.yaml"
    bundled.write_text(GOOD, encoding="utf-8")
    user = tmp_path / "mine.yaml"
    user.write_text("sources:\n  - name: mofa-kr\n    enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("MILAI_SOURCES", str(bundled))
    monkeypatch.setenv("MILAI_USER_SOURCES", str(user))
    ok = CliRunner().invoke(app, ["sources", "validate"])
    assert ok.exit_code == 0 and "mine.yaml" in "".join(ok.output.split()) and "valid" in ok.output
    user.write_text("sources:\n  - name: mofa-kr\n    lnks: a\n", encoding="utf-8")
    bad = CliRunner().invoke(app, ["sources", "validate"])
    assert bad.exit_code == 1 and "did you mean 'links'?" in " ".join(bad.output.split())
