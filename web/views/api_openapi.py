"""The OpenAPI 3 document of /api/v1, written by hand (the API is small; the test validates it and
checks that every route of the blueprint is described)."""

from __future__ import annotations

from typing import Any

from tracker.intake.disclosure import RECEIVED_VIA
from tracker.tickets.channels import HOTLINE_TYPES, MESSAGE_TYPES, SATISFACTION_LEVELS
from tracker.tickets.status import STATUS_LABELS

_SIGNED = [{"key": [], "timestamp": [], "nonce": [], "signature": []}]


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


_ERRORS = {
    "400": _error("输入有误：fields 逐项说明"),
    "401": _error("缺少签名、签名无效或时间戳超出5分钟"),
    "403": _error("该密钥无权访问此渠道或部门"),
    "413": _error("请求体过大"),
    "415": _error("Content-Type 不是 application/json"),
}
# Every operation that reads or writes the database: web/errors.py answers an OperationalError with 503
# `database_unavailable` and Retry-After (docs/api.md), so a client knows to retry, not to give up.
_ERRORS["503"] = {
    **_error("database_unavailable：数据库暂时不可用，按 Retry-After（秒）稍后重试；未写入任何数据"),
    "headers": {"Retry-After": {"description": "几秒后重试", "schema": {"type": "integer", "minimum": 1}}},
}
_READ_ERRORS = {k: v for k, v in _ERRORS.items() if k in ("400", "401", "403", "503")}


def _ok(schema_ref: str, description: str = "成功") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": schema_ref}}}}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


_TICKET_ID = {
    "name": "ticket_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}


def _str(description: str, **kw: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **kw}


HOTLINE_ORDER = {
    "type": "object",
    "required": ["order_no", "accepted_at", "request_type", "content"],
    "properties": {
        "order_no": _str("工单编号（幂等键）", maxLength=128),
        "accepted_at": _str("受理时间，如 2026-03-05 09:12:00（北京时间）或带时区的 ISO 8601"),
        "request_type": {"type": "string", "enum": list(HOTLINE_TYPES), "description": "诉求类型"},
        "content": _str("诉求内容"),
        "title": _str("标题"),
        "name": _str("诉求人"),
        "phone": _str("联系电话"),
        "is_confidential": {"type": "boolean", "description": "是否保密"},
        "category": _str("诉求分类"),
        "address": _str("事发地址"),
        "urgency": _str("紧急程度"),
        "dispatched_at": _str("派单时间"),
        "sign_due_at": _str("签收时限（平台写明的优先）"),
        "reply_due_at": _str("办结时限（平台写明的优先）"),
        "closed_at": _str("办结时间"),
        "reply": _str("答复内容"),
        "visited_at": _str("回访时间"),
        "satisfaction": {"type": "string", "enum": list(SATISFACTION_LEVELS)},
        "is_resolved": {"type": "boolean"},
        "source": _str("来源渠道"),
        "co_units": {
            "description": "协办单位：部门代码或名称的列表（或以、分隔的文字）；每个单位生成一件协办工单",
            "oneOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}],
        },
        "co_due_at": _str("协办时限（不填则加派后5个工作日）"),
        "supervision_ref": _str("督办编号（幂等键：同一编号只记录一次）", maxLength=128),
        "supervised_at": _str("督办时间"),
        "supervision_text": _str("督办内容（有督办编号时必填）"),
        "supervision_due_at": _str("督办时限（不填则按规则计算）"),
    },
}

NEW_TICKET = {
    "type": "object",
    "required": ["channel"],
    "description": "channel=website 用留言字段（message_no, posted_at, content …）；channel=disclosure 用申请字段"
    "（application_no, received_at, name, information …）；channel=weibo 用 item（微博接口对象）和 kind。",
    "properties": {
        "channel": {"type": "string", "enum": ["website", "weibo", "disclosure"]},
        "message_no": _str("留言编号"),
        "posted_at": _str("留言时间"),
        "request_type": {"type": "string", "enum": list(MESSAGE_TYPES)},
        "title": _str("标题"),
        "content": _str("内容"),
        "name": _str("留言人 / 申请人姓名或名称"),
        "phone": _str("联系电话"),
        "email": _str("电子邮箱"),
        "is_publishable": {"type": "boolean"},
        "application_no": _str("申请编号"),
        "received_at": _str("收到日期（申请到达之日；法定收到日期依《条例》第三十一条推算）"),
        "received_via": {"type": "string", "enum": list(RECEIVED_VIA)},
        "signed_at": _str("签收日期（邮寄、挂号信、快递：以签收之日为收到申请之日）"),
        "confirmed_at": _str("确认日期（平信、网络、电子邮件、传真：以确认之日为收到申请之日）"),
        "applicant_type": {
            "type": "string",
            "enum": ["自然人", "商业企业", "科研机构", "社会公益组织", "法律服务机构", "其他"],
        },
        "id_number": _str("证件号码（身份证校验位 / 统一社会信用代码校验码）"),
        "information": _str("所需信息"),
        "kind": {"type": "string", "enum": ["comment", "mention", "direct_message"]},
        "item": {
            "type": "object",
            "description": "微博开放接口返回的对象（id/idstr, created_at, text, user, status）",
        },
    },
}


def openapi_document(server_url: str) -> dict[str, Any]:
    ticket_summary = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "string"},
            "status": {"type": "string", "enum": list(STATUS_LABELS)},
        },
    }
    ticket = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "number": {"type": "string"},
            "channel": {"type": "string"},
            "external_ref": {"type": "string", "nullable": True},
            "request_type": {"type": "string"},
            "subject": {"type": "string"},
            "status": {"type": "string", "enum": list(STATUS_LABELS)},
            "status_label": {"type": "string"},
            "department": {"type": "string"},
            "received_at": {"type": "string", "format": "date-time"},
            "arrived_at": {"type": "string", "format": "date-time"},
            "replied_at": {"type": "string", "format": "date-time", "nullable": True},
            "closed_at": {"type": "string", "format": "date-time", "nullable": True},
            "satisfaction": {"type": "string", "nullable": True},
            "outcome": {"type": "string", "nullable": True},
            "possible_duplicate_of_id": {"type": "integer", "nullable": True},
            "linked_ticket_id": {"type": "integer", "nullable": True},
            "body": {"type": "string"},
            "reply_text": {"type": "string", "nullable": True},
            "contact": {"type": "object", "description": "已脱敏"},
            "extra": {"type": "object"},
        },
        "required": ["id", "number", "channel", "status", "received_at"],
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "政民互动工单系统 API",
            "version": "1",
            "description": "签名：X-Tracker-Signature = hex(HMAC-SHA256(secret, 待签字符串))，待签字符串为以换行连接的 "
            "TRACKER-HMAC-SHA256、大写方法、路径、排序后的查询串、X-Tracker-Timestamp、X-Tracker-Nonce、"
            "请求体的 SHA-256（十六进制；GET 为空串的摘要）。时间戳与服务器相差超过5分钟即拒绝；"
            "每个 nonce（16–64 位字母、数字、- 或 _）只能使用一次，重放一律 401。详见 docs/api.md。"
            '错误统一为 {"error": {"code", "message", "fields"}}。',
        },
        "servers": [{"url": server_url.rstrip("/") + "/api/v1"}],
        "security": _SIGNED,
        "paths": {
            "/intake/hotline": {
                "post": {
                    "operationId": "pushHotlineOrder",
                    "summary": "推送12345工单（按工单编号幂等：重复推送更新原工单或返回 duplicate）",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/HotlineOrder"}}
                        },
                    },
                    "responses": {
                        "201": _ok("#/components/schemas/IntakeResult", "已创建"),
                        "200": _ok(
                            "#/components/schemas/IntakeResult", "已更新（updated）或无变化（duplicate）"
                        ),
                        **_ERRORS,
                    },
                }
            },
            "/sms/replies": {
                "post": {
                    "operationId": "smsReply",
                    "summary": "短信网关转来的群众回复：回复“退订”或“TD”的号码不再收到告知短信和邮件（须不限渠道和部门的密钥）",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SmsReply"}}
                        },
                    },
                    "responses": {"200": _ok("#/components/schemas/SmsReplyResult"), **_ERRORS},
                }
            },
            "/tickets": {
                "get": {
                    "operationId": "listTickets",
                    "summary": "按条件列出工单（新的在前，按 id 翻页）",
                    "parameters": [
                        _query(
                            "channel",
                            {"type": "string", "enum": ["hotline", "website", "weibo", "disclosure"]},
                            "渠道",
                        ),
                        _query("status", {"type": "string", "enum": list(STATUS_LABELS)}, "状态"),
                        _query("department", {"type": "string"}, "部门代码"),
                        _query("external_ref", {"type": "string"}, "外部编号（工单编号等）"),
                        _query("received_from", {"type": "string", "format": "date"}, "收到日期起（含）"),
                        _query("received_to", {"type": "string", "format": "date"}, "收到日期止（含）"),
                        _query("before", {"type": "integer", "minimum": 1}, "上一页返回的 next_before"),
                        _query(
                            "limit", {"type": "integer", "minimum": 1, "maximum": 200}, "每页条数，默认50"
                        ),
                    ],
                    "responses": {"200": _ok("#/components/schemas/TicketPage"), **_READ_ERRORS},
                },
                "post": {
                    "operationId": "createTicket",
                    "summary": "为没有专用接口的渠道（网站留言、微博、依申请公开）创建工单",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewTicket"}}
                        },
                    },
                    "responses": {
                        "201": _ok("#/components/schemas/IntakeResult", "已创建"),
                        "200": _ok("#/components/schemas/IntakeResult", "已存在（updated / duplicate）"),
                        **_ERRORS,
                    },
                },
            },
            "/tickets/{ticket_id}": {
                "get": {
                    "operationId": "getTicket",
                    "parameters": [_TICKET_ID],
                    "responses": {
                        "200": _ok("#/components/schemas/Ticket"),
                        "404": _error("不存在或不在密钥范围内"),
                        **_READ_ERRORS,
                    },
                }
            },
            "/tickets/{ticket_id}/events": {
                "get": {
                    "operationId": "getTicketEvents",
                    "parameters": [_TICKET_ID],
                    "responses": {
                        "200": _ok("#/components/schemas/EventList"),
                        "404": _error("不存在或不在密钥范围内"),
                        **_READ_ERRORS,
                    },
                }
            },
            "/tickets/{ticket_id}/deadlines": {
                "get": {
                    "operationId": "getTicketDeadlines",
                    "parameters": [_TICKET_ID],
                    "responses": {
                        "200": _ok("#/components/schemas/DeadlineList"),
                        "404": _error("不存在或不在密钥范围内"),
                        **_READ_ERRORS,
                    },
                }
            },
            "/send-backs/{send_back_id}/decision": {
                "post": {
                    "operationId": "decideSendBack",
                    "summary": "12345平台对承办单位退单申请的审核结果（同意：工单退回平台；不同意：工单退回单位，期限不重置）",
                    "parameters": [
                        {
                            "name": "send_back_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                            "description": "退单申请编号（回调 sendback 中的“退单申请编号”）",
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/SendBackDecision"}}
                        },
                    },
                    "responses": {
                        "200": _ok("#/components/schemas/SendBackDecided", "已处理"),
                        "404": _error("不存在或不在密钥范围内"),
                        "409": _error("该申请已处理（fields.state 为已作出的结果），或工单已不能退回"),
                        **_ERRORS,
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "security": [],
                    "summary": "本文档",
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3 文档",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {
                "key": {"type": "apiKey", "in": "header", "name": "X-Tracker-Key"},
                "timestamp": {"type": "apiKey", "in": "header", "name": "X-Tracker-Timestamp"},
                "nonce": {"type": "apiKey", "in": "header", "name": "X-Tracker-Nonce"},
                "signature": {"type": "apiKey", "in": "header", "name": "X-Tracker-Signature"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "fields"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                            },
                        }
                    },
                },
                "HotlineOrder": HOTLINE_ORDER,
                "NewTicket": NEW_TICKET,
                "TicketSummary": ticket_summary,
                "SmsReply": {
                    "type": "object",
                    "required": ["phone", "text"],
                    "properties": {
                        "phone": {"type": "string", "description": "回复的手机号码（可带 +86）"},
                        "text": {"type": "string", "maxLength": 500, "description": "回复内容"},
                    },
                },
                "SmsReplyResult": {
                    "type": "object",
                    "required": ["result"],
                    "properties": {
                        "result": {"type": "string", "enum": ["opted_out", "ignored"]},
                        "contacts": {"type": "integer", "description": "本次退订的联系人数（已退订的不计）"},
                    },
                },
                "IntakeResult": {
                    "type": "object",
                    "required": ["result", "ticket"],
                    "properties": {
                        "result": {"type": "string", "enum": ["created", "updated", "duplicate"]},
                        "ticket": {"$ref": "#/components/schemas/TicketSummary"},
                        "changes": {"type": "array", "items": {"type": "string"}},
                        "possible_duplicate_of": {"type": "string"},
                    },
                },
                "Ticket": ticket,
                "SendBackDecision": {
                    "type": "object",
                    "required": ["decision"],
                    "properties": {
                        "decision": {"type": "string", "enum": ["accepted", "refused"]},
                        "note": _str("审核意见；不同意时必填", maxLength=2000),
                        "order_no": _str("工单编号（可选，填写时须与申请的工单一致）"),
                    },
                },
                "SendBackDecided": {
                    "type": "object",
                    "required": ["send_back", "ticket"],
                    "properties": {
                        "send_back": {
                            "type": "object",
                            "properties": {
                                "id": {"type": "integer"},
                                "state": {"type": "string", "enum": ["accepted", "refused"]},
                                "decided_at": {"type": "string", "format": "date-time"},
                                "reason_code": {"type": "string"},
                            },
                        },
                        "ticket": {"$ref": "#/components/schemas/TicketSummary"},
                    },
                },
                "TicketPage": {
                    "type": "object",
                    "properties": {
                        "tickets": {"type": "array", "items": {"$ref": "#/components/schemas/Ticket"}},
                        "next_before": {"type": "integer", "nullable": True},
                    },
                },
                "EventList": {
                    "type": "object",
                    "properties": {
                        "events": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "id": {"type": "integer"},
                                    "kind": {"type": "string"},
                                    "occurred_at": {"type": "string", "format": "date-time"},
                                    "actor": {"type": "string", "nullable": True},
                                    "status_before": {"type": "string", "nullable": True},
                                    "status_after": {"type": "string", "nullable": True},
                                    "data": {"type": "object"},
                                },
                            },
                        }
                    },
                },
                "DeadlineList": {
                    "type": "object",
                    "properties": {
                        "deadlines": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "kind": {"type": "string"},
                                    "label": {"type": "string"},
                                    "due_at": {"type": "string", "format": "date-time", "nullable": True},
                                    "state": {"type": "string"},
                                    "version": {"type": "integer"},
                                    "policy": {"type": "string"},
                                    "explanation": {"type": "string"},
                                },
                            },
                        }
                    },
                },
            },
        },
    }
