"""What each outside service's error codes mean for the operator, in Chinese — one table per service.

The codes are the services' own: Weibo's `error_code` (open.weibo.com/wiki/Error_code), the group robots'
`errcode`, the SMTP reply code, the HTTP status. `tracker channel status`, the admin channel page and
/healthz show a channel's last code with its meaning from here, and docs/workers.md lists them.
"""

from __future__ import annotations

# Weibo: 1xxxx system level, 2xxxx service level. The ones the poller acts on are in the sets below.
WEIBO = {
    "10001": "微博系统错误，稍后自动重试",
    "10002": "微博服务暂停，稍后自动重试",
    "10003": "微博远程服务错误，稍后自动重试",
    "10004": "本机IP被微博限制，请联系微博开放平台",
    "10005": "该接口需要更高级别的应用授权",
    "10006": "缺少应用标识（source/appkey）",
    "10008": "请求参数错误",
    "10009": "微博任务过多，系统繁忙，稍后自动重试",
    "10012": "非法请求",
    "10013": "不合法的微博用户",
    "10014": "应用的接口访问权限受限（私信接口需商业接口 c.api.weibo.com 及蓝V授权）",
    "10016": "缺少必选参数",
    "10017": "参数值非法",
    "10020": "接口不存在（请检查接口地址）",
    "10021": "不支持该HTTP方法",
    "10022": "IP请求频次超过上限，下一小时自动恢复",
    "10023": "用户请求频次超过上限，下一小时自动恢复",
    "10024": "用户请求该接口频次超过上限，下一小时自动恢复",
    "20003": "用户不存在",
    "21301": "认证失败，请重新授权",
    "21314": "令牌已被使用，请重新授权",
    "21315": "令牌已过期，请重新授权",
    "21316": "令牌不合法，请重新授权",
    "21317": "令牌不合法，请重新授权",
    "21319": "授权关系已解除，请重新授权",
    "21321": "未审核的应用使用人数超过限制",
    "21327": "授权已过期，请重新授权",
    "21332": "访问令牌无效，请重新授权",
    "21501": "令牌无效，请重新授权",
    # Ours: the poller's own count reached TRACKER_WEIBO_HOURLY_QUOTA before Weibo had to refuse.
    "quota": "已用完本小时调用配额，下一小时自动继续",
}
# The token no longer works: every endpoint would fail the same way; someone has to re-authorise.
WEIBO_TOKEN_CODES = frozenset(
    {"21301", "21314", "21315", "21316", "21317", "21319", "21327", "21332", "21501"}
)
# The hourly quota is spent: Weibo's counters run per clock hour, so the poll waits for the next one.
WEIBO_RATE_CODES = frozenset({"10022", "10023", "10024"})

# Group robots' errcode.
DINGTALK = {
    "130101": "发送过快，钉钉限流（每个机器人每分钟最多20条，超出后限流10分钟），稍后自动重发",
    "130102": "发送过快，钉钉限流，稍后自动重发",
    "300001": "机器人 access_token 无效，请检查地址",
    "310000": "签名或关键词校验未通过（请检查加签密钥、安全设置）",
    "400013": "群已被解散",
    "400101": "access_token 不存在，请检查机器人地址",
    "400102": "机器人已停用",
    "400105": "不支持的消息类型",
    "410100": "发送过快，钉钉限流，稍后自动重发",
    "430101": "消息内容包含不安全的外链",
    "430102": "消息内容含有不合适的文字",
    "430103": "消息内容含有不合适的图片",
    "430104": "消息内容含有不合适的内容",
}
WECOM = {
    "45009": "发送过快，企业微信限流（每个机器人每分钟最多20条），稍后自动重发",
    "45033": "接口并发调用超过限制，稍后自动重发",
    "93000": "机器人 webhook 地址无效，请检查地址",
    "93004": "机器人已被停用或删除",
    "93008": "不在群里，机器人已被移出群聊",
    "40008": "不合法的消息类型",
    "44004": "消息内容为空",
    "45002": "消息内容超过长度限制",
}
# errcodes that mean "too fast, wait": the message is held and sent when the robot accepts again.
ROBOT_THROTTLE_CODES = {
    "dingtalk": frozenset({"130101", "130102", "410100"}),
    "wecom": frozenset({"45009", "45033"}),
}

SMTP = {
    "421": "邮件服务器暂时不可用，稍后自动重试",
    "450": "收件邮箱暂时不可用，稍后自动重试",
    "451": "邮件服务器处理出错，稍后自动重试",
    "452": "邮件服务器空间不足，稍后自动重试",
    "530": "邮件服务器要求先登录或先启用加密（STARTTLS）",
    "534": "邮件服务器要求更安全的登录方式",
    "535": "邮件账号或密码错误（TRACKER_SMTP_USER / TRACKER_SMTP_PASSWORD）",
    "550": "收件邮箱不存在或拒收",
    "552": "邮件过大被拒收",
    "553": "发件地址不被允许（TRACKER_SMTP_SENDER）",
    "554": "邮件被拒收（可能被判为垃圾邮件）",
    "tls": "证书校验失败：邮件服务器的证书不受信任或与主机名不符（可用 TRACKER_SMTP_CA_FILE 指定CA）",
    "no-starttls": "邮件服务器未提供 STARTTLS，拒绝以明文发送密码",
    "connect": "无法连接邮件服务器（地址、端口或网络）",
}

HTTP = {
    "400": "对方认为请求有误",
    "401": "对方拒绝：未认证或签名无效",
    "403": "对方拒绝访问（权限、IP白名单或地址错误）",
    "404": "地址不存在，请检查配置的URL",
    "408": "对方等待请求超时，稍后自动重试",
    "413": "内容过大被拒收",
    "429": "请求过快被限流，稍后自动重试",
    "500": "对方服务器内部错误，稍后自动重试",
    "502": "对方网关错误，稍后自动重试",
    "503": "对方服务暂不可用，稍后自动重试",
    "504": "对方网关超时，稍后自动重试",
    "connect": "无法连接（地址、端口、证书或网络）",
}

# Aliyun SMS (dysmsapi SendSms): the answer's `Code`. Business refusals come with HTTP 200, request
# refusals (signature, key, timestamp) with a 4xx; both name their code.
ALIYUN_SMS = {
    "isv.BUSINESS_LIMIT_CONTROL": "同一号码发送过于频繁，被阿里云流控（每分钟/每小时/每天条数上限），稍后自动重试",
    "isv.DAY_LIMIT_CONTROL": "已达当日发送上限，稍后自动重试",
    "isv.MOBILE_NUMBER_ILLEGAL": "手机号码格式错误，不再重试",
    "isv.MOBILE_COUNT_OVER_LIMIT": "手机号码数量超过限制",
    "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值（请核对模板与告知类型的变量）",
    "isv.TEMPLATE_PARAMS_ILLEGAL": "模板变量里包含非法关键字",
    "isv.PARAM_LENGTH_LIMIT": "参数超出长度限制",
    "isv.INVALID_PARAMETERS": "参数格式不正确",
    "isv.INVALID_JSON_PARAM": "TemplateParam 不是合法的JSON",
    "isv.SMS_TEMPLATE_ILLEGAL": "短信模板不存在或未通过审核（请核对模板代码 TemplateCode）",
    "isv.SMS_SIGNATURE_ILLEGAL": "短信签名不存在或未通过审核（请核对签名 SignName）",
    "isv.SMS_SIGN_ILLEGAL": "签名禁止使用",
    "isv.BLACK_KEY_CONTROL_LIMIT": "内容含黑名单关键字，被拦截",
    "isv.AMOUNT_NOT_ENOUGH": "阿里云账户余额不足，请充值；稍后自动重试",
    "isv.OUT_OF_SERVICE": "阿里云账户已停机（余额不足或欠费），请处理；稍后自动重试",
    "isv.ACCOUNT_NOT_EXISTS": "阿里云账户不存在",
    "isv.ACCOUNT_ABNORMAL": "阿里云账户异常",
    "isv.PRODUCT_UN_SUBSCRIPT": "未开通短信服务",
    "isv.DENY_IP_RANGE": "本机IP不在阿里云允许的地址范围内",
    "isv.EXTEND_CODE_ERROR": "扩展码使用错误",
    "isp.SYSTEM_ERROR": "阿里云系统错误，稍后自动重试",
    "isp.RAM_PERMISSION_DENY": "RAM用户没有短信发送权限（AliyunDysmsFullAccess）",
    "SignatureDoesNotMatch": "签名校验失败：AccessKeySecret 不正确",
    "InvalidAccessKeyId.NotFound": "AccessKeyId 不存在",
    "InvalidAccessKeyId.Inactive": "AccessKeyId 已被禁用",
    "SignatureNonceUsed": "SignatureNonce 重复使用，稍后自动重试",
    "InvalidTimeStamp.Expired": "请求时间与阿里云相差过大（请校准服务器时钟）",
    "MissingParameter": "缺少必填参数",
    "Throttling.User": "请求过于频繁，稍后自动重试",
}
# Refusals that another attempt cannot change: the delivery fails at once (the office fixes the number,
# the template or the signature and sends it again from the admin page).
ALIYUN_SMS_PERMANENT = frozenset(
    {
        "isv.MOBILE_NUMBER_ILLEGAL",
        "isv.MOBILE_COUNT_OVER_LIMIT",
        "isv.TEMPLATE_MISSING_PARAMETERS",
        "isv.TEMPLATE_PARAMS_ILLEGAL",
        "isv.PARAM_LENGTH_LIMIT",
        "isv.INVALID_PARAMETERS",
        "isv.INVALID_JSON_PARAM",
        "isv.SMS_TEMPLATE_ILLEGAL",
        "isv.SMS_SIGNATURE_ILLEGAL",
        "isv.SMS_SIGN_ILLEGAL",
        "isv.BLACK_KEY_CONTROL_LIMIT",
    }
)

# Tencent Cloud SMS (API 3.0): Response.Error.Code for a refused request, SendStatusSet[].Code per number.
TENCENT_SMS = {
    "AuthFailure.SignatureFailure": "签名校验失败：SecretKey 不正确",
    "AuthFailure.SignatureExpire": "签名已过期（请校准服务器时钟）",
    "AuthFailure.SecretIdNotFound": "SecretId 不存在",
    "AuthFailure.InvalidSecretId": "SecretId 无效",
    "AuthFailure.UnauthorizedOperation": "子账号没有短信发送权限",
    "RequestLimitExceeded": "请求频率超过限制，稍后自动重发",
    "InternalError": "腾讯云内部错误，稍后自动重试",
    "InvalidParameter": "参数错误",
    "MissingParameter": "缺少必填参数",
    "FailedOperation.TemplateIncorrectOrUnapproved": "短信模板不存在或未通过审核（请核对模板ID）",
    "FailedOperation.SignatureIncorrectOrUnapproved": "短信签名不存在或未通过审核（请核对签名）",
    "FailedOperation.InsufficientBalanceInSmsPackage": "短信套餐包余量不足，请购买；稍后自动重试",
    "FailedOperation.PhoneNumberInBlacklist": "该号码在黑名单中（用户退订或投诉），不再发送",
    "FailedOperation.ContainSensitiveWord": "内容含敏感词，被拦截",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "模板参数个数与审核通过的模板不一致",
    "InvalidParameterValue.IncorrectPhoneNumber": "手机号码格式错误，不再重试",
    "InvalidParameterValue.TemplateParameterFormatError": "模板参数格式错误（验证码类模板只允许数字）",
    "InvalidParameterValue.TemplateParameterLengthLimit": "单个模板变量超出长度限制",
    "InvalidParameterValue.SdkAppIdNotExist": "SmsSdkAppId 不存在",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "SmsSdkAppId 校验失败（与 SecretId 不属于同一账号）",
    "LimitExceeded.PhoneNumberThirtySecondLimit": "同一号码30秒内发送过多，稍后自动重发",
    "LimitExceeded.PhoneNumberOneHourLimit": "同一号码1小时内发送过多，稍后自动重发",
    "LimitExceeded.PhoneNumberDailyLimit": "同一号码当日发送已达上限，明日自动重发",
    "LimitExceeded.PhoneNumberSameContentDailyLimit": "同一号码当日相同内容已达上限，稍后自动重试",
}
TENCENT_SMS_PERMANENT = frozenset(
    {
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "FailedOperation.SignatureIncorrectOrUnapproved",
        "FailedOperation.PhoneNumberInBlacklist",
        "FailedOperation.ContainSensitiveWord",
        "FailedOperation.TemplateParamSetNotMatchApprovedTemplate",
        "InvalidParameterValue.IncorrectPhoneNumber",
        "InvalidParameterValue.TemplateParameterFormatError",
        "InvalidParameterValue.TemplateParameterLengthLimit",
    }
)
# "Too fast" codes and how long to wait (seconds): the message is held, not counted as a failed attempt.
TENCENT_SMS_THROTTLE = {
    "RequestLimitExceeded": 60,
    "LimitExceeded.PhoneNumberThirtySecondLimit": 30,
    "LimitExceeded.PhoneNumberOneHourLimit": 3600,
}

TABLES = {
    "weibo": WEIBO,
    "dingtalk": DINGTALK,
    "wecom": WECOM,
    "email": SMTP,
    "smtp": SMTP,
    "aliyun_sms": ALIYUN_SMS,
    "tencent_sms": TENCENT_SMS,
}


def meaning(service: str, code: str | None) -> str | None:
    """The operator's reading of `code` from `service` ("weibo", "dingtalk", "wecom", "email", "webhook" …).

    An "HTTP 403"-style code is read from the HTTP table for every service; an unknown code says so.
    """
    if not code:
        return None
    code = str(code)
    if code.upper().startswith("HTTP"):
        return HTTP.get(code[4:].strip(), f"对方返回 {code}")
    table = TABLES.get(service, HTTP)
    return table.get(code) or HTTP.get(code) or f"未收录的错误代码 {code}，请查阅对方文档"
