"""The office's own templates: a DOCX edited from the built-in one is kept and used; what is not a bounded,
plain DOCX, or does not render with a sample ticket in the sandbox, is refused with the reason — an oversized
file, a zip bomb, macros, an external link, a template reaching for Python, looping or multiplying without end."""

from __future__ import annotations

import io
import zipfile

import pytest
from docx import Document

from tracker.errors import PermissionDenied, ValidationError
from tracker.letters import service as letters
from tracker.letters.context import sample_context
from tracker.letters.models import LetterTemplate
from tracker.letters.render import MAX_TEMPLATE_BYTES, default_template, docx_paragraphs, render_docx


def _docx_with(*paragraphs: str) -> bytes:
    document = Document(io.BytesIO(default_template("receipt")))
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _upload(session, office, now, data, kind="receipt", filename="回执.docx"):
    return letters.upload_template(session, kind, filename=filename, data=data, user=office["admin"], now=now)


def test_an_edited_template_is_kept_and_used_and_the_default_can_be_restored(
    session, now, office, application
):
    template = _upload(
        session, office, now, _docx_with("本回执由{{ department }}出具，查询码{{ query_code }}。")
    )
    assert template.is_active
    ticket = application()
    draft = letters.preview_letter(session, ticket, "receipt", {}, user=office["staff"], now=now)
    assert "本回执由政务公开科出具，查询码（无）。" in draft.paragraphs and draft.template_id == template.id
    second = _upload(session, office, now, _docx_with("第二版"))
    session.refresh(template)
    assert not template.is_active and second.is_active  # one active per kind; uploads kept
    letters.restore_default_template(session, "receipt", user=office["admin"], now=now)
    draft = letters.preview_letter(session, ticket, "receipt", {}, user=office["staff"], now=now)
    assert "第二版" not in draft.paragraphs and draft.template_id is None


def test_only_an_administrator_uploads_templates(session, now, office):
    for role in ("staff", "supervisor", "auditor"):
        with pytest.raises(PermissionDenied):
            letters.upload_template(
                session,
                "receipt",
                filename="a.docx",
                data=default_template("receipt"),
                user=office[role],
                now=now,
            )


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()


def _with_part(name: str, data: bytes) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(default_template("receipt")))
    entries = {info.filename: source.read(info.filename) for info in source.infolist()}
    entries[name] = data
    return _zip(entries)


@pytest.mark.parametrize(
    ("data", "filename", "reason"),
    [
        (b"", "a.docx", "为空"),
        (b"PK\x03\x04" + b"0" * (MAX_TEMPLATE_BYTES + 1), "a.docx", "超过"),
        (default_template("receipt"), "a.doc", ".docx"),
        (b"%PDF-1.7 not a docx", "a.docx", "不是 ZIP"),
        (b"PK\x03\x04garbage", "a.docx", "不是有效的"),
        (_zip({"[Content_Types].xml": b"<x/>"}), "a.docx", "缺少 word/document.xml"),
        (_with_part("word/bomb.xml", b"\0" * (17 * 1024 * 1024)), "a.docx", "解压后过大"),
        (_with_part("word/vbaProject.bin", b"macro"), "a.docx", "宏"),
        (
            _with_part(
                "word/_rels/header1.xml.rels",
                b'<Relationships><Relationship Id="r1" Target="http://evil.example/x.png" TargetMode="External"/>'
                b"</Relationships>",
            ),
            "a.docx",
            "外部链接",
        ),
    ],
    ids=[
        "empty",
        "oversized",
        "not-docx-name",
        "not-zip",
        "broken-zip",
        "no-document",
        "zip-bomb",
        "macro",
        "external",
    ],
)
def test_malicious_or_broken_files_are_refused_before_parsing(session, now, office, data, filename, reason):
    with pytest.raises(ValidationError, match=reason):
        _upload(session, office, now, data, filename=filename)
    assert session.query(LetterTemplate).count() == 0


@pytest.mark.parametrize(
    ("jinja", "reason"),
    [
        ("{{ agency.__class__.__mro__ }}", "不安全"),
        ("{{ cycler.__init__.__globals__ }}", "生成失败"),
        ("{{ range(10) }}", "生成失败"),
        ("{{ lipsum() }}", "生成失败"),
        ("{{ 'x' * 1000000000 }}", "过长"),
        ("{{ 9 ** 999999 }}", "乘方"),
        (
            "{% set a = 'xxxxxxxxxx' %}{% set b = a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a ~ a %}"
            "{% set c = b ~ b ~ b ~ b ~ b ~ b ~ b ~ b ~ b ~ b %}{% set d = c ~ c ~ c ~ c ~ c ~ c ~ c ~ c ~ c ~ c %}"
            "{% set e = d ~ d ~ d ~ d ~ d ~ d ~ d ~ d ~ d ~ d %}{% set f = e ~ e ~ e ~ e ~ e ~ e ~ e ~ e ~ e ~ e %}"
            "{{ f }}",
            "过长",
        ),
        (
            "{% for a in 'abcdefghijklmnopqrstuvwxyz' %}{% for b in 'abcdefghijklmnopqrstuvwxyz' %}"
            "{% for c in 'abcdefghijklmnopqrstuvwxyz' %}{% for d in 'abcdefghij' %}.{% endfor %}{% endfor %}"
            "{% endfor %}{% endfor %}",
            "循环",
        ),
        ("{{ no_such_variable }}", "no_such_variable"),
        ("{{ agency|attr('__class__') }}", "生成失败"),
        ("{% if %}", "生成失败"),
    ],
    ids=[
        "mro",
        "globals",
        "range",
        "lipsum",
        "repeat",
        "power",
        "concat",
        "loops",
        "unknown",
        "attr",
        "syntax",
    ],
)
def test_templates_that_reach_for_python_or_spin_are_refused(session, now, office, jinja, reason):
    with pytest.raises(ValidationError, match=reason):
        _upload(session, office, now, _docx_with(jinja))
    assert session.query(LetterTemplate).count() == 0


def test_values_are_escaped_even_in_a_custom_template():
    context = {**sample_context("receipt"), "subject": "</w:t></w:r><w:r><w:t>注入"}
    data = render_docx(_docx_with("{{ subject }}"), context)
    assert "</w:t></w:r><w:r><w:t>注入" in docx_paragraphs(data)
