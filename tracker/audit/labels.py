"""What a person reads for each audit action code: the audit log page, its CSV export and the filter's
choices use this one table (tests/web/test_label_tables.py finds every code the code base writes and fails
when one lacks a label). English comes from web/translations (the Chinese label is the msgid)."""

from __future__ import annotations

ACTION_LABELS: dict[str, str] = {
    "login.ok": "登录（密码正确）",
    "login.completed": "登录完成",
    "login.failed": "登录失败",
    "login.locked": "账户临时锁定",
    "login.rejected": "登录被拒绝",
    "login.sso_ok": "统一身份认证登录",
    "login.sso_rejected": "统一身份认证登录被拒绝",
    "sso.linked": "关联统一身份认证账号",
    "password.change_failed": "修改密码失败",
    "password.change_required": "要求修改密码",
    "password.changed": "修改密码",
    "password.reset": "管理员重置密码",
    "totp.enrolled": "绑定动态口令",
    "totp.enrol_failed": "绑定动态口令失败",
    "totp.failed": "动态口令错误",
    "totp.replayed": "动态口令重复使用被拒绝",
    "totp.recovery_used": "使用恢复码登录",
    "totp.removed": "解除动态口令",
    "user.created": "创建用户",
    "user.updated": "修改用户",
    "user.role_from_sso": "按统一身份认证更新角色",
    "user.signed_out_everywhere": "结束用户的全部会话",
    "department.created": "创建部门",
    "department.updated": "修改部门",
    "personal_data.reveal": "查看个人信息",
    "attachment.download": "下载附件",
    "privacy.export": "导出个人信息",
    "privacy.anonymised": "个人信息匿名化",
    "privacy.retention_changed": "更改保存期限",
    "api_key.created": "创建接口密钥",
    "api_key.revoked": "吊销接口密钥",
    "calendar.loaded": "导入节假日安排",
    "policy.override_added": "新增期限规则",
    "rule.routing.saved": "保存分办规则",
    "rule.topic.saved": "保存主题规则",
    "rule.reminder.saved": "保存提醒规则",
    "notification_channel.saved": "保存通知渠道",
    "canned_reply.created": "新建常用答复",
    "reply_check.saved": "修改答复前检查与重复件规则",
    "message_template.saved": "保存告知群众的消息模板",
    "report.prepared": "生成年度报告数据",
    "report.export": "导出年度报告",
    "register.import": "导入登记簿数字",
    "review_cases.import": "导入行政复议、诉讼案件",
    "audit.algorithm_changed": "更改审计日志哈希算法",
    "audit.pruned": "清理过期审计记录",
    "audit.exported": "导出审计日志",
    "pii.keys_rotated": "个人信息密钥轮换",
    "letter.download": "下载文书",
    "letter_template.uploaded": "上传文书模板",
    "letter_template.restored": "恢复内置文书模板",
}


def action_label(code: str) -> str:
    """The label of an action code; an unknown one (written by a newer version) is shown as it is."""
    return ACTION_LABELS.get(code, code)
