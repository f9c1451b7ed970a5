"""DOCX letters: the built-in templates, the Jinja sandbox every template renders in, the GB/T 9704 page,
an uploaded template's checks, and the PDF through LibreOffice when it is installed.

Templates are user-supplied (the office uploads its own), so they render in a sandbox that can read only the
plain values of the context (`tracker.letters.context`): no globals (no `range`, `lipsum`, `namespace`), a
short list of filters, every loop and every `~` / `*` / `**` / `+` bounded, the output bounded — a template
can neither reach Python nor make the renderer spin or fill the memory. Values are XML-escaped (autoescape),
so a citizen's `<w:p>` or `=HYPERLINK(…)` is printed as the characters typed.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml.ns import qn
from docx.shared import Mm, Pt, RGBColor
from docxtpl import DocxTemplate
from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from tracker.errors import ValidationError
from tracker.letters.kinds import KINDS

# GB/T 9704-2012 §5.2: A4; top 37 mm, bottom 35 mm, left (订口) 28 mm, right 26 mm; 22 lines of 28 characters.
PAGE_WIDTH_MM, PAGE_HEIGHT_MM = 210, 297
MARGINS_MM = {"top": 37, "bottom": 35, "left": 28, "right": 26}
BODY_PT = 16  # 三号
TITLE_PT = 22  # 二号
LINE_PT = 28.95  # 225 mm of type area / 22 lines
BODY_FONT = "仿宋_GB2312"
TITLE_FONT = "方正小标宋简体"
HEADING_FONT = "黑体"

# Bounds on what a template may be and do (an upload, then every render).
MAX_TEMPLATE_BYTES = 1024 * 1024
MAX_TEMPLATE_ENTRIES = 200
MAX_TEMPLATE_UNCOMPRESSED = 16 * 1024 * 1024
MAX_LOOP_ITERATIONS = 20_000
MAX_VALUE_CHARS = 100_000
MAX_OUTPUT_CHARS = 2_000_000
MAX_RESULT_INT = 10**15


class LetterRenderError(ValidationError):
    """A template that cannot render: named, with the reason; never a 500."""


# -- the sandbox ----------------------------------------------------------------------------------------------

_SAFE_FILTERS = (
    "default", "d", "e", "escape", "first", "last", "length", "count", "join", "lower", "upper", "trim",
    "truncate", "replace", "string", "int", "float", "round", "abs", "capitalize", "title", "list",
)  # fmt: skip


def _check_value(value: Any) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE_CHARS:
        raise SecurityError("模板生成的文字过长")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_RESULT_INT:
        raise SecurityError("模板生成的数字过大")
    return value


def _bounded_filter(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return _check_value(fn(*args, **kwargs))

    # Jinja passes the environment / context to filters marked so; keep the marks.
    for mark in ("jinja_pass_arg",):
        if hasattr(fn, mark):
            setattr(wrapper, mark, getattr(fn, mark))
    return wrapper


class LetterEnvironment(SandboxedEnvironment):
    """One environment per render: its counters bound that render's loops and output."""

    intercepted_binops = frozenset({"*", "**", "+", "//", "%"})

    def __init__(self) -> None:
        super().__init__(autoescape=True, undefined=StrictUndefined, finalize=self._finalize)
        self.globals.clear()  # no range(), lipsum(), dict(), cycler(), joiner(), namespace()
        self.filters = {name: _bounded_filter(self.filters[name]) for name in _SAFE_FILTERS}
        self.tests = {name: self.tests[name] for name in ("defined", "undefined", "none", "number", "string")}
        self.globals["letter_loop_guard"] = self._loop_guard
        self.globals["letter_concat_guard"] = self._concat_guard
        self.iterations = 0
        self.output_chars = 0

    def _finalize(self, value: Any) -> Any:
        self.output_chars += len(str(value))
        if self.output_chars > MAX_OUTPUT_CHARS:
            raise SecurityError("模板输出过长")
        return value

    def _loop_guard(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.iterations += 1
            if self.iterations > MAX_LOOP_ITERATIONS:
                raise SecurityError(f"模板循环次数超过{MAX_LOOP_ITERATIONS}次")
            yield item

    def _concat_guard(self, *parts: Any) -> str:
        if sum(len(str(p)) for p in parts) > MAX_VALUE_CHARS:
            raise SecurityError("模板生成的文字过长")
        return "".join(str(p) for p in parts)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and (not isinstance(right, int) or abs(right) > 64):
            raise SecurityError("模板中的乘方过大")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                is_repeat = isinstance(seq, str | list | tuple) and isinstance(times, int)
                if is_repeat and len(seq) * max(times, 0) > MAX_VALUE_CHARS:
                    raise SecurityError("模板生成的文字过长")
        return _check_value(super().call_binop(context, operator, left, right))

    def from_string(self, source: Any, globals: Any = None, template_class: Any = None) -> Any:
        """Compile a part of the document once per process (docxtpl compiles every part on every render):
        the compiled code is the same for every LetterEnvironment — the guards and counters are looked up
        in the environment it runs with."""
        if not isinstance(source, str):
            return super().from_string(source, globals, template_class)
        code = _COMPILED.get(source)
        if code is None:
            code = self.compile(source)
            if len(_COMPILED) >= _MAX_COMPILED:
                _COMPILED.clear()
            _COMPILED[source] = code
        cls = template_class or self.template_class
        return cls.from_code(self, code, self.make_globals(globals), None)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        """Every `for` iterates through the loop guard; every `~` goes through the concat guard."""
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Call(nodes.Name("letter_loop_guard", "load"), [loop.iter], [], None, None)
        for parent in tree.find_all(nodes.Node):
            for field_name in parent.fields:
                value = getattr(parent, field_name, None)
                if isinstance(value, nodes.Concat):
                    setattr(parent, field_name, _guarded_concat(value))
                elif isinstance(value, list):
                    setattr(
                        parent,
                        field_name,
                        [_guarded_concat(v) if isinstance(v, nodes.Concat) else v for v in value],
                    )
        return tree


_COMPILED: dict[str, Any] = {}  # a document part's XML → its compiled code (bounded: cleared when full)
_MAX_COMPILED = 256


def _guarded_concat(node: nodes.Concat) -> nodes.Call:
    return nodes.Call(nodes.Name("letter_concat_guard", "load"), list(node.nodes), [], None, None)


# -- the page -------------------------------------------------------------------------------------------------


def apply_page_setup(document: Any) -> None:
    """A4 portrait with the GB/T 9704 margins, on every section (an uploaded template cannot move them)."""
    for section in document.sections:
        section.orientation = WD_ORIENT.PORTRAIT
        section.page_width, section.page_height = Mm(PAGE_WIDTH_MM), Mm(PAGE_HEIGHT_MM)
        section.top_margin = Mm(MARGINS_MM["top"])
        section.bottom_margin = Mm(MARGINS_MM["bottom"])
        section.left_margin = Mm(MARGINS_MM["left"])
        section.right_margin = Mm(MARGINS_MM["right"])


def _font(run: Any, name: str, size: float, *, bold: bool = False, color: RGBColor | None = None) -> None:
    run.font.name = name
    run.font.size = Pt(size)
    run.font.bold = bold
    if color is not None:
        run.font.color.rgb = color
    fonts = run._element.get_or_add_rPr().get_or_add_rFonts()
    fonts.set(qn("w:eastAsia"), name)


# The built-in templates: (style, text) per paragraph. Styles: agency (发文机关标志, red), number (文号), title,
# to (主送), body (indented two characters), item (a loop's paragraph), loop / end (docxtpl's `{%p %}` lines),
# seal (印章 placeholder), sign (署名), date (成文日期), note (附注).
_RECEIVED = "你（单位）于{{ received_date_cn }}提出的政府信息公开申请（登记编号：{{ ticket_number }}）"
_SUBJECT = "申请获取“{{ subject }}”"
_APPEAL = "如对本{{ title_short }}不服，可以在收到之日起六十日内依法申请行政复议，或者在六个月内依法向人民法院提起行政诉讼。"

BUILT_IN: dict[str, list[tuple[str, str]]] = {
    "receipt": [
        ("to", "{{ applicant_name }}："),
        (
            "body",
            "你（单位）于{{ arrived_date_cn }}通过{{ received_via }}方式提出的政府信息公开申请，本机关已予登记。"
            "登记编号：{{ ticket_number }}；查询码：{{ query_code }}。",
        ),
        ("body", "申请内容：{{ subject }}。"),
        (
            "body",
            "根据{{ legal_basis }}的规定，本机关收到申请的日期为{{ received_date_cn }}，将于{{ reply_due_date_cn }}"
            "前作出答复；依法征求第三方或者其他机关意见、申请人补正及缴纳信息处理费所需时间，不计算在答复期限内。",
        ),
        ("body", "你（单位）可以凭登记编号和查询码在本机关政府网站查询办理进度。"),
    ],
    "correction": [
        ("to", "{{ applicant_name }}："),
        (
            "body",
            _RECEIVED
            + "收悉，"
            + _SUBJECT
            + "。经审查，你（单位）的申请内容不明确。根据{{ legal_basis }}的规定，"
            "请你（单位）对下列内容作出补正：",
        ),
        ("loop", "{%p for item in correction_items %}"),
        ("item", "{{ loop.index }}．{{ item }}"),
        ("end", "{%p endfor %}"),
        (
            "body",
            "请于{{ correction_due_date_cn }}前将补正后的申请提交本机关。答复期限自本机关收到补正后的申请之日起计算。"
            "你（单位）无正当理由逾期不补正的，视为放弃申请，本机关不再处理该政府信息公开申请。",
        ),
    ],
    "extension": [
        ("to", "{{ applicant_name }}："),
        (
            "body",
            _RECEIVED
            + "收悉。因{{ extension_reason }}，本机关不能在{{ original_due_date_cn }}前作出答复。经本机关"
            "政府信息公开工作机构负责人同意，根据{{ legal_basis }}的规定，答复期限延长{{ extension_days }}个工作日，"
            "本机关将于{{ reply_due_date_cn }}前作出答复。",
        ),
        ("body", "特此告知。"),
    ],
    "consultation": [
        ("to", "{{ third_party_name }}："),
        (
            "body",
            "本机关于{{ received_date_cn }}收到一份政府信息公开申请（登记编号：{{ ticket_number }}），申请获取"
            "“{{ subject }}”。经审查，该政府信息的公开可能损害你（单位）的合法权益。根据{{ legal_basis }}的规定，"
            "现书面征求你（单位）的意见。",
        ),
        ("loop", "{%p for item in consultation_items %}"),
        ("item", "{{ item }}"),
        ("end", "{%p endfor %}"),
        (
            "body",
            "请你（单位）自收到本意见书之日起15个工作日内，即{{ consultation_due_date_cn }}前，书面提出意见并说明理由。"
            "逾期未提出意见的，由本机关依照《中华人民共和国政府信息公开条例》的规定决定是否公开。",
        ),
    ],
    "reply": [
        ("to", "{{ applicant_name }}："),
        ("body", _RECEIVED + "收悉，" + _SUBJECT + "。根据{{ legal_basis }}的规定，现答复如下："),
        ("body", "{{ outcome_paragraph }}"),
        ("loop", "{%p for para in reply_paragraphs %}"),
        ("item", "{{ para }}"),
        ("end", "{%p endfor %}"),
        ("body", _APPEAL),
    ],
    "not_disclosure": [
        ("to", "{{ applicant_name }}："),
        (
            "body",
            _RECEIVED
            + "收悉。经审查，你（单位）提出的申请不属于政府信息公开申请。根据{{ legal_basis }}的规定，告知如下：",
        ),
        ("body", "{{ outcome_paragraph }}"),
        ("loop", "{%p for para in reply_paragraphs %}"),
        ("item", "{{ para }}"),
        ("end", "{%p endfor %}"),
        ("body", _APPEAL),
    ],
    "fee": [
        ("to", "{{ applicant_name }}："),
        (
            "body",
            _RECEIVED + "收悉。根据{{ legal_basis }}的规定，本机关依法向你（单位）收取信息处理费"
            "人民币{{ fee_amount }}元（{{ fee_detail }}）。",
        ),
        (
            "body",
            "请你（单位）自收到本通知之次日起{{ payment_days }}个工作日内缴纳。收费期间不计算在答复期限内。"
            "逾期未缴纳的，视为放弃申请，本机关不再处理该政府信息公开申请。",
        ),
    ],
}

_HEAD = [("agency", "{{ agency }}"), ("number", "{{ doc_number }}"), ("title", "{{ title }}")]
# Every body cites `legal_basis` in its own sentence; the footer is the GB/T 9704 署名, 印章 and 成文日期.
_FOOT = [
    ("seal", "（印章）"),
    ("sign", "{{ agency }}"),
    ("date", "{{ date_cn }}"),
    ("note", "（联系部门：{{ department }}）"),
]


# The styles a built-in letter keeps of python-docx's stock package: the defaults and what the page uses.
# The stock package carries 164 style definitions (350 KB of styles.xml) and a 440 KB stylesWithEffects.xml,
# parsed, serialised and compressed again for every letter — three quarters of a letter's rendering time
# (docs/benchmarks.md, bench:letters). Word and WPS add a built-in style again when the office uses it.
KEPT_STYLES = frozenset(
    {
        "Normal",
        "Default Paragraph Font",
        "Normal Table",
        "No List",
        "Header",
        "Header Char",
        "Footer",
        "Footer Char",
    }
)
# Parts of the stock package no letter needs: Word 2010's copy of the styles, a bibliography placeholder,
# and the stock thumbnail (a file manager would show python-docx's sample page as the letter's preview).
_DROPPED_PARTS = ("stylesWithEffects", "customXml", "thumbnail")


def prune_stock_package(document: Any) -> None:
    """Drop from python-docx's stock package the style definitions and parts a letter does not use."""
    for style in list(document.styles):
        if style.name not in KEPT_STYLES:
            style.delete()
    for rels in (document.part.rels, document.part.package.rels):
        for rId, rel in list(rels.items()):
            if rel.reltype.rsplit("/", 1)[-1] in _DROPPED_PARTS:
                del rels[rId]


def build_default_template(kind: str, *, prune: bool = True) -> bytes:
    """The built-in template of a kind, as a DOCX the office can download, edit in Word/WPS and upload.
    `prune=False` keeps python-docx's whole stock package (the benchmark's "before")."""
    document = Document()
    if prune:
        prune_stock_package(document)
    apply_page_setup(document)
    normal = document.styles["Normal"]
    normal.font.name = BODY_FONT
    normal.font.size = Pt(BODY_PT)
    normal.element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), BODY_FONT)
    for style, text in _HEAD + BUILT_IN[kind] + _FOOT:
        paragraph = document.add_paragraph()
        fmt = paragraph.paragraph_format
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(LINE_PT)
        fmt.space_before = fmt.space_after = Pt(0)
        run = paragraph.add_run(text)
        if style == "agency":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            fmt.line_spacing = Pt(36)
            _font(run, TITLE_FONT, 26, color=RGBColor(0xC0, 0x00, 0x00))
        elif style == "number":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            fmt.space_after = Pt(LINE_PT / 2)
            _font(run, BODY_FONT, BODY_PT)
        elif style == "title":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            fmt.line_spacing = Pt(36)
            fmt.space_after = Pt(LINE_PT / 2)
            _font(run, TITLE_FONT, TITLE_PT)
        elif style in ("body", "item"):
            # Left, not justified: a long registration number at a line end would spread the line apart.
            paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT
            fmt.first_line_indent = Pt(BODY_PT * 2)
            _font(run, BODY_FONT, BODY_PT)
        elif style == "seal":
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            fmt.space_before = Pt(LINE_PT / 2)
            fmt.right_indent = Pt(BODY_PT * 5)
            _font(run, BODY_FONT, BODY_PT, color=RGBColor(0xC0, 0x00, 0x00))
        elif style in ("sign", "date"):
            paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            fmt.right_indent = Pt(BODY_PT * 4)
            _font(run, BODY_FONT, BODY_PT)
        elif style == "note":
            _font(run, BODY_FONT, 14)
        else:  # to, loop, end
            _font(run, BODY_FONT, BODY_PT)
    document.core_properties.title = KINDS[kind].title
    document.core_properties.author = ""
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


_DEFAULTS: dict[str, bytes] = {}


def default_template(kind: str) -> bytes:
    if kind not in _DEFAULTS:
        _DEFAULTS[kind] = build_default_template(kind)
    return _DEFAULTS[kind]


# -- rendering ------------------------------------------------------------------------------------------------


def render_docx(template: bytes, context: dict[str, Any]) -> bytes:
    """Render `template` with `context` (plain values only) in the sandbox, on the GB/T 9704 page."""
    doc = DocxTemplate(io.BytesIO(template))
    try:
        doc.render(context, jinja_env=LetterEnvironment(), autoescape=True)
    except SecurityError as exc:
        raise LetterRenderError(f"模板不安全或过大：{exc}", fields={"template": str(exc)}) from None
    except TemplateError as exc:
        where = f"（第{exc.lineno}行附近）" if getattr(exc, "lineno", None) else ""
        raise LetterRenderError(f"模板无法生成文书{where}：{exc}", fields={"template": str(exc)}) from None
    except (ValueError, KeyError, TypeError) as exc:  # a malformed document part
        raise LetterRenderError(f"模板无法生成文书：{exc}", fields={"template": "格式错误"}) from None
    apply_page_setup(doc.docx)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def docx_paragraphs(data: bytes) -> list[str]:
    """The text of a letter, paragraph by paragraph (the preview; the tests)."""
    return [p.text for p in Document(io.BytesIO(data)).paragraphs]


# -- an uploaded template -------------------------------------------------------------------------------------

_EXTERNAL = re.compile(rb'TargetMode\s*=\s*"External"', re.IGNORECASE)


def check_template_file(data: bytes, *, filename: str = "") -> None:
    """Refuse what is not a plain DOCX of bounded size: before any parser reads it (a zip bomb, macros, an
    external link LibreOffice would fetch, an embedded object)."""
    if not data:
        raise ValidationError("模板文件为空", fields={"file": "空文件"})
    if len(data) > MAX_TEMPLATE_BYTES:
        raise ValidationError(
            f"模板文件超过{MAX_TEMPLATE_BYTES // 1024}KB", fields={"file": f"过大（{len(data)}字节）"}
        )
    if filename and not filename.lower().endswith(".docx"):
        raise ValidationError("模板须为 .docx 文件", fields={"file": "类型不允许"})
    if not data.startswith(b"PK\x03\x04"):
        raise ValidationError("模板不是 DOCX 文件（不是 ZIP 格式）", fields={"file": "不是DOCX"})
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_TEMPLATE_ENTRIES:
                raise ValidationError("模板包含的部件过多", fields={"file": f"{len(entries)}个部件"})
            if sum(e.file_size for e in entries) > MAX_TEMPLATE_UNCOMPRESSED:
                raise ValidationError("模板解压后过大", fields={"file": "解压后过大"})
            names = {e.filename for e in entries}
            if "word/document.xml" not in names or "[Content_Types].xml" not in names:
                raise ValidationError(
                    "模板不是 Word 文档（缺少 word/document.xml）", fields={"file": "不是DOCX"}
                )
            for name in names:
                lower = name.lower()
                if (
                    "vbaproject" in lower
                    or lower.endswith((".bin", ".exe", ".dll"))
                    or "/embeddings/" in lower
                ):
                    raise ValidationError(
                        f"模板包含宏或嵌入对象（{name}），不允许", fields={"file": "含宏或嵌入对象"}
                    )
                if name.startswith("/") or ".." in name.split("/"):
                    raise ValidationError("模板包含非法路径", fields={"file": "非法路径"})
                if lower.endswith(".rels") and _EXTERNAL.search(archive.read(name)):
                    raise ValidationError(
                        "模板包含外部链接（如远程图片或模板），不允许", fields={"file": "外部链接"}
                    )
    except zipfile.BadZipFile:
        raise ValidationError("模板不是有效的 DOCX 文件", fields={"file": "损坏"}) from None


# -- PDF ------------------------------------------------------------------------------------------------------


def soffice_path() -> str | None:
    return shutil.which("soffice") or shutil.which("libreoffice")


def to_pdf(docx: bytes, *, timeout: int = 120) -> bytes | None:
    """The letter as PDF through LibreOffice, or None when LibreOffice is not installed. A private profile
    per call: two conversions at once do not share (and lock) one user directory."""
    soffice = soffice_path()
    if soffice is None:
        return None
    with tempfile.TemporaryDirectory(prefix="letter-") as tmp:
        work = Path(tmp)
        (work / "letter.docx").write_bytes(docx)
        profile = (work / "profile").as_uri()
        try:
            subprocess.run(
                [
                    soffice,
                    f"-env:UserInstallation={profile}",
                    "--headless",
                    "--norestore",
                    "--convert-to",
                    "pdf",
                    "--outdir",
                    str(work),
                    str(work / "letter.docx"),
                ],
                check=True,
                capture_output=True,
                timeout=timeout,
                env={**os.environ, "HOME": str(work)},
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise LetterRenderError(f"LibreOffice 转换 PDF 失败：{exc}", fields={"format": "pdf"}) from None
        pdf = work / "letter.pdf"
        if not pdf.exists():
            raise LetterRenderError("LibreOffice 未生成 PDF", fields={"format": "pdf"})
        return pdf.read_bytes()


@dataclass(frozen=True)
class Rendered:
    docx: bytes
    paragraphs: list[str]
