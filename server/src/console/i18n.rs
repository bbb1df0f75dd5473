//! The console's words in Simplified Chinese and English, and its times in the organisation's
//! zone (docs/adr/0016). Pure: pages hand it the English text they show and get the words of
//! the signed-in user's language back.
//!
//! The table is keyed by the English text itself (the words a template shows in English), so
//! a template reads as the page it renders; a phrase missing from the table stays English,
//! which the console's Chinese walk-through tests catch. The language is the user's choice,
//! remembered in a cookie, else the browser's `Accept-Language`, else English.

use axum::http::{HeaderMap, header};
use chrono::{DateTime, FixedOffset};
use fieldsync_core::time::Millis;
use fieldsync_core::workflow::Status;

pub(crate) use crate::tracking::i18n::Lang;
use crate::tracking::i18n::zone_label;

/// The cookie that remembers the language a user chose.
pub(crate) const LANG_COOKIE: &str = "fieldsync_lang";

/// The language of a console request: the remembered choice, else `Accept-Language`, else
/// English.
pub(crate) fn choose(headers: &HeaderMap) -> Lang {
    if let Some(lang) = super::session::cookie(headers, LANG_COOKIE).as_deref().and_then(Lang::parse) {
        return lang;
    }
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    Lang::from_accept_language(accept, Lang::En)
}

/// How a page speaks: its language and the organisation's zone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Words {
    /// The user's language.
    pub lang: Lang,
    /// The organisation's zone, minutes east of UTC (`ServerConfig::tracking`).
    pub zone: i32,
}

impl Words {
    /// The `<html lang>` tag.
    pub fn tag(&self) -> &'static str {
        self.lang.tag()
    }

    /// The short code of the language (`en`, `zh`).
    pub fn code(&self) -> &'static str {
        self.lang.code()
    }

    /// The organisation's zone as shown beside times: `UTC+08:00`.
    pub fn zone_label(&self) -> String {
        zone_label(self.zone)
    }

    /// `en` in the user's language.
    pub fn t<'a>(&self, en: &'a str) -> &'a str {
        t(self.lang, en)
    }

    /// An identifier shown as words (`travel_started`, `on_site`) in the user's language.
    pub fn word(&self, id: &str) -> String {
        let spaced = id.replace('_', " ");
        match zh(&spaced).or_else(|| zh(id)) {
            Some(zh) if self.lang == Lang::Zh => zh.to_owned(),
            _ => spaced,
        }
    }

    /// A list of identifiers ("accepted, travel_started"): as it is in English, as words in
    /// Chinese.
    pub fn list(&self, ids: &str) -> String {
        match self.lang {
            Lang::En => ids.to_owned(),
            Lang::Zh => ids.split(',').map(|id| self.word(id.trim())).collect::<Vec<_>>().join("、"),
        }
    }

    /// An identifier (`travel_started`): as it is in English, as words in Chinese.
    pub fn id(&self, id: &str) -> String {
        match self.lang {
            Lang::En => id.to_owned(),
            Lang::Zh => self.word(id),
        }
    }

    /// The routing suggestion's reason ("last served X (2 open)", "least loaded (0 open)").
    pub fn why(&self, text: &str) -> String {
        if self.lang == Lang::En {
            return text.to_owned();
        }
        // "(N open)" → "（N 张未完成）"
        let open = |s: &str| -> String {
            s.strip_prefix('(')
                .and_then(|s| s.strip_suffix(" open)"))
                .map_or_else(|| s.to_owned(), |n| format!("（{n} 张未完成）"))
        };
        if let Some(rest) = text.strip_prefix("last served ") {
            if let Some((customer, load)) = rest.rsplit_once(" (") {
                return format!("上次服务过 {customer}{}", open(&format!("({load}")));
            }
        }
        if let Some(rest) = text.strip_prefix("least loaded ") {
            return match rest.split_once("; ") {
                Some((load, regular)) => {
                    let who =
                        regular.strip_suffix(", who last served this customer, is at the limit").unwrap_or(regular);
                    format!("负载最轻{}；上次服务该客户的 {who} 已达上限", open(load))
                }
                None => format!("负载最轻{}", open(rest)),
            };
        }
        text.to_owned()
    }

    /// A change's message or an escalation's summary ("accept", "escalate: respond clock
    /// broken; priority high → urgent", "reclassify: type — → bug") in the user's language.
    pub fn message(&self, text: &str) -> String {
        if self.lang == Lang::En {
            return text.to_owned();
        }
        if let Some(known) = zh(text) {
            return known.to_owned();
        }
        let (head, parts) = match text.split_once(": ") {
            Some((head, parts)) if zh(head).is_some() => (Some(head), parts),
            _ => (None, text),
        };
        // A compensation's reasons are refusals ("compensate: cannot claim: claimed by someone else").
        let parts: Vec<String> = parts
            .split("; ")
            .map(|part| if part.starts_with("cannot ") { self.refusal(part) } else { summary_part_zh(part) })
            .collect();
        match head {
            Some(head) => format!("{}：{}", t(Lang::Zh, head), parts.join("；")),
            None => parts.join("；"),
        }
    }

    /// A duration ("1h 05m") in the user's language.
    pub fn span(&self, d: &str) -> String {
        match self.lang {
            Lang::En => d.to_owned(),
            Lang::Zh => duration_zh(d),
        }
    }

    /// A status's name.
    pub fn status(&self, status: Status) -> &'static str {
        t(self.lang, status.label())
    }

    /// A point in time in the organisation's zone: `2026-12-03 14:30:00 UTC+08:00`.
    pub fn when(&self, ms: Millis) -> String {
        when(ms, self.zone)
    }

    /// [`Words::when`] of an optional time, "—" when absent.
    pub fn when_opt(&self, ms: Option<Millis>) -> String {
        ms.map(|ms| self.when(ms)).unwrap_or_else(|| "—".into())
    }

    /// An SLA clock's text ("overdue 5m", "1h 05m left") in the user's language.
    pub fn clock(&self, text: &str) -> String {
        if self.lang == Lang::En {
            return text.to_owned();
        }
        if let Some(d) = text.strip_prefix("overdue ") {
            format!("已超时 {}", duration_zh(d))
        } else if let Some(d) = text.strip_suffix(" left") {
            format!("剩余 {}", duration_zh(d))
        } else {
            text.to_owned()
        }
    }

    /// A refusal ("cannot accept: ticket is completed") or another error message in the user's
    /// language; messages outside the table stay as they are.
    pub fn refusal(&self, text: &str) -> String {
        if self.lang == Lang::En {
            return text.to_owned();
        }
        if let Some(known) = zh(text) {
            return known.to_owned();
        }
        // "…; check in first": the refusal, then what comes first (workflow::Refusal::explain).
        if let Some((refusal, step)) = text.rsplit_once("; ") {
            let first = match step.strip_suffix(" first") {
                Some("a dispatcher must assign it") => Some("需先由调度员派单".to_owned()),
                Some(verb) if zh(verb).is_some() => Some(format!("请先{}", t(Lang::Zh, verb))),
                _ => None,
            };
            if let Some(first) = first {
                return format!("{}；{first}", self.refusal(refusal));
            }
        }
        let Some((verb, reason)) = text.strip_prefix("cannot ").and_then(|rest| rest.split_once(": ")) else {
            return text.to_owned();
        };
        let reason = match reason.strip_prefix("ticket is ") {
            Some(status) if zh(status).is_some() && status != "not accepted" => {
                format!("工单状态为“{}”", t(Lang::Zh, status))
            }
            _ => match reason.strip_prefix("a ticket holds at most ") {
                Some(max) => format!("一张工单最多 {max} 条"),
                None => t(Lang::Zh, reason).to_owned(),
            },
        };
        format!("无法{}：{reason}", t(Lang::Zh, verb))
    }
}

/// A point in time in the zone `offset_minutes` east of UTC: `2026-12-03 14:30:00 UTC+08:00`.
pub(crate) fn when(ms: Millis, offset_minutes: i32) -> String {
    let offset_minutes = offset_minutes.clamp(-18 * 60, 18 * 60);
    let zone = FixedOffset::east_opt(offset_minutes * 60).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero"));
    match DateTime::from_timestamp_millis(ms) {
        Some(at) => format!("{} {}", at.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S"), zone_label(offset_minutes)),
        None => "—".into(),
    }
}

/// One part of an escalation summary or reclassification in Chinese.
fn summary_part_zh(part: &str) -> String {
    if let Some(clock) = part.strip_suffix(" clock broken") {
        return format!("{}时限已违约", t(Lang::Zh, clock));
    }
    if let Some(clock) = part.strip_suffix(" clock about to break") {
        return format!("{}时限即将违约", t(Lang::Zh, clock));
    }
    if let Some(to) = part.strip_prefix("assigned to ") {
        return format!("已改派给 {to}");
    }
    if let Some((name, change)) = part.split_once(' ') {
        if let (Some(name), Some((from, to))) = (zh(name), change.split_once(" → ")) {
            return format!("{name} {} → {}", t(Lang::Zh, from), t(Lang::Zh, to));
        }
    }
    t(Lang::Zh, part).to_owned()
}

/// "1h 05m" → "1小时05分", "3d 4h" → "3天4小时", "45s" → "45秒".
fn duration_zh(d: &str) -> String {
    d.split(' ')
        .map(|part| {
            let (n, unit) = part.split_at(part.len().saturating_sub(1));
            let unit = match unit {
                "d" => "天",
                "h" => "小时",
                "m" => "分",
                "s" => "秒",
                other => other,
            };
            format!("{n}{unit}")
        })
        .collect()
}

/// `en` in `lang`.
pub(crate) fn t(lang: Lang, en: &str) -> &str {
    match lang {
        Lang::En => en,
        Lang::Zh => zh(en).or_else(|| super::statistics_words::zh(en)).unwrap_or(en),
    }
}

/// The Chinese of an English phrase the console shows, if the table has it.
fn zh(en: &str) -> Option<&'static str> {
    Some(match en {
        // Layout and sign-in
        "fieldsync console" => "fieldsync 调度台",
        "Board" => "看板",
        "New ticket" => "新建工单",
        "Engineers" => "工程师",
        "Reports" => "报表",
        "Follow-ups" => "回访",
        "Webhooks" => "Webhook 订阅",
        "Settings" => "设置",
        "Sign out" => "退出",
        "Sign in" => "登录",
        "Language" => "语言",
        "Times in" => "时间为",
        "Token" => "令牌",
        "Dispatchers and admins sign in with their device token" => "调度员和管理员用设备令牌登录",
        "prints one" => "可生成令牌",
        "Something went wrong" => "出错了",
        "Back to the board" => "返回看板",
        "older, not shown: see the customers' pages and the reports" => "张较早的工单未显示：请在客户页面和报表中查看",
        "less urgent, not shown: narrow the board with the filters" => "张较不紧急的工单未显示：请用筛选条件缩小范围",
        // Statuses (Status::label)
        "new" => "新建",
        "dispatched" => "已派单",
        "accepted" => "已接单",
        "rejected" => "已拒单",
        "travelling" => "在途",
        "on site" => "已到场",
        "working" => "作业中",
        "paused" => "已暂停",
        "completed" => "已完成",
        "cancelled" => "已取消",
        "in the pool" => "抢单池中",
        "not accepted" => "尚未接单",
        // Event kinds and change messages
        "created" => "创建",
        "create" => "创建",
        "assigned" => "已派单",
        "reassigned" => "已改派",
        "pooled" => "已放入抢单池",
        "claimed" => "已抢单",
        "put in the pool" => "放入抢单池",
        "claim" => "抢单",
        "claimed by someone else" => "已被他人抢单",
        "compensate" => "服务器撤销",
        "travel started" => "已出发",
        "checked in" => "已签到",
        "work started" => "开始作业",
        "resumed" => "已恢复",
        "reopened" => "已重开",
        "escalated" => "已升级",
        "escalate" => "升级",
        "ticket gone" => "工单已不存在",
        "recorded already" => "已记录",
        "reclassified" => "已重新分类",
        "customer rating low" => "客户差评",
        "customer message" => "客户留言",
        "customer rating" => "客户评分",
        "note" => "备注",
        "public note" => "回复客户",
        "change" => "修改",
        "complaint" => "投诉",
        // Actions (Action::verb) and refusals
        "assign" => "派单",
        "accept" => "接单",
        "reject" => "拒单",
        "start travel" => "出发",
        "check in" => "签到",
        "start work" => "开始作业",
        "pause" => "暂停",
        "resume" => "恢复",
        "complete" => "完成",
        "cancel" => "取消",
        "reopen" => "重开",
        "add a note" => "添加备注",
        "add a part" => "添加备件",
        "log time" => "记录工时",
        "change the checklist" => "修改检查清单",
        "record feedback" => "记录反馈",
        "add a photo" => "添加照片",
        "capture the signature" => "采集签名",
        "leave a message" => "留言",
        "rate the visit" => "评价服务",
        "reclassify" => "重新分类",
        "ticket is not accepted" => "工单尚未接单",
        "ticket is assigned to someone else" => "工单已派给他人",
        "ticket is not assigned to anyone" => "工单尚未派给任何人",
        "only a dispatcher or admin may do this" => "只有调度员或管理员可以这样做",
        "no engineer named" => "未指定工程师",
        "ticket already exists" => "工单已存在",
        "the customer's signature is required first" => "需要先取得客户签名",
        "the customer has already signed" => "客户已签名",
        "it is already recorded" => "已经记录过了",
        "unknown or revoked token" => "令牌无效或已吊销",
        "engineers cannot sign in to the console: use the app" => "工程师不能登录调度台，请使用手机应用",
        "complaint handlers act through the API, not the console" => "投诉处理人通过 API 处理投诉，不能登录调度台",
        "internal server error" => "服务器内部错误",
        // Priorities
        "low" => "低",
        "normal" => "普通",
        "high" => "高",
        "urgent" => "紧急",
        // The built-in ticket types (sla::taxonomy::DEFAULT_TYPES): labels and values
        "On-site repair" => "上门维修",
        "on site repair" => "上门维修",
        "Installation" => "安装",
        "installation" => "安装",
        "Maintenance" => "保养",
        "maintenance" => "保养",
        "Inspection" => "巡检",
        "inspection" => "巡检",
        "Consultation" => "咨询",
        "consultation" => "咨询",
        "Bug" => "故障",
        "bug" => "故障",
        "Complaint" => "投诉",
        // The built-in customer tiers (sla::TIERS)
        "gold" => "金牌",
        "silver" => "银牌",
        "standard" => "标准",
        // Board
        "Status" => "状态",
        "Engineer" => "工程师",
        "Priority" => "优先级",
        "Type" => "类型",
        "all" => "全部",
        "overdue only" => "只看超时",
        "Filter" => "筛选",
        "connecting…" => "连接中…",
        "live" => "实时",
        "reconnecting…" => "正在重新连接…",
        "refresh failed" => "刷新失败",
        "Escalated" => "已升级",
        "assignee" => "处理人",
        "the server escalated this ticket" => "服务器已升级此工单",
        "conflicts waiting for a dispatcher" => "等待调度员处理的冲突",
        "conflicts" => "个冲突",
        // Ticket detail
        "This ticket changed." => "此工单已变更。",
        "Reload" => "刷新",
        "priority" => "优先级",
        "type" => "类型",
        "product" => "产品",
        "customer" => "客户",
        "no tier" => "无等级",
        "address" => "地址",
        "site" => "现场",
        "description" => "描述",
        "customer's rating" => "客户评分",
        "feedback noted by the engineer" => "工程师记录的反馈",
        "tracking page" => "跟踪页面",
        "Revoke the customer's link?" => "吊销客户的跟踪链接？",
        "Revoke link" => "吊销链接",
        "New link" => "新链接",
        "SLA milestones" => "SLA 里程碑",
        "milestone" => "里程碑",
        "deadline" => "截止时间",
        "met" => "达成",
        "met late" => "延迟达成",
        "due" => "进行中",
        "breached" => "已违约",
        "no deadline" => "无截止时间",
        "respond" => "响应",
        "arrive" => "到场",
        "resolve" => "解决",
        "revisit" => "回访",
        "any" => "任意",
        "Escalations" => "升级记录",
        "none" => "无",
        "none yet" => "暂无",
        "when" => "时间",
        "clock" => "时钟",
        "what was done" => "所做处理",
        "Actions" => "操作",
        "(unclassified)" => "（未分类）",
        "Product" => "产品",
        "Module" => "模块",
        "Version" => "版本",
        "Reclassify" => "重新分类",
        "Assign" => "派单",
        "Reassign" => "改派",
        "reason" => "原因",
        "Cancel ticket" => "取消工单",
        "Put in the pool" => "放入抢单池",
        "Skill groups and routing" => "技能组与自动派单",
        "One group a line:" => "每行一个技能组：",
        "for any. The first matching rule assigns each new ticket that names no engineer." => {
            "表示任意。未指定工程师的新工单按第一条匹配的规则自动派单。"
        }
        "Save routing" => "保存派单规则",
        "any engineer may claim it" => "任何工程师都可以抢单",
        "Reopen" => "重开",
        "Add note" => "添加备注",
        "answer the customer" => "回复客户",
        "Answer customer" => "回复客户",
        "Customer messages" => "客户留言",
        "Conflicts" => "冲突",
        "by" => "由",
        "waiting for a dispatcher" => "等待调度员处理",
        "resolve by" => "处理方式：",
        "reopening (the engineer redoes the work)" => "重开（工程师重新作业）",
        "reassigning or cancelling" => "改派或取消",
        "above, or" => "（见上方），或",
        "why it stays as is" => "保持原样的理由",
        "Keep as is" => "保持原样",
        "resolved" => "已处理",
        "Check-ins" => "签到记录",
        "Notes" => "备注",
        "Parts" => "备件",
        "Time" => "工时",
        "voided" => "已作废",
        "Photos" => "照片",
        "Signature" => "签名",
        "signature of" => "签名人",
        "Signed by" => "签名人",
        "at" => "时间",
        "bound to job summary" => "绑定作业摘要",
        "matches the job as recorded" => "与记录的作业一致",
        "the job changed after signing" => "签名后作业有变更",
        "not signed" => "未签名",
        "Service report" => "服务报告",
        "Download the service report (PDF)" => "下载服务报告（PDF）",
        "Timeline" => "时间线",
        "device time" => "设备时间",
        "received by the server" => "服务器收到时间",
        "who" => "操作人",
        "device" => "设备",
        "what" => "内容",
        "server" => "服务器",
        "inside the site radius" => "在现场范围内",
        "OUTSIDE the site radius" => "超出现场范围",
        "m from the site" => "米（距现场）",
        "no location" => "无定位",
        "radius" => "半径",
        "to the customer" => "给客户",
        "voided by the server" => "被服务器作废",
        "device clock said" => "设备时钟为",
        "early" => "偏早",
        "late" => "偏晚",
        "counted at" => "按此时间计",
        // New ticket
        "Title" => "标题",
        "Description" => "描述",
        "Customer" => "客户",
        "Name" => "名称",
        "Phone" => "电话",
        "Address" => "地址",
        "Tier" => "等级",
        "Site" => "现场",
        "Latitude" => "纬度",
        "Longitude" => "经度",
        "Radius (m)" => "半径（米）",
        "Classification" => "分类",
        "(leave unassigned)" => "（暂不派单）",
        "open" => "未完成",
        "Suggested:" => "推荐：",
        "Checklist (one item a line)" => "检查清单（每行一项）",
        "customer complaint (never deleted, every change kept)" => "客户投诉（不可删除，每次修改都保留）",
        "customer signature required to complete" => "完成前需要客户签名",
        "Create ticket" => "创建工单",
        "SLA policy" => "SLA 策略",
        "version" => "版本",
        "Deadlines from creation; the most specific rule for the ticket's priority, tier and type applies. Admins edit it under" => {
            "截止时间自创建时起算；按工单的优先级、客户等级和类型取最具体的规则。管理员可在此修改："
        }
        "tier" => "等级",
        "Routing" => "派单建议",
        "The engineer who last served the customer, if they have fewer than" => {
            "优先推荐上次服务该客户的工程师（其未完成工单少于"
        }
        "open tickets; otherwise the least-loaded engineer. Pick anyone else if you know better." => {
            "张时）；否则推荐负载最轻的工程师。您也可以另选他人。"
        }
        // Engineers
        "engineer" => "工程师",
        "open load" => "未完成工单",
        "current ticket" => "当前工单",
        "last sync" => "最近同步",
        "devices" => "设备",
        "revoked" => "已吊销",
        "Revoke this device's token? It stops syncing at once." => "吊销此设备的令牌？它将立即停止同步。",
        "Revoke token" => "吊销令牌",
        // Follow-ups
        "Customers who rated a visit 2 or lower on their tracking page: call them back and record what came of it." => {
            "在跟踪页面给服务打 2 分及以下的客户：请回电并记录结果。"
        }
        "No bad ratings." => "没有差评。",
        "ticket" => "工单",
        "rating" => "评分",
        "comment" => "评论",
        "rated" => "评分时间",
        "followed up by" => "回访人",
        "outcome" => "结果",
        "outcome of the call" => "回电结果",
        "Record" => "记录",
        // Reports
        "Service reports" => "服务报表",
        "From" => "从",
        "To" => "到",
        "Show" => "显示",
        "Tickets created in the range; times in minutes (device clocks), rates in %." => {
            "统计区间内创建的工单；时间单位为分钟（设备时钟），比率为 %。"
        }
        "Tickets created per day" => "每日新建工单",
        "By engineer" => "按工程师",
        "By priority" => "按优先级",
        "By customer tier" => "按客户等级",
        "(unassigned)" => "（未派单）",
        "(none)" => "（无）",
        "group" => "分组",
        "tickets" => "工单数",
        "active" => "进行中",
        "first response min" => "首次响应（分钟）",
        "time to arrive min" => "到场用时（分钟）",
        "resolution min" => "解决用时（分钟）",
        "sla breach pct" => "SLA 违约率 %",
        "rework pct" => "返工率 %",
        "avg satisfaction" => "平均满意度",
        "min" => "分钟",
        "labour" => "作业",
        "travel" => "路途",
        // Settings
        "Only admins change these; dispatchers see them." => "只有管理员可以修改；调度员只能查看。",
        "One value a line, optionally" => "每行一个值，可写作",
        "Ticket types" => "工单类型",
        "Products" => "产品",
        "Modules" => "模块",
        "Versions" => "版本",
        "Save classification" => "保存分类",
        "One rule a line:" => "每行一条规则：",
        "the ticket waits in the group's pool, which only the group's engineers see and claim from." => {
            "工单进入该组的抢单池，只有组内工程师能看到并抢单。"
        }
        "targets in minutes," => "目标以分钟计，",
        "for any. The most specific matching rule applies to each new ticket; tickets keep the deadlines they were made with." => {
            "表示任意。每张新工单采用最具体的匹配规则；已有工单保留创建时的截止时间。"
        }
        "Save policy" => "保存策略",
        "Policy changes" => "策略变更记录",
        "none (the built-in default)" => "无（使用内置默认策略）",
        "rules" => "规则",
        "Escalation rules" => "升级规则",
        "the clock is" => "时钟为",
        "or" => "或",
        "0 minutes: when it breaks." => "0 分钟表示违约时触发。",
        "Save rules" => "保存规则",
        // Webhooks
        "Webhook" => "Webhook 订阅",
        "Customer progress notifications: each subscription gets a signed POST for every workflow event of the kinds it wants (docs/webhooks.md)." => {
            "客户进度通知：每个订阅会为其选择的每种工作流事件收到一个签名的 POST 请求（见 docs/webhooks.md）。"
        }
        "URL" => "URL",
        "events" => "事件",
        "enabled" => "已启用",
        "pending" => "待发送",
        "delivered" => "已送达",
        "failed" => "失败",
        "yes" => "是",
        "no" => "否",
        "No subscriptions yet." => "暂无订阅。",
        "Counts cover each subscription's newest" => "计数只统计每个订阅最新的",
        "deliveries." => "次投递。",
        "New subscription" => "新建订阅",
        "URL (http:// or https://)" => "URL（http:// 或 https://）",
        "Events" => "事件",
        "The signing secret is generated and shown once, after you create the subscription." => {
            "签名密钥在创建订阅后生成，只显示一次。"
        }
        "Create subscription" => "创建订阅",
        "Disable" => "停用",
        "Enable" => "启用",
        "Delete this subscription with its deliveries and their log? Pending deliveries are never sent." => {
            "删除此订阅及其投递和日志？待发送的投递将不再发送。"
        }
        "Delete subscription" => "删除订阅",
        "Deliveries" => "投递记录",
        "Newest first (at most" => "最新的在前（最多",
        "); a delivery keeps its id across attempts and redeliveries." => {
            "条）；同一投递在重试和重新投递时保持同一 ID。"
        }
        "delivery" => "投递",
        "event" => "事件",
        "state" => "状态",
        "attempts" => "尝试次数",
        "last result" => "最近结果",
        "next retry" => "下次重试",
        "Redeliver" => "重新投递",
        "No deliveries yet." => "暂无投递。",
        "no answer" => "无应答",
        "Subscription created" => "订阅已创建",
        "Signing secret" => "签名密钥",
        "Copy it now: it is not shown again. Receivers check" => "请立即复制：它不会再次显示。接收方用它校验",
        "with it." => "。",
        "Delivery log" => "投递日志",
        "All subscriptions" => "全部订阅",
        // Complaints (docs/adr/0019)
        "Complaints" => "投诉",
        "Save" => "保存",
        "Complaints are never deleted and every change is kept on the ticket's timeline." => {
            "投诉工单不可删除，每次修改都记录在工单时间线上。"
        }
        "Complaints in all" => "投诉总数",
        "By organisation unit" => "按部门",
        "By product" => "按产品",
        "total" => "合计",
        "no level" => "未定级",
        "All complaints" => "全部投诉",
        "level" => "级别",
        "unit" => "部门",
        "status" => "状态",
        "organisation unit concerned" => "涉及的部门",
        "suggestion" => "建议",
        "grumble" => "抱怨",
        "crisis" => "危机",
        "sales lead" => "销售线索",
        "sales_lead" => "销售线索",
        "Sales lead" => "销售线索",
        "inquiry" => "询问",
        "Inquiry" => "询问",
        "set the complaint" => "设置投诉",
        "the ticket is not a complaint" => "该工单不是投诉",
        "a complaint handler turns a complaint into a sales lead or an inquiry, and back" => {
            "投诉处理人只能把投诉改为销售线索或询问，或改回投诉"
        }
        "a complaint's history is never rewritten or deleted" => "投诉的历史记录不可改写或删除",
        "a complaint stays a complaint" => "投诉一经立案即保持为投诉",
        // Revisits (docs/adr/0019)
        "Revisits" => "完工回访",
        "Revisit" => "完工回访",
        "Completed jobs due a call back, the oldest due first: ask the customer whether it is really fixed. Not fixed reopens the ticket to its engineer with the reason." => {
            "待回访的已完成工单，最早到期的在前：询问客户问题是否真正解决。未解决则带原因重开工单，退回原工程师。"
        }
        "First-time fix" => "一次修复率",
        "revisited" => "已回访",
        "No revisits due." => "没有待回访的工单。",
        "revisit due" => "回访到期",
        "the call" => "回访电话",
        "overdue" => "已超期",
        "to call" => "待回访",
        "whom you reached" => "接听人",
        "confirmed fixed" => "确认已解决",
        "not fixed" => "未解决",
        "what the customer said (the reason, if not fixed)" => "客户反馈（未解决时填写原因）",
        "revisited, confirmed fixed:" => "已回访，确认已解决：",
        "no revisit due" => "无待回访",
        "Record the revisit" => "记录回访",
        "revisit: fixed" => "回访：已解决",
        "revisit: not fixed" => "回访：未解决",
        "reached" => "接听人",
        "record a revisit" => "记录回访",
        _ => return super::customer_words::zh(en),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn the_remembered_choice_beats_the_browser() {
        let mut headers = HeaderMap::new();
        assert_eq!(choose(&headers), Lang::En, "neither: English");
        headers.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_static("zh-CN,zh;q=0.9,en;q=0.8"));
        assert_eq!(choose(&headers), Lang::Zh);
        headers.insert(header::COOKIE, HeaderValue::from_static("fieldsync_lang=en"));
        assert_eq!(choose(&headers), Lang::En);
        headers.insert(header::COOKIE, HeaderValue::from_static("fieldsync_lang=klingon"));
        assert_eq!(choose(&headers), Lang::Zh, "an unknown cookie falls back to the browser");
    }

    #[test]
    fn times_are_in_the_organisations_zone() {
        // 2026-12-03T06:30:00Z
        let ms = 1_796_279_400_000;
        assert_eq!(when(ms, 480), "2026-12-03 14:30:00 UTC+08:00");
        assert_eq!(when(ms, 0), "2026-12-03 06:30:00 UTC+00:00");
        assert_eq!(when(ms, -300), "2026-12-03 01:30:00 UTC-05:00");
    }

    #[test]
    fn statuses_clocks_and_refusals_read_as_chinese() {
        let zh = Words { lang: Lang::Zh, zone: 480 };
        assert_eq!(zh.status(Status::Dispatched), "已派单");
        assert_eq!(zh.status(Status::Travelling), "在途");
        assert_eq!(zh.status(Status::OnSite), "已到场");
        assert_eq!(zh.word("travel_started"), "已出发");
        assert_eq!(zh.clock("overdue 1h 05m"), "已超时 1小时05分");
        assert_eq!(zh.clock("3d 4h left"), "剩余 3天4小时");
        assert_eq!(zh.refusal("cannot accept: ticket is completed"), "无法接单：工单状态为“已完成”");
        assert_eq!(zh.refusal("cannot complete: ticket is not accepted"), "无法完成：工单尚未接单");
        assert_eq!(
            zh.refusal("cannot complete: ticket is accepted; check in first"),
            "无法完成：工单状态为“已接单”；请先签到"
        );
        assert_eq!(
            zh.refusal("cannot check in: ticket is not assigned to anyone; a dispatcher must assign it first"),
            "无法签到：工单尚未派给任何人；需先由调度员派单"
        );
        assert_eq!(zh.refusal("cannot add a note: a ticket holds at most 500"), "无法添加备注：一张工单最多 500 条");
        assert_eq!(zh.why("last served Hotel Amstel (2 open)"), "上次服务过 Hotel Amstel（2 张未完成）");
        assert_eq!(
            zh.why("least loaded (0 open); fay, who last served this customer, is at the limit"),
            "负载最轻（0 张未完成）；上次服务该客户的 fay 已达上限"
        );
        assert_eq!(
            zh.message("escalate: respond clock broken; priority high → urgent; assigned to sup"),
            "升级：响应时限已违约；优先级 高 → 紧急；已改派给 sup"
        );
        assert_eq!(zh.message("reclassify: type — → bug"), "重新分类：类型 — → 故障");
        assert_eq!(zh.message("start travel"), "出发");
        let en = Words { lang: Lang::En, zone: 480 };
        assert_eq!(en.status(Status::OnSite), "on site");
        assert_eq!(en.refusal("cannot accept: ticket is completed"), "cannot accept: ticket is completed");
        assert_eq!(en.word("travel_started"), "travel started");
    }
}
