"""Helpers for the intake tests: files in the platforms' encodings and signed API requests."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tracker.intake import apikeys

HOTLINE_HEADER = [
    "工单编号",
    "受理时间",
    "诉求类型",
    "诉求内容",
    "标题",
    "诉求人",
    "联系电话",
    "是否保密",
    "诉求分类",
    "办结时限",
    "办结时间",
    "答复内容",
    "回访时间",
    "满意度",
    "是否解决",
]


def hotline_row(
    no: str,
    accepted: str = "2016-03-05 09:12:00",
    kind: str = "咨询",
    content: str = "咨询集体企业改制后职工身份置换政策",
    **more,
) -> list:
    row = dict.fromkeys(HOTLINE_HEADER, "")
    row.update(
        {
            "工单编号": no,
            "受理时间": accepted,
            "诉求类型": kind,
            "诉求内容": content,
            "标题": content[:12],
            "诉求人": "张先生",
            "联系电话": "13800138000",
        }
    )
    row.update(more)
    return [row[h] for h in HOTLINE_HEADER]


def write_csv(path: Path, header: list, rows: list[list], encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def write_many_orders(path: Path, prefix: str, count: int) -> Path:
    """A large 12345 export (GBK, as the platform writes it) of `count` distinct orders."""
    rows = [
        hotline_row(f"{prefix}-{n:06d}", content=f"第{n}号：反映小区充电桩安装难，物业以容量不足为由拒绝。")
        for n in range(count)
    ]
    return write_csv(path, HOTLINE_HEADER, rows, encoding="gbk")


def signed_headers(
    key_id: str,
    secret: str,
    method: str,
    url: str,
    body: bytes,
    *,
    at: int | None = None,
    nonce: str | None = None,
    content_type: str | None = "application/json",
) -> dict[str, str]:
    """The headers of a request signed as every client signs (tracker.intake.apikeys.signed_headers)."""
    headers = apikeys.signed_headers(
        key_id, secret, method=method, url=url, body=body, timestamp=at, nonce=nonce
    )
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def post_signed(client, path: str, payload, key_id: str, secret: str, **kw):
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode()
    return client.post(path, data=body, headers=signed_headers(key_id, secret, "POST", path, body, **kw))


def get_signed(client, path: str, key_id: str, secret: str, **kw):
    return client.get(path, headers=signed_headers(key_id, secret, "GET", path, b"", content_type=None, **kw))
